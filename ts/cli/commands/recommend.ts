/**
 * `semrec recommend` and `semrec similar`: answers from a saved model, by raw id, with titles, without
 * the dataset.
 *
 *   semrec recommend --model-dir models/bpr --user 196 [--k 10] [--explain] [--json]
 *   semrec recommend --model-dir models/bpr --history history.json        (a user the model never saw)
 *   semrec recommend --model-dir models/bpr --all-users --out recs/ [--shard-users 50000]
 *   semrec similar --model-dir models/bpr --item 50 [--k 10] [--json]
 *
 * A history file is a JSON array of raw item ids ("50" or 50) or of events
 * { "itemId": "50", "rating": 5, "timestamp": 881250949, "sentiment": 0.9, "viewing": 1, "completion": 1 }
 * (each model uses the fields it understands: see README).
 */
import fs from 'node:fs/promises';

import type { Command } from 'commander';

import { SemrecError } from '../../errors';
import type { BaseRecommender, ExplanationByIds, RawHistoryEvent } from '../../models/base';
import { DEFAULT_SHARD_USERS, MANIFEST_FILE, writeAllRecommendations } from '../../models/batch';
import type { ScoredItem } from '../../models/catalog';
import { loadModel } from '../../models/registry';
import { interruptSignal } from '../main';
import { integers } from '../model-options';
import { createProgress } from '../progress';

interface RecommendOptions {
  modelDir: string;
  user?: string;
  history?: string;
  allUsers?: boolean;
  out?: string;
  k: string;
  shardUsers: string;
  explain?: boolean;
  json?: boolean;
  excludeSeen: boolean;
  skipUnknown?: boolean;
}

const write = (text: string) => process.stdout.write(text);

const EVENT_FIELDS = ['itemId', 'rating', 'timestamp', 'sentiment', 'viewing', 'completion'];

/** A --history file: raw item ids, or events with an itemId and optional signals. */
export async function readHistoryFile(file: string): Promise<RawHistoryEvent[]> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(await fs.readFile(file, 'utf8'));
  } catch (cause) {
    throw new SemrecError(`--history ${file}: ${(cause as Error).message}`, 'ERR_INVALID_ARG_VALUE', { cause });
  }
  if (!Array.isArray(parsed)) throw new SemrecError(`--history ${file}: expected a JSON array of item ids or events`, 'ERR_INVALID_ARG_VALUE');
  return parsed.map((entry: unknown, e) => {
    const at = `--history ${file}: entry ${e}`;
    if (typeof entry === 'string' || typeof entry === 'number') return { itemId: String(entry) };
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) throw new SemrecError(`${at} must be an item id or an object`, 'ERR_INVALID_ARG_VALUE');
    const fields = entry as Record<string, unknown>;
    const unknown = Object.keys(fields).find((key) => !EVENT_FIELDS.includes(key));
    if (unknown !== undefined) throw new SemrecError(`${at}: unknown field '${unknown}' (fields: ${EVENT_FIELDS.join(', ')})`, 'ERR_INVALID_ARG_VALUE');
    if (typeof fields.itemId !== 'string' && typeof fields.itemId !== 'number') throw new SemrecError(`${at}: itemId (a string or number) is required`, 'ERR_INVALID_ARG_VALUE');
    const event: RawHistoryEvent = { itemId: String(fields.itemId) };
    for (const key of EVENT_FIELDS.slice(1) as (keyof Omit<RawHistoryEvent, 'itemId'>)[]) {
      if (fields[key] === undefined) continue;
      if (typeof fields[key] !== 'number') throw new SemrecError(`${at}: ${key} must be a number`, 'ERR_INVALID_ARG_VALUE');
      event[key] = fields[key] as number;
    }
    return event;
  });
}

/** "Fargo (1996) [100]  Crime, Drama, Thriller" (numeric fields such as year are in --json). */
function describeItem(item: ScoredItem | Omit<ScoredItem, 'score'>): string {
  return `${item.title ?? '(no title)'} [${item.id}]${item.genres?.length ? `  ${item.genres.join(', ')}` : ''}`;
}

function formatScore(score: number): string {
  return Math.abs(score) >= 100 ? score.toFixed(1) : score.toPrecision(4);
}

function printItems(title: string, items: ScoredItem[], explanations?: ExplanationByIds[]): void {
  const lines = [title];
  items.forEach((item, r) => {
    lines.push(`${String(r + 1).padStart(3)}. ${formatScore(item.score).padStart(8)}  ${describeItem(item)}`);
    const e = explanations?.[r];
    if (e) {
      if (e.because.length === 0) lines.push(`               why: ${e.method}`);
      else {
        const reasons = e.because.map((b) => `${b.title ?? b.id} (${b.share !== undefined ? `${(100 * b.share).toFixed(0)}% of the score` : `similarity ${b.similarity.toFixed(2)}`})`);
        lines.push(`               because of: ${reasons.join('; ')}`);
      }
    }
  });
  write(`${lines.join('\n')}\n`);
}

