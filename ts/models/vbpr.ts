/**
 * `vbpr`: VBPR (He & McAuley 2016) with item content vectors in place of CNN image features:
 *   score(u, i) = beta_i + gamma_u . gamma_i + theta_u . (E^T f_i) + beta' . f_i
 * f_i is the item's content vector: FitOptions.itemFeatures when given (e.g. text embeddings from the
 * semantic module), else the dataset's metadata features (genres, numeric bins, text words; see
 * ./features), each row scaled to unit length. Trained natively by BPR SGD (semrec/train_vbpr.h).
 * A new user is folded in by BPR SGD on [gamma_u, theta_u] alone, every item-side parameter (gamma_i,
 * E, beta, beta') frozen, with the training lr and reg (native foldInPairwise; uses itemIdx only).
 * Item similarity is the cosine of [gamma_i, E^T f_i], collaborative and content parts together.
 */
import { SemrecError } from '../errors';
import { BaseRecommender, FactorRecommender, type FitContext, type Factors, type ModelState } from './base';
import type { HistoryEvent } from './contract';
import { positivePairs } from './data';
import { foldInEpochsParam, foldInPairwise } from './fold-in';
import { itemMetadataVectors, normalizeRows } from './features';
import { gaussian } from './init';
import { trainOps } from './native';
import { learningRate, nonNegative, positiveInt, z } from './params';

/**
 * Defaults chosen on the validation part of ml-100k's ratio-8-1-1 split with genre/year features
 * (bench/tune.ts, README): 64 collaborative + 16 content dimensions, and an L2 penalty on E, without
 * which the content projection overfits.
 */
export const vbprParams = z
  .object({
    dim: positiveInt(4096).default(64).describe('collaborative factors (gamma)'),
    contentDim: positiveInt(4096).default(16).describe('content factors (theta, columns of E)'),
    epochs: positiveInt(100_000).default(300).describe('epochs (the most, with early stopping)'),
    lr: learningRate().default(0.02).describe('SGD learning rate'),
    reg: nonNegative().default(0.01).describe('L2 penalty on gamma and theta'),
    regBias: nonNegative().default(0.0025).describe('L2 penalty on item and feature biases'),
    regContent: nonNegative().default(0.01).describe('L2 penalty on the content projection E'),
    initStd: nonNegative().default(0.1).describe('standard deviation of the initial factors'),
    foldInEpochs: foldInEpochsParam(50),
  })
  .strict();
export type VbprParams = z.output<typeof vbprParams>;

export class VbprModel extends FactorRecommender<VbprParams> {
  readonly name = 'vbpr';
  override readonly acceptsItemFeatures = true;
  protected override similarityMethod = 'cosine of the item factors [gamma_i, E^T f_i]';
  private gammaU: Float32Array = new Float32Array(0);
  private gammaI: Float32Array = new Float32Array(0);
  private thetaU: Float32Array = new Float32Array(0);
  private E: Float32Array = new Float32Array(0);
  private itemBias: Float32Array = new Float32Array(0);
  private featureBias: Float32Array = new Float32Array(0);
  private features: Float32Array = new Float32Array(0);
  private numFeatures = 0;
  private pairs: { users: Int32Array; items: Int32Array } = { users: new Int32Array(0), items: new Int32Array(0) };
  private scoring: Factors | undefined;

  protected async initialize(ctx: FitContext): Promise<void> {
    const given = ctx.options.itemFeatures;
    if (given && given.data.length !== this.numItems * given.dim) {
      throw new SemrecError(
        `vbpr.fit: itemFeatures must have numItems x dim = ${this.numItems} x ${given.dim} values, got ${given.data.length}`,
        'ERR_INVALID_ARG_VALUE',
      );
    }
    const content = given ? normalizeRows(given) : itemMetadataVectors(ctx.train);
    if (!content) {
      throw new SemrecError(
        `vbpr.fit: '${ctx.train.name}' has no item metadata (genres, numeric fields or text) to build content vectors from; ` +
          'pass FitOptions.itemFeatures (e.g. text embeddings from the semantic module)',
        'ERR_INVALID_ARG_VALUE',
      );
    }
    const p = this.params;
    this.features = content.data;
    this.numFeatures = content.dim;
    this.gammaU = gaussian(ctx.rng, this.numUsers * p.dim, p.initStd);
    this.gammaI = gaussian(ctx.rng, this.numItems * p.dim, p.initStd);
    this.thetaU = gaussian(ctx.rng, this.numUsers * p.contentDim, p.initStd);
    this.E = gaussian(ctx.rng, this.numFeatures * p.contentDim, p.initStd);
    this.itemBias = new Float32Array(this.numItems);
    this.featureBias = new Float32Array(this.numFeatures);
    this.pairs = positivePairs(ctx.seen);
  }

