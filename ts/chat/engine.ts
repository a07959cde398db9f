/**
 * Chat-REC's engine: a fitted recommender retrieves candidates (their scores kept for fallback and
 * explanation), the user's profile and the numbered candidates become a prompt, an LLM re-ranks and
 * explains, and the guards turn its answer into exactly k items. When there is no endpoint, or it fails,
 * times out or returns nothing usable, the base ranking is returned marked `fallback: true`, each item
 * explained from the engine's signals. Never throws for an LLM failure; only Ctrl-C (ERR_ABORTED) and
 * bad arguments escape.
 */
import type { IdMap, InteractionStore } from '../data/store';
import { SemrecError, isSemrecError } from '../errors';
import { leaveOneOut, ratioSplit, DEFAULT_SPLIT_SEED } from '../data/splits';
import { DEFAULT_K } from '../models/base';
import type { EarlyStopping, Recommender, TrainingData } from '../models/contract';
import { userItems } from '../models/data';
import { checkModelName, createModel, isModelName, type ModelName } from '../models/registry';
import type { LongRunningOptions } from '../progress';
import { csrFromLists, transposeCsr } from '../util/csr';
import { ChatCatalog } from './catalog';
import type { LlmClient, LlmUsage } from './client';
import { CooccurrenceSignals, EXPLAIN_HISTORY_ITEMS, ModelSignals, explainFromSignals, hasExplain, type SignalSource } from './explain';
import { emptyGuardCounts, fillToK, guardAnswer, type GuardCounts } from './guards';
import { parseAnswer } from './parse';
import { buildProfile, DEFAULT_PROFILE_TOKENS, FAVOURITE_GENRES, type HistoryEntry, type Profile } from './profile';
import { RANK_AND_EXPLAIN, templateTag, type ChatMessage } from './prompts';
import { tokenCounter, type TokenCounter } from './tokens';

/**
 * The candidate model when none is named: LLM-Rec (`llmrec`) once it is registered; until then the
 * strongest baseline of the ml-100k reference check (README, "Reference check": lightgcn ndcg@10 0.3074,
 * ahead of lightfm 0.3069 and bpr 0.2965).
 */
export const DEFAULT_CANDIDATE_MODEL: string = isModelName('llmrec') ? 'llmrec' : 'lightgcn';
/** Items recommended: the models' default (one default for every list semrec returns). */
export { DEFAULT_K };
/** Candidates shown to the LLM (Chat-REC and RecLM-eval re-rank 20). */
export const DEFAULT_CANDIDATES = 20;

export interface Candidate {
  itemIdx: number;
  /** The base model's score (higher is better). */
  score: number;
  /** 1-based place in the base ranking of this candidate list. */
  baseRank: number;
}

export interface RankedItem {
  itemIdx: number;
  id: string;
  title: string;
  explanation: string;
  /** 'llm': the LLM chose it (and explained it, unless it gave no reason); 'base': filled from the base ranking. */
  source: 'llm' | 'base';
  baseRank: number;
  score: number;
}

export interface RankResult {
  items: RankedItem[];
  guard: GuardCounts;
  /** True when the list is the base ranking because the LLM contributed no usable item (or was not asked). */
  fallback: boolean;
  fallbackReason?: string;
  /** Items the LLM chose that made it into the list. */
  llmItems: number;
  usage: LlmUsage | null;
  latencyMs: number | null;
  /** The LLM's raw answer (absent without an endpoint or on failure). */
  answer?: string;
  /** The conversational message of the answer, when it had one. */
  message?: string;
  template: string;
  /** Tokens of the prompt by the local tokenizer. */
  promptTokens: number;
}

export interface RerankOutcome extends RankResult {
  user: string;
  userIdx: number;
  k: number;
  candidates: Candidate[];
  profile: Profile;
  model: string;
  llm: { endpoint: string; model: string } | null;
}

export interface CandidateOptions {
  /** Items to leave out besides the user's history. */
  exclude?: Iterable<number>;
  /** Keep only items passing this test (conversation constraints). */
  filter?: (itemIdx: number) => boolean;
}

export interface LlmCallOptions {
  client?: LlmClient;
  stream?: boolean;
  onToken?: (text: string) => void;
  signal?: AbortSignal;
}

export interface RerankOptions extends CandidateOptions, LlmCallOptions {
  k?: number;
  candidates?: number;
  profileTokens?: number;
}

