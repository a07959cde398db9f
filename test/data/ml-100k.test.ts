import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';

import { type DatasetError, isDatasetError } from '../../ts/data/errors';
import { loadDataset } from '../../ts/data/load';
import { isSemrecError } from '../../ts/errors';
import { requireShared, sharedDataset } from '../helpers/shared';
import { copyFolder, editLine, useTempDirs } from '../helpers/tempdir';

const ML100K = sharedDataset('ml-100k');

/** Expects loading to fail with a DatasetError of this code at this file and line. */
async function rejectsWith(promise: Promise<unknown>, expected: Partial<Pick<DatasetError, 'code' | 'file' | 'line' | 'column' | 'field'>>, message?: RegExp) {
  await assert.rejects(promise, (e: unknown) => {
    assert.ok(isDatasetError(e), `expected a DatasetError, got ${String(e)}`);
    for (const [key, value] of Object.entries(expected)) assert.equal(e[key as keyof DatasetError], value, `${key} of: ${e.message}`);
    if (message) assert.match(e.message, message);
    return true;
  });
}

describe('data: ml-100k loader', () => {
  const tempDir = useTempDirs();
  /** A copy of ml-100k in a fresh temp folder, for corrupting. */
  const copy = () => copyFolder(ML100K, tempDir());

  before(function () {
    requireShared(this as unknown as Mocha.Context, path.join(ML100K, 'u.data'));
  });

  it('loads 943 users, 1,682 items and 100,000 ratings', async () => {
    const s = await loadDataset({ format: 'ml-100k', path: ML100K });
    assert.deepEqual([s.numUsers, s.numItems, s.numInteractions], [943, 1682, 100000]);
    assert.equal(s.name, 'ml-100k');
    const st = s.stats();
    assert.equal(st.ratings.explicit, 100000);
    assert.equal(st.timestamps.known, 100000);
    assert.equal(st.perUser.min, 20); // MovieLens 100K keeps users with at least 20 ratings
  });

  it('reads titles and genre lists from u.item, decoded as Latin-1', async () => {
    const s = await loadDataset({ format: 'ml-100k', path: ML100K });
    const toyStory = s.itemIds.index('1')!;
    assert.equal(s.items.title[toyStory], 'Toy Story (1995)');
    assert.deepEqual(s.items.genres[toyStory], ['Animation', "Children's", 'Comedy']);
    assert.equal(s.items.numeric.year[toyStory], 1995);
    assert.ok(s.items.title.includes('Misérables, Les (1995)'));
    assert.ok(s.items.title.every((t) => t !== undefined && !t.includes('\uFFFD')));
    assert.ok(s.items.genres.every((g) => g.length > 0));
  });

  it('reads age, gender and occupation from u.user', async () => {
    const s = await loadDataset({ format: 'ml-100k', path: ML100K });
    const u1 = s.userIds.index('1')!;
    assert.deepEqual([s.users.fields.age[u1], s.users.fields.gender[u1], s.users.fields.occupation[u1]], [24, 'M', 'technician']);
  });

  it('keeps each rating of u.data with its user, item, value and time', async () => {
    const s = await loadDataset({ format: 'ml-100k', path: ML100K });
    // u.data line 1: "196\t242\t3\t881250949"
    const u = s.userIds.index('196')!;
    const { indptr, interactions } = s.byUser();
    const found = Array.from(interactions.subarray(indptr[u], indptr[u + 1])).find((k) => s.itemIds.raw(s.itemIdx[k]) === '242');
    assert.ok(found !== undefined);
    assert.equal(s.rating[found], 3);
    assert.equal(s.timestamp[found], 881250949);
  });

  it('a row with the wrong number of fields is an ERR_DATASET_PARSE at its line', async () => {
    const dir = copy();
    editLine(path.join(dir, 'u.data'), 57, (b) => Buffer.from(b.toString().split('\t').slice(0, 3).join('\t')));
    await rejectsWith(loadDataset({ format: 'ml-100k', path: dir }), { code: 'ERR_DATASET_PARSE', file: 'u.data', line: 57, column: 4 }, /expected 4 fields, found 3/);
  });

  it('a non-numeric rating is an ERR_DATASET_PARSE naming line, column and field', async () => {
    const dir = copy();
    editLine(path.join(dir, 'u.data'), 10, (b) => Buffer.from(b.toString().replace(/^(\d+\t\d+\t)\d/, '$1x')));
    await rejectsWith(loadDataset({ format: 'ml-100k', path: dir }), { code: 'ERR_DATASET_PARSE', file: 'u.data', line: 10, column: 3, field: 'rating' });
  });

  it('a rating outside 1..5 is an ERR_DATASET_PARSE', async () => {
    const dir = copy();
    editLine(path.join(dir, 'u.data'), 3, (b) => Buffer.from(b.toString().replace(/^(\d+\t\d+\t)\d/, '$19')));
    await rejectsWith(loadDataset({ format: 'ml-100k', path: dir }), { code: 'ERR_DATASET_PARSE', line: 3, field: 'rating' }, /outside 1\.\.5/);
  });

  it('an unparsable timestamp is an ERR_DATASET_PARSE', async () => {
    const dir = copy();
    editLine(path.join(dir, 'u.data'), 99_999, (b) => Buffer.from(b.toString().replace(/\t\d+$/, '\t1998-13-45 noon')));
    await rejectsWith(loadDataset({ format: 'ml-100k', path: dir }), { code: 'ERR_DATASET_PARSE', file: 'u.data', line: 99_999, column: 4, field: 'timestamp' });
  });

  it('invalid UTF-8 in u.user is an ERR_DATASET_ENCODING at its line and character', async () => {
    const dir = copy();
    // "1|24|M|technician|85711" -> the zip code's first byte replaced by 0xFF
    editLine(path.join(dir, 'u.user'), 1, (b) => Buffer.concat([b.subarray(0, 18), Buffer.of(0xff), b.subarray(19)]));
    await rejectsWith(loadDataset({ format: 'ml-100k', path: dir }), { code: 'ERR_DATASET_ENCODING', file: 'u.user', line: 1, column: 19 });
  });

  it('a u.data cut in the middle of a row is ERR_DATASET_TRUNCATED', async () => {
    const dir = copy();
    const file = path.join(dir, 'u.data');
    const data = fs.readFileSync(file);
    fs.writeFileSync(file, data.subarray(0, data.length - 12));
    await rejectsWith(loadDataset({ format: 'ml-100k', path: dir }), { code: 'ERR_DATASET_TRUNCATED', file: 'u.data', line: 100000 });
  });

  it('a u.data cut at a line boundary is ERR_DATASET_TRUNCATED (u.info declares 100,000 ratings)', async () => {
    const dir = copy();
    const file = path.join(dir, 'u.data');
    const lines = fs.readFileSync(file, 'utf8').split('\n');
    fs.writeFileSync(file, lines.slice(0, 50_000).join('\n') + '\n');
    await rejectsWith(loadDataset({ format: 'ml-100k', path: dir }), { code: 'ERR_DATASET_TRUNCATED', file: 'u.data' }, /50000 ratings but u.info declares 100000/);
  });

  it('a u.info that declares no counts is ERR_DATASET_PARSE (it would silently disable the truncation check)', async () => {
    const dir = copy();
    fs.writeFileSync(path.join(dir, 'u.info'), 'garbage\n\x00\x01 not counts\n');
    await rejectsWith(loadDataset({ format: 'ml-100k', path: dir }), { code: 'ERR_DATASET_PARSE', file: 'u.info' }, /does not declare the number of ratings, users, items/);
    const skipped = await loadDataset({ format: 'ml-100k', path: dir, onError: 'skip' });
    assert.ok(skipped.load!.notes.some((n) => /truncation cannot be checked/.test(n)), skipped.load!.notes.join(' | '));
  });

  it('an empty u.data is ERR_DATASET_EMPTY, not an empty dataset', async () => {
    const dir = copy();
    fs.writeFileSync(path.join(dir, 'u.data'), '');
    await rejectsWith(loadDataset({ format: 'ml-100k', path: dir }), { code: 'ERR_DATASET_EMPTY', file: 'u.data' });
  });

  it('a rating of an item missing from u.item is ERR_DATASET_INTEGRITY', async () => {
    const dir = copy();
    editLine(path.join(dir, 'u.data'), 5, (b) => Buffer.from(b.toString().replace(/^(\d+\t)\d+/, '$19999')));
    await rejectsWith(loadDataset({ format: 'ml-100k', path: dir }), { code: 'ERR_DATASET_INTEGRITY', line: 5, field: 'item id' }, /item 9999 is not in u.item/);
  });

  it('a missing u.item is ERR_DATASET_NOT_FOUND', async () => {
    const dir = copy();
    fs.rmSync(path.join(dir, 'u.item'));
    await rejectsWith(loadDataset({ format: 'ml-100k', path: dir }), { code: 'ERR_DATASET_NOT_FOUND' }, /u\.item/);
  });

  it("onError 'skip' skips bad rows, counts them and reports the first reasons with lines", async () => {
    const dir = copy();
    const file = path.join(dir, 'u.data');
    editLine(file, 7, (b) => Buffer.from(b.toString().replace(/^(\d+\t\d+\t)\d/, '$1x')));
    editLine(file, 700, (b) => Buffer.concat([b, Buffer.of(0xc3)]));
    editLine(file, 7000, () => Buffer.from('1\t2'));
    const s = await loadDataset({ format: 'ml-100k', path: dir, onError: 'skip' });
    assert.equal(s.numInteractions, 100000 - 3);
    assert.equal(s.load!.skipped, 3);
    assert.deepEqual(
      s.load!.skippedRows.map((r) => [r.file, r.line, r.code]),
      [
        ['u.data', 7, 'ERR_DATASET_PARSE'],
        ['u.data', 700, 'ERR_DATASET_ENCODING'],
        ['u.data', 7000, 'ERR_DATASET_PARSE'],
      ],
    );
    assert.equal(s.stats().load!.skipped, 3);
  });

  it('reports progress by bytes read and stops with ERR_ABORTED when its signal is aborted', async () => {
    const events: { phase: string; done: number; total?: number }[] = [];
    await loadDataset({ format: 'ml-100k', path: ML100K, onProgress: (e) => events.push(e) });
    const data = events.filter((e) => e.phase === 'reading u.data');
    assert.equal(data.at(-1)!.done, fs.statSync(path.join(ML100K, 'u.data')).size);
    assert.equal(data.at(-1)!.total, data.at(-1)!.done);
    const controller = new AbortController();
    const loading = loadDataset({
      format: 'ml-100k',
      path: ML100K,
      signal: controller.signal,
      onProgress: (e) => {
        if (e.phase === 'reading u.item') controller.abort();
      },
    });
    await assert.rejects(loading, (e: unknown) => isSemrecError(e, 'ERR_ABORTED'));
  });
});
