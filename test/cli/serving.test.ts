/**
 * The serving commands end to end: `semrec train` saves a model that `semrec recommend` (a known user,
 * a new user's history file, every user into shards) and `semrec similar` answer from by raw id with
 * titles, without the dataset; the same through the API; and errors that name what is wrong.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

import { loadModel } from '../../ts/models/registry';
import { semrecVersion } from '../../ts/version';
import { runCli, spawnCli, writeMl100kLike } from '../helpers/cli';
import { requireShared, sharedDataset } from '../helpers/shared';
import { useTempDirs } from '../helpers/tempdir';

const tempDir = useTempDirs('semrec-serving-cli-');

describe('cli: semrec train / recommend / similar', () => {
  let data: string;
  let modelDir: string;

  before(async () => {
    data = tempDir();
    writeMl100kLike(data);
    modelDir = path.join(tempDir(), 'bpr');
    const r = await runCli(['train', '--format', 'ml-100k', '--path', data, '--model', 'bpr', '--set', 'bpr.dim=8', '--set', 'bpr.epochs=30', '--out', modelDir, '--json']);
    assert.equal(r.code, 0, r.stderr);
  });

  it('train chooses the epochs on a hold-out, retrains on everything, logs loss and validation per epoch, and says so', async () => {
    const dir = path.join(tempDir(), 'bpr');
    const r = await runCli(['train', '--format', 'ml-100k', '--path', data, '--model', 'bpr', '--set', 'bpr.dim=8', '--set', 'bpr.epochs=12', '--out', dir]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /choosing epochs \(10% per-user hold-out\): training bpr: 1\/12 epochs .*: loss [0-9.]+, validation ndcg@10 [0-9.]+/);
    assert.match(r.stderr, /training on every interaction: training bpr: \d+\/\d+ epochs/);
    assert.match(r.stdout, /Trained bpr on ml-100k \(40 users, 30 items, 480 interactions\)/);
    assert.match(r.stdout, /Epochs: \d+, chosen by early stopping on validation ndcg@10/);
    const model = await loadModel(dir);
    assert.equal(model.fingerprint.numInteractions, 480, 'the saved model saw every interaction');
    assert.equal(model.provenance.semrec.version, semrecVersion().version);
  });

  it('recommend --user prints ten titles with scores, best first, none the user rated', async () => {
    const r = await runCli(['recommend', '--model-dir', modelDir, '--user', '7']);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trim().split('\n');
    assert.match(lines[0], /^Top 10 for user 7 \(bpr trained on ml-100k\):$/);
    assert.equal(lines.length, 11);
    const scores = lines.slice(1).map((line) => {
      const m = /^\s+\d+\.\s+(-?[0-9.]+)\s+Movie (\d+) \(1995\) \[(\d+)\]/.exec(line);
      assert.ok(m, `a ranked title: '${line}'`);
      assert.equal(m[2], m[3], 'the title of that id');
      return Number(m[1]);
    });
    for (let c = 1; c < scores.length; c++) assert.ok(scores[c - 1] >= scores[c]);
    const rated = new Set(
      fs.readFileSync(path.join(data, 'u.data'), 'utf8').trim().split('\n').map((l) => l.split('\t')).filter((f) => f[0] === '7').map((f) => f[1]),
    );
    for (const line of lines.slice(1)) assert.ok(!rated.has(/\[(\d+)\]/.exec(line)![1]), 'rated items are excluded');
  });

  it('recommend --history serves a new user, and --json --explain says why', async () => {
    const file = path.join(tempDir(), 'h.json');
    fs.writeFileSync(file, JSON.stringify(['3', 5, { itemId: '11', rating: 5 }]));
    const text = await runCli(['recommend', '--model-dir', modelDir, '--history', file, '--k', '4']);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /^Top 4 for a new user with 3 history item\(s\)/);
    const r = await runCli(['recommend', '--model-dir', modelDir, '--history', file, '--k', '4', '--json', '--explain']);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.equal(out.items.length, 4);
    for (const item of out.items) {
      assert.ok(!['3', '5', '11'].includes(item.id));
      assert.equal(item.title, `Movie ${item.id} (1995)`);
      assert.ok(item.because.every((b: { id: string }) => ['3', '5', '11'].includes(b.id)), 'explained by history items');
      assert.match(item.explanation, /cosine/);
    }
  });

  it('recommend --all-users writes checksummed shards and a manifest, byte-identical when run again', async () => {
    const out = path.join(tempDir(), 'recs');
    const run = () => runCli(['recommend', '--model-dir', modelDir, '--all-users', '--out', out, '--shard-users', '16', '--k', '5']);
    assert.equal((await run()).code, 0);
    const manifest = JSON.parse(fs.readFileSync(path.join(out, 'manifest.json'), 'utf8'));
    assert.deepEqual(manifest.shards.map((s: { file: string; users: number }) => [s.file, s.users]), [['part-00000.jsonl', 16], ['part-00001.jsonl', 16], ['part-00002.jsonl', 8]]);
    const users: string[] = [];
    for (const shard of manifest.shards) {
      const bytes = fs.readFileSync(path.join(out, shard.file));
      assert.equal(createHash('sha256').update(bytes).digest('hex'), shard.sha256);
      assert.equal(bytes.length, shard.bytes);
      for (const line of bytes.toString().trim().split('\n')) {
        const row = JSON.parse(line);
        users.push(row.user);
        assert.equal(row.items.length, 5);
        assert.equal(row.scores.length, 5);
      }
    }
    assert.deepEqual(users, Array.from({ length: 40 }, (_, u) => String(u + 1)), 'every user once, in index order');
    const first = fs.readdirSync(out).map((f) => [f, fs.readFileSync(path.join(out, f)).toString('hex')]);
    assert.equal((await run()).code, 0);
    assert.deepEqual(fs.readdirSync(out).map((f) => [f, fs.readFileSync(path.join(out, f)).toString('hex')]), first);
  });

  it('recommend --all-users over a run killed mid-shard leaves no temporary file behind', async () => {
    const out = path.join(tempDir(), 'recs');
    const run = () => runCli(['recommend', '--model-dir', modelDir, '--all-users', '--out', out, '--shard-users', '16', '--k', '5']);
    assert.equal((await run()).code, 0);
    const complete = fs.readdirSync(out).sort();
    // What a writer killed with SIGKILL before its rename leaves: a half-written temporary shard.
    fs.writeFileSync(path.join(out, 'part-00001.jsonl.tmp-4242-0badcafe'), '{"user":"17","items":["3"');
    fs.rmSync(path.join(out, 'manifest.json'));
    assert.equal((await run()).code, 0);
    assert.deepEqual(fs.readdirSync(out).sort(), complete);
  });

  it('recommend --all-users refuses a directory holding other files', async () => {
    const out = tempDir();
    fs.writeFileSync(path.join(out, 'notes.txt'), 'keep');
    const r = await runCli(['recommend', '--model-dir', modelDir, '--all-users', '--out', out]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /holds other files \(notes\.txt\)/);
  });

  it('similar --item lists the most similar titles, never the item itself', async () => {
    const r = await runCli(['similar', '--model-dir', modelDir, '--item', '4', '--k', '3', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.equal(out.item.title, 'Movie 4 (1995)');
    assert.equal(out.items.length, 3);
    assert.ok(out.items.every((x: { id: string }) => x.id !== '4'));
  });

  it('errors name the unknown id, the missing mode and the bad file', async () => {
    const unknown = await runCli(['recommend', '--model-dir', modelDir, '--user', 'u999']);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /unknown user id 'u999'.*\[ERR_UNKNOWN_ID\]/);
    const none = await runCli(['recommend', '--model-dir', modelDir]);
    assert.match(none.stderr, /exactly one of --user <id>, --history <file> or --all-users/);
    const file = path.join(tempDir(), 'bad.json');
    fs.writeFileSync(file, JSON.stringify([{ itemId: '3', stars: 5 }]));
    const bad = await runCli(['recommend', '--model-dir', modelDir, '--history', file]);
    assert.match(bad.stderr, /entry 0: unknown field 'stars'/);
    const missing = await runCli(['recommend', '--model-dir', path.join(tempDir(), 'nothing'), '--user', '1']);
    assert.match(missing.stderr, /ERR_MODEL_NOT_FOUND/);
  });

  it('--version prints the package version', async () => {
    const r = await runCli(['--version']);
    assert.equal(r.code, 0);
    assert.ok(r.stdout.startsWith(semrecVersion().version));
  });
});

describe('cli: from a fresh shell on MovieLens-100K', () => {
  const ML100K = sharedDataset('ml-100k');

  it('semrec train --model bpr, then recommend --user 196 and --history, then the API without the dataset', async function () {
    requireShared(this, ML100K);
    const work = tempDir();
    const train = spawnCli(['train', '--format', 'ml-100k', '--path', ML100K, '--model', 'bpr', '--no-early-stopping', '--set', 'bpr.epochs=40', '--out', 'm'], work);
    assert.equal(train.status, 0, train.stderr);
    const user = spawnCli(['recommend', '--model-dir', 'm', '--user', '196'], work);
    assert.equal(user.status, 0, user.stderr);
    const lines = user.stdout.trim().split('\n');
    assert.equal(lines.length, 11);
    for (const line of lines.slice(1)) assert.match(line, /^\s+\d+\.\s+-?[0-9.]+\s+.+ \(\d{4}\) \[\d+\]/, 'a score and a title with its year');
    fs.writeFileSync(path.join(work, 'h.json'), JSON.stringify(['50', '181', '172']));
    const history = spawnCli(['recommend', '--model-dir', 'm', '--history', 'h.json'], work);
    assert.equal(history.status, 0, history.stderr);
    assert.equal(history.stdout.trim().split('\n').length, 11);
    const model = await loadModel(path.join(work, 'm'));
    const top = await model.recommendFor('196', { k: 10 });
    assert.deepEqual(top.map((x) => x.title), lines.slice(1).map((line) => /^\s+\d+\.\s+\S+\s+(.+) \[\d+\]/.exec(line)![1].replace(/  .*$/, '')));
  });
});
