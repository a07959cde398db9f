/**
 * Vector retrieval over faiss (faiss-node, compiled against the system libfaiss): maximum inner product
 * search over a set of vectors, exact by default, with IVF and HNSW for large catalogs. Models use it to
 * serve similar items over large catalogs; candidate generation (LLM-Rec) builds on it.
 *
 *   const index = new VectorIndex({ dim: 64 });                 // 'flat': exact inner product
 *   index.add(itemVectors);                                       // Float32Array, n x dim; ids 0..n-1 in order
 *   const { indices, scores } = index.search(queries, 10, { exclude });  // per query, best first
 *   await index.save('items.sidx'); const same = await VectorIndex.load('items.sidx');
 *
 * Cosine similarity is inner product over unit vectors: normalise before add() and search().
 * Results follow semrec's ranking order (higher score, then lower id); ids are the insertion order.
 * faiss-node takes and returns plain JS arrays: every call converts the TypedArrays, and `stats` reports
 * that conversion apart from faiss's own time. Calls are synchronous (they block the event loop for
 * their duration, as faiss-node runs on the calling thread).
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';


import { SemrecError } from '../errors';
import type { Csr } from '../kernels/types';
import { checkInteger } from '../kernels/validate';
import { writeFileAtomically } from '../util/fs';
import faiss from './faiss';
import { METRIC_INNER_PRODUCT, readHnswParams, readIvfParams, withHnswParams, withIvfParams } from './faiss-params';

export type VectorIndexKind = 'flat' | 'ivf' | 'hnsw';

/**
 * Defaults and their sources: faiss's wiki "Guidelines to choose an index" suggests IVF with 4 sqrt(n)
 * to 16 sqrt(n) lists and HNSW with M between 4 and 64 (32 here, as its examples). faiss's own search
 * defaults (nprobe 1, efSearch 16; efConstruction 40) recall poorly. On random unit vectors of 64
 * dimensions (bench/retrieval.ts, k = 10): HNSW with efSearch 64 recalls 0.95 of 10,000 vectors and 0.69
 * of 100,000 (efSearch 128: 1.00 and 0.90); IVF with nprobe 16 recalls 0.42 and 0.28. Random vectors have
 * no cluster structure, the worst case for both: real embeddings cluster and recall better at the same
 * settings, which is why they are settings (setSearchParams) to measure on one's own vectors.
 */
export const IVF_LISTS_PER_SQRT_N = 4;
/** faiss's k-means warns below 39 training points per cell (ClusteringParameters.min_points_per_centroid). */
export const IVF_MIN_POINTS_PER_LIST = 39;
export const DEFAULT_NPROBE = 16;
export const DEFAULT_HNSW_M = 32;
export const DEFAULT_EF_CONSTRUCTION = 80;
export const DEFAULT_EF_SEARCH = 64;

/** IVF cells for n vectors when not given: min(4 sqrt(n), n / 39), at least 1. */
export function defaultIvfLists(n: number): number {
  return Math.max(1, Math.min(Math.round(IVF_LISTS_PER_SQRT_N * Math.sqrt(n)), Math.floor(n / IVF_MIN_POINTS_PER_LIST)));
}

export interface VectorIndexOptions {
  dim: number;
  /** 'flat' (default): exact; 'ivf': inverted lists over k-means cells; 'hnsw': a navigable small-world graph. */
  kind?: VectorIndexKind;
  /** IVF: number of cells (default min(4 sqrt(n), n / 39) of the first add(), which also trains the quantizer). */
  nlist?: number;
  /** IVF: cells visited per query (default 16). */
  nprobe?: number;
  /** HNSW: neighbours per node (default 32). */
  m?: number;
  /** HNSW: candidate list size while building (default 80). */
  efConstruction?: number;
  /** HNSW: candidate list size while searching (default 64; at least k is always used). */
  efSearch?: number;
}

export interface VectorSearchOptions {
  /** Ids never returned, one row per query (CSR), e.g. the item itself or a user's seen items. */
  exclude?: Csr;
}

export interface VectorSearchResult {
  /** queries x k ids, best first; -1 pads rows with fewer than k results. */
  indices: Int32Array;
  /** The matching inner products; -Infinity pads. */
  scores: Float32Array;
  k: number;
}

/** Cumulative time of an index's calls, split into faiss's work and the TypedArray <-> JS array conversion. */
export interface VectorIndexStats {
  calls: number;
  faissMs: number;
  conversionMs: number;
}

