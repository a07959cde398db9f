/**
 * `semrec chat`: Chat-REC on the command line.
 *
 *   semrec chat --format ml-100k --path DIR --user 196 [--endpoint URL --llm-model M] [--session s.jsonl]
 *   semrec chat rerank --format ml-100k --path DIR --user 196 --k 10 [--endpoint URL --llm-model M] [--json]
 *   semrec chat eval --format ml-100k --path DIR --protocol leave-one-out --candidates 20 --users 100 [--endpoint ...]
 *   semrec chat export-finetune --format ml-100k --path DIR --users 200 --seed 42 --out f.jsonl
 *
 * Candidates come from a model trained in-process on the dataset (--model, default llmrec when it is
 * registered, else the strongest baseline) or from a saved model (--model-dir) with the dataset it was
 * trained on for titles, histories and demographics.
 */
import readline from 'node:readline';

import { Option, type Command } from 'commander';

import { LlmClient, DEFAULT_API_KEY_ENV, DEFAULT_MAX_RETRIES, DEFAULT_MAX_TOKENS, DEFAULT_TEMPERATURE, DEFAULT_TIMEOUT_MS } from '../../chat/client';
import { ChatSession, describeConstraints } from '../../chat/conversation';
import { ChatEngine, DEFAULT_CANDIDATE_MODEL, DEFAULT_CANDIDATES, DEFAULT_K, type RankedItem } from '../../chat/engine';
import { chatEval, DEFAULT_CHAT_KS, DEFAULT_EVAL_USERS, renderChatEval } from '../../chat/eval';
import { exportFinetune } from '../../chat/finetune';
import { DEFAULT_PROFILE_TOKENS } from '../../chat/profile';
import { DEFAULT_TOKENIZER, TOKENIZERS, tokenCounter, type TokenizerName } from '../../chat/tokens';
import { SemrecError, isSemrecError } from '../../errors';
import { checkModelName, loadModel } from '../../models/registry';
import { writeFileAtomically } from '../../util/fs';
import { addDatasetOptions, type DatasetCliOptions, loadDatasetFromCli, requireDataset } from '../dataset';
import { interruptSignal } from '../main';
import { createProgress } from '../progress';
import { readParams } from '../model-options';

interface ModelCliOptions extends Partial<Omit<DatasetCliOptions, 'format' | 'path'>> {
  format?: DatasetCliOptions['format'];
  path?: string;
  model: string;
  modelDir?: string;
  params?: string;
  set: string[];
  seed: string;
  threads?: string;
}

interface LlmCliOptions {
  endpoint?: string;
  llmModel?: string;
  apiKeyEnv: string;
  timeoutMs: string;
  maxRetries: string;
  temperature: string;
  maxTokens: string;
  jsonMode?: boolean;
  tokenizer: TokenizerName;
  stream: boolean;
}

interface ChatCliOptions extends ModelCliOptions, LlmCliOptions {
  user: string;
  k: string;
  candidates: string;
  profileTokens: string;
  json?: boolean;
  session?: string;
}

function integer(text: string, flag: string, min: number, max = 2 ** 31 - 1): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < min || n > max) throw new SemrecError(`${flag}: '${text}' is not an integer in [${min}, ${max}]`, 'ERR_OUT_OF_RANGE');
  return n;
}

function number(text: string, flag: string): number {
  const n = Number(text);
  if (!Number.isFinite(n)) throw new SemrecError(`${flag}: '${text}' is not a number`, 'ERR_INVALID_ARG_VALUE');
  return n;
}

