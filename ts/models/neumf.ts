/**
 * `neumf`: NeuMF (He et al. 2017, "Neural Collaborative Filtering"): a GMF tower (elementwise product of
 * user and item embeddings) and an MLP tower (ReLU layers over the concatenated embeddings) joined by one
 * output unit, trained with binary cross-entropy on each positive and `negatives` sampled negatives, by
 * mini-batch Adam with hand-written back-propagation. Trained and scored natively (semrec/train_neumf.h).
 *
 * A new user is folded in by Adam on its two user embeddings (GMF and MLP) alone, every item embedding
 * and MLP weight frozen: foldInEpochs full-batch steps on the history's positives with `negatives`
 * fresh uniform negatives each, gradients from the native neumfGradient on a one-user copy of the
 * model, starting from the mean trained user. Uses itemIdx only. Item similarity is the cosine of the
 * concatenated item embeddings [GMF; MLP].
 */
import { SemrecError } from '../errors';
import { Random } from '../util/random';
import { BaseRecommender, FOLD_IN_SEED, historyItems, type FitContext, type HistorySimilarities, type ModelState } from './base';
import type { HistoryEvent, Recommendations } from './contract';
import { positivePairs } from './data';
import { foldInEpochsParam } from './fold-in';
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
    // Each NeuMF fold-in step is a full-batch gradient through the MLP: 20 steps matched 50 on ml-100k validation users.
    foldInEpochs: foldInEpochsParam(20),
    foldInLr: learningRate().default(0.01).describe("Adam learning rate of a new user's embeddings (recommendForHistory)"),
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

  /** Adam's defaults (Kingma & Ba 2015), as the native trainer. */
  private static readonly ADAM = { beta1: 0.9, beta2: 0.999, eps: 1e-8 };

  /** The one-user copy of the model whose user rows fold-in trains: item side and MLP copied, users start at the mean. */
  private oneUserModel(): { layout: NeuMfLayout; params: Float32Array } {
    const p = this.params;
    const full = this.layout();
    const one = neuMfLayout(1, this.numItems, p.gmfDim, p.mlpDim, p.hidden);
    const params = new Float32Array(one.total);
    const meanRow = (offset: number, dim: number) => {
      const mean = new Float32Array(dim);
      for (let u = 0; u < this.numUsers; u++) for (let t = 0; t < dim; t++) mean[t] += this.params_[offset + u * dim + t] / this.numUsers;
      return mean;
    };
    params.set(meanRow(full.gmfUser, p.gmfDim), one.gmfUser);
    params.set(meanRow(full.mlpUser, p.mlpDim), one.mlpUser);
    params.set(this.params_.subarray(full.gmfItem, full.gmfItem + this.numItems * p.gmfDim), one.gmfItem);
    params.set(this.params_.subarray(full.mlpItem, full.mlpItem + this.numItems * p.mlpDim), one.mlpItem);
    params.set(this.params_.subarray(full.embeddingEnd), one.embeddingEnd);
    return { layout: one, params };
  }

  private async foldInModel(events: readonly HistoryEvent[]): Promise<Float32Array> {
    const p = this.params;
    const history = historyItems(events);
    if (history.length >= this.numItems) {
      throw new SemrecError('neumf.recommendForHistory: the history holds every item: there is nothing left to recommend', 'ERR_INVALID_ARG_VALUE');
    }
    const { layout, params } = this.oneUserModel();
    const inHistory = new Set(history);
    const rows = [
      [layout.gmfUser, p.gmfDim],
      [layout.mlpUser, p.mlpDim],
    ] as const;
    const m = new Float32Array(p.gmfDim + p.mlpDim);
    const v = new Float32Array(p.gmfDim + p.mlpDim);
    const rng = new Random(FOLD_IN_SEED);
    const n = history.length * (1 + p.negatives);
    const items = new Int32Array(n);
    const labels = new Float32Array(n);
    items.set(history);
    labels.fill(1, 0, history.length);
    const { beta1, beta2, eps } = NeuMfModel.ADAM;
    for (let step = 1; step <= p.foldInEpochs; step++) {
      for (let s = history.length; s < n; s++) {
        let j = rng.int(0, this.numItems - 1);
        while (inHistory.has(j)) j = rng.int(0, this.numItems - 1);
        items[s] = j;
      }
      const { grad } = await trainOps.neumfGradient({
        numUsers: 1,
        numItems: this.numItems,
        gmfDim: p.gmfDim,
        mlpDim: p.mlpDim,
        hidden: p.hidden,
        params,
        sampleUsers: new Int32Array(n),
        sampleItems: items,
        sampleLabels: labels,
        reg: p.reg,
      });
      const c1 = 1 - beta1 ** step;
      const c2 = 1 - beta2 ** step;
      let t = 0;
      for (const [offset, dim] of rows) {
        for (let c = 0; c < dim; c++, t++) {
          const g = grad[offset + c];
          m[t] = beta1 * m[t] + (1 - beta1) * g;
          v[t] = beta2 * v[t] + (1 - beta2) * g * g;
          params[offset + c] -= (p.foldInLr * (m[t] / c1)) / (Math.sqrt(v[t] / c2) + eps);
        }
      }
    }
    return params;
  }

  protected override async scoreHistory(events: readonly HistoryEvent[]): Promise<Float32Array> {
    const p = this.params;
    const params = await this.foldInModel(events);
    const args = { numUsers: 1, numItems: this.numItems, gmfDim: p.gmfDim, mlpDim: p.mlpDim, hidden: p.hidden };
    return (await trainOps.neumfScore({ ...args, params, users: Int32Array.of(0) })).scores;
  }

  /** [gmfItem; mlpItem] per item. */
  protected override similarityVectors(): { data: Float32Array; dim: number } {
    const p = this.params;
    const L = this.layout();
    const dim = p.gmfDim + p.mlpDim;
    const data = this.itemVectors?.of === this.params_ ? this.itemVectors.data : new Float32Array(this.numItems * dim);
    if (this.itemVectors?.of !== this.params_) {
      for (let i = 0; i < this.numItems; i++) {
        data.set(this.params_.subarray(L.gmfItem + i * p.gmfDim, L.gmfItem + (i + 1) * p.gmfDim), i * dim);
        data.set(this.params_.subarray(L.mlpItem + i * p.mlpDim, L.mlpItem + (i + 1) * p.mlpDim), i * dim + p.gmfDim);
      }
      this.itemVectors = { of: this.params_, data };
    }
    return { data, dim };
  }

  private itemVectors: { of: Float32Array; data: Float32Array } | undefined;

  protected override async similarItemsOf(itemIdx: number, k: number): Promise<Recommendations> {
    return this.cosineSimilarItems(itemIdx, k);
  }

  protected override async historySimilarities(itemIdx: number, items: Int32Array): Promise<HistorySimilarities> {
    return this.cosineSimilarities(itemIdx, items, 'cosine of the item embeddings [GMF; MLP]');
  }

  protected state(): ModelState {
    return { meta: {}, arrays: { params: this.params_ } };
  }

  protected restore(state: ModelState): void {
    this.params_ = BaseRecommender.array(state, 'params', Float32Array, this.layout().total);
  }
}
