/**
 * `batch embed`: a catalog's texts through a sentence encoder, in shards, into one embedding file.
 *
 * The submitter reads the catalog (a dataset's item texts, with the same template `semrec embed` uses,
 * or a JSON-lines file of { id, text }), writes each shard's texts as a checked input file in the work
 * dir, and records the encoder's id. A worker encodes its shard (through its machine's embedding cache)
 * and writes the vectors as an embedding file; the submitter concatenates the shards in order into the
 * final file. The encoder gives a text the same vector alone or in any batch (masked padding), so the
 * result equals `semrec embed --no-reviews` on the same dataset.
 */
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';

import { DATASET_FORMATS, loadDataset, type DatasetFormat } from '../data/load';
import { SemrecError } from '../errors';
import { throwIfAborted, type LongRunningOptions } from '../progress';
import { encodeWithCache } from '../semantic/cache';
import { createEncoder } from '../semantic/encoder';
import { readEmbeddingFile, writeEmbeddingFile } from '../semantic/embedding-file';
import { ITEM_TEMPLATES, itemTexts } from '../semantic/templates';
import { readCheckedJson, writeCheckedJson } from './checked-file';
import { parsePayload, z, type BatchKind } from './kind';
import { shardName, type BatchCommon, type EmbedBatchSpec, type EncoderSpec } from './spec';

const INPUT_KIND = 'embed-input';
/** The section of the final file that holds the catalog's vectors (as in `semrec embed`). */
const SECTION = 'items';

export interface EmbedCatalog {
  /** A dataset's item texts... */
  dataset?: { format: string; path: string };
  /** ...or a JSON-lines file, one { "id": "...", "text": "..." } per line. */
  texts?: string;
}

interface Catalog {
  ids: string[];
  texts: string[];
  meta: Record<string, unknown>;
}

/** Reads a JSON-lines catalog; a bad line is an error naming the file and line. */
async function readTextsFile(file: string): Promise<{ ids: string[]; texts: string[] }> {
  const ids: string[] = [];
  const texts: string[] = [];
  const seen = new Set<string>();
  let stream: fs.ReadStream;
  try {
    await fs.promises.access(file, fs.constants.R_OK);
    stream = fs.createReadStream(file, { encoding: 'utf8' });
  } catch (cause) {
    throw new SemrecError(`--texts ${file}: cannot read it (${(cause as Error).message})`, 'ERR_INVALID_ARG_VALUE', { cause });
  }
  let line = 0;
  for await (const text of readline.createInterface({ input: stream, crlfDelay: Infinity })) {
    line++;
    if (text.trim() === '') continue;
    let row: unknown;
    try {
      row = JSON.parse(text);
    } catch {
      throw new SemrecError(`--texts ${file}, line ${line}: not JSON`, 'ERR_INVALID_ARG_VALUE');
    }
    const { id, text: value } = (row ?? {}) as { id?: unknown; text?: unknown };
    if ((typeof id !== 'string' && typeof id !== 'number') || typeof value !== 'string') {
      throw new SemrecError(`--texts ${file}, line ${line}: expected { "id": string or number, "text": string }`, 'ERR_INVALID_ARG_VALUE');
    }
    const key = String(id);
    if (seen.has(key)) throw new SemrecError(`--texts ${file}, line ${line}: id '${key}' appears twice`, 'ERR_INVALID_ARG_VALUE');
    seen.add(key);
    ids.push(key);
    texts.push(value);
  }
  if (ids.length === 0) throw new SemrecError(`--texts ${file}: no texts`, 'ERR_INVALID_ARG_VALUE');
  return { ids, texts };
}

