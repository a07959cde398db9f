/**
 * MovieLens 100K (GroupLens): `u.data` (tab-separated user, item, rating 1-5, unix seconds), `u.item`
 * (`|`-separated, Latin-1: id, title, release date, video release date, IMDb URL, one 0/1 flag per genre),
 * `u.user` (id, age, gender, occupation, zip), `u.genre` (name|index), `u.occupation`, `u.info` (counts).
 * Users and items take dense indices in the order of u.user and u.item; every rating must name a listed
 * user and item, and u.data must have the number of ratings u.info declares.
 */
import { InteractionBuilder, ItemTable, UserTable } from '../build';
import { expectFields, parseNumber, parseRating, parseTimestamp, requireId } from '../fields';
import { DatasetError } from '../errors';
import { type DatasetFile, readBytes, readDelimited, RowProblem } from '../io';
import { DenseIdMap, type InteractionStore } from '../store';
import { datasetFile, type LoaderContext, storeName } from './common';

/** ml-100k's genres in flag order, as u.genre lists them (used when u.genre is absent). */
export const ML100K_GENRES = [
  'unknown', 'Action', 'Adventure', 'Animation', "Children's", 'Comedy', 'Crime', 'Documentary', 'Drama', 'Fantasy',
  'Film-Noir', 'Horror', 'Musical', 'Mystery', 'Romance', 'Sci-Fi', 'Thriller', 'War', 'Western',
] as const;

/** MovieLens ratings are whole stars 1..5. */
const RATING_RANGE = [1, 5] as const;
const MONTHS: Record<string, number> = { Jan: 0, Feb: 1, Mar: 2, Apr: 3, May: 4, Jun: 5, Jul: 6, Aug: 7, Sep: 8, Oct: 9, Nov: 10, Dec: 11 };

const PIPE = { delimiter: '|', quote: false as const, header: false };

export async function loadMl100k(context: LoaderContext): Promise<InteractionStore> {
  const { session } = context;
  const dataFile = datasetFile(context, 'u.data', true);
  const itemFile = datasetFile(context, 'u.item', true);
  const userFile = datasetFile(context, 'u.user', false);
  const genreFile = datasetFile(context, 'u.genre', false);
  const occupationFile = datasetFile(context, 'u.occupation', false);
  const infoFile = datasetFile(context, 'u.info', false);

  let genres: string[] = [...ML100K_GENRES];
  if (genreFile) {
    const listed: string[] = [];
    await readDelimited(genreFile, { ...PIPE, encoding: 'utf-8', role: 'genres' }, session, {
      onRow(fields) {
        expectFields(fields, 2, ['name', 'index']);
        const index = parseNumber(fields[1], 1, 'index');
        if (index !== listed.length) throw new RowProblem(`genre index ${index} is out of order (expected ${listed.length})`, 'ERR_DATASET_PARSE', 1, 'index');
        listed.push(fields[0]);
      },
    });
    genres = listed;
  }
  let occupations: Set<string> | undefined;
  if (occupationFile) {
    occupations = new Set();
    await readDelimited(occupationFile, { ...PIPE, encoding: 'utf-8', role: 'occupations' }, session, {
      onRow(fields) {
        expectFields(fields, 1, ['occupation']);
        occupations!.add(fields[0]);
      },
    });
  }

  const itemIds = new DenseIdMap();
  const items = new ItemTable();
  items.declareNumeric('year');
  items.declareNumeric('releaseTime');
  const itemFields = 5 + genres.length;
  // Latin-1: ml-100k titles such as "Misérables" are ISO-8859-1 bytes, not UTF-8.
  await readDelimited(itemFile, { ...PIPE, encoding: 'latin1', role: 'items' }, session, {
    onRow(fields) {
      expectFields(fields, itemFields, ['movie id', 'movie title', 'release date', 'video release date', 'IMDb URL', ...genres]);
      const raw = requireId(fields, 0, 'movie id');
      if (itemIds.index(raw) !== undefined) throw new RowProblem(`movie id ${raw} is listed twice`, 'ERR_DATASET_INTEGRITY', 0, 'movie id');
      const releaseTime = parseReleaseDate(fields[2]);
      const item = itemIds.intern(raw);
      items.setTitle(item, fields[1]);
      const list: string[] = [];
      for (let g = 0; g < genres.length; g++) {
        const flag = fields[5 + g];
        if (flag !== '0' && flag !== '1') throw new RowProblem(`genre flag '${flag}' is not 0 or 1`, 'ERR_DATASET_PARSE', 5 + g, genres[g]);
        if (flag === '1') list.push(genres[g]);
      }
      items.addGenres(item, list);
      items.setNumeric('releaseTime', item, releaseTime);
      items.setNumeric('year', item, Number.isNaN(releaseTime) ? NaN : new Date(releaseTime * 1000).getUTCFullYear());
    },
  });

  const userIds = new DenseIdMap();
  const users = new UserTable();
  if (userFile) {
    await readDelimited(userFile, { ...PIPE, encoding: 'utf-8', role: 'users' }, session, {
      onRow(fields) {
        expectFields(fields, 5, ['user id', 'age', 'gender', 'occupation', 'zip code']);
        const raw = requireId(fields, 0, 'user id');
        if (userIds.index(raw) !== undefined) throw new RowProblem(`user id ${raw} is listed twice`, 'ERR_DATASET_INTEGRITY', 0, 'user id');
        const age = parseNumber(fields[1], 1, 'age');
        if (fields[2] !== 'M' && fields[2] !== 'F') throw new RowProblem(`gender '${fields[2]}' is not M or F`, 'ERR_DATASET_PARSE', 2, 'gender');
        if (occupations && !occupations.has(fields[3])) {
          throw new RowProblem(`occupation '${fields[3]}' is not listed in u.occupation`, 'ERR_DATASET_INTEGRITY', 3, 'occupation');
        }
        const user = userIds.intern(raw);
        users.set('age', user, age);
        users.set('gender', user, fields[2]);
        users.set('occupation', user, fields[3]);
        users.set('zip', user, fields[4]);
      },
    });
    userIds.freeze();
  }
  itemIds.freeze();

  const builder = new InteractionBuilder({ userIds, itemIds });
  await readDelimited(dataFile, { delimiter: '\t', quote: false, header: false, encoding: 'utf-8', role: 'ratings' }, session, {
    onRow(fields) {
      expectFields(fields, 4, ['user id', 'item id', 'rating', 'timestamp']);
      const userRaw = requireId(fields, 0, 'user id');
      const itemRaw = requireId(fields, 1, 'item id');
      const rating = parseRating(fields[2], 2, 'rating', RATING_RANGE);
      const time = parseTimestamp(fields[3], 3, 'timestamp', 's');
      const user = userFile ? userIds.index(userRaw) : userIds.intern(userRaw);
      if (user === undefined) throw new RowProblem(`user ${userRaw} is not in u.user`, 'ERR_DATASET_INTEGRITY', 0, 'user id');
      const item = itemIds.index(itemRaw);
      if (item === undefined) throw new RowProblem(`item ${itemRaw} is not in u.item`, 'ERR_DATASET_INTEGRITY', 1, 'item id');
      builder.add(user, item, rating, time);
    },
  });

  if (infoFile) await checkDeclaredCounts(infoFile, { ratings: dataFile, users: userFile, items: itemFile }, { users: userIds.size, items: itemIds.size }, context);

  return builder.build({
    name: storeName(context, 'ml-100k'),
    duplicates: context.duplicates,
    items: items.finish(itemIds.size),
    users: users.finish(userIds.size),
    load: context.report,
    interactionFiles: dataFile.name,
  });
}

