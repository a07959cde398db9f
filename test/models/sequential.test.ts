/**
 * The sequential recommenders (sasrec, bert4rec) and their transformer: every layer's hand-written backward
 * against finite differences of its forward (float64 references), the native loss and gradient against the
 * reference on fresh random models, training segments as RecBole defines its samples, scoring from the
 * ordered history, histories never seen in training, similar items, and learning a sequential rule.
 * (The contract tests of test/models/models.test.ts run for both models too: one-epoch smoke test,
 * save/load round trip, bit-reproducible training.)
 */
import assert from 'node:assert/strict';

import { deviceInfo } from '../../ts';
import { leaveOneOut } from '../../ts/data/splits';
import { DenseIdMap, InteractionStore } from '../../ts/data/store';
import { isSemrecError } from '../../ts/errors';
import { createModel } from '../../ts/models/registry';
import { userSequences } from '../../ts/models/sequential';
import {
  initialTransformerParams,
  maskedPrefixes,
  maskedWindows,
  nextItemWindows,
  transformerLayout,
  transformerOps,
  type Segments,
  type TransformerConfig,
} from '../../ts/models/transformer';
import {
  attentionBackward,
  attentionForward,
  crossEntropy,
  geluBackward,
  geluForward,
  layerNormBackward,
  layerNormForward,
  linearBackward,
  linearForward,
  transformerLossReference,
} from '../../ts/models/transformer-reference';
import { Random as SeededRandom } from '../../ts/util/random';
import { freshSeed, Random } from '../helpers/random';

const vec = (rng: Random, n: number, scale = 1) => Float64Array.from({ length: n }, () => rng.normal() * scale);
const dot = (a: ArrayLike<number>, b: ArrayLike<number>) => Array.from(a).reduce((s, v, i) => s + v * b[i], 0);

/**
 * Checks d/dx of sum(w . f(x)) against central differences for every input entry. Float64 with step 1e-6:
 * truncation ~1e-12 and rounding ~1e-10 relative, so 1e-6 (relative to the gradient's scale) is a wide margin.
 */
function checkGradient(f: (x: Float64Array) => Float64Array, x: Float64Array, analytic: Float64Array, w: Float64Array, what: string) {
  const eps = 1e-6;
  const scale = Math.max(1, ...Array.from(analytic, Math.abs));
  for (let i = 0; i < x.length; i++) {
    const plus = Float64Array.from(x);
    const minus = Float64Array.from(x);
    plus[i] += eps;
    minus[i] -= eps;
    const fd = (dot(w, f(plus)) - dot(w, f(minus))) / (2 * eps);
    assert.ok(Math.abs(fd - analytic[i]) <= 1e-6 * scale, `${what}: d/dx[${i}] ${analytic[i]} vs finite difference ${fd}`);
  }
}

