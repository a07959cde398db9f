/**
 * Append-only JSON-lines logs that survive a crash: each record is appended and fsynced before the work
 * goes on, and a reader drops a last line cut short by a crash (truncating the file back to its last
 * whole line) while damage anywhere else is an error naming the line. The tuning trials log and the
 * chat session log are written one record at a time (appendJsonLine); the service's feedback log keeps
 * its file open and makes records durable in groups (JsonLinesAppender).
 */
import fs from 'node:fs/promises';
import path from 'node:path';

import { SemrecError } from '../errors';
import { syncDir } from './fs';

/** Appends one record as a line and makes it durable before returning. */
export async function appendJsonLine(file: string, record: object): Promise<void> {
  const handle = await fs.open(file, 'a');
  try {
    await handle.appendFile(`${JSON.stringify(record)}\n`);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * The records of a log, or undefined when the file does not exist or holds no whole line. `what` names
 * the log in errors (e.g. "tune: the trials log"); a line that is not a JSON object is ERR_INVALID_ARG_VALUE.
 */
export async function readJsonLines(file: string, what: string): Promise<Record<string, unknown>[] | undefined> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new SemrecError(`${what} ${file} cannot be read: ${(error as Error).message}`, 'ERR_INVALID_ARG_VALUE', { cause: error });
  }
  if (!text.endsWith('\n')) {
    // The last append did not finish: keep the whole lines only.
    text = text.slice(0, text.lastIndexOf('\n') + 1);
    await fs.truncate(file, Buffer.byteLength(text));
  }
  const lines = text.split('\n').filter((l) => l.length > 0);
  if (lines.length === 0) return undefined;
  return lines.map((line, n) => {
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      throw new SemrecError(`${what} ${file} line ${n + 1} is not valid JSON (a damaged log; start a new one)`, 'ERR_INVALID_ARG_VALUE');
    }
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      throw new SemrecError(`${what} ${file} line ${n + 1} is not a JSON object`, 'ERR_INVALID_ARG_VALUE');
    }
    return value as Record<string, unknown>;
  });
}

interface PendingLine {
  bytes: Buffer;
  resolve: () => void;
  reject: (error: Error) => void;
}

/**
 * A JSON-lines file held open for many appends, made durable by group commit: the records appended while
 * one write + fdatasync runs are written and synced together by the next, so each append() resolves
 * only once its line is on disk, yet a busy log costs one sync per group rather than per record.
 * Records reach the file in the order of the append() calls. After a failed write or sync the state of
 * the file's tail is unknown (the kernel may have dropped the dirty pages), so the appender refuses
 * every later append with the same ERR_WRITE: the owner must reopen the log, and readJsonLines repairs it.
 */
export class JsonLinesAppender {
  private queue: PendingLine[] = [];
  private flushing: Promise<void> | undefined;
  private failure: SemrecError | undefined;
  private closed = false;
  /** Groups written so far and the records in them (for metrics). */
  groups = 0;
  records = 0;
  /** Seconds each group's write + fdatasync took, reported to `onSync`. */
  onSync: ((seconds: number, records: number) => void) | undefined;

  private constructor(
    readonly file: string,
    private readonly handle: fs.FileHandle,
  ) {}

  /** Opens `file` for appending (created if absent; its directory is synced so a new file survives a power loss). */
  static async open(file: string): Promise<JsonLinesAppender> {
    let handle: fs.FileHandle;
    try {
      handle = await fs.open(file, 'a');
    } catch (cause) {
      throw new SemrecError(`cannot open the log ${file} for appending: ${(cause as Error).message}`, 'ERR_WRITE', { cause });
    }
    try {
      await syncDir(path.dirname(file));
    } catch (cause) {
      await handle.close();
      throw new SemrecError(`cannot sync the log ${file}: ${(cause as Error).message}`, 'ERR_WRITE', { cause });
    }
    return new JsonLinesAppender(file, handle);
  }

  /** The error that broke the appender, if one did. */
  get error(): SemrecError | undefined {
    return this.failure;
  }

  /** Records waiting for the next group. */
  get pending(): number {
    return this.queue.length;
  }

  /** Appends `record` as one line; resolves once it is on disk. */
  append(record: object): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.closed) return Promise.reject(new SemrecError(`the log ${this.file} is closed`, 'ERR_WRITE'));
    const bytes = Buffer.from(`${JSON.stringify(record)}\n`);
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ bytes, resolve, reject });
      this.flushing ??= this.flush();
    });
  }

  private async flush(): Promise<void> {
    while (this.queue.length > 0 && !this.failure) {
      const group = this.queue;
      this.queue = [];
      const started = performance.now();
      try {
        const data = group.length === 1 ? group[0].bytes : Buffer.concat(group.map((p) => p.bytes));
        for (let offset = 0; offset < data.length; ) {
          const { bytesWritten } = await this.handle.write(data, offset);
          if (bytesWritten <= 0) throw new Error('the write made no progress');
          offset += bytesWritten;
        }
        await this.handle.datasync();
      } catch (cause) {
        this.failure = new SemrecError(`cannot append to the log ${this.file}: ${(cause as Error).message}`, 'ERR_WRITE', { cause });
        for (const p of [...group, ...this.queue]) p.reject(this.failure);
        this.queue = [];
        break;
      }
      this.groups++;
      this.records += group.length;
      this.onSync?.((performance.now() - started) / 1000, group.length);
      for (const p of group) p.resolve();
    }
    this.flushing = undefined;
  }

  /** Waits until every record appended so far is on disk (or has failed). */
  async drain(): Promise<void> {
    while (this.flushing) await this.flushing;
  }

  /** Drains, then closes the file; later appends are refused. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.drain();
    await this.handle.close();
  }
}
