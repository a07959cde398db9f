/**
 * Readable references of the sequential recommenders' transformer (native/ops/transformer.cc), in float64:
 * every layer as a forward function and its hand-derived backward, and the whole model's loss and gradient
 * composed from them, without dropout. Tests check each layer against finite differences of its forward and
 * the native gradient against this one. Matrices are row-major number arrays; rows x cols is stated.
 */
import { transformerLayout, type Segments, type TransformerConfig } from './transformer';

type Vec = Float64Array<ArrayBufferLike>;

/** erf by Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7), as the native code uses (JavaScript has no erf). */
export function erf(x: number): number {
  const t = 1 / (1 + 0.3275911 * Math.abs(x));
  const y = 1 - t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429)))) * Math.exp(-x * x);
  return x < 0 ? -y : y;
}

// ---- linear: Y (n x out) = X (n x in) W (in x out) + b ----
export function linearForward(X: Vec, W: ArrayLike<number>, b: ArrayLike<number>, n: number, inDim: number, outDim: number): Vec {
  const Y = new Float64Array(n * outDim);
  for (let r = 0; r < n; r++)
    for (let o = 0; o < outDim; o++) {
      let s = b[o];
      for (let i = 0; i < inDim; i++) s += X[r * inDim + i] * W[i * outDim + o];
      Y[r * outDim + o] = s;
    }
  return Y;
}
/** dX, and dW / db added into gW / gb. */
export function linearBackward(X: Vec, W: ArrayLike<number>, dY: Vec, n: number, inDim: number, outDim: number, gW: Vec, gb: Vec): Vec {
  const dX = new Float64Array(n * inDim);
  for (let r = 0; r < n; r++)
    for (let o = 0; o < outDim; o++) {
      const d = dY[r * outDim + o];
      gb[o] += d;
      for (let i = 0; i < inDim; i++) {
        gW[i * outDim + o] += X[r * inDim + i] * d;
        dX[r * inDim + i] += W[i * outDim + o] * d;
      }
    }
  return dX;
}

// ---- LayerNorm over rows of width dim ----
export function layerNormForward(X: Vec, g: ArrayLike<number>, b: ArrayLike<number>, n: number, dim: number, eps: number): Vec {
  const Y = new Float64Array(n * dim);
  for (let r = 0; r < n; r++) {
    const row = X.subarray(r * dim, (r + 1) * dim);
    const mean = row.reduce((a, v) => a + v, 0) / dim;
    const variance = row.reduce((a, v) => a + (v - mean) ** 2, 0) / dim;
    const rstd = 1 / Math.sqrt(variance + eps);
    for (let j = 0; j < dim; j++) Y[r * dim + j] = (row[j] - mean) * rstd * g[j] + b[j];
  }
  return Y;
}
export function layerNormBackward(X: Vec, g: ArrayLike<number>, dY: Vec, n: number, dim: number, eps: number, gg: Vec, gb: Vec): Vec {
  const dX = new Float64Array(n * dim);
  for (let r = 0; r < n; r++) {
    const row = X.subarray(r * dim, (r + 1) * dim);
    const mean = row.reduce((a, v) => a + v, 0) / dim;
    const rstd = 1 / Math.sqrt(row.reduce((a, v) => a + (v - mean) ** 2, 0) / dim + eps);
    let sumD = 0;
    let sumDX = 0;
    for (let j = 0; j < dim; j++) {
      const xhat = (row[j] - mean) * rstd;
      const d = dY[r * dim + j] * g[j];
      sumD += d;
      sumDX += d * xhat;
      gg[j] += dY[r * dim + j] * xhat;
      gb[j] += dY[r * dim + j];
    }
    for (let j = 0; j < dim; j++) {
      const xhat = (row[j] - mean) * rstd;
      dX[r * dim + j] = rstd * (dY[r * dim + j] * g[j] - sumD / dim - (xhat * sumDX) / dim);
    }
  }
  return dX;
}

// ---- GELU(x) = x/2 (1 + erf(x / sqrt 2)) ----
export function geluForward(X: Vec): Vec {
  return X.map((x) => 0.5 * x * (1 + erf(x / Math.SQRT2)));
}
export function geluBackward(X: Vec, dY: Vec): Vec {
  return X.map((x, i) => dY[i] * (0.5 * (1 + erf(x / Math.SQRT2)) + (x * Math.exp(-0.5 * x * x)) / Math.sqrt(2 * Math.PI)));
}

