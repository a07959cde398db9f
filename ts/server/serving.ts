/**
 * One loaded model as the service serves it: requests by raw id, users' acknowledged feedback folded in,
 * and known users' requests scored together in batches.
 *
 * How feedback reaches a model:
 * - a model with live profile updates (`updateUser(userIdx, events)`, LLM-Rec) gets each acknowledged
 *   event of a user it was trained on, in log order, and serves that user as usual from then on;
 * - every other model (and every model, for users it was never trained on) serves a user with feedback
 *   from their history through `recommendForHistory`: the user's training items (a saved model keeps
 *   which items, not their ratings: a rating predictor such as mf stands in its own predicted ratings)
 *   followed by their acknowledged feedback events.
 */
import { SemrecError } from '../errors';
import type { BaseRecommender, ExplanationByIds } from '../models/base';
import type { ScoredItem } from '../models/catalog';
import type { Explanation, HistoryEvent, Recommendations } from '../models/contract';
import { float32Text } from '../models/batch';
import { isRatingPredictor } from '../models/mf';
import type { Csr } from '../kernels/types';
import { UNIT_SIGNALS, type FeedbackEvent, type FeedbackInput, type FeedbackLog } from './feedback';

/** Most items a request may ask for (the service's limit on `k`). */
export const MAX_K = 1000;
/** Most items whose explanation one /recommend may ask for (each explanation scores the user again). */
export const MAX_EXPLAIN_K = 100;
/** Known users' requests scored together at most (the native scoring kernel shares each item block among them). */
export const DEFAULT_MAX_BATCH = 64;

/** An error with the HTTP status it maps to and, for bad input, the request field at fault. */
export class ServiceError extends SemrecError {
  constructor(
    message: string,
    code: string,
    readonly statusCode: number,
    readonly field?: string,
  ) {
    super(message, code);
  }
}

/** Models that update a known user's profile live from new events (LLM-Rec). */
export interface DynamicProfiles {
  updateUser(userIdx: number, events: HistoryEvent[]): unknown;
}

export function hasDynamicProfiles(model: object): model is DynamicProfiles {
  return typeof (model as Partial<DynamicProfiles>).updateUser === 'function';
}

/** A history event of a request, by raw item id. */
export interface RequestEvent {
  item: string;
  rating?: number;
  timestamp?: number;
  sentiment?: number;
  viewing?: number;
  completion?: number;
}

export interface RecommendRequest {
  user?: string;
  history?: RequestEvent[];
  k?: number;
  exclude?: string[];
  excludeSeen?: boolean;
  explain?: boolean;
}

/** How a list was computed (said in every answer). */
export type ServedFrom =
  | 'model' // a user the model was trained on, without feedback (or with it applied live: dynamic profiles)
  | 'model+feedback' // a known user's training items and feedback, through recommendForHistory
  | 'feedback' // a user the model never saw, from their feedback
  | 'history'; // the request's history (with the user's training items and feedback, when there are any)

export interface ResultItem {
  rank: number;
  id: string;
  title?: string;
  genres?: string[];
  fields?: Record<string, number>;
  score: number;
  because?: { id: string; title?: string; similarity: number; share?: number }[];
  explanation?: string;
}

export interface RecommendAnswer {
  model: string;
  user?: string;
  k: number;
  servedFrom: ServedFrom;
  feedbackEvents: number;
  items: ResultItem[];
}

/** A model's float32 score as the shortest decimal that reads back as the same float32. */
function score(x: number): number {
  return Number(float32Text(x));
}

/** Similarities and shares (computed in float64) to 6 significant digits. */
function ratio(x: number): number {
  return Number(x.toPrecision(6));
}

function resultItems(items: ScoredItem[], explanations?: ExplanationByIds[]): ResultItem[] {
  return items.map((item, r) => {
    const out: ResultItem = { rank: r + 1, id: item.id, score: score(item.score) };
    if (item.title !== undefined) out.title = item.title;
    if (item.genres) out.genres = item.genres;
    if (item.fields) out.fields = item.fields;
    const e = explanations?.[r];
    if (e) {
      out.because = e.because.map((b) => ({
        id: b.id,
        ...(b.title !== undefined ? { title: b.title } : {}),
        similarity: ratio(b.similarity),
        ...(b.share !== undefined ? { share: ratio(b.share) } : {}),
      }));
      out.explanation = e.method;
    }
    return out;
  });
}

