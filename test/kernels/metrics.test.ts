import assert from 'node:assert/strict';

import { rankingMetrics, rankingMetricsFromTopK, rankingMetricsFromTopKSync, rankingMetricsSync, topKSync } from '../../ts';
import { rankingMetricsFromTopKReference, rankingMetricsReference } from '../../ts/kernels/reference';
import type { RankingMetricsResult } from '../../ts/kernels/types';
import { csrFromLists } from '../../ts/util/csr';
import { freshSeed, Random, randomCsr, tiedScores, uniformScores } from '../helpers/random';

/** Per-user values are float32: compare at float32 resolution. Means are double over float32 values. */
const TOLERANCE = 1e-6;

const csr = csrFromLists;

function assertMatchesReference(
  got: RankingMetricsResult,
  want: ReturnType<typeof rankingMetricsReference>,
  what: string,
  tolerance = TOLERANCE,
) {
  assert.equal(got.evaluatedUsers, want.evaluatedUsers, `${what}: evaluatedUsers`);
  assert.deepEqual(Object.keys(got.perUser).sort(), Object.keys(want.perUser).sort(), `${what}: per-user keys`);
  assert.deepEqual(Object.keys(got.mean).sort(), Object.keys(want.mean).sort(), `${what}: mean keys`);
  for (const [key, values] of Object.entries(want.perUser)) {
    values.forEach((v, u) => {
      const g = got.perUser[key][u];
      if (Number.isNaN(v)) assert.ok(Number.isNaN(g), `${what}: ${key}[${u}] should be NaN (skipped user)`);
      else assert.ok(Math.abs(g - v) <= tolerance, `${what}: ${key}[${u}] = ${g}, want ${v}`);
    });
  }
  for (const [key, v] of Object.entries(want.mean)) {
    if (Number.isNaN(v)) {
      assert.ok(Number.isNaN(got.mean[key]), `${what}: mean ${key} should be NaN (no evaluated users)`);
      continue;
    }
    assert.ok(Math.abs(got.mean[key] - v) <= tolerance * Math.max(1, Math.abs(v)), `${what}: mean ${key} = ${got.mean[key]}, want ${v}`);
  }
}

describe('rankingMetrics', () => {
  const shapes: [number, number][] = [[1, 1], [1, 7], [3, 10], [17, 100], [64, 1000], [5, 3000], [300, 257]];
  for (const [users, items] of shapes) {
    it(`matches the TypeScript reference on ${users}x${items} tied scores with exclusions and features`, async () => {
      const seed = freshSeed();
      const rng = new Random(seed);
      const scores = tiedScores(rng, users * items);
      const truth = randomCsr(rng, users, items, 8);
      const exclude = randomCsr(rng, users, items, Math.floor(items / 4) + 1);
      const itemFeatures = { data: uniformScores(rng, items * 5), dim: 5 };
      const ks = [1, 3, 10, 20];
      const want = rankingMetricsReference({ scores, numUsers: users, numItems: items, truth, exclude, ks, itemFeatures });
      const sync = rankingMetricsSync({ scores, numUsers: users, numItems: items, truth, exclude, ks, itemFeatures, device: 'cpu' });
      // ild is computed from float32 unit vectors natively: a looser, stated tolerance for it alone.
      assertMatchesReference(sync, want, `seed ${seed}`, 1e-5);
      const async = await rankingMetrics({ scores, numUsers: users, numItems: items, truth, exclude, ks, itemFeatures, device: 'cpu' });
      assert.deepEqual(async.mean, sync.mean, `seed ${seed}: async differs from sync`);
    });
  }

  it('gives hand-computed values on a worked example', () => {
    // User 0 ranks items 1 (0.9), 3 (0.7), 0 (0.5), 2 (0.1); relevant {3, 2}.
    // User 1 ranks 0, 1, 2, 3 (ties broken by index); relevant {1}; item 0 excluded -> ranks 1, 2, 3.
    const scores = new Float32Array([0.5, 0.9, 0.1, 0.7, 1, 1, 1, 1]);
    const r = rankingMetricsSync({
      scores,
      numUsers: 2,
      numItems: 4,
      truth: csr([[3, 2], [1]]),
      exclude: csr([[], [0]]),
      ks: [2],
    });
    const log2 = Math.log2;
    // user 0: hit at rank 2 within K=2; user 1: hit at rank 1
    assert.ok(Math.abs(r.perUser['ndcg@2'][0] - (1 / log2(3)) / (1 + 1 / log2(3))) < TOLERANCE);
    assert.equal(r.perUser['ndcg@2'][1], 1);
    assert.equal(r.perUser['precision@2'][0], 0.5);
    assert.equal(r.perUser['recall@2'][0], 0.5);
    assert.ok(Math.abs(r.perUser['map@2'][0] - 0.25) < TOLERANCE); // (1/2) / min(2, 2)
    assert.equal(r.perUser['mrr@2'][0], 0.5);
    assert.equal(r.perUser['hit@2'][1], 1);
    assert.ok(Math.abs(r.perUser.mrr[0] - 0.5) < TOLERANCE);
    assert.ok(Math.abs(r.mean.mrr - 0.75) < TOLERANCE);
    assert.equal(r.mean['aggregateDiversity@2'], 3); // {1, 3} and {1, 2}
    assert.equal(r.mean['coverage@2'], 0.75);
  });

  it('skips users with empty truth: NaN per user, left out of the means and the count', () => {
    const scores = new Float32Array([1, 2, 3, 4, 5, 6]);
    const r = rankingMetricsSync({ scores, numUsers: 2, numItems: 3, truth: csr([[], [2]]), ks: [1] });
    assert.equal(r.evaluatedUsers, 1);
    assert.ok(Number.isNaN(r.perUser['hit@1'][0]));
    assert.equal(r.mean['hit@1'], 1);
  });

  it('drops truth items that are also excluded (a user whose truth is all excluded is skipped)', () => {
    const scores = new Float32Array([3, 2, 1]);
    const r = rankingMetricsSync({ scores, numUsers: 1, numItems: 3, truth: csr([[0]]), exclude: csr([[0]]), ks: [1] });
    assert.equal(r.evaluatedUsers, 0);
    assert.ok(Number.isNaN(r.mean['ndcg@1']));
  });

  it('mrr@K equals the full-ranking mrr whenever the first hit is within K, else 0', () => {
    const seed = freshSeed();
    const rng = new Random(seed);
    const users = 200;
    const items = 300;
    const r = rankingMetricsSync({
      scores: tiedScores(rng, users * items),
      numUsers: users,
      numItems: items,
      truth: randomCsr(rng, users, items, 3),
      ks: [5, 50],
    });
    for (let u = 0; u < users; u++) {
      const full = r.perUser.mrr[u];
      if (Number.isNaN(full)) continue;
      for (const K of [5, 50]) {
        const rank = Math.round(1 / full); // per-user values are float32: recover the integer rank
        assert.equal(r.perUser[`mrr@${K}`][u], rank <= K ? full : 0, `seed ${seed}: user ${u}, K=${K}`);
      }
    }
  });

  it('rejects NaN scores, even of users that are skipped', () => {
    const scores = new Float32Array([1, 2, NaN, 4]);
    assert.throws(() => rankingMetricsSync({ scores, numUsers: 2, numItems: 2, truth: csr([[0], []]), ks: [1] }), {
      code: 'ERR_NAN_INPUT',
      message: /scores\[1, 0\]/,
    });
  });

  it('rejects truth ids outside [0, numItems) naming the entry', () => {
    assert.throws(
      () => rankingMetricsSync({ scores: new Float32Array(4), numUsers: 2, numItems: 2, truth: csr([[0], [2]]), ks: [1] }),
      { code: 'ERR_OUT_OF_RANGE', message: /truth.indices\[1\] = 2 is outside \[0, 2\)/ },
    );
  });
});

