/**
 * LLM-Rec's fused ranker as native ops (native/include/semrec/fusion.h): the training epoch (mini-batch
 * Adam over sampled negatives), the loss gradient of one batch, and the fused user/item vectors used for
 * inference, plus readable double-precision references of the gradient and the vectors.
 *
 *   y_u = Wu p_u, x_i = Wi s_i (R = E + L rows; E = collabDim in early/hybrid, L = lateDim in late/hybrid)
 *   z_u = [ wc (P_u + y_u[0:E]) ; ws y_u[E:] ],  z_i = [ Q_i + x_i[0:E] ; x_i[E:] ],  r_ui = z_u . z_i + b_i
 */
import { SemrecError } from '../errors';
import { addon, type DeviceChoice, type DeviceUsed } from '../native/addon';
import type { Csr } from './types';

export type FusionMode = 'early' | 'late' | 'hybrid';
export const FUSION_MODES: readonly FusionMode[] = ['early', 'late', 'hybrid'];
export type RankLossName = 'hinge' | 'bpr' | 'softmax';
export const RANK_LOSSES: readonly RankLossName[] = ['hinge', 'bpr', 'softmax'];

export interface FusionShape {
  numUsers: number;
  numItems: number;
  /** Width of the ID embeddings (dc). */
  collabDim: number;
  /** Width of the semantic vectors (ds); 0: no semantic side (matrix factorisation). */
  semDim: number;
  /** Width of the late semantic score's projection (used in 'late' and 'hybrid'). */
  lateDim: number;
  mode: FusionMode;
}

/** Offsets into the flat parameter array (mirrors FusionLayout::make). */
export interface FusionLayout extends FusionShape {
  earlyRows: number;
  lateRows: number;
  projRows: number;
  /** Width of the fused vectors. */
  width: number;
  P: number;
  Q: number;
  bias: number;
  Wu: number;
  Wi: number;
  wc: number;
  ws: number;
  total: number;
}

export function fusionLayout(s: FusionShape): FusionLayout {
  const semantic = s.semDim > 0;
  const earlyRows = semantic && s.mode !== 'late' ? s.collabDim : 0;
  const lateRows = semantic && s.mode !== 'early' ? s.lateDim : 0;
  const projRows = earlyRows + lateRows;
  const P = 0;
  const Q = P + s.numUsers * s.collabDim;
  const bias = Q + s.numItems * s.collabDim;
  const Wu = bias + s.numItems;
  const Wi = Wu + projRows * s.semDim;
  const wc = Wi + projRows * s.semDim;
  return { ...s, earlyRows, lateRows, projRows, width: s.collabDim + lateRows, P, Q, bias, Wu, Wi, wc, ws: wc + 1, total: wc + 2 };
}

/** The frozen semantic inputs. */
export interface FusionInputs {
  /** numItems x semDim adapted item vectors. */
  itemSem?: Float32Array;
  /** numUsers x semDim preference vectors. */
  userSem?: Float32Array;
  /** numUsers total profile weights (target exclusion needs them with pair weights). */
  userWeight?: Float32Array;
  /**
   * The users' histories for the history term h_u = sum_j a_j Q_j (a_j: the weights normalised per user):
   * item ids per user and their profile weights. userWeight[u] must be the sum of u's history weights.
   */
  history?: Csr;
  historyWeight?: Float32Array;
}

export interface RankLossOptions {
  loss: RankLossName;
  margin: number;
  reg: number;
  dropout: number;
}

/** Explicit samples: positive pairs, `negatives` negatives each (row-major), optional pair weights. */
export interface RankSamples {
  users: Int32Array;
  pos: Int32Array;
  neg: Int32Array;
  negatives: number;
  pairWeight?: Float32Array;
}

/** Where an epoch's samples come from: the training pairs, drawn from `seed`. */
export interface RankSampleSource {
  pairUsers: Int32Array;
  pairItems: Int32Array;
  pairWeight?: Float32Array;
  /** Each user's training items (sorted, unique): never drawn as their negatives. */
  positives: Csr;
  /** Items negatives are drawn from (those with training interactions). */
  candidates: Int32Array;
  negatives: number;
}

interface Common {
  device?: DeviceChoice;
  numThreads?: number;
}

export type FusionEpochArgs = FusionShape &
  FusionInputs &
  RankLossOptions &
  Common &
  (RankSampleSource | { samples: RankSamples }) & {
    params: Float32Array;
    adamM: Float32Array;
    adamV: Float32Array;
    step: number;
    lr: number;
    /** Decoupled weight decay (AdamW): each updated parameter first shrinks by lr x weightDecay. */
    weightDecay: number;
    batchSize: number;
    /** Seeds the samples and the dropout masks. */
    seed: number;
  };

