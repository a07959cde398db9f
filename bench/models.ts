/**
 * Model benchmarks: training time per epoch and full-ranking evaluation time of every baseline, on
 * MovieLens-100K (when ../shared has it) and on a generated implicit dataset of 100,000 users x 20,000
 * items (about 2.5 million interactions, Zipf-distributed item popularity).
 *
 * Training: each model's native epoch on the whole training data. Where one epoch would take many
 * minutes on a small machine (LightGCN's full-graph propagation per mini-batch, NeuMF's MLP per sample
 * on the large dataset), a fixed number of mini-batches or a fixed share of the samples is timed and the
 * epoch time extrapolated linearly (the cost per batch or per sample does not depend on how many run);
 * such rows say `extrapolatedFrom`.
 * Evaluation: every user's scores for all items, ranked with training items excluded, and the core's
 * ranking metrics (evaluateRanking); models are given random parameters through the same path as
 * loading a saved model, since the time does not depend on the values. Every user is evaluated on both
 * datasets (NeuMF's full ranking of 100,000 x 20,000 runs as GEMMs: minutes, measured, not extrapolated).
 *
 *   npm run bench -- --suite models          (SEMREC_BENCH_MODELS=neumf,... for some models only)
 */
import fs from 'node:fs';
import path from 'node:path';

import { loadDataset } from '../ts/data/load';
import { evaluateRanking } from '../ts/eval/ranking';
import type { Csr } from '../ts/kernels/types';
import type { BaseRecommender } from '../ts/models/base';
import { itemUsers, positivePairs, userItems, type TrainingData } from '../ts/models/data';
import { itemSparseFeatures, userSparseFeatures } from '../ts/models/features';
import { trainOps } from '../ts/models/native';
import { neuMfLayout } from '../ts/models/neumf';
import { fingerprintOf, ModelCatalog } from '../ts/models/catalog';
import { createModel, MODEL_NAMES, type ModelName } from '../ts/models/registry';
import { deviceInfo } from '../ts/native/device';
import { csrFromPairs } from '../ts/util/csr';
import { Random } from '../ts/util/random';
import { semrecVersion } from '../ts/version';
import { syntheticDataset } from './datasets';
import { type BenchContext, modelFilter, type Suite } from './harness';

/** Held-out items per user in the evaluation benchmark. */
const TEST_PER_USER = 5;
/** Epoch-time budget (seconds of measured work) per model before extrapolating. */
const MAX_MEASURED_SECONDS = 20;
/** Users NeuMF scores when scoring everyone would take longer than this many pair-scores. */

interface Dataset {
  name: string;
  train: TrainingData;
  test: Csr;
}

async function ml100k(): Promise<Dataset | undefined> {
  const dir = path.resolve(__dirname, '..', '..', 'shared', 'datasets', 'ml-100k');
  if (!fs.existsSync(dir)) return undefined;
  const store = await loadDataset({ format: 'ml-100k', path: dir });
  // The last TEST_PER_USER interactions of each user (by time) are held out.
  const { indptr, interactions } = store.byUser();
  const trainRows: number[] = [];
  const testUsers: number[] = [];
  const testItems: number[] = [];
  for (let u = 0; u < store.numUsers; u++) {
    const end = indptr[u + 1];
    for (let e = indptr[u]; e < end; e++) {
      const k = interactions[e];
      if (e >= end - TEST_PER_USER) {
        testUsers.push(u);
        testItems.push(store.itemIdx[k]);
      } else trainRows.push(k);
    }
  }
  const train = store.select(Int32Array.from(trainRows));
  return { name: 'ml-100k', train, test: csrFromPairs(store.numUsers, testUsers, testItems) };
}

function gaussian(rng: Random, n: number, std: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = rng.normal() * std;
  return out;
}

interface EpochTiming {
  secondsPerEpoch: number;
  /** Share of one epoch actually run and timed (1 = a whole epoch). */
  measuredShare: number;
  extrapolatedFrom?: string;
}

/** Seconds of measured work that make an extrapolation trustworthy. */
const MIN_MEASURED_SECONDS = 2;

