/**
 * Readable TypeScript references of the native ops: the definitions written as plainly as possible,
 * with no attention to speed. Tests compare the native CPU and CUDA ops against these on random inputs;
 * benchmarks report how much faster the native ops are.
 */
import type {
  Csr,
  ItemFeatures,
  RankingMetricsFromTopKOptions,
  RankingMetricsOptions,
  ScoreMatrixOptions,
  TopKOptions,
} from './types';

/** semrec's ranking order: higher score first, equal scores by lower index. */
export function compareRanked(a: { score: number; index: number }, b: { score: number; index: number }): number {
  if (a.score !== b.score) return b.score - a.score > 0 ? 1 : -1;
  return a.index - b.index;
}

function rowSet(csr: Csr | undefined, row: number): Set<number> {
  const set = new Set<number>();
  if (csr) for (let e = csr.indptr[row]; e < csr.indptr[row + 1]; e++) set.add(csr.indices[e]);
  return set;
}

/** Eligible columns of one row, best first. */
function rankRow(scores: Float32Array, row: number, numCols: number, excluded: Set<number>) {
  const ranked: { score: number; index: number }[] = [];
  for (let c = 0; c < numCols; c++) {
    const score = scores[row * numCols + c];
    if (Number.isNaN(score)) throw new Error(`reference: NaN at [${row}, ${c}]`);
    if (!excluded.has(c)) ranked.push({ score, index: c });
  }
  return ranked.sort(compareRanked);
}

export function topKReference(options: Omit<TopKOptions, 'device'>): { indices: Int32Array; scores: Float32Array } {
  const { scores, numRows, numCols, k, exclude } = options;
  const indices = new Int32Array(numRows * k).fill(-1);
  const top = new Float32Array(numRows * k).fill(-Infinity);
  for (let r = 0; r < numRows; r++) {
    const ranked = rankRow(scores, r, numCols, rowSet(exclude, r));
    for (let p = 0; p < Math.min(k, ranked.length); p++) {
      indices[r * k + p] = ranked[p].index;
      top[r * k + p] = ranked[p].score;
    }
  }
  return { indices, scores: top };
}

/** users . items^T + itemBias, accumulated in double and rounded once. */
export function scoreMatrixReference(options: Omit<ScoreMatrixOptions, 'device'>): Float32Array {
  const { users, items, dim, itemBias } = options;
  const numUsers = users.length / dim;
  const numItems = items.length / dim;
  const out = new Float32Array(numUsers * numItems);
  for (let u = 0; u < numUsers; u++) {
    for (let i = 0; i < numItems; i++) {
      let dot = 0;
      for (let t = 0; t < dim; t++) dot += users[u * dim + t] * items[i * dim + t];
      out[u * numItems + i] = dot + (itemBias ? itemBias[i] : 0);
    }
  }
  return out;
}

interface ReferenceMetrics {
  mean: Record<string, number>;
  perUser: Record<string, Float64Array>;
  evaluatedUsers: number;
}

function cosineDistance(features: ItemFeatures, a: number, b: number): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let d = 0; d < features.dim; d++) {
    const x = features.data[a * features.dim + d];
    const y = features.data[b * features.dim + d];
    dot += x * y;
    na += x * x;
    nb += y * y;
  }
  const cosine = na > 0 && nb > 0 ? dot / Math.sqrt(na * nb) : 0;
  return 1 - cosine;
}

/**
 * Metrics of each user's ranked list (already without excluded items). `fullRankOfFirstHit` is the
 * 1-based rank of the first relevant item in the whole ranking (0: none), or undefined for top-K input.
 */
