/**
 * Readable TypeScript references of the native trainers (native/include/semrec/train_*.h): the update
 * rules and gradients written as plainly as possible, in double precision, with no attention to speed.
 * Tests run both on the same small inputs and the same samples and compare the results.
 */
import type { Csr } from '../kernels/types';
import { neuMfLayout } from './neumf';

const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));
const softplus = (x: number) => (x > 0 ? x + Math.log1p(Math.exp(-x)) : Math.log1p(Math.exp(x)));

function row(a: Float32Array | Float64Array, r: number, d: number): number[] {
  return Array.from(a.subarray(r * d, (r + 1) * d));
}
function dot(a: number[], b: number[]): number {
  return a.reduce((s, x, t) => s + x * b[t], 0);
}
function setRow(a: Float32Array | Float64Array, r: number, d: number, v: number[]): void {
  a.set(v, r * d);
}
function contains(csr: Csr, r: number, c: number): boolean {
  for (let e = csr.indptr[r]; e < csr.indptr[r + 1]; e++) if (csr.indices[e] === c) return true;
  return false;
}

export interface Triples {
  users: Int32Array;
  pos: Int32Array;
  neg: Int32Array;
}

// ---- biased MF ----

export interface BiasedMfState {
  P: Float32Array;
  Q: Float32Array;
  userBias: Float32Array;
  itemBias: Float32Array;
  globalMean: number;
  dim: number;
}

/** One SGD epoch in `order`; updates `m` in place; returns the mean squared error before each update. */
export function biasedMfEpochReference(
  m: BiasedMfState,
  ratings: { users: Int32Array; items: Int32Array; values: Float32Array },
  order: Int32Array,
  h: { lr: number; regFactors: number; regBias: number },
): number {
  let sse = 0;
  for (const e of order) {
    const u = ratings.users[e];
    const i = ratings.items[e];
    const p = row(m.P, u, m.dim);
    const q = row(m.Q, i, m.dim);
    const err = ratings.values[e] - (m.globalMean + m.userBias[u] + m.itemBias[i] + dot(p, q));
    sse += err * err;
    m.userBias[u] += h.lr * (err - h.regBias * m.userBias[u]);
    m.itemBias[i] += h.lr * (err - h.regBias * m.itemBias[i]);
    setRow(m.P, u, m.dim, p.map((pt, t) => pt + h.lr * (err * q[t] - h.regFactors * pt)));
    setRow(m.Q, i, m.dim, q.map((qt, t) => qt + h.lr * (err * p[t] - h.regFactors * qt)));
  }
  return order.length > 0 ? sse / order.length : 0;
}

// ---- BPR-MF ----

export interface BprState {
  P: Float32Array;
  Q: Float32Array;
  itemBias?: Float32Array;
  dim: number;
}

/** One SGD epoch over the triples in order; returns the mean of -log sigmoid(x_ui - x_uj). */
export function bprEpochReference(m: BprState, t: Triples, h: { lr: number; reg: number; regBias: number }): number {
  let loss = 0;
  for (let s = 0; s < t.users.length; s++) {
    const [u, i, j] = [t.users[s], t.pos[s], t.neg[s]];
    const p = row(m.P, u, m.dim);
    const qi = row(m.Q, i, m.dim);
    const qj = row(m.Q, j, m.dim);
    const x = dot(p, qi) - dot(p, qj) + (m.itemBias ? m.itemBias[i] - m.itemBias[j] : 0);
    loss += softplus(-x);
    const g = sigmoid(-x);
    setRow(m.P, u, m.dim, p.map((pt, k) => pt + h.lr * (g * (qi[k] - qj[k]) - h.reg * pt)));
    // Read again: i may equal j, and then both updates apply to the same row.
    setRow(m.Q, i, m.dim, row(m.Q, i, m.dim).map((v, k) => v + h.lr * (g * p[k] - h.reg * v)));
    setRow(m.Q, j, m.dim, row(m.Q, j, m.dim).map((v, k) => v + h.lr * (-g * p[k] - h.reg * v)));
    if (m.itemBias) {
      m.itemBias[i] += h.lr * (g - h.regBias * m.itemBias[i]);
      m.itemBias[j] += h.lr * (-g - h.regBias * m.itemBias[j]);
    }
  }
  return t.users.length > 0 ? loss / t.users.length : 0;
}

