/**
 * Streaming reads for the loaders: bytes (plain or gzip) with progress and cancellation, UTF-8 validation
 * on the raw bytes, delimited records through csv-parse, JSON lines, and the bad-row policy. Memory is
 * constant per row: nothing holds a whole file.
 *
 * Locating errors: rows are tracked by byte offset while reading (cheap); a line and column are only
 * computed when a problem is reported, by re-reading the file up to the offset.
 */
import { isUtf8 } from 'node:buffer';
import fs from 'node:fs';
import { pipeline } from 'node:stream';
import zlib from 'node:zlib';

import { Parser } from 'csv-parse';

import type { ErrorCode } from '../errors';
import { type LongRunningOptions, throwIfAborted } from '../progress';
import { DatasetError } from './errors';
import type { SkippedRow } from './store';

/** Read size: large enough that per-chunk work (progress, validation) is negligible. */
const READ_CHUNK_BYTES = 1 << 20;
/** How many skipped rows are reported with their reasons (all are counted). */
export const MAX_SKIP_REASONS = 5;

export type OnError = 'throw' | 'skip';
export type TextEncoding = 'utf-8' | 'latin1';

/** A file of a dataset: where it is, and the name messages use (relative to the dataset path). */
export interface DatasetFile {
  path: string;
  name: string;
}

/** A problem with one row, raised by a loader's row handler; the reader adds the location. */
export class RowProblem extends Error {
  constructor(
    message: string,
    readonly code: ErrorCode = 'ERR_DATASET_PARSE',
    /** 0-based field index (delimited) when the problem is one field. */
    readonly fieldIndex?: number,
    readonly field?: string,
  ) {
    super(message);
  }
}

interface PendingSkip {
  file: DatasetFile;
  offset: number;
  line?: number;
  encoding: TextEncoding;
  row: SkippedRow;
}

/** State shared by all the reads of one load: options, the skip log, per-file counts. */
export class ReadSession {
  readonly onError: OnError;
  readonly signal?: AbortSignal;
  readonly onProgress?: LongRunningOptions['onProgress'];
  readonly files: { file: string; role: string; rows: number; skipped: number }[] = [];
  skipped = 0;
  readonly skippedRows: SkippedRow[] = [];
  private pending: PendingSkip[] = [];

  constructor(options: LongRunningOptions & { onError?: OnError }) {
    this.onError = options.onError ?? 'throw';
    this.signal = options.signal;
    this.onProgress = options.onProgress;
  }

  get rowsRead(): number {
    return this.files.reduce((sum, f) => sum + f.rows, 0);
  }

  /** Counts a skipped row; keeps its reason (located later) while fewer than MAX_SKIP_REASONS are kept. */
  skip(file: DatasetFile, where: { offset: number; line?: number }, encoding: TextEncoding, problem: RowProblem | DatasetError): void {
    this.skipped++;
    if (this.skippedRows.length + this.pending.length >= MAX_SKIP_REASONS) return;
    const reason = problem instanceof DatasetError ? problem.reason : problem.message;
    const column = problem instanceof RowProblem ? (problem.fieldIndex !== undefined ? problem.fieldIndex + 1 : undefined) : problem.column;
    this.pending.push({
      file,
      offset: where.offset,
      line: where.line,
      encoding,
      row: { file: file.name, column, field: problem.field, reason, code: problem.code },
    });
  }

  /** Gives the kept skip reasons their line numbers (one re-read per file that has any). */
  async locatePending(): Promise<void> {
    const byFile = new Map<string, PendingSkip[]>();
    for (const p of this.pending) byFile.set(p.file.path, [...(byFile.get(p.file.path) ?? []), p]);
    for (const list of byFile.values()) {
      const unknown = list.filter((p) => p.line === undefined);
      if (unknown.length > 0) {
        const located = await locateOffsets(unknown[0].file, unknown.map((p) => p.offset), unknown[0].encoding, this.signal);
        unknown.forEach((p, k) => {
          p.line = located[k].line;
          if (p.row.code === 'ERR_DATASET_ENCODING') p.row.column = located[k].column;
        });
      }
      for (const p of list) this.skippedRows.push({ ...p.row, line: p.line });
    }
    this.pending = [];
  }
}

