/**
 * k and ks are bounded by what the inputs hold, never sizing an allocation by themselves (k = 1e9 on a
 * 2 x 3 matrix once took the process down in V8, and ks: [1e9] drew the kernel's OOM killer):
 * - a top-k result is numRows x k, so k above the number of columns is refused (ERR_OUT_OF_RANGE) by
 *   the TypeScript checks and by the addon's own (the shared Args::topKWidth);
 * - a metric cut-off K beyond the number of items means "all of them" (precision@K still divides by K),
 *   so any K is accepted and the work is sized by the items;
 * - recommend(users, k) clamps k to the number of items and says so in the result's `k`.
 */
import assert from 'node:assert/strict';

import { rankingMetrics, rankingMetricsFromTopK, rankingMetricsFromTopKSync, rankingMetricsSync, scoreTopK, scoreTopKSync, SemrecError, topK, topKSync } from '../../ts';
import { rankingMetricsFromTopKReference, rankingMetricsReference } from '../../ts/kernels/reference';
import { addon } from '../../ts/native/addon';
import { createModel } from '../../ts/models/registry';
import { plantedInteractions } from '../helpers/interactions';
import { freshSeed, Random, randomCsr, tiedScores } from '../helpers/random';

const HUGE = 1e9;
const MAX_INT32 = 2 ** 31 - 1;

function outOfRange(pattern: RegExp) {
  return (e: unknown) => e instanceof SemrecError && e.code === 'ERR_OUT_OF_RANGE' && pattern.test(e.message);
}

describe('bounds: k and ks never size an allocation by themselves', () => {
  const raw = () => addon() as unknown as Record<string, (a: object) => unknown>;

  it('topK refuses k above numCols through the API and the raw addon, sync and async', async () => {
    const args = { scores: new Float32Array(6), numRows: 2, numCols: 3, k: HUGE };
    const named = outOfRange(/k is 1000000000, more than the 3 columns/);
    assert.throws(() => topKSync(args), named);
    await assert.rejects(topK(args), named);
    assert.throws(() => raw().topKSync(args), named);
    await assert.rejects(raw().topK(args) as Promise<unknown>, named);
  });

  it('scoreTopK refuses k above the number of items through the API and the raw addon', async () => {
    const args = { users: new Float32Array(4), items: new Float32Array(6), dim: 2, k: 4 };
    const named = outOfRange(/k is 4, more than the 3 columns/);
    assert.throws(() => scoreTopKSync(args), named);
    await assert.rejects(scoreTopK(args), named);
    assert.throws(() => raw().scoreTopKSync(args), named);
    await assert.rejects(raw().scoreTopK(args) as Promise<unknown>, named);
  });

  it('rankingMetrics accepts cut-offs far beyond the items and matches the reference there', async () => {
    const seed = freshSeed();
    const rng = new Random(seed);
    const [users, items] = [7, 9];
    const scores = tiedScores(rng, users * items);
    const truth = randomCsr(rng, users, items, 3);
    const exclude = randomCsr(rng, users, items, 2);
    const ks = [2, items, HUGE, MAX_INT32];
    const want = rankingMetricsReference({ scores, numUsers: users, numItems: items, truth, exclude, ks });
    for (const got of [rankingMetricsSync({ scores, numUsers: users, numItems: items, truth, exclude, ks, device: 'cpu' }), await rankingMetrics({ scores, numUsers: users, numItems: items, truth, exclude, ks, device: 'cpu' })]) {
      // Per-user values are float32: 1e-6 is their precision.
      for (const [key, value] of Object.entries(want.mean)) {
        assert.ok(Math.abs(got.mean[key] - value) < 1e-6, `seed ${seed}: ${key} ${got.mean[key]} vs ${value}`);
      }
    }
    // Beyond the catalogue the lists hold every item: recall and ndcg are those at K = items.
    assert.equal(want.mean[`recall@${HUGE}`], want.mean[`recall@${items}`]);
    assert.ok(want.mean[`precision@${HUGE}`] < 1e-7);
  });

  it('rankingMetrics sizes nothing by numItems when there are no users', () => {
    const empty = { indptr: new Int32Array(1), indices: new Int32Array(0) };
    const r = rankingMetricsSync({ scores: new Float32Array(0), numUsers: 0, numItems: MAX_INT32, truth: empty, ks: [MAX_INT32] });
    assert.equal(r.evaluatedUsers, 0);
    assert.equal(r.mean[`coverage@${MAX_INT32}`], 0);
  });

  it('rankingMetricsFromTopK sizes nothing by numItems: a catalogue of 2^31 - 1 items with short lists', async () => {
    const seed = freshSeed();
    const rng = new Random(seed);
    const users = 5;
    const k = 4;
    // Distinct items per list, spread over the whole id range.
    const indices = Int32Array.from({ length: users * k }, (_, i) => (i % k) * 500_000_000 + rng.int(0, 1000));
    const truth = { indptr: Int32Array.from({ length: users + 1 }, (_, i) => i), indices: Int32Array.from({ length: users }, (_, u) => indices[u * k + 1]) };
    const args = { indices, k, numUsers: users, numItems: MAX_INT32, truth, ks: [1, k] };
    const want = rankingMetricsFromTopKReference(args);
    for (const got of [rankingMetricsFromTopKSync(args), await rankingMetricsFromTopK(args)]) {
      // Per-user values are float32: 1e-6 is their precision.
      for (const [key, value] of Object.entries(want.mean)) assert.ok(Math.abs(got.mean[key] - value) < 1e-6, `seed ${seed}: ${key}`);
    }
  });

  it('recommend(users, k) clamps k to the number of items, and says so in the result', async () => {
    const { train } = plantedInteractions(5, 20, 15, 6, 1);
    const model = createModel('pop');
    await model.fit(train);
    const top = await model.recommend([0, 1], HUGE);
    assert.equal(top.k, 15);
    assert.equal(top.indices.length, 2 * 15);
    const all = await model.recommend([0], 15);
    assert.deepEqual(Array.from(top.indices.subarray(0, 15)), Array.from(all.indices));
  });
});
