/**
 * Text templates: what the encoder reads for each item (title, genres, synopsis or description, tags,
 * a few review snippets), each review, and each user's profile. One preset per dataset format; every
 * template is plain data, so callers can change or build their own.
 *
 * Review snippets come from the store passed in: give the training split when evaluating, so item text
 * never contains held-out reviews.
 */
import type { DatasetFormat } from '../data/load';
import type { InteractionStore } from '../data/store';
import { SemrecError } from '../errors';

/** Review snippets per item (LLM-Rec enriches item text with a few reviews; 3 keeps it within budget). */
export const REVIEW_SNIPPETS = 3;
/** Characters per snippet: 3 x 200 characters of reviews stay well inside the 256-token item budget. */
export const SNIPPET_CHARS = 200;
/** Characters kept of a long free-text field (synopsis, description). */
export const TEXT_FIELD_CHARS = 600;

export type ItemTextPart =
  | { kind: 'title'; label?: string }
  | { kind: 'genres'; label?: string; max?: number }
  /** A free-text field of `store.items.text`, e.g. 'synopsis', 'description', 'tags', 'brand'. */
  | { kind: 'text'; field: string; label?: string; maxChars?: number }
  /** A numeric field of `store.items.numeric`, e.g. 'year', 'episodes' (integers print without decimals). */
  | { kind: 'numeric'; field: string; label?: string }
  /** The item's `count` most recent reviews in the store (summary first when there is one), each cut to `maxChars`. */
  | { kind: 'reviews'; label?: string; count: number; maxChars: number };

export interface ItemTextTemplate {
  parts: ItemTextPart[];
}

export interface ReviewTextTemplate {
  /** Put the review's summary (its title, on Amazon) before the text. */
  includeSummary: boolean;
  /** Characters kept (the encoder truncates to its token budget anyway; this bounds tokenizer work). */
  maxChars: number;
}

export interface UserTextTemplate {
  /** User metadata fields in order (e.g. age, gender, occupation); absent fields are skipped. */
  fields: { field: string; label?: string }[];
}

const reviews: ItemTextPart = { kind: 'reviews', label: 'Reviews', count: REVIEW_SNIPPETS, maxChars: SNIPPET_CHARS };

/** The item template of each dataset format, after the fields its loader fills. */
export const ITEM_TEMPLATES: Record<DatasetFormat, ItemTextTemplate> = {
  'ml-100k': { parts: [{ kind: 'title' }, { kind: 'genres', label: 'Genres' }, { kind: 'numeric', field: 'year', label: 'Year' }] },
  'ml-1m': { parts: [{ kind: 'title' }, { kind: 'genres', label: 'Genres' }, { kind: 'numeric', field: 'year', label: 'Year' }] },
  'movielens-csv': {
    parts: [{ kind: 'title' }, { kind: 'genres', label: 'Genres' }, { kind: 'numeric', field: 'year', label: 'Year' }, { kind: 'text', field: 'tags', label: 'Tags', maxChars: 300 }],
  },
  'amazon-reviews': {
    parts: [
      { kind: 'title' },
      { kind: 'text', field: 'brand', label: 'Brand' },
      { kind: 'genres', label: 'Categories', max: 6 },
      { kind: 'text', field: 'description', label: 'Description', maxChars: TEXT_FIELD_CHARS },
      reviews,
    ],
  },
  myanimelist: {
    parts: [
      { kind: 'title' },
      { kind: 'text', field: 'type', label: 'Type' },
      { kind: 'genres', label: 'Genres' },
      { kind: 'text', field: 'themes', label: 'Themes' },
      { kind: 'numeric', field: 'episodes', label: 'Episodes' },
      { kind: 'text', field: 'synopsis', label: 'Synopsis', maxChars: TEXT_FIELD_CHARS },
      reviews,
    ],
  },
  'interactions-csv': { parts: [{ kind: 'title' }, { kind: 'genres', label: 'Genres' }, reviews] },
};

export const REVIEW_TEMPLATE: ReviewTextTemplate = { includeSummary: true, maxChars: 2000 };

export const USER_TEMPLATES: Partial<Record<DatasetFormat, UserTextTemplate>> = {
  'ml-100k': { fields: [{ field: 'age', label: 'Age' }, { field: 'gender', label: 'Gender' }, { field: 'occupation', label: 'Occupation' }] },
  'ml-1m': { fields: [{ field: 'age', label: 'Age' }, { field: 'gender', label: 'Gender' }, { field: 'occupation', label: 'Occupation' }] },
};

/** Cuts `text` to at most `maxChars` characters at a word boundary, marking the cut with an ellipsis. */
export function truncateText(text: string, maxChars: number): string {
  const clean = text.replace(/\s+/g, ' ').trim();
  if (clean.length <= maxChars) return clean;
  const cut = clean.slice(0, maxChars);
  const space = cut.lastIndexOf(' ');
  return `${(space > maxChars / 2 ? cut.slice(0, space) : cut).replace(/[\s,;:.]+$/, '')}…`;
}

function segment(label: string | undefined, value: string): string {
  const v = value.trim().replace(/[\s.]+$/, '');
  return label ? `${label}: ${v}` : v;
}

function formatNumber(v: number): string {
  return Number.isInteger(v) ? String(v) : String(Math.round(v * 100) / 100);
}

function reviewOf(store: InteractionStore, interaction: number, maxChars: number, includeSummary: boolean): string {
  const text = store.review?.[interaction]?.trim() ?? '';
  const summary = includeSummary ? (store.reviewSummary?.[interaction]?.trim() ?? '') : '';
  const joined = summary && text ? `${summary.replace(/[\s.]+$/, '')}. ${text}` : summary || text;
  return truncateText(joined, maxChars);
}

