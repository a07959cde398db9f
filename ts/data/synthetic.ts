/**
 * Simulated transaction signals. No shared dataset records viewing history, view duration, completion or
 * purchases, yet LLM-Rec's preference model weighs four signals (explicit rating 0.4, review sentiment 0.3,
 * viewing history 0.2, completion 0.1) and Chat-REC's experiments simulate purchase and watch histories.
 * This generator derives them from each interaction's rating and time and from item metadata, with the
 * model below; results carry `simulated: true`, which every report prints.
 *
 * The model, per interaction (user u, item i, rating r, time t):
 * - preference p in [0, 1]: (r - min) / (max - min) on the rating scale; UNRATED_PREFERENCE when unrated.
 * - user propensity z_u ~ Normal(0, USER_PROPENSITY_SD), one per user (some users finish everything).
 * - completion c = sigmoid(COMPLETION_BIAS + COMPLETION_SLOPE (p - 0.5) + z_u + COMPLETION_NOISE_SD e),
 *   e ~ Normal(0, 1); c >= FINISHED_ABOVE counts as finished (1). Higher ratings -> more complete views.
 * - view count 1 + Poisson(REWATCH_RATE p^2 exp(z_u)): loved items are re-watched.
 * - item length L: durationMin x episodes, durationMin, or runtimeMin from the item's numeric metadata, else
 *   episodes x EPISODE_MINUTES, else `defaultItemMinutes` (DEFAULT_ITEM_MINUTES, a film; PRODUCT_PAGE_MINUTES
 *   for stores loaded from Amazon reviews, whose items are products).
 * - view duration = L (c + sum over re-watches of Uniform(REWATCH_FRACTION)) seconds.
 * - first view time = t - Exponential(RATING_LAG_DAYS) - (views - 1) x Exponential(REWATCH_GAP_DAYS) days.
 * - purchased ~ Bernoulli(sigmoid(PURCHASE_BIAS + PURCHASE_SLOPE (p - 0.5) + z_u - PRICE_EFFECT log10(1 + price))).
 *
 * Randomness is keyed by (seed, raw user id, raw item id, time), not by position, so an interaction gets the
 * same signals in any store or split that holds it (given the same rating scale). Simulate on the full
 * store, then split: signals travel with their interactions through select() and the splits.
 */
import { SemrecError } from '../errors';
import { Random } from '../util/random';
import type { InteractionStore, TransactionSignals } from './store';

/** Preference of a watched-but-unrated item (MyAnimeList's -1): mildly positive. */
export const UNRATED_PREFERENCE = 0.6;
export const USER_PROPENSITY_SD = 0.5;
export const COMPLETION_BIAS = 1.0;
export const COMPLETION_SLOPE = 4.0;
export const COMPLETION_NOISE_SD = 0.75;
export const FINISHED_ABOVE = 0.97;
export const REWATCH_RATE = 1.5;
/** A re-watch covers this fraction of the item (uniform). */
export const REWATCH_FRACTION: readonly [number, number] = [0.2, 1.0];
/** A standard TV anime episode. */
export const EPISODE_MINUTES = 24;
/** A typical feature film, for items with no length in their metadata. */
export const DEFAULT_ITEM_MINUTES = 100;
/** Amazon items are products: a "view" is a product-page visit of about this long. */
export const PRODUCT_PAGE_MINUTES = 2;
export const RATING_LAG_DAYS = 3;
export const REWATCH_GAP_DAYS = 30;
export const PURCHASE_BIAS = -1.5;
export const PURCHASE_SLOPE = 4.0;
export const PRICE_EFFECT = 0.5;
/** Default generator seed. */
export const DEFAULT_SIMULATION_SEED = 2024;

const DAY_SECONDS = 86_400;

export interface SimulationOptions {
  /** Default DEFAULT_SIMULATION_SEED. */
  seed?: number;
  /** [min, max] of the rating scale; default: the store's observed minimum and maximum rating. */
  ratingScale?: [number, number];
  /** Length of items whose metadata has none; default DEFAULT_ITEM_MINUTES (PRODUCT_PAGE_MINUTES for Amazon stores). */
  defaultItemMinutes?: number;
}

