import assert from 'node:assert/strict';

import faiss from 'faiss-node';

import { freshSeed, Random, uniformScores } from '../helpers/random';

// faiss-node is compiled by native/faiss/build.js against Debian's libfaiss; this proves that build.
describe('faiss-node (built against the system libfaiss)', () => {
  it('an inner-product flat index returns the brute-force top-k', () => {
    const seed = freshSeed();
    const rng = new Random(seed);
    const dim = 24;
    const numVectors = 500;
    const k = 7;
    const vectors = uniformScores(rng, numVectors * dim);
    const index = new faiss.IndexFlatIP(dim);
    index.add(Array.from(vectors));
    assert.equal(index.ntotal(), numVectors);
    for (let q = 0; q < 20; q++) {
      const query = uniformScores(rng, dim);
      const result = index.search(Array.from(query), k);
      const brute = Array.from({ length: numVectors }, (_, i) => {
        let dot = 0;
        for (let t = 0; t < dim; t++) dot += query[t] * vectors[i * dim + t];
        return { i, dot };
      }).sort((a, b) => b.dot - a.dot);
      // By value: near-equal dot products may legitimately come back in either order.
      result.distances.forEach((d, j) => {
        assert.ok(Math.abs(d - brute[j].dot) < 1e-4, `seed ${seed}, query ${q}: distance ${j}`);
        const label = result.labels[j];
        assert.ok(Math.abs(brute.find((b) => b.i === label)!.dot - d) < 1e-4, `seed ${seed}: label ${label}`);
      });
    }
  });
});
