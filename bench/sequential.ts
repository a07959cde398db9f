/**
 * The sequential recommenders side by side with RecBole (bench/results/sequential-*.jsonl): semrec's sasrec and
 * bert4rec on MovieLens-100K under RecBole's sequential protocol (leave-one-out by time: last item test, the
 * one before validation; full ranking at K = 10), one JSON line per (model, seed) with the wall and CPU seconds
 * of every training epoch and the test metrics under both candidate sets: every item ranked (`all`, what RecBole's
 * full ranking of sequential models does) and the user's training and validation items left out (`unseen`,
 * semrec's default).
 *
 *   npx tsx bench/sequential.ts --models sasrec,bert4rec --seeds 2020,2021,2022 --epochs 3 --threads 2 \
 *     [--early-stopping mrr@10] [--set sasrec.lr=0.002] [--out bench/results/sequential-ml-100k.jsonl]
 *
 * With --epochs N every run trains exactly N epochs (quality at equal epochs); with --early-stopping METRIC it
 * trains up to the model's epochs, stopping after 10 evaluations without a better validation METRIC (RecBole's
 * stopping_step, whose valid_metric is mrr@10), and keeps the best epoch.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { loadDataset } from '../ts/data/load';
import { leaveOneOut } from '../ts/data/splits';
import { evaluateRanking, usersWithTruth } from '../ts/eval/ranking';
import { userItems } from '../ts/models/data';
import { createModel, type ModelName } from '../ts/models/registry';
import { userSequences } from '../ts/models/sequential';
import { concatRows, selectRows } from '../ts/util/csr';

function arg(name: string, fallback?: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : fallback;
}

async function main(): Promise<void> {
  const dataPath = arg('path', path.resolve(__dirname, '..', '..', 'shared', 'datasets', 'ml-100k'))!;
  const models = arg('models', 'sasrec,bert4rec')!.split(',') as ModelName[];
  const seeds = arg('seeds', '2020')!.split(',').map(Number);
  const epochs = arg('epochs');
  const stopping = arg('early-stopping');
  const threads = Number(arg('threads', '2'));
  const out = arg('out');
  const sets: Record<string, Record<string, number>> = {};
  process.argv.forEach((a, i) => {
    if (a !== '--set') return;
    const [key, value] = process.argv[i + 1].split('=');
    const [model, param] = key.split('.');
    (sets[model] ??= {})[param] = Number(value);
  });
  const store = await loadDataset({ format: 'ml-100k', path: dataPath });
  for (const seed of seeds) {
    const split = leaveOneOut(store, { validation: true, seed });
    const seen = concatRows(userItems(split.train), userItems(split.validation!));
    const truth = userItems(split.test);
    const users = usersWithTruth(truth);
    const histories = userSequences([split.train, split.validation!]);
    for (const name of models) {
      const params = { ...(epochs ? { epochs: Number(epochs) } : {}), ...(sets[name] ?? {}) };
      const model = createModel(name, params as never);
      // CPU seconds (user + system, all threads) per epoch: on a shared machine they say more than wall time.
      const cpuSeconds: number[] = [];
      let cpuMark = process.cpuUsage();
      const report = await model.fit(split.train, {
        seed,
        numThreads: threads,
        earlyStopping: stopping ? { data: split.validation!, metric: stopping, patience: 10 } : undefined,
        onProgress: (e) => {
          const used = process.cpuUsage(cpuMark);
          cpuMark = process.cpuUsage();
          cpuSeconds.push(Number(((used.user + used.system) / 1e6).toFixed(3)));
          process.stderr.write(`\r${name} seed ${seed}: epoch ${e.done}/${e.total}   `);
        },
      });
      process.stderr.write('\n');
      const metrics: Record<string, Record<string, number>> = {};
      for (const [set, exclude] of [['all', undefined], ['unseen', seen]] as const) {
        const outcome = await evaluateRanking(
          (block) => model.scoreUsers(block, model.kind === 'sequential' ? { history: selectRows(histories, block) } : {}),
          { numUsers: store.numUsers, numItems: store.numItems, truth, exclude, ks: [10], users },
        );
        metrics[set] = Object.fromEntries(['ndcg@10', 'recall@10', 'mrr@10', 'hit@10'].map((k) => [k, outcome.mean[k]]));
      }
      const line = {
        side: 'semrec',
        model: name,
        dataset: 'ml-100k',
        protocol: 'leave-one-out (time), full ranking',
        seed,
        params: model.params,
        threads,
        epochs: report.epochs.length,
        bestEpoch: report.bestEpoch,
        secondsPerEpoch: report.epochs.map((e) => Number(e.seconds.toFixed(3))),
        // Includes each epoch's validation pass when early stopping evaluates.
        cpuSecondsPerEpoch: cpuSeconds,
        trainLoss: report.epochs.map((e) => Number(e.loss.toFixed(5))),
        validation: report.epochs.map((e) => e.validation),
        metrics,
        machine: { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model, load1: os.loadavg()[0] },
        createdAt: new Date().toISOString(),
      };
      const text = JSON.stringify(line);
      process.stdout.write(`${text}\n`);
      if (out) fs.appendFileSync(out, `${text}\n`);
    }
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`${(error as Error).stack ?? String(error)}\n`);
  process.exit(1);
});
