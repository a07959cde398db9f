/** `pop`: every user gets the items with the most training interactions (RecBole's Pop). */
import { BaseRecommender, FactorRecommender, type FitContext, type Factors, type ModelState } from './base';
import { itemPopularity } from './data';
import { z } from './params';

/** Pop has no hyperparameters. */
export const popParams = z.object({}).strict();
export type PopParams = z.output<typeof popParams>;

export class PopModel extends FactorRecommender<PopParams> {
  readonly name = 'pop';
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

  protected state(): ModelState {
    return { meta: {}, arrays: { popularity: this.popularity } };
  }

  protected restore(state: ModelState): void {
    this.popularity = BaseRecommender.array(state, 'popularity', Float32Array, this.numItems);
  }
}
