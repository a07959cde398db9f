/**
 * The batch queue in Redis: BullMQ's queue of shard jobs, plus semrec's own small record per batch.
 *
 * Keys (all under `semrec:<queue>:`):
 *   batches               sorted set of batch ids by submission time
 *   batch:<id>            hash: spec (JSON), state, startedAt, finishedAt, result (JSON)
 *   batch:<id>:done       sorted set: shard -> time (ms) its output was written and verified
 * BullMQ keeps the jobs themselves (`bull:<queue>:...`): waiting, delayed, active (with the worker's lock
 * and progress) and failed (with the error). A shard's state is read from both: done comes from the done
 * set, everything else from BullMQ, and a shard in neither was lost (Redis restarted without it).
 */
import os from 'node:os';

import { Queue, type JobsOptions } from 'bullmq';
import type { Redis } from 'ioredis';

import { SemrecError } from '../errors';
import { closeRedis, connectRedis } from './redis';
import { type BatchSpec, BATCH_FORMAT, BATCH_FORMAT_VERSION, shardJobId, shardOfJobId, type ShardJobData } from './spec';

/** How long a finished batch's record stays in Redis for `batch status` (7 days). */
export const FINISHED_BATCH_TTL_S = 7 * 24 * 3600;
/** Jobs added per Redis round trip at submission. */
const ADD_CHUNK = 500;

export type BatchState = 'running' | 'complete' | 'incomplete' | 'cancelled';

export interface BatchRecord {
  spec: BatchSpec;
  state: BatchState;
  /** When the first shard started (ms since the epoch). */
  startedAt?: number;
  finishedAt?: number;
  result?: Record<string, unknown>;
}

export interface ShardFailure {
  shard: number;
  error: string;
  attempts: number;
}

export interface RunningShard {
  shard: number;
  worker?: string;
  /** Share done, 0..1, as the worker reported it. */
  progress: number;
  startedAt?: number;
}

/** Where every shard of a batch stands, read in one pass. */
export interface ShardStates {
  done: Map<number, number>;
  running: RunningShard[];
  /** Waiting for a worker, or waiting out a retry's backoff. */
  queued: number[];
  /** Failed on every try (the error of the last). */
  failed: ShardFailure[];
  /** In no state at all: Redis lost them (restarted without persistence, or lost its last writes). */
  missing: number[];
}

export class BatchQueue {
  private constructor(
    readonly redis: Redis,
    readonly queue: Queue,
    readonly name: string,
    readonly url: string,
  ) {}

  static async open(url: string, name: string): Promise<BatchQueue> {
    const redis = await connectRedis(url, { connectionName: `semrec:${os.hostname()}:${process.pid}` });
    const queue = new Queue(name, { connection: redis });
    queue.on('error', () => {}); // connection errors while Redis restarts: the client reconnects by itself
    return new BatchQueue(redis, queue, name, url);
  }

  async close(): Promise<void> {
    await this.queue.close().catch(() => {});
    await closeRedis(this.redis);
  }

  key(part: string): string {
    return `semrec:${this.name}:${part}`;
  }

  /** Records the batch (idempotent: re-registering keeps its done set). */
  async register(spec: BatchSpec): Promise<void> {
    const at = Date.parse(spec.createdAt);
    await this.redis
      .multi()
      .hset(this.key(`batch:${spec.id}`), 'spec', JSON.stringify(spec), 'state', 'running')
      .hdel(this.key(`batch:${spec.id}`), 'finishedAt', 'result')
      .persist(this.key(`batch:${spec.id}`))
      .persist(this.key(`batch:${spec.id}:done`))
      .zadd(this.key('batches'), at, spec.id)
      .exec();
  }

  async record(id: string): Promise<BatchRecord | undefined> {
    const fields = await this.redis.hgetall(this.key(`batch:${id}`));
    if (!fields.spec) return undefined;
    const spec = JSON.parse(fields.spec) as BatchSpec;
    if (spec.format !== BATCH_FORMAT || spec.version !== BATCH_FORMAT_VERSION) {
      throw new SemrecError(`batch ${id} was submitted by a semrec with batch format ${spec.version}; this one reads ${BATCH_FORMAT_VERSION}`, 'ERR_BATCH_NOT_FOUND');
    }
    return {
      spec,
      state: (fields.state as BatchState) ?? 'running',
      startedAt: fields.startedAt ? Number(fields.startedAt) : undefined,
      finishedAt: fields.finishedAt ? Number(fields.finishedAt) : undefined,
      result: fields.result ? (JSON.parse(fields.result) as Record<string, unknown>) : undefined,
    };
  }

  /** Batch ids, newest first. */
  async list(limit = 20): Promise<string[]> {
    return this.redis.zrevrange(this.key('batches'), 0, limit - 1);
  }

