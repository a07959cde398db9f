/**
 * Time decay of preference signals (LLM-Rec, §3.2: recent behaviour weighs more, decay factor 0.95).
 * An interaction `elapsed` units before the profile's newest one weighs alpha^elapsed of what it would
 * weigh now. Datasets without timestamps decay by recency rank instead: the r-th most recent
 * interaction (r = 0 for the newest) weighs alpha^r.
 */
import { SemrecError } from '../errors';

/** LLM-Rec's decay factor alpha. */
export const PAPER_DECAY_ALPHA = 0.95;

/** Seconds per unit of elapsed time. 'month' is the mean Gregorian month (30.436875 days). */
export const DECAY_UNIT_SECONDS = { hour: 3600, day: 86_400, week: 604_800, month: 2_629_746 } as const;
export type TimeUnit = keyof typeof DECAY_UNIT_SECONDS;
/** 'rank': decay by recency rank (also what datasets without timestamps get whatever is chosen). */
export type DecayUnit = TimeUnit | 'rank';
export const DECAY_UNITS: readonly DecayUnit[] = ['hour', 'day', 'week', 'month', 'rank'];

export interface DecayConfig {
  alpha: number;
  unit: DecayUnit;
}

export function checkDecay(d: DecayConfig, what: string): void {
  if (!(typeof d.alpha === 'number' && d.alpha > 0 && d.alpha <= 1)) {
    throw new SemrecError(`${what}: the decay factor must be in (0, 1], got ${String(d.alpha)}`, 'ERR_OUT_OF_RANGE');
  }
  if (!DECAY_UNITS.includes(d.unit)) throw new SemrecError(`${what}: the decay unit must be one of ${DECAY_UNITS.join(', ')}, got '${String(d.unit)}'`, 'ERR_INVALID_ARG_VALUE');
}

/** alpha^(seconds / unit); 1 for seconds <= 0. */
export function decayOverSeconds(alpha: number, unit: TimeUnit, seconds: number): number {
  if (!(seconds > 0)) return 1;
  return alpha ** (seconds / DECAY_UNIT_SECONDS[unit]);
}
