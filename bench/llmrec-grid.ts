/**
 * A validation-only grid for llmrec: each setting trained on one seed's ratio-8-1-1 training part with
 * early stopping on its validation part; prints the best validation ndcg@10, its epoch and the curve.
 * The test part is never read. Usage:
 *   FMT=amazon-reviews DATA=../shared/datasets/amazon-musical-instruments-5core \
 *     npx tsx bench/llmrec-grid.ts '{}' '[{"lr":0.001},{"fusion":"early"}]'
 * (first argument: settings shared by every run; second: the grid). PATIENCE (default 10), SEED (42).
 */
import { type DatasetFormat, loadDataset } from '../ts/data/load';
import { splitByProtocol } from '../ts/eval/harness';
import { createModel } from '../ts/models/registry';

async function main(): Promise<void> {
  const seed = Number(process.env.SEED ?? 42);
  const store = await loadDataset({ format: (process.env.FMT ?? 'ml-100k') as DatasetFormat, path: process.env.DATA ?? '../shared/datasets/ml-100k' });
  const split = splitByProtocol(store, 'ratio-8-1-1', seed);
  const base = JSON.parse(process.argv[2] ?? '{}') as object;
  const grid = JSON.parse(process.argv[3] ?? '[{}]') as object[];
  for (const setting of grid) {
    const model = createModel('llmrec', { ...base, ...setting } as never);
    const report = await model.fit(split.train, { seed, earlyStopping: { data: split.validation!, patience: Number(process.env.PATIENCE ?? 10) } });
    const curve = report.epochs.map((e) => e.validation?.toFixed(3)).join(' ');
    const best = report.epochs[report.bestEpoch - 1]?.validation;
    console.log(`${JSON.stringify(setting)} best ${best?.toFixed(4)} @${report.bestEpoch} | ${curve}`);
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
