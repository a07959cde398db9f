/**
 * `mf`: biased matrix factorisation of explicit ratings trained by SGD (Koren, Bell & Volinsky 2009;
 * the "SVD" of Surprise and of the Chat-REC project). prediction(u, i) = mu + b_u + b_i + p_u . q_i.
 * Ranks items by predicted rating; predictRatings() gives the predictions RMSE/MAE are computed from.
 * Trained natively (semrec/train_mf.h). A new user is folded in exactly: the user factors and bias that
 * minimise the squared error of the history's ratings with the item factors and biases frozen, under the
 * training penalties (native foldInRidge, a Cholesky solve; uses itemIdx and rating, which is required).
 * Item similarity is the cosine of the item factors q_i.
 */
import { SemrecError } from '../errors';
import { BaseRecommender, FactorRecommender, type FitContext, type Factors, type ModelState } from './base';
import type { HistoryEvent } from './contract';
import { gaussian } from './init';
import { trainOps } from './native';
import { learningRate, nonNegative, positiveInt, z } from './params';

/** Defaults are Surprise's SVD defaults (n_factors 100, n_epochs 20, lr_all 0.005, reg_all 0.02, init_std_dev 0.1). */
export const mfParams = z
  .object({
    dim: positiveInt(4096).default(100).describe('latent factors'),
    epochs: positiveInt(100_000).default(20).describe('SGD epochs'),
    lr: learningRate().default(0.005).describe('SGD learning rate'),
    regFactors: nonNegative().default(0.02).describe('L2 penalty on user and item factors'),
    regBias: nonNegative().default(0.02).describe('L2 penalty on user and item biases'),
    initStd: nonNegative().default(0.1).describe('standard deviation of the initial factors'),
  })
  .strict();
export type MfParams = z.output<typeof mfParams>;

/** A model that predicts explicit ratings (the harness reports RMSE/MAE for it). */
export interface RatingPredictor {
  predictRatings(users: Int32Array, items: Int32Array): Float32Array;
}

export function isRatingPredictor(model: object): model is RatingPredictor {
  return typeof (model as Partial<RatingPredictor>).predictRatings === 'function';
}

export class MfModel extends FactorRecommender<MfParams> implements RatingPredictor {
  readonly name = 'mf';
  /** Trains its fixed epochs like Surprise's SVD: it minimises squared error, which ndcg-based stopping would cut arbitrarily. */
  override readonly rankingEarlyStopping = false;
  override readonly historyFields: readonly (keyof HistoryEvent)[] = ['itemIdx', 'rating'];
  private P: Float32Array = new Float32Array(0);
  private Q: Float32Array = new Float32Array(0);
  private userBias: Float32Array = new Float32Array(0);
  private itemBias: Float32Array = new Float32Array(0);
  private globalMean = 0;
  private minRating = 0;
  private maxRating = 0;
  private scoring: Factors | undefined;

  protected async initialize(ctx: FitContext): Promise<void> {
    const { train, rng } = ctx;
    let sum = 0;
    this.minRating = Infinity;
    this.maxRating = -Infinity;
    for (let e = 0; e < train.numInteractions; e++) {
      const r = train.rating[e];
      if (!Number.isFinite(r)) {
        throw new SemrecError(
          `mf.fit: interaction ${e} of '${train.name}' has no explicit rating; mf needs ratings (use bpr for implicit feedback)`,
          'ERR_MISSING_RATINGS',
        );
      }
      sum += r;
      this.minRating = Math.min(this.minRating, r);
      this.maxRating = Math.max(this.maxRating, r);
    }
    this.globalMean = train.numInteractions > 0 ? sum / train.numInteractions : 0;
    const d = this.params.dim;
    this.P = gaussian(rng, this.numUsers * d, this.params.initStd);
    this.Q = gaussian(rng, this.numItems * d, this.params.initStd);
    this.userBias = new Float32Array(this.numUsers);
    this.itemBias = new Float32Array(this.numItems);
  }

  protected override epochs(): number {
    return this.params.epochs;
  }

  protected override async trainEpoch(ctx: FitContext, _epoch: number, seed: number): Promise<number> {
    const { loss } = await trainOps.mfEpoch({
      numUsers: this.numUsers,
      numItems: this.numItems,
      dim: this.params.dim,
      P: this.P,
      Q: this.Q,
      userBias: this.userBias,
      itemBias: this.itemBias,
      globalMean: this.globalMean,
      users: ctx.train.userIdx,
      items: ctx.train.itemIdx,
      ratings: ctx.train.rating,
      seed,
      lr: this.params.lr,
      regFactors: this.params.regFactors,
      regBias: this.params.regBias,
      numThreads: ctx.options.numThreads,
    });
    return loss;
  }

