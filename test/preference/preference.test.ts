/**
 * The preference module: signal weights and their renormalisation, time decay, profiles built natively
 * against the definition, live folding against a recomputation from scratch, and the adaptive update
 * policy.
 */
import assert from 'node:assert/strict';

import { preferenceSums, preferenceSumsReference } from '../../ts/kernels/preference';
import { DECAY_UNIT_SECONDS, decayOverSeconds, PAPER_DECAY_ALPHA } from '../../ts/preference/decay';
import { ADAPTIVE_MAX_PENDING, ADAPTIVE_REFRESH_SHARE, RefreshPolicy } from '../../ts/preference/policy';
import { PreferenceProfiles, profileFromHistory, type ProfileEvent } from '../../ts/preference/profiles';
import {
  interactionWeights,
  NO_SIGNAL_WEIGHT,
  PAPER_SIGNAL_WEIGHTS,
  ratingScaleOf,
  ratingSignal,
  signalColumns,
  signalWeight,
  viewingSignal,
} from '../../ts/preference/signals';
import { csrFromLists } from '../../ts/util/csr';
import { assertAllClose, assertCode, gaussianArray } from '../helpers/assert';
import { freshSeed, Random } from '../helpers/random';

describe('preference signals', () => {
  it('weighs the four signals 0.4 / 0.3 / 0.2 / 0.1 (the paper) when all are present', () => {
    const w = signalWeight({ rating: 1, sentiment: 0.5, viewing: 0, completion: 1 }, PAPER_SIGNAL_WEIGHTS);
    assert.ok(Math.abs(w - (0.4 * 1 + 0.3 * 0.5 + 0.2 * 0 + 0.1 * 1)) < 1e-12);
  });

  it('drops a missing signal and renormalises the others', () => {
    // Without sentiment: (0.4 r + 0.2 v + 0.1 c) / 0.7.
    const w = signalWeight({ rating: 0.5, viewing: 1, completion: 0 }, PAPER_SIGNAL_WEIGHTS);
    assert.ok(Math.abs(w - (0.4 * 0.5 + 0.2) / 0.7) < 1e-12);
    // NaN in a column means the interaction lacks it, the same as absent.
    assert.equal(signalWeight({ rating: 0.5, sentiment: NaN }, PAPER_SIGNAL_WEIGHTS), 0.5);
    // One signal alone is its own value, whatever its weight.
    assert.equal(signalWeight({ completion: 0.25 }, PAPER_SIGNAL_WEIGHTS), 0.25);
  });

  it('counts an interaction with no signal at all fully (implicit feedback)', () => {
    assert.equal(signalWeight({}, PAPER_SIGNAL_WEIGHTS), NO_SIGNAL_WEIGHT);
  });

  it("maps ratings by the dataset's scale and view counts by a saturating log", () => {
    assert.deepEqual([1, 3, 5].map((r) => ratingSignal(r, [1, 5])), [0, 0.5, 1]);
    assert.deepEqual([0.5, 5].map((r) => ratingSignal(r, [0.5, 5])), [0, 1]);
    assert.ok(Number.isNaN(ratingSignal(NaN, [1, 5])));
    assert.deepEqual(ratingScaleOf(Float32Array.from([NaN, 4, 2, NaN])), [2, 4]);
    assert.equal(ratingScaleOf(Float32Array.from([NaN])), undefined);
    assert.equal(viewingSignal(0), 0);
    assert.ok(viewingSignal(1) > 0.3 && viewingSignal(1) < viewingSignal(2));
    assert.equal(viewingSignal(50), 1);
  });

  it('builds signal columns from ratings, sentiment and transaction signals, saying when those are simulated', () => {
    const data = {
      numInteractions: 3,
      rating: Float32Array.from([5, NaN, 1]),
      signals: {
        simulated: true,
        model: 'test model',
        viewCount: Int32Array.from([1, 3, 1]),
        firstViewTime: new Float64Array(3),
        viewDurationSec: new Float32Array(3),
        completion: Float32Array.from([1, 0.5, 0.1]),
        purchased: new Uint8Array(3),
      },
    };
    const s = signalColumns(data, { ratingScale: [1, 5], sentiment: Float32Array.from([0.9, NaN, 0.2]) });
    assert.deepEqual(s.available, ['rating', 'sentiment', 'viewing', 'completion']);
    assert.equal(s.simulated, true);
    assert.match(s.description, /SIMULATED/);
    const w = interactionWeights(s.columns, 3, PAPER_SIGNAL_WEIGHTS);
    // Interaction 1 has no rating and no sentiment: viewing and completion renormalised over 0.3.
    assert.ok(Math.abs(w[1] - (0.2 * viewingSignal(3) + 0.1 * 0.5) / 0.3) < 1e-6);
    const none = signalColumns({ numInteractions: 2, rating: Float32Array.from([NaN, NaN]) }, {});
    assert.deepEqual(none.available, []);
    assert.deepEqual(Array.from(interactionWeights(none.columns, 2, PAPER_SIGNAL_WEIGHTS)), [1, 1]);
  });
});

