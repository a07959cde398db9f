/**
 * The all-users writer (ts/models/all-users.ts) behind `semrec recommend --all-users` and `semrec batch
 * recommend`: shards hold every user once with the model's own top-k, the manifest describes and
 * verifies them, an output folder is never mixed with foreign files, and damage is detected.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';

import { isSemrecError } from '../../ts/errors';
import { planUserShards, recommendAllUsers, recommendShard, verifyRecommendations } from '../../ts/models/all-users';
import { loadModel } from '../../ts/models/registry';
import { runCli } from '../helpers/cli';
import { saveTrainedModel } from '../helpers/saved-model';
import { useTempDirs } from '../helpers/tempdir';

describe('recommendations for every user (shards + manifest)', function () {
  this.timeout(120_000);
  const tempDir = useTempDirs('semrec-all-users-');
  let modelDir: string;

  before(async () => {
    modelDir = path.join(tempDir(), 'bpr');
    await saveTrainedModel(modelDir, 300, 120, 3);
  });

  it('cuts users into shards of the given size, the last one shorter', () => {
    assert.deepEqual(planUserShards(7, 3), [
      { shard: 0, firstUser: 0, users: 3 },
      { shard: 1, firstUser: 3, users: 3 },
      { shard: 2, firstUser: 6, users: 1 },
    ]);
    assert.deepEqual(planUserShards(0, 3), []);
  });

  it("writes each user's top-k as the model recommends it, every user once, in order", async () => {
    const model = await loadModel(modelDir);
    const out = path.join(tempDir(), 'recs');
    const manifest = await recommendAllUsers(model, modelDir, out, { k: 7, shardUsers: 128 });
    assert.deepEqual(manifest.shards.map((s) => [s.file, s.firstUser, s.users]), [
      ['part-00000.jsonl', 0, 128],
      ['part-00001.jsonl', 128, 128],
      ['part-00002.jsonl', 256, 44],
    ]);
    const lines = manifest.shards.flatMap((s) => fs.readFileSync(path.join(out, s.file), 'utf8').trimEnd().split('\n').map((l) => JSON.parse(l)));
    assert.equal(lines.length, 300);
    const expected = await model.recommend(Int32Array.from({ length: 300 }, (_, u) => u), 7);
    lines.forEach((line, u) => {
      assert.equal(line.user, String(u));
      assert.deepEqual(line.items, Array.from(expected.indices.subarray(u * 7, u * 7 + 7), String));
      // Scores are written with 9 significant digits: they read back as the same float32.
      assert.deepEqual(Float32Array.from(line.scores), expected.scores.subarray(u * 7, u * 7 + 7));
    });
    assert.deepEqual(await verifyRecommendations(out), manifest);
  });

  it('is deterministic: the same shard twice gives the same bytes (what makes re-run shards harmless)', async () => {
    const model = await loadModel(modelDir);
    const range = { shard: 1, firstUser: 100, users: 100 };
    assert.ok((await recommendShard(model, range, { k: 5 })).equals(await recommendShard(model, range, { k: 5 })));
  });

  it('writes fewer than k items for a user with fewer eligible items, never padding', async () => {
    const model = await loadModel(modelDir);
    const out = path.join(tempDir(), 'recs');
    await recommendAllUsers(model, modelDir, out, { k: 1000, shardUsers: 1000 });
    const first = JSON.parse(fs.readFileSync(path.join(out, 'part-00000.jsonl'), 'utf8').split('\n')[0]);
    assert.equal(first.items.length, 120 - 10, 'every item but the 10 the user saw in training');
    assert.ok(!first.items.includes('-1'));
  });

  it('detects a shard cut short, altered or missing, naming it', async () => {
    const model = await loadModel(modelDir);
    const out = path.join(tempDir(), 'recs');
    await recommendAllUsers(model, modelDir, out, { k: 3, shardUsers: 100 });
    const shard = path.join(out, 'part-00001.jsonl');
    const bytes = fs.readFileSync(shard);
    for (const damage of [bytes.subarray(0, bytes.length - 1), Buffer.concat([bytes.subarray(0, 10), Buffer.from('9'), bytes.subarray(11)])]) {
      fs.writeFileSync(shard, damage);
      await assert.rejects(verifyRecommendations(out), (e: unknown) => isSemrecError(e, 'ERR_SHARD_CORRUPT') && /part-00001\.jsonl does not match the manifest/.test(e.message));
    }
    fs.rmSync(shard);
    await assert.rejects(verifyRecommendations(out), /part-00001\.jsonl does not match the manifest/);
  });

  it('replaces an earlier output in the same folder but refuses a folder holding other files', async () => {
    const model = await loadModel(modelDir);
    const out = path.join(tempDir(), 'recs');
    await recommendAllUsers(model, modelDir, out, { k: 3, shardUsers: 50 });
    await recommendAllUsers(model, modelDir, out, { k: 3, shardUsers: 150 });
    assert.deepEqual(fs.readdirSync(out).sort(), ['manifest.json', 'part-00000.jsonl', 'part-00001.jsonl'], 'no shard of the earlier output is left');
    const foreign = tempDir();
    fs.writeFileSync(path.join(foreign, 'notes.txt'), 'mine');
    await assert.rejects(recommendAllUsers(model, modelDir, foreign, { k: 3 }), /holds other files \(notes\.txt\)/);
  });

  it('semrec recommend --all-users writes the shards and prints a summary', async () => {
    const out = path.join(tempDir(), 'recs');
    const { code, stdout, stderr } = await runCli(['recommend', '--model-dir', modelDir, '--all-users', '--out', out, '--k', '4', '--shard-users', '100', '--json']);
    assert.equal(code, 0, stderr);
    const summary = JSON.parse(stdout);
    assert.equal(summary.users, 300);
    assert.equal(summary.shards, 3);
    assert.equal((await verifyRecommendations(out)).k, 4);
    const missing = await runCli(['recommend', '--model-dir', path.join(tempDir(), 'nothing'), '--all-users', '--out', out]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /ERR_MODEL_NOT_FOUND/);
  });
});
