/**
 * The on-disk format of a saved model: a directory holding
 *   model.json             { format, version, model, params, meta, provenance, arrays, files, manifestSha256 }
 *   weights.<tag>.bin      the typed arrays, then the JSON sections (raw ids, item catalog) as UTF-8 text,
 *                          back to back (8-byte aligned), laid out by `arrays` (a section has dtype 'json')
 *   <name>.<tag><ext>      any further file a model saves (SavedModel.files), by logical name
 * `files` lists every data file with its size and SHA-256, and `manifestSha256` (the last field) is the
 * SHA-256 of every byte of model.json before it: every byte that decides results is verified at load,
 * whatever a model adds later. <tag> (ts/util/fs.ts ownerTag) names the host and process of the save.
 *
 * Commit protocol: a save writes its data files under fresh tagged names beside the current ones (each
 * fsynced and read back), then model.json to a temporary, and renames that over model.json: that one
 * rename is the commit point. Before it the old model.json and the old files it names are untouched;
 * after it the new ones are complete on disk. So at every instant (kill -9, power loss) the directory
 * holds the old model or the new one. After the commit, files no model.json names any more are removed
 * when their writer is this thread (its save done) or a process of this host that no longer exists: never
 * those of a save still running elsewhere, so concurrent saves to one directory are safe (the last
 * commit wins) and a killed save's leftovers go at the next save.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';

import { isSemrecError, SemrecError } from '../errors';
import {
  makeDir,
  OWNER_TAG_PATTERN,
  ownerTag,
  syncDir,
  tagOwner,
  type WrittenFile,
  writeError,
  writeNewFileVerified,
} from '../util/fs';

export const MODEL_FORMAT = 'semrec-model';
/**
 * Bumped whenever the layout of model.json or its files changes; other versions are refused.
 * 2: raw ids, item catalog, training-data fingerprint and provenance (semrec version) in every model.
 * 3: every data file listed with its SHA-256 under `files`, tagged file names (one rename commits a
 *    save), and model.json's own SHA-256 as its last field.
 */
export const MODEL_FORMAT_VERSION = 3;
const MANIFEST = 'model.json';
/** Logical name of the arrays' file. */
const WEIGHTS = 'weights.bin';
const ALIGN = 8;
/**
 * Reads retried while concurrent saves keep replacing the model between the read of model.json and of
 * its files (each retry means another save committed: progress); beyond this, ERR_MODEL_BUSY.
 */
const READ_ATTEMPTS = 50;

export type SavedArray = Float32Array | Int32Array | Uint8Array;
export type MetaValue = number | string | boolean | number[] | string[];

export interface SavedModel {
  /** Registry name of the model. */
  model: string;
  params: object;
  meta: Record<string, MetaValue>;
  arrays: Record<string, SavedArray>;
  /**
   * Further files saved with the model, by logical name (`ids.json`, `titles.txt`: letters, digits, `_`,
   * `-` and one extension), written, checksummed and verified like the weights.
   */
  files?: Record<string, Uint8Array>;
  /** Larger JSON values (raw ids, the item catalog), stored in the weights file under its checksum. */
  sections?: Record<string, unknown>;
  /** Small, human-readable facts about the model (semrec version, training-data fingerprint), in model.json. */
  provenance?: object;
}

type Dtype = 'float32' | 'int32' | 'uint8' | 'json';
/** Bytes per element of each dtype. */
const WIDTH: Record<Dtype, number> = { float32: 4, int32: 4, uint8: 1, json: 1 };

interface ArrayEntry {
  name: string;
  dtype: Dtype;
  /** Elements (bytes for 'uint8' and 'json'). */
  length: number;
  offset: number;
}

interface FileEntry {
  /** The stored file's name inside the model directory. */
  path: string;
  bytes: number;
  sha256: string;
}

interface Manifest {
  format: string;
  version: number;
  model: string;
  params: object;
  meta: Record<string, MetaValue>;
  provenance?: object;
  /** Layout of `files['weights.bin']`. */
  arrays: ArrayEntry[];
  files: Record<string, FileEntry>;
}

const LOGICAL_NAME = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9]+)?$/;
/** A data file of some save: `<stem>.<tag><ext>`. */
const DATA_FILE = new RegExp(`^([A-Za-z0-9_-]+)\\.(${OWNER_TAG_PATTERN})(\\.[A-Za-z0-9]+)?$`);
const MANIFEST_TEMPORARY = new RegExp(`^model\\.json\\.tmp-(${OWNER_TAG_PATTERN})$`);
/** The weights file of format version 1 (removed by the first save of this version). */
const LEGACY_WEIGHTS = 'weights.bin';

