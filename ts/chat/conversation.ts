/**
 * Multi-turn conversation: session state (turns, liked and disliked items, constraints such as "no
 * horror", "more like Fargo", "something from the 90s") that narrows the candidates before every
 * re-prompt, and sessions saved as JSON lines (a header, then one fsynced record per turn holding the
 * state after it) so a session stopped by Ctrl-C or a crash resumes where it was.
 *
 * Constraints are read from the user's words by rules, not by the LLM: they must hold whether or not an
 * endpoint answers, and a rule is testable. The LLM sees them in words and gets only candidates that
 * already satisfy them.
 */
import { SemrecError } from '../errors';
import { appendJsonLine, readJsonLines } from '../util/jsonl';
import type { ChatCatalog } from './catalog';
import type { LlmClient } from './client';
import type { Candidate, ChatEngine, RankResult } from './engine';
import { DEFAULT_CANDIDATES, DEFAULT_K } from './engine';
import { DEFAULT_PROFILE_TOKENS } from './profile';
import { CONVERSATION_TURN, templateTag, type ChatMessage } from './prompts';

export const SESSION_FORMAT = 'semrec-chat-session';
export const SESSION_VERSION = 1;
/** Earlier turns replayed to the LLM (user request + assistant reply each); older ones are left out. */
export const CONTEXT_TURNS = 4;
/** Base-ranking items considered before constraints narrow them (deep enough for a strict genre filter on ml-100k). */
export const CONSTRAINT_POOL = 200;
/** Weight of similarity to the "more like" items against the base ranking when both order candidates. */
export const MORE_LIKE_WEIGHT = 0.5;

export interface Constraints {
  /** Genres to leave out, as the catalog spells them. */
  excludeGenres: string[];
  /** Genres to keep (an item must have at least one). */
  includeGenres: string[];
  /** Release years, inclusive. */
  yearFrom?: number;
  yearTo?: number;
  /** Items whose neighbours are wanted. */
  moreLike: number[];
}

export interface SessionState {
  constraints: Constraints;
  liked: number[];
  disliked: number[];
}

export interface TurnRecord {
  turn: number;
  at: string;
  request: string;
  /** What the rules read from the request, in words. */
  understood: string[];
  state: SessionState;
  items: { id: string; title: string; explanation: string; source: 'llm' | 'base' }[];
  reply: string;
  guard: RankResult['guard'];
  fallback: boolean;
  fallbackReason?: string;
  usage: RankResult['usage'];
  latencyMs: number | null;
}

export interface SessionHeader {
  kind: 'header';
  format: string;
  version: number;
  user: string;
  model: string;
  catalogItems: number;
  llm: { endpoint: string; model: string } | null;
  template: string;
  createdAt: string;
}

export function emptyState(): SessionState {
  return { constraints: { excludeGenres: [], includeGenres: [], moreLike: [] }, liked: [], disliked: [] };
}

/** Words users say for catalog genres (lower case), beyond the genre names themselves. */
const GENRE_WORDS: Record<string, string[]> = {
  'Sci-Fi': ['sci-fi', 'scifi', 'sci fi', 'science fiction', 'science-fiction', 'space'],
  Horror: ['horror', 'scary', 'slasher'],
  Comedy: ['comedy', 'comedies', 'funny', 'comedic'],
  Romance: ['romance', 'romantic', 'love stories', 'love story'],
  Animation: ['animation', 'animated', 'cartoon', 'cartoons'],
  "Children's": ["children's", 'childrens', 'kids', 'family', 'children'],
  Documentary: ['documentary', 'documentaries'],
  Musical: ['musical', 'musicals'],
  Thriller: ['thriller', 'thrillers', 'suspense'],
  'Film-Noir': ['film-noir', 'film noir', 'noir'],
  War: ['war'],
  Western: ['western', 'westerns'],
  Crime: ['crime', 'gangster', 'mafia'],
  Drama: ['drama', 'dramas'],
  Action: ['action'],
  Adventure: ['adventure', 'adventures'],
  Fantasy: ['fantasy'],
  Mystery: ['mystery', 'mysteries', 'whodunit'],
};