function evaluate(
  lists: number[][],
  truths: Set<number>[],
  numItems: number,
  ks: number[],
  fullRanks: (number | undefined)[],
  itemFeatures: ItemFeatures | undefined,
): ReferenceMetrics {
  const sortedKs = [...new Set(ks)].sort((a, b) => a - b);
  const numUsers = lists.length;
  const perUser: Record<string, Float64Array> = {};
  const keys: string[] = [];
  for (const k of sortedKs) for (const m of ['precision', 'recall', 'ndcg', 'map', 'hit', 'mrr']) keys.push(`${m}@${k}`);
  const withFullMrr = fullRanks.some((r) => r !== undefined);
  if (withFullMrr) keys.push('mrr');
  if (itemFeatures) for (const k of sortedKs) keys.push(`ild@${k}`);
  for (const key of keys) perUser[key] = new Float64Array(numUsers).fill(NaN);

  const evaluated: number[] = [];
  for (let u = 0; u < numUsers; u++) {
    const truth = truths[u];
    if (truth.size === 0) continue;
    evaluated.push(u);
    const list = lists[u];
    for (const K of sortedKs) {
      const top = list.slice(0, K);
      let hits = 0;
      let dcg = 0;
      let precisionSum = 0;
      let firstHit = 0;
      top.forEach((item, p) => {
        if (!truth.has(item)) return;
        hits++;
        dcg += 1 / Math.log2(p + 2);
        precisionSum += hits / (p + 1);
        if (firstHit === 0) firstHit = p + 1;
      });
      const ideal = Math.min(truth.size, K);
      let idcg = 0;
      for (let r = 1; r <= ideal; r++) idcg += 1 / Math.log2(r + 1);
      perUser[`precision@${K}`][u] = hits / K;
      perUser[`recall@${K}`][u] = hits / truth.size;
      perUser[`ndcg@${K}`][u] = dcg / idcg;
      perUser[`map@${K}`][u] = precisionSum / ideal;
      perUser[`hit@${K}`][u] = hits > 0 ? 1 : 0;
      perUser[`mrr@${K}`][u] = firstHit > 0 ? 1 / firstHit : 0;
      if (itemFeatures) {
        let sum = 0;
        let pairs = 0;
        for (let a = 0; a < top.length; a++) {
          for (let b = 0; b < a; b++) {
            sum += cosineDistance(itemFeatures, top[a], top[b]);
            pairs++;
          }
        }
        perUser[`ild@${K}`][u] = pairs > 0 ? sum / pairs : 0;
      }
    }
    if (withFullMrr) {
      const rank = fullRanks[u] ?? 0;
      perUser.mrr[u] = rank > 0 ? 1 / rank : 0;
    }
  }
  const mean: Record<string, number> = {};
  for (const key of keys) {
    mean[key] = evaluated.length ? evaluated.reduce((s, u) => s + perUser[key][u], 0) / evaluated.length : NaN;
  }
  for (const K of sortedKs) {
    const distinct = new Set<number>();
    for (const u of evaluated) for (const item of lists[u].slice(0, K)) distinct.add(item);
    mean[`aggregateDiversity@${K}`] = distinct.size;
    mean[`coverage@${K}`] = numItems > 0 ? distinct.size / numItems : 0;
  }
  return { mean, perUser, evaluatedUsers: evaluated.length };
}

function cleanTruths(truth: Csr, exclude: Csr | undefined, numUsers: number): Set<number>[] {
  const out: Set<number>[] = [];
  for (let u = 0; u < numUsers; u++) {
    const excluded = rowSet(exclude, u);
    out.push(new Set([...rowSet(truth, u)].filter((i) => !excluded.has(i))));
  }
  return out;
}

export function rankingMetricsReference(options: Omit<RankingMetricsOptions, 'device'>): ReferenceMetrics {
  const { scores, numUsers, numItems, truth, exclude, ks, itemFeatures } = options;
  const truths = cleanTruths(truth, exclude, numUsers);
  const maxK = Math.max(...ks);
  const lists: number[][] = [];
  const fullRanks: number[] = [];
  for (let u = 0; u < numUsers; u++) {
    const ranked = rankRow(scores, u, numItems, rowSet(exclude, u)).map((e) => e.index);
    lists.push(ranked.slice(0, maxK));
    fullRanks.push(ranked.findIndex((item) => truths[u].has(item)) + 1);
  }
  return evaluate(lists, truths, numItems, ks, fullRanks, itemFeatures);
}

export function rankingMetricsFromTopKReference(options: RankingMetricsFromTopKOptions): ReferenceMetrics {
  const { indices, k, numUsers, numItems, truth, exclude, ks, itemFeatures } = options;
  const truths = cleanTruths(truth, exclude, numUsers);
  const lists: number[][] = [];
  for (let u = 0; u < numUsers; u++) {
    const excluded = rowSet(exclude, u);
    const list = Array.from(indices.subarray(u * k, (u + 1) * k)).filter((i) => i >= 0 && !excluded.has(i));
    lists.push(list);
  }
  return evaluate(lists, truths, numItems, ks, new Array(numUsers).fill(undefined), itemFeatures);
}
