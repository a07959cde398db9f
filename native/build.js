#!/usr/bin/env node
// Builds the addon build/Release/semrec.node.
//   nvcc found (CUDACXX, PATH or /usr/local/cuda/bin) -> cmake-js + CMakeLists.txt, CUDA kernels included;
//   otherwise -> node-gyp + binding.gyp, CPU only.
// Environment: SEMREC_CUDA=0 builds without CUDA even where nvcc exists; SEMREC_BUILD=gyp|cmake picks
// the tool; SEMREC_CUDA_ARCHITECTURES overrides "80;90".
// Flags: --force rebuilds even when up to date; --native-tests builds the Node-free test program
// (build-native/semrec_native_tests) and runs it.
'use strict';
const { spawnSync, execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const output = path.join(root, 'build', 'Release', 'semrec.node');
const stampFile = path.join(root, 'build', 'semrec-build.json');
const args = new Set(process.argv.slice(2));
const jobs = String(os.availableParallelism());

function fail(message) {
  console.error(`semrec: native build failed: ${message}`);
  process.exit(1);
}

function run(command, argv, env = process.env) {
  console.log(`> ${[command, ...argv].join(' ')}`);
  const result = spawnSync(command, argv, { stdio: 'inherit', cwd: root, env });
  if (result.error) fail(`${command}: ${result.error.message}`);
  if (result.status !== 0) fail(`${path.basename(command)} exited with ${result.status ?? result.signal}`);
}

function findNvcc() {
  if (process.env.SEMREC_CUDA === '0') return null;
  const candidates = [process.env.CUDACXX];
  try {
    candidates.push(execFileSync('sh', ['-c', 'command -v nvcc'], { encoding: 'utf8' }).trim());
  } catch {
    // not on PATH
  }
  candidates.push('/usr/local/cuda/bin/nvcc');
  return candidates.find((c) => c && fs.existsSync(c)) ?? null;
}

// Every file whose change must trigger a rebuild.
function inputs() {
  const files = [path.join(root, 'CMakeLists.txt'), path.join(root, 'binding.gyp')];
  const walk = (dir) => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (/\.(cc|h|cu|cuh|json)$/.test(entry.name)) files.push(full);
    }
  };
  walk(path.join(root, 'native'));
  walk(path.join(root, 'cuda'));
  return files;
}

function upToDate(variant) {
  if (args.has('--force') || !fs.existsSync(output) || !fs.existsSync(stampFile)) return false;
  const stamp = JSON.parse(fs.readFileSync(stampFile, 'utf8'));
  if (stamp.variant !== variant) return false;
  const built = fs.statSync(output).mtimeMs;
  return inputs().every((f) => fs.statSync(f).mtimeMs <= built);
}

function install(from, variant) {
  fs.mkdirSync(path.dirname(output), { recursive: true });
  const tmp = `${output}.tmp-${process.pid}`;
  fs.copyFileSync(from, tmp);
  fs.renameSync(tmp, output);
  fs.writeFileSync(stampFile, JSON.stringify({ variant, builtAt: new Date().toISOString() }, null, 2) + '\n');
  console.log(`semrec: built ${path.relative(root, output)} (${variant})`);
}

function nodeGypCommand() {
  const candidates = [
    process.env.npm_config_node_gyp,
    path.join(path.dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
  ];
  const found = candidates.find((c) => c && fs.existsSync(c));
  if (!found) fail('node-gyp was not found (it ships with npm); run this through `npm run build`');
  return found;
}

function buildWithGyp() {
  if (upToDate('cpu')) return console.log('semrec: addon up to date (cpu)');
  const argv = [nodeGypCommand(), 'rebuild', '-j', jobs];
  if (process.env.npm_config_nodedir) argv.push(`--nodedir=${process.env.npm_config_nodedir}`);
  run(process.execPath, argv);
  install(path.join(root, 'build', 'Release', 'semrec.node'), 'cpu');
}

function buildWithCmake(nvcc) {
  const variant = nvcc ? 'cuda' : 'cpu';
  if (upToDate(variant)) return console.log(`semrec: addon up to date (${variant})`);
  const cmakeJs = require.resolve('cmake-js/bin/cmake-js', { paths: [root] });
  const defines = [`--CDSEMREC_CUDA=${nvcc ? 'ON' : 'OFF'}`];
  if (nvcc) {
    defines.push(`--CDCMAKE_CUDA_COMPILER=${nvcc}`);
    defines.push(`--CDCMAKE_CUDA_ARCHITECTURES=${process.env.SEMREC_CUDA_ARCHITECTURES ?? '80;90'}`);
  }
  run(process.execPath, [cmakeJs, 'compile', '--directory', root, '--out', path.join(root, 'build-cmake'), '--parallel', jobs, ...defines]);
  install(path.join(root, 'build-cmake', 'Release', 'semrec.node'), variant);
}

function nativeTests(nvcc) {
  const dir = path.join(root, 'build-native');
  run('cmake', ['-S', root, '-B', dir, '-DSEMREC_NODE=OFF', `-DSEMREC_CUDA=${nvcc ? 'ON' : 'OFF'}`,
    ...(nvcc ? [`-DCMAKE_CUDA_COMPILER=${nvcc}`] : [])]);
  run('cmake', ['--build', dir, '--parallel', jobs]);
  run(path.join(dir, 'semrec_native_tests'), []);
}

const nvcc = findNvcc();
if (args.has('--native-tests')) nativeTests(nvcc);
else if (process.env.SEMREC_BUILD === 'gyp' || (!nvcc && process.env.SEMREC_BUILD !== 'cmake')) buildWithGyp();
else buildWithCmake(nvcc);
