/**
 * An on-disk cache of sentence vectors, keyed by the encoder's id and a hash of each text, so
 * re-running over the same corpus encodes only what is new.
 *
 * File layout (little-endian):
 *   magic "SEMRECEC" | version u32 | dim u32 | count u32 | modelIdBytes u32 | sha256 (32 bytes)
 *   | modelId (UTF-8) | count x 16-byte text keys | count x dim float32 vectors
 * The SHA-256 covers everything after itself; the counts before it must give the file's exact size
 * (so a changed dim, count or id length is caught too). A file for another model or width is ignored
 * and replaced on save; a file that fails its checksum (or is cut short) is reported as corrupt and
 * rebuilt, never used. Saves are atomic (ts/util/fs.ts).
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

import { SemrecError } from '../errors';
import type { LongRunningOptions } from '../progress';
import { writeFileAtomically } from '../util/fs';
import type { Encoder } from './encoder';

const MAGIC = Buffer.from('SEMRECEC', 'latin1');
const FORMAT_VERSION = 1;
/** Bytes of SHA-256(text) kept per entry: 128 bits, collisions are out of reach for any corpus. */
const KEY_BYTES = 16;
const HEADER_BYTES = 8 + 4 * 4 + 32;

/**
 * 'loaded': the file was valid and belongs to this model; 'new': there was no file; 'stale': the file
 * belongs to another model id or width and is replaced on save; 'corrupt': the file failed its
 * checksum or structure checks and is rebuilt.
 */
export type CacheStatus = 'loaded' | 'new' | 'stale' | 'corrupt';

export interface EmbeddingCacheOptions {
  /** The encoder id the vectors come from (`Encoder.id`). */
  modelId: string;
  dim: number;
}

function textKey(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest().subarray(0, KEY_BYTES).toString('hex');
}

/** The cache file of one encoder under a cache directory (one file per Encoder.id). */
export function embeddingCacheFile(cacheDir: string, encoderId: string): string {
  return path.join(cacheDir, 'embeddings', `${createHash('sha256').update(encoderId).digest('hex').slice(0, 24)}.semc`);
}

export class EmbeddingCache {
  private readonly index = new Map<string, number>();
  private vectors: Float32Array;
  private count = 0;
  private dirty = false;

  private constructor(
    readonly file: string,
    readonly modelId: string,
    readonly dim: number,
    /** What was found on disk when the cache was opened. */
    readonly status: CacheStatus,
    /** Why the file was not used, for 'stale' and 'corrupt'. */
    readonly reason?: string,
  ) {
    this.vectors = new Float32Array(dim * 64);
  }

  /** Opens (or starts) the cache at `file` for one model. */
  static async open(file: string, options: EmbeddingCacheOptions): Promise<EmbeddingCache> {
    const { modelId, dim } = options;
    if (!Number.isInteger(dim) || dim < 1) throw new SemrecError(`EmbeddingCache: dim must be a positive integer, got ${dim}`, 'ERR_INVALID_ARG_VALUE');
    if (typeof modelId !== 'string' || modelId.length === 0) throw new SemrecError('EmbeddingCache: modelId must be a non-empty string', 'ERR_INVALID_ARG_VALUE');
    let bytes: Buffer;
    try {
      bytes = await fs.promises.readFile(file);
    } catch (cause) {
      if ((cause as NodeJS.ErrnoException).code === 'ENOENT') return new EmbeddingCache(file, modelId, dim, 'new');
      throw new SemrecError(`cannot read the embedding cache ${file}: ${(cause as Error).message}`, 'ERR_INVALID_ARG_VALUE', { cause });
    }
    const parsed = parse(bytes);
    if ('corrupt' in parsed) return new EmbeddingCache(file, modelId, dim, 'corrupt', parsed.corrupt);
    if (parsed.modelId !== modelId || parsed.dim !== dim) {
      const why = parsed.modelId !== modelId ? `it holds vectors of ${parsed.modelId}` : `it holds ${parsed.dim}-d vectors`;
      return new EmbeddingCache(file, modelId, dim, 'stale', why);
    }
    const cache = new EmbeddingCache(file, modelId, dim, 'loaded');
    cache.vectors = parsed.vectors;
    cache.count = parsed.keys.length;
    parsed.keys.forEach((k, i) => cache.index.set(k, i));
    return cache;
  }

  /** Number of cached vectors. */
  get size(): number {
    return this.count;
  }

  get(text: string): Float32Array | undefined {
    const i = this.index.get(textKey(text));
    return i === undefined ? undefined : this.vectors.subarray(i * this.dim, (i + 1) * this.dim);
  }

  set(text: string, vector: ArrayLike<number>): void {
    if (vector.length !== this.dim) throw new SemrecError(`EmbeddingCache.set: vector has ${vector.length} values, the cache holds ${this.dim}-d vectors`, 'ERR_INVALID_ARG_VALUE');
    const key = textKey(text);
    let i = this.index.get(key);
    if (i === undefined) {
      i = this.count++;
      if (this.count * this.dim > this.vectors.length) {
        const grown = new Float32Array(Math.max(this.count * this.dim, this.vectors.length * 2));
        grown.set(this.vectors);
        this.vectors = grown;
      }
      this.index.set(key, i);
    }
    this.vectors.set(vector, i * this.dim);
    this.dirty = true;
  }

