/**
 * The cold-items protocol: the split holds out a seeded share of the items with all their interactions,
 * and the harness ranks each user's held-out interactions among the held-out items only.
 */
import assert from 'node:assert/strict';

import { COLD_ITEM_SHARE, coldItemSplit } from '../../ts/data/splits';
import { runExperiment } from '../../ts/eval/harness';
import { renderMarkdown } from '../../ts/eval/report';
import { plantedStore } from '../helpers/interactions';

const store = plantedStore(8, 80, 60, 15);

describe('cold-items protocol', () => {
  it('holds out a seeded 20% of the items with all their interactions; the rest is train and validation', () => {
    const split = coldItemSplit(store, { seed: 5 });
    const cold = new Set(split.candidates);
    const active = new Set(store.itemIdx);
    assert.equal(cold.size, Math.round(COLD_ITEM_SHARE * active.size));
    assert.deepEqual(Array.from(split.candidates!), [...cold].sort((a, b) => a - b), 'candidates ascending');
    for (const i of split.test.itemIdx) assert.ok(cold.has(i), 'the test part holds only cold items');
    for (const part of [split.train, split.validation!]) for (const i of part.itemIdx) assert.ok(!cold.has(i), 'no cold item is trained or validated on');
    assert.equal(split.train.numInteractions + split.validation!.numInteractions + split.test.numInteractions, store.numInteractions);
    let coldInteractions = 0;
    for (const i of store.itemIdx) if (cold.has(i)) coldInteractions++;
    assert.equal(split.test.numInteractions, coldInteractions, 'every interaction of a cold item is held out');
    assert.deepEqual(coldItemSplit(store, { seed: 5 }).candidates, split.candidates, 'seeded');
    assert.notDeepEqual(coldItemSplit(store, { seed: 6 }).candidates, split.candidates);
    assert.match(split.protocol.summary, /ranked among the held-out items only/);
  });

  it('ranks among the held-out items only: every list comes from them, so even models blind to them find many', async () => {
    const report = await runExperiment({ store, models: ['pop', 'bpr'], protocol: 'cold-items', seeds: [5], params: { bpr: { epochs: 3, dim: 8 } } });
    assert.equal(report.protocol.name, 'cold-items');
    assert.match(report.protocol.excluded, /only the held-out \(cold\) items ranked/);
    // 12 cold items of 60: every model's top-10 lists come from those 12, so recall@10 is large even for
    // models that know nothing of them (pop ranks them all alike, by index).
    for (const name of ['pop', 'bpr']) {
      const coverage = report.models[name].metrics['aggregateDiversity@10'];
      assert.ok(coverage <= 12, `${name} recommended ${coverage} distinct items, more than the 12 cold ones`);
      assert.ok(report.models[name].metrics['recall@10'] > 0.5, `${name} recall@10 ${report.models[name].metrics['recall@10']}`);
    }
    assert.match(renderMarkdown(report), /cold-items, full ranking/);
  });
});
