/**
 * `semrec quickstart`: the main job, end to end. LLM-Rec trained on MovieLens-100K (read from
 * ../shared/datasets when present, else downloaded from GroupLens into the cache directory), compared
 * with two baselines on the same split in a small table, and one user's top-10 titles with what each
 * recommendation rests on.
 */
import fs from 'node:fs';
import path from 'node:path';

import type { Command } from 'commander';

import { downloadDataset } from '../../data/download';
import { loadDataset } from '../../data/load';
import type { InteractionStore } from '../../data/store';
import { SemrecError } from '../../errors';
import { splitByProtocol } from '../../eval/harness';
import { evaluateRanking } from '../../eval/ranking';
import type { BaseRecommender } from '../../models/base';
import { userItems } from '../../models/data';
import type { LlmRecExplanation, LlmRecModel } from '../../models/llmrec';
import { checkModelName, createModel, describeParams, type ModelName } from '../../models/registry';
import { defaultCacheDir } from '../../util/cache-dir';
import { concatRows } from '../../util/csr';
import { interruptSignal } from '../main';
import { createProgress } from '../progress';

interface QuickstartOptions {
  path?: string;
  baselines: string;
  seed: string;
  user: string;
  cacheDir?: string;
  maxEpochs: string;
}

/**
 * Epochs each iterative model trains at most in the quick start (early stopping on the validation part
 * still decides within it): uncapped, llmrec and lightgcn run for tens of minutes on 2 busy cores, which
 * is not a quick start. `semrec eval` (the command printed at the end) trains them to convergence.
 */
export const QUICKSTART_MAX_EPOCHS = 30;

/** Where a checkout keeps the licensed datasets: ../shared beside it (or SEMREC_SHARED_DIR). */
function sharedMl100k(): string | undefined {
  const roots = [process.env.SEMREC_SHARED_DIR, path.resolve(__dirname, '..', '..', '..', '..', 'shared'), path.resolve(process.cwd(), '..', 'shared')];
  for (const root of roots) {
    if (!root) continue;
    const dir = path.join(root, 'datasets', 'ml-100k');
    if (fs.existsSync(path.join(dir, 'u.data'))) return dir;
  }
  return undefined;
}

function stars(rating: number | undefined): string {
  return rating === undefined ? '' : ` rated ${Math.round(rating * 4 + 1)}/5`;
}

/** One line per history item behind a recommendation. */
function because(x: LlmRecExplanation, store: InteractionStore): string {
  const items = x.history.filter((h) => h.contribution > 0).slice(0, 2);
  if (items.length === 0) return 'your taste as a whole (no single past film stands out)';
  return items.map((h) => `"${store.items.title[h.itemIdx] ?? store.itemIds.raw(h.itemIdx)}"${stars(h.signals.rating)}`).join(' and ');
}

