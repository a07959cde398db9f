/**
 * Building stores while files are read: interactions accumulate in chunked typed columns (constant memory
 * per row, no doubling copies of big arrays), metadata in growable tables keyed by dense index. `build()`
 * puts the interactions in canonical order (by user, then time, then reading order), resolves duplicate
 * (user, item) rows by the chosen policy and freezes the IdMaps.
 */
import { DatasetError } from './errors';
import {
  compareTime,
  DenseIdMap,
  type DuplicatePolicy,
  type ItemMetadata,
  type LoadReport,
  InteractionStore,
  type UserMetadata,
} from './store';

/** 2^16 rows per chunk: big enough to amortise, small enough that tiny datasets waste little. */
const CHUNK_SHIFT = 16;
const CHUNK = 1 << CHUNK_SHIFT;
const CHUNK_MASK = CHUNK - 1;

type NumericArray = Int32Array | Float32Array | Float64Array;

/** An append-only numeric column stored in fixed-size chunks. */
class ChunkedColumn<T extends NumericArray> {
  private readonly chunks: T[] = [];
  private current: T;
  private pos = 0;

  constructor(private readonly make: (n: number) => T) {
    this.current = make(CHUNK);
  }

  push(value: number): void {
    if (this.pos === CHUNK) {
      this.chunks.push(this.current);
      this.current = this.make(CHUNK);
      this.pos = 0;
    }
    this.current[this.pos++] = value;
  }

  get(index: number): number {
    const c = index >>> CHUNK_SHIFT;
    return (c === this.chunks.length ? this.current : this.chunks[c])[index & CHUNK_MASK];
  }

  /** out[k] = this[order[k]]. */
  gather(order: Int32Array, out: T): T {
    for (let k = 0; k < order.length; k++) out[k] = this.get(order[k]);
    return out;
  }

  /** Frees the chunks (after gather) so big loads do not hold two copies. */
  release(): void {
    this.chunks.length = 0;
    this.current = this.make(0);
    this.pos = 0;
  }
}

export interface BuildOptions {
  name: string;
  duplicates: DuplicatePolicy;
  items: ItemMetadata;
  users: UserMetadata;
  load: LoadReport;
  /** Named in the ERR_DATASET_INTEGRITY error of policy 'error'. */
  interactionFiles: string;
}

export class InteractionBuilder {
  readonly userIds: DenseIdMap;
  readonly itemIds: DenseIdMap;
  private readonly users = new ChunkedColumn((n) => new Int32Array(n));
  private readonly items = new ChunkedColumn((n) => new Int32Array(n));
  private readonly ratings = new ChunkedColumn((n) => new Float32Array(n));
  private readonly times = new ChunkedColumn((n) => new Float64Array(n));
  private readonly reviews?: (string | undefined)[];
  private readonly summaries?: (string | undefined)[];
  private count = 0;

  constructor(options: { userIds?: DenseIdMap; itemIds?: DenseIdMap; reviews?: boolean; summaries?: boolean } = {}) {
    this.userIds = options.userIds ?? new DenseIdMap();
    this.itemIds = options.itemIds ?? new DenseIdMap();
    if (options.reviews) this.reviews = [];
    if (options.summaries) this.summaries = [];
  }

  get length(): number {
    return this.count;
  }

  add(user: number, item: number, rating: number, timestamp: number, review?: string, summary?: string): void {
    this.users.push(user);
    this.items.push(item);
    this.ratings.push(rating);
    this.times.push(timestamp);
    this.reviews?.push(review);
    this.summaries?.push(summary);
    this.count++;
  }

