/**
 * Users' preference vectors: the decayed, signal-weighted mean of the semantic vectors of the items
 * each user interacted with,
 *
 *   p_u = S_u / Z_u,  S_u = sum_j w_j d_j v_{i_j},  Z_u = sum_j w_j d_j
 *
 * with w_j the interaction's signal weight (./signals) and d_j its decay (./decay) relative to the
 * profile's clock (time mode: the user's newest interaction; rank mode: decay by recency rank).
 *
 * Profiles are kept as running decayed sums, so new interactions fold in in O(d) each without touching
 * the history: in time mode an event at t >= T (the clock) rescales S and Z by alpha^((t - T) / unit) and
 * adds its own term; an earlier event adds its term decayed by alpha^((T - t) / unit); in rank mode
 * every new event ages the others by one rank (S <- alpha S + w v). The result equals a profile
 * recomputed from scratch over the whole history (profileFromHistory), up to floating-point rounding.
 * Sums are kept in double precision.
 */
import { SemrecError } from '../errors';
import type { Csr } from '../kernels/types';
import { preferenceSums } from '../kernels/preference';
import { type DecayConfig, decayOverSeconds, type TimeUnit } from './decay';

export type ProfileMode = 'time' | 'rank';

/** One interaction of a history, as the profile sees it. */
export interface ProfileEvent {
  itemIdx: number;
  /** Signal weight (>= 0). */
  weight: number;
  /** Seconds since the epoch; undefined or NaN = no timestamp (time mode: taken as the clock at folding). */
  time?: number;
}

export class PreferenceProfiles {
  /** numUsers x dim decayed weighted sums. */
  readonly sums: Float64Array;
  /** numUsers decayed weight totals Z_u. */
  readonly totals: Float64Array;
  /** numUsers clocks: time of each user's newest interaction (time mode; NaN before the first one). */
  readonly clock: Float64Array;
  /** Interactions folded into each profile (the adaptive update policy reads it). */
  readonly counts: Int32Array;

  constructor(
    readonly numUsers: number,
    readonly dim: number,
    readonly mode: ProfileMode,
    readonly decay: DecayConfig,
  ) {
    this.sums = new Float64Array(numUsers * dim);
    this.totals = new Float64Array(numUsers);
    this.clock = new Float64Array(numUsers).fill(NaN);
    this.counts = new Int32Array(numUsers);
  }

  private get timeUnit(): TimeUnit {
    // Rank-mode profiles never read it; time-mode profiles have a time unit (checked at build).
    return this.decay.unit as TimeUnit;
  }

  /**
   * Profiles of every user from their interaction histories in one native pass. `byUser` lists each
   * user's interactions oldest first (ties in any fixed order); `item`, `weight` and `time` are indexed
   * by interaction. Time mode needs a time unit; interactions without a time count as at the clock.
   */
  static async build(args: {
    numUsers: number;
    dim: number;
    mode: ProfileMode;
    decay: DecayConfig;
    byUser: { indptr: Int32Array; interactions: Int32Array };
    item: Int32Array;
    weight: Float32Array;
    time: Float64Array;
    /** numItems x dim item vectors. */
    vectors: Float32Array;
    numThreads?: number;
  }): Promise<PreferenceProfiles> {
    const { numUsers, dim, mode, decay, byUser } = args;
    if (mode === 'time' && decay.unit === 'rank') {
      throw new SemrecError('PreferenceProfiles.build: time mode needs a time unit, not rank', 'ERR_INVALID_ARG_VALUE');
    }
    const profiles = new PreferenceProfiles(numUsers, dim, mode, decay);
    const nnz = byUser.interactions.length;
    const csr: Csr = { indptr: byUser.indptr, indices: new Int32Array(nnz) };
    const weights = new Float32Array(nnz);
    for (let u = 0; u < numUsers; u++) {
      const from = byUser.indptr[u];
      const to = byUser.indptr[u + 1];
      let clock = NaN;
      if (mode === 'time') {
        for (let k = from; k < to; k++) {
          const t = args.time[byUser.interactions[k]];
          if (Number.isFinite(t) && !(t <= clock)) clock = t;
        }
      }
      for (let k = from; k < to; k++) {
        const e = byUser.interactions[k];
        csr.indices[k] = args.item[e];
        let d: number;
        if (mode === 'time') {
          const t = args.time[e];
          d = Number.isFinite(t) && Number.isFinite(clock) ? decayOverSeconds(decay.alpha, decay.unit as TimeUnit, clock - t) : 1;
        } else {
          d = decay.alpha ** (to - 1 - k);
        }
        weights[k] = args.weight[e] * d;
      }
      profiles.clock[u] = clock;
      profiles.counts[u] = to - from;
    }
    const numItems = args.vectors.length / dim;
    const { sums, totals } = await preferenceSums({ numUsers, numItems, dim, byUser: csr, weights, vectors: args.vectors, numThreads: args.numThreads });
    profiles.sums.set(sums);
    profiles.totals.set(totals);
    return profiles;
  }

