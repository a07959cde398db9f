/**
 * LLM-Rec's fused ranker (native/include/semrec/fusion.h) against its readable references
 * (ts/kernels/fusion.ts) on fresh random inputs: the batch gradient in every fusion mode and loss, the
 * reference against finite differences, an epoch against mini-batch Adam written out in TypeScript,
 * the inference vectors, the negative sampler, and the coded errors.
 *
 * Tolerances: native code computes in float32 and the references in double. Gradients of O(1) inputs
 * agree to ~1e-6 relative; 1e-4 (relative to the largest entry) leaves room for float rounding without
 * hiding a wrong term, which would be off by the size of the term itself.
 */
import assert from 'node:assert/strict';

import {
  fusionEpoch,
  fusionGradient,
  fusionGradientReference,
  fusionLayout,
  fusionVectors,
  fusionVectorsReference,
  rankSamples,
  type FusionLayout,
  type FusionMode,
  type FusionShape,
  type RankLossName,
  type RankSamples,
} from '../../ts/kernels/fusion';
import { deviceInfo } from '../../ts';
import type { Csr } from '../../ts/kernels/types';
import { csrFromPairs } from '../../ts/util/csr';
import { assertAllClose, assertCode, gaussianArray } from '../helpers/assert';
import { freshSeed, Random } from '../helpers/random';

const TOLERANCE = 1e-4;

function unitRows(rng: Random, rows: number, dim: number): Float32Array {
  const a = gaussianArray(rng, rows * dim, 1);
  for (let r = 0; r < rows; r++) {
    let s = 0;
    for (let t = 0; t < dim; t++) s += a[r * dim + t] ** 2;
    for (let t = 0; t < dim; t++) a[r * dim + t] /= Math.sqrt(s);
  }
  return a;
}

interface Problem {
  shape: FusionShape;
  L: FusionLayout;
  params: Float32Array;
  itemSem?: Float32Array;
  userSem?: Float32Array;
  userWeight?: Float32Array;
  history?: Csr;
  historyWeight?: Float32Array;
  samples: RankSamples;
}

function problem(rng: Random, mode: FusionMode, semDim: number, opts: { batch?: number; negatives?: number; exclusion?: boolean; history?: boolean } = {}): Problem {
  const shape: FusionShape = { numUsers: 7, numItems: 11, collabDim: 4, semDim, lateDim: 3, mode };
  const L = fusionLayout(shape);
  const params = gaussianArray(rng, L.total, 0.5);
  params[L.wc] = 1 + rng.float() * 0.5;
  params[L.ws] = 0.5 + rng.float();
  const B = opts.batch ?? 9;
  const N = opts.negatives ?? 3;
  const samples: RankSamples = {
    users: Int32Array.from({ length: B }, () => rng.int(0, shape.numUsers - 1)),
    pos: Int32Array.from({ length: B }, () => rng.int(0, shape.numItems - 1)),
    neg: Int32Array.from({ length: B * N }, () => rng.int(0, shape.numItems - 1)),
    negatives: N,
  };
  const p: Problem = { shape, L, params, samples };
  if (opts.history) {
    // Each user's history: a few distinct items with positive weights; Z_u is their sum.
    const rows = Array.from({ length: shape.numUsers }, () => [...new Set(Array.from({ length: rng.int(0, 5) }, () => rng.int(0, shape.numItems - 1)))]);
    p.history = { indptr: Int32Array.from([0, ...rows.map((r, u) => rows.slice(0, u + 1).reduce((t, x) => t + x.length, 0))]), indices: Int32Array.from(rows.flat()) };
    p.historyWeight = Float32Array.from(p.history.indices, () => 0.2 + rng.float());
  }
  if (semDim > 0 || opts.history) {
    if (semDim > 0) {
      p.itemSem = unitRows(rng, shape.numItems, semDim);
      p.userSem = unitRows(rng, shape.numUsers, semDim);
    }
    if (opts.exclusion !== false) {
      p.userWeight = p.history
        ? Float32Array.from({ length: shape.numUsers }, (_, u) => p.historyWeight!.subarray(p.history!.indptr[u], p.history!.indptr[u + 1]).reduce((t, w) => t + w, 0))
        : Float32Array.from({ length: shape.numUsers }, () => 1 + rng.float() * 3);
      // Pair weights below the user's total, and one equal to it (a user whose history is only this item).
      samples.pairWeight = Float32Array.from(samples.users, (u) => p.userWeight![u] * rng.float() * 0.9);
      samples.pairWeight[0] = p.userWeight[samples.users[0]];
    }
  }
  return p;
}

function masksFor(rng: Random, rows: number, width: number, dropout: number): Float32Array {
  return Float32Array.from({ length: rows * width }, () => (rng.float() < dropout ? 0 : 1 / (1 - dropout)));
}

