/**
 * Loads the native addon once, hands it SemrecError, and types its raw surface. The only module that
 * touches build/Release/semrec.node; everything else goes through ts/kernels.
 */
import path from 'node:path';

import { SemrecError } from '../errors';
import { preferSleepingOpenMpThreads } from './openmp';

export type DeviceChoice = 'cpu' | 'cuda' | 'auto';
export type DeviceUsed = 'cpu' | 'cuda';

export interface CsrArgs {
  indptr: Int32Array;
  indices: Int32Array;
}

export interface RawTopKResult {
  indices: Int32Array;
  scores: Float32Array;
  device: DeviceUsed;
}

export interface RawScoreMatrixResult {
  scores: Float32Array;
  numUsers: number;
  numItems: number;
  device: DeviceUsed;
}

export interface RawMetricsResult {
  mean: Record<string, number>;
  perUser: Record<string, Float32Array>;
  evaluatedUsers: number;
  device: DeviceUsed;
}

export interface RawGpuInfo {
  index: number;
  name: string;
  totalMemoryBytes: number;
  freeMemoryBytes: number;
  computeCapability: string;
  multiProcessors: number;
}

export interface RawDeviceInfo {
  cudaCompiled: boolean;
  cudaAvailable: boolean;
  reason: string;
  cudaRuntimeVersion: number;
  cudaDriverVersion: number;
  cpuThreads: number;
  numThreads: number;
  gpus: RawGpuInfo[];
}

export interface RawLogisticFitResult {
  weights: Float32Array;
  bias: number;
  iterations: number;
  converged: boolean;
  loss: number;
  gradientNorm: number;
}

/** The addon's exports, exactly as native/napi registers them. Arguments are checked again natively. */
export interface RawAddon {
  cudaCompiled: boolean;
  init(options: { errorClass: typeof SemrecError }): void;
  deviceInfo(): RawDeviceInfo;
  setNumThreads(numThreads: number): void;
  topKSync(args: object): RawTopKResult;
  topK(args: object): Promise<RawTopKResult>;
  scoreMatrixSync(args: object): RawScoreMatrixResult;
  scoreMatrix(args: object): Promise<RawScoreMatrixResult>;
  scoreTopKSync(args: object): RawTopKResult;
  scoreTopK(args: object): Promise<RawTopKResult>;
  rankingMetricsSync(args: object): RawMetricsResult;
  rankingMetrics(args: object): Promise<RawMetricsResult>;
  rankingMetricsFromTopKSync(args: object): RawMetricsResult;
  rankingMetricsFromTopK(args: object): Promise<RawMetricsResult>;
  // Native trainers of the baseline models (native/napi/train_ops.cc); typed in ts/models/native.ts.
  sampleTriples(args: object): Promise<RawTriples>;
  sampleTriplesSync(args: object): RawTriples;
  samplePoints(args: object): Promise<RawPointSamples>;
  samplePointsSync(args: object): RawPointSamples;
  mfEpoch(args: object): Promise<RawLoss>;
  mfEpochSync(args: object): RawLoss;
  bprEpoch(args: object): Promise<RawLoss>;
  bprEpochSync(args: object): RawLoss;
  vbprEpoch(args: object): Promise<RawLoss>;
  vbprEpochSync(args: object): RawLoss;
  vbprItemFactors(args: object): Promise<{ itemFactors: Float32Array; itemOffset: Float32Array }>;
  vbprItemFactorsSync(args: object): { itemFactors: Float32Array; itemOffset: Float32Array };
  lightfmEpoch(args: object): Promise<RawLoss>;
  lightfmEpochSync(args: object): RawLoss;
  lightfmRepresentations(args: object): Promise<RawLightFmRepresentations>;
  lightfmRepresentationsSync(args: object): RawLightFmRepresentations;
  neumfEpoch(args: object): Promise<RawLoss & { step: number }>;
  neumfEpochSync(args: object): RawLoss & { step: number };
  neumfGradient(args: object): Promise<RawLoss & { grad: Float32Array }>;
  neumfGradientSync(args: object): RawLoss & { grad: Float32Array };
  neumfScore(args: object): Promise<{ scores: Float32Array }>;
  neumfScoreSync(args: object): { scores: Float32Array };
  lightgcnEpoch(args: object): Promise<RawLoss & { step: number }>;
  lightgcnEpochSync(args: object): RawLoss & { step: number };
  lightgcnGradient(args: object): Promise<RawLoss & { grad: Float32Array }>;
  lightgcnGradientSync(args: object): RawLoss & { grad: Float32Array };
  lightgcnForward(args: object): Promise<{ final: Float32Array }>;
  lightgcnForwardSync(args: object): { final: Float32Array };
  itemKnnNeighbors(args: object): Promise<RawItemNeighbors>;
  itemKnnNeighborsSync(args: object): RawItemNeighbors;
  itemKnnScore(args: object): Promise<{ scores: Float32Array }>;
  itemKnnScoreSync(args: object): { scores: Float32Array };
  foldInPairwise(args: object): Promise<RawLoss & { users: Float32Array }>;
  foldInPairwiseSync(args: object): RawLoss & { users: Float32Array };
  foldInRidge(args: object): Promise<{ users: Float32Array; userBias: Float32Array }>;
  foldInRidgeSync(args: object): { users: Float32Array; userBias: Float32Array };
  /** Benchmarks only: one multi-threaded read of every value (the memory-bandwidth floor). */
  readOnlyPassSync(args: { data: Float32Array }): number;
  // native/napi/logistic_ops.cc
  logisticFitSync(args: object): RawLogisticFitResult;
  logisticFit(args: object): Promise<RawLogisticFitResult>;
  // native/napi/sequential_ops.cc: the sequential recommenders' transformer; typed in ts/models/transformer.ts.
  transformerEpoch(args: object): Promise<RawLoss & { step: number; device: 'cpu' | 'cuda' }>;
  transformerEpochSync(args: object): RawLoss & { step: number; device: 'cpu' | 'cuda' };
  transformerGradient(args: object): Promise<RawLoss & { grad: Float32Array; device: 'cpu' | 'cuda' }>;
  transformerGradientSync(args: object): RawLoss & { grad: Float32Array; device: 'cpu' | 'cuda' };
  transformerEncode(args: object): Promise<{ encoded: Float32Array; device: 'cpu' | 'cuda' }>;
  transformerEncodeSync(args: object): { encoded: Float32Array; device: 'cpu' | 'cuda' };
}