interface Pending {
  userIdx: number;
  k: number;
  exclude: number[];
  resolve: (r: Recommendations) => void;
  reject: (e: unknown) => void;
}

/**
 * Scores known users' requests together: while one batch runs, new requests queue; when it ends, the
 * queued ones (up to maxBatch, same excludeSeen) run as the next batch. An idle service adds no wait, and
 * under load one pass over the item matrix serves many requests.
 */
export class RecommendBatcher {
  private queue: { excludeSeen: boolean; entry: Pending }[] = [];
  private running = false;
  /** Called after each batch with its size and seconds. */
  onBatch: ((size: number, seconds: number) => void) | undefined;

  constructor(
    private readonly model: BaseRecommender<object>,
    readonly maxBatch: number,
  ) {}

  recommend(userIdx: number, k: number, excludeSeen: boolean, exclude: number[]): Promise<Recommendations> {
    return new Promise((resolve, reject) => {
      this.queue.push({ excludeSeen, entry: { userIdx, k, exclude, resolve, reject } });
      if (!this.running) void this.pump();
    });
  }

  private async pump(): Promise<void> {
    this.running = true;
    while (this.queue.length > 0) {
      const excludeSeen = this.queue[0].excludeSeen;
      const batch: Pending[] = [];
      const rest: typeof this.queue = [];
      for (const q of this.queue) {
        if (batch.length < this.maxBatch && q.excludeSeen === excludeSeen) batch.push(q.entry);
        else rest.push(q);
      }
      this.queue = rest;
      const started = performance.now();
      try {
        const k = Math.max(...batch.map((p) => p.k));
        const users = Int32Array.from(batch, (p) => p.userIdx);
        const indptr = new Int32Array(batch.length + 1);
        batch.forEach((p, r) => (indptr[r + 1] = indptr[r] + p.exclude.length));
        const exclude: Csr = { indptr, indices: Int32Array.from(batch.flatMap((p) => p.exclude)) };
        const top = await this.model.recommend(users, k, { excludeSeen, exclude });
        batch.forEach((p, r) => {
          // The first p.k of a row of the top-k are the row's top-p.k (one ranking order: score, then index).
          // The model answers rows of width top.k (k clamped to its catalogue).
          const w = top.k;
          const n = Math.min(p.k, w);
          const row = { indices: top.indices.slice(r * w, r * w + n), scores: top.scores.slice(r * w, r * w + n), k: n };
          p.resolve(row);
        });
      } catch (error) {
        for (const p of batch) p.reject(error);
      }
      this.onBatch?.(batch.length, (performance.now() - started) / 1000);
    }
    this.running = false;
  }
}

export interface ServingModelOptions {
  maxBatch?: number;
}

/** A loaded model plus what the service needs to serve it (see the file comment). */
export class ServingModel {
  readonly dynamic: boolean;
  readonly batcher: RecommendBatcher;
  /** Sequence number of the last feedback event applied to the model (dynamic profiles only). */
  private appliedSeq = 0;
  private applying: Promise<void> | undefined;
  /** Feedback events this model could not use (an item it does not know, or refused by updateUser). */
  notApplied = 0;
  lastNotApplied: string | undefined;

  constructor(
    readonly model: BaseRecommender<object>,
    readonly dir: string,
    readonly version: string,
    readonly loadedAt: Date,
    private readonly feedback: FeedbackLog,
    options: ServingModelOptions = {},
  ) {
    this.dynamic = hasDynamicProfiles(model);
    this.batcher = new RecommendBatcher(model, options.maxBatch ?? DEFAULT_MAX_BATCH);
  }

  get name(): string {
    return this.model.name;
  }

  private userIndex(user: string): number | undefined {
    return this.model.catalog.userIds.index(user);
  }

  private itemIndex(item: string, field: string): number {
    const index = this.model.catalog.itemIds.index(item);
    if (index === undefined) {
      throw new ServiceError(`unknown item '${item}' (${field}): not among the model's ${this.model.numItems} items`, 'ERR_UNKNOWN_ID', 404, field);
    }
    return index;
  }

