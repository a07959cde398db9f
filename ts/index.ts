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
