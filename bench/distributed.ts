/**
 * `npm run bench -- --suite distributed`: `batch recommend` on BullMQ + Redis against one process.
 *
 * A bpr model (trained one epoch on a generated implicit dataset) recommends the top 100 items for every
 * user: once in this process (`semrec recommend --all-users`, every core), and as a batch run by 1 worker
 * (every core) or 2 workers (one core each), plus a shard-size sweep with 2 workers. Configurations
 * alternate run by run, so that the load of a shared machine falls on all of them alike; each figure is
 * the median of the repetitions. Workers start fresh for every batch (not timed), so each run pays its
 * model loads, as a real batch does. For the written model of N machines the suite also counts every
 * Redis command of a batch (Redis' MONITOR stream, by client: workers apart from the submitter, scripts
 * by name), the job data per shard, and the bytes written to the shared filesystem.
 *
 * Suite `distributed-netns` (root, iproute2): every worker runs in its own network namespace and reaches
 * Redis over a veth pair, as a separate host would, through a TCP proxy that adds `-- --rtt-ms N` (default
 * 2) to every round trip: what the per-shard round trips cost across a network.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

import { completeBatch, commonSpec, DEFAULT_POLL_MS, prepareWorkDir, submitBatch, waitForBatch } from '../ts/distributed/batch';
import { BatchQueue } from '../ts/distributed/queue';
import type { BatchSpec } from '../ts/distributed/spec';
import { closeRedis, connectRedis } from '../ts/distributed/redis';
import { planRecommendBatch, recommendKind } from '../ts/distributed/recommend';
import { writeAllRecommendations } from '../ts/models/batch';
import { createModel, loadModel } from '../ts/models/registry';
import { killWorkers, RedisServer, startWorker, type WorkerProcess } from '../test/helpers/redis';
import { randomInteractions } from '../test/helpers/saved-model';
import { type BenchContext, type Suite } from './harness';

/** Items per user, as in the issue's `batch recommend --k 100`. */
const K = 100;
/** Repetitions of every configuration, quick sizes included (a quick run takes about a minute). */
const REPEATS = 3;

interface Sizes {
  users: number;
  items: number;
  perUser: number;
  /** Users per shard of the 1-vs-2-worker comparison. */
  shardUsers: number;
  sweep: number[];
}

const FULL: Sizes = { users: 50_000, items: 20_000, perUser: 20, shardUsers: 5_000, sweep: [1_000, 5_000, 25_000] };
const QUICK: Sizes = { users: 4_000, items: 1_000, perUser: 10, shardUsers: 500, sweep: [250, 1_000] };

/** Commands by name (BullMQ's Lua scripts by script name), counted from Redis' MONITOR stream. */
type CommandCounts = Record<string, number>;

interface CommandLog {
  /** Commands the workers sent: their round trips to Redis. */
  workers: CommandCounts;
  /** Commands the submitter sent (queueing, polling, assembling). */
  submitter: CommandCounts;
  /** Commands run inside BullMQ's Lua scripts, whoever called them: Redis' own work, no round trips. */
  inScripts: CommandCounts;
  stop(): Promise<void>;
}

/**
 * Counts every command Redis runs from now on, the submitter's connection apart from all others (the
 * workers'). EVAL/EVALSHA are named by the BullMQ script they run.
 */
async function logCommands(redisUrl: string, queue: BatchQueue): Promise<CommandLog> {
  await queue.queue.waitUntilReady(); // BullMQ has defined its scripts on the connection
  const scripts = new Map<string, string>();
  const defined = (queue.redis as unknown as { scriptsSet: Record<string, { sha: string }> }).scriptsSet;
  for (const [name, script] of Object.entries(defined)) scripts.set(script.sha, `script ${name.replace(/[:-][\d.]+$/, '')}`);
  const submitterAddress = /addr=(\S+)/.exec(String(await queue.redis.call('CLIENT', 'INFO')))![1];
  const client = await connectRedis(redisUrl);
  const monitor = await client.monitor();
  const log: CommandLog = {
    workers: {},
    submitter: {},
    inScripts: {},
    stop: async () => {
      monitor.disconnect();
      await closeRedis(client);
    },
  };
  monitor.on('monitor', (_time: string, args: string[], source: string) => {
    let name = args[0].toLowerCase();
    if (name === 'evalsha') name = scripts.get(args[1]) ?? 'evalsha (unknown script)';
    else if (name === 'eval') name = scripts.get(createHash('sha1').update(args[1]).digest('hex')) ?? 'eval (a script sent whole: its first use on a connection)';
    const counts = source === 'lua' ? log.inScripts : source === submitterAddress ? log.submitter : log.workers;
    counts[name] = (counts[name] ?? 0) + 1;
  });
  return log;
}