describe('rankingMetricsFromTopK', () => {
  it('on topK lists gives the same values as the full-ranking op (except the full mrr)', async () => {
    const seed = freshSeed();
    const rng = new Random(seed);
    const users = 150;
    const items = 400;
    const k = 20;
    const scores = tiedScores(rng, users * items);
    const truth = randomCsr(rng, users, items, 6);
    const exclude = randomCsr(rng, users, items, 30);
    const itemFeatures = { data: uniformScores(rng, items * 4), dim: 4 };
    const full = rankingMetricsSync({ scores, numUsers: users, numItems: items, truth, exclude, ks: [5, 20], itemFeatures });
    const lists = topKSync({ scores, numRows: users, numCols: items, k, exclude });
    const fromLists = await rankingMetricsFromTopK({ indices: lists.indices, k, numUsers: users, numItems: items, truth, exclude, ks: [5, 20], itemFeatures });
    for (const [key, v] of Object.entries(full.mean)) {
      if (key === 'mrr') continue;
      assert.equal(fromLists.mean[key], v, `seed ${seed}: ${key}`);
    }
    assert.equal(fromLists.mean.mrr, undefined);
  });

  it('matches its TypeScript reference when lists contain excluded items, which take no rank', () => {
    const seed = freshSeed();
    const rng = new Random(seed);
    const users = 80;
    const items = 60;
    const k = 10;
    const indices = new Int32Array(users * k);
    for (let u = 0; u < users; u++) {
      const perm = rng.shuffle(Array.from({ length: items }, (_, i) => i)) as number[];
      const len = rng.int(0, k);
      for (let p = 0; p < k; p++) indices[u * k + p] = p < len ? perm[p] : -1;
    }
    const truth = randomCsr(rng, users, items, 5);
    const exclude = randomCsr(rng, users, items, 10);
    const options = { indices, k, numUsers: users, numItems: items, truth, exclude, ks: [1, 5, 10] };
    assertMatchesReference(rankingMetricsFromTopKSync(options), rankingMetricsFromTopKReference(options), `seed ${seed}`);
  });

  it('rejects lists that repeat an item, put ids after -1 padding, or use ids out of range', () => {
    const base = { k: 3, numUsers: 1, numItems: 5, truth: csr([[1]]), ks: [3] };
    assert.throws(() => rankingMetricsFromTopKSync({ ...base, indices: Int32Array.from([1, 2, 1]) }), {
      code: 'ERR_INVALID_ARG_VALUE',
      message: /lists item 1 twice/,
    });
    assert.throws(() => rankingMetricsFromTopKSync({ ...base, indices: Int32Array.from([1, -1, 2]) }), {
      code: 'ERR_INVALID_ARG_VALUE',
      message: /follows -1 padding/,
    });
    assert.throws(() => rankingMetricsFromTopKSync({ ...base, indices: Int32Array.from([1, 5, 2]) }), {
      code: 'ERR_OUT_OF_RANGE',
    });
  });

  it('rejects a cut-off larger than the lists', () => {
    assert.throws(
      () => rankingMetricsFromTopKSync({ indices: Int32Array.from([0, 1]), k: 2, numUsers: 1, numItems: 3, truth: csr([[0]]), ks: [5] }),
      { code: 'ERR_OUT_OF_RANGE', message: /ks\[0\]/ },
    );
  });
});
