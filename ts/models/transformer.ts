/**
 * The transformer encoder of the sequential recommenders (sasrec, bert4rec): its configuration, the flat
 * parameter layout the native code uses (native/include/semrec/transformer.h mirrors it), RecBole's
 * initialisation, the training segments an epoch is made of, and typed wrappers of the native ops.
 *
 * A segment is 1..maxLength tokens, never padded; token t of a segment sits at position t. targets[t] is the
 * item token t predicts (-1: no loss there).
 */
import type { Device } from '../kernels/types';
import { addon } from '../native/addon';
import { Random } from '../util/random';

export interface TransformerConfig {
  numItems: number;
  /** Rows of the token embedding: numItems, plus one mask token for BERT4Rec. */
  numTokens: number;
  maxLength: number;
  hidden: number;
  heads: number;
  inner: number;
  layers: number;
  /** SASRec: position t attends to 0..t; BERT4Rec: to every position. */
  causal: boolean;
  /** BERT4Rec: dense + GELU + LayerNorm before the tied output layer, and an output bias per item. */
  outputHead: boolean;
  hiddenDropout: number;
  attnDropout: number;
  layerNormEps: number;
}

export interface LayerOffsets {
  wq: number; bq: number; wk: number; bk: number; wv: number; bv: number; wo: number; bo: number;
  ln1g: number; ln1b: number; w1: number; b1: number; w2: number; b2: number; ln2g: number; ln2b: number;
}

export interface TransformerLayout {
  tokenEmb: number;
  posEmb: number;
  embLnG: number;
  embLnB: number;
  layers: LayerOffsets[];
  /** BERT4Rec's output head (absent: -1). */
  wh: number;
  bh: number;
  lnhG: number;
  lnhB: number;
  outBias: number;
  total: number;
}

/** Offsets of every parameter; weight matrices are in x out, row-major (y = x W + b). */
export function transformerLayout(c: TransformerConfig): TransformerLayout {
  let at = 0;
  const take = (n: number) => {
    const start = at;
    at += n;
    return start;
  };
  const H = c.hidden;
  const I = c.inner;
  const tokenEmb = take(c.numTokens * H);
  const posEmb = take(c.maxLength * H);
  const embLnG = take(H);
  const embLnB = take(H);
  const layers: LayerOffsets[] = [];
  for (let k = 0; k < c.layers; k++) {
    layers.push({
      wq: take(H * H), bq: take(H), wk: take(H * H), bk: take(H), wv: take(H * H), bv: take(H),
      wo: take(H * H), bo: take(H), ln1g: take(H), ln1b: take(H),
      w1: take(H * I), b1: take(I), w2: take(I * H), b2: take(H), ln2g: take(H), ln2b: take(H),
    });
  }
  let wh = -1;
  let bh = -1;
  let lnhG = -1;
  let lnhB = -1;
  let outBias = -1;
  if (c.outputHead) {
    wh = take(H * H);
    bh = take(H);
    lnhG = take(H);
    lnhB = take(H);
    outBias = take(c.numItems);
  }
  return { tokenEmb, posEmb, embLnG, embLnB, layers, wh, bh, lnhG, lnhB, outBias, total: at };
}

/**
 * RecBole's `_init_weights`: every Linear and Embedding weight from N(0, initStd^2) (initializer_range 0.02),
 * biases 0, LayerNorm gains 1 and shifts 0, the output bias 0.
 */
export function initialTransformerParams(c: TransformerConfig, initStd: number, rng: Random): Float32Array {
  const L = transformerLayout(c);
  const p = new Float32Array(L.total);
  const normal = (at: number, n: number) => {
    for (let i = 0; i < n; i++) p[at + i] = rng.normal() * initStd;
  };
  const ones = (at: number, n: number) => p.fill(1, at, at + n);
  const H = c.hidden;
  normal(L.tokenEmb, c.numTokens * H);
  normal(L.posEmb, c.maxLength * H);
  ones(L.embLnG, H);
  for (const y of L.layers) {
    for (const w of [y.wq, y.wk, y.wv, y.wo]) normal(w, H * H);
    normal(y.w1, H * c.inner);
    normal(y.w2, c.inner * H);
    ones(y.ln1g, H);
    ones(y.ln2g, H);
  }
  if (c.outputHead) {
    normal(L.wh, H * H);
    ones(L.lnhG, H);
  }
  return p;
}