// ---- VBPR ----

export interface VbprState {
  gammaU: Float32Array;
  gammaI: Float32Array;
  thetaU: Float32Array;
  E: Float32Array;
  itemBias: Float32Array;
  featureBias: Float32Array;
  features: Float32Array;
  dim: number;
  contentDim: number;
  numFeatures: number;
}

export function vbprEpochReference(
  m: VbprState,
  t: Triples,
  h: { lr: number; reg: number; regBias: number; regContent: number },
): number {
  const { dim: d, contentDim: dc, numFeatures: nf } = m;
  let loss = 0;
  for (let s = 0; s < t.users.length; s++) {
    const [u, i, j] = [t.users[s], t.pos[s], t.neg[s]];
    const diff = row(m.features, i, nf).map((fi, f) => fi - m.features[j * nf + f]);
    const content = new Array<number>(dc).fill(0);
    diff.forEach((df, f) => {
      if (df !== 0) for (let k = 0; k < dc; k++) content[k] += df * m.E[f * dc + k];
    });
    const gu = row(m.gammaU, u, d);
    const gi = row(m.gammaI, i, d);
    const gj = row(m.gammaI, j, d);
    const tu = row(m.thetaU, u, dc);
    const x =
      m.itemBias[i] - m.itemBias[j] + dot(gu, gi) - dot(gu, gj) + dot(tu, content) + dot(Array.from(m.featureBias), diff);
    loss += softplus(-x);
    const g = sigmoid(-x);
    setRow(m.gammaU, u, d, gu.map((v, k) => v + h.lr * (g * (gi[k] - gj[k]) - h.reg * v)));
    setRow(m.gammaI, i, d, row(m.gammaI, i, d).map((v, k) => v + h.lr * (g * gu[k] - h.reg * v)));
    setRow(m.gammaI, j, d, row(m.gammaI, j, d).map((v, k) => v + h.lr * (-g * gu[k] - h.reg * v)));
    setRow(m.thetaU, u, dc, tu.map((v, k) => v + h.lr * (g * content[k] - h.reg * v)));
    diff.forEach((df, f) => {
      if (df === 0) return;
      for (let k = 0; k < dc; k++) m.E[f * dc + k] += h.lr * (g * df * tu[k] - h.regContent * m.E[f * dc + k]);
      m.featureBias[f] += h.lr * (g * df - h.regBias * m.featureBias[f]);
    });
    m.itemBias[i] += h.lr * (g - h.regBias * m.itemBias[i]);
    m.itemBias[j] += h.lr * (-g - h.regBias * m.itemBias[j]);
  }
  return t.users.length > 0 ? loss / t.users.length : 0;
}

// ---- LightFM ----

export interface LightFmState {
  userEmb: Float32Array;
  itemEmb: Float32Array;
  itemBias: Float32Array;
  userEmbAcc: Float32Array;
  itemEmbAcc: Float32Array;
  itemBiasAcc: Float32Array;
  userFeatures: Csr;
  userFeatureWeights: Float32Array;
  itemFeatures: Csr;
  itemFeatureWeights: Float32Array;
  numItems: number;
  dim: number;
}

function represent(features: Csr, weights: Float32Array, r: number, emb: Float32Array, bias: Float32Array | undefined, d: number) {
  const v = new Array<number>(d).fill(0);
  let b = 0;
  for (let e = features.indptr[r]; e < features.indptr[r + 1]; e++) {
    const f = features.indices[e];
    for (let k = 0; k < d; k++) v[k] += weights[e] * emb[f * d + k];
    if (bias) b += weights[e] * bias[f];
  }
  return { v, b };
}

function adagradStep(
  features: Csr,
  weights: Float32Array,
  r: number,
  emb: Float32Array,
  acc: Float32Array,
  bias: Float32Array | undefined,
  biasAcc: Float32Array | undefined,
  d: number,
  direction: number[],
  biasDirection: number,
  alpha: number,
  lr: number,
): void {
  for (let e = features.indptr[r]; e < features.indptr[r + 1]; e++) {
    const f = features.indices[e];
    for (let k = 0; k < d; k++) {
      const g = weights[e] * direction[k] + alpha * emb[f * d + k];
      emb[f * d + k] -= (lr * g) / Math.sqrt(acc[f * d + k]);
      acc[f * d + k] += g * g;
    }
    if (bias && biasAcc) {
      const g = weights[e] * biasDirection + alpha * bias[f];
      bias[f] -= (lr * g) / Math.sqrt(biasAcc[f]);
      biasAcc[f] += g * g;
    }
  }
}

