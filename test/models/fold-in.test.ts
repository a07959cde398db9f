/**
 * The native fold-in ops (semrec/fold_in.h) against their TypeScript references (ts/models/reference.ts)
 * on fresh random inputs. The pairwise reference draws the same samples from a bit-exact port of the
 * native random stream, so native (float32) and reference (double) follow the same path; after tens of
 * SGD steps they agree to ~1e-6 relative, and 1e-4 leaves room without hiding a wrong update rule
 * (which moves values by the order of the learning rate, >= 1e-2 here).
 */
import assert from 'node:assert/strict';

import { isSemrecError } from '../../ts/errors';
import type { Csr } from '../../ts/kernels/types';
import { trainOps } from '../../ts/models/native';
import { foldInPairwiseReference, foldInRidgeReference } from '../../ts/models/reference';
import { csrFromPairs } from '../../ts/util/csr';
import { freshSeed, Random } from '../helpers/random';

const TOLERANCE = 1e-4;

function gaussian(rng: Random, n: number, std: number): Float32Array {
  return Float32Array.from({ length: n }, () => rng.normal() * std);
}

function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  let scale = 0;
  for (let k = 0; k < expected.length; k++) scale = Math.max(scale, Math.abs(expected[k]));
  for (let k = 0; k < expected.length; k++) {
    if (!(Math.abs(actual[k] - expected[k]) <= TOLERANCE * Math.max(1, scale))) {
      assert.fail(`${what}[${k}]: native ${actual[k]} vs reference ${expected[k]}`);
    }
  }
}

/** Histories of 1..maxPerUser distinct items per user (sorted, unique), plus one empty history. */
function randomHistories(rng: Random, numUsers: number, numItems: number, maxPerUser: number): Csr {
  const users: number[] = [];
  const items: number[] = [];
  for (let u = 0; u < numUsers - 1; u++) {
    const n = rng.int(1, maxPerUser);
    for (let k = 0; k < n; k++) {
      users.push(u);
      items.push(rng.int(0, numItems - 1));
    }
  }
  return csrFromPairs(numUsers, users, items);
}

