/**
 * The scalability study (the LLM-Rec paper's Figure 7, inference time against dataset size), for every
 * model: generated datasets of growing size (ts/data/generate.ts), and for each model and size the
 * training time per epoch, the latency of single-user recommend requests (p50 / p99), the time to score
 * every user (top-k for all users, in blocks), and the peak memory of the process that did it.
 *
 * Each (size, model) cell runs in its own child process (scalability-cell.ts), so its peak RSS is its
 * own and a crash or a runaway cell cannot take the study down. Cells are logged as they finish (an
 * fsynced JSON-lines file next to the report) and a rerun with the same settings reuses them. A cell whose
 * time, predicted from the model's measured growth so far, exceeds the budget is not run and says so:
 * no figure in the report is extrapolated.
 */
import { fork } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import { generatedShape } from '../data/generate';
import { SemrecError } from '../errors';
import { checkModelName, type ModelName } from '../models/registry';
import type { ProgressEvent } from '../progress';
import { writeFileAtomically } from '../util/fs';
import { appendJsonLine, readJsonLines } from '../util/jsonl';
import { formatVersion, semrecVersion } from '../version';
import { type VegaLiteSpec, writeFigure } from './plot';

/** The paper's range: 10k to 10M interactions, a decade at a time (and the half-decades between). */
export const FULL_SIZES = [10_000, 30_000, 100_000, 300_000, 1_000_000, 3_000_000, 10_000_000];
/** --quick: a few minutes on 2 cores. */
export const QUICK_SIZES = [10_000, 30_000, 100_000];
/** Epochs timed per cell: the median epoch is reported (the first epoch includes no setup: see setupSeconds). */
export const DEFAULT_TIMED_EPOCHS = 2;
/** Single-user requests timed per cell (after WARMUP_REQUESTS untimed ones): enough for a stable p99. */
export const DEFAULT_REQUESTS = 300;
/** Users per recommend() call when scoring everyone (as `semrec recommend --all-users` does). */
export const ALL_USERS_BLOCK = 1024;
/** Seconds one cell may be predicted to take before it is left out (--budget). */
export const DEFAULT_BUDGET_SECONDS = 900;
/** A cell still running after this many budgets is stopped and recorded as timed out. */
const TIMEOUT_BUDGETS = 4;

export interface CellSpec {
  interactions: number;
  model: ModelName;
  seed: number;
  epochs: number;
  requests: number;
  k: number;
  numThreads?: number;
}

/** What one cell measured (all times wall-clock, in its own process). */
export interface CellResult {
  interactions: number;
  users: number;
  items: number;
  model: ModelName;
  /** Median seconds of the timed training epochs (for models without epochs: undefined, see fitSeconds). */
  epochSeconds?: number;
  /** Epochs trained (0 for models fitted in one pass: pop, itemknn). */
  epochs: number;
  /** The whole fit, setup included. */
  fitSeconds: number;
  requestP50Ms: number;
  requestP99Ms: number;
  requestMaxMs: number;
  /** Top-k for every user, in blocks of ALL_USERS_BLOCK. */
  allUsersSeconds: number;
  /** Peak resident memory of the cell's process (dataset, model and scoring), MiB. */
  peakRssMiB: number;
  /** Peak resident memory right after the dataset was generated (before the model), MiB. */
  datasetRssMiB: number;
  generateSeconds: number;
}

export interface CellRow {
  key: string;
  spec: CellSpec;
  /** The semrec (version and commit) that measured the cell. */
  semrec?: string;
  status: 'measured' | 'skipped' | 'failed' | 'timed out';
  result?: CellResult;
  /** Why a cell has no figures. */
  reason?: string;
}

