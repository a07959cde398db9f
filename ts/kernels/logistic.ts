/**
 * L2-regularised logistic regression fitted natively by Newton's method (native/ops/logistic.cc), with
 * a readable TypeScript reference of the same algorithm. The sentiment head's trainer.
 */
import { SemrecError } from '../errors';
import { addon, type RawLogisticFitResult } from '../native/addon';
import { ArgReader, MAX_DIM } from './validate';

export interface LogisticFitOptions {
  /** n x dim row-major features. */
  features: Float32Array;
  dim: number;
  /** n labels, each 0 or 1. */
  labels: Float32Array;
  /** n non-negative weights (default: all 1), e.g. to balance classes. */
  sampleWeight?: Float32Array;
  /** Ridge strength on the weights, not the bias (default 1e-3). */
  l2?: number;
  /** Newton steps at most (default 50). */
  maxIterations?: number;
  /** Stop when max |gradient| is below this (default 1e-8). */
  tolerance?: number;
}

export type LogisticFitResult = RawLogisticFitResult;

export const LOGISTIC_DEFAULTS = { l2: 1e-3, maxIterations: 50, tolerance: 1e-8 } as const;

function fitArgs(options: LogisticFitOptions): Required<Omit<LogisticFitOptions, 'sampleWeight'>> & { sampleWeight?: Float32Array } {
  const args = new ArgReader(options, 'logisticFit');
  const dim = args.integer('dim', 1, MAX_DIM);
  const features = args.float32('features');
  const labels = args.float32('labels');
  const sampleWeight = args.float32('sampleWeight', true);
  if (features.length % dim !== 0) {
    throw new SemrecError(`logisticFit: features.length (${features.length}) must be a multiple of dim (${dim})`, 'ERR_INVALID_ARG_VALUE');
  }
  const rows = features.length / dim;
  if (rows === 0) throw new SemrecError('logisticFit: features holds no rows', 'ERR_INVALID_ARG_VALUE');
  if (labels.length !== rows) throw new SemrecError(`logisticFit: labels must have one entry per row (${rows}), got ${labels.length}`, 'ERR_INVALID_ARG_VALUE');
  if (sampleWeight && sampleWeight.length !== rows) {
    throw new SemrecError(`logisticFit: sampleWeight must have one entry per row (${rows}), got ${sampleWeight.length}`, 'ERR_INVALID_ARG_VALUE');
  }
  const l2 = options.l2 ?? LOGISTIC_DEFAULTS.l2;
  if (typeof l2 !== 'number' || !(l2 > 0) || !Number.isFinite(l2)) throw new SemrecError(`logisticFit: l2 must be a positive finite number, got ${l2}`, 'ERR_OUT_OF_RANGE');
  const tolerance = options.tolerance ?? LOGISTIC_DEFAULTS.tolerance;
  if (typeof tolerance !== 'number' || !(tolerance > 0)) throw new SemrecError(`logisticFit: tolerance must be positive, got ${tolerance}`, 'ERR_OUT_OF_RANGE');
  const maxIterations = args.integer('maxIterations', 1, 10000, LOGISTIC_DEFAULTS.maxIterations);
  return { features, dim, labels, sampleWeight, l2, tolerance, maxIterations };
}

/** Fits off the JS thread. */
export async function logisticFit(options: LogisticFitOptions): Promise<LogisticFitResult> {
  return addon().logisticFit(fitArgs(options));
}

export function logisticFitSync(options: LogisticFitOptions): LogisticFitResult {
  return addon().logisticFitSync(fitArgs(options));
}

/** sigmoid(x . weights + bias) for each row of `features`. */
export function logisticPredict(features: Float32Array, dim: number, weights: Float32Array, bias: number): Float32Array {
  if (weights.length !== dim) throw new SemrecError(`logisticPredict: weights has ${weights.length} entries, dim is ${dim}`, 'ERR_INVALID_ARG_VALUE');
  const rows = features.length / dim;
  const out = new Float32Array(rows);
  for (let r = 0; r < rows; r++) {
    let z = bias;
    for (let j = 0; j < dim; j++) z += features[r * dim + j] * weights[j];
    out[r] = 1 / (1 + Math.exp(-z));
  }
  return out;
}

// ---------------------------------------------------------------- reference