/** LightFM epoch; WARP takes its candidates from `candidates` (triples x maxSampled). */
export function lightfmEpochReference(
  m: LightFmState,
  t: Triples,
  h: { loss: 'bpr' | 'warp'; lr: number; userAlpha: number; itemAlpha: number; maxSampled: number },
  positives: Csr,
  candidates?: Int32Array,
): number {
  const d = m.dim;
  let total = 0;
  for (let s = 0; s < t.users.length; s++) {
    const u = t.users[s];
    const i = t.pos[s];
    const user = represent(m.userFeatures, m.userFeatureWeights, u, m.userEmb, undefined, d).v;
    const pos = represent(m.itemFeatures, m.itemFeatureWeights, i, m.itemEmb, m.itemBias, d);
    const si = dot(user, pos.v) + pos.b;
    let j = -1;
    let scale = 0;
    let neg = { v: [] as number[], b: 0 };
    if (h.loss === 'bpr') {
      j = t.neg[s];
      neg = represent(m.itemFeatures, m.itemFeatureWeights, j, m.itemEmb, m.itemBias, d);
      const x = si - (dot(user, neg.v) + neg.b);
      scale = sigmoid(-x);
      total += softplus(-x);
    } else {
      for (let n = 1; n <= h.maxSampled; n++) {
        const c = candidates![s * h.maxSampled + n - 1];
        if (contains(positives, u, c)) continue;
        const cand = represent(m.itemFeatures, m.itemFeatureWeights, c, m.itemEmb, m.itemBias, d);
        const sc = dot(user, cand.v) + cand.b;
        if (sc > si - 1) {
          j = c;
          neg = cand;
          scale = Math.min(Math.log(Math.max(1, Math.floor((m.numItems - 1) / n))), 10);
          total += scale * (1 - (si - sc));
          break;
        }
      }
      if (j < 0) continue;
    }
    adagradStep(m.itemFeatures, m.itemFeatureWeights, i, m.itemEmb, m.itemEmbAcc, m.itemBias, m.itemBiasAcc, d, user.map((x) => -scale * x), -scale, h.itemAlpha, h.lr);
    adagradStep(m.itemFeatures, m.itemFeatureWeights, j, m.itemEmb, m.itemEmbAcc, m.itemBias, m.itemBiasAcc, d, user.map((x) => scale * x), scale, h.itemAlpha, h.lr);
    adagradStep(m.userFeatures, m.userFeatureWeights, u, m.userEmb, m.userEmbAcc, undefined, undefined, d, neg.v.map((x, k) => scale * (x - pos.v[k])), 0, h.userAlpha, h.lr);
  }
  return t.users.length > 0 ? total / t.users.length : 0;
}

// ---- NeuMF ----

export interface NeuMfShape {
  numUsers: number;
  numItems: number;
  gmfDim: number;
  mlpDim: number;
  hidden: number[];
}

interface NeuMfForward {
  logit: number;
  gmf: number[];
  activations: number[][]; // a_0 .. a_L
  pre: number[][]; // z_1 .. z_L
}

function neumfForward(shape: NeuMfShape, P: Float32Array | Float64Array, u: number, i: number): NeuMfForward {
  const L = neuMfLayout(shape.numUsers, shape.numItems, shape.gmfDim, shape.mlpDim, shape.hidden);
  const { gmfDim: dg, mlpDim: dm } = shape;
  const gu = Array.from(P.subarray(L.gmfUser + u * dg, L.gmfUser + (u + 1) * dg));
  const gi = Array.from(P.subarray(L.gmfItem + i * dg, L.gmfItem + (i + 1) * dg));
  const gmf = gu.map((x, t) => x * gi[t]);
  const activations = [[...P.subarray(L.mlpUser + u * dm, L.mlpUser + (u + 1) * dm), ...P.subarray(L.mlpItem + i * dm, L.mlpItem + (i + 1) * dm)]];
  const pre: number[][] = [];
  shape.hidden.forEach((out, k) => {
    const input = activations[k];
    const z = Array.from({ length: out }, (_, o) => P[L.bias[k] + o] + input.reduce((s, a, t) => s + P[L.weight[k] + o * input.length + t] * a, 0));
    pre.push(z);
    activations.push(z.map((v) => Math.max(0, v)));
  });
  const last = activations[activations.length - 1];
  const logit = P[L.outBias] + gmf.reduce((s, x, t) => s + P[L.outWeight + t] * x, 0) + last.reduce((s, x, t) => s + P[L.outWeight + dg + t] * x, 0);
  return { logit, gmf, activations, pre };
}