function expectCode(code: string, pattern?: RegExp) {
  return (error: unknown) => {
    assert.ok(isSemrecError(error), `expected a SemrecError, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    if (pattern) assert.match(error.message, pattern);
    return true;
  };
}

describe('models/fold-in: native ops against their references', () => {
  for (const variant of [
    { name: 'BPR SGD', loss: 'bpr', adagrad: false, offset: false, epochs: 20 },
    { name: 'BPR SGD with LightGCN scale and offset', loss: 'bpr', adagrad: false, offset: true, epochs: 20 },
    { name: 'WARP with Adagrad (LightFM)', loss: 'warp', adagrad: true, offset: false, epochs: 3 },
  ] as const) {
    it(`foldInPairwise, ${variant.name}, matches the reference`, async () => {
      const seed = freshSeed();
      const rng = new Random(seed);
      const [numUsers, numItems, dim] = [7, 30, 5];
      const histories = randomHistories(rng, numUsers, numItems, 8);
      const itemFactors = gaussian(rng, numItems * dim, 0.5);
      const itemBias = gaussian(rng, numItems, 0.3);
      const offset = variant.offset ? gaussian(rng, numUsers * dim, 0.2) : undefined;
      const h = { loss: variant.loss, lr: 0.05, reg: 0.01, epochs: variant.epochs, maxSampled: 10, adagrad: variant.adagrad, scale: variant.offset ? 0.25 : 1 };
      const native = await trainOps.foldInPairwise({ numUsers, numItems, dim, itemFactors, itemBias, histories, offset, ...h, seed });
      const reference = foldInPairwiseReference({ factors: itemFactors, bias: itemBias, numItems, dim }, histories, offset, h, seed);
      assertClose(native.users, reference.users, `seed ${seed}: users`);
      assert.ok(Math.abs(native.loss - reference.loss) <= TOLERANCE * Math.max(1, reference.loss), `seed ${seed}: loss ${native.loss} vs ${reference.loss}`);
      const empty = numUsers - 1;
      assert.ok(native.users.subarray(empty * dim).every((v) => v === 0), 'an empty history folds in to the zero vector');
    });
  }

  it('foldInPairwise gives the same vectors on 1 thread and on several (one stream per user)', async () => {
    const seed = freshSeed();
    const rng = new Random(seed);
    const [numUsers, numItems, dim] = [200, 50, 8];
    const args = {
      numUsers,
      numItems,
      dim,
      itemFactors: gaussian(rng, numItems * dim, 0.5),
      histories: randomHistories(rng, numUsers, numItems, 10),
      lr: 0.05,
      reg: 0.01,
      epochs: 5,
      seed,
    };
    const one = await trainOps.foldInPairwise({ ...args, numThreads: 1 });
    const four = await trainOps.foldInPairwise({ ...args, numThreads: 4 });
    assert.deepEqual(four.users, one.users, `seed ${seed}`);
  });

  it('foldInRidge solves the regularised least squares of the reference', async () => {
    const seed = freshSeed();
    const rng = new Random(seed);
    const [numUsers, numItems, dim] = [6, 25, 4];
    const histories = randomHistories(rng, numUsers, numItems, 12);
    const targets = Float32Array.from({ length: histories.indices.length }, () => rng.int(-2, 2) + rng.normal() * 0.1);
    const itemFactors = gaussian(rng, numItems * dim, 0.7);
    const itemBias = gaussian(rng, numItems, 0.3);
    const native = await trainOps.foldInRidge({ numUsers, numItems, dim, itemFactors, itemBias, histories, targets, regFactors: 0.05, regBias: 0.02 });
    const reference = foldInRidgeReference({ factors: itemFactors, bias: itemBias, numItems, dim }, histories, targets, 0.05, 0.02);
    assertClose(native.users, reference.users, `seed ${seed}: user factors`);
    assertClose(native.userBias, reference.userBias, `seed ${seed}: user biases`);
  });

  it('foldInRidge recovers a user exactly from noiseless ratings when unregularised', async () => {
    const seed = freshSeed();
    const rng = new Random(seed);
    const [numItems, dim] = [20, 3];
    const itemFactors = gaussian(rng, numItems * dim, 1);
    const truth = gaussian(rng, dim, 1);
    const bias = 0.7;
    const items = Int32Array.from({ length: numItems }, (_, i) => i);
    const targets = Float32Array.from(items, (i) => bias + truth.reduce((s, x, t) => s + x * itemFactors[i * dim + t], 0));
    const r = await trainOps.foldInRidge({
      numUsers: 1,
      numItems,
      dim,
      itemFactors,
      histories: { indptr: Int32Array.of(0, numItems), indices: items },
      targets,
      regFactors: 0,
      regBias: 0,
    });
    assertClose(r.users, truth, `seed ${seed}: factors`);
    assert.ok(Math.abs(r.userBias[0] - bias) < 1e-4, `seed ${seed}: bias ${r.userBias[0]}`);
  });

  it('refuses histories that are unsorted or out of range, and item factors of the wrong size, naming them', async () => {
    const base = { numUsers: 1, numItems: 4, dim: 2, itemFactors: new Float32Array(8), lr: 0.1, reg: 0, epochs: 1, seed: 1 };
    await assert.rejects(
      trainOps.foldInPairwise({ ...base, histories: { indptr: Int32Array.of(0, 2), indices: Int32Array.of(2, 1) } }),
      expectCode('ERR_INVALID_ARG_VALUE', /histories/),
    );
    await assert.rejects(
      trainOps.foldInPairwise({ ...base, histories: { indptr: Int32Array.of(0, 1), indices: Int32Array.of(9) } }),
      expectCode('ERR_OUT_OF_RANGE', /histories/),
    );
    await assert.rejects(
      trainOps.foldInPairwise({ ...base, itemFactors: new Float32Array(7), histories: { indptr: Int32Array.of(0, 1), indices: Int32Array.of(1) } }),
      expectCode('ERR_INVALID_ARG_VALUE', /itemFactors/),
    );
    await assert.rejects(
      trainOps.foldInPairwise({ ...base, loss: 'hinge' as never, histories: { indptr: Int32Array.of(0, 1), indices: Int32Array.of(1) } }),
      expectCode('ERR_INVALID_ARG_VALUE', /loss/),
    );
  });
});
