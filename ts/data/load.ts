/**
 * `loadDataset({ format, path, ... })`: one entry point for every supported dataset layout. Each format's
 * reader lives in ts/data/loaders/<format>.ts; this file holds the options, their defaults and checks, and
 * what the readers share (finding files, the load report).
 */
import fs from 'node:fs';
import path from 'node:path';

import { SemrecError } from '../errors';
import type { LongRunningOptions } from '../progress';
import { DatasetError } from './errors';
import type { TimestampUnit } from './fields';
import { type OnError, ReadSession, type TextEncoding } from './io';
import type { LoaderContext } from './loaders/common';
import { loadAmazonReviews } from './loaders/amazon';
import { loadInteractionsCsv } from './loaders/interactions-csv';
import { loadMl100k } from './loaders/ml-100k';
import { loadMl1m } from './loaders/ml-1m';
import { loadMovielensCsv } from './loaders/movielens-csv';
import { loadMyAnimeList } from './loaders/myanimelist';
import { DUPLICATE_POLICIES, type DuplicatePolicy, type InteractionStore, type LoadReport } from './store';

export const DATASET_FORMATS = ['ml-100k', 'movielens-csv', 'ml-1m', 'amazon-reviews', 'myanimelist', 'interactions-csv'] as const;
export type DatasetFormat = (typeof DATASET_FORMATS)[number];

/** Which columns of an `interactions-csv` file hold what: a header name, or a 0-based index. */
export interface InteractionColumns {
  user: string | number;
  item: string | number;
  rating?: string | number;
  timestamp?: string | number;
  review?: string | number;
}

export interface LoadDatasetOptions extends LongRunningOptions {
  format: DatasetFormat;
  /** The dataset folder; a single file also works for amazon-reviews, myanimelist and interactions-csv. */
  path: string;
  /** The store's name; default: the format for MovieLens layouts, else the file or folder name. */
  name?: string;
  /** A malformed row throws a DatasetError ('throw', the default) or is skipped and counted ('skip'). */
  onError?: OnError;
  /** Duplicate (user, item) rows; default 'keep-latest' (see DuplicatePolicy). */
  duplicates?: DuplicatePolicy;
  // interactions-csv only:
  /** Required for interactions-csv. */
  columns?: InteractionColumns;
  /** Field delimiter; default ','. */
  delimiter?: string;
  /** Whether the first line is a header; default true (column names then refer to it). */
  header?: boolean;
  /** Default 'utf-8' (validated); 'latin1' for ISO-8859-1 files. */
  encoding?: TextEncoding;
  /** Quote character, or false for none; default '"'. */
  quote?: string | false;
  /** Timestamp column unit; default 'auto' (seconds, milliseconds above 1e11, or ISO-8601). */
  timestampUnit?: TimestampUnit;
  /** Allowed rating range; default: any finite number. */
  ratingRange?: [number, number];
}

/** Reads a dataset into an InteractionStore. */
export async function loadDataset(options: LoadDatasetOptions): Promise<InteractionStore> {
  if (typeof options !== 'object' || options === null) throw new SemrecError('loadDataset: options must be an object', 'ERR_INVALID_ARG_TYPE');
  if (!(DATASET_FORMATS as readonly string[]).includes(options.format)) {
    throw new SemrecError(`loadDataset: format '${String(options.format)}' is not one of ${DATASET_FORMATS.join(', ')}`, 'ERR_INVALID_ARG_VALUE');
  }
  if (typeof options.path !== 'string' || options.path === '') throw new SemrecError('loadDataset: path must be a non-empty string', 'ERR_INVALID_ARG_TYPE');
  const duplicates = options.duplicates ?? 'keep-latest';
  if (!DUPLICATE_POLICIES.includes(duplicates)) {
    throw new SemrecError(`loadDataset: duplicates '${String(duplicates)}' is not one of ${DUPLICATE_POLICIES.join(', ')}`, 'ERR_INVALID_ARG_VALUE');
  }
  if (options.onError !== undefined && options.onError !== 'throw' && options.onError !== 'skip') {
    throw new SemrecError(`loadDataset: onError '${String(options.onError)}' must be 'throw' or 'skip'`, 'ERR_INVALID_ARG_VALUE');
  }
  const root = path.resolve(options.path);
  if (!fs.existsSync(root)) throw new DatasetError('no such file or folder', 'ERR_DATASET_NOT_FOUND', { file: options.path });
  const session = new ReadSession(options);
  const report: LoadReport = {
    format: options.format,
    path: root,
    files: session.files,
    rowsRead: 0,
    skipped: 0,
    skippedRows: session.skippedRows,
    duplicates: { policy: duplicates, found: 0, removed: 0 },
    ignoredFiles: [],
    notes: [],
  };
  const context: LoaderContext = { options, root, session, duplicates, report };
  const store = await LOADERS[options.format](context);
  report.rowsRead = session.rowsRead;
  report.skipped = session.skipped;
  if (store.numInteractions === 0) throw new DatasetError('the dataset has no interactions', 'ERR_DATASET_EMPTY', { file: options.path });
  return store;
}

const LOADERS: Record<DatasetFormat, (context: LoaderContext) => Promise<InteractionStore>> = {
  'ml-100k': loadMl100k,
  'movielens-csv': loadMovielensCsv,
  'ml-1m': loadMl1m,
  'amazon-reviews': loadAmazonReviews,
  myanimelist: loadMyAnimeList,
  'interactions-csv': loadInteractionsCsv,
};
