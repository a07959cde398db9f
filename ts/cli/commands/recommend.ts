/**
 * `semrec recommend --all-users`: every user's top-k from a saved model, in one process, written as
 * user shards plus a manifest (ts/models/all-users.ts; `semrec batch recommend` writes the same files
 * from many workers).
 *
 *   semrec recommend --model-dir m --all-users --out recs [--k 10] [--shard-users 50000] [--include-seen]
 */
import path from 'node:path';

import type { Command } from 'commander';

import { DEFAULT_SHARD_USERS, recommendAllUsers } from '../../models/all-users';
import { loadModel } from '../../models/registry';
import { setNumThreads } from '../../native/device';
import { interruptSignal } from '../main';
import { createProgress } from '../progress';
import { integerOption } from './worker';

/** Items per user when --k is not given. */
export const DEFAULT_RECOMMEND_K = 10;

interface RecommendCliOptions {
  modelDir: string;
  allUsers: boolean;
  out: string;
  k: number;
  shardUsers: number;
  includeSeen?: boolean;
  threads?: number;
  json?: boolean;
}

export function registerRecommend(program: Command): void {
  program
    .command('recommend')
    .description('top-k items for every user of a saved model, written as user shards plus a manifest')
    .requiredOption('--model-dir <dir>', 'a saved model (model.save / semrec train)')
    .requiredOption('--all-users', 'recommend for every user the model knows')
    .requiredOption('--out <dir>', 'output folder: part-*.jsonl shards and manifest.json')
    .option('--k <n>', 'items per user', integerOption('--k', 1), DEFAULT_RECOMMEND_K)
    .option('--shard-users <n>', 'users per shard file', integerOption('--shard-users', 1), DEFAULT_SHARD_USERS)
    .option('--include-seen', "also recommend the users' training items")
    .option('--threads <n>', 'CPU threads of the native ops', integerOption('--threads', 1))
    .option('--json', 'print the manifest summary as one JSON object')
    .action(async (options: RecommendCliOptions) => {
      if (options.threads !== undefined) setNumThreads(options.threads);
      const signal = interruptSignal();
      const progress = createProgress();
      const started = performance.now();
      try {
        const model = await loadModel(options.modelDir);
        const out = path.resolve(options.out);
        const manifest = await recommendAllUsers(model, options.modelDir, out, {
          k: options.k,
          shardUsers: options.shardUsers,
          excludeSeen: !options.includeSeen,
          signal,
          onProgress: progress.onProgress,
        });
        progress.stop();
        const seconds = (performance.now() - started) / 1000;
        const summary = { out, model: manifest.model.name, users: manifest.numUsers, k: manifest.k, shards: manifest.shards.length, seconds: +seconds.toFixed(2), usersPerSecond: +(manifest.numUsers / seconds).toFixed(1) };
        process.stdout.write(
          options.json
            ? `${JSON.stringify(summary)}\n`
            : `wrote ${out}: top ${summary.k} of ${summary.users} users in ${summary.shards} shards, ${summary.seconds} s (${summary.usersPerSecond} users/s)\n`,
        );
      } finally {
        progress.stop();
      }
    });
}
