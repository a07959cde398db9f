/**
 * `semrec data stats | split | download | sources`: inspect a dataset, show what a split protocol does to
 * it, and fetch datasets from their publishers.
 */
import { type Command, Option } from 'commander';

import { DATASET_SOURCES, downloadDataset } from '../../data/download';
import { compact, kCore, leaveOneOut, ratioSplit, type Split, temporalSplit, toImplicit } from '../../data/splits';
import type { DatasetStats, InteractionStore } from '../../data/store';
import { withSimulatedSignals } from '../../data/synthetic';
import { SemrecError } from '../../errors';
import { addDatasetOptions, type DatasetCliOptions, loadDatasetFromCli } from '../dataset';
import { interruptSignal } from '../main';
import { createProgress } from '../progress';

const out = (line = '') => process.stdout.write(`${line}\n`);
const n = (x: number) => x.toLocaleString('en-US');

export function registerData(program: Command): void {
  const data = program.command('data').description('datasets: summaries, split protocols, downloads');

  addDatasetOptions(data.command('stats').description('summarise a dataset: users, items, interactions, density, ratings, reviews, per-user/item counts'))
    .option('--simulate-signals', 'also simulate transaction signals (views, duration, completion, purchase) and summarise them')
    .option('--seed <n>', 'seed of the simulated signals', '2024')
    .option('--json', 'print one JSON object')
    .action(async (options: DatasetCliOptions & { json?: boolean; simulateSignals?: boolean; seed: string }) => {
      let store = await loadDatasetFromCli(options, interruptSignal());
      if (options.simulateSignals) store = withSimulatedSignals(store, { seed: integer(options.seed, '--seed') });
      const stats = store.stats();
      if (options.json) {
        out(JSON.stringify({ format: options.format, path: options.path, ...stats, loadReport: store.load }));
        return;
      }
      printStats(stats, store);
    });

  addDatasetOptions(data.command('split').description('apply an evaluation split and describe the protocol and its outcome'))
    .addOption(new Option('--protocol <name>', 'split protocol').choices(['leave-one-out', 'ratio', 'temporal']).makeOptionMandatory())
    .option('--ratios <list>', 'ratio / temporal: train,test or train,validation,test shares', '0.8,0.1,0.1')
    .option('--seed <n>', 'split seed (default: RecBole\'s 2020)')
    .addOption(new Option('--order <order>', 'ratio: shuffle each user (random) or hold out the latest (time)').choices(['random', 'time']).default('random'))
    .option('--no-validation', 'leave-one-out: no validation item')
    .option('--kcore <k>', 'first keep the k-core (users and items with at least k interactions)')
    .option('--implicit <threshold>', 'first keep ratings >= threshold as implicit positives')
    .option('--compact', 'first drop users and items without interactions (catalog items nobody rated)')
    .option('--json', 'print one JSON object')
    .action(async (options: DatasetCliOptions & Record<string, string | boolean | undefined>) => {
      let store = await loadDatasetFromCli(options, interruptSignal());
      if (options.implicit !== undefined) store = toImplicit(store, { threshold: number(options.implicit as string, '--implicit') });
      if (options.kcore !== undefined) {
        const k = integer(options.kcore as string, '--kcore');
        store = kCore(store, { users: k, items: k });
      }
      if (options.compact) store = compact(store);
      const seed = options.seed !== undefined ? integer(options.seed as string, '--seed') : undefined;
      const ratios = String(options.ratios)
        .split(',')
        .map((r) => number(r, '--ratios'));
      let split: Split;
      if (options.protocol === 'leave-one-out') split = leaveOneOut(store, { seed, validation: options.validation !== false });
      else if (options.protocol === 'ratio') split = ratioSplit(store, { ratios, seed, order: options.order as 'random' | 'time' });
      else split = temporalSplit(store, { ratios });
      const parts = { train: split.train, validation: split.validation, test: split.test };
      if (options.json) {
        const summary = Object.fromEntries(
          Object.entries(parts)
            .filter((e): e is [string, InteractionStore] => e[1] !== undefined)
            .map(([k, s]) => [k, { interactions: s.numInteractions, users: s.stats().activeUsers, items: s.stats().activeItems }]),
        );
        out(JSON.stringify({ dataset: store.name, users: store.numUsers, items: store.numItems, interactions: store.numInteractions, protocol: split.protocol, parts: summary }));
        return;
      }
      out(`${store.name}: ${n(store.numUsers)} users, ${n(store.numItems)} items, ${n(store.numInteractions)} interactions`);
      out(split.protocol.summary);
    });

  data
    .command('download <name>')
    .description('download a dataset from its publisher (see `semrec data sources`), resuming and verifying checksums')
    .requiredOption('--dir <dir>', 'folder to download into')
    .option('--mirror <url>', "replace the publisher's scheme and host (keeps the path)")
    .option('--force', 'download again even when the dataset folder exists')
    .option('--json', 'print one JSON object')
    .action(async (name: string, options: { dir: string; mirror?: string; force?: boolean; json?: boolean }) => {
      const progress = createProgress();
      try {
        const result = await downloadDataset(name, { dir: options.dir, mirror: options.mirror, force: options.force, onProgress: progress.onProgress, signal: interruptSignal() });
        progress.stop();
        if (options.json) {
          out(JSON.stringify(result));
          return;
        }
        if (result.existed) out(`${result.path} already exists (use --force to download again)`);
        for (const f of result.files) out(`${f.url}: ${n(f.bytes)} bytes, checksum ${f.checksum}, sha256 ${f.sha256}`);
        out(`load it with: semrec data stats --format ${result.format} --path ${result.path}`);
      } finally {
        progress.stop();
      }
    });

  data
    .command('sources')
    .description('list the datasets `semrec data download` knows')
    .option('--json', 'print one JSON object')
    .action((options: { json?: boolean }) => {
      if (options.json) {
        out(JSON.stringify({ sources: DATASET_SOURCES }));
        return;
      }
      for (const s of DATASET_SOURCES) out(`${s.name.padEnd(34)} ${s.description}\n${''.padEnd(34)} ${s.files.map((f) => f.url).join(' ')}`);
      out('amazon-2014/<Category>, amazon-2018/<Category>: any category of those releases, e.g. amazon-2014/Digital_Music');
    });
}

