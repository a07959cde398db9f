/**
 * `semrec batch`: sharded batch jobs on the Redis queue, run by `semrec worker` processes anywhere.
 *
 *   semrec batch recommend --model-dir m --out recs --k 100 [--shard-users 50000]
 *   semrec batch eval --dataset ml-100k:../shared/datasets/ml-100k --models pop,bpr --seeds 1,2,3 --out grid.md
 *   semrec batch embed --format amazon-reviews --path ... --model use-lite --out items.semb [--shard-texts 2000]
 *   semrec batch status [ID] [--watch] [--json]
 *   semrec batch resume ID|<out> [--detach]
 *   semrec batch cancel ID
 *
 * A submitting command queues the shards, follows them with a progress bar and, when every shard is
 * done, assembles the output. With --detach it only queues; `batch resume` follows and assembles later.
 * Ctrl-C stops the following, never the batch.
 */
import fs from 'node:fs/promises';

import { type Command, Option } from 'commander';

import { DATASET_FORMATS, type DatasetFormat } from '../../data/load';
import { isSemrecError, SemrecError } from '../../errors';
import { DEFAULT_KS, PROTOCOLS } from '../../eval/harness';
import { checkModelName, MODEL_NAMES } from '../../models/registry';
import {
  batchStatus,
  commonSpec,
  completeBatch,
  DEFAULT_POLL_MS,
  findBatch,
  incompleteError,
  prepareWorkDir,
  resumeBatch,
  submitBatch,
  waitForBatch,
  type BatchCommonOptions,
  type BatchStatus,
} from '../../distributed/batch';
import { planEmbedBatch } from '../../distributed/embed';
import { planEvalBatch } from '../../distributed/eval';
import { planRecommendBatch } from '../../distributed/recommend';
import { BatchQueue } from '../../distributed/queue';
import { redisUrl } from '../../distributed/redis';
import { type BatchSpec, DEFAULT_ATTEMPTS, DEFAULT_BACKOFF_MS, DEFAULT_QUEUE } from '../../distributed/spec';
import { DEFAULT_K } from '../../models/base';
import { DEFAULT_SHARD_USERS } from '../../models/batch';
import { DEFAULT_ENCODER, ITEM_MAX_LENGTH } from '../../semantic/encoder';
import { interruptSignal } from '../main';
import { createProgress } from '../progress';
import { integerOption, integers, readParams } from '../model-options';

interface QueueCliOptions {
  redis?: string;
  queue: string;
  json?: boolean;
  pollMs: number;
}

interface SubmitCliOptions extends QueueCliOptions {
  out: string;
  attempts: number;
  backoffMs: number;
  detach?: boolean;
}

function addQueueOptions(command: Command): Command {
  return command
    .option('--redis <url>', 'Redis URL (default: SEMREC_REDIS_URL, else redis://127.0.0.1:6379)')
    .option('--queue <name>', 'the queue the workers listen on', DEFAULT_QUEUE)
    .option('--json', 'print one JSON object on stdout')
    .addOption(new Option('--poll-ms <ms>', 'how often to read the batch state while waiting').argParser(integerOption('--poll-ms', 50)).default(DEFAULT_POLL_MS));
}

function addSubmitOptions(command: Command): Command {
  return addQueueOptions(command)
    .requiredOption('--out <path>', 'where the result goes; the batch keeps its own files in <out>.batch until it completes')
    .option('--attempts <n>', 'tries per shard before it fails for good', integerOption('--attempts', 1), DEFAULT_ATTEMPTS)
    .option('--backoff-ms <ms>', 'delay before the first retry (doubled per retry)', integerOption('--backoff-ms', 0), DEFAULT_BACKOFF_MS)
    .option('--detach', 'queue the shards and exit (follow with batch status, finish with batch resume)');
}

/** ` --redis URL --queue Q` as the user gave them, for the commands a message suggests. */
function queueFlags(options: QueueCliOptions): string {
  return `${options.redis ? ` --redis ${options.redis}` : ''}${options.queue !== DEFAULT_QUEUE ? ` --queue ${options.queue}` : ''}`;
}