function addModelOptions(command: Command): Command {
  return addDatasetOptions(command, { required: false })
    .option('--model <name>', `candidate model trained in-process on the dataset (default ${DEFAULT_CANDIDATE_MODEL}: llmrec when it is registered, else the strongest baseline)`, DEFAULT_CANDIDATE_MODEL)
    .option('--model-dir <dir>', 'a saved model (semrec model dir) to take candidates from instead of training one; needs the dataset it was trained on')
    .option('--params <file>', 'hyperparameters, JSON/JSON5: { "bpr": { "lr": 0.01 } }')
    .option('--set <model.param=value>', 'one hyperparameter (repeatable), e.g. --set bpr.epochs=50', (v: string, all: string[]) => [...all, v], [])
    .option('--seed <n>', 'seeds training (and, for eval and export-finetune, the split and the user sample)', '42')
    .option('--threads <n>', 'CPU threads for training (1: bit-reproducible)');
}

function addLlmOptions(command: Command): Command {
  return command
    .option('--endpoint <url>', 'OpenAI-compatible base URL, e.g. https://api.openai.com/v1, http://localhost:8000/v1 (vLLM), http://localhost:8080/v1 (llama.cpp), http://localhost:11434/v1 (Ollama); without it the base ranking is used')
    .option('--llm-model <name>', 'model name the endpoint serves (e.g. gpt-4o-mini, llama3.1)')
    .option('--api-key-env <name>', 'environment variable holding the API key (local servers need none)', DEFAULT_API_KEY_ENV)
    .option('--timeout-ms <ms>', 'per-request timeout', String(DEFAULT_TIMEOUT_MS))
    .option('--max-retries <n>', 'retries on 408/409/429/5xx and connection errors, with exponential backoff', String(DEFAULT_MAX_RETRIES))
    .option('--temperature <t>', 'sampling temperature', String(DEFAULT_TEMPERATURE))
    .option('--max-tokens <n>', 'answer token limit', String(DEFAULT_MAX_TOKENS))
    .option('--json-mode', 'ask for response_format json_object (servers without it answer 400)')
    .addOption(new Option('--tokenizer <name>', 'tokenizer for budgets and locally counted usage').choices([...TOKENIZERS]).default(DEFAULT_TOKENIZER))
    .option('--no-stream', 'do not stream the answer');
}

export function clientFromCli(o: LlmCliOptions): LlmClient | undefined {
  if (!o.endpoint) {
    if (o.llmModel) throw new SemrecError('--llm-model needs --endpoint (the base URL of the server that serves it)', 'ERR_INVALID_ARG_VALUE');
    return undefined;
  }
  if (!o.llmModel) throw new SemrecError('--endpoint needs --llm-model (the model name the server serves)', 'ERR_INVALID_ARG_VALUE');
  return new LlmClient({
    endpoint: o.endpoint,
    model: o.llmModel,
    apiKeyEnv: o.apiKeyEnv,
    timeoutMs: integer(o.timeoutMs, '--timeout-ms', 1),
    maxRetries: integer(o.maxRetries, '--max-retries', 0, 20),
    temperature: number(o.temperature, '--temperature'),
    maxTokens: integer(o.maxTokens, '--max-tokens', 1),
    jsonMode: o.jsonMode,
    counter: tokenCounter(o.tokenizer),
  });
}

async function modelParams(o: ModelCliOptions, name: string): Promise<object> {
  const params = await readParams(o.params, o.set);
  return params[checkModelName(name, '--model')] ?? {};
}

