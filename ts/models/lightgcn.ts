/**
 * `lightgcn`: LightGCN (He et al. 2020). User and item embeddings are propagated `layers` times over
 * the symmetrically normalised user-item graph and averaged; the BPR loss on the averaged embeddings
 * is back-propagated through the same sparse propagation, with Adam on mini-batches (as RecBole).
 * Trained natively (semrec/train_lightgcn.h).
 *
 * A new user is folded in as one more node of the trained graph, items frozen: its layer-k embedding
 * (k >= 1) is the normalised sum of its history items' layer-(k-1) embeddings, which are fixed, so its
 * final vector is x / (L + 1) + c with c known and only the layer-0 embedding x free; x is trained by
 * BPR SGD against the final item embeddings (native foldInPairwise with scale 1 / (L + 1) and offset
 * c; foldInLr, reg, foldInEpochs). The new user's edges are not propagated back into the items.
 * Uses itemIdx only. Item similarity is the cosine of the final item embeddings.
 */
import { BaseRecommender, FactorRecommender, type FitContext, type Factors, type ModelState } from './base';
import type { HistoryEvent } from './contract';
import { itemPopularity, positivePairs } from './data';
import { foldInEpochsParam, foldInPairwise, historyRow } from './fold-in';
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
    foldInEpochs: foldInEpochsParam(50),
    // Training uses Adam; fold-in takes plain SGD steps on one vector (chosen on ml-100k validation users).
    foldInLr: learningRate().default(0.05).describe("SGD learning rate of a new user's layer-0 embedding (recommendForHistory)"),
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
  /** For fold-in: the item embeddings of layers 0..L-1 and the item degrees (made on first use). */
  private itemLayers: { layers: Float32Array[]; degree: Float64Array } | undefined;

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
    this.itemLayers = undefined;
  }

  /** Layer-k item embeddings e_k = (k + 1) mean_{0..k} - k mean_{0..k-1}, from the native forward pass. */
  private async layerEmbeddings(): Promise<{ layers: Float32Array[]; degree: Float64Array }> {
    if (this.itemLayers) return this.itemLayers;
    const d = this.params.dim;
    const split = this.numUsers * d;
    const layers: Float32Array[] = [this.E0.slice(split)];
    let previous = layers[0];
    for (let k = 1; k < this.params.layers; k++) {
      const mean = (await trainOps.lightgcnForward({ ...this.graphArgs(), layers: k, E0: this.E0 })).final.subarray(split);
      layers.push(mean.map((m, t) => (k + 1) * m - k * previous[t]));
      previous = mean;
    }
    this.itemLayers = { layers, degree: itemPopularity(this.seen!, this.numItems) };
    return this.itemLayers;
  }

  protected override async foldIn(events: readonly HistoryEvent[]): Promise<Float32Array> {
    const p = this.params;
    const d = p.dim;
    const L = p.layers;
    const { layers, degree } = await this.layerEmbeddings();
    const history = historyRow(events).indices;
    // c = (1 / (L + 1)) sum_{k=1..L} e_k(new), e_k(new) = sum_{i in H} e_{k-1}(i) / sqrt(|H| (deg_i + 1)):
    // the new user's edges counted in the item degrees.
    const offset = new Float32Array(d);
    for (let k = 1; k <= L; k++) {
      for (const i of history) {
        const w = 1 / Math.sqrt(history.length * (degree[i] + 1)) / (L + 1);
        for (let t = 0; t < d; t++) offset[t] += w * layers[k - 1][i * d + t];
      }
    }
    const f = this.factors();
    return foldInPairwise(events, {
      items: f.items,
      dim: d,
      scale: 1 / (L + 1),
      offset,
      lr: p.foldInLr,
      reg: p.reg,
      epochs: p.foldInEpochs,
    }).then((x) => x.map((v, t) => v / (L + 1) + offset[t]));
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
