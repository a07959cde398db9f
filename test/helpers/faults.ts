/**
 * Fault injection for the write path: a small tmpfs that really fills up (needs root, which CI has), and
 * in-process faults injected into fs.write (any user): a short write followed by ENOSPC, as Linux
 * reports a full disk, and a write that reports bytes it did not keep.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface Tmpfs {
  dir: string;
  /** Writes a filler file leaving about `leaveBytes` free. */
  fill(leaveBytes: number): void;
  /** Removes the filler. */
  drain(): void;
  remount(mode: 'ro' | 'rw'): void;
}

const isRoot = () => typeof process.getuid === 'function' && process.getuid() === 0;

/**
 * Mounts a fresh tmpfs of `sizeBytes` for each test of the calling suite (unmounted after it). Tests
 * that call it are pending, saying why, where mounting is impossible (not root, no mount(8)).
 */
export function useTmpfs(sizeBytes: number): (context: Mocha.Context) => Tmpfs {
  const mounted: string[] = [];
  after(() => {
    for (const dir of mounted) {
      spawnSync('umount', [dir]);
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
  return (context) => {
    if (!isRoot()) {
      context.test!.title += ' (pending: needs root to mount a tmpfs; CI runs as root, and the injected-fault tests cover the same path)';
      context.skip();
    }
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'semrec-tmpfs-'));
    const mount = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeBytes}`, 'tmpfs', dir], { encoding: 'utf8' });
    if (mount.status !== 0) {
      fs.rmSync(dir, { recursive: true, force: true });
      context.test!.title += ` (pending: mounting a tmpfs failed: ${(mount.stderr || mount.error?.message || '').trim()})`;
      context.skip();
    }
    mounted.push(dir);
    const filler = path.join(dir, 'filler');
    return {
      dir,
      fill(leaveBytes) {
        const stat = fs.statfsSync(dir);
        const free = stat.bavail * stat.bsize;
        fs.writeFileSync(filler, Buffer.alloc(Math.max(0, free - leaveBytes)));
      },
      drain() {
        fs.rmSync(filler, { force: true });
      },
      remount(mode) {
        const r = spawnSync('mount', ['-o', `remount,${mode}`, dir], { encoding: 'utf8' });
        if (r.status !== 0) throw new Error(`remount ${mode} failed: ${r.stderr}`);
      },
    };
  };
}

type WriteFn = typeof fs.write;

/**
 * Replaces fs.write (which every writer of semrec uses, through ts/util/fs.ts) with `fault` until the
 * returned function is called. `fault` gets the original and the call's arguments.
 */
export function injectWriteFault(
  fault: (original: WriteFn, fd: number, buffer: Uint8Array, offset: number, length: number, position: number | null, callback: (error: NodeJS.ErrnoException | null, written: number) => void) => void,
): () => void {
  const original = fs.write;
  (fs as { write: unknown }).write = (fd: number, buffer: Uint8Array, ...rest: unknown[]) => {
    const callback = rest.pop() as (error: NodeJS.ErrnoException | null, written: number) => void;
    const [offset = 0, length = buffer.length - (offset as number), position = null] = rest as [number?, number?, (number | null)?];
    fault(original, fd, buffer, offset, length, position, callback);
  };
  return () => {
    (fs as { write: unknown }).write = original;
  };
}

/** A full disk as Linux reports it: the first write keeps part of its bytes, every later one fails with ENOSPC. */
export function shortWriteThenEnospc(): () => void {
  let calls = 0;
  return injectWriteFault((original, fd, buffer, offset, length, position, callback) => {
    if (calls++ === 0) {
      original(fd, buffer, offset, Math.max(1, length >> 1), position, callback);
      return;
    }
    const error = Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC', errno: -28, syscall: 'write' });
    process.nextTick(callback, error, 0);
  });
}

/** A device that loses data: each write keeps only part of its bytes but reports them all written. */
export function lyingWrites(): () => void {
  return injectWriteFault((original, fd, buffer, offset, length, position, callback) => {
    original(fd, buffer, offset, Math.max(1, length >> 1), position, (error) => callback(error, length));
  });
}

/** The file-system calls semrec's writers make (callback forms through ts/util/fs.ts, promise forms). */
const CALLBACK_OPS = ['open', 'write', 'read', 'fsync', 'close'] as const;
const PROMISE_OPS = ['stat', 'mkdir', 'readdir', 'rename', 'rm', 'readFile', 'open', 'writeFile', 'unlink'] as const;

export interface OpTrap {
  /** File-system calls made since the trap was set. */
  readonly count: number;
  /** Resolves when the trap froze the process's file-system activity (never, if fewer calls were made). */
  readonly frozen: Promise<void>;
  /** Puts the real functions back. Calls already frozen stay frozen. */
  restore(): void;
}

/**
 * Counts file-system calls and, with `freezeAfter` = n, lets the n-th complete and then never answers
 * it nor runs any later one: on disk, exactly what kill -9 right after that call leaves (no cleanup,
 * no later step), while this process can look at the result at once.
 */
export function trapFileOps(freezeAfter = Infinity): OpTrap {
  let count = 0;
  let froze = false;
  let onFrozen!: () => void;
  const frozen = new Promise<void>((resolve) => (onFrozen = resolve));
  const restores: (() => void)[] = [];
  const never = new Promise<never>(() => undefined);
  const wrap = (owner: Record<string, unknown>, name: string, promise: boolean) => {
    const original = owner[name] as (...args: unknown[]) => unknown;
    restores.push(() => (owner[name] = original));
    owner[name] = (...args: unknown[]) => {
      if (froze) return promise ? never : undefined;
      const n = ++count;
      const freezeHere = n === freezeAfter;
      if (promise) {
        const result = original.apply(owner, args) as Promise<unknown>;
        return freezeHere ? result.then(() => ((froze = true), onFrozen(), never), () => ((froze = true), onFrozen(), never)) : result;
      }
      const callback = args.pop() as (...r: unknown[]) => void;
      return original.apply(owner, [
        ...args,
        (...r: unknown[]) => {
          if (freezeHere) {
            froze = true;
            onFrozen();
            return;
          }
          callback(...r);
        },
      ]);
    };
  };
  for (const name of CALLBACK_OPS) wrap(fs as unknown as Record<string, unknown>, name, false);
  for (const name of PROMISE_OPS) wrap(fs.promises as unknown as Record<string, unknown>, name, true);
  return {
    get count() {
      return count;
    },
    frozen,
    restore() {
      for (const r of restores) r();
    },
  };
}