const NEGATION = /\b(no|not|without|avoid|skip|except|hate|hated|dislike|don'?t|do not|nothing|none|never|less|fewer|stop|enough)\b[^.,;!?]*$/i;

function escapeRegex(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** The catalog's genres mentioned in `text`, each with whether a negation precedes it in its clause. */
function genreMentions(text: string, catalogGenres: readonly string[]): { genre: string; negated: boolean }[] {
  const lower = text.toLowerCase();
  const out: { genre: string; negated: boolean; at: number }[] = [];
  for (const genre of catalogGenres) {
    const words = new Set([genre.toLowerCase(), ...(GENRE_WORDS[genre] ?? [])]);
    for (const w of words) {
      const re = new RegExp(`(^|[^a-z])${escapeRegex(w)}(?![a-z])`, 'g');
      for (let m = re.exec(lower); m; m = re.exec(lower)) {
        const at = m.index + m[1].length;
        if (out.some((o) => o.genre === genre)) continue;
        out.push({ genre, negated: NEGATION.test(lower.slice(Math.max(0, lower.lastIndexOf('.', at) + 1), at)), at });
      }
    }
  }
  return out.sort((a, b) => a.at - b.at).map(({ genre, negated }) => ({ genre, negated }));
}

/** "the 90s", "1980s", "from the 70's" -> a decade; "before 1980", "after 2000", "since 1995" -> bounds. */
function yearBounds(text: string): { yearFrom?: number; yearTo?: number } {
  const lower = text.toLowerCase();
  const decade = /\b(?:the\s+)?(19|20)?(\d)0'?s\b/.exec(lower);
  if (decade) {
    const century = decade[1] ? Number(decade[1]) * 100 : Number(decade[2]) >= 3 ? 1900 : 2000;
    const start = century + Number(decade[2]) * 10;
    return { yearFrom: start, yearTo: start + 9 };
  }
  const out: { yearFrom?: number; yearTo?: number } = {};
  const before = /\b(?:before|older than|earlier than|until|up to)\s+((?:19|20)\d\d)\b/.exec(lower);
  const after = /\b(?:after|newer than|later than|since|from)\s+((?:19|20)\d\d)\b/.exec(lower);
  if (before) out.yearTo = Number(before[1]) - (/(until|up to)/.test(before[0]) ? 0 : 1);
  if (after) out.yearFrom = Number(after[1]) + (/(after|newer than|later than)/.test(after[0]) ? 1 : 0);
  return out;
}

/** Titles after a cue ("more like X", "I loved X", "I didn't like X"), up to the end of the clause. */
function titlesAfter(text: string, cue: RegExp): string[] {
  const out: string[] = [];
  const re = new RegExp(`${cue.source}\\s+["“]?([^.;!?"”]+?)["”]?(?=$|[.;!?]|,\\s*(?:and|but|no|not|something|please)\\b|\\s+(?:and|but)\\s+(?:no|not|something|nothing|please|i)\\b)`, 'gi');
  for (let m = re.exec(text); m; m = re.exec(text)) out.push(m[m.length - 1].trim());
  return out;
}

export interface ReadRequest {
  state: SessionState;
  /** What was understood, in words (shown to the user and kept in the session). */
  understood: string[];
  /** Whether the request asked to clear the constraints. */
  reset: boolean;
}

/**
 * Applies a user's request to the session state by rules: genre mentions (negated: excluded; else
 * included), decades and year bounds, "more like X" / "similar to X", "I liked / loved X" (liked: into
 * the history, never recommended), "I didn't like / hated X" (disliked: never recommended), "reset".
 */
export function readRequest(text: string, state: SessionState, catalog: ChatCatalog): ReadRequest {
  const next: SessionState = structuredClone(state);
  const understood: string[] = [];
  const c = next.constraints;
  if (/^\s*(reset|start over|clear( constraints)?)\s*[.!]?\s*$/i.test(text)) {
    return { state: { ...emptyState(), liked: next.liked, disliked: next.disliked }, understood: ['constraints cleared'], reset: true };
  }
  const everything = Array.from({ length: catalog.numItems }, (_, i) => i);
  const resolveTitle = (t: string) => catalog.matchTitle(t, [], everything)?.itemIdx;
  const titleUse = new Set<string>();
  for (const t of titlesAfter(text, /\b(?:more like|something like|anything like|films like|movies like|similar to|in the vein of)\b/)) {
    const item = resolveTitle(t);
    if (item !== undefined && !c.moreLike.includes(item)) {
      c.moreLike.push(item);
      understood.push(`more like ${catalog.label(item)}`);
      titleUse.add(t.toLowerCase());
    }
  }
  for (const t of titlesAfter(text, /\b(?:i\s+(?:didn'?t|did not|don'?t|do not)\s+(?:like|enjoy)|i\s+(?:hated|disliked)|not a fan of)\b/)) {
    const item = resolveTitle(t);
    if (item !== undefined) {
      if (!next.disliked.includes(item)) next.disliked.push(item);
      next.liked = next.liked.filter((i) => i !== item);
      understood.push(`disliked ${catalog.label(item)}`);
      titleUse.add(t.toLowerCase());
    }
  }
  for (const t of titlesAfter(text, /\bi\s+(?:really\s+)?(?:liked|loved|enjoyed|saw|watched|have seen|'ve seen)\b/)) {
    const item = resolveTitle(t);
    if (item !== undefined && !titleUse.has(t.toLowerCase())) {
      if (!next.liked.includes(item)) next.liked.push(item);
      next.disliked = next.disliked.filter((i) => i !== item);
      understood.push(`watched and liked ${catalog.label(item)}`);
      titleUse.add(t.toLowerCase());
    }
  }
  // Genre words inside a named title ("more like Alien") are not genre requests.
  let genreText = text;
  for (const t of titleUse) genreText = genreText.replace(new RegExp(escapeRegex(t), 'i'), ' ');
  for (const { genre, negated } of genreMentions(genreText, catalog.genres())) {
    if (negated) {
      if (!c.excludeGenres.includes(genre)) c.excludeGenres.push(genre);
      c.includeGenres = c.includeGenres.filter((g) => g !== genre);
      understood.push(`no ${genre}`);
    } else {
      if (!c.includeGenres.includes(genre)) c.includeGenres.push(genre);
      c.excludeGenres = c.excludeGenres.filter((g) => g !== genre);
      understood.push(`${genre} wanted`);
    }
  }
  const years = yearBounds(text);
  if (years.yearFrom !== undefined || years.yearTo !== undefined) {
    c.yearFrom = years.yearFrom;
    c.yearTo = years.yearTo;
    understood.push(describeYears(c)!);
  }
  return { state: next, understood, reset: false };
}

function describeYears(c: Constraints): string | undefined {
  if (c.yearFrom !== undefined && c.yearTo !== undefined) return `released ${c.yearFrom}-${c.yearTo}`;
  if (c.yearFrom !== undefined) return `released ${c.yearFrom} or later`;
  if (c.yearTo !== undefined) return `released ${c.yearTo} or earlier`;
  return undefined;
}

/** The constraints in words, for the prompt and the terminal. */
export function describeConstraints(state: SessionState, catalog: ChatCatalog): string[] {
  const c = state.constraints;
  const out: string[] = [];
  if (c.excludeGenres.length > 0) out.push(`no ${c.excludeGenres.join(', no ')}`);
  if (c.includeGenres.length > 0) out.push(`genres: ${c.includeGenres.join(' or ')}`);
  const years = describeYears(c);
  if (years) out.push(years);
  if (c.moreLike.length > 0) out.push(`more like ${c.moreLike.map((i) => catalog.label(i)).join(', ')}`);
  if (state.liked.length > 0) out.push(`already watched and liked ${state.liked.map((i) => catalog.label(i)).join(', ')}`);
  if (state.disliked.length > 0) out.push(`disliked ${state.disliked.map((i) => catalog.label(i)).join(', ')}`);
  return out;
}

/** Whether an item satisfies the genre and year constraints. */
export function satisfies(itemIdx: number, c: Constraints, catalog: ChatCatalog): boolean {
  const genres = catalog.genresOf(itemIdx);
  if (c.excludeGenres.some((g) => genres.includes(g))) return false;
  if (c.includeGenres.length > 0 && !c.includeGenres.some((g) => genres.includes(g))) return false;
  if (c.yearFrom !== undefined || c.yearTo !== undefined) {
    const y = catalog.year(itemIdx);
    if (y === undefined) return false;
    if (c.yearFrom !== undefined && y < c.yearFrom) return false;
    if (c.yearTo !== undefined && y > c.yearTo) return false;
  }
  return true;
}

/**
 * The turn's candidates: the base ranking (deep pool) narrowed by the constraints, liked and disliked
 * items left out; with "more like" items, re-ordered by a blend of base rank and similarity to them.
 */
export async function sessionCandidates(engine: ChatEngine, userIdx: number, state: SessionState, n: number): Promise<Candidate[]> {
  const { catalog } = engine;
  const c = state.constraints;
  const exclude = [...state.liked, ...state.disliked, ...c.moreLike];
  const deep = c.moreLike.length > 0 ? Math.max(n, CONSTRAINT_POOL) : n;
  const pool = await engine.candidates(userIdx, deep, { exclude, filter: (i) => satisfies(i, c, catalog) });
  if (c.moreLike.length === 0 || pool.length === 0) return pool.slice(0, n);
  const sims = await Promise.all(
    pool.map(async (p) => {
      const similar = await engine.signals.similarInHistory(userIdx, c.moreLike, p.itemIdx, c.moreLike.length);
      return similar.reduce((s, x) => Math.max(s, x.similarity), 0);
    }),
  );
  const maxSim = Math.max(...sims, 1e-12);
  const blended = pool.map((p, r) => ({ p, key: (1 - MORE_LIKE_WEIGHT) * (1 - r / pool.length) + MORE_LIKE_WEIGHT * (sims[r] / maxSim) }));
  blended.sort((a, b) => b.key - a.key || a.p.baseRank - b.p.baseRank);
  return blended.slice(0, n).map((b, r) => ({ ...b.p, baseRank: r + 1 }));
}

export interface SessionOptions {
  engine: ChatEngine;
  userIdx: number;
  client?: LlmClient;
  k?: number;
  candidates?: number;
  profileTokens?: number;
  /** JSON-lines file: created with a header, appended per turn, resumed when it exists. */
  file?: string;
}

export interface TurnOptions {
  stream?: boolean;
  onToken?: (text: string) => void;
  signal?: AbortSignal;
}

export class ChatSession {
  state: SessionState = emptyState();
  readonly turns: TurnRecord[] = [];
  private constructor(private readonly options: SessionOptions) {}

  /** A new session, or the one saved in `options.file` resumed (its user and model must match). */
  static async open(options: SessionOptions): Promise<ChatSession> {
    const session = new ChatSession(options);
    const { engine } = options;
    const header: SessionHeader = {
      kind: 'header',
      format: SESSION_FORMAT,
      version: SESSION_VERSION,
      user: engine.userIds.raw(options.userIdx),
      model: engine.modelName,
      catalogItems: engine.catalog.numItems,
      llm: options.client ? { endpoint: options.client.endpoint, model: options.client.model } : null,
      template: templateTag(CONVERSATION_TURN),
      createdAt: new Date().toISOString(),
    };
    if (!options.file) return session;
    const records = await readJsonLines(options.file, 'chat: the session');
    if (records === undefined) {
      await appendJsonLine(options.file, header);
      return session;
    }
    const saved = records[0] as unknown as SessionHeader;
    if (saved.kind !== 'header' || saved.format !== SESSION_FORMAT) {
      throw new SemrecError(`chat: ${options.file} is not a semrec chat session (line 1 is not its header)`, 'ERR_INVALID_ARG_VALUE');
    }
    if (saved.version !== SESSION_VERSION) {
      throw new SemrecError(`chat: ${options.file} was written by session version ${String(saved.version)}; this semrec writes ${SESSION_VERSION}`, 'ERR_INVALID_ARG_VALUE');
    }
    for (const key of ['user', 'model', 'catalogItems'] as const) {
      if (saved[key] !== header[key]) {
        throw new SemrecError(
          `chat: the session ${options.file} belongs to ${key} ${JSON.stringify(saved[key])}, not ${JSON.stringify(header[key])}; give --session another file`,
          'ERR_INVALID_ARG_VALUE',
        );
      }
    }
    records.slice(1).forEach((r, n) => {
      if (r.kind !== 'turn' || r.turn !== n + 1 || typeof r.state !== 'object') {
        throw new SemrecError(`chat: ${options.file} line ${n + 2} is not turn ${n + 1}`, 'ERR_INVALID_ARG_VALUE');
      }
      const { kind: _kind, ...turn } = r;
      session.turns.push(turn as unknown as TurnRecord);
    });
    const last = session.turns[session.turns.length - 1];
    if (last) session.state = structuredClone(last.state);
    return session;
  }

  get userIdx(): number {
    return this.options.userIdx;
  }

  /** One turn: read the request, narrow the candidates, ask the LLM (or fall back), record the turn. */
  async turn(request: string, options: TurnOptions = {}): Promise<TurnRecord & { result: RankResult }> {
    const { engine, userIdx } = this.options;
    const k = this.options.k ?? DEFAULT_K;
    const n = Math.max(this.options.candidates ?? DEFAULT_CANDIDATES, k);
    const read = readRequest(request, this.state, engine.catalog);
    const state = read.state;
    const extraHistory = state.liked.map((itemIdx) => ({ itemIdx }));
    const profile = engine.profile(userIdx, this.options.profileTokens ?? DEFAULT_PROFILE_TOKENS, extraHistory);
    const candidates = await sessionCandidates(engine, userIdx, state, n);
    const previous: ChatMessage[] = this.turns.slice(-CONTEXT_TURNS).flatMap((t) => [
      { role: 'user' as const, content: t.request },
      { role: 'assistant' as const, content: [t.reply, ...t.items.map((i) => `- ${i.title}`)].filter((l) => l.length > 0).join('\n') },
    ]);
    const constraints = describeConstraints(state, engine.catalog);
    const messages = CONVERSATION_TURN.build({ catalog: engine.catalog, profile: profile.text, candidates, k, request, constraints, previous });
    const result = await engine.rankCandidates(userIdx, candidates, k, messages, templateTag(CONVERSATION_TURN), {
      client: this.options.client,
      stream: options.stream,
      onToken: options.onToken,
      signal: options.signal,
      historyItems: [...state.liked, ...state.disliked],
    });
    const reply =
      result.message ??
      (result.fallback
        ? candidates.length === 0
          ? 'Nothing in the catalog satisfies these constraints; say "reset" to clear them.'
          : `Here is what ${engine.modelName} ranks highest for you${constraints.length > 0 ? ` (${constraints.join('; ')})` : ''}.`
        : 'Here are my picks.');
    const record: TurnRecord = {
      turn: this.turns.length + 1,
      at: new Date().toISOString(),
      request,
      understood: read.understood,
      state,
      items: result.items.map((i) => ({ id: i.id, title: i.title, explanation: i.explanation, source: i.source })),
      reply,
      guard: result.guard,
      fallback: result.fallback,
      ...(result.fallbackReason !== undefined ? { fallbackReason: result.fallbackReason } : {}),
      usage: result.usage,
      latencyMs: result.latencyMs,
    };
    if (this.options.file) await appendJsonLine(this.options.file, { kind: 'turn', ...record });
    this.turns.push(record);
    this.state = state;
    return { ...record, result };
  }
}
