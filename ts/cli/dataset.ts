/**
 * The one way CLI commands take a dataset: `--format <format> --path <dir>` plus the load options, for
 * every command that reads one (data stats, data split, and the training / evaluation commands).
 */
import { type Command, Option } from 'commander';

import { SemrecError } from '../errors';
import { DATASET_FORMATS, type DatasetFormat, type InteractionColumns, loadDataset } from '../data/load';
import { DUPLICATE_POLICIES, type DuplicatePolicy, type InteractionStore } from '../data/store';
import type { TimestampUnit } from '../data/fields';
import { createProgress } from './progress';

export interface DatasetCliOptions {
  format: DatasetFormat;
  path: string;
  onError: 'throw' | 'skip';
  duplicates: DuplicatePolicy;
  columns?: string;
  delimiter?: string;
  header: boolean;
  encoding?: 'utf-8' | 'latin1';
  timestampUnit?: TimestampUnit;
}

/** Adds --format/--path and the load options to a command (`required: false` for commands that can do without a dataset). */
export function addDatasetOptions(command: Command, { required = true }: { required?: boolean } = {}): Command {
  const format = new Option('--format <format>', 'dataset layout').choices([...DATASET_FORMATS]);
  const datasetPath = new Option('--path <path>', 'dataset folder (or file, for amazon-reviews, myanimelist, interactions-csv)');
  return command
    .addOption(required ? format.makeOptionMandatory() : format)
    .addOption(required ? datasetPath.makeOptionMandatory() : datasetPath)
    .addOption(new Option('--on-error <policy>', "malformed rows: 'throw' stops with the file and line, 'skip' counts them").choices(['throw', 'skip']).default('throw'))
    .addOption(new Option('--duplicates <policy>', 'duplicate (user, item) rows').choices([...DUPLICATE_POLICIES]).default('keep-latest'))
    .option('--columns <mapping>', 'interactions-csv: user=<col>,item=<col>[,rating=<col>][,timestamp=<col>][,review=<col>] (header names or 0-based indices)')
    .option('--delimiter <char>', "interactions-csv: field delimiter (default ',', use '\\t' for tabs)")
    .option('--no-header', 'interactions-csv: the file has no header line')
    .addOption(new Option('--encoding <encoding>', 'interactions-csv, ml-1m movies: text encoding').choices(['utf-8', 'latin1']))
    .addOption(new Option('--timestamp-unit <unit>', 'interactions-csv: timestamp unit').choices(['s', 'ms', 'iso', 'auto']));
}

/** The dataset options, for commands that add them with required: false; throws unless --format and --path were given. */
export function requireDataset(options: Partial<DatasetCliOptions>, what: string): DatasetCliOptions {
  if (!options.format || !options.path) throw new SemrecError(`${what} needs the dataset: --format <format> --path <path>`, 'ERR_INVALID_ARG_VALUE');
  return { onError: 'throw', duplicates: 'keep-latest', header: true, ...options } as DatasetCliOptions;
}

/** Loads the dataset the options name, with a progress display on stderr and Ctrl-C cancellation. */
export async function loadDatasetFromCli(options: DatasetCliOptions, signal?: AbortSignal): Promise<InteractionStore> {
  const progress = createProgress();
  try {
    return await loadDataset({
      format: options.format,
      path: options.path,
      onError: options.onError,
      duplicates: options.duplicates,
      columns: options.columns !== undefined ? parseColumns(options.columns) : undefined,
      delimiter: options.delimiter === '\\t' ? '\t' : options.delimiter,
      header: options.header,
      encoding: options.encoding,
      timestampUnit: options.timestampUnit,
      onProgress: progress.onProgress,
      signal,
    });
  } finally {
    progress.stop();
  }
}

/** "user=userId,item=2" -> { user: 'userId', item: 2 }. */
export function parseColumns(text: string): InteractionColumns {
  const columns: Record<string, string | number> = {};
  for (const part of text.split(',')) {
    const m = /^\s*(user|item|rating|timestamp|review)\s*=\s*(.+?)\s*$/.exec(part);
    if (m === null) throw new SemrecError(`--columns: '${part}' is not role=column (roles: user, item, rating, timestamp, review)`, 'ERR_INVALID_ARG_VALUE');
    columns[m[1]] = /^\d+$/.test(m[2]) ? Number(m[2]) : m[2];
  }
  if (columns.user === undefined || columns.item === undefined) throw new SemrecError('--columns must map user and item', 'ERR_INVALID_ARG_VALUE');
  return columns as unknown as InteractionColumns;
}
