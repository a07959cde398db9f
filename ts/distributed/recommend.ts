/**
 * `batch recommend`: every user's top-k from a saved model, one job per user shard. A worker writes its
 * shard with the writer of `semrec recommend --all-users` (ts/models/batch.ts, asked for that shard
 * only) into the output folder; the shard's size and SHA-256 go to a checked file in the work dir; when
 * every shard is done, the submitter verifies each file against it and writes the manifest with the same
 * writer. The output is byte-identical to the single-process one for the same model, k and shard size.
 */
import fs from 'node:fs/promises';
import path from 'node:path';

import { SemrecError } from '../errors';
import { DEFAULT_SHARD_USERS, type RecommendationsManifest, type ShardEntry, writeAllRecommendations, writeManifest } from '../models/batch';
import { loadModel } from '../models/registry';
import { throwIfAborted, type LongRunningOptions } from '../progress';
import { sha256File } from '../util/fs';
import { readCheckedJson, writeCheckedJson } from './checked-file';
import { parsePayload, z, type BatchKind } from './kind';
import { shardName, type BatchCommon, type RecommendBatchSpec } from './spec';

const DONE_KIND = 'recommend-shard';

export interface RecommendBatchOptions {
  modelDir: string;
  k: number;
  shardUsers?: number;
  excludeSeen?: boolean;
}

/**
 * Loads the model once (to check it and size the batch) and prepares the output folder: the writer,
 * asked for no shard, checks the folder and returns the manifest's header (model, its digest, k, sizes).
 */
export async function planRecommendBatch(options: RecommendBatchOptions, common: BatchCommon): Promise<RecommendBatchSpec> {
  const modelDir = path.resolve(options.modelDir);
  const model = await loadModel(modelDir);
  const header = await writeAllRecommendations(model, common.out, {
    k: options.k,
    shardUsers: options.shardUsers ?? DEFAULT_SHARD_USERS,
    excludeSeen: options.excludeSeen,
    modelDir,
    shards: [],
  });
  if (!header.model.modelJsonSha256) throw new SemrecError(`batch recommend: no digest for the model in ${modelDir}`, 'ERR_INTERNAL');
  return { ...common, kind: 'recommend', numShards: Math.max(1, Math.ceil(header.users / header.shardUsers)), modelDir, header };
}

function doneFile(spec: Pick<RecommendBatchSpec, 'workDir' | 'numShards'>, shard: number): string {
  return path.join(spec.workDir, `shard-${shardName(shard, spec.numShards)}.json`);
}

function rangeOf(spec: RecommendBatchSpec, shard: number) {
  const { shardUsers, users } = spec.header;
  const firstUser = shard * shardUsers;
  return { firstUser, users: Math.max(0, Math.min(shardUsers, users - firstUser)) };
}

const payloadSchema = z.object({
  modelDir: z.string(),
  modelDigest: z.string(),
  k: z.number().int().min(1),
  excludeSeen: z.boolean(),
  shardUsers: z.number().int().min(1),
  out: z.string(),
  doneFile: z.string(),
});

interface ShardDone {
  batchId: string;
  shard: number;
  entry: ShardEntry;
}

async function readDone(spec: RecommendBatchSpec, shard: number): Promise<ShardEntry | undefined> {
  const done = await readCheckedJson<ShardDone>(doneFile(spec, shard), DONE_KIND);
  if (!done) return undefined;
  if (done.batchId !== spec.id || done.shard !== shard) throw new SemrecError(`${doneFile(spec, shard)} belongs to another batch or shard`, 'ERR_SHARD_CORRUPT');
  return done.entry;
}

/** Whether the shard file on disk is the one `entry` describes (size, then SHA-256). */
async function shardMatches(out: string, entry: ShardEntry): Promise<boolean> {
  const file = path.join(out, entry.file);
  const stat = await fs.stat(file).catch(() => undefined);
  return stat !== undefined && stat.size === entry.bytes && (await sha256File(file)) === entry.sha256;
}

export const recommendKind: BatchKind<RecommendBatchSpec> = {
  unit: 'users',
  units: (spec, shard) => rangeOf(spec, shard).users,
  label(spec, shard) {
    const r = rangeOf(spec, shard);
    return `users ${r.firstUser}-${r.firstUser + r.users - 1}`;
  },
  payload(spec, shard) {
    return {
      modelDir: spec.modelDir,
      modelDigest: spec.header.model.modelJsonSha256!,
      k: spec.header.k,
      excludeSeen: spec.header.excludeSeen,
      shardUsers: spec.header.shardUsers,
      out: spec.out,
      doneFile: doneFile(spec, shard),
    };
  },
  async run(job, resources, context) {
    const p = parsePayload(payloadSchema, job);
    const model = await resources.model(p.modelDir, p.modelDigest);
    const written = await writeAllRecommendations(model, p.out, {
      k: p.k,
      excludeSeen: p.excludeSeen,
      shardUsers: p.shardUsers,
      modelDir: p.modelDir,
      shards: [job.shard],
      signal: context.signal,
      onProgress: (e) => {
        if (e.total) context.progress(e.done / e.total);
        context.onProgress?.(e);
      },
    });
    await writeCheckedJson(p.doneFile, DONE_KIND, { batchId: job.batchId, shard: job.shard, entry: written.shards[0] } satisfies ShardDone);
  },
  async verify(spec, shard) {
    try {
      const entry = await readDone(spec, shard);
      return entry !== undefined && (await shardMatches(spec.out, entry));
    } catch {
      return false;
    }
  },
  async finalize(spec, options: LongRunningOptions) {
    const shards: ShardEntry[] = [];
    for (let shard = 0; shard < spec.numShards; shard++) {
      throwIfAborted(options.signal, 'batch recommend');
      const entry = await readDone(spec, shard);
      if (!entry || !(await shardMatches(spec.out, entry))) {
        throw new SemrecError(
          `batch ${spec.id}: shard ${shard} (${recommendKind.label(spec, shard)}) is missing or damaged on disk; semrec batch resume ${spec.id} runs it again`,
          'ERR_SHARD_CORRUPT',
        );
      }
      shards.push(entry);
      options.onProgress?.({ phase: 'verifying shards', done: shard + 1, total: spec.numShards, unit: 'shards' });
    }
    const manifest: RecommendationsManifest = { ...spec.header, shards };
    await writeManifest(spec.out, manifest);
    const { model, users, k } = spec.header;
    const summary = { out: spec.out, model: model.name, users, k, shards: spec.numShards };
    return { text: `wrote ${spec.out}: top ${k} of ${users} users in ${spec.numShards} shards\n`, summary };
  },
};