/** Tags of the saves running in this thread: their files are never collected. */
const inFlight = new Set<string>();

function storedName(logical: string, tag: string): string {
  const dot = logical.lastIndexOf('.');
  return dot < 0 ? `${logical}.${tag}` : `${logical.slice(0, dot)}.${tag}${logical.slice(dot)}`;
}

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

function dtypeOf(array: SavedArray): Dtype {
  return array instanceof Float32Array ? 'float32' : array instanceof Int32Array ? 'int32' : 'uint8';
}

/** The weights file's blocks: the typed arrays, then each JSON section as UTF-8 bytes, each 8-byte aligned. */
function layout(saved: SavedModel): { entries: ArrayEntry[]; chunks: Uint8Array[] } {
  const list = Object.entries(saved.arrays).map(([name, a]) => ({
    name,
    dtype: dtypeOf(a),
    bytes: new Uint8Array(a.buffer, a.byteOffset, a.byteLength),
    length: a.length,
  }));
  for (const [name, value] of Object.entries(saved.sections ?? {})) {
    if (name in saved.arrays) throw new SemrecError(`save: '${name}' is both an array and a section`, 'ERR_INTERNAL');
    const bytes = new TextEncoder().encode(JSON.stringify(value));
    list.push({ name, dtype: 'json', bytes, length: bytes.length });
  }
  const entries: ArrayEntry[] = [];
  const chunks: Uint8Array[] = [];
  let offset = 0;
  for (const block of list) {
    entries.push({ name: block.name, dtype: block.dtype, length: block.length, offset });
    chunks.push(block.bytes);
    const padded = Math.ceil(block.bytes.length / ALIGN) * ALIGN;
    if (padded > block.bytes.length) chunks.push(new Uint8Array(padded - block.bytes.length));
    offset += padded;
  }
  return { entries, chunks };
}

// model.json ends with `,\n  "manifestSha256": "<64 hex>"\n}\n`: the SHA-256 of every byte before it.
const TRAILER_HEAD = Buffer.from(',\n  "manifestSha256": "', 'latin1');
const TRAILER_TAIL = Buffer.from('"\n}\n', 'latin1');
const TRAILER_BYTES = TRAILER_HEAD.length + 64 + TRAILER_TAIL.length;

function manifestBytes(manifest: Manifest): Buffer {
  const text = JSON.stringify(manifest, null, 2); // ends with '\n}'
  const head = Buffer.from(text.slice(0, -2), 'utf8');
  return Buffer.concat([head, TRAILER_HEAD, Buffer.from(sha256(head), 'latin1'), TRAILER_TAIL]);
}

/** True when the bytes end with a trailer whose SHA-256 matches everything before it. */
function manifestIntact(bytes: Buffer): boolean {
  if (bytes.length < TRAILER_BYTES) return false;
  const at = bytes.length - TRAILER_BYTES;
  if (!bytes.subarray(at, at + TRAILER_HEAD.length).equals(TRAILER_HEAD)) return false;
  if (!bytes.subarray(bytes.length - TRAILER_TAIL.length).equals(TRAILER_TAIL)) return false;
  const recorded = bytes.subarray(at + TRAILER_HEAD.length, at + TRAILER_HEAD.length + 64).toString('latin1');
  return recorded === sha256(bytes.subarray(0, at));
}

// ---- writing ----

/**
 * Refuses to save over something that is not a saved model (a file, or a folder of other things).
 * Returns whether the directory exists already.
 */
async function checkTarget(target: string): Promise<boolean> {
  let stat;
  try {
    stat = await fs.stat(target);
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw writeError(target, cause, 'cannot save the model to');
  }
  const refuse = () =>
    new SemrecError(
      `save: ${target} exists and is not a saved semrec model; refusing to replace it (choose an empty or new directory)`,
      'ERR_INVALID_ARG_VALUE',
    );
  if (!stat.isDirectory()) throw refuse();
  const entries = await fs.readdir(target).catch((cause: unknown) => {
    throw writeError(target, cause, 'cannot save the model to');
  });
  const ours = (name: string) => name === MANIFEST || name === LEGACY_WEIGHTS || DATA_FILE.test(name) || MANIFEST_TEMPORARY.test(name);
  if (!entries.includes(MANIFEST) && !entries.every(ours)) throw refuse();
  return true;
}

