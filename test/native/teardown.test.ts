/**
 * Environment teardown while an async native call is pending must not take the process down: a worker
 * thread terminated mid-call (a service recycling its workers, a test runner timing out) and a process
 * exiting mid-call. Each case runs in a child process, whose exit status is the verdict: the defect
 * this guards against aborted the whole process (rc 134, "terminate called after throwing Napi::Error").
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';

const ROOT = path.resolve(__dirname, '..', '..');
/** Workers per op: each is terminated at a random moment in the first 40 ms of its call. */
const ROUNDS = Number(process.env.SEMREC_TEARDOWN_ROUNDS ?? 3);

function runChild(args: string[], input?: string) {
  return spawnSync(process.execPath, ['--require', 'tsx/cjs', ...args], { cwd: ROOT, encoding: 'utf8', input, timeout: 300_000 });
}

describe('native: environment teardown during a pending async call', () => {
  const OPS = ['topK', 'scoreTopK', 'scoreMatrix', 'rankingMetrics', 'rankingMetricsFromTopK', 'logisticFit', 'fit'];
  // One child process terminates workers for every op (a crash of any one takes it down: the status says).
  let run: ReturnType<typeof runChild>;
  let counts: Record<string, { terminatedPending: number; finishedFirst: number }> = {};
  before(function () {
    this.timeout(600_000);
    run = runChild([path.join(ROOT, 'test', 'native', 'fixtures', 'terminate-workers.ts'), String(ROUNDS), ...OPS]);
    if (run.status === 0) counts = JSON.parse(run.stdout.trim().split('\n').pop()!);
  });

  for (const op of OPS) {
    it(`survives worker.terminate() while ${op} is pending`, function () {
      assert.equal(run.status, 0, `the process died (status ${run.status}, signal ${run.signal}):\n${run.stderr}`);
      assert.ok(counts[op].terminatedPending > 0, `no worker was terminated while its ${op} call was pending: ${JSON.stringify(counts[op])}`);
      this.test!.title += ` (${counts[op].terminatedPending} of ${ROUNDS} workers terminated mid-call)`;
    });
  }

  it('survives process.exit() while an async call is pending', () => {
    const script = `
      const { topK } = require(${JSON.stringify(path.join(ROOT, 'ts', 'kernels', 'topk'))});
      const scores = new Float32Array(2000 * 4000).fill(0.5);
      topK({ scores, numRows: 2000, numCols: 4000, k: 10, device: 'cpu' });
      setTimeout(() => process.exit(0), 5);
    `;
    const exit = runChild(['-e', script]);
    assert.equal(exit.status, 0, `the process died (status ${exit.status}, signal ${exit.signal}):\n${exit.stderr}`);
  });
});