function perShard(counts: CommandCounts, shards: number): CommandCounts {
  const out: CommandCounts = {};
  for (const [name, n] of Object.entries(counts).sort((a, b) => b[1] - a[1])) out[name] = +(n / shards).toFixed(2);
  return out;
}

function total(counts: CommandCounts): number {
  return Object.values(counts).reduce((a, b) => a + b, 0);
}

/** Clock ticks per second of /proc/<pid>/stat's times (Linux' USER_HZ, 100 on every current kernel). */
const CLOCK_TICKS = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;

/** CPU seconds (user + system, all threads) a process has used so far. */
function processCpuSeconds(pid: number): number {
  // The command name (field 2) may hold spaces; the fields after its closing parenthesis are fixed.
  const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS; // utime, stime (fields 14 and 15)
}

/** CPU seconds Redis has used so far (its own INFO). */
function redisCpuSeconds(redis: RedisServer): number {
  const info = redis.cli('INFO', 'cpu');
  const field = (name: string) => Number(new RegExp(`^${name}:([\\d.]+)`, 'm').exec(info)![1]);
  return field('used_cpu_user') + field('used_cpu_sys');
}

function median(values: number[]): number {
  const sorted = [...values].sort((x, y) => x - y);
  return sorted[Math.floor(sorted.length / 2)];
}

function dirBytes(dir: string): number {
  return fs.readdirSync(dir).reduce((sum, name) => sum + fs.statSync(path.join(dir, name)).size, 0);
}

/**
 * A TCP proxy in front of Redis that holds every chunk for `delayMs` in each direction (order kept):
 * a network round trip of 2 x delayMs without tc's netem, which containers often lack.
 */
class DelayProxy {
  private readonly sockets = new Set<net.Socket>();
  private readonly server: net.Server;
  port = 0;

  private constructor(
    private readonly targetPort: number,
    private readonly delayMs: number,
  ) {
    this.server = net.createServer((client) => {
      const upstream = net.connect(this.targetPort, '127.0.0.1');
      this.sockets.add(client).add(upstream);
      this.relay(client, upstream);
      this.relay(upstream, client);
    });
  }

  static async start(targetPort: number, delayMs: number, bind: string): Promise<DelayProxy> {
    const proxy = new DelayProxy(targetPort, delayMs);
    await new Promise<void>((resolve) => proxy.server.listen(0, bind, resolve));
    proxy.port = (proxy.server.address() as net.AddressInfo).port;
    return proxy;
  }

