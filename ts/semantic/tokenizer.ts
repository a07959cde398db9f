/**
 * Tokenizers: text -> token ids with the model's special tokens, truncated to a maximum length.
 * - `HfTokenizer`: any Hugging Face `tokenizer.json` (byte-level BPE for RoBERTa, WordPiece for BERT,
 *   Unigram/SentencePiece, ...) through @huggingface/tokenizers, a pure TypeScript implementation of
 *   the `tokenizers` pipeline (normalizer, pre-tokenizer, model, post-processor).
 * - `UseLiteTokenizer`: the SentencePiece unigram tokenizer of Universal Sentence Encoder lite, a
 *   faithful port of the TensorFlow.js reference (`@energetic-ai/embeddings`), quirks included, so the
 *   ids match token for token.
 */
import fs from 'node:fs';
import path from 'node:path';

import type * as HfTokenizers from '@huggingface/tokenizers' with { 'resolution-mode': 'import' };

import { SemrecError } from '../errors';

// An ES module with a CommonJS build (its "node.require" export): required, typed from its declarations.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { Tokenizer: HfTokenizerImpl } = require('@huggingface/tokenizers') as typeof HfTokenizers;
type HfTokenizerImpl = HfTokenizers.Tokenizer;

export interface Tokenizer {
  /** What it is, e.g. 'hf:BPE' or 'use-lite-sentencepiece'. */
  readonly kind: string;
  /** The id padding positions get (they are masked out anyway). */
  readonly padId: number;
  /** Ids of `text` with the model's special tokens, at most `maxLength` of them (content is cut, specials kept). */
  encode(text: string, maxLength: number): number[];
}

function readJson(file: string, what: string): unknown {
  let raw: string;
  try {
    raw = fs.readFileSync(file, 'utf8');
  } catch (cause) {
    throw new SemrecError(`cannot read ${what} ${file}: ${(cause as Error).message}`, 'ERR_MODEL_NOT_FOUND', { cause });
  }
  try {
    return JSON.parse(raw);
  } catch (cause) {
    throw new SemrecError(`${what} ${file} is not valid JSON: ${(cause as Error).message}`, 'ERR_MODEL_FORMAT', { cause });
  }
}

/** A Hugging Face tokenizer from `tokenizer.json` (+ optional `tokenizer_config.json` beside it). */
export class HfTokenizer implements Tokenizer {
  readonly kind: string;
  readonly padId: number;
  private readonly impl: HfTokenizerImpl;
  /** How many special tokens the post-processor puts before and after the content of one text. */
  private readonly prefix: number;
  private readonly suffix: number;

  constructor(tokenizerJson: object, config: object = {}) {
    try {
      this.impl = new HfTokenizerImpl(tokenizerJson, config);
    } catch (cause) {
      throw new SemrecError(`tokenizer.json could not be loaded: ${(cause as Error).message}`, 'ERR_MODEL_FORMAT', { cause });
    }
    const model = (tokenizerJson as { model?: { type?: string } }).model;
    this.kind = `hf:${model?.type ?? 'unknown'}`;
    const padToken = (config as { pad_token?: string | { content?: string } }).pad_token;
    const padName = typeof padToken === 'string' ? padToken : padToken?.content;
    const jsonPad = (tokenizerJson as { padding?: { pad_id?: number } }).padding?.pad_id;
    this.padId = (padName !== undefined ? this.impl.token_to_id(padName) : undefined) ?? jsonPad ?? 0;
    // Find where the content sits among the special tokens by encoding a probe with and without them.
    const probe = 'a';
    const full: number[] = this.impl.encode(probe).ids;
    const bare: number[] = this.impl.encode(probe, { add_special_tokens: false }).ids;
    let at = -1;
    for (let i = 0; i + bare.length <= full.length && at < 0; i++) {
      if (bare.every((id, j) => full[i + j] === id)) at = i;
    }
    if (at < 0 || bare.length === 0) throw new SemrecError('tokenizer.json: cannot locate the text among the special tokens', 'ERR_MODEL_FORMAT');
    this.prefix = at;
    this.suffix = full.length - at - bare.length;
  }

  static fromDirectory(dir: string): HfTokenizer {
    const json = readJson(path.join(dir, 'tokenizer.json'), 'tokenizer') as object;
    const configPath = path.join(dir, 'tokenizer_config.json');
    const config = fs.existsSync(configPath) ? (readJson(configPath, 'tokenizer config') as object) : {};
    return new HfTokenizer(json, config);
  }