/**
 * Times one epoch of `run(share)` (the share of the epoch's samples run). A cheap epoch (projected at most
 * MAX_MEASURED_SECONDS) is run and timed whole; otherwise the share grows until the run takes at least
 * MIN_MEASURED_SECONDS, and the epoch time is extrapolated from it. The first small run warms up.
 */
async function timeEpoch(run: (share: number) => Promise<void>, initialShare: number): Promise<EpochTiming> {
  const timed = async (share: number) => {
    const start = performance.now();
    await run(share);
    return (performance.now() - start) / 1000;
  };
  let share = Math.min(1, initialShare);
  for (;;) {
    const seconds = await timed(share);
    if (share >= 1) return { secondsPerEpoch: seconds, measuredShare: 1 };
    const projected = seconds / share;
    if (projected <= MAX_MEASURED_SECONDS) return { secondsPerEpoch: await timed(1), measuredShare: 1 };
    if (seconds >= MIN_MEASURED_SECONDS) {
      return { secondsPerEpoch: projected, measuredShare: share, extrapolatedFrom: `${(share * 100).toFixed(2)}% of an epoch` };
    }
    share = Math.min(1, share * 4);
  }
}

/** One epoch's native training work of `name` on `data` (the share of its samples given). */
function epochRunner(name: ModelName, data: TrainingData, rng: Random): ((share: number) => Promise<void>) | undefined {
  const seen = userItems(data);
  const pairs = positivePairs(seen);
  const { numUsers, numItems } = data;
  const take = (share: number) => Math.max(1, Math.round(pairs.users.length * share));
  const pairArgs = (share: number) => ({
    pairUsers: pairs.users.subarray(0, take(share)),
    pairItems: pairs.items.subarray(0, take(share)),
    positives: seen,
    seed: 1,
  });
  const dim = 64;
  switch (name) {
    case 'mf': {
      const P = gaussian(rng, numUsers * 100, 0.1);
      const Q = gaussian(rng, numItems * 100, 0.1);
      return async (share) => {
        const n = take(share);
        await trainOps.mfEpoch({
          numUsers, numItems, dim: 100, P, Q, userBias: new Float32Array(numUsers), itemBias: new Float32Array(numItems), globalMean: 3,
          users: data.userIdx.subarray(0, n), items: data.itemIdx.subarray(0, n), ratings: data.rating.subarray(0, n), seed: 1, lr: 0.005, regFactors: 0.02, regBias: 0.02,
        });
      };
    }
    case 'bpr': {
      const P = gaussian(rng, numUsers * dim, 0.1);
      const Q = gaussian(rng, numItems * dim, 0.1);
      return async (share) => {
        await trainOps.bprEpoch({ numUsers, numItems, dim, P, Q, itemBias: new Float32Array(numItems), lr: 0.02, reg: 0.02, regBias: 0.0025, ...pairArgs(share) });
      };
    }
    case 'vbpr': {
      const content = itemSparseFeatures(data, false);
      const nf = content.numFeatures;
      const features = new Float32Array(numItems * nf);
      for (let i = 0; i < numItems; i++) {
        for (let e = content.rows.indptr[i]; e < content.rows.indptr[i + 1]; e++) features[i * nf + content.rows.indices[e]] = content.weights[e];
      }
      const args = {
        numUsers, numItems, dim, contentDim: 16, numFeatures: nf, features,
        gammaU: gaussian(rng, numUsers * dim, 0.1), gammaI: gaussian(rng, numItems * dim, 0.1), thetaU: gaussian(rng, numUsers * 16, 0.1),
        E: gaussian(rng, nf * 16, 0.1), itemBias: new Float32Array(numItems), featureBias: new Float32Array(nf),
      };
      return async (share) => {
        await trainOps.vbprEpoch({ ...args, lr: 0.02, reg: 0.01, regBias: 0.0025, regContent: 0.01, ...pairArgs(share) });
      };
    }
    case 'lightfm': {
      const uf = userSparseFeatures(data, true);
      const itf = itemSparseFeatures(data, true);
      const args = {
        numUsers, numItems, numUserFeatures: uf.numFeatures, numItemFeatures: itf.numFeatures, dim,
        userEmb: gaussian(rng, uf.numFeatures * dim, 0.01), itemEmb: gaussian(rng, itf.numFeatures * dim, 0.01), itemBias: new Float32Array(itf.numFeatures),
        userEmbAcc: new Float32Array(uf.numFeatures * dim).fill(1), itemEmbAcc: new Float32Array(itf.numFeatures * dim).fill(1), itemBiasAcc: new Float32Array(itf.numFeatures).fill(1),
        userFeatures: uf.rows, userFeatureWeights: uf.weights, itemFeatures: itf.rows, itemFeatureWeights: itf.weights,
      };
      return async (share) => {
        await trainOps.lightfmEpoch({ ...args, loss: 'warp', lr: 0.1, userAlpha: 0, itemAlpha: 0, maxSampled: 10, ...pairArgs(share) });
      };
    }
    case 'neumf': {
      const hidden = [64, 32];
      const L = neuMfLayout(numUsers, numItems, 64, 64, hidden);
      const params = gaussian(rng, L.total, 0.01);
      const adamM = new Float32Array(L.total);
      const adamV = new Float32Array(L.total);
      return async (share) => {
        await trainOps.neumfEpoch({
          numUsers, numItems, gmfDim: 64, mlpDim: 64, hidden, params, adamM, adamV, step: 0, lr: 5e-4, reg: 0, batchSize: 256, negatives: 4, ...pairArgs(share),
        });
      };
    }
    case 'lightgcn': {
      const E0 = gaussian(rng, (numUsers + numItems) * dim, 0.1);
      const adamM = new Float32Array(E0.length);
      const adamV = new Float32Array(E0.length);
      return async (share) => {
        // The graph is always the whole training data; the share only limits the mini-batches run.
        await trainOps.lightgcnEpoch({
          numUsers, numItems, dim, layers: 3, E0, adamM, adamV, step: 0, lr: 5e-3, reg: 1e-3, batchSize: 2048, ...pairArgs(share),
        });
      };
    }
    default:
      return undefined;
  }
}