export interface ScalabilityOptions {
  sizes: number[];
  models: ModelName[];
  seed?: number;
  epochs?: number;
  requests?: number;
  k?: number;
  budgetSeconds?: number;
  numThreads?: number;
  /** Folder for scalability.{md,json,svg,png} and the cells log. */
  out: string;
  onProgress?: (event: ProgressEvent) => void;
  signal?: AbortSignal;
  /** Runs one cell (tests replace the child process by an in-process call; the CLI never does). */
  runCell?: (spec: CellSpec, signal: AbortSignal | undefined, timeoutMs: number) => Promise<CellResult>;
}

export interface Slope {
  model: ModelName;
  metric: 'epochSeconds' | 'requestP99Ms' | 'allUsersSeconds' | 'peakRssMiB';
  /** d log(metric) / d log(interactions) by least squares over the measured sizes. */
  slope: number;
  points: number;
}

export interface ScalabilityReport {
  experiment: 'scalability';
  semrec: string;
  machine: { cpu: string; cores: number; memoryGiB: number; platform: string; loadAverageAtStart: number[] };
  started: string;
  finished: string;
  settings: Required<Pick<ScalabilityOptions, 'sizes' | 'models' | 'seed' | 'epochs' | 'requests' | 'k' | 'budgetSeconds'>> & { numThreads?: number };
  cells: CellRow[];
  slopes: Slope[];
}

/**
 * The identity of a cell's measurement: a rerun reuses a logged cell when its settings and semrec's
 * package version match (each row records the exact commit that measured it; delete the log to
 * remeasure after changing code within a version).
 */
function cellKey(spec: CellSpec): string {
  return createHash('sha256').update(JSON.stringify({ ...spec, version: semrecVersion().version })).digest('hex').slice(0, 16);
}

/** The child process that measures one cell (the compiled .js, or the .ts source through tsx in tests). */
function cellInChild(spec: CellSpec, signal: AbortSignal | undefined, timeoutMs: number): Promise<CellResult> {
  const source = __filename.endsWith('.ts');
  const entry = path.join(__dirname, `scalability-cell${source ? '.ts' : '.js'}`);
  const child = fork(entry, [], {
    execArgv: source ? ['--require', require.resolve('tsx/cjs')] : [],
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
  });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  return new Promise((resolve, reject) => {
    let settled = false;
    const finish = (fn: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      if (child.exitCode === null) child.kill('SIGKILL');
      fn();
    };
    const timer = setTimeout(
      () => finish(() => reject(new SemrecError(`cell ${spec.model} at ${spec.interactions} ran past ${Math.round(timeoutMs / 1000)} s`, 'ERR_TIMEOUT'))),
      timeoutMs,
    );
    const onAbort = () => finish(() => reject(new SemrecError('scalability: interrupted', 'ERR_ABORTED')));
    signal?.addEventListener('abort', onAbort, { once: true });
    child.on('message', (message: { result?: CellResult; error?: { message: string; code?: string } }) => {
      if (message.result) finish(() => resolve(message.result!));
      else if (message.error) finish(() => reject(new SemrecError(message.error!.message, (message.error!.code as never) ?? 'ERR_INTERNAL')));
    });
    child.on('exit', (code, sig) =>
      finish(() => reject(new SemrecError(`cell ${spec.model} at ${spec.interactions}: the process ended (${sig ?? `code ${code}`}) without a result${stderr ? `: ${stderr.trim().split('\n').slice(-3).join(' / ')}` : ''}`, 'ERR_INTERNAL'))),
    );
    child.send(spec);
  });
}

/** Least-squares slope of log(y) on log(x). */
export function logLogSlope(points: { x: number; y: number }[]): number {
  const pts = points.filter((p) => p.x > 0 && p.y > 0).map((p) => ({ x: Math.log10(p.x), y: Math.log10(p.y) }));
  const n = pts.length;
  const mx = pts.reduce((s, p) => s + p.x, 0) / n;
  const my = pts.reduce((s, p) => s + p.y, 0) / n;
  let sxy = 0;
  let sxx = 0;
  for (const p of pts) {
    sxy += (p.x - mx) * (p.y - my);
    sxx += (p.x - mx) ** 2;
  }
  return sxx === 0 ? NaN : sxy / sxx;
}

