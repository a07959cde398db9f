import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';

import { isDatasetError } from '../../ts/data/errors';
import { loadDataset } from '../../ts/data/load';
import type { InteractionStore } from '../../ts/data/store';
import { freshSeed } from '../helpers/random';
import { editLine, useTempDirs } from '../helpers/tempdir';
import { type Truth, writeMl1m, writeMovielensCsv } from './fixtures';

/**
 * The file cut `keep` bytes into its last row, so that row lacks fields. (A cut that leaves a shorter but
 * valid number, such as a timestamp missing its last digits, cannot be told from data.)
 */
function cutInLastRow(data: Buffer, keep: number): Buffer {
  const lastRowStart = data.lastIndexOf(10, data.length - 2) + 1;
  return data.subarray(0, lastRowStart + keep);
}

/** Every rating of the truth is in the store with its value and time, and nothing else is. */
function assertMatches(store: InteractionStore, truth: Truth, context: string): void {
  assert.equal(store.numInteractions, truth.ratings.length, context);
  const got = new Map<string, [number, number]>();
  for (let k = 0; k < store.numInteractions; k++) {
    got.set(`${store.userIds.raw(store.userIdx[k])}/${store.itemIds.raw(store.itemIdx[k])}`, [store.rating[k], store.timestamp[k]]);
  }
  for (const [u, m, r, t] of truth.ratings) assert.deepEqual(got.get(`${u}/${m}`), [r, t], `${context}: ${u}/${m}`);
  assert.equal(store.numItems, truth.movies.length);
  truth.movies.forEach((m, i) => {
    assert.equal(store.itemIds.raw(i), m.id);
    assert.equal(store.items.title[i], m.title, context);
    assert.deepEqual(store.items.genres[i], m.genres, context);
  });
}

describe('data: movielens-csv loader (generated files in the ml-latest layout)', () => {
  const tempDir = useTempDirs();

  it('reads ratings, titles with quoted commas and |-separated genres exactly', async () => {
    const seed = freshSeed();
    const dir = tempDir();
    const truth = writeMovielensCsv(dir, seed);
    const s = await loadDataset({ format: 'movielens-csv', path: dir });
    assertMatches(s, truth, `seed ${seed}`);
    assert.equal(s.items.numeric.year[0], 1950);
  });

  it('joins distinct tags (case-insensitively) into the item text field tags, and links into numeric ids', async () => {
    const dir = tempDir();
    writeMovielensCsv(dir, 1);
    const s = await loadDataset({ format: 'movielens-csv', path: dir });
    assert.equal(s.items.text.tags[0], 'funny, quirky, dark');
    assert.equal(s.items.text.tags[1], undefined);
    assert.equal(s.items.numeric.imdbId[1], 114710);
    assert.ok(Number.isNaN(s.items.numeric.tmdbId[0]));
  });

  it('broken quoting in movies.csv is an ERR_DATASET_PARSE at its line', async () => {
    const dir = tempDir();
    writeMovielensCsv(dir, 2);
    editLine(path.join(dir, 'movies.csv'), 4, (b) => Buffer.from(b.toString().replace(/^(\d+),/, '$1,Bad "quote" here,')));
    await assert.rejects(loadDataset({ format: 'movielens-csv', path: dir }), (e) => isDatasetError(e, 'ERR_DATASET_PARSE') && e.file === 'movies.csv' && e.line === 4 && /quoting/.test(e.message));
  });

  it('an unclosed quote is an ERR_DATASET_PARSE at the line where its row starts', async () => {
    const dir = tempDir();
    const truth = writeMovielensCsv(dir, 3);
    const last = truth.movies.length + 1;
    editLine(path.join(dir, 'movies.csv'), last, () => Buffer.from('999,"Never closed (1999),Drama'));
    await assert.rejects(loadDataset({ format: 'movielens-csv', path: dir }), (e) => isDatasetError(e, 'ERR_DATASET_PARSE') && e.line === last && /never closed/.test(e.message));
  });

  it('a non-numeric rating or an unknown movie is reported at its line and column', async () => {
    const dir = tempDir();
    writeMovielensCsv(dir, 4);
    editLine(path.join(dir, 'ratings.csv'), 8, (b) => Buffer.from(b.toString().replace(/^(\d+,\d+),[\d.]+/, '$1,four')));
    await assert.rejects(loadDataset({ format: 'movielens-csv', path: dir }), (e) => isDatasetError(e, 'ERR_DATASET_PARSE') && e.line === 8 && e.column === 3 && e.field === 'rating');
    const dir2 = tempDir();
    writeMovielensCsv(dir2, 4);
    editLine(path.join(dir2, 'ratings.csv'), 3, (b) => Buffer.from(b.toString().replace(/^(\d+),\d+/, '$1,77777')));
    await assert.rejects(loadDataset({ format: 'movielens-csv', path: dir2 }), (e) => isDatasetError(e, 'ERR_DATASET_INTEGRITY') && e.line === 3 && e.column === 2);
  });

  it('a wrong header is ERR_DATASET_FORMAT on line 1', async () => {
    const dir = tempDir();
    writeMovielensCsv(dir, 5);
    editLine(path.join(dir, 'ratings.csv'), 1, () => Buffer.from('user,movie,rating,time'));
    await assert.rejects(loadDataset({ format: 'movielens-csv', path: dir }), (e) => isDatasetError(e, 'ERR_DATASET_FORMAT') && e.line === 1 && e.file === 'ratings.csv');
  });

  it('invalid UTF-8 in movies.csv is an ERR_DATASET_ENCODING', async () => {
    const dir = tempDir();
    writeMovielensCsv(dir, 6);
    editLine(path.join(dir, 'movies.csv'), 3, (b) => Buffer.concat([b, Buffer.of(0xff)]));
    await assert.rejects(loadDataset({ format: 'movielens-csv', path: dir }), (e) => isDatasetError(e, 'ERR_DATASET_ENCODING') && e.line === 3);
  });

  it('a ratings.csv cut mid-row is ERR_DATASET_TRUNCATED; a header-only one is ERR_DATASET_EMPTY', async () => {
    const dir = tempDir();
    const truth = writeMovielensCsv(dir, 7);
    const file = path.join(dir, 'ratings.csv');
    fs.writeFileSync(file, cutInLastRow(fs.readFileSync(file), truth.ratings.at(-1)![0].length + 2));
    await assert.rejects(loadDataset({ format: 'movielens-csv', path: dir }), (e) => isDatasetError(e, 'ERR_DATASET_TRUNCATED') && e.line === truth.ratings.length + 1);
    fs.writeFileSync(file, 'userId,movieId,rating,timestamp\n');
    await assert.rejects(loadDataset({ format: 'movielens-csv', path: dir }), (e) => isDatasetError(e, 'ERR_DATASET_EMPTY') && /header but no data rows/.test(e.message));
  });
});

