/**
 * What a saved model needs to answer by raw id without the dataset: the raw user and item ids, how to
 * present an item (title, genres, numeric fields such as year), and a fingerprint of the data it was
 * trained on, so that handing it other data is a clear error rather than silently wrong indices.
 */
import { createHash } from 'node:crypto';

import { DenseIdMap, type IdMap } from '../data/store';
import { SemrecError } from '../errors';
import type { TrainingData } from './data';

/** An item as a user sees it. */
export interface CatalogItem {
  /** The dataset's raw item id. */
  id: string;
  /** The model's dense item index. */
  index: number;
  title?: string;
  genres?: string[];
  /** Numeric metadata (e.g. year, episodes); absent values are left out. */
  fields?: Record<string, number>;
}

/** A recommended or similar item: the item and the model's score for it (higher is better). */
export interface ScoredItem extends CatalogItem {
  score: number;
}

/**
 * The training data's identity. Two datasets with equal `idsSha256` share the model's index space (the
 * same raw ids at the same indices); equal `interactionsSha256` besides means the same interactions.
 */
export interface DataFingerprint {
  /** The data's name (dataset and split, e.g. 'ml-100k'). */
  dataset: string;
  numUsers: number;
  numItems: number;
  numInteractions: number;
  /** False when the data carried no raw ids and the indices stand in for them ('0', '1', ...). */
  rawIds: boolean;
  /** SHA-256 of the raw user ids, then the raw item ids, in index order. */
  idsSha256: string;
  /** SHA-256 of the interactions (user, item, rating, timestamp) in a canonical order. */
  interactionsSha256: string;
}

/** The item metadata a catalog keeps (what reports and the CLI show), one entry per item. */
export interface CatalogItemData {
  title: (string | null)[];
  genres: string[][];
  numeric: Record<string, (number | null)[]>;
}

/** The saved form (a JSON section of the model file). */
export interface CatalogSection {
  userIds: string[];
  itemIds: string[];
  items: CatalogItemData;
}

/** Interactions hashed per block (bytes: 24 per interaction). */
const HASH_BLOCK = 1 << 16;

function idsOf(map: IdMap | undefined, size: number): string[] {
  if (map) {
    const withArray = map as IdMap & { toArray?: () => readonly string[] };
    if (typeof withArray.toArray === 'function') return [...withArray.toArray()];
    return Array.from({ length: size }, (_, i) => map.raw(i));
  }
  return Array.from({ length: size }, (_, i) => String(i));
}

function hashIds(userIds: readonly string[], itemIds: readonly string[]): string {
  const hash = createHash('sha256');
  // Length-prefixed, so ['ab', 'c'] and ['a', 'bc'] differ.
  for (const list of [userIds, itemIds]) {
    hash.update(`${list.length}\n`);
    for (const id of list) hash.update(`${Buffer.byteLength(id)}:${id}`);
  }
  return hash.digest('hex');
}

/** Interaction indices ordered by (user, item, timestamp, rating): the canonical order of the hash. */
function canonicalOrder(data: TrainingData): Int32Array {
  const n = data.numInteractions;
  const start = new Int32Array(data.numUsers + 1);
  for (let e = 0; e < n; e++) start[data.userIdx[e] + 1]++;
  for (let u = 0; u < data.numUsers; u++) start[u + 1] += start[u];
  const fill = start.slice(0, data.numUsers);
  const order = new Int32Array(n);
  for (let e = 0; e < n; e++) order[fill[data.userIdx[e]]++] = e;
  const key = (a: number, b: number) =>
    data.itemIdx[a] - data.itemIdx[b] || compareNumbers(data.timestamp[a], data.timestamp[b]) || compareNumbers(data.rating[a], data.rating[b]) || a - b;
  for (let u = 0; u < data.numUsers; u++) order.subarray(start[u], start[u + 1]).sort(key);
  return order;
}

/** Total order on numbers with NaN last (NaN marks "unknown" in the store). */
function compareNumbers(a: number, b: number): number {
  if (Number.isNaN(a)) return Number.isNaN(b) ? 0 : 1;
  if (Number.isNaN(b)) return -1;
  return a - b;
}

/** The fingerprint of a model's training data (see DataFingerprint). */
export function fingerprintOf(data: TrainingData): DataFingerprint {
  const n = data.numInteractions;
  const order = canonicalOrder(data);
  const hash = createHash('sha256');
  hash.update(`${data.numUsers} ${data.numItems} ${n}\n`);
  const block = Buffer.alloc(Math.min(n, HASH_BLOCK) * 24);
  for (let b = 0; b < n; b += HASH_BLOCK) {
    const end = Math.min(n, b + HASH_BLOCK);
    for (let k = b; k < end; k++) {
      const e = order[k];
      const at = (k - b) * 24;
      block.writeInt32LE(data.userIdx[e], at);
      block.writeInt32LE(data.itemIdx[e], at + 4);
      const rating = data.rating[e];
      block.writeFloatLE(Number.isNaN(rating) ? NaN : rating, at + 8); // one NaN bit pattern
      block.writeInt32LE(0, at + 12);
      const time = data.timestamp?.[e] ?? NaN;
      block.writeDoubleLE(Number.isNaN(time) ? NaN : time, at + 16);
    }
    hash.update(block.subarray(0, (end - b) * 24));
  }
  const userIds = idsOf(data.userIds, data.numUsers);
  const itemIds = idsOf(data.itemIds, data.numItems);
  return {
    dataset: data.name,
    numUsers: data.numUsers,
    numItems: data.numItems,
    numInteractions: n,
    rawIds: data.userIds !== undefined && data.itemIds !== undefined,
    idsSha256: hashIds(userIds, itemIds),
    interactionsSha256: hash.digest('hex'),
  };
}

