/**
 * What the models read from a training split, and the per-user item sets they derive from it.
 */
import type { InteractionStore } from '../data/store';
import { SemrecError } from '../errors';
import type { Csr } from '../kernels/types';
import { csrFromPairs, csrPairs, transposeCsr } from '../util/csr';

/**
 * The fields of the data layer's InteractionStore that models read. Any store or split is one; tests
 * build small ones directly. The raw-id maps travel into the saved model (without them the indices
 * stand in for ids).
 */
export type TrainingData = Pick<
  InteractionStore,
  'name' | 'numUsers' | 'numItems' | 'numInteractions' | 'userIdx' | 'itemIdx' | 'rating' | 'timestamp' | 'review' | 'items' | 'users'
> &
  Partial<Pick<InteractionStore, 'userIds' | 'itemIds'>>;

/** Throws a SemrecError naming `what` unless the interaction arrays are consistent and in range. */
export function checkTrainingData(data: TrainingData, what: string): void {
  const n = data.numInteractions;
  for (const [field, array] of [
    ['userIdx', data.userIdx],
    ['itemIdx', data.itemIdx],
    ['rating', data.rating],
  ] as const) {
    if (array.length !== n) {
      throw new SemrecError(`${what}: ${field} has ${array.length} entries, numInteractions is ${n}`, 'ERR_INVALID_ARG_VALUE');
    }
  }
  if (!Number.isInteger(data.numUsers) || data.numUsers < 1 || !Number.isInteger(data.numItems) || data.numItems < 1) {
    throw new SemrecError(`${what}: needs at least one user and one item`, 'ERR_INVALID_ARG_VALUE');
  }
  for (let e = 0; e < n; e++) {
    const u = data.userIdx[e];
    const i = data.itemIdx[e];
    if (!(u >= 0 && u < data.numUsers) || !(i >= 0 && i < data.numItems)) {
      throw new SemrecError(
        `${what}: interaction ${e} has user ${u} / item ${i} outside ${data.numUsers} users x ${data.numItems} items`,
        'ERR_OUT_OF_RANGE',
      );
    }
  }
}

/** Each user's items (sorted, unique): the positives of implicit feedback and the "seen" set. */
export function userItems(data: TrainingData): Csr {
  return csrFromPairs(data.numUsers, data.userIdx, data.itemIdx);
}

/** Each item's users (sorted, unique). */
export function itemUsers(byUser: Csr, numItems: number): Csr {
  return transposeCsr(byUser, numItems);
}

/** The distinct (user, item) pairs of `byUser`, user by user. */
export function positivePairs(byUser: Csr): { users: Int32Array; items: Int32Array } {
  const { rows, cols } = csrPairs(byUser);
  return { users: rows, items: cols };
}

/** Interactions per item in the training data (each distinct (user, item) pair counts once). */
export function itemPopularity(byUser: Csr, numItems: number): Float64Array {
  const counts = new Float64Array(numItems);
  for (let e = 0; e < byUser.indices.length; e++) counts[byUser.indices[e]]++;
  return counts;
}