export interface ChatEngineInit {
  /** A fitted model over the same users and items as `data`. */
  model: Recommender;
  catalog: ChatCatalog;
  userIds: IdMap;
  /** The interactions the model was trained on: the history a profile shows, the co-occurrence signals. */
  data: TrainingData;
  /** Explanation signals (default: the model's explain() when it has one, else co-occurrence in `data`). */
  signals?: SignalSource;
  counter?: TokenCounter;
}

export interface TrainEngineOptions extends LongRunningOptions {
  model?: string;
  /** Stop training when a held-back validation part stops improving (default true; see ChatEngine.train). */
  earlyStopping?: boolean;
  params?: object;
  seed?: number;
  numThreads?: number;
}

function checkCount(value: number, what: string, min = 1): number {
  if (!Number.isInteger(value) || value < min) throw new SemrecError(`${what} must be an integer >= ${min}, got ${value}`, 'ERR_OUT_OF_RANGE');
  return value;
}

export class ChatEngine {
  readonly model: Recommender;
  readonly catalog: ChatCatalog;
  readonly userIds: IdMap;
  readonly data: TrainingData;
  readonly signals: SignalSource;
  readonly counter: TokenCounter;
  private readonly histories: HistoryEntry[][];
  private readonly meanRating: number | undefined;
  private readonly ratingScale: { min: number; max: number } | undefined;

  constructor(init: ChatEngineInit) {
    const { model, data } = init;
    if (!model.fitted) throw new SemrecError('ChatEngine: the model is not fitted', 'ERR_NOT_FITTED');
    if (model.numUsers !== data.numUsers || model.numItems !== data.numItems || init.catalog.numItems !== data.numItems || init.userIds.size !== data.numUsers) {
      throw new SemrecError(
        `ChatEngine: the model (${model.numUsers} users x ${model.numItems} items), data (${data.numUsers} x ${data.numItems}), catalog (${init.catalog.numItems} items) and user ids (${init.userIds.size}) must agree`,
        'ERR_INVALID_ARG_VALUE',
      );
    }
    this.model = model;
    this.catalog = init.catalog;
    this.userIds = init.userIds;
    this.data = data;
    this.counter = init.counter ?? tokenCounter();
    this.signals = init.signals ?? (hasExplain(model) ? new ModelSignals(model, model.name) : new CooccurrenceSignals(transposeCsr(userItems(data), data.numItems)));
    this.histories = Array.from({ length: data.numUsers }, () => []);
    let sum = 0;
    let rated = 0;
    let min = Infinity;
    let max = -Infinity;
    for (let e = 0; e < data.numInteractions; e++) {
      const rating = data.rating[e];
      const timestamp = data.timestamp?.[e];
      this.histories[data.userIdx[e]].push({
        itemIdx: data.itemIdx[e],
        ...(Number.isFinite(rating) ? { rating } : {}),
        ...(timestamp !== undefined && Number.isFinite(timestamp) ? { timestamp } : {}),
      });
      if (Number.isFinite(rating)) {
        sum += rating;
        rated++;
        min = Math.min(min, rating);
        max = Math.max(max, rating);
      }
    }
    this.meanRating = rated > 0 ? sum / rated : undefined;
    this.ratingScale = rated > 0 ? { min: Math.min(1, Math.floor(min)), max: Math.max(5, Math.ceil(max)) } : undefined;
  }

  /**
   * Trains `model` (default DEFAULT_CANDIDATE_MODEL) and builds the engine around it. With early stopping
   * (the default, for models that rank), each user's latest interaction (a seeded 10% of interactions
   * when the data has no times) is held back from training to decide when to stop, as the harness does;
   * the engine's history, profiles and signals still use all of `data`.
   */
  static async train(data: InteractionStore, options: TrainEngineOptions = {}): Promise<ChatEngine> {
    const name: ModelName = checkModelName(options.model ?? DEFAULT_CANDIDATE_MODEL, 'chat: --model');
    const model = createModel(name, (options.params ?? {}) as never);
    let fitData: TrainingData = data;
    let earlyStopping: EarlyStopping | undefined;
    if ((options.earlyStopping ?? true) && model.rankingEarlyStopping) {
      const seed = options.seed ?? DEFAULT_SPLIT_SEED;
      const timed = data.timestamp.some((t) => Number.isFinite(t));
      const holdout = timed ? leaveOneOut(data, { validation: false, seed }) : ratioSplit(data, { ratios: [0.9, 0.1], seed });
      fitData = holdout.train;
      earlyStopping = { data: holdout.test };
    }
    await model.fit(fitData, { seed: options.seed, numThreads: options.numThreads, earlyStopping, onProgress: options.onProgress, signal: options.signal });
    return ChatEngine.fromStore(model, data);
  }