/** Removes every file this save (tag) wrote: after a failure, the previous model is left as it was. */
async function removeSave(target: string, tag: string): Promise<void> {
  const names = await fs.readdir(target).catch(() => [] as string[]);
  for (const name of names) {
    const owner = DATA_FILE.exec(name)?.[2] ?? MANIFEST_TEMPORARY.exec(name)?.[1];
    if (owner === tag) await fs.rm(path.join(target, name), { force: true }).catch(() => undefined);
  }
}

/**
 * Removes files that the current model.json does not name and that no running save can still commit:
 * written by a save of this thread that is over, or by a process of this host that is gone. The writers
 * are judged first and model.json read after: a writer found finished cannot commit any more, so a
 * file of theirs that this model.json does not name never will be. Best effort: a failure here never
 * fails the save that already committed.
 */
async function collectGarbage(target: string): Promise<void> {
  const names = await fs.readdir(target).catch(() => [] as string[]);
  const finished = names.filter((name) => {
    if (name === LEGACY_WEIGHTS) return true;
    const tag = DATA_FILE.exec(name)?.[2] ?? MANIFEST_TEMPORARY.exec(name)?.[1];
    if (tag === undefined || inFlight.has(tag)) return false;
    return tagOwner(tag) !== 'live';
  });
  if (finished.length === 0) return;
  let named: Set<string>;
  try {
    const bytes = await fs.readFile(path.join(target, MANIFEST));
    if (!manifestIntact(bytes)) return;
    const manifest = JSON.parse(bytes.toString('utf8')) as Manifest;
    named = new Set(Object.values(manifest.files).map((f) => f.path));
  } catch {
    return;
  }
  for (const name of finished) {
    if (!named.has(name)) await fs.rm(path.join(target, name), { force: true }).catch(() => undefined);
  }
}

/**
 * Writes `saved` to `dir`, replacing a model saved there before. At every instant the directory holds
 * the previous model or the new one; failures are ERR_WRITE naming the path and the OS reason.
 */
export async function writeModel(dir: string, saved: SavedModel): Promise<void> {
  const target = path.resolve(dir);
  for (const name of Object.keys(saved.files ?? {})) {
    if (!LOGICAL_NAME.test(name) || name === MANIFEST || name === WEIGHTS) {
      throw new SemrecError(`save: '${name}' cannot name a saved file (letters, digits, _ and - with one extension; not ${MANIFEST} or ${WEIGHTS})`, 'ERR_INVALID_ARG_VALUE');
    }
  }
  for (const [name, value] of Object.entries(saved.meta)) {
    // JSON would turn NaN into null and the load would then refuse the model: a bug in the model, caught here.
    if (!isMetaValue(value) || (Array.isArray(value) ? value : [value]).some((v) => typeof v === 'number' && !Number.isFinite(v))) {
      throw new SemrecError(`save: meta '${name}' must be a finite number, a string, a boolean or a list of them`, 'ERR_INVALID_ARG_VALUE');
    }
  }
  const existed = await checkTarget(target);
  let committed = false;
  const tag = ownerTag();
  inFlight.add(tag);
  try {
    await makeDir(target);
    const store = async (logical: string, data: Uint8Array[]): Promise<FileEntry> => {
      const name = storedName(logical, tag);
      const written: WrittenFile = await writeNewFileVerified(path.join(target, name), data);
      return { path: name, bytes: written.bytes, sha256: written.sha256 };
    };
    const { entries, chunks } = layout(saved);
    const files: Record<string, FileEntry> = { [WEIGHTS]: await store(WEIGHTS, chunks) };
    for (const [name, data] of Object.entries(saved.files ?? {})) files[name] = await store(name, [data]);
    const manifest: Manifest = {
      format: MODEL_FORMAT,
      version: MODEL_FORMAT_VERSION,
      model: saved.model,
      params: saved.params,
      meta: saved.meta,
      ...(saved.provenance ? { provenance: saved.provenance } : {}),
      arrays: entries,
      files,
    };
    // The data files' directory entries are durable before the manifest that names them can be.
    await syncDir(target);
    const temporary = path.join(target, `${MANIFEST}.tmp-${tag}`);
    await writeNewFileVerified(temporary, manifestBytes(manifest));
    try {
      await fs.rename(temporary, path.join(target, MANIFEST)); // the commit point
    } catch (cause) {
      throw writeError(path.join(target, MANIFEST), cause);
    }
    committed = true;
    await syncDir(target);
  } catch (error) {
    // Before the commit, this save's files go and the previous model stays; after it they are the model.
    if (!committed) {
      await removeSave(target, tag);
      if (!existed) await fs.rmdir(target).catch(() => undefined); // only if still empty
    }
    if (isSemrecError(error, 'ERR_WRITE')) {
      throw new SemrecError(`save: cannot save the model to ${target}: ${error.message}`, 'ERR_WRITE', { cause: error });
    }
    throw writeError(target, error, 'save: cannot save the model to');
  } finally {
    inFlight.delete(tag);
  }
  await collectGarbage(target);
}

