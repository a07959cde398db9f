/**
 * `batch recommend`: every user's top-k from a saved model, one job per user shard. A worker computes a
 * shard with the same code as `semrec recommend --all-users` (ts/models/all-users.ts) and writes it into
 * the output folder; the shard's size and SHA-256 go to a checked file in the work dir; when every shard
 * is done, the submitter verifies each against it and writes the manifest. The output is byte-identical
 * to the single-process one for the same model, k and shard size.
 */
import path from 'node:path';

import { SemrecError } from '../errors';
import {
  DEFAULT_SHARD_USERS,
  manifestHeader,
  planUserShards,
  prepareOutputDir,
  recommendShard,
  shardMatches,
  writeManifest,
  writeShard,
  type RecommendationsManifest,
  type ShardEntry,
} from '../models/all-users';
import { loadModel } from '../models/registry';
import { throwIfAborted, type LongRunningOptions } from '../progress';
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

/** Loads the model once (to check it and size the batch), records its digest and prepares the output folder. */
export async function planRecommendBatch(options: RecommendBatchOptions, common: BatchCommon): Promise<RecommendBatchSpec> {
  const modelDir = path.resolve(options.modelDir);
  const model = await loadModel(modelDir);
  const shardUsers = options.shardUsers ?? DEFAULT_SHARD_USERS;
  const header = await manifestHeader(model, modelDir, { k: options.k, shardUsers, excludeSeen: options.excludeSeen });
  await prepareOutputDir(common.out);
  return { ...common, kind: 'recommend', numShards: planUserShards(header.numUsers, shardUsers).length, modelDir, header };
}

function doneFile(spec: Pick<RecommendBatchSpec, 'workDir' | 'numShards'>, shard: number): string {
  return path.join(spec.workDir, `shard-${shardName(shard, spec.numShards)}.json`);
}

function rangeOf(spec: RecommendBatchSpec, shard: number) {
  const { shardUsers, numUsers } = spec.header;
  const firstUser = shard * shardUsers;
  return { shard, firstUser, users: Math.min(shardUsers, numUsers - firstUser) };
}

const payloadSchema = z.object({
  modelDir: z.string(),
  modelDigest: z.string(),
  k: z.number().int().min(1),
  excludeSeen: z.boolean(),
  firstUser: z.number().int().min(0),
  users: z.number().int().min(1),
  numShards: z.number().int().min(1),
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

export const recommendKind: BatchKind<RecommendBatchSpec> = {
  unit: 'users',
  units: (spec, shard) => rangeOf(spec, shard).users,
  label(spec, shard) {
    const r = rangeOf(spec, shard);
    return `users ${r.firstUser}-${r.firstUser + r.users - 1}`;
  },
  payload(spec, shard) {
    const r = rangeOf(spec, shard);
    return {
      modelDir: spec.modelDir,
      modelDigest: spec.header.model.digest,
      k: spec.header.k,
      excludeSeen: spec.header.excludeSeen,
      firstUser: r.firstUser,
      users: r.users,
      numShards: spec.numShards,
      out: spec.out,
      doneFile: doneFile(spec, shard),
    };
  },
  async run(job, resources, context) {
    const p = parsePayload(payloadSchema, job);
    const model = await resources.model(p.modelDir, p.modelDigest);
    const range = { shard: job.shard, firstUser: p.firstUser, users: p.users };
    const bytes = await recommendShard(model, range, {
      k: p.k,
      excludeSeen: p.excludeSeen,
      signal: context.signal,
      onProgress: (e) => {
        if (e.total) context.progress(e.done / e.total);
        context.onProgress?.(e);
      },
    });
    const entry = await writeShard(p.out, range, p.numShards, bytes);
    await writeCheckedJson(p.doneFile, DONE_KIND, { batchId: job.batchId, shard: job.shard, entry } satisfies ShardDone);
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
    const { model, numUsers, k } = spec.header;
    const summary = { out: spec.out, model: model.name, users: numUsers, k, shards: spec.numShards };
    return { text: `wrote ${spec.out}: top ${k} of ${numUsers} users in ${spec.numShards} shards\n`, summary };
  },
};
