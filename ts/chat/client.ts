/**
 * The LLM client: the official `openai` package pointed at any OpenAI-compatible chat-completions
 * endpoint (OpenAI, Azure's v1 endpoint, vLLM, llama.cpp's server, Ollama). Timeouts, retries with
 * exponential backoff on 408/409/429/5xx and connection errors (honouring Retry-After), streaming and
 * cancellation are the package's own; this file configures them, counts tokens where a server reports
 * no usage, and turns the package's errors into SemrecErrors with stable codes.
 */
import OpenAI from 'openai';

import { SemrecError } from '../errors';
import type { ChatMessage } from './prompts';
import { tokenCounter, type TokenCounter } from './tokens';

/** Seconds one request may take before it is abandoned (and retried). An LLM re-ranking 20 items with explanations answers in a few seconds; 60 s leaves room for a loaded local server. */
export const DEFAULT_TIMEOUT_MS = 60_000;
/** Retries after the first attempt (the openai package's own default is also 2: 0.5 s, then 1 s, backoff capped at 8 s). */
export const DEFAULT_MAX_RETRIES = 2;
/** Deterministic answers: re-ranking is evaluated, so sampling noise is unwanted (Chat-REC used temperature 0 too). */
export const DEFAULT_TEMPERATURE = 0;
/** Answer tokens: 10 items with one-sentence explanations in JSON take about 500. */
export const DEFAULT_MAX_TOKENS = 1024;
export const DEFAULT_API_KEY_ENV = 'OPENAI_API_KEY';
/**
 * Sent when no key is set and the endpoint is not OpenAI's: local servers (vLLM without --api-key,
 * llama.cpp's server, Ollama) ignore the Authorization header, but the package requires a key.
 */
export const LOCAL_PLACEHOLDER_KEY = 'semrec-no-key';

export interface LlmConfig {
  /** Base URL of the API, e.g. https://api.openai.com/v1, http://localhost:8000/v1 (vLLM), http://localhost:11434/v1 (Ollama). */
  endpoint: string;
  /** The model name the server knows, e.g. gpt-4o-mini, meta-llama/Llama-3.1-8B-Instruct, llama3.1. */
  model: string;
  /** The key itself (else read from the environment variable `apiKeyEnv`). */
  apiKey?: string;
  apiKeyEnv?: string;
  timeoutMs?: number;
  maxRetries?: number;
  temperature?: number;
  maxTokens?: number;
  /** Ask for a JSON object (response_format json_object); servers without it answer 400. */
  jsonMode?: boolean;
  /** Counts tokens where the server reports no usage (default o200k_base). */
  counter?: TokenCounter;
}

export interface LlmUsage {
  promptTokens: number;
  completionTokens: number;
  totalTokens: number;
  /** True when the server sent no usage and the counts are the local tokenizer's. */
  estimated: boolean;
}

export interface LlmReply {
  text: string;
  usage: LlmUsage;
  /** From sending the request to the last byte, retries and backoff included. */
  latencyMs: number;
  /** The model the server says answered. */
  model?: string;
  finishReason?: string;
}

export interface CompleteOptions {
  /** Stream the answer, handing each piece of text to onToken as it arrives. */
  stream?: boolean;
  onToken?: (text: string) => void;
  signal?: AbortSignal;
}

function isOpenAiHost(endpoint: string): boolean {
  try {
    return new URL(endpoint).hostname.endsWith('openai.com');
  } catch {
    return false;
  }
}

/** The package's errors as SemrecErrors: ERR_ABORTED, ERR_LLM_TIMEOUT, ERR_LLM_CONNECTION, ERR_LLM_HTTP. */
export function llmError(error: unknown, endpoint: string): SemrecError {
  if (error instanceof SemrecError) return error;
  if (error instanceof OpenAI.APIUserAbortError) return new SemrecError('the LLM request was aborted', 'ERR_ABORTED', { cause: error });
  if (error instanceof OpenAI.APIConnectionTimeoutError) return new SemrecError(`the LLM at ${endpoint} did not answer in time`, 'ERR_LLM_TIMEOUT', { cause: error });
  if (error instanceof OpenAI.APIConnectionError) return new SemrecError(`cannot reach the LLM at ${endpoint}: ${error.message}`, 'ERR_LLM_CONNECTION', { cause: error });
  if (error instanceof OpenAI.APIError) {
    return new SemrecError(`the LLM at ${endpoint} answered HTTP ${error.status ?? '?'}: ${error.message}`, 'ERR_LLM_HTTP', { cause: error });
  }
  return new SemrecError(`the LLM request failed: ${(error as Error)?.message ?? String(error)}`, 'ERR_LLM_RESPONSE', { cause: error });
}

export class LlmClient {
  readonly endpoint: string;
  readonly model: string;
  private readonly openai: OpenAI;
  private readonly counter: TokenCounter;

