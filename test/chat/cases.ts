/**
 * The scripted endpoint behaviours every re-ranking path must survive, as data: each case scripts the
 * local OpenAI-compatible server, and says what the final list, the guard counts and `fallback` must be.
 * rerank.test.ts runs them through the API, chat-cli.test.ts through `semrec chat rerank`.
 */
import assert from 'node:assert/strict';

import { MOVIES } from './fixtures';
import { promptCandidates, type RecordedRequest, type ScriptedReply } from '../helpers/openai-server';

export interface CaseResult {
  items: { id: string; title: string; explanation: string; source?: string }[];
  guard: { outOfCandidate: number; duplicates: number; inHistory: number; unparsed: number };
  fallback: boolean;
  fallbackReason?: string;
  usage: { promptTokens: number; completionTokens: number; totalTokens: number; estimated: boolean } | null;
}

export interface CaseContext {
  /** Candidate titles in the prompt's order, as the engine listed them for this user. */
  candidates: string[];
  /** Titles of the user's history. */
  history: string[];
  k: number;
  requests: RecordedRequest[];
}

export interface RerankCase {
  name: string;
  /** Replies in order; a function builds them from the first request (to name real candidates). */
  replies: (request: RecordedRequest, ctx: { history: string[] }) => ScriptedReply[];
  client?: { maxRetries?: number; timeoutMs?: number; stream?: boolean };
  check(result: CaseResult, ctx: CaseContext): void;
}

const ZERO = { outOfCandidate: 0, duplicates: 0, inHistory: 0, unparsed: 0 };

function json(entries: object[]): ScriptedReply {
  return { content: JSON.stringify({ recommendations: entries }) };
}

const titlesOf = (r: CaseResult) => r.items.map((i) => i.title);

/** "Godfather, The (1972)" -> "The Godfather"; "Star Wars (1977)" -> "Star Wars": how LLMs write titles. */
export function nearMiss(title: string): string {
  const noYear = title.replace(/\s*\(\d{4}\)\s*$/, '').replace(/\s*\([^()]*\)\s*$/, '');
  const m = /^(.*), (The|A|An|Les)$/.exec(noYear);
  return m ? `${m[2]} ${m[1]}` : noYear;
}

/** One letter of the longest word dropped: a typo a fuzzy match must forgive. */
export function typo(title: string): string {
  const words = title.split(' ');
  const longest = words.reduce((a, b) => (b.length > a.length ? b : a));
  return words.map((w) => (w === longest ? w.slice(0, 2) + w.slice(3) : w)).join(' ');
}

export const INVENTED = ['The Midnight Cartographer (1994)', 'Quantum Gardeners'];

