import assert from 'node:assert/strict';

import { scoreMatrix, scoreMatrixSync, scoreTopK, scoreTopKSync, topKSync } from '../../ts';
import { scoreMatrixReference, topKReference } from '../../ts/kernels/reference';
import { freshSeed, integerVectors, Random, randomCsr, uniformScores } from '../helpers/random';

/** float32 dot products summed in a different order than the double reference: relative error bound. */
const DOT_TOLERANCE = 1e-5;

function close(a: number, b: number, tolerance: number): boolean {
  return Math.abs(a - b) <= tolerance * (1 + Math.abs(b));
}

describe('scoreMatrix / scoreTopK', () => {
  for (const dim of [1, 7, 64, 96, 768]) {
    it(`scoreTopK equals the reference exactly on integer vectors with bias and exclusions (dim ${dim})`, async () => {
      const seed = freshSeed();
      const rng = new Random(seed);
      const numUsers = 37;
      const numItems = dim === 768 ? 300 : 531;
      const k = 10;
      const users = integerVectors(rng, numUsers * dim);
      const items = integerVectors(rng, numItems * dim);
      const itemBias = integerVectors(rng, numItems);
      const exclude = randomCsr(rng, numUsers, numItems, 40);
      const dense = scoreMatrixReference({ users, items, dim, itemBias });
      const want = topKReference({ scores: dense, numRows: numUsers, numCols: numItems, k, exclude });
      const sync = scoreTopKSync({ users, items, dim, itemBias, k, exclude, device: 'cpu' });
      const async = await scoreTopK({ users, items, dim, itemBias, k, exclude, device: 'cpu' });
      assert.deepEqual(sync.indices, want.indices, `seed ${seed}`);
      assert.deepEqual(sync.scores, want.scores, `seed ${seed}`);
      assert.deepEqual(async.indices, sync.indices, `seed ${seed}: async differs`);
      const matrix = scoreMatrixSync({ users, items, dim, itemBias, device: 'cpu' });
      assert.deepEqual(matrix.scores, dense, `seed ${seed}: scoreMatrix differs`);
      assert.equal(matrix.numUsers, numUsers);
      assert.equal(matrix.numItems, numItems);
    });
  }

  it('scoreMatrix matches the reference within float32 rounding on continuous vectors', async () => {
    const seed = freshSeed();
    const rng = new Random(seed);
    const dim = 300;
    const users = uniformScores(rng, 50 * dim);
    const items = uniformScores(rng, 700 * dim);
    const got = await scoreMatrix({ users, items, dim });
    const want = scoreMatrixReference({ users, items, dim });
    for (let i = 0; i < want.length; i++) assert.ok(close(got.scores[i], want[i], DOT_TOLERANCE), `seed ${seed}: cell ${i}`);
  });

  it('scoreTopK agrees by value with topK over scoreMatrix on continuous vectors', () => {
    const seed = freshSeed();
    const rng = new Random(seed);
    const dim = 64;
    const numUsers = 200;
    const numItems = 3000;
    const users = uniformScores(rng, numUsers * dim);
    const items = uniformScores(rng, numItems * dim);
    const exclude = randomCsr(rng, numUsers, numItems, 100);
    const fused = scoreTopKSync({ users, items, dim, k: 20, exclude });
    const dense = scoreMatrixSync({ users, items, dim });
    const twoStep = topKSync({ scores: dense.scores, numRows: numUsers, numCols: numItems, k: 20, exclude });
    // Same kernel, same summation order: identical scores, so identical lists.
    assert.deepEqual(fused.indices, twoStep.indices, `seed ${seed}`);
    assert.deepEqual(fused.scores, twoStep.scores, `seed ${seed}`);
  });

  it('pads users when k exceeds the eligible items', () => {
    const users = new Float32Array([1, 0]);
    const items = new Float32Array([1, 0, 0, 1]);
    const exclude = { indptr: Int32Array.from([0, 1]), indices: Int32Array.from([0]) };
    const r = scoreTopKSync({ users, items, dim: 2, k: 2, exclude });
    assert.deepEqual(Array.from(r.indices), [1, -1]);
  });

  it('rejects non-finite embeddings with a message naming the cell', () => {
    const users = new Float32Array([1, NaN]);
    const items = new Float32Array([1, 1]);
    assert.throws(() => scoreTopKSync({ users, items, dim: 2, k: 1 }), (e: Error & { code: string }) => {
      return e.code === 'ERR_NAN_INPUT' && /users\[0, 1\]/.test(e.message);
    });
    assert.throws(() => scoreMatrixSync({ users: new Float32Array([1, 1]), items: new Float32Array([Infinity, 1]), dim: 2 }), {
      code: 'ERR_OUT_OF_RANGE',
    });
  });

  it('rejects lengths that are not a multiple of dim', () => {
    assert.throws(() => scoreTopKSync({ users: new Float32Array(5), items: new Float32Array(4), dim: 2, k: 1 }), {
      code: 'ERR_INVALID_ARG_VALUE',
      message: /users.length \(5\) must be a multiple of dim \(2\)/,
    });
  });
});