/** The engine the options describe: a saved model with its dataset, or a model trained on the dataset. */
async function engineFromCli(o: ModelCliOptions, signal: AbortSignal, quiet: boolean, user?: string): Promise<ChatEngine> {
  const store = await loadDatasetFromCli(requireDataset(o, 'semrec chat'), signal);
  // Before any training: an unknown user is known from the dataset alone.
  if (user !== undefined && store.userIds.index(user) === undefined) {
    throw new SemrecError(`user '${user}' is not in the dataset (${store.numUsers} users)`, 'ERR_UNKNOWN_USER');
  }
  const counter = tokenCounter((o as Partial<LlmCliOptions>).tokenizer ?? DEFAULT_TOKENIZER);
  if (o.modelDir) {
    const model = await loadModel(o.modelDir);
    if (model.numUsers !== store.numUsers || model.numItems !== store.numItems) {
      throw new SemrecError(
        `--model-dir ${o.modelDir} holds a model of ${model.numUsers} users x ${model.numItems} items; the dataset has ${store.numUsers} x ${store.numItems} (give the dataset it was trained on)`,
        'ERR_INVALID_ARG_VALUE',
      );
    }
    const engine = ChatEngine.fromStore(model, store);
    return new ChatEngine({ model, catalog: engine.catalog, userIds: store.userIds, data: store, counter });
  }
  const progress = createProgress();
  try {
    const engine = await ChatEngine.train(store, {
      model: o.model,
      params: await modelParams(o, o.model),
      seed: integer(o.seed, '--seed', 0),
      numThreads: o.threads !== undefined ? integer(o.threads, '--threads', 1, 1024) : undefined,
      onProgress: quiet ? undefined : progress.onProgress,
      signal,
    });
    return new ChatEngine({ model: engine.model, catalog: engine.catalog, userIds: engine.userIds, data: engine.data, counter });
  } finally {
    progress.stop();
  }
}

/** The rerank result as `semrec chat rerank --json` prints it. */
function rerankJson(r: Awaited<ReturnType<ChatEngine['rerank']>>): object {
  return {
    user: r.user,
    model: r.model,
    llm: r.llm,
    k: r.k,
    items: r.items.map((i) => ({ id: i.id, title: i.title, explanation: i.explanation, source: i.source, baseRank: i.baseRank, score: i.score })),
    guard: r.guard,
    fallback: r.fallback,
    ...(r.fallbackReason !== undefined ? { fallbackReason: r.fallbackReason } : {}),
    usage: r.usage,
    latencyMs: r.latencyMs,
    prompt: { template: r.template, promptTokens: r.promptTokens, profileTokens: r.profile.tokens, historyShown: r.profile.historyShown, historyTotal: r.profile.historyTotal },
    candidates: r.candidates.length,
  };
}

/**
 * Streaming on a terminal: the answer is JSON meant for the parser, so instead of echoing it the status
 * line counts what has arrived, live, and is cleared when the answer is complete.
 */
function streamStatus(stream: NodeJS.WriteStream, model: string): { onToken: (t: string) => void; done: () => void } {
  let chars = 0;
  let pieces = 0;
  return {
    onToken(t: string) {
      chars += t.length;
      pieces++;
      stream.write(`\r\x1b[2m${model} is answering: ${pieces} chunks, ${chars} characters\x1b[0m\x1b[K`);
    },
    done() {
      if (pieces > 0) stream.write('\r\x1b[K');
    },
  };
}

function itemLines(items: readonly Pick<RankedItem, 'title' | 'explanation' | 'source'>[]): string {
  return items.map((i, n) => `${String(n + 1).padStart(2)}. ${i.title}${i.source === 'base' ? '' : ' *'}\n      ${i.explanation}`).join('\n');
}

function guardLine(g: { outOfCandidate: number; duplicates: number; inHistory: number; unparsed: number }): string {
  return `guards: ${g.outOfCandidate} out-of-candidate, ${g.duplicates} duplicates, ${g.inHistory} in history, ${g.unparsed} unparsed`;
}

async function runRerank(o: ChatCliOptions): Promise<void> {
  const signal = interruptSignal();
  const client = clientFromCli(o);
  const engine = await engineFromCli(o, signal, Boolean(o.json), o.user);
  const userIdx = engine.userIndex(o.user);
  const status = client && o.stream && !o.json && process.stderr.isTTY ? streamStatus(process.stderr, client.model) : undefined;
  const result = await engine.rerank(userIdx, {
    k: integer(o.k, '--k', 1),
    candidates: integer(o.candidates, '--candidates', 1),
    profileTokens: integer(o.profileTokens, '--profile-tokens', 1),
    client,
    stream: o.stream,
    onToken: status?.onToken,
    signal,
  });
  status?.done();
  if (o.json) {
    process.stdout.write(`${JSON.stringify(rerankJson(result))}\n`);
    return;
  }
  const head = result.fallback
    ? `Top ${result.items.length} for user ${result.user} from ${result.model} (fallback: ${result.fallbackReason})`
    : `Top ${result.items.length} for user ${result.user}, re-ranked by ${result.llm!.model} from ${result.candidates.length} ${result.model} candidates (* = chosen by the LLM)`;
  process.stdout.write(`${head}\n${itemLines(result.items)}\n${guardLine(result.guard)}${result.usage ? `; tokens ${result.usage.promptTokens} + ${result.usage.completionTokens}${result.usage.estimated ? ' (counted locally)' : ''}; ${result.latencyMs!.toFixed(0)} ms` : ''}\n`);
}