/** The description saved with an index. */
interface IndexHeader {
  format: 'semrec-vector-index';
  version: 1;
  kind: VectorIndexKind;
  dim: number;
  nlist?: number;
  nprobe?: number;
  m?: number;
  efConstruction?: number;
  efSearch?: number;
  ntotal: number;
  sha256: string;
}

const MAGIC = 'SRVX';
const MAX_DIM = 65536;

function invalid(message: string): SemrecError {
  return new SemrecError(message, 'ERR_INVALID_ARG_VALUE');
}

export class VectorIndex {
  readonly dim: number;
  readonly kind: VectorIndexKind;
  private index: import('faiss-node').Index | undefined;
  private params: Required<Pick<VectorIndexOptions, 'nprobe' | 'm' | 'efConstruction' | 'efSearch'>> & { nlist?: number };
  private readonly counters: VectorIndexStats = { calls: 0, faissMs: 0, conversionMs: 0 };

  constructor(options: VectorIndexOptions) {
    if (typeof options !== 'object' || options === null) throw new SemrecError('VectorIndex: expected an options object', 'ERR_INVALID_ARG_TYPE');
    this.dim = checkInteger(options.dim, 'VectorIndex: dim', 1, MAX_DIM);
    const kind = options.kind ?? 'flat';
    if (kind !== 'flat' && kind !== 'ivf' && kind !== 'hnsw') throw invalid(`VectorIndex: kind must be 'flat', 'ivf' or 'hnsw', got '${String(kind)}'`);
    this.kind = kind;
    const positive = (v: number | undefined, name: string, fallback: number, max = 1 << 30) =>
      v === undefined ? fallback : checkInteger(v, `VectorIndex: ${name}`, 1, max);
    this.params = {
      nlist: options.nlist === undefined ? undefined : positive(options.nlist, 'nlist', 1),
      nprobe: positive(options.nprobe, 'nprobe', DEFAULT_NPROBE),
      m: positive(options.m, 'm', DEFAULT_HNSW_M, 512),
      efConstruction: positive(options.efConstruction, 'efConstruction', DEFAULT_EF_CONSTRUCTION),
      efSearch: positive(options.efSearch, 'efSearch', DEFAULT_EF_SEARCH),
    };
    for (const [name, kinds] of [['nlist', ['ivf']], ['nprobe', ['ivf']], ['m', ['hnsw']], ['efConstruction', ['hnsw']], ['efSearch', ['hnsw']]] as const) {
      if (options[name] !== undefined && !(kinds as readonly string[]).includes(kind)) throw invalid(`VectorIndex: option '${name}' applies to ${kinds.join('/')} indexes, not '${kind}'`);
    }
    if (kind !== 'ivf') this.index = this.createFaiss();
  }

  /** Vectors in the index. */
  get ntotal(): number {
    return this.index ? this.index.ntotal() : 0;
  }

  /** The settings in effect (IVF's nlist once the first add() chose it). */
  get settings(): VectorIndexOptions {
    const p = this.params;
    if (this.kind === 'ivf') return { dim: this.dim, kind: 'ivf', nlist: p.nlist, nprobe: p.nprobe };
    if (this.kind === 'hnsw') return { dim: this.dim, kind: 'hnsw', m: p.m, efConstruction: p.efConstruction, efSearch: p.efSearch };
    return { dim: this.dim, kind: 'flat' };
  }

  /** Time spent in faiss and in converting arrays for it, over all calls so far. */
  get stats(): VectorIndexStats {
    return { ...this.counters };
  }

  private createFaiss(): import('faiss-node').Index {
    const p = this.params;
    const description = this.kind === 'flat' ? 'Flat' : this.kind === 'ivf' ? `IVF${p.nlist},Flat` : `HNSW${p.m},Flat`;
    const created = faiss.Index.fromFactory(this.dim, description, METRIC_INNER_PRODUCT as unknown as import('faiss-node').MetricType);
    if (this.kind === 'flat') return created;
    const bytes = created.toBuffer();
    const edited =
      this.kind === 'ivf'
        ? withIvfParams(bytes, this.dim, p.nlist!, { nprobe: p.nprobe })
        : withHnswParams(bytes, this.dim, { efConstruction: p.efConstruction, efSearch: p.efSearch });
    return faiss.Index.fromBuffer(edited);
  }

  private toArray(values: Float32Array): number[] {
    const started = performance.now();
    const out = Array.from(values);
    this.counters.conversionMs += performance.now() - started;
    return out;
  }

