/**
 * Top-k for every user of a model, written as shards plus a manifest, streaming: users are scored in
 * blocks and written line by line, so memory does not grow with the number of users. The layout is
 * deterministic, so that distributed workers (issue 15's batch jobs) reproduce exactly the same files:
 *
 *   OUT/part-00000.jsonl ...  users [s * shardUsers, (s + 1) * shardUsers) in index order, one JSON line each:
 *                             {"user":"196","items":["242","302"],"scores":[4.123,4.05]}
 *   OUT/manifest.json         { format, version, model, k, excludeSeen, users, shardUsers, shards: [{ file,
 *                             firstUser, users, bytes, sha256 }] }, written last: a directory without it
 *                             is incomplete
 *
 * Each shard is written to a temporary file, fsynced and renamed into place, and its SHA-256 recorded in
 * the manifest. Scores are the model's float32 scores (the shortest decimal that reads back as the same
 * float32; -Infinity never appears: rows simply end early when fewer than k items remain), and the manifest
 * holds no time or host, so one model and one setting give byte-identical files anywhere the model
 * scores identically (the same build: SIMD paths may differ in the last bit across CPUs).
 */
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';

import { SemrecError } from '../errors';
import { checkInteger } from '../kernels/validate';
import { throwIfAborted, type LongRunningOptions } from '../progress';
import { writeFileAtomically } from '../util/fs';
import type { BaseRecommender } from './base';
import { savedModelDigest } from './persist';

export const RECOMMENDATIONS_FORMAT = 'semrec-recommendations';
export const RECOMMENDATIONS_VERSION = 1;
export const MANIFEST_FILE = 'manifest.json';
/** Users per shard file by default (a shard of 50,000 users at k = 10 is about 8 MB of JSON lines). */
export const DEFAULT_SHARD_USERS = 50_000;
/** Users scored per native call: bounds the score block (BLOCK_USERS x numItems floats for non-factor models). */
const BLOCK_USERS = 512;

export interface ShardEntry {
  file: string;
  firstUser: number;
  users: number;
  bytes: number;
  sha256: string;
}

export interface RecommendationsManifest {
  format: typeof RECOMMENDATIONS_FORMAT;
  version: typeof RECOMMENDATIONS_VERSION;
  model: { name: string; params: object; fingerprint: object; semrec: string; modelJsonSha256?: string };
  k: number;
  excludeSeen: boolean;
  users: number;
  shardUsers: number;
  shards: ShardEntry[];
}

export interface AllUsersOptions extends LongRunningOptions {
  k: number;
  excludeSeen?: boolean;
  shardUsers?: number;
  /** The saved model's directory: its model.json SHA-256 goes into the manifest (identifies the model). */
  modelDir?: string;
  /** Only these shards (workers of a distributed job); default: all. */
  shards?: number[];
}

/**
 * The shortest decimal that reads back as the same float32 (JSON.stringify would print the float64
 * expansion, e.g. 3.417053461074829 for 3.4170535).
 */
export function float32Text(x: number): string {
  if (!Number.isFinite(x)) return JSON.stringify(null);
  for (let digits = 6; digits < 9; digits++) {
    const text = x.toPrecision(digits);
    if (Math.fround(Number(text)) === x) return String(Number(text));
  }
  return String(Number(x.toPrecision(9)));
}

/** The shard file of shard s: part-00000.jsonl (at least 5 digits, more when there are more shards). */
export function shardFile(s: number, numShards: number): string {
  return `part-${String(s).padStart(Math.max(5, String(numShards - 1).length), '0')}.jsonl`;
}

/** The plan of shards for a model's users (what every worker computes the same way). */
export function planShards(numUsers: number, shardUsers: number): { firstUser: number; users: number; file: string }[] {
  const numShards = Math.max(1, Math.ceil(numUsers / shardUsers));
  return Array.from({ length: numShards }, (_, s) => ({
    firstUser: s * shardUsers,
    users: Math.max(0, Math.min(shardUsers, numUsers - s * shardUsers)),
    file: shardFile(s, numShards),
  }));
}

/**
 * Checks OUT: absent, empty, or an earlier output of this command (whose files are then replaced). A new
 * run (every shard, or the planning call with none) removes an earlier manifest first; a distributed
 * worker writing its one shard never does: a straggler whose shard was handed out again may finish after
 * the submitter wrote the manifest, and its rewrite of the shard is byte-identical.
 */
async function prepareOut(out: string, newRun: boolean): Promise<void> {
  const entries = await fs.readdir(out).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return undefined;
    throw new SemrecError(`--out ${out}: ${error.message}`, 'ERR_INVALID_ARG_VALUE', { cause: error });
  });
  if (entries === undefined) {
    await fs.mkdir(out, { recursive: true });
    return;
  }
  const ours = (name: string) => /^manifest\.json(\..*)?$/.test(name) || /^part-\d+\.jsonl(\.tmp-.*)?$/.test(name);
  const foreign = entries.filter((name) => !ours(name));
  if (foreign.length > 0) {
    throw new SemrecError(`${out} holds other files (${foreign.slice(0, 3).join(', ')}); choose an empty or new directory`, 'ERR_INVALID_ARG_VALUE');
  }
  // An earlier run: its manifest goes first, so the directory never claims to be complete while parts change.
  if (newRun) await fs.rm(path.join(out, MANIFEST_FILE), { force: true });
}

