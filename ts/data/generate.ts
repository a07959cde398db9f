/**
 * Generated datasets for scalability studies (the LLM-Rec paper's Figure 7: inference time against
 * dataset size): any number of interactions, with users and items growing with it, Zipf item popularity,
 * users with genre tastes, explicit ratings, timestamps and item texts made from templates, so that every
 * model (LLM-Rec's text side included) has what it reads. Deterministic for a seed: the same call gives
 * the same store, byte for byte, on every machine.
 *
 * The shape follows MovieLens-100K where it can: ml-100k has 100,000 interactions from 943 users on
 * 1,682 items (106 per user, items about 5.3 x sqrt(interactions)); SHAPE below scales both with the
 * interaction count so that 100k generated interactions have about the same users and items.
 */
import { SemrecError } from '../errors';
import { Random } from '../util/random';
import { DenseIdMap, InteractionStore } from './store';

/** How the generated shape grows with the number of interactions; each value with its reason. */
export const SHAPE = {
  /** Mean interactions per user (ml-100k: 106; Amazon 5-core sets are sparser, so a little lower). */
  interactionsPerUser: 100,
  /** Items = this x sqrt(interactions): 1,600 items at 100k interactions (ml-100k: 1,682), 16k at 10M. */
  itemsPerSqrtInteraction: 5,
  /** Every user has at least this many interactions (the 5-core convention). */
  minPerUser: 5,
  /** Item i's popularity is 1 / (rank + offset)^exponent: a long tail without a single dominating item. */
  zipfExponent: 0.9,
  zipfOffset: 10,
  /** Share of a user's interactions drawn from the user's favourite genres (the rest by popularity alone). */
  tasteShare: 0.7,
  /** Log-normal spread of user activity (sigma of the log). */
  activitySigma: 0.8,
} as const;

/** Genres of the generated items (MovieLens' 18). */
export const GENERATED_GENRES = [
  'Action', 'Adventure', 'Animation', "Children's", 'Comedy', 'Crime', 'Documentary', 'Drama', 'Fantasy',
  'Film-Noir', 'Horror', 'Musical', 'Mystery', 'Romance', 'Sci-Fi', 'Thriller', 'War', 'Western',
] as const;

const ADJECTIVES = ['quiet', 'restless', 'bright', 'hidden', 'broken', 'golden', 'distant', 'silent', 'wild', 'last', 'little', 'long', 'dark', 'gentle', 'strange', 'burning'];
const NOUNS = ['harbour', 'winter', 'signal', 'garden', 'frontier', 'promise', 'machine', 'river', 'letter', 'empire', 'station', 'mirror', 'orchard', 'voyage', 'island', 'choir'];
const SETTINGS = ['a small coastal town', 'a city that never sleeps', 'the edge of the galaxy', 'a failing farm', 'a boarding school', 'the Alps in 1944', 'a desert outpost', 'a haunted manor', 'a newsroom', 'a travelling circus'];
const PEOPLE = ['a retired detective', 'two estranged sisters', 'a young engineer', 'a reluctant king', 'a jazz pianist', 'a rookie pilot', 'a single father', 'a runaway robot', 'an ambitious chef', 'a lonely lighthouse keeper'];
const GENRE_WORDS: Record<string, string> = {
  Action: 'a relentless chase', Adventure: 'a journey into the unknown', Animation: 'a hand-drawn world', "Children's": 'a lesson in friendship',
  Comedy: 'a string of absurd misunderstandings', Crime: 'a heist gone wrong', Documentary: 'the true story', Drama: 'a family torn apart',
  Fantasy: 'an ancient spell', 'Film-Noir': 'a femme fatale and a double cross', Horror: 'something in the cellar', Musical: 'songs that carry the plot',
  Mystery: 'a locked-room puzzle', Romance: 'a love that should not be', 'Sci-Fi': 'a signal from another world', Thriller: 'a ticking clock',
  War: 'the front line', Western: 'a showdown at noon',
};

export interface GenerateOptions {
  /** Interactions to generate (at least 1,000). */
  interactions: number;
  seed?: number;
  /** Store name (default `generated-<interactions>`). */
  name?: string;
}

/** Users and items of a generated dataset with this many interactions (SHAPE). */
export function generatedShape(interactions: number): { numUsers: number; numItems: number } {
  const numUsers = Math.max(10, Math.round(interactions / SHAPE.interactionsPerUser));
  const numItems = Math.max(50, Math.round(SHAPE.itemsPerSqrtInteraction * Math.sqrt(interactions)));
  return { numUsers, numItems };
}

/** Cumulative weights for drawing by binary search. */
function cumulative(weights: ArrayLike<number>): Float64Array {
  const out = new Float64Array(weights.length);
  let total = 0;
  for (let i = 0; i < weights.length; i++) out[i] = total += weights[i];
  return out;
}

