/**
 * semrec: semantic recommendation with native CPU/CUDA hot paths.
 * The public API; everything a user imports comes from here.
 */
export { SemrecError, isSemrecError, NativeErrorCodes } from './errors';
export type { ErrorCode, NativeErrorCode } from './errors';

export { deviceInfo, setNumThreads } from './native/device';
export type { DeviceInfo } from './native/device';

export { topK, topKSync } from './kernels/topk';
export { scoreMatrix, scoreMatrixSync, scoreTopK, scoreTopKSync } from './kernels/score';
export {
  rankingMetrics,
  rankingMetricsSync,
  rankingMetricsFromTopK,
  rankingMetricsFromTopKSync,
} from './kernels/metrics';
export type {
  Csr,
  Device,
  DeviceUsed,
  ItemFeatures,
  RankingMetricsFromTopKOptions,
  RankingMetricsOptions,
  RankingMetricsResult,
  ScoreMatrixOptions,
  ScoreMatrixResult,
  ScoreTopKOptions,
  TopKOptions,
  TopKResult,
} from './kernels/types';

// Data layer: dataset loaders, the columnar interaction store, splits.
export { loadDataset, DATASET_FORMATS } from './data/load';
export type { DatasetFormat, InteractionColumns, LoadDatasetOptions } from './data/load';
export { DenseIdMap, InteractionStore, DUPLICATE_POLICIES } from './data/store';
export type {
  CountQuantiles,
  DatasetStats,
  DuplicatePolicy,
  IdMap,
  InteractionGroups,
  InteractionStoreInit,
  ItemMetadata,
  LoadReport,
  SkippedRow,
  TransactionSignals,
  UserMetadata,
} from './data/store';
export { DatasetError, isDatasetError } from './data/errors';
export type { DatasetErrorLocation } from './data/errors';
export { compact, DEFAULT_SPLIT_SEED, kCore, leaveOneOut, ratioCounts, ratioSplit, temporalSplit, toImplicit } from './data/splits';
export type {
  ImplicitOptions,
  KCoreOptions,
  LeaveOneOutOptions,
  ProtocolDescription,
  RatioSplitOptions,
  Split,
  TemporalSplitOptions,
} from './data/splits';

// Models: one Recommender contract, the baselines in a typed registry, save/load.
export { createModel, loadModel, describeParams, isModelName, MODEL_NAMES, modelRegistry } from './models/registry';
export type { ModelName, ModelOf, ParamDoc, ParamsInput, ParamsOf } from './models/registry';
export type {
  EarlyStopping,
  EpochRecord,
  FitOptions,
  FitReport,
  ItemFeatureMatrix,
  ModelKind,
  Recommendations,
  RecommendOptions,
  Recommender,
  ScoreOptions,
} from './models/contract';
export type { TrainingData } from './models/data';
export { isRatingPredictor } from './models/mf';
export type { RatingPredictor } from './models/mf';
export { MODEL_FORMAT, MODEL_FORMAT_VERSION } from './models/persist';

// Evaluation: protocols, the harness, statistics, reports.
export { DEFAULT_KS, PROTOCOLS, runExperiment, splitByProtocol } from './eval/harness';
export type { ExperimentOptions, ExperimentReport, ModelResult, ProtocolName, SeedResult } from './eval/harness';
export { evaluateRanking } from './eval/ranking';
export type { RankingOutcome, RankingTask, Scorer } from './eval/ranking';
export { pairedTests, summarize } from './eval/statistics';
export type { PairedTest, Summary } from './eval/statistics';
export { renderJson, renderMarkdown } from './eval/report';