/** Mean BCE loss of the samples and its gradient (L2 `reg` added once per distinct embedding row). */
export function neumfGradientReference(
  shape: NeuMfShape,
  P: Float32Array | Float64Array,
  samples: { users: Int32Array; items: Int32Array; labels: Float32Array },
  reg: number,
): { loss: number; grad: Float64Array } {
  const L = neuMfLayout(shape.numUsers, shape.numItems, shape.gmfDim, shape.mlpDim, shape.hidden);
  const { gmfDim: dg, mlpDim: dm } = shape;
  const grad = new Float64Array(L.total);
  const n = samples.users.length;
  let loss = 0;
  const touchedUsers = new Set<number>();
  const touchedItems = new Set<number>();
  for (let s = 0; s < n; s++) {
    const u = samples.users[s];
    const i = samples.items[s];
    const y = samples.labels[s];
    touchedUsers.add(u);
    touchedItems.add(i);
    const f = neumfForward(shape, P, u, i);
    loss += softplus(f.logit) - y * f.logit;
    const delta = (sigmoid(f.logit) - y) / n;
    const last = f.activations[f.activations.length - 1];
    f.gmf.forEach((x, t) => (grad[L.outWeight + t] += delta * x));
    last.forEach((x, t) => (grad[L.outWeight + dg + t] += delta * x));
    grad[L.outBias] += delta;
    for (let t = 0; t < dg; t++) {
      const dgmf = delta * P[L.outWeight + t];
      grad[L.gmfUser + u * dg + t] += dgmf * P[L.gmfItem + i * dg + t];
      grad[L.gmfItem + i * dg + t] += dgmf * P[L.gmfUser + u * dg + t];
    }
    let da = last.map((_, t) => delta * P[L.outWeight + dg + t]);
    for (let k = shape.hidden.length - 1; k >= 0; k--) {
      const input = f.activations[k];
      const dz = da.map((v, o) => (f.pre[k][o] > 0 ? v : 0));
      const next = new Array<number>(input.length).fill(0);
      dz.forEach((g, o) => {
        grad[L.bias[k] + o] += g;
        input.forEach((a, t) => {
          grad[L.weight[k] + o * input.length + t] += g * a;
          next[t] += g * P[L.weight[k] + o * input.length + t];
        });
      });
      da = next;
    }
    for (let t = 0; t < dm; t++) {
      grad[L.mlpUser + u * dm + t] += da[t];
      grad[L.mlpItem + i * dm + t] += da[dm + t];
    }
  }
  for (const u of touchedUsers) {
    for (let t = 0; t < dg; t++) grad[L.gmfUser + u * dg + t] += reg * P[L.gmfUser + u * dg + t];
    for (let t = 0; t < dm; t++) grad[L.mlpUser + u * dm + t] += reg * P[L.mlpUser + u * dm + t];
  }
  for (const i of touchedItems) {
    for (let t = 0; t < dg; t++) grad[L.gmfItem + i * dg + t] += reg * P[L.gmfItem + i * dg + t];
    for (let t = 0; t < dm; t++) grad[L.mlpItem + i * dm + t] += reg * P[L.mlpItem + i * dm + t];
  }
  return { loss: n > 0 ? loss / n : 0, grad };
}

/** Logits of every (users[r], item) pair: users.length x numItems. */
export function neumfScoreReference(shape: NeuMfShape, P: Float32Array, users: Int32Array): Float64Array {
  const out = new Float64Array(users.length * shape.numItems);
  users.forEach((u, r) => {
    for (let i = 0; i < shape.numItems; i++) out[r * shape.numItems + i] = neumfForward(shape, P, u, i).logit;
  });
  return out;
}