/** Which parts of two fingerprints differ, in words (empty when they match on what `level` compares). */
export function fingerprintDifferences(
  model: DataFingerprint,
  data: DataFingerprint,
  level: 'ids' | 'interactions',
): string[] {
  const out: string[] = [];
  if (model.numUsers !== data.numUsers) out.push(`${data.numUsers} users, the model has ${model.numUsers}`);
  if (model.numItems !== data.numItems) out.push(`${data.numItems} items, the model has ${model.numItems}`);
  if (out.length === 0 && model.idsSha256 !== data.idsSha256) out.push('other raw ids (or the same ids at other indices)');
  if (level === 'interactions') {
    if (model.numInteractions !== data.numInteractions) {
      out.push(`${data.numInteractions} interactions, the model was trained on ${model.numInteractions}`);
    } else if (model.interactionsSha256 !== data.interactionsSha256) {
      out.push('other interactions (same count, different users, items, ratings or times)');
    }
  }
  return out;
}

/** Raw ids <-> indices and item presentation for a trained model. */
export class ModelCatalog {
  readonly userIds: IdMap;
  readonly itemIds: IdMap;

  private constructor(
    private readonly section: CatalogSection,
  ) {
    this.userIds = DenseIdMap.from(section.userIds);
    this.itemIds = DenseIdMap.from(section.itemIds);
  }

  get numUsers(): number {
    return this.section.userIds.length;
  }

  get numItems(): number {
    return this.section.itemIds.length;
  }

  /** The catalog of training data: its raw ids (indices as ids when it has none) and item metadata. */
  static fromTrainingData(data: TrainingData): ModelCatalog {
    const n = data.numItems;
    const items = data.items;
    const title = Array.from({ length: n }, (_, i) => items?.title?.[i] ?? null);
    const genres = Array.from({ length: n }, (_, i) => [...(items?.genres?.[i] ?? [])]);
    const numeric: Record<string, (number | null)[]> = {};
    for (const [field, values] of Object.entries(items?.numeric ?? {})) {
      numeric[field] = Array.from(values, (v) => (Number.isFinite(v) ? v : null));
    }
    return new ModelCatalog({
      userIds: idsOf(data.userIds, data.numUsers),
      itemIds: idsOf(data.itemIds, n),
      items: { title, genres, numeric },
    });
  }

  /** A catalog read back from a saved model, checked against the model's counts. */
  static fromSection(value: unknown, numUsers: number, numItems: number, where: string): ModelCatalog {
    const bad = (what: string) => new SemrecError(`load: the catalog of ${where} is damaged: ${what}`, 'ERR_MODEL_CORRUPT');
    const s = value as Partial<CatalogSection> | undefined;
    if (!s || typeof s !== 'object') throw bad('missing');
    const strings = (a: unknown, length: number, what: string) => {
      if (!Array.isArray(a) || a.length !== length || !a.every((x) => typeof x === 'string')) throw bad(`${what} must be ${length} strings`);
      if (new Set(a).size !== a.length) throw bad(`${what} has repeated ids`);
    };
    strings(s.userIds, numUsers, 'userIds');
    strings(s.itemIds, numItems, 'itemIds');
    const items = s.items;
    if (!items || !Array.isArray(items.title) || items.title.length !== numItems || !Array.isArray(items.genres) || items.genres.length !== numItems) {
      throw bad(`items must have a title and genres entry per item (${numItems})`);
    }
    for (const [field, values] of Object.entries(items.numeric ?? {})) {
      if (!Array.isArray(values) || values.length !== numItems) throw bad(`numeric field '${field}' must have ${numItems} entries`);
    }
    return new ModelCatalog({ userIds: s.userIds!, itemIds: s.itemIds!, items: { title: items.title, genres: items.genres, numeric: items.numeric ?? {} } });
  }

  toSection(): CatalogSection {
    return this.section;
  }

  /** The index of raw user id `id`; ERR_UNKNOWN_ID (naming it) when the model never saw that user. */
  userIndex(id: string, what = 'user'): number {
    const index = this.userIds.index(String(id));
    if (index === undefined) {
      throw new SemrecError(`${what}: unknown user id '${id}' (the model knows ${this.numUsers} users; serve new users from their history)`, 'ERR_UNKNOWN_ID');
    }
    return index;
  }

  /** The index of raw item id `id`; ERR_UNKNOWN_ID (naming it) when the item is not in the catalog. */
  itemIndex(id: string, what = 'item'): number {
    const index = this.itemIds.index(String(id));
    if (index === undefined) throw new SemrecError(`${what}: unknown item id '${id}' (not among the model's ${this.numItems} items)`, 'ERR_UNKNOWN_ID');
    return index;
  }

  /** How item `index` is shown: raw id, title, genres and numeric fields. */
  item(index: number): CatalogItem {
    const out: CatalogItem = { id: this.itemIds.raw(index), index };
    const { title, genres, numeric } = this.section.items;
    if (title[index] !== null && title[index] !== undefined) out.title = title[index]!;
    if (genres[index]?.length) out.genres = [...genres[index]];
    for (const [field, values] of Object.entries(numeric)) {
      const v = values[index];
      if (v !== null && v !== undefined) (out.fields ??= {})[field] = v;
    }
    return out;
  }
}
