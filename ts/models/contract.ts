/**
 * The one contract every recommender implements (the classic baselines here, LLM-Rec and sequential
 * models later): fit on a training split, score blocks of users against every item, recommend with
 * seen items excluded, save and load.
 */
import type { Csr } from '../kernels/types';
import type { LongRunningOptions } from '../progress';
import type { TrainingData } from './data';

export type { TrainingData } from './data';

/** General models score from the user's id; sequential ones (e.g. BERT4Rec, later) from the ordered history. */
export type ModelKind = 'general' | 'sequential';

/** Dense item content vectors, one row per item (e.g. text embeddings from the semantic module). */
export interface ItemFeatureMatrix {
  data: Float32Array;
  dim: number;
  /** Where the vectors came from (e.g. "items.semb (sha256 ...)"), recorded in saved models and reports. */
  source?: string;
}

export interface EarlyStopping {
  /** Held-out interactions (same users and items as the training data); ranked with training items excluded. */
  data: TrainingData;
  /** A metric key as the core names it (default 'ndcg@10', RecBole's valid_metric). */
  metric?: string;
  /** Evaluations without improvement before training stops (default 10, RecBole's stopping_step). */
  patience?: number;
  /** Evaluate every this many epochs (default 1). */
  every?: number;
}

export interface FitOptions extends LongRunningOptions {
  /** Seeds initialisation and sampling (default 42). */
  seed?: number;
  /**
   * With it, training stops when the validation metric stopped improving and the parameters of the
   * best evaluation are kept; without it, the model trains for its `epochs` hyperparameter.
   */
  earlyStopping?: EarlyStopping;
  /** Item content vectors for content-aware models (vbpr); models that cannot use them refuse them. */
  itemFeatures?: ItemFeatureMatrix;
  /** CPU threads for the native trainers (default: all; 1 makes training bit-reproducible). */
  numThreads?: number;
}

export interface EpochRecord {
  epoch: number;
  /** Mean training loss of the epoch (the model's own loss: BPR, squared error, BCE, WARP...). */
  loss: number;
  seconds: number;
  /** The early-stopping metric after this epoch, when it was evaluated. */
  validation?: number;
}

export interface FitReport {
  epochs: EpochRecord[];
  /** Epoch whose parameters the model kept (the last one without early stopping; 0 for non-iterative models). */
  bestEpoch: number;
  stoppedEarly: boolean;
  seconds: number;
}

export interface ScoreOptions {
  /** For sequential models: each scored user's ordered history (rows follow the `users` argument). */
  history?: Csr;
}

export interface RecommendOptions extends ScoreOptions {
  /** Leave out the items the user interacted with in the training data (default true). */
  excludeSeen?: boolean;
  /** Further items to leave out, one row per requested user. */
  exclude?: Csr;
}

export interface Recommendations {
  /** users.length x k item indices, best first (higher score, then lower index); -1 pads short rows. */
  indices: Int32Array;
  /** The matching scores; -Infinity pads. */
  scores: Float32Array;
  /** The width of each row: the k asked for, clamped to the number of items. */
  k: number;
}

/**
 * One interaction of a user, given by the caller rather than read from the training data: the history of
 * a user the model never saw (recommendForHistory) or new events of a known one (LLM-Rec's updateUser).
 * Signals are in [0, 1] except `rating`, which is on the dataset's own scale. A model uses the fields it
 * understands and documents which; a field it cannot use is never silently taken to mean something else.
 */
export interface HistoryEvent {
  itemIdx: number;
  /** Explicit rating on the dataset's scale (e.g. 1-5 stars). */
  rating?: number;
  /** Seconds since the epoch; orders the history and drives time decay where a model has it. */
  timestamp?: number;
  /** Review sentiment in [0, 1] (the semantic module's sentiment head). */
  sentiment?: number;
  /** Viewing signal in [0, 1] (e.g. normalised view count). */
  viewing?: number;
  /** Completion in [0, 1] (share of the item consumed). */
  completion?: number;
}

export interface HistoryRecommendOptions {
  /** Leave out the history's own items (default true). */
  excludeSeen?: boolean;
  /** Further item indices to leave out. */
  exclude?: ArrayLike<number>;
}

/** Why an item was recommended: the user's history items that lead to it, by the model's item similarity. */
export interface Explanation {
  itemIdx: number;
  /** The model's score of the item for the user. */
  score: number;
  /** Positively similar history items, most similar first (at most EXPLAIN_TOP). */
  because: ExplanationItem[];
  /** How to read `because` for this model (e.g. "cosine of item factors", "share of the neighbour sum"). */
  method: string;
}

export interface ExplanationItem {
  itemIdx: number;
  /** The model's item-item similarity of this history item to the recommended one. */
  similarity: number;
  /** The share of the score this item contributes, where the score is a sum over history items (itemknn). */
  share?: number;
}

export interface Recommender<Params extends object = object> {
  /** The registry name ('bpr', 'lightgcn', ...). */
  readonly name: string;
  readonly kind: ModelKind;
  /** Validated hyperparameters, defaults filled in. */
  readonly params: Readonly<Params>;
  readonly fitted: boolean;
  readonly numUsers: number;
  readonly numItems: number;

  fit(train: TrainingData, options?: FitOptions): Promise<FitReport>;
  /** Scores of users[r] for every item: users.length x numItems, row-major; higher is better. */
  scoreUsers(users: Int32Array, options?: ScoreOptions): Promise<Float32Array>;
  /** The k best items of each user (seen items excluded unless excludeSeen: false); k above numItems gives them all. */
  recommend(users: ArrayLike<number>, k: number, options?: RecommendOptions): Promise<Recommendations>;
  /**
   * Top-k for a user the model never saw, from that user's history (a single row). Each model says which
   * HistoryEvent fields it uses (fold-in of a user vector with item parameters frozen, neighbour sums,
   * popularity); an option it cannot honour throws ERR_INVALID_ARG_VALUE naming it.
   */
  recommendForHistory(events: readonly HistoryEvent[], k: number, options?: HistoryRecommendOptions): Promise<Recommendations>;
  /** The k items most similar to `itemIdx` by the model's item-item similarity (a single row; never the item itself). */
  similarItems(itemIdx: number, k: number): Promise<Recommendations>;
  /** Why `itemIdx` is recommended to `userIdx` (models that can say; `semrec recommend --explain`). */
  explain?(userIdx: number, itemIdx: number): Promise<Explanation>;
  /** Writes the model to `dir` (created; replaced atomically if it holds a saved model). */
  save(dir: string): Promise<void>;
}
