/**
 * TPE against random search at equal budget: for each model and each of `--reps` sampler seeds, one
 * `semrec tune` search per sampler (same trials, same derived space), on the validation part of
 * ml-100k's ratio-8-1-1 split. The searches do NOT start from the defaults (defaultsFirst: false): the
 * defaults were grid-tuned on this very validation part and would win most searches as trial 0, hiding
 * the samplers' own proposals; the defaults are scored once, separately. Writes the best validation
 * value of every search, its curve, the medians and the defaults' value to
 * bench/results/tpe-vs-random-<dataset>.json.
 *
 *   npx tsx bench/tpe-vs-random.ts [--models bpr,lightfm] [--trials 30] [--reps 3] [--format ml-100k --path ...]
 */
import path from 'node:path';

import { loadDataset, type DatasetFormat } from '../ts/data/load';
import { checkModelName } from '../ts/models/registry';
import { SAMPLERS } from '../ts/tuning/tpe';
import { splitByProtocol } from '../ts/eval/harness';
import { tune, validationScore } from '../ts/tuning/tune';
import { writeFileAtomically } from '../ts/util/fs';

function arg(name: string, fallback: string): string {
  const at = process.argv.indexOf(`--${name}`);
  return at >= 0 && at + 1 < process.argv.length ? process.argv[at + 1] : fallback;
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

async function main(): Promise<void> {
  const models = arg('models', 'bpr,lightfm').split(',').map((m) => checkModelName(m, '--models'));
  const trials = Number(arg('trials', '30'));
  const reps = Number(arg('reps', '3'));
  const format = arg('format', 'ml-100k') as DatasetFormat;
  const dataPath = arg('path', path.resolve(__dirname, '..', '..', 'shared', 'datasets', 'ml-100k'));
  const store = await loadDataset({ format, path: dataPath });
  const out = path.join(__dirname, 'results', `tpe-vs-random-${store.name}.json`);
  const results: Record<string, unknown> = {};
  const started = new Date().toISOString();
  const splits = [{ seed: 42, split: splitByProtocol(store, 'ratio-8-1-1', 42) }];
  for (const model of models) {
    const defaults = await validationScore(model, {}, splits, 'ndcg@10');
    console.log(`${model} defaults: ${defaults.value.toFixed(4)}`);
    const runs: { sampler: string; seed: number; best: number; bestTrial: number; bestParams: object; seconds: number; curve: number[] }[] = [];
    for (let rep = 0; rep < reps; rep++) {
      // Alternate the samplers so that machine load affects both alike (only the seconds depend on it).
      for (const sampler of rep % 2 ? [...SAMPLERS].reverse() : SAMPLERS) {
        const seed = 1000 + rep;
        const t0 = performance.now();
        const result = await tune({ store, model, trials, sampler, seed, defaultsFirst: false });
        let running = -Infinity;
        const curve = result.trials.map((t) => (running = Math.max(running, t.status === 'ok' ? t.value : -Infinity)));
        runs.push({
          sampler,
          seed,
          best: result.best.value,
          bestTrial: result.best.trial,
          bestParams: result.best.params,
          seconds: (performance.now() - t0) / 1000,
          curve,
        });
        console.log(`${model} ${sampler} seed ${seed}: best ${result.best.value.toFixed(4)} at trial ${result.best.trial}`);
      }
    }
    const of = (s: string) => runs.filter((r) => r.sampler === s).map((r) => r.best);
    results[model] = {
      medianBest: { tpe: median(of('tpe')), random: median(of('random')) },
      defaults: defaults.value,
      runs,
    };
    await writeFileAtomically(
      out,
      `${JSON.stringify({ dataset: store.name, protocol: 'ratio-8-1-1', metric: 'validation ndcg@10', trials, reps, started, finished: new Date().toISOString(), models: results }, null, 2)}\n`,
    );
  }
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
