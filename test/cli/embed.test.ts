import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { readEmbeddingFile } from '../../ts/semantic/embedding-file';
import { runCli as run } from '../helpers/cli';
import { Random } from '../helpers/random';

/** A small Amazon-style review file: 6 items, 40 reviews, praise for 4-5 stars and complaints for 1-2. */
function writeReviews(dir: string): void {
  const rng = new Random(11);
  const good = ['Great strings, bright tone.', 'Love this pedal, works perfectly.', 'Excellent value, highly recommend.', 'Sounds amazing on my guitar.'];
  const bad = ['Broke after a week.', 'Terrible hum, returned it.', 'Cheap junk, do not buy.', 'Arrived damaged and useless.'];
  const lines: string[] = [];
  for (let r = 0; r < 40; r++) {
    const stars = [1, 2, 4, 5, 5][r % 5];
    const text = (stars >= 4 ? good : bad)[rng.int(0, 3)];
    lines.push(JSON.stringify({ reviewerID: `U${r}`, asin: `B00${r % 6}`, overall: stars, reviewText: text, summary: stars >= 4 ? 'good' : 'bad', unixReviewTime: 1_300_000_000 + r * 3600 }));
  }
  fs.writeFileSync(path.join(dir, 'reviews_Test_5.json'), `${lines.join('\n')}\n`);
}

describe('cli: semrec embed', function () {
  this.timeout(300_000);
  let dir: string; // the dataset folder (the loader reads every *.json in it)
  let work: string; // outputs and caches
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'semrec-embed-cli-'));
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'semrec-embed-out-'));
    writeReviews(dir);
  });
  after(() => {
    fs.rmSync(dir, { recursive: true, force: true });
    fs.rmSync(work, { recursive: true, force: true });
  });

  it('encodes item texts and reviews with use-lite, trains sentiment, and summarises as JSON', async () => {
    const out = path.join(work, 'out.semb');
    const head = path.join(work, 'head.json');
    const cacheDir = path.join(work, 'cache');
    const { code, stdout } = await run(['embed', '--format', 'amazon-reviews', '--path', dir, '--encoder', 'use-lite', '--out', out, '--train-sentiment', head, '--cache-dir', cacheDir, '--json']);
    assert.equal(code, 0);
    const summary = JSON.parse(stdout);
    assert.equal(summary.items, 6);
    assert.equal(summary.reviews, 40);
    assert.equal(summary.dim, 512);
    assert.ok(summary.textsPerSecond > 0);
    const file = await readEmbeddingFile(out);
    const items = file.sections.get('items')!;
    assert.equal(items.rows, 6);
    assert.deepEqual(items.rowIds, ['B000', 'B001', 'B002', 'B003', 'B004', 'B005']);
    const reviews = file.sections.get('reviews')!;
    assert.equal(reviews.rows, 40);
    assert.ok(Math.abs(Math.hypot(...reviews.data.subarray(0, 512)) - 1) < 1e-4, 'use-lite vectors are unit length');
    const sentiment = file.sections.get('sentiment')!.data;
    const stars = [1, 2, 4, 5, 5];
    for (let r = 0; r < 40; r++) assert.equal(sentiment[r] > 0.5, stars[r % 5] >= 4, `review ${r}`);
    assert.ok(fs.existsSync(head));
  });

  it('serves a second run from the embedding cache', async () => {
    const cacheDir = path.join(work, 'cache2');
    const args = ['embed', '--format', 'amazon-reviews', '--path', dir, '--out', path.join(work, 'again.semb'), '--cache-dir', cacheDir, '--json'];
    const r1 = await run(args);
    assert.equal(r1.code, 0, r1.stderr);
    const first = JSON.parse(r1.stdout);
    const second = JSON.parse((await run(args)).stdout);
    assert.equal(first.cacheHits, 0);
    assert.equal(second.encoded, 0);
    assert.equal(second.cacheHits, 46);
  });

  it('fails with a coded error naming a missing dataset path', async () => {
    const r = await run(['embed', '--format', 'amazon-reviews', '--path', path.join(dir, 'nope'), '--out', path.join(work, 'x.semb')]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /nope.*ERR_DATASET_NOT_FOUND/s);
  });

  it('refuses an --out it cannot write before encoding anything, with ERR_WRITE', async () => {
    const r = await run(['embed', '--format', 'amazon-reviews', '--path', dir, '--out', work, '--cache-dir', path.join(work, 'cache')]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^semrec: cannot write .*: it is a directory \[ERR_WRITE\]\n$/);
  });

  it('takes the dataset options every dataset command takes (--on-error, --duplicates)', async () => {
    const out = path.join(work, 'opts.semb');
    const r = await run(['embed', '--format', 'amazon-reviews', '--path', dir, '--on-error', 'skip', '--duplicates', 'keep-first', '--no-reviews', '--out', out, '--cache-dir', path.join(work, 'cache'), '--json']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal((await readEmbeddingFile(out)).sections.get('items')!.rows, 6);
  });
});