describe('data: ml-1m loader (generated files in the ML-1M layout)', () => {
  const tempDir = useTempDirs();

  it("reads '::'-separated ratings and Latin-1 movie titles exactly, and user demographics", async () => {
    const seed = freshSeed();
    const dir = tempDir();
    const truth = writeMl1m(dir, seed);
    const s = await loadDataset({ format: 'ml-1m', path: dir });
    assertMatches(s, truth, `seed ${seed}`);
    assert.ok(s.items.title.some((t) => t!.startsWith('Misérables, Les')));
    const u = s.userIds.index('2')!;
    assert.deepEqual([s.users.fields.gender[u], s.users.fields.age[u], s.users.fields.ageGroup[u], s.users.fields.occupation[u]], ['M', 18, '18-24', 'academic/educator']);
  });

  it('reads ML-10M folders, which have no users.dat', async () => {
    const dir = tempDir();
    const truth = writeMl1m(dir, 11);
    fs.rmSync(path.join(dir, 'users.dat'));
    const s = await loadDataset({ format: 'ml-1m', path: dir });
    assert.equal(s.numInteractions, truth.ratings.length);
    assert.deepEqual(Object.keys(s.users.fields), []);
  });

  it('a wrong field count, an unknown age code or a cut file are located errors', async () => {
    const dir = tempDir();
    writeMl1m(dir, 12);
    editLine(path.join(dir, 'ratings.dat'), 5, (b) => Buffer.from(b.toString().replace(/::\d+$/, '')));
    await assert.rejects(loadDataset({ format: 'ml-1m', path: dir }), (e) => isDatasetError(e, 'ERR_DATASET_PARSE') && e.file === 'ratings.dat' && e.line === 5);
    const dir2 = tempDir();
    writeMl1m(dir2, 12);
    editLine(path.join(dir2, 'users.dat'), 2, (b) => Buffer.from(b.toString().replace(/::18::/, '::19::')));
    await assert.rejects(loadDataset({ format: 'ml-1m', path: dir2 }), (e) => isDatasetError(e, 'ERR_DATASET_PARSE') && e.line === 2 && e.field === 'Age');
    const dir3 = tempDir();
    writeMl1m(dir3, 12);
    const file = path.join(dir3, 'ratings.dat');
    fs.writeFileSync(file, cutInLastRow(fs.readFileSync(file), 4));
    await assert.rejects(loadDataset({ format: 'ml-1m', path: dir3 }), (e) => isDatasetError(e, 'ERR_DATASET_TRUNCATED'));
  });

  it('invalid UTF-8 in users.dat is ERR_DATASET_ENCODING; an empty ratings.dat is ERR_DATASET_EMPTY', async () => {
    const dir = tempDir();
    writeMl1m(dir, 13);
    editLine(path.join(dir, 'users.dat'), 4, (b) => Buffer.concat([b.subarray(0, 3), Buffer.of(0xfe), b.subarray(3)]));
    await assert.rejects(loadDataset({ format: 'ml-1m', path: dir }), (e) => isDatasetError(e, 'ERR_DATASET_ENCODING') && e.file === 'users.dat' && e.line === 4 && e.column === 4);
    const dir2 = tempDir();
    writeMl1m(dir2, 13);
    fs.writeFileSync(path.join(dir2, 'ratings.dat'), '');
    await assert.rejects(loadDataset({ format: 'ml-1m', path: dir2 }), (e) => isDatasetError(e, 'ERR_DATASET_EMPTY') && e.file === 'ratings.dat');
  });
});
