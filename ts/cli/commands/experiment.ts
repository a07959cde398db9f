/**
 * `semrec experiment <name>`: the paper's studies as one command each, writing <out>/<name>.md, .json and,
 * for figures, .svg and .png.
 *
 *   semrec experiment scalability [--quick] [--sizes 10000,100000] [--models pop,bpr] [--out DIR]
 */
import type { Command } from 'commander';

import { SemrecError } from '../../errors';
import {
  DEFAULT_BUDGET_SECONDS,
  DEFAULT_REQUESTS,
  DEFAULT_TIMED_EPOCHS,
  FULL_SIZES,
  QUICK_SIZES,
  runScalability,
  scalabilityMarkdown,
} from '../../experiments/scalability';
import { checkModelName, MODEL_NAMES } from '../../models/registry';
import { interruptSignal } from '../main';
import { integers } from '../model-options';
import { createProgress } from '../progress';

/** The experiments this command runs, with what each reproduces. */
export const EXPERIMENTS = {
  scalability: "the LLM-Rec paper's Figure 7: training, request and all-users scoring time and peak memory against dataset size, every model",
} as const;

interface ExperimentCliOptions {
  quick?: boolean;
  sizes?: string;
  models?: string;
  out: string;
  seed: string;
  epochs: string;
  requests: string;
  budget: string;
  threads?: string;
  device: string;
  json?: boolean;
}

async function runScalabilityCommand(options: ExperimentCliOptions): Promise<void> {
  if (options.device !== 'cpu') {
    // The CUDA kernels are reachable per op (device: 'cuda'), but no model routes its training and
    // scoring to them yet: a 'cuda' column would be a CPU measurement with the wrong label.
    throw new SemrecError(
      `--device ${options.device}: the models train and score on the CPU; measuring them on CUDA needs model-level device routing, which semrec does not have yet`,
      'ERR_CUDA_UNAVAILABLE',
    );
  }
  const sizes = options.sizes ? integers(options.sizes, '--sizes', 1000) : options.quick ? QUICK_SIZES : FULL_SIZES;
  const models = options.models ? options.models.split(',').map((m) => checkModelName(m.trim(), '--models')) : [...MODEL_NAMES];
  const signal = interruptSignal();
  const progress = createProgress();
  try {
    const report = await runScalability({
      sizes,
      models,
      seed: integers(options.seed, '--seed', 0)[0],
      epochs: integers(options.epochs, '--epochs', 1)[0],
      requests: integers(options.requests, '--requests', 1)[0],
      budgetSeconds: integers(options.budget, '--budget', 1)[0],
      ...(options.threads !== undefined ? { numThreads: integers(options.threads, '--threads', 1)[0] } : {}),
      out: options.out,
      onProgress: progress.onProgress,
      signal,
    });
    progress.stop();
    process.stdout.write(options.json ? `${JSON.stringify(report)}\n` : scalabilityMarkdown(report));
    if (!options.json) process.stdout.write(`\nwritten: ${options.out}/scalability.{md,json,svg,png} (cells log: ${options.out}/scalability.cells.jsonl)\n`);
  } finally {
    progress.stop();
  }
}

export function registerExperiment(program: Command): void {
  program
    .command('experiment')
    .description(`run one of the paper's studies: ${Object.entries(EXPERIMENTS).map(([n, d]) => `${n} (${d})`).join('; ')}`)
    .argument('<name>', `the experiment (${Object.keys(EXPERIMENTS).join(', ')})`)
    .option('--quick', `a few minutes on 2 cores: sizes ${QUICK_SIZES.join(', ')} (default: ${FULL_SIZES.join(', ')})`)
    .option('--sizes <list>', 'scalability: dataset sizes in interactions, comma-separated')
    .option('--models <list>', `comma-separated models (default: all: ${MODEL_NAMES.join(', ')})`)
    .option('--out <dir>', 'folder for the report, figure and cells log (a rerun resumes from the log)', 'experiments')
    .option('--seed <n>', 'seed of the generated data and of training', '42')
    .option('--epochs <n>', 'scalability: epochs trained and timed per cell (the median is reported)', String(DEFAULT_TIMED_EPOCHS))
    .option('--requests <n>', 'scalability: single-user recommend requests timed per cell', String(DEFAULT_REQUESTS))
    .option('--budget <seconds>', 'scalability: leave out a cell predicted (from smaller sizes) to take longer than this', String(DEFAULT_BUDGET_SECONDS))
    .option('--threads <n>', 'CPU threads for training')
    .option('--device <device>', "where models run: 'cpu' (the only one models route to today)", 'cpu')
    .option('--json', 'print the report as one JSON object')
    .action(async (name: string, options: ExperimentCliOptions) => {
      if (!(name in EXPERIMENTS)) {
        throw new SemrecError(`experiment: unknown experiment '${name}' (known: ${Object.keys(EXPERIMENTS).join(', ')})`, 'ERR_INVALID_ARG_VALUE');
      }
      await runScalabilityCommand(options);
    });
}