const HELP = `Say what you would like: "no horror", "more like Fargo", "something from the 90s", "I loved Heat",
"I didn't like Scream". Commands: /state (constraints in force), /reset (clear them), /help, /quit.`;

async function runInteractive(o: ChatCliOptions): Promise<void> {
  const client = clientFromCli(o);
  const loading = new AbortController();
  const onSigint = () => loading.abort(new Error('interrupted'));
  process.once('SIGINT', onSigint);
  let engine: ChatEngine;
  try {
    engine = await engineFromCli(o, loading.signal, false, o.user);
  } finally {
    process.removeListener('SIGINT', onSigint);
  }
  const userIdx = engine.userIndex(o.user);
  const session = await ChatSession.open({
    engine,
    userIdx,
    client,
    k: integer(o.k, '--k', 1),
    candidates: integer(o.candidates, '--candidates', 1),
    profileTokens: integer(o.profileTokens, '--profile-tokens', 1),
    file: o.session,
  });
  const out = process.stdout;
  const profile = engine.profile(userIdx, integer(o.profileTokens, '--profile-tokens', 1));
  out.write(`semrec chat: user ${o.user}, ${profile.historyTotal} items in their history; candidates from ${engine.modelName}; ${client ? `LLM ${client.model} at ${client.endpoint}` : 'no --endpoint: answers come from the base ranking, explained by the engine'}.\n`);
  if (session.turns.length > 0) out.write(`Resumed ${o.session} after ${session.turns.length} turns; constraints: ${describeConstraints(session.state, engine.catalog).join('; ') || 'none'}.\n`);
  out.write(`${HELP}\n`);
  const rl = readline.createInterface({ input: process.stdin, output: out, terminal: process.stdin.isTTY && out.isTTY, prompt: 'you> ' });
  let turn: AbortController | undefined;
  rl.on('SIGINT', () => {
    if (turn) {
      turn.abort(new Error('interrupted'));
      out.write('\n(cancelled)\n');
    } else {
      rl.close();
    }
  });
  rl.prompt();
  for await (const line of rl) {
    const text = line.trim();
    if (text.length === 0) {
      rl.prompt();
      continue;
    }
    if (text === '/quit' || text === '/exit') break;
    if (text === '/help') out.write(`${HELP}\n`);
    else if (text === '/state') out.write(`${describeConstraints(session.state, engine.catalog).join('; ') || 'no constraints'}\n`);
    else {
      turn = new AbortController();
      try {
        const status = client && o.stream && out.isTTY ? streamStatus(out, client.model) : undefined;
        const r = await session.turn(text === '/reset' ? 'reset' : text, { stream: o.stream, onToken: status?.onToken, signal: turn.signal }).finally(() => status?.done());
        if (r.understood.length > 0) out.write(`(understood: ${r.understood.join('; ')})\n`);
        out.write(`semrec> ${r.reply}\n${itemLines(r.items)}\n`);
        if (r.fallback && client) out.write(`(fallback to the base ranking: ${r.fallbackReason})\n`);
        if (client && !r.fallback) out.write(`(${guardLine(r.guard)}${r.usage ? `; ${r.usage.totalTokens} tokens` : ''})\n`);
      } catch (error) {
        if (isSemrecError(error, 'ERR_ABORTED')) out.write('(turn cancelled; nothing was saved)\n');
        else if (isSemrecError(error)) out.write(`semrec: ${error.message} [${error.code}]\n`);
        else throw error;
      } finally {
        turn = undefined;
      }
    }
    rl.prompt();
  }
  rl.close();
  if (o.session) out.write(`Session saved in ${o.session} (${session.turns.length} turns); --session ${o.session} resumes it.\n`);
}

