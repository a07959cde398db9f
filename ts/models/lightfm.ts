/**
 * `lightfm`: LightFM (Kula 2015), a hybrid factorisation: a user is the sum of its features' embeddings
 * (identity + metadata such as gender, occupation, age bin), an item likewise (identity + genres, year
 * bin, text words; see ./features), score = user . item + item bias. Trained natively with the BPR or
 * WARP loss and per-parameter Adagrad, as the reference implementation (semrec/train_lightfm.h).
 * A new user is folded in as a free user representation trained on the model's own loss (WARP or BPR)
 * with Adagrad and the training lr and userAlpha, item representations and biases frozen (native
 * foldInPairwise; uses itemIdx only: HistoryEvent carries no user metadata). Item similarity is the
 * cosine of the item representations (identity plus metadata features).
 */
import { BaseRecommender, FactorRecommender, type FitContext, type Factors, type ModelState } from './base';
import type { HistoryEvent } from './contract';
import { positivePairs } from './data';
import { itemSparseFeatures, userSparseFeatures, type SparseFeatures } from './features';
import { foldInEpochsParam, foldInPairwise } from './fold-in';
import { uniform } from './init';
import { trainOps } from './native';
import { learningRate, nonNegative, positiveInt, z } from './params';

/**
 * Defaults are LightFM's (WARP, adagrad, max_sampled 10, alphas 0) except 64 components and learning
 * rate 0.1 (LightFM: 0.05), chosen on the validation part of ml-100k's ratio-8-1-1 split (README).
 */
export const lightFmParams = z
  .object({
    dim: positiveInt(4096).default(64).describe('embedding size (no_components)'),
    loss: z.enum(['warp', 'bpr']).default('warp').describe('pairwise loss'),
    epochs: positiveInt(100_000).default(300).describe('epochs (the most, with early stopping)'),
    lr: learningRate().default(0.1).describe('Adagrad learning rate'),
    userAlpha: nonNegative().default(0).describe('L2 penalty on user feature embeddings'),
    itemAlpha: nonNegative().default(0).describe('L2 penalty on item feature embeddings and biases'),
    maxSampled: positiveInt(100_000).default(10).describe('WARP: negatives tried per positive'),
    userMetadata: z.boolean().default(true).describe('add user metadata features to the identity features'),
    itemMetadata: z.boolean().default(true).describe('add item metadata features to the identity features'),
    foldInEpochs: foldInEpochsParam(50),
  })
  .strict();
export type LightFmParams = z.output<typeof lightFmParams>;

/** Identity features only: one per row. */
function identityFeatures(rows: number): SparseFeatures {
  const indptr = new Int32Array(rows + 1);
  for (let r = 0; r < rows; r++) indptr[r + 1] = r + 1;
  const indices = new Int32Array(rows);
  for (let r = 0; r < rows; r++) indices[r] = r;
  return { rows: { indptr, indices }, weights: new Float32Array(rows).fill(1), numFeatures: rows, names: [] };
}

export class LightFmModel extends FactorRecommender<LightFmParams> {
  readonly name = 'lightfm';
  protected override similarityMethod = 'cosine of the item representations (identity + metadata features)';
  private userFeatures = identityFeatures(0);
  private itemFeatures = identityFeatures(0);
  private userEmb: Float32Array = new Float32Array(0);
  private itemEmb: Float32Array = new Float32Array(0);
  private itemBias: Float32Array = new Float32Array(0);
  private userEmbAcc: Float32Array = new Float32Array(0);
  private itemEmbAcc: Float32Array = new Float32Array(0);
  private itemBiasAcc: Float32Array = new Float32Array(0);
  private pairs: { users: Int32Array; items: Int32Array } = { users: new Int32Array(0), items: new Int32Array(0) };
  private scoring: Factors | undefined;

  protected async initialize(ctx: FitContext): Promise<void> {
    const p = this.params;
    this.userFeatures = p.userMetadata ? userSparseFeatures(ctx.train, true) : identityFeatures(this.numUsers);
    this.itemFeatures = p.itemMetadata ? itemSparseFeatures(ctx.train, true) : identityFeatures(this.numItems);
    const nu = this.userFeatures.numFeatures;
    const ni = this.itemFeatures.numFeatures;
    // LightFM: (rand - 0.5) / no_components; Adagrad accumulators start at 1.
    this.userEmb = uniform(ctx.rng, nu * p.dim, 0.5 / p.dim);
    this.itemEmb = uniform(ctx.rng, ni * p.dim, 0.5 / p.dim);
    this.itemBias = new Float32Array(ni);
    this.userEmbAcc = new Float32Array(nu * p.dim).fill(1);
    this.itemEmbAcc = new Float32Array(ni * p.dim).fill(1);
    this.itemBiasAcc = new Float32Array(ni).fill(1);
    this.pairs = positivePairs(ctx.seen);
  }

