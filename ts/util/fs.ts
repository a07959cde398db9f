/**
 * The one way semrec writes a file: every byte written (short writes continued, a write that makes no
 * progress is an error), fsynced, read back and compared, and only then renamed over the target, whose
 * directory is fsynced too. Readers see the old file or the whole new one, never a part; on any failure
 * the old file stays and the error is ERR_WRITE naming the path and the OS reason.
 *
 * Temporaries are named `<file>.tmp-<owner tag>`; the tag says which host and process wrote them, so a
 * later write can remove those a killed process left behind (ts/models/persist.ts uses the same tags).
 */
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { threadId } from 'node:worker_threads';

import { SemrecError } from '../errors';

/** Chunk size of writes and read-back verification: large enough for throughput, small enough for memory. */
const IO_CHUNK_BYTES = 1 << 20;

export type FileData = string | Uint8Array | readonly Uint8Array[];

function chunksOf(data: FileData): Uint8Array[] {
  if (typeof data === 'string') return [Buffer.from(data, 'utf8')];
  if (data instanceof Uint8Array) return [data];
  return [...data];
}

// ---- errors ----

/** What an OS error code means, in words a user acts on. */
const OS_REASONS: Record<string, string> = {
  ENOSPC: 'no space left on the device',
  EDQUOT: 'disk quota exceeded',
  EROFS: 'the file system is read-only',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EISDIR: 'it is a directory',
  ENOTDIR: 'a component of the path is not a directory',
  ENOENT: 'a directory on the path does not exist',
  EEXIST: 'it already exists',
  ENAMETOOLONG: 'the name is too long',
  EIO: 'an input/output error from the device',
  EFBIG: 'the file is too large for the file system',
  EMFILE: 'too many open files',
};

/** The OS reason of a failed file operation, e.g. "no space left on the device (ENOSPC)". */
export function osReason(cause: unknown): string {
  const code = (cause as NodeJS.ErrnoException | undefined)?.code;
  if (code && OS_REASONS[code]) return `${OS_REASONS[code]} (${code})`;
  return (cause as Error | undefined)?.message ?? String(cause);
}

/** ERR_WRITE for `file`, keeping the OS error as the cause; SemrecErrors pass through. */
export function writeError(file: string, cause: unknown, what = 'cannot write'): SemrecError {
  if (cause instanceof SemrecError) return cause;
  return new SemrecError(`${what} ${file}: ${osReason(cause)}`, 'ERR_WRITE', { cause });
}

// ---- owner tags: which host, process and thread a temporary belongs to ----

const HOST = createHash('sha256').update(os.hostname()).digest('hex').slice(0, 8);

/** A fresh `<host>-<pid>-<thread>-<random>` tag for the temporaries of one write. */
export function ownerTag(): string {
  return `${HOST}-${process.pid}-${threadId}-${randomBytes(4).toString('hex')}`;
}

export const OWNER_TAG_PATTERN = '[0-9a-f]{8}-[0-9]+-[0-9]+-[0-9a-f]{8}';

/**
 * Who wrote a tagged temporary: 'own' (this thread of this process), 'gone' (a process of this host
 * that no longer exists: what it left is abandoned) or 'live' (a running process, another thread of this
 * one, another host on a shared file system, or a tag that cannot be read: never judged abandoned,
 * whatever its age).
 */
export function tagOwner(tag: string): 'own' | 'gone' | 'live' {
  const m = /^([0-9a-f]{8})-([0-9]+)-([0-9]+)-[0-9a-f]{8}$/.exec(tag);
  if (!m || m[1] !== HOST) return 'live';
  const pid = Number(m[2]);
  if (pid === process.pid) return Number(m[3]) === threadId ? 'own' : 'live';
  try {
    process.kill(pid, 0);
    return 'live';
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ESRCH' ? 'gone' : 'live';
  }
}

// ---- writes ----

function open(file: string, flags: string): Promise<number> {
  return new Promise((resolve, reject) => fs.open(file, flags, 0o666, (e, fd) => (e ? reject(e) : resolve(fd))));
}
function write(fd: number, chunk: Uint8Array, offset: number, length: number, position: number): Promise<number> {
  return new Promise((resolve, reject) => fs.write(fd, chunk, offset, length, position, (e, n) => (e ? reject(e) : resolve(n))));
}
function read(fd: number, into: Buffer, position: number): Promise<number> {
  return new Promise((resolve, reject) => fs.read(fd, into, 0, into.length, position, (e, n) => (e ? reject(e) : resolve(n))));
}
function fsync(fd: number): Promise<void> {
  return new Promise((resolve, reject) => fs.fsync(fd, (e) => (e ? reject(e) : resolve())));
}
function close(fd: number): Promise<void> {
  return new Promise((resolve, reject) => fs.close(fd, (e) => (e ? reject(e) : resolve())));
}

export interface WrittenFile {
  bytes: number;
  /** Hex SHA-256 of the content, as read back from the file. */
  sha256: string;
}