interface EvalCliOptions extends ModelCliOptions, LlmCliOptions {
  protocol: string;
  candidates: string;
  users: string;
  ks: string;
  profileTokens: string;
  json?: boolean;
  out?: string;
}

async function runChatEval(o: EvalCliOptions): Promise<void> {
  if (o.protocol !== 'leave-one-out') throw new SemrecError(`--protocol: chat eval supports leave-one-out (Chat-REC's protocol), not '${o.protocol}'`, 'ERR_INVALID_ARG_VALUE');
  if (o.modelDir) throw new SemrecError('--model-dir: chat eval trains its candidate model on the leave-one-out training part (a saved model may have seen the held-out items); use --model', 'ERR_INVALID_ARG_VALUE');
  const signal = interruptSignal();
  const client = clientFromCli(o);
  const store = await loadDatasetFromCli(requireDataset(o, 'semrec chat eval'), signal);
  const progress = createProgress();
  try {
    const report = await chatEval({
      store,
      model: o.model,
      params: await modelParams(o, o.model),
      client,
      users: integer(o.users, '--users', 1),
      seed: integer(o.seed, '--seed', 0),
      candidates: integer(o.candidates, '--candidates', 1),
      ks: o.ks.split(',').map((k) => integer(k.trim(), '--ks', 1)),
      profileTokens: integer(o.profileTokens, '--profile-tokens', 1),
      numThreads: o.threads !== undefined ? integer(o.threads, '--threads', 1, 1024) : undefined,
      stream: o.stream,
      onProgress: o.json ? undefined : progress.onProgress,
      signal,
    });
    progress.stop();
    const text = o.json ? `${JSON.stringify(report)}\n` : renderChatEval(report);
    if (o.out) await writeFileAtomically(o.out, o.out.endsWith('.json') ? `${JSON.stringify(report, null, 2)}\n` : renderChatEval(report));
    process.stdout.write(text);
  } finally {
    progress.stop();
  }
}

interface FinetuneCliOptions extends ModelCliOptions {
  users: string;
  candidates: string;
  profileTokens: string;
  out: string;
  tokenizer: TokenizerName;
  json?: boolean;
}

async function runExportFinetune(o: FinetuneCliOptions): Promise<void> {
  if (o.modelDir) throw new SemrecError('--model-dir: export-finetune trains its candidate model on the leave-one-out training part; use --model', 'ERR_INVALID_ARG_VALUE');
  const signal = interruptSignal();
  const store = await loadDatasetFromCli(requireDataset(o, 'semrec chat export-finetune'), signal);
  const progress = createProgress();
  try {
    const report = await exportFinetune({
      store,
      model: o.model,
      params: await modelParams(o, o.model),
      users: integer(o.users, '--users', 1),
      seed: integer(o.seed, '--seed', 0),
      candidates: integer(o.candidates, '--candidates', 2),
      profileTokens: integer(o.profileTokens, '--profile-tokens', 1),
      out: o.out,
      counter: tokenCounter(o.tokenizer),
      numThreads: o.threads !== undefined ? integer(o.threads, '--threads', 1, 1024) : undefined,
      onProgress: o.json ? undefined : progress.onProgress,
      signal,
    });
    progress.stop();
    process.stdout.write(
      o.json
        ? `${JSON.stringify(report)}\n`
        : `Wrote ${report.examples} examples (${report.template}, ${report.model} candidates) to ${report.file}: OpenAI chat fine-tuning format, checked; ` +
            `tokens per example mean ${report.tokens.mean.toFixed(0)}, max ${report.tokens.max} (${report.tokens.tokenizer}); ` +
            `the held-out item was in the base top-${o.candidates} for ${report.targetInTopN} of ${report.examples} users.\n`,
    );
  } finally {
    progress.stop();
  }
}

