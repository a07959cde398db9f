import assert from 'node:assert/strict';

import { loadDataset } from '../../ts/data/load';
import { compact, kCore, leaveOneOut, ratioCounts, ratioSplit, type Split, temporalSplit, toImplicit } from '../../ts/data/splits';
import { DenseIdMap, InteractionStore } from '../../ts/data/store';
import { isSemrecError } from '../../ts/errors';
import { freshSeed, Random } from '../helpers/random';
import { requireShared, sharedDataset } from '../helpers/shared';

const ML100K = sharedDataset('ml-100k');

/** (user, item) keys: unique per interaction in ml-100k (no duplicate ratings). */
function keys(s: InteractionStore): string[] {
  return Array.from(s.userIdx, (u, k) => `${u}:${s.itemIdx[k]}`);
}

function perUserCounts(s: InteractionStore): Int32Array {
  const c = new Int32Array(s.numUsers);
  for (const u of s.userIdx) c[u]++;
  return c;
}

function assertPartition(store: InteractionStore, split: Split): void {
  const parts = [split.train, split.validation, split.test].filter((p): p is InteractionStore => p !== undefined);
  const all = parts.flatMap(keys);
  assert.equal(new Set(all).size, all.length, 'parts overlap');
  assert.deepEqual(new Set(all), new Set(keys(store)), 'parts do not cover the store');
  for (const p of parts) {
    assert.equal(p.userIds, store.userIds);
    assert.equal(p.itemIds, store.itemIds);
    assert.equal(p.numUsers, store.numUsers);
    assert.equal(p.numItems, store.numItems);
    assert.equal(p.items, store.items);
  }
}

/** A random store: users with 1..maxPer interactions, ratings 1-5, coarse timestamps (many ties). */
function randomStore(rng: Random, numUsers: number, numItems: number, maxPer: number): InteractionStore {
  const userIdx: number[] = [];
  const itemIdx: number[] = [];
  for (let u = 0; u < numUsers; u++) {
    const items = rng.shuffle(Array.from({ length: numItems }, (_, i) => i)).slice(0, rng.int(1, maxPer));
    for (const i of items) userIdx.push(u), itemIdx.push(i);
  }
  const n = userIdx.length;
  return new InteractionStore({
    name: 'random',
    userIds: DenseIdMap.from(Array.from({ length: numUsers }, (_, u) => `u${u}`)),
    itemIds: DenseIdMap.from(Array.from({ length: numItems }, (_, i) => `i${i}`)),
    userIdx: Int32Array.from(userIdx),
    itemIdx: Int32Array.from(itemIdx),
    rating: Float32Array.from({ length: n }, () => rng.int(1, 5)),
    timestamp: Float64Array.from({ length: n }, () => rng.int(0, 20)),
  });
}

