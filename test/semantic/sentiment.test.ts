import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { loadDataset } from '../../ts/data/load';
import { ratioSplit } from '../../ts/data/splits';
import { isSemrecError } from '../../ts/errors';
import { EmbeddingCache } from '../../ts/semantic/cache';
import { createEncoder, type Encoder } from '../../ts/semantic/encoder';
import { rocAuc, sentimentLabel, SentimentHead, trainSentimentHead } from '../../ts/semantic/sentiment';
import { reviewTexts } from '../../ts/semantic/templates';
import { defaultCacheDir } from '../../ts/util/cache-dir';
import { requireShared, sharedDataset } from '../helpers/shared';

/** The bar for held-out review sentiment with use-lite. */
const AUC_BAR = 0.8;

describe('semantic/sentiment', function () {
  this.timeout(600_000);

  describe('rocAuc', () => {
    it('is 1 for a perfect ranking, 0 for a reversed one and 0.5 for all ties', () => {
      assert.equal(rocAuc([0.1, 0.2, 0.8, 0.9], [0, 0, 1, 1]), 1);
      assert.equal(rocAuc([0.9, 0.8, 0.2, 0.1], [0, 0, 1, 1]), 0);
      assert.equal(rocAuc([0.5, 0.5, 0.5], [1, 0, 1]), 0.5);
    });

    it('counts a tied positive-negative pair as one half (hand-computed)', () => {
      // pairs (pos, neg): (0.8, 0.3) win, (0.8, 0.5) win, (0.5, 0.3) win, (0.5, 0.5) tie -> 3.5 / 4
      assert.equal(rocAuc([0.8, 0.5, 0.5, 0.3], [1, 1, 0, 0]), 0.875);
    });

    it('needs both classes', () => {
      assert.throws(() => rocAuc([0.1, 0.2], [1, 1]), /positive and one negative/);
    });
  });

  it('labels >= 4 stars positive, <= 2 negative and leaves 3 stars unlabelled', () => {
    assert.deepEqual([1, 2, 3, 4, 5, NaN].map(sentimentLabel), [0, 0, undefined, 1, 1, undefined]);
  });

  describe('with use-lite', () => {
    let encoder: Encoder;
    let dir: string;
    before(async () => {
      encoder = await createEncoder({ model: 'use-lite' });
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'semrec-sentiment-'));
    });
    after(async () => {
      await encoder.release();
      fs.rmSync(dir, { recursive: true, force: true });
    });

    const texts = [
      'Absolutely love it, works perfectly.', 'Great sound, great price, highly recommend.', 'Best strings I have ever used.', 'Excellent build quality and fast shipping.',
      'Broke after two days, total junk.', 'Terrible sound, returned it immediately.', 'Cheap plastic, fell apart.', 'Worst purchase ever, do not buy.',
      'It is okay I guess.',
    ];
    const ratings = [5, 5, 4, 5, 1, 1, 2, 1, 3];

    it('scores in [0, 1], above 0.5 for praise and below for complaints it was trained on', async () => {
      const head = await trainSentimentHead({ encoder, texts, ratings, l2: 1e-3 });
      assert.equal(head.data.positives, 4);
      assert.equal(head.data.negatives, 4);
      const scores = await head.scoreTexts(encoder, texts.slice(0, 8));
      assert.ok(scores.every((s) => s >= 0 && s <= 1));
      assert.ok(scores.slice(0, 4).every((s) => s > 0.5) && scores.slice(4).every((s) => s < 0.5), Array.from(scores).join(', '));
    });

    it('is saved and loaded with the id of its encoder, and refuses another encoder', async () => {
      const head = await trainSentimentHead({ encoder, texts, ratings, l2: 1e-3 });
      const file = path.join(dir, 'head.json');
      await head.save(file);
      const loaded = await SentimentHead.load(file, encoder);
      assert.deepEqual(Array.from(await loaded.scoreTexts(encoder, texts)), Array.from(await head.scoreTexts(encoder, texts)));
      const other = await createEncoder({ model: 'use-lite', maxLength: 64 });
      try {
        await assert.rejects(SentimentHead.load(file, other), (e: unknown) => isSemrecError(e, 'ERR_MODEL_MISMATCH'));
      } finally {
        await other.release();
      }
    });

    it('needs both positive and negative reviews', async () => {
      await assert.rejects(trainSentimentHead({ encoder, texts: ['good', 'fine'], ratings: [5, 4] }), /0 negative/);
    });

    it(`reaches ROC AUC >= ${AUC_BAR} on held-out Amazon Musical Instruments reviews`, async function () {
      const datasetPath = sharedDataset('amazon-musical-instruments-5core');
      requireShared(this, datasetPath);
      const store = await loadDataset({ format: 'amazon-reviews', path: datasetPath });
      const { train, test } = ratioSplit(store, { ratios: [0.8, 0.2], seed: 2020 });
      // Vectors are cached across runs (keyed by the encoder id; a corrupt file is rebuilt, never used).
      const cache = await EmbeddingCache.open(path.join(defaultCacheDir(), 'test-embeddings', 'amazon-musical-instruments.semc'), { modelId: encoder.id, dim: encoder.dim });
      const head = await trainSentimentHead({ encoder, texts: reviewTexts(train), ratings: train.rating, cache });
      const testTexts = reviewTexts(test);
      const labelled = Array.from(test.rating.keys()).filter((i) => sentimentLabel(test.rating[i]) !== undefined);
      const scores = await head.scoreTexts(encoder, labelled.map((i) => testTexts[i]), { cache });
      await cache.save();
      const auc = rocAuc(scores, labelled.map((i) => sentimentLabel(test.rating[i])!));
      this.test!.title += ` (AUC ${auc.toFixed(4)} on ${labelled.length} held-out reviews, l2 ${head.data.l2})`;
      assert.ok(auc >= AUC_BAR, `AUC ${auc}`);
    });
  });
});
