/**
 * MyAnimeList, from the public dumps' CSV files, joined into one store. `path` is a file or a folder;
 * every *.csv under it (two levels down) is recognised by its header, not its name:
 *
 * | header starts with / holds                       | source                                  | gives            |
 * |--------------------------------------------------|-----------------------------------------|------------------|
 * | anime_id,name,genre,type,episodes,rating,members | CooperUnion `anime.csv`                 | item catalog     |
 * | id,title,...,synopsis,...,genres                 | `anime_data.csv` (reviews dump)         | item catalog     |
 * | uid,title,synopsis,genre,aired,episodes,...      | `animes.csv` ("Anime Dataset with Reviews") | item catalog |
 * | user_id,anime_id,rating                          | CooperUnion `rating.csv` (-1 = watched, not rated) | ratings |
 * | uid,profile,anime_uid,text,score,...             | `reviews.csv` ("Anime Dataset with Reviews") | reviews     |
 * | anime_id,user_username,score,review              | `anime_reviews.csv`                     | reviews          |
 * | profile,gender,birthday,...                      | `profiles.csv`                          | user metadata    |
 *
 * Items are MyAnimeList anime ids in every file, so catalogs and interactions join on them; catalog items
 * come first (in file order) and stay in the store even when nobody rated them (`compact` drops them).
 * Users are the files' own ids: numeric ids in rating.csv, usernames in the review files. Scores are 1-10.
 * Neither dump has interaction times, so timestamps are NaN (use ratioSplit).
 */
import { InteractionBuilder, ItemTable, UserTable } from '../build';
import { DatasetError } from '../errors';
import { headerIndex, parseList, parseNumber, parseRating, requireId } from '../fields';
import { type DatasetFile, readDelimited, readFirstRecord, RowProblem } from '../io';
import type { InteractionStore } from '../store';
import { type LoaderContext, listDatasetFiles, storeName } from './common';

/** MyAnimeList scores are 1..10. */
const SCORE_RANGE = [1, 10] as const;
const CSV = { delimiter: ',', quote: '"', header: true, encoding: 'utf-8' as const };

type Schema = 'cooperunion-anime' | 'anime-data' | 'animes' | 'cooperunion-rating' | 'reviews-profile' | 'reviews-username' | 'profiles';
const CATALOGS: Schema[] = ['cooperunion-anime', 'anime-data', 'animes'];
const INTERACTIONS: Schema[] = ['cooperunion-rating', 'reviews-profile', 'reviews-username'];

/** Which schema a header is, by the columns it holds. */
function classify(header: string[]): Schema | undefined {
  const has = (...columns: string[]) => columns.every((c) => header.includes(c));
  if (has('anime_id', 'name', 'genre', 'episodes', 'members')) return 'cooperunion-anime';
  if (has('id', 'title', 'synopsis', 'genres')) return 'anime-data';
  if (has('uid', 'title', 'synopsis', 'genre')) return 'animes';
  if (has('user_id', 'anime_id', 'rating')) return 'cooperunion-rating';
  if (has('profile', 'anime_uid', 'text', 'score')) return 'reviews-profile';
  if (has('anime_id', 'user_username', 'score', 'review')) return 'reviews-username';
  if (has('profile', 'gender', 'birthday')) return 'profiles';
  return undefined;
}

export async function loadMyAnimeList(context: LoaderContext): Promise<InteractionStore> {
  const { session } = context;
  const found = new Map<Schema, DatasetFile[]>();
  for (const file of listDatasetFiles(context, 2)) {
    const header = /\.csv$/i.test(file.name) ? await readFirstRecord(file, CSV, session) : undefined;
    const schema = header ? classify(header.map((h) => h.trim())) : undefined;
    if (schema === undefined) context.report.ignoredFiles.push(file.name);
    else found.set(schema, [...(found.get(schema) ?? []), file]);
  }
  const filesOf = (schemas: Schema[]) => schemas.flatMap((s) => (found.get(s) ?? []).map((file) => ({ schema: s, file })));
  const interactionFiles = filesOf(INTERACTIONS);
  if (interactionFiles.length === 0) {
    throw new DatasetError(
      'no MyAnimeList ratings or reviews file found (rating.csv, reviews.csv or anime_reviews.csv, recognised by header)' +
        (filesOf(CATALOGS).length > 0 ? '; anime catalogs alone have no interactions' : ''),
      'ERR_DATASET_NOT_FOUND',
      { file: context.options.path },
    );
  }
  if (found.has('cooperunion-rating') && (found.has('reviews-profile') || found.has('reviews-username'))) {
    context.report.notes.push('rating.csv names users by numeric id, the review files by username: one person may appear as two users');
  }

  const builder = new InteractionBuilder({ reviews: interactionFiles.some((f) => f.schema !== 'cooperunion-rating') });
  const items = new ItemTable();
  for (const { schema, file } of filesOf(CATALOGS)) await readCatalog(schema, file, context, builder, items);
  const users = new UserTable();
  for (const { file } of filesOf(['profiles'])) await readProfiles(file, context, builder, users);
  for (const { schema, file } of interactionFiles) await readInteractions(schema, file, context, builder);

  return builder.build({
    name: storeName(context, 'myanimelist'),
    duplicates: context.duplicates,
    items: items.finish(builder.itemIds.size),
    users: users.finish(builder.userIds.size),
    load: context.report,
    interactionFiles: interactionFiles.map((f) => f.file.name).join(', '),
  });
}

