/**
 * `batch eval`: a grid of datasets x seeds x models, one job per cell. Each cell is exactly what
 * runExperiment does for one model and one seed (ts/eval/harness.ts: prepareSeed + evaluateCell); its
 * result, per-user metric vectors included, is written as a checked file, and the cells of each dataset
 * are assembled by the same assembleReport into one report per dataset: the numbers equal those of
 * `semrec eval` with the same options (training with --threads 1 is bit-reproducible).
 */
import path from 'node:path';

import { DATASET_FORMATS, loadDataset, type DatasetFormat } from '../data/load';
import { SemrecError } from '../errors';
import { assembleReport, evaluateCell, planExperiment, type CellResult, type ExperimentReport, type ProtocolName, type SeedResult } from '../eval/harness';
import { renderJson, renderMarkdown } from '../eval/report';
import type { ProtocolDescription } from '../data/splits';
import { createModel, type ModelName } from '../models/registry';
import { throwIfAborted, type LongRunningOptions } from '../progress';
import { writeFileAtomically } from '../util/fs';
import { fromBase64, readCheckedJson, toBase64, writeCheckedJson } from './checked-file';
import { datasetFingerprint } from './inputs';
import { parsePayload, z, type BatchKind, type BatchResult } from './kind';
import { shardName, type BatchCommon, type DatasetSpec, type EvalBatchSpec } from './spec';

const CELL_KIND = 'eval-cell';

export interface EvalGrid {
  datasets: { format: string; path: string }[];
  models: string[];
  protocol: string;
  seeds: number[];
  ks?: number[];
  sampled?: boolean;
  reference?: string;
  params?: Record<string, object>;
  earlyStopping?: boolean;
  /** Leave the users' training and validation items out of the full ranking (default true; false: semrec eval --keep-seen). */
  excludeSeen?: boolean;
  /** CPU threads per cell's training (1: bit-reproducible, and one core per concurrent cell). */
  threads?: number;
}

/** Loads every dataset once (to check it and record its fingerprint) and checks models, protocol and parameters. */
export async function planEvalBatch(grid: EvalGrid, common: BatchCommon, options: LongRunningOptions = {}): Promise<EvalBatchSpec> {
  const plan = planExperiment({
    models: grid.models as ModelName[],
    protocol: grid.protocol as ProtocolName,
    seeds: grid.seeds,
    ks: grid.ks,
    sampled: grid.sampled,
    reference: grid.reference as ModelName | undefined,
    params: grid.params,
    excludeSeen: grid.excludeSeen,
  });
  for (const model of plan.models) createModel(model, (grid.params?.[model] ?? {}) as never); // parameters checked before any job exists
  if (grid.datasets.length === 0) throw new SemrecError('batch eval: no dataset given', 'ERR_INVALID_ARG_VALUE');
  const datasets: DatasetSpec[] = [];
  for (const d of grid.datasets) {
    if (!(DATASET_FORMATS as readonly string[]).includes(d.format)) {
      throw new SemrecError(`batch eval: dataset format '${d.format}' is not one of ${DATASET_FORMATS.join(', ')}`, 'ERR_INVALID_ARG_VALUE');
    }
    throwIfAborted(options.signal, 'batch eval');
    const absolute = path.resolve(d.path);
    const store = await loadDataset({ format: d.format as DatasetFormat, path: absolute, signal: options.signal, onProgress: options.onProgress });
    datasets.push({
      format: d.format,
      path: absolute,
      fingerprint: datasetFingerprint(store),
      summary: { name: store.name, numUsers: store.numUsers, numItems: store.numItems, numInteractions: store.numInteractions },
    });
  }
  return {
    ...common,
    kind: 'eval',
    numShards: datasets.length * plan.seeds.length * plan.models.length,
    datasets,
    models: plan.models,
    protocol: plan.protocol,
    seeds: plan.seeds,
    ks: plan.ks,
    sampled: plan.sampled,
    reference: plan.reference,
    params: grid.params ?? {},
    earlyStopping: grid.earlyStopping ?? true,
    excludeSeen: plan.excludeSeen,
    threads: grid.threads,
  };
}

/** Shard -> (dataset, seed, model): datasets outermost, then seeds, so a worker reuses a seed's split across models. */
function cellOf(spec: EvalBatchSpec, shard: number): { dataset: number; seed: number; model: string } {
  const m = spec.models.length;
  const s = spec.seeds.length;
  return { dataset: Math.floor(shard / (m * s)), seed: spec.seeds[Math.floor(shard / m) % s], model: spec.models[shard % m] };
}

function cellFile(workDir: string, shard: number, numShards: number): string {
  return path.join(workDir, `cell-${shardName(shard, numShards)}.json`);
}

const payloadSchema = z.object({
  dataset: z.object({ format: z.string(), path: z.string(), fingerprint: z.string() }),
  protocol: z.string(),
  seed: z.number().int(),
  model: z.string(),
  params: z.record(z.string(), z.unknown()),
  ks: z.array(z.number().int().min(1)),
  sampled: z.boolean(),
  earlyStopping: z.boolean(),
  excludeSeen: z.boolean(),
  threads: z.number().int().min(1).optional(),
  file: z.string(),
});

/** A cell as stored: per-user vectors as base64 of their float64 bytes (exact, NaN kept). */
interface StoredCell {
  batchId: string;
  shard: number;
  model: string;
  result: SeedResult;
  split: ProtocolDescription;
  earlyStopping: boolean;
  users: string;
  values: Record<string, string>;
}

