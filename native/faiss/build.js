#!/usr/bin/env node
// Compiles faiss-node from its npm sources against the system libfaiss (see CMakeLists.txt here).
// Skips the work when the addon is already newer than its sources; `--force` rebuilds.
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..', '..');
const faissNodeDir = path.dirname(require.resolve('faiss-node/package.json', { paths: [root] }));
const addonApiDir = path.dirname(require.resolve('node-addon-api/package.json', { paths: [faissNodeDir] }));
const output = path.join(faissNodeDir, 'build', 'Release', 'faiss-node.node');
const source = path.join(faissNodeDir, 'src', 'faiss.cc');

function fail(message) {
  console.error(`semrec: building faiss-node failed: ${message}`);
  process.exit(1);
}

if (!fs.existsSync('/usr/lib/x86_64-linux-gnu/cmake/faiss') && !process.env.faiss_DIR) {
  fail('the system faiss was not found. On Debian/Ubuntu: apt-get install libfaiss-dev libopenblas-dev ' +
    '(or set faiss_DIR to a directory holding faiss-config.cmake)');
}
const force = process.argv.includes('--force');
if (!force && fs.existsSync(output) && fs.statSync(output).mtimeMs > fs.statSync(source).mtimeMs) {
  console.log(`faiss-node: up to date (${path.relative(root, output)})`);
  process.exit(0);
}

const cmakeJs = require.resolve('cmake-js/bin/cmake-js', { paths: [root] });
const buildDir = path.join(root, 'build-faiss');
const result = spawnSync(process.execPath, [
  cmakeJs, 'compile',
  '--directory', __dirname,
  '--out', buildDir,
  '--CDFAISS_NODE_DIR=' + faissNodeDir,
  '--CDNODE_ADDON_API_DIR=' + addonApiDir,
  '--parallel', String(require('node:os').availableParallelism()),
], { stdio: 'inherit', cwd: root });
if (result.status !== 0) fail(`cmake-js exited with ${result.status ?? result.signal}`);

fs.mkdirSync(path.dirname(output), { recursive: true });
const tmp = `${output}.tmp-${process.pid}`;
fs.copyFileSync(path.join(buildDir, 'Release', 'faiss-node.node'), tmp);
fs.renameSync(tmp, output);
console.log(`faiss-node: built ${path.relative(root, output)}`);