  /** Adds the jobs of `shards` (a job already in the queue under its id is left as it is). */
  async addShards(spec: BatchSpec, shards: number[], payload: (shard: number) => Record<string, unknown>): Promise<void> {
    const opts: JobsOptions = {
      attempts: spec.attempts,
      backoff: { type: 'exponential', delay: spec.backoffMs },
      // Completion is recorded in the done set before the job finishes; BullMQ's copy is not needed.
      removeOnComplete: true,
      // Failed jobs stay (with their error) until `batch resume` replaces them.
      removeOnFail: false,
    };
    for (let start = 0; start < shards.length; start += ADD_CHUNK) {
      await this.queue.addBulk(
        shards.slice(start, start + ADD_CHUNK).map((shard) => ({
          name: spec.kind,
          data: { batchId: spec.id, kind: spec.kind, shard, payload: payload(shard) } satisfies ShardJobData,
          opts: { ...opts, jobId: shardJobId(spec.id, shard) },
        })),
      );
    }
  }

  /** Removes the (failed) jobs of `shards` so they can be added afresh with a full set of tries. */
  async removeJobs(batchId: string, shards: number[]): Promise<void> {
    for (const shard of shards) await this.queue.remove(shardJobId(batchId, shard));
  }

  /** Called by a worker when a shard's output is written: the one place a shard becomes done. */
  async markDone(batchId: string, shard: number): Promise<void> {
    await this.redis.zadd(this.key(`batch:${batchId}:done`), Date.now(), String(shard));
  }

  /** Called by a worker when it starts a shard; the first call stamps the batch's start time. */
  async markStarted(batchId: string): Promise<void> {
    await this.redis.hsetnx(this.key(`batch:${batchId}`), 'startedAt', String(Date.now()));
  }

  /**
   * What a follower needs between full status reads, in three commands: whether the batch is still in
   * Redis, its state, its done count, and how many jobs of the whole queue are waiting or running.
   */
  async progress(id: string): Promise<{ exists: boolean; state: BatchState; done: number; pendingInQueue: number }> {
    const [[, state], [, done]] = (await this.redis.multi().hget(this.key(`batch:${id}`), 'state').zcard(this.key(`batch:${id}:done`)).exec()) as [
      [Error | null, string | null],
      [Error | null, number],
    ];
    const counts = await this.queue.getJobCounts('wait', 'delayed', 'prioritized', 'active', 'waiting-children');
    const pendingInQueue = Object.values(counts).reduce((a, b) => a + b, 0);
    return { exists: state !== null, state: (state ?? 'running') as BatchState, done, pendingInQueue };
  }

  async finish(id: string, state: Exclude<BatchState, 'running'>, result?: Record<string, unknown>): Promise<void> {
    const multi = this.redis.multi().hset(this.key(`batch:${id}`), 'state', state, 'finishedAt', String(Date.now()));
    if (result) multi.hset(this.key(`batch:${id}`), 'result', JSON.stringify(result));
    if (state === 'complete') {
      multi.expire(this.key(`batch:${id}`), FINISHED_BATCH_TTL_S).expire(this.key(`batch:${id}:done`), FINISHED_BATCH_TTL_S);
    }
    await multi.exec();
  }

  /**
   * Every shard's state. BullMQ's states are read before the done set: a worker marks a shard done before
   * its job leaves BullMQ, so a shard found in no BullMQ state and then not in the done set is truly lost.
   */
  async shardStates(spec: BatchSpec): Promise<ShardStates> {
    const running: RunningShard[] = [];
    for (const job of await this.queue.getActive(0, -1)) {
      const shard = job.id !== undefined ? shardOfJobId(spec.id, job.id) : undefined;
      if (shard === undefined) continue;
      const progress = typeof job.progress === 'number' ? job.progress : 0;
      running.push({ shard, worker: job.processedBy, progress, startedAt: job.processedOn });
    }
    const failed: ShardFailure[] = [];
    for (const id of await this.queue.getRanges(['failed'], 0, -1)) {
      const shard = shardOfJobId(spec.id, id);
      if (shard === undefined) continue;
      const job = await this.queue.getJob(id);
      if (job) failed.push({ shard, error: job.failedReason ?? 'unknown error', attempts: job.attemptsMade });
    }
    const seen = new Set<number>([...running.map((r) => r.shard), ...failed.map((f) => f.shard)]);
    const others: number[] = [];
    for (let shard = 0; shard < spec.numShards; shard++) if (!seen.has(shard)) others.push(shard);
    const exists = new Array<boolean>(others.length).fill(false);
    for (let start = 0; start < others.length; start += ADD_CHUNK) {
      const pipeline = this.redis.pipeline();
      for (const shard of others.slice(start, start + ADD_CHUNK)) pipeline.exists(this.queue.toKey(shardJobId(spec.id, shard)));
      const replies = (await pipeline.exec()) ?? [];
      replies.forEach(([, value], r) => (exists[start + r] = value === 1));
    }
    const done = new Map<number, number>();
    const scored = await this.redis.zrange(this.key(`batch:${spec.id}:done`), 0, -1, 'WITHSCORES');
    for (let r = 0; r < scored.length; r += 2) done.set(Number(scored[r]), Number(scored[r + 1]));
    return {
      done,
      running: running.filter((r) => !done.has(r.shard)),
      failed: failed.filter((f) => !done.has(f.shard)),
      queued: others.filter((shard, r) => exists[r] && !done.has(shard)),
      missing: others.filter((shard, r) => !exists[r] && !done.has(shard)),
    };
  }
}
