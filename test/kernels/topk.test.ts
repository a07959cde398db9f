import assert from 'node:assert/strict';

import { SemrecError, deviceInfo, topK, topKSync } from '../../ts';
import { topKReference } from '../../ts/kernels/reference';
import { freshSeed, Random, randomCsr, tiedScores, uniformScores } from '../helpers/random';

const SHAPES: [number, number][] = [[1, 1], [1, 7], [3, 10], [17, 100], [64, 1000], [5, 3000], [300, 257]];

describe('topK', () => {
  for (const [rows, cols] of SHAPES) {
    for (const k of [...new Set([1, Math.min(5, cols), cols])]) {
      it(`matches the TypeScript reference exactly on ${rows}x${cols} tied scores with exclusions, k=${k}`, async () => {
        const seed = freshSeed();
        const rng = new Random(seed);
        const scores = tiedScores(rng, rows * cols);
        const exclude = randomCsr(rng, rows, cols, Math.max(1, Math.floor(cols / 3)));
        const want = topKReference({ scores, numRows: rows, numCols: cols, k, exclude });
        const sync = topKSync({ scores, numRows: rows, numCols: cols, k, exclude, device: 'cpu' });
        const async = await topK({ scores, numRows: rows, numCols: cols, k, exclude, device: 'cpu' });
        assert.deepEqual(sync.indices, want.indices, `seed ${seed}`);
        assert.deepEqual(sync.scores, want.scores, `seed ${seed}`);
        assert.deepEqual(async.indices, sync.indices, `seed ${seed}: async differs from sync`);
        assert.deepEqual(async.scores, sync.scores, `seed ${seed}: async differs from sync`);
      });
    }
  }

  it('matches the reference on continuous scores (few ties) with several threads', () => {
    const seed = freshSeed();
    const rng = new Random(seed);
    const rows = 1000;
    const cols = 400;
    const scores = uniformScores(rng, rows * cols);
    const got = topKSync({ scores, numRows: rows, numCols: cols, k: 20, device: 'cpu' });
    const want = topKReference({ scores, numRows: rows, numCols: cols, k: 20 });
    assert.deepEqual(got.indices, want.indices, `seed ${seed}`);
  });

  it('breaks ties by the lower column index', () => {
    const scores = new Float32Array([1, 5, 5, 2, 5]);
    const r = topKSync({ scores, numRows: 1, numCols: 5, k: 4 });
    assert.deepEqual(Array.from(r.indices), [1, 2, 4, 3]);
  });

  it('ranks -0 and +0 as equal and puts +Infinity first and -Infinity last', () => {
    const scores = new Float32Array([0, -0, -Infinity, Infinity, -0, 1]);
    const r = topKSync({ scores, numRows: 1, numCols: 6, k: 6 });
    assert.deepEqual(Array.from(r.indices), [3, 5, 0, 1, 4, 2]);
    assert.equal(r.scores[5], -Infinity);
  });

  it('with k = 1 returns each row\'s best column', () => {
    const scores = new Float32Array([0.1, 0.9, 0.3, 0.7, 0.2, 0.1]);
    const r = topKSync({ scores, numRows: 2, numCols: 3, k: 1 });
    assert.deepEqual(Array.from(r.indices), [1, 0]);
    assert.deepEqual(Array.from(r.scores), [0.9, 0.7].map(Math.fround));
  });

  it('with k = numCols returns the whole row ranked', () => {
    const scores = new Float32Array([3, 1, 2]);
    assert.deepEqual(Array.from(topKSync({ scores, numRows: 1, numCols: 3, k: 3 }).indices), [0, 2, 1]);
  });

  it('pads a row whose columns are all excluded with -1 and -Infinity', () => {
    const scores = new Float32Array([1, 2, 3, 4, 5, 6]);
    const exclude = { indptr: Int32Array.from([0, 3, 4]), indices: Int32Array.from([2, 0, 1, 1]) };
    const r = topKSync({ scores, numRows: 2, numCols: 3, k: 2, exclude });
    assert.deepEqual(Array.from(r.indices), [-1, -1, 2, 0]);
    assert.deepEqual(Array.from(r.scores), [-Infinity, -Infinity, 6, 4]);
  });

  it('handles a single row and an empty matrix', () => {
    const one = topKSync({ scores: new Float32Array([2, 1]), numRows: 1, numCols: 2, k: 1 });
    assert.deepEqual(Array.from(one.indices), [0]);
    const none = topKSync({ scores: new Float32Array(0), numRows: 0, numCols: 5, k: 3 });
    assert.equal(none.indices.length, 0);
  });

  it('refuses k above the number of columns with ERR_OUT_OF_RANGE, sync and async, before allocating anything', async () => {
    // The result is numRows x k: a k nobody checked (1e9 on a 2 x 3 matrix) once took the process down.
    const args = { scores: new Float32Array(6), numRows: 2, numCols: 3, k: 1e9 };
    const named = (e: unknown) => e instanceof SemrecError && e.code === 'ERR_OUT_OF_RANGE' && /topK: k is 1000000000, more than the 3 columns/.test(e.message);
    assert.throws(() => topKSync(args), named);
    await assert.rejects(topK(args), named);
    assert.throws(() => topKSync({ scores: new Float32Array(0), numRows: 2, numCols: 0, k: 1 }), { code: 'ERR_OUT_OF_RANGE' });
  });

  it('rejects NaN scores with ERR_NAN_INPUT naming the cell, sync and async', async () => {
    const scores = new Float32Array([1, 2, 3, 4, NaN, 6]);
    assert.throws(() => topKSync({ scores, numRows: 2, numCols: 3, k: 1 }), (e: SemrecError) => {
      return e instanceof SemrecError && e.code === 'ERR_NAN_INPUT' && /scores\[1, 1\]/.test(e.message);
    });
    await assert.rejects(topK({ scores, numRows: 2, numCols: 3, k: 1 }), { code: 'ERR_NAN_INPUT' });
  });

  it('rejects NaN even in an excluded cell', () => {
    const scores = new Float32Array([1, NaN, 3]);
    const exclude = { indptr: Int32Array.from([0, 1]), indices: Int32Array.from([1]) };
    assert.throws(() => topKSync({ scores, numRows: 1, numCols: 3, k: 1, exclude }), { code: 'ERR_NAN_INPUT' });
  });

  it('reads its input zero-copy through a subarray view (byteOffset honoured)', () => {
    const backing = new Float32Array([9, 9, 1, 3, 2, 9]);
    const r = topKSync({ scores: backing.subarray(2, 5), numRows: 1, numCols: 3, k: 3 });
    assert.deepEqual(Array.from(r.indices), [1, 2, 0]);
  });

  it('runs the async form off the JS thread: the event loop keeps turning meanwhile', async () => {
    const rows = 4000;
    const cols = 5000;
    const scores = uniformScores(new Random(1), rows * cols);
    let turns = 0;
    const ticker = setInterval(() => turns++, 0);
    try {
      const pending = topK({ scores, numRows: rows, numCols: cols, k: 10, device: 'cpu' });
      await new Promise((resolve) => setTimeout(resolve, 5));
      const turnsWhileRunning = turns;
      await pending;
      assert.ok(turnsWhileRunning > 0, 'no timer fired while the native work was in flight');
    } finally {
      clearInterval(ticker);
    }
  });

  it("reports where it ran, and device 'cuda' fails with ERR_CUDA_UNAVAILABLE when no GPU is usable", function () {
    const args = { scores: new Float32Array([1, 2]), numRows: 1, numCols: 2, k: 1 };
    assert.equal(topKSync({ ...args, device: 'cpu' }).device, 'cpu');
    if (deviceInfo().cudaAvailable) this.skip();
    assert.equal(topKSync({ ...args, device: 'auto' }).device, 'cpu');
    assert.throws(() => topKSync({ ...args, device: 'cuda' }), { code: 'ERR_CUDA_UNAVAILABLE' });
  });
});