  /** An engine over a model fitted on `train` (a dataset or a split of it). */
  static fromStore(model: Recommender, train: InteractionStore): ChatEngine {
    return new ChatEngine({ model, catalog: ChatCatalog.fromStore(train), userIds: train.userIds, data: train });
  }

  get modelName(): string {
    return this.model.name;
  }

  /** The dense index of a raw user id; ERR_UNKNOWN_USER names it when the model does not know it. */
  userIndex(rawId: string): number {
    const u = this.userIds.index(String(rawId));
    if (u === undefined) throw new SemrecError(`user '${rawId}' is not in the model's data (${this.userIds.size} users)`, 'ERR_UNKNOWN_USER');
    return u;
  }

  history(userIdx: number): readonly HistoryEntry[] {
    this.checkUser(userIdx);
    return this.histories[userIdx];
  }

  demographics(userIdx: number): Record<string, string | number | undefined> | undefined {
    const fields = this.data.users?.fields;
    if (!fields || Object.keys(fields).length === 0) return undefined;
    return Object.fromEntries(Object.entries(fields).map(([k, v]) => [k, v[userIdx]]));
  }

  profile(userIdx: number, tokenBudget = DEFAULT_PROFILE_TOKENS, extraHistory: readonly HistoryEntry[] = []): Profile {
    return buildProfile(
      {
        catalog: this.catalog,
        history: [...this.history(userIdx), ...extraHistory],
        demographics: this.demographics(userIdx),
        ratingScale: this.ratingScale,
        datasetMeanRating: this.meanRating,
      },
      { tokenBudget, counter: this.counter },
    );
  }

