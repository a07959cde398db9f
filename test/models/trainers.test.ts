/**
 * Every native trainer step against its readable TypeScript reference (ts/models/reference.ts) on fresh
 * random inputs, with the same samples. Native code computes in float32 and the references in double:
 * after tens of updates the results agree to ~1e-6 relative, so 1e-4 (absolute, on values of order 1,
 * or relative to the largest gradient entry) leaves room without hiding a wrong update rule, which
 * moves values by the order of the learning rate (>= 1e-2).
 */
import assert from 'node:assert/strict';

import type { Csr } from '../../ts/kernels/types';
import { trainOps } from '../../ts/models/native';
import { neuMfLayout } from '../../ts/models/neumf';
import {
  biasedMfEpochReference,
  bprEpochReference,
  itemKnnNeighborsReference,
  itemKnnScoreReference,
  lightfmEpochReference,
  lightgcnAdjacencyReference,
  lightgcnEpochReference,
  lightgcnForwardReference,
  lightgcnGradientReference,
  lightgcnLossReference,
  neumfEpochReference,
  neumfGradientReference,
  neumfScoreReference,
  vbprEpochReference,
} from '../../ts/models/reference';
import { csrFromPairs, transposeCsr } from '../../ts/util/csr';
import { freshSeed, Random } from '../helpers/random';

const TOLERANCE = 1e-4;

function gaussian(rng: Random, n: number, std: number): Float32Array {
  return Float32Array.from({ length: n }, () => rng.normal() * std);
}

function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, what: string, tolerance = TOLERANCE): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  let scale = 0;
  for (let k = 0; k < expected.length; k++) scale = Math.max(scale, Math.abs(expected[k]));
  for (let k = 0; k < expected.length; k++) {
    const diff = Math.abs(actual[k] - expected[k]);
    if (!(diff <= tolerance * Math.max(1, scale))) {
      assert.fail(`${what}[${k}]: native ${actual[k]} vs reference ${expected[k]} (scale ${scale})`);
    }
  }
}

/** Random positives (each user 1..maxPerUser distinct items) with every item used at least once. */
function randomPositives(rng: Random, numUsers: number, numItems: number, maxPerUser: number): Csr {
  const users: number[] = [];
  const items: number[] = [];
  for (let u = 0; u < numUsers; u++) {
    const n = rng.int(1, maxPerUser);
    for (let k = 0; k < n; k++) {
      users.push(u);
      items.push(rng.int(0, numItems - 1));
    }
  }
  for (let i = 0; i < numItems; i++) {
    users.push(rng.int(0, numUsers - 1));
    items.push(i);
  }
  return csrFromPairs(numUsers, users, items);
}

function randomTriples(rng: Random, positives: Csr, numItems: number, n: number) {
  const users = new Int32Array(n);
  const pos = new Int32Array(n);
  const neg = new Int32Array(n);
  const numUsers = positives.indptr.length - 1;
  for (let s = 0; s < n; s++) {
    const u = rng.int(0, numUsers - 1);
    users[s] = u;
    pos[s] = positives.indices[rng.int(positives.indptr[u], positives.indptr[u + 1] - 1)];
    neg[s] = rng.int(0, numItems - 1);
  }
  return { users, pos, neg };
}