async function readCatalog(schema: Schema, file: DatasetFile, context: LoaderContext, builder: InteractionBuilder, items: ItemTable): Promise<void> {
  let col: Record<string, number> = {};
  const get = (fields: string[], name: string) => (col[name] >= 0 ? fields[col[name]] : undefined);
  const num = (fields: string[], name: string) => (col[name] >= 0 ? parseNumber(cleanNumber(fields[col[name]]), col[name], name, true) : NaN);
  const required = schema === 'cooperunion-anime' ? ['anime_id', 'name'] : schema === 'anime-data' ? ['id', 'title'] : ['uid', 'title'];
  const optional = [
    'genre', 'genres', 'type', 'episodes', 'rating', 'score', 'members', 'synopsis', 'english_title', 'themes',
    'studios', 'year', 'aired', 'popularity', 'rank', 'ranked', 'favorites', 'duration', 'scored_by',
  ];
  await readDelimited(file, { ...CSV, role: 'items' }, context.session, {
    onHeader(header) {
      col = headerIndex(header, required, optional);
    },
    onRow(fields) {
      const id = animeId(fields, col[required[0]], required[0]);
      const item = builder.itemIds.intern(id);
      items.setTitle(item, decodeEntities(requireTitle(fields, col[required[1]], required[1])));
      items.addGenres(item, parseList(get(fields, schema === 'anime-data' ? 'genres' : 'genre'), ',').map(decodeEntities));
      items.setText('type', item, get(fields, 'type'));
      items.setText('synopsis', item, get(fields, 'synopsis'));
      items.setText('englishTitle', item, get(fields, 'english_title'));
      const themes = parseList(get(fields, 'themes'), ',');
      if (themes.length > 0) items.setText('themes', item, themes.join(', '));
      const studios = parseList(get(fields, 'studios'), ',');
      if (studios.length > 0) items.setText('studios', item, studios.join(', '));
      items.setNumeric('episodes', item, num(fields, 'episodes'));
      items.setNumeric('members', item, num(fields, 'members'));
      items.setNumeric('score', item, schema === 'cooperunion-anime' ? num(fields, 'rating') : num(fields, 'score'));
      items.setNumeric('popularity', item, num(fields, 'popularity'));
      items.setNumeric('rank', item, col.rank >= 0 ? num(fields, 'rank') : num(fields, 'ranked'));
      items.setNumeric('durationMin', item, durationMinutes(get(fields, 'duration')));
      const year = col.year >= 0 ? num(fields, 'year') : yearOf(get(fields, 'aired'));
      items.setNumeric('year', item, year);
    },
  });
}

async function readProfiles(file: DatasetFile, context: LoaderContext, builder: InteractionBuilder, users: UserTable): Promise<void> {
  let col: Record<string, number> = {};
  await readDelimited(file, { ...CSV, role: 'users' }, context.session, {
    onHeader(header) {
      col = headerIndex(header, ['profile', 'gender', 'birthday']);
    },
    onRow(fields) {
      const user = builder.userIds.intern(requireId(fields, col.profile, 'profile'));
      users.set('gender', user, fields[col.gender]?.trim());
      users.set('birthday', user, fields[col.birthday]?.trim());
      users.set('birthYear', user, yearOf(fields[col.birthday]));
    },
  });
}