async function readCatalog(catalog: EmbedCatalog, encoderId: string, options: LongRunningOptions): Promise<Catalog> {
  if ((catalog.dataset === undefined) === (catalog.texts === undefined)) {
    throw new SemrecError('batch embed: give either a dataset (--format and --path) or --texts FILE', 'ERR_INVALID_ARG_VALUE');
  }
  if (catalog.texts !== undefined) {
    const file = path.resolve(catalog.texts);
    return { ...(await readTextsFile(file)), meta: { texts: file } };
  }
  const { format, path: datasetPath } = catalog.dataset!;
  if (!(DATASET_FORMATS as readonly string[]).includes(format)) {
    throw new SemrecError(`batch embed: --format '${format}' is not one of ${DATASET_FORMATS.join(', ')}`, 'ERR_INVALID_ARG_VALUE');
  }
  const store = await loadDataset({ format: format as DatasetFormat, path: datasetPath, signal: options.signal, onProgress: options.onProgress });
  const template = ITEM_TEMPLATES[format as DatasetFormat];
  return {
    ids: Array.from({ length: store.numItems }, (_, i) => store.itemIds.raw(i)),
    texts: itemTexts(store, template),
    // The header `semrec embed --no-reviews` writes for the same dataset.
    meta: { dataset: store.name, format, path: path.resolve(datasetPath), reviewEncoderId: encoderId, itemTemplate: template },
  };
}

function inputFile(spec: Pick<EmbedBatchSpec, 'workDir' | 'numShards'>, shard: number): string {
  return path.join(spec.workDir, `texts-${shardName(shard, spec.numShards)}.json`);
}

function vectorsFile(spec: Pick<EmbedBatchSpec, 'workDir' | 'numShards'>, shard: number): string {
  return path.join(spec.workDir, `vectors-${shardName(shard, spec.numShards)}.semb`);
}

interface ShardInput {
  batchId: string;
  shard: number;
  ids: string[];
  texts: string[];
}

/**
 * Reads the catalog, creates the encoder once (checking the model and recording its id), and writes each
 * shard's texts into the work dir. Returns the spec; nothing is queued yet.
 */
export async function planEmbedBatch(
  catalog: EmbedCatalog,
  encoder: EncoderSpec,
  shardTexts: number,
  common: BatchCommon,
  options: LongRunningOptions = {},
): Promise<EmbedBatchSpec> {
  if (!Number.isInteger(shardTexts) || shardTexts < 1) throw new SemrecError(`--shard-texts must be a positive integer, got ${shardTexts}`, 'ERR_INVALID_ARG_VALUE');
  const made = await createEncoder({
    model: encoder.model,
    maxLength: encoder.maxLength,
    batchSize: encoder.batchSize,
    intraOpThreads: encoder.threads,
    revision: encoder.revision,
    offline: encoder.offline,
    signal: options.signal,
    onProgress: options.onProgress,
  });
  const encoderId = made.id;
  const dim = made.dim;
  await made.release();
  const { ids, texts, meta } = await readCatalog(catalog, encoderId, options);
  const numShards = Math.ceil(ids.length / shardTexts);
  const spec: EmbedBatchSpec = { ...common, kind: 'embed', numShards, encoder, encoderId, dim, numTexts: ids.length, shardTexts, meta };
  for (let shard = 0; shard < numShards; shard++) {
    throwIfAborted(options.signal, 'batch embed');
    const start = shard * shardTexts;
    const end = Math.min(start + shardTexts, ids.length);
    await writeCheckedJson(inputFile(spec, shard), INPUT_KIND, { batchId: spec.id, shard, ids: ids.slice(start, end), texts: texts.slice(start, end) } satisfies ShardInput);
    options.onProgress?.({ phase: 'writing shard inputs', done: shard + 1, total: numShards, unit: 'shards' });
  }
  return spec;
}

const payloadSchema = z.object({
  encoder: z.object({
    model: z.string(),
    maxLength: z.number().int().min(1),
    batchSize: z.number().int().min(1).optional(),
    threads: z.number().int().min(1).optional(),
    revision: z.string().optional(),
    offline: z.boolean().optional(),
    cache: z.boolean(),
  }),
  encoderId: z.string(),
  input: z.string(),
  output: z.string(),
});

