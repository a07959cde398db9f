/**
 * Review sentiment: a logistic-regression head over frozen sentence embeddings, trained natively
 * (kernels/logistic.ts) on star ratings (positive >= 4 stars, negative <= 2; 3-star reviews carry no
 * label), scoring each review between 0 (negative) and 1 (positive). The head is saved with the id of
 * the encoder it was trained on and refuses any other encoder when loaded.
 */
import fs from 'node:fs';

import { SemrecError } from '../errors';
import { logisticFit, logisticPredict } from '../kernels/logistic';
import { type LongRunningOptions, throwIfAborted } from '../progress';
import { writeFileAtomically } from '../util/fs';
import { Random } from '../util/random';
import { type EmbeddingCache, encodeWithCache } from './cache';
import type { Encoder } from './encoder';

/** Ratings at or above this are positive (LLM-Rec's review sentiment labels; 5-star scale). */
export const POSITIVE_MIN_RATING = 4;
/** Ratings at or below this are negative; ratings strictly between the two are left unlabelled. */
export const NEGATIVE_MAX_RATING = 2;
/**
 * Ridge strengths tried when `l2` is 'auto': the one with the best AUC on a held-back fifth of the
 * training reviews wins. Unit-norm 512-d embeddings need little regularisation; the grid spans it.
 */
export const L2_GRID = [1e-4, 1e-3, 1e-2] as const;
/** Share of the training reviews held back to choose l2 when it is 'auto'. */
const VALIDATION_SHARE = 0.2;
const FILE_FORMAT = 'semrec-sentiment-head';
const FILE_VERSION = 1;

/** 1 (positive), 0 (negative) or undefined (neutral or missing) for a star rating. */
export function sentimentLabel(rating: number): 0 | 1 | undefined {
  if (!Number.isFinite(rating)) return undefined;
  if (rating >= POSITIVE_MIN_RATING) return 1;
  if (rating <= NEGATIVE_MAX_RATING) return 0;
  return undefined;
}

/**
 * Area under the ROC curve: the probability that a random positive scores above a random negative,
 * ties counting one half (Mann-Whitney U with midranks).
 */
export function rocAuc(scores: ArrayLike<number>, labels: ArrayLike<number>): number {
  if (scores.length !== labels.length) throw new SemrecError(`rocAuc: ${scores.length} scores but ${labels.length} labels`, 'ERR_INVALID_ARG_VALUE');
  const order = Array.from({ length: scores.length }, (_, i) => i).sort((a, b) => scores[a] - scores[b]);
  let positives = 0;
  let rankSum = 0;
  for (let i = 0; i < order.length; ) {
    let j = i;
    while (j + 1 < order.length && scores[order[j + 1]] === scores[order[i]]) j++;
    const midrank = (i + j) / 2 + 1;
    for (let k = i; k <= j; k++) {
      if (labels[order[k]] === 1) {
        positives++;
        rankSum += midrank;
      }
    }
    i = j + 1;
  }
  const negatives = scores.length - positives;
  if (positives === 0 || negatives === 0) throw new SemrecError('rocAuc needs at least one positive and one negative', 'ERR_INVALID_ARG_VALUE');
  return (rankSum - (positives * (positives + 1)) / 2) / (positives * negatives);
}

export interface SentimentHeadData {
  /** `Encoder.id` of the encoder whose vectors the head reads. */
  encoderId: string;
  dim: number;
  weights: Float32Array;
  bias: number;
  l2: number;
  positives: number;
  negatives: number;
}

export class SentimentHead {
  constructor(readonly data: SentimentHeadData) {
    if (data.weights.length !== data.dim) throw new SemrecError(`sentiment head: ${data.weights.length} weights for dim ${data.dim}`, 'ERR_MODEL_FORMAT');
  }

  get encoderId(): string {
    return this.data.encoderId;
  }

