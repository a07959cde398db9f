/**
 * Samplers for hyperparameter search: random search and the Tree-structured Parzen Estimator (Bergstra
 * et al., "Algorithms for Hyper-Parameter Optimization", NeurIPS 2011), the Bayesian optimisation the
 * LLM-Rec paper tunes with. No maintained npm implementation exists, so this is a small one of our own.
 *
 * TPE, as implemented here (univariate, maximising): after STARTUP_TRIALS random trials, the finished
 * trials are split into the best `goodCount(n)` ("good") and the rest; for each hyperparameter two
 * densities are fitted, l(x) on the good values and g(x) on the others (adaptive Parzen windows: one
 * truncated Gaussian per observation plus a wide prior, bandwidths from the gaps to the neighbours);
 * CANDIDATES values are drawn from l and the one maximising l(x) / g(x) is proposed. Numeric ranges are
 * modelled in log space when the domain says `log`; integers are sampled continuously and rounded.
 * Proposals depend only on the seed, the trial number and the finished trials, so a resumed search
 * proposes exactly what an uninterrupted one would.
 */
import jStat from 'jstat';

import { Random } from '../util/random';
import type { Assignment, Choice, Domain, SearchSpace } from './space';

/** Random trials before TPE models anything (Optuna's default n_startup_trials). */
export const STARTUP_TRIALS = 10;
/** Candidates drawn from l(x) per hyperparameter and proposal (hyperopt's and Optuna's n_ei_candidates). */
export const CANDIDATES = 24;
/** Weight of the prior component of each Parzen estimator (Optuna's prior_weight). */
export const PRIOR_WEIGHT = 1;
/** Most Parzen bandwidths are at least range / min(MAX_BANDWIDTH_DIVISOR, n + 1) (hyperopt's clipping). */
export const MAX_BANDWIDTH_DIVISOR = 100;

/** Size of the "good" group among n finished trials: min(ceil(0.1 n), 25), Optuna's default gamma. */
export function goodCount(n: number): number {
  return Math.max(1, Math.min(Math.ceil(0.1 * n), 25));
}

export interface FinishedTrial {
  params: Assignment;
  /** The objective (higher is better). */
  value: number;
}

export type SamplerName = 'tpe' | 'random';
export const SAMPLERS: readonly SamplerName[] = ['tpe', 'random'];

/** The seeded stream of trial `trial`: independent of how many draws earlier trials made. */
function trialRandom(seed: number, trial: number): Random {
  return new Random(seed).fork(trial);
}

// ---- numeric domains in the space the estimator works in (log where asked) ----

interface Bounds {
  lo: number;
  hi: number;
}

function bounds(domain: Extract<Domain, { low: number }>): Bounds {
  // Integers get half a step on either side so that both end values are as likely as the others
  // (log-scale integer ranges have low >= 1, so low - 0.5 stays positive).
  const pad = domain.type === 'int' ? 0.5 : 0;
  const lo = domain.low - pad;
  const hi = domain.high + pad;
  return domain.log ? { lo: Math.log(lo), hi: Math.log(hi) } : { lo, hi };
}

function toInternal(domain: Extract<Domain, { low: number }>, x: number): number {
  return domain.log ? Math.log(x) : x;
}

function fromInternal(domain: Extract<Domain, { low: number }>, y: number): number {
  const x = domain.log ? Math.exp(y) : y;
  if (domain.type === 'int') return Math.min(domain.high, Math.max(domain.low, Math.round(x)));
  return Math.min(domain.high, Math.max(domain.low, x));
}

function uniformValue(domain: Domain, rng: Random): Choice {
  if (domain.type === 'categorical') return domain.choices[rng.int(0, domain.choices.length - 1)];
  const { lo, hi } = bounds(domain);
  return fromInternal(domain, lo + (hi - lo) * rng.float());
}

/** One value per hyperparameter, each uniform over its domain (log-uniform where `log`). */
export function randomAssignment(space: SearchSpace, rng: Random): Assignment {
  const out: Assignment = {};
  for (const [key, domain] of Object.entries(space)) out[key] = uniformValue(domain, rng);
  return out;
}

/** A mixture of Gaussians truncated to [lo, hi]: the adaptive Parzen estimator of one numeric hyperparameter. */
export class ParzenEstimator {
  readonly mus: number[];
  readonly sigmas: number[];
  readonly weights: number[];

