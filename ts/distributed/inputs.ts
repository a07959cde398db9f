/**
 * Integrity of what a batch reads: a job names a model dir or a dataset by path, and the path must hold
 * on every worker what it held at submission. The submitter records a digest; each worker recomputes it
 * before running a shard and refuses (ERR_BATCH_INPUT_CHANGED, not retried) when they differ, so a model
 * re-saved or a dataset edited mid-batch can never mix two versions into one output.
 */
import { createHash } from 'node:crypto';

import type { InteractionStore } from '../data/store';
import { SemrecError } from '../errors';

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
