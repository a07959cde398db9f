/**
 * Shared benchmark plumbing: benchmark.js measurement with medians, the machine description, and the
 * results file bench/results/<machine>-<date>.json (one per machine and day; each suite replaces its
 * own section, written atomically).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import Benchmark from 'benchmark';

import { deviceInfo } from '../ts/native/device';
import { writeFileAtomically } from '../ts/util/fs';

export interface Measurement {
  /** Median wall time of one call, milliseconds. */
  medianMs: number;
  meanMs: number;
  /** Relative margin of error of the mean, percent (benchmark.js). */
  rmePercent: number;
  samples: number;
}

export interface BenchContext {
  /** Small sizes only: a quick check that every suite runs (CI, smoke). */
  quick: boolean;
  log(line: string): void;
  /** Writes what a long suite has measured so far (marked incomplete), so an interrupted run keeps it. */
  checkpoint?(partial: Record<string, unknown>): Promise<void>;
}

/**
 * SEMREC_BENCH_MODELS=neumf,lightgcn: the suites that loop over models run only those (checked against
 * `known`); undefined when unset. A filtered run writes its results under its own key (see run.ts), so it
 * never replaces a whole suite's figures with a few models'.
 */
export function modelFilter<T extends string>(known: readonly T[]): T[] | undefined {
  const wanted = process.env.SEMREC_BENCH_MODELS;
  if (!wanted) return undefined;
  const names = wanted.split(',').map((n) => n.trim()).filter(Boolean);
  const unknown = names.filter((n) => !(known as readonly string[]).includes(n));
  if (unknown.length) throw new Error(`SEMREC_BENCH_MODELS: unknown model(s) ${unknown.join(', ')}; known: ${known.join(', ')}`);
  return names as T[];
}

export interface Suite {
  name: string;
  description: string;
  run(context: BenchContext): Promise<Record<string, unknown>>;
}

/**
 * Times `fn` with benchmark.js (repeated calls until the sample is stable, at least `minSamples`) and
 * returns the median of the per-call times. Slow calls get few samples: pass minSamples accordingly.
 */
export function measure(name: string, fn: () => unknown, options: { minSamples?: number; maxTimeSeconds?: number } = {}): Measurement {
  let error: unknown;
  const bench = new Benchmark(name, fn, {
    minSamples: options.minSamples ?? 5,
    maxTime: options.maxTimeSeconds ?? 5,
    initCount: 1,
    onError: (event: Benchmark.Event) => {
      error = (event.target as unknown as Benchmark).error;
    },
  });
  bench.run();
  if (error) throw error;
  const sample = [...bench.stats.sample].sort((a, b) => a - b);
  return {
    medianMs: sample[Math.floor(sample.length / 2)] * 1000,
    meanMs: bench.stats.mean * 1000,
    rmePercent: bench.stats.rme,
    samples: sample.length,
  };
}

/**
 * `measure` for async work (benchmark.js deferred mode): each call awaits `fn`. Slow calls (seconds)
 * should pass a small minSamples and maxTimeSeconds.
 */
export async function measureAsync(
  name: string,
  fn: () => Promise<unknown>,
  options: { minSamples?: number; maxTimeSeconds?: number } = {},
): Promise<Measurement> {
  return new Promise((resolve, reject) => {
    const bench = new Benchmark(name, {
      defer: true,
      minSamples: options.minSamples ?? 5,
      maxTime: options.maxTimeSeconds ?? 5,
      initCount: 1,
      fn: (deferred: Benchmark.Deferred) => {
        fn().then(
          () => deferred.resolve(),
          (error) => {
            bench.abort();
            reject(error);
          },
        );
      },
      onComplete: () => {
        const sample = [...bench.stats.sample].sort((a, b) => a - b);
        resolve({
          medianMs: sample[Math.floor(sample.length / 2)] * 1000,
          meanMs: bench.stats.mean * 1000,
          rmePercent: bench.stats.rme,
          samples: sample.length,
        });
      },
    });
    bench.run({ async: true });
  });
}

export function machine() {
  const cpus = os.cpus();
  const info = deviceInfo();
  return {
    cpuModel: cpus[0]?.model ?? 'unknown',
    cpuThreads: cpus.length,
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    platform: `${os.platform()} ${os.release()}`,
    node: process.version,
    addon: info.cudaCompiled ? 'cuda build' : 'cpu build',
    nativeThreads: info.numThreads,
    gpu: info.cudaAvailable ? info.gpus.map((g) => g.name).join(', ') : `none (${info.reason})`,
  };
}

/** e.g. "amd-epyc-2t": CPU model and hardware threads, plus the GPU when one is usable. */
export function machineSlug(): string {
  const m = machine();
  const slug = (s: string) => s.toLowerCase().replace(/\(r\)|\(tm\)|cpu|processor|@.*$/g, '').replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '');
  const gpu = deviceInfo().cudaAvailable ? `-${slug(deviceInfo().gpus[0].name)}` : '';
  return `${slug(m.cpuModel)}-${m.cpuThreads}t${gpu}`;
}

export function today(): string {
  return new Date().toISOString().slice(0, 10);
}

export const resultsDir = path.join(__dirname, 'results');

/** Merges one suite's results into bench/results/<machine>-<date>.json and returns the file's path. */
export async function writeSuiteResults(suite: string, results: Record<string, unknown>, quick: boolean): Promise<string> {
  fs.mkdirSync(resultsDir, { recursive: true });
  const file = path.join(resultsDir, `${machineSlug()}-${today()}${quick ? '-quick' : ''}.json`);
  const existing = fs.existsSync(file) ? JSON.parse(fs.readFileSync(file, 'utf8')) : {};
  const next = {
    machine: machine(),
    date: today(),
    command: `npm run bench${quick ? ' -- --quick' : ''}`,
    suites: { ...(existing.suites ?? {}), [suite]: { measuredAt: new Date().toISOString(), ...results } },
  };
  await writeFileAtomically(file, `${JSON.stringify(next, null, 2)}\n`);
  return file;
}
