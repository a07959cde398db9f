/**
 * Running the `semrec` command line inside the test process (or as a fresh process), and small datasets
 * in real file layouts for it.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

import { main } from '../../ts/cli/main';
import { Random } from './random';

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs `semrec <args>` through the CLI's main(), capturing stdout and stderr; `onStdout` sees each chunk
 * first (e.g. to inject a fault at that moment).
 */
export async function runCli(args: string[], onStdout?: (chunk: string) => void): Promise<CliResult> {
  const out: string[] = [];
  const err: string[] = [];
  const write = process.stdout.write.bind(process.stdout);
  const writeErr = process.stderr.write.bind(process.stderr);
  process.stdout.write = ((chunk: string) => {
    onStdout?.(String(chunk));
    return out.push(String(chunk)) > 0;
  }) as typeof process.stdout.write;
  process.stderr.write = ((chunk: string) => err.push(String(chunk)) > 0) as typeof process.stderr.write;
  try {
    const code = await main(['node', 'semrec', ...args]);
    return { code, stdout: out.join(''), stderr: err.join('') };
  } finally {
    process.stdout.write = write;
    process.stderr.write = writeErr;
  }
}

const ROOT = path.resolve(__dirname, '..', '..');

/** Runs `semrec <args>` as a fresh process from the TypeScript sources (what `npm run build` compiles to dist/). */
export function spawnCli(args: string[], cwd = ROOT): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['--require', require.resolve('tsx/cjs'), path.join(ROOT, 'ts', 'cli', 'main.ts'), ...args], { cwd, encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const GENRES = 19;

/** 40 users x 30 movies (12 random ratings each) in ml-100k's u.data / u.item layout. */
export function writeMl100kLike(dir: string, seed = 9): void {
  const rng = new Random(seed);
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
