/**
 * What every model shares: the training loop (epochs driven from TypeScript, so progress, cancellation
 * and early stopping live here while each epoch runs natively), scoring and recommending with seen
 * items excluded, new users served from their history, similar items, explanations, the raw-id API on
 * top of the index API (the model's catalog travels with it), and save/load through ./persist.
 */
import { SemrecError } from '../errors';
import { evaluateRanking } from '../eval/ranking';
import { scoreMatrix, scoreTopK } from '../kernels/score';
import { topK } from '../kernels/topk';
import type { Csr } from '../kernels/types';
import { checkInteger } from '../kernels/validate';
import { throwIfAborted } from '../progress';
import { concatRows, selectRows } from '../util/csr';
import { Random } from '../util/random';
import { VectorIndex, type VectorIndexOptions } from '../retrieval/index';
import { semrecVersion, type SemrecVersion } from '../version';
import { fingerprintDifferences, fingerprintOf, ModelCatalog, type CatalogItem, type DataFingerprint, type ScoredItem } from './catalog';
import type {
  EpochRecord,
  Explanation,
  FitOptions,
  FitReport,
  HistoryEvent,
  HistoryRecommendOptions,
  ModelKind,
  Recommendations,
  RecommendOptions,
  Recommender,
  ScoreOptions,
} from './contract';
import { checkTrainingData, userItems, type TrainingData } from './data';
import { writeModel, type MetaValue, type SavedArray, type SavedModel } from './persist';

/** Seed used when FitOptions.seed is not given. */
export const DEFAULT_SEED = 42;
/** RecBole's defaults for early stopping: valid_metric NDCG@10, stopping_step 10. */
export const DEFAULT_STOPPING_METRIC = 'ndcg@10';
export const DEFAULT_PATIENCE = 10;
/** Seed of the fold-in samplers: the same history always gets the same recommendations. */
export const FOLD_IN_SEED = 42;
/** History items an explanation lists at most. */
export const EXPLAIN_TOP = 5;
/** k of the raw-id API when not given. */
export const DEFAULT_K = 10;
/**
 * Catalogs from this many items up serve similar items through a faiss index (ts/retrieval), exact
 * ('flat') unless buildItemIndex chose IVF or HNSW; smaller ones use the core's scoreTopK directly.
 */
export const RETRIEVAL_MIN_ITEMS = 100_000;

/** Metrics early stopping can follow: the per-user accuracy metrics of rankingMetrics. */
const STOPPING_METRICS = ['ndcg', 'recall', 'precision', 'map', 'hit', 'mrr'];

/** True when some user has a truth item that is not among their seen items (so ranking metrics are defined). */
function hasUnseenTruth(truth: Csr, seen: Csr): boolean {
  for (let u = 0; u + 1 < truth.indptr.length; u++) {
    const seenItems = new Set(seen.indices.subarray(seen.indptr[u], seen.indptr[u + 1]));
    for (let p = truth.indptr[u]; p < truth.indptr[u + 1]; p++) if (!seenItems.has(truth.indices[p])) return true;
  }
  return false;
}

/** The arrays and scalars that define a trained model (what save() writes and load() restores). */
export interface ModelState {
  meta: Record<string, MetaValue>;
  arrays: Record<string, SavedArray>;
}

/** What the training hooks of a model receive. */
export interface FitContext {
  train: TrainingData;
  /** Each user's training items (sorted, unique). */
  seen: Csr;
  seed: number;
  /** Seeded stream for initialisation. */
  rng: Random;
  options: FitOptions;
}

/** How a model was trained, recorded in its saved directory (model.json `provenance`). */
export interface TrainingSummary {
  seed: number;
  epochs: number;
  bestEpoch: number;
  stoppedEarly: boolean;
  seconds: number;
  /** Where content-aware models took item features from (vbpr; see ItemFeatureMatrix.source). */
  itemFeatures?: string;
}

/** What model.json records beside the weights: which semrec made the model, from which data. */
export interface ModelProvenance {
  semrec: SemrecVersion;
  fingerprint: DataFingerprint;
  training: TrainingSummary;
  savedAt: string;
}

/** A history event by raw item id: the raw-id form of HistoryEvent. */
export interface RawHistoryEvent extends Omit<HistoryEvent, 'itemIdx'> {
  itemId: string;
}

export interface RawRecommendOptions {
  /** How many items (default 10; at most the number of items). */
  k?: number;
  /** Leave out the user's own items (default true). */
  excludeSeen?: boolean;
  /** Further raw item ids to leave out. */
  exclude?: readonly string[];
}

export interface RawHistoryOptions extends RawRecommendOptions {
  /** A history item the model does not know: 'error' (default) throws ERR_UNKNOWN_ID, 'skip' leaves it out. */
  unknownItems?: 'error' | 'skip';
}

export interface RawSimilarOptions {
  k?: number;
}

/** An Explanation with raw ids and titles. */
export interface ExplanationByIds {
  item: ScoredItem;
  because: (CatalogItem & { similarity: number; share?: number })[];
  method: string;
}

/** Per-history-item similarities to an item, as a model computes them (see historySimilarities). */
export interface HistorySimilarities {
  similarity: Float64Array;
  /** Share of the score per history item, where the score is a sum over them. */
  share?: Float64Array;
  method: string;
}

const FIT_OPTIONS = ['seed', 'earlyStopping', 'itemFeatures', 'numThreads', 'onProgress', 'signal'] as const;
const HISTORY_OPTIONS = ['excludeSeen', 'exclude'] as const;
const HISTORY_FIELDS = ['itemIdx', 'rating', 'timestamp', 'sentiment', 'viewing', 'completion'] as const;
const UNIT_FIELDS = ['sentiment', 'viewing', 'completion'] as const;

