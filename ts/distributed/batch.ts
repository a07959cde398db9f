/**
 * Submitting, following, resuming and completing batches (the submitter's side; workers are in
 * ./worker.ts).
 *
 * A batch is done when every shard's output is written and verified; the submitter (or whoever runs
 * `batch resume`) then assembles the final output. A shard that failed on every try, or that Redis lost,
 * leaves the batch incomplete: the submitter waits until nothing is left running, then reports exactly
 * those shards (ERR_BATCH_INCOMPLETE), and `batch resume` runs them again. Shards are idempotent, so
 * running one twice is harmless; the final output is assembled only from verified shard files.
 */
import fs from 'node:fs/promises';
import path from 'node:path';

import { SemrecError } from '../errors';
import { throwIfAborted, type LongRunningOptions } from '../progress';
import { readCheckedJson, writeCheckedJson } from './checked-file';
import type { BatchResult } from './kind';
import { kindOf } from './kinds';
import type { BatchQueue, BatchRecord, RunningShard, ShardFailure } from './queue';
import {
  BATCH_FORMAT,
  BATCH_FORMAT_VERSION,
  type BatchCommon,
  type BatchKindName,
  type BatchSpec,
  DEFAULT_ATTEMPTS,
  DEFAULT_BACKOFF_MS,
  DEFAULT_QUEUE,
  newBatchId,
} from './spec';

const SPEC_FILE = 'batch.json';
const SPEC_KIND = 'batch-spec';
/** How often the submitter reads the batch's state while it waits. */
export const DEFAULT_POLL_MS = 1000;
/** Completions within this window give the current throughput (older ones, the average). */
const THROUGHPUT_WINDOW_MS = 60_000;
/** Longest time between two full reads of a followed batch's state (each costs O(shards) Redis commands). */
const FULL_STATUS_MS = 5000;
/** A shard seen in no state on this many consecutive polls is reported lost (one poll could race a restart). */
const MISSING_POLLS = 2;

export interface BatchCommonOptions {
  queue?: string;
  attempts?: number;
  backoffMs?: number;
  command: string;
}

/** The fields every spec shares, for a new batch writing to `out`. */
export function commonSpec(kind: BatchKindName, out: string, options: BatchCommonOptions): BatchCommon {
  const absolute = path.resolve(out);
  const attempts = options.attempts ?? DEFAULT_ATTEMPTS;
  const backoffMs = options.backoffMs ?? DEFAULT_BACKOFF_MS;
  if (!Number.isInteger(attempts) || attempts < 1) throw new SemrecError(`--attempts must be a positive integer, got ${attempts}`, 'ERR_INVALID_ARG_VALUE');
  if (!Number.isInteger(backoffMs) || backoffMs < 0) throw new SemrecError(`--backoff-ms must be a non-negative integer, got ${backoffMs}`, 'ERR_INVALID_ARG_VALUE');
  return {
    format: BATCH_FORMAT,
    version: BATCH_FORMAT_VERSION,
    id: newBatchId(kind),
    kind,
    queue: options.queue ?? DEFAULT_QUEUE,
    createdAt: new Date().toISOString(),
    out: absolute,
    workDir: `${absolute}.batch`,
    numShards: 0,
    attempts,
    backoffMs,
    command: options.command,
  };
}

/** Prepares the work dir of a new batch: it must not hold another batch's files. */
export async function prepareWorkDir(common: BatchCommon): Promise<void> {
  const existing = await readCheckedJson<BatchSpec>(path.join(common.workDir, SPEC_FILE), SPEC_KIND).catch(() => undefined);
  if (existing) {
    throw new SemrecError(
      `${common.workDir} belongs to batch ${existing.id}, which has not completed; resume it (semrec batch resume ${existing.id}) or remove the folder`,
      'ERR_INVALID_ARG_VALUE',
    );
  }
  await fs.mkdir(common.workDir, { recursive: true });
}

/** Writes the spec beside the output, records the batch in Redis and queues every shard. */
export async function submitBatch(queue: BatchQueue, spec: BatchSpec): Promise<void> {
  const kind = requireKind(spec);
  if (spec.queue !== queue.name) throw new SemrecError(`batch ${spec.id} belongs to queue ${spec.queue}, not ${queue.name}`, 'ERR_INVALID_ARG_VALUE');
  await writeCheckedJson(path.join(spec.workDir, SPEC_FILE), SPEC_KIND, spec);
  await queue.register(spec);
  await queue.addShards(spec, Array.from({ length: spec.numShards }, (_, s) => s), (s) => kind.payload(spec, s));
}