function duration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

export function renderStatus(status: BatchStatus): string {
  const s = status.shards;
  const lines = [`batch ${status.id} (${status.kind}) -> ${status.out}: ${status.phase}`];
  lines.push(`shards: ${s.done}/${s.total} done, ${s.running} running, ${s.queued} queued, ${s.failed} failed, ${s.missing} lost`);
  const u = status.units;
  const rate = status.unitsPerSecond !== undefined ? `, ${status.unitsPerSecond.toFixed(status.unitsPerSecond < 10 ? 2 : 0)} ${u.name}/s` : '';
  const eta = status.etaSeconds !== undefined ? `, ETA ${duration(status.etaSeconds)}` : '';
  const elapsed = status.elapsedSeconds !== undefined ? `, elapsed ${duration(status.elapsedSeconds)}` : '';
  lines.push(`${u.name}: ${u.done}/${u.total} done${rate}${eta}${elapsed}`);
  for (const r of status.running) lines.push(`  running shard ${r.shard} (${r.label}): ${Math.round(r.progress * 100)}%${r.worker ? ` on ${r.worker}` : ''}`);
  for (const f of status.failed) lines.push(`  failed shard ${f.shard} (${f.label}) after ${f.attempts} tries: ${f.error}`);
  const notQueued = status.phase === 'cancelled' ? 'not queued (cancelled)' : 'lost';
  for (const m of status.missing) lines.push(`  ${notQueued} shard ${m.shard} (${m.label})`);
  if (status.phase === 'shards-done') lines.push(`every shard is done; semrec batch resume ${status.id} assembles the output if its submitter no longer follows it`);
  if (status.phase === 'incomplete' || status.phase === 'cancelled') lines.push(`semrec batch resume ${status.id} queues the ${status.phase === 'cancelled' ? 'removed' : 'failed and lost'} shards again`);
  return `${lines.join('\n')}\n`;
}

/** Follows a batch to its end and assembles the output; an incomplete batch is an error naming its shards. */
async function follow(queue: BatchQueue, spec: BatchSpec, options: QueueCliOptions, signal: AbortSignal): Promise<void> {
  const progress = createProgress();
  let status: BatchStatus;
  try {
    status = await waitForBatch(queue, spec, { signal, onProgress: progress.onProgress, pollMs: options.pollMs });
  } catch (error) {
    if (isSemrecError(error, 'ERR_ABORTED')) {
      throw new SemrecError(
        `stopped following batch ${spec.id}; it goes on on the workers (semrec batch status ${spec.id}${queueFlags(options)}), ` +
          `and semrec batch resume ${spec.id}${queueFlags(options)} assembles its output`,
        'ERR_ABORTED',
      );
    }
    throw error;
  } finally {
    progress.stop();
  }
  if (status.phase === 'cancelled') throw new SemrecError(`batch ${spec.id} was cancelled; semrec batch resume ${spec.id}${queueFlags(options)} queues it again`, 'ERR_BATCH_INCOMPLETE');
  if (status.phase === 'incomplete') {
    await queue.finish(spec.id, 'incomplete');
    throw incompleteError(status, queueFlags(options));
  }
  const assembling = createProgress();
  try {
    const result = await completeBatch(queue, spec, { signal, onProgress: assembling.onProgress });
    assembling.stop();
    const final = await queue.record(spec.id);
    const done = final ? await batchStatus(queue, final) : status;
    if (options.json) {
      process.stdout.write(`${JSON.stringify({ ...result.summary, batch: { id: spec.id, shards: spec.numShards, seconds: done.elapsedSeconds, unitsPerSecond: done.unitsPerSecond } })}\n`);
    } else {
      process.stdout.write(result.text);
      process.stderr.write(`batch ${spec.id}: ${spec.numShards} shards in ${duration(done.elapsedSeconds ?? 0)}\n`);
    }
  } finally {
    assembling.stop();
  }
}