function checkTemplate(template: ItemTextTemplate): void {
  if (!template || !Array.isArray(template.parts)) throw new SemrecError('item template: parts must be an array', 'ERR_INVALID_ARG_VALUE');
  template.parts.forEach((p, i) => {
    if (!['title', 'genres', 'text', 'numeric', 'reviews'].includes(p?.kind)) {
      throw new SemrecError(`item template: parts[${i}].kind must be title, genres, text, numeric or reviews`, 'ERR_INVALID_ARG_VALUE');
    }
    if ((p.kind === 'text' || p.kind === 'numeric') && typeof p.field !== 'string') {
      throw new SemrecError(`item template: parts[${i}] (${p.kind}) needs a field name`, 'ERR_INVALID_ARG_VALUE');
    }
    if (p.kind === 'reviews' && !(Number.isInteger(p.count) && p.count >= 1 && Number.isInteger(p.maxChars) && p.maxChars >= 1)) {
      throw new SemrecError(`item template: parts[${i}] (reviews) needs integer count >= 1 and maxChars >= 1`, 'ERR_INVALID_ARG_VALUE');
    }
  });
}

/** One text per item (index = dense item index). Items with nothing to say get their raw id. */
export function itemTexts(store: InteractionStore, template: ItemTextTemplate): string[] {
  checkTemplate(template);
  const { items } = store;
  const needsReviews = template.parts.some((p) => p.kind === 'reviews') && store.review !== undefined;
  const groups = needsReviews ? store.byItem() : undefined;
  const out: string[] = [];
  for (let item = 0; item < store.numItems; item++) {
    const segments: string[] = [];
    for (const part of template.parts) {
      switch (part.kind) {
        case 'title': {
          const t = items.title[item];
          if (t) segments.push(segment(part.label, t));
          break;
        }
        case 'genres': {
          const g = items.genres[item] ?? [];
          if (g.length) segments.push(segment(part.label, g.slice(0, part.max ?? g.length).join(', ')));
          break;
        }
        case 'text': {
          const t = items.text[part.field]?.[item];
          if (t && t.trim()) segments.push(segment(part.label, part.maxChars ? truncateText(t, part.maxChars) : t));
          break;
        }
        case 'numeric': {
          const v = items.numeric[part.field]?.[item];
          if (v !== undefined && Number.isFinite(v)) segments.push(segment(part.label, formatNumber(v)));
          break;
        }
        case 'reviews': {
          if (!groups) break;
          const snippets: string[] = [];
          // byItem() orders each item's interactions by time: walk back from the newest.
          for (let k = groups.indptr[item + 1] - 1; k >= groups.indptr[item] && snippets.length < part.count; k--) {
            const s = reviewOf(store, groups.interactions[k], part.maxChars, true);
            if (s) snippets.push(`"${s}"`);
          }
          if (snippets.length) segments.push(segment(part.label, snippets.join(' ')));
          break;
        }
      }
    }
    out.push(segments.length ? `${segments.join('. ')}.` : store.itemIds.raw(item));
  }
  return out;
}

/** One text per interaction (index = interaction index): its review, '' where there is none. */
export function reviewTexts(store: InteractionStore, template: ReviewTextTemplate = REVIEW_TEMPLATE): string[] {
  return Array.from({ length: store.numInteractions }, (_, i) => reviewOf(store, i, template.maxChars, template.includeSummary));
}

/** One text per user from their metadata fields ('' when the dataset has none). */
export function userTexts(store: InteractionStore, template: UserTextTemplate): string[] {
  return Array.from({ length: store.numUsers }, (_, u) =>
    template.fields
      .map(({ field, label }) => {
        const v = store.users.fields[field]?.[u];
        return v === undefined || v === '' ? '' : segment(label, String(v));
      })
      .filter(Boolean)
      .join('. '),
  );
}

function hasPart(store: InteractionStore, part: ItemTextPart): boolean {
  const { items } = store;
  switch (part.kind) {
    case 'title':
      return items.title.some((t) => t !== undefined && t.trim() !== '');
    case 'genres':
      return items.genres.some((g) => g.length > 0);
    case 'text':
      return (items.text[part.field] ?? []).some((t) => t !== undefined && t.trim() !== '');
    case 'numeric':
      return (items.numeric[part.field] ?? []).some((v) => Number.isFinite(v));
    case 'reviews':
      return (store.review ?? []).some((r) => r !== undefined && r.trim() !== '');
  }
}

/**
 * The item template for a store: its format's preset when the store was loaded from files, else (split
 * and filtered stores do not carry their format) every preset part whose field the store has, in the
 * presets' order, each once.
 */
export function itemTemplateFor(store: InteractionStore): ItemTextTemplate {
  const format = store.load?.format as DatasetFormat | undefined;
  if (format && Object.prototype.hasOwnProperty.call(ITEM_TEMPLATES, format)) return ITEM_TEMPLATES[format];
  const parts: ItemTextPart[] = [];
  const taken = new Set<string>();
  for (const template of Object.values(ITEM_TEMPLATES)) {
    for (const part of template.parts) {
      const key = `${part.kind}:${'field' in part ? part.field : ''}`;
      if (taken.has(key) || !hasPart(store, part)) continue;
      taken.add(key);
      parts.push(part);
    }
  }
  return { parts };
}

/** Whether a store has any item text to encode (titles, genres, text fields or reviews). */
export function hasItemText(store: InteractionStore): boolean {
  return itemTemplateFor(store).parts.some((p) => p.kind !== 'numeric');
}