  private modelArgs() {
    return {
      numUsers: this.numUsers,
      numItems: this.numItems,
      dim: this.params.dim,
      contentDim: this.params.contentDim,
      numFeatures: this.numFeatures,
      gammaU: this.gammaU,
      gammaI: this.gammaI,
      thetaU: this.thetaU,
      E: this.E,
      itemBias: this.itemBias,
      featureBias: this.featureBias,
      features: this.features,
    };
  }

  protected override epochs(): number {
    return this.params.epochs;
  }

  protected override async trainEpoch(ctx: FitContext, _epoch: number, seed: number): Promise<number> {
    const { loss } = await trainOps.vbprEpoch({
      ...this.modelArgs(),
      lr: this.params.lr,
      reg: this.params.reg,
      regBias: this.params.regBias,
      regContent: this.params.regContent,
      pairUsers: this.pairs.users,
      pairItems: this.pairs.items,
      positives: ctx.seen,
      seed,
      numThreads: ctx.options.numThreads,
    });
    return loss;
  }

  protected override async prepareScoring(): Promise<void> {
    const p = this.params;
    const { itemFactors, itemOffset } = await trainOps.vbprItemFactors(this.modelArgs());
    const width = p.dim + p.contentDim;
    const users = new Float32Array(this.numUsers * width);
    for (let u = 0; u < this.numUsers; u++) {
      users.set(this.gammaU.subarray(u * p.dim, (u + 1) * p.dim), u * width);
      users.set(this.thetaU.subarray(u * p.contentDim, (u + 1) * p.contentDim), u * width + p.dim);
    }
    this.scoring = { users, items: itemFactors, dim: width, itemBias: itemOffset };
  }

  protected factors(): Factors {
    return this.scoring!;
  }

  protected override async foldIn(events: readonly HistoryEvent[]): Promise<Float32Array> {
    const f = this.scoring!;
    const p = this.params;
    return foldInPairwise(events, { items: f.items, dim: f.dim, itemBias: f.itemBias, lr: p.lr, reg: p.reg, epochs: p.foldInEpochs });
  }

  protected state(): ModelState {
    return {
      meta: { numFeatures: this.numFeatures },
      arrays: {
        gammaU: this.gammaU,
        gammaI: this.gammaI,
        thetaU: this.thetaU,
        E: this.E,
        itemBias: this.itemBias,
        featureBias: this.featureBias,
        features: this.features,
      },
    };
  }

  protected restore(state: ModelState): void {
    const p = this.params;
    const nf = BaseRecommender.number(state, 'numFeatures');
    this.numFeatures = nf;
    this.gammaU = BaseRecommender.array(state, 'gammaU', Float32Array, this.numUsers * p.dim);
    this.gammaI = BaseRecommender.array(state, 'gammaI', Float32Array, this.numItems * p.dim);
    this.thetaU = BaseRecommender.array(state, 'thetaU', Float32Array, this.numUsers * p.contentDim);
    this.E = BaseRecommender.array(state, 'E', Float32Array, nf * p.contentDim);
    this.itemBias = BaseRecommender.array(state, 'itemBias', Float32Array, this.numItems);
    this.featureBias = BaseRecommender.array(state, 'featureBias', Float32Array, nf);
    this.features = BaseRecommender.array(state, 'features', Float32Array, this.numItems * nf);
  }
}
