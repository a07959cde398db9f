/**
 * Fold-in quality of every model on a dataset: users removed from training and served from their
 * training-split history (recommendForHistory) against the same users trained normally, with each model's
 * default hyperparameters and early stopping (ts/eval/fold-in.ts; the bpr/lightgcn bar is also a test,
 * test/models/fold-in-quality.test.ts).
 *   npx tsx bench/fold-in.ts [--models bpr,lightgcn] [--format ml-100k --path ../shared/datasets/ml-100k]
 *     [--held-out 150] [--seed 42] [--on test|validation]
 * Writes bench/results/fold-in-<dataset>.json.
 */
import os from 'node:os';
import path from 'node:path';

import { loadDataset, type DatasetFormat } from '../ts/data/load';
import { ratioSplit } from '../ts/data/splits';
import { evaluateFoldIn } from '../ts/eval/fold-in';
import { checkModelName, MODEL_NAMES } from '../ts/models/registry';
import { writeFileAtomically } from '../ts/util/fs';
import { semrecVersion } from '../ts/version';

function arg(name: string, fallback: string): string {
  const at = process.argv.indexOf(`--${name}`);
  return at >= 0 && at + 1 < process.argv.length ? process.argv[at + 1] : fallback;
}

async function main(): Promise<void> {
  const models = arg('models', MODEL_NAMES.join(',')).split(',').map((m) => checkModelName(m, '--models'));
  const format = arg('format', 'ml-100k') as DatasetFormat;
  const dataPath = arg('path', path.resolve(__dirname, '..', '..', 'shared', 'datasets', 'ml-100k'));
  const heldOut = Number(arg('held-out', '150'));
  const seed = Number(arg('seed', '42'));
  const on = arg('on', 'test') as 'test' | 'validation';
  const store = await loadDataset({ format, path: dataPath });
  const split = ratioSplit(store, { ratios: [0.8, 0.1, 0.1], seed });
  const results: Record<string, object> = {};
  for (const model of models) {
    const r = await evaluateFoldIn({ split, model, heldOut, seed, on });
    results[model] = {
      normal: r.normal,
      foldedIn: r.foldedIn,
      ratio: r.ratio,
      trainSeconds: r.trainSeconds,
      foldInMs: r.foldInMs,
    };
    console.log(
      `${model}: ndcg@10 normal ${r.normal['ndcg@10'].toFixed(4)}, folded in ${r.foldedIn['ndcg@10'].toFixed(4)} ` +
        `(ratio ${r.ratio['ndcg@10'].toFixed(3)}), ${r.foldInMs.toFixed(1)} ms per new user`,
    );
  }
  const out = path.join(__dirname, 'results', `fold-in-${store.name}.json`);
  await writeFileAtomically(
    out,
    `${JSON.stringify(
      {
        dataset: store.name,
        split: 'ratio 8:1:1 per user, seed ' + seed,
        heldOutUsers: heldOut,
        metricsOn: on,
        note: 'default hyperparameters with early stopping on validation; held-out users\' validation items excluded for both',
        machine: { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model, load: 'busy shared machine (other work running)' },
        semrec: semrecVersion(),
        createdAt: new Date().toISOString(),
        models: results,
      },
      null,
      2,
    )}\n`,
  );
  console.log(`-> ${out}`);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
