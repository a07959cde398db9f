/**
 * The statistics reports print: means with 95% confidence intervals (Student's t), and paired tests of
 * one model against a reference on the same users (paired t-test; Wilcoxon signed-rank test, exact for
 * small samples without ties, else the normal approximation with tie and continuity corrections, as R's
 * wilcox.test does). Distribution functions come from jStat.
 */
import jStat from 'jstat';

/** Confidence level of every interval semrec reports. */
export const CONFIDENCE = 0.95;
/** Largest sample for which the Wilcoxon p-value is exact (R's wilcox.test uses 50). */
export const WILCOXON_EXACT_MAX_N = 50;

export interface Summary {
  n: number;
  mean: number;
  /** Sample standard deviation (n - 1 denominator); NaN below two values. */
  std: number;
  /** 95% t-interval of the mean; [mean, mean] below two values. */
  ci95: [number, number];
}

/** Values that are not NaN. */
export function defined(values: ArrayLike<number>): number[] {
  const out: number[] = [];
  for (let i = 0; i < values.length; i++) if (!Number.isNaN(values[i])) out.push(values[i]);
  return out;
}

export function summarize(values: ArrayLike<number>): Summary {
  const xs = defined(values);
  const n = xs.length;
  if (n === 0) return { n, mean: NaN, std: NaN, ci95: [NaN, NaN] };
  const mean = xs.reduce((s, x) => s + x, 0) / n;
  if (n < 2) return { n, mean, std: NaN, ci95: [mean, mean] };
  const variance = xs.reduce((s, x) => s + (x - mean) ** 2, 0) / (n - 1);
  const std = Math.sqrt(variance);
  const half = jStat.studentt.inv(1 - (1 - CONFIDENCE) / 2, n - 1) * (std / Math.sqrt(n));
  return { n, mean, std, ci95: [mean - half, mean + half] };
}

export interface PairedTest {
  /** Pairs used (both values defined). */
  n: number;
  /** Mean of (x - y). */
  meanDifference: number;
  t: number;
  /** Two-sided p-value of the paired t-test. */
  tPValue: number;
  /** Wilcoxon's V: the sum of the ranks of the positive differences (zeros dropped). */
  wilcoxonV: number;
  /** Two-sided p-value of the Wilcoxon signed-rank test. */
  wilcoxonPValue: number;
  /** Whether wilcoxonPValue is exact (small sample, no ties, no zeros) or the normal approximation. */
  wilcoxonExact: boolean;
}

/** Paired tests of x against y (x[i] and y[i] belong to the same user); pairs with a NaN are skipped. */
export function pairedTests(x: ArrayLike<number>, y: ArrayLike<number>): PairedTest {
  const d: number[] = [];
  for (let i = 0; i < x.length; i++) if (!Number.isNaN(x[i]) && !Number.isNaN(y[i])) d.push(x[i] - y[i]);
  const t = pairedT(d);
  const w = wilcoxonSignedRank(d);
  return { n: d.length, meanDifference: t.mean, t: t.t, tPValue: t.p, wilcoxonV: w.v, wilcoxonPValue: w.p, wilcoxonExact: w.exact };
}

function pairedT(d: number[]): { mean: number; t: number; p: number } {
  const n = d.length;
  if (n === 0) return { mean: NaN, t: NaN, p: NaN };
  const mean = d.reduce((s, x) => s + x, 0) / n;
  if (n < 2) return { mean, t: NaN, p: NaN };
  const sd = Math.sqrt(d.reduce((s, x) => s + (x - mean) ** 2, 0) / (n - 1));
  if (sd === 0) return { mean, t: mean === 0 ? 0 : Math.sign(mean) * Infinity, p: mean === 0 ? 1 : 0 };
  const t = mean / (sd / Math.sqrt(n));
  // 2 P(T <= -|t|) rather than 2 (1 - P(T <= |t|)): no cancellation for tiny p-values.
  return { mean, t, p: Math.min(1, 2 * jStat.studentt.cdf(-Math.abs(t), n - 1)) };
}

/** Wilcoxon signed-rank test of differences d against 0 (two-sided). */
export function wilcoxonSignedRank(differences: number[]): { v: number; p: number; exact: boolean } {
  const hadZeros = differences.some((x) => x === 0);
  const d = differences.filter((x) => x !== 0);
  const n = d.length;
  if (n === 0) return { v: 0, p: 1, exact: false };
  // Average ranks of |d|, ties sharing the mean of their positions.
  const order = d.map((x, i) => ({ a: Math.abs(x), i })).sort((p, q) => p.a - q.a);
  const ranks = new Array<number>(n);
  let tieCorrection = 0;
  let hasTies = false;
  for (let start = 0; start < n; ) {
    let end = start;
    while (end + 1 < n && order[end + 1].a === order[start].a) end++;
    const rank = (start + end + 2) / 2;
    for (let k = start; k <= end; k++) ranks[order[k].i] = rank;
    const t = end - start + 1;
    if (t > 1) {
      hasTies = true;
      tieCorrection += t ** 3 - t;
    }
    start = end + 1;
  }
  let v = 0;
  for (let i = 0; i < n; i++) if (d[i] > 0) v += ranks[i];
  if (n <= WILCOXON_EXACT_MAX_N && !hasTies && !hadZeros) return { v, p: exactSignedRankP(v, n), exact: true };
  const mean = (n * (n + 1)) / 4;
  const variance = (n * (n + 1) * (2 * n + 1)) / 24 - tieCorrection / 48;
  if (variance <= 0) return { v, p: 1, exact: false };
  const deviation = v - mean;
  const z = (deviation - Math.sign(deviation) * 0.5) / Math.sqrt(variance);
  return { v, p: Math.min(1, 2 * jStat.normal.cdf(-Math.abs(z), 0, 1)), exact: false };
}

/** Two-sided exact p-value of V = v under H0 (each of ranks 1..n positive with probability 1/2). */
function exactSignedRankP(v: number, n: number): number {
  const max = (n * (n + 1)) / 2;
  // counts[s]: number of subsets of {1..n} whose ranks sum to s.
  let counts = new Float64Array(max + 1);
  counts[0] = 1;
  for (let r = 1; r <= n; r++) {
    const next = counts.slice();
    for (let s = r; s <= max; s++) next[s] += counts[s - r];
    counts = next;
  }
  const total = 2 ** n;
  let lower = 0;
  let upper = 0;
  for (let s = 0; s <= max; s++) {
    if (s <= v) lower += counts[s];
    if (s >= v) upper += counts[s];
  }
  return Math.min(1, (2 * Math.min(lower, upper)) / total);
}
