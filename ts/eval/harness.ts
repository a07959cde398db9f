/**
 * The evaluation harness: for each seed, split the dataset by the protocol, train every model on the
 * training part (early stopping on the validation part when the protocol has one), and rank all items
 * for every test user with the items seen in training and validation excluded ("full ranking", the
 * default and the only setting used for claims). Per-user metric vectors are kept, so the report gives
 * means with 95% confidence intervals and paired tests against a reference model.
 */
import os from 'node:os';

import { coldItemSplit, leaveOneOut, ratioSplit, temporalSplit, type ProtocolDescription, type Split } from '../data/splits';
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
import { longTailMetrics, popularityOf, type Popularity } from './beyond';
import { evaluateRanking, usersWithTruth } from './ranking';
import { evaluateSampled, SAMPLED_NEGATIVES } from './sampled';
import { pairedTests, summarize, type PairedTest } from './statistics';

export const PROTOCOLS = ['ratio-8-1-1', 'ratio-80-20', 'leave-one-out', 'temporal', 'cold-items'] as const;
export type ProtocolName = (typeof PROTOCOLS)[number];

/** Cut-offs reported by default (the P/R/NDCG/MAP/HIT/MRR @5, 10, 20). */
export const DEFAULT_KS = [5, 10, 20];
export const DEFAULT_SEEDS = [42];

/**
 * The protocols' splits: RecBole's 8:1:1, the LLM-Rec paper's 80/20, Chat-REC's leave-one-out, a global time
 * cut, and cold-start items (20% of the items held out with all their interactions, ranked among themselves).
 */
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
    case 'cold-items':
      return coldItemSplit(store, { seed });
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
  /** What the model's fit report said (e.g. llmrec: the signals it used, "no item text"). */
  notes?: string[];
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
  /** The distinct notes of the model's fits (see SeedResult.notes). */
  notes?: string[];
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

/** Per-user metric values of one (model, seed) run: values[key][r] belongs to users[r] (NaN: not evaluated). */
export interface UserValues {
  users: Int32Array;
  values: Record<string, Float64Array>;
}

/** What every model of one seed shares: the split and what ranking needs from it. */
export interface SeedContext {
  seed: number;
  split: Split;
  /** Items of the training and validation parts per user (not ranked unless the experiment keeps them). */
  seenBefore: Csr;
  truth: Csr;
  /** Users with a test item. */
  users: Int32Array;
  popularity: Popularity;
  /** Metadata vectors of the items, for ild@K. */
  ildFeatures: ItemFeatures | undefined;
  /** Each user's ordered history (training then validation items, by time) for sequential models; made by the first one. */
  histories?: Csr;
  /** Protocols that rank only some items (cold-items): every other item, excluded for every user; made by the first model. */
  outsideCandidates?: Csr;
}

/** Splits the dataset by the protocol for one seed. */
export function prepareSeed(store: InteractionStore, protocol: ProtocolName, seed: number): SeedContext {
  const split = splitByProtocol(store, protocol, seed);
  const train = userItems(split.train);
  const validation = split.validation ? userItems(split.validation) : undefined;
  const truth = userItems(split.test);
  return {
    seed,
    split,
    seenBefore: validation ? concatRows(train, validation) : train,
    truth,
    users: usersWithTruth(truth),
    popularity: popularityOf(train, store.numItems),
    ildFeatures: toItemFeatures(itemMetadataVectors(store)),
  };
}

/** One cell of an experiment: one model trained and evaluated on one seed's split. */
export interface CellOptions extends LongRunningOptions {
  store: InteractionStore;
  context: SeedContext;
  model: ModelName;
  params?: object;
  ks: number[];
  sampled?: boolean;
  earlyStopping?: boolean;
  itemFeatures?: ItemFeatureMatrix;
  numThreads?: number;
  /** Leave the user's training and validation items out of the ranking (default true). */
  excludeSeen?: boolean;
}

export interface CellResult {
  model: ModelName;
  result: SeedResult;
  perUser: UserValues;
  /** The split's own description. */
  split: ProtocolDescription;
  /** Whether the model trained with early stopping on the validation part. */
  earlyStopping: boolean;
}