function copyState(state: ModelState): ModelState {
  const arrays: Record<string, SavedArray> = {};
  for (const [k, v] of Object.entries(state.arrays)) arrays[k] = v.slice();
  return { meta: { ...state.meta }, arrays };
}

export function checkUsers(users: ArrayLike<number>, numUsers: number, what: string): Int32Array {
  const out = new Int32Array(users.length);
  for (let r = 0; r < users.length; r++) {
    const u = users[r];
    if (!Number.isInteger(u) || u < 0 || u >= numUsers) {
      throw new SemrecError(`${what}: users[${r}] = ${u} is not a user index in [0, ${numUsers})`, 'ERR_OUT_OF_RANGE');
    }
    out[r] = u;
  }
  return out;
}

/**
 * Throws ERR_INVALID_ARG_VALUE naming the first key of `options` outside `allowed`: an option a model
 * cannot honour is refused, never silently ignored. `hints` explain particular refusals.
 */
export function checkOptionKeys(options: unknown, allowed: readonly string[], what: string, hints: Record<string, string> = {}): void {
  if (options === undefined) return;
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new SemrecError(`${what}: options must be an object`, 'ERR_INVALID_ARG_TYPE');
  }
  for (const [key, value] of Object.entries(options)) {
    if (value === undefined || allowed.includes(key)) continue;
    throw new SemrecError(
      `${what}: option '${key}' is not supported here${hints[key] ? ` (${hints[key]})` : ''}; supported: ${allowed.join(', ') || 'none'}`,
      'ERR_INVALID_ARG_VALUE',
    );
  }
}

/** A one-row CSR of item indices (sorted, unique), for the exclusions of a single request. */
function oneRow(items: Iterable<number>): Csr {
  const indices = Int32Array.from(new Set(items)).sort();
  return { indptr: Int32Array.of(0, indices.length), indices };
}

/** Sorted unique item indices of a history. */
export function historyItems(events: readonly HistoryEvent[]): Int32Array {
  return oneRow(events.map((e) => e.itemIdx)).indices;
}

export abstract class BaseRecommender<P extends object> implements Recommender<P> {
  abstract readonly name: string;
  readonly kind: ModelKind = 'general';
  /**
   * Whether ranking-based early stopping suits the model. Models trained for another objective (mf:
   * squared rating error) train their configured epochs, and the harness gives them no early stopping.
   */
  readonly rankingEarlyStopping: boolean = true;
  /** Whether fit() uses FitOptions.itemFeatures (content-aware models); others refuse them. */
  readonly acceptsItemFeatures: boolean = false;
  /** The HistoryEvent fields recommendForHistory uses (itemIdx always); the others are accepted and unused. */
  readonly historyFields: readonly (keyof HistoryEvent)[] = ['itemIdx'];
  numUsers = 0;
  numItems = 0;
  /** Training items per user (the "seen" set recommend() excludes). */
  protected seen: Csr | undefined;
  private isFitted = false;
  private busy = false;
  private catalogData: ModelCatalog | undefined;
  private dataFingerprint: DataFingerprint | undefined;
  private training: TrainingSummary | undefined;
  private loadedProvenance: ModelProvenance | undefined;

  constructor(readonly params: Readonly<P>) {}

  get fitted(): boolean {
    return this.isFitted;
  }

  // ---- hooks ----

  /** Allocates and initialises the parameters (iterative models) or computes the whole model (others). */
  protected abstract initialize(ctx: FitContext): Promise<void>;
  /** Maximum number of epochs (0 for models fitted in initialize()). */
  protected epochs(): number {
    return 0;
  }
  /** One epoch; returns its mean loss. */
  protected trainEpoch(_ctx: FitContext, _epoch: number, _seed: number): Promise<number> {
    return Promise.resolve(0);
  }
  /** Derives what scoring needs from the parameters (after training, restoring or loading). */
  protected prepareScoring(): Promise<void> {
    return Promise.resolve();
  }
  /** Stage losses and notes a model adds to its fit report (called after the last epoch). */
  protected fitExtras(): Pick<FitReport, 'stages' | 'notes'> {
    return {};
  }
  /** Scores of a block of valid users against every item. */
  protected abstract scoreBlock(users: Int32Array, options: ScoreOptions): Promise<Float32Array>;
  // The serving hooks below have no default behaviour: a model implements them, or overrides the public
  // method they serve (recommendForHistory, similarItems, explain) with its own; the serving contract
  // test (test/models/serving.test.ts) runs every registered model through all three.
  /** Scores of every item for a user the model never saw, from the (checked) history. */
  protected scoreHistory(_events: readonly HistoryEvent[]): Promise<Float32Array> {
    return Promise.reject(this.missingHook('scoreHistory', 'recommendForHistory'));
  }
  /** The k items most similar to itemIdx, never itemIdx itself (k and itemIdx are checked). */
  protected similarItemsOf(_itemIdx: number, _k: number): Promise<Recommendations> {
    return Promise.reject(this.missingHook('similarItemsOf', 'similarItems'));
  }
  /** The model's similarity of each of `items` to `itemIdx` (what explanations list). */
  protected historySimilarities(_itemIdx: number, _items: Int32Array): Promise<HistorySimilarities> {
    return Promise.reject(this.missingHook('historySimilarities', 'explain'));
  }

  protected missingHook(hook: string, method: string): SemrecError {
    return new SemrecError(`${this.name}: ${method} is not implemented (neither ${hook} nor ${method} is defined by the model)`, 'ERR_INTERNAL');
  }
  protected abstract state(): ModelState;
  protected abstract restore(state: ModelState): void;

  /** Checks a history beyond what every model checks (mf: ratings are required). */
  protected checkHistoryFields(_events: readonly HistoryEvent[], _what: string): void {}

