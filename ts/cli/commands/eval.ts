/**
 * `semrec eval`: trains and evaluates baseline models on a dataset under an evaluation protocol, over
 * one or more seeds, and prints a markdown table (or, with --json, one JSON object on stdout).
 *
 *   semrec eval --format ml-100k --path ../shared/datasets/ml-100k --models pop,bpr,lightgcn \
 *     --protocol ratio-8-1-1 --seeds 42,43,44 [--json] [--out report.md]
 */
import fs from 'node:fs/promises';

import type { Command } from 'commander';
import JSON5 from 'json5';

import { DATASET_FORMATS, loadDataset, type DatasetFormat } from '../../data/load';
import type { InteractionStore } from '../../data/store';
import { SemrecError } from '../../errors';
import { checkProtocol, DEFAULT_KS, PROTOCOLS, runExperiment } from '../../eval/harness';
import { renderJson, renderMarkdown } from '../../eval/report';
import type { ItemFeatureMatrix } from '../../models/contract';
import { checkModelName, describeParams, MODEL_NAMES, type ModelName } from '../../models/registry';
import { readEmbeddingFile } from '../../semantic/embedding-file';
import { writeFileAtomically } from '../../util/fs';
import { interruptSignal } from '../main';
import { createProgress } from '../progress';

interface EvalOptions {
  format: string;
  path: string;
  models: string;
  protocol: string;
  seeds: string;
  ks: string;
  params?: string;
  set: string[];
  sampled?: boolean;
  reference?: string;
  earlyStopping: boolean;
  threads?: string;
  json?: boolean;
  out?: string;
  listParams?: boolean;
  itemFeatures?: string;
}

function integers(text: string, flag: string, min: number): number[] {
  const values = text.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
  if (values.length === 0) throw new SemrecError(`${flag} must list at least one integer`, 'ERR_INVALID_ARG_VALUE');
  return values.map((s) => {
    const n = Number(s);
    if (!Number.isInteger(n) || n < min) throw new SemrecError(`${flag}: '${s}' is not an integer >= ${min}`, 'ERR_INVALID_ARG_VALUE');
    return n;
  });
}

/** Hyperparameters from --params (JSON or JSON5: { "bpr": { "lr": 0.01 } }) and --set model.key=value flags. */
export async function readParams(file: string | undefined, sets: string[]): Promise<Partial<Record<ModelName, Record<string, unknown>>>> {
  const params: Partial<Record<ModelName, Record<string, unknown>>> = {};
  if (file) {
    let parsed: unknown;
    try {
      parsed = JSON5.parse(await fs.readFile(file, 'utf8'));
    } catch (cause) {
      throw new SemrecError(`--params ${file}: ${(cause as Error).message}`, 'ERR_INVALID_ARG_VALUE', { cause });
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      throw new SemrecError(`--params ${file}: expected an object of model name -> hyperparameters`, 'ERR_INVALID_ARG_VALUE');
    }
    for (const [model, values] of Object.entries(parsed)) {
      const name = checkModelName(model, `--params ${file}`);
      if (typeof values !== 'object' || values === null || Array.isArray(values)) {
        throw new SemrecError(`--params ${file}: '${model}' must map to an object of hyperparameters`, 'ERR_INVALID_ARG_VALUE');
      }
      params[name] = { ...(values as Record<string, unknown>) };
    }
  }
  for (const assignment of sets) {
    const match = /^([a-z0-9]+)\.([A-Za-z0-9]+)=(.*)$/.exec(assignment);
    if (!match) throw new SemrecError(`--set '${assignment}' must look like model.param=value (e.g. bpr.lr=0.01)`, 'ERR_INVALID_ARG_VALUE');
    const name = checkModelName(match[1], `--set ${assignment}`);
    let value: unknown = match[3];
    try {
      value = JSON5.parse(match[3]);
    } catch {
      // not a number, boolean or list: keep the text
    }
    params[name] = { ...params[name], [match[2]]: value };
  }
  return params;
}

/**
 * Item content vectors for vbpr from a `semrec embed` file: its 'items' section, rows matched to the
 * dataset's items by raw id.
 */
async function readItemFeatures(file: string, store: InteractionStore): Promise<ItemFeatureMatrix> {
  const embedded = await readEmbeddingFile(file);
  const items = embedded.sections.get('items');
  if (!items?.rowIds) throw new SemrecError(`--item-features ${file}: no 'items' section with item ids (write it with semrec embed)`, 'ERR_INVALID_ARG_VALUE');
  const data = new Float32Array(store.numItems * items.cols);
  const found = new Uint8Array(store.numItems);
  items.rowIds.forEach((raw, r) => {
    const i = store.itemIds.index(raw);
    if (i === undefined) return;
    data.set(items.data.subarray(r * items.cols, (r + 1) * items.cols), i * items.cols);
    found[i] = 1;
  });
  const missing = found.indexOf(0);
  if (missing >= 0) {
    throw new SemrecError(
      `--item-features ${file}: item '${store.itemIds.raw(missing)}' of ${store.name} has no vector (was the file made from this dataset?)`,
      'ERR_INVALID_ARG_VALUE',
    );
  }
  return { data, dim: items.cols };
}