/** Training segments: tokens, their segment boundaries, and per token the item it predicts (-1: none). */
export interface Segments {
  tokens: Int32Array;
  offsets: Int32Array;
  targets: Int32Array;
  /** One sampled negative per token (the bce loss); absent for the full cross-entropy. */
  negatives?: Int32Array;
  /** The user each segment comes from. */
  users: Int32Array;
}

class SegmentBuilder {
  private tokens: number[] = [];
  private targets: number[] = [];
  private offsets: number[] = [0];
  private users: number[] = [];
  push(user: number, tokens: ArrayLike<number>, targets: ArrayLike<number>): void {
    this.users.push(user);
    for (let t = 0; t < tokens.length; t++) {
      this.tokens.push(tokens[t]);
      this.targets.push(targets[t]);
    }
    this.offsets.push(this.tokens.length);
  }
  build(): Segments {
    return {
      tokens: Int32Array.from(this.tokens),
      offsets: Int32Array.from(this.offsets),
      targets: Int32Array.from(this.targets),
      users: Int32Array.from(this.users),
    };
  }
}

/** Segments in the order of `order` (a permutation of segment indices). */
export function reorderSegments(s: Segments, order: ArrayLike<number>): Segments {
  const tokens = new Int32Array(s.tokens.length);
  const targets = new Int32Array(s.tokens.length);
  const negatives = s.negatives ? new Int32Array(s.tokens.length) : undefined;
  const offsets = new Int32Array(order.length + 1);
  const users = new Int32Array(order.length);
  let at = 0;
  for (let k = 0; k < order.length; k++) {
    users[k] = s.users[order[k]];
    const b = s.offsets[order[k]];
    const e = s.offsets[order[k] + 1];
    tokens.set(s.tokens.subarray(b, e), at);
    targets.set(s.targets.subarray(b, e), at);
    negatives?.set(s.negatives!.subarray(b, e), at);
    at += e - b;
    offsets[k + 1] = at;
  }
  return { tokens, offsets, targets, negatives, users };
}

/**
 * SASRec's next-item segments: each user's sequence s[0..n) gives the transitions s[j] -> s[j + 1], cut from
 * the end into windows of maxLength (the earliest window is the short one, starting at position 0). Every
 * position predicts its next item, so one causal pass computes what RecBole computes from each prefix
 * separately; the two are the same model and loss for users with at most maxLength + 1 items, while for
 * longer histories the first targets of a window see fewer than maxLength items before them.
 */
export function nextItemWindows(sequences: { indptr: Int32Array; indices: Int32Array }, maxLength: number): Segments {
  const b = new SegmentBuilder();
  const { indptr, indices } = sequences;
  for (let u = 0; u + 1 < indptr.length; u++) {
    const s = indices.subarray(indptr[u], indptr[u + 1]);
    const inputs = s.length - 1; // positions 0..n-2 predict 1..n-1
    const ends: number[] = [];
    for (let end = inputs; end > 0; end -= maxLength) ends.push(end);
    for (let w = ends.length - 1; w >= 0; w--) {
      const end = ends[w];
      const start = Math.max(0, end - maxLength);
      b.push(u, s.subarray(start, end), s.subarray(start + 1, end + 1));
    }
  }
  return b.build();
}

/** Each user's whole sequence cut from the end into windows of maxLength (the earliest window the short one). */
export function sequenceWindows(sequences: { indptr: Int32Array; indices: Int32Array }, maxLength: number): { user: number; items: Int32Array }[] {
  const out: { user: number; items: Int32Array }[] = [];
  const { indptr, indices } = sequences;
  for (let u = 0; u + 1 < indptr.length; u++) {
    const s = indices.subarray(indptr[u], indptr[u + 1]);
    const ends: number[] = [];
    for (let end = s.length; end > 0; end -= maxLength) ends.push(end);
    for (let w = ends.length - 1; w >= 0; w--) out.push({ user: u, items: s.subarray(Math.max(0, ends[w] - maxLength), ends[w]) });
  }
  return out;
}