  constructor(
    observations: number[],
    readonly range: Bounds,
  ) {
    const { lo, hi } = range;
    const priorMu = 0.5 * (lo + hi);
    const priorSigma = hi - lo;
    const sorted = [...observations.map((mu) => ({ mu, prior: false })), { mu: priorMu, prior: true }].sort((a, b) => a.mu - b.mu);
    const minSigma = priorSigma / Math.min(MAX_BANDWIDTH_DIVISOR, sorted.length);
    this.mus = sorted.map((c) => c.mu);
    this.sigmas = sorted.map((c, i) => {
      if (c.prior) return priorSigma;
      const left = c.mu - (i > 0 ? sorted[i - 1].mu : lo);
      const right = (i < sorted.length - 1 ? sorted[i + 1].mu : hi) - c.mu;
      return Math.min(priorSigma, Math.max(minSigma, left, right));
    });
    const raw = sorted.map((c) => (c.prior ? PRIOR_WEIGHT : 1));
    const total = raw.reduce((a, b) => a + b, 0);
    this.weights = raw.map((w) => w / total);
  }

  sample(rng: Random): number {
    let u = rng.float();
    let j = 0;
    while (j < this.weights.length - 1 && u >= this.weights[j]) u -= this.weights[j++];
    const { lo, hi } = this.range;
    // Rejection sampling of the truncated Gaussian; the mass inside [lo, hi] is never tiny here because
    // every centre lies inside and every bandwidth is at most the range.
    for (let attempt = 0; attempt < 100; attempt++) {
      const x = this.mus[j] + this.sigmas[j] * rng.normal();
      if (x >= lo && x <= hi) return x;
    }
    return Math.min(hi, Math.max(lo, this.mus[j]));
  }

  logDensity(x: number): number {
    const { lo, hi } = this.range;
    let p = 0;
    for (let j = 0; j < this.mus.length; j++) {
      const mu = this.mus[j];
      const s = this.sigmas[j];
      const mass = jStat.normal.cdf(hi, mu, s) - jStat.normal.cdf(lo, mu, s);
      p += (this.weights[j] * jStat.normal.pdf(x, mu, s)) / Math.max(mass, 1e-12);
    }
    return Math.log(Math.max(p, 1e-300));
  }
}

/** Smoothed choice frequencies: each choice's count plus an equal share of the prior weight. */
export function categoricalLogProbabilities(choices: Choice[], observed: Choice[]): number[] {
  const counts = choices.map((c) => observed.filter((o) => o === c).length + PRIOR_WEIGHT / choices.length);
  const total = counts.reduce((a, b) => a + b, 0);
  return counts.map((c) => Math.log(c / total));
}

function proposeOne(domain: Domain, good: Choice[], bad: Choice[], rng: Random): Choice {
  if (domain.type === 'categorical') {
    const l = categoricalLogProbabilities(domain.choices, good);
    const g = categoricalLogProbabilities(domain.choices, bad);
    let best = 0;
    let bestScore = -Infinity;
    for (let c = 0; c < CANDIDATES; c++) {
      // Draw a choice from l.
      let u = rng.float();
      let j = 0;
      while (j < l.length - 1 && u >= Math.exp(l[j])) u -= Math.exp(l[j++]);
      const score = l[j] - g[j];
      if (score > bestScore) {
        bestScore = score;
        best = j;
      }
    }
    return domain.choices[best];
  }
  const range = bounds(domain);
  const l = new ParzenEstimator(good.map((v) => toInternal(domain, v as number)), range);
  const g = new ParzenEstimator(bad.map((v) => toInternal(domain, v as number)), range);
  let best = l.sample(rng);
  let bestScore = -Infinity;
  for (let c = 0; c < CANDIDATES; c++) {
    const y = c === 0 ? best : l.sample(rng);
    const score = l.logDensity(y) - g.logDensity(y);
    if (score > bestScore) {
      bestScore = score;
      best = y;
    }
  }
  return fromInternal(domain, best);
}

/**
 * The next assignment to try. `history` holds the finished trials (failed ones left out); `trial` is
 * the number of the trial being proposed (0-based), which seeds its own random stream.
 */
export function propose(sampler: SamplerName, space: SearchSpace, history: readonly FinishedTrial[], seed: number, trial: number): Assignment {
  const rng = trialRandom(seed, trial);
  if (sampler === 'random' || history.length < STARTUP_TRIALS) return randomAssignment(space, rng);
  const ranked = [...history].sort((a, b) => b.value - a.value);
  const nGood = goodCount(ranked.length);
  const good = ranked.slice(0, nGood);
  const bad = ranked.slice(nGood);
  const out: Assignment = {};
  for (const [key, domain] of Object.entries(space)) {
    out[key] = proposeOne(
      domain,
      good.map((t) => t.params[key]).filter((v) => v !== undefined),
      bad.map((t) => t.params[key]).filter((v) => v !== undefined),
      rng,
    );
  }
  return out;
}
