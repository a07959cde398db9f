/**
 * Append-only JSON-lines logs that survive a crash: each record is appended and fsynced before the work
 * goes on, and a reader drops a last line cut short by a crash (truncating the file back to its last
 * whole line) while damage anywhere else is an error naming the line. The tuning trials log and the
 * chat session log are both written this way.
 */
import fs from 'node:fs/promises';

import { SemrecError } from '../errors';

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
