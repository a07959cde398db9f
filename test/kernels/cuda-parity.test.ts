import assert from 'node:assert/strict';

import { deviceInfo, rankingMetrics, rankingMetricsSync, scoreMatrixSync, scoreTopK, scoreTopKSync, topK, topKSync } from '../../ts';
import { freshSeed, integerVectors, Random, randomCsr, tiedScores, uniformScores } from '../helpers/random';

// Every CUDA op against its CPU twin. Pending (not passed) on machines without a usable GPU; the same
// parity cases also exist in the Node-free native test program (native/tests) for GPU machines without Node.
describe('CUDA parity @gpu', function () {
  before(function () {
    const info = deviceInfo();
    if (!info.cudaAvailable) {
      this.test!.parent!.title += ` (pending: ${info.cudaCompiled ? info.reason : 'CPU-only build'})`;
      this.skip();
    }
  });

  const shapes: [number, number][] = [[1, 1], [3, 10], [64, 1000], [5, 3000], [300, 257], [2000, 5000]];
  for (const [rows, cols] of shapes) {
    for (const k of [1, 10, cols, cols + 3]) {
      it(`topK on the GPU equals the CPU exactly: ${rows}x${cols}, k=${k}`, async () => {
        const seed = freshSeed();
        const rng = new Random(seed);
        const scores = tiedScores(rng, rows * cols);
        const exclude = randomCsr(rng, rows, cols, Math.floor(cols / 3) + 1);
        const cpu = topKSync({ scores, numRows: rows, numCols: cols, k, exclude, device: 'cpu' });
        const gpu = await topK({ scores, numRows: rows, numCols: cols, k, exclude, device: 'cuda' });
        assert.equal(gpu.device, 'cuda');
        assert.deepEqual(gpu.indices, cpu.indices, `seed ${seed}`);
        assert.deepEqual(gpu.scores, cpu.scores, `seed ${seed}`);
      });
    }
  }

  it('topK beyond the shared-memory sort (k > 2048) equals the CPU', () => {
    const seed = freshSeed();
    const rng = new Random(seed);
    const scores = tiedScores(rng, 7 * 6000);
    const cpu = topKSync({ scores, numRows: 7, numCols: 6000, k: 4100, device: 'cpu' });
    const gpu = topKSync({ scores, numRows: 7, numCols: 6000, k: 4100, device: 'cuda' });
    assert.deepEqual(gpu.indices, cpu.indices, `seed ${seed}`);
  });

  for (const dim of [1, 17, 64, 768]) {
    it(`scoreTopK and scoreMatrix on the GPU equal the CPU on integer vectors (dim ${dim})`, async () => {
      const seed = freshSeed();
      const rng = new Random(seed);
      const users = integerVectors(rng, 203 * dim);
      const items = integerVectors(rng, 1999 * dim);
      const itemBias = integerVectors(rng, 1999);
      const exclude = randomCsr(rng, 203, 1999, 50);
      const cpu = scoreTopKSync({ users, items, dim, itemBias, k: 20, exclude, device: 'cpu' });
      const gpu = await scoreTopK({ users, items, dim, itemBias, k: 20, exclude, device: 'cuda' });
      assert.deepEqual(gpu.indices, cpu.indices, `seed ${seed}`);
      assert.deepEqual(gpu.scores, cpu.scores, `seed ${seed}`);
      const cpuDense = scoreMatrixSync({ users, items, dim, itemBias, device: 'cpu' });
      const gpuDense = scoreMatrixSync({ users, items, dim, itemBias, device: 'cuda' });
      assert.deepEqual(gpuDense.scores, cpuDense.scores, `seed ${seed}`);
    });
  }

  it('scoreTopK on the GPU agrees by value with the CPU on continuous vectors (dim 768)', () => {
    const seed = freshSeed();
    const rng = new Random(seed);
    const dim = 768;
    const users = uniformScores(rng, 100 * dim);
    const items = uniformScores(rng, 3000 * dim);
    const cpu = scoreTopKSync({ users, items, dim, k: 10, device: 'cpu' });
    const gpu = scoreTopKSync({ users, items, dim, k: 10, device: 'cuda' });
    // Different summation order over 768 terms of |x| <= 1: relative 1e-4 bounds float32 error.
    cpu.scores.forEach((s, i) => assert.ok(Math.abs(s - gpu.scores[i]) <= 1e-4 * (1 + Math.abs(s)), `seed ${seed}: ${i}`));
  });

  for (const [users, items] of shapes) {
    it(`rankingMetrics on the GPU equals the CPU to the bit: ${users}x${items}`, async () => {
      const seed = freshSeed();
      const rng = new Random(seed);
      const options = {
        scores: tiedScores(rng, users * items),
        numUsers: users,
        numItems: items,
        truth: randomCsr(rng, users, items, 8),
        exclude: randomCsr(rng, users, items, Math.floor(items / 4) + 1),
        ks: [1, 5, 10, 50],
        itemFeatures: { data: uniformScores(rng, items * 8), dim: 8 },
      };
      const cpu = rankingMetricsSync({ ...options, device: 'cpu' });
      const gpu = await rankingMetrics({ ...options, device: 'cuda' });
      assert.equal(gpu.device, 'cuda');
      assert.deepEqual(gpu.mean, cpu.mean, `seed ${seed}`);
      assert.deepEqual(gpu.perUser, cpu.perUser, `seed ${seed}`);
    });
  }

  it('rejects NaN on the GPU with ERR_NAN_INPUT', () => {
    const scores = new Float32Array(2000).fill(1);
    scores[1234] = NaN;
    assert.throws(() => topKSync({ scores, numRows: 2, numCols: 1000, k: 2, device: 'cuda' }), {
      code: 'ERR_NAN_INPUT',
      message: /scores\[1, 234\]/,
    });
  });
});
