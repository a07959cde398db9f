/**
 * What the sequential recommenders (sasrec, bert4rec) share: each user's ordered history, the transformer's
 * parameters and Adam state, epochs run natively (transformerEpoch), and scoring from the ordered history —
 * the training sequence by default, or any history the caller gives (ScoreOptions.history,
 * recommendForHistory) — as z(history) . itemEmbedding (+ output bias) through the core's scoreMatrix/scoreTopK.
 */
import { SemrecError } from '../errors';
import { scoreMatrix, scoreTopK } from '../kernels/score';
import type { Csr } from '../kernels/types';
import { checkInteger } from '../kernels/validate';
import { csrFromLists } from '../util/csr';
import { Random } from '../util/random';
import { BaseRecommender, type FitContext, type ModelState } from './base';
import type { HistoryEvent, Recommendations, ScoreOptions, TrainingData } from './contract';
import { learningRate, nonNegative, positiveInt, z } from './params';
import {
  initialTransformerParams,
  transformerLayout,
  transformerOps,
  type Segments,
  type TransformerConfig,
} from './transformer';

/**
 * Each user's items in time order (ties and unknown times in the order of the data), from one or more parts
 * of a split given in order (e.g. training then validation): a user's row is every part's interactions of
 * that user, sorted by timestamp, earlier parts first among equal times.
 */
export function userSequences(parts: TrainingData[]): Csr {
  const numUsers = parts[0].numUsers;
  const rows: { item: number; time: number; part: number; index: number }[][] = Array.from({ length: numUsers }, () => []);
  parts.forEach((data, part) => {
    for (let e = 0; e < data.numInteractions; e++) {
      rows[data.userIdx[e]].push({ item: data.itemIdx[e], time: data.timestamp[e], part, index: e });
    }
  });
  const key = (t: number) => (Number.isNaN(t) ? Infinity : t);
  return csrFromLists(
    rows.map((r) =>
      r.sort((a, b) => key(a.time) - key(b.time) || a.part - b.part || a.index - b.index).map((x) => x.item),
    ),
  );
}

/** Hyperparameters both models share; each model's schema sets its RecBole defaults. */
export function transformerParamsSchema(defaults: { hiddenDropout: number; attnDropout: number }) {
  return {
    hidden: positiveInt(4096).default(64).describe('hidden size = item embedding size (RecBole hidden_size)'),
    heads: positiveInt(64).default(2).describe('attention heads (must divide hidden)'),
    inner: positiveInt(16384).default(256).describe('feed-forward inner size (RecBole inner_size)'),
    layers: positiveInt(64).default(2).describe('transformer layers (the BERT4Rec paper: 2; its Table 7 run: 12)'),
    maxLength: positiveInt(4096).default(50).describe('longest history the model reads (RecBole MAX_ITEM_LIST_LENGTH)'),
    hiddenDropout: z.number().min(0).max(0.95).default(defaults.hiddenDropout).describe('dropout of embeddings and sublayer outputs'),
    attnDropout: z.number().min(0).max(0.95).default(defaults.attnDropout).describe('dropout of attention probabilities'),
    layerNormEps: z.number().gt(0).max(1).default(1e-12).describe('LayerNorm epsilon (RecBole layer_norm_eps)'),
    initStd: nonNegative().default(0.02).describe('std of the normal initialisation (RecBole initializer_range)'),
    epochs: positiveInt(100_000).default(300).describe('epochs (the most, with early stopping; RecBole epochs)'),
    lr: learningRate().default(0.001).describe('Adam learning rate (RecBole learning_rate)'),
    batchSize: positiveInt(1 << 24)
      .default(2048)
      .describe('training sequences per Adam step (RecBole train_batch_size); for sasrec, next-item targets'),
    clipNorm: nonNegative().default(0).describe('clip the gradient global L2 norm to this (0: off, as RecBole)'),
    weightDecay: nonNegative().default(0).describe('L2 penalty added to the gradient (RecBole weight_decay)'),
  };
}

export interface TransformerParams {
  hidden: number;
  heads: number;
  inner: number;
  layers: number;
  maxLength: number;
  hiddenDropout: number;
  attnDropout: number;
  layerNormEps: number;
  initStd: number;
  epochs: number;
  lr: number;
  batchSize: number;
  clipNorm: number;
  weightDecay: number;
}

