/**
 * Top-k recommendations for every user of a saved model, written as user shards plus a manifest: the
 * one writer behind `semrec recommend --all-users` (one process) and `semrec batch recommend` (shards on
 * many workers). Both compute a shard by the same call on the same users and write it with the same
 * code, so for the same model, k and shard size their outputs are byte-identical.
 *
 * Layout of the output directory:
 *   part-00000.jsonl ...  one line per user, users in index order:
 *                         {"user":"<id>","items":["<id>",...],"scores":[<score>,...]}
 *                         best first; fewer than k items when fewer are eligible; scores with
 *                         9 significant digits, which read back as exactly the same float32
 *   manifest.json         what was computed (model, its digest, k, sizes) and every shard's users, bytes
 *                         and SHA-256; written last, so its presence means the output is whole
 * Every file is written atomically (temp file, fsync, rename). Memory is bounded by one shard's text.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';

import { SemrecError } from '../errors';
import { checkInteger } from '../kernels/validate';
import { throwIfAborted, type LongRunningOptions } from '../progress';
import { writeFileAtomically } from '../util/fs';
import type { BaseRecommender } from './base';
import { savedModelDigest } from './persist';

export const RECOMMENDATIONS_FORMAT = 'semrec-recommendations';
/** Bumped when the layout of the shards or the manifest changes. */
export const RECOMMENDATIONS_VERSION = 1;
export const MANIFEST_FILE = 'manifest.json';
/** Users per shard by default: about 40 MB of text at k = 100, a few seconds of scoring per shard. */
export const DEFAULT_SHARD_USERS = 50_000;
/**
 * Scores a model may hold at once while recommending a block of users (64 Mi floats, 256 MB): models
 * without a fused score-and-select kernel materialise users x items scores per block.
 */
const SCORE_BUDGET = 64 * 2 ** 20;
/** Significant digits that identify every float32 exactly (IEEE 754: 9 for binary32). */
const FLOAT32_DIGITS = 9;
/**
 * Users per recommend() call at most: enough to keep every core busy in the fused kernels (they split a
 * call into chunks of 96 users), few enough that Ctrl-C or a worker's shutdown waits for one block only.
 */
const MAX_BLOCK_USERS = 1024;

export interface ShardRange {
  shard: number;
  firstUser: number;
  users: number;
}

export interface ShardEntry {
  file: string;
  firstUser: number;
  users: number;
  bytes: number;
  sha256: string;
}

export interface RecommendationsManifest {
  format: typeof RECOMMENDATIONS_FORMAT;
  version: number;
  model: { name: string; digest: string };
  k: number;
  excludeSeen: boolean;
  numUsers: number;
  numItems: number;
  shardUsers: number;
  /** 'raw': the dataset's ids; 'index': the model's dense indices stand in (the model holds no raw ids). */
  ids: 'raw' | 'index';
  shards: ShardEntry[];
}

/** A manifest without its shards: what was computed. */
export type RecommendationsHeader = Omit<RecommendationsManifest, 'shards'>;

export interface AllUsersOptions extends LongRunningOptions {
  k: number;
  shardUsers?: number;
  /** Leave out each user's training items (default true). */
  excludeSeen?: boolean;
}

/** The shards of `numUsers` users, `shardUsers` each (the last one shorter). */
export function planUserShards(numUsers: number, shardUsers: number): ShardRange[] {
  checkInteger(shardUsers, 'shardUsers', 1, 2 ** 31 - 1);
  const shards: ShardRange[] = [];
  for (let first = 0, shard = 0; first < numUsers; first += shardUsers, shard++) {
    shards.push({ shard, firstUser: first, users: Math.min(shardUsers, numUsers - first) });
  }
  return shards;
}

/** `part-00012.jsonl`, zero-padded to the widest index so names sort in user order. */
export function shardFileName(shard: number, numShards: number): string {
  return `part-${String(shard).padStart(Math.max(5, String(numShards - 1).length), '0')}.jsonl`;
}

