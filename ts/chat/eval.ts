/**
 * `semrec chat eval`: does the LLM's re-ranking beat the base model's own order? Leave-one-out (each
 * user's latest interaction held out, Chat-REC's protocol), the candidate model trained on the rest; for a
 * seeded sample of users, the base model's top-n candidates are re-ranked by the LLM and both lists are
 * scored against the held-out item: precision, recall and NDCG at each K (the core's
 * rankingMetricsFromTopK), with 95% t-intervals over users and paired tests (t and Wilcoxon) of the
 * re-ranked list against the base one, plus the guard counts, fallbacks, latency and tokens.
 *
 * Both lists are drawn from the same n candidates, so the comparison isolates the re-ranking; a held-out
 * item outside the candidates is a miss for both (the report gives how often that happens).
 */
import os from 'node:os';

import { leaveOneOut } from '../data/splits';
import type { InteractionStore } from '../data/store';
import { SemrecError } from '../errors';
import { summarize, pairedTests, type PairedTest } from '../eval/statistics';
import { rankingMetricsFromTopK } from '../kernels/metrics';
import { userItems } from '../models/data';
import { throwIfAborted, type LongRunningOptions } from '../progress';
import { selectRows } from '../util/csr';
import { Random } from '../util/random';
import type { LlmClient } from './client';
import { DEFAULT_CANDIDATES, ChatEngine } from './engine';
import { addGuardCounts, emptyGuardCounts, type GuardCounts } from './guards';

/** Cut-offs reported (Chat-REC's table is at 5; 10 is the engine's default list). */
export const DEFAULT_CHAT_KS = [5, 10];
/** Users evaluated by default: every one costs an LLM call. */
export const DEFAULT_EVAL_USERS = 100;
const METRICS = ['precision', 'recall', 'ndcg'] as const;

export interface ChatEvalOptions extends LongRunningOptions {
  store: InteractionStore;
  model?: string;
  params?: object;
  client?: LlmClient;
  users?: number;
  seed?: number;
  candidates?: number;
  ks?: number[];
  profileTokens?: number;
  numThreads?: number;
  stream?: boolean;
}

export interface ListMetrics {
  metrics: Record<string, number>;
  ci95: Record<string, [number, number]>;
}

export interface ChatEvalReport {
  dataset: { name: string; numUsers: number; numItems: number; numInteractions: number };
  protocol: { name: 'leave-one-out'; seed: number; users: number; eligibleUsers: number; candidates: number; ks: number[]; ci: string };
  model: string;
  llm: { endpoint: string; model: string } | null;
  base: ListMetrics;
  reranked: ListMetrics;
  /** Paired tests of re-ranked minus base, per metric, over the same users. */
  tests: Record<string, PairedTest>;
  guard: GuardCounts;
  /** Users whose list fell back to the base ranking, and why (reason -> users). */
  fallbacks: { count: number; reasons: Record<string, number> };
  /** Users whose held-out item was among the n candidates (the most any re-ranking can hit). */
  heldOutInCandidates: number;
  latencyMs: { mean: number; median: number; p95: number; max: number } | null;
  tokens: { prompt: number; completion: number; total: number; estimated: boolean; meanPerUser: number };
  machine: { cpus: number; cpuModel: string; node: string };
  createdAt: string;
}

function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[i];
}

