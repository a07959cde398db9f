/**
 * LLM-Rec's semantic adapter as native ops (native/include/semrec/adapter.h): parametric whitening plus
 * a mixture-of-experts projection over frozen sentence vectors, trained with InfoNCE over in-batch
 * negatives; with a readable double-precision reference of the loss and gradient.
 *
 *   g = softmax(G xd),  e_k = Wt_k (xd - b_k),  h = sum_k g_k e_k,  z = h / |h|
 *   loss = (1 / 2B) sum_p [ -S_pp + log sum_q e^{S_pq} - S_pp + log sum_q e^{S_qp} ],  S = Z_a Z_b^T / tau
 */
import { SemrecError } from '../errors';
import { addon, type DeviceChoice, type DeviceUsed } from '../native/addon';

export interface AdapterShape {
  /** Width of the encoder's vectors (D). */
  inDim: number;
  /** Width of the adapted vectors (ds). */
  outDim: number;
  /** Number of experts (K). */
  experts: number;
}

/** Offsets into the flat parameter array (mirrors AdapterLayout::make). */
export interface AdapterLayout extends AdapterShape {
  /** Rows of M = [Wt_1; ...; Wt_K; G]: K outDim + K. */
  matrixRows: number;
  M: number;
  bias: number;
  total: number;
}

export function adapterLayout(s: AdapterShape): AdapterLayout {
  const matrixRows = s.experts * s.outDim + s.experts;
  return { ...s, matrixRows, M: 0, bias: matrixRows * s.inDim, total: matrixRows * s.inDim + s.experts * s.inDim };
}

export interface AdapterLossOptions {
  temperature: number;
  dropout: number;
}

interface Common {
  device?: DeviceChoice;
  numThreads?: number;
}

export type AdapterEpochArgs = AdapterShape &
  AdapterLossOptions &
  Common & {
    params: Float32Array;
    adamM: Float32Array;
    adamV: Float32Array;
    step: number;
    /** rows x inDim: every view's vector (item texts, reviews). */
    vectors: Float32Array;
    /** The epoch's positive pairs, in training order: rows of `vectors`. */
    viewA: Int32Array;
    viewB: Int32Array;
    lr: number;
    batchSize: number;
    /** Seeds the dropout masks. */
    seed: number;
  };

export type AdapterGradientArgs = AdapterShape &
  AdapterLossOptions &
  Common & {
    params: Float32Array;
    vectors: Float32Array;
    viewA: Int32Array;
    viewB: Int32Array;
    /** 2 x pairs x inDim dropout masks (view A rows, then view B rows); drawn from `seed` when absent. */
    masks?: Float32Array;
    seed?: number;
  };

function check(s: AdapterShape, op: string): void {
  for (const k of ['inDim', 'outDim', 'experts'] as const) {
    if (!Number.isInteger(s[k]) || s[k] < 1) throw new SemrecError(`${op}: ${k} must be a positive integer, got ${s[k]}`, 'ERR_OUT_OF_RANGE');
  }
}

export async function adapterEpoch(a: AdapterEpochArgs): Promise<{ loss: number; step: number; device: DeviceUsed }> {
  check(a, 'adapterEpoch');
  return addon().adapterEpoch(a) as Promise<{ loss: number; step: number; device: DeviceUsed }>;
}

export async function adapterGradient(a: AdapterGradientArgs): Promise<{ loss: number; grad: Float32Array; device: DeviceUsed }> {
  check(a, 'adapterGradient');
  return addon().adapterGradient({ ...a, seed: a.seed ?? 0 }) as Promise<{ loss: number; grad: Float32Array; device: DeviceUsed }>;
}

/** Unit-norm adapted vectors (rows x outDim) of rows x inDim inputs. */
export async function adapterApply(a: AdapterShape & { params: Float32Array; vectors: Float32Array; numThreads?: number }): Promise<Float32Array> {
  check(a, 'adapterApply');
  return addon().adapterApply(a) as Promise<Float32Array>;
}

export function adapterApplySync(a: AdapterShape & { params: Float32Array; vectors: Float32Array; numThreads?: number }): Float32Array {
  check(a, 'adapterApply');
  return addon().adapterApplySync(a) as Float32Array;
}

// ---------------------------------------------------------------- reference

