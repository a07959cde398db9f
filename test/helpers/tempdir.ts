/** Scratch folders for tests that write files (corrupted dataset copies, downloads): removed after the suite. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** Makes a fresh folder per test under the OS temp dir and removes them all after the calling suite. */
export function useTempDirs(prefix = 'semrec-test-'): () => string {
  const made: string[] = [];
  after(() => {
    for (const dir of made) fs.rmSync(dir, { recursive: true, force: true });
  });
  return () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
    made.push(dir);
    return dir;
  };
}

/** Copies the files of `from` (one level) into `to`; returns `to`. */
export function copyFolder(from: string, to: string): string {
  for (const name of fs.readdirSync(from)) {
    const source = path.join(from, name);
    if (fs.statSync(source).isFile()) fs.copyFileSync(source, path.join(to, name));
  }
  return to;
}

/** Rewrites line `line` (1-based) of a text file through `edit` (bytes, so encodings are kept as they are). */
export function editLine(file: string, line: number, edit: (bytes: Buffer) => Buffer): void {
  const data = fs.readFileSync(file);
  let start = 0;
  for (let l = 1; l < line; l++) start = data.indexOf(10, start) + 1;
  let end = data.indexOf(10, start);
  if (end === -1) end = data.length;
  fs.writeFileSync(file, Buffer.concat([data.subarray(0, start), edit(data.subarray(start, end)), data.subarray(end)]));
}
