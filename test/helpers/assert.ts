/** Numeric assertions shared by the kernel and model tests. */
import assert from 'node:assert/strict';

import type { Random } from './random';

/**
 * Each |actual - expected| <= tolerance x max(1, max |expected|): native float32 results against
 * double-precision references, where the absolute error grows with the values' scale.
 */
export function assertAllClose(actual: ArrayLike<number>, expected: ArrayLike<number>, what: string, tolerance: number): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  let scale = 0;
  for (let k = 0; k < expected.length; k++) scale = Math.max(scale, Math.abs(expected[k]));
  for (let k = 0; k < expected.length; k++) {
    const diff = Math.abs(actual[k] - expected[k]);
    if (!(diff <= tolerance * Math.max(1, scale))) assert.fail(`${what}[${k}]: ${actual[k]} vs ${expected[k]} (scale ${scale})`);
  }
}

/** n draws of Normal(0, std^2). */
export function gaussianArray(rng: Random, n: number, std: number): Float32Array {
  return Float32Array.from({ length: n }, () => rng.normal() * std);
}

/** Runs `body` and checks it throws (or rejects with) a SemrecError with `code` whose message matches `pattern`. */
export async function assertCode(body: () => unknown, code: string, pattern?: RegExp): Promise<void> {
  await assert.rejects(
    async () => body(),
    (e: Error & { code?: string }) => {
      assert.equal(e.code, code, `expected ${code}, got ${e.code}: ${e.message}`);
      if (pattern) assert.match(e.message, pattern);
      return true;
    },
  );
}