  // ---- the contract ----

  /** Fit options a model takes beyond FitOptions (llmrec: its encoders and embedding cache). */
  protected readonly extraFitOptions: readonly string[] = [];

  async fit(train: TrainingData, options: FitOptions = {}): Promise<FitReport> {
    checkOptionKeys(options, [...FIT_OPTIONS, ...this.extraFitOptions], `${this.name}.fit`);
    if (options.itemFeatures !== undefined && !this.acceptsItemFeatures) {
      throw new SemrecError(
        `${this.name}.fit: option 'itemFeatures' is not used by ${this.name} (content vectors are for vbpr; lightfm builds its features from the dataset's metadata)`,
        'ERR_INVALID_ARG_VALUE',
      );
    }
    this.enter(`${this.name}.fit`);
    try {
      return await this.fitUnguarded(train, options);
    } finally {
      this.busy = false;
    }
  }

  private async fitUnguarded(train: TrainingData, options: FitOptions): Promise<FitReport> {
    const started = performance.now();
    checkTrainingData(train, `${this.name}.fit: train`);
    const seed = checkInteger(options.seed ?? DEFAULT_SEED, `${this.name}.fit: seed`, 0, 2 ** 31 - 1);
    this.isFitted = false;
    this.unitVectors = undefined;
    this.itemIndex = undefined;
    this.numUsers = train.numUsers;
    this.numItems = train.numItems;
    const seen = userItems(train);
    this.seen = seen;
    const ctx: FitContext = { train, seen, seed, rng: new Random(seed), options };
    throwIfAborted(options.signal, `${this.name}.fit`);
    await this.initialize(ctx);

    const maxEpochs = this.epochs();
    const stopping = options.earlyStopping;
    const metric = stopping?.metric ?? DEFAULT_STOPPING_METRIC;
    const patience = stopping?.patience ?? DEFAULT_PATIENCE;
    const every = stopping?.every ?? 1;
    let validation: { truth: Csr; k: number } | undefined;
    if (stopping && maxEpochs > 0) {
      checkTrainingData(stopping.data, `${this.name}.fit: earlyStopping.data`);
      if (stopping.data.numUsers !== train.numUsers || stopping.data.numItems !== train.numItems) {
        throw new SemrecError(
          `${this.name}.fit: earlyStopping.data must have the training data's users and items`,
          'ERR_INVALID_ARG_VALUE',
        );
      }
      const match = /^([a-z]+)@(\d+)$/.exec(metric);
      const k = Number(match?.[2]);
      if (!match || !STOPPING_METRICS.includes(match[1]) || !Number.isInteger(k) || k < 1) {
        throw new SemrecError(
          `${this.name}.fit: earlyStopping.metric must be one of ${STOPPING_METRICS.join(', ')} at a cut-off, like 'ndcg@10'; got '${metric}'`,
          'ERR_INVALID_ARG_VALUE',
        );
      }
      validation = { truth: userItems(stopping.data), k };
      if (!hasUnseenTruth(validation.truth, seen)) {
        throw new SemrecError(
          `${this.name}.fit: early stopping has nothing to measure: no user of earlyStopping.data has an item outside ` +
            `their training items (the dataset is too small, or its split left the validation part empty); ` +
            `train without early stopping (--no-early-stopping) or on more data`,
          'ERR_INVALID_ARG_VALUE',
        );
      }
    }

    const epochSeeds = new Random(seed ^ 0x5eed);
    const records: EpochRecord[] = [];
    let best = -Infinity;
    let bestEpoch = maxEpochs;
    let bestState: ModelState | undefined;
    let sinceBest = 0;
    let stoppedEarly = false;
    for (let epoch = 1; epoch <= maxEpochs; epoch++) {
      throwIfAborted(options.signal, `${this.name}.fit`);
      const epochStart = performance.now();
      const loss = await this.trainEpoch(ctx, epoch, epochSeeds.int(0, 2 ** 31 - 1));
      const record: EpochRecord = { epoch, loss, seconds: (performance.now() - epochStart) / 1000 };
      records.push(record);
      let stop = false;
      if (validation && (epoch % every === 0 || epoch === maxEpochs)) {
        await this.prepareScoring();
        const outcome = await evaluateRanking((users) => this.scoreBlock(users, {}), {
          numUsers: this.numUsers,
          numItems: this.numItems,
          truth: validation.truth,
          exclude: seen,
          ks: [validation.k],
        });
        const value = outcome.mean[metric];
        if (value === undefined) {
          throw new SemrecError(`${this.name}.fit: unknown early-stopping metric '${metric}'`, 'ERR_INVALID_ARG_VALUE');
        }
        record.validation = value;
        if (value > best) {
          best = value;
          bestEpoch = epoch;
          bestState = copyState(this.state());
          sinceBest = 0;
        } else if (++sinceBest >= patience) {
          stoppedEarly = epoch < maxEpochs;
          stop = true;
        }
      }
      options.onProgress?.({
        phase: `training ${this.name}`,
        done: epoch,
        total: maxEpochs,
        unit: 'epochs',
        metrics: { loss, ...(record.validation !== undefined ? { [`validation ${metric}`]: record.validation } : {}) },
      });
      if (stop) break;
    }
    if (bestState && bestEpoch !== records.length) this.restore(bestState);
    await this.prepareScoring();
    const seconds = (performance.now() - started) / 1000;
    const report: FitReport = {
      epochs: records,
      bestEpoch: maxEpochs === 0 ? 0 : validation ? bestEpoch : records.length,
      stoppedEarly,
      seconds,
      ...this.fitExtras(),
    };
    this.catalogData = ModelCatalog.fromTrainingData(train);
    this.dataFingerprint = fingerprintOf(train);
    this.training = {
      seed,
      epochs: records.length,
      bestEpoch: report.bestEpoch,
      stoppedEarly,
      seconds,
      ...(this.acceptsItemFeatures
        ? { itemFeatures: options.itemFeatures ? (options.itemFeatures.source ?? 'given by the caller (source not stated)') : 'dataset metadata (ts/models/features.ts)' }
        : {}),
    };
    this.loadedProvenance = undefined;
    this.isFitted = true;
    return report;
  }