export type FusionGradientArgs = FusionShape &
  FusionInputs &
  RankLossOptions &
  Common & {
    params: Float32Array;
    samples: RankSamples;
    /** samples x width dropout masks (0 or 1 / (1 - dropout)); drawn from `seed` when absent. */
    masks?: Float32Array;
    seed?: number;
  };

export interface FusionVectorsArgs extends FusionShape, Common {
  params: Float32Array;
  itemSem?: Float32Array;
  /** The users' histories (over all numUsers, by user id) for the history term, when the model has it. */
  history?: Csr;
  historyWeight?: Float32Array;
  users: Int32Array;
  /** users.length x semDim preference vectors of those users. */
  userSem?: Float32Array;
  /** Also compute every item's fused vector and bias (default true). */
  items?: boolean;
}

export interface FusionVectorsResult {
  users: Float32Array;
  items?: Float32Array;
  itemBias?: Float32Array;
  width: number;
  device: DeviceUsed;
}

function checkShape(a: FusionShape, op: string): FusionLayout {
  if (!FUSION_MODES.includes(a.mode)) throw new SemrecError(`${op}: mode must be 'early', 'late' or 'hybrid', got '${String(a.mode)}'`, 'ERR_INVALID_ARG_VALUE');
  return fusionLayout(a);
}

function flatten<T extends object>(a: T & { samples?: RankSamples }): object {
  if (!a.samples) return a;
  const { samples, ...rest } = a;
  return {
    ...rest,
    sampleUsers: samples.users,
    samplePos: samples.pos,
    sampleNeg: samples.neg,
    samplePairWeight: samples.pairWeight,
    negatives: samples.negatives,
  };
}

/** One training epoch; updates params and the Adam moments in place. */
export async function fusionEpoch(a: FusionEpochArgs): Promise<{ loss: number; step: number; device: DeviceUsed }> {
  checkShape(a, 'fusionEpoch');
  return addon().fusionEpoch(flatten(a)) as Promise<{ loss: number; step: number; device: DeviceUsed }>;
}

export async function fusionGradient(a: FusionGradientArgs): Promise<{ loss: number; grad: Float32Array; device: DeviceUsed }> {
  checkShape(a, 'fusionGradient');
  return addon().fusionGradient(flatten({ ...a, seed: a.seed ?? 0 })) as Promise<{ loss: number; grad: Float32Array; device: DeviceUsed }>;
}

export async function fusionVectors(a: FusionVectorsArgs): Promise<FusionVectorsResult> {
  checkShape(a, 'fusionVectors');
  return addon().fusionVectors(a) as Promise<FusionVectorsResult>;
}

export function fusionVectorsSync(a: FusionVectorsArgs): FusionVectorsResult {
  checkShape(a, 'fusionVectors');
  return addon().fusionVectorsSync(a) as FusionVectorsResult;
}

/** The samples an epoch with this source and seed trains on. */
export async function rankSamples(a: RankSampleSource & { numUsers: number; numItems: number; seed: number; numThreads?: number }): Promise<RankSamples> {
  const s = (await addon().rankSamples(a)) as { users: Int32Array; pos: Int32Array; neg: Int32Array; pairWeight?: Float32Array };
  return { ...s, negatives: a.negatives };
}

// ---------------------------------------------------------------- references

/** c1, c2 with y^(-i) = c1 y_u + c2 Wu s_i (fusion.h: target exclusion). */
export const MIN_PROFILE_SHARE = 1e-6;
export function exclusionCoefficients(Z: number, w: number | undefined): [number, number] {
  if (w === undefined || !(w > 0)) return [1, 0];
  const rest = Z - w;
  if (!(rest > MIN_PROFILE_SHARE * Z)) return [0, 0];
  return [Z / rest, -w / rest];
}

function matVec(params: ArrayLike<number>, offset: number, rows: number, cols: number, x: ArrayLike<number>, xOffset: number): number[] {
  const out = new Array<number>(rows).fill(0);
  for (let r = 0; r < rows; r++) for (let t = 0; t < cols; t++) out[r] += params[offset + r * cols + t] * x[xOffset + t];
  return out;
}

