/**
 * Serving users a model never saw: the shared pieces of fold-in. A new user's vector is computed from
 * their history with every item parameter frozen (what implicit's recalculate_user does), by the native
 * ops of semrec/fold_in.h:
 *   - foldInPairwise: SGD passes over the history with sampled negatives on the model's own pairwise
 *     loss (BPR for bpr, vbpr and lightgcn; WARP or BPR with Adagrad for lightfm);
 *   - foldInRidge: the exact least-squares solution for explicit ratings (mf).
 * The sampler's seed is fixed (FOLD_IN_SEED), so one history always gets one answer.
 */
import type { Csr } from '../kernels/types';
import { FOLD_IN_SEED, historyItems } from './base';
import type { HistoryEvent } from './contract';
import { trainOps } from './native';
import { positiveInt } from './params';

/**
 * The `foldInEpochs` hyperparameter: passes over a new user's history. With the items frozen a user
 * vector converges far faster than in training (there every epoch also moves the items); 50 passes put
 * fold-in within a few percent of normally trained users on ml-100k (test/models/fold-in-quality.test.ts).
 */
export const foldInEpochsParam = (fallback: number) =>
  positiveInt(100_000).default(fallback).describe("SGD passes over a new user's history when serving it (recommendForHistory)");

/** The one-row history CSR the native fold-in ops take (items sorted and unique). */
export function historyRow(events: readonly HistoryEvent[]): Csr {
  const indices = historyItems(events);
  return { indptr: Int32Array.of(0, indices.length), indices };
}

export interface PairwiseFoldIn {
  items: Float32Array;
  dim: number;
  itemBias?: Float32Array;
  loss?: 'bpr' | 'warp';
  lr: number;
  reg: number;
  epochs: number;
  maxSampled?: number;
  adagrad?: boolean;
  /** The user vector is scale * x + offset (LightGCN); default 1 and none. */
  scale?: number;
  offset?: Float32Array;
}

/** One new user's vector by pairwise SGD against frozen items (semrec/fold_in.h foldInPairwise). */
export async function foldInPairwise(events: readonly HistoryEvent[], f: PairwiseFoldIn): Promise<Float32Array> {
  const { users } = await trainOps.foldInPairwise({
    numUsers: 1,
    numItems: f.items.length / f.dim,
    dim: f.dim,
    itemFactors: f.items,
    itemBias: f.itemBias,
    histories: historyRow(events),
    offset: f.offset,
    scale: f.scale,
    loss: f.loss,
    lr: f.lr,
    reg: f.reg,
    epochs: f.epochs,
    maxSampled: f.maxSampled,
    adagrad: f.adagrad,
    seed: FOLD_IN_SEED,
  });
  return users;
}
