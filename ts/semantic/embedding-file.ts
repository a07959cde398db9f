/**
 * The file `semrec embed` writes: named float32 matrices (item vectors, review vectors, sentiment
 * scores) with the ids their rows belong to, the encoder that made them, and a checksum.
 *
 * Layout (little-endian): magic "SEMRECEM" | version u32 | header bytes u32 | SHA-256 (32 bytes) |
 * header JSON (UTF-8, padded with spaces to a multiple of 4) | the sections' float32 data back to back.
 * The SHA-256 covers the header length and every byte after itself, header included: a flipped row
 * count or offset is caught like a flipped vector. The header names each section's rows, columns, byte
 * offset into the data and row ids.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';

import { SemrecError } from '../errors';
import { writeFileAtomically } from '../util/fs';

const MAGIC = Buffer.from('SEMRECEM', 'latin1');
/** 2: the checksum covers the header too (version 1 checked the vectors only). */
const VERSION = 2;
const PREFIX_BYTES = 8 + 4 + 4 + 32;

function checksum(bytes: Buffer): Buffer {
  return createHash('sha256').update(bytes.subarray(12, 16)).update(bytes.subarray(PREFIX_BYTES)).digest();
}

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

interface SectionEntry {
  name: string;
  rows: number;
  cols: number;
  offset: number;
  rowIds?: string[];
}

interface Header {
  encoderId: string;
  meta: Record<string, unknown>;
  sections: SectionEntry[];
}

export async function writeEmbeddingFile(file: string, info: EmbeddingFileInfo, sections: EmbeddingSection[]): Promise<void> {
  let offset = 0;
  const entries: SectionEntry[] = [];
  const names = new Set<string>();
  for (const s of sections) {
    if (names.has(s.name)) throw new SemrecError(`embedding file: two sections are named ${s.name}`, 'ERR_INVALID_ARG_VALUE');
    names.add(s.name);
    if (!Number.isInteger(s.cols) || s.cols < 1 || s.data.length % s.cols !== 0) {
      throw new SemrecError(`embedding file: section ${s.name} has ${s.data.length} values, not a multiple of ${s.cols} columns`, 'ERR_INVALID_ARG_VALUE');
    }
    const rows = s.data.length / s.cols;
    if (s.rowIds && s.rowIds.length !== rows) throw new SemrecError(`embedding file: section ${s.name} has ${rows} rows but ${s.rowIds.length} row ids`, 'ERR_INVALID_ARG_VALUE');
    entries.push({ name: s.name, rows, cols: s.cols, offset, rowIds: s.rowIds });
    offset += s.data.byteLength;
  }
  const header: Header = { encoderId: info.encoderId, meta: info.meta ?? {}, sections: entries };
  let json = Buffer.from(JSON.stringify(header), 'utf8');
  json = Buffer.concat([json, Buffer.alloc((4 - (json.length % 4)) % 4, 0x20)]);
  const bytes = Buffer.concat([
    Buffer.alloc(PREFIX_BYTES),
    json,
    ...sections.map((s) => Buffer.from(s.data.buffer, s.data.byteOffset, s.data.byteLength)),
  ]);
  MAGIC.copy(bytes, 0);
  bytes.writeUInt32LE(VERSION, 8);
  bytes.writeUInt32LE(json.length, 12);
  checksum(bytes).copy(bytes, 16);
  await writeFileAtomically(file, bytes);
}

export interface EmbeddingFile {
  encoderId: string;
  meta: Record<string, unknown>;
  sections: Map<string, { data: Float32Array; rows: number; cols: number; rowIds?: string[] }>;
}

const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

/** Reads and verifies (checksum over header and data, then the structure) a file written by writeEmbeddingFile. */
export async function readEmbeddingFile(file: string): Promise<EmbeddingFile> {
  const bytes = await fs.promises.readFile(file).catch((cause: Error) => {
    throw new SemrecError(`cannot read ${file}: ${cause.message}`, 'ERR_INVALID_ARG_VALUE', { cause });
  });
  const bad = (why: string) => new SemrecError(`${file} is not a valid semrec embedding file: ${why}`, 'ERR_MODEL_FORMAT');
  if (bytes.length < PREFIX_BYTES || !bytes.subarray(0, 8).equals(MAGIC)) throw bad('bad magic (not written by semrec embed, or cut short)');
  const version = bytes.readUInt32LE(8);
  if (version !== VERSION) {
    throw bad(version < VERSION ? `format version ${version} from an earlier semrec (its header carries no checksum): write it again with semrec embed` : `format version ${version}; this semrec reads version ${VERSION}`);
  }
  if (!checksum(bytes).equals(bytes.subarray(16, PREFIX_BYTES))) throw bad('checksum mismatch (the file is damaged)');
  const headerBytes = bytes.readUInt32LE(12);
  if (PREFIX_BYTES + headerBytes > bytes.length) throw bad('header runs past the end');
  let header: Header;
  try {
    header = JSON.parse(bytes.subarray(PREFIX_BYTES, PREFIX_BYTES + headerBytes).toString('utf8')) as Header;
  } catch {
    throw bad('header is not JSON');
  }
  // The checksum matched, so what follows only fails for a file written by something else than semrec.
  if (typeof header !== 'object' || header === null || typeof header.encoderId !== 'string' || !Array.isArray(header.sections)) {
    throw bad('header lacks encoderId or sections');
  }
  const data = bytes.subarray(PREFIX_BYTES + headerBytes);
  const sections: EmbeddingFile['sections'] = new Map();
  let expectedOffset = 0;
  for (const s of header.sections) {
    if (typeof s?.name !== 'string' || sections.has(s.name)) throw bad('a section lacks a name or repeats one');
    if (!isCount(s.rows) || !isCount(s.cols) || s.cols < 1 || s.offset !== expectedOffset) throw bad(`section ${s.name} has a bad shape or offset`);
    const byteLength = s.rows * s.cols * 4;
    if (s.offset + byteLength > data.length) throw bad(`section ${s.name} runs past the end`);
    if (s.rowIds !== undefined && (!Array.isArray(s.rowIds) || s.rowIds.length !== s.rows || !s.rowIds.every((id) => typeof id === 'string'))) {
      throw bad(`section ${s.name} has row ids that do not match its ${s.rows} rows`);
    }
    const values = new Float32Array(s.rows * s.cols);
    new Uint8Array(values.buffer).set(data.subarray(s.offset, s.offset + byteLength));
    sections.set(s.name, { data: values, rows: s.rows, cols: s.cols, rowIds: s.rowIds });
    expectedOffset += byteLength;
  }
  if (expectedOffset !== data.length) throw bad(`${data.length - expectedOffset} bytes after the last section`);
  return { encoderId: header.encoderId, meta: isObjectLike(header.meta) ? header.meta : {}, sections };
}

function isObjectLike(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
