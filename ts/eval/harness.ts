/**
 * The evaluation harness: for each seed, split the dataset by the protocol, train every model on the
 * training part (early stopping on the validation part when the protocol has one), and rank all items
 * for every test user with the items seen in training and validation excluded ("full ranking", the
 * default and the only setting used for claims). Per-user metric vectors are kept, so the report gives
 * means with 95% confidence intervals and paired tests against a reference model.
 */
import os from 'node:os';

import { leaveOneOut, ratioSplit, temporalSplit, type ProtocolDescription, type Split } from '../data/splits';
import type { InteractionStore } from '../data/store';
import { SemrecError } from '../errors';
import type { Csr, ItemFeatures } from '../kernels/types';
import type { BaseRecommender } from '../models/base';
import { DEFAULT_PATIENCE, DEFAULT_STOPPING_METRIC } from '../models/base';
import type { ItemFeatureMatrix } from '../models/contract';
import { userItems } from '../models/data';
import { itemMetadataVectors } from '../models/features';
import { isRatingPredictor } from '../models/mf';
import { userSequences } from '../models/sequential';
import { checkModelName, createModel, type ModelName } from '../models/registry';
import { throwIfAborted, type LongRunningOptions } from '../progress';
import { semrecVersion, type SemrecVersion } from '../version';
import { concatRows, selectRows } from '../util/csr';
import { longTailMetrics, popularityOf } from './beyond';
import { evaluateRanking, usersWithTruth } from './ranking';
import { evaluateSampled, SAMPLED_NEGATIVES } from './sampled';
import { pairedTests, summarize, type PairedTest } from './statistics';

export const PROTOCOLS = ['ratio-8-1-1', 'ratio-80-20', 'leave-one-out', 'temporal'] as const;
export type ProtocolName = (typeof PROTOCOLS)[number];

/** Cut-offs reported by default (the P/R/NDCG/MAP/HIT/MRR @5, 10, 20). */
export const DEFAULT_KS = [5, 10, 20];
export const DEFAULT_SEEDS = [42];

/** The protocols' splits: RecBole's 8:1:1, the LLM-Rec paper's 80/20, Chat-REC's leave-one-out, a global time cut. */
export function splitByProtocol(store: InteractionStore, protocol: ProtocolName, seed: number): Split {
  switch (protocol) {
    case 'ratio-8-1-1':
      return ratioSplit(store, { ratios: [0.8, 0.1, 0.1], seed });
    case 'ratio-80-20':
      return ratioSplit(store, { ratios: [0.8, 0.2], seed });
    case 'leave-one-out':
      return leaveOneOut(store, { validation: true, seed });
    case 'temporal':
      return temporalSplit(store, { ratios: [0.8, 0.1, 0.1] });
    default:
      throw new SemrecError(`unknown protocol '${String(protocol)}' (known: ${PROTOCOLS.join(', ')})`, 'ERR_INVALID_ARG_VALUE');
  }
}

export function checkProtocol(name: string): ProtocolName {
  if (!(PROTOCOLS as readonly string[]).includes(name)) {
    throw new SemrecError(`unknown protocol '${name}' (known: ${PROTOCOLS.join(', ')})`, 'ERR_INVALID_ARG_VALUE');
  }
  return name as ProtocolName;
}

export interface ExperimentOptions extends LongRunningOptions {
  store: InteractionStore;
  models: ModelName[];
  protocol: ProtocolName;
  /** One run per seed: the seed drives the split (where it is random) and the models' initialisation and sampling. */
  seeds?: number[];
  /** Hyperparameters per model (validated against each model's schema). */
  params?: Partial<Record<ModelName, object>>;
  ks?: number[];
  /** Rank each held-out item against 99 sampled negatives instead of all items (labelled "sampled"). */
  sampled?: boolean;
  /** Model the paired tests compare against (default: pop when evaluated, else the first model). */
  reference?: ModelName;
  /** Early stopping on the validation part, when the protocol has one (default true). */
  earlyStopping?: boolean;
  /** Item content vectors for vbpr (default: the dataset's metadata features). */
  itemFeatures?: ItemFeatureMatrix;
  numThreads?: number;
  /**
   * Leave the user's training and validation items out of the full ranking (default true). false ranks every
   * item, as RecBole's full ranking does for its sequential models.
   */
  excludeSeen?: boolean;
}

