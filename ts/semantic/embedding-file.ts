/**
 * The file `semrec embed` writes: named float32 matrices (item vectors, review vectors, sentiment
 * scores) with the ids their rows belong to, the encoder that made them, and a checksum.
 *
 * Layout (little-endian): magic "SEMRECEM" | version u32 | header bytes u32 | header JSON (UTF-8, padded
 * with spaces to a multiple of 4) | the sections' float32 data back to back. The header names each
 * section's rows, columns, byte offset into the data and row ids, and carries the SHA-256 of the data.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';

import { SemrecError } from '../errors';
import { writeFileAtomically } from '../util/fs';

const MAGIC = Buffer.from('SEMRECEM', 'latin1');
const VERSION = 1;

export interface EmbeddingSection {
  name: string;
  /** rows x cols, row-major. */
  data: Float32Array;
  cols: number;
  /** What each row is (e.g. raw item ids, or "user\titem" of each review); optional. */
  rowIds?: string[];
}

export interface EmbeddingFileInfo {
  /** Encoder.id of the vectors. */
  encoderId: string;
  /** Free description: dataset name, format, path, templates... */
  meta?: Record<string, unknown>;
}

interface Header {
  encoderId: string;
  meta: Record<string, unknown>;
  sha256: string;
  sections: { name: string; rows: number; cols: number; offset: number; rowIds?: string[] }[];
}

export async function writeEmbeddingFile(file: string, info: EmbeddingFileInfo, sections: EmbeddingSection[]): Promise<void> {
  let offset = 0;
  const entries: Header['sections'] = [];
  for (const s of sections) {
    if (!Number.isInteger(s.cols) || s.cols < 1 || s.data.length % s.cols !== 0) {
      throw new SemrecError(`embedding file: section ${s.name} has ${s.data.length} values, not a multiple of ${s.cols} columns`, 'ERR_INVALID_ARG_VALUE');
    }
    const rows = s.data.length / s.cols;
    if (s.rowIds && s.rowIds.length !== rows) throw new SemrecError(`embedding file: section ${s.name} has ${rows} rows but ${s.rowIds.length} row ids`, 'ERR_INVALID_ARG_VALUE');
    entries.push({ name: s.name, rows, cols: s.cols, offset, rowIds: s.rowIds });
    offset += s.data.byteLength;
  }
  const data = Buffer.concat(sections.map((s) => Buffer.from(s.data.buffer, s.data.byteOffset, s.data.byteLength)));
  const header: Header = { encoderId: info.encoderId, meta: info.meta ?? {}, sha256: createHash('sha256').update(data).digest('hex'), sections: entries };
  let json = Buffer.from(JSON.stringify(header), 'utf8');
  json = Buffer.concat([json, Buffer.alloc((4 - (json.length % 4)) % 4, 0x20)]);
  const prefix = Buffer.alloc(16);
  MAGIC.copy(prefix, 0);
  prefix.writeUInt32LE(VERSION, 8);
  prefix.writeUInt32LE(json.length, 12);
  await writeFileAtomically(file, Buffer.concat([prefix, json, data]));
}

export interface EmbeddingFile {
  encoderId: string;
  meta: Record<string, unknown>;
  sections: Map<string, { data: Float32Array; rows: number; cols: number; rowIds?: string[] }>;
}

/** Reads and verifies (checksum, sizes) a file written by writeEmbeddingFile. */
export async function readEmbeddingFile(file: string): Promise<EmbeddingFile> {
  const bytes = await fs.promises.readFile(file).catch((cause: Error) => {
    throw new SemrecError(`cannot read ${file}: ${cause.message}`, 'ERR_INVALID_ARG_VALUE', { cause });
  });
  const bad = (why: string) => new SemrecError(`${file} is not a valid semrec embedding file: ${why}`, 'ERR_MODEL_FORMAT');
  if (bytes.length < 16 || !bytes.subarray(0, 8).equals(MAGIC)) throw bad('bad magic');
  if (bytes.readUInt32LE(8) !== VERSION) throw bad(`version ${bytes.readUInt32LE(8)}`);
  const headerBytes = bytes.readUInt32LE(12);
  if (16 + headerBytes > bytes.length) throw bad('header runs past the end');
  let header: Header;
  try {
    header = JSON.parse(bytes.subarray(16, 16 + headerBytes).toString('utf8')) as Header;
  } catch {
    throw bad('header is not JSON');
  }
  const data = bytes.subarray(16 + headerBytes);
  if (createHash('sha256').update(data).digest('hex') !== header.sha256) throw bad('checksum mismatch');
  const sections: EmbeddingFile['sections'] = new Map();
  for (const s of header.sections) {
    const byteLength = s.rows * s.cols * 4;
    if (s.offset + byteLength > data.length) throw bad(`section ${s.name} runs past the end`);
    const values = new Float32Array(s.rows * s.cols);
    new Uint8Array(values.buffer).set(data.subarray(s.offset, s.offset + byteLength));
    sections.set(s.name, { data: values, rows: s.rows, cols: s.cols, rowIds: s.rowIds });
  }
  return { encoderId: header.encoderId, meta: header.meta, sections };
}