describe('data: splits on ml-100k', () => {
  let store: InteractionStore;
  before(async function () {
    requireShared(this as unknown as Mocha.Context, `${ML100K}/u.data`);
    store = await loadDataset({ format: 'ml-100k', path: ML100K });
  });

  it('leaveOneOut holds out one test and one validation interaction per user, the latest ones', () => {
    const split = leaveOneOut(store, { seed: 7 });
    assertPartition(store, split);
    assert.ok(perUserCounts(split.test).every((c) => c === 1));
    assert.ok(perUserCounts(split.validation!).every((c) => c === 1));
    const latest = new Float64Array(store.numUsers).fill(-Infinity);
    for (let k = 0; k < split.train.numInteractions; k++) latest[split.train.userIdx[k]] = Math.max(latest[split.train.userIdx[k]], split.train.timestamp[k]);
    for (let k = 0; k < split.validation!.numInteractions; k++) {
      const u = split.validation!.userIdx[k];
      assert.ok(split.validation!.timestamp[k] >= latest[u]);
      latest[u] = split.validation!.timestamp[k];
    }
    for (let k = 0; k < split.test.numInteractions; k++) assert.ok(split.test.timestamp[k] >= latest[split.test.userIdx[k]]);
    assert.equal(split.protocol.counts.test, 943);
    assert.match(split.protocol.summary, /^Leave-one-out by time \(seed 7\)/);
  });

  it('ratioSplit 8:1:1 gives every user RecBole counts of their interactions', () => {
    const split = ratioSplit(store, { ratios: [0.8, 0.1, 0.1], seed: 3 });
    assertPartition(store, split);
    const total = perUserCounts(store);
    const [tr, va, te] = [split.train, split.validation!, split.test].map(perUserCounts);
    for (let u = 0; u < store.numUsers; u++) assert.deepEqual([tr[u], va[u], te[u]], ratioCounts(total[u], [0.8, 0.1, 0.1]), `user ${u}`);
  });

  it('ratioSplit 80/20 has no validation part and holds out floor(0.2 n) per user', () => {
    const split = ratioSplit(store, { ratios: [0.8, 0.2] });
    assertPartition(store, split);
    assert.equal(split.validation, undefined);
    const total = perUserCounts(store);
    const te = perUserCounts(split.test);
    for (let u = 0; u < store.numUsers; u++) assert.equal(te[u], Math.floor(0.2 * total[u]));
  });

  it('temporalSplit trains only on interactions before every test interaction', () => {
    const split = temporalSplit(store, { ratios: [0.8, 0.1, 0.1] });
    assertPartition(store, split);
    const max = (s: InteractionStore) => s.timestamp.reduce((a, b) => Math.max(a, b), -Infinity);
    const min = (s: InteractionStore) => s.timestamp.reduce((a, b) => Math.min(a, b), Infinity);
    assert.ok(max(split.train) < min(split.validation!));
    assert.ok(max(split.validation!) < min(split.test));
    // ties at the cut move whole seconds, so the shares are close to, not exactly, 80/10/10
    assert.ok(Math.abs(split.train.numInteractions - 80_000) < 100);
    assert.ok(split.protocol.users.coldInTest > 0);
  });

  it('temporalSplit with an explicit cut puts t >= cut in test', () => {
    const cut = 890_000_000;
    const split = temporalSplit(store, { cutoffs: { test: cut } });
    assert.ok(split.train.timestamp.every((t) => t < cut));
    assert.ok(split.test.timestamp.every((t) => t >= cut));
    assert.equal(split.train.numInteractions + split.test.numInteractions, store.numInteractions);
  });

  it('kCore leaves every user and item with at least k interactions and keeps their metadata', () => {
    const core = kCore(store, { users: 40, items: 40 });
    assert.ok(perUserCounts(core).every((c) => c >= 40));
    const perItem = new Int32Array(core.numItems);
    for (const i of core.itemIdx) perItem[i]++;
    assert.ok(perItem.every((c) => c >= 40));
    assert.equal(kCore(core, { users: 40, items: 40 }).numInteractions, core.numInteractions);
    for (let i = 0; i < core.numItems; i++) assert.equal(core.items.title[i], store.items.title[store.itemIds.index(core.itemIds.raw(i))!]);
    const u = core.userIds.raw(0);
    assert.equal(core.users.fields.age[0], store.users.fields.age[store.userIds.index(u)!]);
  });

  it('toImplicit keeps ratings at or above the threshold as 1s, on the same indices', () => {
    const implicit = toImplicit(store, { threshold: 4 });
    const expected = store.rating.filter((r) => r >= 4).length;
    assert.equal(implicit.numInteractions, expected);
    assert.ok(implicit.rating.every((r) => r === 1));
    assert.equal(implicit.itemIds, store.itemIds);
  });
});