export interface SeedResult {
  seed: number;
  metrics: Record<string, number>;
  trainSeconds: number;
  evalSeconds: number;
  epochs: number;
  bestEpoch: number;
  stoppedEarly: boolean;
}

export interface ModelResult {
  params: object;
  /** Mean over seeds of each metric (per seed: the mean over evaluated users), keys as the core names them. */
  metrics: Record<string, number>;
  /** Standard deviation of the per-seed means (two seeds or more). */
  std?: Record<string, number>;
  /** 95% t-interval: over the per-seed means with two seeds or more, else over users. */
  ci95: Record<string, [number, number]>;
  /** Mean seconds per seed: fit() including early-stopping evaluations, and the test evaluation. */
  trainSeconds: number;
  evalSeconds: number;
  perSeed: SeedResult[];
  /** Paired tests against the reference model per per-user metric (absent for the reference itself). */
  tests?: Record<string, PairedTest>;
}

export interface ExperimentReport {
  dataset: { name: string; numUsers: number; numItems: number; numInteractions: number };
  protocol: {
    name: ProtocolName;
    seeds: number[];
    ks: number[];
    /** 'full': every item ranked; 'sampled': 1 held-out item + 99 sampled negatives. */
    ranking: 'full' | 'sampled';
    excluded: string;
    earlyStopping: { metric: string; patience: number } | null;
    ci: string;
    /** The split's own description (of the first seed). */
    split: ProtocolDescription;
  };
  reference?: string;
  /**
   * Where content-aware models (vbpr) took item features from: a `semrec embed` file (with its SHA-256),
   * or the dataset's metadata; and how the beyond-accuracy ild@K measured item distance.
   */
  itemFeatures: { source: string; usedBy: string[]; ild: string };
  models: Record<string, ModelResult>;
  /** Why there is no `std` (a single seed), when there is none. */
  stdNote?: string;
  /** The semrec that produced the report. */
  semrec: SemrecVersion;
  machine: { cpus: number; cpuModel: string; node: string };
  createdAt: string;
}

interface PerUser {
  users: Int32Array;
  values: Record<string, Float64Array>;
}

