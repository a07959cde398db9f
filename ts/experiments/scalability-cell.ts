/**
 * One cell of the scalability study, measured in the process that runs it: generate the dataset, train
 * the model for the timed epochs, time single-user requests and top-k for every user, and read the
 * process's peak RSS. Run as a child process by scalability.ts (a message in, a message out); measureCell
 * is also callable in-process.
 */
import { generateDataset } from '../data/generate';
import { isSemrecError } from '../errors';
import type { BaseRecommender } from '../models/base';
import { createModel, describeParams } from '../models/registry';
import { Random } from '../util/random';
import { ALL_USERS_BLOCK, type CellResult, type CellSpec } from './scalability';

const WARMUP_REQUESTS = 20;

const peakRssMiB = () => process.resourceUsage().maxRSS / 1024; // maxRSS is in KiB

function percentile(sorted: Float64Array, q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

export async function measureCell(spec: CellSpec): Promise<CellResult> {
  let t = performance.now();
  const store = generateDataset({ interactions: spec.interactions, seed: spec.seed });
  const generateSeconds = (performance.now() - t) / 1000;
  const datasetRssMiB = peakRssMiB();
  const hasEpochs = describeParams(spec.model).some((p) => p.name === 'epochs');
  const model = createModel(spec.model, (hasEpochs ? { epochs: spec.epochs } : {}) as never) as unknown as BaseRecommender<object>;
  const fit = await model.fit(store, { seed: spec.seed, ...(spec.numThreads !== undefined ? { numThreads: spec.numThreads } : {}) });
  const epochSeconds = fit.epochs.length > 0 ? median(fit.epochs.map((e) => e.seconds)) : undefined;

  // Single-user requests for random users, one at a time, as a service answers them.
  const rng = new Random(spec.seed + 1);
  for (let r = 0; r < WARMUP_REQUESTS; r++) await model.recommend([rng.int(0, store.numUsers - 1)], spec.k);
  const latencies = new Float64Array(spec.requests);
  for (let r = 0; r < spec.requests; r++) {
    const user = rng.int(0, store.numUsers - 1);
    t = performance.now();
    await model.recommend([user], spec.k);
    latencies[r] = performance.now() - t;
  }
  latencies.sort();

  // Top-k for every user, in the blocks `semrec recommend --all-users` uses.
  t = performance.now();
  for (let start = 0; start < store.numUsers; start += ALL_USERS_BLOCK) {
    const end = Math.min(store.numUsers, start + ALL_USERS_BLOCK);
    await model.recommend(Int32Array.from({ length: end - start }, (_, i) => start + i), spec.k);
  }
  const allUsersSeconds = (performance.now() - t) / 1000;
  return {
    interactions: spec.interactions,
    users: store.numUsers,
    items: store.numItems,
    model: spec.model,
    ...(epochSeconds !== undefined ? { epochSeconds } : {}),
    epochs: fit.epochs.length,
    fitSeconds: fit.seconds,
    requestP50Ms: percentile(latencies, 0.5),
    requestP99Ms: percentile(latencies, 0.99),
    requestMaxMs: latencies[latencies.length - 1],
    allUsersSeconds,
    peakRssMiB: peakRssMiB(),
    datasetRssMiB,
    generateSeconds,
  };
}

if (require.main === module && process.send) {
  process.once('message', (spec: CellSpec) => {
    measureCell(spec).then(
      (result) => process.send!({ result }, () => process.exit(0)),
      (error: unknown) =>
        process.send!({ error: { message: (error as Error).message, code: isSemrecError(error) ? error.code : undefined } }, () => process.exit(1)),
    );
  });
}