  /** Positive-sentiment probability in [0, 1] for each row of a rows x dim embedding matrix. */
  score(embeddings: Float32Array): Float32Array {
    if (embeddings.length % this.data.dim !== 0) {
      throw new SemrecError(`sentiment score: embeddings.length (${embeddings.length}) is not a multiple of dim (${this.data.dim})`, 'ERR_INVALID_ARG_VALUE');
    }
    return logisticPredict(embeddings, this.data.dim, this.data.weights, this.data.bias);
  }

  /** Encodes `texts` with `encoder` (which must be the one the head was trained on) and scores them. */
  async scoreTexts(encoder: Encoder, texts: string[], options: LongRunningOptions & { cache?: EmbeddingCache } = {}): Promise<Float32Array> {
    this.checkEncoder(encoder);
    const vectors = options.cache ? (await encodeWithCache(encoder, texts, options.cache, options)).vectors : await encoder.encode(texts, options);
    return this.score(vectors);
  }

  checkEncoder(encoder: Encoder): void {
    if (encoder.id !== this.data.encoderId) {
      throw new SemrecError(`this sentiment head was trained on ${this.data.encoderId}; the encoder is ${encoder.id}`, 'ERR_MODEL_MISMATCH');
    }
  }

  /** Writes the head as JSON (atomically). */
  async save(file: string): Promise<void> {
    const d = this.data;
    const json = {
      format: FILE_FORMAT,
      version: FILE_VERSION,
      encoderId: d.encoderId,
      dim: d.dim,
      bias: d.bias,
      l2: d.l2,
      positives: d.positives,
      negatives: d.negatives,
      labels: { positiveMinRating: POSITIVE_MIN_RATING, negativeMaxRating: NEGATIVE_MAX_RATING },
      weights: Buffer.from(d.weights.buffer, d.weights.byteOffset, d.weights.byteLength).toString('base64'),
    };
    await writeFileAtomically(file, `${JSON.stringify(json, null, 1)}\n`);
  }

  /** Reads a saved head; with `encoder`, checks it is the encoder the head was trained on. */
  static async load(file: string, encoder?: Encoder): Promise<SentimentHead> {
    let json: Record<string, unknown>;
    try {
      json = JSON.parse(await fs.promises.readFile(file, 'utf8')) as Record<string, unknown>;
    } catch (cause) {
      throw new SemrecError(`cannot read the sentiment head ${file}: ${(cause as Error).message}`, 'ERR_MODEL_FORMAT', { cause });
    }
    if (json.format !== FILE_FORMAT || json.version !== FILE_VERSION) {
      throw new SemrecError(`${file} is not a semrec sentiment head (format ${String(json.format)} v${String(json.version)})`, 'ERR_MODEL_FORMAT');
    }
    const raw = Buffer.from(String(json.weights), 'base64');
    const weights = new Float32Array(raw.byteLength / 4);
    new Uint8Array(weights.buffer).set(raw);
    for (const k of ['dim', 'bias', 'l2', 'positives', 'negatives'] as const) {
      if (typeof json[k] !== 'number') throw new SemrecError(`${file}: field ${k} must be a number`, 'ERR_MODEL_FORMAT');
    }
    const head = new SentimentHead({
      encoderId: String(json.encoderId),
      dim: json.dim as number,
      weights,
      bias: json.bias as number,
      l2: json.l2 as number,
      positives: json.positives as number,
      negatives: json.negatives as number,
    });
    if (encoder) head.checkEncoder(encoder);
    return head;
  }
}

export interface TrainSentimentOptions extends LongRunningOptions {
  encoder: Encoder;
  /** Review texts and their star ratings (same length); neutral ratings and empty texts are skipped. */
  texts: string[];
  ratings: ArrayLike<number>;
  /** Ridge strength, or 'auto' (default) to pick from L2_GRID on held-back training reviews. */
  l2?: number | 'auto';
  /** Weight classes inversely to their frequency (default true: reviews are mostly positive). */
  balanceClasses?: boolean;
  /** Reuses and fills an embedding cache of `encoder`. */
  cache?: EmbeddingCache;
  /** Seed of the l2-selection hold-out (default 1). */
  seed?: number;
}

