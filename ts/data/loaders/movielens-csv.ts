/**
 * The MovieLens CSV layout of ml-latest(-small), ml-20m, ml-25m and ml-32m (UTF-8, RFC 4180 quoting):
 * `ratings.csv` (userId,movieId,rating,timestamp; half stars 0.5-5), `movies.csv` (movieId,title,genres
 * with `|`-separated genres; titles may hold quoted commas), and, when present, `tags.csv`
 * (userId,movieId,tag,timestamp -> the item text field `tags`) and `links.csv` (movieId,imdbId,tmdbId).
 * Items take dense indices in movies.csv order; every rating must name a movie of movies.csv.
 */
import { InteractionBuilder, ItemTable } from '../build';
import { expectFields, headerIndex, parseList, parseNumber, parseRating, parseTimestamp, requireId } from '../fields';
import { type DatasetFile, readDelimited, RowProblem } from '../io';
import { DenseIdMap, type InteractionStore } from '../store';
import { datasetFile, type LoaderContext, storeName } from './common';

/** MovieLens ratings since ML-10M are half stars from 0.5 to 5. */
export const MOVIELENS_RATING_RANGE = [0.5, 5] as const;
/** The genres field of a movie without genres. */
export const MOVIELENS_NO_GENRES = '(no genres listed)';

const CSV = { delimiter: ',', quote: '"', header: true, encoding: 'utf-8' as const };

export async function loadMovielensCsv(context: LoaderContext): Promise<InteractionStore> {
  const { session } = context;
  const ratingsFile = datasetFile(context, 'ratings.csv', true);
  const moviesFile = datasetFile(context, 'movies.csv', true);
  const tagsFile = datasetFile(context, 'tags.csv', false);
  const linksFile = datasetFile(context, 'links.csv', false);

  const itemIds = new DenseIdMap();
  const items = new ItemTable();
  items.declareNumeric('year');
  await readMovies(moviesFile, context, itemIds, items);
  itemIds.freeze();

  const builder = new InteractionBuilder({ itemIds });
  const RATING_HEADER = ['userId', 'movieId', 'rating', 'timestamp'] as const;
  await readDelimited(ratingsFile, { ...CSV, role: 'ratings' }, session, {
    onHeader: (header) => expectHeader(header, RATING_HEADER),
    onRow(fields) {
      expectFields(fields, 4, RATING_HEADER);
      const user = requireId(fields, 0, 'userId');
      const movie = requireId(fields, 1, 'movieId');
      const rating = parseRating(fields[2], 2, 'rating', MOVIELENS_RATING_RANGE);
      const time = parseTimestamp(fields[3], 3, 'timestamp', 's');
      const item = itemIds.index(movie);
      if (item === undefined) throw new RowProblem(`movieId ${movie} is not in movies.csv`, 'ERR_DATASET_INTEGRITY', 1, 'movieId');
      builder.add(builder.userIds.intern(user), item, rating, time);
    },
  });

  if (tagsFile) await readTags(tagsFile, context, itemIds, items);
  if (linksFile) await readLinks(linksFile, context, itemIds, items);

  return builder.build({
    name: storeName(context, 'movielens'),
    duplicates: context.duplicates,
    items: items.finish(itemIds.size),
    users: { fields: {} },
    load: context.report,
    interactionFiles: ratingsFile.name,
  });
}

/** The header must be exactly these columns (MovieLens files never vary it). */
export function expectHeader(header: string[], expected: readonly string[]): void {
  if (header.length !== expected.length || header.some((h, i) => h.trim() !== expected[i])) {
    throw new RowProblem(`the header is '${header.join(',')}', expected '${expected.join(',')}'`, 'ERR_DATASET_FORMAT');
  }
}

/** "Toy Story (1995)" -> 1995; NaN when the title has no year. */
export function titleYear(title: string): number {
  const m = /\((\d{4})(?:[-–]\d{0,4})?\)\s*$/.exec(title);
  return m ? Number(m[1]) : NaN;
}

async function readMovies(file: DatasetFile, context: LoaderContext, itemIds: DenseIdMap, items: ItemTable): Promise<void> {
  const MOVIE_HEADER = ['movieId', 'title', 'genres'] as const;
  await readDelimited(file, { ...CSV, role: 'items' }, context.session, {
    onHeader: (header) => expectHeader(header, MOVIE_HEADER),
    onRow(fields) {
      expectFields(fields, 3, MOVIE_HEADER);
      const raw = requireId(fields, 0, 'movieId');
      if (itemIds.index(raw) !== undefined) throw new RowProblem(`movieId ${raw} is listed twice`, 'ERR_DATASET_INTEGRITY', 0, 'movieId');
      const item = itemIds.intern(raw);
      const title = fields[1].trim();
      items.setTitle(item, title);
      items.setNumeric('year', item, titleYear(title));
      items.addGenres(item, fields[2] === MOVIELENS_NO_GENRES ? [] : parseList(fields[2], '|'));
    },
  });
}

/** Tags become one free-text field per movie: distinct tags (case-insensitively) in order of first use. */
async function readTags(file: DatasetFile, context: LoaderContext, itemIds: DenseIdMap, items: ItemTable): Promise<void> {
  const TAG_HEADER = ['userId', 'movieId', 'tag', 'timestamp'] as const;
  const tags = new Map<number, Map<string, string>>();
  await readDelimited(file, { ...CSV, role: 'tags' }, context.session, {
    onHeader: (header) => expectHeader(header, TAG_HEADER),
    onRow(fields) {
      expectFields(fields, 4, TAG_HEADER);
      const movie = requireId(fields, 1, 'movieId');
      parseTimestamp(fields[3], 3, 'timestamp', 's');
      const item = itemIds.index(movie);
      if (item === undefined) throw new RowProblem(`movieId ${movie} is not in movies.csv`, 'ERR_DATASET_INTEGRITY', 1, 'movieId');
      const tag = fields[2].trim();
      if (tag === '') return;
      let list = tags.get(item);
      if (list === undefined) tags.set(item, (list = new Map()));
      if (!list.has(tag.toLowerCase())) list.set(tag.toLowerCase(), tag);
    },
  });
  items.declareText('tags');
  for (const [item, list] of tags) items.setText('tags', item, [...list.values()].join(', '));
}

async function readLinks(file: DatasetFile, context: LoaderContext, itemIds: DenseIdMap, items: ItemTable): Promise<void> {
  await readDelimited(file, { ...CSV, role: 'links' }, context.session, {
    onHeader: (header) => void headerIndex(header, ['movieId', 'imdbId', 'tmdbId']),
    onRow(fields) {
      expectFields(fields, 3, ['movieId', 'imdbId', 'tmdbId']);
      const item = itemIds.index(requireId(fields, 0, 'movieId'));
      if (item === undefined) return; // links.csv may list movies outside this release's movies.csv
      items.setNumeric('imdbId', item, parseNumber(fields[1], 1, 'imdbId', true));
      items.setNumeric('tmdbId', item, parseNumber(fields[2], 2, 'tmdbId', true));
    },
  });
}