/** Writes one shard's users: a temporary file, fsync, rename; returns its entry. */
async function writeShard(
  model: BaseRecommender<object>,
  out: string,
  shard: { firstUser: number; users: number; file: string },
  options: AllUsersOptions,
  onUsers: (n: number) => void,
): Promise<ShardEntry> {
  const target = path.join(out, shard.file);
  const temp = `${target}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  const handle = await fs.open(temp, 'w');
  const hash = createHash('sha256');
  let bytes = 0;
  const catalog = model.catalog;
  try {
    for (let begin = shard.firstUser; begin < shard.firstUser + shard.users; begin += BLOCK_USERS) {
      throwIfAborted(options.signal, 'recommending for every user');
      const end = Math.min(begin + BLOCK_USERS, shard.firstUser + shard.users);
      const users = Int32Array.from({ length: end - begin }, (_, r) => begin + r);
      const top = await model.recommend(users, options.k, { excludeSeen: options.excludeSeen });
      const lines: string[] = [];
      for (let r = 0; r < users.length; r++) {
        const items: string[] = [];
        const scores: string[] = [];
        for (let c = 0; c < top.k; c++) {
          const index = top.indices[r * top.k + c];
          if (index < 0) break;
          items.push(JSON.stringify(catalog.itemIds.raw(index)));
          scores.push(float32Text(top.scores[r * top.k + c]));
        }
        lines.push(`{"user":${JSON.stringify(catalog.userIds.raw(users[r]))},"items":[${items.join(',')}],"scores":[${scores.join(',')}]}`);
      }
      const chunk = Buffer.from(`${lines.join('\n')}\n`);
      hash.update(chunk);
      bytes += chunk.length;
      await handle.write(chunk);
      onUsers(users.length);
    }
    await handle.sync();
  } catch (error) {
    await handle.close().catch(() => undefined);
    await fs.rm(temp, { force: true });
    throw error;
  }
  await handle.close();
  await fs.rename(temp, target);
  return { file: shard.file, firstUser: shard.firstUser, users: shard.users, bytes, sha256: hash.digest('hex') };
}

/**
 * Top-k for every user, streamed to shards under `out` plus a manifest (see the file comment). Stops
 * cleanly on the signal: finished shards stay, the one in progress is removed, and no manifest is written.
 */
export async function writeAllRecommendations(model: BaseRecommender<object>, out: string, options: AllUsersOptions): Promise<RecommendationsManifest> {
  const what = 'writeAllRecommendations';
  const k = Math.min(checkInteger(options.k, `${what}: k`, 1, 2 ** 31 - 1), model.numItems);
  const shardUsers = checkInteger(options.shardUsers ?? DEFAULT_SHARD_USERS, `${what}: shardUsers`, 1, 2 ** 31 - 1);
  const plan = planShards(model.numUsers, shardUsers);
  const wanted = options.shards ?? plan.map((_, s) => s);
  for (const s of wanted) checkInteger(s, `${what}: shards`, 0, plan.length - 1);
  await prepareOut(out, options.shards === undefined || options.shards.length === 0);
  const totalUsers = wanted.reduce((sum, s) => sum + plan[s].users, 0);
  let done = 0;
  const entries: ShardEntry[] = [];
  for (const s of wanted) {
    entries.push(
      await writeShard(model, out, plan[s], { ...options, k }, (n) => {
        done += n;
        options.onProgress?.({ phase: 'recommending for every user', done, total: totalUsers, unit: 'users' });
      }),
    );
  }
  const provenance = model.provenance;
  const manifest: RecommendationsManifest = {
    format: RECOMMENDATIONS_FORMAT,
    version: RECOMMENDATIONS_VERSION,
    model: {
      name: model.name,
      params: model.params,
      fingerprint: provenance.fingerprint,
      semrec: provenance.semrec.version,
      ...(options.modelDir ? { modelJsonSha256: await savedModelDigest(options.modelDir) } : {}),
    },
    k,
    excludeSeen: options.excludeSeen !== false,
    users: model.numUsers,
    shardUsers,
    shards: entries,
  };
  if (entries.length === plan.length) await writeManifest(out, manifest);
  return manifest;
}

/** A shard's temporary file (writeShard): `part-00001.jsonl.tmp-<pid>-<random>`. */
const SHARD_TEMPORARY = /^part-\d+\.jsonl\.tmp-/;

/**
 * Writes the manifest that completes an output: last, atomically. writeAllRecommendations calls it when
 * it wrote every shard; a distributed batch, once every worker's shards are written and verified. First
 * it removes temporary shard files that writers killed before their rename left behind (SIGKILL, a lost
 * machine, an earlier interrupted run), so a complete output holds exactly its manifest and its shards.
 */
export async function writeManifest(out: string, manifest: RecommendationsManifest): Promise<void> {
  for (const name of await fs.readdir(out)) {
    if (SHARD_TEMPORARY.test(name)) await fs.rm(path.join(out, name), { force: true });
  }
  await writeFileAtomically(path.join(out, MANIFEST_FILE), `${JSON.stringify(manifest, null, 2)}\n`);
}
