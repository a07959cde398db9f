/**
 * Evaluation splits and dataset filters. Every split is seeded and deterministic, assigns each interaction
 * to exactly one part (so the parts are disjoint by construction), and returns stores that share the
 * original store's IdMaps and metadata: an index means the same user or item in train, validation and test.
 * Each split also returns a ProtocolDescription whose `summary` reports print verbatim.
 *
 * - leaveOneOut: per user, the latest interaction is the test item, the one before it the validation item.
 * - ratioSplit: per user, a random (or time-ordered) 80/20 or 8:1:1 division, as RecBole's RO/TO + RS.
 * - temporalSplit: one global time cut, so nothing after the cut is in training.
 * - kCore / compact / toImplicit: filters applied before splitting.
 */
import { SemrecError } from '../errors';
import { Random } from '../util/random';
import { DenseIdMap, type InteractionStore, InteractionStore as Store, type ItemMetadata, type UserMetadata } from './store';

/** RecBole's default seed (its `seed: 2020` setting), so splits match its defaults when seeds are not given. */
export const DEFAULT_SPLIT_SEED = 2020;

export interface ProtocolDescription {
  name: 'leave-one-out' | 'ratio' | 'temporal';
  seed?: number;
  parameters: Record<string, unknown>;
  counts: { train: number; validation?: number; test: number };
  users: {
    /** Users with at least one test interaction. */
    withTest: number;
    withValidation?: number;
    /** Users whose interactions all stayed in training (too few to hold any out). */
    trainOnly: number;
    /** Users with test interactions but none in training (only a global time cut makes these). */
    coldInTest: number;
  };
  /** Test interactions whose item never occurs in training. */
  coldItemsInTest: number;
  /** One paragraph describing the protocol and its outcome, for reports. */
  summary: string;
}

export interface Split {
  train: InteractionStore;
  validation?: InteractionStore;
  test: InteractionStore;
  protocol: ProtocolDescription;
}

export interface LeaveOneOutOptions {
  /** Also hold out the second-latest interaction of each user as validation; default true. */
  validation?: boolean;
  /** Breaks ties between interactions with the same timestamp; default DEFAULT_SPLIT_SEED. */
  seed?: number;
}

/**
 * Per user, ordered by time: the latest interaction -> test, the one before -> validation (when asked),
 * the rest -> train. Interactions with equal timestamps are ordered at random (seeded), since "latest"
 * between them is undefined. A user keeps at least one training interaction: with 2 interactions there is
 * no validation item, with 1 no test item. Needs a timestamp on every interaction.
 */
export function leaveOneOut(store: InteractionStore, options: LeaveOneOutOptions = {}): Split {
  const withValidation = options.validation ?? true;
  const seed = checkSeed(options.seed);
  // Without any timestamps (the MyAnimeList dumps) each user's order is the file's; partly missing times are an error.
  const fileOrder = countMissingTimestamps(store) === store.numInteractions;
  if (!fileOrder) requireTimestamps(store, 'leaveOneOut');
  const part = new Uint8Array(store.numInteractions); // TRAIN by default
  const { indptr, interactions } = store.byUser();
  const base = new Random(seed);
  for (let u = 0; u < store.numUsers; u++) {
    const n = indptr[u + 1] - indptr[u];
    if (n < 2) continue;
    const order = shuffleTies(interactions.subarray(indptr[u], indptr[u + 1]), store.timestamp, base.fork(u));
    part[order[n - 1]] = TEST;
    if (withValidation && n >= 3) part[order[n - 2]] = VALIDATION;
  }
  return assemble(store, part, withValidation, {
    name: 'leave-one-out',
    seed,
    parameters: { validation: withValidation, order: fileOrder ? 'file' : 'time' },
    describe: (c) =>
      (fileOrder
        ? `Leave-one-out in file order (seed ${seed}): '${store.name}' has no timestamps, so each user's interactions keep the order of the dataset's files; the last is the test item`
        : `Leave-one-out by time (seed ${seed}): for each user the latest interaction is the test item`) +
      (withValidation ? ' and the one before it the validation item' : '') +
      (fileOrder ? '. A user keeps at least one training interaction' : `; interactions with the same timestamp are ordered at random with the seed. A user keeps at least one training interaction`) +
      (withValidation ? ' (2 interactions: no validation item; 1: none held out)' : ' (1 interaction: none held out)') +
      `. ${c}`,
  });
}

