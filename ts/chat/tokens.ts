/**
 * Token counts for prompt budgets, with OpenAI's own BPE encodings (gpt-tokenizer, a port of tiktoken).
 * For other model families (Llama, Qwen, Mistral behind vLLM, llama.cpp or Ollama) these counts are an
 * estimate: their tokenizers differ, typically by 10-20% on English text, so budgets keep a margin.
 */
import * as cl100k from 'gpt-tokenizer/cjs/encoding/cl100k_base';
import * as o200k from 'gpt-tokenizer/cjs/encoding/o200k_base';

import { SemrecError } from '../errors';

export const TOKENIZERS = ['o200k_base', 'cl100k_base'] as const;
export type TokenizerName = (typeof TOKENIZERS)[number];
/** The GPT-4o / GPT-4.1 / GPT-5 family encoding. */
export const DEFAULT_TOKENIZER: TokenizerName = 'o200k_base';

/** Text is text: a "<|endoftext|>" typed by a user is counted as characters, never refused. */
const AS_TEXT = { disallowedSpecial: new Set<string>() };

/**
 * Tokens a chat message costs beyond its content (role and separators): 3 per message and 3 to prime the
 * reply, as OpenAI's cookbook counts for its chat models ("How to count tokens with tiktoken").
 */
export const TOKENS_PER_MESSAGE = 3;
export const TOKENS_PER_REPLY = 3;

export interface TokenCounter {
  readonly name: TokenizerName;
  count(text: string): number;
  /** Tokens of a whole chat request: contents plus per-message overhead. */
  countMessages(messages: readonly { role: string; content: string }[]): number;
}

export function tokenCounter(name: TokenizerName = DEFAULT_TOKENIZER): TokenCounter {
  const encoding = name === 'o200k_base' ? o200k : name === 'cl100k_base' ? cl100k : undefined;
  if (!encoding) throw new SemrecError(`unknown tokenizer '${String(name)}' (known: ${TOKENIZERS.join(', ')})`, 'ERR_INVALID_ARG_VALUE');
  const count = (text: string) => (text.length === 0 ? 0 : encoding.encode(text, AS_TEXT).length);
  return {
    name,
    count,
    countMessages(messages) {
      let total = TOKENS_PER_REPLY;
      for (const m of messages) total += TOKENS_PER_MESSAGE + count(m.role) + count(m.content);
      return total;
    },
  };
}
