/**
 * Sentence encoders on ONNX Runtime: texts -> token ids -> an ONNX transformer -> pooled, optionally
 * L2-normalised vectors. Texts are sorted by token count and batched so each batch pads only to its own
 * longest text; padding is masked, so a text gets the same vector alone or inside any batch.
 */
import fs from 'node:fs';

import * as ort from 'onnxruntime-node';

import { SemrecError } from '../errors';
import { type LongRunningOptions, throwIfAborted } from '../progress';
import { defaultCacheDir } from '../util/cache-dir';
import { loadHubModel, type HubOptions } from './sources/hub';
import { loadLocalModel } from './sources/local';
import type { EncoderConfig, Pooling, ResolvedEncoder } from './sources/types';
import { loadUseLite } from './sources/use-lite';
import type { Tokenizer } from './tokenizer';

/** Token budget for review text (LLM-Rec, Shang et al. 2024: reviews truncated to 128 tokens). */
export const REVIEW_MAX_LENGTH = 128;
/** Token budget for item text (LLM-Rec: item descriptions truncated to 256 tokens). */
export const ITEM_MAX_LENGTH = 256;
/** Texts per onnxruntime call: large enough to amortise the call, small enough to bound padding waste. */
export const DEFAULT_BATCH_SIZE = 32;
/** The offline default encoder. */
export const DEFAULT_ENCODER = 'use-lite';

export interface CreateEncoderOptions extends LongRunningOptions, Omit<HubOptions, 'cacheDir'> {
  /** 'use-lite' (default), a local model directory, or a Hugging Face repository id ('owner/name'). */
  model?: string;
  /** Tokens kept per text, special tokens included (default 128, the review budget; use 256 for item text). Capped at the model's limit. */
  maxLength?: number;
  /** Overrides the model's pooling ('mean' is mask-aware; 'cls' takes the first token). */
  pooling?: Pooling;
  /** Overrides the model's normalisation (use-lite always returns unit vectors). */
  normalize?: boolean;
  /** Texts per onnxruntime call (default 32). */
  batchSize?: number;
  /** onnxruntime intra-op threads (default: onnxruntime's choice, the physical cores). */
  intraOpThreads?: number;
  /** onnxruntime inter-op threads (default 1: the graphs here are sequential). */
  interOpThreads?: number;
  /** Let idle onnxruntime threads spin (lower latency on a dedicated machine; default false). */
  spinThreads?: boolean;
  /** Where converted and downloaded models live (default: SEMREC_CACHE_DIR or <tmp>/semrec-cache). */
  cacheDir?: string;
}

export interface Encoder {
  /** Identity of the vectors: model id plus the options that change them (pooling, normalisation, max length). */
  readonly id: string;
  /** Identity of the weights and tokenizer alone. */
  readonly modelId: string;
  readonly dim: number;
  readonly maxLength: number;
  readonly pooling: Pooling;
  readonly normalize: boolean;
  /** Row-major `texts.length x dim` vectors. Progress is reported per batch; `signal` stops between batches. */
  encode(texts: string[], options?: LongRunningOptions): Promise<Float32Array>;
  /** Token ids of one text as the encoder feeds them (truncated, specials included). */
  tokenize(text: string): number[];
  /** Frees the onnxruntime session. */
  release(): Promise<void>;
}

const HUB_ID = /^[A-Za-z0-9][\w.-]*\/[\w.-]+$/;

/** Resolves a model spec to files on disk (converting or downloading as needed). */
export async function resolveEncoder(spec: string, options: CreateEncoderOptions & { cacheDir: string }): Promise<ResolvedEncoder> {
  if (spec === 'use-lite') return loadUseLite(options);
  if (fs.existsSync(spec)) return loadLocalModel(spec);
  if (HUB_ID.test(spec)) return loadHubModel(spec, options);
  throw new SemrecError(
    `model '${spec}' is neither 'use-lite', an existing directory, nor a Hugging Face repository id (owner/name)`,
    'ERR_MODEL_NOT_FOUND',
  );
}

function checkPositiveInt(value: number | undefined, name: string, max = 1 << 20): void {
  if (value !== undefined && (!Number.isInteger(value) || value < 1 || value > max)) {
    throw new SemrecError(`createEncoder: ${name} must be an integer in [1, ${max}], got ${value}`, 'ERR_INVALID_ARG_VALUE');
  }
}

