/**
 * `lightgcn`: LightGCN (He et al. 2020). User and item embeddings are propagated `layers` times over
 * the symmetrically normalised user-item graph and averaged; the BPR loss on the averaged embeddings
 * is back-propagated through the same sparse propagation, with Adam on mini-batches (as RecBole).
 * Trained natively (semrec/train_lightgcn.h).
 */
import { BaseRecommender, FactorRecommender, type FitContext, type Factors, type ModelState } from './base';
import { positivePairs } from './data';
import { gaussian } from './init';
import { trainOps } from './native';
import { learningRate, nonNegative, positiveInt, z } from './params';

/**
 * Defaults: RecBole's LightGCN sizes (embedding 64, 3 layers, batch 2048, Adam); lr 5e-3 and reg 1e-3 were
 * chosen on the validation part of ml-100k's ratio-8-1-1 split (RecBole: lr 1e-3; bench/tune.ts, README).
 */
export const lightGcnParams = z
  .object({
    dim: positiveInt(4096).default(64).describe('embedding size'),
    layers: z.number().int().min(0).max(8).default(3).describe('propagation layers'),
    epochs: positiveInt(100_000).default(300).describe('epochs (the most, with early stopping)'),
    lr: learningRate().default(0.005).describe('Adam learning rate'),
    reg: nonNegative().default(1e-3).describe("L2 penalty on the batch's layer-0 embeddings"),
    batchSize: positiveInt(1 << 24).default(2048).describe('triples per Adam step'),
    initStd: nonNegative().default(0.1).describe('standard deviation of the initial embeddings'),
  })
  .strict();
export type LightGcnParams = z.output<typeof lightGcnParams>;

export class LightGcnModel extends FactorRecommender<LightGcnParams> {
  readonly name = 'lightgcn';
  /** Layer-0 embeddings: users, then items. */
  private E0: Float32Array = new Float32Array(0);
  private adamM: Float32Array = new Float32Array(0);
  private adamV: Float32Array = new Float32Array(0);
  private step = 0;
  private pairs: { users: Int32Array; items: Int32Array } = { users: new Int32Array(0), items: new Int32Array(0) };
  private final: Float32Array = new Float32Array(0);

  private graphArgs() {
    return { numUsers: this.numUsers, numItems: this.numItems, dim: this.params.dim, layers: this.params.layers, positives: this.seen! };
  }

  protected async initialize(ctx: FitContext): Promise<void> {
    const size = (this.numUsers + this.numItems) * this.params.dim;
    this.E0 = gaussian(ctx.rng, size, this.params.initStd);
    this.adamM = new Float32Array(size);
    this.adamV = new Float32Array(size);
    this.step = 0;
    this.pairs = positivePairs(ctx.seen);
  }

  protected override epochs(): number {
    return this.params.epochs;
  }

  protected override async trainEpoch(ctx: FitContext, _epoch: number, seed: number): Promise<number> {
    const result = await trainOps.lightgcnEpoch({
      ...this.graphArgs(),
      E0: this.E0,
      adamM: this.adamM,
      adamV: this.adamV,
      step: this.step,
      lr: this.params.lr,
      reg: this.params.reg,
      batchSize: this.params.batchSize,
      pairUsers: this.pairs.users,
      pairItems: this.pairs.items,
      seed,
      numThreads: ctx.options.numThreads,
    });
    this.step = result.step;
    return result.loss;
  }

  protected override async prepareScoring(): Promise<void> {
    this.final = (await trainOps.lightgcnForward({ ...this.graphArgs(), E0: this.E0 })).final;
  }

  protected factors(): Factors {
    const split = this.numUsers * this.params.dim;
    return { users: this.final.subarray(0, split), items: this.final.subarray(split), dim: this.params.dim };
  }

  protected state(): ModelState {
    return { meta: {}, arrays: { E0: this.E0 } };
  }

  protected restore(state: ModelState): void {
    this.E0 = BaseRecommender.array(state, 'E0', Float32Array, (this.numUsers + this.numItems) * this.params.dim);
  }
}