function listParams(): string {
  return MODEL_NAMES.map((name) => {
    const rows = describeParams(name).map((p) => `    ${p.name} = ${JSON.stringify(p.default)}  ${p.description}`);
    return `${name}\n${rows.length ? rows.join('\n') : '    (no hyperparameters)'}`;
  }).join('\n');
}

/** The command line that reproduces this run, written into reports. */
function canonicalCommand(o: EvalOptions): string {
  const parts = ['semrec eval', `--format ${o.format}`, `--path ${o.path}`, `--models ${o.models}`, `--protocol ${o.protocol}`, `--seeds ${o.seeds}`];
  if (o.ks !== DEFAULT_KS.join(',')) parts.push(`--ks ${o.ks}`);
  if (o.params) parts.push(`--params ${o.params}`);
  for (const s of o.set) parts.push(`--set ${s}`);
  if (o.sampled) parts.push('--sampled');
  if (o.reference) parts.push(`--reference ${o.reference}`);
  if (!o.earlyStopping) parts.push('--no-early-stopping');
  if (o.threads) parts.push(`--threads ${o.threads}`);
  if (o.itemFeatures) parts.push(`--item-features ${o.itemFeatures}`);
  return parts.join(' ');
}

export async function runEval(options: EvalOptions): Promise<void> {
  if (options.listParams) {
    process.stdout.write(`${listParams()}\n`);
    return;
  }
  if (!(DATASET_FORMATS as readonly string[]).includes(options.format)) {
    throw new SemrecError(`--format '${options.format}' is not one of ${DATASET_FORMATS.join(', ')}`, 'ERR_INVALID_ARG_VALUE');
  }
  const models = options.models.split(',').map((m) => checkModelName(m.trim(), '--models'));
  const protocol = checkProtocol(options.protocol);
  const seeds = integers(options.seeds, '--seeds', 0);
  const ks = integers(options.ks, '--ks', 1);
  const params = await readParams(options.params, options.set);
  const numThreads = options.threads !== undefined ? integers(options.threads, '--threads', 1)[0] : undefined;
  const signal = interruptSignal();
  const progress = createProgress();
  try {
    const store = await loadDataset({ format: options.format as DatasetFormat, path: options.path, signal, onProgress: progress.onProgress });
    const itemFeatures = options.itemFeatures ? await readItemFeatures(options.itemFeatures, store) : undefined;
    const report = await runExperiment({
      store,
      models,
      protocol,
      seeds,
      ks,
      params,
      sampled: options.sampled,
      reference: options.reference !== undefined ? checkModelName(options.reference, '--reference') : undefined,
      earlyStopping: options.earlyStopping,
      itemFeatures,
      numThreads,
      signal,
      onProgress: progress.onProgress,
    });
    progress.stop();
    const markdown = renderMarkdown(report, canonicalCommand(options));
    if (options.out) await writeFileAtomically(options.out, options.out.endsWith('.json') ? `${renderJson(report)}\n` : markdown);
    process.stdout.write(options.json ? `${renderJson(report)}\n` : markdown);
  } finally {
    progress.stop();
  }
}

export function registerEval(program: Command): void {
  program
    .command('eval')
    .description('train and evaluate models on a dataset under an evaluation protocol (full ranking unless --sampled)')
    .option('--format <format>', `dataset format (${DATASET_FORMATS.join(', ')})`, 'ml-100k')
    .option('--path <dir>', 'dataset folder or file', '')
    .option('--models <list>', `comma-separated models (${MODEL_NAMES.join(', ')})`, 'pop,bpr')
    .option('--protocol <name>', `evaluation protocol (${PROTOCOLS.join(', ')})`, 'ratio-8-1-1')
    .option('--seeds <list>', 'comma-separated seeds: one run per seed (split and training)', '42')
    .option('--ks <list>', 'cut-offs', DEFAULT_KS.join(','))
    .option('--params <file>', 'hyperparameters, JSON/JSON5: { "bpr": { "lr": 0.01 } }')
    .option('--set <model.param=value>', 'one hyperparameter (repeatable), e.g. --set bpr.dim=128', (v: string, all: string[]) => [...all, v], [])
    .option('--sampled', 'rank each held-out item against 99 sampled negatives (labelled "sampled"; not for claims)')
    .option('--reference <model>', 'model the paired tests compare against (default: pop, else the first model)')
    .option('--no-early-stopping', 'train the full epochs even when the protocol has a validation part')
    .option('--threads <n>', 'CPU threads for training (1: bit-reproducible)')
    .option('--item-features <file>', "item content vectors for vbpr: a 'semrec embed' file (default: the dataset's metadata features)")
    .option('--json', 'print the report as one JSON object on stdout')
    .option('--out <file>', 'also write the report to this file (markdown; JSON when it ends in .json)')
    .option('--list-params', "list every model's hyperparameters with their defaults, and exit")
    .action(async (options: EvalOptions) => {
      if (!options.listParams && !options.path) throw new SemrecError('--path is required (the dataset folder or file)', 'ERR_INVALID_ARG_VALUE');
      await runEval(options);
    });
}