/** Loads a model and opens an onnxruntime session over it. */
export async function createEncoder(options: CreateEncoderOptions = {}): Promise<Encoder> {
  checkPositiveInt(options.maxLength, 'maxLength');
  checkPositiveInt(options.batchSize, 'batchSize');
  checkPositiveInt(options.intraOpThreads, 'intraOpThreads', 1024);
  checkPositiveInt(options.interOpThreads, 'interOpThreads', 1024);
  if (options.pooling !== undefined && !['mean', 'cls', 'none'].includes(options.pooling)) {
    throw new SemrecError(`createEncoder: pooling must be 'mean', 'cls' or 'none', got ${String(options.pooling)}`, 'ERR_INVALID_ARG_VALUE');
  }
  const resolved = await resolveEncoder(options.model ?? DEFAULT_ENCODER, { ...options, cacheDir: options.cacheDir ?? defaultCacheDir() });
  const sessionOptions: ort.InferenceSession.SessionOptions = {
    graphOptimizationLevel: 'all',
    executionMode: 'sequential',
    interOpNumThreads: options.interOpThreads ?? 1,
    logSeverityLevel: 3, // errors only: onnxruntime's warnings are not the user's business
    // By default idle pool threads sleep instead of spinning: spinning halved throughput on a busy 2-core machine.
    extra: { session: { intra_op: { allow_spinning: options.spinThreads ? '1' : '0' }, inter_op: { allow_spinning: options.spinThreads ? '1' : '0' } } },
  };
  if (options.intraOpThreads !== undefined) sessionOptions.intraOpNumThreads = options.intraOpThreads;
  let session: ort.InferenceSession;
  try {
    session = await ort.InferenceSession.create(resolved.modelPath, sessionOptions);
  } catch (cause) {
    throw new SemrecError(`onnxruntime could not load ${resolved.modelPath}: ${(cause as Error).message}`, 'ERR_MODEL_FORMAT', { cause });
  }
  return new OnnxEncoder(resolved, session, options);
}

