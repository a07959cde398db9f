/**
 * `semrec embed`: encodes a dataset's item texts and reviews (through the embedding cache) and writes
 * them, with optional review sentiment, to one embedding file (ts/semantic/embedding-file.ts).
 */
import { createHash } from 'node:crypto';
import path from 'node:path';

import type { Command } from 'commander';

import { SemrecError } from '../../errors';
import { EmbeddingCache, encodeWithCache } from '../../semantic/cache';
import { createEncoder, DEFAULT_ENCODER, type Encoder, ITEM_MAX_LENGTH, REVIEW_MAX_LENGTH } from '../../semantic/encoder';
import { type EmbeddingSection, writeEmbeddingFile } from '../../semantic/embedding-file';
import { SentimentHead, trainSentimentHead } from '../../semantic/sentiment';
import { ITEM_TEMPLATES, itemTexts, reviewTexts } from '../../semantic/templates';
import { defaultCacheDir } from '../../util/cache-dir';
import { checkWritable } from '../../util/fs';
import { addDatasetOptions, type DatasetCliOptions, loadDatasetFromCli } from '../dataset';
import { interruptSignal } from '../main';
import { createProgress } from '../progress';

interface EmbedOptions extends DatasetCliOptions {
  encoder: string;
  out: string;
  reviews: boolean;
  itemMaxLength: number;
  reviewMaxLength: number;
  batchSize?: number;
  threads?: number;
  cacheDir?: string;
  cache: boolean;
  revision?: string;
  offline?: boolean;
  sentiment?: string;
  trainSentiment?: string;
  json?: boolean;
}

function positiveInt(name: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 1) throw new SemrecError(`${name} must be a positive integer, got '${value}'`, 'ERR_INVALID_ARG_VALUE');
    return n;
  };
}