const METRICS = ['epochSeconds', 'requestP99Ms', 'allUsersSeconds', 'peakRssMiB'] as const;

function slopesOf(cells: CellRow[], models: ModelName[]): Slope[] {
  const out: Slope[] = [];
  for (const model of models) {
    for (const metric of METRICS) {
      const points = cells
        .filter((c) => c.spec.model === model && c.status === 'measured' && c.result![metric] !== undefined)
        .map((c) => ({ x: c.spec.interactions, y: c.result![metric]! }));
      if (points.length >= 2) out.push({ model, metric, slope: logLogSlope(points), points: points.length });
    }
  }
  return out;
}

/** Seconds a cell took in all (what the budget is judged on). */
const cellSeconds = (c: CellRow) => {
  const r = c.result!;
  return r.generateSeconds + r.fitSeconds + r.allUsersSeconds + (r.requestP50Ms * c.spec.requests) / 1000;
};

/**
 * Whether a model's cell at `interactions` is predicted to exceed the budget: its last measured cell's
 * time grown by the model's observed exponent (at least linear), so a skip is never optimistic.
 */
function predictedSeconds(rows: CellRow[], model: ModelName, interactions: number): number | undefined {
  const measured = rows.filter((c) => c.spec.model === model && c.status === 'measured').sort((a, b) => a.spec.interactions - b.spec.interactions);
  if (measured.length === 0) return undefined;
  const last = measured[measured.length - 1];
  const exponent =
    measured.length >= 2
      ? Math.max(1, logLogSlope(measured.slice(-2).map((c) => ({ x: c.spec.interactions, y: cellSeconds(c) }))))
      : 1;
  return cellSeconds(last) * (interactions / last.spec.interactions) ** exponent;
}

export function checkSizes(sizes: number[], what: string): number[] {
  for (const s of sizes) {
    if (!Number.isSafeInteger(s) || s < 1000) throw new SemrecError(`${what}: ${String(s)} is not a dataset size (an integer >= 1000 interactions)`, 'ERR_INVALID_ARG_VALUE');
  }
  return [...new Set(sizes)].sort((a, b) => a - b);
}

