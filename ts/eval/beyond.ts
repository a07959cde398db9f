/**
 * Long-tail metrics of top-K lists, per user, from the items' training popularity:
 *   novelty@K   = mean over the list of -log2(p_i), p_i = (distinct training users of i) / numUsers, with
 *                 p_i floored at 1 / numUsers for items nobody trained on (Zhou et al. 2010, "self-information");
 *   tailShare@K = share of the list outside the short head, the head being the HEAD_SHARE most popular
 *                 items (Abdollahpouri et al. 2019's 20% "short head"; their APLT metric).
 */
import type { Csr } from '../kernels/types';

/** Share of items, most popular first, that form the short head. */
export const HEAD_SHARE = 0.2;

export interface Popularity {
  /** Distinct training users per item. */
  counts: Float64Array;
  numUsers: number;
  /** 1 for short-head items. */
  head: Uint8Array;
}

export function popularityOf(train: Csr, numItems: number): Popularity {
  const numUsers = train.indptr.length - 1;
  const counts = new Float64Array(numItems);
  for (const i of train.indices) counts[i]++;
  // Head: the ceil(HEAD_SHARE x numItems) most popular items (ties by lower index, as rankings break them).
  const order = Array.from({ length: numItems }, (_, i) => i).sort((a, b) => counts[b] - counts[a] || a - b);
  const head = new Uint8Array(numItems);
  for (const i of order.slice(0, Math.ceil(HEAD_SHARE * numItems))) head[i] = 1;
  return { counts, numUsers, head };
}

/** Per-user novelty@K and tailShare@K of best-first lists (rows x listLength, -1 pads); NaN for empty rows. */
export function longTailMetrics(
  lists: Int32Array,
  listLength: number,
  ks: number[],
  popularity: Popularity,
): Record<string, Float64Array> {
  const rows = lists.length / listLength;
  const out: Record<string, Float64Array> = {};
  for (const k of ks) {
    const novelty = new Float64Array(rows).fill(NaN);
    const tail = new Float64Array(rows).fill(NaN);
    for (let r = 0; r < rows; r++) {
      let n = 0;
      let info = 0;
      let inTail = 0;
      for (let p = 0; p < Math.min(k, listLength); p++) {
        const item = lists[r * listLength + p];
        if (item < 0) break;
        n++;
        info -= Math.log2(Math.max(popularity.counts[item], 1) / popularity.numUsers);
        if (!popularity.head[item]) inTail++;
      }
      if (n > 0) {
        novelty[r] = info / n;
        tail[r] = inTail / n;
      }
    }
    out[`novelty@${k}`] = novelty;
    out[`tailShare@${k}`] = tail;
  }
  return out;
}