  /**
   * Checks a feedback event before it is recorded: its item must be in the catalog, and a rating
   * predictor needs the rating. (Fields and ranges are checked by the request schema.)
   */
  checkFeedback(input: FeedbackInput): void {
    this.itemIndex(input.item, 'item');
    if (isRatingPredictor(this.model) && input.rating === undefined) {
      throw new ServiceError(`rating is required: ${this.name} folds feedback in from explicit ratings`, 'ERR_VALIDATION', 400, 'rating');
    }
  }

  /** A feedback event as the model's HistoryEvent, or undefined when its item is not in this model. */
  private historyEvent(e: FeedbackEvent | RequestEvent & { item: string }): HistoryEvent | undefined {
    const itemIdx = this.model.catalog.itemIds.index(e.item);
    if (itemIdx === undefined) return undefined;
    const out: HistoryEvent = { itemIdx };
    if (e.rating !== undefined) out.rating = e.rating;
    if (e.timestamp !== undefined) out.timestamp = e.timestamp;
    for (const s of UNIT_SIGNALS) if (e[s] !== undefined) out[s] = e[s];
    return out;
  }

  /** The user's acknowledged feedback as history events this model can use. */
  private feedbackEvents(user: string): HistoryEvent[] {
    const out: HistoryEvent[] = [];
    for (const e of this.feedback.eventsOf(user)) {
      const h = this.historyEvent(e);
      if (h) out.push(h);
    }
    return out;
  }

  /** A known user's training items as history events (with the model's own ratings for a rating predictor). */
  private trainingEvents(userIdx: number): HistoryEvent[] {
    const items = this.model.trainingItems(userIdx);
    const ratings = isRatingPredictor(this.model) ? this.model.predictRatings(new Int32Array(items.length).fill(userIdx), items) : undefined;
    return Array.from(items, (itemIdx, r) => (ratings ? { itemIdx, rating: ratings[r] } : { itemIdx }));
  }

  /**
   * Applies acknowledged feedback not yet applied, in log order (dynamic profiles only; others read the
   * log at request time). Events of users the model was not trained on stay in the log for history serving.
   */
  catchUp(): Promise<void> {
    if (!this.dynamic) return Promise.resolve();
    this.applying ??= this.applyPending().finally(() => {
      this.applying = undefined;
    });
    return this.applying;
  }

  private async applyPending(): Promise<void> {
    const model = this.model as BaseRecommender<object> & DynamicProfiles;
    for (;;) {
      const events = this.feedback.eventsAfter(this.appliedSeq);
      if (events.length === 0) return;
      for (const e of events) {
        this.appliedSeq = e.seq;
        const userIdx = this.userIndex(e.user);
        if (userIdx === undefined) continue;
        const h = this.historyEvent(e);
        if (!h) {
          this.skip(`event ${e.seq}: item '${e.item}' is not in this model`);
          continue;
        }
        try {
          await model.updateUser(userIdx, [h]);
        } catch (error) {
          this.skip(`event ${e.seq}: ${this.name}.updateUser refused it: ${(error as Error).message}`);
        }
      }
    }
  }

  private skip(reason: string): void {
    this.notApplied++;
    this.lastNotApplied = reason;
  }

  /** Whether every acknowledged event has been applied (always true for models without dynamic profiles). */
  get caughtUp(): boolean {
    return !this.dynamic || this.appliedSeq >= this.feedback.lastSeq;
  }