/** The forward pass of one input row: gate, expert outputs, mixture and its unit vector. */
export function adapterForwardReference(L: AdapterLayout, params: ArrayLike<number>, x: ArrayLike<number>) {
  const { inDim: D, outDim: ds, experts: K } = L;
  const logits = Array.from({ length: K }, (_, k) => {
    let s = 0;
    for (let d = 0; d < D; d++) s += params[L.M + (K * ds + k) * D + d] * x[d];
    return s;
  });
  const mx = Math.max(...logits);
  const ex = logits.map((l) => Math.exp(l - mx));
  const sum = ex.reduce((a, b) => a + b, 0);
  const gate = ex.map((e) => e / sum);
  const experts = Array.from({ length: K }, (_, k) =>
    Array.from({ length: ds }, (_, t) => {
      let s = 0;
      for (let d = 0; d < D; d++) s += params[L.M + (k * ds + t) * D + d] * (x[d] - params[L.bias + k * D + d]);
      return s;
    }),
  );
  const h = Array.from({ length: ds }, (_, t) => experts.reduce((s, e, k) => s + gate[k] * e[t], 0));
  const norm = Math.max(Math.sqrt(h.reduce((s, v) => s + v * v, 0)), 1e-12);
  return { gate, experts, h, norm, z: h.map((v) => v / norm) };
}

/** InfoNCE loss of a batch of noised inputs (rows of view A, then of view B) as a function of the parameters. */
export function adapterLossReference(L: AdapterLayout, params: ArrayLike<number>, xa: number[][], xb: number[][], temperature: number): number {
  const za = xa.map((x) => adapterForwardReference(L, params, x).z);
  const zb = xb.map((x) => adapterForwardReference(L, params, x).z);
  const B = za.length;
  const S = za.map((a) => zb.map((b) => a.reduce((s, v, t) => s + v * b[t], 0) / temperature));
  const lse = (v: number[]) => {
    const mx = Math.max(...v);
    return mx + Math.log(v.reduce((s, x) => s + Math.exp(x - mx), 0));
  };
  let loss = 0;
  for (let p = 0; p < B; p++) {
    loss += lse(S[p]) - S[p][p];
    loss += lse(S.map((row) => row[p])) - S[p][p];
  }
  return loss / (2 * B);
}

/**
 * Gradient of adapterLossReference by back-propagation written out per parameter group, in double
 * precision: through the similarities, the normalisation, the mixture, the experts and the gate.
 */
export function adapterGradientReference(
  L: AdapterLayout,
  params: ArrayLike<number>,
  xa: number[][],
  xb: number[][],
  temperature: number,
): { loss: number; grad: Float64Array } {
  const { inDim: D, outDim: ds, experts: K } = L;
  const rows = [...xa, ...xb];
  const B = xa.length;
  const fwd = rows.map((x) => adapterForwardReference(L, params, x));
  const S = Array.from({ length: B }, (_, p) => Array.from({ length: B }, (_, q) => fwd[p].z.reduce((s, v, t) => s + v * fwd[B + q].z[t], 0) / temperature));
  const softmax = (v: number[]) => {
    const mx = Math.max(...v);
    const e = v.map((x) => Math.exp(x - mx));
    const s = e.reduce((a, b) => a + b, 0);
    return e.map((x) => x / s);
  };
  const rowP = S.map((r) => softmax(r));
  const colP = Array.from({ length: B }, (_, q) => softmax(S.map((r) => r[q]))); // colP[q][p]
  const grad = new Float64Array(L.total);
  const dz = rows.map(() => new Array<number>(ds).fill(0));
  for (let p = 0; p < B; p++) {
    for (let q = 0; q < B; q++) {
      const dS = (rowP[p][q] + colP[q][p] - (p === q ? 2 : 0)) / (2 * B) / temperature;
      for (let t = 0; t < ds; t++) {
        dz[p][t] += dS * fwd[B + q].z[t];
        dz[B + q][t] += dS * fwd[p].z[t];
      }
    }
  }
  rows.forEach((x, r) => {
    const f = fwd[r];
    const zdz = f.z.reduce((s, v, t) => s + v * dz[r][t], 0);
    const dh = dz[r].map((v, t) => (v - f.z[t] * zdz) / f.norm);
    const dg = f.experts.map((e) => e.reduce((s, v, t) => s + v * dh[t], 0));
    const mean = f.gate.reduce((s, g, k) => s + g * dg[k], 0);
    for (let k = 0; k < K; k++) {
      const dl = f.gate[k] * (dg[k] - mean);
      for (let d = 0; d < D; d++) grad[L.M + (K * ds + k) * D + d] += dl * x[d];
      for (let t = 0; t < ds; t++) {
        const de = f.gate[k] * dh[t];
        for (let d = 0; d < D; d++) {
          grad[L.M + (k * ds + t) * D + d] += de * (x[d] - params[L.bias + k * D + d]);
          grad[L.bias + k * D + d] -= de * params[L.M + (k * ds + t) * D + d];
        }
      }
    }
  });
  return { loss: adapterLossReference(L, params, xa, xb, temperature), grad };
}
