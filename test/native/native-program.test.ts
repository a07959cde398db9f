import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';

// The Node-free native test program (native/tests) is what proves the CUDA kernels on a GPU machine
// without Node. Here it is built from the same sources (with the CUDA kernels wherever nvcc exists, so
// CI compiles and links them) and run: CPU cases must pass; CUDA cases run only on a usable GPU.
describe('native test program (Node-free)', function () {
  this.timeout(10 * 60 * 1000);

  it('builds with CMake and passes every case it can run here', () => {
    const root = path.resolve(__dirname, '..', '..');
    const run = spawnSync(process.execPath, [path.join(root, 'native', 'build.js'), '--native-tests'], {
      cwd: root,
      encoding: 'utf8',
    });
    const output = `${run.stdout}\n${run.stderr}`;
    assert.equal(run.status, 0, `native tests failed:\n${output.slice(-4000)}`);
    const summary = /(\d+) passed, (\d+) failed, (\d+) skipped/.exec(output);
    assert.ok(summary, `no summary line in:\n${output.slice(-2000)}`);
    assert.equal(Number(summary[2]), 0, output.slice(-4000));
    assert.ok(Number(summary[1]) > 30, `only ${summary[1]} cases passed`);
  });
});
