/**
 * Redis for a test suite: Debian's redis-server on a free loopback port with its data in a temporary
 * folder, started and stopped by the test (never a system service) or, for suites that never restart
 * it, the one .ci/run started (SEMREC_REDIS_URL); plus `semrec worker` child processes.
 *
 * Without redis-server, tests that need it are pending with the reason, except where
 * SEMREC_REQUIRE_REDIS=1 (.ci/run sets it): there a missing Redis fails the suite, so CI never skips
 * the distributed tests silently.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

const REPO = path.resolve(__dirname, '..', '..');
/** Time allowed for redis-server or a worker to come up on a busy machine. */
const START_TIMEOUT_MS = 60_000;

export function redisServerPath(): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter).concat(['/usr/bin', '/usr/sbin', '/usr/local/bin'])) {
    const candidate = path.join(dir, 'redis-server');
    if (fs.existsSync(candidate)) return candidate;
  }
  return undefined;
}

/** Call in a suite's before(): marks the suite pending when redis-server is absent, unless CI requires it. */
export function requireRedis(context: Mocha.Context): void {
  if (redisServerPath() !== undefined) return;
  if (process.env.SEMREC_REQUIRE_REDIS === '1') {
    throw new Error('redis-server is not installed, and SEMREC_REQUIRE_REDIS=1 says these tests must run (apt-get install redis-server)');
  }
  const title = context.test?.parent?.title ?? 'suite';
  process.stderr.write(`  (pending: ${title} needs redis-server, which is not installed; apt-get install redis-server)\n`);
  context.skip();
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

async function waitFor(what: string, ready: () => boolean | Promise<boolean>, timeoutMs = START_TIMEOUT_MS): Promise<void> {
  const start = Date.now();
  while (!(await ready())) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    let reply = '';
    socket.setTimeout(1000);
    socket.on('connect', () => socket.write('PING\r\n'));
    socket.on('data', (chunk) => {
      reply += chunk.toString();
      if (reply.includes('\r\n')) {
        socket.destroy();
        resolve(reply.startsWith('+PONG'));
      }
    });
    socket.on('error', () => resolve(false));
    socket.on('timeout', () => {
      socket.destroy();
      resolve(false);
    });
  });
}

export interface RedisOptions {
  /** Append-only file with an fsync per write: a restart keeps every acknowledged write. */
  persistence?: boolean;
  /** Address to listen on (default loopback; benchmarks with network namespaces need others). */
  bind?: string;
}

export class RedisServer {
  private process: ChildProcess | undefined;

  private constructor(
    readonly port: number,
    readonly dir: string,
    private readonly options: RedisOptions,
    /** Started by someone else (.ci/run): never stopped or restarted here. */
    private readonly external = false,
  ) {}

