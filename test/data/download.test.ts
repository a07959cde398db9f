import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';

import yazl from 'yazl';

import { datasetSource, downloadDataset } from '../../ts/data/download';
import { loadDataset } from '../../ts/data/load';
import { isSemrecError } from '../../ts/errors';
import { TestServer } from '../helpers/http-server';
import { useTempDirs } from '../helpers/tempdir';
import { writeMovielensCsv } from './fixtures';

/** A zip of a generated ml-latest-small folder, as GroupLens packs it (one top folder). */
async function movielensZip(folder: string, top: string): Promise<Buffer> {
  const zip = new yazl.ZipFile();
  for (const name of fs.readdirSync(folder)) zip.addFile(path.join(folder, name), `${top}/${name}`);
  zip.end();
  const chunks: Buffer[] = [];
  for await (const chunk of zip.outputStream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

const md5 = (b: Buffer) => createHash('md5').update(b).digest('hex');

describe('data: dataset downloads (against a local server)', () => {
  const tempDir = useTempDirs();
  let server: TestServer;
  let mirror: string;
  let zip: Buffer;

  before(async () => {
    server = new TestServer();
    mirror = await server.start();
    const folder = tempDir();
    writeMovielensCsv(folder, 21);
    zip = await movielensZip(folder, 'ml-latest-small');
  });
  after(() => server.stop());
  beforeEach(() => {
    server.files.clear();
    server.requests.length = 0;
  });

  const leftovers = (dir: string) => fs.readdirSync(dir).filter((f) => f.startsWith('.') || f.endsWith('.part') || f.endsWith('.zip'));

  it('fetches the GroupLens archive and its .md5 by their publisher paths, verifies, extracts and loads', async () => {
    server.files.set('/datasets/movielens/ml-latest-small.zip', { body: zip, etag: '"v1"' });
    server.files.set('/datasets/movielens/ml-latest-small.zip.md5', { body: Buffer.from(`MD5 (ml-latest-small.zip) = ${md5(zip)}\n`) });
    const dir = tempDir();
    const result = await downloadDataset('ml-latest-small', { dir, mirror });
    assert.deepEqual(server.requests.map((r) => r.path), ['/datasets/movielens/ml-latest-small.zip', '/datasets/movielens/ml-latest-small.zip.md5']);
    assert.equal(result.path, path.join(dir, 'ml-latest-small'));
    assert.equal(result.files[0].checksum, 'verified');
    assert.deepEqual(leftovers(dir), []);
    const store = await loadDataset({ format: result.format, path: result.path });
    assert.ok(store.numInteractions > 0);
    assert.equal(new URL(datasetSource('ml-latest-small').files[0].url).host, 'files.grouplens.org');
  });

  it('resumes a broken-off download with Range and If-Range', async () => {
    server.files.set('/datasets/movielens/ml-latest-small.zip', { body: zip, etag: '"v1"', cutAfter: 1000 });
    server.files.set('/datasets/movielens/ml-latest-small.zip.md5', { body: Buffer.from(md5(zip)) });
    const dir = tempDir();
    await assert.rejects(downloadDataset('ml-latest-small', { dir, mirror }), (e) => isSemrecError(e, 'ERR_DOWNLOAD') && /resume/.test(e.message));
    assert.equal(fs.statSync(path.join(dir, 'ml-latest-small.zip.part')).size, 1000);
    assert.ok(!fs.existsSync(path.join(dir, 'ml-latest-small')), 'nothing half-written in place');
    const result = await downloadDataset('ml-latest-small', { dir, mirror });
    assert.deepEqual(server.requests.at(-2), { path: '/datasets/movielens/ml-latest-small.zip', range: 'bytes=1000-', ifRange: '"v1"' });
    assert.equal(result.files[0].resumedFrom, 1000);
    assert.equal(result.files[0].bytes, zip.length);
    assert.deepEqual(leftovers(dir), []);
  });

  it('starts over when the file changed on the server since the part was written', async () => {
    server.files.set('/datasets/movielens/ml-latest-small.zip', { body: zip, etag: '"v1"', cutAfter: 1000 });
    server.files.set('/datasets/movielens/ml-latest-small.zip.md5', { body: Buffer.from(md5(zip)) });
    const dir = tempDir();
    await assert.rejects(downloadDataset('ml-latest-small', { dir, mirror }));
    server.files.set('/datasets/movielens/ml-latest-small.zip', { body: zip, etag: '"v2"' });
    const result = await downloadDataset('ml-latest-small', { dir, mirror });
    assert.equal(result.files[0].resumedFrom, 0);
    assert.equal(result.files[0].bytes, zip.length);
  });

  it("rejects an archive that does not match the publisher's checksum and leaves nothing behind", async () => {
    server.files.set('/datasets/movielens/ml-100k.zip', { body: zip }); // not GroupLens' ml-100k.zip: the pinned MD5 differs
    const dir = tempDir();
    await assert.rejects(downloadDataset('ml-100k', { dir, mirror }), (e) => isSemrecError(e, 'ERR_CHECKSUM') && /0e33842e24a9c977be4e0107933c0723/.test(e.message));
    assert.deepEqual(fs.readdirSync(dir), []);
  });

  it('gathers the Amazon review and metadata files into one folder that loads, and reports their SHA-256', async () => {
    const reviews = [
      { reviewerID: 'A1', asin: 'B1', overall: 5, unixReviewTime: 1400000000, reviewText: 'Great strings', summary: 'good' },
      { reviewerID: 'A2', asin: 'B1', overall: 2, unixReviewTime: 1400000100, reviewText: 'Snapped', summary: 'bad' },
    ];
    const reviewsGz = zlib.gzipSync(reviews.map((r) => JSON.stringify(r)).join('\n') + '\n');
    const metaGz = zlib.gzipSync(`{'asin': 'B1', 'title': 'Guitar strings', 'categories': [['Musical Instruments', 'Strings']]}\n`);
    server.files.set('/data/amazon/productGraph/categoryFiles/reviews_Musical_Instruments_5.json.gz', { body: reviewsGz });
    server.files.set('/data/amazon/productGraph/categoryFiles/meta_Musical_Instruments.json.gz', { body: metaGz });
    const dir = tempDir();
    const result = await downloadDataset('amazon-2014/Musical_Instruments', { dir, mirror });
    assert.deepEqual(result.files.map((f) => [f.checksum, f.sha256]), [
      ['none published', createHash('sha256').update(reviewsGz).digest('hex')],
      ['none published', createHash('sha256').update(metaGz).digest('hex')],
    ]);
    const store = await loadDataset({ format: 'amazon-reviews', path: result.path });
    assert.equal(store.numInteractions, 2);
    assert.equal(store.items.title[0], 'Guitar strings');
    assert.deepEqual(leftovers(dir), []);
  });

  it('does nothing when the dataset folder is already there', async () => {
    const dir = tempDir();
    fs.mkdirSync(path.join(dir, 'ml-latest-small'));
    const result = await downloadDataset('ml-latest-small', { dir, mirror });
    assert.equal(result.existed, true);
    assert.equal(server.requests.length, 0);
  });

  it('reports HTTP errors and unknown names as ERR_DOWNLOAD', async () => {
    await assert.rejects(downloadDataset('ml-1m', { dir: tempDir(), mirror }), (e) => isSemrecError(e, 'ERR_DOWNLOAD') && /HTTP 404/.test(e.message));
    await assert.rejects(downloadDataset('ml-3m', { dir: tempDir(), mirror }), (e) => isSemrecError(e, 'ERR_DOWNLOAD') && /unknown dataset/.test(e.message));
    await assert.rejects(downloadDataset('myanimelist', { dir: tempDir(), mirror }), (e) => isSemrecError(e, 'ERR_DOWNLOAD') && /Kaggle/.test(e.message));
  });

  it('stops at the next chunk when aborted, keeping the part for a later resume', async () => {
    const big = Buffer.alloc(8 << 20, 7);
    server.files.set('/datasets/movielens/ml-latest-small.zip', { body: big, etag: '"big"' });
    const dir = tempDir();
    const controller = new AbortController();
    await assert.rejects(
      downloadDataset('ml-latest-small', {
        dir,
        mirror,
        signal: controller.signal,
        onProgress: (e) => {
          if (e.done > 1 << 20) controller.abort();
        },
      }),
      (e) => isSemrecError(e, 'ERR_ABORTED'),
    );
    assert.ok(fs.existsSync(path.join(dir, 'ml-latest-small.zip.part')));
    assert.ok(!fs.existsSync(path.join(dir, 'ml-latest-small.zip')));
  });
});