describe('data: split properties on random stores', () => {
  it('every split is deterministic for a seed and a partition of the store', () => {
    const seed = freshSeed();
    const rng = new Random(seed);
    for (let t = 0; t < 20; t++) {
      const store = randomStore(rng, rng.int(1, 30), rng.int(1, 15), 12);
      const splitSeed = rng.int(0, 1000);
      const makers = [
        () => leaveOneOut(store, { seed: splitSeed }),
        () => leaveOneOut(store, { seed: splitSeed, validation: false }),
        () => ratioSplit(store, { ratios: [0.8, 0.1, 0.1], seed: splitSeed }),
        () => ratioSplit(store, { ratios: [8, 2], seed: splitSeed, order: 'time' }),
        () => temporalSplit(store, { ratios: [0.7, 0.3] }),
      ];
      for (const make of makers) {
        const a = make();
        const b = make();
        assertPartition(store, a);
        for (const part of ['train', 'validation', 'test'] as const) {
          assert.deepEqual(a[part]?.userIdx, b[part]?.userIdx, `seed ${seed}`);
          assert.deepEqual(a[part]?.itemIdx, b[part]?.itemIdx, `seed ${seed}`);
        }
      }
    }
  });

  it('leaveOneOut keeps users with 1 interaction in training and gives users with 2 no validation item', () => {
    const store = new InteractionStore({
      name: 'tiny',
      userIds: DenseIdMap.from(['a', 'b', 'c']),
      itemIds: DenseIdMap.from(['x', 'y', 'z']),
      userIdx: Int32Array.of(0, 1, 1, 2, 2, 2),
      itemIdx: Int32Array.of(0, 0, 1, 0, 1, 2),
      rating: Float32Array.of(1, 2, 3, 4, 5, 1),
      timestamp: Float64Array.of(1, 1, 2, 1, 2, 3),
    });
    const split = leaveOneOut(store);
    assert.deepEqual(Array.from(perUserCounts(split.train)), [1, 1, 1]);
    assert.deepEqual(Array.from(perUserCounts(split.validation!)), [0, 0, 1]);
    assert.deepEqual(Array.from(perUserCounts(split.test)), [0, 1, 1]);
    assert.equal(split.protocol.users.trainOnly, 1);
  });

  it('different seeds break timestamp ties differently', () => {
    const n = 50;
    const store = new InteractionStore({
      name: 'ties',
      userIds: DenseIdMap.from(['u']),
      itemIds: DenseIdMap.from(Array.from({ length: n }, (_, i) => `i${i}`)),
      userIdx: new Int32Array(n),
      itemIdx: Int32Array.from({ length: n }, (_, i) => i),
      rating: new Float32Array(n).fill(3),
      timestamp: new Float64Array(n).fill(100),
    });
    const picks = new Set(Array.from({ length: 10 }, (_, s) => leaveOneOut(store, { seed: s }).test.itemIdx[0]));
    assert.ok(picks.size > 1);
  });

  it('time-based splits refuse stores without timestamps; leave-one-out keeps their file order', () => {
    const store = new InteractionStore({
      name: 'untimed',
      userIds: DenseIdMap.from(['u']),
      itemIds: DenseIdMap.from(['a', 'b']),
      userIdx: Int32Array.of(0, 0),
      itemIdx: Int32Array.of(0, 1),
      rating: Float32Array.of(1, 2),
      timestamp: Float64Array.of(NaN, NaN),
    });
    // Without any timestamps (the MyAnimeList dumps) leave-one-out holds out the last interaction in file order.
    const loo = leaveOneOut(store, { validation: false });
    assert.deepEqual(Array.from(loo.test.itemIdx), [1]);
    assert.equal(loo.protocol.parameters.order, 'file');
    const partly = new InteractionStore({
      name: 'partly',
      userIds: DenseIdMap.from(['u']),
      itemIds: DenseIdMap.from(['a', 'b']),
      userIdx: Int32Array.of(0, 0),
      itemIdx: Int32Array.of(0, 1),
      rating: Float32Array.of(1, 2),
      timestamp: Float64Array.of(1, NaN),
    });
    assert.throws(() => leaveOneOut(partly), (e) => isSemrecError(e, 'ERR_INVALID_ARG_VALUE') && /no timestamp/.test(e.message));
    assert.throws(() => temporalSplit(store), (e) => isSemrecError(e, 'ERR_INVALID_ARG_VALUE'));
    assert.equal(ratioSplit(store, { ratios: [0.5, 0.5] }).test.numInteractions, 1);
  });

  it('rejects malformed ratios', () => {
    const store = randomStore(new Random(1), 3, 3, 3);
    for (const ratios of [[1], [0.5, 0.5, 0, 0], [0.9, -0.1], [0.8, NaN]]) {
      assert.throws(() => ratioSplit(store, { ratios }), (e) => isSemrecError(e, 'ERR_INVALID_ARG_VALUE'), String(ratios));
    }
  });
});

describe('data: RecBole ratio rounding', () => {
  // Hand-computed from recbole's _calcu_split_ids: cnt = floor(r * n); cnt[0] = n - sum(rest); then each
  // held-out part with 0 < r * n < 1 takes one from training while training has more than one.
  const cases: [number, number[], number[]][] = [
    [1, [0.8, 0.1, 0.1], [1, 0, 0]],
    [2, [0.8, 0.1, 0.1], [1, 0, 1]],
    [3, [0.8, 0.1, 0.1], [1, 1, 1]],
    [10, [0.8, 0.1, 0.1], [8, 1, 1]],
    [19, [0.8, 0.1, 0.1], [17, 1, 1]],
    [20, [0.8, 0.2], [16, 4]],
    [4, [0.8, 0.2], [3, 1]],
    [1, [0.8, 0.2], [1, 0]],
  ];
  for (const [n, ratios, expected] of cases) {
    it(`n=${n}, ratios ${ratios.join(':')} -> ${expected.join('/')}`, () => assert.deepEqual(ratioCounts(n, ratios), expected));
  }
});

describe('data: compact', () => {
  it('drops users and items without interactions and re-indexes the rest', () => {
    const store = new InteractionStore({
      name: 'catalog',
      userIds: DenseIdMap.from(['a', 'b']),
      itemIds: DenseIdMap.from(['x', 'y', 'z']),
      userIdx: Int32Array.of(1, 1),
      itemIdx: Int32Array.of(2, 0),
      rating: Float32Array.of(1, 2),
      timestamp: Float64Array.of(1, 2),
    });
    const c = compact(store);
    assert.deepEqual([c.numUsers, c.numItems], [1, 2]);
    assert.deepEqual(Array.from(c.itemIdx, (i) => c.itemIds.raw(i)), ['z', 'x']);
  });
});
