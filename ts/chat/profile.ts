/**
 * A user in words, for a prompt: demographics where the dataset has them (ml-100k: age, gender,
 * occupation), preference signals said plainly (favourite and least-liked genres, how the user rates, the
 * eras they watch), the items they loved and disliked most, then the history as titles with ratings and
 * dates, most recent first. The whole is held within a token budget counted with a real tokenizer; when
 * it does not fit, the oldest history lines go first, because recent behaviour and the strongest
 * likes and dislikes tell the most about what a user wants next.
 */
import { SemrecError } from '../errors';
import type { ChatCatalog } from './catalog';
import { tokenCounter, type TokenCounter } from './tokens';

/** One past interaction of the user. */
export interface HistoryEntry {
  itemIdx: number;
  /** On the dataset's scale (absent or NaN for implicit feedback). */
  rating?: number;
  /** Seconds since the epoch. */
  timestamp?: number;
}

export interface ProfileInput {
  catalog: ChatCatalog;
  history: readonly HistoryEntry[];
  /** User metadata fields, e.g. { age: 24, gender: 'M', occupation: 'technician' }. */
  demographics?: Record<string, string | number | undefined>;
  /** The dataset's rating scale, for "4/5" (default: 1 to the largest rating seen, at least 5). */
  ratingScale?: { min: number; max: number };
  /** The dataset's mean rating, so "rates generously" has a reference. */
  datasetMeanRating?: number;
}

/**
 * Default token budget of a profile. Chat-REC prompts had to fit gpt-3.5-turbo's 4,096-token window with
 * the candidates and the answer; 1,024 tokens hold the signals and about 40 history lines, leaving room
 * for 20 candidates (~400 tokens) and a 10-item answer with explanations (~500).
 */
export const DEFAULT_PROFILE_TOKENS = 1024;
/** Items listed as loved / disliked most. */
export const TELLING_ITEMS = 5;
/** Genres named as favourites. */
export const FAVOURITE_GENRES = 3;
/** A genre needs this many rated items before the profile calls it liked or avoided. */
export const MIN_GENRE_ITEMS = 3;
/** Mean-rating gap (stars) from the dataset mean beyond which a user "rates generously" or "harshly". */
export const RATING_TENDENCY_GAP = 0.3;

export interface Profile {
  text: string;
  /** Tokens of `text` by the counter used. */
  tokens: number;
  tokenizer: string;
  /** History lines shown (the most recent ones) and the user's whole history. */
  historyShown: number;
  historyTotal: number;
  /** What did not fit the budget, in the order it was left out. */
  leftOut: string[];
}

export interface ProfileOptions {
  tokenBudget?: number;
  counter?: TokenCounter;
}

function hasRating(e: HistoryEntry): e is HistoryEntry & { rating: number } {
  return e.rating !== undefined && Number.isFinite(e.rating);
}

function date(seconds: number | undefined): string | undefined {
  if (seconds === undefined || !Number.isFinite(seconds)) return undefined;
  return new Date(seconds * 1000).toISOString().slice(0, 10);
}

function stars(rating: number, scale: { max: number }): string {
  return `${Number.isInteger(rating) ? rating : rating.toFixed(1)}/${scale.max}`;
}

const GENDER_WORDS: Record<string, string> = { M: 'man', F: 'woman', m: 'man', f: 'woman', male: 'man', female: 'woman' };

/** "24-year-old man, technician" from ml-100k's fields; other fields as "key: value". */
export function describeDemographics(fields: Record<string, string | number | undefined> | undefined): string | undefined {
  if (!fields) return undefined;
  const parts: string[] = [];
  const age = fields.age;
  const gender = fields.gender !== undefined ? (GENDER_WORDS[String(fields.gender)] ?? String(fields.gender)) : undefined;
  if (age !== undefined && gender !== undefined) parts.push(`${age}-year-old ${gender}`);
  else if (age !== undefined) parts.push(`age ${age}`);
  else if (gender !== undefined) parts.push(gender);
  if (fields.occupation !== undefined && fields.occupation !== 'none' && fields.occupation !== 'other') parts.push(`works as ${String(fields.occupation)}`);
  for (const [key, value] of Object.entries(fields)) {
    if (['age', 'gender', 'occupation', 'zip', 'zipCode', 'zip code'].includes(key) || value === undefined || value === '') continue;
    parts.push(`${key}: ${value}`);
  }
  return parts.length > 0 ? parts.join(', ') : undefined;
}

