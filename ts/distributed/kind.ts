/**
 * What each kind of batch (recommend, embed, eval) supplies to the shared machinery: how its shards are
 * described, what a worker does for one, how a finished shard is verified, and how the shards become
 * the final output.
 */
import { z } from 'zod';

import { SemrecError } from '../errors';
import type { LongRunningOptions } from '../progress';
import type { WorkerResources } from './resources';
import type { BatchSpec, ShardContext, ShardJobData } from './spec';

export interface BatchResult {
  /** What the submitting terminal prints (a report, a summary line). */
  text: string;
  /** The same as one JSON object (--json, `batch status`). */
  summary: Record<string, unknown>;
}

export interface BatchKind<S extends BatchSpec = BatchSpec> {
  /** What a shard's units are: 'users', 'texts', 'cells'. */
  readonly unit: string;
  units(spec: S, shard: number): number;
  /** A shard in words, for status and errors ("users 50000-99999"). */
  label(spec: S, shard: number): string;
  /** The job data a worker needs for one shard (self-contained; small). */
  payload(spec: S, shard: number): Record<string, unknown>;
  /** Runs one shard on a worker and writes its output atomically; re-running writes the same bytes. */
  run(job: ShardJobData, resources: WorkerResources, context: ShardContext): Promise<void>;
  /** Whether shard's output is on disk, whole and of this batch. */
  verify(spec: S, shard: number): Promise<boolean>;
  /** Builds the final output from every shard's output (all verified). */
  finalize(spec: S, options: LongRunningOptions): Promise<BatchResult>;
}

/** Parses a job's payload with a zod schema; a malformed payload is a coded error naming the shard. */
export function parsePayload<T extends z.ZodType>(schema: T, job: ShardJobData): z.output<T> {
  const result = schema.safeParse(job.payload);
  if (result.success) return result.data;
  const problems = result.error.issues.map((i) => `${i.path.join('.') || 'payload'}: ${i.message}`).join('; ');
  throw new SemrecError(
    `shard ${job.shard} of batch ${job.batchId} carries a malformed job (${problems}); was it submitted by another semrec version?`,
    'ERR_INVALID_ARG_VALUE',
  );
}

export { z };
