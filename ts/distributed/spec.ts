/**
 * What a batch is: a spec written once at submission (to Redis and, beside the output, to
 * `<out>.batch/batch.json`), cut into shards that are BullMQ jobs. A shard's job carries only what a
 * worker needs for that shard, so workers never read the spec itself; the submitter, `batch status` and
 * `batch resume` do.
 */
import { randomBytes } from 'node:crypto';

import type { RecommendationsManifest } from '../models/batch';
import type { ProgressCallback } from '../progress';

export const BATCH_FORMAT = 'semrec-batch';
/** Bumped when the spec or a shard file changes shape; other versions are refused. */
export const BATCH_FORMAT_VERSION = 1;

export const BATCH_KINDS = ['recommend', 'embed', 'eval'] as const;
export type BatchKindName = (typeof BATCH_KINDS)[number];

/** The BullMQ queue every worker listens on unless told otherwise (--queue). */
export const DEFAULT_QUEUE = 'semrec-batch';
/**
 * Tries per shard before it is failed for good. Three: a shard that failed on three tries (spread over
 * workers by the backoff) fails for a reason a further retry will not fix.
 */
export const DEFAULT_ATTEMPTS = 3;
/** First retry delay; BullMQ's exponential backoff doubles it per try (2 s, 4 s, ...). */
export const DEFAULT_BACKOFF_MS = 2000;

export interface BatchCommon {
  format: typeof BATCH_FORMAT;
  version: number;
  id: string;
  kind: BatchKindName;
  queue: string;
  createdAt: string;
  /** Absolute path of the result (a directory for recommend, a file for embed and eval). */
  out: string;
  /** Absolute path of the batch's own files (spec, shard inputs and intermediate results): `<out>.batch`. */
  workDir: string;
  numShards: number;
  attempts: number;
  backoffMs: number;
  /** The command line that made the batch, for reports. */
  command: string;
}

export interface RecommendBatchSpec extends BatchCommon {
  kind: 'recommend';
  modelDir: string;
  /**
   * The output's manifest with no shards yet, as the writer makes it: the model (name, parameters,
   * training-data fingerprint, the digest of its model.json, which every worker checks), k, sizes.
   */
  header: RecommendationsManifest;
}

export interface EncoderSpec {
  model: string;
  maxLength: number;
  batchSize?: number;
  threads?: number;
  revision?: string;
  offline?: boolean;
  /** Use each worker machine's embedding cache (SEMREC_CACHE_DIR there). */
  cache: boolean;
}

export interface EmbedBatchSpec extends BatchCommon {
  kind: 'embed';
  encoder: EncoderSpec;
  /** Encoder.id at submission: every worker's encoder must give the same vectors. */
  encoderId: string;
  dim: number;
  numTexts: number;
  shardTexts: number;
  /** The header `meta` of the final embedding file. */
  meta: Record<string, unknown>;
}

export interface DatasetSpec {
  format: string;
  path: string;
  /** Digest of the loaded interactions at submission (ts/distributed/inputs.ts). */
  fingerprint: string;
  summary: { name: string; numUsers: number; numItems: number; numInteractions: number };
}

export interface EvalBatchSpec extends BatchCommon {
  kind: 'eval';
  datasets: DatasetSpec[];
  models: string[];
  protocol: string;
  seeds: number[];
  ks: number[];
  sampled: boolean;
  reference: string;
  params: Record<string, object>;
  earlyStopping: boolean;
  /** Whether the users' training and validation items are left out of the full ranking. */
  excludeSeen: boolean;
  threads?: number;
}

export type BatchSpec = RecommendBatchSpec | EmbedBatchSpec | EvalBatchSpec;

/** The data of one shard's BullMQ job. */
export interface ShardJobData {
  batchId: string;
  kind: BatchKindName;
  shard: number;
  /** Kind-specific, self-contained: what the worker needs for this shard only. */
  payload: Record<string, unknown>;
}

/** What a shard's processor gets from the worker running it. */
export interface ShardContext {
  signal: AbortSignal;
  /** Share of the shard done, 0..1 (shown by `batch status`). */
  progress(fraction: number): void;
  onProgress?: ProgressCallback;
}

/** BullMQ job id of a shard: unique per batch and shard, so adding it twice adds it once. */
export function shardJobId(batchId: string, shard: number): string {
  return `${batchId}.${shard}`;
}

/** Shard index from a job id of this batch, or undefined for another batch's job. */
export function shardOfJobId(batchId: string, jobId: string): number | undefined {
  const prefix = `${batchId}.`;
  if (!jobId.startsWith(prefix)) return undefined;
  const shard = Number(jobId.slice(prefix.length));
  return Number.isInteger(shard) && shard >= 0 ? shard : undefined;
}

/** A fresh batch id: kind, UTC time and a random tag (sortable, and safe in file names and job ids). */
export function newBatchId(kind: BatchKindName, now = new Date()): string {
  const stamp = now.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  return `${kind}-${stamp}-${randomBytes(3).toString('hex')}`;
}

/** `<shard>` zero-padded to the width of the largest index, so file names sort in shard order. */
export function shardName(shard: number, numShards: number): string {
  return String(shard).padStart(Math.max(5, String(numShards - 1).length), '0');
}
