/**
 * `semrec serve`: a saved model as an HTTP service (ts/server/app.ts).
 *
 *   semrec serve --model-dir models/bpr [--port 8080] [--host 127.0.0.1] [--feedback-dir DIR]
 *     [--api-key-env SEMREC_API_KEY] [--body-limit 1048576] [--max-batch 64] [--compact-every 50000]
 *     [--threads n] [--log-level info]
 *
 * Prints one line `semrec serve: listening on http://HOST:PORT` once it listens and one line starting with
 * `semrec serve: ready` once the model is loaded and the feedback log read back. SIGTERM and Ctrl-C shut
 * down gracefully (requests in flight finish, the feedback log is compacted); SIGHUP reloads the model.
 */
import type { Command } from 'commander';

import { SemrecError } from '../../errors';
import { setNumThreads } from '../../native/device';
import { createService, DEFAULT_BODY_LIMIT, DEFAULT_DRAIN_TIMEOUT_MS } from '../../server/app';
import { DEFAULT_COMPACT_EVERY } from '../../server/feedback';
import { DEFAULT_MAX_BATCH } from '../../server/serving';
import { integers } from '../model-options';

/** The environment variable holding the API key unless --api-key-env names another. */
export const DEFAULT_API_KEY_ENV = 'SEMREC_API_KEY';

interface ServeOptions {
  modelDir: string;
  port: string;
  host: string;
  feedbackDir?: string;
  apiKeyEnv: string;
  bodyLimit: string;
  maxBatch: string;
  compactEvery: string;
  drainTimeoutMs: string;
  threads?: string;
  logLevel: string;
}

const say = (line: string): void => {
  process.stdout.write(`semrec serve: ${line}\n`);
};

async function runServe(options: ServeOptions): Promise<void> {
  const port = integers(options.port, '--port', 0)[0];
  if (port > 65535) throw new SemrecError(`--port: ${port} is not a port (0 to 65535; 0 picks a free one)`, 'ERR_OUT_OF_RANGE');
  if (options.threads !== undefined) setNumThreads(integers(options.threads, '--threads', 1)[0]);
  const apiKey = process.env[options.apiKeyEnv];
  const levels = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];
  if (!levels.includes(options.logLevel)) throw new SemrecError(`--log-level must be one of ${levels.join(', ')}`, 'ERR_INVALID_ARG_VALUE');
  const service = createService({
    modelDir: options.modelDir,
    feedbackDir: options.feedbackDir,
    apiKey: apiKey !== undefined && apiKey.length > 0 ? apiKey : undefined,
    bodyLimitBytes: integers(options.bodyLimit, '--body-limit', 1)[0],
    maxBatch: integers(options.maxBatch, '--max-batch', 1)[0],
    compactEvery: integers(options.compactEvery, '--compact-every', 1)[0],
    drainTimeoutMs: integers(options.drainTimeoutMs, '--drain-timeout-ms', 0)[0],
    logger: options.logLevel === 'silent' ? false : { level: options.logLevel },
  });

  let stopping: Promise<void> | undefined;
  const stop = (signal: string) => {
    if (stopping) return;
    say(`${signal}: stopping (requests in flight finish, then the feedback log is compacted)`);
    stopping = service.close().then(
      () => say('stopped'),
      (error: Error) => {
        process.stderr.write(`semrec serve: shutdown failed: ${error.message}\n`);
        process.exitCode = 1;
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGHUP', () => {
    service.reload().then(
      (r) => say(`reloaded ${r.model.model} ${r.model.version} (was ${r.previous.version})`),
      (error: Error) => process.stderr.write(`semrec serve: ${error.message}\n`),
    );
  });

  const address = await service.start(port, options.host).catch(async (error) => {
    await service.close().catch(() => undefined);
    throw error;
  });
  say(`listening on ${address}`);
  const m = service.model!;
  say(
    `ready: ${m.name} ${m.version} from ${m.dir} (${m.model.numUsers} users, ${m.model.numItems} items); ` +
      `feedback log ${service.feedbackDir}: ${service.feedbackEvents} events read back${apiKey ? '; /feedback and /admin need the API key' : ''}; OpenAPI at ${address}/openapi.json`,
  );
  await new Promise<void>((resolve) => service.app.server.once('close', resolve));
  await stopping;
}

export function registerServe(program: Command): void {
  program
    .command('serve')
    .description('serve a saved model over HTTP: recommend, similar items, explanations, durable feedback, metrics')
    .requiredOption('--model-dir <dir>', 'a model saved by semrec train (or model.save)')
    .option('--port <n>', 'TCP port (0: any free port)', '8080')
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--feedback-dir <dir>', 'where the feedback log lives (default: <model-dir>/feedback)')
    .option('--api-key-env <name>', 'environment variable whose value /feedback and /admin require as API key (when set)', DEFAULT_API_KEY_ENV)
    .option('--body-limit <bytes>', 'largest request body (larger: 413)', String(DEFAULT_BODY_LIMIT))
    .option('--max-batch <n>', "known users' requests scored together at most", String(DEFAULT_MAX_BATCH))
    .option('--compact-every <n>', 'feedback events between compactions of the log', String(DEFAULT_COMPACT_EVERY))
    .option('--drain-timeout-ms <ms>', 'on shutdown, how long requests in flight may take', String(DEFAULT_DRAIN_TIMEOUT_MS))
    .option('--threads <n>', 'CPU threads of the native scoring ops (default: all)')
    .option('--log-level <level>', 'fatal, error, warn, info, debug, trace or silent (JSON lines on stdout)', 'warn')
    .action(runServe);
}