  /** The user's most watched genres (for explanations). */
  favouriteGenres(userIdx: number): string[] {
    const counts = new Map<string, number>();
    for (const h of this.history(userIdx)) for (const g of this.catalog.genresOf(h.itemIdx)) if (g !== 'unknown') counts.set(g, (counts.get(g) ?? 0) + 1);
    return [...counts.entries()].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])).slice(0, FAVOURITE_GENRES).map(([g]) => g);
  }

  /**
   * The base model's top-n for the user, history and `exclude` left out, `filter` applied. The model is
   * asked for more items until n pass the filter or the catalog is exhausted.
   */
  async candidates(userIdx: number, n: number, options: CandidateOptions = {}): Promise<Candidate[]> {
    this.checkUser(userIdx);
    checkCount(n, 'candidates');
    // The user's history is left out even where the model's own "seen" set differs (a model trained on a split).
    const exclude = [...new Set([...this.histories[userIdx].map((h) => h.itemIdx), ...(options.exclude ?? [])])].filter(
      (i) => Number.isInteger(i) && i >= 0 && i < this.catalog.numItems,
    );
    const available = this.catalog.numItems - exclude.length;
    let ask = Math.min(Math.max(n, 1) * (options.filter ? 4 : 1), this.catalog.numItems);
    for (;;) {
      const top = await this.model.recommend([userIdx], ask, { exclude: csrFromLists([exclude]) });
      const out: Candidate[] = [];
      for (let r = 0; r < top.k && out.length < n; r++) {
        const item = top.indices[r];
        if (item < 0) break;
        if (options.filter && !options.filter(item)) continue;
        out.push({ itemIdx: item, score: top.scores[r], baseRank: out.length + 1 });
      }
      if (out.length >= n || ask >= this.catalog.numItems || ask >= available) return out;
      ask = Math.min(ask * 4, this.catalog.numItems);
    }
  }

  /** The engine's explanation of one item for the user (no LLM involved). */
  async explainItem(userIdx: number, itemIdx: number, place?: { baseRank: number; of: number }): Promise<string> {
    const history = this.history(userIdx);
    // "Because you watched X" only names items the user liked: at or above their own mean rating (all
    // items for implicit feedback), never a film they panned.
    const rated = history.filter((h) => h.rating !== undefined);
    const userMean = rated.length > 0 ? rated.reduce((s, h) => s + h.rating!, 0) / rated.length : -Infinity;
    const liked = history.filter((h) => h.rating === undefined || h.rating >= userMean).map((h) => h.itemIdx);
    const similar = await this.signals.similarInHistory(userIdx, liked, itemIdx, EXPLAIN_HISTORY_ITEMS);
    return explainFromSignals({
      catalog: this.catalog,
      itemIdx,
      similar,
      history,
      favouriteGenres: this.favouriteGenres(userIdx),
      baseRank: place?.baseRank,
      of: place?.of,
      modelName: this.modelName,
      signalMethod: this.signals.method,
    });
  }

  /**
   * Asks the LLM (when a client is given) to rank `candidates` with `messages`, applies the guards and
   * fills to k from the candidates' order. The shared core of rerank() and conversation turns.
   */
  async rankCandidates(
    userIdx: number,
    candidates: readonly Candidate[],
    k: number,
    messages: ChatMessage[],
    template: string,
    options: LlmCallOptions & { historyItems?: Iterable<number> } = {},
  ): Promise<RankResult> {
    checkCount(k, 'k');
    const base = candidates.map((c) => c.itemIdx);
    const kShown = Math.min(k, base.length);
    const promptTokens = this.counter.countMessages(messages);
    const history = new Set([...this.history(userIdx).map((h) => h.itemIdx), ...(options.historyItems ?? [])]);
    let guard = emptyGuardCounts();
    let picks: { itemIdx: number; explanation?: string }[] = [];
    let usage: LlmUsage | null = null;
    let latencyMs: number | null = null;
    let answer: string | undefined;
    let message: string | undefined;
    let fallbackReason: string | undefined;
    if (!options.client) {
      fallbackReason = 'no LLM endpoint given';
    } else if (base.length === 0) {
      fallbackReason = 'no candidates to rank';
    } else {
      try {
        const reply = await options.client.complete(messages, { stream: options.stream, onToken: options.onToken, signal: options.signal });
        usage = reply.usage;
        latencyMs = reply.latencyMs;
        answer = reply.text;
        const parsed = parseAnswer(reply.text);
        message = parsed.message;
        const guarded = guardAnswer({ catalog: this.catalog, answer: parsed, candidates: base, history, k: kShown });
        guard = guarded.guard;
        picks = guarded.picks;
        if (picks.length === 0) {
          fallbackReason = parsed.format === 'empty' ? 'the LLM returned an empty answer' : 'the LLM answer named no usable candidate';
        }
      } catch (error) {
        if (isSemrecError(error, 'ERR_ABORTED')) throw error;
        fallbackReason = (error as Error).message;
      }
    }
    const chosen = new Map(picks.map((p) => [p.itemIdx, p.explanation] as const));
    const order = fillToK(picks.map((p) => p.itemIdx), base, kShown);
    const byItem = new Map(candidates.map((c) => [c.itemIdx, c] as const));
    const items: RankedItem[] = [];
    for (const itemIdx of order) {
      const c = byItem.get(itemIdx)!;
      const fromLlm = chosen.has(itemIdx);
      const llmText = chosen.get(itemIdx);
      items.push({
        itemIdx,
        id: this.catalog.id(itemIdx),
        title: this.catalog.title(itemIdx),
        explanation: llmText ?? (await this.explainItem(userIdx, itemIdx, { baseRank: c.baseRank, of: candidates.length })),
        source: fromLlm ? 'llm' : 'base',
        baseRank: c.baseRank,
        score: c.score,
      });
    }
    return {
      items,
      guard,
      fallback: picks.length === 0,
      ...(fallbackReason !== undefined ? { fallbackReason } : {}),
      llmItems: picks.length,
      usage,
      latencyMs,
      ...(answer !== undefined ? { answer } : {}),
      ...(message !== undefined ? { message } : {}),
      template,
      promptTokens,
    };
  }

  /** Chat-REC's re-ranking of one user's candidates (see the file comment). */
  async rerank(userIdx: number, options: RerankOptions = {}): Promise<RerankOutcome> {
    this.checkUser(userIdx);
    const k = checkCount(options.k ?? DEFAULT_K, 'k');
    const n = Math.max(checkCount(options.candidates ?? Math.max(DEFAULT_CANDIDATES, k), 'candidates'), k);
    const profile = this.profile(userIdx, options.profileTokens ?? DEFAULT_PROFILE_TOKENS);
    const candidates = await this.candidates(userIdx, n, options);
    const messages = RANK_AND_EXPLAIN.build({ catalog: this.catalog, profile: profile.text, candidates, k });
    const result = await this.rankCandidates(userIdx, candidates, k, messages, templateTag(RANK_AND_EXPLAIN), options);
    return {
      user: this.userIds.raw(userIdx),
      userIdx,
      k,
      ...result,
      candidates,
      profile,
      model: this.modelName,
      llm: options.client ? { endpoint: options.client.endpoint, model: options.client.model } : null,
    };
  }

  private checkUser(userIdx: number): void {
    if (!Number.isInteger(userIdx) || userIdx < 0 || userIdx >= this.data.numUsers) {
      throw new SemrecError(`user index ${userIdx} is outside [0, ${this.data.numUsers})`, 'ERR_OUT_OF_RANGE');
    }
  }
}