export async function runExperiment(options: ExperimentOptions): Promise<ExperimentReport> {
  const { store } = options;
  const seeds = options.seeds ?? DEFAULT_SEEDS;
  const ks = [...new Set(options.ks ?? DEFAULT_KS)].sort((a, b) => a - b);
  const models = options.models.map((m) => checkModelName(m, 'runExperiment'));
  if (models.length === 0) throw new SemrecError('runExperiment: no models given', 'ERR_INVALID_ARG_VALUE');
  if (seeds.length === 0) throw new SemrecError('runExperiment: no seeds given', 'ERR_INVALID_ARG_VALUE');
  const reference = options.reference ?? (models.includes('pop') ? 'pop' : models[0]);
  if (!models.includes(reference)) {
    throw new SemrecError(`runExperiment: the reference model '${reference}' is not among the models evaluated`, 'ERR_INVALID_ARG_VALUE');
  }
  const protocol = checkProtocol(options.protocol);
  const sampled = options.sampled ?? false;
  const ildFeatures = toItemFeatures(itemMetadataVectors(store));

  const perSeed = new Map<ModelName, SeedResult[]>();
  const perUser = new Map<ModelName, PerUser[]>();
  let firstSplit: ProtocolDescription | undefined;
  let usedEarlyStopping = false;
  for (const seed of seeds) {
    throwIfAborted(options.signal, 'evaluation');
    const split = splitByProtocol(store, protocol, seed);
    firstSplit ??= split.protocol;
    const train = userItems(split.train);
    const validation = split.validation ? userItems(split.validation) : undefined;
    const seenBefore = validation ? concatRows(train, validation) : train;
    const exclude = options.excludeSeen === false ? undefined : seenBefore;
    const truth = userItems(split.test);
    // Sequential models read each test user's ordered history: training then validation items, by time.
    let histories: Csr | undefined;
    const users = usersWithTruth(truth);
    const popularity = popularityOf(train, store.numItems);
    for (const name of models) {
      throwIfAborted(options.signal, 'evaluation');
      const model = createModel(name, (options.params?.[name] ?? {}) as never) as BaseRecommender<object>;
      const earlyStopping =
        options.earlyStopping !== false && split.validation && model.rankingEarlyStopping ? { data: split.validation } : undefined;
      usedEarlyStopping ||= earlyStopping !== undefined;
      const phase = `seed ${seed}: ${name}`;
      const fitReport = await model.fit(split.train, {
        seed,
        earlyStopping,
        itemFeatures: model.acceptsItemFeatures ? options.itemFeatures : undefined,
        numThreads: options.numThreads,
        signal: options.signal,
        onProgress: (e) => options.onProgress?.({ ...e, phase: `${phase}: ${e.phase}` }),
      });
      const evalStart = performance.now();
      if (model.kind === 'sequential') histories ??= userSequences(split.validation ? [split.train, split.validation] : [split.train]);
      const score =
        model.kind === 'sequential'
          ? (block: Int32Array) => model.scoreUsers(block, { history: selectRows(histories!, block) })
          : (block: Int32Array) => model.scoreUsers(block);
      let values: Record<string, Float64Array>;
      let metrics: Record<string, number>;
      if (sampled) {
        const interacted = concatRows(seenBefore, truth);
        values = await evaluateSampled(score, { numItems: store.numItems, truth, interacted, users, ks, seed }, { signal: options.signal });
        metrics = meansOf(values);
      } else {
        const outcome = await evaluateRanking(
          score,
          { numUsers: store.numUsers, numItems: store.numItems, truth, exclude, ks, users, itemFeatures: ildFeatures },
          { signal: options.signal, onProgress: (e) => options.onProgress?.({ ...e, phase: `${phase}: ${e.phase}` }) },
        );
        values = { ...outcome.perUser, ...longTailMetrics(outcome.lists, outcome.listLength, ks, popularity) };
        metrics = { ...outcome.mean, ...meansOf(values) };
      }
      if (isRatingPredictor(model)) Object.assign(metrics, ratingErrors(model.predictRatings.bind(model), split.test));
      const evalSeconds = (performance.now() - evalStart) / 1000;
      push(perSeed, name, {
        seed,
        metrics,
        trainSeconds: fitReport.seconds,
        evalSeconds,
        epochs: fitReport.epochs.length,
        bestEpoch: fitReport.bestEpoch,
        stoppedEarly: fitReport.stoppedEarly,
      });
      push(perUser, name, { users, values });
    }
  }

  const results: Record<string, ModelResult> = {};
  const featureUsers: string[] = [];
  for (const name of models) {
    if ((createModel(name, (options.params?.[name] ?? {}) as never) as BaseRecommender<object>).acceptsItemFeatures) featureUsers.push(name);
    results[name] = summarizeModel(
      createModel(name, (options.params?.[name] ?? {}) as never).params,
      perSeed.get(name)!,
      perUser.get(name)!,
    );
    if (name !== reference) results[name].tests = compare(perUser.get(name)!, perUser.get(reference)!, store.numUsers);
  }
  const cpus = os.cpus();
  return {
    dataset: { name: store.name, numUsers: store.numUsers, numItems: store.numItems, numInteractions: store.numInteractions },
    protocol: {
      name: protocol,
      seeds,
      ks,
      ranking: sampled ? 'sampled' : 'full',
      excluded: sampled
        ? `each held-out item ranked against ${SAMPLED_NEGATIVES} sampled items the user never interacted with`
        : options.excludeSeen === false
          ? 'all items ranked, including those of the user in the training and validation parts (as RecBole ranks for sequential models)'
          : 'all items ranked; items of the user in the training and validation parts excluded',
      earlyStopping: usedEarlyStopping ? { metric: DEFAULT_STOPPING_METRIC, patience: DEFAULT_PATIENCE } : null,
      ci:
        seeds.length > 1
          ? `95% Student-t interval over the ${seeds.length} per-seed means`
          : '95% Student-t interval over users',
      split: firstSplit!,
    },
    reference,
    itemFeatures: {
      source: options.itemFeatures
        ? (options.itemFeatures.source ?? 'vectors given by the caller (source not stated)')
        : "the dataset's metadata (genres, numeric-field bins, text words; ts/models/features.ts)",
      usedBy: featureUsers,
      ild: "cosine distance over the dataset's metadata features",
    },
    models: results,
    ...(seeds.length === 1
      ? { stdNote: 'one seed: no standard deviation over seeds; ± is the 95% Student-t interval over users (give several --seeds for run-to-run spread)' }
      : {}),
    semrec: semrecVersion(),
    machine: { cpus: cpus.length, cpuModel: cpus[0]?.model ?? 'unknown', node: process.version },
    createdAt: new Date().toISOString(),
  };
}

