import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';

import { isDatasetError } from '../../ts/data/errors';
import { loadDataset } from '../../ts/data/load';
import { cleanReview, decodeEntities, durationMinutes } from '../../ts/data/loaders/myanimelist';
import { requireShared, sharedDataset } from '../helpers/shared';
import { useTempDirs } from '../helpers/tempdir';

const MAL = sharedDataset('myanimelist');
const PROFILE_REVIEWS = path.join(MAL, 'reviews_sample_edwz208');
const USERNAME_REVIEWS = path.join(MAL, 'reviews_sample_evolshenanigans');

describe('data: myanimelist loader', () => {
  const tempDir = useTempDirs();

  before(function () {
    requireShared(this as unknown as Mocha.Context, path.join(MAL, 'cooperunion', 'anime.csv'));
  });

  it('loads the uid,profile,anime_uid,text,score sample: 611 users, 39 anime, 637 reviews', async () => {
    const s = await loadDataset({ format: 'myanimelist', path: PROFILE_REVIEWS });
    assert.deepEqual([s.numUsers, s.numItems, s.numInteractions], [611, 39, 637]);
    assert.equal(s.stats().ratings.explicit, 636); // one review has an empty score
    assert.ok(s.review!.every((r) => r !== undefined && !/more pics|Helpful\s*$/.test(r)), 'page furniture is removed');
    assert.ok(s.timestamp.every((t) => Number.isNaN(t)), 'the dump has no times');
  });

  it('loads the anime_id,user_username,score,review sample with anime_data.csv: titles, genres, synopsis', async () => {
    const s = await loadDataset({ format: 'myanimelist', path: USERNAME_REVIEWS });
    const st = s.stats();
    assert.deepEqual([st.users, st.items, st.interactions, st.activeItems], [323, 125, 360, 18]);
    const aot = s.itemIds.index('16498')!;
    assert.equal(s.items.title[aot], 'Shingeki no Kyojin');
    assert.deepEqual(s.items.genres[aot], ['Action', 'Award Winning', 'Drama', 'Suspense']);
    assert.match(s.items.text.synopsis[aot]!, /^Centuries ago, mankind was slaughtered/);
    assert.equal(s.items.numeric.episodes[aot], 25);
    assert.equal(s.items.numeric.durationMin[aot], 24);
    assert.equal(s.items.numeric.year[aot], 2013);
    assert.equal(st.reviews, 360);
  });

  it('joins the CooperUnion catalog and both review samples on anime ids into one store', async () => {
    const s = await loadDataset({ format: 'myanimelist', path: MAL });
    // 12,294 CooperUnion anime + 42 anime only the samples know; 611 + 323 users with 21 usernames in both
    assert.deepEqual([s.numUsers, s.numItems, s.numInteractions], [913, 12336, 997]);
    const gintama = s.itemIds.index('28977')!;
    assert.equal(s.items.title[gintama], "Gintama°");
    assert.ok(s.items.title.includes("Gintama'"), 'HTML entities in CooperUnion names are decoded');
    assert.ok(s.stats().itemMetadata.withGenres > 12000);
    assert.equal(s.stats().reviews, 997);
  });

  it('a catalog without ratings or reviews is ERR_DATASET_NOT_FOUND, not an empty dataset', async () => {
    await assert.rejects(loadDataset({ format: 'myanimelist', path: path.join(MAL, 'cooperunion') }), (e) => isDatasetError(e, 'ERR_DATASET_NOT_FOUND') && /catalogs alone/.test(e.message));
  });

  it('reads CooperUnion rating.csv, where -1 means watched but not rated', async () => {
    const dir = tempDir();
    fs.copyFileSync(path.join(MAL, 'cooperunion', 'anime.csv'), path.join(dir, 'anime.csv'));
    fs.writeFileSync(path.join(dir, 'rating.csv'), 'user_id,anime_id,rating\n1,20,-1\n1,24,8\n2,20,10\n');
    const s = await loadDataset({ format: 'myanimelist', path: dir });
    assert.equal(s.numInteractions, 3);
    assert.equal(s.numItems, 12294);
    const ratings = Array.from(s.rating);
    assert.ok(Number.isNaN(ratings[0]));
    assert.deepEqual(ratings.slice(1), [8, 10]);
    assert.equal(s.items.title[s.itemIds.index('20')!], 'Naruto');
  });

  it('broken quoting in a review file is an ERR_DATASET_PARSE at the line its row starts on', async () => {
    const dir = tempDir();
    const file = path.join(dir, 'anime_reviews.csv');
    fs.copyFileSync(path.join(USERNAME_REVIEWS, 'anime_reviews.csv'), file);
    const text = fs.readFileSync(file, 'utf8');
    const rowStart = text.indexOf('\n16498,Gladius650,') + 1;
    const line = text.slice(0, rowStart).split('\n').length;
    fs.writeFileSync(file, text.slice(0, rowStart) + text.slice(rowStart).replace('10,"', '10,x"'));
    await assert.rejects(loadDataset({ format: 'myanimelist', path: dir }), (e) => isDatasetError(e, 'ERR_DATASET_PARSE') && e.line === line && /quoting/.test(e.message));
  });

  it('a score that is not a number, or outside 1..10, names line, column and field', async () => {
    const dir = tempDir();
    const file = path.join(dir, 'anime_reviews.csv');
    fs.copyFileSync(path.join(USERNAME_REVIEWS, 'anime_reviews.csv'), file);
    const text = fs.readFileSync(file, 'utf8');
    const rowStart = text.indexOf('\n16498,Gladius650,') + 1;
    const line = text.slice(0, rowStart).split('\n').length;
    fs.writeFileSync(file, text.slice(0, rowStart) + text.slice(rowStart).replace('Gladius650,10,', 'Gladius650,ten,'));
    await assert.rejects(loadDataset({ format: 'myanimelist', path: dir }), (e) => isDatasetError(e, 'ERR_DATASET_PARSE') && e.line === line && e.column === 3 && e.field === 'score');
    fs.writeFileSync(file, text.slice(0, rowStart) + text.slice(rowStart).replace('Gladius650,10,', 'Gladius650,11,'));
    await assert.rejects(loadDataset({ format: 'myanimelist', path: dir }), (e) => isDatasetError(e, 'ERR_DATASET_PARSE') && /outside 1\.\.10/.test(e.message));
  });

  it('invalid UTF-8 inside a multi-line review is an ERR_DATASET_ENCODING at the byte\'s own line', async () => {
    const dir = tempDir();
    const file = path.join(dir, 'reviews_small.csv');
    const data = fs.readFileSync(path.join(PROFILE_REVIEWS, 'reviews_small.csv'));
    const at = data.indexOf(Buffer.from('What makes K-ON! stand out'));
    fs.writeFileSync(file, Buffer.concat([data.subarray(0, at), Buffer.of(0xc0, 0x80), data.subarray(at)]));
    const line = data.subarray(0, at).toString('utf8').split('\n').length;
    const column = data.subarray(data.lastIndexOf(10, at) + 1, at).toString('utf8').length + 1;
    await assert.rejects(loadDataset({ format: 'myanimelist', path: dir }), (e) => isDatasetError(e, 'ERR_DATASET_ENCODING') && e.line === line && e.column === column);
  });

  it('a review file cut inside a quoted review is ERR_DATASET_TRUNCATED', async () => {
    const dir = tempDir();
    const file = path.join(dir, 'anime_reviews.csv');
    const data = fs.readFileSync(path.join(USERNAME_REVIEWS, 'anime_reviews.csv'));
    fs.writeFileSync(file, data.subarray(0, data.length - 200));
    await assert.rejects(loadDataset({ format: 'myanimelist', path: dir }), (e) => isDatasetError(e, 'ERR_DATASET_TRUNCATED'));
  });

  it("onError 'skip' drops the bad reviews and keeps the rest", async () => {
    const dir = tempDir();
    const file = path.join(dir, 'anime_reviews.csv');
    const text = fs.readFileSync(path.join(USERNAME_REVIEWS, 'anime_reviews.csv'), 'utf8');
    fs.writeFileSync(file, text.replace('Gladius650,10,', 'Gladius650,ten,').replace('\n16498,Sorrowful,10,', '\n,Sorrowful,10,'));
    const s = await loadDataset({ format: 'myanimelist', path: dir, onError: 'skip' });
    assert.equal(s.numInteractions, 358);
    assert.deepEqual(s.load!.skippedRows.map((r) => r.field).sort(), ['anime_id', 'score']);
  });
});

describe('data: myanimelist field cleaning', () => {
  it('parses episode durations to minutes', () => {
    assert.equal(durationMinutes('24 min per ep'), 24);
    assert.equal(durationMinutes('1 hr 55 min'), 115);
    assert.equal(durationMinutes('2 hr'), 120);
    assert.ok(Number.isNaN(durationMinutes('Unknown')));
  });

  it('decodes HTML entities', () => {
    assert.equal(decodeEntities('Gintama&#039; &amp; &quot;x&quot; &#x41;'), `Gintama' & "x" A`);
  });

  it('strips the scraped score block and the Helpful footer from reviews', () => {
    const raw = '\n\n   more pics\n\n  Overall\n  9\n\n  Story\n  8\n\n  Animation\n 9\n\n Sound\n 10\n\n Character\n 9\n\n Enjoyment\n 8\n\n\n  Great show.\n\n  Helpful\n\n ';
    assert.equal(cleanReview(raw), 'Great show.');
    assert.equal(cleanReview('Plain review'), 'Plain review');
  });
});
