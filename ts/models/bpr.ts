/**
 * `bpr`: BPR-MF (Rendle et al. 2009), matrix factorisation trained on (user, positive, negative)
 * triples with the pairwise loss -log sigmoid(x_ui - x_uj) by lock-free parallel SGD. One epoch visits
 * every training pair once in shuffled order with one uniformly drawn negative (as RecBole's BPR).
 * Trained natively (semrec/train_mf.h). A new user is folded in by BPR SGD on the user vector alone, the
 * item factors and biases frozen, with the training lr and reg (native foldInPairwise; uses itemIdx only).
 */
import { BaseRecommender, FactorRecommender, type FitContext, type Factors, type ModelState } from './base';
import type { HistoryEvent } from './contract';
import { positivePairs } from './data';
import { foldInEpochsParam, foldInPairwise } from './fold-in';
import { gaussian } from './init';
import { trainOps } from './native';
import { learningRate, nonNegative, positiveInt, z } from './params';

/**
 * Defaults: RecBole's embedding size 64; the SGD settings and the item bias were chosen on the validation
 * part of ml-100k's ratio-8-1-1 split (bench/tune.ts; README "Baselines").
 */
export const bprParams = z
  .object({
    dim: positiveInt(4096).default(64).describe('latent factors'),
    epochs: positiveInt(100_000).default(300).describe('epochs (the most, with early stopping)'),
    lr: learningRate().default(0.02).describe('SGD learning rate'),
    reg: nonNegative().default(0.02).describe('L2 penalty on the factors of each triple'),
    itemBias: z.boolean().default(true).describe('learn an item bias term (RecBole BPR has none)'),
    regBias: nonNegative().default(0.0025).describe('L2 penalty on item biases'),
    initStd: nonNegative().default(0.1).describe('standard deviation of the initial factors'),
    foldInEpochs: foldInEpochsParam(50),
  })
  .strict();
export type BprParams = z.output<typeof bprParams>;

export class BprModel extends FactorRecommender<BprParams> {
  readonly name = 'bpr';
  private P: Float32Array = new Float32Array(0);
  private Q: Float32Array = new Float32Array(0);
  private bias: Float32Array | undefined;
  private pairs: { users: Int32Array; items: Int32Array } = { users: new Int32Array(0), items: new Int32Array(0) };

  protected async initialize(ctx: FitContext): Promise<void> {
    const d = this.params.dim;
    this.P = gaussian(ctx.rng, this.numUsers * d, this.params.initStd);
    this.Q = gaussian(ctx.rng, this.numItems * d, this.params.initStd);
    this.bias = this.params.itemBias ? new Float32Array(this.numItems) : undefined;
    this.pairs = positivePairs(ctx.seen);
  }

  protected override epochs(): number {
    return this.params.epochs;
  }

  protected override async trainEpoch(ctx: FitContext, _epoch: number, seed: number): Promise<number> {
    const { loss } = await trainOps.bprEpoch({
      numUsers: this.numUsers,
      numItems: this.numItems,
      dim: this.params.dim,
      P: this.P,
      Q: this.Q,
      itemBias: this.bias,
      lr: this.params.lr,
      reg: this.params.reg,
      regBias: this.params.regBias,
      pairUsers: this.pairs.users,
      pairItems: this.pairs.items,
      positives: ctx.seen,
      seed,
      numThreads: ctx.options.numThreads,
    });
    return loss;
  }

  protected factors(): Factors {
    return { users: this.P, items: this.Q, dim: this.params.dim, itemBias: this.bias };
  }

  protected override async foldIn(events: readonly HistoryEvent[]): Promise<Float32Array> {
    const p = this.params;
    return foldInPairwise(events, { items: this.Q, dim: p.dim, itemBias: this.bias, lr: p.lr, reg: p.reg, epochs: p.foldInEpochs });
  }

  protected state(): ModelState {
    return { meta: {}, arrays: { P: this.P, Q: this.Q, ...(this.bias ? { itemBias: this.bias } : {}) } };
  }

  protected restore(state: ModelState): void {
    const d = this.params.dim;
    this.P = BaseRecommender.array(state, 'P', Float32Array, this.numUsers * d);
    this.Q = BaseRecommender.array(state, 'Q', Float32Array, this.numItems * d);
    this.bias = this.params.itemBias ? BaseRecommender.array(state, 'itemBias', Float32Array, this.numItems) : undefined;
  }
}
