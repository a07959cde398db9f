/**
 * `semrec batch eval` against a private Redis with worker processes: the merged report of a grid equals
 * `semrec eval` run in one process (training with one thread is bit-reproducible, so every mean, interval
 * and paired test must match exactly); a grid over two datasets gives one report each; a cell that fails
 * for good leaves the batch incomplete, names the cell and its error, and `batch resume` finishes it.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';

import { runCli, writeMl100kLike } from '../helpers/cli';
import { type CliProcess, killWorkers, RedisServer, requireRedis, spawnCli, startWorker, type WorkerProcess } from '../helpers/redis';
import { useTempDirs } from '../helpers/tempdir';

/** The parts of a report that are results (timings, dates and the machine are not). */
function results(report: { models: Record<string, Record<string, unknown>>; protocol: unknown; dataset: unknown; reference?: string }) {
  const models: Record<string, unknown> = {};
  for (const [name, m] of Object.entries(report.models)) {
    const perSeed = (m.perSeed as Record<string, unknown>[]).map(({ trainSeconds, evalSeconds, ...rest }) => rest);
    models[name] = { params: m.params, metrics: m.metrics, std: m.std, ci95: m.ci95, tests: m.tests, perSeed };
  }
  return { dataset: report.dataset, protocol: report.protocol, reference: report.reference, models };
}

describe('batch eval (distributed grid)', function () {
  this.timeout(240_000);
  /** The suite's own queue (CI shares one Redis between suites). */
  const QUEUE = 'test-batch-eval';
  const tempDir = useTempDirs('semrec-batch-eval-');
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
    workers = await Promise.all([startWorker(redis.url, ['--queue', QUEUE, '--threads', '1']), startWorker(redis.url, ['--queue', QUEUE, '--threads', '1'])]);
  });
  afterEach(async () => {
    await killWorkers(commands.splice(0));
  });
  after(async () => {
    await killWorkers(workers);
    await redis?.destroy();
  });

  it('merges a models x seeds grid into the report semrec eval gives in one process', async () => {
    const data = tempDir();
    writeMl100kLike(data);
    const grid = ['--models', 'pop,itemknn,bpr', '--protocol', 'ratio-8-1-1', '--seeds', '42,43', '--set', 'bpr.epochs=3', '--set', 'bpr.dim=8', '--threads', '1'];
    const out = path.join(tempDir(), 'grid.json');
    const batch = await follow(['batch', 'eval', '--redis', redis.url, '--queue', QUEUE, '--poll-ms', '100', '--dataset', `ml-100k:${data}`, ...grid, '--out', out, '--json']);
    assert.equal(batch.code, 0, batch.stderr);
    const single = await runCli(['eval', '--format', 'ml-100k', '--path', data, ...grid, '--json']);
    assert.equal(single.code, 0, single.stderr);
    const merged = JSON.parse(fs.readFileSync(out, 'utf8'));
    assert.equal(merged.reports.length, 1);
    assert.deepEqual(results(merged.reports[0]), results(JSON.parse(single.stdout)));
    assert.equal(fs.existsSync(`${out}.batch`), false, 'the work dir is removed once the batch is complete');
  });

  it('evaluates a sequential model with --keep-seen as semrec eval does', async () => {
    // sasrec scores each user from their ordered history, which a worker builds once per seed's split;
    // --keep-seen must reach every cell (RecBole ranks seen items for sequential models).
    const data = tempDir();
    writeMl100kLike(data, 5);
    const grid = ['--models', 'pop,sasrec', '--protocol', 'leave-one-out', '--seeds', '7', '--keep-seen', '--threads', '1',
      '--set', 'sasrec.epochs=2', '--set', 'sasrec.hidden=8', '--set', 'sasrec.inner=16', '--set', 'sasrec.maxLength=8'];
    const out = path.join(tempDir(), 'grid.json');
    const batch = await follow(['batch', 'eval', '--redis', redis.url, '--queue', QUEUE, '--poll-ms', '100', '--dataset', `ml-100k:${data}`, ...grid, '--out', out, '--json']);
    assert.equal(batch.code, 0, batch.stderr);
    const single = await runCli(['eval', '--format', 'ml-100k', '--path', data, ...grid, '--json']);
    assert.equal(single.code, 0, single.stderr);
    const merged = JSON.parse(fs.readFileSync(out, 'utf8'));
    assert.match(merged.reports[0].protocol.excluded, /including those of the user in the training and validation parts/);
    assert.deepEqual(results(merged.reports[0]), results(JSON.parse(single.stdout)));
  });

  it('gives one report per dataset, in the order given', async () => {
    const a = tempDir();
    const b = tempDir();
    writeMl100kLike(a, 1);
    writeMl100kLike(b, 2);
    const out = path.join(tempDir(), 'grid.md');
    const { code, stdout, stderr } = await follow([
      'batch', 'eval', '--redis', redis.url, '--queue', QUEUE, '--poll-ms', '100', '--dataset', `ml-100k:${a}`, '--dataset', `ml-100k:${b}`,
      '--models', 'pop,itemknn', '--seeds', '1', '--out', out,
    ]);
    assert.equal(code, 0, stderr);
    assert.equal(fs.readFileSync(out, 'utf8'), stdout);
    assert.equal(stdout.match(/^## ml-100k: ratio-8-1-1, full ranking$/gm)?.length, 2);
    assert.match(stdout, /semrec batch eval --dataset ml-100k:.* --dataset ml-100k:.* --models pop,itemknn/);
  });

  it('reports a cell that failed for good with its error, and batch resume finishes the grid', async () => {
    const data = tempDir();
    writeMl100kLike(data, 3);
    const out = path.join(tempDir(), 'grid.json');
    const submitted = await runCli([
      'batch', 'eval', '--redis', redis.url, '--queue', QUEUE, '--dataset', `ml-100k:${data}`, '--models', 'pop', '--seeds', '1,2', '--out', out, '--detach',
    ]);
    assert.equal(submitted.code, 0, submitted.stderr);
    const id = submitted.stdout.trim();
    // The workers see another dataset than the one submitted: every cell must refuse it, at once.
    const original = fs.readFileSync(path.join(data, 'u.data'));
    writeMl100kLike(data, 4);
    const followed = await follow(['batch', 'resume', id, '--redis', redis.url, '--queue', QUEUE, '--poll-ms', '100']);
    assert.equal(followed.code, 3, followed.stderr);
    assert.match(followed.stderr, new RegExp(`batch ${id} is incomplete: 0 of 2 shards done, 2 failed on every try, 0 lost`));
    assert.match(followed.stderr, /shard 0 \(ml-100k pop seed 1\) failed after 1 tries: the ml-100k dataset at .* changed since the batch was submitted .*\[ERR_BATCH_INPUT_CHANGED\]/);
    assert.match(followed.stderr, new RegExp(`semrec batch resume ${id} --redis ${redis.url}`));
    assert.equal(fs.existsSync(out), false, 'no report from an incomplete grid');

    const status = await runCli(['batch', 'status', id, '--redis', redis.url, '--queue', QUEUE, '--json']);
    assert.equal(JSON.parse(status.stdout).phase, 'incomplete');

    fs.writeFileSync(path.join(data, 'u.data'), original);
    const resumed = await follow(['batch', 'resume', id, '--redis', redis.url, '--queue', QUEUE, '--poll-ms', '100', '--json']);
    assert.equal(resumed.code, 0, resumed.stderr);
    assert.match(resumed.stderr, /2 shards queued again \(0, 1\)/);
    assert.equal(JSON.parse(fs.readFileSync(out, 'utf8')).reports[0].protocol.seeds.join(), '1,2');
  });
});
