/**
 * The generated implicit dataset the benchmarks share: numUsers x numItems with Zipf-like item popularity
 * (item i has weight 1 / (i + 10)^0.9, a long tail without one dominating item) and log-normal user
 * activity around a mean, plus held-out items per user. Deterministic per seed.
 */
import type { Csr } from '../ts/kernels/types';
import type { TrainingData } from '../ts/models/data';
import { csrFromPairs } from '../ts/util/csr';
import { Random } from '../ts/util/random';

export interface GeneratedDataset {
  name: string;
  train: TrainingData;
  /** The held-out items per user (testPerUser each). */
  test: Csr;
  /** validationPerUser more held-out items per user (empty rows when 0). */
  validation: Csr;
}

function trainingData(name: string, numUsers: number, numItems: number, users: number[], items: number[]): TrainingData {
  const numGenres = 20;
  const genres = Array.from({ length: numItems }, (_, i) => [`g${i % numGenres}`, `g${(i * 7 + 3) % numGenres}`]);
  return {
    name,
    numUsers,
    numItems,
    numInteractions: users.length,
    userIdx: Int32Array.from(users),
    itemIdx: Int32Array.from(items),
    rating: new Float32Array(users.length).fill(1),
    timestamp: new Float64Array(users.length),
    items: { title: new Array(numItems).fill(undefined), genres, text: {}, numeric: {} },
    users: { fields: {} },
  };
}

/** Each user gets 5 + a log-normal number of training items (mean about meanPerUser), then the held-out ones. */
export function syntheticDataset(
  numUsers: number,
  numItems: number,
  meanPerUser: number,
  seed: number,
  held: { testPerUser: number; validationPerUser?: number },
): GeneratedDataset {
  const rng = new Random(seed);
  const cumulative = new Float64Array(numItems);
  let total = 0;
  for (let i = 0; i < numItems; i++) cumulative[i] = total += 1 / (i + 10) ** 0.9;
  const drawItem = () => {
    const x = rng.float() * total;
    let lo = 0;
    let hi = numItems - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cumulative[mid] < x) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
  const testCount = held.testPerUser;
  const validationCount = held.validationPerUser ?? 0;
  const parts = { train: [[], []], test: [[], []], validation: [[], []] } as Record<'train' | 'test' | 'validation', [number[], number[]]>;
  for (let u = 0; u < numUsers; u++) {
    const n = Math.min(numItems / 2, 5 + Math.round(meanPerUser * Math.exp(rng.normal() * 0.8 - 0.32)));
    const chosen = new Set<number>();
    while (chosen.size < n + testCount + validationCount) chosen.add(drawItem());
    let k = 0;
    for (const i of chosen) {
      const part = k < testCount ? 'test' : k < testCount + validationCount ? 'validation' : 'train';
      parts[part][0].push(u);
      parts[part][1].push(i);
      k++;
    }
  }
  const name = `synthetic-${numUsers / 1000}k-x-${numItems / 1000}k`;
  return {
    name,
    train: trainingData(name, numUsers, numItems, parts.train[0], parts.train[1]),
    test: csrFromPairs(numUsers, parts.test[0], parts.test[1]),
    validation: csrFromPairs(numUsers, parts.validation[0], parts.validation[1]),
  };
}
