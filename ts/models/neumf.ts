/**
 * `neumf`: NeuMF (He et al. 2017, "Neural Collaborative Filtering"): a GMF tower (elementwise product of
 * user and item embeddings) and an MLP tower (ReLU layers over the concatenated embeddings) joined by one
 * output unit, trained with binary cross-entropy on each positive and `negatives` sampled negatives, by
 * mini-batch Adam with hand-written back-propagation. Trained and scored natively (semrec/train_neumf.h).
 */
import { BaseRecommender, type FitContext, type ModelState } from './base';
import { positivePairs } from './data';
import { gaussian, xavierNormal } from './init';
import { trainOps } from './native';
import { learningRate, nonNegative, positiveInt, z } from './params';

/**
 * Defaults: GMF and MLP embeddings of 64 (RecBole) and a halving MLP tower [64, 32] (the NCF paper's
 * tower shape; smaller than RecBole's [128, 64], for speed at equal validation quality), 4 negatives
 * per positive (NCF paper), Adam lr 5e-4 chosen on ml-100k's validation part; RecBole's dropout is
 * replaced by an optional L2 penalty (which did not help on validation).
 */
export const neuMfParams = z
  .object({
    gmfDim: positiveInt(4096).default(64).describe('GMF embedding size'),
    mlpDim: positiveInt(4096).default(64).describe('MLP embedding size'),
    hidden: z.array(positiveInt(4096)).min(1).max(8).default([64, 32]).describe('MLP layer sizes'),
    epochs: positiveInt(100_000).default(100).describe('epochs (the most, with early stopping)'),
    lr: learningRate().default(0.0005).describe('Adam learning rate'),
    reg: nonNegative().default(0).describe("L2 penalty on a batch's embedding rows"),
    batchSize: positiveInt(1 << 24).default(256).describe('samples per Adam step'),
    negatives: positiveInt(1000).default(4).describe('negative samples per positive'),
    initStd: nonNegative().default(0.01).describe('standard deviation of the initial embeddings'),
  })
  .strict();
export type NeuMfParams = z.output<typeof neuMfParams>;

/** Offsets of the flat parameter array, as NeuMfLayout::make lays it out natively. */
export interface NeuMfLayout {
  gmfUser: number;
  gmfItem: number;
  mlpUser: number;
  mlpItem: number;
  embeddingEnd: number;
  weight: number[];
  bias: number[];
  outWeight: number;
  outBias: number;
  total: number;
}

export function neuMfLayout(numUsers: number, numItems: number, gmfDim: number, mlpDim: number, hidden: number[]): NeuMfLayout {
  let at = 0;
  const take = (n: number) => {
    const start = at;
    at += n;
    return start;
  };
  const gmfUser = take(numUsers * gmfDim);
  const gmfItem = take(numItems * gmfDim);
  const mlpUser = take(numUsers * mlpDim);
  const mlpItem = take(numItems * mlpDim);
  const embeddingEnd = at;
  const weight: number[] = [];
  const bias: number[] = [];
  hidden.forEach((out, k) => {
    const inputs = k === 0 ? 2 * mlpDim : hidden[k - 1];
    weight.push(take(out * inputs));
    bias.push(take(out));
  });
  const outWeight = take(gmfDim + (hidden.length > 0 ? hidden[hidden.length - 1] : 2 * mlpDim));
  const outBias = take(1);
  return { gmfUser, gmfItem, mlpUser, mlpItem, embeddingEnd, weight, bias, outWeight, outBias, total: at };
}

export class NeuMfModel extends BaseRecommender<NeuMfParams> {
  readonly name = 'neumf';
  private params_: Float32Array = new Float32Array(0);
  private adamM: Float32Array = new Float32Array(0);
  private adamV: Float32Array = new Float32Array(0);
  private step = 0;
  private pairs: { users: Int32Array; items: Int32Array } = { users: new Int32Array(0), items: new Int32Array(0) };

  private layoutArgs() {
    const p = this.params;
    return { numUsers: this.numUsers, numItems: this.numItems, gmfDim: p.gmfDim, mlpDim: p.mlpDim, hidden: p.hidden };
  }

  private layout(): NeuMfLayout {
    const p = this.params;
    return neuMfLayout(this.numUsers, this.numItems, p.gmfDim, p.mlpDim, p.hidden);
  }

  protected async initialize(ctx: FitContext): Promise<void> {
    const p = this.params;
    const L = this.layout();
    const params = new Float32Array(L.total);
    params.set(gaussian(ctx.rng, L.embeddingEnd, p.initStd), 0);
    p.hidden.forEach((out, k) => {
      const inputs = k === 0 ? 2 * p.mlpDim : p.hidden[k - 1];
      params.set(xavierNormal(ctx.rng, inputs, out), L.weight[k]);
    });
    params.set(xavierNormal(ctx.rng, L.outBias - L.outWeight, 1), L.outWeight);
    this.params_ = params;
    this.adamM = new Float32Array(L.total);
    this.adamV = new Float32Array(L.total);
    this.step = 0;
    this.pairs = positivePairs(ctx.seen);
  }

  protected override epochs(): number {
    return this.params.epochs;
  }

  protected override async trainEpoch(ctx: FitContext, _epoch: number, seed: number): Promise<number> {
    const result = await trainOps.neumfEpoch({
      ...this.layoutArgs(),
      params: this.params_,
      adamM: this.adamM,
      adamV: this.adamV,
      step: this.step,
      lr: this.params.lr,
      reg: this.params.reg,
      batchSize: this.params.batchSize,
      negatives: this.params.negatives,
      pairUsers: this.pairs.users,
      pairItems: this.pairs.items,
      positives: ctx.seen,
      seed,
      numThreads: ctx.options.numThreads,
    });
    this.step = result.step;
    return result.loss;
  }

  /** Scores are the output unit's logits (sigmoid is monotone, so rankings are the same). */
  protected async scoreBlock(users: Int32Array): Promise<Float32Array> {
    return (await trainOps.neumfScore({ ...this.layoutArgs(), params: this.params_, users })).scores;
  }

  protected state(): ModelState {
    return { meta: {}, arrays: { params: this.params_ } };
  }

  protected restore(state: ModelState): void {
    this.params_ = BaseRecommender.array(state, 'params', Float32Array, this.layout().total);
  }
}