describe('time decay', () => {
  it('weighs an interaction one unit older by alpha = 0.95 (the paper)', () => {
    assert.equal(PAPER_DECAY_ALPHA, 0.95);
    assert.ok(Math.abs(decayOverSeconds(0.95, 'day', DECAY_UNIT_SECONDS.day) - 0.95) < 1e-15);
    assert.ok(Math.abs(decayOverSeconds(0.95, 'week', 3 * DECAY_UNIT_SECONDS.week) - 0.95 ** 3) < 1e-15);
    assert.equal(decayOverSeconds(0.95, 'hour', -10), 1, 'a newer interaction is not boosted');
  });
});

describe('preference profiles', () => {
  const seed = freshSeed();
  const rng = new Random(seed);
  const ctx = `(seed ${seed})`;
  const dim = 6;
  const numItems = 30;
  const vectors = gaussianArray(rng, numItems * dim, 1);

  function history(n: number, timed: boolean): ProfileEvent[] {
    let t = 1_000_000;
    return Array.from({ length: n }, () => {
      t += rng.int(0, 5) * 3600 * 7;
      return { itemIdx: rng.int(0, numItems - 1), weight: rng.float(), time: timed ? t : undefined };
    });
  }

  it('preferenceSums (native) equals its definition', async () => {
    const rows = Array.from({ length: 9 }, () => Array.from({ length: rng.int(0, 6) }, () => rng.int(0, numItems - 1)));
    const byUser = csrFromLists(rows);
    const weights = Float32Array.from(byUser.indices, () => rng.float());
    const args = { numUsers: 9, numItems, dim, byUser, weights, vectors };
    const native = await preferenceSums(args);
    const ref = preferenceSumsReference(args);
    assertAllClose(native.sums, ref.sums, `sums ${ctx}`, 1e-6);
    assertAllClose(native.totals, ref.totals, `totals ${ctx}`, 1e-6);
    await assertCode(() => preferenceSums({ ...args, weights: Float32Array.from(weights, () => -1) }), 'ERR_OUT_OF_RANGE', /weights\[0\]/);
  });

  for (const mode of ['time', 'rank'] as const) {
    it(`build gives each user the decayed, signal-weighted mean of their items (${mode} mode)`, async () => {
      const decay = { alpha: 0.9, unit: mode === 'time' ? ('day' as const) : ('rank' as const) };
      const histories = [history(5, mode === 'time'), history(0, mode === 'time'), history(8, mode === 'time')];
      const events = histories.flat();
      const indptr = Int32Array.from([0, 5, 5, 13]);
      const profiles = await PreferenceProfiles.build({
        numUsers: 3,
        dim,
        mode,
        decay,
        byUser: { indptr, interactions: Int32Array.from(events.keys()) },
        item: Int32Array.from(events, (e) => e.itemIdx),
        weight: Float32Array.from(events, (e) => e.weight),
        time: Float64Array.from(events, (e) => e.time ?? NaN),
        vectors,
      });
      histories.forEach((h, u) => {
        const ref = profileFromHistory(h, vectors, dim, mode, decay);
        assertAllClose(profiles.sums.subarray(u * dim, (u + 1) * dim), ref.sum, `user ${u} sums ${ctx}`, 1e-5);
        assertAllClose([profiles.totals[u]], [ref.total], `user ${u} total ${ctx}`, 1e-5);
      });
      const p = new Float32Array(dim);
      profiles.vectorInto(1, p);
      assert.deepEqual(Array.from(p), new Array(dim).fill(0), 'an empty history gives a zero vector');
    });

    it(`folding events one by one equals recomputing the profile from scratch (${mode} mode)`, () => {
      // Double-precision sums: after 200 folds the two agree to ~1e-13 relative; 1e-9 leaves room for
      // unlucky cancellation without hiding a wrong rescaling (which is off by the decay itself, >= 1e-3).
      const decay = { alpha: PAPER_DECAY_ALPHA, unit: mode === 'time' ? ('hour' as const) : ('rank' as const) };
      const all = history(200, mode === 'time');
      // Some events arrive late (older than the clock) in time mode.
      if (mode === 'time') for (let k = 20; k < 200; k += 17) all[k].time! -= 3600 * 30;
      const profiles = new PreferenceProfiles(1, dim, mode, decay);
      const start = all.slice(0, 50);
      const ref0 = profileFromHistory(start, vectors, dim, mode, decay);
      profiles.sums.set(ref0.sum);
      profiles.totals[0] = ref0.total;
      profiles.clock[0] = ref0.clock;
      for (const e of all.slice(50)) profiles.fold(0, [e], vectors);
      const ref = profileFromHistory(all, vectors, dim, mode, decay);
      assertAllClose(profiles.sums, ref.sum, `sums ${ctx}`, 1e-9);
      assert.ok(Math.abs(profiles.totals[0] - ref.total) <= 1e-9 * ref.total, `total ${profiles.totals[0]} vs ${ref.total} ${ctx}`);
      if (mode === 'time') assert.equal(profiles.clock[0], ref.clock);
    });
  }

  it('a saved profile restores to the same vectors', () => {
    const profiles = new PreferenceProfiles(2, dim, 'time', { alpha: 0.95, unit: 'day' });
    profiles.fold(1, history(7, true), vectors);
    const restored = PreferenceProfiles.restore(2, dim, 'time', { alpha: 0.95, unit: 'day' }, profiles.state());
    assert.deepEqual(restored.vectors(), profiles.vectors());
    assert.deepEqual(Array.from(restored.clock), Array.from(profiles.clock));
  });
});