export interface RatioSplitOptions {
  /** [train, test] or [train, validation, test], e.g. [0.8, 0.2] or [0.8, 0.1, 0.1]; normalised to sum 1. */
  ratios: readonly number[];
  /** Default DEFAULT_SPLIT_SEED. */
  seed?: number;
  /** 'random' (default): each user's interactions are shuffled; 'time': the latest ones are held out. */
  order?: 'random' | 'time';
}

/**
 * Per user: the user's n interactions are shuffled (or time-ordered) and divided by the ratios, with
 * RecBole's rounding (`split_by_ratio`): each held-out part gets floor(ratio * n), the training part the
 * rest; then a held-out part whose share is a fraction of one interaction (0 < ratio * n < 1) takes one
 * from training while training has more than one.
 */
export function ratioSplit(store: InteractionStore, options: RatioSplitOptions): Split {
  const ratios = checkRatios(options?.ratios, 'ratioSplit');
  const seed = checkSeed(options.seed);
  const order = options.order ?? 'random';
  if (order !== 'random' && order !== 'time') throw new SemrecError(`ratioSplit: order '${String(order)}' must be 'random' or 'time'`, 'ERR_INVALID_ARG_VALUE');
  if (order === 'time') requireTimestamps(store, "ratioSplit with order 'time'");
  const withValidation = ratios.length === 3;
  const part = new Uint8Array(store.numInteractions);
  const { indptr, interactions } = store.byUser();
  const base = new Random(seed);
  for (let u = 0; u < store.numUsers; u++) {
    const n = indptr[u + 1] - indptr[u];
    if (n === 0) continue;
    const rng = base.fork(u);
    const group = Array.from(interactions.subarray(indptr[u], indptr[u + 1]));
    const ordered = order === 'random' ? rng.shuffle(group) : Array.from(shuffleTies(Int32Array.from(group), store.timestamp, rng));
    const counts = ratioCounts(n, ratios);
    let p = counts[0];
    const parts = withValidation ? [VALIDATION, TEST] : [TEST];
    for (let s = 1; s < counts.length; s++) {
      for (let c = 0; c < counts[s]; c++) part[ordered[p++]] = parts[s - 1];
    }
  }
  const shown = ratios.map((r) => +r.toFixed(4)).join(':');
  return assemble(store, part, withValidation, {
    name: 'ratio',
    seed,
    parameters: { ratios, order },
    describe: (c) =>
      `Per-user ${order === 'random' ? 'random' : 'time-ordered'} ratio split ${shown} (train:${withValidation ? 'validation:' : ''}test, seed ${seed}) ` +
      `with RecBole's rounding: held-out parts get floor(ratio x n) of a user's n interactions, or one when ratio x n < 1 while training has more than one` +
      (order === 'time' ? '; the latest interactions are held out' : '') +
      `. ${c}`,
  });
}

/** RecBole's split_by_ratio counts for a group of n (recbole/data/dataset/dataset.py, _calcu_split_ids). */
export function ratioCounts(n: number, ratios: readonly number[]): number[] {
  const counts = ratios.map((r) => Math.floor(r * n));
  counts[0] = n - counts.slice(1).reduce((a, b) => a + b, 0);
  for (let i = 1; i < ratios.length; i++) {
    if (counts[0] <= 1) break;
    const share = ratios[ratios.length - i] * n;
    if (share > 0 && share < 1) {
      counts[counts.length - i]++;
      counts[0]--;
    }
  }
  return counts;
}

export interface TemporalSplitOptions {
  /**
   * [train, test] or [train, validation, test] shares of interactions by time (default [0.8, 0.2]); the
   * cut is the timestamp at that quantile. Ignored when `cutoffs` is given.
   */
  ratios?: readonly number[];
  /** Explicit cut times (seconds since the epoch): test = t >= test; validation = validation <= t < test. */
  cutoffs?: { validation?: number; test: number };
}

/**
 * One global time cut: every training interaction is strictly earlier than every validation interaction,
 * which is strictly earlier than every test interaction, so no future interaction leaks into training.
 * Interactions sharing the cut's timestamp all go to the later part, so shares can differ slightly from
 * the ratios. Users (items) first seen after the cut are cold-start in test; the protocol counts them.
 */