  private checkVectors(vectors: Float32Array, what: string): number {
    if (!(vectors instanceof Float32Array)) throw new SemrecError(`${what} must be a Float32Array`, 'ERR_INVALID_ARG_TYPE');
    if (vectors.length % this.dim !== 0) throw invalid(`${what}.length (${vectors.length}) must be a multiple of dim (${this.dim})`);
    for (let v = 0; v < vectors.length; v++) {
      if (!Number.isFinite(vectors[v])) {
        throw new SemrecError(`${what}[${v}] (row ${Math.floor(v / this.dim)}) is ${vectors[v]}`, Number.isNaN(vectors[v]) ? 'ERR_NAN_INPUT' : 'ERR_OUT_OF_RANGE');
      }
    }
    return vectors.length / this.dim;
  }

  /**
   * Adds n vectors (n x dim, row-major) with ids ntotal .. ntotal + n - 1. An IVF index's first add()
   * also trains its quantizer on these vectors (at least nlist of them; nlist defaults to
 * min(4 sqrt(n), n / 39)).
   */
  add(vectors: Float32Array): void {
    const n = this.checkVectors(vectors, 'VectorIndex.add: vectors');
    if (n === 0) return;
    if (this.ntotal + n > 2 ** 31 - 1) throw new SemrecError('VectorIndex.add: more than 2^31 - 1 vectors', 'ERR_OUT_OF_RANGE');
    const data = this.toArray(vectors);
    const started = performance.now();
    if (!this.index) {
      this.params.nlist ??= defaultIvfLists(n);
      if (n < this.params.nlist) throw invalid(`VectorIndex.add: an IVF index with nlist ${this.params.nlist} needs at least that many vectors in its first add() to train on, got ${n}`);
      this.index = this.createFaiss();
      this.index.train(data);
    }
    this.index.add(data);
    this.counters.faissMs += performance.now() - started;
    this.counters.calls++;
  }

  /**
   * The k ids of largest inner product with each query (queries x dim), best first, without the ids
   * `exclude` lists for that query. k is clamped to ntotal; rows are padded with -1 when exclusions or
   * an approximate index leave fewer.
   */
  search(queries: Float32Array, k: number, options: VectorSearchOptions = {}): VectorSearchResult {
    const numQueries = this.checkVectors(queries, 'VectorIndex.search: queries');
    checkInteger(k, 'VectorIndex.search: k', 1, 2 ** 31 - 1);
    const exclude = options.exclude;
    if (exclude !== undefined) {
      if (!(exclude.indptr instanceof Int32Array) || !(exclude.indices instanceof Int32Array)) {
        throw new SemrecError('VectorIndex.search: exclude must be { indptr: Int32Array, indices: Int32Array }', 'ERR_INVALID_ARG_TYPE');
      }
      if (exclude.indptr.length !== numQueries + 1) throw invalid(`VectorIndex.search: exclude must have one row per query (${numQueries})`);
    }
    const kk = Math.min(k, Math.max(1, this.ntotal));
    const indices = new Int32Array(numQueries * kk).fill(-1);
    const scores = new Float32Array(numQueries * kk).fill(-Infinity);
    if (numQueries === 0 || this.ntotal === 0) return { indices, scores, k: kk };
    let widest = 0;
    if (exclude) for (let q = 0; q < numQueries; q++) widest = Math.max(widest, exclude.indptr[q + 1] - exclude.indptr[q]);
    const asked = Math.min(this.ntotal, kk + widest);
    const data = this.toArray(queries);
    const started = performance.now();
    const found = this.index!.search(data, asked);
    this.counters.faissMs += performance.now() - started;
    this.counters.calls++;
    const converted = performance.now();
    for (let q = 0; q < numQueries; q++) {
      const banned = exclude ? new Set(exclude.indices.subarray(exclude.indptr[q], exclude.indptr[q + 1])) : undefined;
      const row: { id: number; score: number }[] = [];
      for (let c = 0; c < asked; c++) {
        const id = found.labels[q * asked + c];
        if (id < 0 || banned?.has(id)) continue;
        row.push({ id, score: Math.fround(found.distances[q * asked + c]) });
      }
      row.sort((a, b) => b.score - a.score || a.id - b.id);
      for (let c = 0; c < Math.min(kk, row.length); c++) {
        indices[q * kk + c] = row[c].id;
        scores[q * kk + c] = row[c].score;
      }
    }
    this.counters.conversionMs += performance.now() - converted;
    return { indices, scores, k: kk };
  }

