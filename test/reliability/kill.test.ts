/**
 * A writer killed at any moment (kill -9, a power cut) leaves its artifact as the old version or the new
 * one, never a part or a mix, and the next write removes what the killed one left behind. For every
 * artifact writer: saved models, embedding files, embedding caches, cached converted models, reports.
 *
 * Two ways of killing:
 * - at every step: the writer's file-system activity is frozen right after its n-th call, for every
 *   n (in process; on disk exactly what kill -9 at that point leaves, and deterministic);
 * - at random moments: a child process writing in a loop gets SIGKILL after a random delay, and the
 *   artifact is read by a fresh process afterwards (this one); the next write cleans up after it.
 * SEMREC_RELIABILITY_ROUNDS sets the random kills per writer (default 3; a deep run uses hundreds).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

import { trapFileOps } from '../helpers/faults';
import { freshSeed, Random } from '../helpers/random';
import { useTempDirs } from '../helpers/tempdir';
import { readVersion, WRITER_KINDS, type WriterKind, writeVersion } from './fixtures/writers';

const ROOT = path.resolve(__dirname, '..', '..');
const ROUNDS = Number(process.env.SEMREC_RELIABILITY_ROUNDS ?? 3);
const tempDir = useTempDirs('semrec-kill-');

/** What a clean directory holds after a write of each kind (names only). */
function expectedEntries(kind: WriterKind, target: string): string[] {
  const base = path.basename(target);
  if (kind === 'cached-artifact') return [base, `${base}.sha256`];
  return [base];
}

function modelFiles(dir: string): string[] {
  return fs.readdirSync(dir).sort();
}

describe('reliability: a writer killed at every step leaves the old or the new version', () => {
  for (const kind of WRITER_KINDS) {
    it(`${kind}: frozen after each of its file-system calls, it reads as version 0 or 1`, async () => {
      // How many calls one write makes (the target already holds a version, as in the loop below).
      const probeDir = tempDir();
      await writeVersion(kind, path.join(probeDir, 'artifact'), 0);
      const counter = trapFileOps();
      try {
        await writeVersion(kind, path.join(probeDir, 'artifact'), 1);
      } finally {
        counter.restore();
      }
      const steps = counter.count;
      assert.ok(steps > 5, `${kind}: only ${steps} file-system calls counted`);
      const seen = new Set<string>();
      for (let n = 1; n <= steps; n++) {
        const target = path.join(tempDir(), 'artifact');
        await writeVersion(kind, target, 0);
        const trap = trapFileOps(n);
        const writing = writeVersion(kind, target, 1);
        writing.catch(() => undefined);
        try {
          await Promise.race([trap.frozen, writing]);
        } finally {
          trap.restore();
        }
        const got = await readVersion(kind, target).catch((error: Error) => {
          throw new Error(`${kind}: killed after call ${n} of ${steps}, the artifact reads as neither version: ${error.message}`);
        });
        seen.add(String(got));
      }
      // The commit happens somewhere in the middle: both versions are seen across the steps.
      assert.ok(seen.has('0') && seen.has('1'), `${kind}: versions seen over the steps: ${[...seen].join(', ')}`);
    });
  }
});

/** Runs the write loop in a child process and SIGKILLs it at a random moment of its next three writes. */
function killWriterSoon(kind: WriterKind, target: string, rng: Random): Promise<{ committed: number; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--require', 'tsx/cjs', path.join(__dirname, 'fixtures', 'write-loop.ts'), kind, target], { cwd: ROOT });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      const before = stdout;
      stdout += chunk.toString();
      const ready = /ready (\d+)\n/.exec(stdout);
      if (ready && !/ready \d+\n/.test(before)) setTimeout(() => child.kill('SIGKILL'), rng.int(0, 3 * Number(ready[1]) + 10));
    });
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      if (signal !== 'SIGKILL') reject(new Error(`the writer exited on its own (code ${code}): ${stderr}`));
      else resolve({ committed: (stdout.match(/committed/g) ?? []).length, stderr });
    });
  });
}

