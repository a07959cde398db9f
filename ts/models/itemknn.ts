/**
 * `itemknn`: item-based neighbourhood model (Sarwar et al. 2001) as RecBole's ItemKNN computes it:
 * cosine similarity of items' user sets with shrinkage, each item keeping its `neighbors` most similar
 * items; a user's score for item j sums j's similarities to the user's items. Trained natively
 * (semrec/train_itemknn.h). A new user is scored the same way from the items of the history (the native
 * neighbour sums over a one-row history; uses itemIdx only). Similar items are an item's kept
 * neighbours, and an explanation gives each history item's share of the neighbour sum.
 */
import type { Csr } from '../kernels/types';
import { BaseRecommender, type FitContext, type HistorySimilarities, type ModelState } from './base';
import type { HistoryEvent, Recommendations } from './contract';
import { historyRow } from './fold-in';
import { itemUsers } from './data';
import { trainOps } from './native';
import { nonNegative, positiveInt, z } from './params';

export const itemKnnParams = z
  .object({
    /** Neighbours kept per item (RecBole's ItemKNN default k = 100). */
    neighbors: positiveInt(1_000_000).default(100).describe('neighbours kept per item'),
    /** Added to the cosine denominator, damping similarities of rarely seen items (RecBole default 0). */
    shrink: nonNegative().default(0).describe('shrinkage added to the cosine denominator'),
  })
  .strict();
export type ItemKnnParams = z.output<typeof itemKnnParams>;

export class ItemKnnModel extends BaseRecommender<ItemKnnParams> {
  readonly name = 'itemknn';
  protected override readonly vectorSimilarity = false;
  private neighbors: Csr = { indptr: new Int32Array(1), indices: new Int32Array(0) };
  private similarity: Float32Array = new Float32Array(0);

  protected async initialize(ctx: FitContext): Promise<void> {
    const result = await trainOps.itemKnnNeighbors({
      numUsers: this.numUsers,
      numItems: this.numItems,
      byItem: itemUsers(ctx.seen, this.numItems),
      byUser: ctx.seen,
      neighbors: this.params.neighbors,
      shrink: this.params.shrink,
      numThreads: ctx.options.numThreads,
    });
    this.neighbors = { indptr: result.indptr, indices: result.indices };
    this.similarity = result.similarity;
  }

  protected async scoreBlock(users: Int32Array): Promise<Float32Array> {
    const result = await trainOps.itemKnnScore({
      numUsers: this.numUsers,
      numItems: this.numItems,
      neighbors: this.neighbors,
      similarity: this.similarity,
      userItems: this.seen!,
      users,
    });
    return result.scores;
  }

  protected override async scoreHistory(events: readonly HistoryEvent[]): Promise<Float32Array> {
    const result = await trainOps.itemKnnScore({
      numUsers: 1,
      numItems: this.numItems,
      neighbors: this.neighbors,
      similarity: this.similarity,
      userItems: historyRow(events),
      users: Int32Array.of(0),
    });
    return result.scores;
  }

  /** The item's kept neighbours, most similar first (fewer than k when it has fewer: padded with -1). */
  protected override async similarItemsOf(itemIdx: number, k: number): Promise<Recommendations> {
    const indices = new Int32Array(k).fill(-1);
    const scores = new Float32Array(k).fill(-Infinity);
    const begin = this.neighbors.indptr[itemIdx];
    const count = Math.min(k, this.neighbors.indptr[itemIdx + 1] - begin);
    indices.set(this.neighbors.indices.subarray(begin, begin + count));
    scores.set(this.similarity.subarray(begin, begin + count));
    return { indices, scores, k };
  }

  /** sim(item, i) for each history item i among the item's neighbours (0 otherwise), and its share of the sum. */
  protected override async historySimilarities(itemIdx: number, items: Int32Array): Promise<HistorySimilarities> {
    const neighbour = new Map<number, number>();
    for (let e = this.neighbors.indptr[itemIdx]; e < this.neighbors.indptr[itemIdx + 1]; e++) {
      neighbour.set(this.neighbors.indices[e], this.similarity[e]);
    }
    const similarity = Float64Array.from(items, (i) => neighbour.get(i) ?? 0);
    const total = similarity.reduce((a, b) => a + b, 0);
    return {
      similarity,
      share: similarity.map((v) => (total > 0 ? v / total : 0)),
      method: "cosine of the items' user sets (with shrinkage); the score is the sum over the history items among the item's neighbours",
    };
  }

  protected state(): ModelState {
    return {
      meta: {},
      arrays: { neighborIndptr: this.neighbors.indptr, neighborIndices: this.neighbors.indices, similarity: this.similarity },
    };
  }

  protected restore(state: ModelState): void {
    const indptr = BaseRecommender.array(state, 'neighborIndptr', Int32Array, this.numItems + 1);
    const nnz = indptr[this.numItems];
    this.neighbors = { indptr, indices: BaseRecommender.array(state, 'neighborIndices', Int32Array, nnz) };
    this.similarity = BaseRecommender.array(state, 'similarity', Float32Array, nnz);
  }
}
