/**
 * `pop`: every user gets the items with the most training interactions (RecBole's Pop). A new user gets
 * the same list (recommendForHistory uses only the history's items, to exclude them); pop has no item
 * similarity, so similarItems ranks the other items by popularity and explanations cite no history.
 */
import { topK } from '../kernels/topk';
import { BaseRecommender, FactorRecommender, type FitContext, type Factors, type HistorySimilarities, type ModelState } from './base';
import type { HistoryEvent, Recommendations } from './contract';
import { itemPopularity } from './data';
import { z } from './params';

/** Pop has no hyperparameters. */
export const popParams = z.object({}).strict();
export type PopParams = z.output<typeof popParams>;

export class PopModel extends FactorRecommender<PopParams> {
  readonly name = 'pop';
  protected override readonly vectorSimilarity = false;
  /** Distinct training users per item: the score of every user for that item. */
  private popularity: Float32Array = new Float32Array(0);
  private zeroUsers: Float32Array = new Float32Array(0);
  private zeroItems: Float32Array = new Float32Array(0);

  protected async initialize(ctx: FitContext): Promise<void> {
    this.popularity = Float32Array.from(itemPopularity(ctx.seen, this.numItems));
  }

  protected override async prepareScoring(): Promise<void> {
    // score(u, i) = 0 . 0 + popularity[i]: the core's dot-product scoring with a one-dimensional zero factor.
    this.zeroUsers = new Float32Array(this.numUsers);
    this.zeroItems = new Float32Array(this.numItems);
  }

  protected factors(): Factors {
    return { users: this.zeroUsers, items: this.zeroItems, dim: 1, itemBias: this.popularity };
  }

  /** Every user, new or known, is the zero vector: scores are the popularity. */
  protected override async foldIn(_events: readonly HistoryEvent[]): Promise<Float32Array> {
    return new Float32Array(1);
  }

  protected override async similarItemsOf(itemIdx: number, k: number): Promise<Recommendations> {
    const exclude = { indptr: Int32Array.of(0, 1), indices: Int32Array.of(itemIdx) };
    const top = await topK({ scores: this.popularity, numRows: 1, numCols: this.numItems, k, exclude });
    return { indices: top.indices, scores: top.scores, k };
  }

  protected override async historySimilarities(_itemIdx: number, items: Int32Array): Promise<HistorySimilarities> {
    return { similarity: new Float64Array(items.length).fill(NaN), method: "popularity: the item's number of training users; pop uses no history" };
  }

  protected state(): ModelState {
    return { meta: {}, arrays: { popularity: this.popularity } };
  }

  protected restore(state: ModelState): void {
    this.popularity = BaseRecommender.array(state, 'popularity', Float32Array, this.numItems);
  }
}