  encode(text: string, maxLength: number): number[] {
    const ids = this.impl.encode(text).ids;
    if (ids.length <= maxLength) return ids;
    const keep = Math.max(0, maxLength - this.prefix - this.suffix);
    return [...ids.slice(0, this.prefix + keep), ...ids.slice(ids.length - this.suffix)];
  }

  /** Token strings of `text` (for inspection). */
  tokens(text: string): string[] {
    return this.impl.encode(text).tokens;
  }
}

// ---------------------------------------------------------------- USE-lite SentencePiece

/** The word-boundary mark of SentencePiece (U+2581). */
const SEPARATOR = '\u2581';
/** Ids 0-5 are <unk>-like and control pieces that never match text (reference: RESERVED_SYMBOLS_COUNT). */
const RESERVED_SYMBOLS = 6;
const UNK_ID = 0;

interface TrieNode {
  children: Map<string, TrieNode>;
  /** Set when a vocabulary piece ends here. */
  piece?: { score: number; id: number; symbols: number };
}

/**
 * USE-lite's unigram tokenizer over its 8,000-piece vocabulary ([piece, log-probability] pairs), the
 * same algorithm as the TensorFlow.js reference: NFKC, spaces -> U+2581 with one prepended, a Viterbi
 * pass over code points where an uncovered code point becomes <unk> (id 0, score 0), then runs of <unk>
 * merged into one. Its quirks are kept on purpose (they shape the ids the model was used with):
 * a best score of exactly 0 counts as "unset", and ties go to the later (shorter) candidate.
 */
export class UseLiteTokenizer implements Tokenizer {
  readonly kind = 'use-lite-sentencepiece';
  readonly padId = 0;
  private readonly root: TrieNode = { children: new Map() };
  /** UTF-16 length of each piece: the reference steps back by it when reading the best path. */
  private readonly pieceLength: number[];

  constructor(vocabulary: [string, number][]) {
    if (!Array.isArray(vocabulary) || vocabulary.length <= RESERVED_SYMBOLS) {
      throw new SemrecError('USE-lite vocabulary must be an array of [piece, score] pairs', 'ERR_MODEL_FORMAT');
    }
    this.pieceLength = vocabulary.map(([piece]) => piece.length);
    for (let id = RESERVED_SYMBOLS; id < vocabulary.length; id++) {
      const [piece, score] = vocabulary[id];
      const symbols = Array.from(piece);
      let node = this.root;
      for (const s of symbols) {
        let next = node.children.get(s);
        if (!next) node.children.set(s, (next = { children: new Map() }));
        node = next;
      }
      node.piece = { score, id, symbols: symbols.length }; // a duplicate piece: the later one wins, as in the reference trie
    }
  }

  static fromFile(vocabPath: string): UseLiteTokenizer {
    return new UseLiteTokenizer(readJson(vocabPath, 'USE-lite vocabulary') as [string, number][]);
  }

  encode(text: string, maxLength: number): number[] {
    const ids = this.encodeAll(text);
    return ids.length > maxLength ? ids.slice(0, maxLength) : ids;
  }

  /** All ids of `text`, untruncated. */
  encodeAll(text: string): number[] {
    const normalized = text.normalize('NFKC');
    if (normalized.length === 0) return [];
    const symbols = Array.from(SEPARATOR + normalized.replace(/ /g, SEPARATOR));
    const n = symbols.length;
    // ending[e]: candidate pieces ending at e, in the reference's visiting order (start ascending).
    const ending: { start: number; score: number; id: number; symbols: number }[][] = Array.from({ length: n + 1 }, () => []);
    for (let i = 0; i < n; i++) {
      let node = this.root.children.get(symbols[i]);
      let found = false;
      for (let j = i; j < n && node; j++) {
        if (node.piece) {
          ending[j + 1].push({ start: i, ...node.piece });
          found = true;
        }
        node = node.children.get(symbols[j + 1]);
      }
      if (!found) ending[i + 1].push({ start: i, score: 0, id: UNK_ID, symbols: 1 });
    }
    const best = new Float64Array(n + 1);
    const words = new Int32Array(n + 1);
    for (let end = 0; end <= n; end++) {
      const candidates = ending[end].sort((a, b) => a.start - b.start);
      for (const c of candidates) {
        const score = c.score + best[end - c.symbols];
        if (best[end] === 0 || score >= best[end]) {
          best[end] = score;
          words[end] = c.id;
        }
      }
    }
    const reversed: number[] = [];
    for (let at = n; at > 0; at -= this.pieceLength[words[at]]) reversed.push(words[at]);
    const merged: number[] = [];
    let previousUnk = false;
    for (const id of reversed) {
      if (!(previousUnk && id === UNK_ID)) merged.push(id);
      previousUnk = id === UNK_ID;
    }
    return merged.reverse();
  }
}
