import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { isSemrecError } from '../../ts/errors';
import { EmbeddingCache, encodeWithCache } from '../../ts/semantic/cache';
import { createEncoder, type Encoder } from '../../ts/semantic/encoder';
import { freshSeed, Random, uniformScores } from '../helpers/random';

const DIM = 8;
const MODEL = 'test-model@1|pool=mean|norm=1|max=128';

describe('semantic/cache (EmbeddingCache)', () => {
  let dir: string;
  let file: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'semrec-cache-test-'));
    file = path.join(dir, 'vectors.semc');
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  async function filled(n: number, seed: number): Promise<{ texts: string[]; vectors: Float32Array[] }> {
    const rng = new Random(seed);
    const cache = await EmbeddingCache.open(file, { modelId: MODEL, dim: DIM });
    const texts = Array.from({ length: n }, (_, i) => `text ${i} ${rng.int(0, 1e6)}`);
    const vectors = texts.map(() => uniformScores(rng, DIM));
    texts.forEach((t, i) => cache.set(t, vectors[i]));
    await cache.save();
    return { texts, vectors };
  }

  it('starts empty and says so when there is no file', async () => {
    const cache = await EmbeddingCache.open(file, { modelId: MODEL, dim: DIM });
    assert.equal(cache.status, 'new');
    assert.equal(cache.size, 0);
    assert.equal(cache.get('anything'), undefined);
  });

  it('reads back exactly the vectors it saved, by text', async () => {
    const seed = freshSeed();
    const { texts, vectors } = await filled(50, seed);
    const cache = await EmbeddingCache.open(file, { modelId: MODEL, dim: DIM });
    assert.equal(cache.status, 'loaded', `seed ${seed}`);
    assert.equal(cache.size, 50);
    texts.forEach((t, i) => assert.deepEqual(Array.from(cache.get(t)!), Array.from(vectors[i])));
    assert.equal(cache.get('not cached'), undefined);
  });

  it('writes a header with the model id, dim, count and a checksum', async () => {
    await filled(3, 1);
    const bytes = fs.readFileSync(file);
    assert.equal(bytes.subarray(0, 8).toString('latin1'), 'SEMRECEC');
    assert.equal(bytes.readUInt32LE(12), DIM);
    assert.equal(bytes.readUInt32LE(16), 3);
    const idLength = bytes.readUInt32LE(20);
    assert.equal(bytes.subarray(56, 56 + idLength).toString('utf8'), MODEL);
  });

  it('is invalidated by a changed model id or dim', async () => {
    await filled(5, 2);
    const other = await EmbeddingCache.open(file, { modelId: 'test-model@2|pool=mean|norm=1|max=128', dim: DIM });
    assert.equal(other.status, 'stale');
    assert.equal(other.size, 0);
    assert.match(other.reason!, /test-model@1/);
    const wider = await EmbeddingCache.open(file, { modelId: MODEL, dim: DIM * 2 });
    assert.equal(wider.status, 'stale');
    other.set('fresh', new Float32Array(DIM).fill(1));
    await other.save();
    const reopened = await EmbeddingCache.open(file, { modelId: 'test-model@2|pool=mean|norm=1|max=128', dim: DIM });
    assert.equal(reopened.status, 'loaded');
    assert.equal(reopened.size, 1, 'the stale entries are gone');
  });

  for (const [what, corrupt] of [
    ['a flipped bit in a vector', (b: Buffer) => (b[b.length - 3] ^= 0x10)],
    ['a flipped bit in a text key', (b: Buffer) => (b[56 + MODEL.length + 5] ^= 0x01)],
    ['a changed count in the header', (b: Buffer) => b.writeUInt32LE(b.readUInt32LE(16) + 1, 16)],
    ['a changed model id byte', (b: Buffer) => (b[57] ^= 0x20)],
    ['a bad magic', (b: Buffer) => (b[0] = 0x58)],
  ] as const) {
    it(`detects ${what}, reports the file corrupt and never uses it`, async () => {
      const { texts } = await filled(20, 3);
      const bytes = fs.readFileSync(file);
      corrupt(bytes);
      fs.writeFileSync(file, bytes);
      const cache = await EmbeddingCache.open(file, { modelId: MODEL, dim: DIM });
      assert.equal(cache.status, 'corrupt');
      assert.ok(cache.reason);
      assert.equal(cache.size, 0);
      assert.ok(texts.every((t) => cache.get(t) === undefined));
    });
  }

  it('detects a file cut short', async () => {
    await filled(20, 4);
    const bytes = fs.readFileSync(file);
    fs.writeFileSync(file, bytes.subarray(0, bytes.length - 7));
    const cache = await EmbeddingCache.open(file, { modelId: MODEL, dim: DIM });
    assert.equal(cache.status, 'corrupt');
    assert.match(cache.reason!, /implies/);
  });

  it('rebuilds a corrupt file on save', async () => {
    await filled(20, 5);
    const bytes = fs.readFileSync(file);
    bytes[bytes.length - 1] ^= 0xff;
    fs.writeFileSync(file, bytes);
    const cache = await EmbeddingCache.open(file, { modelId: MODEL, dim: DIM });
    cache.set('only one', new Float32Array(DIM).fill(0.5));
    await cache.save();
    const again = await EmbeddingCache.open(file, { modelId: MODEL, dim: DIM });
    assert.equal(again.status, 'loaded');
    assert.equal(again.size, 1);
    assert.deepEqual(fs.readdirSync(dir), ['vectors.semc'], 'no temp files left behind');
  });

  it('rejects a vector of the wrong width, naming the widths', async () => {
    const cache = await EmbeddingCache.open(file, { modelId: MODEL, dim: DIM });
    assert.throws(() => cache.set('x', new Float32Array(DIM + 1)), /9 values.*8-d/);
  });

  describe('encodeWithCache (use-lite)', function () {
    this.timeout(120_000);
    let encoder: Encoder;
    before(async () => {
      encoder = await createEncoder({ model: 'use-lite' });
    });
    after(() => encoder.release());

    it('encodes only what the cache lacks, each distinct text once, with identical vectors', async () => {
      const cache = await EmbeddingCache.open(file, { modelId: encoder.id, dim: encoder.dim });
      const first = await encodeWithCache(encoder, ['a', 'b', 'a'], cache);
      assert.equal(first.hits, 0);
      assert.equal(first.encoded, 2);
      await cache.save();
      const reopened = await EmbeddingCache.open(file, { modelId: encoder.id, dim: encoder.dim });
      const second = await encodeWithCache(encoder, ['b', 'c', 'a'], reopened);
      assert.equal(second.hits, 2);
      assert.equal(second.encoded, 1);
      const direct = await encoder.encode(['b', 'c', 'a']);
      assert.ok(second.vectors.every((v, i) => Math.abs(v - direct[i]) < 1e-6));
    });

    it('refuses a cache of another model', async () => {
      const cache = await EmbeddingCache.open(file, { modelId: 'other', dim: encoder.dim });
      await assert.rejects(encodeWithCache(encoder, ['a'], cache), (e: unknown) => isSemrecError(e, 'ERR_CACHE_MISMATCH'));
    });
  });
});