  /** Writes the cache atomically when it changed (or when the file on disk was stale or corrupt). */
  async save(): Promise<void> {
    if (!this.dirty && this.status === 'loaded') return;
    const idBytes = Buffer.from(this.modelId, 'utf8');
    const body = Buffer.alloc(idBytes.length + this.count * KEY_BYTES + this.count * this.dim * 4);
    idBytes.copy(body, 0);
    let at = idBytes.length;
    const keys = new Array<string>(this.count);
    for (const [k, i] of this.index) keys[i] = k;
    for (const k of keys) at += Buffer.from(k, 'hex').copy(body, at);
    Buffer.from(this.vectors.buffer, this.vectors.byteOffset, this.count * this.dim * 4).copy(body, at);
    const header = Buffer.alloc(HEADER_BYTES);
    MAGIC.copy(header, 0);
    header.writeUInt32LE(FORMAT_VERSION, 8);
    header.writeUInt32LE(this.dim, 12);
    header.writeUInt32LE(this.count, 16);
    header.writeUInt32LE(idBytes.length, 20);
    createHash('sha256').update(body).digest().copy(header, 24);
    await writeFileAtomically(this.file, Buffer.concat([header, body]));
    this.dirty = false;
  }
}

type Parsed = { modelId: string; dim: number; keys: string[]; vectors: Float32Array } | { corrupt: string };

function parse(bytes: Buffer): Parsed {
  if (bytes.length < HEADER_BYTES) return { corrupt: `file is ${bytes.length} bytes, shorter than the header` };
  if (!bytes.subarray(0, 8).equals(MAGIC)) return { corrupt: 'bad magic (not a semrec embedding cache)' };
  const version = bytes.readUInt32LE(8);
  if (version !== FORMAT_VERSION) return { corrupt: `format version ${version}, expected ${FORMAT_VERSION}` };
  const dim = bytes.readUInt32LE(12);
  const count = bytes.readUInt32LE(16);
  const idLength = bytes.readUInt32LE(20);
  const expected = HEADER_BYTES + idLength + count * KEY_BYTES + count * dim * 4;
  if (dim === 0 || bytes.length !== expected) return { corrupt: `file is ${bytes.length} bytes, its header implies ${expected}` };
  const body = bytes.subarray(HEADER_BYTES);
  if (!createHash('sha256').update(body).digest().equals(bytes.subarray(24, 56))) return { corrupt: 'checksum mismatch' };
  const modelId = body.subarray(0, idLength).toString('utf8');
  const keys: string[] = [];
  let at = idLength;
  for (let i = 0; i < count; i++, at += KEY_BYTES) keys.push(body.subarray(at, at + KEY_BYTES).toString('hex'));
  const vectors = new Float32Array(count * dim);
  new Uint8Array(vectors.buffer).set(body.subarray(at, at + count * dim * 4));
  return { modelId, dim, keys, vectors };
}

export interface CachedEncodeResult {
  vectors: Float32Array;
  /** Texts served from the cache. */
  hits: number;
  /** Texts the encoder had to run on (distinct texts count once). */
  encoded: number;
}

/**
 * Encodes `texts` through `cache`: cached vectors are reused, the rest (each distinct text once) are
 * encoded and added. The caller saves the cache when it wants the additions on disk.
 */
export async function encodeWithCache(encoder: Encoder, texts: string[], cache: EmbeddingCache, options: LongRunningOptions = {}): Promise<CachedEncodeResult> {
  if (cache.modelId !== encoder.id || cache.dim !== encoder.dim) {
    throw new SemrecError(`the embedding cache ${cache.file} is for ${cache.modelId} (${cache.dim}-d), not ${encoder.id} (${encoder.dim}-d)`, 'ERR_CACHE_MISMATCH');
  }
  const dim = encoder.dim;
  const out = new Float32Array(texts.length * dim);
  const missing = new Map<string, number[]>();
  let hits = 0;
  texts.forEach((t, i) => {
    const v = cache.get(t);
    if (v) {
      out.set(v, i * dim);
      hits++;
    } else {
      const rows = missing.get(t);
      if (rows) rows.push(i);
      else missing.set(t, [i]);
    }
  });
  const todo = [...missing.keys()];
  if (todo.length > 0) {
    const vectors = await encoder.encode(todo, options);
    todo.forEach((t, j) => {
      const v = vectors.subarray(j * dim, (j + 1) * dim);
      cache.set(t, v);
      for (const i of missing.get(t)!) out.set(v, i * dim);
    });
  }
  return { vectors: out, hits, encoded: todo.length };
}


/** Opens the embedding cache of `encoder` under `cacheDir`. */
export function openEmbeddingCache(cacheDir: string, encoder: Encoder): Promise<EmbeddingCache> {
  return EmbeddingCache.open(embeddingCacheFile(cacheDir, encoder.id), { modelId: encoder.id, dim: encoder.dim });
}
