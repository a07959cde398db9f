/**
 * Fine-tuning data for an LLM re-ranker in OpenAI's chat fine-tuning format: one JSON object per line,
 * {"messages": [system, user, assistant]}, where the user message is the same rank-and-explain prompt the
 * re-ranker sends (profile from the training part, numbered candidates) and the assistant message is the
 * answer the user's held-out items make right, in the requested JSON, each explained from the engine's
 * signals.
 *
 * Split: leave-one-out (each sampled user's latest interaction held out, the model trained on the rest).
 * The held-out item must be a candidate for the answer to be valid: where the base model ranks it in its
 * top n it stays at its rank; otherwise it replaces the lowest-ranked candidate at a seeded random place
 * (always putting it last would teach the LLM "the last one is right").
 *
 * Every example is checked against the format's rules (OpenAI's fine-tuning guide and its cookbook's
 * "Data preparation and analysis for chat model fine-tuning" checks) before anything is written, and the
 * file is written atomically.
 */
import { leaveOneOut } from '../data/splits';
import type { InteractionStore } from '../data/store';
import { SemrecError } from '../errors';
import { userItems } from '../models/data';
import { throwIfAborted, type LongRunningOptions } from '../progress';
import { writeFileAtomically } from '../util/fs';
import { Random } from '../util/random';
import { DEFAULT_CANDIDATES, ChatEngine, type Candidate } from './engine';
import { DEFAULT_PROFILE_TOKENS } from './profile';
import { RANK_AND_EXPLAIN, templateTag, type ChatMessage } from './prompts';
import { tokenCounter, type TokenCounter } from './tokens';

/** OpenAI refuses a training file with fewer examples (fine-tuning guide: "at least 10 examples"). */
export const MIN_FINETUNE_EXAMPLES = 10;
/** Tokens one example may have: the training context of gpt-4o-mini and gpt-4o (OpenAI fine-tuning guide, token limits). */
export const MAX_EXAMPLE_TOKENS = 65_536;

const ROLES = new Set(['system', 'user', 'assistant', 'tool', 'function']);
const MESSAGE_KEYS = new Set(['role', 'content', 'name', 'weight', 'function_call', 'tool_calls', 'tool_call_id']);

export interface FinetuneProblem {
  /** 1-based line of the file. */
  line: number;
  /** The cookbook's error kind: data_type, missing_messages_list, message_missing_key, ... */
  kind: string;
  message: string;
}

/** The problems of one example (a parsed line); empty when it follows the format. */
export function checkFinetuneExample(example: unknown, line: number, counter: TokenCounter, maxTokens = MAX_EXAMPLE_TOKENS): FinetuneProblem[] {
  const problems: FinetuneProblem[] = [];
  const add = (kind: string, message: string) => problems.push({ line, kind, message: `line ${line}: ${message}` });
  if (example === null || typeof example !== 'object' || Array.isArray(example)) {
    add('data_type', 'each line must be a JSON object');
    return problems;
  }
  const messages = (example as { messages?: unknown }).messages;
  if (!Array.isArray(messages) || messages.length === 0) {
    add('missing_messages_list', 'needs a non-empty "messages" list');
    return problems;
  }
  for (const key of Object.keys(example)) if (key !== 'messages' && key !== 'tools' && key !== 'parallel_tool_calls') add('unrecognized_key', `unknown key "${key}"`);
  messages.forEach((m: unknown, i: number) => {
    if (m === null || typeof m !== 'object' || Array.isArray(m)) {
      add('data_type', `message ${i} must be an object`);
      return;
    }
    const msg = m as Record<string, unknown>;
    if (!('role' in msg) || !('content' in msg)) add('message_missing_key', `message ${i} needs "role" and "content"`);
    for (const key of Object.keys(msg)) if (!MESSAGE_KEYS.has(key)) add('message_unrecognized_key', `message ${i} has unknown key "${key}"`);
    if (!ROLES.has(String(msg.role))) add('unrecognized_role', `message ${i} has role "${String(msg.role)}" (system, user, assistant, tool)`);
    const callsInstead = msg.role === 'assistant' && (msg.tool_calls !== undefined || msg.function_call !== undefined);
    if (!callsInstead && (typeof msg.content !== 'string' || msg.content.trim().length === 0)) add('missing_content', `message ${i} has no text content`);
    if ('weight' in msg && (msg.role !== 'assistant' || (msg.weight !== 0 && msg.weight !== 1))) add('invalid_weight', `message ${i}: "weight" is allowed on assistant messages only, as 0 or 1`);
  });
  if (!messages.some((m: { role?: unknown }) => m?.role === 'assistant')) add('example_missing_assistant_message', 'has no assistant message to learn from');
  else if ((messages[messages.length - 1] as { role?: unknown })?.role !== 'assistant') add('last_message_not_assistant', 'the last message must be the assistant answer');
  if (problems.length === 0) {
    const tokens = counter.countMessages(messages as ChatMessage[]);
    if (tokens > maxTokens) add('example_too_long', `${tokens} tokens, over the ${maxTokens} an example may have`);
  }
  return problems;
}