  build(options: BuildOptions): InteractionStore {
    const n = this.count;
    const numUsers = this.userIds.size;
    const numItems = this.itemIds.size;
    // Canonical order: counting sort by user (stable, so reading order is kept), then by time within a user.
    const indptr = new Int32Array(numUsers + 1);
    for (let k = 0; k < n; k++) indptr[this.users.get(k) + 1]++;
    for (let u = 0; u < numUsers; u++) indptr[u + 1] += indptr[u];
    const fill = indptr.slice(0, numUsers);
    const order = new Int32Array(n);
    for (let k = 0; k < n; k++) order[fill[this.users.get(k)]++] = k;
    const byTime = (a: number, b: number) => compareTime(this.times.get(a), this.times.get(b)) || a - b;
    for (let u = 0; u < numUsers; u++) {
      const start = indptr[u];
      const end = indptr[u + 1];
      let sorted = true;
      for (let p = start + 1; p < end && sorted; p++) sorted = compareTime(this.times.get(order[p - 1]), this.times.get(order[p])) <= 0;
      if (!sorted) order.subarray(start, end).sort(byTime);
    }

    // Duplicates: within a user the rows are in time order, so "latest" is the last one seen.
    let found = 0;
    let kept = order;
    if (options.duplicates !== 'keep-all') {
      const lastUser = new Int32Array(numItems).fill(-1);
      const lastPos = new Int32Array(numItems);
      const removed = new Uint8Array(n);
      for (let u = 0; u < numUsers; u++) {
        for (let p = indptr[u]; p < indptr[u + 1]; p++) {
          const item = this.items.get(order[p]);
          if (lastUser[item] !== u) {
            lastUser[item] = u;
            lastPos[item] = p;
            continue;
          }
          found++;
          if (options.duplicates === 'error') {
            throw new DatasetError(
              `user '${this.userIds.raw(u)}' has more than one row for item '${this.itemIds.raw(item)}' ` +
                `(duplicate policy 'error'; choose 'keep-latest', 'keep-first' or 'keep-all')`,
              'ERR_DATASET_INTEGRITY',
              { file: options.interactionFiles },
            );
          }
          if (options.duplicates === 'keep-latest') {
            removed[lastPos[item]] = 1;
            lastPos[item] = p;
          } else {
            removed[p] = 1;
          }
        }
      }
      if (found > 0) kept = order.filter((_, p) => removed[p] === 0);
    }
    const m = kept.length;
    const userIdx = this.users.gather(kept, new Int32Array(m));
    this.users.release();
    const itemIdx = this.items.gather(kept, new Int32Array(m));
    this.items.release();
    const rating = this.ratings.gather(kept, new Float32Array(m));
    this.ratings.release();
    const timestamp = this.times.gather(kept, new Float64Array(m));
    this.times.release();
    const pick = (column: (string | undefined)[] | undefined) => (column ? Array.from(kept, (k) => column[k]) : undefined);
    options.load.duplicates = { policy: options.duplicates, found, removed: n - m };
    return new InteractionStore({
      name: options.name,
      userIds: this.userIds.freeze(),
      itemIds: this.itemIds.freeze(),
      userIdx,
      itemIdx,
      rating,
      timestamp,
      review: pick(this.reviews),
      reviewSummary: pick(this.summaries),
      items: options.items,
      users: options.users,
      load: options.load,
    });
  }
}

/** Item metadata filled by dense item index while catalog files are read; `finish()` pads to numItems. */
export class ItemTable {
  private readonly title: (string | undefined)[] = [];
  private readonly genres: string[][] = [];
  private readonly text: Record<string, (string | undefined)[]> = {};
  private readonly numeric: Record<string, number[]> = {};

  setTitle(item: number, title: string | undefined): void {
    if (title !== undefined && title !== '' && this.title[item] === undefined) this.title[item] = title;
  }

  /** Adds genres not yet listed for the item (several catalog files may describe one item). */
  addGenres(item: number, genres: readonly string[]): void {
    const list = (this.genres[item] ??= []);
    for (const g of genres) if (g !== '' && !list.includes(g)) list.push(g);
  }

  /** Sets a free-text field unless an earlier file already did. */
  setText(field: string, item: number, value: string | undefined): void {
    if (value === undefined || value.trim() === '') return;
    const column = (this.text[field] ??= []);
    if (column[item] === undefined) column[item] = value;
  }

  /** Sets a numeric field unless an earlier file already did; NaN means missing and is not stored. */
  setNumeric(field: string, item: number, value: number): void {
    const column = (this.numeric[field] ??= []);
    if (Number.isNaN(value)) return;
    if (column[item] === undefined || Number.isNaN(column[item])) column[item] = value;
  }

  /** Declares a field so it appears (all missing) even when no file had a value for it. */
  declareText(field: string): void {
    this.text[field] ??= [];
  }

  declareNumeric(field: string): void {
    this.numeric[field] ??= [];
  }

  finish(numItems: number): ItemMetadata {
    const pad = <T>(column: T[], fillValue: () => T) => Array.from({ length: numItems }, (_, i) => column[i] ?? fillValue());
    const numeric: Record<string, Float64Array> = {};
    for (const [field, values] of Object.entries(this.numeric)) {
      const out = new Float64Array(numItems).fill(NaN);
      values.forEach((v, i) => {
        if (i < numItems && v !== undefined) out[i] = v;
      });
      numeric[field] = out;
    }
    const text: Record<string, (string | undefined)[]> = {};
    for (const [field, values] of Object.entries(this.text)) text[field] = pad<string | undefined>(values, () => undefined);
    return {
      title: pad<string | undefined>(this.title, () => undefined),
      genres: pad(this.genres, () => []),
      text,
      numeric,
    };
  }
}

/** User metadata filled by dense user index; `finish()` pads to numUsers. */
export class UserTable {
  private readonly fields: Record<string, (string | number | undefined)[]> = {};

  set(field: string, user: number, value: string | number | undefined): void {
    const column = (this.fields[field] ??= []);
    if (value === undefined || (typeof value === 'number' && Number.isNaN(value)) || value === '') return;
    if (column[user] === undefined) column[user] = value;
  }

  finish(numUsers: number): UserMetadata {
    const fields: Record<string, (string | number | undefined)[]> = {};
    for (const [field, values] of Object.entries(this.fields)) {
      fields[field] = Array.from({ length: numUsers }, (_, u) => values[u]);
    }
    return { fields };
  }
}