async function readInteractions(schema: Schema, file: DatasetFile, context: LoaderContext, builder: InteractionBuilder): Promise<void> {
  let col: Record<string, number> = {};
  const [userCol, itemCol, scoreCol, textCol] =
    schema === 'cooperunion-rating'
      ? ['user_id', 'anime_id', 'rating', undefined]
      : schema === 'reviews-profile'
        ? ['profile', 'anime_uid', 'score', 'text']
        : ['user_username', 'anime_id', 'score', 'review'];
  await readDelimited(file, { ...CSV, role: textCol ? 'reviews' : 'ratings' }, context.session, {
    onHeader(header) {
      col = headerIndex(header, [userCol, itemCol, scoreCol, ...(textCol ? [textCol] : [])]);
    },
    onRow(fields) {
      if (fields.length < Object.keys(col).length) {
        throw new RowProblem(`expected at least ${Object.keys(col).length} fields, found ${fields.length}`, 'ERR_DATASET_PARSE', fields.length);
      }
      const user = requireId(fields, col[userCol], userCol);
      const item = animeId(fields, col[itemCol], itemCol);
      const raw = fields[col[scoreCol]];
      // rating.csv: -1 means watched but not rated; review files: an empty score means the same.
      const score = schema === 'cooperunion-rating' && raw.trim() === '-1' ? NaN : parseRating(raw, col[scoreCol], scoreCol, SCORE_RANGE, schema !== 'cooperunion-rating');
      const text = textCol ? cleanReview(fields[col[textCol]]) : undefined;
      builder.add(builder.userIds.intern(user), builder.itemIds.intern(item), score, NaN, text);
    },
  });
}

/** Anime ids are integers; some dumps write them as floats ("16498.0"). */
function animeId(fields: string[], index: number, name: string): string {
  const raw = requireId(fields, index, name).trim();
  const m = /^(\d+)(?:\.0+)?$/.exec(raw);
  if (m === null) throw new RowProblem(`${name} '${raw}' is not an anime id`, 'ERR_DATASET_PARSE', index, name);
  return m[1];
}

function requireTitle(fields: string[], index: number, name: string): string {
  return requireId(fields, index, name).trim();
}

/** "Unknown" and "" are missing numbers in these dumps. */
function cleanNumber(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const v = value.trim();
  return v === 'Unknown' || v === 'nan' || v === 'NaN' ? '' : v;
}

/** "24 min per ep" -> 24, "1 hr 55 min" -> 115, "Unknown" -> NaN. */
export function durationMinutes(value: string | undefined): number {
  if (value === undefined) return NaN;
  const hours = /(\d+)\s*hr/.exec(value);
  const minutes = /(\d+)\s*min/.exec(value);
  const seconds = /(\d+)\s*sec/.exec(value);
  if (!hours && !minutes && !seconds) return NaN;
  return (hours ? Number(hours[1]) * 60 : 0) + (minutes ? Number(minutes[1]) : 0) + (seconds ? Number(seconds[1]) / 60 : 0);
}

/** The first four-digit year in a text such as "Apr 6, 2013 to Sep 28, 2013"; NaN if none. */
function yearOf(value: string | undefined): number {
  const m = value ? /\b(1[89]\d\d|20\d\d)\b/.exec(value) : null;
  return m ? Number(m[1]) : NaN;
}

/** CooperUnion names hold HTML entities ("Gintama&#039;"). */
export function decodeEntities(text: string): string {
  return text.replace(/&(#x[0-9a-f]+|#\d+|quot|amp|lt|gt|apos);/gi, (entity, body: string) => {
    const lower = body.toLowerCase();
    if (lower.startsWith('#x')) return String.fromCodePoint(parseInt(lower.slice(2), 16));
    if (lower.startsWith('#')) return String.fromCodePoint(Number(lower.slice(1)));
    return ({ quot: '"', amp: '&', lt: '<', gt: '>', apos: "'" } as Record<string, string>)[lower] ?? entity;
  });
}

/**
 * Review pages scraped into "Anime Dataset with Reviews" start with the page furniture ("more pics",
 * "Overall 9 Story 8 ...") and end with "Helpful"; the review itself is what lies between.
 */
export function cleanReview(text: string | undefined): string | undefined {
  if (text === undefined) return undefined;
  const cleaned = text
    .replace(/^\s*more pics\s+Overall\s+\d+(?:\s+(?:Story|Animation|Sound|Character|Enjoyment)\s+\d+)*\s*/, '')
    .replace(/\s*Helpful\s*$/, '')
    .trim();
  return cleaned === '' ? undefined : cleaned;
}
