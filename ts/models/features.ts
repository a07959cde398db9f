/**
 * Side features of users and items derived from a dataset's metadata, for the content-aware models
 * (vbpr when no encoder output is given, lightfm always):
 *   items: one indicator per genre, per quantile bin of each numeric field (e.g. year), and per word of
 *          the items' free text (text fields, else the training reviews) from a vocabulary of common,
 *          non-ubiquitous words;
 *   users: one indicator per value of each low-cardinality field (gender, occupation) and per quantile
 *          bin of each numeric field (age).
 */
import type { Csr } from '../kernels/types';
import type { ItemFeatureMatrix } from './contract';
import type { TrainingData } from './data';

/** Quantile bins per numeric field. */
export const NUMERIC_BINS = 10;
/** A categorical user field with more distinct values than this (e.g. zip codes) is left out. */
export const MAX_CATEGORIES = 64;
/** Words kept as item text features: the most widespread ones... */
export const TEXT_VOCABULARY = 500;
/** ...that occur in at least this many items... */
export const TEXT_MIN_ITEMS = 2;
/** ...and in at most this share of them (drops stop words). */
export const TEXT_MAX_ITEM_SHARE = 0.5;

/** Features per row with weights; feature f is named names[f]. */
export interface SparseFeatures {
  rows: Csr;
  weights: Float32Array;
  numFeatures: number;
  names: string[];
}

class FeatureBuilder {
  readonly names: string[] = [];
  private readonly ids = new Map<string, number>();
  private readonly perRow: number[][];

  constructor(numRows: number) {
    this.perRow = Array.from({ length: numRows }, () => []);
  }

  add(row: number, name: string): void {
    let id = this.ids.get(name);
    if (id === undefined) {
      id = this.names.length;
      this.ids.set(name, id);
      this.names.push(name);
    }
    if (!this.perRow[row].includes(id)) this.perRow[row].push(id);
  }

  /** Weights 1/|row| (rows sum to 1, as LightFM's Dataset normalises them). */
  build(): SparseFeatures {
    const indptr = new Int32Array(this.perRow.length + 1);
    this.perRow.forEach((r, i) => (indptr[i + 1] = indptr[i] + r.length));
    const indices = new Int32Array(indptr[this.perRow.length]);
    const weights = new Float32Array(indices.length);
    this.perRow.forEach((r, i) => {
      r.sort((a, b) => a - b);
      indices.set(r, indptr[i]);
      weights.fill(r.length > 0 ? 1 / r.length : 0, indptr[i], indptr[i + 1]);
    });
    return { rows: { indptr, indices }, weights, numFeatures: this.names.length, names: this.names };
  }
}

/** Bin edges splitting the finite values into NUMERIC_BINS quantile bins. */
function quantileEdges(values: ArrayLike<number>): number[] {
  const finite = Array.from(values).filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  if (finite.length === 0) return [];
  const edges: number[] = [];
  for (let b = 1; b < NUMERIC_BINS; b++) edges.push(finite[Math.floor((b * finite.length) / NUMERIC_BINS)]);
  return [...new Set(edges)];
}

function binOf(value: number, edges: number[]): number {
  let b = 0;
  while (b < edges.length && value >= edges[b]) b++;
  return b;
}

function words(text: string): string[] {
  return text.toLowerCase().match(/[a-z0-9]{3,}/g) ?? [];
}

/** Each item's distinct words from its text fields, or (when it has none) from the training reviews. */
function itemWords(data: TrainingData): Set<string>[] {
  const perItem = Array.from({ length: data.numItems }, () => new Set<string>());
  const fields = Object.values(data.items.text);
  if (fields.length > 0) {
    for (const field of fields) {
      field.forEach((text, i) => {
        if (text) for (const w of words(text)) perItem[i].add(w);
      });
    }
  } else if (data.review) {
    for (let e = 0; e < data.numInteractions; e++) {
      const text = data.review[e];
      if (text) for (const w of words(text)) perItem[data.itemIdx[e]].add(w);
    }
  }
  return perItem;
}

