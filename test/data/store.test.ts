import assert from 'node:assert/strict';

import { InteractionBuilder, ItemTable } from '../../ts/data/build';
import { isDatasetError } from '../../ts/data/errors';
import { countQuantiles, DenseIdMap, type DuplicatePolicy, InteractionStore, type LoadReport } from '../../ts/data/store';
import { isSemrecError } from '../../ts/errors';

function emptyReport(): LoadReport {
  return { format: 'test', path: '', files: [], rowsRead: 0, skipped: 0, skippedRows: [], duplicates: { policy: 'keep-latest', found: 0, removed: 0 }, ignoredFiles: [], notes: [] };
}

/** Rows [user, item, rating, time] with raw ids, through the loaders' builder. */
function build(rows: [string, string, number, number][], duplicates: DuplicatePolicy = 'keep-latest'): InteractionStore {
  const b = new InteractionBuilder();
  for (const [u, i, r, t] of rows) b.add(b.userIds.intern(u), b.itemIds.intern(i), r, t);
  return b.build({ name: 'toy', duplicates, items: new ItemTable().finish(b.itemIds.size), users: { fields: {} }, load: emptyReport(), interactionFiles: 'toy.csv' });
}

describe('data: IdMap', () => {
  it('maps raw ids to dense indices in first-seen order and back', () => {
    const map = DenseIdMap.from(['b', 'a', 'b', 'c']);
    assert.equal(map.size, 3);
    assert.deepEqual([map.index('b'), map.index('a'), map.index('c'), map.index('zz')], [0, 1, 2, undefined]);
    assert.equal(map.raw(2), 'c');
  });

  it('keeps integer-looking ids exactly as written: "42", "042", "4.2", "-1" and huge values are distinct ids', () => {
    const raw = ['42', '042', '4.2', '-1', '0', '999999999', '12345678901', 'u42', '43'];
    const map = DenseIdMap.from([...raw, ...raw]);
    assert.equal(map.size, raw.length);
    raw.forEach((id, i) => {
      assert.equal(map.index(id), i, id);
      assert.equal(map.raw(i), id);
    });
    assert.equal(map.index('44'), undefined);
    assert.equal(map.index('0042'), undefined);
  });

  it('rejects an index outside the map with ERR_OUT_OF_RANGE', () => {
    assert.throws(() => DenseIdMap.from(['x']).raw(1), (e) => isSemrecError(e, 'ERR_OUT_OF_RANGE'));
  });

  it('cannot grow once frozen', () => {
    const map = DenseIdMap.from(['x']);
    assert.equal(map.intern('x'), 0);
    assert.throws(() => map.intern('y'), (e) => isSemrecError(e, 'ERR_INTERNAL'));
  });
});

