/**
 * Integrity of what a batch reads: a job names a model dir or a dataset by path, and the path must hold
 * on every worker what it held at submission. The submitter records a digest; each worker recomputes it
 * before running a shard and refuses (ERR_BATCH_INPUT_CHANGED, not retried) when they differ, so a model
 * re-saved or a dataset edited mid-batch can never mix two versions into one output.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';

import type { InteractionStore } from '../data/store';
import { SemrecError } from '../errors';

/** The manifest of a saved model (ts/models/persist.ts). */
const MODEL_MANIFEST = 'model.json';

/**
 * Digest of a saved model dir: the SHA-256 of its manifest. The manifest records the SHA-256 of the
 * weights and loadModel() verifies them against it, so the manifest's own hash covers the whole model
 * without hashing the weights a second time.
 */
export async function modelDirDigest(dir: string): Promise<string> {
  const file = path.join(path.resolve(dir), MODEL_MANIFEST);
  let bytes: Buffer;
  try {
    bytes = await fs.readFile(file);
  } catch (cause) {
    throw new SemrecError(`no saved model in ${path.resolve(dir)} (${MODEL_MANIFEST} is missing)`, 'ERR_MODEL_NOT_FOUND', { cause });
  }
  return createHash('sha256').update(bytes).digest('hex');
}

/** Digest of a dataset as loaded: sizes, ids and every interaction column, so any change of content shows. */
export function datasetFingerprint(store: InteractionStore): string {
  const hash = createHash('sha256');
  hash.update(JSON.stringify([store.numUsers, store.numItems, store.numInteractions]));
  for (const column of [store.userIdx, store.itemIdx, store.rating, store.timestamp]) {
    hash.update(new Uint8Array(column.buffer, column.byteOffset, column.byteLength));
  }
  for (let u = 0; u < store.numUsers; u++) hash.update(`${store.userIds.raw(u)}\n`);
  for (let i = 0; i < store.numItems; i++) hash.update(`${store.itemIds.raw(i)}\n`);
  return hash.digest('hex');
}

export function inputChanged(what: string, expected: string, found: string): SemrecError {
  return new SemrecError(
    `${what} changed since the batch was submitted (digest ${found.slice(0, 12)}, submitted ${expected.slice(0, 12)}); ` +
      'resubmit the batch to use the new one',
    'ERR_BATCH_INPUT_CHANGED',
  );
}