/** One Adam step (Kingma & Ba 2015) with bias correction for step t, in place. */
export function adamStepReference(
  param: Float64Array,
  grad: ArrayLike<number>,
  m: Float64Array,
  v: Float64Array,
  t: number,
  lr: number,
  beta1 = 0.9,
  beta2 = 0.999,
  eps = 1e-8,
): void {
  for (let k = 0; k < param.length; k++) {
    m[k] = beta1 * m[k] + (1 - beta1) * grad[k];
    v[k] = beta2 * v[k] + (1 - beta2) * grad[k] * grad[k];
    const mHat = m[k] / (1 - beta1 ** t);
    const vHat = v[k] / (1 - beta2 ** t);
    param[k] -= (lr * mHat) / (Math.sqrt(vHat) + eps);
  }
}

// ---- LightGCN ----

/** The normalised adjacency as a dense (U + I) x (U + I) matrix. */
export function lightgcnAdjacencyReference(positives: Csr, numUsers: number, numItems: number): Float64Array[] {
  const n = numUsers + numItems;
  const A = Array.from({ length: n }, () => new Float64Array(n));
  const itemDegree = new Float64Array(numItems);
  for (const i of positives.indices) itemDegree[i]++;
  for (let u = 0; u < numUsers; u++) {
    const du = positives.indptr[u + 1] - positives.indptr[u];
    for (let e = positives.indptr[u]; e < positives.indptr[u + 1]; e++) {
      const i = positives.indices[e];
      const w = 1 / Math.sqrt(du * itemDegree[i]);
      A[u][numUsers + i] = w;
      A[numUsers + i][u] = w;
    }
  }
  return A;
}

function multiply(A: Float64Array[], X: Float64Array, d: number): Float64Array {
  const n = A.length;
  const out = new Float64Array(n * d);
  for (let r = 0; r < n; r++) {
    for (let c = 0; c < n; c++) {
      if (A[r][c] === 0) continue;
      for (let k = 0; k < d; k++) out[r * d + k] += A[r][c] * X[c * d + k];
    }
  }
  return out;
}

/** (E_0 + A E_0 + ... + A^L E_0) / (L + 1). */
export function lightgcnForwardReference(A: Float64Array[], E0: ArrayLike<number>, d: number, layers: number): Float64Array {
  let cur: Float64Array = Float64Array.from(E0);
  const sum = Float64Array.from(E0);
  for (let k = 0; k < layers; k++) {
    cur = multiply(A, cur, d);
    for (let t = 0; t < sum.length; t++) sum[t] += cur[t];
  }
  return sum.map((x) => x / (layers + 1));
}

/** Loss (mean BPR + reg/2 mean squared norms of the batch's E0 rows), for finite-difference checks. */
export function lightgcnLossReference(
  A: Float64Array[],
  E0: ArrayLike<number>,
  numUsers: number,
  d: number,
  layers: number,
  reg: number,
  t: Triples,
): number {
  const F = lightgcnForwardReference(A, E0, d, layers);
  let loss = 0;
  for (let s = 0; s < t.users.length; s++) {
    const u = row(F, t.users[s], d);
    const x = dot(u, row(F, numUsers + t.pos[s], d)) - dot(u, row(F, numUsers + t.neg[s], d));
    loss += softplus(-x);
    for (const node of [t.users[s], numUsers + t.pos[s], numUsers + t.neg[s]]) {
      for (let k = 0; k < d; k++) loss += 0.5 * reg * E0[node * d + k] ** 2;
    }
  }
  return t.users.length > 0 ? loss / t.users.length : 0;
}

/** The gradient of lightgcnLossReference with respect to E0: sum_k A^k G / (L + 1) plus the penalty's. */
export function lightgcnGradientReference(
  A: Float64Array[],
  E0: ArrayLike<number>,
  numUsers: number,
  d: number,
  layers: number,
  reg: number,
  t: Triples,
): Float64Array {
  const F = lightgcnForwardReference(A, E0, d, layers);
  const n = t.users.length;
  const G = new Float64Array(F.length);
  for (let s = 0; s < n; s++) {
    const [u, i, j] = [t.users[s], numUsers + t.pos[s], numUsers + t.neg[s]];
    const fu = row(F, u, d);
    const fi = row(F, i, d);
    const fj = row(F, j, d);
    const c = -sigmoid(-(dot(fu, fi) - dot(fu, fj))) / n;
    for (let k = 0; k < d; k++) {
      G[u * d + k] += c * (fi[k] - fj[k]);
      G[i * d + k] += c * fu[k];
      G[j * d + k] -= c * fu[k];
    }
  }
  let g: Float64Array = G;
  const grad = G.map((x) => x / (layers + 1));
  for (let k = 0; k < layers; k++) {
    g = multiply(A, g, d);
    for (let x = 0; x < grad.length; x++) grad[x] += g[x] / (layers + 1);
  }
  for (let s = 0; s < n; s++) {
    for (const node of [t.users[s], numUsers + t.pos[s], numUsers + t.neg[s]]) {
      for (let k = 0; k < d; k++) grad[node * d + k] += (reg * E0[node * d + k]) / n;
    }
  }
  return grad;
}

