/**
 * How well a model serves users it never saw: some users are removed from training and served from
 * their training-split history by recommendForHistory (fold-in), and their test metrics are compared
 * with those of the same users when trained normally. Both models get the same hyperparameters, seed
 * and early stopping; the held-out users' validation items are excluded for both, as in full ranking.
 */
import type { Split } from '../data/splits';
import type { InteractionStore } from '../data/store';
import { SemrecError } from '../errors';
import { rankingMetricsFromTopK } from '../kernels/metrics';
import type { BaseRecommender } from '../models/base';
import type { HistoryEvent } from '../models/contract';
import { userItems } from '../models/data';
import { createModel, type ModelName } from '../models/registry';
import { throwIfAborted, type LongRunningOptions } from '../progress';
import { concatRows, selectRows } from '../util/csr';
import { Random } from '../util/random';
import { usersWithTruth } from './ranking';

export interface FoldInEvaluationOptions extends LongRunningOptions {
  split: Split;
  model: ModelName;
  params?: object;
  /** Seeds training and the choice of held-out users (default 42). */
  seed?: number;
  /** How many users to hold out (picked at random among users with test items), or which. */
  heldOut: number | Int32Array;
  /** Cut-offs (default [10]). */
  ks?: number[];
  /** Early stopping on the validation part when the split has one (default true). */
  earlyStopping?: boolean;
  numThreads?: number;
  /**
   * Which part the metrics are computed on (default 'test'). 'validation' (training items excluded,
   * no early stopping) is for choosing fold-in settings without looking at the test part.
   */
  on?: 'test' | 'validation';
}

export interface FoldInEvaluation {
  model: ModelName;
  /** The held-out users (dense indices). */
  users: Int32Array;
  /** Means over the held-out users: trained normally, and served by fold-in from their history. */
  normal: Record<string, number>;
  foldedIn: Record<string, number>;
  /** foldedIn / normal per metric. */
  ratio: Record<string, number>;
  trainSeconds: { normal: number; withoutHeldOut: number };
  /** Mean milliseconds of one recommendForHistory call. */
  foldInMs: number;
}

/** A store's interactions of the users not in `drop`. */
function without(store: InteractionStore, drop: Set<number>): InteractionStore {
  const keep: number[] = [];
  for (let e = 0; e < store.numInteractions; e++) if (!drop.has(store.userIdx[e])) keep.push(e);
  return store.select(Int32Array.from(keep), `${store.name} without ${drop.size} held-out users`);
}

/** A user's interactions in `store` as the HistoryEvents a service would pass (item, rating, time). */
export function historyOf(store: InteractionStore, user: number): HistoryEvent[] {
  const groups = store.byUser();
  const events: HistoryEvent[] = [];
  for (let g = groups.indptr[user]; g < groups.indptr[user + 1]; g++) {
    const e = groups.interactions[g];
    const event: HistoryEvent = { itemIdx: store.itemIdx[e] };
    if (Number.isFinite(store.rating[e])) event.rating = store.rating[e];
    if (Number.isFinite(store.timestamp[e])) event.timestamp = store.timestamp[e];
    events.push(event);
  }
  return events;
}

export async function evaluateFoldIn(options: FoldInEvaluationOptions): Promise<FoldInEvaluation> {
  const { split } = options;
  const seed = options.seed ?? 42;
  const ks = options.ks ?? [10];
  const k = Math.max(...ks);
  const onValidation = options.on === 'validation';
  if (onValidation && !split.validation) throw new SemrecError("evaluateFoldIn: on 'validation' needs a split with a validation part", 'ERR_INVALID_ARG_VALUE');
  const truth = userItems(onValidation ? split.validation! : split.test);
  let users: Int32Array;
  if (typeof options.heldOut === 'number') {
    const candidates = Array.from(usersWithTruth(truth));
    if (options.heldOut < 1 || options.heldOut > candidates.length) {
      throw new SemrecError(`evaluateFoldIn: heldOut must be in [1, ${candidates.length}]`, 'ERR_OUT_OF_RANGE');
    }
    users = Int32Array.from(new Random(seed).shuffle(candidates).slice(0, options.heldOut) as number[]).sort();
  } else {
    users = Int32Array.from(options.heldOut).sort();
  }
  const drop = new Set(users);
  const train = userItems(split.train);
  const validation = split.validation && !onValidation ? userItems(split.validation) : undefined;
  const exclude = selectRows(validation ? concatRows(train, validation) : train, users);
  const validationRows = validation ? selectRows(validation, users) : { indptr: new Int32Array(users.length + 1), indices: new Int32Array(0) };
  const stopping = options.earlyStopping !== false && split.validation !== undefined && !onValidation;

  const fit = async (data: InteractionStore, stopData: InteractionStore | undefined, label: string) => {
    throwIfAborted(options.signal, 'evaluateFoldIn');
    const model = createModel(options.model, (options.params ?? {}) as never) as BaseRecommender<object>;
    const report = await model.fit(data, {
      seed,
      earlyStopping: stopping && stopData && model.rankingEarlyStopping ? { data: stopData } : undefined,
      numThreads: options.numThreads,
      signal: options.signal,
      onProgress: (e) => options.onProgress?.({ ...e, phase: `${label}: ${e.phase}` }),
    });
    return { model, seconds: report.seconds };
  };
  const normal = await fit(split.train, split.validation, 'all users');
  const reduced = await fit(without(split.train, drop), split.validation ? without(split.validation, drop) : undefined, 'held-out users removed');

  const normalTop = await normal.model.recommend(users, k, { exclude: validationRows });
  const foldedLists = new Int32Array(users.length * k);
  const started = performance.now();
  for (let r = 0; r < users.length; r++) {
    throwIfAborted(options.signal, 'evaluateFoldIn');
    const u = users[r];
    const extra = validationRows.indices.subarray(validationRows.indptr[r], validationRows.indptr[r + 1]);
    const top = await reduced.model.recommendForHistory(historyOf(split.train, u), k, { exclude: extra });
    foldedLists.set(top.indices, r * k);
  }
  const foldInMs = (performance.now() - started) / users.length;
  const metricsOf = async (indices: Int32Array) =>
    (await rankingMetricsFromTopK({ indices, k, numUsers: users.length, numItems: split.train.numItems, truth: selectRows(truth, users), exclude, ks })).mean;
  const normalMetrics = await metricsOf(normalTop.indices);
  const foldedMetrics = await metricsOf(foldedLists);
  const ratio: Record<string, number> = {};
  for (const key of Object.keys(normalMetrics)) ratio[key] = foldedMetrics[key] / normalMetrics[key];
  return {
    model: options.model,
    users,
    normal: normalMetrics,
    foldedIn: foldedMetrics,
    ratio,
    trainSeconds: { normal: normal.seconds, withoutHeldOut: reduced.seconds },
    foldInMs,
  };
}