/** Runs (or resumes) the study and writes scalability.{md,json,svg,png} into `out`. */
export async function runScalability(options: ScalabilityOptions): Promise<ScalabilityReport> {
  const sizes = checkSizes(options.sizes, 'scalability: sizes');
  const models = options.models.map((m) => checkModelName(m, 'scalability: models'));
  const settings = {
    sizes,
    models,
    seed: options.seed ?? 42,
    epochs: options.epochs ?? DEFAULT_TIMED_EPOCHS,
    requests: options.requests ?? DEFAULT_REQUESTS,
    k: options.k ?? 10,
    budgetSeconds: options.budgetSeconds ?? DEFAULT_BUDGET_SECONDS,
    ...(options.numThreads !== undefined ? { numThreads: options.numThreads } : {}),
  };
  const version = formatVersion(semrecVersion());
  const started = new Date().toISOString();
  const loadAverageAtStart = os.loadavg().map((x) => Math.round(x * 100) / 100);
  await fs.mkdir(options.out, { recursive: true });
  const log = path.join(options.out, 'scalability.cells.jsonl');
  const logged = new Map<string, CellRow>();
  for (const record of (await readJsonLines(log, 'scalability: the cells log')) ?? []) {
    const row = record as unknown as CellRow;
    if (row.status === 'measured') logged.set(row.key, row);
  }
  const runCell = options.runCell ?? cellInChild;
  const rows: CellRow[] = [];
  const total = sizes.length * models.length;
  for (const interactions of sizes) {
    for (const model of models) {
      if (options.signal?.aborted) throw new SemrecError('scalability: interrupted', 'ERR_ABORTED');
      const spec: CellSpec = {
        interactions,
        model,
        seed: settings.seed,
        epochs: settings.epochs,
        requests: settings.requests,
        k: settings.k,
        ...(settings.numThreads !== undefined ? { numThreads: settings.numThreads } : {}),
      };
      const key = cellKey(spec);
      const shape = generatedShape(interactions);
      const what = `${model} at ${interactions.toLocaleString('en-US')} interactions (${shape.numUsers} users x ${shape.numItems} items)`;
      let row = logged.get(key);
      if (!row) {
        const predicted = predictedSeconds(rows, model, interactions);
        if (predicted !== undefined && predicted > settings.budgetSeconds) {
          row = { key, spec, status: 'skipped', reason: `not run: about ${Math.round(predicted)} s predicted from the smaller sizes, over the ${settings.budgetSeconds} s budget (--budget)` };
        } else {
          try {
            const result = await runCell(spec, options.signal, settings.budgetSeconds * TIMEOUT_BUDGETS * 1000);
            row = { key, spec, semrec: version, status: 'measured', result };
            await appendJsonLine(log, row);
          } catch (error) {
            if (error instanceof SemrecError && error.code === 'ERR_ABORTED') throw error;
            const timedOut = error instanceof SemrecError && error.code === 'ERR_TIMEOUT';
            row = { key, spec, status: timedOut ? 'timed out' : 'failed', reason: (error as Error).message };
          }
        }
      }
      rows.push(row);
      options.onProgress?.({
        phase: 'scalability',
        done: rows.length,
        total,
        unit: 'cells',
        metrics: row.result ? { [`${what} s/epoch`]: row.result.epochSeconds ?? row.result.fitSeconds, 'p99 ms': row.result.requestP99Ms } : {},
      });
    }
  }
  const report: ScalabilityReport = {
    experiment: 'scalability',
    semrec: version,
    machine: {
      cpu: os.cpus()[0]?.model ?? 'unknown',
      cores: os.cpus().length,
      memoryGiB: Math.round(os.totalmem() / 2 ** 30),
      platform: `${os.platform()} ${os.release()}, node ${process.version}`,
      loadAverageAtStart,
    },
    started,
    finished: new Date().toISOString(),
    settings,
    cells: rows,
    slopes: slopesOf(rows, models),
  };
  await writeFileAtomically(path.join(options.out, 'scalability.json'), `${JSON.stringify(report, null, 2)}\n`);
  await writeFileAtomically(path.join(options.out, 'scalability.md'), scalabilityMarkdown(report));
  if (rows.some((r) => r.status === 'measured')) await writeFigure(scalabilitySpec(report), path.join(options.out, 'scalability'));
  return report;
}

const fmt = (x: number | undefined, digits = 3) => (x === undefined || !Number.isFinite(x) ? '–' : x >= 100 ? x.toFixed(0) : x.toPrecision(digits));

