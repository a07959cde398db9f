import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import zlib from 'node:zlib';

import { runCli, spawnCli } from '../helpers/cli';
import { TestServer } from '../helpers/http-server';
import { requireShared, sharedDataset } from '../helpers/shared';
import { copyFolder, editLine, useTempDirs } from '../helpers/tempdir';

const ROOT = path.resolve(__dirname, '..', '..');
const ML100K = sharedDataset('ml-100k');

const semrec = (...args: string[]) => spawnCli(args);

describe('cli: semrec data', () => {
  const tempDir = useTempDirs();

  before(function () {
    requireShared(this as unknown as Mocha.Context, path.join(ML100K, 'u.data'));
  });

  it('data stats --json prints one JSON object with users, items and interactions', () => {
    const r = semrec('data', 'stats', '--format', 'ml-100k', '--path', ML100K, '--json');
    assert.equal(r.status, 0, r.stderr);
    const stats = JSON.parse(r.stdout);
    assert.deepEqual([stats.users, stats.items, stats.interactions], [943, 1682, 100000]);
    assert.equal(stats.format, 'ml-100k');
    assert.equal(stats.loadReport.skipped, 0);
  });

  it('data stats prints a readable summary', () => {
    const r = semrec('data', 'stats', '--format', 'amazon-reviews', '--path', sharedDataset('amazon-musical-instruments-5core'), '--simulate-signals');
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /users 1,429, items 900, interactions 10,261/);
    assert.match(r.stdout, /reviews: 10,254/);
    assert.match(r.stdout, /transaction signals \(SIMULATED\)/);
  });

  it('a malformed file exits 1 naming the file, line and code', () => {
    const dir = copyFolder(ML100K, tempDir());
    editLine(path.join(dir, 'u.data'), 12, (b) => Buffer.from(b.toString().replace(/\t\d+$/, '\tlater')));
    const r = semrec('data', 'stats', '--format', 'ml-100k', '--path', dir, '--json');
    assert.equal(r.status, 1);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /u\.data:12:4 \(timestamp\): .*\[ERR_DATASET_PARSE\]/);
  });

  it('--on-error skip loads the rest and lists the skipped rows', () => {
    const dir = copyFolder(ML100K, tempDir());
    editLine(path.join(dir, 'u.data'), 12, (b) => Buffer.from(b.toString().replace(/\t\d+$/, '\tlater')));
    const r = semrec('data', 'stats', '--format', 'ml-100k', '--path', dir, '--on-error', 'skip');
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /interactions 99,999/);
    assert.match(r.stdout, /u\.data:12:4 timestamp 'later' is not a number of seconds \[ERR_DATASET_PARSE\]/);
  });

  it('data split --json describes the protocol and the parts', () => {
    const r = semrec('data', 'split', '--format', 'ml-100k', '--path', ML100K, '--protocol', 'leave-one-out', '--seed', '3', '--json');
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.equal(out.protocol.name, 'leave-one-out');
    assert.equal(out.protocol.seed, 3);
    assert.deepEqual([out.parts.test.interactions, out.parts.validation.interactions, out.parts.train.interactions], [943, 943, 98114]);
  });

  it('interactions-csv takes its column mapping from --columns', () => {
    const file = path.join(tempDir(), 'log.tsv');
    fs.writeFileSync(file, 'u\ti\tr\na\tx\t1\nb\tx\t2\nb\ty\t3\n');
    const r = semrec('data', 'stats', '--format', 'interactions-csv', '--path', file, '--delimiter', '\\t', '--columns', 'user=u,item=i,rating=r', '--json');
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout).ratings.histogram, { '1': 1, '2': 1, '3': 1 });
  });

  it('an unknown format is refused by the argument parser', () => {
    const r = semrec('data', 'stats', '--format', 'netflix', '--path', ML100K);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /Allowed choices are ml-100k, movielens-csv, ml-1m, amazon-reviews, myanimelist, interactions-csv/);
  });

  it('data download fetches by the publisher path from --mirror and prints how to load the result', async () => {
    const server = new TestServer();
    const mirror = await server.start();
    try {
      const review = { reviewerID: 'A1', asin: 'B1', overall: 4, unixReviewTime: 1400000000, reviewText: 'Fine', summary: 'ok' };
      server.files.set('/data/amazon/productGraph/categoryFiles/reviews_Digital_Music_5.json.gz', { body: zlib.gzipSync(JSON.stringify(review)) });
      server.files.set('/data/amazon/productGraph/categoryFiles/meta_Digital_Music.json.gz', { body: zlib.gzipSync(`{'asin': 'B1', 'title': 'Album'}`) });
      const dir = tempDir();
      // async: the server answers from this process while the CLI runs
      const { stdout } = await promisify(execFile)(process.execPath, ['--require', 'tsx/cjs', path.join(ROOT, 'ts', 'cli', 'main.ts'), 'data', 'download', 'amazon-2014/Digital_Music', '--dir', dir, '--mirror', mirror], { cwd: ROOT });
      assert.match(stdout, /checksum none published, sha256 [0-9a-f]{64}/);
      assert.match(stdout, new RegExp(`load it with: semrec data stats --format amazon-reviews --path ${dir}/amazon-2014-Digital_Music`));
      assert.deepEqual(fs.readdirSync(path.join(dir, 'amazon-2014-Digital_Music')).sort(), ['meta_Digital_Music.json.gz', 'reviews_Digital_Music_5.json.gz']);
    } finally {
      await server.stop();
    }
  });
});

describe('cli: semrec data on paths that are not datasets', () => {
  const tempDir = useTempDirs();

  it('a device or a pipe as --path is a coded error for every format, never a stack trace', async () => {
    const fifo = path.join(tempDir(), 'pipe');
    spawnSync('mkfifo', [fifo]);
    const paths = ['/dev/null', ...(fs.existsSync(fifo) ? [fifo] : [])];
    for (const format of ['ml-100k', 'movielens-csv', 'ml-1m', 'amazon-reviews', 'myanimelist', 'interactions-csv']) {
      for (const p of paths) {
        const r = await runCli(['data', 'stats', '--format', format, '--path', p, '--columns', 'user=0,item=1']);
        assert.equal(r.code, 1, `${format} ${p}: ${r.stderr}`);
        assert.match(r.stderr, /^semrec: .*\[ERR_DATASET_(FORMAT|NOT_FOUND)\]\n$/, `${format} ${p}`);
      }
    }
  });
});