// ---- multi-head self-attention of one segment: Q, K, V are T x H; heads split H ----
export function attentionForward(Q: Vec, K: Vec, V: Vec, T: number, H: number, heads: number, causal: boolean): { ctx: Vec; probs: Vec[] } {
  const d = H / heads;
  const ctx = new Float64Array(T * H);
  const probs: Vec[] = [];
  for (let h = 0; h < heads; h++) {
    const P = new Float64Array(T * T);
    for (let t = 0; t < T; t++) {
      const jmax = causal ? t + 1 : T;
      let mx = -Infinity;
      for (let j = 0; j < jmax; j++) {
        let s = 0;
        for (let e = 0; e < d; e++) s += Q[t * H + h * d + e] * K[j * H + h * d + e];
        P[t * T + j] = s / Math.sqrt(d);
        mx = Math.max(mx, P[t * T + j]);
      }
      let sum = 0;
      for (let j = 0; j < jmax; j++) sum += (P[t * T + j] = Math.exp(P[t * T + j] - mx));
      for (let j = 0; j < jmax; j++) {
        P[t * T + j] /= sum;
        for (let e = 0; e < d; e++) ctx[t * H + h * d + e] += P[t * T + j] * V[j * H + h * d + e];
      }
    }
    probs.push(P);
  }
  return { ctx, probs };
}
export function attentionBackward(
  Q: Vec, K: Vec, V: Vec, probs: Vec[], dCtx: Vec, T: number, H: number, heads: number, causal: boolean,
): { dQ: Vec; dK: Vec; dV: Vec } {
  const d = H / heads;
  const dQ = new Float64Array(T * H);
  const dK = new Float64Array(T * H);
  const dV = new Float64Array(T * H);
  for (let h = 0; h < heads; h++) {
    const P = probs[h];
    for (let t = 0; t < T; t++) {
      const jmax = causal ? t + 1 : T;
      const dP = new Float64Array(jmax);
      let dot = 0;
      for (let j = 0; j < jmax; j++) {
        for (let e = 0; e < d; e++) {
          dP[j] += dCtx[t * H + h * d + e] * V[j * H + h * d + e];
          dV[j * H + h * d + e] += P[t * T + j] * dCtx[t * H + h * d + e];
        }
        dot += P[t * T + j] * dP[j];
      }
      for (let j = 0; j < jmax; j++) {
        const dS = (P[t * T + j] * (dP[j] - dot)) / Math.sqrt(d);
        for (let e = 0; e < d; e++) {
          dQ[t * H + h * d + e] += dS * K[j * H + h * d + e];
          dK[j * H + h * d + e] += dS * Q[t * H + h * d + e];
        }
      }
    }
  }
  return { dQ, dK, dV };
}

// ---- the tied output layer: scores = z . E[i] + bias[i] over all items, cross-entropy of the target ----
export function crossEntropy(z: ArrayLike<number>, E: ArrayLike<number>, bias: ArrayLike<number> | undefined, numItems: number, H: number, target: number) {
  const scores = new Float64Array(numItems);
  for (let i = 0; i < numItems; i++) {
    let s = bias ? bias[i] : 0;
    for (let j = 0; j < H; j++) s += z[j] * E[i * H + j];
    scores[i] = s;
  }
  const mx = Math.max(...scores);
  const sum = scores.reduce((a, s) => a + Math.exp(s - mx), 0);
  const loss = Math.log(sum) + mx - scores[target];
  const dScores = scores.map((s, i) => Math.exp(s - mx) / sum - (i === target ? 1 : 0));
  return { loss, dScores };
}

function softplus(x: number): number {
  return x > 0 ? x + Math.log1p(Math.exp(-x)) : Math.log1p(Math.exp(x));
}
const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));

/**
 * Mean loss over all targets of the segments and its gradient (layout.total values), the model without
 * dropout: what native transformerGradient computes when the config's dropout rates are 0.
 */
