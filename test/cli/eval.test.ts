/**
 * `semrec eval` end to end on a small dataset written in the ml-100k layout: one JSON object on stdout
 * with --json (metric keys as the core names them, std with several seeds), the markdown report with
 * --out, and errors that name the flag at fault.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';

import { main } from '../../ts/cli/main';
import { writeEmbeddingFile } from '../../ts/semantic/embedding-file';
import { Random } from '../helpers/random';
import { useTempDirs } from '../helpers/tempdir';

const GENRES = 19;

/** 40 users x 30 movies in ml-100k's u.data / u.item layout. */
function writeDataset(dir: string): void {
  const rng = new Random(9);
  const lines: string[] = [];
  for (let u = 1; u <= 40; u++) {
    const items = new Set<number>();
    while (items.size < 12) items.add(rng.int(1, 30));
    let t = 880000000;
    for (const i of items) lines.push(`${u}\t${i}\t${rng.int(1, 5)}\t${(t += 1000)}`);
  }
  fs.writeFileSync(path.join(dir, 'u.data'), `${lines.join('\n')}\n`);
  const items = Array.from({ length: 30 }, (_, k) => {
    const flags = Array.from({ length: GENRES }, (_, g) => (g === k % GENRES || g === (k * 7) % GENRES ? '1' : '0'));
    return `${k + 1}|Movie ${k + 1} (1995)|01-Jan-1995||http://example.org/${k + 1}|${flags.join('|')}`;
  });
  fs.writeFileSync(path.join(dir, 'u.item'), `${items.join('\n')}\n`, 'latin1');
}

async function runCli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const write = process.stdout.write.bind(process.stdout);
  const writeErr = process.stderr.write.bind(process.stderr);
  process.stdout.write = ((chunk: string) => out.push(String(chunk)) > 0) as typeof process.stdout.write;
  process.stderr.write = ((chunk: string) => err.push(String(chunk)) > 0) as typeof process.stderr.write;
  try {
    const code = await main(['node', 'semrec', ...args]);
    return { code, stdout: out.join(''), stderr: err.join('') };
  } finally {
    process.stdout.write = write;
    process.stderr.write = writeErr;
  }
}

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

  it('lists every hyperparameter with its default', async () => {
    const { code, stdout } = await runCli(['eval', '--list-params']);
    assert.equal(code, 0);
    assert.match(stdout, /^bpr$/m);
    assert.match(stdout, /^ {4}lr = 0\.\d+ {2}SGD learning rate$/m);
  });
});
