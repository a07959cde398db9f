/**
 * The samples native epochs train on: a permutation of the positive pairs with uniform negatives the
 * user never interacted with, a function of the seed alone (not of the thread count), and exactly what
 * an epoch that draws its own samples trains on.
 */
import assert from 'node:assert/strict';

import type { Csr } from '../../ts/kernels/types';
import { positivePairs } from '../../ts/models/data';
import { trainOps } from '../../ts/models/native';
import { csrFromPairs } from '../../ts/util/csr';
import { freshSeed, Random } from '../helpers/random';

function problem(rng: Random, numUsers: number, numItems: number, perUser: number) {
  const users: number[] = [];
  const items: number[] = [];
  for (let u = 0; u < numUsers; u++) {
    for (let k = 0; k < perUser; k++) {
      users.push(u);
      items.push(rng.int(0, numItems - 1));
    }
  }
  const positives = csrFromPairs(numUsers, users, items);
  const pairs = positivePairs(positives);
  return { numUsers, numItems, positives, pairUsers: pairs.users, pairItems: pairs.items };
}

function isPositive(positives: Csr, u: number, i: number): boolean {
  for (let e = positives.indptr[u]; e < positives.indptr[u + 1]; e++) if (positives.indices[e] === i) return true;
  return false;
}

describe('native sampling', () => {
  let seed = 0;
  let rng: Random;
  beforeEach(function () {
    seed = freshSeed();
    rng = new Random(seed);
    this.currentTest!.title += ` [seed ${seed}]`;
  });

  it('draws every positive pair once, each with a negative the user never interacted with', async () => {
    const p = problem(rng, 200, 300, 20);
    const t = await trainOps.sampleTriples({ ...p, seed: 7 });
    assert.equal(t.users.length, p.pairUsers.length);
    const drawn = new Set<string>();
    for (let s = 0; s < t.users.length; s++) {
      assert.ok(isPositive(p.positives, t.users[s], t.pos[s]), `triple ${s}: (${t.users[s]}, ${t.pos[s]}) is not a training pair`);
      assert.ok(!isPositive(p.positives, t.users[s], t.neg[s]), `triple ${s}: negative ${t.neg[s]} is a positive of user ${t.users[s]}`);
      drawn.add(`${t.users[s]}:${t.pos[s]}`);
    }
    assert.equal(drawn.size, p.pairUsers.length, 'every pair exactly once');
  });

  it('draws negatives uniformly over the items a user has not seen', async () => {
    // One user who saw items 0..9 of 40: each of the other 30 items should come up ~1/30 of the time.
    const positives = csrFromPairs(1, new Array(10).fill(0), Array.from({ length: 10 }, (_, i) => i));
    const pairUsers = new Int32Array(6000);
    const pairItems = Int32Array.from({ length: 6000 }, (_, k) => k % 10);
    const t = await trainOps.sampleTriples({ numUsers: 1, numItems: 40, positives, pairUsers, pairItems, seed: rng.int(0, 1e6) });
    const counts = new Array(40).fill(0);
    for (const j of t.neg) counts[j]++;
    // Expected 200 per item, binomial sd ~14: 5 sd either way never happens by chance.
    for (let i = 10; i < 40; i++) assert.ok(Math.abs(counts[i] - 200) < 70, `item ${i} drawn ${counts[i]} times`);
  });

  it('depends on the seed and not on the number of threads', async () => {
    const p = problem(rng, 300, 500, 15);
    const a = await trainOps.sampleTriples({ ...p, seed: 11, numThreads: 1 });
    const b = await trainOps.sampleTriples({ ...p, seed: 11, numThreads: 3 });
    const c = await trainOps.sampleTriples({ ...p, seed: 12, numThreads: 1 });
    assert.deepEqual(b, a);
    assert.notDeepEqual(c.neg, a.neg);
    const pa = await trainOps.samplePoints({ ...p, seed: 11, negatives: 3, numThreads: 1 });
    const pb = await trainOps.samplePoints({ ...p, seed: 11, negatives: 3, numThreads: 4 });
    assert.deepEqual(pb, pa);
  });

  it('gives pointwise samples as one labelled positive followed by its negatives', async () => {
    const p = problem(rng, 50, 80, 6);
    const s = await trainOps.samplePoints({ ...p, seed: 3, negatives: 4 });
    assert.equal(s.users.length, p.pairUsers.length * 5);
    for (let k = 0; k < s.users.length; k++) {
      const first = k % 5 === 0;
      assert.equal(s.labels[k], first ? 1 : 0);
      assert.equal(s.users[k], s.users[k - (k % 5)]);
      assert.equal(isPositive(p.positives, s.users[k], s.items[k]), first, `sample ${k}`);
    }
  });

  it('an epoch that draws its samples trains on exactly what sampleTriples returns for its seed', async () => {
    const p = problem(rng, 40, 60, 8);
    const dim = 8;
    const P = Float32Array.from({ length: p.numUsers * dim }, () => rng.normal() * 0.1);
    const Q = Float32Array.from({ length: p.numItems * dim }, () => rng.normal() * 0.1);
    const h = { lr: 0.05, reg: 0.01, regBias: 0.01 };
    const drawn = { P: P.slice(), Q: Q.slice() };
    await trainOps.bprEpoch({ ...p, dim, ...drawn, ...h, seed: 99, numThreads: 1 });
    const t = await trainOps.sampleTriples({ ...p, seed: 99 });
    const given = { P: P.slice(), Q: Q.slice() };
    await trainOps.bprEpoch({ numUsers: p.numUsers, numItems: p.numItems, dim, ...given, ...h, tripleUsers: t.users, triplePos: t.pos, tripleNeg: t.neg, numThreads: 1 });
    assert.deepEqual(drawn.P, given.P);
    assert.deepEqual(drawn.Q, given.Q);
  });

  it('rejects positives that are not sorted and unique, naming the argument', async () => {
    const p = problem(rng, 3, 10, 2);
    const bad = { indptr: Int32Array.from([0, 2, 2, 2]), indices: Int32Array.from([5, 1]) };
    await assert.rejects(trainOps.sampleTriples({ ...p, positives: bad, seed: 1 }), (e: Error & { code?: string }) => {
      assert.equal(e.code, 'ERR_INVALID_ARG_VALUE');
      assert.match(e.message, /positives/);
      return true;
    });
  });
});