export async function chatEval(options: ChatEvalOptions): Promise<ChatEvalReport> {
  const { store } = options;
  const seed = options.seed ?? 42;
  const n = options.candidates ?? DEFAULT_CANDIDATES;
  const ks = [...new Set(options.ks ?? DEFAULT_CHAT_KS)].sort((a, b) => a - b);
  const kMax = ks[ks.length - 1];
  if (ks.some((k) => !Number.isInteger(k) || k < 1)) throw new SemrecError(`--ks must be positive integers, got ${ks.join(',')}`, 'ERR_OUT_OF_RANGE');
  if (!Number.isInteger(n) || n < kMax) throw new SemrecError(`--candidates (${n}) must be an integer >= the largest K (${kMax})`, 'ERR_OUT_OF_RANGE');
  const wanted = options.users ?? DEFAULT_EVAL_USERS;
  if (!Number.isInteger(wanted) || wanted < 1) throw new SemrecError(`--users must be a positive integer, got ${wanted}`, 'ERR_OUT_OF_RANGE');

  const split = leaveOneOut(store, { validation: false, seed });
  const engine = await ChatEngine.train(split.train, { model: options.model, params: options.params, seed, numThreads: options.numThreads, onProgress: options.onProgress, signal: options.signal });
  const truthAll = userItems(split.test);
  const trainItems = userItems(split.train);
  const eligible: number[] = [];
  for (let u = 0; u < store.numUsers; u++) if (truthAll.indptr[u + 1] > truthAll.indptr[u] && trainItems.indptr[u + 1] > trainItems.indptr[u]) eligible.push(u);
  const users = (new Random(seed).shuffle([...eligible]) as number[]).slice(0, wanted).sort((a, b) => a - b);

  const baseLists = new Int32Array(users.length * kMax).fill(-1);
  const rerankedLists = new Int32Array(users.length * kMax).fill(-1);
  const guard = emptyGuardCounts();
  const reasons: Record<string, number> = {};
  let fallbacks = 0;
  let inCandidates = 0;
  const latencies: number[] = [];
  const tokens = { prompt: 0, completion: 0, total: 0, estimated: false };
  for (const [r, u] of users.entries()) {
    throwIfAborted(options.signal, 'chat eval');
    const outcome = await engine.rerank(u, { k: kMax, candidates: n, client: options.client, profileTokens: options.profileTokens, signal: options.signal, stream: options.stream });
    outcome.candidates.slice(0, kMax).forEach((c, i) => (baseLists[r * kMax + i] = c.itemIdx));
    outcome.items.forEach((item, i) => (rerankedLists[r * kMax + i] = item.itemIdx));
    const held = new Set(truthAll.indices.subarray(truthAll.indptr[u], truthAll.indptr[u + 1]));
    if (outcome.candidates.some((c) => held.has(c.itemIdx))) inCandidates++;
    addGuardCounts(guard, outcome.guard);
    if (outcome.fallback) {
      fallbacks++;
      const reason = outcome.fallbackReason ?? 'unknown';
      reasons[reason] = (reasons[reason] ?? 0) + 1;
    }
    if (outcome.latencyMs !== null) latencies.push(outcome.latencyMs);
    if (outcome.usage) {
      tokens.prompt += outcome.usage.promptTokens;
      tokens.completion += outcome.usage.completionTokens;
      tokens.total += outcome.usage.totalTokens;
      tokens.estimated ||= outcome.usage.estimated;
    }
    options.onProgress?.({ phase: 'chat eval (re-ranking)', done: r + 1, total: users.length, unit: 'users' });
  }

  const truth = selectRows(truthAll, users);
  const score = async (indices: Int32Array) =>
    rankingMetricsFromTopK({ indices, k: kMax, numUsers: users.length, numItems: store.numItems, truth, ks });
  const [base, reranked] = [await score(baseLists), await score(rerankedLists)];
  const summary = (m: typeof base): ListMetrics => {
    const metrics: Record<string, number> = {};
    const ci95: Record<string, [number, number]> = {};
    for (const k of ks) {
      for (const name of METRICS) {
        const key = `${name}@${k}`;
        const s = summarize(m.perUser[key]);
        metrics[key] = s.mean;
        ci95[key] = s.ci95;
      }
    }
    return { metrics, ci95 };
  };
  const tests: Record<string, PairedTest> = {};
  for (const k of ks) for (const name of METRICS) tests[`${name}@${k}`] = pairedTests(reranked.perUser[`${name}@${k}`], base.perUser[`${name}@${k}`]);
  const sorted = [...latencies].sort((a, b) => a - b);
  return {
    dataset: { name: store.name, numUsers: store.numUsers, numItems: store.numItems, numInteractions: store.numInteractions },
    protocol: {
      name: 'leave-one-out',
      seed,
      users: users.length,
      eligibleUsers: eligible.length,
      candidates: n,
      ks,
      ci: '95% Student-t interval over users; paired t-test and Wilcoxon signed-rank test of re-ranked vs base',
    },
    model: engine.modelName,
    llm: options.client ? { endpoint: options.client.endpoint, model: options.client.model } : null,
    base: summary(base),
    reranked: summary(reranked),
    tests,
    guard,
    fallbacks: { count: fallbacks, reasons },
    heldOutInCandidates: inCandidates,
    latencyMs: sorted.length > 0 ? { mean: sorted.reduce((s, x) => s + x, 0) / sorted.length, median: quantile(sorted, 0.5), p95: quantile(sorted, 0.95), max: sorted[sorted.length - 1] } : null,
    tokens: { ...tokens, meanPerUser: users.length > 0 ? tokens.total / users.length : 0 },
    machine: { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model ?? 'unknown', node: process.version },
    createdAt: new Date().toISOString(),
  };
}

