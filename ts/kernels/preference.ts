/**
 * The one pass over every interaction behind LLM-Rec's preference vectors (native/include/semrec/
 * preference.h): per user, the weighted sum of the vectors of their items and the sum of the weights.
 * The weights (signal strength x time decay) come from ts/preference.
 */
import { addon } from '../native/addon';
import type { Csr } from './types';
import { ArgReader, MAX_DIM, MAX_INDEX } from './validate';

export interface PreferenceSumsArgs {
  numUsers: number;
  numItems: number;
  dim: number;
  /** Each user's interactions: indices are item ids. */
  byUser: Csr;
  /** One weight per interaction of byUser (>= 0). */
  weights: Float32Array;
  /** numItems x dim item vectors. */
  vectors: Float32Array;
  numThreads?: number;
}

export interface PreferenceSums {
  /** numUsers x dim weighted sums. */
  sums: Float32Array;
  /** numUsers sums of the weights. */
  totals: Float32Array;
}

function check(a: PreferenceSumsArgs): void {
  const r = new ArgReader(a, 'preferenceSums');
  const users = r.integer('numUsers', 0, MAX_INDEX);
  const items = r.integer('numItems', 0, MAX_INDEX);
  const dim = r.integer('dim', 1, MAX_DIM);
  const byUser = r.csr('byUser', users);
  r.length('weights', r.float32('weights').length, byUser.indices.length, 'byUser.indices.length');
  r.length('vectors', r.float32('vectors').length, items * dim, 'numItems x dim');
}

export async function preferenceSums(a: PreferenceSumsArgs): Promise<PreferenceSums> {
  check(a);
  return addon().preferenceSums(a) as Promise<PreferenceSums>;
}

/** The definition, plainly, in double precision. */
export function preferenceSumsReference(a: PreferenceSumsArgs): { sums: Float64Array; totals: Float64Array } {
  const sums = new Float64Array(a.numUsers * a.dim);
  const totals = new Float64Array(a.numUsers);
  for (let u = 0; u < a.numUsers; u++) {
    for (let e = a.byUser.indptr[u]; e < a.byUser.indptr[u + 1]; e++) {
      const item = a.byUser.indices[e];
      for (let t = 0; t < a.dim; t++) sums[u * a.dim + t] += a.weights[e] * a.vectors[item * a.dim + t];
      totals[u] += a.weights[e];
    }
  }
  return { sums, totals };
}