export interface RawLoss {
  /** Mean training loss of the epoch (or of the given samples). */
  loss: number;
}

export interface RawTriples {
  users: Int32Array;
  pos: Int32Array;
  neg: Int32Array;
}

export interface RawPointSamples {
  users: Int32Array;
  items: Int32Array;
  labels: Float32Array;
}

export interface RawLightFmRepresentations {
  userRepr: Float32Array;
  itemRepr: Float32Array;
  itemBias: Float32Array;
}

export interface RawItemNeighbors {
  indptr: Int32Array;
  indices: Int32Array;
  similarity: Float32Array;
}

/** Where the addon is looked for: SEMREC_ADDON_PATH, else build/Release/semrec.node in the package. */
export const addonPath = process.env.SEMREC_ADDON_PATH ?? path.join(__dirname, '..', '..', 'build', 'Release', 'semrec.node');

let loaded: RawAddon | undefined;

export function addon(): RawAddon {
  if (loaded) return loaded;
  let raw: RawAddon;
  preferSleepingOpenMpThreads();
  try {
    raw = require(addonPath) as RawAddon;
  } catch (cause) {
    throw new SemrecError(
      `semrec's native addon could not be loaded from ${addonPath}: ${(cause as Error).message}. ` +
        'Build it with `npm run build` (needs a C++17 compiler; with nvcc on the PATH the CUDA kernels are built too).',
      'ERR_ADDON_NOT_BUILT',
      { cause },
    );
  }
  raw.init({ errorClass: SemrecError });
  const threads = process.env.SEMREC_NUM_THREADS;
  if (threads !== undefined) raw.setNumThreads(Number(threads));
  loaded = raw;
  return raw;
}
