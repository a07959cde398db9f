/**
 * Argument checks run in TypeScript before every native call: types, integer ranges and lengths, with
 * messages naming the argument. The addon checks again (cheaply) and checks contents (ids in range,
 * NaN) itself, on its worker thread.
 */
import { SemrecError } from '../errors';
import type { CsrArgs, DeviceChoice } from '../native/addon';

/** Ids, counts and k are int32 on the native side. */
export const MAX_INDEX = 2 ** 31 - 1;
/** Largest embedding dimension accepted by the scoring ops. */
export const MAX_DIM = 65536;

export class ArgReader {
  readonly obj: Record<string, unknown>;

  constructor(
    value: unknown,
    readonly op: string,
  ) {
    if (typeof value !== 'object' || value === null || Array.isArray(value) || ArrayBuffer.isView(value)) {
      throw new SemrecError(`${op}: expected an options object`, 'ERR_INVALID_ARG_TYPE');
    }
    this.obj = value as Record<string, unknown>;
  }

  private label(field: string): string {
    return `${this.op}: ${field}`;
  }

  has(field: string): boolean {
    return this.obj[field] !== undefined && this.obj[field] !== null;
  }

  integer(field: string, min: number, max: number, fallback?: number): number {
    const value = this.obj[field];
    if ((value === undefined || value === null) && fallback !== undefined) return fallback;
    return checkInteger(value, this.label(field), min, max);
  }

  float32(field: string): Float32Array;
  float32(field: string, optional: true): Float32Array | undefined;
  float32(field: string, optional = false): Float32Array | undefined {
    return typed(this.obj[field], this.label(field), Float32Array, 'Float32Array', optional);
  }

  int32(field: string): Int32Array {
    return typed(this.obj[field], this.label(field), Int32Array, 'Int32Array', false)!;
  }

  csr(field: string, rows: number): CsrArgs;
  csr(field: string, rows: number, optional: true): CsrArgs | undefined;
  csr(field: string, rows: number, optional = false): CsrArgs | undefined {
    const value = this.obj[field];
    const label = this.label(field);
    if (value === undefined || value === null) {
      if (optional) return undefined;
      throw new SemrecError(`${label} is required ({ indptr: Int32Array, indices: Int32Array })`, 'ERR_INVALID_ARG_TYPE');
    }
    if (typeof value !== 'object' || Array.isArray(value) || ArrayBuffer.isView(value)) {
      throw new SemrecError(`${label} must be { indptr: Int32Array, indices: Int32Array }`, 'ERR_INVALID_ARG_TYPE');
    }
    const csr = value as Record<string, unknown>;
    const indptr = typed(csr.indptr, `${label}.indptr`, Int32Array, 'Int32Array', false)!;
    const indices = typed(csr.indices, `${label}.indices`, Int32Array, 'Int32Array', false)!;
    if (indptr.length !== rows + 1) {
      throw new SemrecError(
        `${label}.indptr must have ${rows + 1} entries (rows + 1), got ${indptr.length}`,
        'ERR_INVALID_ARG_VALUE',
      );
    }
    return { indptr, indices };
  }

  matrix(field: string, rows: number): { data: Float32Array; dim: number } | undefined {
    const value = this.obj[field];
    const label = this.label(field);
    if (value === undefined || value === null) return undefined;
    if (typeof value !== 'object' || Array.isArray(value) || ArrayBuffer.isView(value)) {
      throw new SemrecError(`${label} must be { data: Float32Array, dim: integer }`, 'ERR_INVALID_ARG_TYPE');
    }
    const m = value as Record<string, unknown>;
    const data = typed(m.data, `${label}.data`, Float32Array, 'Float32Array', false)!;
    const dim = checkInteger(m.dim, `${label}.dim`, 1, 1 << 20);
    if (data.length !== rows * dim) {
      throw new SemrecError(
        `${label}.data must have ${rows} x ${dim} = ${rows * dim} entries, got ${data.length}`,
        'ERR_INVALID_ARG_VALUE',
      );
    }
    return { data, dim };
  }

  /**
   * The width k of a top-k result over `numCols` columns (items): 1 <= k <= numCols. A larger k has no
   * more results to give, and the result (rows x k) would be sized by an unchecked number; callers that
   * mean "as many as there are" clamp first (recommend() does). Same rule in native/napi/bridge.cc.
   */
  topKWidth(field: string, numCols: number): number {
    const k = this.integer(field, 1, MAX_INDEX);
    if (k > numCols) {
      throw new SemrecError(
        `${this.label(field)} is ${k}, more than the ${numCols} columns (items) a row has; ask for at most ${numCols}`,
        'ERR_OUT_OF_RANGE',
      );
    }
    return k;
  }

  integerList(field: string, min: number, max: number): number[] {
    const value = this.obj[field];
    const label = this.label(field);
    if (!Array.isArray(value)) throw new SemrecError(`${label} must be an array of integers`, 'ERR_INVALID_ARG_TYPE');
    if (value.length === 0) throw new SemrecError(`${label} must not be empty`, 'ERR_INVALID_ARG_VALUE');
    if (value.length > 4096) throw new SemrecError(`${label} has more than 4096 entries`, 'ERR_OUT_OF_RANGE');
    return value.map((v, i) => checkInteger(v, `${label}[${i}]`, min, max));
  }

  device(): DeviceChoice {
    const value = this.obj.device;
    if (value === undefined || value === null) return 'auto';
    if (value !== 'cpu' && value !== 'cuda' && value !== 'auto') {
      throw new SemrecError(
        `${this.label('device')} must be 'cpu', 'cuda' or 'auto', got ${describe(value)}`,
        typeof value === 'string' ? 'ERR_INVALID_ARG_VALUE' : 'ERR_INVALID_ARG_TYPE',
      );
    }
    return value;
  }

  /** Throws unless `got === want`, naming how `want` is derived. */
  length(field: string, got: number, want: number, how: string): void {
    if (got !== want) {
      throw new SemrecError(`${this.label(field)} must have ${how} = ${want} entries, got ${got}`, 'ERR_INVALID_ARG_VALUE');
    }
  }
}

export function checkInteger(value: unknown, label: string, min: number, max: number): number {
  if (value === undefined || value === null) throw new SemrecError(`${label} is required (an integer)`, 'ERR_INVALID_ARG_TYPE');
  if (typeof value !== 'number') throw new SemrecError(`${label} must be a number, got ${describe(value)}`, 'ERR_INVALID_ARG_TYPE');
  if (Number.isNaN(value)) throw new SemrecError(`${label} is NaN`, 'ERR_NAN_INPUT');
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new SemrecError(`${label} must be an integer in [${min}, ${max}], got ${value}`, 'ERR_OUT_OF_RANGE');
  }
  return value;
}

function typed<T extends ArrayBufferView>(
  value: unknown,
  label: string,
  type: abstract new (...args: never[]) => T,
  typeName: string,
  optional: boolean,
): T | undefined {
  if (value === undefined || value === null) {
    if (optional) return undefined;
    throw new SemrecError(`${label} is required (a ${typeName})`, 'ERR_INVALID_ARG_TYPE');
  }
  if (!(value instanceof type)) {
    throw new SemrecError(`${label} must be a ${typeName}, got ${describe(value)}`, 'ERR_INVALID_ARG_TYPE');
  }
  return value;
}

export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (ArrayBuffer.isView(value)) return `a ${value.constructor.name}`;
  if (typeof value === 'string') return `'${value.length > 40 ? `${value.slice(0, 40)}...` : value}'`;
  if (typeof value === 'object') return 'an object';
  return `${typeof value} ${String(value)}`;
}
