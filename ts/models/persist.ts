/**
 * The on-disk format of a saved model: a directory with
 *   model.json   { format: 'semrec-model', version, model, params, meta, weights: { file, bytes, sha256 }, arrays }
 *   weights.bin  the typed arrays back to back (8-byte aligned), described by `arrays`
 * Written into a staging directory beside the target and renamed into place, so a reader sees the old
 * model or the new one, never a mix; the SHA-256 of weights.bin catches damaged or truncated files.
 */
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';

import { SemrecError } from '../errors';

export const MODEL_FORMAT = 'semrec-model';
/** Bumped whenever the layout of model.json or weights.bin changes; other versions are refused. */
export const MODEL_FORMAT_VERSION = 1;
const MANIFEST = 'model.json';
const WEIGHTS = 'weights.bin';
const ALIGN = 8;

export type SavedArray = Float32Array | Int32Array;
export type MetaValue = number | string | boolean | number[] | string[];

export interface SavedModel {
  /** Registry name of the model. */
  model: string;
  params: object;
  meta: Record<string, MetaValue>;
  arrays: Record<string, SavedArray>;
}

interface ArrayEntry {
  name: string;
  dtype: 'float32' | 'int32';
  length: number;
  offset: number;
}

interface Manifest {
  format: string;
  version: number;
  model: string;
  params: object;
  meta: Record<string, MetaValue>;
  weights: { file: string; bytes: number; sha256: string };
  arrays: ArrayEntry[];
}

function layout(arrays: Record<string, SavedArray>): { entries: ArrayEntry[]; bytes: number } {
  const entries: ArrayEntry[] = [];
  let offset = 0;
  for (const [name, array] of Object.entries(arrays)) {
    entries.push({ name, dtype: array instanceof Float32Array ? 'float32' : 'int32', length: array.length, offset });
    offset += Math.ceil(array.byteLength / ALIGN) * ALIGN;
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
  const { entries, bytes } = layout(saved.arrays);
  const weights = new Uint8Array(bytes);
  for (const entry of entries) {
    const array = saved.arrays[entry.name];
    weights.set(new Uint8Array(array.buffer, array.byteOffset, array.byteLength), entry.offset);
  }
  const manifest: Manifest = {
    format: MODEL_FORMAT,
    version: MODEL_FORMAT_VERSION,
    model: saved.model,
    params: saved.params,
    meta: saved.meta,
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
    throw new SemrecError(
      `load: the model in ${target} was saved in format version ${String(manifest.version)}; ` +
        `this semrec reads version ${MODEL_FORMAT_VERSION} (re-train and save it with this version)`,
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
  for (const entry of manifest.arrays) {
    const width = 4;
    if (entry.dtype !== 'float32' && entry.dtype !== 'int32') throw corrupt(target, `array ${entry.name} has dtype ${entry.dtype}`);
    if (!(entry.offset >= 0 && entry.length >= 0 && entry.offset + entry.length * width <= weights.length)) {
      throw corrupt(target, `array ${entry.name} lies outside ${manifest.weights.file}`);
    }
    const bytes = weights.subarray(entry.offset, entry.offset + entry.length * width);
    const copy = new Uint8Array(bytes); // aligned, owned copy
    arrays[entry.name] = entry.dtype === 'float32' ? new Float32Array(copy.buffer) : new Int32Array(copy.buffer);
  }
  return { model: manifest.model, params: manifest.params, meta: manifest.meta ?? {}, arrays };
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
