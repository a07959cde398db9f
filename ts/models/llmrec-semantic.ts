/**
 * LLM-Rec's semantic side, built from a training split: item vectors from the item text template plus
 * the mean of the item's training reviews, review sentiment from a head trained on the training
 * reviews' stars, and the contrastive adapter over the frozen encoder vectors. Everything is encoded
 * through the embedding cache, so reruns over the same corpus encode nothing.
 */
import type { InteractionStore } from '../data/store';
import { SemrecError } from '../errors';
import { type LongRunningOptions, throwIfAborted } from '../progress';
import { SemanticAdapter } from '../semantic/adapter';
import { type EmbeddingCache, encodeWithCache, openEmbeddingCache } from '../semantic/cache';
import { createEncoder, type Encoder, ITEM_MAX_LENGTH, normalizeRows, REVIEW_MAX_LENGTH } from '../semantic/encoder';
import { trainSentimentHead } from '../semantic/sentiment';
import { itemTemplateFor, itemTexts, reviewTexts } from '../semantic/templates';
import { defaultCacheDir } from '../util/cache-dir';
import type { EpochRecord } from './contract';

export interface SemanticOptions extends LongRunningOptions {
  /** 'use-lite', a model directory or a hub id. */
  encoder: string;
  /** Encoders to use instead of creating them from `encoder` (tests, services that keep one loaded). */
  encoders?: { item: Encoder; review?: Encoder };
  /** Where encoders and the embedding cache live (default: SEMREC_CACHE_DIR or <tmp>/semrec-cache). */
  cacheDir?: string;
  /** Read and write the embedding cache (default true). */
  cache?: boolean;
  reviewVectors: boolean;
  sentiment: boolean;
  adapter: false | { outDim: number; experts: number; epochs: number; lr: number; temperature: number; dropout: number; batchSize: number };
  seed: number;
  numThreads?: number;
}

export interface SemanticSide {
  /** `Encoder.id` of the item encoder (what a saved model is tied to). */
  encoderId: string;
  /** `Encoder.id` of the review encoder (the item encoder's when they are the same). */
  reviewEncoderId: string;
  /** Width of the encoder's vectors. */
  inDim: number;
  /** numItems x inDim: each item's text vector, averaged with its training reviews' mean where it has reviews. */
  itemVectors: Float32Array;
  adapter?: SemanticAdapter;
  /** numItems x semDim: the vectors the fused model reads (adapted, unit norm). */
  itemSem: Float32Array;
  semDim: number;
  /** Per training interaction: the review's sentiment in [0, 1], NaN without review text (absent without a head). */
  sentiment?: Float32Array;
  stages: Record<string, EpochRecord[]>;
  notes: string[];
  texts: { items: number; reviews: number; encoded: number; cacheHits: number };
}

async function encodeAll(encoder: Encoder, texts: string[], cache: EmbeddingCache | undefined, counts: SemanticSide['texts'], o: LongRunningOptions): Promise<Float32Array> {
  if (!cache) {
    counts.encoded += texts.length;
    return encoder.encode(texts, o);
  }
  const r = await encodeWithCache(encoder, texts, cache, o);
  counts.encoded += r.encoded;
  counts.cacheHits += r.hits;
  return r.vectors;
}

