/**
 * `itemknn`: item-based neighbourhood model (Sarwar et al. 2001) as RecBole's ItemKNN computes it:
 * cosine similarity of items' user sets with shrinkage, each item keeping its `neighbors` most similar
 * items; a user's score for item j sums j's similarities to the user's items. Trained natively
 * (semrec/train_itemknn.h).
 */
import type { Csr } from '../kernels/types';
import { BaseRecommender, type FitContext, type ModelState } from './base';
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