function toStored(batchId: string, shard: number, cell: CellResult): StoredCell {
  const values: Record<string, string> = {};
  for (const [key, v] of Object.entries(cell.perUser.values)) values[key] = toBase64(v);
  return { batchId, shard, model: cell.model, result: cell.result, split: cell.split, earlyStopping: cell.earlyStopping, users: toBase64(cell.perUser.users), values };
}

function fromStored(stored: StoredCell, file: string): CellResult {
  const values: Record<string, Float64Array> = {};
  for (const [key, v] of Object.entries(stored.values)) values[key] = fromBase64(v, Float64Array, `${file}: ${key}`);
  // JSON has no NaN: a metric that was NaN for a seed (e.g. rmse without ratings) comes back as null.
  for (const [key, v] of Object.entries(stored.result.metrics)) if (v === null) stored.result.metrics[key] = NaN;
  return {
    model: stored.model as ModelName,
    result: stored.result,
    perUser: { users: fromBase64(stored.users, Int32Array, `${file}: users`), values },
    split: stored.split,
    earlyStopping: stored.earlyStopping,
  };
}

async function readCell(spec: EvalBatchSpec, shard: number): Promise<StoredCell | undefined> {
  const file = cellFile(spec.workDir, shard, spec.numShards);
  const stored = await readCheckedJson<StoredCell>(file, CELL_KIND);
  if (stored && (stored.batchId !== spec.id || stored.shard !== shard)) {
    throw new SemrecError(`${file} belongs to shard ${stored.shard} of batch ${stored.batchId}, not shard ${shard} of ${spec.id}`, 'ERR_SHARD_CORRUPT');
  }
  return stored;
}

/** The merged report: one experiment report per dataset. */
export interface BatchEvalReport {
  batch: { id: string; command: string; cells: number };
  reports: ExperimentReport[];
}

export function renderBatchEvalMarkdown(report: BatchEvalReport): string {
  return report.reports.map((r) => renderMarkdown(r, report.batch.command)).join('\n');
}

export function renderBatchEvalJson(report: BatchEvalReport): string {
  const reports = report.reports.map((r) => JSON.parse(renderJson(r)) as unknown);
  return JSON.stringify({ batch: report.batch, reports }, null, 2);
}

export const evalKind: BatchKind<EvalBatchSpec> = {
  unit: 'cells',
  units: () => 1,
  label(spec, shard) {
    const c = cellOf(spec, shard);
    return `${spec.datasets[c.dataset].summary.name} ${c.model} seed ${c.seed}`;
  },
  payload(spec, shard) {
    const c = cellOf(spec, shard);
    const d = spec.datasets[c.dataset];
    return {
      dataset: { format: d.format, path: d.path, fingerprint: d.fingerprint },
      protocol: spec.protocol,
      seed: c.seed,
      model: c.model,
      params: spec.params[c.model] ?? {},
      ks: spec.ks,
      sampled: spec.sampled,
      earlyStopping: spec.earlyStopping,
      excludeSeen: spec.excludeSeen,
      ...(spec.threads !== undefined ? { threads: spec.threads } : {}),
      file: cellFile(spec.workDir, shard, spec.numShards),
    };
  },
  async run(job, resources, context) {
    const p = parsePayload(payloadSchema, job);
    const dataset = await resources.dataset(p.dataset.format, p.dataset.path, p.dataset.fingerprint, context.signal);
    const split = await resources.split(dataset, p.protocol as ProtocolName, p.seed);
    const cell = await evaluateCell({
      store: dataset.store,
      context: split,
      model: p.model as ModelName,
      params: p.params,
      ks: p.ks,
      sampled: p.sampled,
      earlyStopping: p.earlyStopping,
      excludeSeen: p.excludeSeen,
      numThreads: p.threads,
      signal: context.signal,
      onProgress: (e) => {
        if (e.total) context.progress(Math.min(1, e.done / e.total));
        context.onProgress?.(e);
      },
    });
    await writeCheckedJson(p.file, CELL_KIND, toStored(job.batchId, job.shard, cell));
  },
  async verify(spec, shard) {
    try {
      return (await readCell(spec, shard)) !== undefined;
    } catch {
      return false;
    }
  },
  async finalize(spec, options): Promise<BatchResult> {
    const reports: ExperimentReport[] = [];
    const plan = {
      models: spec.models as ModelName[],
      protocol: spec.protocol as ProtocolName,
      seeds: spec.seeds,
      ks: spec.ks,
      sampled: spec.sampled,
      reference: spec.reference as ModelName,
      params: spec.params as Partial<Record<ModelName, object>>,
      excludeSeen: spec.excludeSeen,
    };
    const perDataset = spec.models.length * spec.seeds.length;
    for (let d = 0; d < spec.datasets.length; d++) {
      throwIfAborted(options.signal, 'batch eval');
      const cells: CellResult[] = [];
      for (let shard = d * perDataset; shard < (d + 1) * perDataset; shard++) {
        const stored = await readCell(spec, shard);
        if (!stored) throw new SemrecError(`batch ${spec.id}: the result of cell ${shard} is missing`, 'ERR_SHARD_CORRUPT');
        cells.push(fromStored(stored, cellFile(spec.workDir, shard, spec.numShards)));
      }
      reports.push(assembleReport(spec.datasets[d].summary, plan, cells));
    }
    const report: BatchEvalReport = { batch: { id: spec.id, command: spec.command, cells: spec.numShards }, reports };
    const markdown = renderBatchEvalMarkdown(report);
    const json = renderBatchEvalJson(report);
    await writeFileAtomically(spec.out, spec.out.endsWith('.json') ? `${json}\n` : markdown);
    return { text: markdown, summary: JSON.parse(json) as Record<string, unknown> };
  },
};