/** A one-line statement of the model, printed wherever the signals are reported. */
export function simulationModel(seed: number, scale: [number, number], defaultItemMinutes = DEFAULT_ITEM_MINUTES): string {
  return (
    `simulated (seed ${seed}, ratings ${scale[0]}..${scale[1]} -> preference p, items without a length: ${defaultItemMinutes} min): ` +
    `completion = sigmoid(${COMPLETION_BIAS} + ${COMPLETION_SLOPE}(p-0.5) + z_user + N(0,${COMPLETION_NOISE_SD}^2)), ` +
    `views = 1 + Poisson(${REWATCH_RATE} p^2 e^z_user), duration = item length x watched fractions, ` +
    `first view = rating time - Exp(${RATING_LAG_DAYS} d) - re-watch gaps, ` +
    `purchase ~ Bernoulli(sigmoid(${PURCHASE_BIAS} + ${PURCHASE_SLOPE}(p-0.5) + z_user - ${PRICE_EFFECT} log10(1+price)))`
  );
}

/** Generates the four transaction signals for every interaction of the store (see the model above). */
export function simulateTransactions(store: InteractionStore, options: SimulationOptions = {}): TransactionSignals {
  const seed = options.seed ?? DEFAULT_SIMULATION_SEED;
  if (!Number.isInteger(seed)) throw new SemrecError(`simulateTransactions: seed must be an integer, got ${seed}`, 'ERR_INVALID_ARG_VALUE');
  const scale = options.ratingScale ?? observedScale(store);
  if (!(Number.isFinite(scale[0]) && Number.isFinite(scale[1]) && scale[0] <= scale[1])) {
    throw new SemrecError(`simulateTransactions: ratingScale must be [min, max] with min <= max, got [${scale.join(', ')}]`, 'ERR_INVALID_ARG_VALUE');
  }
  const defaultMinutes = options.defaultItemMinutes ?? (store.load?.format === 'amazon-reviews' ? PRODUCT_PAGE_MINUTES : DEFAULT_ITEM_MINUTES);
  if (!(defaultMinutes > 0)) throw new SemrecError(`simulateTransactions: defaultItemMinutes must be > 0, got ${defaultMinutes}`, 'ERR_INVALID_ARG_VALUE');
  const n = store.numInteractions;
  const out = {
    simulated: true,
    model: simulationModel(seed, scale, defaultMinutes),
    seed,
    viewCount: new Int32Array(n),
    firstViewTime: new Float64Array(n),
    viewDurationSec: new Float32Array(n),
    completion: new Float32Array(n),
    purchased: new Uint8Array(n),
  };
  const userHash = new Int32Array(store.numUsers);
  const propensity = new Float64Array(store.numUsers).fill(NaN);
  const itemHash = new Int32Array(store.numItems);
  const itemHashed = new Uint8Array(store.numItems);
  const lengthSec = itemLengthsSec(store, defaultMinutes);
  const price = store.items.numeric.price;
  for (let k = 0; k < n; k++) {
    const u = store.userIdx[k];
    const i = store.itemIdx[k];
    if (Number.isNaN(propensity[u])) {
      userHash[u] = fnv1a(store.userIds.raw(u), seed ^ 0x75736572);
      propensity[u] = new Random(userHash[u]).normal() * USER_PROPENSITY_SD;
    }
    if (itemHashed[i] === 0) {
      itemHash[i] = fnv1a(store.itemIds.raw(i), seed ^ 0x6974656d);
      itemHashed[i] = 1;
    }
    const t = store.timestamp[k];
    const rng = new Random(mix(userHash[u], itemHash[i], Number.isNaN(t) ? 0 : t));
    const r = store.rating[k];
    const p = Number.isNaN(r) ? UNRATED_PREFERENCE : scale[1] > scale[0] ? clamp01((r - scale[0]) / (scale[1] - scale[0])) : 0.5;
    const z = propensity[u];

    let c = sigmoid(COMPLETION_BIAS + COMPLETION_SLOPE * (p - 0.5) + z + COMPLETION_NOISE_SD * rng.normal());
    if (c >= FINISHED_ABOVE) c = 1;
    const views = 1 + poisson(rng, REWATCH_RATE * p * p * Math.exp(z));
    let watched = c;
    let gap = 0;
    for (let v = 1; v < views; v++) {
      watched += REWATCH_FRACTION[0] + (REWATCH_FRACTION[1] - REWATCH_FRACTION[0]) * rng.float();
      gap += exponential(rng, REWATCH_GAP_DAYS);
    }
    const lag = exponential(rng, RATING_LAG_DAYS);
    const itemPrice = price !== undefined && !Number.isNaN(price[i]) ? price[i] : 0;
    const q = sigmoid(PURCHASE_BIAS + PURCHASE_SLOPE * (p - 0.5) + z - PRICE_EFFECT * Math.log10(1 + Math.max(0, itemPrice)));

    out.completion[k] = c;
    out.viewCount[k] = views;
    out.viewDurationSec[k] = lengthSec[i] * watched;
    out.firstViewTime[k] = Number.isNaN(t) ? NaN : t - (lag + gap) * DAY_SECONDS;
    out.purchased[k] = rng.float() < q ? 1 : 0;
  }
  return out;
}