/** Trains one model on one seed's training part and evaluates it on the test part. */
export async function evaluateCell(options: CellOptions): Promise<CellResult> {
  const { store, context, ks } = options;
  const { seed, split, seenBefore, truth, users } = context;
  // Protocols that rank only some items (cold-items) exclude every other item for every user.
  if (split.candidates) context.outsideCandidates ??= outsideCandidates(split.candidates, store.numUsers, store.numItems);
  const exclude = split.candidates ? context.outsideCandidates : options.excludeSeen === false ? undefined : seenBefore;
  const name = checkModelName(options.model, 'evaluateCell');
  throwIfAborted(options.signal, 'evaluation');
  const model = createModel(name, (options.params ?? {}) as never) as BaseRecommender<object>;
  const earlyStopping =
    options.earlyStopping !== false && split.validation && model.rankingEarlyStopping ? { data: split.validation } : undefined;
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
  // Sequential models read each test user's ordered history: training then validation items, by time.
  if (model.kind === 'sequential') context.histories ??= userSequences(split.validation ? [split.train, split.validation] : [split.train]);
  const histories = context.histories;
  const score =
    model.kind === 'sequential'
      ? (block: Int32Array) => model.scoreUsers(block, { history: selectRows(histories!, block) })
      : (block: Int32Array) => model.scoreUsers(block);
  let values: Record<string, Float64Array>;
  let metrics: Record<string, number>;
  if (options.sampled) {
    const interacted = concatRows(seenBefore, truth);
    values = await evaluateSampled(score, { numItems: store.numItems, truth, interacted, users, ks, seed }, { signal: options.signal });
    metrics = meansOf(values);
  } else {
    const outcome = await evaluateRanking(
      score,
      { numUsers: store.numUsers, numItems: store.numItems, truth, exclude, ks, users, itemFeatures: context.ildFeatures },
      { signal: options.signal, onProgress: (e) => options.onProgress?.({ ...e, phase: `${phase}: ${e.phase}` }) },
    );
    values = { ...outcome.perUser, ...longTailMetrics(outcome.lists, outcome.listLength, ks, context.popularity) };
    metrics = { ...outcome.mean, ...meansOf(values) };
  }
  if (isRatingPredictor(model)) Object.assign(metrics, ratingErrors(model.predictRatings.bind(model), split.test));
  const evalSeconds = (performance.now() - evalStart) / 1000;
  return {
    model: name,
    result: {
      seed,
      metrics,
      trainSeconds: fitReport.seconds,
      evalSeconds,
      epochs: fitReport.epochs.length,
      bestEpoch: fitReport.bestEpoch,
      stoppedEarly: fitReport.stoppedEarly,
      ...(fitReport.notes?.length ? { notes: fitReport.notes } : {}),
    },
    perUser: { users, values },
    split: split.protocol,
    earlyStopping: earlyStopping !== undefined,
  };
}

/** What an experiment is, apart from its results (the report's header). */
export interface ExperimentPlan {
  models: ModelName[];
  protocol: ProtocolName;
  seeds: number[];
  ks: number[];
  sampled: boolean;
  reference: ModelName;
  params?: Partial<Record<ModelName, object>>;
  /** Whether the user's training and validation items are left out of the full ranking. */
  excludeSeen: boolean;
  /** Where item features for content-aware models came from (ItemFeatureMatrix.source), when not the dataset's metadata. */
  itemFeaturesSource?: string;
}

/** Checks and completes an experiment's options: known models and protocol, sorted unique ks, a reference among the models. */
export function planExperiment(
  options: Pick<ExperimentOptions, 'models' | 'protocol' | 'seeds' | 'ks' | 'sampled' | 'reference' | 'params' | 'itemFeatures' | 'excludeSeen'>,
): ExperimentPlan {
  const seeds = options.seeds ?? DEFAULT_SEEDS;
  const ks = [...new Set(options.ks ?? DEFAULT_KS)].sort((a, b) => a - b);
  const models = options.models.map((m) => checkModelName(m, 'runExperiment'));
  if (models.length === 0) throw new SemrecError('runExperiment: no models given', 'ERR_INVALID_ARG_VALUE');
  if (seeds.length === 0) throw new SemrecError('runExperiment: no seeds given', 'ERR_INVALID_ARG_VALUE');
  const reference = options.reference ?? (models.includes('pop') ? 'pop' : models[0]);
  if (!models.includes(reference)) {
    throw new SemrecError(`runExperiment: the reference model '${reference}' is not among the models evaluated`, 'ERR_INVALID_ARG_VALUE');
  }
  const itemFeaturesSource = options.itemFeatures ? (options.itemFeatures.source ?? 'vectors given by the caller (source not stated)') : undefined;
  return { models, protocol: checkProtocol(options.protocol), seeds, ks, sampled: options.sampled ?? false, reference, params: options.params, excludeSeen: options.excludeSeen !== false, itemFeaturesSource };
}

/**
 * The report of an experiment from its cells (every model x seed of the plan, in any order): means,
 * intervals and paired tests. runExperiment and distributed evaluation (ts/distributed) both end here.
 */