export function temporalSplit(store: InteractionStore, options: TemporalSplitOptions = {}): Split {
  requireTimestamps(store, 'temporalSplit');
  let validationCut: number | undefined;
  let testCut: number;
  let parameters: Record<string, unknown>;
  if (options.cutoffs !== undefined) {
    const { validation, test } = options.cutoffs;
    if (!Number.isFinite(test)) throw new SemrecError('temporalSplit: cutoffs.test must be a finite number of seconds', 'ERR_INVALID_ARG_VALUE');
    if (validation !== undefined && !(Number.isFinite(validation) && validation <= test)) {
      throw new SemrecError('temporalSplit: cutoffs.validation must be a finite number <= cutoffs.test', 'ERR_INVALID_ARG_VALUE');
    }
    validationCut = validation;
    testCut = test;
    parameters = { cutoffs: { validation, test } };
  } else {
    const ratios = checkRatios(options.ratios ?? [0.8, 0.2], 'temporalSplit');
    const sorted = Float64Array.from(store.timestamp).sort();
    const at = (share: number) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.round(share * sorted.length)))];
    testCut = at(1 - ratios[ratios.length - 1]);
    if (ratios.length === 3) validationCut = at(ratios[0]);
    parameters = { ratios };
  }
  const part = new Uint8Array(store.numInteractions);
  for (let k = 0; k < store.numInteractions; k++) {
    const t = store.timestamp[k];
    if (t >= testCut) part[k] = TEST;
    else if (validationCut !== undefined && t >= validationCut) part[k] = VALIDATION;
  }
  const iso = (t: number) => new Date(t * 1000).toISOString();
  return assemble(store, part, validationCut !== undefined, {
    name: 'temporal',
    parameters: { ...parameters, testFrom: iso(testCut), validationFrom: validationCut !== undefined ? iso(validationCut) : undefined },
    describe: (c) =>
      `Global temporal split: ` +
      (validationCut !== undefined ? `train before ${iso(validationCut)}, validation from then until ${iso(testCut)}, ` : `train before ${iso(testCut)}, `) +
      `test from ${iso(testCut)} on; no training interaction is later than any test interaction. ${c}`,
  });
}

export interface KCoreOptions {
  /** Minimum interactions per user; default 5. */
  users?: number;
  /** Minimum interactions per item; default 5. */
  items?: number;
}

/**
 * Iterative k-core filtering: drops users and items with fewer than k interactions until none remain
 * (the "5-core" of the Amazon datasets). The result is re-indexed (new IdMaps over the survivors, metadata
 * carried over), so apply it before splitting.
 */
export function kCore(store: InteractionStore, options: KCoreOptions = {}): InteractionStore {
  const minUser = options.users ?? 5;
  const minItem = options.items ?? 5;
  for (const [name, v] of [['users', minUser], ['items', minItem]] as const) {
    if (!Number.isInteger(v) || v < 1) throw new SemrecError(`kCore: ${name} must be an integer >= 1, got ${v}`, 'ERR_INVALID_ARG_VALUE');
  }
  const alive = new Uint8Array(store.numInteractions).fill(1);
  const perUser = new Int32Array(store.numUsers);
  const perItem = new Int32Array(store.numItems);
  for (let k = 0; k < store.numInteractions; k++) {
    perUser[store.userIdx[k]]++;
    perItem[store.itemIdx[k]]++;
  }
  for (let changed = true; changed; ) {
    changed = false;
    for (let k = 0; k < store.numInteractions; k++) {
      if (alive[k] === 0) continue;
      const u = store.userIdx[k];
      const i = store.itemIdx[k];
      if (perUser[u] < minUser || perItem[i] < minItem) {
        alive[k] = 0;
        perUser[u]--;
        perItem[i]--;
        changed = true;
      }
    }
  }
  return reindex(store, indicesWhere(alive, 1), `${store.name} (${minUser},${minItem})-core`);
}

/** Drops users and items without interactions (e.g. catalog items nobody rated), re-indexing the rest. */
export function compact(store: InteractionStore): InteractionStore {
  return reindex(store, Int32Array.from({ length: store.numInteractions }, (_, k) => k), store.name);
}

export interface ImplicitOptions {
  /** Interactions rated at least this are positives; the rest are dropped. */
  threshold: number;
  /** Interactions without an explicit rating (watched, not rated): 'keep' as positives (default) or 'drop'. */
  unrated?: 'keep' | 'drop';
}

/**
 * Implicit feedback: keeps interactions rated >= threshold (and unrated ones unless told otherwise) and
 * sets their rating to 1. Indices and IdMaps are unchanged (users left without positives stay, with none).
 */