export abstract class SequentialRecommender<P extends TransformerParams> extends BaseRecommender<P> {
  override readonly kind = 'sequential' as const;
  protected weights: Float32Array = new Float32Array(0);
  private adamM: Float32Array = new Float32Array(0);
  private adamV: Float32Array = new Float32Array(0);
  private step = 0;
  /** Each user's training items in time order. */
  protected sequences: Csr | undefined;
  private numThreads: number | undefined;

  constructor(params: Readonly<P>) {
    super(params);
    if (params.hidden % params.heads !== 0) {
      throw new SemrecError(`${new.target.name}: hidden (${params.hidden}) must be a multiple of heads (${params.heads})`, 'ERR_INVALID_PARAMS');
    }
  }

  // ---- what each model defines ----
  protected abstract readonly causal: boolean;
  protected abstract readonly outputHead: boolean;
  /** Whether batchSize counts training sequences (BERT4Rec: several masked targets each) rather than targets. */
  protected readonly batchBySequences: boolean = false;
  /** Extra tokens after the items (BERT4Rec's mask). */
  protected abstract readonly extraTokens: number;
  /** The segments of one epoch, in training order. */
  protected abstract epochSegments(sequences: Csr, ctx: FitContext, rng: Random): Segments;
  /** The tokens an inference pass reads for a history: its last items, then the model's suffix. */
  protected abstract readonly historyKeep: number;
  protected abstract readonly historySuffix: number[];

  config(): TransformerConfig {
    const p = this.params;
    return {
      numItems: this.numItems,
      numTokens: this.numItems + this.extraTokens,
      maxLength: p.maxLength,
      hidden: p.hidden,
      heads: p.heads,
      inner: p.inner,
      layers: p.layers,
      causal: this.causal,
      outputHead: this.outputHead,
      hiddenDropout: p.hiddenDropout,
      attnDropout: p.attnDropout,
      layerNormEps: p.layerNormEps,
    };
  }

  protected async initialize(ctx: FitContext): Promise<void> {
    this.sequences = userSequences([ctx.train]);
    this.weights = initialTransformerParams(this.config(), this.params.initStd, ctx.rng);
    this.adamM = new Float32Array(this.weights.length);
    this.adamV = new Float32Array(this.weights.length);
    this.step = 0;
    this.numThreads = ctx.options.numThreads;
  }

  protected override epochs(): number {
    return this.params.epochs;
  }

  protected override async trainEpoch(ctx: FitContext, _epoch: number, seed: number): Promise<number> {
    const segments = this.epochSegments(this.sequences!, ctx, new Random(seed));
    const p = this.params;
    const result = await transformerOps.epoch({
      config: this.config(),
      params: this.weights,
      adamM: this.adamM,
      adamV: this.adamV,
      step: this.step,
      segments,
      lr: p.lr,
      batchTargets: p.batchSize,
      batchBySegments: this.batchBySequences,
      clipNorm: p.clipNorm,
      weightDecay: p.weightDecay,
      seed,
      numThreads: ctx.options.numThreads,
    });
    this.step = result.step;
    return result.loss;
  }

  /** The final representation z of each history (rows x hidden; zero rows for empty histories). */
  async encodeHistories(histories: ArrayLike<number>[]): Promise<Float32Array> {
    const H = this.params.hidden;
    const out = new Float32Array(histories.length * H);
    const present = histories.map((h, r) => (h.length > 0 || this.historySuffix.length > 0 ? r : -1)).filter((r) => r >= 0);
    if (present.length === 0) return out;
    const tokens: number[] = [];
    const offsets = [0];
    for (const r of present) {
      const h = histories[r];
      for (let t = Math.max(0, h.length - this.historyKeep); t < h.length; t++) tokens.push(h[t]);
      tokens.push(...this.historySuffix);
      offsets.push(tokens.length);
    }
    const { encoded } = await transformerOps.encode({
      config: this.config(),
      params: this.weights,
      tokens: Int32Array.from(tokens),
      offsets: Int32Array.from(offsets),
      numThreads: this.numThreads,
    });
    present.forEach((r, k) => out.set(encoded.subarray(k * H, (k + 1) * H), r * H));
    return out;
  }

  /** The scored items' embeddings and output bias (the tied output layer). */
  private outputLayer(): { items: Float32Array; itemBias?: Float32Array } {
    const L = transformerLayout(this.config());
    const items = this.weights.subarray(L.tokenEmb, L.tokenEmb + this.numItems * this.params.hidden);
    const itemBias = this.outputHead ? this.weights.subarray(L.outBias, L.outBias + this.numItems) : undefined;
    return { items, itemBias };
  }