describe('reliability: a writer process killed (SIGKILL) at random moments', function () {
  for (const kind of WRITER_KINDS) {
    it(`${kind}: ${ROUNDS} random kills, each leaving version 0 or 1, and the next write removes the leftovers`, async function () {
      const seed = freshSeed();
      const rng = new Random(seed);
      const outcomes: Record<string, number> = {};
      for (let round = 0; round < ROUNDS; round++) {
        const target = path.join(tempDir(), 'artifact');
        await writeVersion(kind, target, 0);
        const { committed } = await killWriterSoon(kind, target, rng);
        const got = await readVersion(kind, target).catch((error: Error) => {
          throw new Error(`seed ${seed}, ${kind}: after a kill (${committed} writes committed), the artifact reads as neither version: ${error.message}`);
        });
        assert.ok(got === 0 || got === 1 || got === 'rebuild', String(got));
        const key = got === 'rebuild' ? 'rebuilt' : `v${got}`;
        outcomes[key] = (outcomes[key] ?? 0) + 1;
        await writeVersion(kind, target, 0);
        assert.equal(await readVersion(kind, target), 0);
        const dir = path.dirname(target);
        if (kind === 'model') {
          const manifest = JSON.parse(fs.readFileSync(path.join(target, 'model.json'), 'utf8'));
          const named = Object.values(manifest.files as Record<string, { path: string }>).map((f) => f.path);
          assert.deepEqual(modelFiles(target), ['model.json', ...named].sort(), 'files the killed save left behind remain');
        } else {
          assert.deepEqual(fs.readdirSync(dir).sort(), expectedEntries(kind, target).sort(), 'temporaries the killed write left behind remain');
        }
      }
      this.test!.title += ` (${Object.entries(outcomes).map(([k, n]) => `${k}: ${n}`).join(', ')})`;
    });
  }
});

describe('reliability: concurrent saves to one model directory', () => {
  it('worker threads of one process saving in a loop never fail, and each load sees a whole model', async () => {
    const target = path.join(tempDir(), 'model');
    await writeVersion('model', target, 0);
    const { Worker } = await import('node:worker_threads');
    const code = `require('tsx/cjs');
      const { writeVersion } = require(${JSON.stringify(path.join(__dirname, 'fixtures', 'writers.ts'))});
      (async () => { for (let i = 0; i < 25; i++) await writeVersion('model', ${JSON.stringify(target)}, i % 2); })()
        .then(() => process.exit(0), (e) => { console.error(e); process.exit(1); });`;
    const exits = [0, 1].map(
      () => new Promise<number>((resolve, reject) => new Worker(code, { eval: true }).on('exit', resolve).on('error', reject)),
    );
    let running = true;
    const both = Promise.all(exits).finally(() => (running = false));
    while (running) assert.ok([0, 1].includes((await readVersion('model', target)) as number));
    assert.deepEqual(await both, [0, 0]);
    assert.ok([0, 1].includes((await readVersion('model', target)) as number));
  });

  it('two processes saving in a loop never fail and leave one loadable model and no leftovers', async () => {
    const target = path.join(tempDir(), 'model');
    await writeVersion('model', target, 0);
    const run = () =>
      new Promise<{ code: number | null; stderr: string; stdout: string }>((resolve) => {
        const child = spawn(
          process.execPath,
          ['--require', 'tsx/cjs', '-e', `
            const { writeVersion } = require(${JSON.stringify(path.join(__dirname, 'fixtures', 'writers.ts'))});
            (async () => { for (let i = 0; i < 40; i++) await writeVersion('model', ${JSON.stringify(target)}, i % 2); })()
              .then(() => process.stdout.write('done\\n'), (e) => { process.stderr.write(String(e && e.stack || e)); process.exit(1); });
          `],
          { cwd: ROOT },
        );
        let stderr = '';
        let stdout = '';
        child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
        child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
        child.on('exit', (code) => resolve({ code, stderr, stdout }));
      });
    // Meanwhile this process keeps loading: every load sees a whole model.
    let loads = 0;
    let running = true;
    const both = Promise.all([run(), run()]).finally(() => (running = false));
    while (running) {
      const v = await readVersion('model', target);
      assert.ok(v === 0 || v === 1);
      loads++;
    }
    for (const r of await both) assert.equal(r.code, 0, r.stderr);
    assert.ok(loads > 0);
    // One more save here (the writers are gone): exactly the committed model's files remain.
    await writeVersion('model', target, 1);
    const manifest = JSON.parse(fs.readFileSync(path.join(target, 'model.json'), 'utf8'));
    const named = Object.values(manifest.files as Record<string, { path: string }>).map((f) => f.path);
    assert.deepEqual(modelFiles(target), ['model.json', ...named].sort());
    assert.deepEqual(fs.readdirSync(path.dirname(target)), ['model']);
  });
});