/** The raw bytes of a file (gunzipped when it is gzip), with progress by compressed bytes read. */
export async function* readBytes(file: DatasetFile, session: { signal?: AbortSignal; onProgress?: LongRunningOptions['onProgress'] }, phase?: string): AsyncGenerator<Buffer> {
  let size: number;
  let gzip: boolean;
  try {
    size = fs.statSync(file.path).size;
    gzip = isGzip(file.path);
  } catch (error) {
    throw new DatasetError(`cannot read the file (${(error as Error).message})`, 'ERR_DATASET_NOT_FOUND', { file: file.name }, { cause: error });
  }
  const raw = fs.createReadStream(file.path, { highWaterMark: READ_CHUNK_BYTES });
  const source = gzip ? pipeline(raw, zlib.createGunzip({ chunkSize: READ_CHUNK_BYTES }), () => {}) : raw;
  try {
    for await (const chunk of source) {
      throwIfAborted(session.signal, `reading ${file.name}`);
      if (phase !== undefined) session.onProgress?.({ phase, done: raw.bytesRead, total: size, unit: 'bytes' });
      yield chunk as Buffer;
    }
    throwIfAborted(session.signal, `reading ${file.name}`);
  } catch (error) {
    if (error instanceof DatasetError || (error as { code?: string }).code === 'ERR_ABORTED') throw error;
    const code = (error as { code?: string }).code;
    if (code === 'Z_BUF_ERROR') {
      throw new DatasetError('the gzip stream ends early: the file is truncated', 'ERR_DATASET_TRUNCATED', { file: file.name }, { cause: error });
    }
    if (code === 'Z_DATA_ERROR') {
      throw new DatasetError(`corrupt gzip data (${(error as Error).message})`, 'ERR_DATASET_PARSE', { file: file.name }, { cause: error });
    }
    throw new DatasetError(`cannot read the file (${(error as Error).message})`, 'ERR_DATASET_NOT_FOUND', { file: file.name }, { cause: error });
  } finally {
    raw.destroy();
  }
}

