import assert from 'node:assert/strict';

import { loadDataset } from '../../ts/data/load';
import { ratioSplit } from '../../ts/data/splits';
import type { InteractionStore } from '../../ts/data/store';
import { DEFAULT_ITEM_MINUTES, simulateTransactions, withSimulatedSignals } from '../../ts/data/synthetic';
import { requireShared, sharedDataset } from '../helpers/shared';

const ML100K = sharedDataset('ml-100k');
const MAL_REVIEWS = sharedDataset('myanimelist/reviews_sample_evolshenanigans');

describe('data: simulated transaction signals', () => {
  let store: InteractionStore;
  before(async function () {
    requireShared(this as unknown as Mocha.Context, `${ML100K}/u.data`);
    store = await loadDataset({ format: 'ml-100k', path: ML100K });
  });

  it('are marked simulated, with the model and seed, in the signals and in stats()', () => {
    const s = withSimulatedSignals(store, { seed: 5 });
    assert.equal(s.signals!.simulated, true);
    assert.equal(s.signals!.seed, 5);
    assert.match(s.signals!.model, /^simulated \(seed 5, ratings 1\.\.5/);
    const st = s.stats().signals!;
    assert.equal(st.simulated, true);
    assert.match(st.model, /^simulated/);
  });

  it('are the same for the same seed and differ for another', () => {
    const a = simulateTransactions(store, { seed: 1 });
    const b = simulateTransactions(store, { seed: 1 });
    const c = simulateTransactions(store, { seed: 2 });
    assert.deepEqual(a.completion, b.completion);
    assert.deepEqual(a.purchased, b.purchased);
    assert.notDeepEqual(a.completion, c.completion);
  });

  it('stay in range: completion in [0, 1], at least one view, first view no later than the rating', () => {
    const s = simulateTransactions(store);
    for (let k = 0; k < store.numInteractions; k++) {
      assert.ok(s.completion[k] >= 0 && s.completion[k] <= 1);
      assert.ok(s.viewCount[k] >= 1);
      assert.ok(s.firstViewTime[k] <= store.timestamp[k]);
      assert.ok(s.viewDurationSec[k] > 0 && s.viewDurationSec[k] <= DEFAULT_ITEM_MINUTES * 60 * s.viewCount[k] + 1e-3);
      assert.ok(s.purchased[k] === 0 || s.purchased[k] === 1);
    }
  });

  it('follow the ratings: mean completion, views and purchase rate rise with every star', () => {
    const s = simulateTransactions(store);
    const sums = Array.from({ length: 6 }, () => ({ n: 0, completion: 0, views: 0, purchases: 0 }));
    for (let k = 0; k < store.numInteractions; k++) {
      const g = sums[store.rating[k]];
      g.n++;
      g.completion += s.completion[k];
      g.views += s.viewCount[k];
      g.purchases += s.purchased[k];
    }
    // Over 6,000-34,000 interactions per star the means are far apart compared with their noise.
    for (let r = 2; r <= 5; r++) {
      const [lo, hi] = [sums[r - 1], sums[r]];
      assert.ok(hi.completion / hi.n > lo.completion / lo.n, `completion ${r - 1} -> ${r}`);
      assert.ok(hi.views / hi.n > lo.views / lo.n, `views ${r - 1} -> ${r}`);
      assert.ok(hi.purchases / hi.n > lo.purchases / lo.n, `purchases ${r - 1} -> ${r}`);
    }
  });

  it('travel with their interactions into splits, and re-simulating a split gives the same values', () => {
    const full = withSimulatedSignals(store, { seed: 9 });
    const { test } = ratioSplit(full, { ratios: [0.8, 0.2], seed: 4 });
    const again = simulateTransactions(test, { seed: 9, ratingScale: [1, 5] });
    assert.equal(test.signals!.simulated, true);
    assert.deepEqual(again.completion, test.signals!.completion);
    assert.deepEqual(again.viewCount, test.signals!.viewCount);
  });

  it('use episode counts and durations from item metadata for view durations', async function () {
    requireShared(this, `${MAL_REVIEWS}/anime_data.csv`);
    const mal = await loadDataset({ format: 'myanimelist', path: MAL_REVIEWS });
    const s = simulateTransactions(mal);
    const aot = mal.itemIds.index('16498')!;
    const lengthMin = 25 * 24; // anime_data.csv: 25 episodes, "24 min per ep"
    let single = 0;
    for (let k = 0; k < mal.numInteractions; k++) {
      if (mal.itemIdx[k] !== aot) continue;
      const watchedMin = s.viewDurationSec[k] / 60;
      if (s.viewCount[k] === 1) {
        single++;
        assert.ok(Math.abs(watchedMin - s.completion[k] * lengthMin) < 1e-2); // float32 seconds
      } else {
        assert.ok(watchedMin > s.completion[k] * lengthMin);
      }
    }
    assert.ok(single > 0);
  });
});
