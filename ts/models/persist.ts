/**
 * The on-disk format of a saved model: a directory with
 *   model.json   { format: 'semrec-model', version, model, params, meta, provenance, weights: { file, bytes, sha256 }, arrays }
 *   weights.bin  the typed arrays and the JSON sections (raw ids, item catalog) back to back (8-byte
 *                aligned), described by `arrays`; a JSON section is UTF-8 text with dtype 'json'
 * Written into a staging directory beside the target and renamed into place, so a reader sees the old
 * model or the new one, never a mix; the SHA-256 of weights.bin catches damaged or truncated files.
 */
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';

import { SemrecError } from '../errors';

export const MODEL_FORMAT = 'semrec-model';
/**
 * Bumped whenever the layout of model.json or weights.bin changes; other versions are refused.
 * 2: raw ids, item catalog, training-data fingerprint and provenance (semrec version) in every model.
 */
export const MODEL_FORMAT_VERSION = 2;
const MANIFEST = 'model.json';
const WEIGHTS = 'weights.bin';
const ALIGN = 8;

export type SavedArray = Float32Array | Int32Array | Uint8Array;
export type MetaValue = number | string | boolean | number[] | string[];

export interface SavedModel {
  /** Registry name of the model. */
  model: string;
  params: object;
  meta: Record<string, MetaValue>;
  arrays: Record<string, SavedArray>;
  /** Larger JSON values (raw ids, the item catalog), stored in weights.bin under its checksum. */
  sections?: Record<string, unknown>;
  /** Small, human-readable facts about the model (semrec version, training-data fingerprint), in model.json. */
  provenance?: object;
}

type Dtype = 'float32' | 'int32' | 'uint8' | 'json';

interface ArrayEntry {
  name: string;
  dtype: Dtype;
  /** Elements (bytes for 'uint8' and 'json'). */
  length: number;
  offset: number;
}

const WIDTH: Record<Dtype, number> = { float32: 4, int32: 4, uint8: 1, json: 1 };

interface Manifest {
  format: string;
  version: number;
  model: string;
  params: object;
  meta: Record<string, MetaValue>;
  provenance?: object;
  weights: { file: string; bytes: number; sha256: string };
  arrays: ArrayEntry[];
}

function dtypeOf(array: SavedArray): Dtype {
  return array instanceof Float32Array ? 'float32' : array instanceof Int32Array ? 'int32' : 'uint8';
}

/** The binary blocks of weights.bin: the typed arrays, then each JSON section as UTF-8 bytes. */
function blocks(saved: SavedModel): { name: string; dtype: Dtype; bytes: Uint8Array; length: number }[] {
  const out = Object.entries(saved.arrays).map(([name, a]) => ({
    name,
    dtype: dtypeOf(a),
    bytes: new Uint8Array(a.buffer, a.byteOffset, a.byteLength),
    length: a.length,
  }));
  for (const [name, value] of Object.entries(saved.sections ?? {})) {
    if (name in saved.arrays) throw new SemrecError(`save: '${name}' is both an array and a section`, 'ERR_INTERNAL');
    const bytes = new TextEncoder().encode(JSON.stringify(value));
    out.push({ name, dtype: 'json', bytes, length: bytes.length });
  }
  return out;
}

function layout(list: ReturnType<typeof blocks>): { entries: ArrayEntry[]; bytes: number } {
  const entries: ArrayEntry[] = [];
  let offset = 0;
  for (const block of list) {
    entries.push({ name: block.name, dtype: block.dtype, length: block.length, offset });
    offset += Math.ceil(block.bytes.length / ALIGN) * ALIGN;
  }
  return { entries, bytes: offset };
}