function textVocabulary(perItem: Set<string>[]): Set<string> {
  const itemCount = new Map<string, number>();
  for (const set of perItem) for (const w of set) itemCount.set(w, (itemCount.get(w) ?? 0) + 1);
  const maxItems = TEXT_MAX_ITEM_SHARE * perItem.length;
  const kept = [...itemCount.entries()]
    .filter(([, n]) => n >= TEXT_MIN_ITEMS && n <= maxItems)
    .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
    .slice(0, TEXT_VOCABULARY);
  return new Set(kept.map(([w]) => w));
}

/** Item metadata features, optionally with one identity feature per item first (LightFM's hybrid setting). */
export function itemSparseFeatures(data: TrainingData, identity: boolean): SparseFeatures {
  const builder = new FeatureBuilder(data.numItems);
  if (identity) for (let i = 0; i < data.numItems; i++) builder.add(i, `item=${i}`);
  data.items.genres.forEach((genres, i) => {
    for (const g of genres ?? []) builder.add(i, `genre=${g}`);
  });
  for (const [field, values] of Object.entries(data.items.numeric)) {
    const edges = quantileEdges(values);
    values.forEach((v, i) => {
      if (Number.isFinite(v)) builder.add(i, `${field}=bin${binOf(v, edges)}`);
    });
  }
  const perItem = itemWords(data);
  const vocabulary = textVocabulary(perItem);
  perItem.forEach((set, i) => {
    for (const w of [...set].sort()) if (vocabulary.has(w)) builder.add(i, `word=${w}`);
  });
  return builder.build();
}

/** User metadata features, optionally with one identity feature per user first. */
export function userSparseFeatures(data: TrainingData, identity: boolean): SparseFeatures {
  const builder = new FeatureBuilder(data.numUsers);
  if (identity) for (let u = 0; u < data.numUsers; u++) builder.add(u, `user=${u}`);
  for (const [field, values] of Object.entries(data.users.fields)) {
    const numeric = values.every((v) => v === undefined || typeof v === 'number');
    if (numeric) {
      const edges = quantileEdges(values.map((v) => (v === undefined ? NaN : Number(v))));
      values.forEach((v, u) => {
        if (typeof v === 'number' && Number.isFinite(v)) builder.add(u, `${field}=bin${binOf(v, edges)}`);
      });
    } else {
      const distinct = new Set(values.filter((v) => v !== undefined).map(String));
      if (distinct.size > MAX_CATEGORIES) continue;
      values.forEach((v, u) => {
        if (v !== undefined) builder.add(u, `${field}=${String(v)}`);
      });
    }
  }
  return builder.build();
}

/**
 * Dense item content vectors from the metadata features (no identity features), each row scaled to unit
 * length (rows without any feature stay zero). Undefined when the dataset has no item metadata at all.
 */
export function itemMetadataVectors(data: TrainingData): ItemFeatureMatrix | undefined {
  const sparse = itemSparseFeatures(data, false);
  if (sparse.numFeatures === 0) return undefined;
  const dim = sparse.numFeatures;
  const out = new Float32Array(data.numItems * dim);
  for (let i = 0; i < data.numItems; i++) {
    const begin = sparse.rows.indptr[i];
    const end = sparse.rows.indptr[i + 1];
    const norm = end > begin ? 1 / Math.sqrt(end - begin) : 0;
    for (let e = begin; e < end; e++) out[i * dim + sparse.rows.indices[e]] = norm;
  }
  return { data: out, dim };
}

/** Rows scaled to unit L2 norm (zero rows stay zero); used on encoder output before VBPR trains on it. */
export function normalizeRows(m: ItemFeatureMatrix): ItemFeatureMatrix {
  const out = new Float32Array(m.data.length);
  const rows = m.data.length / m.dim;
  for (let r = 0; r < rows; r++) {
    let sq = 0;
    for (let t = 0; t < m.dim; t++) sq += m.data[r * m.dim + t] ** 2;
    const s = sq > 0 ? 1 / Math.sqrt(sq) : 0;
    for (let t = 0; t < m.dim; t++) out[r * m.dim + t] = m.data[r * m.dim + t] * s;
  }
  return { data: out, dim: m.dim };
}
