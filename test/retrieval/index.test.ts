/**
 * The retrieval layer (ts/retrieval/index.ts) against brute-force inner products: exact 'flat' search,
 * IVF and HNSW with their search parameters really applied (set through faiss's own serialisation,
 * which faiss-node does not expose), exclusions, semrec's tie order, save/load and damage detection.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';

import { isSemrecError } from '../../ts/errors';
import { readHnswParams, readIvfParams } from '../../ts/retrieval/faiss-params';
import { defaultIvfLists, VectorIndex } from '../../ts/retrieval/index';
import { freshSeed, Random } from '../helpers/random';
import { useTempDirs } from '../helpers/tempdir';

const tempDir = useTempDirs('semrec-retrieval-');

function unitVectors(rng: Random, n: number, dim: number): Float32Array {
  const out = new Float32Array(n * dim);
  for (let r = 0; r < n; r++) {
    let norm = 0;
    for (let t = 0; t < dim; t++) norm += (out[r * dim + t] = rng.normal()) ** 2;
    for (let t = 0; t < dim; t++) out[r * dim + t] /= Math.sqrt(norm);
  }
  return out;
}

/** Every id with its inner product with query q, best first (higher score, then lower id). */
function bruteForce(vectors: Float32Array, queries: Float32Array, q: number, dim: number, banned = new Set<number>()) {
  const n = vectors.length / dim;
  const out: { id: number; score: number }[] = [];
  for (let i = 0; i < n; i++) {
    if (banned.has(i)) continue;
    let s = 0;
    for (let t = 0; t < dim; t++) s += vectors[i * dim + t] * queries[q * dim + t];
    out.push({ id: i, score: s });
  }
  return out.sort((a, b) => b.score - a.score || a.id - b.id);
}

function recallAt(index: VectorIndex, vectors: Float32Array, queries: Float32Array, dim: number, k: number): number {
  const result = index.search(queries, k);
  let hits = 0;
  const numQueries = queries.length / dim;
  for (let q = 0; q < numQueries; q++) {
    const truth = new Set(bruteForce(vectors, queries, q, dim).slice(0, k).map((x) => x.id));
    for (let c = 0; c < k; c++) if (truth.has(result.indices[q * k + c])) hits++;
  }
  return hits / (numQueries * k);
}