/** A model ready to score, with random parameters, restored through the saved-model path. */
async function scoringModel(name: ModelName, data: TrainingData, rng: Random): Promise<BaseRecommender<object>> {
  const { numUsers, numItems } = data;
  const model = createModel(name) as BaseRecommender<object>;
  const p = model.params as Record<string, number | number[]>;
  const seen = userItems(data);
  const arrays: Record<string, Float32Array | Int32Array> = { seenIndptr: seen.indptr, seenIndices: seen.indices };
  const meta: Record<string, number> = { numUsers, numItems };
  const f = (n: number) => gaussian(rng, n, 0.1);
  switch (name) {
    case 'pop':
      arrays.popularity = f(numItems);
      break;
    case 'itemknn': {
      const n = await trainOps.itemKnnNeighbors({ numUsers, numItems, byItem: itemUsers(seen, numItems), byUser: seen, neighbors: 100, shrink: 0 });
      Object.assign(arrays, { neighborIndptr: n.indptr, neighborIndices: n.indices, similarity: n.similarity });
      break;
    }
    case 'mf':
      Object.assign(arrays, { P: f(numUsers * (p.dim as number)), Q: f(numItems * (p.dim as number)), userBias: f(numUsers), itemBias: f(numItems) });
      Object.assign(meta, { globalMean: 3.5, minRating: 1, maxRating: 5 });
      break;
    case 'bpr':
      Object.assign(arrays, { P: f(numUsers * (p.dim as number)), Q: f(numItems * (p.dim as number)), itemBias: f(numItems) });
      break;
    case 'lightgcn':
      arrays.E0 = f((numUsers + numItems) * (p.dim as number));
      break;
    case 'neumf':
      arrays.params = f(neuMfLayout(numUsers, numItems, p.gmfDim as number, p.mlpDim as number, p.hidden as number[]).total);
      break;
    case 'vbpr': {
      const nf = 40;
      Object.assign(arrays, {
        gammaU: f(numUsers * (p.dim as number)), gammaI: f(numItems * (p.dim as number)), thetaU: f(numUsers * (p.contentDim as number)),
        E: f(nf * (p.contentDim as number)), itemBias: f(numItems), featureBias: f(nf), features: f(numItems * nf),
      });
      meta.numFeatures = nf;
      break;
    }
    case 'lightfm': {
      const uf = userSparseFeatures(data, true);
      const itf = itemSparseFeatures(data, true);
      Object.assign(arrays, {
        userEmb: f(uf.numFeatures * (p.dim as number)), itemEmb: f(itf.numFeatures * (p.dim as number)), itemBias: f(itf.numFeatures),
        userFeatureIndptr: uf.rows.indptr, userFeatureIndices: uf.rows.indices, userFeatureWeights: uf.weights,
        itemFeatureIndptr: itf.rows.indptr, itemFeatureIndices: itf.rows.indices, itemFeatureWeights: itf.weights,
      });
      Object.assign(meta, { numUserFeatures: uf.numFeatures, numItemFeatures: itf.numFeatures });
      break;
    }
  }
  // What a saved model carries beside its weights: the catalog and the training data's provenance.
  const provenance = {
    semrec: semrecVersion(),
    fingerprint: fingerprintOf(data),
    training: { seed: 0, epochs: 0, bestEpoch: 0, stoppedEarly: false, seconds: 0 },
    savedAt: new Date().toISOString(),
  };
  const sections = { catalog: ModelCatalog.fromTrainingData(data).toSection() };
  await model.restoreSaved({ model: name, params: model.params, meta, arrays, sections, provenance });
  return model;
}

