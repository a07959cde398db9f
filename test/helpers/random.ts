/** Random test inputs: tied scores, CSR lists, embeddings. Seeded, so a failure can be replayed. */
import type { Csr } from '../../ts/kernels/types';
import { Random } from '../../ts/util/random';

export { Random };

/** One of 17 values in [-2, 2]: many equal scores, so the tie rule is exercised everywhere. */
export function tiedScores(rng: Random, n: number): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = rng.int(-8, 8) / 4;
  return a;
}

export function uniformScores(rng: Random, n: number): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = rng.float() * 2 - 1;
  return a;
}

/** Small integers: dot products are exact in float32 in any summation order. */
export function integerVectors(rng: Random, n: number): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = rng.int(-3, 3);
  return a;
}

/** Each row lists up to maxPerRow random columns (duplicates possible, unsorted). */
export function randomCsr(rng: Random, rows: number, cols: number, maxPerRow: number): Csr {
  const indptr = new Int32Array(rows + 1);
  const indices: number[] = [];
  for (let r = 0; r < rows; r++) {
    const n = cols === 0 ? 0 : rng.int(0, maxPerRow);
    for (let i = 0; i < n; i++) indices.push(rng.int(0, cols - 1));
    indptr[r + 1] = indices.length;
  }
  return { indptr, indices: Int32Array.from(indices) };
}

/** A seed that changes on every run unless SEMREC_TEST_SEED pins it; printed when a test fails. */
export function freshSeed(): number {
  const pinned = process.env.SEMREC_TEST_SEED;
  return pinned !== undefined ? Number(pinned) : Math.floor(Math.random() * 2 ** 31);
}