function push<K, V>(map: Map<K, V[]>, key: K, value: V): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}

function toItemFeatures(m: ItemFeatureMatrix | undefined): ItemFeatures | undefined {
  return m ? { data: m.data, dim: m.dim } : undefined;
}

function meansOf(values: Record<string, Float64Array>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(values)) out[k] = summarize(v).mean;
  return out;
}

/** RMSE and MAE of the predicted ratings of the test interactions that have a rating. */
function ratingErrors(predict: (u: Int32Array, i: Int32Array) => Float32Array, test: InteractionStore): Record<string, number> {
  const keep: number[] = [];
  for (let e = 0; e < test.numInteractions; e++) if (Number.isFinite(test.rating[e])) keep.push(e);
  if (keep.length === 0) return {};
  const predicted = predict(Int32Array.from(keep, (e) => test.userIdx[e]), Int32Array.from(keep, (e) => test.itemIdx[e]));
  let se = 0;
  let ae = 0;
  keep.forEach((e, k) => {
    const d = test.rating[e] - predicted[k];
    se += d * d;
    ae += Math.abs(d);
  });
  return { rmse: Math.sqrt(se / keep.length), mae: ae / keep.length };
}

function summarizeModel(params: object, seeds: SeedResult[], users: PerUser[]): ModelResult {
  const keys = Object.keys(seeds[0].metrics);
  const metrics: Record<string, number> = {};
  const ci95: Record<string, [number, number]> = {};
  const std: Record<string, number> = {};
  for (const key of keys) {
    const acrossSeeds = summarize(seeds.map((s) => s.metrics[key]));
    metrics[key] = acrossSeeds.mean;
    if (seeds.length > 1) {
      std[key] = acrossSeeds.std;
      ci95[key] = acrossSeeds.ci95;
    } else if (users[0].values[key]) {
      ci95[key] = summarize(users[0].values[key]).ci95;
    }
  }
  const mean = (f: (s: SeedResult) => number) => seeds.reduce((a, s) => a + f(s), 0) / seeds.length;
  return {
    params,
    metrics,
    ...(seeds.length > 1 ? { std } : {}),
    ci95,
    trainSeconds: mean((s) => s.trainSeconds),
    evalSeconds: mean((s) => s.evalSeconds),
    perSeed: seeds,
  };
}

/** Each user's value averaged over the seeds in which it was evaluated (NaN where never). */
function userAverages(runs: PerUser[], key: string, numUsers: number): Float64Array {
  const sum = new Float64Array(numUsers);
  const count = new Float64Array(numUsers);
  for (const run of runs) {
    const v = run.values[key];
    if (!v) continue;
    run.users.forEach((u, r) => {
      if (!Number.isNaN(v[r])) {
        sum[u] += v[r];
        count[u]++;
      }
    });
  }
  return sum.map((s, u) => (count[u] > 0 ? s / count[u] : NaN));
}

/** Paired tests per per-user metric, over users, on each user's seed-averaged value. */
function compare(model: PerUser[], reference: PerUser[], numUsers: number): Record<string, PairedTest> {
  const out: Record<string, PairedTest> = {};
  for (const key of Object.keys(model[0].values)) {
    if (!reference[0].values[key]) continue;
    out[key] = pairedTests(userAverages(model, key, numUsers), userAverages(reference, key, numUsers));
  }
  return out;
}