// ---- Item-KNN ----

/** For each target item j: the `neighbors` items i != j with the largest positive similarity, best first. */
export function itemKnnNeighborsReference(
  byUser: Csr,
  numItems: number,
  neighbors: number,
  shrink: number,
): { item: number; similarity: number }[][] {
  const usersOf: Set<number>[] = Array.from({ length: numItems }, () => new Set());
  for (let u = 0; u < byUser.indptr.length - 1; u++) {
    for (let e = byUser.indptr[u]; e < byUser.indptr[u + 1]; e++) usersOf[byUser.indices[e]].add(u);
  }
  const out: { item: number; similarity: number }[][] = [];
  for (let j = 0; j < numItems; j++) {
    const list: { item: number; similarity: number }[] = [];
    for (let i = 0; i < numItems; i++) {
      if (i === j) continue;
      let common = 0;
      for (const u of usersOf[j]) if (usersOf[i].has(u)) common++;
      const denominator = Math.sqrt(usersOf[j].size) * Math.sqrt(usersOf[i].size) + shrink;
      const similarity = denominator > 0 ? common / denominator : 0;
      if (similarity > 0) list.push({ item: i, similarity });
    }
    list.sort((a, b) => b.similarity - a.similarity || a.item - b.item);
    out.push(list.slice(0, neighbors));
  }
  return out;
}

/** score(u, j) = sum of j's neighbour similarities over the user's items. */
export function itemKnnScoreReference(
  neighbors: { item: number; similarity: number }[][],
  byUser: Csr,
  users: Int32Array,
): Float64Array {
  const numItems = neighbors.length;
  const out = new Float64Array(users.length * numItems);
  users.forEach((u, r) => {
    for (let j = 0; j < numItems; j++) {
      for (const { item, similarity } of neighbors[j]) if (contains(byUser, u, item)) out[r * numItems + j] += similarity;
    }
  });
  return out;
}

// ---- mini-batch epochs (Adam) ----

/**
 * NeuMF epoch: per batch, the reference gradient, Adam on the dense weights and on the embedding rows
 * the batch touched ("lazy" Adam: untouched rows keep their parameters and moments). In place; returns
 * the step count after the epoch.
 */
export function neumfEpochReference(
  shape: NeuMfShape,
  P: Float64Array,
  m: Float64Array,
  v: Float64Array,
  step: number,
  samples: { users: Int32Array; items: Int32Array; labels: Float32Array },
  h: { lr: number; reg: number; batchSize: number },
): number {
  const L = neuMfLayout(shape.numUsers, shape.numItems, shape.gmfDim, shape.mlpDim, shape.hidden);
  for (let begin = 0; begin < samples.users.length; begin += h.batchSize) {
    const end = Math.min(samples.users.length, begin + h.batchSize);
    const batch = {
      users: samples.users.subarray(begin, end),
      items: samples.items.subarray(begin, end),
      labels: samples.labels.subarray(begin, end),
    };
    const { grad } = neumfGradientReference(shape, Float32Array.from(P), batch, h.reg);
    step++;
    const apply = (from: number, to: number) =>
      adamStepReference(P.subarray(from, to), grad.subarray(from, to), m.subarray(from, to), v.subarray(from, to), step, h.lr);
    apply(L.embeddingEnd, L.total);
    for (const u of new Set(batch.users)) {
      apply(L.gmfUser + u * shape.gmfDim, L.gmfUser + (u + 1) * shape.gmfDim);
      apply(L.mlpUser + u * shape.mlpDim, L.mlpUser + (u + 1) * shape.mlpDim);
    }
    for (const i of new Set(batch.items)) {
      apply(L.gmfItem + i * shape.gmfDim, L.gmfItem + (i + 1) * shape.gmfDim);
      apply(L.mlpItem + i * shape.mlpDim, L.mlpItem + (i + 1) * shape.mlpDim);
    }
  }
  return step;
}