  async scoreUsers(users: Int32Array, options: ScoreOptions = {}): Promise<Float32Array> {
    const what = `${this.name}.scoreUsers`;
    this.requireReady(what);
    this.checkScoreOptions(options, [], what);
    return this.scoreBlock(checkUsers(users, this.numUsers, what), options);
  }

  async recommend(users: ArrayLike<number>, k: number, options: RecommendOptions = {}): Promise<Recommendations> {
    const what = `${this.name}.recommend`;
    this.requireReady(what);
    this.checkScoreOptions(options, ['excludeSeen', 'exclude'], what);
    const rows = checkUsers(users, this.numUsers, what);
    // k means "up to k items": more than the catalogue holds is the whole ranking, so the width (returned
    // as `k`) is clamped to numItems rather than sizing the result by the argument.
    const width = Math.min(checkInteger(k, `${what}: k`, 1, 2 ** 31 - 1), this.numItems);
    const exclude = this.exclusions(rows, options, what);
    if (width === 0) return { indices: new Int32Array(0), scores: new Float32Array(0), k: 0 };
    const top = await this.topItems(rows, width, exclude, options);
    return { indices: top.indices, scores: top.scores, k: width };
  }

  /** General models score from the user's index: `history` (for sequential models) is refused. */
  private checkScoreOptions(options: ScoreOptions, allowed: string[], what: string): void {
    checkOptionKeys(options, this.kind === 'sequential' ? [...allowed, 'history'] : allowed, what, {
      history: `${this.name} scores a user from the training data; serve a user's own history with recommendForHistory()`,
    });
  }

  /**
   * Top-k for a user the model never saw (a single row), from that user's history: see each model's
   * scoreHistory for how (fold-in, neighbour sums, popularity) and `historyFields` for what it reads.
   * The history's own items are excluded unless `excludeSeen: false`. k is clamped to the number of items.
   */
  async recommendForHistory(events: readonly HistoryEvent[], k: number, options: HistoryRecommendOptions = {}): Promise<Recommendations> {
    const what = `${this.name}.recommendForHistory`;
    this.requireReady(what);
    checkOptionKeys(options, HISTORY_OPTIONS, what);
    this.checkHistory(events, what);
    const kk = Math.min(checkInteger(k, `${what}: k`, 1, 2 ** 31 - 1), this.numItems);
    const excluded: number[] = [];
    if (options.excludeSeen !== false) for (const e of events) excluded.push(e.itemIdx);
    if (options.exclude !== undefined) {
      if (typeof options.exclude !== 'object' || options.exclude === null || typeof options.exclude.length !== 'number') {
        throw new SemrecError(`${what}: exclude must be an array of item indices`, 'ERR_INVALID_ARG_TYPE');
      }
      for (let r = 0; r < options.exclude.length; r++) {
        excluded.push(checkInteger(options.exclude[r], `${what}: exclude[${r}]`, 0, this.numItems - 1));
      }
    }
    const top = await this.topItemsForHistory(events, kk, oneRow(excluded));
    return { indices: top.indices, scores: top.scores, k: kk };
  }

  /** Top-k of a history's scores; factor models override this with the core's scoreTopK. */
  protected async topItemsForHistory(events: readonly HistoryEvent[], k: number, exclude: Csr) {
    const scores = await this.scoreHistory(events);
    return topK({ scores, numRows: 1, numCols: this.numItems, k, exclude });
  }

  /** Checks a caller-given history: an array of events with item indices in range and sane signals. */
  private checkHistory(events: readonly HistoryEvent[], what: string): void {
    if (!Array.isArray(events)) throw new SemrecError(`${what}: events must be an array of HistoryEvent`, 'ERR_INVALID_ARG_TYPE');
    if (events.length === 0 && this.name !== 'pop') {
      throw new SemrecError(`${what}: events is empty: there is no history to serve this user from (pop serves users without one)`, 'ERR_INVALID_ARG_VALUE');
    }
    events.forEach((event, e) => {
      const at = `${what}: events[${e}]`;
      if (typeof event !== 'object' || event === null) throw new SemrecError(`${at} must be an object`, 'ERR_INVALID_ARG_TYPE');
      checkOptionKeys(event, HISTORY_FIELDS, at);
      checkInteger(event.itemIdx, `${at}.itemIdx`, 0, this.numItems - 1);
      for (const field of ['rating', 'timestamp', ...UNIT_FIELDS] as const) {
        const v = event[field];
        if (v === undefined) continue;
        if (typeof v !== 'number' || !Number.isFinite(v)) throw new SemrecError(`${at}.${field} must be a finite number, got ${String(v)}`, 'ERR_INVALID_ARG_VALUE');
        if ((UNIT_FIELDS as readonly string[]).includes(field) && (v < 0 || v > 1)) {
          throw new SemrecError(`${at}.${field} must be in [0, 1], got ${v}`, 'ERR_OUT_OF_RANGE');
        }
      }
    });
    this.checkHistoryFields(events, what);
  }