class OnnxEncoder implements Encoder {
  readonly id: string;
  readonly modelId: string;
  readonly dim: number;
  readonly maxLength: number;
  readonly pooling: Pooling;
  readonly normalize: boolean;
  private readonly tokenizer: Tokenizer;
  private readonly config: EncoderConfig;
  private readonly output: string;
  private readonly batchSize: number;
  private readonly needsTokenTypes: boolean;
  private released = false;
  /** onnxruntime sessions are not re-entrant: calls are queued. */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    resolved: ResolvedEncoder,
    private readonly session: ort.InferenceSession,
    options: CreateEncoderOptions,
  ) {
    this.config = resolved.config;
    this.tokenizer = resolved.tokenizer;
    this.modelId = resolved.id;
    this.dim = resolved.config.dim;
    this.maxLength = Math.min(options.maxLength ?? REVIEW_MAX_LENGTH, resolved.config.maxTokens);
    this.pooling = options.pooling ?? resolved.config.pooling;
    this.normalize = options.normalize ?? resolved.config.normalize;
    this.batchSize = options.batchSize ?? DEFAULT_BATCH_SIZE;
    const inputs = session.inputNames;
    for (const required of ['input_ids', 'attention_mask']) {
      if (!inputs.includes(required)) {
        throw new SemrecError(`${resolved.modelPath}: the graph has no '${required}' input (inputs: ${inputs.join(', ')})`, 'ERR_MODEL_FORMAT');
      }
    }
    this.needsTokenTypes = inputs.includes('token_type_ids');
    const wanted = resolved.config.output ?? (session.outputNames.includes('last_hidden_state') ? 'last_hidden_state' : session.outputNames[0]);
    if (!session.outputNames.includes(wanted)) {
      throw new SemrecError(`${resolved.modelPath}: the graph has no output '${wanted}' (outputs: ${session.outputNames.join(', ')})`, 'ERR_MODEL_FORMAT');
    }
    this.output = wanted;
    if (this.pooling === 'none' && resolved.config.pooling !== 'none') {
      throw new SemrecError(`pooling 'none' needs a graph that outputs sentence vectors; ${resolved.id} outputs token states`, 'ERR_INVALID_ARG_VALUE');
    }
    if (this.pooling !== 'none' && resolved.config.pooling === 'none') {
      throw new SemrecError(`${resolved.id} outputs sentence vectors; it cannot be pooled with '${this.pooling}'`, 'ERR_INVALID_ARG_VALUE');
    }
    this.id = `${this.modelId}|pool=${this.pooling}|norm=${this.normalize ? 1 : 0}|max=${this.maxLength}`;
  }

  tokenize(text: string): number[] {
    return this.tokenizer.encode(text, this.maxLength);
  }

  encode(texts: string[], options: LongRunningOptions = {}): Promise<Float32Array> {
    if (!Array.isArray(texts)) return Promise.reject(new SemrecError('encode: texts must be an array of strings', 'ERR_INVALID_ARG_TYPE'));
    const bad = texts.findIndex((t) => typeof t !== 'string');
    if (bad >= 0) return Promise.reject(new SemrecError(`encode: texts[${bad}] is not a string`, 'ERR_INVALID_ARG_TYPE'));
    const run = this.queue.then(() => this.encodeNow(texts, options));
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async encodeNow(texts: string[], options: LongRunningOptions): Promise<Float32Array> {
    if (this.released) throw new SemrecError('encode: the encoder was released', 'ERR_INVALID_ARG_VALUE');
    const phase = 'encoding texts';
    const out = new Float32Array(texts.length * this.dim);
    const ids = texts.map((t) => this.tokenizer.encode(t, this.maxLength));
    // Longest first: equal-length neighbours share batches, and memory peaks early.
    const order = Array.from(texts.keys()).sort((a, b) => ids[b].length - ids[a].length || a - b);
    options.onProgress?.({ phase, done: 0, total: texts.length, unit: 'texts' });
    for (let start = 0; start < order.length; start += this.batchSize) {
      throwIfAborted(options.signal, 'encoding');
      const rows = order.slice(start, start + this.batchSize);
      const vectors = await this.runBatch(rows.map((r) => ids[r]));
      rows.forEach((r, i) => out.set(vectors.subarray(i * this.dim, (i + 1) * this.dim), r * this.dim));
      options.onProgress?.({ phase, done: Math.min(start + this.batchSize, order.length), total: texts.length, unit: 'texts' });
    }
    return out;
  }

  /** One padded batch through the graph, pooled and normalised: rows x dim. */
  private async runBatch(batch: number[][]): Promise<Float32Array> {
    const rows = batch.length;
    // At least one column, so a batch of empty texts is still a valid tensor.
    const width = Math.max(1, ...batch.map((b) => b.length));
    const inputIds = new BigInt64Array(rows * width).fill(BigInt(this.tokenizer.padId));
    const mask = new BigInt64Array(rows * width);
    batch.forEach((seq, r) => {
      for (let c = 0; c < seq.length; c++) {
        inputIds[r * width + c] = BigInt(seq[c]);
        mask[r * width + c] = 1n;
      }
    });
    const feeds: Record<string, ort.Tensor> = {
      input_ids: new ort.Tensor('int64', inputIds, [rows, width]),
      attention_mask: new ort.Tensor('int64', mask, [rows, width]),
    };
    if (this.needsTokenTypes) feeds.token_type_ids = new ort.Tensor('int64', new BigInt64Array(rows * width), [rows, width]);
    let result: ort.InferenceSession.OnnxValueMapType;
    try {
      result = await this.session.run(feeds, [this.output]);
    } catch (cause) {
      throw new SemrecError(`onnxruntime failed on ${this.modelId}: ${(cause as Error).message}`, 'ERR_ONNX_RUNTIME', { cause });
    }
    const tensor = result[this.output] as ort.Tensor;
    const data = tensor.data as Float32Array;
    const vectors = this.pool(data, tensor.dims as number[], mask, rows, width);
    if (this.normalize) normalizeRows(vectors, this.dim);
    return vectors;
  }

  private pool(data: Float32Array, dims: number[], mask: BigInt64Array, rows: number, width: number): Float32Array {
    const dim = this.dim;
    if (this.pooling === 'none') {
      if (dims.length !== 2 || dims[0] !== rows || dims[1] !== dim) {
        throw new SemrecError(`${this.modelId}: output ${this.output} has shape [${dims}], expected [${rows}, ${dim}]`, 'ERR_MODEL_FORMAT');
      }
      return Float32Array.from(data);
    }
    if (dims.length !== 3 || dims[0] !== rows || dims[1] !== width || dims[2] !== dim) {
      throw new SemrecError(`${this.modelId}: output ${this.output} has shape [${dims}], expected [${rows}, ${width}, ${dim}]`, 'ERR_MODEL_FORMAT');
    }
    const out = new Float32Array(rows * dim);
    for (let r = 0; r < rows; r++) {
      const o = out.subarray(r * dim, (r + 1) * dim);
      if (this.pooling === 'cls') {
        o.set(data.subarray(r * width * dim, r * width * dim + dim));
        continue;
      }
      let count = 0;
      for (let c = 0; c < width; c++) {
        if (mask[r * width + c] === 0n) continue;
        count++;
        const base = (r * width + c) * dim;
        for (let d = 0; d < dim; d++) o[d] += data[base + d];
      }
      const inv = 1 / Math.max(count, 1);
      for (let d = 0; d < dim; d++) o[d] *= inv;
    }
    return out;
  }

  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    await this.queue;
    await this.session.release();
  }
}

/** Scales each row of a rows x dim matrix to unit L2 norm (all-zero rows stay zero). */
export function normalizeRows(m: Float32Array, dim: number): void {
  for (let base = 0; base < m.length; base += dim) {
    let s = 0;
    for (let d = 0; d < dim; d++) s += m[base + d] * m[base + d];
    if (s === 0) continue;
    const inv = 1 / Math.sqrt(s);
    for (let d = 0; d < dim; d++) m[base + d] *= inv;
  }
}