/** Opens the queue, runs `work`, closes the queue. */
async function withQueue<T>(options: QueueCliOptions, work: (queue: BatchQueue) => Promise<T>): Promise<T> {
  const queue = await BatchQueue.open(redisUrl(options.redis), options.queue);
  try {
    return await work(queue);
  } finally {
    await queue.close();
  }
}

/** Queues a planned batch and follows it (unless --detach). */
async function submitAndFollow(queue: BatchQueue, spec: BatchSpec, options: SubmitCliOptions, signal: AbortSignal): Promise<void> {
  await submitBatch(queue, spec);
  process.stderr.write(`batch ${spec.id}: ${spec.numShards} shards queued on ${spec.queue}\n`);
  if (options.detach) {
    if (options.json) process.stdout.write(`${JSON.stringify({ id: spec.id, shards: spec.numShards, out: spec.out, workDir: spec.workDir })}\n`);
    else process.stdout.write(`${spec.id}\n`);
    return;
  }
  await follow(queue, spec, options, signal);
}

function commonOf(options: SubmitCliOptions, command: string): BatchCommonOptions {
  return { queue: options.queue, attempts: options.attempts, backoffMs: options.backoffMs, command };
}

function list(text: string, flag: string): string[] {
  const values = text.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
  if (values.length === 0) throw new SemrecError(`${flag} must list at least one value`, 'ERR_INVALID_ARG_VALUE');
  return values;
}

interface RecommendCliOptions extends SubmitCliOptions {
  modelDir: string;
  k: number;
  shardUsers: number;
  includeSeen?: boolean;
}

function registerBatchRecommend(batch: Command): void {
  addSubmitOptions(
    batch
      .command('recommend')
      .description("every user's top-k from a saved model, one job per user shard: the files semrec recommend --all-users writes")
      .requiredOption('--model-dir <dir>', 'a saved model, at the same path on every worker')
      .option('--k <n>', 'items per user', integerOption('--k', 1), DEFAULT_K)
      .option('--shard-users <n>', 'users per shard (one job and one file each)', integerOption('--shard-users', 1), DEFAULT_SHARD_USERS)
      .option('--include-seen', "also recommend the users' training items"),
  ).action(async (options: RecommendCliOptions) => {
    const command = `semrec batch recommend --model-dir ${options.modelDir} --k ${options.k} --shard-users ${options.shardUsers}${options.includeSeen ? ' --include-seen' : ''}`;
    const signal = interruptSignal();
    await withQueue(options, async (queue) => {
      const common = commonSpec('recommend', options.out, commonOf(options, command));
      await prepareWorkDir(common);
      let spec;
      try {
        spec = await planRecommendBatch({ modelDir: options.modelDir, k: options.k, shardUsers: options.shardUsers, excludeSeen: !options.includeSeen }, common);
      } catch (error) {
        await fs.rm(common.workDir, { recursive: true, force: true });
        throw error;
      }
      await submitAndFollow(queue, spec, options, signal);
    });
  });
}

interface EvalCliOptions extends SubmitCliOptions {
  dataset: string[];
  format?: string;
  path?: string;
  models: string;
  protocol: string;
  seeds: string;
  ks: string;
  params?: string;
  set: string[];
  sampled?: boolean;
  reference?: string;
  earlyStopping: boolean;
  keepSeen?: boolean;
  threads?: number;
}

/** "ml-100k:../data/ml-100k" -> { format, path } (the path may itself hold colons). */
function parseDataset(text: string): { format: string; path: string } {
  const colon = text.indexOf(':');
  const format = colon > 0 ? text.slice(0, colon) : '';
  if (!(DATASET_FORMATS as readonly string[]).includes(format) || colon === text.length - 1) {
    throw new SemrecError(`--dataset '${text}' must be <format>:<path> with a format of ${DATASET_FORMATS.join(', ')}`, 'ERR_INVALID_ARG_VALUE');
  }
  return { format, path: text.slice(colon + 1) };
}

