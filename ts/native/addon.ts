/**
 * Loads the native addon once, hands it SemrecError, and types its raw surface. The only module that
 * touches build/Release/semrec.node; everything else goes through ts/kernels.
 */
import path from 'node:path';

import { SemrecError } from '../errors';

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
  /** Benchmarks only: one multi-threaded read of every value (the memory-bandwidth floor). */
  readOnlyPassSync(args: { data: Float32Array }): number;
  // native/napi/logistic_ops.cc
  logisticFitSync(args: object): RawLogisticFitResult;
  logisticFit(args: object): Promise<RawLogisticFitResult>;
}

/** Where the addon is looked for: SEMREC_ADDON_PATH, else build/Release/semrec.node in the package. */
export const addonPath = process.env.SEMREC_ADDON_PATH ?? path.join(__dirname, '..', '..', 'build', 'Release', 'semrec.node');

let loaded: RawAddon | undefined;

export function addon(): RawAddon {
  if (loaded) return loaded;
  let raw: RawAddon;
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
