import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';

import { isDatasetError } from '../../ts/data/errors';
import { loadDataset } from '../../ts/data/load';
import { requireShared, sharedDataset } from '../helpers/shared';
import { editLine, useTempDirs } from '../helpers/tempdir';

const REVIEWS = sharedDataset('amazon-musical-instruments-5core/Musical_Instruments.json');

describe('data: amazon-reviews loader', () => {
  const tempDir = useTempDirs();
  /** A copy of the review file in a fresh temp folder. */
  const copy = (name = 'reviews_Musical_Instruments_5.json') => {
    const file = path.join(tempDir(), name);
    fs.copyFileSync(REVIEWS, file);
    return file;
  };

  before(function () {
    requireShared(this as unknown as Mocha.Context, REVIEWS);
  });

  it('loads Musical Instruments 5-core: 1,429 users, 900 items, 10,261 reviews', async () => {
    const s = await loadDataset({ format: 'amazon-reviews', path: path.dirname(REVIEWS) });
    assert.deepEqual([s.numUsers, s.numItems, s.numInteractions], [1429, 900, 10261]);
    const st = s.stats();
    assert.equal(st.perUser.min, 5); // 5-core: every user and item has at least 5 reviews
    assert.equal(st.perItem.min, 5);
    assert.equal(st.ratings.explicit, 10261);
    assert.equal(st.reviews, 10254); // 7 reviews have empty text
  });

  it('keeps review text, summary, stars and time per interaction', async () => {
    const s = await loadDataset({ format: 'amazon-reviews', path: REVIEWS });
    // first line: A2IBPI20UZIR0U on 1384719342, 5 stars, 1393545600, summary "good"
    const u = s.userIds.index('A2IBPI20UZIR0U')!;
    const k = Array.from({ length: s.numInteractions }, (_, j) => j).find((j) => s.userIdx[j] === u && s.itemIds.raw(s.itemIdx[j]) === '1384719342')!;
    assert.equal(s.rating[k], 5);
    assert.equal(s.timestamp[k], 1393545600);
    assert.equal(s.reviewSummary![k], 'good');
    assert.match(s.review![k]!, /^Not much to write about here, but it does exactly what it's supposed to\./);
  });

  it('reads the gzip file the publisher ships the same as the plain one', async () => {
    const file = path.join(tempDir(), 'reviews_Musical_Instruments_5.json.gz');
    fs.writeFileSync(file, zlib.gzipSync(fs.readFileSync(REVIEWS)));
    const gz = await loadDataset({ format: 'amazon-reviews', path: file });
    const plain = await loadDataset({ format: 'amazon-reviews', path: REVIEWS });
    assert.equal(gz.numInteractions, plain.numInteractions);
    assert.deepEqual(gz.rating, plain.rating);
    assert.deepEqual(gz.review, plain.review);
    assert.equal(gz.name, 'amazon-Musical_Instruments_5');
  });

  it('takes titles, categories, description and price from meta_*.json in either release format', async () => {
    const dir = tempDir();
    fs.copyFileSync(REVIEWS, path.join(dir, 'reviews_Musical_Instruments_5.json'));
    const meta = [
      // 2014: Python dict literals
      `{'asin': '1384719342', 'title': 'Pop Filter \\'Studio\\' caf\\xe9', 'price': 7.99, 'categories': [['Musical Instruments', 'Microphones & Accessories']], 'description': 'A double screen.'}`,
      // 2018: JSON
      JSON.stringify({ asin: 'B00004Y2UT', title: 'Cable', price: '$12.50', category: ['Musical Instruments', 'Cables'], description: ['Line 1', 'Line 2'], brand: 'Hosa' }),
      JSON.stringify({ asin: 'NOT-REVIEWED', title: 'ignored' }),
    ];
    fs.writeFileSync(path.join(dir, 'meta_Musical_Instruments.json'), meta.join('\n') + '\n');
    const s = await loadDataset({ format: 'amazon-reviews', path: dir });
    assert.equal(s.numItems, 900);
    const a = s.itemIds.index('1384719342')!;
    assert.equal(s.items.title[a], "Pop Filter 'Studio' café");
    assert.deepEqual(s.items.genres[a], ['Musical Instruments', 'Microphones & Accessories']);
    assert.equal(s.items.numeric.price[a], 7.99);
    assert.equal(s.items.text.description[a], 'A double screen.');
    const b = s.itemIds.index('B00004Y2UT')!;
    assert.equal(s.items.numeric.price[b], 12.5);
    assert.equal(s.items.text.description[b], 'Line 1\nLine 2');
    assert.equal(s.items.text.brand[b], 'Hosa');
    assert.equal(s.itemIds.index('NOT-REVIEWED'), undefined);
  });

  it('a line that is not JSON is an ERR_DATASET_PARSE at its line and character', async () => {
    const file = copy();
    let expectedColumn = 0;
    editLine(file, 5, (b) => {
      const broken = b.toString().replace('"asin": "', '"asin" "');
      expectedColumn = broken.indexOf('"asin" "') + '"asin" '.length + 1; // JSON.parse stops at the value's quote
      return Buffer.from(broken);
    });
    await assert.rejects(loadDataset({ format: 'amazon-reviews', path: file }), (e) => {
      assert.ok(isDatasetError(e, 'ERR_DATASET_PARSE'), String(e));
      assert.equal(e.file, 'reviews_Musical_Instruments_5.json');
      assert.equal(e.line, 5);
      assert.equal(e.column, expectedColumn);
      return true;
    });
  });

  it('a review without asin, or with a rating outside 1..5, is an ERR_DATASET_PARSE naming the field', async () => {
    const file = copy();
    editLine(file, 2, (b) => Buffer.from(JSON.stringify({ ...JSON.parse(b.toString()), asin: undefined })));
    await assert.rejects(loadDataset({ format: 'amazon-reviews', path: file }), (e) => isDatasetError(e, 'ERR_DATASET_PARSE') && e.line === 2 && e.field === 'asin');
    const file2 = copy();
    editLine(file2, 3, (b) => Buffer.from(JSON.stringify({ ...JSON.parse(b.toString()), overall: 7 })));
    await assert.rejects(loadDataset({ format: 'amazon-reviews', path: file2 }), (e) => isDatasetError(e, 'ERR_DATASET_PARSE') && e.line === 3 && e.field === 'overall');
  });

  it('invalid UTF-8 in a review is an ERR_DATASET_ENCODING at its line and character', async () => {
    const file = copy();
    editLine(file, 9, (b) => Buffer.concat([b.subarray(0, 20), Buffer.of(0xe2, 0x28, 0xa1), b.subarray(23)]));
    await assert.rejects(loadDataset({ format: 'amazon-reviews', path: file }), (e) => {
      assert.ok(isDatasetError(e, 'ERR_DATASET_ENCODING'), String(e));
      assert.deepEqual([e.line, e.column], [9, 21]);
      return true;
    });
  });

  it('a file cut mid-line, or a truncated gzip stream, is ERR_DATASET_TRUNCATED', async () => {
    const file = copy();
    const data = fs.readFileSync(file);
    fs.writeFileSync(file, data.subarray(0, data.length - 100));
    await assert.rejects(loadDataset({ format: 'amazon-reviews', path: file }), (e) => isDatasetError(e, 'ERR_DATASET_TRUNCATED') && e.line === 10261);
    const gz = path.join(tempDir(), 'reviews.json.gz');
    const packed = zlib.gzipSync(data);
    fs.writeFileSync(gz, packed.subarray(0, packed.length - 1000));
    await assert.rejects(loadDataset({ format: 'amazon-reviews', path: gz }), (e) => isDatasetError(e, 'ERR_DATASET_TRUNCATED'));
  });

  it('an empty review file is ERR_DATASET_EMPTY', async () => {
    const file = path.join(tempDir(), 'reviews.json');
    fs.writeFileSync(file, '\n\n');
    await assert.rejects(loadDataset({ format: 'amazon-reviews', path: file }), (e) => isDatasetError(e, 'ERR_DATASET_EMPTY'));
  });

  it("onError 'skip' keeps the good reviews and reports the bad lines", async () => {
    const file = copy();
    editLine(file, 4, () => Buffer.from('{"broken": '));
    editLine(file, 40, (b) => Buffer.from(JSON.stringify({ ...JSON.parse(b.toString()), overall: 'five' })));
    const s = await loadDataset({ format: 'amazon-reviews', path: file, onError: 'skip' });
    assert.equal(s.numInteractions, 10259);
    assert.equal(s.load!.skipped, 2);
    assert.deepEqual(s.load!.skippedRows.map((r) => [r.line, r.code, r.field]), [[4, 'ERR_DATASET_PARSE', undefined], [40, 'ERR_DATASET_PARSE', 'overall']]);
  });
});