function draw(cum: Float64Array, rng: Random): number {
  const x = rng.float() * cum[cum.length - 1];
  let lo = 0;
  let hi = cum.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (cum[mid] <= x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

const pick = <T>(list: readonly T[], rng: Random): T => list[rng.int(0, list.length - 1)];

/**
 * Interactions per user: log-normal activity scaled so that the counts sum exactly to `interactions`,
 * each between minPerUser and half the catalogue.
 */
function activity(numUsers: number, numItems: number, interactions: number, rng: Random): Int32Array {
  const most = Math.max(SHAPE.minPerUser, Math.floor(numItems / 2));
  if (numUsers * SHAPE.minPerUser > interactions || numUsers * most < interactions) {
    throw new SemrecError(`generateDataset: ${interactions} interactions do not fit ${numUsers} users x ${numItems} items`, 'ERR_INVALID_ARG_VALUE');
  }
  const weights = Float64Array.from({ length: numUsers }, () => Math.exp(rng.normal() * SHAPE.activitySigma));
  const sum = weights.reduce((a, b) => a + b, 0);
  const counts = Int32Array.from(weights, (w) => Math.min(most, Math.max(SHAPE.minPerUser, Math.round((w / sum) * interactions))));
  let diff = interactions - counts.reduce((a, b) => a + b, 0);
  // Spread the rounding difference one interaction at a time over the users that can take it.
  for (let u = 0; diff !== 0; u = (u + 1) % numUsers) {
    if (diff > 0 && counts[u] < most) {
      counts[u]++;
      diff--;
    } else if (diff < 0 && counts[u] > SHAPE.minPerUser) {
      counts[u]--;
      diff++;
    }
  }
  return counts;
}

/** A generated dataset (see the module comment); `interactions` is met exactly. */
export function generateDataset(options: GenerateOptions): InteractionStore {
  const interactions = options.interactions;
  if (!Number.isSafeInteger(interactions) || interactions < 1000) {
    throw new SemrecError(`generateDataset: interactions must be an integer >= 1000, got ${String(interactions)}`, 'ERR_INVALID_ARG_VALUE');
  }
  const seed = options.seed ?? 42;
  const rng = new Random(seed);
  const { numUsers, numItems } = generatedShape(interactions);
  const numGenres = GENERATED_GENRES.length;

  // Items: popularity by a random rank (so popular items are spread over genres), one or two genres.
  const rank = Int32Array.from({ length: numItems }, (_, i) => i);
  for (let i = numItems - 1; i > 0; i--) {
    const j = rng.int(0, i);
    [rank[i], rank[j]] = [rank[j], rank[i]];
  }
  const popularity = Float64Array.from(rank, (r) => 1 / (r + SHAPE.zipfOffset) ** SHAPE.zipfExponent);
  const itemGenres: number[][] = Array.from({ length: numItems }, () => {
    const first = rng.int(0, numGenres - 1);
    const second = rng.float() < 0.4 ? rng.int(0, numGenres - 1) : first;
    return second === first ? [first] : [first, second];
  });
  const byGenre: number[][] = Array.from({ length: numGenres }, () => []);
  itemGenres.forEach((gs, i) => gs.forEach((g) => byGenre[g].push(i)));
  const genreCum = byGenre.map((items) => cumulative(items.map((i) => popularity[i])));
  const globalCum = cumulative(popularity);
  const year = Int32Array.from({ length: numItems }, () => rng.int(1950, 2024));
  const titles = Array.from({ length: numItems }, (_, i) => {
    const adjective = ADJECTIVES[i % ADJECTIVES.length];
    const noun = NOUNS[Math.floor(i / ADJECTIVES.length) % NOUNS.length];
    const part = Math.floor(i / (ADJECTIVES.length * NOUNS.length));
    const name = `The ${adjective[0].toUpperCase()}${adjective.slice(1)} ${noun[0].toUpperCase()}${noun.slice(1)}`;
    return `${name}${part > 0 ? ` ${part + 1}` : ''} (${year[i]})`;
  });
  const descriptions = itemGenres.map((gs) => {
    const names = gs.map((g) => GENERATED_GENRES[g]);
    return `A ${pick(ADJECTIVES, rng)} ${names.join(' and ').toLowerCase()} story about ${pick(PEOPLE, rng)} in ${pick(SETTINGS, rng)}, with ${GENRE_WORDS[names[0]]}${names[1] ? ` and ${GENRE_WORDS[names[1]]}` : ''}.`;
  });

  // Users: two favourite genres each; interactions drawn without repeats, in time order.
  const counts = activity(numUsers, numItems, interactions, rng);
  const userIdx = new Int32Array(interactions);
  const itemIdx = new Int32Array(interactions);
  const rating = new Float32Array(interactions);
  const timestamp = new Float64Array(interactions);
  const START = Date.UTC(2020, 0, 1) / 1000;
  const DAY = 86_400;
  const chosen = new Set<number>();
  let e = 0;
  for (let u = 0; u < numUsers; u++) {
    const tastes = [rng.int(0, numGenres - 1), rng.int(0, numGenres - 1)];
    chosen.clear();
    let t = START + rng.float() * 365 * DAY;
    while (chosen.size < counts[u]) {
      const g = tastes[rng.int(0, 1)];
      const fromTaste = rng.float() < SHAPE.tasteShare && byGenre[g].length > 0;
      const item = fromTaste ? byGenre[g][draw(genreCum[g], rng)] : draw(globalCum, rng);
      if (chosen.has(item)) continue;
      chosen.add(item);
      const liked = itemGenres[item].some((x) => x === tastes[0] || x === tastes[1]);
      const r = Math.round(3 + (liked ? 1 : -0.5) + rng.normal() * 0.8);
      userIdx[e] = u;
      itemIdx[e] = item;
      rating[e] = Math.min(5, Math.max(1, r));
      timestamp[e] = Math.round((t += rng.float() * 3 * DAY));
      e++;
    }
  }
  return new InteractionStore({
    name: options.name ?? `generated-${interactions}`,
    userIds: DenseIdMap.from(Array.from({ length: numUsers }, (_, u) => `u${u + 1}`)),
    itemIds: DenseIdMap.from(Array.from({ length: numItems }, (_, i) => `i${i + 1}`)),
    userIdx,
    itemIdx,
    rating,
    timestamp,
    items: {
      title: titles,
      genres: itemGenres.map((gs) => gs.map((g) => GENERATED_GENRES[g])),
      text: { description: descriptions },
      numeric: { year: Float64Array.from(year) },
    },
    users: { fields: {} },
  });
}
