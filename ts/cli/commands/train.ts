/**
 * `semrec train`: trains one model on a dataset and saves it, ready for `semrec recommend` / `similar`
 * and for loadModel() without the dataset.
 *
 *   semrec train --format ml-100k --path ../shared/datasets/ml-100k --model bpr --out models/bpr
 *
 * Iterative models choose their number of epochs by early stopping on a per-user random hold-out
 * (--validation, default 10%; RecBole's validation metric ndcg@10), then train again on every
 * interaction for that many epochs, so that nothing a user did is left out of the saved model (its seen
 * items are what recommend excludes). --no-early-stopping trains on everything for the configured epochs.
 */
import { type Command, Option } from 'commander';

import { ratioSplit } from '../../data/splits';
import { SemrecError } from '../../errors';
import type { BaseRecommender } from '../../models/base';
import { DEFAULT_STOPPING_METRIC } from '../../models/base';
import type { FitReport } from '../../models/contract';
import { checkModelName, createModel, MODEL_NAMES } from '../../models/registry';
import type { VectorIndexKind } from '../../retrieval/index';
import { addDatasetOptions, type DatasetCliOptions, loadDatasetFromCli } from '../dataset';
import { interruptSignal } from '../main';
import { integers, readItemFeatures, readParams } from '../model-options';
import { createProgress } from '../progress';

/** Share of each user's interactions held out to choose the number of epochs (RecBole's validation share in 8:1:1). */
export const DEFAULT_VALIDATION_RATIO = 0.1;

interface TrainOptions extends DatasetCliOptions {
  model: string;
  out: string;
  params?: string;
  set: string[];
  seed: string;
  validation: string;
  earlyStopping: boolean;
  threads?: string;
  itemFeatures?: string;
  itemIndex?: VectorIndexKind;
  json?: boolean;
}

export interface TrainSummary {
  model: string;
  out: string;
  dataset: { name: string; users: number; items: number; interactions: number };
  params: object;
  /** How the number of epochs was chosen, for iterative models. */
  epochs?: { trained: number; chosenBy: string; validation?: { metric: string; best: number; ratio: number } };
  trainSeconds: number;
  /** A user id of the dataset, for the hint printed after training. */
  exampleUser: string;
}

export async function runTrain(options: TrainOptions): Promise<TrainSummary> {
  const name = checkModelName(options.model, '--model');
  const seed = integers(options.seed, '--seed', 0)[0];
  const numThreads = options.threads !== undefined ? integers(options.threads, '--threads', 1)[0] : undefined;
  const ratio = Number(options.validation);
  if (!(ratio > 0 && ratio < 1)) throw new SemrecError(`--validation must be a share in (0, 1), got '${options.validation}'`, 'ERR_INVALID_ARG_VALUE');
  const params: Record<string, unknown> = (await readParams(options.params, options.set))[name] ?? {};
  const unrelated = options.set.map((s) => s.split('.')[0]).filter((m) => m !== name);
  if (unrelated.length > 0) throw new SemrecError(`--set ${unrelated[0]}...: this command trains '${name}' only`, 'ERR_INVALID_ARG_VALUE');
  const signal = interruptSignal();
  const store = await loadDatasetFromCli(options, signal);
  const itemFeatures = options.itemFeatures ? await readItemFeatures(options.itemFeatures, store) : undefined;
  let model = createModel(name, params as never) as BaseRecommender<object>;
  if (itemFeatures && !model.acceptsItemFeatures) throw new SemrecError(`--item-features: '${name}' does not use item content vectors (vbpr does)`, 'ERR_INVALID_ARG_VALUE');
  const iterative = 'epochs' in model.params;
  const progress = createProgress();
  const started = performance.now();
  let epochs: TrainSummary['epochs'];
  try {
    const fit = (m: BaseRecommender<object>, data: typeof store, phase: string, earlyStopping?: { data: typeof store }): Promise<FitReport> =>
      m.fit(data, {
        seed,
        earlyStopping,
        itemFeatures,
        numThreads,
        signal,
        onProgress: (e) => progress.onProgress({ ...e, phase: `${phase}: ${e.phase}` }),
      });
    if (iterative && options.earlyStopping && model.rankingEarlyStopping) {
      const split = ratioSplit(store, { ratios: [1 - ratio, ratio], seed });
      const report = await fit(model, split.train, `choosing epochs (${Math.round(ratio * 100)}% per-user hold-out)`, { data: split.test });
      const best = report.epochs[report.bestEpoch - 1]?.validation ?? NaN;
      model = createModel(name, { ...params, epochs: report.bestEpoch } as never) as BaseRecommender<object>;
      await fit(model, store, 'training on every interaction');
      epochs = {
        trained: report.bestEpoch,
        chosenBy: `early stopping on validation ${DEFAULT_STOPPING_METRIC} over a ${Math.round(ratio * 100)}% per-user hold-out, then retrained on everything`,
        validation: { metric: DEFAULT_STOPPING_METRIC, best, ratio },
      };
    } else {
      await fit(model, store, 'training on every interaction');
      if (iterative) epochs = { trained: (model.params as { epochs: number }).epochs, chosenBy: options.earlyStopping ? `the configured epochs (${name} trains for its own objective)` : 'the configured epochs (--no-early-stopping)' };
    }
    if (options.itemIndex) model.buildItemIndex({ kind: options.itemIndex });
    await model.save(options.out);
  } finally {
    progress.stop();
  }
  return {
    model: name,
    out: options.out,
    dataset: { name: store.name, users: store.numUsers, items: store.numItems, interactions: store.numInteractions },
    params: model.params,
    ...(epochs ? { epochs } : {}),
    trainSeconds: (performance.now() - started) / 1000,
    exampleUser: store.userIds.raw(0),
  };
}

