/**
 * Guards between an LLM's answer and the list a user sees. Each parsed entry is mapped to a catalog item
 * (the candidate number, a raw id, an exact or fuzzy title); what cannot be shown is counted and dropped,
 * the counts RecLM-eval reports for LLM rankers:
 *   - inHistory: an item the user already has (checked first: history items are never candidates);
 *   - outOfCandidate: an item outside the candidate list, including invented titles that name no item;
 *   - duplicates: an item already taken from an earlier entry;
 *   - unparsed: an entry that names nothing (no title, number or id), or a bare prose line matching no item.
 * The kept items are then filled back to k from the base ranking, so a user never gets fewer than k
 * items when k exist.
 */
import type { ChatCatalog } from './catalog';
import type { AnswerEntry, ParsedAnswer } from './parse';

export interface GuardCounts {
  outOfCandidate: number;
  duplicates: number;
  inHistory: number;
  unparsed: number;
}

export interface GuardedPick {
  itemIdx: number;
  /** The LLM's explanation, when it gave one. */
  explanation?: string;
  /** How the entry was mapped: 'candidate' number, raw 'id', 'exact' or 'fuzzy' title. */
  matchedBy: 'candidate' | 'id' | 'exact' | 'fuzzy';
}

export interface GuardResult {
  /** The LLM's valid picks, in its order, at most k. */
  picks: GuardedPick[];
  guard: GuardCounts;
  /** Valid picks beyond k (not shown). */
  surplus: number;
}

export function emptyGuardCounts(): GuardCounts {
  return { outOfCandidate: 0, duplicates: 0, inHistory: 0, unparsed: 0 };
}

export function addGuardCounts(into: GuardCounts, more: GuardCounts): GuardCounts {
  into.outOfCandidate += more.outOfCandidate;
  into.duplicates += more.duplicates;
  into.inHistory += more.inHistory;
  into.unparsed += more.unparsed;
  return into;
}

export interface GuardInput {
  catalog: ChatCatalog;
  answer: ParsedAnswer;
  /** Candidate items in the prompt's order (candidate n is candidates[n - 1]). */
  candidates: readonly number[];
  /** Items the user already has. */
  history: ReadonlySet<number>;
  k: number;
}

type Resolution = { itemIdx: number; explanation?: string; matchedBy: GuardedPick['matchedBy'] } | undefined;

function resolve(entry: AnswerEntry, input: GuardInput, pool: readonly number[]): Resolution {
  const { catalog, candidates } = input;
  // A title decides when the entry has one: models misnumber more often than they mistitle, and a title
  // that names no item makes the entry invented whatever number it carries.
  for (const reading of entry.readings) {
    const match = catalog.matchTitle(reading.title, candidates, pool);
    if (match) return { itemIdx: match.itemIdx, explanation: reading.explanation ?? entry.explanation, matchedBy: match.how };
  }
  if (entry.id !== undefined) {
    const byId = catalog.indexOf(entry.id);
    if (byId !== undefined) return { itemIdx: byId, explanation: entry.explanation, matchedBy: 'id' };
  }
  if (entry.readings.length === 0 && entry.candidate !== undefined && entry.candidate >= 1 && entry.candidate <= candidates.length) {
    return { itemIdx: candidates[entry.candidate - 1], explanation: entry.explanation, matchedBy: 'candidate' };
  }
  return undefined;
}

/** Maps the answer's entries to items and counts what the guards drop (see the file comment). */
export function guardAnswer(input: GuardInput): GuardResult {
  const guard = emptyGuardCounts();
  guard.unparsed += input.answer.unparsed.length;
  const candidateSet = new Set(input.candidates);
  // Fuzzy titles are looked for among the candidates and the history (to tell "already seen" apart).
  const pool = [...input.candidates, ...input.history];
  const picks: GuardedPick[] = [];
  const taken = new Set<number>();
  let surplus = 0;
  for (const entry of input.answer.entries) {
    const r = resolve(entry, input, pool);
    if (r === undefined) {
      if (entry.listed) guard.outOfCandidate++;
      else guard.unparsed++;
      continue;
    }
    if (input.history.has(r.itemIdx)) guard.inHistory++;
    else if (!candidateSet.has(r.itemIdx)) guard.outOfCandidate++;
    else if (taken.has(r.itemIdx)) guard.duplicates++;
    else {
      taken.add(r.itemIdx);
      if (picks.length < input.k) picks.push({ itemIdx: r.itemIdx, matchedBy: r.matchedBy, ...(r.explanation ? { explanation: r.explanation } : {}) });
      else surplus++;
    }
  }
  return { picks, guard, surplus };
}

/** The picks followed by the base ranking's items not picked, up to k. */
export function fillToK(picks: readonly number[], base: readonly number[], k: number): number[] {
  const out = picks.slice(0, k);
  const taken = new Set(out);
  for (const item of base) {
    if (out.length >= k) break;
    if (!taken.has(item)) {
      out.push(item);
      taken.add(item);
    }
  }
  return out;
}