  /**
   * The k items most similar to itemIdx by the model's item-item similarity (a single row; the item
   * itself is never returned; k is clamped to the number of other items).
   */
  async similarItems(itemIdx: number, k: number): Promise<Recommendations> {
    const what = `${this.name}.similarItems`;
    this.requireReady(what);
    checkInteger(itemIdx, `${what}: itemIdx`, 0, this.numItems - 1);
    const kk = Math.max(1, Math.min(checkInteger(k, `${what}: k`, 1, 2 ** 31 - 1), this.numItems - 1));
    return this.similarItemsOf(itemIdx, kk);
  }

  /**
   * Why itemIdx is (or would be) recommended to userIdx: the user's training items most similar to it by
   * the model's item similarity, with their share of the score where the score is a sum over them.
   */
  async explain(userIdx: number, itemIdx: number): Promise<Explanation> {
    const what = `${this.name}.explain`;
    this.requireReady(what);
    const user = checkUsers([userIdx], this.numUsers, what);
    checkInteger(itemIdx, `${what}: itemIdx`, 0, this.numItems - 1);
    const score = (await this.scoreBlock(user, {}))[itemIdx];
    const seen = this.seen!;
    return this.explanation(itemIdx, score, seen.indices.slice(seen.indptr[userIdx], seen.indptr[userIdx + 1]));
  }

  /** explain() for a user given by a history (as recommendForHistory serves them). */
  async explainForHistory(events: readonly HistoryEvent[], itemIdx: number): Promise<Explanation> {
    const what = `${this.name}.explainForHistory`;
    this.requireReady(what);
    this.checkHistory(events, what);
    checkInteger(itemIdx, `${what}: itemIdx`, 0, this.numItems - 1);
    const score = (await this.scoreHistory(events))[itemIdx];
    return this.explanation(itemIdx, score, historyItems(events));
  }

  private async explanation(itemIdx: number, score: number, history: Int32Array): Promise<Explanation> {
    const others = history.filter((i) => i !== itemIdx);
    const sims = await this.historySimilarities(itemIdx, others);
    const order = Array.from(others.keys())
      // Only items that speak for the recommendation: positively similar (and contributing, where scores are sums).
      .filter((r) => sims.similarity[r] > 0 && (!sims.share || sims.share[r] > 0))
      .sort((a, b) => sims.similarity[b] - sims.similarity[a] || others[a] - others[b])
      .slice(0, EXPLAIN_TOP);
    return {
      itemIdx,
      score,
      method: sims.method,
      because: order.map((r) => ({
        itemIdx: others[r],
        similarity: sims.similarity[r],
        ...(sims.share ? { share: sims.share[r] } : {}),
      })),
    };
  }

  /** The items recommend leaves out as seen, per user: the training items (models with live updates add theirs). */
  protected seenRows(users: Int32Array): Csr {
    return selectRows(this.seen!, users);
  }

  private exclusions(users: Int32Array, options: RecommendOptions, what: string): Csr | undefined {
    const seen = options.excludeSeen === false ? undefined : this.seenRows(users);
    if (options.exclude && options.exclude.indptr.length !== users.length + 1) {
      throw new SemrecError(`${what}: exclude must have one row per requested user (${users.length})`, 'ERR_INVALID_ARG_VALUE');
    }
    if (seen && options.exclude) return concatRows(seen, options.exclude);
    return seen ?? options.exclude;
  }

  /** Top-k of a block of users; dot-product models override this with the core's scoreTopK. */
  protected async topItems(users: Int32Array, k: number, exclude: Csr | undefined, options: ScoreOptions) {
    const scores = await this.scoreBlock(users, options);
    return topK({ scores, numRows: users.length, numCols: this.numItems, k, exclude });
  }

  // ---- raw ids: the catalog that travels with the model ----

  /** Raw ids, titles and metadata of the model's users and items. */
  get catalog(): ModelCatalog {
    this.requireReady(`${this.name}.catalog`);
    return this.catalogData!;
  }

  /** Appends items (raw ids, titles) to the catalog: for models that take new items after training. */
  protected extendCatalog(items: readonly { id: string; title?: string }[], what: string): void {
    this.catalogData = this.catalog.withItems(items, what);
  }

  /** The fingerprint of the data the model was trained on. */
  get fingerprint(): DataFingerprint {
    this.requireReady(`${this.name}.fingerprint`);
    return this.dataFingerprint!;
  }

  /** Which semrec trained the model, on what, how (recorded in the saved directory). */
  get provenance(): ModelProvenance {
    this.requireReady(`${this.name}.provenance`);
    return this.loadedProvenance ?? {
      semrec: semrecVersion(),
      fingerprint: this.dataFingerprint!,
      training: this.training!,
      savedAt: '',
    };
  }

  /**
   * Throws ERR_DATA_MISMATCH, saying what differs, unless `data` is what the model was trained on
   * (level 'interactions', the default) or at least shares its users and items at the same indices
   * (level 'ids': e.g. the full dataset the training split came from).
   */
  checkData(data: TrainingData, level: 'ids' | 'interactions' = 'interactions'): void {
    const what = `${this.name}.checkData`;
    this.requireReady(what);
    checkTrainingData(data, `${what}: data`);
    const differences = fingerprintDifferences(this.dataFingerprint!, fingerprintOf(data), level);
    if (differences.length > 0) {
      throw new SemrecError(
        `${what}: '${data.name}' is not the data this ${this.name} model was trained on ('${this.dataFingerprint!.dataset}'): it has ${differences.join('; ')}`,
        'ERR_DATA_MISMATCH',
      );
    }
  }

  /**
   * The items user `userIdx` interacted with in the training data (sorted, unique): what excludeSeen
   * leaves out, and the history a service folds a known user's new feedback into. A copy.
   */
  trainingItems(userIdx: number): Int32Array {
    const what = `${this.name}.trainingItems`;
    this.requireReady(what);
    const [user] = checkUsers([userIdx], this.numUsers, what);
    return this.seen!.indices.slice(this.seen!.indptr[user], this.seen!.indptr[user + 1]);
  }

