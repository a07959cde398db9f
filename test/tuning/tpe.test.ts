/**
 * Search spaces and samplers: spaces validated against the model's schema, samples inside their
 * domains, Parzen densities that are densities, proposals that depend only on (seed, trial, history),
 * and TPE finding better points than random search on objectives with a known optimum.
 */
import assert from 'node:assert/strict';

import { checkSpace, derivedSpace, type Assignment, type SearchSpace } from '../../ts/tuning/space';
import {
  categoricalLogProbabilities,
  goodCount,
  ParzenEstimator,
  propose,
  randomAssignment,
  STARTUP_TRIALS,
  type FinishedTrial,
  type SamplerName,
} from '../../ts/tuning/tpe';
import { Random } from '../helpers/random';

const SPACE: SearchSpace = {
  lr: { type: 'float', low: 1e-4, high: 1, log: true },
  reg: { type: 'float', low: 0, high: 1 },
  dim: { type: 'int', low: 8, high: 256, log: true },
  itemBias: { type: 'categorical', choices: [true, false] },
};

describe('tuning/space', () => {
  it('derives log-scale ranges around the defaults of bpr, inside its schema, leaving epochs alone', () => {
    const space = derivedSpace('bpr');
    assert.deepEqual(space.lr, { type: 'float', low: 0.002, high: 0.2, log: true });
    assert.deepEqual(space.dim, { type: 'int', low: 32, high: 128, log: true });
    assert.deepEqual(space.itemBias, { type: 'categorical', choices: [true, false] });
    assert.equal(space.epochs, undefined);
    assert.doesNotThrow(() => checkSpace('bpr', space, 'derived'));
  });

  it('derives enums as choices (lightfm loss)', () => {
    assert.deepEqual(derivedSpace('lightfm').loss, { type: 'categorical', choices: ['warp', 'bpr'] });
  });

  it('refuses a hyperparameter the model does not have, naming it and the known ones', () => {
    assert.throws(() => checkSpace('bpr', { learningRate: { type: 'float', low: 0.1, high: 1 } }, 'space.json'), (e: Error & { code?: string }) => {
      assert.equal(e.code, 'ERR_INVALID_ARG_VALUE');
      assert.match(e.message, /space\.json: 'learningRate' is not a hyperparameter of bpr \(known: dim, epochs, lr/);
      return true;
    });
  });

  it('refuses empty or inverted ranges, log ranges through zero and malformed domains', () => {
    assert.throws(() => checkSpace('bpr', { lr: { type: 'float', low: 0.1, high: 0.1 } }, 's'), /'lr': low \(0\.1\) must be below high/);
    assert.throws(() => checkSpace('bpr', { reg: { type: 'float', low: 0, high: 1, log: true } }, 's'), /'reg': a log-scale range needs low > 0/);
    assert.throws(() => checkSpace('bpr', { dim: { type: 'int', low: 8.5, high: 64 } }, 's'), /'dim': low/);
    assert.throws(() => checkSpace('bpr', { lr: { type: 'uniform', low: 0, high: 1 } }, 's'), /'lr':.*a domain is/);
    assert.throws(() => checkSpace('bpr', {}, 's'), /the search space is empty/);
  });

  it('refuses bounds and choices the model schema rejects, naming the bound', () => {
    assert.throws(() => checkSpace('bpr', { dim: { type: 'int', low: 0, high: 64 } }, 's'), /'dim'\.low: .*invalid hyperparameters/);
    assert.throws(() => checkSpace('lightfm', { loss: { type: 'categorical', choices: ['warp', 'hinge'] } }, 's'), /'loss'\.choices\[1\]/);
  });
});

describe('tuning/tpe samplers', () => {
  it('draws every value inside its domain: integers whole, choices from the list, log ranges log-uniform', () => {
    const rng = new Random(1);
    const lrs: number[] = [];
    for (let n = 0; n < 4000; n++) {
      const a = randomAssignment(SPACE, rng);
      assert.ok((a.lr as number) >= 1e-4 && (a.lr as number) <= 1);
      assert.ok((a.reg as number) >= 0 && (a.reg as number) <= 1);
      assert.ok(Number.isInteger(a.dim) && (a.dim as number) >= 8 && (a.dim as number) <= 256);
      assert.ok(a.itemBias === true || a.itemBias === false);
      lrs.push(a.lr as number);
    }
    // Log-uniform over [1e-4, 1]: a quarter of the mass in each decade; the median is near 1e-2.
    lrs.sort((x, y) => x - y);
    const median = lrs[lrs.length / 2];
    assert.ok(median > 10 ** -2.15 && median < 10 ** -1.85, `median ${median}`);
  });

  it('gives both integer end values as often as inner ones', () => {
    const rng = new Random(2);
    const counts = new Map<number, number>();
    for (let n = 0; n < 6000; n++) {
      const v = randomAssignment({ k: { type: 'int', low: 1, high: 3 } }, rng).k as number;
      counts.set(v, (counts.get(v) ?? 0) + 1);
    }
    // 2000 expected each; 5 standard deviations is about 180.
    for (const v of [1, 2, 3]) assert.ok(Math.abs(counts.get(v)! - 2000) < 180, `${v}: ${counts.get(v)}`);
  });

  it('a Parzen estimator is a density on its range (integrates to 1 despite truncation)', () => {
    const est = new ParzenEstimator([0.05, 0.1, 0.9, 0.95], { lo: 0, hi: 1 });
    const steps = 20000;
    let integral = 0;
    for (let s = 0; s < steps; s++) integral += Math.exp(est.logDensity((s + 0.5) / steps)) / steps;
    // Midpoint rule error on these smooth bumps is far below 1e-3.
    assert.ok(Math.abs(integral - 1) < 1e-3, `integral ${integral}`);
  });

  it('a Parzen estimator puts its mass near the observations', () => {
    // 20 observations in [0.2, 0.24): bandwidths shrink to the gaps between them (the outermost ones
    // reach to the range's edge and to the prior at 0.5, as in hyperopt's adaptive Parzen windows).
    const est = new ParzenEstimator(Array.from({ length: 20 }, (_, n) => 0.2 + n * 0.002), { lo: 0, hi: 1 });
    const rng = new Random(3);
    let near = 0;
    for (let n = 0; n < 2000; n++) if (Math.abs(est.sample(rng) - 0.22) < 0.1) near++;
    assert.ok(near > 1500, `near ${near}`);
    assert.ok(est.logDensity(0.22) > est.logDensity(0.8) + 2);
  });

  it('categorical probabilities are counts smoothed by the prior', () => {
    const p = categoricalLogProbabilities(['a', 'b'], ['a', 'a', 'a']).map(Math.exp);
    assert.ok(Math.abs(p[0] - 3.5 / 4) < 1e-12 && Math.abs(p[1] - 0.5 / 4) < 1e-12);
  });

  it("the good group is Optuna's min(ceil(0.1 n), 25)", () => {
    assert.deepEqual([1, 10, 11, 100, 250, 1000].map(goodCount), [1, 1, 2, 10, 25, 25]);
  });

  it('proposes the same assignment for the same seed, trial and history (what makes resuming exact)', () => {
    const history: FinishedTrial[] = Array.from({ length: 15 }, (_, n) => ({ params: randomAssignment(SPACE, new Random(n)), value: n % 7 }));
    assert.deepEqual(propose('tpe', SPACE, history, 5, 15), propose('tpe', SPACE, history, 5, 15));
    assert.notDeepEqual(propose('tpe', SPACE, history, 5, 15), propose('tpe', SPACE, history, 5, 16));
  });

  it('draws at random until STARTUP_TRIALS trials have finished', () => {
    const history: FinishedTrial[] = Array.from({ length: STARTUP_TRIALS - 1 }, () => ({ params: { lr: 0.5, reg: 0.5, dim: 16, itemBias: true }, value: 1 }));
    assert.deepEqual(propose('tpe', SPACE, history, 1, 9), propose('random', SPACE, [], 1, 9));
  });

  /** Best value found by `trials` proposals of `sampler` on `objective`. */
  function search(sampler: SamplerName, space: SearchSpace, objective: (a: Assignment) => number, seed: number, trials: number): number {
    const history: FinishedTrial[] = [];
    for (let n = 0; n < trials; n++) {
      const params = propose(sampler, space, history, seed, n);
      history.push({ params, value: objective(params) });
    }
    return Math.max(...history.map((h) => h.value));
  }

  function median(values: number[]): number {
    const s = [...values].sort((a, b) => a - b);
    return s[Math.floor(s.length / 2)];
  }

  it('TPE beats random search at equal budget on a narrow optimum in log space (median over 25 searches)', () => {
    // A learning-rate-like bowl: best at lr = 10^-2.5, reg = 0.3, dim = 64, itemBias = false.
    const objective = (a: Assignment) =>
      -((Math.log10(a.lr as number) + 2.5) ** 2) - 4 * ((a.reg as number) - 0.3) ** 2 - Math.log2((a.dim as number) / 64) ** 2 / 4 - (a.itemBias ? 0.2 : 0);
    const seeds = Array.from({ length: 25 }, (_, s) => 100 + s);
    const tpe = median(seeds.map((s) => search('tpe', SPACE, objective, s, 40)));
    const random = median(seeds.map((s) => search('random', SPACE, objective, s, 40)));
    assert.ok(tpe > random, `TPE median best ${tpe.toFixed(4)} vs random ${random.toFixed(4)}`);
  });

  it('TPE picks the better choice of a categorical more often than not', () => {
    const space: SearchSpace = { x: { type: 'float', low: 0, high: 1 }, loss: { type: 'categorical', choices: ['a', 'b', 'c'] } };
    const objective = (a: Assignment) => (a.loss === 'b' ? 1 : 0) - Math.abs((a.x as number) - 0.5);
    const history: FinishedTrial[] = [];
    for (let n = 0; n < 40; n++) {
      const params = propose('tpe', space, history, 9, n);
      history.push({ params, value: objective(params) });
    }
    const after = history.slice(STARTUP_TRIALS).filter((h) => h.params.loss === 'b').length;
    assert.ok(after > (40 - STARTUP_TRIALS) / 2, `${after} of ${40 - STARTUP_TRIALS} model-based proposals chose 'b'`);
  });
});
