/**
 * Explanations without an LLM: deterministic sentences built from the engine's own signals, so every
 * recommended item says why even when no endpoint is configured, the endpoint failed, or the LLM gave no
 * reason. The signals are the history items most similar to the recommended one (by the model's own
 * explain() where it has one — LLM-Rec's history items and signals, or a factor model's item similarity —
 * else by co-occurrence in the training data: how many users who have one also have the other, cosine
 * normalised), the genres it shares with the user's favourites, and its place in the base ranking.
 */
import type { Csr } from '../kernels/types';
import type { ChatCatalog } from './catalog';
import type { HistoryEntry } from './profile';

export interface SimilarItem {
  itemIdx: number;
  /** The source's similarity (cosine for co-occurrence; the model's own scale otherwise). */
  similarity: number;
}

/** Where the "because you liked X" part of an explanation comes from. */
export interface SignalSource {
  /** How to read the similarity, for reports ("co-occurrence cosine over training users"). */
  readonly method: string;
  /** History items most similar to `itemIdx`, most similar first, at most `n`, similarity > 0 only. */
  similarInHistory(userIdx: number, history: readonly number[], itemIdx: number, n: number): Promise<SimilarItem[]>;
}

/** Item-item cosine over the users who have each item: |U_i ∩ U_j| / sqrt(|U_i| |U_j|). */
export class CooccurrenceSignals implements SignalSource {
  readonly method = 'co-occurrence cosine over training users';

  /** `byItem`: each item's users, sorted ascending (e.g. transposeCsr of userItems(train)). */
  constructor(private readonly byItem: Csr) {}

  similarity(a: number, b: number): number {
    const { indptr, indices } = this.byItem;
    let i = indptr[a];
    let j = indptr[b];
    const endI = indptr[a + 1];
    const endJ = indptr[b + 1];
    const na = endI - i;
    const nb = endJ - j;
    if (na === 0 || nb === 0) return 0;
    let common = 0;
    while (i < endI && j < endJ) {
      if (indices[i] === indices[j]) {
        common++;
        i++;
        j++;
      } else if (indices[i] < indices[j]) i++;
      else j++;
    }
    return common / Math.sqrt(na * nb);
  }

  async similarInHistory(_userIdx: number, history: readonly number[], itemIdx: number, n: number): Promise<SimilarItem[]> {
    return history
      .filter((h) => h !== itemIdx)
      .map((h) => ({ itemIdx: h, similarity: this.similarity(itemIdx, h) }))
      .filter((s) => s.similarity > 0)
      .sort((a, b) => b.similarity - a.similarity || a.itemIdx - b.itemIdx)
      .slice(0, n);
  }
}

/** What a model's explain() returns (the shape of the Recommender contract's optional hook). */
export interface ModelExplanation {
  because: { itemIdx: number; similarity: number; share?: number }[];
  method: string;
}

export interface ExplainingModel {
  explain(userIdx: number, itemIdx: number): Promise<ModelExplanation>;
}

export function hasExplain(model: unknown): model is ExplainingModel {
  return typeof (model as Partial<ExplainingModel>)?.explain === 'function';
}

/** The model's own explain() as a signal source (its "because" items are history items by construction). */
export class ModelSignals implements SignalSource {
  method: string;

  constructor(private readonly model: ExplainingModel, modelName: string) {
    this.method = `${modelName}.explain`;
  }

  async similarInHistory(userIdx: number, history: readonly number[], itemIdx: number, n: number): Promise<SimilarItem[]> {
    const e = await this.model.explain(userIdx, itemIdx);
    const inHistory = new Set(history);
    this.method = e.method;
    return e.because
      .filter((b) => inHistory.has(b.itemIdx) && b.similarity > 0)
      .slice(0, n)
      .map((b) => ({ itemIdx: b.itemIdx, similarity: b.similarity }));
  }
}

/** History items named in one explanation. */
export const EXPLAIN_HISTORY_ITEMS = 2;

export interface ExplainInput {
  catalog: ChatCatalog;
  itemIdx: number;
  similar: readonly SimilarItem[];
  /** The user's history, for the ratings of the similar items. */
  history: readonly HistoryEntry[];
  /** The user's most watched genres, most first. */
  favouriteGenres: readonly string[];
  /** 1-based place in the base ranking, of `of` candidates. */
  baseRank?: number;
  of?: number;
  modelName: string;
  /** The signal source's method (SignalSource.method), which decides how the similar items are described. */
  signalMethod: string;
}

function ordinal(n: number): string {
  const s = n % 100 >= 11 && n % 100 <= 13 ? 'th' : (['th', 'st', 'nd', 'rd'][n % 10] ?? 'th');
  return `${n}${s}`;
}

/** "Because you rated Star Wars (1977) 5/5 and ...; shares Sci-Fi, Action with your favourite genres; bpr ranked it 2nd of 20." */
export function explainFromSignals(input: ExplainInput): string {
  const { catalog } = input;
  const rating = new Map(input.history.filter((h) => h.rating !== undefined && Number.isFinite(h.rating)).map((h) => [h.itemIdx, h.rating!] as const));
  const parts: string[] = [];
  if (input.similar.length > 0) {
    const named = input.similar.map((s) => {
      const r = rating.get(s.itemIdx);
      return r !== undefined ? `${catalog.label(s.itemIdx)} (you rated it ${r})` : catalog.label(s.itemIdx);
    });
    const why = input.signalMethod.startsWith('co-occurrence') ? 'which people who watched this also watched' : `the closest items in your history (${input.signalMethod})`;
    parts.push(`Because you watched ${named.join(' and ')}, ${why}`);
  }
  const genres = catalog.genresOf(input.itemIdx).filter((g) => input.favouriteGenres.includes(g));
  if (genres.length > 0) parts.push(`it is ${genres.join(', ')}, among your most watched genres`);
  if (input.baseRank !== undefined) parts.push(`${input.modelName} ranked it ${ordinal(input.baseRank)}${input.of !== undefined ? ` of ${input.of}` : ''} for you`);
  if (parts.length === 0) return `${input.modelName} recommends it from what users with a history like yours watched.`;
  const sentence = parts.join('; ');
  return `${sentence.charAt(0).toUpperCase()}${sentence.slice(1)}.`;
}
