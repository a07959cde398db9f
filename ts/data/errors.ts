/**
 * The data layer's error: a SemrecError that also says where in which file the problem is, so a user
 * can open the file at the right line. Codes are listed (with what each means) in ts/errors.ts.
 */
import { type ErrorCode, SemrecError } from '../errors';

export interface DatasetErrorLocation {
  /** The file at fault, as the user gave it (or as found under the dataset folder). */
  file?: string;
  /** 1-based physical line of the file (for a quoted field spanning lines: the line the row starts on). */
  line?: number;
  /**
   * 1-based column: the field number in delimited files, the character position within the line for
   * encoding and JSON errors.
   */
  column?: number;
  /** The field's name, where the file has a header or the format names its fields. */
  field?: string;
}

export class DatasetError extends SemrecError {
  readonly file?: string;
  readonly line?: number;
  readonly column?: number;
  readonly field?: string;
  /** The message without the location prefix. */
  readonly reason: string;

  constructor(reason: string, code: ErrorCode, location: DatasetErrorLocation = {}, options?: { cause?: unknown }) {
    super(`${formatLocation(location)}${reason}`, code, options);
    this.name = 'DatasetError';
    this.reason = reason;
    this.file = location.file;
    this.line = location.line;
    this.column = location.column;
    this.field = location.field;
  }
}

/** "u.data:12:3 (rating): " style prefix; empty when nothing is known. */
export function formatLocation(location: DatasetErrorLocation): string {
  if (location.file === undefined) return '';
  let s = location.file;
  if (location.line !== undefined) {
    s += `:${location.line}`;
    if (location.column !== undefined) s += `:${location.column}`;
  }
  if (location.field !== undefined) s += ` (${location.field})`;
  return `${s}: `;
}

export function isDatasetError(value: unknown, code?: ErrorCode): value is DatasetError {
  return value instanceof DatasetError && (code === undefined || value.code === code);
}
