/**
 * Confidence intervals and paired tests against published values (R's t.test and wilcox.test on its
 * documented examples) and against brute-force enumeration of the Wilcoxon null distribution.
 */
import assert from 'node:assert/strict';

import { pairedTests, summarize, wilcoxonSignedRank } from '../../ts/eval/statistics';
import { freshSeed, Random } from '../helpers/random';

// Student's sleep data (Cushny & Peebles 1905), R's `sleep`: extra hours of sleep under two drugs.
const drug1 = [0.7, -1.6, -0.2, -1.2, -0.1, 3.4, 3.7, 0.8, 0.0, 2.0];
const drug2 = [1.9, 0.8, 1.1, 0.1, -0.1, 4.4, 5.5, 1.6, 4.6, 3.4];

describe('statistics', () => {
  it('gives the 95% t-interval of a mean (sd / sqrt(n) times t(0.975, n - 1))', () => {
    const s = summarize(drug2);
    assert.ok(Math.abs(s.mean - 2.33) < 1e-12);
    // R: t.test(sleep$extra[11:20]) -> 95 percent confidence interval 0.8976775 3.7623225
    assert.ok(Math.abs(s.ci95[0] - 0.8976775) < 1e-6, String(s.ci95[0]));
    assert.ok(Math.abs(s.ci95[1] - 3.7623225) < 1e-6, String(s.ci95[1]));
  });

  it('ignores NaN (users skipped by a metric) and degrades gracefully below two values', () => {
    assert.equal(summarize([NaN, 1, NaN, 3]).n, 2);
    assert.deepEqual(summarize([5]).ci95, [5, 5]);
    assert.ok(Number.isNaN(summarize([]).mean));
  });

  it("matches R's paired t-test on the sleep data", () => {
    // R: t.test(extra ~ group, data = sleep, paired = TRUE): t = -4.0621, df = 9, p-value = 0.002833
    const t = pairedTests(drug1, drug2);
    assert.equal(t.n, 10);
    assert.ok(Math.abs(t.t - -4.0621) < 1e-4, String(t.t));
    assert.ok(Math.abs(t.tPValue - 0.002833) < 1e-6, String(t.tPValue));
    assert.ok(Math.abs(t.meanDifference - -1.58) < 1e-12);
  });

  it("matches R's Wilcoxon test with ties and a zero difference (normal approximation, continuity correction)", () => {
    // R: wilcox.test(extra ~ group, data = sleep, paired = TRUE): V = 0, p-value = 0.009091
    const t = pairedTests(drug1, drug2);
    assert.equal(t.wilcoxonV, 0);
    assert.equal(t.wilcoxonExact, false);
    assert.ok(Math.abs(t.wilcoxonPValue - 0.009091) < 1e-6, String(t.wilcoxonPValue));
  });

  it("matches R's exact Wilcoxon test on its documented depression example", () => {
    // R's ?wilcox.test (Hollander & Wolfe): x = first visit, y = second visit; V = 40, p-value = 0.03906 (two-sided)
    const x = [1.83, 0.5, 1.62, 2.48, 1.68, 1.88, 1.55, 3.06, 1.3];
    const y = [0.878, 0.647, 0.598, 2.05, 1.06, 1.29, 1.06, 3.14, 1.29];
    const t = pairedTests(x, y);
    assert.equal(t.wilcoxonV, 40);
    assert.equal(t.wilcoxonExact, true);
    assert.ok(Math.abs(t.wilcoxonPValue - 0.0390625) < 1e-9, String(t.wilcoxonPValue));
  });

  it('gives exact Wilcoxon p-values equal to enumerating every sign pattern', function () {
    const seed = freshSeed();
    this.test!.title += ` [seed ${seed}]`;
    const rng = new Random(seed);
    const n = rng.int(4, 12);
    const d = Array.from({ length: n }, (_, i) => (i + 1 + rng.float() * 0.5) * (rng.float() < 0.5 ? -1 : 1));
    const { v, p } = wilcoxonSignedRank(d);
    const ranks = d.map((x) => Math.abs(x)).map((a, _, all) => all.filter((b) => b <= a).length);
    let atMost = 0;
    let atLeast = 0;
    for (let mask = 0; mask < 2 ** n; mask++) {
      let s = 0;
      for (let i = 0; i < n; i++) if (mask & (1 << i)) s += ranks[i];
      if (s <= v) atMost++;
      if (s >= v) atLeast++;
    }
    const expected = Math.min(1, (2 * Math.min(atMost, atLeast)) / 2 ** n);
    assert.ok(Math.abs(p - expected) < 1e-12, `p ${p} vs enumeration ${expected}`);
  });

  it('gives p = 1 for identical samples and tiny p-values without cancellation for large effects', () => {
    assert.equal(pairedTests([1, 2, 3], [1, 2, 3]).tPValue, 1);
    assert.equal(pairedTests([1, 2, 3], [1, 2, 3]).wilcoxonPValue, 1);
    // t ~ 14.9 with 99 degrees of freedom: p ~ 1e-26, which 1 - cdf(|t|) would round to 0.
    const d = Array.from({ length: 100 }, (_, i) => 1.5 + (i % 2 === 0 ? 1 : -1));
    const t = pairedTests(d, new Array(100).fill(0));
    assert.ok(Math.abs(t.t - 1.5 / (Math.sqrt(100 / 99) / 10)) < 1e-9, String(t.t));
    assert.ok(t.tPValue > 1e-30 && t.tPValue < 1e-24, String(t.tPValue));
  });
});
