/**
 * `semrec batch embed` against a private Redis with worker processes: a JSON-lines catalog and a
 * dataset's item texts go through use-lite in shards into one embedding file whose ids, order, header
 * and vectors are those of encoding in one process (`semrec embed --no-reviews` for a dataset).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';

import { createEncoder } from '../../ts/semantic/encoder';
import { readEmbeddingFile } from '../../ts/semantic/embedding-file';
import { runCli, writeMl100kLike } from '../helpers/cli';
import { type CliProcess, killWorkers, RedisServer, requireRedis, spawnCli, startWorker, type WorkerProcess } from '../helpers/redis';
import { useTempDirs } from '../helpers/tempdir';

/**
 * Largest difference allowed between a vector encoded in a shard and in one process. A shard batches
 * other texts together, so onnxruntime runs its matrix products on other padded shapes and rounds
 * differently in the last bits (measured: at most 3.7e-8 on ml-100k's 1,682 titles); 1e-6 is far below
 * anything that changes a ranking and far above that rounding.
 */
const SHARD_TOLERANCE = 1e-6;

function maxDifference(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
  return worst;
}

describe('batch embed (distributed encoding)', function () {
  this.timeout(300_000);
  /** The suite's own queue (CI shares one Redis between suites). */
  const QUEUE = 'test-batch-embed';
  const tempDir = useTempDirs('semrec-batch-embed-');
  let redis: RedisServer;
  let workers: WorkerProcess[] = [];
  const commands: CliProcess[] = [];
  /** A command that waits on the workers runs in a child process, killed if the test gives up on it. */
  const follow = (args: string[]) => {
    const command = spawnCli(args);
    commands.push(command);
    return command.result;
  };

  before(async function () {
    requireRedis(this);
    redis = await RedisServer.forSuite();
    workers = await Promise.all([startWorker(redis.url, ['--queue', QUEUE]), startWorker(redis.url, ['--queue', QUEUE])]);
  });
  afterEach(async () => {
    await killWorkers(commands.splice(0));
  });
  after(async () => {
    await killWorkers(workers);
    await redis?.destroy();
  });

  it('encodes a JSON-lines catalog in shards into one file, rows in catalog order', async () => {
    const dir = tempDir();
    const catalog = path.join(dir, 'catalog.jsonl');
    const texts = Array.from({ length: 45 }, (_, i) => `Item ${i}: a ${['red', 'quiet', 'vintage', 'small', 'bright'][i % 5]} ${['guitar', 'pedal', 'amplifier'][i % 3]} for ${i % 2 ? 'beginners' : 'studios'}`);
    fs.writeFileSync(catalog, texts.map((text, i) => JSON.stringify({ id: i % 4 === 0 ? i : `sku-${i}`, text })).join('\n') + '\n');
    const out = path.join(dir, 'catalog.semb');
    const { code, stdout, stderr } = await follow(['batch', 'embed', '--redis', redis.url, '--queue', QUEUE, '--poll-ms', '100', '--texts', catalog, '--shard-texts', '7', '--no-cache', '--out', out, '--json']);
    assert.equal(code, 0, stderr);
    const summary = JSON.parse(stdout);
    assert.equal(summary.texts, 45);
    assert.equal(summary.shards, 7);
    const file = await readEmbeddingFile(out);
    const items = file.sections.get('items')!;
    assert.deepEqual(items.rowIds, texts.map((_, i) => (i % 4 === 0 ? String(i) : `sku-${i}`)));
    const encoder = await createEncoder({ model: 'use-lite', maxLength: 256 });
    try {
      assert.equal(file.encoderId, encoder.id);
      assert.ok(maxDifference(items.data, await encoder.encode(texts)) < SHARD_TOLERANCE);
    } finally {
      await encoder.release();
    }
  });

  it("writes what semrec embed --no-reviews writes for a dataset's item texts", async () => {
    const data = tempDir();
    writeMl100kLike(data);
    const dir = tempDir();
    const batchOut = path.join(dir, 'batch.semb');
    const singleOut = path.join(dir, 'single.semb');
    const batch = await follow(['batch', 'embed', '--redis', redis.url, '--queue', QUEUE, '--poll-ms', '100', '--format', 'ml-100k', '--path', data, '--shard-texts', '8', '--out', batchOut]);
    assert.equal(batch.code, 0, batch.stderr);
    assert.match(batch.stdout, /wrote .*batch\.semb: 30 texts as 512-d vectors \(4 shards\)/);
    const single = await runCli(['embed', '--format', 'ml-100k', '--path', data, '--no-reviews', '--no-cache', '--out', singleOut]);
    assert.equal(single.code, 0, single.stderr);
    const [a, b] = [await readEmbeddingFile(batchOut), await readEmbeddingFile(singleOut)];
    assert.equal(a.encoderId, b.encoderId);
    assert.deepEqual(a.meta, b.meta);
    assert.deepEqual(a.sections.get('items')!.rowIds, b.sections.get('items')!.rowIds);
    assert.ok(maxDifference(a.sections.get('items')!.data, b.sections.get('items')!.data) < SHARD_TOLERANCE);
  });

  it('refuses a catalog line that is not { id, text }, naming the file and line', async () => {
    const dir = tempDir();
    const catalog = path.join(dir, 'bad.jsonl');
    fs.writeFileSync(catalog, '{"id": 1, "text": "fine"}\n{"id": 2, "title": "no text"}\n');
    const { code, stderr } = await runCli(['batch', 'embed', '--redis', redis.url, '--queue', QUEUE, '--texts', catalog, '--out', path.join(dir, 'x.semb')]);
    assert.equal(fs.existsSync(path.join(dir, 'x.semb.batch')), false, 'no shard inputs are left behind');
    assert.equal(code, 1);
    assert.match(stderr, /--texts .*bad\.jsonl, line 2: expected \{ "id": string or number, "text": string \}/);
  });
});
