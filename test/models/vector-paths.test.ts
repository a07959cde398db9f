/**
 * The hand-vectorised native kernels pick AVX-512, AVX2 or baseline code at load time (SEMREC_CPU_ISA caps
 * the choice). Each path runs here in its own process on the same inputs, and their outputs are compared
 * bit for bit where the design promises it:
 *  - LightGCN (propagation, gradient, Adam): every element is accumulated in the same order with a multiply
 *    then an add on every path, so the trained parameters are identical on all three, and for 1 or 2 threads;
 *  - the GEMM micro-kernel (scoreMatrix, NeuMF scoring): AVX-512 and AVX2 both sum each output in order
 *    with fused multiply-adds, so they agree exactly; the baseline path multiplies and adds separately, so
 *    it agrees to rounding (1e-5 relative to the largest score: a few float32 ulps over sums of < 100 terms).
 * On a CPU without AVX-512 (or AVX2) the capped runs fall back to the same path, and the checks still hold.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

import { freshSeed } from '../helpers/random';

const CHILD = path.join(__dirname, 'fixtures', 'vector-path-child.ts');
const ROOT = path.resolve(__dirname, '..', '..');

function runPath(isa: string | undefined, seed: number): Record<string, string> {
  const env = { ...process.env };
  if (isa) env.SEMREC_CPU_ISA = isa;
  else delete env.SEMREC_CPU_ISA;
  const run = spawnSync(process.execPath, ['--require', 'tsx/cjs', CHILD, String(seed)], { cwd: ROOT, env, encoding: 'utf8' });
  assert.equal(run.status, 0, `child (${isa ?? 'widest'}) failed:\n${run.stderr}`);
  return JSON.parse(run.stdout.trim().split('\n').pop()!);
}

const floats = (b64: string) => {
  const b = Buffer.from(b64, 'base64');
  return new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4);
};

describe('vector paths of the native kernels', function () {
  this.timeout(120_000);
  const seed = freshSeed();
  let widest: Record<string, string>;
  let avx2: Record<string, string>;
  let baseline: Record<string, string>;
  before(() => {
    widest = runPath(undefined, seed);
    avx2 = runPath('avx2', seed);
    baseline = runPath('baseline', seed);
  });

  it(`train LightGCN to identical bits on AVX-512, AVX2 and baseline code, with 1 or 2 threads [seed ${seed}]`, () => {
    const keys = Object.keys(widest).filter((k) => k.startsWith('lightgcn.') && !k.endsWith('.loss'));
    assert.ok(keys.length >= 15);
    for (const key of keys) {
      assert.equal(avx2[key], widest[key], `${key}: AVX2 differs from the widest path`);
      assert.equal(baseline[key], widest[key], `${key}: baseline differs from the widest path`);
      const t2 = key.replace('.t1.', '.t2.');
      if (t2 !== key) assert.equal(widest[t2], widest[key], `${key}: 2 threads differ from 1`);
    }
  });

  it(`score identically on the AVX-512 and AVX2 GEMM kernels, and to rounding on baseline code [seed ${seed}]`, () => {
    // Where the CPU has FMA, the baseline run must really have taken the other path (its products round
    // differently), or the comparisons above would prove nothing.
    const flags = fs.existsSync('/proc/cpuinfo') ? fs.readFileSync('/proc/cpuinfo', 'utf8') : '';
    if (/\bavx2\b/.test(flags) && /\bfma\b/.test(flags)) assert.notEqual(baseline['score.matrix'], widest['score.matrix']);
    for (const key of ['neumf.scores', 'score.matrix']) {
      assert.equal(avx2[key], widest[key], `${key}: AVX2 differs from the widest path`);
      const a = floats(widest[key]);
      const b = floats(baseline[key]);
      let scale = 0;
      for (const v of a) scale = Math.max(scale, Math.abs(v));
      for (let k = 0; k < a.length; k++) {
        assert.ok(Math.abs(a[k] - b[k]) <= 1e-5 * scale, `${key}[${k}]: baseline ${b[k]} vs ${a[k]}`);
      }
    }
  });
});