  /** The Redis .ci/run started (SEMREC_REDIS_URL) when there is one, else a private one. */
  static async forSuite(): Promise<RedisServer> {
    const url = process.env.SEMREC_REDIS_URL;
    if (url) {
      const port = Number(new URL(url).port || 6379);
      if (!(await ping(port))) throw new Error(`SEMREC_REDIS_URL=${url} does not answer PING`);
      return new RedisServer(port, '', {}, true);
    }
    return RedisServer.start();
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  static async start(options: RedisOptions = {}): Promise<RedisServer> {
    const server = new RedisServer(await freePort(), fs.mkdtempSync(path.join(os.tmpdir(), 'semrec-redis-')), options);
    await server.launch();
    return server;
  }

  private async launch(): Promise<void> {
    const binary = redisServerPath();
    if (!binary) throw new Error('redis-server is not installed');
    const bind = this.options.bind ?? '127.0.0.1';
    // Protected mode refuses every client but loopback ones; a benchmark's namespaces are other hosts.
    const args = ['--port', String(this.port), '--bind', bind, '--dir', this.dir, '--save', '', '--daemonize', 'no', '--protected-mode', bind === '127.0.0.1' ? 'yes' : 'no'];
    args.push(...(this.options.persistence ? ['--appendonly', 'yes', '--appendfsync', 'always'] : ['--appendonly', 'no']));
    const child = spawn(binary, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    this.process = child;
    let exited = false;
    child.once('exit', () => (exited = true));
    await waitFor(`redis-server on port ${this.port}`, async () => {
      if (exited) throw new Error(`redis-server exited at start (port ${this.port})`);
      return ping(this.port);
    });
  }

  /** A redis-cli command against this server; its reply. */
  cli(...args: string[]): string {
    return execFileSync('redis-cli', ['-p', String(this.port), ...args], { encoding: 'utf8' }).trim();
  }

  /** Stops the server: SHUTDOWN (which flushes the append-only file when there is one). */
  async stop(): Promise<void> {
    if (this.external) throw new Error('this Redis was started outside the test; it cannot be stopped here');
    const child = this.process;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    try {
      this.cli('SHUTDOWN', this.options.persistence ? 'SAVE' : 'NOSAVE');
    } catch {
      // redis-cli reports the connection closing under it; the exit below is what counts
    }
    await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 10_000))]);
    if (child.exitCode === null) child.kill('SIGKILL');
    this.process = undefined;
  }

  /** Stops and starts it again on the same port and folder (what it persisted comes back). */
  async restart(): Promise<void> {
    await this.stop();
    await this.launch();
  }

  /** Stops it and removes its folder. */
  async destroy(): Promise<void> {
    if (this.external) return;
    await this.stop();
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

export interface WorkerProcess {
  child: ChildProcess;
  /** Everything it wrote to stderr so far. */
  log(): string;
  /** Resolves with the exit code (or signal name). */
  exited: Promise<number | string>;
}

/** Flags that make a killed worker's shard come back within seconds (defaults are 30 s, for real pools). */
export const FAST_RECOVERY = ['--lock-ms', '2000', '--stalled-interval-ms', '500'];

/**
 * Starts `semrec worker` in a child process (through tsx, from the sources) and waits until it takes
 * shards; `prefix` runs it through another command (e.g. `ip netns exec <ns>`).
 */
export async function startWorker(url: string, extra: string[] = [], env: NodeJS.ProcessEnv = {}, prefix: string[] = []): Promise<WorkerProcess> {
  const command = [...prefix, process.execPath, '--require', require.resolve('tsx/cjs'), path.join(REPO, 'ts', 'cli', 'main.ts'), 'worker', '--redis', url, ...extra];
  const child = spawn(command[0], command.slice(1), {
    cwd: REPO,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number | string>((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal ?? -1)));
  await waitFor('a worker to start', () => {
    if (child.exitCode !== null) throw new Error(`the worker exited at start:\n${stderr}`);
    return stderr.includes('taking shards from');
  });
  return { child, log: () => stderr, exited };
}

export interface CliProcess {
  child: ChildProcess;
  /** Resolves when the command exits: its code, stdout and stderr. */
  result: Promise<{ code: number; stdout: string; stderr: string }>;
  /** stderr so far. */
  log(): string;
}

/**
 * Runs `semrec <args>` in a child process (through tsx). For commands that run while a test does other
 * things: a command run in the test's own process captures stdout until it ends, and one the test gives
 * up on must be killable.
 */
export function spawnCli(args: string[]): CliProcess {
  const child = spawn(process.execPath, ['--require', require.resolve('tsx/cjs'), path.join(REPO, 'ts', 'cli', 'main.ts'), ...args], {
    cwd: REPO,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const result = new Promise<{ code: number; stdout: string; stderr: string }>((resolve) =>
    child.once('close', (code, signal) => resolve({ code: code ?? (signal ? 128 : -1), stdout, stderr })),
  );
  return { child, result, log: () => stderr };
}

/** Stops workers that are still running (SIGKILL: the test is over) and waits for them. */
export async function killWorkers(workers: (WorkerProcess | CliProcess)[]): Promise<void> {
  for (const w of workers) {
    if (w.child.exitCode === null && w.child.signalCode === null) {
      w.child.kill('SIGCONT'); // a stopped process is killed all the same, but its pipes close only when it runs
      w.child.kill('SIGKILL');
    }
  }
  await Promise.all(workers.map((w) => ('exited' in w ? w.exited : w.result)));
}

/** Waits until `predicate` holds (polling), failing after `timeoutMs`. */
export function until(what: string, predicate: () => boolean | Promise<boolean>, timeoutMs = START_TIMEOUT_MS): Promise<void> {
  return waitFor(what, predicate, timeoutMs);
}
