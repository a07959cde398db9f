/**
 * `semrec eval` end to end on a small dataset written in the ml-100k layout: one JSON object on stdout
 * with --json (metric keys as the core names them, std with several seeds), the markdown report with
 * --out, and errors that name the flag at fault.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';

import { writeEmbeddingFile } from '../../ts/semantic/embedding-file';
import { runCli, writeMl100kLike as writeDataset } from '../helpers/cli';
import { shortWriteThenEnospc } from '../helpers/faults';
import { Random } from '../helpers/random';
import { useTempDirs } from '../helpers/tempdir';

describe('semrec eval', () => {
  const tempDir = useTempDirs('semrec-eval-');

  it('prints one JSON object with every model, the protocol and per-metric std over seeds', async () => {
    const dir = tempDir();
    writeDataset(dir);
    const { code, stdout } = await runCli([
      'eval', '--format', 'ml-100k', '--path', dir, '--models', 'pop,itemknn,bpr', '--protocol', 'ratio-8-1-1',
      '--seeds', '42,43', '--set', 'bpr.epochs=3', '--set', 'bpr.dim=8', '--json',
    ]);
    assert.equal(code, 0);
    const report = JSON.parse(stdout);
    assert.equal(report.protocol.name, 'ratio-8-1-1');
    assert.deepEqual(Object.keys(report.models), ['pop', 'itemknn', 'bpr']);
    for (const model of Object.values(report.models) as { metrics: Record<string, number>; std: Record<string, number>; trainSeconds: number; evalSeconds: number }[]) {
      for (const key of ['ndcg@10', 'recall@5', 'precision@20', 'mrr']) {
        assert.equal(typeof model.metrics[key], 'number', key);
        assert.equal(typeof model.std[key], 'number', key);
      }
      assert.equal(typeof model.trainSeconds, 'number');
      assert.equal(typeof model.evalSeconds, 'number');
    }
    assert.deepEqual(report.models.bpr.params.epochs, 3);
  });

  it('writes the markdown report with --out and prints it', async () => {
    const dir = tempDir();
    writeDataset(dir);
    const out = path.join(tempDir(), 'report.md');
    const { code, stdout } = await runCli(['eval', '--format', 'ml-100k', '--path', dir, '--models', 'pop,mf', '--protocol', 'ratio-80-20', '--out', out]);
    assert.equal(code, 0);
    const written = fs.readFileSync(out, 'utf8');
    assert.equal(written, stdout);
    assert.match(written, /\| model \| precision@10 \| recall@10 \| ndcg@10 /);
    assert.match(written, /RMSE/);
    assert.match(written, /semrec eval --format ml-100k/);
  });

  it('names the flag at fault', async () => {
    const dir = tempDir();
    writeDataset(dir);
    const unknownModel = await runCli(['eval', '--format', 'ml-100k', '--path', dir, '--models', 'pop,svdpp']);
    assert.equal(unknownModel.code, 1);
    assert.match(unknownModel.stderr, /--models: unknown model 'svdpp'.*\[ERR_UNKNOWN_MODEL\]/);
    const badParam = await runCli(['eval', '--format', 'ml-100k', '--path', dir, '--models', 'bpr', '--set', 'bpr.lr=-1']);
    assert.match(badParam.stderr, /bpr: invalid hyperparameters: 'lr'/);
    const badSeeds = await runCli(['eval', '--format', 'ml-100k', '--path', dir, '--seeds', '42,x']);
    assert.match(badSeeds.stderr, /--seeds: 'x' is not an integer/);
  });

  it("trains vbpr on item vectors from a 'semrec embed' file, matched by item id", async () => {
    const dir = tempDir();
    writeDataset(dir);
    const file = path.join(tempDir(), 'items.emb');
    const ids = Array.from({ length: 30 }, (_, k) => String(30 - k)); // any order: rows are matched by id
    await writeEmbeddingFile(file, { encoderId: 'test' }, [
      { name: 'items', data: Float32Array.from({ length: 30 * 8 }, (_, k) => Math.cos(k)), cols: 8, rowIds: ids },
    ]);
    const ok = await runCli(['eval', '--format', 'ml-100k', '--path', dir, '--models', 'vbpr', '--set', 'vbpr.epochs=2', '--item-features', file, '--json']);
    assert.equal(ok.code, 0, ok.stderr);
    assert.ok(Number.isFinite(JSON.parse(ok.stdout).models.vbpr.metrics['ndcg@10']));
    const partial = path.join(tempDir(), 'partial.emb');
    await writeEmbeddingFile(partial, { encoderId: 'test' }, [{ name: 'items', data: new Float32Array(29 * 8), cols: 8, rowIds: ids.slice(1) }]);
    const missing = await runCli(['eval', '--format', 'ml-100k', '--path', dir, '--models', 'vbpr', '--item-features', partial]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /item '30' of .* has no vector/);
  });

  it('refuses an --out it cannot write before training, with ERR_WRITE and no stack trace', async () => {
    const dir = tempDir();
    writeDataset(dir);
    const r = await runCli(['eval', '--format', 'ml-100k', '--path', dir, '--models', 'pop', '--out', tempDir()]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^semrec: cannot write .*: it is a directory \[ERR_WRITE\]\n$/);
    assert.equal(r.stdout, '', 'nothing was trained');
  });

  it('prints the finished report even when --out fails at the end (full disk), then fails with ERR_WRITE', async () => {
    const dir = tempDir();
    writeDataset(dir);
    const out = path.join(tempDir(), 'report.md');
    fs.writeFileSync(out, 'the previous report\n');
    // The disk fills up while the models train: checkWritable passed, the final write hits ENOSPC.
    let restore: (() => void) | undefined;
    // The report is printed once, just before --out is written: the moment to inject the fault.
    const r = await runCli(['eval', '--format', 'ml-100k', '--path', dir, '--models', 'pop', '--protocol', 'ratio-80-20', '--out', out], (chunk) => {
      if (/\| model \|/.test(chunk)) restore = shortWriteThenEnospc();
    });
    restore?.();
    assert.equal(r.code, 1);
    assert.match(r.stdout, /\| model \| precision@10/, 'the report reached stdout');
    assert.match(r.stderr, /cannot write .*report\.md: no space left on the device \(ENOSPC\) \[ERR_WRITE\]/);
    assert.equal(fs.readFileSync(out, 'utf8'), 'the previous report\n');
  });

  it('takes the dataset options every dataset command takes (--columns, --on-error, --duplicates)', async () => {
    const dir = tempDir();
    const rng = new Random(4);
    const rows = ['who;what;stars'];
    for (let u = 0; u < 30; u++) for (let k = 0; k < 10; k++) rows.push(`u${u};i${rng.int(0, 24)};${rng.int(1, 5)}`);
    rows.push('broken row');
    const file = path.join(dir, 'ratings.csv');
    fs.writeFileSync(file, `${rows.join('\n')}\n`);
    const r = await runCli([
      'eval', '--format', 'interactions-csv', '--path', file, '--delimiter', ';', '--columns', 'user=who,item=what,rating=stars',
      '--on-error', 'skip', '--duplicates', 'keep-first', '--models', 'pop', '--protocol', 'ratio-80-20', '--json',
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(Number.isFinite(JSON.parse(r.stdout).models.pop.metrics['ndcg@10']));
  });

  it('evaluates cut-offs beyond the number of items (--ks 2000000000) instead of crashing', async () => {
    const dir = tempDir();
    writeDataset(dir);
    const r = await runCli(['eval', '--format', 'ml-100k', '--path', dir, '--models', 'pop', '--protocol', 'ratio-80-20', '--ks', '10,2000000000', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const metrics = JSON.parse(r.stdout).models.pop.metrics;
    assert.equal(metrics['recall@2000000000'], 1, 'every held-out item is within a ranking of all items');
    assert.ok(metrics['precision@2000000000'] < 1e-7);
  });

  it('blames the data, not the metric, when early stopping has nothing to measure (a one-item dataset)', async () => {
    const dir = tempDir();
    const file = path.join(dir, 'one.csv');
    fs.writeFileSync(file, `user,item\n${Array.from({ length: 30 }, (_, u) => `${u},only-item`).join('\n')}\n`);
    const r = await runCli(['eval', '--format', 'interactions-csv', '--path', file, '--columns', 'user=user,item=item', '--models', 'bpr', '--set', 'bpr.epochs=2']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /early stopping has nothing to measure.*--no-early-stopping/);
    assert.doesNotMatch(r.stderr, /unknown early-stopping metric/);
  });

  it('lists every hyperparameter with its default', async () => {
    const { code, stdout } = await runCli(['eval', '--list-params']);
    assert.equal(code, 0);
    assert.match(stdout, /^bpr$/m);
    assert.match(stdout, /^ {4}lr = 0\.\d+ {2}SGD learning rate$/m);
  });
});