/** The report as markdown. */
export function renderChatEval(report: ChatEvalReport): string {
  const { protocol: p } = report;
  const rows = p.ks.flatMap((k) =>
    (['precision', 'recall', 'ndcg'] as const).map((name) => {
      const key = `${name}@${k}`;
      const ci = (l: ListMetrics) => `${l.metrics[key].toFixed(4)} [${l.ci95[key][0].toFixed(4)}, ${l.ci95[key][1].toFixed(4)}]`;
      const t = report.tests[key];
      return `| ${key} | ${ci(report.base)} | ${ci(report.reranked)} | ${t.meanDifference >= 0 ? '+' : ''}${t.meanDifference.toFixed(4)} | ${Number.isFinite(t.tPValue) ? t.tPValue.toPrecision(2) : '–'} | ${Number.isFinite(t.wilcoxonPValue) ? t.wilcoxonPValue.toPrecision(2) : '–'} |`;
    }),
  );
  const g = report.guard;
  const lat = report.latencyMs;
  return [
    `# Chat-REC re-ranking on ${report.dataset.name}`,
    '',
    `Leave-one-out (seed ${p.seed}), ${p.users} of ${p.eligibleUsers} users, ${report.model} candidates (top ${p.candidates}), ${report.llm ? `LLM ${report.llm.model} at ${report.llm.endpoint}` : 'no LLM endpoint (the re-ranked list is the base ranking)'}.`,
    `Held-out item among the candidates for ${report.heldOutInCandidates} of ${p.users} users. Intervals: ${p.ci}.`,
    '',
    '| metric | base [95% CI] | re-ranked [95% CI] | difference | t-test p | Wilcoxon p |',
    '|---|---|---|---:|---:|---:|',
    ...rows,
    '',
    `Guards (summed over users): out-of-candidate ${g.outOfCandidate}, duplicates ${g.duplicates}, in history ${g.inHistory}, unparsed ${g.unparsed}.`,
    `Fallbacks: ${report.fallbacks.count} of ${p.users}${Object.keys(report.fallbacks.reasons).length > 0 ? ` (${Object.entries(report.fallbacks.reasons).map(([r, c]) => `${c}: ${r}`).join('; ')})` : ''}.`,
    lat ? `Latency per user: median ${lat.median.toFixed(0)} ms, p95 ${lat.p95.toFixed(0)} ms, max ${lat.max.toFixed(0)} ms.` : 'Latency: no LLM calls.',
    `Tokens: ${report.tokens.prompt} prompt + ${report.tokens.completion} completion = ${report.tokens.total} (${report.tokens.meanPerUser.toFixed(0)} per user${report.tokens.estimated ? '; some counted locally, the server reported none' : ''}).`,
    '',
  ].join('\n');
}