function requireKind(spec: BatchSpec) {
  const kind = kindOf(spec.kind);
  if (!kind) throw new SemrecError(`batch ${spec.id} is of kind '${spec.kind}', which this semrec does not know`, 'ERR_BATCH_NOT_FOUND');
  return kind;
}

export type BatchPhase =
  /** Shards are queued or running. */
  | 'running'
  /** Every shard is done; the final output is not assembled yet (the submitter or `batch resume` does it). */
  | 'shards-done'
  /** Nothing runs, and shards failed for good or were lost: `batch resume` runs them again. */
  | 'incomplete'
  /** The final output is written. */
  | 'complete'
  /** Its queued shards were removed (`batch cancel`); `batch resume` queues them again. */
  | 'cancelled';

export interface BatchStatus {
  id: string;
  kind: BatchKindName;
  phase: BatchPhase;
  out: string;
  createdAt: string;
  shards: { total: number; done: number; running: number; queued: number; failed: number; missing: number };
  units: { name: string; done: number; total: number };
  running: (RunningShard & { label: string })[];
  failed: (ShardFailure & { label: string })[];
  missing: { shard: number; label: string }[];
  /** Seconds since the first shard started (until the last finished, once complete). */
  elapsedSeconds?: number;
  unitsPerSecond?: number;
  etaSeconds?: number;
  result?: Record<string, unknown>;
}

/** Where a batch stands: shards by state, throughput and an estimate of the time left. */
export async function batchStatus(queue: BatchQueue, record: BatchRecord): Promise<BatchStatus> {
  const { spec } = record;
  const kind = requireKind(spec);
  const states = await queue.shardStates(spec);
  let unitsTotal = 0;
  for (let s = 0; s < spec.numShards; s++) unitsTotal += kind.units(spec, s);
  let unitsDone = 0;
  let lastDone = 0;
  for (const [s, at] of states.done) {
    unitsDone += kind.units(spec, s);
    lastDone = Math.max(lastDone, at);
  }
  const complete = record.state === 'complete';
  const done = complete ? spec.numShards : states.done.size;
  const pending = states.running.length + states.queued.length;
  const phase: BatchPhase = complete
    ? 'complete'
    : done === spec.numShards
      ? 'shards-done'
      : record.state === 'cancelled'
        ? 'cancelled'
        : pending === 0
          ? 'incomplete'
          : 'running';
  const status: BatchStatus = {
    id: spec.id,
    kind: spec.kind,
    phase,
    out: spec.out,
    createdAt: spec.createdAt,
    shards: {
      total: spec.numShards,
      done,
      running: states.running.length,
      queued: states.queued.length,
      failed: states.failed.length,
      missing: states.missing.length,
    },
    units: { name: kind.unit, done: complete ? unitsTotal : unitsDone, total: unitsTotal },
    running: states.running.map((r) => ({ ...r, label: kind.label(spec, r.shard) })).sort((a, b) => a.shard - b.shard),
    failed: states.failed.map((f) => ({ ...f, label: kind.label(spec, f.shard) })).sort((a, b) => a.shard - b.shard),
    missing: states.missing.map((shard) => ({ shard, label: kind.label(spec, shard) })),
    ...(record.result ? { result: record.result } : {}),
  };
  if (record.startedAt !== undefined) {
    const now = Date.now();
    const end = complete && record.finishedAt ? record.finishedAt : phase === 'running' ? now : Math.max(lastDone, record.startedAt);
    status.elapsedSeconds = Math.max(0, (end - record.startedAt) / 1000);
    if (!complete && unitsDone > 0) {
      // Recent completions tell the current rate (workers come and go); the whole run's average otherwise.
      const since = Math.max(record.startedAt, now - THROUGHPUT_WINDOW_MS);
      let recentUnits = 0;
      let recent = 0;
      for (const [s, at] of states.done) {
        if (at >= since) {
          recentUnits += kind.units(spec, s);
          recent++;
        }
      }
      const rate = recent >= 3 && now > since ? (recentUnits * 1000) / (now - since) : status.elapsedSeconds > 0 ? unitsDone / status.elapsedSeconds : undefined;
      if (rate !== undefined && rate > 0) {
        status.unitsPerSecond = rate;
        if (phase === 'running') status.etaSeconds = (unitsTotal - unitsDone) / rate;
      }
    } else if (complete && status.elapsedSeconds > 0) {
      status.unitsPerSecond = unitsTotal / status.elapsedSeconds;
    }
  }
  return status;
}