export function registerChat(program: Command): void {
  const chat = program
    .command('chat')
    .description('Chat-REC: talk with one user about recommendations, an LLM re-ranking and explaining the candidates of a model (interactive; see also the subcommands)')
    // `chat` and its subcommands share option names: options after a subcommand name are the subcommand's.
    .enablePositionalOptions();
  addLlmOptions(addModelOptions(chat))
    .option('--user <id>', "the user's raw id in the dataset (e.g. 196)")
    .option('--k <n>', 'items per answer', String(DEFAULT_K))
    .option('--candidates <n>', 'candidates shown to the LLM per turn', String(DEFAULT_CANDIDATES))
    .option('--profile-tokens <n>', 'token budget of the user profile in each prompt', String(DEFAULT_PROFILE_TOKENS))
    .option('--session <file>', 'save the conversation as JSON lines; an existing file is resumed')
    .action(async (o: ChatCliOptions) => {
      if (!o.user) throw new SemrecError('--user <raw id> is required', 'ERR_INVALID_ARG_VALUE');
      await runInteractive(o);
    });

  addLlmOptions(addModelOptions(chat.command('rerank').description("re-rank one user's candidates with the LLM and explain them (the base ranking, marked fallback, without an endpoint or when it fails)")))
    .requiredOption('--user <id>', "the user's raw id in the dataset")
    .option('--k <n>', 'items to return', String(DEFAULT_K))
    .option('--candidates <n>', 'candidates shown to the LLM', String(DEFAULT_CANDIDATES))
    .option('--profile-tokens <n>', 'token budget of the user profile', String(DEFAULT_PROFILE_TOKENS))
    .option('--json', 'print { items: [{ id, title, explanation }], guard, fallback, usage, ... } as one JSON object')
    .action(async (o: ChatCliOptions) => runRerank(o));

  addLlmOptions(addModelOptions(chat.command('eval').description('base ranking vs LLM re-ranking on held-out items: P/R/NDCG@K with CIs and paired tests, guard counts, latency, tokens')))
    .addOption(new Option('--protocol <name>', 'split protocol').choices(['leave-one-out']).default('leave-one-out'))
    .option('--candidates <n>', 'candidates re-ranked per user', String(DEFAULT_CANDIDATES))
    .option('--users <n>', 'users sampled (seeded by --seed); each costs one LLM call', String(DEFAULT_EVAL_USERS))
    .option('--ks <list>', 'cut-offs', DEFAULT_CHAT_KS.join(','))
    .option('--profile-tokens <n>', 'token budget of the user profile', String(DEFAULT_PROFILE_TOKENS))
    .option('--json', 'print the report as one JSON object')
    .option('--out <file>', 'also write the report (markdown; JSON when it ends in .json)')
    .action(async (o: EvalCliOptions) => runChatEval(o));

  addModelOptions(chat.command('export-finetune').description("fine-tuning data in OpenAI's chat format: the re-ranking prompt and, as the answer, each sampled user's held-out item"))
    .requiredOption('--users <n>', 'users sampled (seeded by --seed)')
    .option('--candidates <n>', 'candidates per prompt', String(DEFAULT_CANDIDATES))
    .option('--profile-tokens <n>', 'token budget of the user profile', String(DEFAULT_PROFILE_TOKENS))
    .addOption(new Option('--tokenizer <name>', 'tokenizer for budgets and the example token check').choices([...TOKENIZERS]).default(DEFAULT_TOKENIZER))
    .requiredOption('--out <file>', 'the JSON-lines file to write')
    .option('--json', 'print the summary as one JSON object')
    .action(async (o: FinetuneCliOptions) => runExportFinetune(o));
}