function expectCode(code: string, pattern?: RegExp) {
  return (error: unknown) => {
    assert.ok(isSemrecError(error), `expected a SemrecError, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    if (pattern) assert.match(error.message, pattern);
    return true;
  };
}

describe('retrieval/VectorIndex', () => {
  it("'flat' returns the brute-force top-k by value, without excluded ids", () => {
    const seed = freshSeed();
    const rng = new Random(seed);
    const [n, dim, k, numQueries] = [700, 16, 9, 12];
    const vectors = unitVectors(rng, n, dim);
    const queries = unitVectors(rng, numQueries, dim);
    const index = new VectorIndex({ dim });
    index.add(vectors.subarray(0, 300 * dim));
    index.add(vectors.subarray(300 * dim));
    assert.equal(index.ntotal, n);
    const banned = Array.from({ length: numQueries }, () => Array.from({ length: rng.int(0, 20) }, () => rng.int(0, n - 1)));
    const exclude = {
      indptr: Int32Array.from([0, ...banned.map((_, q) => banned.slice(0, q + 1).reduce((s, b) => s + b.length, 0))]),
      indices: Int32Array.from(banned.flat()),
    };
    const result = index.search(queries, k, { exclude });
    for (let q = 0; q < numQueries; q++) {
      const expected = bruteForce(vectors, queries, q, dim, new Set(banned[q])).slice(0, k);
      for (let c = 0; c < k; c++) {
        assert.ok(!banned[q].includes(result.indices[q * k + c]), `seed ${seed}: excluded id returned`);
        assert.ok(Math.abs(result.scores[q * k + c] - expected[c].score) < 1e-5, `seed ${seed}, query ${q}, rank ${c}`);
      }
    }
  });

  it('orders equal scores by lower id and pads with -1 past ntotal', () => {
    const index = new VectorIndex({ dim: 2 });
    index.add(Float32Array.of(1, 0, 0, 1, 1, 0, 1, 0));
    const r = index.search(Float32Array.of(1, 0), 10);
    assert.equal(r.k, 4, 'k is clamped to ntotal');
    assert.deepEqual(Array.from(r.indices), [0, 2, 3, 1]);
    const excluded = index.search(Float32Array.of(1, 0), 4, { exclude: { indptr: Int32Array.of(0, 2), indices: Int32Array.of(0, 3) } });
    assert.deepEqual(Array.from(excluded.indices), [2, 1, -1, -1]);
    assert.equal(excluded.scores[3], -Infinity);
  });

  it('IVF applies nprobe: probing every list is exact, one list is not', () => {
    const seed = freshSeed();
    const rng = new Random(seed);
    const [n, dim, k] = [4000, 8, 10];
    const vectors = unitVectors(rng, n, dim);
    const queries = unitVectors(rng, 40, dim);
    const index = new VectorIndex({ dim, kind: 'ivf', nlist: 32, nprobe: 32 });
    index.add(vectors);
    assert.deepEqual(readIvfParams(Buffer.from(index.toBuffer()).subarray(8 + Buffer.from(index.toBuffer()).readUInt32LE(4)), dim), { nlist: 32, nprobe: 32 });
    assert.equal(recallAt(index, vectors, queries, dim, k), 1, `seed ${seed}: nprobe = nlist is exhaustive`);
    index.setSearchParams({ nprobe: 1 });
    const one = recallAt(index, vectors, queries, dim, k);
    assert.ok(one < 0.95, `seed ${seed}: one probed list of 32 misses neighbours (recall ${one})`);
  });

  it('IVF chooses min(4 sqrt(n), n / 39) lists by default and needs that many vectors to train', () => {
    const rng = new Random(freshSeed());
    const small = new VectorIndex({ dim: 4, kind: 'ivf' });
    small.add(unitVectors(rng, 400, 4));
    assert.equal(small.settings.nlist, 10, "400 / 39: faiss's k-means wants 39 points per cell");
    assert.equal(defaultIvfLists(1_000_000), 4000, '4 sqrt(n) once n / 39 is larger');
    assert.throws(() => new VectorIndex({ dim: 4, kind: 'ivf', nlist: 50 }).add(unitVectors(rng, 10, 4)), expectCode('ERR_INVALID_ARG_VALUE', /at least/));
  });

  it('HNSW reaches a high recall with its defaults and applies efSearch', () => {
    const seed = freshSeed();
    const rng = new Random(seed);
    const [n, dim, k] = [3000, 16, 10];
    const vectors = unitVectors(rng, n, dim);
    const queries = unitVectors(rng, 40, dim);
    const index = new VectorIndex({ dim, kind: 'hnsw' });
    index.add(vectors);
    const recall = recallAt(index, vectors, queries, dim, k);
    assert.ok(recall >= 0.9, `seed ${seed}: recall@10 ${recall}`);
    index.setSearchParams({ efSearch: 512 });
    const body = Buffer.from(index.toBuffer());
    assert.equal(readHnswParams(body.subarray(8 + body.readUInt32LE(4)), dim).efSearch, 512);
    assert.ok(recallAt(index, vectors, queries, dim, k) >= recall, 'a larger efSearch never recalls less here');
  });

  for (const kind of ['flat', 'ivf', 'hnsw'] as const) {
    it(`'${kind}' saves and loads to the same results, and detects damage`, async () => {
      const rng = new Random(freshSeed());
      const dim = 8;
      const vectors = unitVectors(rng, 500, dim);
      const queries = unitVectors(rng, 5, dim);
      const index = new VectorIndex({ dim, kind, ...(kind === 'ivf' ? { nlist: 10, nprobe: 3 } : {}) });
      index.add(vectors);
      const file = path.join(tempDir(), 'items.sidx');
      await index.save(file);
      const loaded = await VectorIndex.load(file);
      assert.deepEqual(loaded.settings, index.settings);
      assert.deepEqual(loaded.search(queries, 7), index.search(queries, 7));
      const bytes = fs.readFileSync(file);
      bytes[bytes.length - 9] ^= 0x10;
      fs.writeFileSync(file, bytes);
      await assert.rejects(VectorIndex.load(file), expectCode('ERR_MODEL_CORRUPT', /SHA-256/));
    });
  }

  it('reports faiss time and conversion time separately', () => {
    const rng = new Random(freshSeed());
    const index = new VectorIndex({ dim: 4 });
    index.add(unitVectors(rng, 100, 4));
    index.search(unitVectors(rng, 3, 4), 2);
    const s = index.stats;
    assert.equal(s.calls, 2);
    assert.ok(s.faissMs >= 0 && s.conversionMs > 0);
  });

  it('refuses bad arguments, naming them', () => {
    assert.throws(() => new VectorIndex({ dim: 0 }), expectCode('ERR_OUT_OF_RANGE', /dim/));
    assert.throws(() => new VectorIndex({ dim: 4, kind: 'lsh' as never }), expectCode('ERR_INVALID_ARG_VALUE', /kind/));
    assert.throws(() => new VectorIndex({ dim: 4, nprobe: 3 }), expectCode('ERR_INVALID_ARG_VALUE', /'nprobe'/));
    const index = new VectorIndex({ dim: 4 });
    assert.throws(() => index.add(new Float32Array(6)), expectCode('ERR_INVALID_ARG_VALUE', /multiple of dim/));
    assert.throws(() => index.add(Float32Array.of(1, 2, NaN, 4)), expectCode('ERR_NAN_INPUT', /\[2\]/));
    assert.throws(() => index.search([1, 2, 3, 4] as never, 1), expectCode('ERR_INVALID_ARG_TYPE'));
    index.add(new Float32Array(8));
    assert.throws(() => index.search(new Float32Array(4), 1, { exclude: { indptr: Int32Array.of(0), indices: new Int32Array(0) } }), expectCode('ERR_INVALID_ARG_VALUE', /one row per query/));
  });
});