/** The batch's record: from Redis, else (when `reference` is a work dir or its batch.json) from disk. */
export async function findBatch(queue: BatchQueue, reference: string): Promise<{ record: BatchRecord; fromDisk: boolean }> {
  const inRedis = /^[a-z]+-\d{8}T\d{6}Z-[0-9a-f]{6}$/.test(reference) ? await queue.record(reference) : undefined;
  if (inRedis) return { record: inRedis, fromDisk: false };
  const candidates = reference.endsWith('.json') ? [reference] : [path.join(reference, SPEC_FILE), path.join(`${reference}.batch`, SPEC_FILE)];
  for (const file of candidates) {
    const spec = await readCheckedJson<BatchSpec>(path.resolve(file), SPEC_KIND).catch((error: unknown) => {
      if (error instanceof SemrecError) throw error;
      return undefined;
    });
    if (spec) {
      const again = await queue.record(spec.id);
      return again ? { record: again, fromDisk: false } : { record: { spec, state: 'running' }, fromDisk: true };
    }
  }
  throw new SemrecError(
    `no batch '${reference}' in Redis (${queue.name} at this URL), and no ${SPEC_FILE} there; ` +
      'pass the batch id, or the output path or work dir (<out>.batch) of a batch whose record Redis lost',
    'ERR_BATCH_NOT_FOUND',
  );
}