  constructor(private readonly config: LlmConfig) {
    let url: URL;
    try {
      url = new URL(config.endpoint);
    } catch {
      throw new SemrecError(`--endpoint: '${config.endpoint}' is not a URL (e.g. http://localhost:11434/v1)`, 'ERR_INVALID_ARG_VALUE');
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new SemrecError(`--endpoint: '${config.endpoint}' must be an http(s) URL`, 'ERR_INVALID_ARG_VALUE');
    }
    if (typeof config.model !== 'string' || config.model.length === 0) {
      throw new SemrecError('--llm-model: the model name the endpoint serves is required (e.g. gpt-4o-mini, llama3.1)', 'ERR_INVALID_ARG_VALUE');
    }
    for (const [name, value, min] of [
      ['timeoutMs', config.timeoutMs, 1],
      ['maxRetries', config.maxRetries, 0],
      ['maxTokens', config.maxTokens, 1],
    ] as const) {
      if (value !== undefined && (!Number.isInteger(value) || value < min)) throw new SemrecError(`LlmClient: ${name} must be an integer >= ${min}, got ${value}`, 'ERR_OUT_OF_RANGE');
    }
    const envName = config.apiKeyEnv ?? DEFAULT_API_KEY_ENV;
    let apiKey = config.apiKey ?? process.env[envName];
    if (!apiKey) {
      if (isOpenAiHost(config.endpoint)) {
        throw new SemrecError(`${config.endpoint} needs an API key: set ${envName} (or name another variable with --api-key-env)`, 'ERR_LLM_CONFIG');
      }
      apiKey = LOCAL_PLACEHOLDER_KEY;
    }
    this.endpoint = config.endpoint;
    this.model = config.model;
    this.counter = config.counter ?? tokenCounter();
    this.openai = new OpenAI({
      baseURL: config.endpoint,
      apiKey,
      timeout: config.timeoutMs ?? DEFAULT_TIMEOUT_MS,
      maxRetries: config.maxRetries ?? DEFAULT_MAX_RETRIES,
      // The package logs retries at 'info'; semrec reports failures itself.
      logLevel: 'off',
    });
  }

  /** One chat completion. Failures throw a SemrecError (see llmError); an aborted signal throws ERR_ABORTED. */
  async complete(messages: readonly ChatMessage[], options: CompleteOptions = {}): Promise<LlmReply> {
    const started = performance.now();
    const body = {
      model: this.model,
      messages: messages.map((m) => ({ role: m.role, content: m.content })),
      temperature: this.config.temperature ?? DEFAULT_TEMPERATURE,
      max_tokens: this.config.maxTokens ?? DEFAULT_MAX_TOKENS,
      ...(this.config.jsonMode ? { response_format: { type: 'json_object' as const } } : {}),
    };
    // One request's own controller, tied to the caller's signal for this call only: the openai package
    // leaves its listener on the signal it is given, and an evaluation sends hundreds of requests.
    const controller = new AbortController();
    const forward = () => controller.abort(options.signal?.reason);
    if (options.signal?.aborted) forward();
    options.signal?.addEventListener('abort', forward, { once: true });
    try {
      let text = '';
      let usage: OpenAI.CompletionUsage | undefined;
      let model: string | undefined;
      let finishReason: string | undefined;
      if (options.stream) {
        const stream = await this.openai.chat.completions.create(
          { ...body, stream: true, stream_options: { include_usage: true } },
          { signal: controller.signal },
        );
        for await (const chunk of stream) {
          model ??= chunk.model;
          if (chunk.usage) usage = chunk.usage;
          for (const choice of chunk.choices ?? []) {
            const piece = choice.delta?.content;
            if (piece) {
              text += piece;
              options.onToken?.(piece);
            }
            if (choice.finish_reason) finishReason = choice.finish_reason;
          }
        }
      } else {
        const completion = await this.openai.chat.completions.create(body, { signal: controller.signal });
        const choice = completion.choices?.[0];
        text = choice?.message?.content ?? '';
        usage = completion.usage;
        model = completion.model;
        finishReason = choice?.finish_reason ?? undefined;
      }
      return {
        text,
        usage: usage
          ? { promptTokens: usage.prompt_tokens, completionTokens: usage.completion_tokens, totalTokens: usage.total_tokens, estimated: false }
          : this.estimate(messages, text),
        latencyMs: performance.now() - started,
        ...(model ? { model } : {}),
        ...(finishReason ? { finishReason } : {}),
      };
    } catch (error) {
      if (options.signal?.aborted) throw new SemrecError('the LLM request was aborted', 'ERR_ABORTED', { cause: error });
      throw llmError(error, this.endpoint);
    } finally {
      options.signal?.removeEventListener('abort', forward);
    }
  }

  /** Usage counted locally, for servers that report none. */
  estimate(messages: readonly ChatMessage[], answer: string): LlmUsage {
    const promptTokens = this.counter.countMessages(messages);
    const completionTokens = this.counter.count(answer);
    return { promptTokens, completionTokens, totalTokens: promptTokens + completionTokens, estimated: true };
  }
}