const lossOptions = (loss: RankLossName, dropout = 0) => ({ loss, margin: 0.5, reg: 0.01, dropout });

describe('LLM-Rec fused ranker kernels', () => {
  const seed = freshSeed();
  const rng = new Random(seed);
  const ctx = `(seed ${seed}; SEMREC_TEST_SEED=${seed} replays it)`;

  for (const mode of ['early', 'late', 'hybrid'] as FusionMode[]) {
    for (const loss of ['hinge', 'bpr', 'softmax'] as RankLossName[]) {
      for (const history of [false, true]) {
        it(`fusionGradient equals the reference in mode ${mode} with the ${loss} loss, dropout and target exclusion${history ? ', with the history term' : ''}`, async () => {
          const p = problem(rng, mode, 5, { history });
          const h = lossOptions(loss, 0.2);
          const masks = masksFor(rng, p.samples.users.length, p.L.width, 0.2);
          const native = await fusionGradient({ ...p.shape, params: p.params, itemSem: p.itemSem, userSem: p.userSem, userWeight: p.userWeight, history: p.history, historyWeight: p.historyWeight, samples: p.samples, masks, ...h, numThreads: 2 });
          const ref = fusionGradientReference(p.L, p.params, p, p.samples, h, masks);
          assertAllClose([native.loss], [ref.loss], `loss ${ctx}`, TOLERANCE);
          assertAllClose(native.grad, ref.grad, `grad ${ctx}`, TOLERANCE);
        });
      }
    }
  }

  it('fusionGradient without semantic vectors (semDim 0) is matrix factorisation with a learned weight, history term or not', async () => {
    for (const history of [false, true]) {
      const p = problem(rng, 'hybrid', 0, { history });
      const h = lossOptions('hinge');
      const native = await fusionGradient({ ...p.shape, params: p.params, userWeight: p.userWeight, history: p.history, historyWeight: p.historyWeight, samples: p.samples, ...h });
      const ref = fusionGradientReference(p.L, p.params, p, p.samples, h);
      assert.equal(p.L.projRows, 0);
      assertAllClose(native.grad, ref.grad, `grad ${ctx}`, TOLERANCE);
    }
  });

  for (const mode of ['early', 'late', 'hybrid'] as FusionMode[]) {
    it(`the reference gradient equals central finite differences of the reference loss (${mode}, bpr and hinge)`, () => {
      // Double precision throughout: with h = 1e-6 the truncation error is ~1e-12 and rounding ~1e-10.
      // The hinge is not differentiable where a margin is met exactly; random inputs keep every margin
      // far (>> h) from it, so the difference quotient sees one linear piece.
      for (const loss of ['bpr', 'hinge'] as RankLossName[]) {
        const p = problem(rng, mode, 4, { history: loss === 'bpr' });
        const h = lossOptions(loss);
        const masks = masksFor(rng, p.samples.users.length, p.L.width, 0.3);
        const params = Float64Array.from(p.params);
        const { grad } = fusionGradientReference(p.L, params, p, p.samples, h, masks);
        const step = 1e-6;
        // Q rows of history items carry the history term's gradient: probe every item's first coordinate.
        const probes = [p.L.P + 1, p.L.Q + 5, p.L.bias + 2, p.L.Wu, p.L.Wu + 7, p.L.Wi + 3, p.L.wc];
        for (let i = 0; i < p.shape.numItems; i++) probes.push(p.L.Q + i * p.shape.collabDim);
        if (p.L.lateRows) probes.push(p.L.ws);
        for (const k of probes) {
          const at = (delta: number) => {
            const q = params.slice();
            q[k] += delta;
            return fusionGradientReference(p.L, q, p, p.samples, h, masks).loss;
          };
          const numeric = (at(step) - at(-step)) / (2 * step);
          assert.ok(Math.abs(numeric - grad[k]) < 1e-6, `${loss} coordinate ${k}: finite difference ${numeric} vs gradient ${grad[k]} ${ctx}`);
        }
      }
    });
  }

  it('fusionEpoch (one thread, no dropout) is mini-batch AdamW: dense on the projections and weights, lazy on the batch rows', async () => {
    const p = problem(rng, 'hybrid', 5, { batch: 23, negatives: 2, history: true });
    const h = { ...lossOptions('hinge'), lr: 0.01, weightDecay: 0.5, batchSize: 8 };
    const native = { params: p.params.slice(), adamM: new Float32Array(p.L.total), adamV: new Float32Array(p.L.total) };
    const out = await fusionEpoch({ ...p.shape, ...native, step: 0, itemSem: p.itemSem, userSem: p.userSem, userWeight: p.userWeight, history: p.history, historyWeight: p.historyWeight, samples: p.samples, ...h, seed: 1, numThreads: 1 });
    // The same epoch in TypeScript.
    const theta = Float64Array.from(p.params);
    const m = new Float64Array(p.L.total);
    const v = new Float64Array(p.L.total);
    const N = p.samples.negatives;
    let step = 0;
    let lossSum = 0;
    for (let b0 = 0; b0 < p.samples.users.length; b0 += h.batchSize) {
      const b1 = Math.min(b0 + h.batchSize, p.samples.users.length);
      const batch: RankSamples = {
        users: p.samples.users.subarray(b0, b1),
        pos: p.samples.pos.subarray(b0, b1),
        neg: p.samples.neg.subarray(b0 * N, b1 * N),
        negatives: N,
        pairWeight: p.samples.pairWeight?.subarray(b0, b1),
      };
      const { loss, grad } = fusionGradientReference(p.L, theta, p, batch, h);
      lossSum += loss * (b1 - b0);
      step++;
      const touched = new Set<number>();
      for (const u of batch.users) for (let t = 0; t < p.L.collabDim; t++) touched.add(p.L.P + u * p.L.collabDim + t);
      const rows = [...batch.pos, ...batch.neg];
      for (const u of batch.users) for (let e = p.history!.indptr[u]; e < p.history!.indptr[u + 1]; e++) rows.push(p.history!.indices[e]);
      for (const i of rows) {
        for (let t = 0; t < p.L.collabDim; t++) touched.add(p.L.Q + i * p.L.collabDim + t);
        touched.add(p.L.bias + i);
      }
      for (let k = p.L.Wu; k <= p.L.ws; k++) touched.add(k);
      const c1 = 1 - 0.9 ** step;
      const c2 = 1 - 0.999 ** step;
      for (const k of touched) {
        if (k !== p.L.wc && k !== p.L.ws) theta[k] *= 1 - h.lr * h.weightDecay; // decoupled decay, not on the fusion weights
        m[k] = 0.9 * m[k] + 0.1 * grad[k];
        v[k] = 0.999 * v[k] + 0.001 * grad[k] * grad[k];
        theta[k] -= (h.lr * Math.sqrt(c2) / c1) * m[k] / (Math.sqrt(v[k]) + 1e-8 * Math.sqrt(c2));
      }
    }
    assert.equal(out.step, step);
    assertAllClose([out.loss], [lossSum / p.samples.users.length], `epoch loss ${ctx}`, TOLERANCE);
    assertAllClose(native.params, theta, `params after the epoch ${ctx}`, TOLERANCE);
  });

  it('fusionEpoch with one thread is bit-reproducible from its seed (dropout masks and sampling included)', async () => {
    const p = problem(rng, 'early', 6, { batch: 40 });
    const positives = csrFromPairs(p.shape.numUsers, p.samples.users, p.samples.pos);
    const run = async () => {
      const state = { params: p.params.slice(), adamM: new Float32Array(p.L.total), adamV: new Float32Array(p.L.total) };
      await fusionEpoch({
        ...p.shape, ...state, step: 0, itemSem: p.itemSem, userSem: p.userSem, ...lossOptions('hinge', 0.1), lr: 0.01, weightDecay: 0.01, batchSize: 8, seed: 77, numThreads: 1,
        pairUsers: p.samples.users, pairItems: p.samples.pos, positives, candidates: Int32Array.from({ length: p.shape.numItems }, (_, i) => i), negatives: 4,
      });
      return state.params;
    };
    assert.deepEqual(await run(), await run());
  });

  it('fusionVectors equals the reference: users from their preference vectors, items with their bias', async () => {
    for (const mode of ['early', 'late', 'hybrid'] as FusionMode[]) {
      const p = problem(rng, mode, 6, { history: true });
      const users = Int32Array.from([3, 0, 3, 6]);
      const userSem = unitRows(rng, users.length, 6);
      const native = await fusionVectors({ ...p.shape, params: p.params, itemSem: p.itemSem, users, userSem, history: p.history, historyWeight: p.historyWeight, numThreads: 2 });
      const ref = fusionVectorsReference(p.L, p.params, p.itemSem, users, userSem, { history: p.history!, historyWeight: p.historyWeight! });
      assert.equal(native.width, p.L.width);
      assertAllClose(native.users, ref.users, `users (${mode}) ${ctx}`, 1e-5);
      assertAllClose(native.items!, ref.items, `items (${mode}) ${ctx}`, 1e-5);
      assertAllClose(native.itemBias!, ref.itemBias, `itemBias (${mode}) ${ctx}`, 1e-6);
    }
  });

  it('the fused vectors score exactly what the training forward pass scores (dot product plus bias)', async () => {
    const p = problem(rng, 'hybrid', 5, { exclusion: false });
    const users = Int32Array.from(p.samples.users);
    const userSem = new Float32Array(users.length * 5);
    users.forEach((u, r) => userSem.set(p.userSem!.subarray(u * 5, (u + 1) * 5), r * 5));
    const v = await fusionVectors({ ...p.shape, params: p.params, itemSem: p.itemSem, users, userSem });
    // With one negative, no margin violation possible (margin 0 and bpr): the bpr loss of a pair is
    // softplus(-(r_ui - r_uj)), which pins down r_ui - r_uj.
    const F = v.width;
    const score = (r: number, i: number) => {
      let s = v.itemBias![i];
      for (let t = 0; t < F; t++) s += v.users[r * F + t] * v.items![i * F + t];
      return s;
    };
    const one: RankSamples = { users: users.subarray(0, 1), pos: p.samples.pos.subarray(0, 1), neg: p.samples.neg.subarray(0, 1), negatives: 1 };
    const g = await fusionGradient({ ...p.shape, params: p.params, itemSem: p.itemSem, userSem: p.userSem, samples: one, loss: 'bpr', margin: 0, reg: 0, dropout: 0 });
    const diff = score(0, one.pos[0]) - score(0, one.neg[0]);
    assertAllClose([g.loss], [Math.log1p(Math.exp(-diff))], `bpr loss from the fused vectors ${ctx}`, 1e-5);
  });

  it('rankSamples draws every pair once, in shuffled order, with negatives from the candidates that the user never interacted with', async () => {
    const numUsers = 30;
    const numItems = 50;
    const users: number[] = [];
    const items: number[] = [];
    for (let u = 0; u < numUsers; u++) for (let k = 0; k < 5; k++) {
      users.push(u);
      items.push(rng.int(0, numItems - 1));
    }
    const positives = csrFromPairs(numUsers, users, items);
    const pairUsers = Int32Array.from(users);
    const pairItems = Int32Array.from(items);
    const pairWeight = Float32Array.from(items, (i) => i / 10);
    const candidates = Int32Array.from({ length: 40 }, (_, i) => i); // items 40..49 are never negatives
    const s = await rankSamples({ numUsers, numItems, pairUsers, pairItems, pairWeight, positives, candidates, negatives: 4, seed: 5 });
    const key = (u: number, i: number) => `${u}:${i}`;
    assert.deepEqual([...s.users].map((u, p) => key(u, s.pos[p])).sort(), users.map((u, p) => key(u, items[p])).sort());
    assert.notDeepEqual(s.users, pairUsers, 'shuffled');
    s.pos.forEach((i, p) => assert.equal(s.pairWeight![p], Math.fround(i / 10), 'pair weights travel with their pairs'));
    s.neg.forEach((j, k) => {
      const u = s.users[Math.floor(k / 4)];
      assert.ok(j < 40, `negative ${j} is not a candidate`);
      const row = positives.indices.subarray(positives.indptr[u], positives.indptr[u + 1]);
      assert.ok(!row.includes(j), `negative ${j} is a positive of user ${u}`);
    });
  });

  it('bad inputs are coded errors naming the argument', async () => {
    const p = problem(rng, 'hybrid', 4);
    const base = { ...p.shape, params: p.params, itemSem: p.itemSem, userSem: p.userSem, userWeight: p.userWeight, ...lossOptions('hinge') };
    await assertCode(() => fusionGradient({ ...base, samples: { ...p.samples, users: Int32Array.from(p.samples.users, () => 99) } }), 'ERR_OUT_OF_RANGE', /users\[0\] = 99/);
    await assertCode(() => fusionGradient({ ...base, samples: { ...p.samples, neg: p.samples.neg.subarray(1) } }), 'ERR_INVALID_ARG_VALUE', /sampleNeg/);
    const nan = p.itemSem!.slice();
    nan[6] = NaN;
    await assertCode(() => fusionGradient({ ...base, itemSem: nan, samples: p.samples }), 'ERR_NAN_INPUT', /itemSem/);
    await assertCode(() => fusionGradient({ ...base, mode: 'sideways' as FusionMode, samples: p.samples }), 'ERR_INVALID_ARG_VALUE', /mode/);
    await assertCode(() => fusionGradient({ ...base, loss: 'l1' as RankLossName, samples: p.samples }), 'ERR_INVALID_ARG_VALUE', /loss/);
    await assertCode(() => fusionGradient({ ...base, params: p.params.subarray(1), samples: p.samples }), 'ERR_INVALID_ARG_VALUE', /params/);
    if (!deviceInfo().cudaAvailable) {
      await assertCode(() => fusionGradient({ ...base, samples: p.samples, device: 'cuda' }), 'ERR_CUDA_UNAVAILABLE', /fusionGradient/);
    }
  });
});
