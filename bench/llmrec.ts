/**
 * LLM-Rec benchmarks (`npm run bench -- --suite llmrec`), on MovieLens-100K (when ../shared has it) and on
 * the generated 100,000 users x 20,000 items set of the models suite:
 *
 * - training epoch time of llmrec in each fusion mode next to bpr's and lightgcn's on the same data, run
 *   alternately (bpr, lightgcn, llmrec modes, again...) and reported as medians with the ratio to bpr
 *   (goal: within 4x). An llmrec epoch here is its native epoch (fusionEpoch: sampling, every mini-batch's
 *   forward, hinge loss, backward and Adam) with 64-d unit semantic vectors; where the data has no item
 *   text (the generated set) they are random, which costs the same arithmetic as encoder vectors;
 * - recommend throughput (users/s, top-10 with training items excluded) of llmrec against bpr on the same
 *   catalog through model.recommend (goal: within 1.5x);
 * - updateUser events per second through the public API at d = 64 (goal: at least 200,000/s), one event
 *   per call and 64 per call;
 * - one adapter epoch (use-lite's 512-d vectors to 64-d, 4 experts, InfoNCE batch 256).
 * Models for the serving rows are given random parameters through the saved-model path (restoreSaved),
 * since the time does not depend on the values.
 */
import { adapterEpoch, adapterLayout } from '../ts/kernels/adapter';
import { fusionEpoch, fusionLayout, type FusionMode } from '../ts/kernels/fusion';
import type { BaseRecommender } from '../ts/models/base';
import { positivePairs, userItems, type TrainingData } from '../ts/models/data';
import type { LlmRecModel } from '../ts/models/llmrec';
import { createModel } from '../ts/models/registry';
import { deviceInfo } from '../ts/native/device';
import { Random } from '../ts/util/random';
import type { BenchContext, Suite } from './harness';
import { syntheticDataset } from './datasets';
import { epochRunner, ml100k, timeEpoch, type Dataset } from './models';

/** Repetitions of each epoch timing (alternating models); the median is reported. */
const REPEATS = 3;
/** Width of the semantic vectors and of the ID embeddings, as llmrec's defaults. */
const SEM_DIM = 64;
const DIM = 64;

