/**
 * Small synthetic training data for model tests: users and items with planted latent tastes, genres
 * and ratings, so that a model that learns anything beats chance and a broken one does not.
 */
import { DenseIdMap, InteractionStore } from '../../ts/data/store';
import type { TrainingData } from '../../ts/models/data';
import { Random } from '../../ts/util/random';

export interface Fixture {
  train: TrainingData;
  test: TrainingData;
}

/** Users x items; each user gets `perUser` interactions drawn from its best-matching items, the last `testPerUser` held out. */
export function plantedInteractions(
  seed: number,
  numUsers = 60,
  numItems = 80,
  perUser = 12,
  testPerUser = 3,
): Fixture {
  const rng = new Random(seed);
  const dim = 4;
  const u = Array.from({ length: numUsers * dim }, () => rng.normal());
  const v = Array.from({ length: numItems * dim }, () => rng.normal());
  const genresOf = (i: number) => [`g${Math.abs(Math.round(v[i * dim] * 2)) % 5}`, ...(v[i * dim + 1] > 0 ? ['pos'] : [])];
  const rows: { user: number; item: number; rating: number; time: number }[][] = [[], []];
  for (let user = 0; user < numUsers; user++) {
    const affinity = Array.from({ length: numItems }, (_, item) => {
      let s = 0;
      for (let t = 0; t < dim; t++) s += u[user * dim + t] * v[item * dim + t];
      return { item, s: s + rng.normal() * 0.5 };
    }).sort((a, b) => b.s - a.s);
    const chosen = rng.shuffle(affinity.slice(0, perUser * 2)).slice(0, perUser) as { item: number; s: number }[];
    chosen.forEach(({ item, s }, k) => {
      const rating = Math.max(1, Math.min(5, Math.round(3 + s)));
      rows[k < perUser - testPerUser ? 0 : 1].push({ user, item, rating, time: 1_000_000 + k });
    });
  }
  const make = (name: string, list: typeof rows[0]): TrainingData => ({
    name,
    numUsers,
    numItems,
    numInteractions: list.length,
    userIdx: Int32Array.from(list.map((r) => r.user)),
    itemIdx: Int32Array.from(list.map((r) => r.item)),
    rating: Float32Array.from(list.map((r) => r.rating)),
    timestamp: Float64Array.from(list.map((r) => r.time)),
    items: {
      title: Array.from({ length: numItems }, (_, i) => `item ${i}`),
      genres: Array.from({ length: numItems }, (_, i) => genresOf(i)),
      text: {},
      numeric: { year: Float64Array.from({ length: numItems }, (_, i) => 1950 + ((i * 7) % 50)) },
    },
    users: {
      fields: {
        gender: Array.from({ length: numUsers }, (_, k) => (u[k * dim] > 0 ? 'F' : 'M')),
        age: Array.from({ length: numUsers }, (_, k) => 18 + (k % 40)),
      },
    },
  });
  return { train: make('planted', rows[0]), test: make('planted-test', rows[1]) };
}

/** The planted interactions (train and test parts together) as a data-layer InteractionStore. */
export function plantedStore(seed: number, numUsers = 60, numItems = 80, perUser = 12): InteractionStore {
  const { train, test } = plantedInteractions(seed, numUsers, numItems, perUser, 0);
  const all = train.numInteractions > 0 ? train : test;
  return new InteractionStore({
    name: 'planted',
    userIds: DenseIdMap.from(Array.from({ length: numUsers }, (_, u) => `u${u}`)),
    itemIds: DenseIdMap.from(Array.from({ length: numItems }, (_, i) => `i${i}`)),
    userIdx: all.userIdx,
    itemIdx: all.itemIdx,
    rating: all.rating,
    timestamp: Float64Array.from(all.timestamp, (t, e) => t + e),
    items: all.items,
    users: all.users,
  });
}