describe('native trainers match their TypeScript references', () => {
  let seed = 0;
  let rng: Random;
  beforeEach(function () {
    seed = freshSeed();
    rng = new Random(seed);
    this.currentTest!.title += ` [seed ${seed}]`;
  });

  it('mfEpoch applies the biased-MF SGD rule rating by rating in the given order', async () => {
    const [numUsers, numItems, dim, n] = [9, 13, 5, 60];
    const users = Int32Array.from({ length: n }, () => rng.int(0, numUsers - 1));
    const items = Int32Array.from({ length: n }, () => rng.int(0, numItems - 1));
    const ratings = Float32Array.from({ length: n }, () => rng.int(1, 5));
    const order = rng.shuffle(Int32Array.from({ length: n }, (_, k) => k)) as Int32Array;
    const state = {
      P: gaussian(rng, numUsers * dim, 0.1),
      Q: gaussian(rng, numItems * dim, 0.1),
      userBias: gaussian(rng, numUsers, 0.1),
      itemBias: gaussian(rng, numItems, 0.1),
      globalMean: 3.2,
      dim,
    };
    const native = { ...state, P: state.P.slice(), Q: state.Q.slice(), userBias: state.userBias.slice(), itemBias: state.itemBias.slice() };
    const h = { lr: 0.02, regFactors: 0.05, regBias: 0.03 };
    const { loss } = await trainOps.mfEpoch({ numUsers, numItems, ...native, users, items, ratings, order, ...h, numThreads: 1 });
    const mse = biasedMfEpochReference(state, { users, items, values: ratings }, order, h);
    assertClose([loss], [mse], 'loss');
    assertClose(native.P, state.P, 'P');
    assertClose(native.Q, state.Q, 'Q');
    assertClose(native.userBias, state.userBias, 'userBias');
    assertClose(native.itemBias, state.itemBias, 'itemBias');
  });

  for (const withBias of [false, true]) {
    it(`bprEpoch applies the BPR SGD rule triple by triple${withBias ? ' (with item bias)' : ''}`, async () => {
      const [numUsers, numItems, dim] = [8, 12, 6];
      const positives = randomPositives(rng, numUsers, numItems, 4);
      const t = randomTriples(rng, positives, numItems, 50);
      const state = {
        P: gaussian(rng, numUsers * dim, 0.3),
        Q: gaussian(rng, numItems * dim, 0.3),
        itemBias: withBias ? gaussian(rng, numItems, 0.3) : undefined,
        dim,
      };
      const native = { P: state.P.slice(), Q: state.Q.slice(), itemBias: state.itemBias?.slice() };
      const h = { lr: 0.1, reg: 0.01, regBias: 0.02 };
      const { loss } = await trainOps.bprEpoch({
        numUsers, numItems, dim, ...native, ...h, tripleUsers: t.users, triplePos: t.pos, tripleNeg: t.neg, numThreads: 1,
      });
      const expected = bprEpochReference(state, t, h);
      assertClose([loss], [expected], 'loss');
      assertClose(native.P, state.P, 'P');
      assertClose(native.Q, state.Q, 'Q');
      if (withBias) assertClose(native.itemBias!, state.itemBias!, 'itemBias');
    });
  }

  it('vbprEpoch applies the VBPR SGD rule, content projection included', async () => {
    const [numUsers, numItems, dim, contentDim, numFeatures] = [7, 10, 4, 3, 6];
    const positives = randomPositives(rng, numUsers, numItems, 4);
    const t = randomTriples(rng, positives, numItems, 40);
    // Sparse-ish features: some exact zeros, so the "features with d_f != 0" rule is exercised.
    const features = Float32Array.from({ length: numItems * numFeatures }, () => (rng.float() < 0.5 ? 0 : rng.normal()));
    const state = {
      gammaU: gaussian(rng, numUsers * dim, 0.2),
      gammaI: gaussian(rng, numItems * dim, 0.2),
      thetaU: gaussian(rng, numUsers * contentDim, 0.2),
      E: gaussian(rng, numFeatures * contentDim, 0.2),
      itemBias: gaussian(rng, numItems, 0.1),
      featureBias: gaussian(rng, numFeatures, 0.1),
      features,
      dim,
      contentDim,
      numFeatures,
    };
    const copy = (a: Float32Array) => a.slice();
    const native = {
      gammaU: copy(state.gammaU), gammaI: copy(state.gammaI), thetaU: copy(state.thetaU), E: copy(state.E),
      itemBias: copy(state.itemBias), featureBias: copy(state.featureBias),
    };
    const h = { lr: 0.1, reg: 0.01, regBias: 0.02, regContent: 0.03 };
    const { loss } = await trainOps.vbprEpoch({
      numUsers, numItems, dim, contentDim, numFeatures, features, ...native, ...h,
      tripleUsers: t.users, triplePos: t.pos, tripleNeg: t.neg, numThreads: 1,
    });
    const expected = vbprEpochReference(state, t, h);
    assertClose([loss], [expected], 'loss');
    for (const key of Object.keys(native) as (keyof typeof native)[]) assertClose(native[key], state[key], key);
    // The exported item factors reproduce the score: [gammaI, E^T f] and beta_i + beta'.f.
    const { itemFactors, itemOffset } = await trainOps.vbprItemFactors({ numUsers, numItems, dim, contentDim, numFeatures, features, ...native });
    for (let i = 0; i < numItems; i++) {
      let offset = native.itemBias[i];
      for (let f = 0; f < numFeatures; f++) offset += native.featureBias[f] * features[i * numFeatures + f];
      assertClose([itemOffset[i]], [offset], `itemOffset[${i}]`);
      for (let k = 0; k < contentDim; k++) {
        let c = 0;
        for (let f = 0; f < numFeatures; f++) c += features[i * numFeatures + f] * native.E[f * contentDim + k];
        assertClose([itemFactors[i * (dim + contentDim) + dim + k]], [c], `content factor ${i},${k}`);
      }
    }
  });

  for (const loss of ['bpr', 'warp'] as const) {
    it(`lightfmEpoch applies LightFM's ${loss.toUpperCase()} Adagrad updates through weighted features`, async () => {
      const [numUsers, numItems, dim, maxSampled] = [6, 9, 4, 5];
      const positives = randomPositives(rng, numUsers, numItems, 3);
      const t = randomTriples(rng, positives, numItems, 40);
      // Identity features plus two shared ones, with non-uniform weights.
      const features = (rows: number, extra: number) => {
        const users: number[] = [];
        const cols: number[] = [];
        for (let r = 0; r < rows; r++) {
          users.push(r);
          cols.push(r);
          for (let k = 0; k < 2; k++) {
            users.push(r);
            cols.push(rows + rng.int(0, extra - 1));
          }
        }
        const csr = csrFromPairs(rows, users, cols);
        return { csr, weights: Float32Array.from({ length: csr.indices.length }, () => 0.2 + rng.float()), count: rows + extra };
      };
      const uf = features(numUsers, 3);
      const itf = features(numItems, 4);
      const state = {
        userEmb: gaussian(rng, uf.count * dim, 0.3),
        itemEmb: gaussian(rng, itf.count * dim, 0.3),
        itemBias: gaussian(rng, itf.count, 0.1),
        userEmbAcc: Float32Array.from({ length: uf.count * dim }, () => 1 + rng.float()),
        itemEmbAcc: Float32Array.from({ length: itf.count * dim }, () => 1 + rng.float()),
        itemBiasAcc: Float32Array.from({ length: itf.count }, () => 1 + rng.float()),
        userFeatures: uf.csr,
        userFeatureWeights: uf.weights,
        itemFeatures: itf.csr,
        itemFeatureWeights: itf.weights,
        numItems,
        dim,
      };
      const copy = (a: Float32Array) => a.slice();
      const native = {
        userEmb: copy(state.userEmb), itemEmb: copy(state.itemEmb), itemBias: copy(state.itemBias),
        userEmbAcc: copy(state.userEmbAcc), itemEmbAcc: copy(state.itemEmbAcc), itemBiasAcc: copy(state.itemBiasAcc),
      };
      const candidates = Int32Array.from({ length: t.users.length * maxSampled }, () => rng.int(0, numItems - 1));
      const h = { loss, lr: 0.05, userAlpha: 0.01, itemAlpha: 0.02, maxSampled };
      const result = await trainOps.lightfmEpoch({
        numUsers, numItems, numUserFeatures: uf.count, numItemFeatures: itf.count, dim, ...native,
        userFeatures: uf.csr, userFeatureWeights: uf.weights, itemFeatures: itf.csr, itemFeatureWeights: itf.weights,
        ...h, positives, candidates, tripleUsers: t.users, triplePos: t.pos, tripleNeg: t.neg, numThreads: 1,
      });
      const expected = lightfmEpochReference(state, t, h, positives, candidates);
      assertClose([result.loss], [expected], 'loss');
      for (const key of Object.keys(native) as (keyof typeof native)[]) assertClose(native[key], state[key], key);
      // Representations: each row's weighted sum of feature embeddings (and item biases).
      const repr = await trainOps.lightfmRepresentations({
        numUsers, numItems, numUserFeatures: uf.count, numItemFeatures: itf.count, dim, userEmb: native.userEmb, itemEmb: native.itemEmb,
        itemBias: native.itemBias, userFeatures: uf.csr, userFeatureWeights: uf.weights, itemFeatures: itf.csr, itemFeatureWeights: itf.weights,
      });
      const weightedSum = (f: typeof uf, emb: Float32Array, rows: number, width: number) => {
        const out = new Float64Array(rows * width);
        for (let r = 0; r < rows; r++) {
          for (let e = f.csr.indptr[r]; e < f.csr.indptr[r + 1]; e++) {
            for (let k = 0; k < width; k++) out[r * width + k] += f.weights[e] * emb[f.csr.indices[e] * width + k];
          }
        }
        return out;
      };
      assertClose(repr.userRepr, weightedSum(uf, native.userEmb, numUsers, dim), 'userRepr');
      assertClose(repr.itemRepr, weightedSum(itf, native.itemEmb, numItems, dim), 'itemRepr');
      assertClose(repr.itemBias, weightedSum(itf, native.itemBias, numItems, 1), 'itemBias');
    });
  }

  it('neumfGradient equals the hand-derived back-propagation of the reference, and the reference its finite differences', async () => {
    const shape = { numUsers: 5, numItems: 7, gmfDim: 3, mlpDim: 4, hidden: [6, 3] };
    const L = neuMfLayout(shape.numUsers, shape.numItems, shape.gmfDim, shape.mlpDim, shape.hidden);
    const P = gaussian(rng, L.total, 0.5);
    const n = 12;
    const samples = {
      users: Int32Array.from({ length: n }, () => rng.int(0, shape.numUsers - 1)),
      items: Int32Array.from({ length: n }, () => rng.int(0, shape.numItems - 1)),
      labels: Float32Array.from({ length: n }, () => rng.int(0, 1)),
    };
    const reg = 0.03;
    const native = await trainOps.neumfGradient({
      ...shape, params: P, reg, sampleUsers: samples.users, sampleItems: samples.items, sampleLabels: samples.labels, numThreads: 2,
    });
    const reference = neumfGradientReference(shape, P, samples, reg);
    assertClose([native.loss], [reference.loss], 'loss');
    assertClose(native.grad, reference.grad, 'grad');
    // Central finite differences of the reference loss (data part; reg = 0), in double precision, on a
    // few coordinates of every block. h = 1e-6: the error is ~1e-10, and a step that small almost never
    // crosses a ReLU kink (where the loss is not differentiable and a difference means nothing).
    const P64 = Float64Array.from(P);
    const plain = neumfGradientReference(shape, P64, samples, 0);
    const h = 1e-6;
    for (const k of [L.gmfUser, L.gmfItem + 2, L.mlpUser + 1, L.mlpItem + 3, L.weight[0] + 5, L.bias[1], L.outWeight + 1, L.outBias]) {
      const shifted = (delta: number) => {
        const Q = P64.slice();
        Q[k] += delta;
        return neumfGradientReference(shape, Q, samples, 0).loss;
      };
      const numeric = (shifted(h) - shifted(-h)) / (2 * h);
      assert.ok(Math.abs(numeric - plain.grad[k]) < 1e-6, `coordinate ${k}: finite difference ${numeric} vs gradient ${plain.grad[k]}`);
    }
  });

  it('neumfEpoch is mini-batch Adam on the dense weights and lazy Adam on the batch rows', async () => {
    const shape = { numUsers: 6, numItems: 8, gmfDim: 3, mlpDim: 3, hidden: [5, 4] };
    const L = neuMfLayout(shape.numUsers, shape.numItems, shape.gmfDim, shape.mlpDim, shape.hidden);
    const P = gaussian(rng, L.total, 0.3);
    const n = 30;
    const samples = {
      users: Int32Array.from({ length: n }, () => rng.int(0, shape.numUsers - 1)),
      items: Int32Array.from({ length: n }, () => rng.int(0, shape.numItems - 1)),
      labels: Float32Array.from({ length: n }, () => rng.int(0, 1)),
    };
    const h = { lr: 0.01, reg: 0.01, batchSize: 8 };
    const native = { params: P.slice(), adamM: new Float32Array(L.total), adamV: new Float32Array(L.total) };
    const result = await trainOps.neumfEpoch({
      ...shape, ...native, step: 0, ...h, sampleUsers: samples.users, sampleItems: samples.items, sampleLabels: samples.labels,
    });
    const ref = { P: Float64Array.from(P), m: new Float64Array(L.total), v: new Float64Array(L.total) };
    const step = neumfEpochReference(shape, ref.P, ref.m, ref.v, 0, samples, h);
    assert.equal(result.step, step);
    assertClose(native.params, ref.P, 'params');
  });

  it('neumfScore gives the logit of every user-item pair', async () => {
    const shape = { numUsers: 4, numItems: 9, gmfDim: 3, mlpDim: 5, hidden: [7, 4, 2] };
    const L = neuMfLayout(shape.numUsers, shape.numItems, shape.gmfDim, shape.mlpDim, shape.hidden);
    const P = gaussian(rng, L.total, 0.5);
    const users = Int32Array.from([3, 0, 3, 1]);
    const { scores } = await trainOps.neumfScore({ ...shape, params: P, users });
    assertClose(scores, neumfScoreReference(shape, P, users), 'scores');
  });

  it('lightgcnGradient back-propagates the BPR loss through the normalised propagation (checked by finite differences)', async () => {
    const [numUsers, numItems, dim, layers, reg] = [5, 6, 3, 3, 0.05];
    const positives = randomPositives(rng, numUsers, numItems, 3);
    const t = randomTriples(rng, positives, numItems, 9);
    const E0 = gaussian(rng, (numUsers + numItems) * dim, 0.5);
    const native = await trainOps.lightgcnGradient({
      numUsers, numItems, dim, layers, positives, E0, reg, tripleUsers: t.users, triplePos: t.pos, tripleNeg: t.neg,
    });
    const A = lightgcnAdjacencyReference(positives, numUsers, numItems);
    const grad = lightgcnGradientReference(A, E0, numUsers, dim, layers, reg, t);
    assertClose([native.loss], [lightgcnLossReference(A, E0, numUsers, dim, layers, reg, t)], 'loss');
    assertClose(native.grad, grad, 'grad');
    const E = Float64Array.from(E0);
    const h = 1e-5;
    for (let k = 0; k < E.length; k += 4) {
      const at = (delta: number) => {
        const shifted = E.slice();
        shifted[k] += delta;
        return lightgcnLossReference(A, shifted, numUsers, dim, layers, reg, t);
      };
      const numeric = (at(h) - at(-h)) / (2 * h);
      assert.ok(Math.abs(numeric - grad[k]) < 1e-6, `coordinate ${k}: finite difference ${numeric} vs gradient ${grad[k]}`);
    }
    const { final } = await trainOps.lightgcnForward({ numUsers, numItems, dim, layers, positives, E0 });
    assertClose(final, lightgcnForwardReference(A, E0, dim, layers), 'final embeddings');
  });

  it('lightgcnEpoch takes one dense Adam step per mini-batch', async () => {
    const [numUsers, numItems, dim, layers] = [4, 5, 3, 2];
    const positives = randomPositives(rng, numUsers, numItems, 3);
    const t = randomTriples(rng, positives, numItems, 10);
    const E0 = gaussian(rng, (numUsers + numItems) * dim, 0.3);
    const h = { lr: 0.01, reg: 0.02, layers, batchSize: 4 };
    const native = { E0: E0.slice(), adamM: new Float32Array(E0.length), adamV: new Float32Array(E0.length) };
    const result = await trainOps.lightgcnEpoch({
      numUsers, numItems, dim, positives, ...native, step: 0, ...h, tripleUsers: t.users, triplePos: t.pos, tripleNeg: t.neg,
    });
    const A = lightgcnAdjacencyReference(positives, numUsers, numItems);
    const ref = { E: Float64Array.from(E0), m: new Float64Array(E0.length), v: new Float64Array(E0.length) };
    assert.equal(result.step, lightgcnEpochReference(A, ref.E, ref.m, ref.v, 0, numUsers, dim, t, h));
    assertClose(native.E0, ref.E, 'E0');
  });

  it('itemKnnNeighbors keeps the most cosine-similar items with shrinkage, and itemKnnScore sums them', async () => {
    const [numUsers, numItems, neighbors, shrink] = [30, 25, 4, 1.5];
    const byUser = randomPositives(rng, numUsers, numItems, 8);
    const byItem = transposeCsr(byUser, numItems);
    const native = await trainOps.itemKnnNeighbors({ numUsers, numItems, byItem, byUser, neighbors, shrink });
    const reference = itemKnnNeighborsReference(byUser, numItems, neighbors, shrink);
    for (let j = 0; j < numItems; j++) {
      const got = Array.from(native.indices.subarray(native.indptr[j], native.indptr[j + 1]));
      assert.deepEqual(got, reference[j].map((n) => n.item), `neighbours of item ${j}`);
      assertClose(native.similarity.subarray(native.indptr[j], native.indptr[j + 1]), reference[j].map((n) => n.similarity), `similarities of item ${j}`);
    }
    const users = Int32Array.from([0, 5, 29, 5]);
    const { scores } = await trainOps.itemKnnScore({
      numUsers, numItems, neighbors: { indptr: native.indptr, indices: native.indices }, similarity: native.similarity, userItems: byUser, users,
    });
    assertClose(scores, itemKnnScoreReference(reference, byUser, users), 'scores');
  });
});
