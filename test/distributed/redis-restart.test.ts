/**
 * Redis going away during a batch recommend:
 * - restarted with persistence (append-only file, fsync per write): the batch completes by itself;
 * - restarted having lost the last writes (the jobs of two shards): the submitter waits for the rest,
 *   then names exactly those two shards, and `batch resume` finishes the batch;
 * - restarted empty (no persistence): the submitter says the batch is gone, and `batch resume <out>`
 *   restores it from its work dir, keeps every shard already on disk and runs the others.
 * Every time the output equals the single-process one byte for byte.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';

import { runCli } from '../helpers/cli';
import { type CliProcess, FAST_RECOVERY, killWorkers, RedisServer, requireRedis, spawnCli, startWorker, until, type WorkerProcess } from '../helpers/redis';
import { saveTrainedModel } from '../helpers/saved-model';
import { useTempDirs } from '../helpers/tempdir';

const QUEUE = 'semrec-batch';
const SHARD = ['--k', '20', '--shard-users', '200']; // 2000 users: 10 shards

function sameFiles(actual: string, expected: string): void {
  const names = fs.readdirSync(expected).sort();
  assert.deepEqual(fs.readdirSync(actual).sort(), names);
  for (const name of names) assert.ok(fs.readFileSync(path.join(actual, name)).equals(fs.readFileSync(path.join(expected, name))), `${name} is byte-identical`);
}

function doneCount(redis: RedisServer, id: string): number {
  return Number(redis.cli('ZCARD', `semrec:${QUEUE}:batch:${id}:done`));
}

describe('batch recommend across Redis restarts', function () {
  this.timeout(300_000);
  const tempDir = useTempDirs('semrec-redis-restart-');
  let modelDir: string;
  let single: string;
  let redis: RedisServer | undefined;
  const workers: (WorkerProcess | CliProcess)[] = [];

  before(async function () {
    requireRedis(this);
    modelDir = path.join(tempDir(), 'bpr');
    await saveTrainedModel(modelDir, 2000, 1000);
    single = path.join(tempDir(), 'single');
    const run = await runCli(['recommend', '--model-dir', modelDir, '--all-users', '--out', single, ...SHARD]);
    assert.equal(run.code, 0, run.stderr);
  });
  afterEach(async () => {
    await killWorkers(workers.splice(0));
    await redis?.destroy();
    redis = undefined;
  });

  /** A command that waits on the workers runs in a child process, killed if the test gives up on it. */
  const follow = (args: string[]) => {
    const command = spawnCli(args);
    workers.push(command);
    return command.result;
  };

  /** Submits a batch, followed by the CLI in a child process; its id (the newest batch in Redis) once its shards are queued. */
  async function submit(url: string, out: string): Promise<{ id: string; run: Promise<{ code: number; stdout: string; stderr: string }> }> {
    const submitter = spawnCli(['batch', 'recommend', '--redis', url, '--poll-ms', '100', '--model-dir', modelDir, '--out', out, ...SHARD]);
    workers.push(submitter);
    let id = '';
    await until('the batch to be queued', () => {
      id = redis!.cli('ZRANGE', `semrec:${QUEUE}:batches`, '-1', '-1');
      return id !== '' && Number(redis!.cli('LLEN', `bull:${QUEUE}:wait`)) + doneCount(redis!, id) > 0;
    });
    return { id, run: submitter.result };
  }

  it('completes a batch across a restart of Redis with persistence', async () => {
    redis = await RedisServer.start({ persistence: true });
    workers.push(...(await Promise.all([startWorker(redis.url, FAST_RECOVERY), startWorker(redis.url, FAST_RECOVERY)])));
    const out = path.join(tempDir(), 'recs');
    const { id, run } = await submit(redis.url, out);
    await until('a few shards to be done', () => doneCount(redis!, id) >= 2);
    // Workers paused so that the restart lands mid-batch however fast they are.
    for (const w of workers) w.child.kill('SIGSTOP');
    const before = doneCount(redis, id);
    assert.ok(before < 10, 'the batch is not over yet');
    await redis.restart();
    assert.equal(doneCount(redis, id), before, 'what Redis acknowledged survived the restart');
    for (const w of workers) w.child.kill('SIGCONT');
    const result = await run;
    assert.equal(result.code, 0, result.stderr);
    sameFiles(out, single);
  });

  it('names exactly the shards Redis lost, and batch resume finishes them', async () => {
    redis = await RedisServer.start({ persistence: true });
    const out = path.join(tempDir(), 'recs');
    const { id, run } = await submit(redis.url, out); // no worker yet: every shard waits in the queue
    await redis.restart();
    // What an append-only file synced once a second can lose in a crash: the last writes, here the
    // jobs of shards 3 and 7.
    for (const shard of [3, 7]) {
      redis.cli('LREM', `bull:${QUEUE}:wait`, '0', `${id}.${shard}`);
      redis.cli('DEL', `bull:${QUEUE}:${id}.${shard}`);
    }
    workers.push(...(await Promise.all([startWorker(redis.url, FAST_RECOVERY), startWorker(redis.url, FAST_RECOVERY)])));
    const result = await run;
    assert.equal(result.code, 3, result.stderr);
    assert.match(result.stderr, new RegExp(`batch ${id} is incomplete: 8 of 10 shards done, 0 failed on every try, 2 lost by Redis`));
    assert.match(result.stderr, /lost shards: 3, 7\n/);
    assert.match(result.stderr, new RegExp(`resubmit them with: semrec batch resume ${id} --redis ${redis.url}`));
    assert.equal(fs.existsSync(path.join(out, 'manifest.json')), false);

    const resumed = await follow(['batch', 'resume', id, '--redis', redis.url, '--poll-ms', '100']);
    assert.equal(resumed.code, 0, resumed.stderr);
    assert.match(resumed.stderr, /2 shards queued again \(3, 7\)/);
    sameFiles(out, single);
  });

  it('resumes from the work dir a batch whose Redis restarted empty, keeping the shards on disk', async () => {
    redis = await RedisServer.start({ persistence: false });
    workers.push(...(await Promise.all([startWorker(redis.url, FAST_RECOVERY), startWorker(redis.url, FAST_RECOVERY)])));
    const out = path.join(tempDir(), 'recs');
    const { id, run } = await submit(redis.url, out);
    await until('a few shards to be done', () => doneCount(redis!, id) >= 2);
    for (const w of workers) w.child.kill('SIGSTOP');
    await redis.restart(); // nothing persisted: the batch, its jobs and its done set are gone
    for (const w of workers) w.child.kill('SIGCONT');
    const result = await run;
    assert.equal(result.code, 1);
    assert.match(result.stderr, new RegExp(`batch ${id} is no longer in Redis .*resume it from its work dir: semrec batch resume .* \\[ERR_BATCH_NOT_FOUND\\]`));

    const resumed = await follow(['batch', 'resume', out, '--redis', redis.url, '--poll-ms', '100']);
    assert.equal(resumed.code, 0, resumed.stderr);
    const m = /\(record restored from its work dir\): (\d+) shards queued again.*?(?:, (\d+) found done on disk)?\n/.exec(resumed.stderr);
    assert.ok(m, resumed.stderr);
    assert.ok(Number(m[1]) < 10, 'shards already on disk are not run again');
    sameFiles(out, single);
  });
});