/** Builds the semantic side from the training split `train` (its reviews only: nothing held out leaks in). */
export async function buildSemanticSide(train: InteractionStore, o: SemanticOptions): Promise<SemanticSide> {
  const cacheDir = o.cacheDir ?? defaultCacheDir();
  const phase = (what: string) => ({ onProgress: o.onProgress && ((e: { phase: string; done: number; total?: number; unit?: string }) => o.onProgress!({ ...e, phase: what })), signal: o.signal });
  const created: Encoder[] = [];
  let item = o.encoders?.item;
  let review = o.encoders?.review;
  try {
    if (!item) {
      item = await createEncoder({ model: o.encoder, maxLength: ITEM_MAX_LENGTH, cacheDir, signal: o.signal });
      created.push(item);
    }
    if (!review) {
      const candidate = await createEncoder({ model: o.encoder, maxLength: REVIEW_MAX_LENGTH, cacheDir, signal: o.signal });
      if (candidate.id === item.id) await candidate.release();
      else {
        created.push(candidate);
        review = candidate;
      }
      review ??= item;
    }
    const counts = { items: 0, reviews: 0, encoded: 0, cacheHits: 0 };
    const useCache = o.cache !== false;
    const itemCache = useCache ? await openEmbeddingCache(cacheDir, item) : undefined;
    const reviewCache = useCache ? (review === item ? itemCache : await openEmbeddingCache(cacheDir, review)) : undefined;
    const notes: string[] = [];
    const D = item.dim;
    if (review.dim !== D) throw new SemrecError(`the review encoder (${review.dim}-d) and the item encoder (${D}-d) differ in width`, 'ERR_MODEL_MISMATCH');

    // Item texts (their review snippets come from `train`: training reviews only).
    const texts = itemTexts(train, itemTemplateFor(train));
    counts.items = texts.length;
    const textVectors = await encodeAll(item, texts, itemCache, counts, phase('encoding item texts'));
    throwIfAborted(o.signal, 'building the semantic side');

    // Training reviews: vectors (item vectors and adapter views) and sentiment.
    const allReviews = train.review ? reviewTexts(train) : [];
    const withText = allReviews.flatMap((t, e) => (t ? [e] : []));
    counts.reviews = withText.length;
    let reviewVectors: Float32Array = new Float32Array(0);
    if (withText.length > 0 && (o.reviewVectors || o.sentiment || o.adapter)) {
      reviewVectors = await encodeAll(review, withText.map((e) => allReviews[e]), reviewCache, counts, phase('encoding reviews'));
    }
    if (itemCache) await itemCache.save();
    if (reviewCache && reviewCache !== itemCache) await reviewCache.save();
    throwIfAborted(o.signal, 'building the semantic side');

    let sentiment: Float32Array | undefined;
    if (o.sentiment && withText.length > 0) {
      try {
        const head = await trainSentimentHead({
          encoder: review,
          texts: withText.map((e) => allReviews[e]),
          ratings: withText.map((e) => train.rating[e]),
          cache: reviewCache,
          ...phase('training the sentiment head'),
        });
        const scores = head.score(reviewVectors);
        sentiment = new Float32Array(train.numInteractions).fill(NaN);
        withText.forEach((e, r) => (sentiment![e] = scores[r]));
        notes.push(`review sentiment from a head trained on ${head.data.positives + head.data.negatives} labelled training reviews`);
      } catch (error) {
        if (!(error instanceof SemrecError) || error.code !== 'ERR_INVALID_ARG_VALUE') throw error;
        notes.push(`no review sentiment: ${error.message}`);
      }
    }

    // Item vectors: the text vector, averaged with the mean of the item's training reviews.
    const itemVectors = textVectors.slice();
    const views: number[][] = Array.from({ length: train.numItems }, (_, i) => [i]);
    if (withText.length > 0 && (o.reviewVectors || o.adapter)) {
      const mean = new Float64Array(train.numItems * D);
      const count = new Int32Array(train.numItems);
      withText.forEach((e, r) => {
        const i = train.itemIdx[e];
        count[i]++;
        for (let d = 0; d < D; d++) mean[i * D + d] += reviewVectors[r * D + d];
        views[i].push(train.numItems + r);
      });
      if (o.reviewVectors) {
        for (let i = 0; i < train.numItems; i++) {
          if (count[i] === 0) continue;
          for (let d = 0; d < D; d++) itemVectors[i * D + d] = 0.5 * (textVectors[i * D + d] + mean[i * D + d] / count[i]);
        }
      }
    }
    normalizeRows(itemVectors, D);

    const stages: Record<string, EpochRecord[]> = {};
    let adapter: SemanticAdapter | undefined;
    let itemSem: Float32Array = itemVectors;
    let semDim = D;
    if (o.adapter) {
      // Views: row i < numItems is item i's text vector, row numItems + r is training review r.
      const all = new Float32Array((train.numItems + withText.length) * D);
      all.set(textVectors);
      all.set(reviewVectors, train.numItems * D);
      const trained = await SemanticAdapter.train({
        vectors: all,
        inDim: D,
        itemViews: views,
        ...o.adapter,
        seed: o.seed,
        numThreads: o.numThreads,
        signal: o.signal,
        onProgress: o.onProgress,
      });
      adapter = trained.adapter;
      stages.adapter = trained.epochs;
      itemSem = await adapter.apply(itemVectors, o.numThreads);
      semDim = o.adapter.outDim;
    }
    return { encoderId: item.id, reviewEncoderId: review.id, inDim: D, itemVectors, adapter, itemSem, semDim, sentiment, stages, notes, texts: counts };
  } finally {
    for (const e of created) await e.release();
  }
}

/** Encodes new items' texts with the encoder a model was trained with (refusing any other). */
export async function encodeNewItems(texts: string[], o: { encoder: string; encoderId: string; cacheDir?: string; item?: Encoder }): Promise<Float32Array> {
  const encoder = o.item ?? (await createEncoder({ model: o.encoder, maxLength: ITEM_MAX_LENGTH, cacheDir: o.cacheDir ?? defaultCacheDir() }));
  try {
    if (encoder.id !== o.encoderId) {
      throw new SemrecError(`this model was trained on the encoder ${o.encoderId}; the encoder given is ${encoder.id}`, 'ERR_MODEL_MISMATCH');
    }
    const vectors = await encoder.encode(texts);
    normalizeRows(vectors, encoder.dim);
    return vectors;
  } finally {
    if (!o.item) await encoder.release();
  }
}
