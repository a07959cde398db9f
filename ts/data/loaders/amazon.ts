/**
 * Amazon product reviews (McAuley et al.), the 5-core JSON-lines files, plain or gzip: one review per line
 * with `reviewerID`, `asin`, `overall` (1-5 stars), `unixReviewTime` (or `reviewTime` "MM DD, YYYY"),
 * `reviewText` and `summary`. Both the 2014 and the 2018 releases use these keys.
 *
 * `path` is a review file or a folder. In a folder, `meta_*.json[.gz]` files are item metadata (title,
 * categories -> genres, description, brand, price) for the reviewed items; the 2014 metadata is written as
 * Python dict literals rather than JSON, which JSON5 reads. Every other `*.json[.gz]` / `*.jsonl` file is
 * a review file.
 */
import JSON5 from 'json5';

import { InteractionBuilder, ItemTable } from '../build';
import { DatasetError } from '../errors';
import { readJsonLines, RowProblem } from '../io';
import type { InteractionStore } from '../store';
import { type LoaderContext, listDatasetFiles, storeName } from './common';

/** Star ratings. */
const RATING_RANGE = [1, 5] as const;
const REVIEW_FILE = /\.(json|jsonl)(\.gz)?$/i;
const META_FILE = /(^|[\\/])meta_[^\\/]*\.(json|jsonl)(\.gz)?$/i;

interface Review {
  reviewerID?: unknown;
  asin?: unknown;
  overall?: unknown;
  unixReviewTime?: unknown;
  reviewTime?: unknown;
  reviewText?: unknown;
  summary?: unknown;
}

export async function loadAmazonReviews(context: LoaderContext): Promise<InteractionStore> {
  const files = listDatasetFiles(context, 1);
  const reviewFiles = files.filter((f) => REVIEW_FILE.test(f.name) && !META_FILE.test(f.name));
  const metaFiles = files.filter((f) => META_FILE.test(f.name));
  context.report.ignoredFiles.push(...files.filter((f) => !REVIEW_FILE.test(f.name)).map((f) => f.name));
  if (reviewFiles.length === 0) {
    throw new DatasetError('no review file (*.json, *.json.gz or *.jsonl) found', 'ERR_DATASET_NOT_FOUND', { file: context.options.path });
  }
  const builder = new InteractionBuilder({ reviews: true, summaries: true });
  for (const file of reviewFiles) {
    await readJsonLines(file, context.session, 'reviews', (value) => {
      const r = asObject(value) as Review;
      const user = requireString(r.reviewerID, 'reviewerID');
      const item = requireString(r.asin, 'asin');
      const rating = r.overall;
      if (typeof rating !== 'number' || !(rating >= RATING_RANGE[0] && rating <= RATING_RANGE[1])) {
        throw new RowProblem(`overall ${JSON.stringify(rating)} is not a rating ${RATING_RANGE[0]}..${RATING_RANGE[1]}`, 'ERR_DATASET_PARSE', undefined, 'overall');
      }
      builder.add(builder.userIds.intern(user), builder.itemIds.intern(item), rating, reviewTime(r), optionalString(r.reviewText, 'reviewText'), optionalString(r.summary, 'summary'));
    });
  }
  builder.itemIds.freeze();
  const items = new ItemTable();
  for (const file of metaFiles) {
    await readJsonLines(
      file,
      context.session,
      'item metadata',
      (value) => {
        const m = asObject(value);
        const item = builder.itemIds.index(requireString(m.asin, 'asin'));
        if (item === undefined) return; // metadata covers the whole category; only reviewed items are kept
        if (typeof m.title === 'string') items.setTitle(item, m.title.trim());
        items.addGenres(item, categories(m.categories ?? m.category));
        const description = Array.isArray(m.description) ? m.description.filter((d) => typeof d === 'string').join('\n') : m.description;
        if (typeof description === 'string') items.setText('description', item, description.trim());
        if (typeof m.brand === 'string') items.setText('brand', item, m.brand.trim());
        items.setNumeric('price', item, price(m.price));
      },
      (text) => {
        try {
          return JSON.parse(text);
        } catch {
          return JSON5.parse(text); // the 2014 metadata: Python dict literals
        }
      },
    );
  }
  return builder.build({
    name: storeName(context, defaultName(reviewFiles[0].name)),
    duplicates: context.duplicates,
    items: items.finish(builder.itemIds.size),
    users: { fields: {} },
    load: context.report,
    interactionFiles: reviewFiles.map((f) => f.name).join(', '),
  });
}

/** "reviews_Musical_Instruments_5.json.gz" -> "amazon-Musical_Instruments_5". */
function defaultName(file: string): string {
  const base = file.replace(/^.*[\\/]/, '').replace(/\.(json|jsonl)(\.gz)?$/i, '').replace(/^reviews_/, '');
  return `amazon-${base}`;
}

function asObject(value: unknown): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new RowProblem('the line is not a JSON object');
  return value as Record<string, unknown>;
}

function requireString(value: unknown, field: string): string {
  if (typeof value === 'string' && value !== '') return value;
  if (typeof value === 'number') return String(value);
  throw new RowProblem(value === undefined ? `missing ${field}` : `${field} ${JSON.stringify(value)} is not an id`, 'ERR_DATASET_PARSE', undefined, field);
}

function optionalString(value: unknown, field: string): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw new RowProblem(`${field} is not a string`, 'ERR_DATASET_PARSE', undefined, field);
  return value;
}

/** unixReviewTime (seconds), else reviewTime "MM DD, YYYY" (UTC midnight). */
function reviewTime(r: Review): number {
  if (typeof r.unixReviewTime === 'number' && Number.isFinite(r.unixReviewTime)) return r.unixReviewTime;
  if (r.unixReviewTime !== undefined) throw new RowProblem(`unixReviewTime ${JSON.stringify(r.unixReviewTime)} is not a number`, 'ERR_DATASET_PARSE', undefined, 'unixReviewTime');
  if (typeof r.reviewTime === 'string') {
    const m = /^(\d{1,2}) (\d{1,2}), (\d{4})$/.exec(r.reviewTime.trim());
    if (m) return Date.UTC(Number(m[3]), Number(m[1]) - 1, Number(m[2])) / 1000;
    throw new RowProblem(`reviewTime '${r.reviewTime}' is not "MM DD, YYYY"`, 'ERR_DATASET_PARSE', undefined, 'reviewTime');
  }
  throw new RowProblem('missing unixReviewTime', 'ERR_DATASET_PARSE', undefined, 'unixReviewTime');
}

/** 2014: [["Musical Instruments", "Guitars", ...], ...]; 2018: ["Musical Instruments", "Guitars", ...]. */
function categories(value: unknown): string[] {
  if (!Array.isArray(value)) return [];
  const flat = value.flat(2).filter((c): c is string => typeof c === 'string');
  return [...new Set(flat.map((c) => c.trim()).filter((c) => c !== ''))];
}

/** 2014: a number; 2018: "$12.99" (or text such as "$7.99 - $19.99", taken as the first amount). */
function price(value: unknown): number {
  if (typeof value === 'number') return value;
  if (typeof value === 'string') {
    const m = /\$?\s*([\d,]+(\.\d+)?)/.exec(value);
    if (m) return Number(m[1].replace(/,/g, ''));
  }
  return NaN;
}