/** The problems of a whole JSON-lines training file's text (including the minimum example count). */
export function checkFinetuneFile(text: string, counter: TokenCounter = tokenCounter(), maxTokens = MAX_EXAMPLE_TOKENS): FinetuneProblem[] {
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  const problems: FinetuneProblem[] = [];
  lines.forEach((line, n) => {
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch {
      problems.push({ line: n + 1, kind: 'invalid_json', message: `line ${n + 1}: not valid JSON` });
      return;
    }
    problems.push(...checkFinetuneExample(parsed, n + 1, counter, maxTokens));
  });
  if (lines.length < MIN_FINETUNE_EXAMPLES) {
    problems.push({ line: 0, kind: 'too_few_examples', message: `${lines.length} examples; OpenAI needs at least ${MIN_FINETUNE_EXAMPLES}` });
  }
  return problems;
}

export interface FinetuneOptions extends LongRunningOptions {
  store: InteractionStore;
  /** Candidate model (default: the engine's DEFAULT_CANDIDATE_MODEL). */
  model?: string;
  params?: object;
  /** Users sampled (all eligible users when fewer). */
  users: number;
  /** Seeds the split, the model, the user sample and the target placement. */
  seed: number;
  candidates?: number;
  profileTokens?: number;
  out: string;
  counter?: TokenCounter;
  maxExampleTokens?: number;
  numThreads?: number;
}

export interface FinetuneReport {
  file: string;
  examples: number;
  /** Users asked for, and the eligible ones (with a held-out item and training history). */
  requestedUsers: number;
  eligibleUsers: number;
  template: string;
  model: string;
  tokens: { total: number; max: number; mean: number; tokenizer: string };
  /** How often the held-out item was already among the base model's top n. */
  targetInTopN: number;
}

export async function exportFinetune(options: FinetuneOptions): Promise<FinetuneReport> {
  const { store } = options;
  if (!Number.isInteger(options.users) || options.users < 1) throw new SemrecError(`--users must be a positive integer, got ${options.users}`, 'ERR_OUT_OF_RANGE');
  const n = options.candidates ?? DEFAULT_CANDIDATES;
  if (!Number.isInteger(n) || n < 2) throw new SemrecError(`--candidates must be an integer >= 2, got ${n}`, 'ERR_OUT_OF_RANGE');
  const counter = options.counter ?? tokenCounter();
  const split = leaveOneOut(store, { validation: false, seed: options.seed });
  const engine = await ChatEngine.train(split.train, { model: options.model, params: options.params, seed: options.seed, numThreads: options.numThreads, onProgress: options.onProgress, signal: options.signal });
  const truth = userItems(split.test);
  const trainItems = userItems(split.train);
  const eligible: number[] = [];
  for (let u = 0; u < store.numUsers; u++) {
    if (truth.indptr[u + 1] > truth.indptr[u] && trainItems.indptr[u + 1] > trainItems.indptr[u]) eligible.push(u);
  }
  const rng = new Random(options.seed);
  const users = (rng.shuffle([...eligible]) as number[]).slice(0, options.users).sort((a, b) => a - b);
  const lines: string[] = [];
  let total = 0;
  let max = 0;
  let inTop = 0;
  for (const [done, u] of users.entries()) {
    throwIfAborted(options.signal, 'chat export-finetune');
    const targets = Array.from(truth.indices.subarray(truth.indptr[u], truth.indptr[u + 1]));
    const base = await engine.candidates(u, n);
    let candidates: Candidate[] = base.slice();
    for (const target of targets) {
      if (candidates.some((c) => c.itemIdx === target)) {
        inTop++;
        continue;
      }
      // Replace the lowest-ranked non-target candidate, then move the target to a random place.
      const drop = candidates.map((c) => targets.includes(c.itemIdx)).lastIndexOf(false);
      candidates.splice(drop, 1);
      candidates.splice(rng.int(0, candidates.length), 0, { itemIdx: target, score: NaN, baseRank: 0 });
    }
    candidates = candidates.map((c, r) => ({ ...c, baseRank: r + 1 }));
    const profile = engine.profile(u, options.profileTokens ?? DEFAULT_PROFILE_TOKENS);
    const messages = RANK_AND_EXPLAIN.build({ catalog: engine.catalog, profile: profile.text, candidates, k: targets.length });
    const recommendations = [];
    for (const target of targets) {
      recommendations.push({
        candidate: candidates.findIndex((c) => c.itemIdx === target) + 1,
        title: engine.catalog.label(target),
        explanation: await engine.explainItem(u, target),
      });
    }
    const example = { messages: [...messages, { role: 'assistant', content: JSON.stringify({ recommendations }) }] };
    const tokens = counter.countMessages(example.messages);
    total += tokens;
    max = Math.max(max, tokens);
    lines.push(JSON.stringify(example));
    options.onProgress?.({ phase: 'writing fine-tuning examples', done: done + 1, total: users.length, unit: 'users' });
  }
  const text = lines.length > 0 ? `${lines.join('\n')}\n` : '';
  const problems = checkFinetuneFile(text, counter, options.maxExampleTokens ?? MAX_EXAMPLE_TOKENS);
  if (problems.length > 0) {
    throw new SemrecError(
      `chat export-finetune: the examples break OpenAI's fine-tuning format (${problems.length} problems; first: ${problems[0].message}); nothing was written`,
      'ERR_FINETUNE_FORMAT',
    );
  }
  await writeFileAtomically(options.out, text);
  return {
    file: options.out,
    examples: lines.length,
    requestedUsers: options.users,
    eligibleUsers: eligible.length,
    template: templateTag(RANK_AND_EXPLAIN),
    model: engine.modelName,
    tokens: { total, max, mean: lines.length > 0 ? total / lines.length : 0, tokenizer: counter.name },
    targetInTopN: inTop,
  };
}