function printStats(s: DatasetStats, store: InteractionStore): void {
  const pct = (x: number) => `${(100 * x).toFixed(x < 0.001 ? 4 : 2)}%`;
  const q = (c: DatasetStats['perUser']) => `min ${n(c.min)}, median ${n(c.median)}, p90 ${n(c.p90)}, max ${n(c.max)} (mean ${c.mean.toFixed(1)})`;
  out(`${s.name}${store.load ? ` (${store.load.format}, ${store.load.path})` : ''}`);
  out(`  users ${n(s.users)}, items ${n(s.items)}, interactions ${n(s.interactions)}, density ${pct(s.density)}`);
  if (s.activeItems < s.items || s.activeUsers < s.users) out(`  with interactions: ${n(s.activeUsers)} users, ${n(s.activeItems)} items`);
  const r = s.ratings;
  out(
    `  ratings: ${n(r.explicit)} explicit` +
      (r.explicit > 0 ? `, ${r.min}..${r.max}, mean ${r.mean!.toFixed(3)}` : '') +
      (r.histogram ? `; ${Object.entries(r.histogram).map(([v, c]) => `${v}: ${n(c)}`).join(', ')}` : ''),
  );
  const span = s.timestamps.first ? `, ${s.timestamps.first.slice(0, 10)} .. ${s.timestamps.last!.slice(0, 10)}` : '';
  out(`  reviews: ${n(s.reviews)}; timestamps: ${n(s.timestamps.known)} known${span}`);
  out(`  per user: ${q(s.perUser)}`);
  out(`  per item: ${q(s.perItem)}`);
  const m = s.itemMetadata;
  out(
    `  item metadata: ${n(m.withTitle)} titled, ${n(m.withGenres)} with genres (${n(m.distinctGenres)} distinct); ` +
      `text: ${m.textFields.join(', ') || '-'}; numeric: ${m.numericFields.join(', ') || '-'}`,
  );
  out(`  user metadata: ${s.userFields.join(', ') || '-'}`);
  if (store.load) {
    const l = store.load;
    out(`  read: ${l.files.map((f) => `${f.file} (${n(f.rows)} rows)`).join(', ')}`);
    out(`  skipped rows: ${n(l.skipped)}; duplicates: ${n(l.duplicates.found)} found, ${n(l.duplicates.removed)} removed (policy ${l.duplicates.policy})`);
    for (const row of l.skippedRows) out(`    ${row.file}:${row.line ?? '?'}${row.column ? `:${row.column}` : ''} ${row.reason} [${row.code}]`);
    if (l.ignoredFiles.length > 0) out(`  ignored files: ${l.ignoredFiles.join(', ')}`);
    for (const note of l.notes) out(`  note: ${note}`);
  }
  if (s.signals) {
    const g = s.signals;
    out(
      `  transaction signals (${g.simulated ? 'SIMULATED' : 'observed'}): mean views ${g.meanViewCount.toFixed(2)}, ` +
        `mean completion ${g.meanCompletion.toFixed(3)}, purchase rate ${pct(g.purchaseRate)}, mean watched ${(g.meanViewDurationSec / 60).toFixed(1)} min`,
    );
    out(`    model: ${g.model}`);
  }
}

function number(text: string, flag: string): number {
  const v = Number(text);
  if (text.trim() === '' || !Number.isFinite(v)) throw new SemrecError(`${flag}: '${text}' is not a number`, 'ERR_INVALID_ARG_VALUE');
  return v;
}

function integer(text: string, flag: string): number {
  const v = number(text, flag);
  if (!Number.isInteger(v)) throw new SemrecError(`${flag}: '${text}' is not an integer`, 'ERR_INVALID_ARG_VALUE');
  return v;
}
