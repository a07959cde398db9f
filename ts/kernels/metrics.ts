/**
 * Batch ranking metrics (native CPU or CUDA). Definitions, with rank r starting at 1, binary relevance
 * and T = the user's truth minus excluded items (users with empty T are skipped):
 *   precision@K = hits/K; recall@K = hits/|T|; hit@K = 1 if any hit;
 *   ndcg@K = sum over hits at r <= K of 1/log2(r+1), divided by the same sum over r = 1..min(|T|, K);
 *   map@K = (sum over hits at r <= K of hits_up_to_r / r) / min(|T|, K);
 *   mrr@K = 1/r of the first hit if r <= K else 0; mrr = 1/r of the first hit in the whole ranking.
 * Ranking as in topK: higher score first, ties by lower item index, excluded items never ranked.
 */
import { addon } from '../native/addon';
import type { RankingMetricsFromTopKOptions, RankingMetricsOptions, RankingMetricsResult } from './types';
import { ArgReader, MAX_INDEX } from './validate';

function metricsArgs(options: RankingMetricsOptions, op: string): object {
  const args = new ArgReader(options, op);
  const numUsers = args.integer('numUsers', 0, MAX_INDEX);
  const numItems = args.integer('numItems', 0, MAX_INDEX);
  const scores = args.float32('scores');
  args.length('scores', scores.length, numUsers * numItems, 'numUsers x numItems');
  return {
    scores,
    numUsers,
    numItems,
    truth: args.csr('truth', numUsers),
    exclude: args.csr('exclude', numUsers, true),
    ks: args.integerList('ks', 1, MAX_INDEX),
    itemFeatures: args.matrix('itemFeatures', numItems),
    device: args.device(),
  };
}

function fromTopKArgs(options: RankingMetricsFromTopKOptions, op: string): object {
  const args = new ArgReader(options, op);
  const numUsers = args.integer('numUsers', 0, MAX_INDEX);
  const numItems = args.integer('numItems', 0, MAX_INDEX);
  const k = args.integer('k', 1, MAX_INDEX);
  const indices = args.int32('indices');
  args.length('indices', indices.length, numUsers * k, 'numUsers x k');
  return {
    indices,
    k,
    numUsers,
    numItems,
    truth: args.csr('truth', numUsers),
    exclude: args.csr('exclude', numUsers, true),
    ks: args.integerList('ks', 1, k),
    itemFeatures: args.matrix('itemFeatures', numItems),
  };
}

/** Metrics of full rankings over all items, off the JS thread. */
export async function rankingMetrics(options: RankingMetricsOptions): Promise<RankingMetricsResult> {
  return addon().rankingMetrics(metricsArgs(options, 'rankingMetrics'));
}

export function rankingMetricsSync(options: RankingMetricsOptions): RankingMetricsResult {
  return addon().rankingMetricsSync(metricsArgs(options, 'rankingMetrics'));
}

/** Metrics of precomputed top-K lists (no full-ranking `mrr`), off the JS thread. CPU only. */
export async function rankingMetricsFromTopK(options: RankingMetricsFromTopKOptions): Promise<RankingMetricsResult> {
  return addon().rankingMetricsFromTopK(fromTopKArgs(options, 'rankingMetricsFromTopK'));
}

export function rankingMetricsFromTopKSync(options: RankingMetricsFromTopKOptions): RankingMetricsResult {
  return addon().rankingMetricsFromTopKSync(fromTopKArgs(options, 'rankingMetricsFromTopK'));
}
