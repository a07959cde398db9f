/**
 * A batch worker: a BullMQ worker on the batch queue that runs shards of any kind, on any machine that
 * reaches Redis and sees the paths the jobs name (model dirs, datasets, the output's work dir).
 *
 * - Each shard's output is written atomically and only then marked done, so a worker killed at any
 *   moment leaves either a whole shard or none; BullMQ's stalled-job check (a lock the worker renews
 *   every lockMs / 2) gives the shard of a dead worker to another one.
 * - A failing shard is retried with exponential backoff (the job's attempts); an error no retry can fix
 *   (an input changed since submission, invalid parameters) fails it at once.
 * - close() stops taking shards, lets running ones finish for a grace period, then releases them back
 *   to the queue (moved to waiting, no try used) and exits: SIGTERM never loses or half-writes a shard.
 */
import os from 'node:os';

import { UnrecoverableError, WaitingError, Worker, type Job } from 'bullmq';

import { isSemrecError, type ErrorCode } from '../errors';
import type { ProgressCallback } from '../progress';
import { kindOf } from './kinds';
import { BatchQueue } from './queue';
import { WorkerResources } from './resources';
import { DEFAULT_QUEUE, type ShardJobData } from './spec';

/** BullMQ's default lock: a worker that has not renewed its lock for 30 s is taken for dead. */
export const DEFAULT_LOCK_MS = 30_000;
/** BullMQ's default interval of the stalled-job check. */
export const DEFAULT_STALLED_INTERVAL_MS = 30_000;
/**
 * Times a shard may lose its worker mid-run and be handed to another. Two: a shard whose worker died
 * twice is tried once more; a third death fails it, so a shard that itself kills workers (out of
 * memory) cannot take the whole pool down one machine at a time.
 */
export const DEFAULT_MAX_STALLED = 2;
/** How long close() lets running shards finish before releasing them. */
export const DEFAULT_GRACE_MS = 30_000;
/** Least time between two progress reports of a shard to Redis. */
const PROGRESS_INTERVAL_MS = 500;

/** Errors that no retry can fix: the shard fails at once with them. */
const UNRECOVERABLE: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  'ERR_BATCH_INPUT_CHANGED',
  'ERR_INVALID_PARAMS',
  'ERR_UNKNOWN_MODEL',
  'ERR_MODEL_VERSION',
]);

export interface BatchWorkerOptions {
  redis: string;
  queue?: string;
  /** Shards run at once by this process (default 1; native ops already use every core). */
  concurrency?: number;
  lockMs?: number;
  stalledIntervalMs?: number;
  maxStalledCount?: number;
  /** Name shown by `batch status` (default host:pid). */
  name?: string;
  onEvent?: (event: WorkerEvent) => void;
  /** Progress inside a shard (epochs, encoder batches), for a worker's own display. */
  onProgress?: ProgressCallback;
}

export type WorkerEvent =
  | { type: 'started'; batchId: string; shard: number; attempt: number }
  | { type: 'done'; batchId: string; shard: number; seconds: number }
  | { type: 'failed'; batchId: string; shard: number; error: string; final: boolean }
  | { type: 'released'; batchId: string; shard: number }
  | { type: 'stalled'; jobId: string }
  | { type: 'error'; error: string };

export class BatchWorker {
  private releasing = false;
  private closing: Promise<void> | undefined;

  private constructor(
    readonly worker: Worker<ShardJobData>,
    private readonly queue: BatchQueue,
    private readonly resources: WorkerResources,
    readonly name: string,
  ) {}

  static async start(options: BatchWorkerOptions): Promise<BatchWorker> {
    const queueName = options.queue ?? DEFAULT_QUEUE;
    const queue = await BatchQueue.open(options.redis, queueName);
    const resources = new WorkerResources();
    const name = options.name ?? `${os.hostname()}:${process.pid}`;
    const emit = options.onEvent ?? (() => {});
    let self: BatchWorker | undefined;

    const processor = async (job: Job<ShardJobData>, token?: string, signal?: AbortSignal): Promise<{ seconds: number }> => {
      const { batchId, shard } = job.data;
      const started = performance.now();
      emit({ type: 'started', batchId, shard, attempt: job.attemptsMade + 1 });
      const kind = kindOf(job.data.kind);
      if (!kind) throw new UnrecoverableError(`unknown batch kind '${String(job.data.kind)}' (submitted by another semrec version?)`);
      await queue.markStarted(batchId);
      let lastReport = 0;
      const abort = new AbortController();
      const stop = () => abort.abort(signal?.reason);
      if (signal?.aborted) stop();
      signal?.addEventListener('abort', stop, { once: true });
      try {
        await kind.run(job.data, resources, {
          signal: abort.signal,
          progress: (fraction) => {
            const now = Date.now();
            if (now - lastReport < PROGRESS_INTERVAL_MS) return;
            lastReport = now;
            job.updateProgress(Math.round(fraction * 1000) / 1000).catch(() => {}); // progress is advisory
          },
          onProgress: options.onProgress,
        });
      } catch (error) {
        if (self?.releasing && abort.signal.aborted) {
          await job.moveToWait(token);
          emit({ type: 'released', batchId, shard });
          throw new WaitingError();
        }
        const code = isSemrecError(error) ? error.code : undefined;
        const message = isSemrecError(error) ? `${error.message} [${error.code}]` : error instanceof Error ? error.message : String(error);
        const unrecoverable = code !== undefined && UNRECOVERABLE.has(code);
        emit({ type: 'failed', batchId, shard, error: message, final: unrecoverable || job.attemptsMade + 1 >= (job.opts.attempts ?? 1) });
        if (unrecoverable) throw new UnrecoverableError(message);
        throw error instanceof Error ? error : new Error(message);
      } finally {
        signal?.removeEventListener('abort', stop);
      }
      await queue.markDone(batchId, shard);
      const seconds = (performance.now() - started) / 1000;
      emit({ type: 'done', batchId, shard, seconds });
      return { seconds };
    };

    const worker = new Worker<ShardJobData>(queueName, processor, {
      connection: queue.redis,
      name,
      concurrency: options.concurrency ?? 1,
      lockDuration: options.lockMs ?? DEFAULT_LOCK_MS,
      stalledInterval: options.stalledIntervalMs ?? DEFAULT_STALLED_INTERVAL_MS,
      maxStalledCount: options.maxStalledCount ?? DEFAULT_MAX_STALLED,
      autorun: false,
    });
    worker.on('error', (error) => emit({ type: 'error', error: error.message }));
    worker.on('stalled', (jobId) => emit({ type: 'stalled', jobId }));
    self = new BatchWorker(worker, queue, resources, name);
    void worker.run().catch((error: Error) => emit({ type: 'error', error: error.message }));
    await worker.waitUntilReady();
    return self;
  }

  /** Releases running shards now (they go back to the queue without using a try). */
  release(): void {
    this.releasing = true;
    this.worker.cancelAllJobs('the worker is shutting down');
  }

  /**
   * Stops taking shards, lets running ones finish for `graceMs`, releases what still runs, then closes.
   * Calling it again while it runs returns the same promise.
   */
  close(graceMs = DEFAULT_GRACE_MS): Promise<void> {
    this.closing ??= (async () => {
      const timer = setTimeout(() => this.release(), graceMs);
      try {
        await this.worker.close();
      } finally {
        clearTimeout(timer);
      }
      await this.resources.close();
      await this.queue.close();
    })();
    return this.closing;
  }
}
