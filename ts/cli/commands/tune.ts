/**
 * `semrec tune`: hyperparameter search (TPE or random) on a protocol's validation part.
 *
 *   semrec tune --format ml-100k --path ../shared/datasets/ml-100k --model bpr --trials 30 \
 *     [--space space.json] [--sampler tpe|random] [--seed 42] [--log trials.jsonl] [--out best.json]
 */
import fs from 'node:fs/promises';

import { Option, type Command } from 'commander';
import JSON5 from 'json5';

import { SemrecError } from '../../errors';
import { PROTOCOLS, checkProtocol } from '../../eval/harness';
import { checkModelName, createModel, MODEL_NAMES } from '../../models/registry';
import { checkSpace, type SearchSpace } from '../../tuning/space';
import { SAMPLERS, type SamplerName } from '../../tuning/tpe';
import { tune, type TrialRecord, type TuneResult } from '../../tuning/tune';
import { addDatasetOptions, loadDatasetFromCli, type DatasetCliOptions } from '../dataset';
import { interruptSignal } from '../main';
import { createProgress } from '../progress';
import { readParams } from '../model-options';

interface TuneCliOptions extends DatasetCliOptions {
  model: string;
  trials: string;
  space?: string;
  sampler: SamplerName;
  seed: string;
  protocol: string;
  seeds: string;
  metric: string;
  params?: string;
  set: string[];
  defaults: boolean;
  log?: string;
  out?: string;
  threads?: string;
  json?: boolean;
}

function integer(text: string, flag: string, min: number, max: number): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < min || n > max) throw new SemrecError(`${flag}: '${text}' is not an integer in [${min}, ${max}]`, 'ERR_OUT_OF_RANGE');
  return n;
}

async function readSpace(file: string, model: Parameters<typeof checkSpace>[0]): Promise<SearchSpace> {
  let parsed: unknown;
  try {
    parsed = JSON5.parse(await fs.readFile(file, 'utf8'));
  } catch (cause) {
    throw new SemrecError(`--space ${file}: ${(cause as Error).message}`, 'ERR_INVALID_ARG_VALUE', { cause });
  }
  return checkSpace(model, parsed, `--space ${file}`);
}

function format(value: unknown): string {
  return typeof value === 'number' && !Number.isInteger(value) ? value.toPrecision(3) : JSON.stringify(value);
}

function trialLine(t: TrialRecord, best: TrialRecord, metric: string): string {
  const params = t.defaults ? '(defaults)' : Object.entries(t.params).map(([k, v]) => `${k}=${format(v)}`).join(' ');
  const value = t.status === 'ok' ? `${metric} ${t.value.toFixed(4)}` : `failed: ${t.error ?? 'non-finite metric'}`;
  return `trial ${t.trial}: ${value} (${t.seconds.toFixed(1)} s) ${params}${t === best ? '  <- best' : ''}\n`;
}

function summary(result: TuneResult, log: string | undefined, out: string | undefined): string {
  const { header, best, defaults } = result;
  const lines = [
    `# Tuning ${header.model} on ${header.dataset.name} (${header.sampler}, ${result.trials.length} trials, seed ${header.seed})`,
    '',
    `Validation ${header.metric} on ${header.protocol}, seeds ${header.seeds.join(',')} (the test part is never used).`,
    `Search space: ${JSON.stringify(header.space)}`,
    '',
    `- best: ${best.value.toFixed(4)} at trial ${best.trial}${best.defaults ? ' (the defaults)' : ''}`,
    ...(defaults?.status === 'ok' ? [`- defaults: ${defaults.value.toFixed(4)} (${((100 * (best.value - defaults.value)) / defaults.value).toFixed(1)}% below the best)`] : []),
    `- best hyperparameters: ${JSON.stringify(createModel(header.model, { ...header.fixed, ...best.params } as never).params)}`,
    ...(result.resumed > 0 ? [`- resumed: ${result.resumed} trials read from the log`] : []),
    ...(log ? [`- trials log: ${log}`] : []),
    ...(out ? [`- best hyperparameters written to ${out} (semrec eval --params ${out})`] : []),
  ];
  return `${lines.join('\n')}\n`;
}

export async function runTune(options: TuneCliOptions): Promise<void> {
  const model = checkModelName(options.model, '--model');
  const trials = integer(options.trials, '--trials', 1, 100_000);
  const seed = integer(options.seed, '--seed', 0, 2 ** 31 - 1);
  const seeds = options.seeds.split(',').map((s) => integer(s.trim(), '--seeds', 0, 2 ** 31 - 1));
  const protocol = checkProtocol(options.protocol);
  const space = options.space ? await readSpace(options.space, model) : undefined;
  const fixed = (await readParams(options.params, options.set))[model] ?? {};
  const numThreads = options.threads !== undefined ? integer(options.threads, '--threads', 1, 1024) : undefined;
  const signal = interruptSignal();
  const store = await loadDatasetFromCli(options, signal);
  const progress = createProgress();
  try {
    const result = await tune({
      store,
      model,
      trials,
      space,
      fixed,
      sampler: options.sampler,
      seed,
      protocol,
      seeds,
      metric: options.metric,
      defaultsFirst: options.defaults,
      log: options.log,
      out: options.out,
      numThreads,
      signal,
      onProgress: options.json ? undefined : progress.onProgress,
      onTrial: (t, best) => {
        if (!options.json) process.stderr.write(trialLine(t, best, options.metric));
      },
    });
    progress.stop();
    process.stdout.write(options.json ? `${JSON.stringify(result)}\n` : summary(result, options.log, options.out));
  } finally {
    progress.stop();
  }
}

export function registerTune(program: Command): void {
  const command = program
    .command('tune')
    .description('search hyperparameters (TPE or random) on the validation part of a protocol; never looks at the test part');
  addDatasetOptions(command)
    .requiredOption('--model <name>', `model to tune (${MODEL_NAMES.join(', ')})`)
    .option('--trials <n>', 'trials in all (a resumed search runs the missing ones)', '30')
    .option('--space <file>', 'search space, JSON/JSON5: { "lr": { "type": "float", "low": 1e-3, "high": 0.1, "log": true }, ... } (default: derived from the model\'s defaults)')
    .addOption(new Option('--sampler <name>', 'tpe (Tree-structured Parzen Estimator) or random search').choices([...SAMPLERS]).default('tpe'))
    .option('--seed <n>', "the sampler's seed", '42')
    .addOption(new Option('--protocol <name>', 'split protocol; it must have a validation part').choices([...PROTOCOLS]).default('ratio-8-1-1'))
    .option('--seeds <list>', 'split and training seeds each trial is averaged over', '42')
    .option('--metric <name>', 'validation metric to maximise', 'ndcg@10')
    .option('--params <file>', 'fixed hyperparameters, JSON/JSON5 as semrec eval takes them: { "bpr": { "dim": 128 } }')
    .option('--set <model.param=value>', 'one fixed hyperparameter (repeatable)', (v: string, all: string[]) => [...all, v], [])
    .option('--no-defaults', "do not run the model's defaults as trial 0")
    .option('--log <file>', 'JSON lines trials log: each finished trial is appended; an existing log is resumed')
    .option('--out <file>', 'write the best hyperparameters here, as semrec eval --params reads them')
    .option('--threads <n>', 'CPU threads for training')
    .option('--json', 'print the whole result (every trial) as one JSON object')
    .action(async (options: TuneCliOptions) => runTune(options));
}