describe('data: InteractionStore', () => {
  const rows: [string, string, number, number][] = [
    ['u1', 'i1', 4, 300],
    ['u2', 'i2', 5, 100],
    ['u1', 'i2', 3, 100],
    ['u1', 'i3', 2, 200],
    ['u2', 'i3', 1, 50],
  ];

  it('stores interactions grouped by user and ordered by time', () => {
    const s = build(rows);
    assert.deepEqual(Array.from(s.userIdx), [0, 0, 0, 1, 1]);
    assert.deepEqual(Array.from(s.timestamp), [100, 200, 300, 50, 100]);
    assert.deepEqual(Array.from(s.itemIdx, (i) => s.itemIds.raw(i)), ['i2', 'i3', 'i1', 'i3', 'i2']);
  });

  it('byUser and byItem list interaction indices per group, by time', () => {
    const s = build(rows);
    const byItem = s.byItem();
    assert.deepEqual(Array.from(byItem.indptr), [0, 1, 3, 5]);
    const i3 = s.itemIds.index('i3')!;
    const list = Array.from(byItem.interactions.subarray(byItem.indptr[i3], byItem.indptr[i3 + 1]));
    assert.deepEqual(list.map((k) => s.timestamp[k]), [50, 200]);
    assert.deepEqual(Array.from(s.byUser().indptr), [0, 3, 5]);
  });

  it('puts interactions without a timestamp after the timed ones in byUser', () => {
    const s = new InteractionStore({
      name: 't',
      userIds: DenseIdMap.from(['u']),
      itemIds: DenseIdMap.from(['a', 'b', 'c']),
      userIdx: Int32Array.of(0, 0, 0),
      itemIdx: Int32Array.of(0, 1, 2),
      rating: Float32Array.of(1, 2, 3),
      timestamp: Float64Array.of(NaN, 20, 10),
    });
    assert.deepEqual(Array.from(s.byUser().interactions), [2, 1, 0]);
  });

  it('rejects columns of different lengths and indices outside the maps', () => {
    const base = { name: 't', userIds: DenseIdMap.from(['u']), itemIds: DenseIdMap.from(['a']), rating: Float32Array.of(1), timestamp: Float64Array.of(1) };
    assert.throws(() => new InteractionStore({ ...base, userIdx: Int32Array.of(0), itemIdx: Int32Array.of(0, 0) }), (e) => isSemrecError(e, 'ERR_INVALID_ARG_VALUE'));
    assert.throws(() => new InteractionStore({ ...base, userIdx: Int32Array.of(1), itemIdx: Int32Array.of(0) }), (e) => isSemrecError(e, 'ERR_OUT_OF_RANGE'));
  });

  it('select keeps the IdMaps and metadata objects', () => {
    const s = build(rows);
    const sub = s.select(Int32Array.of(4, 0));
    assert.equal(sub.userIds, s.userIds);
    assert.equal(sub.itemIds, s.itemIds);
    assert.equal(sub.items, s.items);
    assert.equal(sub.numItems, s.numItems);
    assert.deepEqual(Array.from(sub.rating), [s.rating[4], s.rating[0]]);
  });

  it('stats counts users, items, density, ratings and per-user quantiles', () => {
    const st = build(rows).stats();
    assert.equal(st.users, 2);
    assert.equal(st.items, 3);
    assert.equal(st.interactions, 5);
    assert.equal(st.density, 5 / 6);
    assert.deepEqual(st.ratings, { explicit: 5, min: 1, max: 5, mean: 3, histogram: { '1': 1, '2': 1, '3': 1, '4': 1, '5': 1 } });
    assert.equal(st.perUser.max, 3);
    assert.equal(st.perUser.min, 2);
    assert.equal(st.timestamps.first, new Date(50_000).toISOString());
  });
});

describe('data: count quantiles', () => {
  it('uses nearest rank', () => {
    const q = countQuantiles(Int32Array.of(10, 1, 2, 3, 4, 5, 6, 7, 8, 9));
    assert.deepEqual([q.min, q.p25, q.median, q.p75, q.p90, q.max, q.mean], [1, 3, 5, 8, 9, 10, 5.5]);
  });
});

describe('data: duplicate (user, item) rows', () => {
  const rows: [string, string, number, number][] = [
    ['u', 'a', 1, 200],
    ['u', 'a', 5, 100],
    ['u', 'b', 3, 10],
    ['u', 'a', 2, 200],
  ];

  it("'keep-latest' (the default) keeps the latest row; equal times: the one read last", () => {
    const s = build(rows);
    assert.equal(s.numInteractions, 2);
    const a = Array.from(s.itemIdx).indexOf(s.itemIds.index('a')!);
    assert.equal(s.rating[a], 2);
    assert.deepEqual(s.load!.duplicates, { policy: 'keep-latest', found: 2, removed: 2 });
  });

  it("'keep-first' keeps the earliest row", () => {
    const s = build(rows, 'keep-first');
    const a = Array.from(s.itemIdx).indexOf(s.itemIds.index('a')!);
    assert.equal(s.rating[a], 5);
  });

  it("'keep-all' keeps repeated interactions", () => {
    assert.equal(build(rows, 'keep-all').numInteractions, 4);
  });

  it("'error' refuses the dataset naming the user and item", () => {
    assert.throws(
      () => build(rows, 'error'),
      (e) => isDatasetError(e, 'ERR_DATASET_INTEGRITY') && /user 'u'.*item 'a'/.test(e.message) && e.file === 'toy.csv',
    );
  });
});