/**
 * How ids are written. Saved models hold no raw ids yet, so their dense indices stand in, as text (the
 * manifest says 'index'); the shard layout stays the same when models carry raw ids.
 */
function idLists(_model: BaseRecommender<object>): { users: (u: number) => string; items: (i: number) => string; kind: 'raw' | 'index' } {
  return { users: String, items: String, kind: 'index' };
}

/** Users per recommend() call for this model: as many as fit the score budget. */
function blockUsers(numItems: number): number {
  return Math.max(1, Math.min(MAX_BLOCK_USERS, Math.floor(SCORE_BUDGET / Math.max(1, numItems))));
}

/**
 * The text of one shard: each user's top-k, in user order. Deterministic: the same model, range and k
 * give the same bytes in any process (users are scored in the same blocks, relative to the shard).
 */
export async function recommendShard(model: BaseRecommender<object>, range: ShardRange, options: AllUsersOptions): Promise<Buffer> {
  const ids = idLists(model);
  const block = blockUsers(model.numItems);
  const chunks: Buffer[] = [];
  for (let first = range.firstUser; first < range.firstUser + range.users; first += block) {
    throwIfAborted(options.signal, 'recommending for every user');
    const count = Math.min(block, range.firstUser + range.users - first);
    const users = Int32Array.from({ length: count }, (_, r) => first + r);
    // k beyond the catalog would only add padding: at most numItems items are eligible.
    const top = await model.recommend(users, Math.min(options.k, model.numItems), { excludeSeen: options.excludeSeen ?? true });
    const lines: string[] = [];
    for (let r = 0; r < count; r++) {
      const items: string[] = [];
      const scores: number[] = [];
      for (let j = 0; j < top.k; j++) {
        const item = top.indices[r * top.k + j];
        if (item < 0) break; // padding: fewer than k eligible items
        items.push(ids.items(item));
        scores.push(Number(top.scores[r * top.k + j].toPrecision(FLOAT32_DIGITS)));
      }
      lines.push(`${JSON.stringify({ user: ids.users(first + r), items, scores })}\n`);
    }
    chunks.push(Buffer.from(lines.join(''), 'utf8'));
    options.onProgress?.({ phase: 'recommending', done: first + count - range.firstUser, total: range.users, unit: 'users' });
  }
  return Buffer.concat(chunks);
}

/** Writes a shard's bytes atomically into `outDir`; its manifest entry. */
export async function writeShard(outDir: string, range: ShardRange, numShards: number, bytes: Buffer): Promise<ShardEntry> {
  const file = shardFileName(range.shard, numShards);
  await writeFileAtomically(path.join(outDir, file), bytes);
  return { file, firstUser: range.firstUser, users: range.users, bytes: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') };
}

/** Whether a shard file on disk is the one `entry` describes (size, then SHA-256). */
export async function shardMatches(outDir: string, entry: ShardEntry): Promise<boolean> {
  let bytes: Buffer;
  try {
    bytes = await fs.readFile(path.join(outDir, entry.file));
  } catch {
    return false;
  }
  return bytes.length === entry.bytes && createHash('sha256').update(bytes).digest('hex') === entry.sha256;
}

/** The manifest's description of a model's run (everything but the shards). */
export async function manifestHeader(model: BaseRecommender<object>, modelDir: string, options: AllUsersOptions): Promise<RecommendationsHeader> {
  checkInteger(options.k, 'k', 1, 2 ** 31 - 1);
  return {
    format: RECOMMENDATIONS_FORMAT,
    version: RECOMMENDATIONS_VERSION,
    model: { name: model.name, digest: await savedModelDigest(modelDir) },
    k: options.k,
    excludeSeen: options.excludeSeen ?? true,
    numUsers: model.numUsers,
    numItems: model.numItems,
    shardUsers: options.shardUsers ?? DEFAULT_SHARD_USERS,
    ids: idLists(model).kind,
  };
}

export async function writeManifest(outDir: string, manifest: RecommendationsManifest): Promise<void> {
  await writeFileAtomically(path.join(outDir, MANIFEST_FILE), `${JSON.stringify(manifest, null, 2)}\n`);
}

/**
 * Prepares `outDir` for a new output: created when absent; an existing folder must be empty or hold an
 * earlier output of this writer (its shards are replaced), never anything else.
 */
export async function prepareOutputDir(outDir: string): Promise<void> {
  const entries = await fs.readdir(outDir).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return undefined;
    throw new SemrecError(`--out ${outDir}: ${error.message}`, 'ERR_INVALID_ARG_VALUE', { cause: error });
  });
  if (entries === undefined) {
    await fs.mkdir(outDir, { recursive: true });
    return;
  }
  const foreign = entries.filter((name) => name !== MANIFEST_FILE && !/^part-\d+\.jsonl$/.test(name) && !name.startsWith('.'));
  if (foreign.length > 0) {
    throw new SemrecError(`--out ${outDir} holds other files (${foreign.slice(0, 3).join(', ')}); choose an empty or new folder`, 'ERR_INVALID_ARG_VALUE');
  }
  // The old manifest goes first: until the new one is written, the folder does not claim to be whole.
  await fs.rm(path.join(outDir, MANIFEST_FILE), { force: true });
  for (const name of entries) if (/^part-\d+\.jsonl$/.test(name)) await fs.rm(path.join(outDir, name), { force: true });
}