/** h_u = sum_j (w_j / sum w) Q_j over u's history, and the normalised weights. */
function historyTerm(L: FusionLayout, params: ArrayLike<number>, history: Csr | undefined, weight: ArrayLike<number> | undefined, u: number) {
  const h = new Array<number>(L.collabDim).fill(0);
  const items: { item: number; share: number }[] = [];
  if (!history || !weight) return { h, items };
  let total = 0;
  for (let e = history.indptr[u]; e < history.indptr[u + 1]; e++) total += weight[e];
  for (let e = history.indptr[u]; e < history.indptr[u + 1]; e++) {
    const share = total > 0 ? weight[e] / total : 0;
    items.push({ item: history.indices[e], share });
    for (let t = 0; t < L.collabDim; t++) h[t] += share * params[L.Q + history.indices[e] * L.collabDim + t];
  }
  return { h, items };
}

/** Fused vectors of users (from their preference vectors and histories) and items, as the header defines them. */
export function fusionVectorsReference(
  L: FusionLayout,
  params: ArrayLike<number>,
  itemSem: ArrayLike<number> | undefined,
  users: ArrayLike<number>,
  userSem: ArrayLike<number> | undefined,
  history?: { history: Csr; historyWeight: ArrayLike<number> },
): { users: Float64Array; items: Float64Array; itemBias: Float64Array } {
  const { collabDim: dc, semDim: ds, earlyRows: E, lateRows: Lr, projRows: R, width: F } = L;
  const wc = params[L.wc];
  const ws = params[L.ws];
  const U = new Float64Array(users.length * F);
  for (let r = 0; r < users.length; r++) {
    const y = R ? matVec(params, L.Wu, R, ds, userSem!, r * ds) : [];
    const { h } = historyTerm(L, params, history?.history, history?.historyWeight, users[r]);
    for (let t = 0; t < dc; t++) U[r * F + t] = wc * (params[L.P + users[r] * dc + t] + h[t] + (E ? y[t] : 0));
    for (let l = 0; l < Lr; l++) U[r * F + dc + l] = ws * y[E + l];
  }
  const I = new Float64Array(L.numItems * F);
  const b = new Float64Array(L.numItems);
  for (let i = 0; i < L.numItems; i++) {
    const x = R ? matVec(params, L.Wi, R, ds, itemSem!, i * ds) : [];
    for (let t = 0; t < dc; t++) I[i * F + t] = params[L.Q + i * dc + t] + (E ? x[t] : 0);
    for (let l = 0; l < Lr; l++) I[i * F + dc + l] = x[E + l];
    b[i] = params[L.bias + i];
  }
  return { users: U, items: I, itemBias: b };
}

const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));
const softplus = (x: number) => (x > 0 ? x + Math.log1p(Math.exp(-x)) : Math.log1p(Math.exp(x)));

/**
 * Loss of one batch (every given sample) and its gradient, in double precision, written from the
 * definitions in fusion.h without any of the native code's batching: each positive builds its vectors
 * from the parameters directly. `masks` are the dropout masks (samples x width; all ones when absent).
 */