/** The store with simulated signals attached (see simulateTransactions). */
export function withSimulatedSignals(store: InteractionStore, options: SimulationOptions = {}): InteractionStore {
  return store.withSignals(simulateTransactions(store, options));
}

/** Item length in seconds from metadata (see the model). */
function itemLengthsSec(store: InteractionStore, defaultMinutes: number): Float64Array {
  const { durationMin, episodes, runtimeMin } = store.items.numeric;
  const out = new Float64Array(store.numItems);
  for (let i = 0; i < store.numItems; i++) {
    const d = durationMin?.[i] ?? NaN;
    const e = episodes?.[i] ?? NaN;
    const r = runtimeMin?.[i] ?? NaN;
    let minutes = defaultMinutes;
    if (d > 0 && e > 0) minutes = d * e;
    else if (d > 0) minutes = d;
    else if (r > 0) minutes = r;
    else if (e > 0) minutes = e * EPISODE_MINUTES;
    out[i] = minutes * 60;
  }
  return out;
}

function observedScale(store: InteractionStore): [number, number] {
  let min = Infinity;
  let max = -Infinity;
  for (const r of store.rating) {
    if (r < min) min = r;
    if (r > max) max = r;
  }
  return min <= max ? [min, max] : [0, 1];
}

function sigmoid(x: number): number {
  return 1 / (1 + Math.exp(-x));
}

function clamp01(x: number): number {
  return x < 0 ? 0 : x > 1 ? 1 : x;
}

/** Knuth's multiplication method; fine for the small rates used here. */
function poisson(rng: Random, lambda: number): number {
  const limit = Math.exp(-lambda);
  let k = 0;
  for (let prod = rng.float(); prod > limit; prod *= rng.float()) k++;
  return k;
}

function exponential(rng: Random, mean: number): number {
  return -mean * Math.log(1 - rng.float());
}

/** 32-bit FNV-1a of a string's UTF-16 code units, started from a seed. */
function fnv1a(text: string, seed: number): number {
  let h = (0x811c9dc5 ^ seed) | 0;
  for (let j = 0; j < text.length; j++) {
    h ^= text.charCodeAt(j);
    h = Math.imul(h, 0x01000193);
  }
  return h;
}

/** Combines two hashes and a time (seconds) into one 32-bit seed (murmur3 finaliser). */
function mix(a: number, b: number, time: number): number {
  let h = a ^ Math.imul(b, 0x9e3779b1) ^ Math.imul(Math.floor(time) | 0, 0x85ebca6b) ^ Math.floor(time / 4294967296);
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) | 0;
}