function classWeights(labels: Float32Array, balance: boolean): Float32Array | undefined {
  if (!balance) return undefined;
  let pos = 0;
  for (const l of labels) pos += l;
  const neg = labels.length - pos;
  const w = new Float32Array(labels.length);
  for (let i = 0; i < labels.length; i++) w[i] = labels[i] === 1 ? labels.length / (2 * pos) : labels.length / (2 * neg);
  return w;
}

function rowsOf(m: Float32Array, rows: number[], dim: number): Float32Array {
  const out = new Float32Array(rows.length * dim);
  rows.forEach((r, i) => out.set(m.subarray(r * dim, (r + 1) * dim), i * dim));
  return out;
}

/** Embeds the labelled reviews and fits the head natively. */
export async function trainSentimentHead(options: TrainSentimentOptions): Promise<SentimentHead> {
  const { encoder, texts, ratings } = options;
  if (texts.length !== ratings.length) throw new SemrecError(`trainSentimentHead: ${texts.length} texts but ${ratings.length} ratings`, 'ERR_INVALID_ARG_VALUE');
  const labelled: number[] = [];
  const labelList: number[] = [];
  for (let i = 0; i < texts.length; i++) {
    const label = sentimentLabel(ratings[i]);
    if (label === undefined || texts[i].trim() === '') continue; // neutral, unrated or without text
    labelled.push(i);
    labelList.push(label);
  }
  const labels = Float32Array.from(labelList);
  const positives = labelList.filter((l) => l === 1).length;
  const negatives = labels.length - positives;
  if (positives === 0 || negatives === 0) {
    throw new SemrecError(
      `trainSentimentHead: needs reviews of both kinds (>= ${POSITIVE_MIN_RATING} and <= ${NEGATIVE_MAX_RATING} stars); got ${positives} positive, ${negatives} negative`,
      'ERR_INVALID_ARG_VALUE',
    );
  }
  const chosen = labelled.map((i) => texts[i]);
  const embeddings = options.cache ? (await encodeWithCache(encoder, chosen, options.cache, options)).vectors : await encoder.encode(chosen, options);
  throwIfAborted(options.signal, 'training the sentiment head');
  const dim = encoder.dim;
  const balance = options.balanceClasses ?? true;
  let l2: number;
  if (options.l2 === undefined || options.l2 === 'auto') {
    const order = new Random(options.seed ?? 1).shuffle(Array.from(labels.keys())) as number[];
    const cut = Math.floor(order.length * (1 - VALIDATION_SHARE));
    const [fitRows, valRows] = [order.slice(0, cut), order.slice(cut)];
    const valLabels = valRows.map((r) => labels[r]);
    const usable = valLabels.includes(1) && valLabels.includes(0);
    let best = { l2: L2_GRID[1] as number, auc: -1 };
    for (const candidate of usable ? L2_GRID : []) {
      throwIfAborted(options.signal, 'training the sentiment head');
      const fitLabels = Float32Array.from(fitRows, (r) => labels[r]);
      const fit = await logisticFit({ features: rowsOf(embeddings, fitRows, dim), dim, labels: fitLabels, sampleWeight: classWeights(fitLabels, balance), l2: candidate });
      const auc = rocAuc(logisticPredict(rowsOf(embeddings, valRows, dim), dim, fit.weights, fit.bias), valLabels);
      options.onProgress?.({ phase: 'choosing l2 for the sentiment head', done: L2_GRID.indexOf(candidate) + 1, total: L2_GRID.length, unit: 'fits' });
      if (auc > best.auc) best = { l2: candidate, auc };
    }
    l2 = best.l2;
  } else {
    l2 = options.l2;
  }
  const fit = await logisticFit({ features: embeddings, dim, labels, sampleWeight: classWeights(labels, balance), l2 });
  return new SentimentHead({ encoderId: encoder.id, dim, weights: fit.weights, bias: fit.bias, l2, positives, negatives });
}