  /** Changes the search-time settings of an IVF (nprobe) or HNSW (efSearch) index. */
  setSearchParams(p: { nprobe?: number; efSearch?: number }): void {
    if (p.nprobe !== undefined) {
      if (this.kind !== 'ivf') throw invalid(`VectorIndex.setSearchParams: nprobe applies to IVF indexes, not '${this.kind}'`);
      this.params.nprobe = checkInteger(p.nprobe, 'VectorIndex.setSearchParams: nprobe', 1, 1 << 30);
      if (this.index) this.index = faiss.Index.fromBuffer(withIvfParams(this.index.toBuffer(), this.dim, this.params.nlist!, { nprobe: this.params.nprobe }));
    }
    if (p.efSearch !== undefined) {
      if (this.kind !== 'hnsw') throw invalid(`VectorIndex.setSearchParams: efSearch applies to HNSW indexes, not '${this.kind}'`);
      this.params.efSearch = checkInteger(p.efSearch, 'VectorIndex.setSearchParams: efSearch', 1, 1 << 30);
      this.index = faiss.Index.fromBuffer(withHnswParams(this.index!.toBuffer(), this.dim, { efSearch: this.params.efSearch }));
    }
  }

  /** The index as bytes: a header (kind, settings, SHA-256 of the faiss part) and faiss's serialisation. */
  toBuffer(): Uint8Array {
    if (!this.index) throw new SemrecError('VectorIndex.toBuffer: an IVF index is empty until its first add()', 'ERR_INVALID_ARG_VALUE');
    const body = this.index.toBuffer();
    const header: IndexHeader = {
      format: 'semrec-vector-index',
      version: 1,
      ...(this.settings as Omit<IndexHeader, 'format' | 'version' | 'ntotal' | 'sha256'>),
      ntotal: this.ntotal,
      sha256: createHash('sha256').update(body).digest('hex'),
    };
    const json = Buffer.from(JSON.stringify(header));
    const prefix = Buffer.alloc(8);
    prefix.write(MAGIC, 0, 'latin1');
    prefix.writeUInt32LE(json.length, 4);
    return Buffer.concat([prefix, json, body]);
  }

  /** An index from toBuffer()'s bytes, checked (ERR_MODEL_CORRUPT when damaged). */
  static fromBuffer(bytes: Uint8Array, where = 'the vector index'): VectorIndex {
    const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const corrupt = (what: string) => new SemrecError(`${where} is damaged: ${what}`, 'ERR_MODEL_CORRUPT');
    if (buffer.length < 8 || buffer.toString('latin1', 0, 4) !== MAGIC) throw corrupt('not a semrec vector index');
    const length = buffer.readUInt32LE(4);
    if (8 + length > buffer.length) throw corrupt('the header lies past the end');
    let header: IndexHeader;
    try {
      header = JSON.parse(buffer.toString('utf8', 8, 8 + length)) as IndexHeader;
    } catch (cause) {
      throw corrupt(`the header is not JSON (${(cause as Error).message})`);
    }
    if (header.format !== 'semrec-vector-index' || header.version !== 1) throw corrupt('unknown format or version');
    const body = buffer.subarray(8 + length);
    if (createHash('sha256').update(body).digest('hex') !== header.sha256) throw corrupt('the SHA-256 of the faiss index does not match');
    const index = new VectorIndex({
      dim: header.dim,
      kind: header.kind,
      ...(header.kind === 'ivf' ? { nlist: header.nlist, nprobe: header.nprobe } : {}),
      ...(header.kind === 'hnsw' ? { m: header.m, efConstruction: header.efConstruction, efSearch: header.efSearch } : {}),
    });
    try {
      index.index = faiss.Index.fromBuffer(Buffer.from(body));
    } catch (cause) {
      throw corrupt(`faiss cannot read it (${(cause as Error).message})`);
    }
    if (index.ntotal !== header.ntotal || index.index.getDimension() !== header.dim) throw corrupt('size or dimension differ from the header');
    // The settings live in faiss's own bytes too: they must agree with the header.
    const b = Buffer.from(body);
    if (header.kind === 'ivf' && readIvfParams(b, header.dim).nprobe !== header.nprobe) throw corrupt('nprobe differs from the header');
    if (header.kind === 'hnsw' && readHnswParams(b, header.dim).efSearch !== header.efSearch) throw corrupt('efSearch differs from the header');
    return index;
  }

  /** Writes the index to `file` atomically. */
  async save(file: string): Promise<void> {
    await writeFileAtomically(file, this.toBuffer());
  }

  static async load(file: string): Promise<VectorIndex> {
    let bytes: Buffer;
    try {
      bytes = await fs.readFile(file);
    } catch (cause) {
      throw new SemrecError(`VectorIndex.load: cannot read ${file} (${(cause as Error).message})`, 'ERR_MODEL_NOT_FOUND', { cause });
    }
    return VectorIndex.fromBuffer(bytes, file);
  }
}