export function toImplicit(store: InteractionStore, options: ImplicitOptions): InteractionStore {
  if (!Number.isFinite(options?.threshold)) throw new SemrecError('toImplicit: threshold must be a finite number', 'ERR_INVALID_ARG_VALUE');
  const unrated = options.unrated ?? 'keep';
  if (unrated !== 'keep' && unrated !== 'drop') throw new SemrecError(`toImplicit: unrated must be 'keep' or 'drop'`, 'ERR_INVALID_ARG_VALUE');
  const keep = new Uint8Array(store.numInteractions);
  for (let k = 0; k < store.numInteractions; k++) {
    const r = store.rating[k];
    keep[k] = Number.isNaN(r) ? (unrated === 'keep' ? 1 : 0) : r >= options.threshold ? 1 : 0;
  }
  const selected = store.select(indicesWhere(keep, 1), `${store.name} (implicit, rating >= ${options.threshold})`);
  return selected.withRatings(new Float32Array(selected.numInteractions).fill(1));
}

const TRAIN = 0;
const VALIDATION = 1;
const TEST = 2;

function checkSeed(seed: number | undefined): number {
  if (seed === undefined) return DEFAULT_SPLIT_SEED;
  if (!Number.isInteger(seed)) throw new SemrecError(`seed must be an integer, got ${seed}`, 'ERR_INVALID_ARG_VALUE');
  return seed;
}

function checkRatios(ratios: readonly number[] | undefined, fn: string): number[] {
  if (!Array.isArray(ratios) || (ratios.length !== 2 && ratios.length !== 3)) {
    throw new SemrecError(`${fn}: ratios must be [train, test] or [train, validation, test]`, 'ERR_INVALID_ARG_VALUE');
  }
  if (!ratios.every((r) => Number.isFinite(r) && r > 0)) throw new SemrecError(`${fn}: every ratio must be a positive number, got ${ratios.join(', ')}`, 'ERR_INVALID_ARG_VALUE');
  const sum = ratios.reduce((a, b) => a + b, 0);
  return ratios.map((r) => r / sum);
}

function countMissingTimestamps(store: InteractionStore): number {
  let missing = 0;
  for (let k = 0; k < store.numInteractions; k++) if (Number.isNaN(store.timestamp[k])) missing++;
  return missing;
}

function requireTimestamps(store: InteractionStore, fn: string): void {
  const missing = countMissingTimestamps(store);
  if (missing > 0) {
    throw new SemrecError(
      `${fn} orders interactions by time, but ${missing} of ${store.numInteractions} interactions in '${store.name}' have no timestamp; use ratioSplit`,
      'ERR_INVALID_ARG_VALUE',
    );
  }
}

/** A time-ordered group with each run of equal timestamps shuffled (seeded). */
function shuffleTies(group: Int32Array, timestamp: Float64Array, rng: Random): Int32Array {
  const out = Int32Array.from(group);
  for (let start = 0; start < out.length; ) {
    let end = start + 1;
    while (end < out.length && timestamp[out[end]] === timestamp[out[start]]) end++;
    if (end - start > 1) rng.shuffle(out.subarray(start, end));
    start = end;
  }
  return out;
}

function indicesWhere(part: Uint8Array, value: number): Int32Array {
  let n = 0;
  for (let k = 0; k < part.length; k++) if (part[k] === value) n++;
  const out = new Int32Array(n);
  for (let k = 0, j = 0; k < part.length; k++) if (part[k] === value) out[j++] = k;
  return out;
}