export async function runQuickstart(o: QuickstartOptions): Promise<void> {
  const out = (line = '') => process.stdout.write(`${line}\n`);
  const signal = interruptSignal();
  const progress = createProgress();
  const seed = Number(o.seed);
  if (!Number.isInteger(seed) || seed < 0) throw new SemrecError(`--seed must be a non-negative integer, got '${o.seed}'`, 'ERR_INVALID_ARG_VALUE');
  const baselines = o.baselines.split(',').map((m) => checkModelName(m.trim(), '--baselines'));
  const maxEpochs = Number(o.maxEpochs);
  if (!Number.isInteger(maxEpochs) || maxEpochs < 1) throw new SemrecError(`--max-epochs must be a positive integer, got '${o.maxEpochs}'`, 'ERR_INVALID_ARG_VALUE');
  const started = Date.now();
  try {
    let dataPath = o.path ?? sharedMl100k();
    if (!dataPath) {
      const dir = path.join(o.cacheDir ?? defaultCacheDir(), 'datasets');
      out(`MovieLens-100K is not in ../shared/datasets: downloading it from GroupLens into ${dir}`);
      dataPath = (await downloadDataset('ml-100k', { dir, signal, onProgress: progress.onProgress })).path;
    }
    const store = await loadDataset({ format: 'ml-100k', path: dataPath, signal, onProgress: progress.onProgress });
    const split = splitByProtocol(store, 'ratio-8-1-1', seed);
    const exclude = concatRows(userItems(split.train), userItems(split.validation!));
    const truth = userItems(split.test);
    const rows: { name: string; ndcg: number; recall: number; seconds: number }[] = [];
    let llmrec: LlmRecModel | undefined;
    for (const name of [...baselines, 'llmrec' as ModelName]) {
      const iterative = describeParams(name).some((p) => p.name === 'epochs');
      const model = createModel(name, (iterative ? { epochs: maxEpochs } : {}) as never) as BaseRecommender<object>;
      const report = await model.fit(split.train, {
        seed,
        earlyStopping: model.rankingEarlyStopping ? { data: split.validation! } : undefined,
        signal,
        onProgress: (e) => progress.onProgress({ ...e, phase: `${name}: ${e.phase}` }),
        ...(name === 'llmrec' && o.cacheDir ? { cacheDir: o.cacheDir } : {}),
      });
      const outcome = await evaluateRanking((u) => model.scoreUsers(u), { numUsers: store.numUsers, numItems: store.numItems, truth, exclude, ks: [10] });
      rows.push({ name, ndcg: outcome.mean['ndcg@10'], recall: outcome.mean['recall@10'], seconds: report.seconds });
      if (name === 'llmrec') llmrec = model as unknown as LlmRecModel;
    }
    progress.stop();
    out(`\nMovieLens-100K (${store.numUsers} users, ${store.numItems} films, ${store.numInteractions} ratings), ${split.protocol.name} split ${seed}: test ranking of every film, seen ones excluded`);
    out(`(iterative models trained at most ${maxEpochs} epochs with early stopping: --max-epochs; semrec eval trains them to convergence)`);
    out('');
    out('| model | ndcg@10 | recall@10 | train s |');
    out('|---|---:|---:|---:|');
    for (const r of rows) out(`| ${r.name} | ${r.ndcg.toFixed(4)} | ${r.recall.toFixed(4)} | ${r.seconds.toFixed(1)} |`);
    const u = store.userIds.index(o.user);
    if (u === undefined) throw new SemrecError(`--user '${o.user}' is not a MovieLens-100K user id`, 'ERR_INVALID_ARG_VALUE');
    const top = await llmrec!.recommend([u], 10);
    const user = store.users.fields;
    const about = ['age', 'gender', 'occupation'].map((f) => user[f]?.[u]).filter((v) => v !== undefined).join(', ');
    out('');
    out(`Top 10 for user ${o.user}${about ? ` (${about})` : ''}, by llmrec, with what each rests on:`);
    for (const [r, item] of Array.from(top.indices).entries()) {
      if (item < 0) continue;
      const x = await llmrec!.explainScore(u, item);
      const p = x.parts;
      out(
        `${String(r + 1).padStart(2)}. ${store.items.title[item] ?? store.itemIds.raw(item)}  (score ${x.score.toFixed(2)} = ` +
          `collaborative ${p.collaborative.toFixed(2)} + text ${p.itemContent.toFixed(2)} + your history ${p.profile.toFixed(2)} + popularity ${p.bias.toFixed(2)})`,
      );
      out(`      because of ${because(x, store)}`);
    }
    out('');
    out(`${((Date.now() - started) / 1000).toFixed(0)} s in all. Next: semrec eval --format ml-100k --path ${dataPath} --models pop,lightgcn,llmrec --seeds 42,43,44`);
  } finally {
    progress.stop();
  }
}

export function registerQuickstart(program: Command): void {
  program
    .command('quickstart')
    .description('the main job: LLM-Rec on MovieLens-100K against two baselines, and one user\'s top-10 with explanations')
    .option('--path <dir>', 'the ml-100k folder (default: ../shared/datasets/ml-100k, else a download into the cache directory)')
    .option('--baselines <list>', 'two (or more) baseline models to compare with', 'pop,lightgcn')
    .option('--seed <n>', 'split and training seed', '42')
    .option('--user <id>', 'MovieLens user id whose top-10 is shown', '1')
    .option('--max-epochs <n>', 'epochs each iterative model trains at most (early stopping decides within)', String(QUICKSTART_MAX_EPOCHS))
    .option('--cache-dir <dir>', 'where downloads, encoders and embedding caches live (default: SEMREC_CACHE_DIR or <tmp>/semrec-cache)')
    .action(async (options: QuickstartOptions) => runQuickstart(options));
}