function mean(values: number[]): number {
  return values.reduce((s, v) => s + v, 0) / values.length;
}

/** Preference signals in words: rating tendency, favourite and least-liked genres, eras. */
export function preferenceSignals(input: ProfileInput, scale: { min: number; max: number }): string[] {
  const { catalog, history } = input;
  const lines: string[] = [];
  const rated = history.filter(hasRating);
  if (rated.length > 0) {
    const m = mean(rated.map((e) => e.rating));
    let tendency = '';
    if (input.datasetMeanRating !== undefined && Number.isFinite(input.datasetMeanRating)) {
      const gap = m - input.datasetMeanRating;
      tendency = gap > RATING_TENDENCY_GAP ? ', rates generously' : gap < -RATING_TENDENCY_GAP ? ', rates harshly' : ', rates about as others do';
      tendency += ` (dataset mean ${input.datasetMeanRating.toFixed(1)})`;
    }
    lines.push(`Rated ${rated.length} items, mean ${m.toFixed(1)}/${scale.max}${tendency}.`);
  }
  const byGenre = new Map<string, { count: number; ratings: number[] }>();
  for (const e of history) {
    for (const g of catalog.genresOf(e.itemIdx)) {
      if (g === 'unknown') continue;
      const s = byGenre.get(g) ?? { count: 0, ratings: [] };
      s.count++;
      if (hasRating(e)) s.ratings.push(e.rating);
      byGenre.set(g, s);
    }
  }
  if (byGenre.size > 0 && history.length > 0) {
    const favourites = [...byGenre.entries()].sort((a, b) => b[1].count - a[1].count || a[0].localeCompare(b[0])).slice(0, FAVOURITE_GENRES);
    const words = favourites.map(([g, s]) => {
      const share = `${Math.round((100 * s.count) / history.length)}% of items`;
      return s.ratings.length > 0 ? `${g} (${share}, mean ${mean(s.ratings).toFixed(1)})` : `${g} (${share})`;
    });
    lines.push(`Most watched genres: ${words.join(', ')}.`);
    if (rated.length > 0) {
      const userMean = mean(rated.map((e) => e.rating));
      const rankedGenres = [...byGenre.entries()].filter(([, s]) => s.ratings.length >= MIN_GENRE_ITEMS).map(([g, s]) => ({ g, m: mean(s.ratings), n: s.ratings.length }));
      const liked = rankedGenres.filter((x) => x.m >= userMean + RATING_TENDENCY_GAP).sort((a, b) => b.m - a.m).slice(0, FAVOURITE_GENRES);
      const avoided = rankedGenres.filter((x) => x.m <= userMean - RATING_TENDENCY_GAP).sort((a, b) => a.m - b.m).slice(0, FAVOURITE_GENRES);
      if (liked.length > 0) lines.push(`Rates highest: ${liked.map((x) => `${x.g} (mean ${x.m.toFixed(1)} over ${x.n})`).join(', ')}.`);
      if (avoided.length > 0) lines.push(`Rates lowest: ${avoided.map((x) => `${x.g} (mean ${x.m.toFixed(1)} over ${x.n})`).join(', ')}.`);
    }
  }
  const decades = new Map<number, number>();
  let dated = 0;
  for (const e of history) {
    const y = catalog.year(e.itemIdx);
    if (y === undefined) continue;
    dated++;
    const d = Math.floor(y / 10) * 10;
    decades.set(d, (decades.get(d) ?? 0) + 1);
  }
  if (dated > 0) {
    const top = [...decades.entries()].sort((a, b) => b[1] - a[1] || b[0] - a[0]).slice(0, 2);
    lines.push(`Release years: ${top.map(([d, n]) => `${d}s (${Math.round((100 * n) / dated)}%)`).join(', ')}.`);
  }
  return lines;
}