export function registerEmbed(program: Command): void {
  const command = program
    .command('embed')
    .description('encode a dataset\'s item texts and reviews with a sentence encoder and write them to one file');
  addDatasetOptions(command)
    .option('--encoder <encoder>', "the sentence encoder: 'use-lite' (offline default), a local model directory, or a Hugging Face repo id", DEFAULT_ENCODER)
    .requiredOption('--out <file>', 'embedding file to write')
    .option('--no-reviews', 'encode item texts only')
    .option('--item-max-length <n>', 'tokens per item text (capped at the model limit)', positiveInt('--item-max-length'), ITEM_MAX_LENGTH)
    .option('--review-max-length <n>', 'tokens per review (capped at the model limit)', positiveInt('--review-max-length'), REVIEW_MAX_LENGTH)
    .option('--batch-size <n>', 'texts per onnxruntime call', positiveInt('--batch-size'))
    .option('--threads <n>', 'onnxruntime intra-op threads', positiveInt('--threads'))
    .option('--cache-dir <dir>', 'where models and embedding caches live (default: SEMREC_CACHE_DIR or <tmp>/semrec-cache)')
    .option('--no-cache', 'do not read or write the embedding cache')
    .option('--revision <rev>', 'hub revision (branch, tag or commit)')
    .option('--offline', 'hub models: use cached files only')
    .option('--sentiment <head.json>', 'score every review with this sentiment head')
    .option('--train-sentiment <head.json>', 'train a sentiment head on the reviews\' star ratings, save it here, and score every review')
    .option('--json', 'print the summary as one JSON object')
    .action(async (options: EmbedOptions) => {
      const signal = interruptSignal();
      const progress = createProgress();
      const cacheDir = options.cacheDir ?? defaultCacheDir();
      const started = Date.now();
      try {
        // Before the encoding: the vectors (and a trained head) must have somewhere to go.
        await checkWritable(options.out);
        if (options.trainSentiment) await checkWritable(options.trainSentiment);
        const store = await loadDatasetFromCli(options, signal);
        const common = { model: options.encoder, cacheDir, batchSize: options.batchSize, intraOpThreads: options.threads, revision: options.revision, offline: options.offline, onProgress: progress.onProgress, signal };
        const itemEncoder = await createEncoder({ ...common, maxLength: options.itemMaxLength });
        let reviewEncoder: Encoder = itemEncoder;
        if (options.reviews && options.reviewMaxLength !== options.itemMaxLength) {
          const candidate = await createEncoder({ ...common, maxLength: options.reviewMaxLength });
          if (candidate.id === itemEncoder.id) await candidate.release(); // both capped to the same window
          else reviewEncoder = candidate;
        }
        // The vectors alone need this much space (ids and the header come on top): say so before encoding.
        const reviewRows = options.reviews && store.review ? store.numInteractions : 0;
        await checkWritable(options.out, 4 * (store.numItems * itemEncoder.dim + reviewRows * (reviewEncoder.dim + 1)));
        let encoded = 0;
        let hits = 0;
        const run = async (encoder: Encoder, texts: string[]) => {
          if (!options.cache) {
            encoded += texts.length;
            return encoder.encode(texts, { onProgress: progress.onProgress, signal });
          }
          const file = path.join(cacheDir, 'embeddings', `${createHash('sha256').update(encoder.id).digest('hex').slice(0, 24)}.semc`);
          const cache = await EmbeddingCache.open(file, { modelId: encoder.id, dim: encoder.dim });
          if (cache.status === 'corrupt' || cache.status === 'stale') process.stderr.write(`semrec: embedding cache ${file} is ${cache.status} (${cache.reason}); rebuilding it\n`);
          const result = await encodeWithCache(encoder, texts, cache, { onProgress: progress.onProgress, signal });
          await cache.save();
          encoded += result.encoded;
          hits += result.hits;
          return result.vectors;
        };

        const items = itemTexts(store, ITEM_TEMPLATES[options.format]);
        const sections: EmbeddingSection[] = [];
        sections.push({ name: 'items', data: await run(itemEncoder, items), cols: itemEncoder.dim, rowIds: Array.from({ length: store.numItems }, (_, i) => store.itemIds.raw(i)) });
        let reviewCount = 0;
        let sentimentSummary: Record<string, unknown> | undefined;
        if (options.reviews && store.review) {
          const texts = reviewTexts(store);
          const withText = texts.flatMap((t, i) => (t ? [i] : []));
          reviewCount = withText.length;
          const vectors = await run(reviewEncoder, withText.map((i) => texts[i]));
          const dim = reviewEncoder.dim;
          const all = new Float32Array(store.numInteractions * dim); // interactions without review text stay zero rows
          withText.forEach((i, r) => all.set(vectors.subarray(r * dim, (r + 1) * dim), i * dim));
          const rowIds = Array.from({ length: store.numInteractions }, (_, i) => `${store.userIds.raw(store.userIdx[i])}\t${store.itemIds.raw(store.itemIdx[i])}`);
          sections.push({ name: 'reviews', data: all, cols: dim, rowIds });
          let head: SentimentHead | undefined;
          if (options.trainSentiment) {
            head = await trainSentimentHead({ encoder: reviewEncoder, texts: withText.map((i) => texts[i]), ratings: withText.map((i) => store.rating[i]), onProgress: progress.onProgress, signal });
            await head.save(options.trainSentiment);
            sentimentSummary = { trained: options.trainSentiment, positives: head.data.positives, negatives: head.data.negatives, l2: head.data.l2 };
          } else if (options.sentiment) {
            head = await SentimentHead.load(options.sentiment, reviewEncoder);
            sentimentSummary = { head: options.sentiment };
          }
          if (head) {
            const scores = new Float32Array(store.numInteractions).fill(NaN); // NaN: no review text
            const s = head.score(vectors);
            withText.forEach((i, r) => (scores[i] = s[r]));
            sections.push({ name: 'sentiment', data: scores, cols: 1 });
          }
        }
        await writeEmbeddingFile(
          options.out,
          { encoderId: itemEncoder.id, meta: { dataset: store.name, format: options.format, path: path.resolve(options.path), reviewEncoderId: reviewEncoder.id, itemTemplate: ITEM_TEMPLATES[options.format] } },
          sections,
        );
        progress.stop();
        await itemEncoder.release();
        if (reviewEncoder !== itemEncoder) await reviewEncoder.release();
        const seconds = (Date.now() - started) / 1000;
        const texts = items.length + reviewCount;
        const summary = {
          out: path.resolve(options.out),
          model: itemEncoder.modelId,
          dim: itemEncoder.dim,
          items: items.length,
          reviews: reviewCount,
          encoded,
          cacheHits: hits,
          seconds: +seconds.toFixed(2),
          textsPerSecond: +(texts / seconds).toFixed(1),
          encodedPerSecond: +(encoded / seconds).toFixed(1),
          ...(sentimentSummary ? { sentiment: sentimentSummary } : {}),
        };
        if (options.json) {
          process.stdout.write(`${JSON.stringify(summary)}\n`);
        } else {
          process.stdout.write(
            `wrote ${summary.out}: ${summary.items} item texts and ${summary.reviews} reviews as ${summary.dim}-d vectors of ${summary.model}\n` +
              `${texts} texts in ${summary.seconds} s (${summary.textsPerSecond} texts/s; ${encoded} encoded, ${hits} from the cache)\n` +
              (sentimentSummary ? `sentiment: ${JSON.stringify(sentimentSummary)}\n` : ''),
          );
        }
      } finally {
        progress.stop();
      }
    });
}