/**
 * BERT4Rec's masked-item segments as RecBole trains them: for each training target i >= 1 of a user, the
 * prefix s[max(0, i - maxLength) .. i) (RecBole's sequential augmentation), each position replaced by the mask
 * token with probability maskRatio; the loss is taken at the last floor(maskRatio x maxLength) masked
 * positions (RecBole's mask_item_length; earlier masked positions stay masked in the input only).
 */
export function maskedPrefixes(
  sequences: { indptr: Int32Array; indices: Int32Array },
  maxLength: number,
  maskRatio: number,
  maskToken: number,
  rng: Random,
): Segments {
  const b = new SegmentBuilder();
  const { indptr, indices } = sequences;
  for (let u = 0; u + 1 < indptr.length; u++) {
    const s = indices.subarray(indptr[u], indptr[u + 1]);
    for (let i = 1; i < s.length; i++) pushMasked(b, u, s.subarray(Math.max(0, i - maxLength), i), maxLength, maskRatio, maskToken, rng);
  }
  return b.build();
}

/**
 * BERT4Rec's masked-item segments as the BERT4Rec paper trains them: each user's whole sequence in windows of
 * maxLength (sequenceWindows), masked afresh each time at maskRatio, `copies` masked copies per window (the
 * paper's dupe factor). About maxLength / 2 times fewer tokens per epoch than RecBole's prefixes.
 */
export function maskedWindows(
  sequences: { indptr: Int32Array; indices: Int32Array },
  maxLength: number,
  maskRatio: number,
  maskToken: number,
  copies: number,
  rng: Random,
): Segments {
  const b = new SegmentBuilder();
  for (const { user, items } of sequenceWindows(sequences, maxLength))
    for (let c = 0; c < copies; c++) pushMasked(b, user, items, maxLength, maskRatio, maskToken, rng);
  return b.build();
}

/** One masked segment: positions masked at maskRatio; the loss at the last floor(maskRatio x maxLength) of them. */
function pushMasked(b: SegmentBuilder, user: number, items: ArrayLike<number>, maxLength: number, maskRatio: number, maskToken: number, rng: Random): void {
  const maxMasked = Math.max(1, Math.floor(maskRatio * maxLength));
  const tokens: number[] = [];
  const targets: number[] = [];
  const masked: number[] = [];
  for (let t = 0; t < items.length; t++) {
    if (rng.float() < maskRatio) {
      masked.push(t);
      tokens.push(maskToken);
    } else {
      tokens.push(items[t]);
    }
    targets.push(-1);
  }
  for (const at of masked.slice(-maxMasked)) targets[at] = items[at];
  b.push(user, tokens, targets);
}

interface OpCommon {
  config: TransformerConfig;
  params: Float32Array;
  numThreads?: number;
  device?: Device;
}

export interface TransformerEpochArgs extends OpCommon {
  adamM: Float32Array;
  adamV: Float32Array;
  step: number;
  segments: Segments;
  lr: number;
  /** Targets per Adam step (segments with batchBySegments). */
  batchTargets: number;
  /** Count the batch in segments instead of targets. */
  batchBySegments?: boolean;
  /** Clip the batch gradient's global L2 norm to this (0: off). */
  clipNorm: number;
  weightDecay: number;
  /** Seeds the dropout masks. */
  seed: number;
}

function flat(a: OpCommon & { segments?: Segments }): Record<string, unknown> {
  const { config, segments, ...rest } = a;
  return { ...config, ...rest, ...(segments ?? {}) };
}

/** Typed wrappers of native/napi/sequential_ops.cc; every argument is checked again natively. */
export const transformerOps = {
  epoch: (a: TransformerEpochArgs) => addon().transformerEpoch(flat(a)),
  gradient: (a: OpCommon & { segments: Segments; seed: number }) => addon().transformerGradient(flat(a)),
  gradientSync: (a: OpCommon & { segments: Segments; seed: number }) => addon().transformerGradientSync(flat(a)),
  encode: (a: OpCommon & { tokens: Int32Array; offsets: Int32Array }) => addon().transformerEncode(flat(a)),
  encodeSync: (a: OpCommon & { tokens: Int32Array; offsets: Int32Array }) => addon().transformerEncodeSync(flat(a)),
};
