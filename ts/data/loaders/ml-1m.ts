/**
 * The MovieLens `::`-separated .dat layout of ML-1M (and ML-10M, which has no users.dat):
 * `ratings.dat` (UserID::MovieID::Rating::Timestamp), `movies.dat` (MovieID::Title::Genres, `|`-separated,
 * ISO-8859-1 in ML-1M), `users.dat` (UserID::Gender::Age::Occupation::Zip-code, with the age group and
 * occupation codes of the ML-1M README). No quoting: titles may contain quotes and single colons.
 */
import { InteractionBuilder, ItemTable, UserTable } from '../build';
import { expectFields, parseList, parseNumber, parseRating, parseTimestamp, requireId } from '../fields';
import { readDelimited, RowProblem } from '../io';
import { DenseIdMap, type InteractionStore } from '../store';
import { datasetFile, type LoaderContext, storeName } from './common';
import { MOVIELENS_NO_GENRES, MOVIELENS_RATING_RANGE, titleYear } from './movielens-csv';

/** ML-1M README, "Occupation is chosen from the following choices". */
export const ML1M_OCCUPATIONS = [
  'other or not specified', 'academic/educator', 'artist', 'clerical/admin', 'college/grad student', 'customer service',
  'doctor/health care', 'executive/managerial', 'farmer', 'homemaker', 'K-12 student', 'lawyer', 'programmer', 'retired',
  'sales/marketing', 'scientist', 'self-employed', 'technician/engineer', 'tradesman/craftsman', 'unemployed', 'writer',
] as const;
/** ML-1M README, "Age is chosen from the following ranges": code -> range. */
export const ML1M_AGE_GROUPS: Record<string, string> = { '1': 'Under 18', '18': '18-24', '25': '25-34', '35': '35-44', '45': '45-49', '50': '50-55', '56': '56+' };

const DAT = { delimiter: '::', quote: false as const, header: false };

export async function loadMl1m(context: LoaderContext): Promise<InteractionStore> {
  const { session } = context;
  const ratingsFile = datasetFile(context, 'ratings.dat', true);
  const moviesFile = datasetFile(context, 'movies.dat', true);
  const usersFile = datasetFile(context, 'users.dat', false);

  const itemIds = new DenseIdMap();
  const items = new ItemTable();
  items.declareNumeric('year');
  // ML-1M's movies.dat is ISO-8859-1 ("Misérables"); the caller may say 'utf-8' for later .dat releases.
  await readDelimited(moviesFile, { ...DAT, encoding: context.options.encoding ?? 'latin1', role: 'items' }, session, {
    onRow(fields) {
      expectFields(fields, 3, ['MovieID', 'Title', 'Genres']);
      const raw = requireId(fields, 0, 'MovieID');
      if (itemIds.index(raw) !== undefined) throw new RowProblem(`MovieID ${raw} is listed twice`, 'ERR_DATASET_INTEGRITY', 0, 'MovieID');
      const item = itemIds.intern(raw);
      items.setTitle(item, fields[1].trim());
      items.setNumeric('year', item, titleYear(fields[1]));
      items.addGenres(item, fields[2] === MOVIELENS_NO_GENRES ? [] : parseList(fields[2], '|'));
    },
  });
  itemIds.freeze();

  const userIds = new DenseIdMap();
  const users = new UserTable();
  if (usersFile) {
    const names = ['UserID', 'Gender', 'Age', 'Occupation', 'Zip-code'];
    await readDelimited(usersFile, { ...DAT, encoding: 'utf-8', role: 'users' }, session, {
      onRow(fields) {
        expectFields(fields, 5, names);
        const raw = requireId(fields, 0, 'UserID');
        if (userIds.index(raw) !== undefined) throw new RowProblem(`UserID ${raw} is listed twice`, 'ERR_DATASET_INTEGRITY', 0, 'UserID');
        if (fields[1] !== 'M' && fields[1] !== 'F') throw new RowProblem(`Gender '${fields[1]}' is not M or F`, 'ERR_DATASET_PARSE', 1, 'Gender');
        const ageGroup = ML1M_AGE_GROUPS[fields[2]];
        if (ageGroup === undefined) throw new RowProblem(`Age code '${fields[2]}' is not one of ${Object.keys(ML1M_AGE_GROUPS).join(', ')}`, 'ERR_DATASET_PARSE', 2, 'Age');
        const occupation = ML1M_OCCUPATIONS[parseNumber(fields[3], 3, 'Occupation')];
        if (occupation === undefined) throw new RowProblem(`Occupation code '${fields[3]}' is not 0..20`, 'ERR_DATASET_PARSE', 3, 'Occupation');
        const user = userIds.intern(raw);
        users.set('gender', user, fields[1]);
        users.set('age', user, Number(fields[2])); // the group's lower bound, as the README codes it
        users.set('ageGroup', user, ageGroup);
        users.set('occupation', user, occupation);
        users.set('zip', user, fields[4]);
      },
    });
    userIds.freeze();
  }

  const builder = new InteractionBuilder({ userIds, itemIds });
  const names = ['UserID', 'MovieID', 'Rating', 'Timestamp'];
  await readDelimited(ratingsFile, { ...DAT, encoding: 'utf-8', role: 'ratings' }, session, {
    onRow(fields) {
      expectFields(fields, 4, names);
      const userRaw = requireId(fields, 0, 'UserID');
      const movie = requireId(fields, 1, 'MovieID');
      const rating = parseRating(fields[2], 2, 'Rating', MOVIELENS_RATING_RANGE);
      const time = parseTimestamp(fields[3], 3, 'Timestamp', 's');
      const user = usersFile ? userIds.index(userRaw) : userIds.intern(userRaw);
      if (user === undefined) throw new RowProblem(`UserID ${userRaw} is not in users.dat`, 'ERR_DATASET_INTEGRITY', 0, 'UserID');
      const item = itemIds.index(movie);
      if (item === undefined) throw new RowProblem(`MovieID ${movie} is not in movies.dat`, 'ERR_DATASET_INTEGRITY', 1, 'MovieID');
      builder.add(user, item, rating, time);
    },
  });

  return builder.build({
    name: storeName(context, 'ml-1m'),
    duplicates: context.duplicates,
    items: items.finish(itemIds.size),
    users: users.finish(userIds.size),
    load: context.report,
    interactionFiles: ratingsFile.name,
  });
}