  /** Items of row `row` of a result with their raw ids and titles (padding left out). */
  describe(result: Recommendations, row = 0): ScoredItem[] {
    const catalog = this.catalog;
    const out: ScoredItem[] = [];
    for (let c = 0; c < result.k; c++) {
      const index = result.indices[row * result.k + c];
      if (index < 0) continue;
      out.push({ ...catalog.item(index), score: result.scores[row * result.k + c] });
    }
    return out;
  }

  /** Top-k for a known user given by raw id, as items with ids, titles and scores. */
  async recommendFor(userId: string, options: RawRecommendOptions = {}): Promise<ScoredItem[]> {
    const what = `${this.name}.recommendFor`;
    checkOptionKeys(options, ['k', 'excludeSeen', 'exclude'], what);
    const catalog = this.catalog;
    const user = catalog.userIndex(userId, what);
    const k = this.rawK(options.k, what);
    const exclude = options.exclude ? oneRow(this.itemIndices(options.exclude, `${what}: exclude`)) : undefined;
    return this.describe(await this.recommend([user], k, { excludeSeen: options.excludeSeen, exclude }));
  }

  /** Top-k for a new user from a history of raw item ids (strings, or events with `itemId`). */
  async recommendFromHistory(history: readonly (RawHistoryEvent | string)[], options: RawHistoryOptions = {}): Promise<ScoredItem[]> {
    const what = `${this.name}.recommendFromHistory`;
    checkOptionKeys(options, ['k', 'excludeSeen', 'exclude', 'unknownItems'], what);
    const events = this.historyFromIds(history, options.unknownItems ?? 'error', what);
    const k = this.rawK(options.k, what);
    const exclude = options.exclude ? this.itemIndices(options.exclude, `${what}: exclude`) : undefined;
    return this.describe(await this.recommendForHistory(events, k, { excludeSeen: options.excludeSeen, exclude }));
  }

  /** The items most similar to the item with raw id `itemId`. */
  async similarTo(itemId: string, options: RawSimilarOptions = {}): Promise<ScoredItem[]> {
    const what = `${this.name}.similarTo`;
    checkOptionKeys(options, ['k'], what);
    const item = this.catalog.itemIndex(itemId, what);
    return this.describe(await this.similarItems(item, this.rawK(options.k, what)));
  }

  /** explain() by raw ids. */
  async explainFor(userId: string, itemId: string): Promise<ExplanationByIds> {
    const what = `${this.name}.explainFor`;
    const catalog = this.catalog;
    return this.explanationByIds(await this.explain(catalog.userIndex(userId, what), catalog.itemIndex(itemId, what)));
  }

  /** explainForHistory() by raw ids. */
  async explainFromHistory(history: readonly (RawHistoryEvent | string)[], itemId: string, options: Pick<RawHistoryOptions, 'unknownItems'> = {}): Promise<ExplanationByIds> {
    const what = `${this.name}.explainFromHistory`;
    checkOptionKeys(options, ['unknownItems'], what);
    const events = this.historyFromIds(history, options.unknownItems ?? 'error', what);
    return this.explanationByIds(await this.explainForHistory(events, this.catalog.itemIndex(itemId, what)));
  }

  /** An explanation with raw ids, titles and metadata. */
  explanationByIds(e: Explanation): ExplanationByIds {
    const catalog = this.catalog;
    return {
      item: { ...catalog.item(e.itemIdx), score: e.score },
      method: e.method,
      because: e.because.map((b) => ({ ...catalog.item(b.itemIdx), similarity: b.similarity, ...(b.share !== undefined ? { share: b.share } : {}) })),
    };
  }

  private rawK(k: number | undefined, what: string): number {
    return Math.min(checkInteger(k ?? DEFAULT_K, `${what}: k`, 1, 2 ** 31 - 1), this.numItems);
  }

  private itemIndices(ids: readonly string[], what: string): number[] {
    if (!Array.isArray(ids)) throw new SemrecError(`${what} must be an array of raw item ids`, 'ERR_INVALID_ARG_TYPE');
    return ids.map((id, r) => this.catalog.itemIndex(id, `${what}[${r}]`));
  }

  private historyFromIds(history: readonly (RawHistoryEvent | string)[], unknown: 'error' | 'skip', what: string): HistoryEvent[] {
    if (!Array.isArray(history)) throw new SemrecError(`${what}: history must be an array of item ids or events`, 'ERR_INVALID_ARG_TYPE');
    if (unknown !== 'error' && unknown !== 'skip') throw new SemrecError(`${what}: unknownItems must be 'error' or 'skip'`, 'ERR_INVALID_ARG_VALUE');
    const catalog = this.catalog;
    const events: HistoryEvent[] = [];
    history.forEach((entry, e) => {
      const event = typeof entry === 'string' ? { itemId: entry } : entry;
      if (typeof event !== 'object' || event === null || typeof event.itemId !== 'string') {
        throw new SemrecError(`${what}: history[${e}] must be a raw item id or an object with a string itemId`, 'ERR_INVALID_ARG_TYPE');
      }
      const { itemId, ...signals } = event;
      const itemIdx = catalog.itemIds.index(itemId);
      if (itemIdx === undefined) {
        if (unknown === 'skip') return;
        throw new SemrecError(`${what}: history[${e}]: unknown item id '${itemId}' (not among the model's ${this.numItems} items)`, 'ERR_UNKNOWN_ID');
      }
      events.push({ ...signals, itemIdx });
    });
    return events;
  }

  // ---- save / load ----