async function readInput(file: string, batchId: string, shard: number): Promise<ShardInput> {
  const input = await readCheckedJson<ShardInput>(file, INPUT_KIND);
  if (!input) throw new SemrecError(`the input of shard ${shard} (${file}) is missing: is the work dir on a filesystem this worker shares?`, 'ERR_SHARD_CORRUPT');
  if (input.batchId !== batchId || input.shard !== shard || input.ids.length !== input.texts.length) {
    throw new SemrecError(`${file} is not the input of shard ${shard} of batch ${batchId}`, 'ERR_SHARD_CORRUPT');
  }
  return input;
}

async function readVectors(spec: EmbedBatchSpec, shard: number) {
  const file = vectorsFile(spec, shard);
  const embedded = await readEmbeddingFile(file);
  const section = embedded.sections.get(SECTION);
  if (embedded.meta.batchId !== spec.id || embedded.meta.shard !== shard || embedded.encoderId !== spec.encoderId || !section || section.cols !== spec.dim) {
    throw new SemrecError(`${file} is not the output of shard ${shard} of batch ${spec.id}`, 'ERR_SHARD_CORRUPT');
  }
  return section;
}

export const embedKind: BatchKind<EmbedBatchSpec> = {
  unit: 'texts',
  units: (spec, shard) => Math.min(spec.shardTexts, spec.numTexts - shard * spec.shardTexts),
  label(spec, shard) {
    const start = shard * spec.shardTexts;
    return `texts ${start}-${start + embedKind.units(spec, shard) - 1}`;
  },
  payload(spec, shard) {
    return { encoder: spec.encoder, encoderId: spec.encoderId, input: inputFile(spec, shard), output: vectorsFile(spec, shard) };
  },
  async run(job, resources, context) {
    const p = parsePayload(payloadSchema, job);
    const input = await readInput(p.input, job.batchId, job.shard);
    const loaded = await resources.encoder(p.encoder, p.encoderId, context.signal);
    const progress = {
      signal: context.signal,
      onProgress: (e: { phase: string; done: number; total?: number; unit?: string }) => {
        if (e.total) context.progress(Math.min(1, e.done / e.total));
        context.onProgress?.(e);
      },
    };
    const vectors = loaded.cache
      ? (await encodeWithCache(loaded.encoder, input.texts, loaded.cache, progress)).vectors
      : await loaded.encoder.encode(input.texts, progress);
    await writeEmbeddingFile(p.output, { encoderId: loaded.encoder.id, meta: { batchId: job.batchId, shard: job.shard } }, [
      { name: SECTION, data: vectors, cols: loaded.encoder.dim, rowIds: input.ids },
    ]);
    await resources.saveCacheSometimes(loaded);
  },
  async verify(spec, shard) {
    try {
      const section = await readVectors(spec, shard);
      return section.rows === embedKind.units(spec, shard);
    } catch {
      return false;
    }
  },
  async finalize(spec, options) {
    const data = new Float32Array(spec.numTexts * spec.dim);
    const rowIds: string[] = [];
    for (let shard = 0; shard < spec.numShards; shard++) {
      throwIfAborted(options.signal, 'batch embed');
      const section = await readVectors(spec, shard);
      const input = await readInput(inputFile(spec, shard), spec.id, shard);
      if (section.rows !== input.ids.length || section.rowIds?.some((id, r) => id !== input.ids[r])) {
        throw new SemrecError(`${vectorsFile(spec, shard)}: its rows are not the texts of shard ${shard}`, 'ERR_SHARD_CORRUPT');
      }
      data.set(section.data, shard * spec.shardTexts * spec.dim);
      rowIds.push(...input.ids);
      options.onProgress?.({ phase: 'merging shards', done: shard + 1, total: spec.numShards, unit: 'shards' });
    }
    await writeEmbeddingFile(spec.out, { encoderId: spec.encoderId, meta: spec.meta }, [{ name: SECTION, data, cols: spec.dim, rowIds }]);
    const summary = { out: spec.out, encoderId: spec.encoderId, dim: spec.dim, texts: spec.numTexts, shards: spec.numShards };
    return { text: `wrote ${spec.out}: ${spec.numTexts} texts as ${spec.dim}-d vectors (${spec.numShards} shards)\n`, summary };
  },
};
