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
export { DEFAULT_SIMULATION_SEED, simulateTransactions, simulationModel, withSimulatedSignals } from './data/synthetic';
export type { SimulationOptions } from './data/synthetic';