export function scalabilityMarkdown(report: ScalabilityReport): string {
  const m = report.machine;
  const lines = [
    '# Scalability (LLM-Rec Figure 7): time and memory against dataset size',
    '',
    `semrec ${report.semrec}; ${m.cpu}, ${m.cores} CPU threads, ${m.memoryGiB} GiB, ${m.platform}; load average at start ${m.loadAverageAtStart.join(' / ')}; ${report.started.slice(0, 10)}.`,
    `Generated datasets (ts/data/generate.ts, seed ${report.settings.seed}); each cell in its own process; ${report.settings.epochs} timed epochs (median), ` +
      `${report.settings.requests} single-user requests (k = ${report.settings.k}), all users scored in blocks of ${ALL_USERS_BLOCK}. Device: CPU.`,
    '',
    '| interactions | users | items | model | s / epoch | fit s | recommend p50 ms | p99 ms | all users s | peak RSS MiB |',
    '|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|',
  ];
  for (const c of report.cells) {
    const shape = generatedShape(c.spec.interactions);
    const head = `| ${c.spec.interactions.toLocaleString('en-US')} | ${shape.numUsers.toLocaleString('en-US')} | ${shape.numItems.toLocaleString('en-US')} | ${c.spec.model}`;
    if (c.status !== 'measured') {
      lines.push(`${head} | ${c.status}: ${c.reason ?? ''} | | | | | |`);
      continue;
    }
    const r = c.result!;
    lines.push(`${head} | ${fmt(r.epochSeconds)} | ${fmt(r.fitSeconds)} | ${fmt(r.requestP50Ms)} | ${fmt(r.requestP99Ms)} | ${fmt(r.allUsersSeconds)} | ${fmt(r.peakRssMiB, 4)} |`);
  }
  lines.push('', '**Growth exponents** (least-squares slope of log(metric) against log(interactions); 1 = linear):', '');
  lines.push('| model | s / epoch | recommend p99 | all users | peak RSS |', '|---|---:|---:|---:|---:|');
  for (const model of report.settings.models) {
    const get = (metric: Slope['metric']) => {
      const s = report.slopes.find((x) => x.model === model && x.metric === metric);
      return s ? `${s.slope.toFixed(2)} (${s.points} sizes)` : '–';
    };
    lines.push(`| ${model} | ${get('epochSeconds')} | ${get('requestP99Ms')} | ${get('allUsersSeconds')} | ${get('peakRssMiB')} |`);
  }
  lines.push('', '![scalability](scalability.png)', '');
  return `${lines.join('\n')}\n`;
}

/** Log-log panels, one line per model: training time per epoch, request p99, all-users scoring, peak memory. */
export function scalabilitySpec(report: ScalabilityReport): VegaLiteSpec {
  const values = report.cells
    .filter((c) => c.status === 'measured')
    .flatMap((c) => {
      const r = c.result!;
      const slope = (metric: Slope['metric']) => report.slopes.find((s) => s.model === c.spec.model && s.metric === metric);
      const label = (metric: Slope['metric']) => {
        const s = slope(metric);
        return s ? `${c.spec.model} (slope ${s.slope.toFixed(2)})` : c.spec.model;
      };
      return [
        { panel: 'training: s per epoch (pop, itemknn: fit)', metric: 'epochSeconds' as const, y: r.epochSeconds ?? r.fitSeconds },
        { panel: 'one-user recommend: p99 ms', metric: 'requestP99Ms' as const, y: r.requestP99Ms },
        { panel: 'top-10 for every user: s', metric: 'allUsersSeconds' as const, y: r.allUsersSeconds },
        { panel: 'peak RSS of the process: MiB', metric: 'peakRssMiB' as const, y: r.peakRssMiB },
      ].map((p) => ({ panel: p.panel, model: c.spec.model, series: label(p.metric), interactions: c.spec.interactions, y: Math.max(p.y, 1e-4) }));
    });
  const panel = (title: string) => ({
    title,
    width: 300,
    height: 220,
    transform: [{ filter: { field: 'panel', equal: title } }],
    layer: [{ mark: { type: 'line', point: true } }],
    encoding: {
      x: { field: 'interactions', type: 'quantitative', scale: { type: 'log' }, title: 'interactions' },
      y: { field: 'y', type: 'quantitative', scale: { type: 'log' }, title: null },
      color: { field: 'model', type: 'nominal', title: 'model', scale: { scheme: 'tableau20' } }, // 11+ models: 10 colours would repeat
      tooltip: [{ field: 'series' }, { field: 'interactions' }, { field: 'y' }],
    },
  });
  const titles = [...new Set(values.map((v) => v.panel))];
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: `Scalability on generated data (${report.machine.cores} CPU threads, ${report.started.slice(0, 10)})`,
    data: { values },
    vconcat: [
      { hconcat: titles.slice(0, 2).map(panel) },
      { hconcat: titles.slice(2).map(panel) },
    ],
    resolve: { scale: { color: 'shared' } },
  };
}