async function runRecommend(options: RecommendOptions): Promise<void> {
  const modes = [options.user !== undefined, options.history !== undefined, options.allUsers === true].filter(Boolean).length;
  if (modes !== 1) throw new SemrecError('give exactly one of --user <id>, --history <file> or --all-users', 'ERR_INVALID_ARG_VALUE');
  const k = integers(options.k, '--k', 1)[0];
  const model = (await loadModel(options.modelDir)) as BaseRecommender<object>;
  const dataset = model.provenance.fingerprint.dataset;
  if (options.allUsers) {
    if (!options.out) throw new SemrecError('--all-users needs --out <dir>', 'ERR_INVALID_ARG_VALUE');
    if (options.explain) throw new SemrecError('--explain is for one user (--user or --history), not --all-users', 'ERR_INVALID_ARG_VALUE');
    const progress = createProgress();
    try {
      const manifest = await writeAllRecommendations(model, options.out, {
        k,
        excludeSeen: options.excludeSeen,
        shardUsers: integers(options.shardUsers, '--shard-users', 1)[0],
        modelDir: options.modelDir,
        signal: interruptSignal(),
        onProgress: progress.onProgress,
      });
      progress.stop();
      const summary = { out: options.out, users: manifest.users, shards: manifest.shards.length, k: manifest.k, manifest: MANIFEST_FILE };
      write(options.json ? `${JSON.stringify(summary)}\n` : `Wrote top-${manifest.k} lists of ${manifest.users} users in ${manifest.shards.length} shard(s) to ${options.out} (${MANIFEST_FILE} lists them with their SHA-256).\n`);
    } finally {
      progress.stop();
    }
    return;
  }
  if (options.out) throw new SemrecError('--out is for --all-users', 'ERR_INVALID_ARG_VALUE');
  let items: ScoredItem[];
  let explanations: ExplanationByIds[] | undefined;
  let heading: string;
  let who: object;
  if (options.user !== undefined) {
    items = await model.recommendFor(options.user, { k, excludeSeen: options.excludeSeen });
    if (options.explain) explanations = await Promise.all(items.map((item) => model.explainFor(options.user!, item.id)));
    heading = `Top ${items.length} for user ${options.user} (${model.name} trained on ${dataset}):`;
    who = { user: options.user };
  } else {
    const history = await readHistoryFile(options.history!);
    const unknownItems = options.skipUnknown ? 'skip' : 'error';
    items = await model.recommendFromHistory(history, { k, excludeSeen: options.excludeSeen, unknownItems });
    if (options.explain) explanations = await Promise.all(items.map((item) => model.explainFromHistory(history, item.id, { unknownItems })));
    heading = `Top ${items.length} for a new user with ${history.length} history item(s) (${model.name} trained on ${dataset}):`;
    who = { history: options.history };
  }
  if (options.json) {
    const rows = items.map((item, r) => ({
      rank: r + 1,
      ...item,
      ...(explanations ? { because: explanations[r].because, explanation: explanations[r].method } : {}),
    }));
    write(`${JSON.stringify({ model: model.name, dataset, ...who, k, items: rows })}\n`);
  } else {
    printItems(heading, items, explanations);
  }
}

async function runSimilar(options: { modelDir: string; item: string; k: string; json?: boolean }): Promise<void> {
  const k = integers(options.k, '--k', 1)[0];
  const model = (await loadModel(options.modelDir)) as BaseRecommender<object>;
  const items = await model.similarTo(options.item, { k });
  const item = model.catalog.item(model.catalog.itemIndex(options.item, '--item'));
  if (options.json) {
    write(`${JSON.stringify({ model: model.name, item, k, items: items.map((x, r) => ({ rank: r + 1, ...x })) })}\n`);
  } else {
    printItems(`Most similar to ${describeItem(item)} (${model.name}):`, items);
  }
}

export function registerRecommend(program: Command): void {
  program
    .command('recommend')
    .description('recommend from a saved model: for a user by raw id, for a new user from a history file, or for every user into shards')
    .requiredOption('--model-dir <dir>', 'a model saved by semrec train (or model.save)')
    .option('--user <id>', 'a raw user id of the training data')
    .option('--history <file>', 'a new user: JSON array of item ids or { "itemId", "rating", "timestamp", ... } events')
    .option('--all-users', 'every user of the training data, into --out (shards + manifest.json)')
    .option('--out <dir>', '--all-users: output directory')
    .option('--shard-users <n>', '--all-users: users per shard file', String(DEFAULT_SHARD_USERS))
    .option('--k <n>', 'how many items', '10')
    .option('--no-exclude-seen', "keep the user's own items in the list")
    .option('--skip-unknown', '--history: leave out items the model does not know instead of failing')
    .option('--explain', 'say why each item is recommended (the most similar history items)')
    .option('--json', 'print one JSON object')
    .action(runRecommend);
  program
    .command('similar')
    .description("the items most similar to an item, by the model's item similarity")
    .requiredOption('--model-dir <dir>', 'a model saved by semrec train (or model.save)')
    .requiredOption('--item <id>', 'a raw item id')
    .option('--k <n>', 'how many items', '10')
    .option('--json', 'print one JSON object')
    .action(runSimilar);
}