function byRecency(a: HistoryEntry, b: HistoryEntry): number {
  const ta = a.timestamp ?? NaN;
  const tb = b.timestamp ?? NaN;
  if (Number.isNaN(ta) || Number.isNaN(tb)) return Number.isNaN(ta) ? (Number.isNaN(tb) ? 0 : 1) : -1;
  return tb - ta;
}

/** Builds the profile text within the token budget (see the file comment for what is left out first). */
export function buildProfile(input: ProfileInput, options: ProfileOptions = {}): Profile {
  const budget = options.tokenBudget ?? DEFAULT_PROFILE_TOKENS;
  if (!Number.isInteger(budget) || budget < 1) throw new SemrecError(`profile: tokenBudget must be a positive integer, got ${budget}`, 'ERR_OUT_OF_RANGE');
  const counter = options.counter ?? tokenCounter();
  const { catalog } = input;
  const rated = input.history.filter(hasRating);
  const scale = input.ratingScale ?? { min: 1, max: Math.max(5, ...rated.map((e) => Math.ceil(e.rating))) };
  // Most recent first; a stable sort keeps the given order among equal or missing times.
  const recent = [...input.history].sort(byRecency);

  const head: string[] = ['User profile'];
  const who = describeDemographics(input.demographics);
  if (who) head.push(`- Who: ${who}.`);
  const signals = preferenceSignals(input, scale).map((l) => `- ${l}`);
  const telling: string[] = [];
  if (rated.length > 0) {
    const loved = [...rated].filter((e) => e.rating >= scale.max - 0.5).sort((a, b) => b.rating - a.rating || byRecency(a, b)).slice(0, TELLING_ITEMS);
    const disliked = [...rated].filter((e) => e.rating <= scale.min + 1).sort((a, b) => a.rating - b.rating || byRecency(a, b)).slice(0, TELLING_ITEMS);
    if (loved.length > 0) telling.push(`- Loved most: ${loved.map((e) => `${catalog.label(e.itemIdx)} (${stars(e.rating, scale)})`).join('; ')}.`);
    if (disliked.length > 0) telling.push(`- Disliked most: ${disliked.map((e) => `${catalog.label(e.itemIdx)} (${stars(e.rating, scale)})`).join('; ')}.`);
  }
  const historyLines = recent.map((e) => {
    const parts = [date(e.timestamp), catalog.label(e.itemIdx), hasRating(e) ? `rated ${stars(e.rating, scale)}` : undefined].filter((p) => p !== undefined);
    return `- ${parts.join(' | ')}`;
  });

  const render = (sections: string[][], shown: number) => {
    const lines = sections.flat();
    if (recent.length > 0) {
      const note = shown < recent.length ? `; the ${shown} most recent of ${recent.length}, older ones left out` : '';
      lines.push(`History (most recent first${note}):`, ...historyLines.slice(0, shown));
    }
    return lines.join('\n');
  };
  const leftOut: string[] = [];
  // Drop what tells least first: signals and the loved/disliked lists only when even no history fits.
  const fixedParts: string[][] = [head, signals, telling];
  for (;;) {
    const minimal = render(fixedParts, 0);
    if (counter.count(minimal) <= budget) break;
    if (fixedParts.length > 1) {
      const dropped = fixedParts.pop()!;
      if (dropped.length > 0) leftOut.push(dropped === telling ? 'loved and disliked items' : 'preference signals');
      continue;
    }
    throw new SemrecError(
      `profile: a token budget of ${budget} cannot hold even the profile's heading and demographics (${counter.count(minimal)} tokens); raise it`,
      'ERR_OUT_OF_RANGE',
    );
  }
  // The most recent history lines that fit: binary search on the line count, each step counted exactly.
  let lo = 0;
  let hi = recent.length;
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (counter.count(render(fixedParts, mid)) <= budget) lo = mid;
    else hi = mid - 1;
  }
  if (lo < recent.length) leftOut.push(`${recent.length - lo} oldest history items`);
  const text = render(fixedParts, lo);
  return { text, tokens: counter.count(text), tokenizer: counter.name, historyShown: lo, historyTotal: recent.length, leftOut };
}
