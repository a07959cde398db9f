/**
 * Any delimited interactions file, with a column mapping given by the caller:
 * `loadDataset({ format: 'interactions-csv', path, columns: { user: 'user_id', item: 'item_id', rating:
 * 'stars', timestamp: 'ts' } })`. Columns are header names, or 0-based indices (required when the file has
 * no header). Rating, timestamp and review are optional (NaN / absent when not mapped).
 */
import { SemrecError } from '../../errors';
import { InteractionBuilder } from '../build';
import { DatasetError } from '../errors';
import { parseRating, parseTimestamp, requireId } from '../fields';
import { readDelimited, RowProblem } from '../io';
import type { InteractionColumns } from '../load';
import { emptyItemMetadata, type InteractionStore } from '../store';
import { type LoaderContext, listDatasetFiles, storeName } from './common';

const ROLES = ['user', 'item', 'rating', 'timestamp', 'review'] as const;
type Role = (typeof ROLES)[number];

export async function loadInteractionsCsv(context: LoaderContext): Promise<InteractionStore> {
  const { options } = context;
  const columns = checkColumns(options.columns);
  const header = options.header ?? true;
  if (!header) {
    for (const role of ROLES) {
      if (typeof columns[role] === 'string') {
        throw new SemrecError(`loadDataset: columns.${role} must be a 0-based index when header is false`, 'ERR_INVALID_ARG_VALUE');
      }
    }
  }
  const delimiter = options.delimiter ?? ',';
  if (typeof delimiter !== 'string' || delimiter === '') throw new SemrecError('loadDataset: delimiter must be a non-empty string', 'ERR_INVALID_ARG_VALUE');
  const files = listDatasetFiles(context, 0);
  if (files.length !== 1) {
    throw new DatasetError(`interactions-csv reads one file; the folder holds ${files.length} (pass the file itself)`, 'ERR_DATASET_FORMAT', { file: options.path });
  }
  const [file] = files;
  const unit = options.timestampUnit ?? 'auto';
  const range = options.ratingRange ?? [-Infinity, Infinity];
  const index: Partial<Record<Role, number>> = {};
  for (const role of ROLES) if (typeof columns[role] === 'number') index[role] = columns[role] as number;
  const names: Partial<Record<Role, string>> = {};
  const builder = new InteractionBuilder({ reviews: columns.review !== undefined });
  let width = 0;
  await readDelimited(file, { delimiter, quote: options.quote ?? '"', header, encoding: options.encoding ?? 'utf-8', role: 'interactions' }, context.session, {
    onHeader(fields) {
      width = fields.length;
      for (const role of ROLES) {
        const c = columns[role];
        if (typeof c === 'string') {
          const at = fields.findIndex((f) => f.trim() === c);
          if (at < 0) throw new RowProblem(`the header has no column '${c}' (columns.${role}); it has: ${fields.join(', ')}`, 'ERR_DATASET_FORMAT');
          index[role] = at;
        }
        if (index[role] !== undefined) names[role] = fields[index[role]!]?.trim() ?? role;
      }
    },
    onRow(fields) {
      if (width === 0) width = fields.length; // no header: the first row sets the width
      if (fields.length !== width) throw new RowProblem(`expected ${width} fields, found ${fields.length}`, 'ERR_DATASET_PARSE', Math.min(width, fields.length));
      for (const role of ROLES) {
        if (index[role] !== undefined && index[role]! >= fields.length) {
          throw new RowProblem(`columns.${role} is ${index[role]}, but rows have ${fields.length} fields`, 'ERR_DATASET_FORMAT');
        }
      }
      const field = (role: Role) => names[role] ?? role;
      const user = requireId(fields, index.user!, field('user'));
      const item = requireId(fields, index.item!, field('item'));
      const rating = index.rating !== undefined ? parseRating(fields[index.rating], index.rating, field('rating'), range) : NaN;
      const time = index.timestamp !== undefined ? parseTimestamp(fields[index.timestamp], index.timestamp, field('timestamp'), unit) : NaN;
      const review = index.review !== undefined ? fields[index.review] : undefined;
      builder.add(builder.userIds.intern(user), builder.itemIds.intern(item), rating, time, review === '' ? undefined : review);
    },
  });
  return builder.build({
    name: storeName(context, file.name.replace(/\.[^.]*$/, '')),
    duplicates: context.duplicates,
    items: emptyItemMetadata(builder.itemIds.size),
    users: { fields: {} },
    load: context.report,
    interactionFiles: file.name,
  });
}

function checkColumns(columns: InteractionColumns | undefined): InteractionColumns {
  if (typeof columns !== 'object' || columns === null) {
    throw new SemrecError("loadDataset: format 'interactions-csv' needs columns: { user, item, rating?, timestamp?, review? }", 'ERR_INVALID_ARG_TYPE');
  }
  for (const role of ROLES) {
    const c = columns[role];
    if (c === undefined && (role === 'user' || role === 'item')) throw new SemrecError(`loadDataset: columns.${role} is required`, 'ERR_INVALID_ARG_VALUE');
    if (c !== undefined && !(typeof c === 'string' ? c !== '' : Number.isInteger(c) && c >= 0)) {
      throw new SemrecError(`loadDataset: columns.${role} must be a header name or a 0-based index, got ${JSON.stringify(c)}`, 'ERR_INVALID_ARG_VALUE');
    }
  }
  return columns;
}
