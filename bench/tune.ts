/**
 * Grid search on the VALIDATION part of a split (never the test part): for every combination of the
 * grid, the same objective as `semrec tune` (ts/tuning/tune.ts validationScore: fit with early stopping
 * on validation, the best validation metric and its epoch). `semrec tune` searches with TPE instead.
 * `npx tsx bench/tune.ts --model bpr --grid '{"lr":[0.01,0.05],"reg":[0,0.001]}' [--base '{"dim":64}'] [--format ml-100k --path ../shared/datasets/ml-100k --protocol ratio-8-1-1 --seeds 42]`
 * Writes bench/results/tuning-<dataset>-<model>.json (appending to earlier runs).
 */
import fs from 'node:fs';
import path from 'node:path';

import JSON5 from 'json5';

import { loadDataset, type DatasetFormat } from '../ts/data/load';
import { checkProtocol, splitByProtocol } from '../ts/eval/harness';
import { checkModelName } from '../ts/models/registry';
import { validationScore } from '../ts/tuning/tune';
import { writeFileAtomically } from '../ts/util/fs';

function arg(name: string, fallback?: string): string {
  const at = process.argv.indexOf(`--${name}`);
  if (at >= 0 && at + 1 < process.argv.length) return process.argv[at + 1];
  if (fallback === undefined) throw new Error(`--${name} is required`);
  return fallback;
}

function combinations(grid: Record<string, unknown[]>): Record<string, unknown>[] {
  return Object.entries(grid).reduce<Record<string, unknown>[]>(
    (acc, [key, values]) => acc.flatMap((c) => values.map((v) => ({ ...c, [key]: v }))),
    [{}],
  );
}

async function main(): Promise<void> {
  const model = checkModelName(arg('model'), '--model');
  const grid = JSON5.parse(arg('grid', '{}')) as Record<string, unknown[]>;
  const base = JSON5.parse(arg('base', '{}')) as Record<string, unknown>;
  const format = arg('format', 'ml-100k') as DatasetFormat;
  const dataPath = arg('path', path.resolve(__dirname, '..', '..', 'shared', 'datasets', 'ml-100k'));
  const protocol = checkProtocol(arg('protocol', 'ratio-8-1-1'));
  const seeds = arg('seeds', '42').split(',').map(Number);
  const metric = arg('metric', 'ndcg@10');
  const store = await loadDataset({ format, path: dataPath });
  const out = path.join(__dirname, 'results', `tuning-${store.name}-${model}.json`);
  const runs: object[] = fs.existsSync(out) ? JSON.parse(fs.readFileSync(out, 'utf8')) : [];
  const splits = seeds.map((seed) => {
    const split = splitByProtocol(store, protocol, seed);
    if (!split.validation) throw new Error(`${protocol} has no validation part to tune on`);
    return { seed, split };
  });
  for (const combo of combinations(grid)) {
    const params = { ...base, ...combo };
    const { value: mean, perSeed: values, bestEpochs: epochs, seconds } = await validationScore(model, params, splits, metric);
    console.log(`${model} ${JSON.stringify(params)}: validation ${metric} ${mean.toFixed(4)} (best epochs ${epochs.join(',')}, ${seconds.toFixed(1)} s)`);
    runs.push({ model, dataset: store.name, protocol, seeds, params, metric, validation: mean, perSeed: values, bestEpochs: epochs, seconds });
    await writeFileAtomically(out, `${JSON.stringify(runs, null, 2)}\n`);
  }
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