  private historiesOf(users: Int32Array, options: ScoreOptions): ArrayLike<number>[] {
    const source = options.history ?? this.sequences!;
    if (options.history && options.history.indptr.length !== users.length + 1) {
      throw new SemrecError(`${this.name}: options.history must have one row per scored user (${users.length})`, 'ERR_INVALID_ARG_VALUE');
    }
    return Array.from(users, (u, r) => {
      const row = options.history ? r : u;
      const h = source.indices.subarray(source.indptr[row], source.indptr[row + 1]);
      for (let t = 0; t < h.length; t++) {
        if (!Number.isInteger(h[t]) || h[t] < 0 || h[t] >= this.numItems) {
          throw new SemrecError(`${this.name}: history of user ${u} holds ${h[t]}, not an item index in [0, ${this.numItems})`, 'ERR_OUT_OF_RANGE');
        }
      }
      return h;
    });
  }

  protected async scoreBlock(users: Int32Array, options: ScoreOptions): Promise<Float32Array> {
    const zs = await this.encodeHistories(this.historiesOf(users, options));
    const { items, itemBias } = this.outputLayer();
    return (await scoreMatrix({ users: zs, items, dim: this.params.hidden, itemBias })).scores;
  }

  protected override async topItems(users: Int32Array, k: number, exclude: Csr | undefined, options: ScoreOptions) {
    const zs = await this.encodeHistories(this.historiesOf(users, options));
    const { items, itemBias } = this.outputLayer();
    return scoreTopK({ users: zs, items, dim: this.params.hidden, itemBias, k, exclude });
  }

  /**
   * A caller-given history as these models read it: only the item order matters. Events are ordered by
   * timestamp when every event has one (ties keep the given order), else taken in the given order;
   * ratings and the other signals are not used.
   */
  private orderedHistory(events: readonly HistoryEvent[]): number[] {
    const timed = events.length > 0 && events.every((e) => typeof e.timestamp === 'number' && Number.isFinite(e.timestamp));
    const ordered = events.map((e, i) => ({ e, i }));
    if (timed) ordered.sort((a, b) => a.e.timestamp! - b.e.timestamp! || a.i - b.i);
    return ordered.map((x) => x.e.itemIdx);
  }

  /** recommendForHistory (a new user, or a known one's latest events): the encoded history against every item. */
  protected override async scoreHistory(events: readonly HistoryEvent[]): Promise<Float32Array> {
    const z = await this.encodeHistories([this.orderedHistory(events)]);
    const { items, itemBias } = this.outputLayer();
    return (await scoreMatrix({ users: z, items, dim: this.params.hidden, itemBias })).scores;
  }

  protected override async topItemsForHistory(events: readonly HistoryEvent[], k: number, exclude: Csr) {
    const z = await this.encodeHistories([this.orderedHistory(events)]);
    const { items, itemBias } = this.outputLayer();
    return scoreTopK({ users: z, items, dim: this.params.hidden, itemBias, k, exclude });
  }

  /** Similar items and explanations: the cosine of the (tied input/output) item embeddings. */
  protected override similarityVectors(): { data: Float32Array; dim: number } {
    return { data: this.outputLayer().items, dim: this.params.hidden };
  }

  protected override async similarItemsOf(itemIdx: number, k: number): Promise<Recommendations> {
    return this.cosineSimilarItems(itemIdx, k);
  }

  protected override async historySimilarities(itemIdx: number, items: Int32Array) {
    return this.cosineSimilarities(itemIdx, items, 'cosine of the item embeddings');
  }

  protected state(): ModelState {
    return {
      meta: {},
      arrays: { weights: this.weights, sequenceIndptr: this.sequences!.indptr, sequenceItems: this.sequences!.indices },
    };
  }

  protected restore(state: ModelState): void {
    this.weights = BaseRecommender.array(state, 'weights', Float32Array, transformerLayout(this.config()).total);
    const indptr = BaseRecommender.array(state, 'sequenceIndptr', Int32Array, this.numUsers + 1);
    const items = state.arrays.sequenceItems;
    if (!(items instanceof Int32Array) || items.length !== indptr[this.numUsers]) {
      throw new SemrecError(`load: array 'sequenceItems' is missing or does not match sequenceIndptr`, 'ERR_MODEL_CORRUPT');
    }
    this.sequences = { indptr, indices: items };
  }
}