  protected override async prepareScoring(): Promise<void> {
    // prediction = [p_u, mu + b_u] . [q_i, 1] + b_i: the core's dot-product scoring with one extra dimension.
    const d = this.params.dim;
    const users = new Float32Array(this.numUsers * (d + 1));
    const items = new Float32Array(this.numItems * (d + 1));
    for (let u = 0; u < this.numUsers; u++) {
      users.set(this.P.subarray(u * d, (u + 1) * d), u * (d + 1));
      users[u * (d + 1) + d] = this.globalMean + this.userBias[u];
    }
    for (let i = 0; i < this.numItems; i++) {
      items.set(this.Q.subarray(i * d, (i + 1) * d), i * (d + 1));
      items[i * (d + 1) + d] = 1;
    }
    this.scoring = { users, items, dim: d + 1, itemBias: this.itemBias };
  }

  protected factors(): Factors {
    return this.scoring!;
  }

  protected override similarityVectors(): { data: Float32Array; dim: number } {
    return { data: this.Q, dim: this.params.dim };
  }

  protected override checkHistoryFields(events: readonly HistoryEvent[], what: string): void {
    const missing = events.findIndex((e) => e.rating === undefined);
    if (missing >= 0) {
      throw new SemrecError(`${what}: events[${missing}].rating is required: mf folds a new user in from explicit ratings`, 'ERR_INVALID_ARG_VALUE');
    }
  }

  /** [x_u, mu + b_u]: the scoring space of prepareScoring, from the least-squares fold-in. */
  protected override async foldIn(events: readonly HistoryEvent[]): Promise<Float32Array> {
    const d = this.params.dim;
    const { users, userBias } = await trainOps.foldInRidge({
      numUsers: 1,
      numItems: this.numItems,
      dim: d,
      itemFactors: this.Q,
      itemBias: this.itemBias,
      histories: { indptr: Int32Array.of(0, events.length), indices: Int32Array.from(events, (e) => e.itemIdx) },
      targets: Float32Array.from(events, (e) => e.rating! - this.globalMean),
      regFactors: this.params.regFactors,
      regBias: this.params.regBias,
    });
    const out = new Float32Array(d + 1);
    out.set(users);
    out[d] = this.globalMean + userBias[0];
    return out;
  }

  /** Predicted ratings of (users[e], items[e]), clipped to the training ratings' range (as Surprise does). */
  predictRatings(users: Int32Array, items: Int32Array): Float32Array {
    this.requireReady('mf.predictRatings');
    const d = this.params.dim;
    const out = new Float32Array(users.length);
    for (let e = 0; e < users.length; e++) {
      const u = users[e];
      const i = items[e];
      if (!(u >= 0 && u < this.numUsers && i >= 0 && i < this.numItems)) {
        throw new SemrecError(`mf.predictRatings: pair ${e} (${u}, ${i}) is out of range`, 'ERR_OUT_OF_RANGE');
      }
      let dot = 0;
      for (let t = 0; t < d; t++) dot += this.P[u * d + t] * this.Q[i * d + t];
      const p = this.globalMean + this.userBias[u] + this.itemBias[i] + dot;
      out[e] = Math.min(this.maxRating, Math.max(this.minRating, p));
    }
    return out;
  }

  protected state(): ModelState {
    return {
      meta: { globalMean: this.globalMean, minRating: this.minRating, maxRating: this.maxRating },
      arrays: { P: this.P, Q: this.Q, userBias: this.userBias, itemBias: this.itemBias },
    };
  }

  protected restore(state: ModelState): void {
    const d = this.params.dim;
    this.P = BaseRecommender.array(state, 'P', Float32Array, this.numUsers * d);
    this.Q = BaseRecommender.array(state, 'Q', Float32Array, this.numItems * d);
    this.userBias = BaseRecommender.array(state, 'userBias', Float32Array, this.numUsers);
    this.itemBias = BaseRecommender.array(state, 'itemBias', Float32Array, this.numItems);
    this.globalMean = BaseRecommender.number(state, 'globalMean');
    this.minRating = BaseRecommender.number(state, 'minRating');
    this.maxRating = BaseRecommender.number(state, 'maxRating');
  }
}