/**
 * Creates `file` (which must not exist) with `data`: all bytes written, fsynced, read back and compared.
 * Used for a file that becomes visible by a later rename (of itself, or of a manifest naming it).
 * Throws ERR_WRITE and removes the file on failure.
 */
export async function writeNewFileVerified(file: string, data: FileData, label = file): Promise<WrittenFile> {
  const chunks = chunksOf(data);
  const wanted = createHash('sha256');
  let bytes = 0;
  let fd: number;
  try {
    fd = await open(file, 'wx+'); // read back through the same descriptor
  } catch (cause) {
    throw writeError(label, cause);
  }
  try {
    for (const chunk of chunks) {
      wanted.update(chunk);
      for (let done = 0; done < chunk.length; ) {
        const n = await write(fd, chunk, done, Math.min(chunk.length - done, IO_CHUNK_BYTES), bytes);
        // write(2) may write less than asked (a full disk often does, once, before ENOSPC): go on from
        // there; a write that makes no progress at all would loop forever.
        if (!(n > 0)) throw new SemrecError(`cannot write ${label}: the device accepted no bytes at offset ${bytes}`, 'ERR_WRITE');
        done += n;
        bytes += n;
      }
    }
    await fsync(fd);
    // Read back what the file holds now and compare: catches a device or file system that reported
    // writes it did not keep, and anything else that truncated or changed the file meanwhile.
    const got = createHash('sha256');
    const buffer = Buffer.allocUnsafe(Math.min(IO_CHUNK_BYTES, Math.max(bytes, 1)));
    let position = 0;
    for (;;) {
      const n = await read(fd, buffer, position);
      if (n === 0) break;
      got.update(buffer.subarray(0, n));
      position += n;
    }
    const want = wanted.digest('hex');
    const have = got.digest('hex');
    if (position !== bytes || have !== want) {
      throw new SemrecError(
        `cannot write ${label}: reading it back gave ${position} bytes ${position === bytes ? 'with other content' : `instead of ${bytes}`}; the device did not keep what was written`,
        'ERR_WRITE',
      );
    }
    await close(fd);
    fd = -1;
    return { bytes, sha256: have };
  } catch (cause) {
    if (fd >= 0) await close(fd).catch(() => undefined);
    await fs.promises.rm(file, { force: true }).catch(() => undefined);
    throw writeError(label, cause);
  }
}

/** fsyncs a directory, so the renames and creations in it survive a power loss. */
export async function syncDir(dir: string): Promise<void> {
  let fd: number;
  try {
    fd = await open(dir, 'r');
  } catch (cause) {
    throw writeError(dir, cause, 'cannot open the directory');
  }
  try {
    await fsync(fd);
  } catch (cause) {
    // Some file systems cannot fsync a directory (EINVAL, EISDIR); the data files themselves were synced.
    const code = (cause as NodeJS.ErrnoException).code;
    if (code !== 'EINVAL' && code !== 'EISDIR' && code !== 'EBADF') throw writeError(dir, cause, 'cannot sync the directory');
  } finally {
    await close(fd).catch(() => undefined);
  }
}

/**
 * fsyncs a finished file that was written by streaming (downloads) and renames it into place, then
 * fsyncs the directory: after a power loss the target is whole or absent, never a prefix.
 */
export async function commitStreamedFile(file: string, target: string): Promise<void> {
  let fd: number;
  try {
    fd = await open(file, 'r');
  } catch (cause) {
    throw writeError(target, cause);
  }
  try {
    await fsync(fd);
  } catch (cause) {
    throw writeError(target, cause);
  } finally {
    await close(fd).catch(() => undefined);
  }
  try {
    await fs.promises.rename(file, target);
  } catch (cause) {
    throw writeError(target, cause);
  }
  await syncDir(path.dirname(target));
}

/** Creates `dir` and its parents; ERR_WRITE (naming the path and the reason) when that fails. */
export async function makeDir(dir: string): Promise<void> {
  try {
    await fs.promises.mkdir(dir, { recursive: true });
  } catch (cause) {
    throw writeError(dir, await preciseMkdirError(path.resolve(dir), cause), 'cannot create the directory');
  }
}

/**
 * Node's recursive mkdir reports ENOENT where the first missing directory cannot be made (a read-only
 * file system gives EROFS there): find that directory and make it alone, for the real reason.
 */
async function preciseMkdirError(dir: string, cause: unknown): Promise<unknown> {
  if ((cause as NodeJS.ErrnoException).code !== 'ENOENT') return cause;
  let missing = dir;
  while (path.dirname(missing) !== missing && !(await fs.promises.stat(path.dirname(missing)).catch(() => undefined))) missing = path.dirname(missing);
  return fs.promises.mkdir(missing).then(
    async () => (await fs.promises.rmdir(missing).catch(() => undefined), cause),
    (error: unknown) => error,
  );
}

function temporaryPattern(file: string): RegExp {
  const escaped = path.basename(file).replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp(`^${escaped}\\.tmp-(${OWNER_TAG_PATTERN})$`);
}

