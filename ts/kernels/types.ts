/** Public shapes shared by the kernel ops. */
import type { DeviceChoice, DeviceUsed } from '../native/addon';

export type { DeviceChoice as Device, DeviceUsed };

/** Compressed sparse rows: row r holds indices[indptr[r] .. indptr[r + 1]). */
export interface Csr {
  indptr: Int32Array;
  indices: Int32Array;
}

/** Row-major rows x dim matrix of item vectors (for intra-list distance). */
export interface ItemFeatures {
  data: Float32Array;
  dim: number;
}

export interface TopKOptions {
  /** Row-major numRows x numCols scores. NaN is rejected. */
  scores: Float32Array;
  numRows: number;
  numCols: number;
  /** Width of each result row (>= 1). Rows with fewer eligible columns are padded with -1 / -Infinity. */
  k: number;
  /** (row, column) pairs never returned. */
  exclude?: Csr;
  device?: DeviceChoice;
}

export interface TopKResult {
  /** Row-major numRows x k column indices, best first (higher score, then lower column); -1 pads. */
  indices: Int32Array;
  /** The matching scores; -Infinity pads. */
  scores: Float32Array;
  /** Where the work ran. */
  device: DeviceUsed;
}

export interface ScoreMatrixOptions {
  /** Row-major numUsers x dim. Values must be finite. */
  users: Float32Array;
  /** Row-major numItems x dim. Values must be finite. */
  items: Float32Array;
  dim: number;
  /** Added to every user's score of item i. */
  itemBias?: Float32Array;
  device?: DeviceChoice;
}

export interface ScoreMatrixResult {
  /** Row-major numUsers x numItems: users . items^T + itemBias. */
  scores: Float32Array;
  numUsers: number;
  numItems: number;
  device: DeviceUsed;
}

export interface ScoreTopKOptions extends ScoreMatrixOptions {
  k: number;
  exclude?: Csr;
}

export interface RankingMetricsOptions {
  /** Row-major numUsers x numItems scores. NaN is rejected. */
  scores: Float32Array;
  numUsers: number;
  numItems: number;
  /** Relevant items per user (binary relevance). Excluded items are dropped from it. */
  truth: Csr;
  /** Items never ranked for a user (typically the training interactions). */
  exclude?: Csr;
  /** Cut-offs, e.g. [5, 10, 20]. */
  ks: number[];
  /** When given, `ild@K` (intra-list distance) is computed too. */
  itemFeatures?: ItemFeatures;
  device?: DeviceChoice;
}

export interface RankingMetricsFromTopKOptions {
  /** Row-major numUsers x k best-first item lists (as topK returns them; -1 pads the end). */
  indices: Int32Array;
  k: number;
  numUsers: number;
  numItems: number;
  truth: Csr;
  /** Excluded items found in a list are skipped and take no rank. */
  exclude?: Csr;
  /** Cut-offs, each <= k. */
  ks: number[];
  itemFeatures?: ItemFeatures;
}

export interface RankingMetricsResult {
  /**
   * Means over evaluated users: precision@K, recall@K, ndcg@K, map@K, hit@K, mrr@K for each K, `mrr`
   * (full ranking; not from top-K lists), ild@K (with item features), aggregateDiversity@K (distinct
   * items in evaluated users' top-K) and coverage@K (that / numItems).
   */
  mean: Record<string, number>;
  /** Per-user values of the per-user metrics; NaN for users skipped because their truth is empty. */
  perUser: Record<string, Float32Array>;
  /** Users with non-empty truth (after dropping excluded items). */
  evaluatedUsers: number;
  device: DeviceUsed;
}