export const RERANK_CASES: RerankCase[] = [
  {
    name: 'a clean JSON answer re-orders the candidates and keeps the LLM explanations',
    replies: (req) => [json([...promptCandidates(req)].reverse().map((c) => ({ candidate: c.n, title: c.title, explanation: `LLM: ${c.title}` })))],
    check(r, ctx) {
      assert.deepEqual(r.guard, ZERO);
      assert.equal(r.fallback, false);
      assert.deepEqual(titlesOf(r), [...ctx.candidates].reverse().slice(0, ctx.k));
      for (const item of r.items) assert.equal(item.explanation, `LLM: ${item.title}`);
      assert.ok(r.usage && r.usage.totalTokens > 0 && !r.usage.estimated);
    },
  },
  {
    name: 'a numbered plain-text answer is read line by line',
    replies: (req) => {
      const c = promptCandidates(req);
      return [{ content: ['Here is my ranking:', ...[c[2], c[0], c[1]].map((x, i) => `${i + 1}. ${x.title} - because it fits`), 'Enjoy!'].join('\n') }];
    },
    check(r, ctx) {
      assert.deepEqual(r.guard, ZERO);
      assert.equal(r.fallback, false);
      const [c0, c1, c2] = ctx.candidates;
      assert.deepEqual(titlesOf(r).slice(0, 3), [c2, c0, c1]);
      assert.equal(r.items[0].explanation, 'because it fits');
      // The rest is filled from the base ranking, in its order.
      assert.deepEqual(titlesOf(r).slice(3), ctx.candidates.filter((t) => ![c0, c1, c2].includes(t)).slice(0, ctx.k - 3));
    },
  },
  {
    name: 'invented titles are counted out-of-candidate and replaced from the base ranking',
    replies: (req) => {
      const c = promptCandidates(req);
      return [json([{ title: INVENTED[0], explanation: 'x' }, { candidate: c[3].n, title: c[3].title }, { title: INVENTED[1] }, { candidate: c[1].n, title: c[1].title }])];
    },
    check(r, ctx) {
      assert.deepEqual(r.guard, { ...ZERO, outOfCandidate: 2 });
      assert.equal(r.fallback, false);
      assert.equal(r.items.length, ctx.k);
      assert.deepEqual(titlesOf(r).slice(0, 2), [ctx.candidates[3], ctx.candidates[1]]);
      for (const t of titlesOf(r)) assert.ok(ctx.candidates.includes(t), `${t} is a candidate`);
    },
  },
  {
    name: 'repeated items are counted as duplicates and kept once',
    replies: (req) => {
      const c = promptCandidates(req);
      return [json([c[4], c[4], c[2], c[4]].map((x) => ({ candidate: x.n, title: x.title, explanation: 'again' })))];
    },
    check(r, ctx) {
      assert.deepEqual(r.guard, { ...ZERO, duplicates: 2 });
      assert.deepEqual(titlesOf(r).slice(0, 2), [ctx.candidates[4], ctx.candidates[2]]);
      assert.equal(new Set(titlesOf(r)).size, ctx.k);
    },
  },
  {
    name: "items from the user's history are counted and never shown",
    replies: (req, { history }) => {
      const c = promptCandidates(req);
      return [json([{ title: history[0] }, { candidate: c[0].n, title: c[0].title }, { title: nearMiss(history[1]) }])];
    },
    check(r, ctx) {
      assert.deepEqual(r.guard, { ...ZERO, inHistory: 2 });
      assert.equal(r.fallback, false);
      for (const t of titlesOf(r)) assert.ok(!ctx.history.includes(t), `${t} is not from the history`);
      assert.equal(r.items.length, ctx.k);
    },
  },
  {
    name: 'near-miss titles ("The Godfather", a dropped year, a typo) map to their catalog items',
    replies: (req) => {
      const c = promptCandidates(req).slice(0, 4);
      return [json(c.map((x, i) => ({ title: i === 3 && nearMiss(x.title).length >= 9 ? typo(nearMiss(x.title)) : nearMiss(x.title), explanation: 'close enough' })).reverse())];
    },
    check(r, ctx) {
      assert.deepEqual(r.guard, ZERO);
      assert.deepEqual(titlesOf(r).slice(0, 4), ctx.candidates.slice(0, 4).reverse());
    },
  },
  {
    name: 'entries that name nothing are counted as unparsed',
    replies: (req) => {
      const c = promptCandidates(req);
      return [json([{ explanation: 'no item here' }, { candidate: c[1].n, title: c[1].title }, {}])];
    },
    check(r, ctx) {
      assert.deepEqual(r.guard, { ...ZERO, unparsed: 2 });
      assert.equal(r.items[0].title, ctx.candidates[1]);
    },
  },
  {
    name: 'an empty answer falls back to the base ranking',
    replies: () => [{ content: '' }],
    check(r, ctx) {
      assert.equal(r.fallback, true);
      assert.match(r.fallbackReason ?? '', /empty/);
      assert.deepEqual(titlesOf(r), ctx.candidates.slice(0, ctx.k));
      for (const item of r.items) assert.ok(item.explanation.length > 0);
    },
  },
  {
    name: 'a 429 is retried and the second answer is used',
    replies: (req) => [{ status: 429, retryAfterMs: 20 }, json(promptCandidates(req).slice(1).map((c) => ({ candidate: c.n, title: c.title })))],
    check(r, ctx) {
      assert.equal(ctx.requests.length, 2);
      assert.equal(r.fallback, false);
      assert.deepEqual(titlesOf(r), ctx.candidates.slice(1, ctx.k + 1));
    },
  },
  {
    name: '500s until the retries run out fall back to the base ranking',
    client: { maxRetries: 2 },
    replies: () => [500, 502, 503].map((status) => ({ status, retryAfterMs: 10 })),
    check(r, ctx) {
      assert.equal(ctx.requests.length, 3);
      assert.equal(r.fallback, true);
      assert.match(r.fallbackReason ?? '', /HTTP 503/);
      assert.deepEqual(titlesOf(r), ctx.candidates.slice(0, ctx.k));
      assert.equal(r.usage, null);
    },
  },
  {
    name: 'an endpoint that hangs past the timeout falls back to the base ranking',
    client: { maxRetries: 0, timeoutMs: 400 },
    replies: () => [{ hang: true }],
    check(r, ctx) {
      assert.equal(r.fallback, true);
      assert.match(r.fallbackReason ?? '', /did not answer in time/);
      assert.deepEqual(titlesOf(r), ctx.candidates.slice(0, ctx.k));
    },
  },
  {
    name: 'a streamed answer is assembled from its chunks, with the usage of the last one',
    client: { stream: true },
    replies: (req) => [json([...promptCandidates(req)].reverse().map((c) => ({ candidate: c.n, title: c.title, explanation: `streamed ${c.n}` })))],
    check(r, ctx) {
      assert.equal(ctx.requests[0].body.stream, true);
      assert.equal(r.fallback, false);
      assert.deepEqual(titlesOf(r), [...ctx.candidates].reverse().slice(0, ctx.k));
      assert.ok(r.usage && !r.usage.estimated);
    },
  },
];

/** Every fixture title, to check lists name real items. */
export const FIXTURE_TITLES = MOVIES.map((m) => m[0]);