const softplus = (z: number) => (z > 0 ? z + Math.log1p(Math.exp(-z)) : Math.log1p(Math.exp(z)));
const sigmoid = (z: number) => (z >= 0 ? 1 / (1 + Math.exp(-z)) : Math.exp(z) / (1 + Math.exp(z)));

/**
 * The same Newton / IRLS fit, written plainly: full gradient and Hessian in double precision, a
 * Cholesky solve, backtracking (Armijo 1e-4, step halving). See native/include/semrec/logistic.h.
 */
export function logisticFitReference(options: LogisticFitOptions): LogisticFitResult {
  const { features, dim: d, labels: y, sampleWeight, l2, tolerance, maxIterations } = fitArgs(options);
  const n = y.length;
  const m = d + 1;
  const w = (i: number) => (sampleWeight ? sampleWeight[i] : 1);
  let W = 0;
  for (let i = 0; i < n; i++) W += w(i);
  const z = (theta: Float64Array, i: number) => {
    let s = theta[d];
    for (let j = 0; j < d; j++) s += features[i * d + j] * theta[j];
    return s;
  };
  const loss = (theta: Float64Array) => {
    let s = 0;
    for (let i = 0; i < n; i++) {
      const zi = z(theta, i);
      s += w(i) * (softplus(zi) - y[i] * zi);
    }
    let reg = 0;
    for (let j = 0; j < d; j++) reg += theta[j] * theta[j];
    return s / W + 0.5 * l2 * reg;
  };
  const gradHess = (theta: Float64Array) => {
    const g = new Float64Array(m);
    const h = new Float64Array(m * m);
    const x = new Float64Array(m);
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < d; j++) x[j] = features[i * d + j];
      x[d] = 1;
      const p = sigmoid(z(theta, i));
      for (let a = 0; a < m; a++) {
        g[a] += (w(i) * (p - y[i]) * x[a]) / W;
        for (let b = 0; b < m; b++) h[a * m + b] += (w(i) * p * (1 - p) * x[a] * x[b]) / W;
      }
    }
    for (let j = 0; j < d; j++) {
      g[j] += l2 * theta[j];
      h[j * m + j] += l2;
    }
    return { g, h };
  };
  const solve = (h: Float64Array, g: Float64Array) => {
    const L = new Float64Array(m * m);
    for (let j = 0; j < m; j++) {
      let diag = h[j * m + j];
      for (let k = 0; k < j; k++) diag -= L[j * m + k] ** 2;
      L[j * m + j] = Math.sqrt(diag);
      for (let i = j + 1; i < m; i++) {
        let v = h[i * m + j];
        for (let k = 0; k < j; k++) v -= L[i * m + k] * L[j * m + k];
        L[i * m + j] = v / L[j * m + j];
      }
    }
    const u = new Float64Array(m);
    for (let i = 0; i < m; i++) {
      let v = g[i];
      for (let k = 0; k < i; k++) v -= L[i * m + k] * u[k];
      u[i] = v / L[i * m + i];
    }
    const s = new Float64Array(m);
    for (let i = m - 1; i >= 0; i--) {
      let v = u[i];
      for (let k = i + 1; k < m; k++) v -= L[k * m + i] * s[k];
      s[i] = v / L[i * m + i];
    }
    return s;
  };
  const maxAbs = (a: Float64Array) => a.reduce((mx, v) => Math.max(mx, Math.abs(v)), 0);

  let theta = new Float64Array(m);
  let current = loss(theta);
  let iterations = 0;
  let converged = false;
  for (let it = 0; it < maxIterations; it++) {
    const { g, h } = gradHess(theta);
    if (maxAbs(g) < tolerance) {
      converged = true;
      break;
    }
    const step = solve(h, g);
    let slope = 0;
    for (let k = 0; k < m; k++) slope -= g[k] * step[k];
    let moved = false;
    for (let t = 1, halvings = 0; halvings < 40; halvings++, t /= 2) {
      const trial = theta.map((v, k) => v - t * step[k]);
      const candidate = loss(trial);
      if (candidate <= current + 1e-4 * t * slope) {
        theta = trial;
        current = candidate;
        moved = true;
        break;
      }
    }
    iterations = it + 1;
    if (!moved) break;
  }
  const gradientNorm = maxAbs(gradHess(theta).g);
  return {
    weights: Float32Array.from(theta.subarray(0, d)),
    bias: Math.fround(theta[d]),
    iterations,
    converged: converged || gradientNorm < tolerance,
    loss: current,
    gradientNorm,
  };
}
