/** A trained, saved model of a useful size for batch tests: bpr on random implicit data, one epoch. */
import type { TrainingData } from '../../ts/models/data';
import { createModel } from '../../ts/models/registry';
import { Random } from '../../ts/util/random';

/** `numUsers` users with `perUser` distinct random items each out of `numItems`. */
export function randomInteractions(numUsers: number, numItems: number, perUser: number, seed: number): TrainingData {
  const rng = new Random(seed);
  const userIdx = new Int32Array(numUsers * perUser);
  const itemIdx = new Int32Array(numUsers * perUser);
  for (let u = 0; u < numUsers; u++) {
    const items = new Set<number>();
    while (items.size < perUser) items.add(rng.int(0, numItems - 1));
    let e = u * perUser;
    for (const i of items) {
      userIdx[e] = u;
      itemIdx[e++] = i;
    }
  }
  const n = numUsers * perUser;
  return {
    name: `random-${numUsers}x${numItems}`,
    numUsers,
    numItems,
    numInteractions: n,
    userIdx,
    itemIdx,
    rating: new Float32Array(n).fill(NaN),
    timestamp: new Float64Array(n).fill(NaN),
    items: { title: [], genres: [], text: {}, numeric: {} },
    users: { fields: {} },
  } as unknown as TrainingData;
}

/**
 * Trains a model (one epoch, one thread: reproducible) on random data and saves it to `dir`: bpr by
 * default; neumf scores every user-item pair through an MLP, for shards that take a while.
 */
export async function saveTrainedModel(dir: string, numUsers = 4000, numItems = 2000, seed = 7, name: 'bpr' | 'neumf' = 'bpr'): Promise<void> {
  const model = createModel(name, { epochs: 1 });
  await model.fit(randomInteractions(numUsers, numItems, 10, seed), { seed, numThreads: 1 });
  await model.save(dir);
}