async function benchDataset(dataset: Dataset, context: BenchContext) {
  const rng = new Random(7);
  const { train, test } = dataset;
  const exclude = userItems(train);
  const rows = [];
  context.log(`${dataset.name}: ${train.numUsers} users x ${train.numItems} items, ${train.numInteractions} training interactions`);
  for (const name of modelFilter(MODEL_NAMES) ?? MODEL_NAMES) {
    let training: EpochTiming & { fitSeconds?: number };
    const runner = epochRunner(name, train, rng);
    if (runner) {
      training = await timeEpoch(runner, context.quick ? 1 : name === 'lightgcn' ? 8 * 2048 / Math.max(1, exclude.indices.length) : 0.01);
    } else {
      const model = createModel(name);
      const report = await model.fit(train);
      training = { secondsPerEpoch: report.seconds, measuredShare: 1, fitSeconds: report.seconds };
    }
    const model = await scoringModel(name, train, rng);
    const start = performance.now();
    const outcome = await evaluateRanking((u) => model.scoreUsers(u), {
      numUsers: train.numUsers, numItems: train.numItems, truth: test, exclude, ks: [10, 20],
    });
    const measured = (performance.now() - start) / 1000;
    const row = {
      model: name,
      dataset: dataset.name,
      trainSecondsPerEpoch: training.secondsPerEpoch,
      ...(training.fitSeconds !== undefined ? { note: 'no epochs: the whole fit is timed' } : {}),
      ...(training.extrapolatedFrom ? { trainExtrapolatedFrom: training.extrapolatedFrom } : {}),
      evalSeconds: measured,
      evaluatedUsers: outcome.evaluatedUsers,
    };
    context.log(
      `  ${name.padEnd(8)} train ${row.trainSecondsPerEpoch.toFixed(2)} s/epoch${training.extrapolatedFrom ? ` (from ${training.extrapolatedFrom})` : ''}` +
        `, full evaluation ${row.evalSeconds.toFixed(2)} s`,
    );
    rows.push(row);
  }
  return rows;
}

export const modelSuite: Suite = {
  name: 'models',
  description: 'training time per epoch and full-ranking evaluation time of every baseline (ml-100k, 100k x 20k synthetic)',
  async run(context: BenchContext) {
    const datasets: Dataset[] = [];
    const ml = await ml100k();
    if (ml) datasets.push(ml);
    else context.log('ml-100k not found under ../shared/datasets: skipped');
    const [users, items] = context.quick ? [5_000, 2_000] : [100_000, 20_000];
    const generated = syntheticDataset(users, items, 20, 1, { testPerUser: TEST_PER_USER });
    datasets.push({ name: generated.name, train: generated.train, test: generated.test });
    const results = [];
    for (const d of datasets) results.push(...(await benchDataset(d, context)));
    return {
      note:
        'CPU only (this build has no CUDA trainers; scoring uses the core kernels on the device they pick). ' +
        'Measured on the machine described above, shared with other work: treat as indicative.',
      device: deviceInfo().cudaAvailable ? 'cuda available (scoring may use it)' : 'cpu',
      results,
    };
  },
};