function registerBatchEval(batch: Command): void {
  addSubmitOptions(
    batch
      .command('eval')
      .description('a grid of datasets x models x seeds, one job per cell, merged into one report (the report of semrec eval per dataset)')
      .option('--dataset <format:path>', 'a dataset (repeatable), e.g. ml-100k:../shared/datasets/ml-100k', (v: string, all: string[]) => [...all, v], [])
      .addOption(new Option('--format <format>', 'dataset format (with --path, for one dataset)').choices([...DATASET_FORMATS]))
      .option('--path <path>', 'dataset folder or file (with --format)')
      .option('--models <list>', `comma-separated models (${MODEL_NAMES.join(', ')})`, 'pop,bpr')
      .option('--protocol <name>', `evaluation protocol (${PROTOCOLS.join(', ')})`, 'ratio-8-1-1')
      .option('--seeds <list>', 'comma-separated seeds: one cell per seed and model', '42')
      .option('--ks <list>', 'cut-offs', DEFAULT_KS.join(','))
      .option('--params <file>', 'hyperparameters, JSON/JSON5: { "bpr": { "lr": 0.01 } }')
      .option('--set <model.param=value>', 'one hyperparameter (repeatable)', (v: string, all: string[]) => [...all, v], [])
      .option('--sampled', 'rank each held-out item against 99 sampled negatives (labelled "sampled")')
      .option('--reference <model>', 'model the paired tests compare against (default: pop, else the first model)')
      .option('--no-early-stopping', 'train the full epochs even when the protocol has a validation part')
      .option('--keep-seen', "rank the user's training and validation items too (RecBole's full ranking of sequential models)")
      .option('--threads <n>', 'CPU threads per cell on the workers (1: bit-reproducible)', integerOption('--threads', 1)),
  ).action(async (options: EvalCliOptions) => {
    const datasets = options.dataset.map(parseDataset);
    if (options.format !== undefined || options.path !== undefined) {
      if (options.format === undefined || options.path === undefined) throw new SemrecError('--format and --path go together', 'ERR_INVALID_ARG_VALUE');
      datasets.push({ format: options.format, path: options.path });
    }
    if (datasets.length === 0) throw new SemrecError('batch eval: give --dataset <format:path> (repeatable) or --format and --path', 'ERR_INVALID_ARG_VALUE');
    const models = list(options.models, '--models').map((m) => checkModelName(m, '--models'));
    const params = await readParams(options.params, options.set);
    const command = [
      'semrec batch eval',
      ...datasets.map((d) => `--dataset ${d.format}:${d.path}`),
      `--models ${models.join(',')}`,
      `--protocol ${options.protocol}`,
      `--seeds ${options.seeds}`,
      ...(options.ks !== DEFAULT_KS.join(',') ? [`--ks ${options.ks}`] : []),
      ...(options.params ? [`--params ${options.params}`] : []),
      ...options.set.map((s) => `--set ${s}`),
      ...(options.sampled ? ['--sampled'] : []),
      ...(options.reference ? [`--reference ${options.reference}`] : []),
      ...(!options.earlyStopping ? ['--no-early-stopping'] : []),
      ...(options.keepSeen ? ['--keep-seen'] : []),
      ...(options.threads !== undefined ? [`--threads ${options.threads}`] : []),
    ].join(' ');
    const signal = interruptSignal();
    await withQueue(options, async (queue) => {
      const common = commonSpec('eval', options.out, commonOf(options, command));
      const progress = createProgress();
      let spec;
      try {
        spec = await planEvalBatch(
          {
            datasets,
            models,
            protocol: options.protocol,
            seeds: integers(options.seeds, '--seeds', 0),
            ks: integers(options.ks, '--ks', 1),
            sampled: options.sampled,
            reference: options.reference !== undefined ? checkModelName(options.reference, '--reference') : undefined,
            params: params as Record<string, object>,
            earlyStopping: options.earlyStopping,
            excludeSeen: !options.keepSeen,
            threads: options.threads,
          },
          common,
          { signal, onProgress: progress.onProgress },
        );
      } finally {
        progress.stop();
      }
      await prepareWorkDir(spec);
      await submitAndFollow(queue, spec, options, signal);
    });
  });
}