export function assembleReport(dataset: ExperimentReport['dataset'], plan: ExperimentPlan, cells: CellResult[]): ExperimentReport {
  const { models, seeds, ks, sampled, reference } = plan;
  const find = (name: ModelName, seed: number) => {
    const cell = cells.find((c) => c.model === name && c.result.seed === seed);
    if (!cell) throw new SemrecError(`assembleReport: no result for ${name} with seed ${seed}`, 'ERR_INVALID_ARG_VALUE');
    return cell;
  };
  const results: Record<string, ModelResult> = {};
  const perUser = new Map<ModelName, UserValues[]>();
  const featureUsers: string[] = [];
  for (const name of models) {
    if ((createModel(name, (plan.params?.[name] ?? {}) as never) as BaseRecommender<object>).acceptsItemFeatures) featureUsers.push(name);
    const own = seeds.map((seed) => find(name, seed));
    perUser.set(name, own.map((c) => c.perUser));
    results[name] = summarizeModel(
      createModel(name, (plan.params?.[name] ?? {}) as never).params,
      own.map((c) => c.result),
      own.map((c) => c.perUser),
    );
  }
  for (const name of models) {
    if (name !== reference) results[name].tests = compare(perUser.get(name)!, perUser.get(reference)!, dataset.numUsers);
  }
  const usedEarlyStopping = cells.some((c) => c.earlyStopping);
  const cpus = os.cpus();
  return {
    dataset,
    protocol: {
      name: plan.protocol,
      seeds,
      ks,
      ranking: sampled ? 'sampled' : 'full',
      excluded: sampled
        ? `each held-out item ranked against ${SAMPLED_NEGATIVES} sampled items the user never interacted with`
        : plan.protocol === 'cold-items'
          ? 'only the held-out (cold) items ranked; every other item excluded'
          : plan.excludeSeen
            ? 'all items ranked; items of the user in the training and validation parts excluded'
            : 'all items ranked, including those of the user in the training and validation parts (as RecBole ranks for sequential models)',
      earlyStopping: usedEarlyStopping ? { metric: DEFAULT_STOPPING_METRIC, patience: DEFAULT_PATIENCE } : null,
      ci:
        seeds.length > 1
          ? `95% Student-t interval over the ${seeds.length} per-seed means`
          : '95% Student-t interval over users',
      split: find(models[0], seeds[0]).split,
    },
    reference,
    itemFeatures: {
      source: plan.itemFeaturesSource ?? "the dataset's metadata (genres, numeric-field bins, text words; ts/models/features.ts)",
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

/** Every item outside `candidates`, as the same exclusion row for each of numUsers users. */
function outsideCandidates(candidates: Int32Array, numUsers: number, numItems: number): Csr {
  const inside = new Uint8Array(numItems);
  for (const i of candidates) inside[i] = 1;
  const outside = Int32Array.from(Array.from(inside.keys()).filter((i) => !inside[i]));
  const indptr = Int32Array.from({ length: numUsers + 1 }, (_, u) => u * outside.length);
  const indices = new Int32Array(numUsers * outside.length);
  for (let u = 0; u < numUsers; u++) indices.set(outside, u * outside.length);
  return { indptr, indices };
}

export async function runExperiment(options: ExperimentOptions): Promise<ExperimentReport> {
  const { store } = options;
  const plan = planExperiment(options);
  const cells: CellResult[] = [];
  for (const seed of plan.seeds) {
    throwIfAborted(options.signal, 'evaluation');
    const context = prepareSeed(store, plan.protocol, seed);
    for (const model of plan.models) {
      cells.push(
        await evaluateCell({
          store,
          context,
          model,
          params: options.params?.[model],
          ks: plan.ks,
          sampled: plan.sampled,
          earlyStopping: options.earlyStopping,
          excludeSeen: plan.excludeSeen,
          itemFeatures: options.itemFeatures,
          numThreads: options.numThreads,
          signal: options.signal,
          onProgress: options.onProgress,
        }),
      );
    }
  }
  return assembleReport(datasetSummary(store), plan, cells);
}

/** The dataset line of a report. */
export function datasetSummary(store: InteractionStore): ExperimentReport['dataset'] {
  return { name: store.name, numUsers: store.numUsers, numItems: store.numItems, numInteractions: store.numInteractions };
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

function summarizeModel(params: object, seeds: SeedResult[], users: UserValues[]): ModelResult {
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
  const notes = [...new Set(seeds.flatMap((s) => s.notes ?? []))];
  return {
    ...(notes.length ? { notes } : {}),
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
function userAverages(runs: UserValues[], key: string, numUsers: number): Float64Array {
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
function compare(model: UserValues[], reference: UserValues[], numUsers: number): Record<string, PairedTest> {
  const out: Record<string, PairedTest> = {};
  for (const key of Object.keys(model[0].values)) {
    if (!reference[0].values[key]) continue;
    out[key] = pairedTests(userAverages(model, key, numUsers), userAverages(reference, key, numUsers));
  }
  return out;
}
