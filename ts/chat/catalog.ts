/**
 * The items a conversation talks about: raw ids, titles, genres and years by dense item index, and the
 * title index that maps what an LLM wrote back to catalog items. LLMs rarely copy a title exactly: they
 * write "The Godfather" for MovieLens' "Godfather, The (1972)", drop or change the year, fix or introduce a
 * typo. Matching is exact on a normalised key first (case, accents, punctuation, a trailing article moved
 * back, alternative titles in parentheses, the year set aside), then fuzzy (normalised Levenshtein
 * similarity, fastest-levenshtein) but only where the numbers in both titles agree, so "Toy Story 2" never
 * becomes "Toy Story".
 */
import { distance } from 'fastest-levenshtein';

import type { IdMap, InteractionStore } from '../data/store';
import { SemrecError } from '../errors';

/** An item as a prompt and a user see it. */
export interface ChatItem {
  index: number;
  /** The dataset's raw item id. */
  id: string;
  /** The title as the dataset writes it (or "item <id>" when it has none). */
  title: string;
  genres: string[];
  /** Release year when known. */
  year?: number;
}

/**
 * Lowest normalised Levenshtein similarity (1 - distance / longer length) accepted as a fuzzy title
 * match. 0.85 accepts one typo in a 7-character title and two in a 14-character one ("Godfater" for
 * "Godfather": 0.89) while refusing different titles that share most letters ("Star Trek" vs "Star Wars":
 * 0.56); sequels are kept apart by the number rule, not by this threshold.
 */
export const FUZZY_TITLE_SIMILARITY = 0.85;

/** Articles a catalog moves to the end ("Godfather, The"; "Blechtrommel, Die"), in the languages of MovieLens titles. */
const TRAILING_ARTICLES = new Set(['the', 'a', 'an', 'les', 'la', 'le', 'l', 'il', 'el', 'das', 'der', 'die', 'los', 'las', 'un', 'une']);
/** Leading articles left out of the key, so "The Godfather" and "Godfather" agree (English only: "Die Hard" keeps "die"). */
const LEADING_ARTICLES = new Set(['the', 'a', 'an']);

const ROMAN = new Map([
  ['ii', '2'],
  ['iii', '3'],
  ['iv', '4'],
  ['v', '5'],
  ['vi', '6'],
  ['vii', '7'],
  ['viii', '8'],
]);

/** A title taken apart for matching. */
export interface TitleKey {
  /** Lower-case words without punctuation, accents or articles, e.g. "godfather". */
  key: string;
  /** Alternative titles given in parentheses, as keys ("Cité des enfants perdus, La" -> "cite des enfants perdus"). */
  aliases: string[];
  /** A four-digit year in parentheses, when the title carries one. */
  year?: number;
  /** The numbers in the title (digits and Roman numerals II-VIII), which a fuzzy match must share. */
  numbers: string;
}