interface EmbedCliOptions extends SubmitCliOptions {
  format?: DatasetFormat;
  path?: string;
  texts?: string;
  encoder: string;
  maxLength: number;
  batchSize?: number;
  threads?: number;
  revision?: string;
  offline?: boolean;
  cache: boolean;
  shardTexts: number;
}

/** Texts per shard by default: a few seconds to a minute of encoding on one core, small next to Redis round trips. */
export const DEFAULT_SHARD_TEXTS = 2000;

function registerBatchEmbed(batch: Command): void {
  addSubmitOptions(
    batch
      .command('embed')
      .description("a catalog's texts through a sentence encoder, in shards, into one embedding file")
      .addOption(new Option('--format <format>', "dataset format (with --path: the dataset's item texts)").choices([...DATASET_FORMATS]))
      .option('--path <path>', 'dataset folder or file (with --format)')
      .option('--texts <file>', 'a JSON-lines catalog instead: one { "id": ..., "text": ... } per line')
      .option('--encoder <encoder>', "the sentence encoder: 'use-lite' (offline default), a local model directory, or a Hugging Face repo id", DEFAULT_ENCODER)
      .option('--max-length <n>', 'tokens per text (capped at the model limit)', integerOption('--max-length', 1), ITEM_MAX_LENGTH)
      .option('--batch-size <n>', 'texts per onnxruntime call', integerOption('--batch-size', 1))
      .option('--threads <n>', 'onnxruntime intra-op threads on the workers', integerOption('--threads', 1))
      .option('--revision <rev>', 'hub revision (branch, tag or commit)')
      .option('--offline', 'hub models: use cached files only')
      .option('--no-cache', "do not use the workers' embedding caches")
      .option('--shard-texts <n>', 'texts per shard', integerOption('--shard-texts', 1), DEFAULT_SHARD_TEXTS),
  ).action(async (options: EmbedCliOptions) => {
    if ((options.format === undefined) !== (options.path === undefined)) throw new SemrecError('--format and --path go together', 'ERR_INVALID_ARG_VALUE');
    const command = [
      'semrec batch embed',
      ...(options.texts ? [`--texts ${options.texts}`] : [`--format ${options.format} --path ${options.path}`]),
      `--encoder ${options.encoder}`,
      `--shard-texts ${options.shardTexts}`,
    ].join(' ');
    const signal = interruptSignal();
    await withQueue(options, async (queue) => {
      const common = commonSpec('embed', options.out, commonOf(options, command));
      await prepareWorkDir(common);
      const progress = createProgress();
      let spec;
      try {
        spec = await planEmbedBatch(
          { dataset: options.format !== undefined ? { format: options.format, path: options.path! } : undefined, texts: options.texts },
          {
            model: options.encoder,
            maxLength: options.maxLength,
            batchSize: options.batchSize,
            threads: options.threads,
            revision: options.revision,
            offline: options.offline,
            cache: options.cache,
          },
          options.shardTexts,
          common,
          { signal, onProgress: progress.onProgress },
        );
      } catch (error) {
        await fs.rm(common.workDir, { recursive: true, force: true }); // no half-written shard inputs left behind
        throw error;
      } finally {
        progress.stop();
      }
      await submitAndFollow(queue, spec, options, signal);
    });
  });
}

interface StatusCliOptions extends QueueCliOptions {
  watch?: boolean;
  limit: number;
}

