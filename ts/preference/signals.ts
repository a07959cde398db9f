/**
 * Per-interaction preference signals in [0, 1] and how LLM-Rec weighs them (Shang et al. 2024, §3.2:
 * explicit rating 0.4, review sentiment 0.3, viewing history 0.2, completion status 0.1).
 *
 * A signal the dataset lacks, or that one interaction lacks (a rating without review text has no
 * sentiment), is dropped and the weights of the others renormalised, so an interaction's weight is the
 * weighted mean of the signals it has. An interaction with no signal at all counts fully (weight
 * NO_SIGNAL_WEIGHT): it is implicit feedback, and implicit feedback is all there is.
 */
import type { TransactionSignals } from '../data/store';
import { SemrecError } from '../errors';

export type SignalName = 'rating' | 'sentiment' | 'viewing' | 'completion';
export const SIGNAL_NAMES: readonly SignalName[] = ['rating', 'sentiment', 'viewing', 'completion'];

export type SignalWeights = Record<SignalName, number>;

/** LLM-Rec's weights of the four signals (the paper's preference model). */
export const PAPER_SIGNAL_WEIGHTS: Readonly<SignalWeights> = { rating: 0.4, sentiment: 0.3, viewing: 0.2, completion: 0.1 };

/** Weight of an interaction that carries no signal (implicit feedback). */
export const NO_SIGNAL_WEIGHT = 1;

/**
 * View counts at which the viewing signal saturates at 1: log(1 + views) / log(1 + VIEW_SATURATION). One
 * view gives 0.39, two 0.61, five or more 1; re-watching is the strongest viewing evidence there is.
 */
export const VIEW_SATURATION = 5;

/** Signals of one interaction, each in [0, 1]; absent (or NaN in columns) = the interaction lacks it. */
export type InteractionSignals = Partial<Record<SignalName, number>>;

/** One column per signal (one value per interaction, NaN where absent); a missing column = the dataset lacks it. */
export type SignalColumns = Partial<Record<SignalName, Float32Array>>;

export function checkSignalWeights(weights: SignalWeights, what: string): void {
  for (const name of SIGNAL_NAMES) {
    const w = weights[name];
    if (typeof w !== 'number' || !Number.isFinite(w) || w < 0) {
      throw new SemrecError(`${what}: the weight of '${name}' must be a finite number >= 0, got ${String(w)}`, 'ERR_OUT_OF_RANGE');
    }
  }
}

/** The weighted mean of the signals present (weights renormalised over them); NO_SIGNAL_WEIGHT when none is. */
export function signalWeight(signals: InteractionSignals, weights: SignalWeights): number {
  let sum = 0;
  let norm = 0;
  for (const name of SIGNAL_NAMES) {
    const v = signals[name];
    if (v === undefined || Number.isNaN(v)) continue;
    sum += weights[name] * v;
    norm += weights[name];
  }
  return norm > 0 ? sum / norm : NO_SIGNAL_WEIGHT;
}

/** A rating mapped to [0, 1] by the dataset's scale ([min, max]; a one-value scale maps to 1). */
export function ratingSignal(rating: number, scale: readonly [number, number]): number {
  if (Number.isNaN(rating)) return NaN;
  const [min, max] = scale;
  if (max <= min) return 1;
  return Math.min(1, Math.max(0, (rating - min) / (max - min)));
}

export function viewingSignal(viewCount: number): number {
  if (!(viewCount > 0)) return 0;
  return Math.min(1, Math.log1p(viewCount) / Math.log1p(VIEW_SATURATION));
}

/** The observed [min, max] of the finite ratings, or undefined when there are none. */
export function ratingScaleOf(rating: Float32Array): [number, number] | undefined {
  let min = Infinity;
  let max = -Infinity;
  for (const r of rating) {
    if (Number.isNaN(r)) continue;
    if (r < min) min = r;
    if (r > max) max = r;
  }
  return min <= max ? [min, max] : undefined;
}

export interface StoreSignals {
  columns: SignalColumns;
  /** Signals present for at least one interaction. */
  available: SignalName[];
  /** True when viewing/completion come from the data layer's simulation (reports must say so). */
  simulated: boolean;
  /** A sentence for reports: which signals, where they came from. */
  description: string;
}

/**
 * The signal columns of a set of interactions: ratings by `ratingScale`, sentiment as given (the
 * sentiment head's scores of the interactions' reviews, NaN without review text), viewing and
 * completion from the store's transaction signals (observed, or simulated by ts/data/synthetic).
 */
export function signalColumns(
  data: { numInteractions: number; rating: Float32Array; signals?: TransactionSignals },
  options: { ratingScale?: readonly [number, number]; sentiment?: Float32Array },
): StoreSignals {
  const n = data.numInteractions;
  const columns: SignalColumns = {};
  const parts: string[] = [];
  if (options.ratingScale) {
    const scale = options.ratingScale;
    columns.rating = Float32Array.from(data.rating, (r) => ratingSignal(r, scale));
    parts.push(`explicit rating (scale ${scale[0]}..${scale[1]} -> [0, 1])`);
  }
  if (options.sentiment) {
    if (options.sentiment.length !== n) {
      throw new SemrecError(`signalColumns: sentiment has ${options.sentiment.length} values for ${n} interactions`, 'ERR_INVALID_ARG_VALUE');
    }
    columns.sentiment = options.sentiment;
    parts.push('review sentiment (sentiment head on training reviews)');
  }
  let simulated = false;
  if (data.signals) {
    const s = data.signals;
    columns.viewing = Float32Array.from(s.viewCount, viewingSignal);
    columns.completion = Float32Array.from(s.completion, (c) => Math.min(1, Math.max(0, c)));
    simulated = s.simulated;
    parts.push(`viewing and completion (${s.simulated ? 'SIMULATED: ' : ''}${s.model})`);
  }
  const available = SIGNAL_NAMES.filter((name) => {
    const c = columns[name];
    return c !== undefined && c.some((v) => !Number.isNaN(v));
  });
  for (const name of SIGNAL_NAMES) if (!available.includes(name)) delete columns[name];
  return {
    columns,
    available,
    simulated,
    description: parts.length ? `signals: ${parts.join('; ')}` : 'signals: none (every interaction weighs 1)',
  };
}

/** Each interaction's weight (signalWeight of its signals). */
export function interactionWeights(columns: SignalColumns, numInteractions: number, weights: SignalWeights): Float32Array {
  const out = new Float32Array(numInteractions);
  const signals: InteractionSignals = {};
  for (let e = 0; e < numInteractions; e++) {
    for (const name of SIGNAL_NAMES) signals[name] = columns[name]?.[e];
    out[e] = signalWeight(signals, weights);
  }
  return out;
}
