/**
 * `semrec eval`: trains and evaluates baseline models on a dataset under an evaluation protocol, over
 * one or more seeds, and prints a markdown table (or, with --json, one JSON object on stdout).
 *
 *   semrec eval --format ml-100k --path ../shared/datasets/ml-100k --models pop,bpr,lightgcn \
 *     --protocol ratio-8-1-1 --seeds 42,43,44 [--json] [--out report.md]
 */
import type { Command } from 'commander';

import { checkProtocol, DEFAULT_KS, PROTOCOLS, runExperiment } from '../../eval/harness';
import { renderJson, renderMarkdown } from '../../eval/report';
import { checkModelName, describeParams, MODEL_NAMES } from '../../models/registry';
import { checkWritable, writeFileAtomically } from '../../util/fs';
import { addDatasetOptions, type DatasetCliOptions, loadDatasetFromCli, requireDataset } from '../dataset';
import { interruptSignal } from '../main';
import { integers, readItemFeatures, readParams } from '../model-options';
import { createProgress } from '../progress';

interface EvalOptions extends DatasetCliOptions {
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
  threads?: string;
  json?: boolean;
  out?: string;
  listParams?: boolean;
  itemFeatures?: string;
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
  if (o.keepSeen) parts.push('--keep-seen');
  if (o.threads) parts.push(`--threads ${o.threads}`);
  if (o.itemFeatures) parts.push(`--item-features ${o.itemFeatures}`);
  return parts.join(' ');
}

export async function runEval(options: EvalOptions): Promise<void> {
  if (options.listParams) {
    process.stdout.write(`${listParams()}\n`);
    return;
  }
  const dataset = requireDataset(options, 'semrec eval');
  const models = options.models.split(',').map((m) => checkModelName(m.trim(), '--models'));
  const protocol = checkProtocol(options.protocol);
  const seeds = integers(options.seeds, '--seeds', 0);
  const ks = integers(options.ks, '--ks', 1);
  const params = await readParams(options.params, options.set);
  const numThreads = options.threads !== undefined ? integers(options.threads, '--threads', 1)[0] : undefined;
  // Before hours of training: the report must have somewhere to go.
  if (options.out) await checkWritable(options.out);
  const signal = interruptSignal();
  const progress = createProgress();
  try {
    const store = await loadDatasetFromCli(dataset, signal);
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
      excludeSeen: !options.keepSeen,
      itemFeatures,
      numThreads,
      signal,
      onProgress: progress.onProgress,
    });
    progress.stop();
    const markdown = renderMarkdown(report, canonicalCommand(options));
    // stdout first: if --out cannot be written after all (the disk filled up meanwhile), the report is not lost.
    process.stdout.write(options.json ? `${renderJson(report)}\n` : markdown);
    if (options.out) await writeFileAtomically(options.out, options.out.endsWith('.json') ? `${renderJson(report)}\n` : markdown);
  } finally {
    progress.stop();
  }
}

export function registerEval(program: Command): void {
  const command = program
    .command('eval')
    .description('train and evaluate models on a dataset under an evaluation protocol (full ranking unless --sampled)');
  addDatasetOptions(command, { required: false }) // `eval --list-params` reads no dataset
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
    .option('--keep-seen', "rank the user's training and validation items too (RecBole's full ranking of sequential models)")
    .option('--item-features <file>', "item content vectors for vbpr: a 'semrec embed' file (default: the dataset's metadata features)")
    .option('--json', 'print the report as one JSON object on stdout')
    .option('--out <file>', 'also write the report to this file (markdown; JSON when it ends in .json)')
    .option('--list-params', "list every model's hyperparameters with their defaults, and exit")
    .action(async (options: EvalOptions) => {
      await runEval(options);
    });
}