function isGzip(path: string): boolean {
  const fd = fs.openSync(path, 'r');
  try {
    const magic = Buffer.alloc(2);
    const n = fs.readSync(fd, magic, 0, 2, 0);
    return n === 2 && magic[0] === 0x1f && magic[1] === 0x8b;
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Validates UTF-8 chunk by chunk (a character may straddle chunks) and reports the offsets of invalid
 * sequences. The common, valid case costs one native isUtf8 call per chunk.
 */
export class Utf8Guard {
  private carry: Buffer | undefined;
  private carryOffset = 0;

  /** Offsets (in the whole stream) of the invalid sequences in `chunk`, which starts at `offset`. */
  check(chunk: Buffer, offset: number): number[] {
    let data = chunk;
    let dataOffset = offset;
    if (this.carry !== undefined) {
      data = Buffer.concat([this.carry, chunk]);
      dataOffset = this.carryOffset;
      this.carry = undefined;
    }
    const cut = incompleteTail(data);
    if (cut < data.length) {
      this.carry = Buffer.from(data.subarray(cut));
      this.carryOffset = dataOffset + cut;
    }
    const complete = data.subarray(0, cut);
    return isUtf8(complete) ? [] : invalidUtf8Offsets(complete).map((o) => o + dataOffset);
  }

  /** At the end of the stream: a character cut short by the end of the file is invalid. */
  finish(): number[] {
    if (this.carry === undefined) return [];
    const offset = this.carryOffset;
    const bad = invalidUtf8Offsets(this.carry).map((o) => o + offset);
    this.carry = undefined;
    return bad;
  }
}

/** Start of a multi-byte sequence at the end of `data` that is still incomplete (data.length if none). */
function incompleteTail(data: Buffer): number {
  for (let j = data.length - 1; j >= Math.max(0, data.length - 4); j--) {
    const b = data[j];
    if ((b & 0xc0) === 0x80) continue;
    const need = b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : b >= 0xc0 ? 2 : 1;
    return j + need > data.length && b < 0xf8 ? j : data.length;
  }
  return data.length;
}

/** Offsets of the first byte of each invalid UTF-8 sequence (RFC 3629: no overlongs, surrogates or > U+10FFFF). */
export function invalidUtf8Offsets(bytes: Uint8Array): number[] {
  const bad: number[] = [];
  let i = 0;
  const n = bytes.length;
  while (i < n) {
    const b = bytes[i];
    if (b < 0x80) {
      i++;
      continue;
    }
    let need: number;
    let lo = 0x80;
    let hi = 0xbf;
    if (b >= 0xc2 && b <= 0xdf) need = 1;
    else if (b === 0xe0) (need = 2), (lo = 0xa0);
    else if ((b >= 0xe1 && b <= 0xec) || b === 0xee || b === 0xef) need = 2;
    else if (b === 0xed) (need = 2), (hi = 0x9f);
    else if (b === 0xf0) (need = 3), (lo = 0x90);
    else if (b >= 0xf1 && b <= 0xf3) need = 3;
    else if (b === 0xf4) (need = 3), (hi = 0x8f);
    else {
      bad.push(i++);
      continue;
    }
    let ok = i + need < n;
    for (let t = 1; ok && t <= need; t++) {
      const c = bytes[i + t];
      ok = t === 1 ? c >= lo && c <= hi : c >= 0x80 && c <= 0xbf;
    }
    if (ok) i += need + 1;
    else bad.push(i++);
  }
  return bad;
}

/** 1-based line and column (in characters) of each byte offset (ascending) of a file. */
export async function locateOffsets(
  file: DatasetFile,
  offsets: readonly number[],
  encoding: TextEncoding,
  signal?: AbortSignal,
): Promise<{ line: number; column: number }[]> {
  const order = offsets.map((o, k) => [o, k] as const).sort((a, b) => a[0] - b[0]);
  const out = new Array<{ line: number; column: number }>(offsets.length);
  let t = 0;
  let line = 1;
  let pos = 0;
  let lineHead: Buffer[] = []; // bytes of the current line that lie in earlier chunks
  const decode = (bytes: Buffer) => (encoding === 'latin1' ? bytes.toString('latin1') : bytes.toString('utf8'));
  for await (const chunk of readBytes(file, { signal })) {
    let from = 0; // chunk index where the current line starts (0 when it started in an earlier chunk)
    let lineStartsHere = false;
    const advanceTo = (local: number) => {
      for (let nl = chunk.indexOf(10, from); nl !== -1 && nl < local; nl = chunk.indexOf(10, from)) {
        line++;
        from = nl + 1;
        lineStartsHere = true;
        lineHead = [];
      }
    };
    while (t < order.length && order[t][0] < pos + chunk.length) {
      const local = Math.max(0, order[t][0] - pos);
      advanceTo(local);
      const prefix = lineStartsHere ? chunk.subarray(from, local) : Buffer.concat([...lineHead, chunk.subarray(0, local)]);
      out[order[t][1]] = { line, column: [...decode(prefix)].length + 1 };
      t++;
    }
    if (t === order.length) break;
    advanceTo(chunk.length);
    lineHead.push(lineStartsHere ? chunk.subarray(from) : chunk);
    pos += chunk.length;
  }
  for (; t < order.length; t++) out[order[t][1]] = { line, column: 1 };
  return out;
}

export interface DelimitedSpec {
  delimiter: string;
  /** The quote character, or false for formats without quoting (MovieLens .dat and u.* files). */
  quote: string | false;
  encoding: TextEncoding;
  /** Whether the first record is a header; it is handed to onHeader (which may throw RowProblem). */
  header: boolean;
  /** Role of the file in the dataset (reported in LoadReport.files), e.g. 'ratings', 'items'. */
  role: string;
}

export interface RowHandler {
  onHeader?(fields: string[]): void;
  /** Throws RowProblem for a bad row. */
  onRow(fields: string[]): void;
}

/** Problems from csv-parse itself (quoting) mapped to our messages. */
function csvProblem(error: Error & { code?: string; column?: number }): RowProblem {
  const column = typeof error.column === 'number' ? error.column : undefined;
  switch (error.code) {
    case 'CSV_QUOTE_NOT_CLOSED':
      return new RowProblem('a quoted field is never closed (broken quoting, or the file is truncated)', 'ERR_DATASET_PARSE');
    case 'INVALID_OPENING_QUOTE':
    case 'CSV_INVALID_OPENING_QUOTE':
      return new RowProblem(`broken quoting: a quote inside an unquoted field`, 'ERR_DATASET_PARSE', column);
    case 'CSV_INVALID_CLOSING_QUOTE':
    case 'CSV_NON_TRIMABLE_CHAR_AFTER_CLOSING_QUOTE':
      return new RowProblem('broken quoting: characters after a closing quote', 'ERR_DATASET_PARSE', column);
    default:
      return new RowProblem(`malformed CSV (${error.message})`, 'ERR_DATASET_PARSE', column);
  }
}

interface RowLocation {
  offset: number;
  line?: number;
}

/** Turns a row problem into a thrown DatasetError (policy 'throw') or a counted skip (policy 'skip'). */
async function located(file: DatasetFile, where: RowLocation, encoding: TextEncoding, problem: RowProblem, signal?: AbortSignal): Promise<DatasetError> {
  let line = where.line;
  let column = problem.fieldIndex !== undefined ? problem.fieldIndex + 1 : undefined;
  if (line === undefined || problem.code === 'ERR_DATASET_ENCODING') {
    const [at] = await locateOffsets(file, [where.offset], encoding, signal);
    line ??= at.line;
    if (problem.code === 'ERR_DATASET_ENCODING') column = at.column;
  }
  return new DatasetError(problem.message, problem.code, { file: file.name, line, column, field: problem.field });
}

/**
 * csv-parse's synchronous core, which its stream Transform drives (`parser.api`, undeclared in its types).
 * Driving it directly hands us each record synchronously while `info.bytes` is the byte offset where that
 * record ends: exact row offsets for error locations at no cost per row (csv-parse's `info: true` option
 * allocates an info object per record and made a 2M-row read several times slower).
 */
interface CsvCore {
  info: { bytes: number };
  parse(chunk: Buffer | undefined, end: boolean, push: (record: string[]) => void, close: () => void): (Error & { code?: string; lines?: number; column?: number }) | undefined;
}

/** Thrown inside csv-parse's push callback to stop at the first bad row under policy 'throw'. */
class StopAt extends Error {
  constructor(
    readonly problem: RowProblem,
    readonly where: RowLocation,
  ) {
    super(problem.message);
  }
}

/**
 * Streams a delimited file through csv-parse, calling the handler per record (header first when the spec
 * says so). Empty lines are ignored. A bad row (a RowProblem from the handler, broken quoting, invalid
 * UTF-8) stops the read with a located DatasetError, or is skipped and counted under onError 'skip'.
 * A bad final row in a file that does not end with a newline is reported as a truncated file.
 * Returns the number of data rows accepted.
 */
export async function readDelimited(file: DatasetFile, spec: DelimitedSpec, session: ReadSession, handler: RowHandler): Promise<number> {
  const skipMode = session.onError === 'skip';
  const utf8 = spec.encoding === 'utf-8' ? new Utf8Guard() : undefined;
  let bad: number[] = []; // invalid UTF-8 offsets not yet passed
  let badHead = 0;
  let lastEnd = 0; // byte offset where the next record starts (NaN after csv-parse skipped a record)
  let headerSeen = !spec.header;
  let rows = 0;
  let skipped = 0;
  let atEnd = false;
  let endsWithNewline = false;
  let api!: CsvCore;
  const fail = (problem: RowProblem, where: RowLocation) => {
    if (atEnd && !endsWithNewline && problem.code === 'ERR_DATASET_PARSE') {
      problem = new RowProblem(`the last row is incomplete: the file is truncated (${problem.message})`, 'ERR_DATASET_TRUNCATED', problem.fieldIndex, problem.field);
    }
    if (!skipMode || !headerSeen) throw new StopAt(problem, where);
    skipped++;
    session.skip(file, where, spec.encoding, problem);
  };
  const push = (fields: string[]) => {
    const end: number = api.info.bytes;
    const start = Number.isNaN(lastEnd) ? end - 1 : lastEnd;
    lastEnd = end;
    if (fields.length === 1 && fields[0] === '') return; // an empty line
    while (badHead < bad.length && bad[badHead] < start) badHead++;
    if (badHead < bad.length && bad[badHead] < end) {
      fail(new RowProblem('invalid UTF-8', 'ERR_DATASET_ENCODING'), { offset: bad[badHead] });
      return;
    }
    try {
      if (!headerSeen) {
        headerSeen = true;
        handler.onHeader?.(fields);
      } else {
        handler.onRow(fields);
        rows++;
      }
    } catch (error) {
      if (!(error instanceof RowProblem)) throw error;
      fail(error, { offset: start });
    }
  };
  function makeApi(): CsvCore {
    const parser = new Parser({
      delimiter: spec.delimiter,
      quote: spec.quote === false ? null : spec.quote,
      encoding: spec.encoding === 'latin1' ? 'latin1' : 'utf8',
      bom: true,
      relax_column_count: true,
      skip_records_with_error: skipMode,
      on_skip: (error) => {
        if (error === undefined) return;
        // csv-parse skipped a record it could not parse: its start is known unless two were skipped in a row.
        const where = Number.isNaN(lastEnd) ? { offset: 0, line: (error as { lines?: number }).lines } : { offset: lastEnd };
        lastEnd = NaN;
        fail(csvProblem(error), where);
      },
    });
    return (parser as unknown as { api: CsvCore }).api;
  }
  api = makeApi();
  let offset = 0;
  const parseChunk = (chunk: Buffer | undefined) => {
    const error = api.parse(chunk, chunk === undefined, push, () => {});
    if (error !== undefined) {
      let problem = csvProblem(error);
      if (error.code === 'CSV_QUOTE_NOT_CLOSED' && !endsWithNewline) {
        problem = new RowProblem('the file ends inside a quoted field without a final newline: it is truncated', 'ERR_DATASET_TRUNCATED');
      }
      throw new StopAt(problem, { offset: Number.isNaN(lastEnd) ? 0 : lastEnd, line: Number.isNaN(lastEnd) ? error.lines : undefined });
    }
  };
  try {
    for await (const chunk of readBytes(file, session, `reading ${file.name}`)) {
      if (utf8) {
        const found = utf8.check(chunk, offset);
        if (found.length > 0) bad = bad.slice(badHead).concat(found), (badHead = 0);
      }
      offset += chunk.length;
      endsWithNewline = chunk.length > 0 ? chunk[chunk.length - 1] === 10 : endsWithNewline;
      parseChunk(chunk);
    }
    if (utf8) {
      const found = utf8.finish();
      if (found.length > 0) bad = bad.slice(badHead).concat(found), (badHead = 0);
    }
    atEnd = true;
    parseChunk(undefined);
  } catch (error) {
    if (!(error instanceof StopAt)) throw error;
    throw await located(file, error.where, spec.encoding, error.problem, session.signal);
  }
  if (!headerSeen || rows === 0) {
    const what = skipped > 0 ? `all ${skipped} data rows were skipped as malformed` : spec.header && headerSeen ? 'the file has a header but no data rows' : 'the file is empty';
    throw new DatasetError(what, 'ERR_DATASET_EMPTY', { file: file.name });
  }
  session.files.push({ file: file.name, role: spec.role, rows, skipped });
  await session.locatePending();
  return rows;
}

/**
 * Streams a JSON-lines file (plain or gzip), parsing each non-blank line and calling onRecord with it.
 * Same bad-row policy as readDelimited; JSON errors are located by line and character.
 */
export async function readJsonLines(
  file: DatasetFile,
  session: ReadSession,
  role: string,
  onRecord: (value: unknown) => void,
  parse: (text: string) => unknown = JSON.parse,
): Promise<number> {
  const skipMode = session.onError === 'skip';
  const utf8 = new Utf8Guard();
  let bad: number[] = [];
  let badHead = 0;
  let rows = 0;
  let skipped = 0;
  let line = 0;
  let offset = 0; // stream offset of `head`
  let head: Buffer = Buffer.alloc(0); // bytes of an unfinished line
  const handle = (bytes: Buffer, start: number, final: boolean) => {
    line++;
    const end = start + bytes.length;
    while (badHead < bad.length && bad[badHead] < start) badHead++;
    let problem: RowProblem | undefined;
    let text = '';
    if (badHead < bad.length && bad[badHead] < end) {
      problem = new RowProblem('invalid UTF-8', 'ERR_DATASET_ENCODING');
    } else {
      text = bytes.toString('utf8');
      if (text.trim() === '') return;
      try {
        onRecord(parse(text));
        rows++;
        return;
      } catch (error) {
        if (error instanceof RowProblem) problem = error;
        else if (error instanceof SyntaxError) {
          const position = /position (\d+)/.exec(error.message);
          problem = new RowProblem(
            final ? `the last line is incomplete JSON: the file is truncated (${error.message})` : `invalid JSON (${error.message})`,
            final ? 'ERR_DATASET_TRUNCATED' : 'ERR_DATASET_PARSE',
          );
          if (position) (problem as { column?: number }).column = Number(position[1]) + 1;
        } else throw error;
      }
    }
    const column =
      problem.code === 'ERR_DATASET_ENCODING'
        ? [...bytes.subarray(0, bad[badHead] - start).toString('utf8')].length + 1
        : (problem as { column?: number }).column;
    const error = new DatasetError(problem.message, problem.code, { file: file.name, line, column, field: problem.field });
    if (!skipMode) throw error;
    skipped++;
    session.skip(file, { offset: start, line }, 'utf-8', error);
  };
  let endsWithNewline = true;
  for await (const chunk of readBytes(file, session, `reading ${file.name}`)) {
    const found = utf8.check(chunk, offset + head.length);
    if (found.length > 0) bad = bad.slice(badHead).concat(found), (badHead = 0);
    const data = head.length > 0 ? Buffer.concat([head, chunk]) : chunk;
    let from = 0;
    for (let nl = data.indexOf(10); nl !== -1; nl = data.indexOf(10, from)) {
      const stop = nl > from && data[nl - 1] === 13 ? nl - 1 : nl;
      handle(data.subarray(from, stop), offset + from, false);
      from = nl + 1;
    }
    offset += from;
    head = Buffer.from(data.subarray(from));
    if (chunk.length > 0) endsWithNewline = chunk[chunk.length - 1] === 10;
  }
  const found = utf8.finish();
  if (found.length > 0) bad = bad.slice(badHead).concat(found), (badHead = 0);
  if (head.length > 0) handle(head, offset, !endsWithNewline);
  if (rows === 0) {
    throw new DatasetError(skipped > 0 ? `all ${skipped} lines were skipped as malformed` : 'the file is empty', 'ERR_DATASET_EMPTY', { file: file.name });
  }
  session.files.push({ file: file.name, role, rows, skipped });
  await session.locatePending();
  return rows;
}

/** The first record of a delimited file (its header), read without reading the rest; undefined if empty. */
export async function readFirstRecord(file: DatasetFile, spec: Pick<DelimitedSpec, 'delimiter' | 'quote' | 'encoding'>, session: ReadSession): Promise<string[] | undefined> {
  const parser = new Parser({
    delimiter: spec.delimiter,
    quote: spec.quote === false ? null : spec.quote,
    encoding: spec.encoding === 'latin1' ? 'latin1' : 'utf8',
    bom: true,
    relax_column_count: true,
  });
  const api = (parser as unknown as { api: CsvCore }).api;
  let first: string[] | undefined;
  const push = (fields: string[]) => {
    if (first === undefined && !(fields.length === 1 && fields[0] === '')) first = fields;
  };
  for await (const chunk of readBytes(file, session)) {
    const error = api.parse(chunk, false, push, () => {});
    if (error !== undefined || first !== undefined) break;
  }
  if (first === undefined) api.parse(undefined, true, push, () => {});
  return first;
}
