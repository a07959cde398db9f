/**
 * A model in a local directory: an ONNX encoder (`model.onnx`, or `onnx/model.onnx` as in Hugging Face
 * ONNX exports), its `tokenizer.json` (+ `tokenizer_config.json`), and how to pool it. The pooling and
 * dims come from `semrec-encoder.json` when present:
 *
 *   { "pooling": "mean" | "cls" | "none", "dim": 768, "normalize": true, "output": "last_hidden_state", "maxTokens": 512 }
 *
 * otherwise from the Hugging Face / sentence-transformers files beside the model: `config.json`
 * (hidden_size, max_position_embeddings), `1_Pooling/config.json` (mean or CLS) and `modules.json`
 * (a Normalize module).
 */
import fs from 'node:fs';
import path from 'node:path';

import { SemrecError } from '../../errors';
import { sha256File } from '../../util/fs';
import { HfTokenizer } from '../tokenizer';
import type { EncoderConfig, Pooling, ResolvedEncoder } from './types';

/** The config file semrec reads first in a model directory. */
export const ENCODER_CONFIG_FILE = 'semrec-encoder.json';
/** Where an ONNX encoder is looked for, in order. */
export const ONNX_CANDIDATES = ['model.onnx', 'onnx/model.onnx'];
/** Pooling when nothing says otherwise: mean pooling is the sentence-transformers default. */
const DEFAULT_POOLING: Pooling = 'mean';
/** RoBERTa's position table has 2 rows more than it has usable positions (padding offset). */
const ROBERTA_POSITION_OFFSET = 2;

function readJsonIfExists(file: string): Record<string, unknown> | undefined {
  if (!fs.existsSync(file)) return undefined;
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
  } catch (cause) {
    throw new SemrecError(`${file} is not valid JSON: ${(cause as Error).message}`, 'ERR_MODEL_FORMAT', { cause });
  }
}

function checkPooling(value: unknown, file: string): Pooling {
  if (value === 'mean' || value === 'cls' || value === 'none') return value;
  throw new SemrecError(`${file}: pooling must be "mean", "cls" or "none", got ${JSON.stringify(value)}`, 'ERR_MODEL_FORMAT');
}

function positiveInt(value: unknown, field: string, file: string): number {
  if (typeof value === 'number' && Number.isInteger(value) && value > 0) return value;
  throw new SemrecError(`${file}: ${field} must be a positive integer, got ${JSON.stringify(value)}`, 'ERR_MODEL_FORMAT');
}

/** The pooling, dims and limits of the model in `dir`, from semrec-encoder.json or the Hugging Face files. */
export function readEncoderConfig(dir: string): EncoderConfig {
  const own = readJsonIfExists(path.join(dir, ENCODER_CONFIG_FILE));
  const hf = readJsonIfExists(path.join(dir, 'config.json')) ?? {};
  const pooling = readJsonIfExists(path.join(dir, '1_Pooling', 'config.json'));
  const modules = fs.existsSync(path.join(dir, 'modules.json')) ? (JSON.parse(fs.readFileSync(path.join(dir, 'modules.json'), 'utf8')) as { type?: string }[]) : [];
  const tokenizerConfig = readJsonIfExists(path.join(dir, 'tokenizer_config.json')) ?? {};

  const hfMaxTokens = (): number | undefined => {
    const positions = hf.max_position_embeddings;
    if (typeof positions !== 'number') return undefined;
    return hf.model_type === 'roberta' || hf.model_type === 'xlm-roberta' ? positions - ROBERTA_POSITION_OFFSET : positions;
  };
  const tokMax = typeof tokenizerConfig.model_max_length === 'number' && tokenizerConfig.model_max_length < 1e6 ? tokenizerConfig.model_max_length : undefined;

  if (own) {
    const file = path.join(dir, ENCODER_CONFIG_FILE);
    return {
      dim: positiveInt(own.dim, 'dim', file),
      pooling: checkPooling(own.pooling, file),
      normalize: own.normalize === undefined ? false : Boolean(own.normalize),
      output: typeof own.output === 'string' ? own.output : undefined,
      maxTokens: own.maxTokens !== undefined ? positiveInt(own.maxTokens, 'maxTokens', file) : (hfMaxTokens() ?? tokMax ?? 512),
    };
  }
  if (typeof hf.hidden_size !== 'number') {
    throw new SemrecError(
      `${dir}: no ${ENCODER_CONFIG_FILE} and no config.json with hidden_size; add ${ENCODER_CONFIG_FILE} naming pooling and dim`,
      'ERR_MODEL_FORMAT',
    );
  }
  let poolingMode: Pooling = DEFAULT_POOLING;
  if (pooling?.pooling_mode_cls_token === true) poolingMode = 'cls';
  else if (pooling?.pooling_mode_mean_tokens === true) poolingMode = 'mean';
  return {
    dim: hf.hidden_size,
    pooling: poolingMode,
    normalize: modules.some((m) => typeof m.type === 'string' && m.type.endsWith('Normalize')),
    maxTokens: hfMaxTokens() ?? tokMax ?? 512,
  };
}

/** The ONNX file of the model in `dir`. */
export function findOnnxFile(dir: string): string {
  for (const candidate of ONNX_CANDIDATES) {
    const file = path.join(dir, candidate);
    if (fs.existsSync(file)) return file;
  }
  throw new SemrecError(`${dir}: no ONNX model (looked for ${ONNX_CANDIDATES.join(', ')})`, 'ERR_MODEL_NOT_FOUND');
}

/** Loads the model in `dir`; its id is `prefix` (default: the directory) plus the model file's SHA-256. */
export async function loadLocalModel(dir: string, idPrefix?: string): Promise<ResolvedEncoder> {
  const abs = path.resolve(dir);
  if (!fs.existsSync(abs) || !fs.statSync(abs).isDirectory()) {
    throw new SemrecError(`model directory ${abs} does not exist`, 'ERR_MODEL_NOT_FOUND');
  }
  const modelPath = findOnnxFile(abs);
  if (!fs.existsSync(path.join(abs, 'tokenizer.json'))) {
    throw new SemrecError(`${abs}: no tokenizer.json beside the model`, 'ERR_MODEL_NOT_FOUND');
  }
  const config = readEncoderConfig(abs);
  const tokenizer = HfTokenizer.fromDirectory(abs);
  const tokenizerHash = (await sha256File(path.join(abs, 'tokenizer.json'))).slice(0, 8);
  const hash = (await sha256File(modelPath)).slice(0, 16);
  return { id: `${idPrefix ?? `dir:${abs}`}+${hash}.${tokenizerHash}`, modelPath, tokenizer, config };
}