function words(text: string): string[] {
  return text
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/&/g, ' and ')
    .replace(/['’`]/g, '')
    .split(/[^a-z0-9]+/)
    .filter((w) => w.length > 0);
}

function keyOf(text: string): string {
  let t = text.trim();
  const comma = /^(.*),\s*([A-Za-z']+)\s*$/.exec(t);
  if (comma && TRAILING_ARTICLES.has(words(comma[2]).join(''))) t = `${comma[2]} ${comma[1]}`;
  let parts = words(t);
  if (parts.length > 1 && LEADING_ARTICLES.has(parts[0])) parts = parts.slice(1);
  return parts.join(' ');
}

/** Splits "Godfather, The (1972)" / "City of Lost Children, The (Cité des enfants perdus, La) (1995)" for matching. */
export function titleKey(title: string): TitleKey {
  let rest = title.trim();
  let year: number | undefined;
  const aliases: string[] = [];
  // Peel parenthesised groups off the end: a year, then alternative titles.
  for (;;) {
    const m = /\(([^()]*)\)\s*$/.exec(rest);
    if (!m) break;
    const inner = m[1].trim();
    if (/^(1[89]|20)\d\d$/.test(inner) && year === undefined) year = Number(inner);
    else if (inner.length > 0 && !/^(a\.?k\.?a\.?)$/i.test(inner)) aliases.push(keyOf(inner.replace(/^a\.?k\.?a\.?\s+/i, '')));
    rest = rest.slice(0, m.index).trim();
  }
  const key = keyOf(rest);
  const numbers = key
    .split(' ')
    .map((w) => ROMAN.get(w) ?? (/^\d+$/.test(w) ? String(Number(w)) : ''))
    .filter((w) => w.length > 0)
    .join(' ');
  return { key, aliases: aliases.filter((a) => a.length > 0), year, numbers };
}

/** Normalised Levenshtein similarity in [0, 1]. */
export function titleSimilarity(a: string, b: string): number {
  const longer = Math.max(a.length, b.length);
  return longer === 0 ? 1 : 1 - distance(a, b) / longer;
}

export interface TitleMatch {
  itemIdx: number;
  /** 'exact' on the normalised key (or an alias), 'fuzzy' by similarity. */
  how: 'exact' | 'fuzzy';
  similarity: number;
}

export class ChatCatalog {
  private readonly keys: TitleKey[];
  /** Normalised key (and alias) -> items carrying it. */
  private readonly exact = new Map<string, number[]>();
  private readonly idLookup: (raw: string) => number | undefined;

  constructor(
    private readonly ids: readonly string[],
    private readonly titles: readonly (string | null | undefined)[],
    private readonly genreLists: readonly (readonly string[])[],
    private readonly years?: ArrayLike<number | null>,
    idMap?: IdMap,
  ) {
    if (titles.length !== ids.length || genreLists.length !== ids.length || (years && years.length !== ids.length)) {
      throw new SemrecError('ChatCatalog: ids, titles, genres and years must have one entry per item', 'ERR_INVALID_ARG_VALUE');
    }
    const byId = idMap ? undefined : new Map(ids.map((id, i) => [id, i] as const));
    this.idLookup = idMap ? (raw) => idMap.index(raw) : (raw) => byId!.get(raw);
    this.keys = ids.map((_, i) => titleKey(this.title(i)));
    this.keys.forEach((k, i) => {
      for (const key of [k.key, ...k.aliases]) {
        if (key.length === 0) continue;
        const list = this.exact.get(key);
        if (list) list.push(i);
        else this.exact.set(key, [i]);
      }
    });
  }

  /** The catalog of a dataset (or a split of it: splits share the item maps and metadata). */
  static fromStore(store: Pick<InteractionStore, 'numItems' | 'itemIds' | 'items'>): ChatCatalog {
    const ids = Array.from({ length: store.numItems }, (_, i) => store.itemIds.raw(i));
    const year = store.items.numeric.year;
    return new ChatCatalog(ids, store.items.title, store.items.genres, year, store.itemIds);
  }

  get numItems(): number {
    return this.ids.length;
  }

  /** Every genre the catalog uses, in first-seen order. */
  genres(): string[] {
    const seen = new Set<string>();
    for (const list of this.genreLists) for (const g of list) seen.add(g);
    return [...seen];
  }

  title(index: number): string {
    return this.titles[index] ?? `item ${this.ids[index]}`;
  }

  id(index: number): string {
    return this.ids[index];
  }

  /** The dense index of a raw item id. */
  indexOf(rawId: string): number | undefined {
    return this.idLookup(rawId);
  }

  item(index: number): ChatItem {
    if (!Number.isInteger(index) || index < 0 || index >= this.ids.length) {
      throw new SemrecError(`ChatCatalog: item index ${index} is outside [0, ${this.ids.length})`, 'ERR_OUT_OF_RANGE');
    }
    const year = this.year(index);
    return { index, id: this.ids[index], title: this.title(index), genres: [...this.genreLists[index]], ...(year !== undefined ? { year } : {}) };
  }

  genresOf(index: number): readonly string[] {
    return this.genreLists[index];
  }

  /** The year in the title, else the metadata year. */
  year(index: number): number | undefined {
    const fromTitle = this.keys[index].year;
    if (fromTitle !== undefined) return fromTitle;
    const y = this.years?.[index];
    return y !== null && y !== undefined && Number.isFinite(y) ? y : undefined;
  }

  /** The title with its year, as prompts list items ("Toy Story (1995)"). */
  label(index: number): string {
    const title = this.title(index);
    const year = this.years?.[index];
    if (this.keys[index].year === undefined && year !== null && year !== undefined && Number.isFinite(year)) return `${title} (${year})`;
    return title;
  }

  /**
   * The item a written title names. Exact key matches come first (among `prefer` — e.g. the candidates —
   * before the rest of the catalog; a year in the text picks between remakes); then the best fuzzy match
   * among `fuzzyPool` (candidates and history: a fuzzy search of a whole large catalog would cost more
   * than it tells). Undefined when nothing matches.
   */
  matchTitle(text: string, prefer: readonly number[] = [], fuzzyPool: readonly number[] = prefer): TitleMatch | undefined {
    const wanted = titleKey(text);
    if (wanted.key.length === 0) return undefined;
    const preferred = new Set(prefer);
    const exact = [...(this.exact.get(wanted.key) ?? [])];
    for (const alias of wanted.aliases) exact.push(...(this.exact.get(alias) ?? []));
    if (exact.length > 0) {
      const byYear = wanted.year === undefined ? exact : exact.filter((i) => this.year(i) === wanted.year);
      const pool = byYear.length > 0 ? byYear : exact;
      const pick = pool.find((i) => preferred.has(i)) ?? pool[0];
      return { itemIdx: pick, how: 'exact', similarity: 1 };
    }
    let best: TitleMatch | undefined;
    for (const i of fuzzyPool) {
      const k = this.keys[i];
      if (k.numbers !== wanted.numbers) continue;
      if (wanted.year !== undefined && k.year !== undefined && Math.abs(k.year - wanted.year) > 1) continue;
      for (const key of [k.key, ...k.aliases]) {
        const s = titleSimilarity(wanted.key, key);
        if (s >= FUZZY_TITLE_SIMILARITY && (best === undefined || s > best.similarity)) best = { itemIdx: i, how: 'fuzzy', similarity: s };
      }
    }
    return best;
  }
}
