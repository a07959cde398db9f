/**
 * Full-ranking evaluation of any scorer, block by block of users: each block's dense scores go through
 * the core's rankingMetrics (per-user precision/recall/ndcg/map/hit/mrr@K and the full-ranking mrr)
 * and topK (the lists that beyond-accuracy metrics read), so memory stays bounded for any number of
 * users. Excluded items (the training interactions) are never ranked.
 */
import { rankingMetrics } from '../kernels/metrics';
import { topK } from '../kernels/topk';
import type { Csr, ItemFeatures } from '../kernels/types';
import { throwIfAborted, type LongRunningOptions } from '../progress';
import { rowLength, selectRows } from '../util/csr';

/** Scores of the given users against every item (users.length x numItems). */
export type Scorer = (users: Int32Array) => Promise<Float32Array>;

/** Largest score block scored at once: 2^24 floats = 64 MiB. */
const BLOCK_SCORES = 1 << 24;

export interface RankingTask {
  numUsers: number;
  numItems: number;
  /** Relevant items per user (all users; rows of users not evaluated are ignored). */
  truth: Csr;
  /** Items never ranked per user (all users), typically the training interactions. */
  exclude?: Csr;
  /** Cut-offs, e.g. [5, 10, 20]. */
  ks: number[];
  /** Users to evaluate (default: every user with a non-empty truth row). */
  users?: Int32Array;
  /** For ild@K. */
  itemFeatures?: ItemFeatures;
  /** Length of the top lists kept per user (default: the largest K). */
  listLength?: number;
}

export interface RankingOutcome {
  /** The evaluated users, in the order of every per-user vector and of `lists`. */
  users: Int32Array;
  /** Per-user values (NaN for a user whose truth is empty once excluded items are dropped). */
  perUser: Record<string, Float64Array>;
  /** Means over users with a non-NaN value. */
  mean: Record<string, number>;
  /** users.length x listLength best-first item lists (-1 pads). */
  lists: Int32Array;
  listLength: number;
  /** Users whose truth is non-empty after exclusion. */
  evaluatedUsers: number;
}

export function usersWithTruth(truth: Csr): Int32Array {
  const users: number[] = [];
  for (let u = 0; u < truth.indptr.length - 1; u++) if (rowLength(truth, u) > 0) users.push(u);
  return Int32Array.from(users);
}

export function meanOfDefined(values: ArrayLike<number>): number {
  let sum = 0;
  let n = 0;
  for (let i = 0; i < values.length; i++) {
    if (!Number.isNaN(values[i])) {
      sum += values[i];
      n++;
    }
  }
  return n > 0 ? sum / n : NaN;
}

export async function evaluateRanking(score: Scorer, task: RankingTask, options: LongRunningOptions = {}): Promise<RankingOutcome> {
  const users = task.users ?? usersWithTruth(task.truth);
  // A cut-off beyond the catalogue sees every item: the lists never need to be longer than numItems.
  const listLength = Math.min(task.listLength ?? Math.max(...task.ks), task.numItems);
  const blockSize = Math.max(1, Math.floor(BLOCK_SCORES / Math.max(1, task.numItems)));
  const perUser: Record<string, Float64Array> = {};
  const lists = new Int32Array(users.length * listLength).fill(-1);
  for (let start = 0; start < users.length; start += blockSize) {
    throwIfAborted(options.signal, 'evaluation');
    const block = users.subarray(start, Math.min(users.length, start + blockSize));
    const scores = await score(block);
    const truth = selectRows(task.truth, block);
    const exclude = task.exclude ? selectRows(task.exclude, block) : undefined;
    const metrics = await rankingMetrics({
      scores,
      numUsers: block.length,
      numItems: task.numItems,
      truth,
      exclude,
      ks: task.ks,
      itemFeatures: task.itemFeatures,
    });
    for (const [key, values] of Object.entries(metrics.perUser)) {
      perUser[key] ??= new Float64Array(users.length);
      perUser[key].set(values, start);
    }
    if (listLength > 0) {
      const top = await topK({ scores, numRows: block.length, numCols: task.numItems, k: listLength, exclude });
      lists.set(top.indices, start * listLength);
    }
    options.onProgress?.({ phase: 'evaluating', done: start + block.length, total: users.length, unit: 'users' });
  }
  const mean: Record<string, number> = {};
  for (const [key, values] of Object.entries(perUser)) mean[key] = meanOfDefined(values);
  const reference = perUser[`ndcg@${Math.min(...task.ks)}`];
  let evaluatedUsers = 0;
  if (reference) for (const v of reference) if (!Number.isNaN(v)) evaluatedUsers++;
  addListMetrics(mean, lists, listLength, task.ks, reference, task.numItems);
  return { users, perUser, mean, lists, listLength, evaluatedUsers };
}

/** aggregateDiversity@K (distinct items in evaluated users' top-K) and coverage@K, over all blocks. */
function addListMetrics(
  mean: Record<string, number>,
  lists: Int32Array,
  listLength: number,
  ks: number[],
  evaluated: Float64Array | undefined,
  numItems: number,
): void {
  for (const k of [...new Set(ks)].sort((a, b) => a - b)) {
    const seen = new Uint8Array(numItems);
    let distinct = 0;
    const rows = lists.length / listLength;
    for (let r = 0; r < rows; r++) {
      if (evaluated && Number.isNaN(evaluated[r])) continue;
      for (let p = 0; p < Math.min(k, listLength); p++) {
        const item = lists[r * listLength + p];
        if (item >= 0 && !seen[item]) {
          seen[item] = 1;
          distinct++;
        }
      }
    }
    mean[`aggregateDiversity@${k}`] = distinct;
    mean[`coverage@${k}`] = numItems > 0 ? distinct / numItems : 0;
  }
}