export function fusionGradientReference(
  L: FusionLayout,
  params: ArrayLike<number>,
  inputs: FusionInputs,
  samples: RankSamples,
  h: RankLossOptions,
  masks?: ArrayLike<number>,
): { loss: number; grad: Float64Array } {
  const { collabDim: dc, semDim: ds, earlyRows: E, lateRows: Lr, projRows: R, width: F } = L;
  const N = samples.negatives;
  const B = samples.users.length;
  const grad = new Float64Array(L.total);
  const wc = params[L.wc];
  const ws = params[L.ws];
  const scale = h.loss === 'softmax' ? 1 / B : 1 / (B * Math.max(N, 1));
  let loss = 0;
  for (let p = 0; p < B; p++) {
    const u = samples.users[p];
    const i = samples.pos[p];
    // The profile without the positive (target exclusion), projected: y^(-i) = c1 Wu p_u + c2 Wu s_i.
    const [c1, c2] = (R || inputs.history) && samples.pairWeight && inputs.userWeight ? exclusionCoefficients(inputs.userWeight[u], samples.pairWeight[p]) : [1, 0];
    const profile = new Array<number>(ds).fill(0);
    for (let t = 0; t < ds; t++) profile[t] = c1 * inputs.userSem![u * ds + t] + c2 * inputs.itemSem![i * ds + t];
    const y = R ? matVec(params, L.Wu, R, ds, profile, 0) : [];
    // The history term without the positive: h^(-i) = c1 h_u + c2 Q_i.
    const hist = historyTerm(L, params, inputs.history, inputs.historyWeight, u);
    const hhat = hist.h.map((v, t) => (inputs.history ? c1 * v + c2 * params[L.Q + i * dc + t] : 0));
    const zu = new Array<number>(F);
    for (let t = 0; t < dc; t++) zu[t] = wc * (params[L.P + u * dc + t] + hhat[t] + (E ? y[t] : 0));
    for (let l = 0; l < Lr; l++) zu[dc + l] = ws * y[E + l];
    const mask = Array.from({ length: F }, (_, t) => (masks ? masks[p * F + t] : 1));
    const zd = zu.map((v, t) => v * mask[t]);
    const items = [i, ...Array.from(samples.neg.subarray(p * N, (p + 1) * N))];
    const zk = items.map((item) => {
      const x = R ? matVec(params, L.Wi, R, ds, inputs.itemSem!, item * ds) : [];
      const z = new Array<number>(F);
      for (let t = 0; t < dc; t++) z[t] = params[L.Q + item * dc + t] + (E ? x[t] : 0);
      for (let l = 0; l < Lr; l++) z[dc + l] = x[E + l];
      return z;
    });
    const r = items.map((item, k) => zd.reduce((s, v, t) => s + v * zk[k][t], 0) + params[L.bias + item]);
    const dr = new Array<number>(items.length).fill(0);
    if (h.loss === 'softmax') {
      const mx = Math.max(...r);
      const z = r.reduce((s, v) => s + Math.exp(v - mx), 0);
      loss += mx + Math.log(z) - r[0];
      r.forEach((v, k) => (dr[k] = (Math.exp(v - mx) / z - (k === 0 ? 1 : 0)) * scale));
    } else {
      for (let k = 1; k < items.length; k++) {
        const diff = r[0] - r[k];
        let g: number;
        if (h.loss === 'hinge') {
          if (!(h.margin - diff > 0)) continue;
          loss += h.margin - diff;
          g = 1;
        } else {
          loss += softplus(-diff);
          g = sigmoid(-diff);
        }
        dr[0] -= g * scale;
        dr[k] += g * scale;
      }
    }
    // Backward.
    const dzu = new Array<number>(F).fill(0);
    items.forEach((item, k) => {
      for (let t = 0; t < F; t++) dzu[t] += dr[k] * zk[k][t] * mask[t];
      // d z_k = dr_k zd: into Q_k, b_k and Wi (through x_k = Wi s_k).
      for (let t = 0; t < dc; t++) grad[L.Q + item * dc + t] += dr[k] * zd[t];
      grad[L.bias + item] += dr[k];
      for (let o = 0; o < R; o++) {
        const dx = o < E ? dr[k] * zd[o] : dr[k] * zd[dc + o - E];
        for (let t = 0; t < ds; t++) grad[L.Wi + o * ds + t] += dx * inputs.itemSem![item * ds + t];
      }
    });
    for (let t = 0; t < dc; t++) {
      grad[L.P + u * dc + t] += wc * dzu[t];
      grad[L.wc] += dzu[t] * (params[L.P + u * dc + t] + hhat[t] + (E ? y[t] : 0));
      if (inputs.history) {
        for (const { item, share } of hist.items) grad[L.Q + item * dc + t] += c1 * share * wc * dzu[t];
        grad[L.Q + i * dc + t] += c2 * wc * dzu[t];
      }
    }
    for (let l = 0; l < Lr; l++) grad[L.ws] += dzu[dc + l] * y[E + l];
    for (let o = 0; o < R; o++) {
      const dy = o < E ? wc * dzu[o] : ws * dzu[dc + o - E];
      for (let t = 0; t < ds; t++) grad[L.Wu + o * ds + t] += dy * profile[t];
    }
  }
  loss *= scale;
  if (h.reg > 0) {
    let reg = 0;
    const users = new Set(samples.users);
    const items = new Set([...samples.pos, ...samples.neg]);
    // History items are rows of the batch too (their Q gets gradients).
    if (inputs.history) for (const u of users) for (let e = inputs.history.indptr[u]; e < inputs.history.indptr[u + 1]; e++) items.add(inputs.history.indices[e]);
    for (const u of users) {
      for (let t = 0; t < dc; t++) {
        const v = params[L.P + u * dc + t];
        grad[L.P + u * dc + t] += h.reg * v;
        reg += v * v;
      }
    }
    for (const i of items) {
      for (let t = 0; t < dc; t++) {
        const v = params[L.Q + i * dc + t];
        grad[L.Q + i * dc + t] += h.reg * v;
        reg += v * v;
      }
      const b = params[L.bias + i];
      grad[L.bias + i] += h.reg * b;
      reg += b * b;
    }
    for (let k = L.Wu; k < L.wc; k++) {
      grad[k] += h.reg * params[k];
      reg += params[k] * params[k];
    }
    loss += 0.5 * h.reg * reg;
  }
  return { loss, grad };
}