  async save(dir: string): Promise<void> {
    this.requireReady(`${this.name}.save`);
    const state = this.state();
    const provenance: ModelProvenance = { ...this.provenance, savedAt: new Date().toISOString() };
    await writeModel(dir, {
      model: this.name,
      params: this.params,
      meta: { ...state.meta, numUsers: this.numUsers, numItems: this.numItems },
      arrays: {
        ...state.arrays,
        seenIndptr: this.seen!.indptr,
        seenIndices: this.seen!.indices,
        ...(this.itemIndex ? { itemIndex: this.itemIndex.toBuffer() } : {}),
      },
      sections: { catalog: this.catalogData!.toSection() },
      provenance,
    });
  }

  /** Restores a model read by loadModel (the registry validated the params already). */
  async restoreSaved(saved: SavedModel, where = 'the saved model'): Promise<void> {
    const { seenIndptr, seenIndices, itemIndex, ...arrays } = saved.arrays;
    const numUsers = saved.meta.numUsers;
    const numItems = saved.meta.numItems;
    if (
      typeof numUsers !== 'number' ||
      typeof numItems !== 'number' ||
      !(seenIndptr instanceof Int32Array) ||
      !(seenIndices instanceof Int32Array) ||
      seenIndptr.length !== numUsers + 1
    ) {
      throw new SemrecError(`load: the saved ${this.name} model lacks its user/item counts or seen items`, 'ERR_MODEL_CORRUPT');
    }
    const provenance = saved.provenance as ModelProvenance | undefined;
    const f = provenance?.fingerprint;
    // Items added after training (llmrec's addItems) extend the catalog, not the training data.
    const added = typeof saved.meta.addedItems === 'number' ? saved.meta.addedItems : 0;
    if (!f || typeof f.idsSha256 !== 'string' || typeof f.interactionsSha256 !== 'string' || f.numUsers !== numUsers || f.numItems !== numItems - added || !provenance.training) {
      throw new SemrecError(`load: the provenance of ${where} (training-data fingerprint) is missing or inconsistent`, 'ERR_MODEL_CORRUPT');
    }
    const catalog = ModelCatalog.fromSection(saved.sections?.catalog, numUsers, numItems, where);
    this.numUsers = numUsers;
    this.numItems = numItems;
    this.seen = { indptr: seenIndptr, indices: seenIndices };
    this.unitVectors = undefined;
    this.itemIndex = undefined;
    if (itemIndex !== undefined) {
      if (!(itemIndex instanceof Uint8Array)) throw new SemrecError(`load: the item index of ${where} has the wrong type`, 'ERR_MODEL_CORRUPT');
      this.itemIndex = VectorIndex.fromBuffer(itemIndex, `the item index of ${where}`);
      if (this.itemIndex.ntotal !== numItems) throw new SemrecError(`load: the item index of ${where} holds ${this.itemIndex.ntotal} items, the model ${numItems}`, 'ERR_MODEL_CORRUPT');
    }
    try {
      this.restore({ meta: saved.meta, arrays });
    } catch (error) {
      if (error instanceof SemrecError) throw error;
      throw new SemrecError(`load: the saved ${this.name} model is inconsistent: ${(error as Error).message}`, 'ERR_MODEL_CORRUPT');
    }
    await this.prepareScoring();
    this.catalogData = catalog;
    this.dataFingerprint = f;
    this.training = provenance.training;
    this.loadedProvenance = provenance;
    this.isFitted = true;
  }

  // ---- helpers for subclasses ----

  protected requireReady(what: string): void {
    if (this.busy) throw new SemrecError(`${what}: the model is being fitted`, 'ERR_MODEL_BUSY');
    if (!this.isFitted) throw new SemrecError(`${what}: the model is not fitted (call fit() or loadModel() first)`, 'ERR_NOT_FITTED');
  }

  private enter(what: string): void {
    if (this.busy) throw new SemrecError(`${what}: the model is already being fitted`, 'ERR_MODEL_BUSY');
    this.busy = true;
  }

  /** An array from a saved state, checked for type and length. */
  protected static array<T extends SavedArray>(
    state: ModelState,
    name: string,
    type: new (n: number) => T,
    length: number,
  ): T {
    const a = state.arrays[name];
    if (!(a instanceof type) || a.length !== length) {
      throw new SemrecError(
        `load: array '${name}' is missing or has the wrong type/length (expected ${length})`,
        'ERR_MODEL_CORRUPT',
      );
    }
    return a;
  }

  protected static number(state: ModelState, name: string): number {
    const v = state.meta[name];
    if (typeof v !== 'number' || !Number.isFinite(v)) {
      throw new SemrecError(`load: meta '${name}' is missing or not a number`, 'ERR_MODEL_CORRUPT');
    }
    return v;
  }

  // ---- item similarity by vectors (cosine), shared by factor models, NeuMF and content models ----

  private unitVectors: { data: Float32Array; dim: number } | undefined;
  private unitVectorsOf: Float32Array | undefined;
  private itemIndex: VectorIndex | undefined;

  /** Whether item similarity is the cosine of item vectors (and so can be served by a vector index). */
  protected readonly vectorSimilarity: boolean = true;

  /** The item vectors whose cosine is the model's item-item similarity (models that have them). */
  protected similarityVectors(): { data: Float32Array; dim: number } {
    throw new SemrecError(`${this.name}: no item vectors for similarity`, 'ERR_INTERNAL');
  }