  /**
   * Folds events of user u into the profile in O(dim) each (the header's update rule). `vectors` are the
   * item vectors (numItems x dim). Returns the folded events' decayed weight relative to the new clock.
   */
  fold(
    u: number,
    events: readonly ProfileEvent[],
    vectors: Float32Array,
    /**
     * Called per event with the factor the existing sums were scaled by (1 when none) and the weight the
     * event's vector was added with: S <- scale S + weight v. Lets callers keep linear images of the
     * sums (e.g. projected sums W S) in step in O(their width) per event.
     */
    onEvent?: (scale: number, weight: number, itemIdx: number) => void,
  ): number {
    const d = this.dim;
    const base = u * d;
    const S = this.sums;
    let added = 0;
    for (const ev of events) {
      const v = ev.itemIdx * d;
      let w = ev.weight;
      let scale = 1;
      if (this.mode === 'rank') {
        const a = this.decay.alpha;
        for (let t = 0; t < d; t++) S[base + t] = a * S[base + t] + w * vectors[v + t];
        this.totals[u] = a * this.totals[u] + w;
        added = a * added + w;
        scale = a;
      } else {
        const T = this.clock[u];
        const time = ev.time !== undefined && Number.isFinite(ev.time) ? ev.time : T;
        if (Number.isFinite(time) && (Number.isNaN(T) || time > T)) {
          const f = Number.isNaN(T) ? 1 : decayOverSeconds(this.decay.alpha, this.timeUnit, time - T);
          if (f !== 1) {
            for (let t = 0; t < d; t++) S[base + t] *= f;
            this.totals[u] *= f;
            added *= f;
            scale = f;
          }
          this.clock[u] = time;
        } else if (Number.isFinite(time)) {
          w *= decayOverSeconds(this.decay.alpha, this.timeUnit, T - time);
        }
        for (let t = 0; t < d; t++) S[base + t] += w * vectors[v + t];
        this.totals[u] += w;
        added += w;
      }
      onEvent?.(scale, w, ev.itemIdx);
      this.counts[u]++;
    }
    return added;
  }

  /**
   * p_u = S_u / Z_u into out (zeros when the profile is empty or weighs nothing). Computed from the sums
   * rounded to float32, as a saved profile keeps them, so a reloaded model serves identical vectors.
   */
  vectorInto(u: number, out: Float32Array, offset = 0): void {
    const Z = Math.fround(this.totals[u]);
    const base = u * this.dim;
    for (let t = 0; t < this.dim; t++) out[offset + t] = Z > 0 ? Math.fround(this.sums[base + t]) / Z : 0;
  }

  /** Every user's preference vector (numUsers x dim). */
  vectors(): Float32Array {
    const out = new Float32Array(this.numUsers * this.dim);
    for (let u = 0; u < this.numUsers; u++) this.vectorInto(u, out, u * this.dim);
    return out;
  }

  /** Z_u of every user, in float32 (the fused trainer's target exclusion reads it). */
  totalsFloat32(): Float32Array {
    return Float32Array.from(this.totals);
  }

  /** A copy holding only users [0, numUsers) plus `extra` empty profiles (cold users appended). */
  grown(extra: number): PreferenceProfiles {
    const p = new PreferenceProfiles(this.numUsers + extra, this.dim, this.mode, this.decay);
    p.sums.set(this.sums);
    p.totals.set(this.totals);
    p.clock.set(this.clock);
    p.counts.set(this.counts);
    return p;
  }

  /**
   * The arrays a saved model keeps. Sums and totals in float32 (a reloaded profile is exact to ~1e-7
   * relative); clocks as whole seconds after `clockBase` in int32 (float32 would keep a 2020s timestamp
   * only to ~2 minutes), CLOCK_UNSET where a user has no clock.
   */
  state(): { sums: Float32Array; totals: Float32Array; clockBase: number; clockOffsets: Int32Array; counts: Int32Array } {
    let base = Infinity;
    for (const c of this.clock) if (Number.isFinite(c) && c < base) base = c;
    if (!Number.isFinite(base)) base = 0;
    const clockOffsets = Int32Array.from(this.clock, (c) => (Number.isFinite(c) ? Math.round(c - base) : CLOCK_UNSET));
    return { sums: Float32Array.from(this.sums), totals: Float32Array.from(this.totals), clockBase: base, clockOffsets, counts: this.counts.slice() };
  }

  static restore(
    numUsers: number,
    dim: number,
    mode: ProfileMode,
    decay: DecayConfig,
    s: { sums: Float32Array; totals: Float32Array; clockBase: number; clockOffsets: Int32Array; counts: Int32Array },
  ): PreferenceProfiles {
    const p = new PreferenceProfiles(numUsers, dim, mode, decay);
    if (s.sums.length !== numUsers * dim || s.totals.length !== numUsers || s.clockOffsets.length !== numUsers || s.counts.length !== numUsers) {
      throw new SemrecError("load: the saved preference profiles do not match the model's users and dimension", 'ERR_MODEL_CORRUPT');
    }
    p.sums.set(s.sums);
    p.totals.set(s.totals);
    s.clockOffsets.forEach((o, u) => (p.clock[u] = o === CLOCK_UNSET ? NaN : s.clockBase + o));
    p.counts.set(s.counts);
    return p;
  }
}

/** Saved clock offset of a user without a clock. */
export const CLOCK_UNSET = -(2 ** 31);

/**
 * The definition, plainly: the profile of one history recomputed from scratch (sums and total), with the
 * clock at the newest timed event (time mode) or decay by recency rank in history order (rank mode).
 */
export function profileFromHistory(
  history: readonly ProfileEvent[],
  vectors: Float32Array,
  dim: number,
  mode: ProfileMode,
  decay: DecayConfig,
): { sum: Float64Array; total: number; clock: number } {
  const sum = new Float64Array(dim);
  let total = 0;
  let clock = NaN;
  if (mode === 'time') for (const e of history) if (e.time !== undefined && Number.isFinite(e.time) && !(e.time <= clock)) clock = e.time;
  history.forEach((e, k) => {
    let d: number;
    if (mode === 'rank') d = decay.alpha ** (history.length - 1 - k);
    else d = e.time !== undefined && Number.isFinite(e.time) ? decayOverSeconds(decay.alpha, decay.unit as TimeUnit, clock - e.time) : 1;
    const w = e.weight * d;
    for (let t = 0; t < dim; t++) sum[t] += w * vectors[e.itemIdx * dim + t];
    total += w;
  });
  return { sum, total, clock };
}
