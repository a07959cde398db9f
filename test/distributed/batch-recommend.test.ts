/**
 * `semrec batch recommend` against a private Redis with `semrec worker` processes:
 * - the merged output is byte for byte what `semrec recommend --all-users` writes in one process;
 * - a worker killed with SIGKILL in the middle of a shard, twice, loses nothing and duplicates nothing
 *   (BullMQ's stalled-job check hands its shards to the other workers);
 * - a failing shard is retried with backoff;
 * - a worker stopped with SIGTERM releases its shard and exits cleanly;
 * - a model dir changed after submission is refused by every worker, and the batch says so.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import type { RecommendationsManifest } from '../../ts/models/batch';
import { runCli } from '../helpers/cli';
import { type CliProcess, FAST_RECOVERY, killWorkers, RedisServer, requireRedis, spawnCli, startWorker, until, type WorkerProcess } from '../helpers/redis';
import { saveTrainedModel } from '../helpers/saved-model';
import { useTempDirs } from '../helpers/tempdir';

/** Every file of an output folder, name -> bytes. */
function filesOf(dir: string): Map<string, Buffer> {
  return new Map(fs.readdirSync(dir).sort().map((name) => [name, fs.readFileSync(path.join(dir, name))]));
}

function assertSameFiles(actual: string, expected: string): void {
  const a = filesOf(actual);
  const b = filesOf(expected);
  assert.deepEqual([...a.keys()], [...b.keys()], 'the same files');
  for (const [name, bytes] of b) assert.ok(a.get(name)!.equals(bytes), `${name} is byte-identical`);
}

/** The manifest describes every shard file exactly (size, SHA-256), and the shards hold each user once, in order. */
async function assertEveryUserOnce(dir: string, numUsers: number): Promise<void> {
  const manifest = JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8')) as RecommendationsManifest;
  for (const s of manifest.shards) {
    const bytes = fs.readFileSync(path.join(dir, s.file));
    assert.equal(bytes.length, s.bytes, `${s.file}: size`);
    assert.equal(createHash('sha256').update(bytes).digest('hex'), s.sha256, `${s.file}: SHA-256`);
  }
  const users = manifest.shards.flatMap((s) =>
    fs.readFileSync(path.join(dir, s.file), 'utf8').trimEnd().split('\n').map((line) => (JSON.parse(line) as { user: string }).user),
  );
  assert.equal(manifest.users, numUsers);
  assert.deepEqual(users, Array.from({ length: numUsers }, (_, u) => String(u)));
}

/** The shards a worker started, from its log. */
function started(worker: WorkerProcess, batchId: string): number[] {
  return [...worker.log().matchAll(new RegExp(`${batchId} shard (\\d+): started`, 'g'))].map((m) => Number(m[1]));
}