describe('adaptive update policy', () => {
  it("refreshes a light user's served vector on every event", () => {
    const policy = new RefreshPolicy('adaptive');
    // A history of 5 interactions: one more event carries ~1/6 of the weight, far above the share.
    assert.equal(policy.shouldRefresh(7, 1, 1, 6), true);
    assert.equal(policy.pending(7), 0);
  });

  it("defers a heavy user's refresh until the pending events carry the share of the profile's weight", () => {
    const policy = new RefreshPolicy('adaptive');
    const total = 400; // a profile weighing 400 (e.g. 400 interactions of weight 1)
    const needed = Math.ceil(ADAPTIVE_REFRESH_SHARE * total);
    for (let k = 1; k < needed; k++) {
      assert.equal(policy.shouldRefresh(3, 1, 1, total), false, `event ${k}`);
      assert.equal(policy.pending(3), k);
    }
    assert.equal(policy.shouldRefresh(3, 1, 1, total), true);
    assert.equal(policy.pending(3), 0);
  });

  it('refreshes after ADAPTIVE_MAX_PENDING events whatever their weight', () => {
    const policy = new RefreshPolicy('adaptive');
    for (let k = 1; k < ADAPTIVE_MAX_PENDING; k++) assert.equal(policy.shouldRefresh(1, 1, 1e-9, 1e6), false);
    assert.equal(policy.shouldRefresh(1, 1, 1e-9, 1e6), true);
  });

  it("'immediate' refreshes on every update", () => {
    const policy = new RefreshPolicy('immediate');
    assert.equal(policy.shouldRefresh(0, 1, 1e-9, 1e6), true);
  });
});