function registerBatchStatus(batch: Command): void {
  addQueueOptions(
    batch
      .command('status [batch]')
      .description('where a batch stands (shards done / running / failed / lost, throughput, ETA); without an id, the recent batches')
      .option('--watch', 'repeat until the batch ends')
      .option('--limit <n>', 'batches listed without an id', integerOption('--limit', 1), 20),
  ).action(async (reference: string | undefined, options: StatusCliOptions) => {
    const signal = interruptSignal();
    await withQueue(options, async (queue) => {
      if (reference === undefined) {
        const rows: BatchStatus[] = [];
        for (const id of await queue.list(options.limit)) {
          const record = await queue.record(id);
          if (record) rows.push(await batchStatus(queue, record));
        }
        if (options.json) {
          process.stdout.write(`${JSON.stringify(rows)}\n`);
        } else if (rows.length === 0) {
          process.stdout.write(`no batches on ${options.queue}\n`);
        } else {
          for (const r of rows) process.stdout.write(`${r.id}  ${r.kind.padEnd(9)} ${r.phase.padEnd(11)} ${r.shards.done}/${r.shards.total} shards  ${r.createdAt}  ${r.out}\n`);
        }
        return;
      }
      const { record } = await findBatch(queue, reference);
      for (;;) {
        const fresh = (await queue.record(record.spec.id)) ?? record;
        const status = await batchStatus(queue, fresh);
        process.stdout.write(options.json ? `${JSON.stringify(status)}\n` : renderStatus(status));
        if (!options.watch || status.phase !== 'running' || signal.aborted) return;
        await new Promise((resolve) => setTimeout(resolve, options.pollMs));
      }
    });
  });
}

function registerBatchResume(batch: Command): void {
  addQueueOptions(
    batch
      .command('resume <batch>')
      .description('queue again the shards of a batch that failed or were lost (outputs on disk are verified and kept), follow it and assemble its output')
      .option('--detach', 'queue the shards and exit'),
  ).action(async (reference: string, options: QueueCliOptions & { detach?: boolean }) => {
    const signal = interruptSignal();
    await withQueue(options, async (queue) => {
      const progress = createProgress();
      let report;
      try {
        report = await resumeBatch(queue, reference, { signal, onProgress: progress.onProgress });
      } finally {
        progress.stop();
      }
      const { spec } = report;
      process.stderr.write(
        `batch ${spec.id}${report.fromDisk ? ' (record restored from its work dir)' : ''}: ` +
          `${report.requeued.length} shards queued again${report.requeued.length ? ` (${report.requeued.join(', ')})` : ''}` +
          `${report.recovered.length ? `, ${report.recovered.length} found done on disk` : ''}\n`,
      );
      if (options.detach) return;
      await follow(queue, spec, options, signal);
    });
  });
}

function registerBatchCancel(batch: Command): void {
  addQueueOptions(
    batch.command('cancel <batch>').description('remove the queued and failed shards of a batch (running ones finish); batch resume queues them again'),
  ).action(async (reference: string, options: QueueCliOptions) => {
    await withQueue(options, async (queue) => {
      const { record } = await findBatch(queue, reference);
      const status = await batchStatus(queue, record);
      const states = await queue.shardStates(record.spec);
      const removed = [...states.queued, ...states.failed.map((f) => f.shard)].sort((a, b) => a - b);
      await queue.removeJobs(record.spec.id, removed);
      if (status.phase !== 'complete') await queue.finish(record.spec.id, 'cancelled');
      const summary = { id: record.spec.id, removed: removed.length, running: states.running.length };
      process.stdout.write(options.json ? `${JSON.stringify(summary)}\n` : `batch ${summary.id}: ${summary.removed} shards removed from the queue, ${summary.running} still running\n`);
    });
  });
}

export function registerBatch(program: Command): void {
  const batch = program
    .command('batch')
    .description('sharded batch jobs on a Redis queue (BullMQ), run by `semrec worker` processes on any number of machines');
  registerBatchRecommend(batch);
  registerBatchEval(batch);
  registerBatchEmbed(batch);
  registerBatchStatus(batch);
  registerBatchResume(batch);
  registerBatchCancel(batch);
}