  /**
   * Builds a faiss index (ts/retrieval) over the model's unit item vectors, which similarItems then
   * searches: 'flat' is exact, 'ivf' and 'hnsw' approximate for large catalogs. Saved with the model.
   * Catalogs of RETRIEVAL_MIN_ITEMS items or more get an exact one on first use without asking.
   */
  buildItemIndex(options: Omit<VectorIndexOptions, 'dim'> = {}): VectorIndex {
    const what = `${this.name}.buildItemIndex`;
    this.requireReady(what);
    if (!this.vectorSimilarity) {
      throw new SemrecError(`${what}: ${this.name}'s item similarity is not a cosine of item vectors, so there is nothing to index`, 'ERR_INVALID_ARG_VALUE');
    }
    const { data, dim } = this.unitSimilarityVectors();
    const index = new VectorIndex({ ...options, dim });
    index.add(data);
    this.itemIndex = index;
    return index;
  }

  /** The item index similarItems searches, when the model has one. */
  get itemIndexSettings(): VectorIndexOptions | undefined {
    return this.itemIndex?.settings;
  }

  /** similarityVectors() scaled to unit length (zero vectors stay zero), cached until the vectors change. */
  protected unitSimilarityVectors(): { data: Float32Array; dim: number } {
    const v = this.similarityVectors();
    if (this.unitVectors && this.unitVectorsOf === v.data) return this.unitVectors;
    const data = new Float32Array(v.data.length);
    for (let i = 0; i < this.numItems; i++) {
      let norm = 0;
      for (let t = 0; t < v.dim; t++) norm += v.data[i * v.dim + t] ** 2;
      const scale = norm > 0 ? 1 / Math.sqrt(norm) : 0;
      for (let t = 0; t < v.dim; t++) data[i * v.dim + t] = v.data[i * v.dim + t] * scale;
    }
    this.unitVectors = { data, dim: v.dim };
    this.unitVectorsOf = v.data;
    return this.unitVectors;
  }

  /** Cosine top-k over similarityVectors(), the item itself excluded (through the item index when there is one). */
  protected async cosineSimilarItems(itemIdx: number, k: number): Promise<Recommendations> {
    const { data, dim } = this.unitSimilarityVectors();
    const query = data.slice(itemIdx * dim, (itemIdx + 1) * dim);
    if (!this.itemIndex && this.numItems >= RETRIEVAL_MIN_ITEMS) this.buildItemIndex({ kind: 'flat' });
    const top = this.itemIndex
      ? this.itemIndex.search(query, k, { exclude: oneRow([itemIdx]) })
      : await scoreTopK({ users: query, items: data, dim, k, exclude: oneRow([itemIdx]) });
    return { indices: top.indices, scores: top.scores, k };
  }

  /** Cosines of `items` to itemIdx over similarityVectors(). */
  protected cosineSimilarities(itemIdx: number, items: Int32Array, method: string): HistorySimilarities {
    const { data, dim } = this.unitSimilarityVectors();
    const similarity = Float64Array.from(items, (i) => {
      let dot = 0;
      for (let t = 0; t < dim; t++) dot += data[itemIdx * dim + t] * data[i * dim + t];
      return dot;
    });
    return { similarity, method };
  }
}

/**
 * Models that score by a dot product: score(u, i) = users[u] . items[i] + itemBias[i]. Scoring and
 * recommending go through the core's scoreMatrix / scoreTopK; a new user is folded in as one more row
 * of `users` (each model's foldIn says how), and item similarity is the cosine of item vectors.
 */
export interface Factors {
  users: Float32Array;
  items: Float32Array;
  dim: number;
  itemBias?: Float32Array;
}

export abstract class FactorRecommender<P extends object> extends BaseRecommender<P> {
  /** The scoring factors (valid after prepareScoring()). */
  protected abstract factors(): Factors;
  /** A user vector for a new user from the (checked) history, in the space of factors().users. */
  protected foldIn(_events: readonly HistoryEvent[]): Promise<Float32Array> {
    return Promise.reject(this.missingHook('foldIn', 'recommendForHistory'));
  }
  /** What `similarity` means in explanations and similar items. */
  protected similarityMethod = 'cosine of the item factors';

  private userRows(users: Int32Array): Float32Array {
    const f = this.factors();
    const out = new Float32Array(users.length * f.dim);
    for (let r = 0; r < users.length; r++) out.set(f.users.subarray(users[r] * f.dim, (users[r] + 1) * f.dim), r * f.dim);
    return out;
  }

  protected async scoreBlock(users: Int32Array): Promise<Float32Array> {
    const f = this.factors();
    const result = await scoreMatrix({ users: this.userRows(users), items: f.items, dim: f.dim, itemBias: f.itemBias });
    return result.scores;
  }

  protected override async topItems(users: Int32Array, k: number, exclude: Csr | undefined) {
    const f = this.factors();
    return scoreTopK({ users: this.userRows(users), items: f.items, dim: f.dim, itemBias: f.itemBias, k, exclude });
  }

  protected override async scoreHistory(events: readonly HistoryEvent[]): Promise<Float32Array> {
    const f = this.factors();
    return (await scoreMatrix({ users: await this.foldIn(events), items: f.items, dim: f.dim, itemBias: f.itemBias })).scores;
  }

  protected override async topItemsForHistory(events: readonly HistoryEvent[], k: number, exclude: Csr) {
    const f = this.factors();
    return scoreTopK({ users: await this.foldIn(events), items: f.items, dim: f.dim, itemBias: f.itemBias, k, exclude });
  }

  /** By default the item factors themselves (without the bias). */
  protected override similarityVectors(): { data: Float32Array; dim: number } {
    const f = this.factors();
    return { data: f.items, dim: f.dim };
  }

  protected override async similarItemsOf(itemIdx: number, k: number): Promise<Recommendations> {
    return this.cosineSimilarItems(itemIdx, k);
  }

  protected override async historySimilarities(itemIdx: number, items: Int32Array): Promise<HistorySimilarities> {
    return this.cosineSimilarities(itemIdx, items, this.similarityMethod);
  }
}