/** LightGCN epoch: per batch, the reference gradient and one dense Adam step on E0. In place; returns the step count. */
export function lightgcnEpochReference(
  A: Float64Array[],
  E0: Float64Array,
  m: Float64Array,
  v: Float64Array,
  step: number,
  numUsers: number,
  d: number,
  t: Triples,
  h: { lr: number; reg: number; layers: number; batchSize: number },
): number {
  for (let begin = 0; begin < t.users.length; begin += h.batchSize) {
    const end = Math.min(t.users.length, begin + h.batchSize);
    const batch = { users: t.users.subarray(begin, end), pos: t.pos.subarray(begin, end), neg: t.neg.subarray(begin, end) };
    const grad = lightgcnGradientReference(A, E0, numUsers, d, h.layers, h.reg, batch);
    adamStepReference(E0, grad, m, v, ++step, h.lr);
  }
  return step;
}

// ---- the native random stream (semrec/train_common.h), for references that draw their own samples ----

const MASK64 = (1n << 64n) - 1n;

/** xoshiro256** seeded through SplitMix64 from (seed, stream), bit for bit as the native Rng. */
export class NativeRngReference {
  private readonly s: bigint[];

  constructor(seed: number, stream: number) {
    let x = (BigInt(seed) ^ ((BigInt(stream) * 0xd1b54a32d192ed03n) & MASK64)) & MASK64;
    this.s = [0, 1, 2, 3].map(() => {
      x = (x + 0x9e3779b97f4a7c15n) & MASK64;
      let z = x;
      z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & MASK64;
      z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & MASK64;
      return z ^ (z >> 31n);
    });
  }

  next(): bigint {
    const s = this.s;
    const rotl = (v: bigint, k: bigint) => ((v << k) | (v >> (64n - k))) & MASK64;
    const result = (rotl((s[1] * 5n) & MASK64, 7n) * 9n) & MASK64;
    const t = (s[1] << 17n) & MASK64;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45n);
    return result;
  }

  /** Uniform integer in [0, n): Lemire's multiply-shift with rejection. */
  below(n: number): number {
    const N = BigInt(n);
    let m = (this.next() >> 32n) * N;
    let low = m & 0xffffffffn;
    if (low < N) {
      const threshold = ((1n << 32n) - N) % N;
      while (low < threshold) {
        m = (this.next() >> 32n) * N;
        low = m & 0xffffffffn;
      }
    }
    return Number(m >> 32n);
  }
}

/** The native trainers' kMaxNegativeTries and sampleNegative: uniform draws, rejecting the user's positives. */
const MAX_NEGATIVE_TRIES = 64;
function sampleNegativeReference(rng: NativeRngReference, positives: Csr, user: number, numItems: number): number {
  let item = rng.below(numItems);
  for (let tries = 1; tries < MAX_NEGATIVE_TRIES && contains(positives, user, item); tries++) item = rng.below(numItems);
  return item;
}

// ---- fold-in of new users against frozen items (semrec/fold_in.h) ----

export interface FrozenItemsReference {
  factors: Float32Array;
  bias?: Float32Array;
  numItems: number;
  dim: number;
}

/** LightFM's cap on WARP's rank weight (kWarpMaxWeight). */
const WARP_MAX_WEIGHT = 10;