export function transformerLossReference(c: TransformerConfig, params: ArrayLike<number>, s: Segments): { loss: number; grad: Float64Array } {
  const L = transformerLayout(c);
  const H = c.hidden;
  const I = c.inner;
  const P = Float64Array.from(params);
  const G = new Float64Array(L.total);
  const at = (offset: number, n: number) => P.subarray(offset, offset + n);
  const gat = (offset: number, n: number) => G.subarray(offset, offset + n);
  let loss = 0;
  let targets = 0;
  for (let t = 0; t < s.targets.length; t++) if (s.targets[t] >= 0) targets++;
  for (let seg = 0; seg + 1 < s.offsets.length; seg++) {
    const t0 = s.offsets[seg];
    const T = s.offsets[seg + 1] - t0;
    // forward, keeping what the backward pass needs
    const e = new Float64Array(T * H);
    for (let t = 0; t < T; t++)
      for (let j = 0; j < H; j++) e[t * H + j] = P[L.tokenEmb + s.tokens[t0 + t] * H + j] + P[L.posEmb + t * H + j];
    let h = layerNormForward(e, at(L.embLnG, H), at(L.embLnB, H), T, H, c.layerNormEps);
    const caches = L.layers.map((y) => {
      const x = h;
      const q = linearForward(x, at(y.wq, H * H), at(y.bq, H), T, H, H);
      const k = linearForward(x, at(y.wk, H * H), at(y.bk, H), T, H, H);
      const v = linearForward(x, at(y.wv, H * H), at(y.bv, H), T, H, H);
      const { ctx, probs } = attentionForward(q, k, v, T, H, c.heads, c.causal);
      const o = linearForward(ctx, at(y.wo, H * H), at(y.bo, H), T, H, H);
      const r1 = o.map((val, i) => val + x[i]);
      const a = layerNormForward(r1, at(y.ln1g, H), at(y.ln1b, H), T, H, c.layerNormEps);
      const f1 = linearForward(a, at(y.w1, H * I), at(y.b1, I), T, H, I);
      const g = geluForward(f1);
      const f2 = linearForward(g, at(y.w2, I * H), at(y.b2, H), T, I, H);
      const r2 = f2.map((val, i) => val + a[i]);
      h = layerNormForward(r2, at(y.ln2g, H), at(y.ln2b, H), T, H, c.layerNormEps);
      return { x, q, k, v, ctx, probs, r1, a, f1, g, r2 };
    });
    const hLast = h;
    let zs = h;
    let head: { pre: Vec; act: Vec } | undefined;
    if (c.outputHead) {
      const pre = linearForward(h, at(L.wh, H * H), at(L.bh, H), T, H, H);
      const act = geluForward(pre);
      zs = layerNormForward(act, at(L.lnhG, H), at(L.lnhB, H), T, H, c.layerNormEps);
      head = { pre, act };
    }
    // loss and dz
    const dz = new Float64Array(T * H);
    const E = at(L.tokenEmb, c.numItems * H);
    const bias = c.outputHead ? at(L.outBias, c.numItems) : undefined;
    for (let t = 0; t < T; t++) {
      const target = s.targets[t0 + t];
      if (target < 0) continue;
      const z = zs.subarray(t * H, (t + 1) * H);
      const scored: [number, number][] = [];
      if (s.negatives) {
        const neg = s.negatives[t0 + t];
        const score = (i: number) => z.reduce((a, v, j) => a + v * E[i * H + j], bias ? bias[i] : 0);
        const sp = score(target);
        const sn = score(neg);
        loss += softplus(-sp) + softplus(sn);
        scored.push([target, sigmoid(sp) - 1], [neg, sigmoid(sn)]);
      } else {
        const ce = crossEntropy(z, E, bias, c.numItems, H, target);
        loss += ce.loss;
        ce.dScores.forEach((d, i) => scored.push([i, d]));
      }
      for (const [i, d0] of scored) {
        const d = d0 / targets;
        for (let j = 0; j < H; j++) {
          dz[t * H + j] += d * E[i * H + j];
          G[L.tokenEmb + i * H + j] += d * z[j];
        }
        if (bias) G[L.outBias + i] += d;
      }
    }
    // backward
    let dh: Vec = dz;
    if (c.outputHead && head) {
      const dAct = layerNormBackward(head.act, at(L.lnhG, H), dz, T, H, c.layerNormEps, gat(L.lnhG, H), gat(L.lnhB, H));
      const dPre = geluBackward(head.pre, dAct);
      dh = linearBackward(hLast, at(L.wh, H * H), dPre, T, H, H, gat(L.wh, H * H), gat(L.bh, H));
    }
    for (let k = L.layers.length - 1; k >= 0; k--) {
      const y = L.layers[k];
      const cch = caches[k];
      const dr2 = layerNormBackward(cch.r2, at(y.ln2g, H), dh, T, H, c.layerNormEps, gat(y.ln2g, H), gat(y.ln2b, H));
      const dg = linearBackward(cch.g, at(y.w2, I * H), dr2, T, I, H, gat(y.w2, I * H), gat(y.b2, H));
      const df1 = geluBackward(cch.f1, dg);
      const da = linearBackward(cch.a, at(y.w1, H * I), df1, T, H, I, gat(y.w1, H * I), gat(y.b1, I)).map((v, i) => v + dr2[i]);
      const dr1 = layerNormBackward(cch.r1, at(y.ln1g, H), da, T, H, c.layerNormEps, gat(y.ln1g, H), gat(y.ln1b, H));
      const dCtx = linearBackward(cch.ctx, at(y.wo, H * H), dr1, T, H, H, gat(y.wo, H * H), gat(y.bo, H));
      const { dQ, dK, dV } = attentionBackward(cch.q, cch.k, cch.v, cch.probs, dCtx, T, H, c.heads, c.causal);
      const dx = Float64Array.from(dr1);
      for (const [dW, w, b] of [[dQ, y.wq, y.bq], [dK, y.wk, y.bk], [dV, y.wv, y.bv]] as const) {
        const part = linearBackward(cch.x, at(w, H * H), dW, T, H, H, gat(w, H * H), gat(b, H));
        for (let i = 0; i < dx.length; i++) dx[i] += part[i];
      }
      dh = dx;
    }
    const de = layerNormBackward(e, at(L.embLnG, H), dh, T, H, c.layerNormEps, gat(L.embLnG, H), gat(L.embLnB, H));
    for (let t = 0; t < T; t++)
      for (let j = 0; j < H; j++) {
        G[L.tokenEmb + s.tokens[t0 + t] * H + j] += de[t * H + j];
        G[L.posEmb + t * H + j] += de[t * H + j];
      }
  }
  return { loss: targets > 0 ? loss / targets : 0, grad: G };
}
