/**
 * `semrec worker`: runs shards of batch jobs (recommend, embed, eval) from the Redis queue until stopped.
 * Start one or more on every machine that reaches Redis and sees the paths the batches name.
 *
 *   semrec worker --redis redis://queue-host:6379 [--concurrency 1] [--threads N]
 *
 * SIGTERM or Ctrl-C: stop taking shards, let running ones finish for --grace-ms, release what still
 * runs back to the queue, exit 0. A second signal releases at once.
 */
import type { Command } from 'commander';

import { setNumThreads } from '../../native/device';
import { integerOption } from '../model-options';
import { displayUrl, redisUrl } from '../../distributed/redis';
import { DEFAULT_QUEUE } from '../../distributed/spec';
import {
  BatchWorker,
  DEFAULT_GRACE_MS,
  DEFAULT_LOCK_MS,
  DEFAULT_MAX_STALLED,
  DEFAULT_STALLED_INTERVAL_MS,
  type WorkerEvent,
} from '../../distributed/worker';

interface WorkerCliOptions {
  redis?: string;
  queue: string;
  concurrency: number;
  threads?: number;
  lockMs: number;
  stalledIntervalMs: number;
  maxStalled: number;
  graceMs: number;
  name?: string;
  quiet?: boolean;
}

function describe(event: WorkerEvent): string {
  switch (event.type) {
    case 'started':
      return `${event.batchId} shard ${event.shard}: started (try ${event.attempt})`;
    case 'done':
      return `${event.batchId} shard ${event.shard}: done in ${event.seconds.toFixed(2)} s`;
    case 'failed':
      return `${event.batchId} shard ${event.shard}: ${event.final ? 'failed for good' : 'failed, will retry'}: ${event.error}`;
    case 'released':
      return `${event.batchId} shard ${event.shard}: released back to the queue`;
    case 'stalled':
      return `job ${event.jobId}: its worker stopped renewing its lock; back in the queue`;
    case 'error':
      return `queue error: ${event.error}`;
  }
}

export function registerWorker(program: Command): void {
  program
    .command('worker')
    .description('run shards of batch jobs (batch recommend / embed / eval) from the Redis queue until stopped')
    .option('--redis <url>', 'Redis URL (default: SEMREC_REDIS_URL, else redis://127.0.0.1:6379)')
    .option('--queue <name>', 'queue to take shards from', DEFAULT_QUEUE)
    .option('--concurrency <n>', 'shards run at once by this process (native ops already use every core)', integerOption('--concurrency', 1), 1)
    .option('--threads <n>', 'CPU threads of native ops and training in this process (default: all)', integerOption('--threads', 1))
    .option('--lock-ms <ms>', 'lock a running shard holds; a worker silent this long is taken for dead', integerOption('--lock-ms', 1000), DEFAULT_LOCK_MS)
    .option('--stalled-interval-ms <ms>', 'how often to look for shards of dead workers', integerOption('--stalled-interval-ms', 100), DEFAULT_STALLED_INTERVAL_MS)
    .option('--max-stalled <n>', 'times a shard may lose its worker before it fails', integerOption('--max-stalled', 0), DEFAULT_MAX_STALLED)
    .option('--grace-ms <ms>', 'on SIGTERM, how long running shards may finish before they are released', integerOption('--grace-ms', 0), DEFAULT_GRACE_MS)
    .option('--name <name>', 'worker name shown by batch status (default host:pid)')
    .option('--quiet', 'log only failures')
    .action(async (options: WorkerCliOptions) => {
      if (options.threads !== undefined) setNumThreads(options.threads);
      const url = redisUrl(options.redis);
      const log = (line: string) => process.stderr.write(`${new Date().toISOString()} ${line}\n`);
      const worker = await BatchWorker.start({
        redis: url,
        queue: options.queue,
        concurrency: options.concurrency,
        lockMs: options.lockMs,
        stalledIntervalMs: options.stalledIntervalMs,
        maxStalledCount: options.maxStalled,
        name: options.name,
        onEvent: (event) => {
          if (!options.quiet || event.type === 'failed' || event.type === 'error') log(describe(event));
        },
      });
      log(`worker ${worker.name}: taking shards from ${options.queue} at ${displayUrl(url)} (concurrency ${options.concurrency})`);
      await new Promise<void>((resolve, reject) => {
        let stopping = false;
        const stop = (signal: string) => {
          if (stopping) {
            log(`${signal} again: releasing running shards now`);
            worker.release();
            return;
          }
          stopping = true;
          log(`${signal}: finishing running shards (up to ${options.graceMs} ms), then exiting`);
          worker.close(options.graceMs).then(resolve, reject);
        };
        process.on('SIGTERM', () => stop('SIGTERM'));
        process.on('SIGINT', () => stop('SIGINT'));
      });
      log(`worker ${worker.name}: stopped`);
    });
}