// ---- reading ----

function corrupt(dir: string, what: string): SemrecError {
  return new SemrecError(`load: the model saved in ${dir} is damaged: ${what}`, 'ERR_MODEL_CORRUPT');
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

function isMetaValue(v: unknown): v is MetaValue {
  if (typeof v === 'number' || typeof v === 'string' || typeof v === 'boolean') return true;
  return Array.isArray(v) && (v.every((x) => typeof x === 'number') || v.every((x) => typeof x === 'string'));
}

/** Checks every field of a manifest whose checksum matched (so a mismatch here is a writer's bug or a hand edit). */
function checkManifest(dir: string, m: Record<string, unknown>): Manifest {
  if (typeof m.model !== 'string') throw corrupt(dir, `${MANIFEST}: "model" must be a string`);
  if (!isObject(m.params)) throw corrupt(dir, `${MANIFEST}: "params" must be an object`);
  if (!isObject(m.meta) || !Object.values(m.meta).every(isMetaValue)) throw corrupt(dir, `${MANIFEST}: "meta" must be an object of numbers, strings, booleans or lists`);
  if (m.provenance !== undefined && !isObject(m.provenance)) throw corrupt(dir, `${MANIFEST}: "provenance" must be an object`);
  if (!isObject(m.files)) throw corrupt(dir, `${MANIFEST}: "files" must be an object`);
  for (const [name, f] of Object.entries(m.files)) {
    if (!isObject(f) || typeof f.path !== 'string' || !DATA_FILE.test(f.path) || !isCount(f.bytes) || typeof f.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(f.sha256)) {
      throw corrupt(dir, `${MANIFEST}: files["${name}"] must be { path, bytes, sha256 } naming a file of the model`);
    }
  }
  if (!isObject(m.files[WEIGHTS])) throw corrupt(dir, `${MANIFEST}: files["${WEIGHTS}"] is missing`);
  if (!Array.isArray(m.arrays)) throw corrupt(dir, `${MANIFEST}: "arrays" must be a list`);
  const weightBytes = (m.files[WEIGHTS] as unknown as FileEntry).bytes;
  const names = new Set<string>();
  for (const a of m.arrays as unknown[]) {
    if (!isObject(a) || typeof a.name !== 'string' || names.has(a.name)) throw corrupt(dir, `${MANIFEST}: an entry of "arrays" lacks a name or repeats one`);
    names.add(a.name);
    const width = typeof a.dtype === 'string' && Object.prototype.hasOwnProperty.call(WIDTH, a.dtype) ? WIDTH[a.dtype as Dtype] : undefined;
    if (width === undefined) throw corrupt(dir, `array ${a.name} has dtype ${String(a.dtype)}`);
    if (!isCount(a.offset) || !isCount(a.length) || a.offset % ALIGN !== 0 || a.offset + a.length * width > weightBytes) {
      throw corrupt(dir, `array ${a.name} lies outside ${WEIGHTS} (offset ${String(a.offset)}, length ${String(a.length)})`);
    }
  }
  return m as unknown as Manifest;
}

/** Reads model.json: ERR_MODEL_NOT_FOUND when absent, ERR_MODEL_VERSION for another format, ERR_MODEL_CORRUPT when damaged. */
async function readManifest(target: string): Promise<{ bytes: Buffer; manifest: Manifest }> {
  let bytes: Buffer;
  try {
    bytes = await fs.readFile(path.join(target, MANIFEST));
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' || code === 'ENOTDIR' ? `${MANIFEST} is missing` : `${MANIFEST} cannot be read: ${(cause as Error).message}`;
    throw new SemrecError(`load: no saved model in ${target} (${why})`, 'ERR_MODEL_NOT_FOUND', { cause });
  }
  const intact = manifestIntact(bytes);
  let parsed: unknown;
  try {
    parsed = JSON.parse(bytes.toString('utf8'));
  } catch (cause) {
    throw corrupt(target, `${MANIFEST} is not valid JSON (${(cause as Error).message})`);
  }
  if (!isObject(parsed) || parsed.format !== MODEL_FORMAT) {
    throw corrupt(target, `${MANIFEST} is not a semrec model manifest`);
  }
  const version = parsed.version;
  if (typeof version === 'number' && Number.isInteger(version) && version !== MODEL_FORMAT_VERSION && (intact || version < MODEL_FORMAT_VERSION)) {
    const hint = version < MODEL_FORMAT_VERSION ? 'saved by an earlier semrec' : 'saved by a newer semrec';
    throw new SemrecError(
      `load: the model in ${target} was ${hint} in format version ${version}; this semrec reads version ${MODEL_FORMAT_VERSION} ` +
        (version < MODEL_FORMAT_VERSION
          ? `(re-train and save it with this version: \`semrec train --format <f> --path <dataset> --model ${String(parsed.model)} --out ${target}\`, or model.fit(...) then model.save(dir))`
          : '(upgrade semrec to read it)'),
      'ERR_MODEL_VERSION',
    );
  }
  if (!intact) throw corrupt(target, `the SHA-256 recorded at the end of ${MANIFEST} does not match its content`);
  if (version !== MODEL_FORMAT_VERSION) throw corrupt(target, `${MANIFEST}: "version" must be the number ${MODEL_FORMAT_VERSION}, got ${JSON.stringify(version)}`);
  return { bytes, manifest: checkManifest(target, parsed) };
}

class MissingFile extends Error {}

async function readFileChecked(target: string, logical: string, entry: FileEntry): Promise<Buffer> {
  let bytes: Buffer;
  try {
    bytes = await fs.readFile(path.join(target, entry.path));
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code === 'ENOENT') throw new MissingFile(entry.path);
    throw corrupt(target, `${entry.path} cannot be read (${(cause as Error).message})`);
  }
  if (bytes.length !== entry.bytes) throw corrupt(target, `${entry.path} (${logical}) has ${bytes.length} bytes, ${MANIFEST} says ${entry.bytes}`);
  if (sha256(bytes) !== entry.sha256) throw corrupt(target, `the SHA-256 of ${entry.path} (${logical}) does not match ${MANIFEST}`);
  return bytes;
}