/** Every user's top-k in one process: shard by shard, then the manifest. */
export async function recommendAllUsers(model: BaseRecommender<object>, modelDir: string, outDir: string, options: AllUsersOptions): Promise<RecommendationsManifest> {
  const header = await manifestHeader(model, modelDir, options);
  const ranges = planUserShards(model.numUsers, header.shardUsers);
  await prepareOutputDir(outDir);
  const shards: ShardEntry[] = [];
  for (const range of ranges) {
    const bytes = await recommendShard(model, range, {
      ...options,
      onProgress: (e) => options.onProgress?.({ ...e, done: range.firstUser + e.done, total: model.numUsers }),
    });
    shards.push(await writeShard(outDir, range, ranges.length, bytes));
  }
  const manifest: RecommendationsManifest = { ...header, shards };
  await writeManifest(outDir, manifest);
  return manifest;
}

/** Reads an output's manifest and checks every shard against it; ERR_SHARD_CORRUPT names the first bad one. */
export async function verifyRecommendations(outDir: string): Promise<RecommendationsManifest> {
  let manifest: RecommendationsManifest;
  try {
    manifest = JSON.parse(await fs.readFile(path.join(outDir, MANIFEST_FILE), 'utf8')) as RecommendationsManifest;
  } catch (cause) {
    throw new SemrecError(`${outDir} has no readable ${MANIFEST_FILE}: the output is not complete`, 'ERR_SHARD_CORRUPT', { cause });
  }
  if (manifest.format !== RECOMMENDATIONS_FORMAT || manifest.version !== RECOMMENDATIONS_VERSION) {
    throw new SemrecError(`${outDir}/${MANIFEST_FILE} is not a semrec recommendations manifest (version ${RECOMMENDATIONS_VERSION})`, 'ERR_SHARD_CORRUPT');
  }
  let users = 0;
  for (const entry of manifest.shards) {
    if (entry.firstUser !== users || !(await shardMatches(outDir, entry))) {
      throw new SemrecError(`${path.join(outDir, entry.file)} does not match the manifest (missing, cut short or altered)`, 'ERR_SHARD_CORRUPT');
    }
    users += entry.users;
  }
  if (users !== manifest.numUsers) throw new SemrecError(`${outDir}: the shards hold ${users} users, the manifest says ${manifest.numUsers}`, 'ERR_SHARD_CORRUPT');
  return manifest;
}
