/**
 * Small self-verifying files for batch state and shard results: one header line
 *   {"format":"semrec-checked","kind":"<what>","sha256":"<hex of the body>"}
 * then the body (JSON). Written atomically (temp file, fsync, rename: ts/util/fs.ts), so a reader sees
 * the old file, the whole new one, or none; read back only when the checksum matches, so a file cut
 * short or altered on a shared filesystem is reported (ERR_SHARD_CORRUPT), never used.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';

import { SemrecError } from '../errors';
import { writeFileAtomically } from '../util/fs';

const FORMAT = 'semrec-checked';

/** Writes `body` (JSON-serialisable) to `file`, tagged with `kind` and the SHA-256 of its bytes. */
export async function writeCheckedJson(file: string, kind: string, body: unknown): Promise<string> {
  const text = `${JSON.stringify(body)}\n`;
  const sha256 = createHash('sha256').update(text, 'utf8').digest('hex');
  await writeFileAtomically(file, `${JSON.stringify({ format: FORMAT, kind, sha256 })}\n${text}`);
  return sha256;
}

/**
 * Reads a file written by writeCheckedJson: undefined when it does not exist, the parsed body when it is
 * whole, ERR_SHARD_CORRUPT naming the file when it is not (or holds another kind).
 */
export async function readCheckedJson<T>(file: string, kind: string): Promise<T | undefined> {
  let bytes: Buffer;
  try {
    bytes = await fs.readFile(file);
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined; // no such file (or a file where a folder was named)
    throw new SemrecError(`cannot read ${file}: ${(cause as Error).message}`, 'ERR_SHARD_CORRUPT', { cause });
  }
  const bad = (why: string) => new SemrecError(`${file} is damaged: ${why}`, 'ERR_SHARD_CORRUPT');
  const newline = bytes.indexOf(10);
  if (newline < 0) throw bad('no header line');
  let header: { format?: unknown; kind?: unknown; sha256?: unknown };
  try {
    header = JSON.parse(bytes.subarray(0, newline).toString('utf8')) as typeof header;
  } catch {
    throw bad('the header line is not JSON');
  }
  if (header.format !== FORMAT) throw bad('not a semrec checked file');
  if (header.kind !== kind) throw bad(`it holds '${String(header.kind)}', expected '${kind}'`);
  const body = bytes.subarray(newline + 1);
  if (createHash('sha256').update(body).digest('hex') !== header.sha256) throw bad('checksum mismatch (cut short or altered)');
  return JSON.parse(body.toString('utf8')) as T;
}

/** Base64 of a typed array's bytes (little-endian, as stored), for exact numbers inside JSON. */
export function toBase64(array: Float64Array | Int32Array | Float32Array): string {
  return Buffer.from(array.buffer, array.byteOffset, array.byteLength).toString('base64');
}

/** The inverse of toBase64, into a fresh aligned array. */
export function fromBase64<T extends Float64Array | Int32Array | Float32Array>(text: string, type: { new (buffer: ArrayBuffer): T; BYTES_PER_ELEMENT: number }, what: string): T {
  const bytes = Buffer.from(text, 'base64');
  if (bytes.length % type.BYTES_PER_ELEMENT !== 0) throw new SemrecError(`${what}: ${bytes.length} bytes is not a whole number of values`, 'ERR_SHARD_CORRUPT');
  const copy = new ArrayBuffer(bytes.length);
  new Uint8Array(copy).set(bytes);
  return new type(copy);
}
