/**
 * Field parsing shared by the loaders: each helper either returns a clean value or throws a RowProblem
 * naming the field, so every loader reports bad values the same way.
 */
import { RowProblem } from './io';

/** Checks a record's field count against the format. */
export function expectFields(fields: string[], count: number, names?: readonly string[]): void {
  if (fields.length !== count) {
    const index = Math.min(fields.length, count);
    throw new RowProblem(`expected ${count} fields, found ${fields.length}`, 'ERR_DATASET_PARSE', index, names?.[index]);
  }
}

/** A non-empty id (raw ids are kept as strings, exactly as in the file). */
export function requireId(fields: string[], index: number, name: string): string {
  const value = fields[index];
  if (value === undefined || value.trim() === '') throw new RowProblem(`empty ${name}`, 'ERR_DATASET_PARSE', index, name);
  return value;
}

/** A finite number, or NaN for an empty field when `optional`. */
export function parseNumber(value: string | undefined, index: number, name: string, optional = false): number {
  if (value === undefined || value.trim() === '') {
    if (optional) return NaN;
    throw new RowProblem(`empty ${name}`, 'ERR_DATASET_PARSE', index, name);
  }
  const v = Number(value);
  if (!Number.isFinite(v)) throw new RowProblem(`${name} '${clip(value)}' is not a number`, 'ERR_DATASET_PARSE', index, name);
  return v;
}

/** A rating: a finite number inside [min, max] (NaN when empty and optional). */
export function parseRating(value: string | undefined, index: number, name: string, range: readonly [number, number], optional = false): number {
  const v = parseNumber(value, index, name, optional);
  if (!Number.isNaN(v) && (v < range[0] || v > range[1])) {
    throw new RowProblem(`${name} ${v} is outside ${range[0]}..${range[1]}`, 'ERR_DATASET_PARSE', index, name);
  }
  return v;
}

export type TimestampUnit = 's' | 'ms' | 'iso' | 'auto';

/** Numbers above this are taken as milliseconds by unit 'auto' (1e11 s is the year 5138). */
const AUTO_MILLISECONDS_ABOVE = 1e11;
const ISO_DATE = /^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?(Z|[+-]\d{2}:?\d{2})?$/;

/**
 * Seconds since the epoch. 's' / 'ms': a number in that unit; 'iso': an ISO-8601 date or date-time
 * (UTC unless it has an offset); 'auto': numbers as seconds (milliseconds above 1e11), else ISO-8601.
 */
export function parseTimestamp(value: string | undefined, index: number, name: string, unit: TimestampUnit, optional = false): number {
  if (value === undefined || value.trim() === '') {
    if (optional) return NaN;
    throw new RowProblem(`empty ${name}`, 'ERR_DATASET_PARSE', index, name);
  }
  const text = value.trim();
  if (unit !== 'iso') {
    const v = Number(text);
    if (Number.isFinite(v)) {
      if (unit === 'ms' || (unit === 'auto' && Math.abs(v) > AUTO_MILLISECONDS_ABOVE)) return v / 1000;
      return v;
    }
    if (unit !== 'auto') throw new RowProblem(`${name} '${clip(value)}' is not a number of ${unit === 's' ? 'seconds' : 'milliseconds'}`, 'ERR_DATASET_PARSE', index, name);
  }
  if (ISO_DATE.test(text)) {
    const hasZone = /(Z|[+-]\d{2}:?\d{2})$/.test(text) && text.length > 10;
    const ms = Date.parse(hasZone ? text.replace(' ', 'T') : `${text.replace(' ', 'T')}${text.length > 10 ? 'Z' : 'T00:00:00Z'}`);
    if (Number.isFinite(ms)) return ms / 1000;
  }
  throw new RowProblem(`${name} '${clip(value)}' is not a timestamp`, 'ERR_DATASET_PARSE', index, name);
}

/** A header must list these columns; returns each one's index. */
export function headerIndex<K extends string>(header: string[], required: readonly K[], optional: readonly string[] = []): Record<K, number> & Record<string, number> {
  const index: Record<string, number> = {};
  header.forEach((h, i) => {
    const name = h.trim();
    if (!(name in index)) index[name] = i;
  });
  const missing = required.filter((c) => !(c in index));
  if (missing.length > 0) {
    throw new RowProblem(`the header lacks column${missing.length > 1 ? 's' : ''} ${missing.join(', ')} (found: ${header.join(', ')})`, 'ERR_DATASET_FORMAT');
  }
  for (const c of optional) if (!(c in index)) index[c] = -1;
  return index as Record<K, number> & Record<string, number>;
}

/** A list written as "a, b" (CooperUnion), "a|b" (MovieLens) or a Python list "['a', 'b']". */
export function parseList(value: string | undefined, separator: string): string[] {
  if (value === undefined) return [];
  const text = value.trim();
  if (text === '' || text === '[]') return [];
  if (text.startsWith('[') && text.endsWith(']')) {
    const items: string[] = [];
    const quoted = /'((?:[^'\\]|\\.)*)'|"((?:[^"\\]|\\.)*)"/g;
    for (let m = quoted.exec(text); m !== null; m = quoted.exec(text)) items.push((m[1] ?? m[2]).replace(/\\(.)/g, '$1').trim());
    return items.filter((s) => s !== '');
  }
  return text
    .split(separator)
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

function clip(value: string): string {
  return value.length > 40 ? `${value.slice(0, 40)}...` : value;
}