  async recommend(request: RecommendRequest): Promise<RecommendAnswer> {
    const model = this.model;
    const k = Math.min(request.k ?? 10, model.numItems);
    const excludeSeen = request.excludeSeen !== false;
    const exclude = (request.exclude ?? []).map((id, r) => this.itemIndex(id, `exclude[${r}]`));
    if (request.explain && k > MAX_EXPLAIN_K) {
      throw new ServiceError(`explain: true takes k <= ${MAX_EXPLAIN_K} (each explanation scores the user again)`, 'ERR_VALIDATION', 400, 'k');
    }
    const user = request.user;
    const userIdx = user !== undefined ? this.userIndex(user) : undefined;
    const feedback = user !== undefined ? this.feedbackEvents(user) : [];

    let events: HistoryEvent[] | undefined;
    let servedFrom: ServedFrom;
    if (request.history !== undefined) {
      const given = request.history.map((e, r) => {
        this.itemIndex(e.item, `history[${r}].item`);
        return this.historyEvent(e)!;
      });
      const known = userIdx !== undefined && !this.dynamic ? this.trainingEvents(userIdx) : [];
      events = [...known, ...feedback, ...given];
      servedFrom = 'history';
    } else if (userIdx !== undefined && (feedback.length === 0 || this.dynamic)) {
      servedFrom = 'model';
    } else if (userIdx !== undefined) {
      events = [...this.trainingEvents(userIdx), ...feedback];
      servedFrom = 'model+feedback';
    } else if (feedback.length > 0) {
      events = feedback;
      servedFrom = 'feedback';
    } else {
      throw new ServiceError(
        `unknown user '${user}': not among the model's ${model.numUsers} users and no feedback recorded for them; send a "history" to serve a new user`,
        'ERR_UNKNOWN_USER',
        404,
        'user',
      );
    }
    if (events !== undefined && events.length === 0 && model.name !== 'pop') {
      throw new ServiceError('history is empty: there is nothing to recommend from', 'ERR_VALIDATION', 400, 'history');
    }

    let top: Recommendations;
    if (events === undefined) {
      if (this.dynamic) await this.catchUp();
      top = await this.batcher.recommend(userIdx!, k, excludeSeen, exclude);
    } else {
      top = await model.recommendForHistory(events, k, { excludeSeen, exclude });
    }
    const items = model.describe(top);
    let explanations: ExplanationByIds[] | undefined;
    if (request.explain) {
      explanations = [];
      for (const item of items) {
        explanations.push(this.model.explanationByIds(events === undefined ? await model.explain(userIdx!, item.index) : await model.explainForHistory(events, item.index)));
      }
    }
    return {
      model: model.name,
      ...(user !== undefined ? { user } : {}),
      k,
      servedFrom,
      feedbackEvents: feedback.length,
      items: resultItems(items, explanations),
    };
  }

  async similar(itemId: string, k: number): Promise<{ model: string; item: Omit<ResultItem, 'rank' | 'score'>; k: number; items: ResultItem[] }> {
    const model = this.model;
    const itemIdx = this.itemIndex(itemId, 'id');
    const kk = Math.max(1, Math.min(k, model.numItems - 1));
    const items = model.describe(await model.similarItems(itemIdx, kk));
    const { index: _index, ...item } = model.catalog.item(itemIdx);
    return { model: model.name, item, k: kk, items: resultItems(items) };
  }

  async explain(user: string, itemId: string, history?: RequestEvent[]): Promise<Record<string, unknown>> {
    const model = this.model;
    const itemIdx = this.itemIndex(itemId, 'item');
    const userIdx = this.userIndex(user);
    const feedback = this.feedbackEvents(user);
    let explanation: Explanation;
    if (history === undefined && userIdx !== undefined && (feedback.length === 0 || this.dynamic)) {
      if (this.dynamic) await this.catchUp();
      explanation = await model.explain(userIdx, itemIdx);
    } else {
      const given = (history ?? []).map((e, r) => {
        this.itemIndex(e.item, `history[${r}].item`);
        return this.historyEvent(e)!;
      });
      const known = userIdx !== undefined && !this.dynamic ? this.trainingEvents(userIdx) : [];
      const events = [...known, ...feedback, ...given];
      if (events.length === 0) {
        throw new ServiceError(
          `unknown user '${user}': not among the model's ${model.numUsers} users and no feedback recorded for them; send a "history"`,
          'ERR_UNKNOWN_USER',
          404,
          'user',
        );
      }
      explanation = await model.explainForHistory(events, itemIdx);
    }
    const e = this.model.explanationByIds(explanation);
    const { index: _index, ...item } = e.item;
    return {
      model: model.name,
      user,
      item: { ...item, score: score(e.item.score) },
      method: e.method,
      because: e.because.map(({ index: _i, ...b }) => ({ ...b, similarity: ratio(b.similarity), ...(b.share !== undefined ? { share: ratio(b.share) } : {}) })),
    };
  }
}
