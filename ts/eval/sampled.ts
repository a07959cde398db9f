/**
 * Sampled ranking, only when asked for (it overstates accuracy and can reorder models; Krichene & Rendle
 * 2020): each held-out item of a user is ranked against SAMPLED_NEGATIVES items drawn uniformly without
 * replacement from the items the user never interacted with (train, validation or test), in semrec's
 * order (higher score, then lower index). Per held-out item: hit@K = [rank <= K],
 * ndcg@K = 1/log2(rank + 1) if rank <= K else 0, mrr = 1/rank; a user's value is the mean over its items.
 * Every report that shows these numbers labels them "sampled".
 */
import type { Csr } from '../kernels/types';
import { throwIfAborted, type LongRunningOptions } from '../progress';
import { Random } from '../util/random';
import type { Scorer } from './ranking';

/** Negatives per held-out item: the "1 positive + 99 negatives" protocol. */
export const SAMPLED_NEGATIVES = 99;
const BLOCK_SCORES = 1 << 24;

export interface SampledTask {
  numItems: number;
  truth: Csr;
  /** Every item the user interacted with anywhere (never drawn as a negative). */
  interacted: Csr;
  users: Int32Array;
  ks: number[];
  seed: number;
}

export async function evaluateSampled(
  score: Scorer,
  task: SampledTask,
  options: LongRunningOptions = {},
): Promise<Record<string, Float64Array>> {
  const keys = [...task.ks.flatMap((k) => [`hit@${k}`, `ndcg@${k}`]), 'mrr'];
  const out: Record<string, Float64Array> = {};
  for (const key of keys) out[key] = new Float64Array(task.users.length).fill(NaN);
  const base = new Random(task.seed);
  const blockSize = Math.max(1, Math.floor(BLOCK_SCORES / Math.max(1, task.numItems)));
  for (let start = 0; start < task.users.length; start += blockSize) {
    throwIfAborted(options.signal, 'sampled evaluation');
    const block = task.users.subarray(start, Math.min(task.users.length, start + blockSize));
    const scores = await score(block);
    block.forEach((u, b) => {
      const r = start + b;
      const rng = base.fork(u);
      const seen = new Set(task.interacted.indices.subarray(task.interacted.indptr[u], task.interacted.indptr[u + 1]));
      const candidates: number[] = [];
      for (let i = 0; i < task.numItems; i++) if (!seen.has(i)) candidates.push(i);
      const positives = task.truth.indices.subarray(task.truth.indptr[u], task.truth.indptr[u + 1]);
      if (positives.length === 0) return;
      const sums: Record<string, number> = Object.fromEntries(keys.map((k) => [k, 0]));
      const row = scores.subarray(b * task.numItems, (b + 1) * task.numItems);
      for (const pos of positives) {
        // Partial Fisher-Yates: the first `take` candidates become a uniform sample without replacement.
        const take = Math.min(SAMPLED_NEGATIVES, candidates.length);
        for (let c = 0; c < take; c++) {
          const j = rng.int(c, candidates.length - 1);
          [candidates[c], candidates[j]] = [candidates[j], candidates[c]];
        }
        let rank = 1;
        for (let c = 0; c < take; c++) {
          const neg = candidates[c];
          if (row[neg] > row[pos] || (row[neg] === row[pos] && neg < pos)) rank++;
        }
        for (const k of task.ks) {
          if (rank <= k) {
            sums[`hit@${k}`] += 1;
            sums[`ndcg@${k}`] += 1 / Math.log2(rank + 1);
          }
        }
        sums.mrr += 1 / rank;
      }
      for (const key of keys) out[key][r] = sums[key] / positives.length;
    });
    options.onProgress?.({ phase: 'sampled evaluation', done: start + block.length, total: task.users.length, unit: 'users' });
  }
  return out;
}