/** Removes temporaries of `file` whose writer is gone (killed mid-write). */
async function removeAbandonedTemporaries(file: string): Promise<void> {
  const pattern = temporaryPattern(file);
  const dir = path.dirname(file);
  const names = await fs.promises.readdir(dir).catch(() => [] as string[]);
  for (const name of names) {
    const m = pattern.exec(name);
    if (m && tagOwner(m[1]) === 'gone') await fs.promises.rm(path.join(dir, name), { force: true }).catch(() => undefined);
  }
}

/**
 * Writes `data` to `file` so that readers see the old file or the whole new one, never a part, and
 * the new one survives a crash or power loss once this resolves. On failure the old file is unchanged
 * and the error is ERR_WRITE naming the path and the reason (no space, read-only, a directory...).
 */
export async function writeFileAtomically(file: string, data: FileData): Promise<WrittenFile> {
  const target = path.resolve(file);
  const dir = path.dirname(target);
  const existing = await fs.promises.stat(target).catch(() => undefined);
  if (existing?.isDirectory()) throw new SemrecError(`cannot write ${target}: it is a directory`, 'ERR_WRITE');
  await makeDir(dir);
  await removeAbandonedTemporaries(target);
  const temporary = `${target}.tmp-${ownerTag()}`;
  const written = await writeNewFileVerified(temporary, data, target);
  try {
    // A replaced file keeps its permissions (a report made private stays private).
    if (existing) await fs.promises.chmod(temporary, existing.mode & 0o7777);
    await fs.promises.rename(temporary, target);
  } catch (cause) {
    await fs.promises.rm(temporary, { force: true }).catch(() => undefined);
    throw writeError(target, cause);
  }
  await syncDir(dir);
  return written;
}

/**
 * Checks, before long work, that `file` can be written later: its directory exists (or can be made)
 * and accepts new files, `file` itself is not a directory, and (given `atLeastBytes`) the file system
 * has that much free space. Throws ERR_WRITE saying why not.
 */
export async function checkWritable(file: string, atLeastBytes = 0): Promise<void> {
  const target = path.resolve(file);
  const existing = await fs.promises.stat(target).catch(() => undefined);
  if (existing?.isDirectory()) throw new SemrecError(`cannot write ${target}: it is a directory`, 'ERR_WRITE');
  await makeDir(path.dirname(target));
  const probe = `${target}.tmp-${ownerTag()}`;
  try {
    await writeNewFileVerified(probe, '', target);
  } finally {
    await fs.promises.rm(probe, { force: true }).catch(() => undefined);
  }
  if (atLeastBytes > 0) {
    // The new file is written beside the old one, which stays until the rename: it needs all of it free.
    const space = await fs.promises.statfs(path.dirname(target)).catch(() => undefined);
    const free = space ? space.bavail * space.bsize : Infinity;
    if (free < atLeastBytes) {
      const mib = (n: number) => `${(n / 2 ** 20).toFixed(1)} MiB`;
      throw new SemrecError(`cannot write ${target}: it needs at least ${mib(atLeastBytes)} and the file system has ${mib(free)} free (ENOSPC)`, 'ERR_WRITE');
    }
  }
}

// ---- generated files kept in a cache ----

/** Where the checksum of a cached artifact lives: beside it, `<file>.sha256` ({ bytes, sha256 }). */
function checksumPath(file: string): string {
  return `${file}.sha256`;
}

/**
 * Whether a generated file in a cache (a converted model...) is intact: it exists, and its size and
 * SHA-256 match the checksum file written after it. 'missing' when there is none; otherwise 'damaged'
 * with the reason (no checksum file: the writer was killed between the two, or an older semrec wrote it).
 */
export async function checkCachedArtifact(file: string): Promise<{ state: 'intact' | 'missing' } | { state: 'damaged'; reason: string }> {
  const stat = await fs.promises.stat(file).catch(() => undefined);
  if (!stat) return { state: 'missing' };
  let recorded: { bytes?: unknown; sha256?: unknown };
  try {
    recorded = JSON.parse(await fs.promises.readFile(checksumPath(file), 'utf8')) as typeof recorded;
  } catch {
    return { state: 'damaged', reason: `it has no readable checksum file (${path.basename(checksumPath(file))}): an earlier semrec wrote it, or its writer was stopped` };
  }
  if (recorded.bytes !== stat.size) return { state: 'damaged', reason: `it has ${stat.size} bytes, its checksum file says ${String(recorded.bytes)}` };
  if ((await sha256File(file)) !== recorded.sha256) return { state: 'damaged', reason: 'its SHA-256 does not match its checksum file' };
  return { state: 'intact' };
}

/** Writes a generated file into a cache (atomically), then its checksum file: checkCachedArtifact verifies both. */
export async function writeCachedArtifact(file: string, data: FileData): Promise<void> {
  const written = await writeFileAtomically(file, data);
  await writeFileAtomically(checksumPath(file), `${JSON.stringify({ bytes: written.bytes, sha256: written.sha256 })}\n`);
}

/** Hex SHA-256 of a file, streamed. */
export async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of fs.createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}