  private relay(from: net.Socket, to: net.Socket): void {
    let last = 0;
    from.on('data', (chunk) => {
      // Never before the previous chunk: a later chunk may not overtake an earlier one.
      const at = Math.max(Date.now() + this.delayMs, last);
      last = at;
      setTimeout(() => to.writable && to.write(chunk), at - Date.now());
    });
    from.on('close', () => setTimeout(() => to.destroy(), Math.max(0, last - Date.now())));
    from.on('error', () => to.destroy());
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** Network namespaces standing in for hosts: namespace i reaches the root namespace at 10.15.i.1 over veth. */
class Hosts {
  private readonly made: number[] = [];

  /** The command prefix that runs a process in host i, and the address of the root namespace seen from there. */
  host(i: number): { wrap: string[]; address: string } {
    if (!this.made.includes(i)) this.make(i);
    return { wrap: ['ip', 'netns', 'exec', `semrec-bench-${i}`], address: `10.15.${i}.1` };
  }

  private make(i: number): void {
    const ns = `semrec-bench-${i}`;
    const run = (...args: string[]) => execFileSync(args[0], args.slice(1), { stdio: 'pipe' });
    // A run killed before its cleanup leaves its namespace (and the veth pair in it): start afresh.
    if (execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' }).split('\n').some((line) => line.split(' ')[0] === ns)) run('ip', 'netns', 'del', ns);
    run('ip', 'netns', 'add', ns);
    this.made.push(i); // from here on destroy() removes it
    run('ip', 'link', 'add', `sb${i}h`, 'type', 'veth', 'peer', 'name', `sb${i}w`);
    run('ip', 'link', 'set', `sb${i}w`, 'netns', ns);
    run('ip', 'addr', 'add', `10.15.${i}.1/24`, 'dev', `sb${i}h`);
    run('ip', 'link', 'set', `sb${i}h`, 'up');
    run('ip', 'netns', 'exec', ns, 'ip', 'addr', 'add', `10.15.${i}.2/24`, 'dev', `sb${i}w`);
    run('ip', 'netns', 'exec', ns, 'ip', 'link', 'set', `sb${i}w`, 'up');
    run('ip', 'netns', 'exec', ns, 'ip', 'link', 'set', 'lo', 'up');
  }

  destroy(): void {
    for (const i of this.made.splice(0)) {
      try {
        execFileSync('ip', ['netns', 'del', `semrec-bench-${i}`], { stdio: 'pipe' });
        execFileSync('ip', ['link', 'del', `sb${i}h`], { stdio: 'pipe' });
      } catch {
        // the veth pair goes with its namespace
      }
    }
  }
}

interface BatchRun {
  seconds: number;
  shards: number;
  /** CPU seconds of the workers (from ready to the last shard, model loads included) or of the one process. */
  cpuSeconds: number;
  /** CPU seconds of Redis during the batch (not measured while MONITOR runs: it costs Redis CPU itself). */
  redisCpuSeconds?: number;
  /** Redis commands of the whole batch: from the workers, and from the submitter (queueing, polling, assembling). */
  workerCommands?: CommandCounts;
  submitterCommands?: CommandCounts;
  scriptCommands?: CommandCounts;
  polls?: number;
  jobDataBytes?: number;
}

async function runBatch(
  redis: RedisServer,
  modelDir: string,
  out: string,
  config: { workers: number; threads: number; shardUsers: number },
  hosts: Hosts | undefined,
  workerPort: number,
  countCommands: boolean,
): Promise<BatchRun> {
  fs.rmSync(out, { recursive: true, force: true });
  const started: WorkerProcess[] = [];
  try {
    for (let w = 0; w < config.workers; w++) {
      const where = hosts?.host(w);
      const url = `redis://${where?.address ?? '127.0.0.1'}:${workerPort}`;
      started.push(await startWorker(url, ['--threads', String(config.threads), '--quiet'], {}, where?.wrap));
    }
    const cpuAtReady = started.map((w) => processCpuSeconds(w.child.pid!));
    const queue = await BatchQueue.open(redis.url, 'semrec-batch');
    try {
      const common = commonSpec('recommend', out, { command: 'bench' });
      await prepareWorkDir(common);
      const spec = await planRecommendBatch({ modelDir, k: K, shardUsers: config.shardUsers }, common);
      const commands = countCommands ? await logCommands(redis.url, queue) : undefined;
      const redisCpu0 = redisCpuSeconds(redis);
      const t0 = performance.now();
      await submitBatch(queue, spec);
      let polls = 0;
      const status = await waitForBatch(queue, spec, { pollMs: DEFAULT_POLL_MS / 10, onStatus: () => polls++ });
      if (status.phase !== 'shards-done') throw new Error(`batch ended ${status.phase}`);
      const cpuSeconds = started.reduce((sum, w, i) => sum + processCpuSeconds(w.child.pid!) - cpuAtReady[i], 0);
      await completeBatch(queue, spec);
      const seconds = (performance.now() - t0) / 1000;
      const redisCpu = redisCpuSeconds(redis) - redisCpu0;
      await commands?.stop();
      const job = { batchId: spec.id, kind: spec.kind, shard: 0, payload: recommendKind.payload(spec, 0) };
      return {
        seconds,
        shards: spec.numShards,
        cpuSeconds,
        ...(commands
          ? { workerCommands: commands.workers, submitterCommands: commands.submitter, scriptCommands: commands.inScripts }
          : { redisCpuSeconds: redisCpu }),
        polls,
        jobDataBytes: Buffer.byteLength(JSON.stringify(job)),
      };
    } finally {
      await queue.close();
    }
  } finally {
    await killWorkers(started);
  }
}

/** Round trip added between workers and Redis in the network-namespace suite unless --rtt-ms says otherwise (a LAN in one data centre is 0.1-0.5 ms; 2 ms is a generous cross-zone figure). */
const DEFAULT_NETNS_RTT_MS = 2;

async function runDistributed(context: BenchContext, netns: boolean): Promise<Record<string, unknown>> {
  const { log } = context;
  const argv = process.argv.slice(2);
  const rttIndex = argv.indexOf('--rtt-ms');
  const rttMs = rttIndex >= 0 ? Number(argv[rttIndex + 1]) : netns ? DEFAULT_NETNS_RTT_MS : 0;
  if (netns && process.getuid?.() !== 0) return { skipped: 'network namespaces need root (ip netns)' };
  const sizes = context.quick ? QUICK : FULL;
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'semrec-bench-dist-'));
  const hosts = netns ? new Hosts() : undefined;
  // In namespaces the workers reach Redis (or the delaying proxy) over the veth links: every address.
  const bind = netns ? '0.0.0.0' : '127.0.0.1';
  const redis = await RedisServer.start({ bind });
  const proxy = rttMs > 0 ? await DelayProxy.start(redis.port, rttMs / 2, bind) : undefined;
  const workerPort = proxy?.port ?? redis.port;
  try {
    const modelDir = path.join(work, 'model');
    log(`training bpr (1 epoch) on ${sizes.users} users x ${sizes.items} items, ${sizes.perUser} interactions each`);
    const model = createModel('bpr', { epochs: 1 });
    await model.fit(randomInteractions(sizes.users, sizes.items, sizes.perUser, 15));
    await model.save(modelDir);
    const loaded = await loadModel(modelDir);

    const configs = [
      { name: 'one process (recommend --all-users, 2 threads)', workers: 0, threads: 2, shardUsers: sizes.shardUsers },
      { name: 'batch, 1 worker x 2 threads', workers: 1, threads: 2, shardUsers: sizes.shardUsers },
      { name: 'batch, 2 workers x 1 thread', workers: 2, threads: 1, shardUsers: sizes.shardUsers },
      ...sizes.sweep
        .filter((s) => s !== sizes.shardUsers)
        .map((shardUsers) => ({ name: `batch, 2 workers x 1 thread, ${shardUsers} users/shard`, workers: 2, threads: 1, shardUsers })),
    ];
    const runs = new Map<string, BatchRun[]>(configs.map((c) => [c.name, []]));
    let outputBytes = 0;
    for (let rep = 0; rep < REPEATS; rep++) {
      for (const config of configs) {
        const out = path.join(work, 'out');
        let run: BatchRun;
        if (config.workers === 0) {
          fs.rmSync(out, { recursive: true, force: true });
          const cpu0 = process.cpuUsage();
          const t0 = performance.now();
          await writeAllRecommendations(loaded, out, { k: K, shardUsers: config.shardUsers, modelDir });
          const cpu = process.cpuUsage(cpu0);
          run = { seconds: (performance.now() - t0) / 1000, shards: Math.ceil(sizes.users / config.shardUsers), cpuSeconds: (cpu.user + cpu.system) / 1e6 };
          outputBytes = dirBytes(out);
        } else {
          // Commands are counted in the first repetition only: MONITOR costs Redis CPU, measured in the others.
          run = await runBatch(redis, modelDir, out, config, hosts, workerPort, rep === 0);
        }
        runs.get(config.name)!.push(run);
        log(`  rep ${rep + 1}: ${config.name}: ${run.seconds.toFixed(2)} s (${(sizes.users / run.seconds).toFixed(0)} users/s)`);
      }
    }
    const table = configs.map((c) => {
      const list = runs.get(c.name)!;
      const seconds = median(list.map((r) => r.seconds));
      const shards = list[0].shards;
      const counted = list[0];
      const redisCpu = list.filter((r) => r.redisCpuSeconds !== undefined).map((r) => r.redisCpuSeconds!);
      return {
        config: c.name,
        workers: c.workers,
        threadsPerWorker: c.threads,
        shardUsers: c.shardUsers,
        shards,
        medianSeconds: +seconds.toFixed(3),
        seconds: list.map((r) => +r.seconds.toFixed(3)),
        usersPerSecond: Math.round(sizes.users / seconds),
        // CPU time does not depend on what else the machine runs: the basis for what N machines give.
        cpuSecondsPer1000Users: +((1000 * median(list.map((r) => r.cpuSeconds))) / sizes.users).toFixed(3),
        ...(c.workers > 0
          ? {
              redisCpuMsPerShard: redisCpu.length ? +((1000 * median(redisCpu)) / shards).toFixed(3) : null,
              // From the first repetition (command counts hardly vary between repetitions).
              workerRoundTripsPerShard: +(total(counted.workerCommands!) / shards).toFixed(1),
              workerRoundTripsPerShardByCommand: perShard(counted.workerCommands!, shards),
              submitterRoundTrips: total(counted.submitterCommands!),
              submitterRoundTripsByCommand: counted.submitterCommands,
              commandsInScriptsPerShard: +(total(counted.scriptCommands!) / shards).toFixed(1),
              submitterFullStatusReads: counted.polls,
              jobDataBytes: counted.jobDataBytes,
            }
          : {}),
      };
    });
    const seconds = (name: string) => table.find((t) => t.config === name)!.medianSeconds;
    const result = {
      note:
        `Busy shared machine (other work running): ${os.cpus().length} hardware threads shared with other jobs; ` +
        'configurations alternated run by run, medians of the repetitions.',
      network:
        (netns ? 'workers in separate network namespaces, reaching Redis over veth pairs' : 'workers on loopback') +
        (rttMs > 0 ? `; ${rttMs} ms round trip added between workers and Redis (delaying TCP proxy)` : ''),
      model: { name: 'bpr', users: sizes.users, items: sizes.items, dim: (loaded.params as { dim?: number }).dim, k: K, weightsBytes: fs.statSync(path.join(modelDir, 'weights.bin')).size },
      outputBytes,
      outputBytesPerUser: +(outputBytes / sizes.users).toFixed(1),
      table,
      ratios: {
        twoWorkersVsOneWorker: +(seconds('batch, 1 worker x 2 threads') / seconds('batch, 2 workers x 1 thread')).toFixed(3),
        oneWorkerVsOneProcess: +(seconds('one process (recommend --all-users, 2 threads)') / seconds('batch, 1 worker x 2 threads')).toFixed(3),
      },
    };
    for (const row of table) log(`${row.config}: median ${row.medianSeconds} s, ${row.usersPerSecond} users/s`);
    return result;
  } finally {
    await proxy?.close();
    await redis.destroy();
    hosts?.destroy();
    fs.rmSync(work, { recursive: true, force: true });
  }
}

export const distributedSuite: Suite = {
  name: 'distributed',
  description: 'batch recommend on BullMQ + Redis: one process vs 1 and 2 workers, shard-size sweep, Redis commands and bytes per shard',
  run: (context) => runDistributed(context, false),
};

export const distributedNetnsSuite: Suite = {
  name: 'distributed-netns',
  description: `the same with every worker in its own network namespace (a host of its own) and ${DEFAULT_NETNS_RTT_MS} ms (--rtt-ms) added to each round trip to Redis`,
  run: (context) => runDistributed(context, true),
};

/** Jobs in the queue-only measurement: enough for a steady rate, few enough for seconds. */
const CEILING_JOBS = 5000;
/** Shards in the smallest-shard measurement (one user each). */
const TINY_SHARDS = 1000;

/**
 * Where adding workers stops helping: the fixed cost of a shard. (1) The queue alone: BullMQ jobs whose
 * processor only does what a semrec worker adds per shard (mark started, mark done), 32 at a time in one
 * process: the rate Redis and BullMQ sustain here, a lower bound of the ceiling. (2) The whole path with
 * shards of one user each: queueing, the model's digest check, scoring, an atomic fsynced shard file and
 * its checked record, marking done: the least time a shard costs.
 */
async function runOverhead(context: BenchContext): Promise<Record<string, unknown>> {
  const { log } = context;
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'semrec-bench-overhead-'));
  const redis = await RedisServer.start();
  try {
    // (1) the queue alone
    const jobs = context.quick ? 500 : CEILING_JOBS;
    const queue = await BatchQueue.open(redis.url, 'ceiling');
    const { Worker } = await import('bullmq');
    let finished = 0;
    let allDone: () => void = () => {};
    const done = new Promise<void>((resolve) => (allDone = resolve));
    const worker = new Worker(
      'ceiling',
      async (job) => {
        await queue.markStarted('ceiling');
        await queue.markDone('ceiling', Number(job.id!.split('.')[1]));
        if (++finished === jobs) allDone();
      },
      { connection: queue.redis, concurrency: 32, autorun: false },
    );
    const spec = { ...commonSpec('recommend', path.join(work, 'none'), { command: 'bench' }), id: 'ceiling', numShards: jobs } as BatchSpec;
    const redisCpu0 = redisCpuSeconds(redis);
    const t0 = performance.now();
    await queue.addShards(spec, Array.from({ length: jobs }, (_, s) => s), () => ({}));
    void worker.run();
    await done;
    const queueSeconds = (performance.now() - t0) / 1000;
    const redisCpu = redisCpuSeconds(redis) - redisCpu0;
    await worker.close();
    await queue.close();
    const queueOnly = {
      jobs,
      seconds: +queueSeconds.toFixed(2),
      jobsPerSecond: Math.round(jobs / queueSeconds),
      // Redis is one thread: 1 / (CPU per job) is the most jobs per second it can serve, whatever the workers.
      redisCpuMsPerJob: +((1000 * redisCpu) / jobs).toFixed(4),
      redisJobsPerCpuSecond: Math.round(jobs / redisCpu),
    };
    log(`queue alone: ${jobs} jobs in ${queueOnly.seconds} s = ${queueOnly.jobsPerSecond} jobs/s`);

    // (2) the smallest shards, 2 workers x 4 concurrent shards
    const modelDir = path.join(work, 'model');
    const model = createModel('bpr', { epochs: 1 });
    const shards = context.quick ? 200 : TINY_SHARDS;
    await model.fit(randomInteractions(shards, 50, 5, 16));
    await model.save(modelDir);
    const out = path.join(work, 'out');
    const started: WorkerProcess[] = [];
    let tiny: Record<string, number>;
    try {
      for (let w = 0; w < 2; w++) started.push(await startWorker(redis.url, ['--concurrency', '4', '--threads', '1', '--quiet']));
      const batchQueue = await BatchQueue.open(redis.url, 'semrec-batch');
      try {
        const common = commonSpec('recommend', out, { command: 'bench' });
        await prepareWorkDir(common);
        const batchSpec = await planRecommendBatch({ modelDir, k: 10, shardUsers: 1 }, common);
        const redisCpu1 = redisCpuSeconds(redis);
        const t1 = performance.now();
        await submitBatch(batchQueue, batchSpec);
        const status = await waitForBatch(batchQueue, batchSpec, { pollMs: DEFAULT_POLL_MS / 10 });
        if (status.phase !== 'shards-done') throw new Error(`batch ended ${status.phase}`);
        const shardSeconds = (performance.now() - t1) / 1000;
        await completeBatch(batchQueue, batchSpec);
        const totalSeconds = (performance.now() - t1) / 1000;
        tiny = {
          shards,
          workers: 2,
          concurrencyPerWorker: 4,
          secondsToLastShard: +shardSeconds.toFixed(2),
          shardsPerSecond: Math.round(shards / shardSeconds),
          msPerShardPerWorker: +((shardSeconds * 1000 * 2) / shards).toFixed(1),
          secondsToAssemble: +(totalSeconds - shardSeconds).toFixed(2),
          redisCpuMsPerShard: +((1000 * (redisCpuSeconds(redis) - redisCpu1)) / shards).toFixed(4),
        };
      } finally {
        await batchQueue.close();
      }
    } finally {
      await killWorkers(started);
    }
    log(`one-user shards: ${tiny.shards} in ${tiny.secondsToLastShard} s = ${tiny.shardsPerSecond} shards/s (${tiny.msPerShardPerWorker} ms per shard per worker)`);
    return {
      note: `Busy shared machine (other work running): ${os.cpus().length} hardware threads shared with other jobs.`,
      queueOnly,
      oneUserShards: tiny,
    };
  } finally {
    await redis.destroy();
    fs.rmSync(work, { recursive: true, force: true });
  }
}

export const distributedOverheadSuite: Suite = {
  name: 'distributed-overhead',
  description: 'the fixed cost of a shard: BullMQ jobs/s with nothing to do, and batch recommend with one-user shards',
  run: (context) => runOverhead(context),
};