describe('batch recommend (distributed top-k for every user)', function () {
  this.timeout(300_000);
  const tempDir = useTempDirs('semrec-batch-rec-');
  let redis: RedisServer;
  const workers: (WorkerProcess | CliProcess)[] = [];
  /** Each test has a queue of its own: shards a failed test leaves behind never reach the next one's workers. */
  let queue = '';
  let testNumber = 0;
  const NUM_USERS = 4000;
  const SHARD = ['--k', '50', '--shard-users', '250']; // bpr: 16 quick shards
  // neumf scores each user-item pair through an MLP, so its shards take long enough (seconds) to be
  // caught running: by a SIGKILL, or a SIGTERM between a shard's two blocks of 1,024 users.
  const SLOW_SHARD = ['--k', '10', '--shard-users', '1000'];
  const SLOW_TWO_BLOCKS = ['--k', '10', '--shard-users', '2000'];
  const models = { fast: '', slow: '' };
  const single = { fast: '', slow: '', slowTwoBlocks: '' };

  const worker = (extra: string[] = []) => startWorker(redis.url, ['--queue', queue, ...extra]);
  const batch = (args: string[]) => ['batch', ...args, '--redis', redis.url, '--queue', queue];
  /** A command that waits on the workers runs in a child process, killed if the test gives up on it. */
  const follow = (args: string[]) => {
    const command = spawnCli(batch(args));
    workers.push(command);
    return command.result;
  };
  async function recommendAll(model: string, out: string, shards: string[]): Promise<void> {
    const run = await runCli(['recommend', '--model-dir', model, '--all-users', '--out', out, ...shards]);
    assert.equal(run.code, 0, run.stderr);
  }

  before(async function () {
    requireRedis(this);
    redis = await RedisServer.forSuite();
    models.fast = path.join(tempDir(), 'bpr');
    await saveTrainedModel(models.fast, NUM_USERS);
    models.slow = path.join(tempDir(), 'neumf');
    await saveTrainedModel(models.slow, NUM_USERS, 1000, 5, 'neumf');
    for (const [key, model, shards] of [['fast', models.fast, SHARD], ['slow', models.slow, SLOW_SHARD], ['slowTwoBlocks', models.slow, SLOW_TWO_BLOCKS]] as const) {
      single[key] = path.join(tempDir(), key);
      await recommendAll(model, single[key], shards);
    }
  });
  beforeEach(() => {
    queue = `test-batch-recommend-${++testNumber}`;
  });
  afterEach(async () => {
    await killWorkers(workers.splice(0));
  });
  after(async () => {
    await redis?.destroy();
  });

  it('writes the files semrec recommend --all-users writes, byte for byte, with a progress display', async () => {
    workers.push(...(await Promise.all([worker(), worker()])));
    const out = path.join(tempDir(), 'recs');
    const { code, stdout, stderr } = await follow(['recommend', '--poll-ms', '100', '--model-dir', models.fast, '--out', out, ...SHARD]);
    assert.equal(code, 0, stderr);
    assert.match(stdout, new RegExp(`wrote .*recs: top 50 of ${NUM_USERS} users in 16 shards`));
    assert.match(stderr, /batch recommend-\S+: 16\/16 shards \(100\.0%\)/);
    assertSameFiles(out, single.fast);
    assert.equal(fs.existsSync(`${out}.batch`), false);
    const id = /batch (recommend-\S+): 16 shards queued/.exec(stderr)![1];
    const status = JSON.parse((await runCli(batch(['status', id, '--json']))).stdout);
    assert.equal(status.phase, 'complete');
    assert.deepEqual(status.units, { name: 'users', done: NUM_USERS, total: NUM_USERS });
    assert.ok(status.unitsPerSecond > 0);
  });

  it('loses and duplicates nothing when one of 3 workers is killed with SIGKILL mid-shard, twice', async () => {
    const [a, b, c] = await Promise.all([worker(FAST_RECOVERY), worker(FAST_RECOVERY), worker(FAST_RECOVERY)]);
    workers.push(a, b, c);
    const out = path.join(tempDir(), 'recs');
    const submitter = spawnCli(batch(['recommend', '--poll-ms', '100', '--model-dir', models.slow, '--out', out, ...SLOW_SHARD]));
    workers.push(submitter);
    let id = '';
    await until('a worker to start a shard', () => {
      id = /(recommend-\d{8}T\d{6}Z-[0-9a-f]{6}) shard \d+: started/.exec(a.log() + b.log() + c.log())?.[1] ?? '';
      return id !== '';
    });
    /** Mid-shard: the shard's job is still active in BullMQ and its output not yet counted done. */
    const assertMidShard = (shard: number) => {
      assert.equal(redis.cli('ZSCORE', `semrec:${queue}:batch:${id}:done`, String(shard)), '', `shard ${shard} was not finished when its worker died`);
      assert.match(redis.cli('LRANGE', `bull:${queue}:active`, '0', '-1'), new RegExp(`^${id}\\.${shard}$`, 'm'), `shard ${shard} is still active`);
    };

    // Kill 1: worker a, in its first shard.
    await until('worker a to start a shard', () => started(a, id).length > 0, 120_000);
    a.child.kill('SIGKILL');
    await a.exited;
    const firstKilled = started(a, id)[0];
    assertMidShard(firstKilled);
    // b and c are paused while a restarts, so that the restarted worker is sure to get a shard to be
    // killed in; their locks lapse meanwhile, so their shards are handed out again too.
    b.child.kill('SIGSTOP');
    c.child.kill('SIGSTOP');
    const a2 = await worker(FAST_RECOVERY);
    workers.push(a2);
    // Kill 2: the restarted worker, in its first shard.
    await until('the restarted worker to start a shard', () => started(a2, id).length > 0, 120_000);
    a2.child.kill('SIGKILL');
    await a2.exited;
    const secondKilled = started(a2, id)[0];
    assertMidShard(secondKilled);
    b.child.kill('SIGCONT');
    c.child.kill('SIGCONT');
    workers.push(await worker(FAST_RECOVERY));

    const result = await submitter.result;
    assert.equal(result.code, 0, result.stderr);
    assertSameFiles(out, single.slow);
    await assertEveryUserOnce(out, NUM_USERS);
    const log = workers.map((w) => w.log()).join('');
    assert.match(log, new RegExp(`${id} shard ${firstKilled}: done`), 'the first killed shard was finished by another worker');
    assert.match(log, new RegExp(`${id} shard ${secondKilled}: done`), 'the second killed shard was finished by another worker');
  });

  it('a worker stopped with SIGTERM releases its running shard to the queue and exits 0; batch status shows it running', async () => {
    const [a, b] = await Promise.all([worker(['--grace-ms', '0', '--threads', '1']), worker()]);
    workers.push(a, b);
    b.child.kill('SIGSTOP'); // a alone takes the first shard
    const out = path.join(tempDir(), 'recs');
    const submitter = spawnCli(batch(['recommend', '--poll-ms', '100', '--model-dir', models.slow, '--out', out, ...SLOW_TWO_BLOCKS]));
    workers.push(submitter);
    await until('worker a to start a shard', () => /shard \d+: started/.test(a.log()), 120_000);
    a.child.kill('SIGSTOP'); // frozen mid-shard, so that batch status sees it running
    const [, id, shard] = /(recommend-\S+) shard (\d+): started/.exec(a.log())!;
    const status = JSON.parse((await runCli(batch(['status', id, '--json']))).stdout);
    assert.equal(status.phase, 'running');
    assert.deepEqual(
      status.running.map((r: { shard: number; worker: string }) => [r.shard, r.worker]),
      [[Number(shard), `${os.hostname()}:${a.child.pid}`]],
      `batch status names the running shard and its worker; worker log:\n${a.log()}`,
    );
    assert.equal(status.shards.queued, 1);
    a.child.kill('SIGTERM');
    a.child.kill('SIGCONT');
    assert.equal(await a.exited, 0);
    assert.match(a.log(), new RegExp(`shard ${shard}: released back to the queue[\\s\\S]*stopped`));
    b.child.kill('SIGCONT');
    const result = await submitter.result;
    assert.equal(result.code, 0, result.stderr);
    assertSameFiles(out, single.slowTwoBlocks);
  });

  it('retries a failing shard with backoff, and it succeeds once the cause is gone', async () => {
    const dir = tempDir();
    const model = path.join(dir, 'model');
    await saveTrainedModel(model, 400, 200, 4);
    const out = path.join(dir, 'recs');
    const submitted = await runCli(batch(['recommend', '--model-dir', model, '--out', out, '--shard-users', '400', '--attempts', '3', '--backoff-ms', '1500', '--detach']));
    assert.equal(submitted.code, 0, submitted.stderr);
    const id = submitted.stdout.trim();
    fs.renameSync(model, `${model}.away`); // the model's filesystem is briefly unavailable
    const w = await worker();
    workers.push(w);
    await until('the first try to fail', () => /shard 0: failed, will retry: no saved model in/.test(w.log()), 120_000);
    fs.renameSync(`${model}.away`, model);
    const followed = await follow(['resume', id, '--poll-ms', '100']);
    assert.equal(followed.code, 0, followed.stderr);
    assert.match(w.log(), /shard 0: started \(try 2\)[\s\S]*shard 0: done/);
    await assertEveryUserOnce(out, 400);
  });

  it('refuses a model re-saved after submission, names it, and leaves the batch incomplete', async () => {
    const dir = tempDir();
    const changing = path.join(dir, 'model');
    await saveTrainedModel(changing, 600, 300, 1);
    const out = path.join(dir, 'recs');
    const submitted = await runCli(batch(['recommend', '--model-dir', changing, '--out', out, '--shard-users', '200', '--detach']));
    assert.equal(submitted.code, 0, submitted.stderr);
    const id = submitted.stdout.trim();
    await saveTrainedModel(changing, 600, 300, 2); // same shape, other weights
    workers.push(await worker());
    const followed = await follow(['resume', id, '--poll-ms', '100']);
    assert.equal(followed.code, 3);
    assert.match(followed.stderr, /0 of 3 shards done, 3 failed on every try/);
    assert.match(followed.stderr, /the model in .*model changed since the batch was submitted .*\[ERR_BATCH_INPUT_CHANGED\]/);
    assert.equal(fs.existsSync(path.join(out, 'manifest.json')), false, 'an incomplete batch writes no manifest');
  });
});