  private modelArgs() {
    return {
      numUsers: this.numUsers,
      numItems: this.numItems,
      numUserFeatures: this.userFeatures.numFeatures,
      numItemFeatures: this.itemFeatures.numFeatures,
      dim: this.params.dim,
      userEmb: this.userEmb,
      itemEmb: this.itemEmb,
      itemBias: this.itemBias,
      userFeatures: this.userFeatures.rows,
      userFeatureWeights: this.userFeatures.weights,
      itemFeatures: this.itemFeatures.rows,
      itemFeatureWeights: this.itemFeatures.weights,
    };
  }

  protected override epochs(): number {
    return this.params.epochs;
  }

  protected override async trainEpoch(ctx: FitContext, _epoch: number, seed: number): Promise<number> {
    const { loss } = await trainOps.lightfmEpoch({
      ...this.modelArgs(),
      userEmbAcc: this.userEmbAcc,
      itemEmbAcc: this.itemEmbAcc,
      itemBiasAcc: this.itemBiasAcc,
      loss: this.params.loss,
      lr: this.params.lr,
      userAlpha: this.params.userAlpha,
      itemAlpha: this.params.itemAlpha,
      maxSampled: this.params.maxSampled,
      pairUsers: this.pairs.users,
      pairItems: this.pairs.items,
      positives: ctx.seen,
      seed,
      numThreads: ctx.options.numThreads,
    });
    return loss;
  }

  protected override async prepareScoring(): Promise<void> {
    const r = await trainOps.lightfmRepresentations(this.modelArgs());
    this.scoring = { users: r.userRepr, items: r.itemRepr, dim: this.params.dim, itemBias: r.itemBias };
  }

  protected factors(): Factors {
    return this.scoring!;
  }

  protected override async foldIn(events: readonly HistoryEvent[]): Promise<Float32Array> {
    const f = this.scoring!;
    const p = this.params;
    return foldInPairwise(events, {
      items: f.items,
      dim: f.dim,
      itemBias: f.itemBias,
      loss: p.loss,
      maxSampled: p.maxSampled,
      adagrad: true,
      lr: p.lr,
      reg: p.userAlpha,
      epochs: p.foldInEpochs,
    });
  }

  protected state(): ModelState {
    return {
      meta: { numUserFeatures: this.userFeatures.numFeatures, numItemFeatures: this.itemFeatures.numFeatures },
      arrays: {
        userEmb: this.userEmb,
        itemEmb: this.itemEmb,
        itemBias: this.itemBias,
        userFeatureIndptr: this.userFeatures.rows.indptr,
        userFeatureIndices: this.userFeatures.rows.indices,
        userFeatureWeights: this.userFeatures.weights,
        itemFeatureIndptr: this.itemFeatures.rows.indptr,
        itemFeatureIndices: this.itemFeatures.rows.indices,
        itemFeatureWeights: this.itemFeatures.weights,
      },
    };
  }

  protected restore(state: ModelState): void {
    const d = this.params.dim;
    const features = (side: 'user' | 'item', rows: number, numFeatures: number): SparseFeatures => {
      const indptr = BaseRecommender.array(state, `${side}FeatureIndptr`, Int32Array, rows + 1);
      const nnz = indptr[rows];
      return {
        rows: { indptr, indices: BaseRecommender.array(state, `${side}FeatureIndices`, Int32Array, nnz) },
        weights: BaseRecommender.array(state, `${side}FeatureWeights`, Float32Array, nnz),
        numFeatures,
        names: [],
      };
    };
    const nu = BaseRecommender.number(state, 'numUserFeatures');
    const ni = BaseRecommender.number(state, 'numItemFeatures');
    this.userFeatures = features('user', this.numUsers, nu);
    this.itemFeatures = features('item', this.numItems, ni);
    this.userEmb = BaseRecommender.array(state, 'userEmb', Float32Array, nu * d);
    this.itemEmb = BaseRecommender.array(state, 'itemEmb', Float32Array, ni * d);
    this.itemBias = BaseRecommender.array(state, 'itemBias', Float32Array, ni);
  }
}