function unitRows(rng: Random, rows: number, dim: number): Float32Array {
  const a = new Float32Array(rows * dim);
  for (let r = 0; r < rows; r++) {
    let s = 0;
    for (let t = 0; t < dim; t++) s += (a[r * dim + t] = rng.normal()) ** 2;
    const inv = 1 / Math.sqrt(s);
    for (let t = 0; t < dim; t++) a[r * dim + t] *= inv;
  }
  return a;
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

/** One llmrec epoch's native work on `data` (the share of its positives given), as LlmRecModel.trainEpoch runs it. */
function llmrecEpochRunner(mode: FusionMode, data: TrainingData, rng: Random, device: 'cpu' | 'cuda') {
  const seen = userItems(data);
  const pairs = positivePairs(seen);
  const { numUsers, numItems } = data;
  const shape = { numUsers, numItems, collabDim: DIM, semDim: SEM_DIM, lateDim: 32, mode };
  const L = fusionLayout(shape);
  const params = Float32Array.from({ length: L.total }, () => rng.normal() * 0.1);
  params[L.wc] = params[L.ws] = 1;
  const adamM = new Float32Array(L.total);
  const adamV = new Float32Array(L.total);
  const itemSem = unitRows(rng, numItems, SEM_DIM);
  const userSem = unitRows(rng, numUsers, SEM_DIM);
  const userWeight = new Float32Array(numUsers).fill(10);
  const pairWeight = new Float32Array(pairs.users.length).fill(1);
  const candidates = Int32Array.from({ length: numItems }, (_, i) => i);
  return async (share: number) => {
    const n = Math.max(1, Math.round(pairs.users.length * share));
    await fusionEpoch({
      ...shape, params, adamM, adamV, step: 0, itemSem, userSem, userWeight,
      pairUsers: pairs.users.subarray(0, n), pairItems: pairs.items.subarray(0, n), pairWeight: pairWeight.subarray(0, n),
      positives: seen, candidates, negatives: 4, loss: 'hinge', margin: 0.5, reg: 0.01, weightDecay: 0, dropout: 0.1,
      lr: 3e-4, batchSize: 64, seed: 1, device,
    });
  };
}

/** An llmrec model (hybrid, semDim 64) with random parameters and profiles, restored through the saved-model path. */
async function fabricatedLlmRec(data: TrainingData, rng: Random): Promise<LlmRecModel> {
  const { numUsers, numItems } = data;
  const model = createModel('llmrec', { dim: DIM, semDim: SEM_DIM }) as LlmRecModel;
  const L = fusionLayout({ numUsers, numItems, collabDim: DIM, semDim: SEM_DIM, lateDim: model.params.lateDim, mode: model.params.fusion });
  const seen = userItems(data);
  const nnz = seen.indices.length;
  const f = (n: number, std = 0.1) => Float32Array.from({ length: n }, () => rng.normal() * std);
  const arrays = {
    seenIndptr: seen.indptr, seenIndices: seen.indices,
    params: f(L.total), servedUsers: f(numUsers * L.width), candidates: Int32Array.from({ length: numItems }, (_, i) => i),
    pairWeight: new Float32Array(nnz).fill(1), pairSignalWeight: new Float32Array(nnz).fill(1), pairTime: new Int32Array(nnz), pairOrder: new Int32Array(nnz),
    itemSem: unitRows(rng, numItems, SEM_DIM), profileSums: f(numUsers * SEM_DIM), profileTotals: new Float32Array(numUsers).fill(20),
    profileClock: new Int32Array(numUsers), profileCounts: new Int32Array(numUsers).fill(20),
  };
  const meta = {
    numUsers, numItems, semDim: SEM_DIM, encoderId: 'bench', inDim: 512, signals: 'bench', notes: [] as string[], pairTimeBase: 1e9,
    profileClockBase: 1e9, profileMode: 'time', profileUnit: 'day', ratingScale: [1, 5],
  };
  await model.restoreSaved({ model: 'llmrec', params: model.params, meta, arrays });
  return model;
}

async function fabricatedBpr(data: TrainingData, rng: Random): Promise<BaseRecommender<object>> {
  const model = createModel('bpr', { dim: DIM }) as BaseRecommender<object>;
  const seen = userItems(data);
  const f = (n: number) => Float32Array.from({ length: n }, () => rng.normal() * 0.1);
  await model.restoreSaved({
    model: 'bpr',
    params: model.params,
    meta: { numUsers: data.numUsers, numItems: data.numItems },
    arrays: { seenIndptr: seen.indptr, seenIndices: seen.indices, P: f(data.numUsers * DIM), Q: f(data.numItems * DIM), itemBias: f(data.numItems) },
  });
  return model;
}

async function epochTimes(dataset: Dataset, context: BenchContext) {
  const rng = new Random(3);
  const { train } = dataset;
  const devices: ('cpu' | 'cuda')[] = deviceInfo().cudaAvailable ? ['cpu', 'cuda'] : ['cpu'];
  const runners: { name: string; run: (share: number) => Promise<void>; initialShare: number }[] = [
    { name: 'bpr', run: epochRunner('bpr', train, rng)!, initialShare: 0.01 },
    { name: 'lightgcn', run: epochRunner('lightgcn', train, rng)!, initialShare: context.quick ? 1 : (8 * 2048) / Math.max(1, train.numInteractions) },
  ];
  for (const device of devices) {
    for (const mode of ['early', 'late', 'hybrid'] as FusionMode[]) {
      runners.push({ name: `llmrec-${mode}${device === 'cuda' ? '-cuda' : ''}`, run: llmrecEpochRunner(mode, train, rng, device), initialShare: context.quick ? 1 : 0.01 });
    }
  }
  const seconds: Record<string, number[]> = {};
  const extrapolated: Record<string, string | undefined> = {};
  for (let rep = 0; rep < (context.quick ? 1 : REPEATS); rep++) {
    for (const r of runners) {
      const t = await timeEpoch(r.run, r.initialShare);
      (seconds[r.name] ??= []).push(t.secondsPerEpoch);
      extrapolated[r.name] = t.extrapolatedFrom;
    }
  }
  const bpr = median(seconds.bpr);
  const rows = runners.map((r) => ({
    model: r.name,
    dataset: dataset.name,
    secondsPerEpoch: median(seconds[r.name]),
    runs: seconds[r.name],
    ratioToBpr: median(seconds[r.name]) / bpr,
    ...(extrapolated[r.name] ? { extrapolatedFrom: extrapolated[r.name] } : {}),
  }));
  for (const row of rows) context.log(`  ${row.model.padEnd(18)} ${row.secondsPerEpoch.toFixed(3)} s/epoch (x${row.ratioToBpr.toFixed(1)} bpr)${row.extrapolatedFrom ? ` from ${row.extrapolatedFrom}` : ''}`);
  return rows;
}

async function serving(dataset: Dataset, context: BenchContext) {
  const rng = new Random(5);
  const { train } = dataset;
  const llmrec = await fabricatedLlmRec(train, rng);
  const bpr = await fabricatedBpr(train, rng);
  const block = 1000;
  const usersPerSecond = async (model: BaseRecommender<object>) => {
    const start = performance.now();
    for (let u0 = 0; u0 < train.numUsers; u0 += block) {
      await model.recommend(Int32Array.from({ length: Math.min(block, train.numUsers - u0) }, (_, r) => u0 + r), 10);
    }
    return train.numUsers / ((performance.now() - start) / 1000);
  };
  const rates: Record<string, number[]> = { bpr: [], llmrec: [] };
  for (let rep = 0; rep < REPEATS; rep++) {
    rates.bpr.push(await usersPerSecond(bpr));
    rates.llmrec.push(await usersPerSecond(llmrec as unknown as BaseRecommender<object>));
  }
  const recommend = {
    dataset: dataset.name,
    bprUsersPerSecond: median(rates.bpr),
    llmrecUsersPerSecond: median(rates.llmrec),
    llmrecFusedWidth: llmrec.params.dim + (llmrec.params.fusion === 'early' ? 0 : llmrec.params.lateDim),
    bprToLlmrecTimeRatio: median(rates.bpr) / median(rates.llmrec),
  };
  context.log(`  recommend: bpr ${recommend.bprUsersPerSecond.toFixed(0)} users/s, llmrec ${recommend.llmrecUsersPerSecond.toFixed(0)} users/s (llmrec takes x${recommend.bprToLlmrecTimeRatio.toFixed(2)} the time)`);
  // updateUser: timed events folded through the public API (validation, signals, O(d) fold, policy, refresh when due).
  const now = 2e9;
  const events = (n: number, k: number) => Array.from({ length: n }, (_, j) => ({ itemIdx: (k * 31 + j * 7) % train.numItems, rating: 1 + ((k + j) % 5), timestamp: 1e9 + k * 60 + j }));
  const perCall = async (batch: number) => {
    const calls = Math.max(1, Math.floor((context.quick ? 20_000 : 400_000) / batch));
    const prepared = Array.from({ length: calls }, (_, k) => events(batch, k));
    const start = performance.now();
    for (let k = 0; k < calls; k++) llmrec.updateUser(k % train.numUsers, prepared[k], { now });
    return (calls * batch) / ((performance.now() - start) / 1000);
  };
  const update = { dataset: dataset.name, dim: SEM_DIM, eventsPerSecondOnePerCall: median([await perCall(1), await perCall(1), await perCall(1)]), eventsPerSecond64PerCall: median([await perCall(64), await perCall(64), await perCall(64)]) };
  context.log(`  updateUser (d = ${SEM_DIM}): ${update.eventsPerSecondOnePerCall.toFixed(0)} events/s one per call, ${update.eventsPerSecond64PerCall.toFixed(0)} events/s 64 per call`);
  return { recommend, update };
}

async function adapterTimes(context: BenchContext) {
  const rng = new Random(9);
  const shape = { inDim: 512, outDim: SEM_DIM, experts: 4 };
  const L = adapterLayout(shape);
  const rows = [];
  const devices: ('cpu' | 'cuda')[] = deviceInfo().cudaAvailable ? ['cpu', 'cuda'] : ['cpu'];
  // ml-100k: 1,682 items, one text each (dropout copies); Amazon Musical Instruments: 900 items, ~8,200 training reviews.
  for (const [name, pairs, texts] of [['ml-100k', 1682, 1682], ['amazon-musical-instruments', 900, 9100]] as const) {
    const vectors = unitRows(rng, texts, 512);
    const viewA = Int32Array.from({ length: pairs }, (_, p) => p);
    const viewB = Int32Array.from({ length: pairs }, (_, p) => (p + pairs) % texts);
    for (const device of devices) {
      const params = Float32Array.from({ length: L.total }, () => rng.normal() * 0.05);
      const state = { params, adamM: new Float32Array(L.total), adamV: new Float32Array(L.total) };
      const times: number[] = [];
      for (let rep = 0; rep < (context.quick ? 1 : REPEATS); rep++) {
        const start = performance.now();
        await adapterEpoch({ ...shape, ...state, step: 0, vectors, viewA, viewB, temperature: 0.07, dropout: 0.1, lr: 1e-3, batchSize: 256, seed: rep, device });
        times.push((performance.now() - start) / 1000);
      }
      rows.push({ dataset: name, device, pairs, secondsPerEpoch: median(times), runs: times });
      context.log(`  adapter epoch (${name}, ${pairs} pairs, ${device}): ${median(times).toFixed(3)} s`);
    }
  }
  return rows;
}

export const llmrecSuite: Suite = {
  name: 'llmrec',
  description: 'llmrec epoch time next to bpr and lightgcn, recommend throughput, updateUser events/s, adapter epoch',
  async run(context: BenchContext) {
    const datasets: Dataset[] = [];
    const ml = await ml100k();
    if (ml) datasets.push(ml);
    else context.log('ml-100k not found under ../shared/datasets: skipped');
    datasets.push(context.quick ? syntheticDataset(5_000, 2_000, 20, 1, { testPerUser: 5 }) : syntheticDataset(100_000, 20_000, 20, 1, { testPerUser: 5 }));
    const epochs = [];
    const serve = [];
    for (const d of datasets) {
      context.log(`${d.name}: ${d.train.numUsers} users x ${d.train.numItems} items, ${d.train.numInteractions} training interactions`);
      epochs.push(...(await epochTimes(d, context)));
      serve.push(await serving(d, context));
    }
    return {
      note: 'Medians of alternating runs on the machine described above; ratios are within one run. CUDA rows only where a GPU answered.',
      device: deviceInfo().cudaAvailable ? 'cuda available' : 'cpu only',
      epochs,
      serving: serve,
      adapter: await adapterTimes(context),
    };
  },
};
