/**
 * Search and build parameters of faiss indexes that faiss-node 0.5.1 does not expose (it has no
 * ParameterSpace): IVF's nprobe and HNSW's efConstruction / efSearch are set by editing them in the
 * index's own serialisation (Index.toBuffer) and reading it back (Index.fromBuffer). The layout is
 * faiss 1.7.3's faiss/impl/index_write.cpp, which Debian's libfaiss-dev provides:
 *   IVF Flat  'IwFl', index header, nlist (size_t), nprobe (size_t), quantizer, direct map, lists
 *   HNSW Flat 'IHNf', index header, assign_probas, cum_nneighbor_per_level, levels, offsets, neighbors
 *             (each: size_t count, then the elements), entry_point, max_level, efConstruction,
 *             efSearch, upper_beam (int32 each), storage
 *   index header: d (int32), ntotal (int64), two int64 placeholders, is_trained (1 byte),
 *             metric_type (int32), metric_arg (float32, only when metric_type > 1)
 * Every field read is checked (tag, dimension, metric, counts within the buffer), so a layout this
 * code does not know fails with ERR_INTERNAL instead of editing the wrong bytes.
 */
import { SemrecError } from '../errors';

/** faiss's MetricType enum (faiss/MetricType.h). */
export const METRIC_INNER_PRODUCT = 0;

/** Bytes of `d, ntotal, dummy, dummy, is_trained, metric_type` (metric_arg follows for metric_type > 1). */
const HEADER_BYTES = 4 + 8 + 8 + 8 + 1 + 4;

function layoutError(what: string): SemrecError {
  return new SemrecError(`retrieval: the faiss index serialisation is not the faiss 1.7.3 layout this semrec edits (${what})`, 'ERR_INTERNAL');
}

/** Offset just past the tag and the index header, after checking both. */
function afterHeader(buffer: Buffer, tag: string, dim: number): number {
  if (buffer.length < 4 + HEADER_BYTES || buffer.toString('latin1', 0, 4) !== tag) throw layoutError(`expected tag ${tag}`);
  if (buffer.readInt32LE(4) !== dim) throw layoutError(`dimension ${buffer.readInt32LE(4)}, expected ${dim}`);
  const metric = buffer.readInt32LE(4 + 4 + 8 + 8 + 8 + 1);
  return 4 + HEADER_BYTES + (metric > 1 ? 4 : 0);
}

/** A size_t field; `limit` bounds it (a vector's element count cannot exceed the buffer's bytes). */
function readSize(buffer: Buffer, at: number, limit: number = 2 ** 31 - 1): number {
  if (at + 8 > buffer.length) throw layoutError('a count lies past the end');
  const n = buffer.readBigUInt64LE(at);
  if (n > BigInt(limit)) throw layoutError(`a count (${n}) exceeds ${limit}`);
  return Number(n);
}

/** Offsets of nlist and nprobe in an IVF Flat serialisation. */
function ivfFields(buffer: Buffer, dim: number): { nlist: number; nprobeAt: number } {
  const at = afterHeader(buffer, 'IwFl', dim);
  return { nlist: readSize(buffer, at), nprobeAt: at + 8 };
}

/** Offset of efConstruction (efSearch follows) in an HNSW Flat serialisation. */
function hnswFieldsAt(buffer: Buffer, dim: number): number {
  let at = afterHeader(buffer, 'IHNf', dim);
  for (const width of [8, 4, 4, 8, 4]) {
    // assign_probas (double), cum_nneighbor_per_level (int), levels (int), offsets (size_t), neighbors (int)
    const n = readSize(buffer, at, buffer.length);
    at += 8 + n * width;
  }
  at += 4 + 4; // entry_point, max_level
  if (at + 8 > buffer.length) throw layoutError('HNSW parameters lie past the end');
  return at;
}

export interface IvfParams {
  nprobe?: number;
}

export interface HnswParams {
  efConstruction?: number;
  efSearch?: number;
}

/** A copy of an IVF Flat serialisation with nprobe replaced; checks nlist. */
export function withIvfParams(buffer: Buffer, dim: number, nlist: number, p: IvfParams): Buffer {
  const out = Buffer.from(buffer);
  const f = ivfFields(out, dim);
  if (f.nlist !== nlist) throw layoutError(`nlist ${f.nlist}, expected ${nlist}`);
  if (p.nprobe !== undefined) out.writeBigUInt64LE(BigInt(p.nprobe), f.nprobeAt);
  return out;
}

export function readIvfParams(buffer: Buffer, dim: number): { nlist: number; nprobe: number } {
  const f = ivfFields(buffer, dim);
  return { nlist: f.nlist, nprobe: readSize(buffer, f.nprobeAt) };
}

/** A copy of an HNSW Flat serialisation with efConstruction / efSearch replaced. */
export function withHnswParams(buffer: Buffer, dim: number, p: HnswParams): Buffer {
  const out = Buffer.from(buffer);
  const at = hnswFieldsAt(out, dim);
  if (p.efConstruction !== undefined) out.writeInt32LE(p.efConstruction, at);
  if (p.efSearch !== undefined) out.writeInt32LE(p.efSearch, at + 4);
  return out;
}

export function readHnswParams(buffer: Buffer, dim: number): { efConstruction: number; efSearch: number } {
  const at = hnswFieldsAt(buffer, dim);
  return { efConstruction: buffer.readInt32LE(at), efSearch: buffer.readInt32LE(at + 4) };
}