/** Pairwise SGD fold-in, drawing the same samples from the same streams as the native op. */
export function foldInPairwiseReference(
  items: FrozenItemsReference,
  histories: Csr,
  offset: Float32Array | undefined,
  h: { loss: 'bpr' | 'warp'; lr: number; reg: number; epochs: number; maxSampled: number; adagrad: boolean; scale: number },
  seed: number,
): { users: Float64Array; loss: number } {
  const d = items.dim;
  const numUsers = histories.indptr.length - 1;
  const out = new Float64Array(numUsers * d);
  const score = (v: number[], i: number) => dot(v, row(items.factors, i, d)) + (items.bias ? items.bias[i] : 0);
  let total = 0;
  let steps = 0;
  for (let u = 0; u < numUsers; u++) {
    const history = Array.from(histories.indices.subarray(histories.indptr[u], histories.indptr[u + 1]));
    const n = history.length;
    if (n === 0 || n >= items.numItems) continue;
    const rng = new NativeRngReference(seed, u);
    const x = new Array<number>(d).fill(0);
    const acc = new Array<number>(d).fill(1);
    const base = offset ? row(offset, u, d) : new Array<number>(d).fill(0);
    const order = [...history];
    let loss = 0;
    let userSteps = 0;
    for (let epoch = 0; epoch < h.epochs; epoch++) {
      for (let t = n - 1; t > 0; t--) {
        const r = rng.below(t + 1);
        [order[t], order[r]] = [order[r], order[t]];
      }
      loss = 0;
      userSteps = 0;
      for (const i of order) {
        const v = x.map((xt, t) => h.scale * xt + base[t]);
        const si = score(v, i);
        let j = -1;
        let g = 0;
        if (h.loss === 'bpr') {
          j = sampleNegativeReference(rng, histories, u, items.numItems);
          const margin = si - score(v, j);
          loss += softplus(-margin);
          g = sigmoid(-margin);
        } else {
          for (let tries = 1; tries <= h.maxSampled; tries++) {
            const candidate = sampleNegativeReference(rng, histories, u, items.numItems);
            const sj = score(v, candidate);
            if (sj > si - 1) {
              j = candidate;
              g = Math.min(Math.log(Math.max(1, Math.floor((items.numItems - 1) / tries))), WARP_MAX_WEIGHT);
              loss += g * Math.max(0, 1 - (si - sj));
              break;
            }
          }
        }
        userSteps++;
        if (j < 0) continue;
        const qi = row(items.factors, i, d);
        const qj = row(items.factors, j, d);
        for (let t = 0; t < d; t++) {
          const grad = -g * h.scale * (qi[t] - qj[t]) + h.reg * x[t];
          if (h.adagrad) {
            x[t] -= (h.lr * grad) / Math.sqrt(acc[t]);
            acc[t] += grad * grad;
          } else {
            x[t] -= h.lr * grad;
          }
        }
      }
    }
    setRow(out, u, d, x);
    total += loss;
    steps += userSteps;
  }
  return { users: out, loss: steps > 0 ? total / steps : 0 };
}

/** Least-squares fold-in of explicit ratings: the normal equations solved by Gaussian elimination. */
export function foldInRidgeReference(
  items: FrozenItemsReference,
  histories: Csr,
  targets: Float32Array,
  regFactors: number,
  regBias: number,
): { users: Float64Array; userBias: Float64Array } {
  const d = items.dim;
  const w = d + 1;
  const numUsers = histories.indptr.length - 1;
  const users = new Float64Array(numUsers * d);
  const userBias = new Float64Array(numUsers);
  for (let u = 0; u < numUsers; u++) {
    const n = histories.indptr[u + 1] - histories.indptr[u];
    if (n === 0) continue;
    const A = Array.from({ length: w }, () => new Array<number>(w + 1).fill(0)); // augmented [A | b]
    for (let e = histories.indptr[u]; e < histories.indptr[u + 1]; e++) {
      const i = histories.indices[e];
      const features = [...row(items.factors, i, d), 1];
      const y = targets[e] - (items.bias ? items.bias[i] : 0);
      for (let r = 0; r < w; r++) {
        for (let c = 0; c < w; c++) A[r][c] += features[r] * features[c];
        A[r][w] += features[r] * y;
      }
    }
    for (let t = 0; t < d; t++) A[t][t] += n * regFactors;
    A[d][d] += n * regBias;
    for (let c = 0; c < w; c++) {
      let pivot = c;
      for (let r = c + 1; r < w; r++) if (Math.abs(A[r][c]) > Math.abs(A[pivot][c])) pivot = r;
      [A[c], A[pivot]] = [A[pivot], A[c]];
      for (let r = 0; r < w; r++) {
        if (r === c) continue;
        const f = A[r][c] / A[c][c];
        for (let k = c; k <= w; k++) A[r][k] -= f * A[c][k];
      }
    }
    for (let t = 0; t < d; t++) users[u * d + t] = A[t][w] / A[t][t];
    userBias[u] = A[d][w] / A[d][d];
  }
  return { users, userBias };
}
