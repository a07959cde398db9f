/**
 * The semantic adapter (native/include/semrec/adapter.h) against its readable references
 * (ts/kernels/adapter.ts) on fresh random inputs: the InfoNCE gradient, the reference against finite
 * differences, an epoch against Adam written out in TypeScript, thread-count independence, the forward
 * pass, and training actually pulling two views of an item together.
 *
 * Tolerance 1e-4 relative to the largest gradient entry: float32 GEMMs against double references.
 */
import assert from 'node:assert/strict';

import {
  adapterApply,
  adapterEpoch,
  adapterForwardReference,
  adapterGradient,
  adapterGradientReference,
  adapterLayout,
  type AdapterShape,
} from '../../ts/kernels/adapter';
import { assertAllClose, assertCode, gaussianArray } from '../helpers/assert';
import { freshSeed, Random } from '../helpers/random';

const TOLERANCE = 1e-4;

function rowsOf(a: Float32Array, index: ArrayLike<number>, dim: number, masks?: Float32Array, maskOffset = 0): number[][] {
  return Array.from(index, (r, p) => Array.from({ length: dim }, (_, d) => a[r * dim + d] * (masks ? masks[(maskOffset + p) * dim + d] : 1)));
}

describe('LLM-Rec semantic adapter kernels', () => {
  const seed = freshSeed();
  const rng = new Random(seed);
  const ctx = `(seed ${seed})`;
  const shape: AdapterShape = { inDim: 6, outDim: 3, experts: 2 };
  const L = adapterLayout(shape);

  function initial(): Float32Array {
    return gaussianArray(rng, L.total, 0.4);
  }

  it('adapterGradient equals the back-propagation of the reference (dropout masks given)', async () => {
    const vectors = gaussianArray(rng, 10 * shape.inDim, 1);
    const viewA = Int32Array.from([0, 2, 4, 6, 8]);
    const viewB = Int32Array.from([1, 3, 5, 7, 9]);
    const masks = Float32Array.from({ length: 2 * 5 * shape.inDim }, () => (rng.float() < 0.2 ? 0 : 1.25));
    const params = initial();
    const native = await adapterGradient({ ...shape, params, vectors, viewA, viewB, masks, temperature: 0.3, dropout: 0.2, numThreads: 2 });
    const ref = adapterGradientReference(L, params, rowsOf(vectors, viewA, 6, masks, 0), rowsOf(vectors, viewB, 6, masks, 5), 0.3);
    assertAllClose([native.loss], [ref.loss], `loss ${ctx}`, TOLERANCE);
    assertAllClose(native.grad, ref.grad, `grad ${ctx}`, TOLERANCE);
  });

  it('the reference gradient equals central finite differences of the reference InfoNCE loss', () => {
    // Double precision; the loss is smooth, so h = 1e-6 gives ~1e-10 agreement.
    const vectors = gaussianArray(rng, 8 * shape.inDim, 1);
    const xa = rowsOf(vectors, [0, 1, 2, 3], 6);
    const xb = rowsOf(vectors, [4, 5, 6, 7], 6);
    const params = Float64Array.from(initial());
    const { grad } = adapterGradientReference(L, params, xa, xb, 0.5);
    const step = 1e-6;
    for (const k of [L.M, L.M + 13, L.M + (shape.experts * shape.outDim) * shape.inDim + 2, L.bias + 1, L.bias + shape.inDim + 4]) {
      const at = (delta: number) => {
        const q = params.slice();
        q[k] += delta;
        return adapterGradientReference(L, q, xa, xb, 0.5).loss;
      };
      const numeric = (at(step) - at(-step)) / (2 * step);
      assert.ok(Math.abs(numeric - grad[k]) < 1e-6, `coordinate ${k}: finite difference ${numeric} vs gradient ${grad[k]} ${ctx}`);
    }
  });

  it('adapterEpoch (no dropout) is dense Adam on the batch gradient, batch by batch', async () => {
    const vectors = gaussianArray(rng, 14 * shape.inDim, 1);
    const viewA = Int32Array.from({ length: 7 }, (_, p) => 2 * p);
    const viewB = Int32Array.from({ length: 7 }, (_, p) => 2 * p + 1);
    const params = initial();
    const state = { params: params.slice(), adamM: new Float32Array(L.total), adamV: new Float32Array(L.total) };
    const h = { temperature: 0.2, dropout: 0, lr: 0.01, batchSize: 3 };
    const out = await adapterEpoch({ ...shape, ...state, step: 0, vectors, viewA, viewB, ...h, seed: 3 });
    const theta = Float64Array.from(params);
    const m = new Float64Array(L.total);
    const v = new Float64Array(L.total);
    let step = 0;
    for (let b0 = 0; b0 < 7; b0 += h.batchSize) {
      const b1 = Math.min(7, b0 + h.batchSize);
      const { grad } = adapterGradientReference(L, theta, rowsOf(vectors, viewA.subarray(b0, b1), 6), rowsOf(vectors, viewB.subarray(b0, b1), 6), h.temperature);
      step++;
      const c1 = 1 - 0.9 ** step;
      const c2 = 1 - 0.999 ** step;
      for (let k = 0; k < L.total; k++) {
        m[k] = 0.9 * m[k] + 0.1 * grad[k];
        v[k] = 0.999 * v[k] + 0.001 * grad[k] ** 2;
        theta[k] -= (h.lr * Math.sqrt(c2) / c1) * m[k] / (Math.sqrt(v[k]) + 1e-8 * Math.sqrt(c2));
      }
    }
    assert.equal(out.step, step);
    assertAllClose(state.params, theta, `params ${ctx}`, TOLERANCE);
  });

  it('adapterEpoch gives the same bits with one thread and with four (fixed summation order)', async () => {
    const big: AdapterShape = { inDim: 40, outDim: 8, experts: 3 };
    const BL = adapterLayout(big);
    const vectors = gaussianArray(rng, 300 * big.inDim, 1);
    const viewA = Int32Array.from({ length: 150 }, (_, p) => 2 * p);
    const viewB = Int32Array.from({ length: 150 }, (_, p) => 2 * p + 1);
    const params = gaussianArray(rng, BL.total, 0.2);
    const run = async (numThreads: number) => {
      const state = { params: params.slice(), adamM: new Float32Array(BL.total), adamV: new Float32Array(BL.total) };
      await adapterEpoch({ ...big, ...state, step: 0, vectors, viewA, viewB, temperature: 0.07, dropout: 0.1, lr: 1e-3, batchSize: 64, seed: 9, numThreads });
      return state.params;
    };
    assert.deepEqual(await run(1), await run(4));
  });

  it('adapterApply gives the forward pass of the reference: unit vectors of the gated mixture', async () => {
    const params = initial();
    const vectors = gaussianArray(rng, 5 * shape.inDim, 1);
    const out = await adapterApply({ ...shape, params, vectors });
    const ref = rowsOf(vectors, [0, 1, 2, 3, 4], 6).flatMap((x) => adapterForwardReference(L, params, x).z);
    assertAllClose(out, ref, `adapted vectors ${ctx}`, 1e-5);
  });

  it('training pulls the two views of an item together and pushes other items away', async () => {
    // 40 items, each a random direction; its two views are noisy copies. Before training a view's
    // nearest other view is rarely its partner through a random projection to 8 dimensions; after
    // InfoNCE it almost always is.
    const big: AdapterShape = { inDim: 32, outDim: 8, experts: 2 };
    const BL = adapterLayout(big);
    const items = 40;
    const base = gaussianArray(rng, items * big.inDim, 1);
    const vectors = new Float32Array(2 * items * big.inDim);
    for (let i = 0; i < items; i++) {
      for (const view of [0, 1]) {
        for (let d = 0; d < big.inDim; d++) vectors[(2 * i + view) * big.inDim + d] = base[i * big.inDim + d] + 0.3 * rng.normal();
      }
    }
    const viewA = Int32Array.from({ length: items }, (_, i) => 2 * i);
    const viewB = Int32Array.from({ length: items }, (_, i) => 2 * i + 1);
    const state = { params: gaussianArray(rng, BL.total, 0.05), adamM: new Float32Array(BL.total), adamV: new Float32Array(BL.total) };
    const accuracy = async () => {
      const z = await adapterApply({ ...big, params: state.params, vectors });
      let hits = 0;
      for (let i = 0; i < items; i++) {
        let best = -1;
        let bestScore = -Infinity;
        for (let j = 0; j < items; j++) {
          let s = 0;
          for (let t = 0; t < big.outDim; t++) s += z[2 * i * big.outDim + t] * z[(2 * j + 1) * big.outDim + t];
          if (s > bestScore) [best, bestScore] = [j, s];
        }
        if (best === i) hits++;
      }
      return hits / items;
    };
    const before = await accuracy();
    let step = 0;
    const losses: number[] = [];
    for (let epoch = 0; epoch < 60; epoch++) {
      const r = await adapterEpoch({ ...big, ...state, step, vectors, viewA, viewB, temperature: 0.1, dropout: 0, lr: 0.01, batchSize: 40, seed: epoch });
      step = r.step;
      losses.push(r.loss);
    }
    const after = await accuracy();
    assert.ok(losses[59] < losses[0] * 0.5, `loss fell from ${losses[0]} to ${losses[59]} ${ctx}`);
    assert.ok(after >= 0.9 && after > before, `view retrieval accuracy ${before} -> ${after} ${ctx}`);
  });

  it('bad inputs are coded errors naming the argument', async () => {
    const params = initial();
    const vectors = gaussianArray(rng, 4 * shape.inDim, 1);
    const base = { ...shape, params, vectors, temperature: 0.1, dropout: 0 };
    await assertCode(() => adapterGradient({ ...base, viewA: Int32Array.from([0, 9]), viewB: Int32Array.from([1, 2]) }), 'ERR_OUT_OF_RANGE', /viewA\[1\] = 9/);
    await assertCode(() => adapterGradient({ ...base, viewA: Int32Array.from([0]), viewB: Int32Array.from([1, 2]) }), 'ERR_INVALID_ARG_VALUE', /viewB/);
    await assertCode(() => adapterGradient({ ...base, vectors: vectors.subarray(1), viewA: Int32Array.from([0]), viewB: Int32Array.from([1]) }), 'ERR_INVALID_ARG_VALUE', /vectors/);
    await assertCode(() => adapterGradient({ ...base, temperature: 0, viewA: Int32Array.from([0]), viewB: Int32Array.from([1]) }), 'ERR_OUT_OF_RANGE', /temperature/);
    const nan = vectors.slice();
    nan[3] = NaN;
    await assertCode(() => adapterApply({ ...shape, params, vectors: nan }), 'ERR_NAN_INPUT', /vectors/);
  });
});