describe('transformer layers: backward passes against finite differences', () => {
  it('linear layer: input, weight and bias gradients', () => {
    const rng = new Random(freshSeed());
    const [n, inDim, outDim] = [3, 4, 5];
    const X = vec(rng, n * inDim);
    const W = vec(rng, inDim * outDim);
    const b = vec(rng, outDim);
    const w = vec(rng, n * outDim);
    const gW = new Float64Array(W.length);
    const gb = new Float64Array(b.length);
    const dX = linearBackward(X, W, w, n, inDim, outDim, gW, gb);
    checkGradient((x) => linearForward(x, W, b, n, inDim, outDim), X, dX, w, 'dX');
    checkGradient((x) => linearForward(X, x, b, n, inDim, outDim), W, gW, w, 'dW');
    checkGradient((x) => linearForward(X, W, x, n, inDim, outDim), b, gb, w, 'db');
  });

  it('LayerNorm: input, gain and shift gradients', () => {
    const rng = new Random(freshSeed());
    const [n, dim, eps] = [3, 6, 1e-12];
    const X = vec(rng, n * dim);
    const g = vec(rng, dim);
    const b = vec(rng, dim);
    const w = vec(rng, n * dim);
    const gg = new Float64Array(dim);
    const gb = new Float64Array(dim);
    const dX = layerNormBackward(X, g, w, n, dim, eps, gg, gb);
    checkGradient((x) => layerNormForward(x, g, b, n, dim, eps), X, dX, w, 'dX');
    checkGradient((x) => layerNormForward(X, x, b, n, dim, eps), g, gg, w, 'dGain');
    checkGradient((x) => layerNormForward(X, g, x, n, dim, eps), b, gb, w, 'dShift');
  });

  it('GELU', () => {
    const rng = new Random(freshSeed());
    const X = vec(rng, 20, 2);
    const w = vec(rng, 20);
    // erf is the A&S approximation; its derivative is the exact one, so allow its 1.5e-7 error per step.
    const analytic = geluBackward(X, w);
    const eps = 1e-3;
    X.forEach((_, i) => {
      const plus = Float64Array.from(X);
      const minus = Float64Array.from(X);
      plus[i] += eps;
      minus[i] -= eps;
      const fd = (dot(w, geluForward(plus)) - dot(w, geluForward(minus))) / (2 * eps);
      assert.ok(Math.abs(fd - analytic[i]) < 1e-3, `x[${i}]: ${analytic[i]} vs ${fd}`);
    });
  });

  for (const causal of [true, false]) {
    it(`multi-head attention (${causal ? 'causal' : 'bidirectional'}): Q, K and V gradients`, () => {
      const rng = new Random(freshSeed());
      const [T, H, heads] = [5, 6, 2];
      const Q = vec(rng, T * H);
      const K = vec(rng, T * H);
      const V = vec(rng, T * H);
      const w = vec(rng, T * H);
      const { probs } = attentionForward(Q, K, V, T, H, heads, causal);
      const { dQ, dK, dV } = attentionBackward(Q, K, V, probs, w, T, H, heads, causal);
      checkGradient((x) => attentionForward(x, K, V, T, H, heads, causal).ctx, Q, dQ, w, 'dQ');
      checkGradient((x) => attentionForward(Q, x, V, T, H, heads, causal).ctx, K, dK, w, 'dK');
      checkGradient((x) => attentionForward(Q, K, x, T, H, heads, causal).ctx, V, dV, w, 'dV');
    });
  }

  it('tied output layer with cross-entropy: score gradients', () => {
    const rng = new Random(freshSeed());
    const [items, H] = [7, 4];
    const z = vec(rng, H);
    const E = vec(rng, items * H);
    const bias = vec(rng, items);
    const { dScores } = crossEntropy(z, E, bias, items, H, 3);
    checkGradient((b) => Float64Array.of(crossEntropy(z, E, b, items, H, 3).loss), bias, dScores, Float64Array.of(1), 'dBias');
  });
});

/** A random model (weights ~0.3) and random segments for the native-vs-reference checks. */
function problem(seed: number, causal: boolean, bce: boolean) {
  const rng = new Random(seed);
  const config: TransformerConfig = {
    numItems: 13,
    numTokens: causal ? 13 : 14,
    maxLength: 6,
    hidden: 8,
    heads: 2,
    inner: 12,
    layers: 2,
    causal,
    outputHead: !causal,
    hiddenDropout: 0,
    attnDropout: 0,
    layerNormEps: 1e-5,
  };
  const params = Float32Array.from({ length: transformerLayout(config).total }, () => rng.normal() * 0.3);
  const tokens: number[] = [];
  const targets: number[] = [];
  const offsets = [0];
  for (let s = 0; s < 7; s++) {
    const len = rng.int(1, config.maxLength);
    for (let t = 0; t < len; t++) {
      tokens.push(rng.int(0, config.numTokens - 1));
      targets.push(rng.float() < 0.3 ? -1 : rng.int(0, config.numItems - 1));
    }
    offsets.push(tokens.length);
  }
  const segments: Segments = {
    tokens: Int32Array.from(tokens),
    offsets: Int32Array.from(offsets),
    targets: Int32Array.from(targets),
    users: new Int32Array(7),
    negatives: bce ? Int32Array.from(tokens, () => rng.int(0, config.numItems - 1)) : undefined,
  };
  return { config, params, segments };
}