function printSummary(s: TrainSummary): void {
  const lines = [
    `Trained ${s.model} on ${s.dataset.name} (${s.dataset.users} users, ${s.dataset.items} items, ${s.dataset.interactions} interactions) in ${s.trainSeconds.toFixed(1)} s.`,
  ];
  if (s.epochs) {
    lines.push(
      `Epochs: ${s.epochs.trained}, chosen by ${s.epochs.chosenBy}` +
        (s.epochs.validation ? ` (best validation ${s.epochs.validation.metric} ${s.epochs.validation.best.toFixed(4)}).` : '.'),
    );
  }
  lines.push(`Saved to ${s.out}. Try: semrec recommend --model-dir ${s.out} --user ${s.exampleUser}`);
  process.stdout.write(`${lines.join('\n')}\n`);
}

export function registerTrain(program: Command): void {
  addDatasetOptions(program.command('train').description('train one model on a dataset and save it (raw ids, titles and provenance included)'))
    .addOption(new Option('--model <name>', 'the model').choices([...MODEL_NAMES]).makeOptionMandatory())
    .requiredOption('--out <dir>', 'directory to save the model to (created; a model saved there before is replaced)')
    .option('--params <file>', 'hyperparameters, JSON/JSON5: { "bpr": { "lr": 0.01 } } (semrec eval --list-params shows them)')
    .option('--set <model.param=value>', 'one hyperparameter (repeatable), e.g. --set bpr.dim=128', (v: string, all: string[]) => [...all, v], [])
    .option('--seed <n>', 'seeds the hold-out split, initialisation and sampling', '42')
    .option('--validation <share>', 'per-user share held out to choose the number of epochs by early stopping', String(DEFAULT_VALIDATION_RATIO))
    .option('--no-early-stopping', 'train on every interaction for the configured epochs')
    .option('--threads <n>', 'CPU threads for training (1: bit-reproducible)')
    .option('--item-features <file>', "vbpr: item content vectors from a 'semrec embed' file (default: the dataset's metadata)")
    .addOption(new Option('--item-index <kind>', 'also build a faiss index of item vectors for similar items (flat: exact)').choices(['flat', 'ivf', 'hnsw']))
    .option('--json', 'print a JSON summary on stdout')
    .action(async (options: TrainOptions) => {
      const summary = await runTrain(options);
      if (options.json) process.stdout.write(`${JSON.stringify(summary)}\n`);
      else printSummary(summary);
    });
}
