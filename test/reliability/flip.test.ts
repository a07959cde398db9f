/**
 * A flipped bit anywhere in a saved artifact is caught at load, never used: each flip gives a coded
 * error (a corrupt cache or converted model is reported and rebuilt), or results identical to the
 * unflipped artifact's. Covers every file a saved model directory holds (model.json, the weights, any
 * further file), embedding files, embedding caches and cached converted models.
 *
 * By default each small file has every byte flipped (one random bit each) and large files a sample of
 * positions; SEMREC_RELIABILITY_FLIPS=all flips every byte of every file, SEMREC_RELIABILITY_FLIPS=<n>
 * samples n positions per file.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';

import { isSemrecError, SemrecError } from '../../ts/errors';
import { createModel, loadModel } from '../../ts/models/registry';
import { EmbeddingCache } from '../../ts/semantic/cache';
import { readEmbeddingFile, writeEmbeddingFile } from '../../ts/semantic/embedding-file';
import { checkCachedArtifact, writeCachedArtifact } from '../../ts/util/fs';
import { plantedInteractions } from '../helpers/interactions';
import { freshSeed, Random } from '../helpers/random';
import { useTempDirs } from '../helpers/tempdir';

const tempDir = useTempDirs('semrec-flip-');
const FLIPS = process.env.SEMREC_RELIABILITY_FLIPS ?? '400';
/** Files up to this size get every byte flipped even by default. */
const EXHAUSTIVE_BYTES = 4096;

/** Byte positions to flip in a file of `size` bytes. */
function positions(size: number, rng: Random): number[] {
  if (FLIPS === 'all' || size <= EXHAUSTIVE_BYTES) return Array.from({ length: size }, (_, i) => i);
  const n = Math.min(size, Number(FLIPS));
  const picked = new Set<number>([0, size - 1]);
  while (picked.size < n) picked.add(rng.int(0, size - 1));
  return [...picked];
}

/**
 * Flips one random bit at each position of `file` in turn, calls `check` (which must throw a coded error
 * or return a result equal to `expected`), and restores the byte. Returns how many flips were caught.
 */
async function flipEach(file: string, rng: Random, seed: number, expected: unknown, check: () => Promise<unknown>): Promise<{ flips: number; caught: number }> {
  const original = fs.readFileSync(file);
  let caught = 0;
  const where = positions(original.length, rng);
  for (const at of where) {
    const bit = 1 << rng.int(0, 7);
    const damaged = Buffer.from(original);
    damaged[at] ^= bit;
    fs.writeFileSync(file, damaged);
    let result: unknown;
    try {
      result = await check();
    } catch (error) {
      assert.ok(isSemrecError(error), `seed ${seed}: flipping bit ${bit} of byte ${at} of ${path.basename(file)} gave an uncoded error: ${String((error as Error)?.stack ?? error)}`);
      caught++;
      continue;
    } finally {
      fs.writeFileSync(file, original);
    }
    assert.deepEqual(result, expected, `seed ${seed}: flipping bit ${bit} of byte ${at} of ${path.basename(file)} loaded with other results`);
  }
  return { flips: where.length, caught };
}