describe('transformer: the native loss and gradient equal the reference', () => {
  for (const [causal, bce] of [[true, false], [true, true], [false, false], [false, true]] as const) {
    it(`${causal ? 'SASRec (causal)' : 'BERT4Rec (bidirectional, output head)'} with ${bce ? 'bce' : 'cross-entropy'}`, () => {
      const seed = freshSeed();
      const { config, params, segments } = problem(seed, causal, bce);
      const ref = transformerLossReference(config, params, segments);
      for (const numThreads of [1, 3]) {
        const native = transformerOps.gradientSync({ config, params, segments, seed: 1, numThreads, device: 'cpu' });
        // float32 against float64 through two layers, LayerNorms and a softmax: 1e-4 of the gradient's scale.
        assert.ok(Math.abs(native.loss - ref.loss) < 1e-5 * Math.max(1, ref.loss), `seed ${seed}: loss ${native.loss} vs ${ref.loss}`);
        const scale = Math.max(...Array.from(ref.grad, Math.abs));
        native.grad.forEach((g, i) => assert.ok(Math.abs(g - ref.grad[i]) <= 1e-4 * scale, `seed ${seed}: grad[${i}] ${g} vs ${ref.grad[i]}`));
      }
    });
  }

  it('dropout is drawn from the seed: same seed same gradient, another seed another', () => {
    const { config, params, segments } = problem(freshSeed(), true, false);
    const noisy = { ...config, hiddenDropout: 0.3, attnDropout: 0.3 };
    const a = transformerOps.gradientSync({ config: noisy, params, segments, seed: 5 });
    const b = transformerOps.gradientSync({ config: noisy, params, segments, seed: 5, numThreads: 2 });
    const c = transformerOps.gradientSync({ config: noisy, params, segments, seed: 6 });
    assert.deepEqual(a.grad, b.grad);
    assert.notDeepEqual(a.grad, c.grad);
  });

  it('rejects bad segments, naming them', () => {
    const { config, params, segments } = problem(3, true, false);
    const bad = (patch: Partial<Segments>, code: string) =>
      assert.throws(
        () => transformerOps.gradientSync({ config, params, segments: { ...segments, ...patch }, seed: 1 }),
        (e: unknown) => isSemrecError(e) && e.code === code,
      );
    bad({ tokens: Int32Array.from(segments.tokens, (t, i) => (i === 2 ? 99 : t)) }, 'ERR_OUT_OF_RANGE');
    bad({ targets: Int32Array.from(segments.targets, (t, i) => (i === 1 ? 13 : t)) }, 'ERR_OUT_OF_RANGE');
    bad({ targets: segments.targets.subarray(1) }, 'ERR_INVALID_ARG_VALUE');
    bad({ offsets: Int32Array.of(0, 7, segments.tokens.length) }, 'ERR_INVALID_ARG_VALUE'); // a segment longer than maxLength
    assert.throws(() => transformerOps.gradientSync({ config, params: params.subarray(1), segments, seed: 1 }), /layout's size/);
  });
});

describe('sequential training samples', () => {
  const sequences = { indptr: Int32Array.of(0, 3, 8), indices: Int32Array.of(10, 11, 12, 0, 1, 2, 3, 4) };

  it('SASRec: every transition once, windows cut from the end, every position predicting its next item', () => {
    const s = nextItemWindows(sequences, 3);
    assert.deepEqual(Array.from(s.offsets), [0, 2, 3, 6]);
    assert.deepEqual(Array.from(s.tokens), [10, 11, 0, 1, 2, 3]);
    assert.deepEqual(Array.from(s.targets), [11, 12, 1, 2, 3, 4]);
    assert.deepEqual(Array.from(s.users), [0, 1, 1]);
  });

  it('BERT4Rec: every prefix (its last maxLength items), masked at the mask ratio', () => {
    const s = maskedPrefixes(sequences, 3, 0.5, 99, new SeededRandom(1));
    // prefixes of user 0: [10], [10 11]; of user 1: [0], [0 1], [0 1 2], [1 2 3]
    assert.deepEqual(Array.from(s.offsets), [0, 1, 3, 4, 6, 9, 12]);
    s.tokens.forEach((t, i) => {
      if (t === 99) assert.ok(s.targets[i] >= 0 || true);
      else assert.equal(s.targets[i], -1, 'unmasked positions carry no loss');
    });
    const original = [10, 10, 11, 0, 0, 1, 0, 1, 2, 1, 2, 3];
    s.targets.forEach((target, i) => target >= 0 && assert.equal(target, original[i]));
    assert.ok(s.tokens.some((t) => t === 99), 'some positions are masked');
  });

  it("BERT4Rec 'windows': each whole sequence in windows of maxLength, `copies` masked copies each", () => {
    const s = maskedWindows(sequences, 3, 0.5, 99, 2, new SeededRandom(2));
    // user 0: [10 11 12]; user 1: [0 1] then [2 3 4]; each twice
    assert.deepEqual(Array.from(s.offsets), [0, 3, 6, 8, 10, 13, 16]);
    assert.deepEqual(Array.from(s.users), [0, 0, 1, 1, 1, 1]);
    const original = [10, 11, 12, 10, 11, 12, 0, 1, 0, 1, 2, 3, 4, 2, 3, 4];
    s.tokens.forEach((t, i) => assert.ok(t === 99 || t === original[i]));
    s.targets.forEach((target, i) => assert.ok(target === -1 || (s.tokens[i] === 99 && target === original[i])));
  });

  it('user sequences follow time, earlier parts first among equal times', () => {
    const base = { name: 't', numUsers: 2, numItems: 9, rating: new Float32Array(3), review: [], items: {} as never, users: {} as never };
    const train = { ...base, numInteractions: 3, userIdx: Int32Array.of(0, 0, 1), itemIdx: Int32Array.of(5, 6, 7), timestamp: Float64Array.of(20, 10, 5) };
    const valid = { ...base, numInteractions: 1, userIdx: Int32Array.of(0), itemIdx: Int32Array.of(8), rating: new Float32Array(1), timestamp: Float64Array.of(20) };
    const seqs = userSequences([train as never, valid as never]);
    assert.deepEqual(Array.from(seqs.indices.subarray(seqs.indptr[0], seqs.indptr[1])), [6, 5, 8]);
  });
});

/** Users whose histories follow one rule: after item i comes item (i + 1) mod numItems. */
function chainFixture(numUsers: number, numItems: number, length: number, seed: number) {
  const rng = new Random(seed);
  const userIdx: number[] = [];
  const itemIdx: number[] = [];
  const timestamp: number[] = [];
  for (let u = 0; u < numUsers; u++) {
    const start = rng.int(0, numItems - 1);
    for (let t = 0; t < length; t++) {
      userIdx.push(u);
      itemIdx.push((start + t) % numItems);
      timestamp.push(1000 + t);
    }
  }
  const n = userIdx.length;
  return {
    name: 'chain',
    numUsers,
    numItems,
    numInteractions: n,
    userIdx: Int32Array.from(userIdx),
    itemIdx: Int32Array.from(itemIdx),
    rating: new Float32Array(n).fill(NaN),
    timestamp: Float64Array.from(timestamp),
    review: [],
    items: { title: [], genres: [], text: {}, numeric: {} } as never,
    users: {} as never,
  };
}

describe('sequential recommenders', () => {
  for (const name of ['sasrec', 'bert4rec'] as const) {
    it(`${name} learns "the next item follows the last one" and applies it to histories it never saw`, async function () {
      this.timeout(60_000);
      const data = chainFixture(120, 30, 12, 4);
      const model = createModel(name, { epochs: 40, hidden: 16, inner: 32, maxLength: 8, batchSize: 128, lr: 0.01, hiddenDropout: 0.1, attnDropout: 0.1 });
      await model.fit(data as never, { seed: 2 });
      assert.equal(model.kind, 'sequential');
      let correct = 0;
      for (let start = 0; start < 30; start++) {
        const events = [0, 1, 2, 3].map((t) => ({ itemIdx: (start + t) % 30 }));
        const top = await model.recommendForHistory(events, 1);
        if (top.indices[0] === (start + 4) % 30) correct++;
      }
      assert.ok(correct >= 25, `${correct} of 30 histories continued correctly`);
    });
  }

  it('recommendForHistory orders events by timestamp and leaves out the history and the excluded items', async () => {
    const data = chainFixture(60, 20, 10, 5);
    const model = createModel('sasrec', { epochs: 30, hidden: 16, inner: 32, maxLength: 8, batchSize: 128, lr: 0.01, hiddenDropout: 0.1, attnDropout: 0.1 });
    await model.fit(data as never, { seed: 1 });
    const shuffled = [{ itemIdx: 7, timestamp: 3 }, { itemIdx: 5, timestamp: 1 }, { itemIdx: 6, timestamp: 2 }];
    const inOrder = [{ itemIdx: 5 }, { itemIdx: 6 }, { itemIdx: 7 }];
    const a = await model.recommendForHistory(shuffled, 5);
    const b = await model.recommendForHistory(inOrder, 5);
    assert.deepEqual(a.indices, b.indices);
    assert.ok(!Array.from(a.indices).some((i) => [5, 6, 7].includes(i)));
    const c = await model.recommendForHistory(inOrder, 5, { exclude: [a.indices[0]] });
    assert.ok(!Array.from(c.indices).includes(a.indices[0]));
    const d = await model.recommendForHistory(inOrder, 20, { excludeSeen: false });
    assert.ok(Array.from(d.indices).every((i) => i >= 0));
    await assert.rejects(model.recommendForHistory([{ itemIdx: 20 }], 3), (e: unknown) => isSemrecError(e) && e.code === 'ERR_OUT_OF_RANGE');
  });

  it('scoreUsers reads the given ordered history instead of the training sequence', async () => {
    const data = chainFixture(60, 20, 10, 6);
    const model = createModel('sasrec', { epochs: 2, hidden: 8, inner: 16, maxLength: 8 });
    await model.fit(data as never, { seed: 1 });
    const history = { indptr: Int32Array.of(0, 3), indices: Int32Array.of(1, 2, 3) };
    const viaHistory = await model.scoreUsers(Int32Array.of(4), { history });
    const viaEvents = await model.recommendForHistory([{ itemIdx: 1 }, { itemIdx: 2 }, { itemIdx: 3 }], 20, { excludeSeen: false });
    const best = viaEvents.indices[0];
    assert.ok(Math.abs(viaHistory[best] - viaEvents.scores[0]) < 1e-5);
  });

  it('similarItems ranks by embedding cosine, never the item itself', async () => {
    const data = chainFixture(40, 15, 8, 7);
    const model = createModel('bert4rec', { epochs: 2, hidden: 8, inner: 16, maxLength: 8 });
    await model.fit(data as never, { seed: 1 });
    const top = await model.similarItems(3, 14);
    assert.ok(!Array.from(top.indices).includes(3));
    assert.equal(new Set(top.indices).size, 14);
    for (let r = 1; r < 14; r++) assert.ok(top.scores[r] <= top.scores[r - 1]);
    assert.ok(top.scores.every((s) => s <= 1 + 1e-6 && s >= -1 - 1e-6));
  });

  it('accepts the BERT4Rec paper\'s Table 7 setting (12 layers, lr 1e-4, batch 64) as parameters', () => {
    const model = createModel('bert4rec', { layers: 12, lr: 1e-4, batchSize: 64 });
    assert.equal(model.params.layers, 12);
    assert.throws(() => createModel('sasrec', { hidden: 64, heads: 3 }), (e: unknown) => isSemrecError(e) && e.code === 'ERR_INVALID_PARAMS');
  });

  it('initialises as RecBole does: N(0, 0.02) weights, unit LayerNorm gains, zero biases', () => {
    const config = problem(1, false, false).config;
    const p = initialTransformerParams(config, 0.02, new SeededRandom(3));
    const L = transformerLayout(config);
    assert.ok(Array.from(p.subarray(L.embLnG, L.embLnG + 8)).every((v) => v === 1));
    assert.ok(Array.from(p.subarray(L.layers[0].bq, L.layers[0].bq + 8)).every((v) => v === 0));
    const w = p.subarray(L.layers[0].wq, L.layers[0].wq + 64);
    const std = Math.sqrt(w.reduce((s, v) => s + v * v, 0) / w.length);
    assert.ok(std > 0.01 && std < 0.03, `std ${std}`);
  });
});

describe('leave-one-out without timestamps', () => {
  it('keeps the order of the data (last item test, the one before validation) and says so', () => {
    const store = new InteractionStore({
      name: 'no-times',
      userIds: DenseIdMap.from(['a', 'b']),
      itemIds: DenseIdMap.from(['x', 'y', 'z', 'w']),
      userIdx: Int32Array.of(0, 0, 0, 0, 1, 1, 1),
      itemIdx: Int32Array.of(3, 1, 2, 0, 2, 3, 1),
      rating: new Float32Array(7).fill(NaN),
      timestamp: new Float64Array(7).fill(NaN),
    });
    const split = leaveOneOut(store, { seed: 1 });
    assert.deepEqual(Array.from(split.test.itemIdx), [0, 1]);
    assert.deepEqual(Array.from(split.validation!.itemIdx), [2, 3]);
    assert.equal(split.protocol.parameters.order, 'file');
    assert.match(split.protocol.summary, /no timestamps/);
  });

  it('still refuses a store where only some interactions have times', () => {
    const store = new InteractionStore({
      name: 'some-times',
      userIds: DenseIdMap.from(['a']),
      itemIds: DenseIdMap.from(['x', 'y', 'z']),
      userIdx: Int32Array.of(0, 0, 0),
      itemIdx: Int32Array.of(0, 1, 2),
      rating: new Float32Array(3),
      timestamp: Float64Array.of(1, NaN, 3),
    });
    assert.throws(() => leaveOneOut(store), (e: unknown) => isSemrecError(e) && e.code === 'ERR_INVALID_ARG_VALUE');
  });
});

describe('sequential transformer on CUDA @gpu', function () {
  before(function () {
    const info = deviceInfo();
    if (!info.cudaAvailable) {
      this.test!.parent!.title += ` (pending: ${info.cudaCompiled ? info.reason : 'CPU-only build'})`;
      this.skip();
    }
  });

  for (const causal of [true, false]) {
    it(`the CUDA gradient equals the CPU's (${causal ? 'causal' : 'bidirectional'}, dropout)`, async () => {
      const { config, params, segments } = problem(freshSeed(), causal, false);
      const noisy = { ...config, hiddenDropout: 0.2, attnDropout: 0.2 };
      const cpu = transformerOps.gradientSync({ config: noisy, params, segments, seed: 4, device: 'cpu' });
      const gpu = await transformerOps.gradient({ config: noisy, params, segments, seed: 4, device: 'cuda' });
      assert.equal(gpu.device, 'cuda');
      const scale = Math.max(...Array.from(cpu.grad, Math.abs));
      gpu.grad.forEach((g, i) => assert.ok(Math.abs(g - cpu.grad[i]) <= 1e-4 * scale, `grad[${i}]`));
    });
  }
});

