/**
 * The retrieval layer (ts/retrieval/index.ts) on random unit vectors of 64 dimensions, k = 10, batches
 * of 100 queries: exact search by faiss ('flat') against the core's native scoreTopK, what the
 * TypedArray <-> JS array conversion of faiss-node costs, and recall against speed for IVF (nprobe)
 * and HNSW (efSearch). Random vectors have no cluster structure, the hard case for IVF and HNSW.
 */
import { scoreTopKSync } from '../ts/kernels/score';
import { VectorIndex } from '../ts/retrieval/index';
import { Random } from '../ts/util/random';
import { measure, type Suite } from './harness';

const DIM = 64;
const K = 10;
const QUERIES = 100;

function unitVectors(rng: Random, n: number): Float32Array {
  const out = new Float32Array(n * DIM);
  for (let r = 0; r < n; r++) {
    let norm = 0;
    for (let t = 0; t < DIM; t++) norm += (out[r * DIM + t] = rng.normal()) ** 2;
    for (let t = 0; t < DIM; t++) out[r * DIM + t] /= Math.sqrt(norm);
  }
  return out;
}

function recall(found: Int32Array, truth: Int32Array): number {
  let hits = 0;
  for (let q = 0; q < QUERIES; q++) {
    const want = new Set(truth.subarray(q * K, (q + 1) * K));
    for (let c = 0; c < K; c++) if (want.has(found[q * K + c])) hits++;
  }
  return hits / (QUERIES * K);
}

export const retrievalSuite: Suite = {
  name: 'retrieval',
  description: 'faiss vector index (exact, IVF, HNSW) vs native scoreTopK; faiss-node conversion overhead',
  async run({ quick, log }) {
    const results: Record<string, unknown> = {};
    for (const n of quick ? [5_000] : [10_000, 100_000]) {
      const rng = new Random(n);
      const items = unitVectors(rng, n);
      const queries = unitVectors(rng, QUERIES);
      const exact = scoreTopKSync({ users: queries, items, dim: DIM, k: K });
      const row: Record<string, unknown> = {};
      const native = measure(`scoreTopK ${n}`, () => scoreTopKSync({ users: queries, items, dim: DIM, k: K }), { minSamples: 5, maxTimeSeconds: 3 });
      row.nativeScoreTopKMs = native.medianMs;
      log(`n=${n}: native scoreTopK ${native.medianMs.toFixed(2)} ms per ${QUERIES} queries`);

      const flat = new VectorIndex({ dim: DIM });
      flat.add(items);
      const before = flat.stats;
      const flatTime = measure(`flat ${n}`, () => flat.search(queries, K), { minSamples: 5, maxTimeSeconds: 3 });
      const after = flat.stats;
      const calls = after.calls - before.calls;
      row.flat = {
        searchMs: flatTime.medianMs,
        faissMsPerCall: (after.faissMs - before.faissMs) / calls,
        conversionMsPerCall: (after.conversionMs - before.conversionMs) / calls,
        recall: recall(flat.search(queries, K).indices, exact.indices),
      };
      log(`  flat: ${JSON.stringify(row.flat)}`);

      const ivf = new VectorIndex({ dim: DIM, kind: 'ivf' });
      let started = performance.now();
      ivf.add(items);
      const ivfRows: Record<string, unknown> = { nlist: ivf.settings.nlist, buildSeconds: (performance.now() - started) / 1000 };
      for (const nprobe of [1, 4, 16, 64]) {
        ivf.setSearchParams({ nprobe });
        const t = measure(`ivf ${n} ${nprobe}`, () => ivf.search(queries, K), { minSamples: 5, maxTimeSeconds: 2 });
        ivfRows[`nprobe=${nprobe}`] = { searchMs: t.medianMs, recall: recall(ivf.search(queries, K).indices, exact.indices) };
      }
      row.ivf = ivfRows;
      log(`  ivf: ${JSON.stringify(ivfRows)}`);

      const hnsw = new VectorIndex({ dim: DIM, kind: 'hnsw' });
      started = performance.now();
      hnsw.add(items);
      const hnswRows: Record<string, unknown> = { m: hnsw.settings.m, efConstruction: hnsw.settings.efConstruction, buildSeconds: (performance.now() - started) / 1000 };
      for (const efSearch of [16, 64, 128]) {
        hnsw.setSearchParams({ efSearch });
        const t = measure(`hnsw ${n} ${efSearch}`, () => hnsw.search(queries, K), { minSamples: 5, maxTimeSeconds: 2 });
        hnswRows[`efSearch=${efSearch}`] = { searchMs: t.medianMs, recall: recall(hnsw.search(queries, K).indices, exact.indices) };
      }
      row.hnsw = hnswRows;
      log(`  hnsw: ${JSON.stringify(hnswRows)}`);
      results[`n=${n}`] = row;
    }
    return { dim: DIM, k: K, queriesPerBatch: QUERIES, sizes: results };
  },
};