async function writeFileSynced(file: string, data: Uint8Array | string): Promise<void> {
  const handle = await fs.open(file, 'w');
  try {
    await handle.writeFile(data);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

async function exists(p: string): Promise<boolean> {
  return fs
    .stat(p)
    .then(() => true)
    .catch(() => false);
}

/** Writes `saved` to `dir`, replacing a model saved there before; never leaves a partial model behind. */
export async function writeModel(dir: string, saved: SavedModel): Promise<void> {
  const target = path.resolve(dir);
  if (await exists(target)) {
    const stat = await fs.stat(target);
    const entries = stat.isDirectory() ? await fs.readdir(target) : [];
    if (!stat.isDirectory() || (entries.length > 0 && !entries.includes(MANIFEST))) {
      throw new SemrecError(
        `save: ${target} exists and is not a saved semrec model; refusing to replace it (choose an empty or new directory)`,
        'ERR_INVALID_ARG_VALUE',
      );
    }
  }
  const list = blocks(saved);
  const { entries, bytes } = layout(list);
  const weights = new Uint8Array(bytes);
  list.forEach((block, b) => weights.set(block.bytes, entries[b].offset));
  const manifest: Manifest = {
    format: MODEL_FORMAT,
    version: MODEL_FORMAT_VERSION,
    model: saved.model,
    params: saved.params,
    meta: saved.meta,
    ...(saved.provenance ? { provenance: saved.provenance } : {}),
    weights: { file: WEIGHTS, bytes, sha256: createHash('sha256').update(weights).digest('hex') },
    arrays: entries,
  };
  await fs.mkdir(path.dirname(target), { recursive: true });
  const suffix = `${process.pid}-${randomBytes(4).toString('hex')}`;
  const stage = `${target}.tmp-${suffix}`;
  const old = `${target}.old-${suffix}`;
  await fs.mkdir(stage);
  try {
    await writeFileSynced(path.join(stage, WEIGHTS), weights);
    await writeFileSynced(path.join(stage, MANIFEST), `${JSON.stringify(manifest, null, 2)}\n`);
    if (await exists(target)) {
      await fs.rename(target, old);
      await fs.rename(stage, target);
      await fs.rm(old, { recursive: true, force: true });
    } else {
      await fs.rename(stage, target);
    }
  } catch (error) {
    await fs.rm(stage, { recursive: true, force: true });
    if ((await exists(old)) && !(await exists(target))) await fs.rename(old, target);
    throw error;
  }
}

function corrupt(dir: string, what: string): SemrecError {
  return new SemrecError(`load: the model saved in ${dir} is damaged: ${what}`, 'ERR_MODEL_CORRUPT');
}

/** Reads a model written by writeModel, checking format, version, sizes and checksum. */
export async function readModel(dir: string): Promise<SavedModel> {
  const target = path.resolve(dir);
  const manifestPath = path.join(target, MANIFEST);
  let text: string;
  try {
    text = await fs.readFile(manifestPath, 'utf8');
  } catch (cause) {
    throw new SemrecError(`load: no saved model in ${target} (${MANIFEST} is missing)`, 'ERR_MODEL_NOT_FOUND', { cause });
  }
  let manifest: Manifest;
  try {
    manifest = JSON.parse(text) as Manifest;
  } catch (cause) {
    throw corrupt(target, `${MANIFEST} is not valid JSON (${(cause as Error).message})`);
  }
  if (manifest === null || typeof manifest !== 'object' || manifest.format !== MODEL_FORMAT) {
    throw corrupt(target, `${MANIFEST} is not a semrec model manifest`);
  }
  if (manifest.version !== MODEL_FORMAT_VERSION) {
    const older = typeof manifest.version === 'number' && manifest.version < MODEL_FORMAT_VERSION;
    throw new SemrecError(
      `load: the model in ${target} was saved in format version ${String(manifest.version)}; ` +
        `this semrec reads version ${MODEL_FORMAT_VERSION}` +
        (older
          ? ' (older models hold no raw ids, item catalog or data fingerprint). Re-save it by training again with this semrec: ' +
            `\`semrec train --format <f> --path <dataset> --model ${String(manifest.model)} --out ${dir}\`, or model.fit(...) then model.save(dir)`
          : ' (it was written by a newer semrec: upgrade semrec to read it)'),
      'ERR_MODEL_VERSION',
    );
  }
  if (typeof manifest.model !== 'string' || !Array.isArray(manifest.arrays) || typeof manifest.weights !== 'object') {
    throw corrupt(target, `${MANIFEST} lacks model, arrays or weights`);
  }
  let weights: Buffer;
  try {
    weights = await fs.readFile(path.join(target, manifest.weights.file));
  } catch (cause) {
    throw corrupt(target, `${manifest.weights.file} cannot be read (${(cause as Error).message})`);
  }
  if (weights.length !== manifest.weights.bytes) {
    throw corrupt(target, `${manifest.weights.file} has ${weights.length} bytes, the manifest says ${manifest.weights.bytes}`);
  }
  if (createHash('sha256').update(weights).digest('hex') !== manifest.weights.sha256) {
    throw corrupt(target, `the SHA-256 of ${manifest.weights.file} does not match the manifest`);
  }
  const arrays: Record<string, SavedArray> = {};
  const sections: Record<string, unknown> = {};
  for (const entry of manifest.arrays) {
    const width = Object.prototype.hasOwnProperty.call(WIDTH, entry.dtype) ? WIDTH[entry.dtype] : undefined;
    if (width === undefined) throw corrupt(target, `array ${entry.name} has dtype ${String(entry.dtype)}`);
    if (!(entry.offset >= 0 && entry.length >= 0 && entry.offset + entry.length * width <= weights.length)) {
      throw corrupt(target, `array ${entry.name} lies outside ${manifest.weights.file}`);
    }
    const bytes = weights.subarray(entry.offset, entry.offset + entry.length * width);
    if (entry.dtype === 'json') {
      try {
        sections[entry.name] = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
      } catch (cause) {
        throw corrupt(target, `section ${entry.name} is not valid JSON (${(cause as Error).message})`);
      }
      continue;
    }
    const copy = new Uint8Array(bytes); // aligned, owned copy
    arrays[entry.name] =
      entry.dtype === 'float32' ? new Float32Array(copy.buffer) : entry.dtype === 'int32' ? new Int32Array(copy.buffer) : copy;
  }
  return {
    model: manifest.model,
    params: manifest.params,
    meta: manifest.meta ?? {},
    arrays,
    sections,
    ...(manifest.provenance ? { provenance: manifest.provenance } : {}),
  };
}

/**
 * Identity of a saved model: the SHA-256 of its manifest. The manifest records the SHA-256 of the
 * weights and readModel verifies them against it, so this digest covers the whole model without
 * hashing the weights a second time (what a batch records at submission and each worker checks).
 */
export async function savedModelDigest(dir: string): Promise<string> {
  const target = path.resolve(dir);
  let bytes: Buffer;
  try {
    bytes = await fs.readFile(path.join(target, MANIFEST));
  } catch (cause) {
    throw new SemrecError(`no saved model in ${target} (${MANIFEST} is missing)`, 'ERR_MODEL_NOT_FOUND', { cause });
  }
  return createHash('sha256').update(bytes).digest('hex');
}