function assemble(
  store: InteractionStore,
  part: Uint8Array,
  withValidation: boolean,
  meta: { name: ProtocolDescription['name']; seed?: number; parameters: Record<string, unknown>; describe: (counts: string) => string },
): Split {
  const train = store.select(indicesWhere(part, TRAIN), `${store.name} train`);
  const validation = withValidation ? store.select(indicesWhere(part, VALIDATION), `${store.name} validation`) : undefined;
  const test = store.select(indicesWhere(part, TEST), `${store.name} test`);
  const inTrainUser = new Uint8Array(store.numUsers);
  const inTrainItem = new Uint8Array(store.numItems);
  for (let k = 0; k < train.numInteractions; k++) {
    inTrainUser[train.userIdx[k]] = 1;
    inTrainItem[train.itemIdx[k]] = 1;
  }
  const usersOf = (s: InteractionStore | undefined) => {
    const seen = new Uint8Array(store.numUsers);
    if (s) for (let k = 0; k < s.numInteractions; k++) seen[s.userIdx[k]] = 1;
    return seen;
  };
  const testUsers = usersOf(test);
  const validationUsers = usersOf(validation);
  let withTest = 0;
  let withVal = 0;
  let trainOnly = 0;
  let coldInTest = 0;
  for (let u = 0; u < store.numUsers; u++) {
    withTest += testUsers[u];
    withVal += validationUsers[u];
    if (inTrainUser[u] && !testUsers[u] && !validationUsers[u]) trainOnly++;
    if (testUsers[u] && !inTrainUser[u]) coldInTest++;
  }
  let coldItemsInTest = 0;
  for (let k = 0; k < test.numInteractions; k++) if (!inTrainItem[test.itemIdx[k]]) coldItemsInTest++;
  const fmt = (x: number) => x.toLocaleString('en-US');
  const counts =
    `Result: train ${fmt(train.numInteractions)}` +
    (validation ? `, validation ${fmt(validation.numInteractions)}` : '') +
    `, test ${fmt(test.numInteractions)} interactions; ${fmt(withTest)} users have test interactions` +
    (validation ? `, ${fmt(withVal)} validation` : '') +
    `, ${fmt(trainOnly)} only training` +
    (coldInTest > 0 ? `, ${fmt(coldInTest)} appear only after the cut (cold-start)` : '') +
    (coldItemsInTest > 0 ? `; ${fmt(coldItemsInTest)} test interactions are with items unseen in training` : '') +
    '.';
  return {
    train,
    validation,
    test,
    protocol: {
      name: meta.name,
      seed: meta.seed,
      parameters: meta.parameters,
      counts: { train: train.numInteractions, validation: validation?.numInteractions, test: test.numInteractions },
      users: { withTest, withValidation: validation ? withVal : undefined, trainOnly, coldInTest },
      coldItemsInTest,
      summary: meta.describe(counts),
    },
  };
}

/** A store of the given interactions with new IdMaps over the users and items they involve. */
function reindex(store: InteractionStore, interactions: Int32Array, name: string): InteractionStore {
  const sub = store.select(interactions, name);
  const userMap = new Int32Array(store.numUsers).fill(-1);
  const itemMap = new Int32Array(store.numItems).fill(-1);
  for (let k = 0; k < sub.numInteractions; k++) {
    userMap[sub.userIdx[k]] = 0;
    itemMap[sub.itemIdx[k]] = 0;
  }
  const userIds = new DenseIdMap();
  const keptUsers: number[] = [];
  for (let u = 0; u < store.numUsers; u++) if (userMap[u] === 0) (userMap[u] = userIds.intern(store.userIds.raw(u))), keptUsers.push(u);
  const itemIds = new DenseIdMap();
  const keptItems: number[] = [];
  for (let i = 0; i < store.numItems; i++) if (itemMap[i] === 0) (itemMap[i] = itemIds.intern(store.itemIds.raw(i))), keptItems.push(i);
  return new Store({
    name,
    userIds: userIds.freeze(),
    itemIds: itemIds.freeze(),
    userIdx: sub.userIdx.map((u) => userMap[u]),
    itemIdx: sub.itemIdx.map((i) => itemMap[i]),
    rating: sub.rating,
    timestamp: sub.timestamp,
    review: sub.review,
    reviewSummary: sub.reviewSummary,
    items: subsetItems(store.items, keptItems),
    users: subsetUsers(store.users, keptUsers),
    signals: sub.signals,
  });
}

function subsetItems(items: ItemMetadata, kept: number[]): ItemMetadata {
  const text: ItemMetadata['text'] = {};
  for (const [field, values] of Object.entries(items.text)) text[field] = kept.map((i) => values[i]);
  const numeric: ItemMetadata['numeric'] = {};
  for (const [field, values] of Object.entries(items.numeric)) numeric[field] = Float64Array.from(kept, (i) => values[i]);
  return { title: kept.map((i) => items.title[i]), genres: kept.map((i) => items.genres[i]), text, numeric };
}

function subsetUsers(users: UserMetadata, kept: number[]): UserMetadata {
  const fields: UserMetadata['fields'] = {};
  for (const [field, values] of Object.entries(users.fields)) fields[field] = kept.map((u) => values[u]);
  return { fields };
}