/** "01-Jan-1995" -> seconds (UTC midnight); NaN when empty (a few titles have no date). */
function parseReleaseDate(value: string): number {
  if (value === '') return NaN;
  const m = /^(\d{1,2})-([A-Z][a-z]{2})-(\d{4})$/.exec(value);
  if (m === null || MONTHS[m[2]] === undefined) throw new RowProblem(`release date '${value}' is not DD-Mon-YYYY`, 'ERR_DATASET_PARSE', 2, 'release date');
  return Date.UTC(Number(m[3]), MONTHS[m[2]], Number(m[1])) / 1000;
}

/**
 * u.info says "943 users / 1682 items / 100000 ratings": a file cut at a line boundary is caught here.
 * Rows skipped under onError 'skip' count as present.
 */
async function checkDeclaredCounts(
  infoFile: DatasetFile,
  files: { ratings: DatasetFile; users?: DatasetFile; items: DatasetFile },
  found: { users: number; items: number },
  context: LoaderContext,
): Promise<void> {
  let text = '';
  for await (const chunk of readBytes(infoFile, context.session)) text += chunk.toString('utf8');
  const rowsIn = (file: DatasetFile) => {
    const read = context.session.files.find((f) => f.file === file.name);
    return read ? read.rows + read.skipped : 0;
  };
  const checks: [string, number, string][] = [
    ['ratings', rowsIn(files.ratings), files.ratings.name],
    ['users', files.users ? rowsIn(files.users) : found.users, files.users?.name ?? files.ratings.name],
    ['items', rowsIn(files.items), files.items.name],
  ];
  const declared: string[] = [];
  // u.info is how a file cut at a line boundary is caught: one that declares no count would silently
  // disable that check, so it is an error (a note under onError 'skip').
  const missing = checks.map(([what]) => what).filter((what) => !new RegExp(`^\\s*\\d+\\s+${what}\\s*$`, 'm').test(text));
  if (missing.length > 0) {
    const why = `u.info does not declare the number of ${missing.join(', ')} (expected lines like '100000 ratings'), so truncation cannot be checked`;
    if (context.options.onError !== 'skip') throw new DatasetError(why, 'ERR_DATASET_PARSE', { file: infoFile.name });
    context.report.notes.push(why);
  }
  for (const [what, count, file] of checks) {
    const m = new RegExp(`^\\s*(\\d+)\\s+${what}\\s*$`, 'm').exec(text);
    if (m === null) continue;
    const expected = Number(m[1]);
    if (count !== expected) {
      throw new DatasetError(
        `${file} has ${count} ${what} but u.info declares ${expected}` + (count < expected ? ': the file is truncated' : ''),
        count < expected ? 'ERR_DATASET_TRUNCATED' : 'ERR_DATASET_INTEGRITY',
        { file },
      );
    }
    declared.push(`${expected} ${what}`);
  }
  context.report.notes.push(`counts match u.info (${declared.join(', ')})`);
}
