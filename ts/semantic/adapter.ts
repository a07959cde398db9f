/**
 * LLM-Rec's contrastive semantic adapter: parametric whitening plus a mixture-of-experts projection on
 * top of frozen encoder vectors (in the spirit of UniSRec, Hou et al. 2022), trained with InfoNCE over
 * in-batch negatives (SimCSE, Gao et al. 2021). The positives of an epoch are two views of each item:
 * two of its texts (its item text and one of its reviews, or two reviews) when it has more than one, else
 * two dropout-noised copies of its one text. The arithmetic is native (ts/kernels/adapter.ts).
 */
import type { EpochRecord } from '../models/contract';
import { adapterApply, adapterEpoch, adapterLayout, type AdapterLayout, type AdapterShape } from '../kernels/adapter';
import { SemrecError } from '../errors';
import { type LongRunningOptions, throwIfAborted } from '../progress';
import { Random } from '../util/random';

/** UniSRec's InfoNCE temperature. */
export const ADAPTER_TEMPERATURE = 0.07;
/** SimCSE's dropout rate: its only augmentation, and what makes one text's two copies differ. */
export const ADAPTER_DROPOUT = 0.1;
/** Standard deviation of the gate's initial weights: the experts start almost evenly mixed. */
const GATE_INIT_STD = 0.01;
/** Noise on each expert's initial whitening bias (the data mean), so the experts start apart. */
const BIAS_INIT_NOISE = 0.01;

export interface AdapterTrainOptions extends LongRunningOptions {
  /** rows x inDim vectors of every view (item texts, reviews). */
  vectors: Float32Array;
  inDim: number;
  /** Per item, the rows of `vectors` that are views of it (items with none are left out of training). */
  itemViews: readonly (readonly number[])[];
  outDim: number;
  experts: number;
  epochs: number;
  lr: number;
  temperature: number;
  dropout: number;
  batchSize: number;
  seed: number;
  numThreads?: number;
}

export class SemanticAdapter {
  readonly layout: AdapterLayout;

  constructor(
    readonly shape: AdapterShape,
    readonly params: Float32Array,
  ) {
    this.layout = adapterLayout(shape);
    if (params.length !== this.layout.total) {
      throw new SemrecError(`SemanticAdapter: ${params.length} parameters, the shape needs ${this.layout.total}`, 'ERR_MODEL_CORRUPT');
    }
  }

  /** Unit-norm adapted vectors (rows x outDim) of rows x inDim encoder vectors. */
  apply(vectors: Float32Array, numThreads?: number): Promise<Float32Array> {
    if (vectors.length % this.shape.inDim !== 0) {
      throw new SemrecError(`SemanticAdapter.apply: ${vectors.length} values are not rows of ${this.shape.inDim}`, 'ERR_INVALID_ARG_VALUE');
    }
    return adapterApply({ ...this.shape, params: this.params, vectors, numThreads });
  }

  /** Initial parameters: Xavier-scaled experts, whitening biases at the data mean, a near-uniform gate. */
  static initial(shape: AdapterShape, vectors: Float32Array, rng: Random): SemanticAdapter {
    const L = adapterLayout(shape);
    const D = shape.inDim;
    const params = new Float32Array(L.total);
    const expertStd = 1 / Math.sqrt(D);
    for (let r = 0; r < shape.experts * shape.outDim; r++) for (let d = 0; d < D; d++) params[L.M + r * D + d] = rng.normal() * expertStd;
    for (let r = shape.experts * shape.outDim; r < L.matrixRows; r++) for (let d = 0; d < D; d++) params[L.M + r * D + d] = rng.normal() * GATE_INIT_STD;
    const rows = vectors.length / D;
    const mean = new Float64Array(D);
    for (let i = 0; i < rows; i++) for (let d = 0; d < D; d++) mean[d] += vectors[i * D + d] / rows;
    for (let k = 0; k < shape.experts; k++) for (let d = 0; d < D; d++) params[L.bias + k * D + d] = mean[d] + rng.normal() * BIAS_INIT_NOISE;
    return new SemanticAdapter(shape, params);
  }

  /** Trains an adapter on the items' views; returns it with the loss of every epoch. */
  static async train(o: AdapterTrainOptions): Promise<{ adapter: SemanticAdapter; epochs: EpochRecord[] }> {
    const shape: AdapterShape = { inDim: o.inDim, outDim: o.outDim, experts: o.experts };
    const rng = new Random(o.seed);
    const adapter = SemanticAdapter.initial(shape, o.vectors, rng);
    const L = adapter.layout;
    const adamM = new Float32Array(L.total);
    const adamV = new Float32Array(L.total);
    const items = o.itemViews.flatMap((views, i) => (views.length > 0 ? [i] : []));
    const records: EpochRecord[] = [];
    let step = 0;
    for (let epoch = 1; epoch <= o.epochs; epoch++) {
      throwIfAborted(o.signal, 'training the semantic adapter');
      const started = performance.now();
      const order = rng.shuffle(items.slice()) as number[];
      const viewA = new Int32Array(order.length);
      const viewB = new Int32Array(order.length);
      order.forEach((item, p) => {
        const views = o.itemViews[item];
        if (views.length === 1) {
          viewA[p] = viewB[p] = views[0];
          return;
        }
        const a = rng.int(0, views.length - 1);
        let b = rng.int(0, views.length - 2);
        if (b >= a) b++;
        viewA[p] = views[a];
        viewB[p] = views[b];
      });
      const result = await adapterEpoch({
        ...shape,
        params: adapter.params,
        adamM,
        adamV,
        step,
        vectors: o.vectors,
        viewA,
        viewB,
        lr: o.lr,
        batchSize: o.batchSize,
        temperature: o.temperature,
        dropout: o.dropout,
        seed: rng.int(0, 2 ** 31 - 1),
        numThreads: o.numThreads,
      });
      step = result.step;
      records.push({ epoch, loss: result.loss, seconds: (performance.now() - started) / 1000 });
      o.onProgress?.({ phase: 'training the semantic adapter', done: epoch, total: o.epochs, unit: 'epochs' });
    }
    return { adapter, epochs: records };
  }
}