describe('reliability: flipped bits in saved artifacts', function () {
  it('a saved model: every file of its directory, each flip a coded error or identical recommendations', async function () {
    const seed = freshSeed();
    const rng = new Random(seed);
    const { train } = plantedInteractions(7, 30, 25, 8, 2);
    const model = createModel('bpr', { epochs: 2, dim: 4 });
    await model.fit(train, { seed: 1 });
    const dir = path.join(tempDir(), 'bpr');
    await model.save(dir);
    const users = Array.from({ length: 30 }, (_, u) => u);
    const results = async (m: Awaited<ReturnType<typeof loadModel>>) => {
      const top = await m.recommend(users, 10);
      return { indices: Array.from(top.indices), scores: Array.from(top.scores), params: m.params };
    };
    const expected = await results(await loadModel(dir));
    const files = fs.readdirSync(dir);
    assert.ok(files.length >= 2);
    let total = 0;
    for (const name of files) {
      const { flips, caught } = await flipEach(path.join(dir, name), rng, seed, expected, async () => results(await loadModel(dir)));
      // A checksum catches every flip: none may load, even with equal results.
      assert.equal(caught, flips, `${name}: ${flips - caught} of ${flips} flips loaded`);
      total += flips;
    }
    this.test!.title += ` (${total} flips over ${files.length} files, all caught)`;
  });

  it('an embedding file: header and vectors, each flip a coded error', async function () {
    const seed = freshSeed();
    const rng = new Random(seed);
    const file = path.join(tempDir(), 'items.semb');
    const data = Float32Array.from({ length: 40 * 8 }, (_, i) => Math.sin(i));
    await writeEmbeddingFile(file, { encoderId: 'enc@1', meta: { dataset: 'd' } }, [{ name: 'items', data, cols: 8, rowIds: Array.from({ length: 40 }, (_, i) => String(1640 + i)) }]);
    const read = async () => {
      const f = await readEmbeddingFile(file);
      return { encoderId: f.encoderId, items: Array.from(f.sections.get('items')!.data), rows: f.sections.get('items')!.rows };
    };
    const { flips, caught } = await flipEach(file, rng, seed, await read(), read);
    assert.equal(caught, flips, `${flips - caught} of ${flips} flips read without error`);
    this.test!.title += ` (${flips} flips, all caught)`;
  });

  it('an embedding cache: each flip reported (corrupt or stale, so rebuilt) or identical vectors', async function () {
    const seed = freshSeed();
    const rng = new Random(seed);
    const file = path.join(tempDir(), 'vectors.semc');
    const cache = await EmbeddingCache.open(file, { modelId: 'enc@1', dim: 8 });
    const texts = Array.from({ length: 30 }, (_, i) => `text ${i}`);
    texts.forEach((t, i) => cache.set(t, Float32Array.from({ length: 8 }, (_, d) => i + d / 10)));
    await cache.save();
    const read = async () => {
      const c = await EmbeddingCache.open(file, { modelId: 'enc@1', dim: 8 });
      if (c.status !== 'loaded') throw new Error(c.status);
      return texts.map((t) => Array.from(c.get(t) ?? []));
    };
    const expected = await read();
    const { flips, caught } = await flipEach(file, rng, seed, expected, async () => {
      try {
        return await read();
      } catch (error) {
        // Reported, not used: the same outcome a coded error is for a reader that throws.
        throw new SemrecError(`cache not used: ${(error as Error).message}`, 'ERR_CACHE_MISMATCH');
      }
    });
    assert.equal(caught, flips, `${flips - caught} of ${flips} flips were used`);
    this.test!.title += ` (${flips} flips, all caught)`;
  });

  it('a cached converted model: each flip of it or of its checksum file makes it damaged (rebuilt)', async function () {
    const seed = freshSeed();
    const rng = new Random(seed);
    const file = path.join(tempDir(), 'model.onnx');
    await writeCachedArtifact(file, Buffer.from(Float32Array.from({ length: 3000 }, (_, i) => i).buffer));
    let total = 0;
    for (const target of [file, `${file}.sha256`]) {
      let flips = 0;
      for (const at of positions(fs.statSync(target).size, rng)) {
        const original = fs.readFileSync(target);
        const damaged = Buffer.from(original);
        damaged[at] ^= 1 << rng.int(0, 7);
        fs.writeFileSync(target, damaged);
        const state = (await checkCachedArtifact(file)).state;
        fs.writeFileSync(target, original);
        assert.equal(state, 'damaged', `seed ${seed}: a flip of byte ${at} of ${path.basename(target)} left it ${state}`);
        flips++;
      }
      assert.ok(flips > 0);
      total += flips;
    }
    this.test!.title += ` (${total} flips, all caught)`;
  });
});
