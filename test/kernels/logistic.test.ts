import assert from 'node:assert/strict';

import { isSemrecError } from '../../ts/errors';
import { logisticFit, logisticFitReference, logisticFitSync, logisticPredict } from '../../ts/kernels/logistic';
import { freshSeed, Random } from '../helpers/random';

/** A separable-ish problem: labels drawn from a logistic model with random true weights. */
function problem(rng: Random, n: number, d: number) {
  const features = new Float32Array(n * d);
  for (let i = 0; i < features.length; i++) features[i] = rng.normal();
  const truth = Array.from({ length: d }, () => rng.normal());
  const labels = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    let z = 0.3;
    for (let j = 0; j < d; j++) z += features[i * d + j] * truth[j];
    labels[i] = rng.float() < 1 / (1 + Math.exp(-z)) ? 1 : 0;
  }
  const sampleWeight = new Float32Array(n);
  for (let i = 0; i < n; i++) sampleWeight[i] = 0.25 + rng.float() * 2;
  return { features, labels, sampleWeight, dim: d };
}

/**
 * Both sides converge to the unique optimum of a strictly convex loss (gradient below 1e-9); what is
 * left between them is float32 storage of the result and double rounding in different summation orders.
 */
const WEIGHT_TOLERANCE = 1e-5;

describe('kernels/logistic (native Newton fit vs the TypeScript reference)', () => {
  for (const [n, d] of [
    [300, 5],
    [1000, 24],
    [40, 60], // more features than rows: only the ridge keeps it well posed
  ]) {
    it(`matches the reference on fresh random data (n=${n}, d=${d}, weighted)`, async () => {
      const seed = freshSeed();
      const p = problem(new Random(seed), n, d);
      const options = { ...p, l2: 1e-2, tolerance: 1e-9 };
      const native = await logisticFit(options);
      const reference = logisticFitReference(options);
      assert.ok(native.converged && reference.converged, `seed ${seed}`);
      for (let j = 0; j < d; j++) assert.ok(Math.abs(native.weights[j] - reference.weights[j]) < WEIGHT_TOLERANCE, `seed ${seed}, weight ${j}`);
      assert.ok(Math.abs(native.bias - reference.bias) < WEIGHT_TOLERANCE, `seed ${seed}, bias`);
      assert.ok(Math.abs(native.loss - reference.loss) < 1e-9, `seed ${seed}, loss`);
    });
  }

  it('gives the same result sync and async', async () => {
    const p = problem(new Random(freshSeed()), 200, 8);
    const a = logisticFitSync(p);
    const b = await logisticFit(p);
    assert.deepEqual(Array.from(a.weights), Array.from(b.weights));
    assert.equal(a.bias, b.bias);
  });

  it('reaches a zero gradient (checked independently of both implementations)', async () => {
    const p = problem(new Random(freshSeed()), 500, 6);
    const l2 = 0.05;
    const fit = await logisticFit({ ...p, l2, tolerance: 1e-10 });
    const probs = logisticPredict(p.features, p.dim, fit.weights, fit.bias);
    let W = 0;
    for (const w of p.sampleWeight) W += w;
    for (let j = 0; j <= p.dim; j++) {
      let g = 0;
      for (let i = 0; i < p.labels.length; i++) g += (p.sampleWeight[i] * (probs[i] - p.labels[i]) * (j < p.dim ? p.features[i * p.dim + j] : 1)) / W;
      if (j < p.dim) g += l2 * fit.weights[j];
      assert.ok(Math.abs(g) < 1e-5, `gradient ${j} = ${g}`); // float32 weights and probabilities bound it at ~1e-6
    }
  });

  it('learns the direction of the true weights', async () => {
    const rng = new Random(freshSeed());
    const n = 4000;
    const features = new Float32Array(n * 2);
    const labels = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      features[2 * i] = rng.normal();
      features[2 * i + 1] = rng.normal();
      labels[i] = rng.float() < 1 / (1 + Math.exp(-(2 * features[2 * i] - features[2 * i + 1]))) ? 1 : 0;
    }
    const fit = await logisticFit({ features, labels, dim: 2, l2: 1e-4 });
    assert.ok(fit.weights[0] > 1.5 && fit.weights[0] < 2.5, `w0 ${fit.weights[0]}`);
    assert.ok(fit.weights[1] < -0.6 && fit.weights[1] > -1.4, `w1 ${fit.weights[1]}`);
  });

  it('rejects labels other than 0 and 1, naming the row', async () => {
    const p = problem(new Random(1), 10, 2);
    p.labels[7] = 0.5;
    await assert.rejects(logisticFit(p), (e: unknown) => isSemrecError(e, 'ERR_INVALID_ARG_VALUE') && /labels\[7\]/.test((e as Error).message));
  });

  it('rejects NaN features and mismatched lengths', async () => {
    const p = problem(new Random(2), 10, 2);
    await assert.rejects(logisticFit({ ...p, labels: p.labels.subarray(0, 9) }), /one entry per row \(10\)/);
    p.features[3] = NaN;
    await assert.rejects(logisticFit(p), (e: unknown) => isSemrecError(e, 'ERR_NAN_INPUT'));
    assert.throws(() => logisticFitSync({ ...p, l2: 0 }), (e: unknown) => isSemrecError(e, 'ERR_OUT_OF_RANGE'));
  });
});
