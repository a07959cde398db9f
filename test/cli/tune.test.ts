/**
 * `semrec tune` end to end on a small dataset in the ml-100k layout: trials logged as JSON lines, the
 * best hyperparameters written as a file `semrec eval --params` accepts, exact resumption (also after a
 * crash mid-line or an abort), and refusals that name the option at fault.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';

import { loadDataset } from '../../ts/data/load';
import { tune } from '../../ts/tuning/tune';
import { runCli, writeMl100kLike } from '../helpers/cli';
import { useTempDirs } from '../helpers/tempdir';

/** Small and single-threaded, so every trial is fast and bit-reproducible. */
const FAST = ['--model', 'bpr', '--set', 'bpr.epochs=4', '--threads', '1'];

function logLines(file: string): Record<string, unknown>[] {
  return fs.readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
}

describe('semrec tune', function () {
  this.timeout(240_000);
  const tempDir = useTempDirs('semrec-tune-');
  let data: string;
  before(() => {
    data = tempDir();
    writeMl100kLike(data);
  });

  it('logs every trial, starts from the defaults and writes the best hyperparameters for semrec eval', async () => {
    const work = tempDir();
    const log = path.join(work, 'trials.jsonl');
    const best = path.join(work, 'best.json');
    const { code, stdout } = await runCli(['tune', '--format', 'ml-100k', '--path', data, ...FAST, '--trials', '5', '--log', log, '--out', best]);
    assert.equal(code, 0);
    const lines = logLines(log);
    assert.equal(lines.length, 6);
    assert.equal(lines[0].kind, 'header');
    assert.equal(lines[1].defaults, true);
    assert.deepEqual(lines[1].params, {});
    for (const t of lines.slice(1)) assert.ok(typeof t.value === 'number' && t.value >= 0 && t.value <= 1, JSON.stringify(t));
    const values = lines.slice(1).map((t) => t.value as number);
    const written = JSON.parse(fs.readFileSync(best, 'utf8')) as { bpr: Record<string, unknown> };
    assert.equal(written.bpr.epochs, 4);
    assert.match(stdout, new RegExp(`best: ${Math.max(...values).toFixed(4)}`));
    const evaluated = await runCli(['eval', '--format', 'ml-100k', '--path', data, '--models', 'bpr', '--params', best, '--json']);
    assert.equal(evaluated.code, 0, evaluated.stderr);
    assert.equal((JSON.parse(evaluated.stdout) as { models: { bpr: { params: { epochs: number } } } }).models.bpr.params.epochs, 4);
  });

  it('resumes a log exactly: the same trials as one uninterrupted search, TPE phase included', async () => {
    const work = tempDir();
    const whole = path.join(work, 'whole.jsonl');
    const parts = path.join(work, 'parts.jsonl');
    const args = ['tune', '--format', 'ml-100k', '--path', data, ...FAST];
    assert.equal((await runCli([...args, '--trials', '13', '--log', whole])).code, 0);
    assert.equal((await runCli([...args, '--trials', '7', '--log', parts])).code, 0);
    // A crash in the middle of an append leaves half a line: it is dropped on resume.
    fs.appendFileSync(parts, '{"kind":"trial","trial":7,"par');
    const resumed = await runCli([...args, '--trials', '13', '--log', parts]);
    assert.equal(resumed.code, 0, resumed.stderr);
    assert.match(resumed.stdout, /resumed: 7 trials read from the log/);
    const strip = (l: Record<string, unknown>) => ({ trial: l.trial, params: l.params, value: l.value });
    assert.deepEqual(logLines(parts).slice(1).map(strip), logLines(whole).slice(1).map(strip));
  });

  it('stops cleanly when aborted, keeping every finished trial, and resumes from there', async () => {
    const store = await loadDataset({ format: 'ml-100k', path: data });
    const log = path.join(tempDir(), 'trials.jsonl');
    const controller = new AbortController();
    const options = { store, model: 'bpr' as const, trials: 4, fixed: { epochs: 4 }, numThreads: 1, log };
    await assert.rejects(
      tune({ ...options, signal: controller.signal, onTrial: (t) => t.trial === 1 && controller.abort() }),
      (e: Error & { code?: string }) => e.code === 'ERR_ABORTED',
    );
    assert.equal(logLines(log).length, 3);
    const result = await tune(options);
    assert.equal(result.resumed, 2);
    assert.equal(result.trials.length, 4);
  });

  it('refuses to resume a log of another search, naming the field that differs', async () => {
    const log = path.join(tempDir(), 'trials.jsonl');
    assert.equal((await runCli(['tune', '--format', 'ml-100k', '--path', data, ...FAST, '--trials', '1', '--log', log])).code, 0);
    const other = await runCli(['tune', '--format', 'ml-100k', '--path', data, ...FAST, '--trials', '2', '--log', log, '--sampler', 'random']);
    assert.equal(other.code, 1);
    assert.match(other.stderr, /belongs to another search \(its sampler is "tpe", this one's is "random"\).*ERR_INVALID_ARG_VALUE/);
  });

  it('refuses a bad space file, a hyperparameter both fixed and searched, and a protocol without validation', async () => {
    const work = tempDir();
    const space = path.join(work, 'space.json');
    fs.writeFileSync(space, JSON.stringify({ lr: { type: 'float', low: 1, high: 0.1 } }));
    const bad = await runCli(['tune', '--format', 'ml-100k', '--path', data, ...FAST, '--space', space]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /--space .*space\.json: 'lr': low \(1\) must be below high \(0\.1\)/);
    fs.writeFileSync(space, JSON.stringify({ epochs: { type: 'int', low: 2, high: 8 } }));
    const both = await runCli(['tune', '--format', 'ml-100k', '--path', data, ...FAST, '--space', space]);
    assert.match(both.stderr, /'epochs' is both fixed and in the search space/);
    const noValidation = await runCli(['tune', '--format', 'ml-100k', '--path', data, ...FAST, '--protocol', 'ratio-80-20']);
    assert.match(noValidation.stderr, /ratio-80-20 has no validation part/);
  });
});