export interface WaitOptions extends LongRunningOptions {
  pollMs?: number;
  /** Called with each poll's status (for a live display). */
  onStatus?: (status: BatchStatus) => void;
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

/**
 * Follows a batch until no shard is queued or running: every shard done (phase 'shards-done' or
 * 'complete'), or some failed for good or lost ('incomplete'). Ctrl-C (the signal) stops the waiting
 * only; the batch goes on on the workers.
 */
export async function waitForBatch(queue: BatchQueue, spec: BatchSpec, options: WaitOptions = {}): Promise<BatchStatus> {
  const { id } = spec;
  let missingPolls = 0;
  let lastFull = -Infinity;
  for (;;) {
    throwIfAborted(options.signal, `waiting for batch ${id}`);
    // A full status costs O(shards) Redis commands; between full ones a poll costs three, and a full one
    // is read at once when the cheap one says the batch may have ended.
    const cheap = await queue.progress(id);
    if (!cheap.exists) {
      throw new SemrecError(
        `batch ${id} is no longer in Redis (restarted without persistence?); resume it from its work dir: semrec batch resume ${spec.out}`,
        'ERR_BATCH_NOT_FOUND',
      );
    }
    const mayHaveEnded = cheap.done >= spec.numShards || cheap.pendingInQueue === 0 || cheap.state !== 'running';
    if (mayHaveEnded || missingPolls > 0 || Date.now() - lastFull >= FULL_STATUS_MS) {
      lastFull = Date.now();
      const record = await queue.record(id);
      if (!record) continue; // gone between the two reads: the check above reports it
      const status = await batchStatus(queue, record);
      options.onStatus?.(status);
      options.onProgress?.({ phase: `batch ${id}`, done: status.shards.done, total: status.shards.total, unit: 'shards' });
      if (status.phase === 'complete' || status.phase === 'shards-done' || status.phase === 'cancelled') return status;
      if (status.phase === 'incomplete') {
        if (status.shards.failed > 0 || ++missingPolls >= MISSING_POLLS) return status;
      } else {
        missingPolls = 0;
      }
    } else {
      options.onProgress?.({ phase: `batch ${id}`, done: cheap.done, total: spec.numShards, unit: 'shards' });
    }
    await sleep(options.pollMs ?? DEFAULT_POLL_MS, options.signal);
  }
}

/** The error of an incomplete batch: which shards failed (with their errors) or were lost, and how to go on. */
export function incompleteError(status: BatchStatus, redisFlag: string): SemrecError {
  const lines = [
    `batch ${status.id} is incomplete: ${status.shards.done} of ${status.shards.total} shards done, ` +
      `${status.shards.failed} failed on every try, ${status.shards.missing} lost by Redis`,
  ];
  for (const f of status.failed.slice(0, 10)) lines.push(`  shard ${f.shard} (${f.label}) failed after ${f.attempts} tries: ${f.error}`);
  if (status.failed.length > 10) lines.push(`  ... and ${status.failed.length - 10} more failed shards`);
  if (status.missing.length > 0) lines.push(`  lost shards: ${status.missing.map((m) => m.shard).join(', ')}`);
  lines.push(`resubmit them with: semrec batch resume ${status.id}${redisFlag}`);
  return new SemrecError(lines.join('\n'), 'ERR_BATCH_INCOMPLETE');
}

/**
 * Assembles the final output of a batch whose shards are all done, records it as complete and removes
 * the work dir. A batch already complete returns its recorded result.
 */
export async function completeBatch(queue: BatchQueue, spec: BatchSpec, options: LongRunningOptions = {}): Promise<BatchResult> {
  const record = await queue.record(spec.id);
  if (record?.state === 'complete' && record.result) {
    return { text: typeof record.result.text === 'string' ? record.result.text : '', summary: record.result.summary as Record<string, unknown> };
  }
  const result = await requireKind(spec).finalize(spec, options);
  await queue.finish(spec.id, 'complete', { text: result.text, summary: result.summary });
  await fs.rm(spec.workDir, { recursive: true, force: true });
  return result;
}

export interface ResumeReport {
  spec: BatchSpec;
  /** Shards queued again (failed, lost, or with a missing or damaged output). */
  requeued: number[];
  /** Shards whose output was on disk and whole though Redis did not count them done. */
  recovered: number[];
  /** Whether the batch's record came from its work dir (Redis had lost it). */
  fromDisk: boolean;
}

/**
 * Puts a batch back on its way: re-registers it when Redis lost it, counts as done every shard whose
 * output verifies on disk, and queues again every other shard that is neither queued nor running
 * (failed ones get a fresh set of tries). Verifying reads every shard's output once.
 */
export async function resumeBatch(queue: BatchQueue, reference: string, options: LongRunningOptions = {}): Promise<ResumeReport> {
  const { record, fromDisk } = await findBatch(queue, reference);
  const { spec } = record;
  const kind = requireKind(spec);
  if (spec.queue !== queue.name) throw new SemrecError(`batch ${spec.id} belongs to queue ${spec.queue}; pass --queue ${spec.queue}`, 'ERR_INVALID_ARG_VALUE');
  if (record.state === 'complete') return { spec, requeued: [], recovered: [], fromDisk };
  await queue.register(spec);
  const states = await queue.shardStates(spec);
  const busy = new Set<number>([...states.running.map((r) => r.shard), ...states.queued]);
  const failed = new Set(states.failed.map((f) => f.shard));
  const requeue: number[] = [];
  const recovered: number[] = [];
  for (let shard = 0; shard < spec.numShards; shard++) {
    throwIfAborted(options.signal, 'batch resume');
    options.onProgress?.({ phase: 'verifying shard outputs', done: shard, total: spec.numShards, unit: 'shards' });
    if (busy.has(shard)) continue;
    const whole = await kind.verify(spec, shard);
    if (whole) {
      if (!states.done.has(shard)) {
        await queue.markDone(spec.id, shard);
        recovered.push(shard);
      }
      continue;
    }
    if (states.done.has(shard)) await queue.redis.zrem(queue.key(`batch:${spec.id}:done`), String(shard));
    requeue.push(shard);
  }
  options.onProgress?.({ phase: 'verifying shard outputs', done: spec.numShards, total: spec.numShards, unit: 'shards' });
  await queue.removeJobs(spec.id, requeue.filter((s) => failed.has(s)));
  await queue.addShards(spec, requeue, (s) => kind.payload(spec, s));
  return { spec, requeued: requeue, recovered, fromDisk };
}