/** Reads a model written by writeModel, verifying every byte of model.json and of each file it names. */
export async function readModel(dir: string): Promise<SavedModel> {
  const target = path.resolve(dir);
  for (let attempt = 1; ; attempt++) {
    const { bytes: manifestRead, manifest } = await readManifest(target);
    const contents: Record<string, Buffer> = {};
    try {
      for (const [name, entry] of Object.entries(manifest.files)) contents[name] = await readFileChecked(target, name, entry);
    } catch (error) {
      if (!(error instanceof MissingFile)) throw error;
      // A concurrent save may have committed and collected these files after model.json was read.
      const now = await fs.readFile(path.join(target, MANIFEST)).catch(() => undefined);
      if (now === undefined || now.equals(manifestRead)) throw corrupt(target, `${error.message}, named in ${MANIFEST}, is missing`);
      if (attempt >= READ_ATTEMPTS) {
        throw new SemrecError(`load: the model in ${target} was replaced by other saves ${attempt} times while it was being read; try again`, 'ERR_MODEL_BUSY');
      }
      continue;
    }
    const weights = contents[WEIGHTS];
    const arrays: Record<string, SavedArray> = {};
    const sections: Record<string, unknown> = {};
    for (const entry of manifest.arrays) {
      const bytes = weights.subarray(entry.offset, entry.offset + entry.length * WIDTH[entry.dtype]);
      if (entry.dtype === 'json') {
        try {
          sections[entry.name] = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
        } catch (cause) {
          throw corrupt(target, `section ${entry.name} is not valid JSON (${(cause as Error).message})`);
        }
        continue;
      }
      const copy = new Uint8Array(bytes); // aligned, owned
      arrays[entry.name] =
        entry.dtype === 'float32' ? new Float32Array(copy.buffer) : entry.dtype === 'int32' ? new Int32Array(copy.buffer) : copy;
    }
    const files: Record<string, Uint8Array> = {};
    for (const [name, data] of Object.entries(contents)) if (name !== WEIGHTS) files[name] = new Uint8Array(data);
    return {
      model: manifest.model,
      params: manifest.params,
      meta: manifest.meta,
      arrays,
      sections,
      ...(manifest.provenance ? { provenance: manifest.provenance } : {}),
      ...(Object.keys(files).length ? { files } : {}),
    };
  }
}
