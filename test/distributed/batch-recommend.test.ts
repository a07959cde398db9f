/**
 * `semrec batch recommend` against a private Redis with `semrec worker` processes:
 * - the merged output is byte for byte what `semrec recommend --all-users` writes in one process;
 * - a worker killed with SIGKILL in the middle of a shard, twice, loses nothing and duplicates nothing
 *   (BullMQ's stalled-job check hands its shards to the other workers);
 * - a worker stopped with SIGTERM releases its shard and exits cleanly;
 * - a model dir changed after submission is refused by every worker, and the batch says so.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { verifyRecommendations } from '../../ts/models/all-users';
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

/** Each user 0..numUsers-1 exactly once, in order, across the shards of a verified output. */
async function assertEveryUserOnce(dir: string, numUsers: number): Promise<void> {
  const manifest = await verifyRecommendations(dir);
  const users = manifest.shards.flatMap((s) =>
    fs.readFileSync(path.join(dir, s.file), 'utf8').trimEnd().split('\n').map((line) => (JSON.parse(line) as { user: string }).user),
  );
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
  let modelDir: string;
  let single: string;
  const workers: (WorkerProcess | CliProcess)[] = [];
  const NUM_USERS = 4000;
  /** A command that waits on the workers runs in a child process, killed if the test gives up on it. */
  const follow = (args: string[]) => {
    const command = spawnCli(args);
    workers.push(command);
    return command.result;
  };
  const SHARD = ['--k', '50', '--shard-users', '250']; // 16 shards

  before(async function () {
    requireRedis(this);
    redis = await RedisServer.forSuite();
    modelDir = path.join(tempDir(), 'bpr');
    await saveTrainedModel(modelDir, NUM_USERS);
    single = path.join(tempDir(), 'single');
    const run = await runCli(['recommend', '--model-dir', modelDir, '--all-users', '--out', single, ...SHARD]);
    assert.equal(run.code, 0, run.stderr);
  });
  afterEach(async () => {
    await killWorkers(workers.splice(0));
  });
  after(async () => {
    await redis?.destroy();
  });

  it('writes the files semrec recommend --all-users writes, byte for byte, with a progress display', async () => {
    workers.push(...(await Promise.all([startWorker(redis.url), startWorker(redis.url)])));
    const out = path.join(tempDir(), 'recs');
    const { code, stdout, stderr } = await follow(['batch', 'recommend', '--redis', redis.url, '--poll-ms', '100', '--model-dir', modelDir, '--out', out, ...SHARD]);
    assert.equal(code, 0, stderr);
    assert.match(stdout, new RegExp(`wrote .*recs: top 50 of ${NUM_USERS} users in 16 shards`));
    assert.match(stderr, /batch recommend-\S+: 16\/16 shards \(100\.0%\)/);
    assertSameFiles(out, single);
    assert.equal(fs.existsSync(`${out}.batch`), false);
    const id = /batch (recommend-\S+): 16 shards queued/.exec(stderr)![1];
    const status = JSON.parse((await runCli(['batch', 'status', id, '--redis', redis.url, '--json'])).stdout);
    assert.equal(status.phase, 'complete');
    assert.deepEqual(status.units, { name: 'users', done: NUM_USERS, total: NUM_USERS });
    assert.ok(status.unitsPerSecond > 0);
  });

  it('loses and duplicates nothing when one of 3 workers is killed with SIGKILL mid-shard, twice', async () => {
    const [a, b, c] = await Promise.all([startWorker(redis.url, FAST_RECOVERY), startWorker(redis.url, FAST_RECOVERY), startWorker(redis.url, FAST_RECOVERY)]);
    workers.push(a, b, c);
    const out = path.join(tempDir(), 'recs');
    const submitter = spawnCli(['batch', 'recommend', '--redis', redis.url, '--poll-ms', '100', '--model-dir', modelDir, '--out', out, ...SHARD]);
    workers.push(submitter);
    const id = await new Promise<string>((resolve) => {
      const poll = setInterval(() => {
        const m = /(recommend-\d{8}T\d{6}Z-[0-9a-f]{6}) shard \d+: started/.exec(a.log() + b.log() + c.log());
        if (m) {
          clearInterval(poll);
          resolve(m[1]);
        }
      }, 5);
    });
    const doneSet = `semrec:semrec-batch:batch:${id}:done`;

    // Kill 1: the first shard worker a takes (it is still loading the model: certainly mid-shard).
    await until('worker a to start a shard', () => started(a, id).length > 0, 120_000);
    a.child.kill('SIGKILL');
    const firstKilled = started(a, id)[0];
    assert.equal(redis.cli('ZSCORE', doneSet, String(firstKilled)), '', `shard ${firstKilled} was not finished when its worker died`);
    // b and c are paused while a restarts, so that the restarted worker is sure to get a shard to be
    // killed in; their locks lapse meanwhile, so their shards are handed out again too.
    b.child.kill('SIGSTOP');
    c.child.kill('SIGSTOP');
    const a2 = await startWorker(redis.url, FAST_RECOVERY);
    workers.push(a2);
    await until('the restarted worker to start a shard', () => started(a2, id).length > 0, 120_000);
    a2.child.kill('SIGKILL');
    const secondKilled = started(a2, id)[0];
    assert.equal(redis.cli('ZSCORE', doneSet, String(secondKilled)), '', `shard ${secondKilled} was not finished when its worker died`);
    b.child.kill('SIGCONT');
    c.child.kill('SIGCONT');
    workers.push(await startWorker(redis.url, FAST_RECOVERY));

    const result = await submitter.result;
    assert.equal(result.code, 0, result.stderr);
    assertSameFiles(out, single);
    await assertEveryUserOnce(out, NUM_USERS);
    const log = workers.map((w) => w.log()).join('');
    assert.match(log, new RegExp(`${id} shard ${firstKilled}: done`), 'the first killed shard was finished by another worker');
    assert.match(log, new RegExp(`${id} shard ${secondKilled}: done`), 'the second killed shard was finished by another worker');
  });

  it('a worker stopped with SIGTERM releases its running shard to the queue and exits 0; batch status shows it running', async () => {
    // neumf scores each user-item pair through an MLP: a shard of 2,000 users (two blocks) takes a while.
    const slow = path.join(tempDir(), 'neumf');
    await saveTrainedModel(slow, 2000, 1500, 5, 'neumf');
    const slowShards = ['--k', '10', '--shard-users', '2000'];
    const expected = path.join(tempDir(), 'single');
    assert.equal((await runCli(['recommend', '--model-dir', slow, '--all-users', '--out', expected, ...slowShards])).code, 0);
    const [a, b] = await Promise.all([startWorker(redis.url, ['--grace-ms', '0', '--threads', '1']), startWorker(redis.url)]);
    workers.push(a, b);
    b.child.kill('SIGSTOP'); // a alone takes the shard
    const out = path.join(tempDir(), 'recs');
    const submitter = spawnCli(['batch', 'recommend', '--redis', redis.url, '--poll-ms', '100', '--model-dir', slow, '--out', out, ...slowShards]);
    workers.push(submitter);
    await until('worker a to start a shard', () => /shard \d+: started/.test(a.log()), 120_000);
    a.child.kill('SIGSTOP'); // frozen mid-shard, so that batch status sees it running
    const [, id, shard] = /(recommend-\S+) shard (\d+): started/.exec(a.log())!;
    const status = JSON.parse((await runCli(['batch', 'status', id, '--redis', redis.url, '--json'])).stdout);
    assert.equal(status.phase, 'running');
    assert.deepEqual(
      status.running.map((r: { shard: number; worker: string }) => [r.shard, r.worker]),
      [[Number(shard), `${os.hostname()}:${a.child.pid}`]],
      `batch status names the running shard and its worker; worker log:\n${a.log()}`,
    );
    a.child.kill('SIGTERM');
    a.child.kill('SIGCONT');
    assert.equal(await a.exited, 0);
    assert.match(a.log(), new RegExp(`shard ${shard}: released back to the queue[\\s\\S]*stopped`));
    b.child.kill('SIGCONT');
    const result = await submitter.result;
    assert.equal(result.code, 0, result.stderr);
    assertSameFiles(out, expected);
  });

  it('refuses a model re-saved after submission, names it, and leaves the batch incomplete', async () => {
    const dir = tempDir();
    const changing = path.join(dir, 'model');
    await saveTrainedModel(changing, 600, 300, 1);
    const out = path.join(dir, 'recs');
    const submitted = await runCli(['batch', 'recommend', '--redis', redis.url, '--model-dir', changing, '--out', out, '--shard-users', '200', '--detach']);
    assert.equal(submitted.code, 0, submitted.stderr);
    const id = submitted.stdout.trim();
    await saveTrainedModel(changing, 600, 300, 2); // same shape, other weights
    workers.push(await startWorker(redis.url));
    const followed = await follow(['batch', 'resume', id, '--redis', redis.url, '--poll-ms', '100']);
    assert.equal(followed.code, 3);
    assert.match(followed.stderr, /0 of 3 shards done, 3 failed on every try/);
    assert.match(followed.stderr, /the model in .*model changed since the batch was submitted .*\[ERR_BATCH_INPUT_CHANGED\]/);
    assert.equal(fs.existsSync(path.join(out, 'manifest.json')), false, 'an incomplete batch writes no manifest');
  });
});
