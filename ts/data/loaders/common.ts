/** What the format readers share: their context, finding files in the dataset folder, the store's name. */
import fs from 'node:fs';
import path from 'node:path';

import { DatasetError } from '../errors';
import type { DatasetFile, ReadSession } from '../io';
import type { LoadDatasetOptions } from '../load';
import type { DuplicatePolicy, LoadReport } from '../store';

/** What every format reader receives. */
export interface LoaderContext {
  options: LoadDatasetOptions;
  /** Absolute dataset path. */
  root: string;
  session: ReadSession;
  duplicates: DuplicatePolicy;
  /** The load report, filled in as files are read; attached to the store. */
  report: LoadReport;
}

/** A file of the dataset folder; undefined when absent and optional, ERR_DATASET_NOT_FOUND when required. */
export function datasetFile(context: LoaderContext, name: string, required: true): DatasetFile;
export function datasetFile(context: LoaderContext, name: string, required: false): DatasetFile | undefined;
export function datasetFile(context: LoaderContext, name: string, required: boolean): DatasetFile | undefined {
  if (!fs.statSync(context.root).isDirectory()) {
    throw new DatasetError(`format '${context.options.format}' expects a folder holding ${name}`, 'ERR_DATASET_FORMAT', { file: context.options.path });
  }
  const file = path.join(context.root, name);
  if (fs.existsSync(file)) return { path: file, name };
  if (required) {
    throw new DatasetError(`the ${context.options.format} layout needs ${name}, which is not in this folder`, 'ERR_DATASET_NOT_FOUND', {
      file: path.join(context.options.path, name),
    });
  }
  context.report.notes.push(`${name} is absent`);
  return undefined;
}

/** Files under the dataset path (the path itself when it is a file), up to `depth` folders down, sorted. */
export function listDatasetFiles(context: LoaderContext, depth = 2): DatasetFile[] {
  const stat = fs.statSync(context.root);
  if (stat.isFile()) return [{ path: context.root, name: path.basename(context.root) }];
  if (!stat.isDirectory()) {
    throw new DatasetError(
      `format '${context.options.format}' reads a regular file or a folder; this is neither (a device, pipe or socket)`,
      'ERR_DATASET_FORMAT',
      { file: context.options.path },
    );
  }
  const out: DatasetFile[] = [];
  const walk = (dir: string, level: number) => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      if (entry.name.startsWith('.')) continue;
      const full = path.join(dir, entry.name);
      if (entry.isDirectory() && level < depth) walk(full, level + 1);
      else if (entry.isFile()) out.push({ path: full, name: path.relative(context.root, full) });
    }
  };
  walk(context.root, 0);
  return out;
}

/** The store's name: the caller's, else the given default. */
export function storeName(context: LoaderContext, fallback: string): string {
  return context.options.name ?? fallback;
}
