/**
 * LLM-Rec beyond the Recommender contract (which test/models/models.test.ts runs for every model): live
 * profile updates against a recomputation from scratch, the adaptive update policy through the model,
 * serving users the model never saw, similar items, new items, explanations, a dataset without text,
 * save/load of the live state, and bad input. One small model (use-lite on the planted fixture's item
 * texts) is trained once and shared.
 */
import assert from 'node:assert/strict';
import path from 'node:path';

import { DenseIdMap, InteractionStore } from '../../ts/data/store';
import { userItems } from '../../ts/models/data';
import { LlmRecModel, type LlmRecParams } from '../../ts/models/llmrec';
import { createModel, loadModel } from '../../ts/models/registry';
import { profileFromHistory } from '../../ts/preference/profiles';
import { ratingSignal } from '../../ts/preference/signals';
import { createEncoder, type Encoder } from '../../ts/semantic/encoder';
import { assertCode } from '../helpers/assert';
import { plantedStore } from '../helpers/interactions';
import { useTempDirs } from '../helpers/tempdir';

const tempDir = useTempDirs('semrec-llmrec-');
const SMALL: Partial<LlmRecParams> = { dim: 16, semDim: 16, lateDim: 8, epochs: 15, lr: 0.01, adapterEpochs: 4 };

/** The planted store with genre-bearing titles: items of one genre share words, so their texts are alike. */
function textStore(): InteractionStore {
  const base = plantedStore(21, 80, 60, 14);
  const title = base.items.title.map((_, i) => `${base.items.genres[i].join(' ')} story number ${i}`);
  return new InteractionStore({
    name: 'planted-text',
    userIds: base.userIds,
    itemIds: base.itemIds,
    userIdx: base.userIdx,
    itemIdx: base.itemIdx,
    rating: base.rating,
    timestamp: base.timestamp,
    items: { ...base.items, title },
    users: base.users,
  });
}

describe('llmrec', function () {
  this.timeout(300_000);
  let store: InteractionStore;
  let encoder: Encoder;
  let model: LlmRecModel;
  const now = 2_000_000_000;

  before(async () => {
    store = textStore();
    encoder = await createEncoder({ model: 'use-lite', maxLength: 256 });
    model = createModel('llmrec', SMALL) as LlmRecModel;
    await model.fit(store, { seed: 4, encoders: { item: encoder } } as never);
  });
  after(async () => encoder?.release());

  it('keeps the adapter loss of every epoch and what it read in the fit report', async () => {
    const fresh = createModel('llmrec', { ...SMALL, epochs: 1 }) as LlmRecModel;
    const report = await fresh.fit(store, { seed: 4, encoders: { item: encoder } } as never);
    assert.equal(report.stages?.adapter?.length, SMALL.adapterEpochs);
    assert.ok(report.stages!.adapter!.every((e) => Number.isFinite(e.loss) && e.loss >= 0));
    assert.ok(report.notes?.some((n) => /60 item texts/.test(n)), JSON.stringify(report.notes));
    assert.ok(report.notes?.some((n) => /explicit rating/.test(n)));
    assert.equal(fresh.encoder, encoder.id);
  });

  it('updateUser folds events in O(d) each, and the profile equals one recomputed from scratch over the whole history', () => {
    const u = 5;
    const seen = userItems(store);
    const before = model.preferenceVector(u);
    const scale = model.ratingScaleOf!;
    assert.deepEqual(scale, [Math.min(...store.rating), Math.max(...store.rating)], "the training data's observed scale");
    const events = [
      { itemIdx: 2, rating: scale[1], timestamp: 1_000_500 },
      { itemIdx: 9, rating: scale[0], sentiment: 0.1, timestamp: 1_500_000 },
      { itemIdx: 31, viewing: 1, completion: 0.5, timestamp: 1_200_000 }, // arrives late: older than the clock
    ];
    const result = model.updateUser(u, events, { now });
    assert.equal(result.folded, 3);
    // The history from scratch: training interactions (rating signal only) then the events.
    const sem = (model as unknown as { itemSem: Float32Array }).itemSem;
    const dim = SMALL.semDim!;
    const history = [];
    for (let e = 0; e < store.numInteractions; e++) {
      if (store.userIdx[e] !== u) continue;
      history.push({ itemIdx: store.itemIdx[e], weight: ratingSignal(store.rating[e], scale), time: store.timestamp[e] });
    }
    history.push(
      { itemIdx: 2, weight: 1, time: 1_000_500 },
      { itemIdx: 9, weight: (0.4 * 0 + 0.3 * 0.1) / 0.7, time: 1_500_000 },
      { itemIdx: 31, weight: (0.2 * 1 + 0.1 * 0.5) / 0.3, time: 1_200_000 },
    );
    const ref = profileFromHistory(history, sem, dim, 'time', { alpha: 0.95, unit: 'day' });
    const after = model.preferenceVector(u);
    // The model's profile vector is rounded to float32 (as saved); relative 1e-6 is float32 rounding.
    for (let t = 0; t < dim; t++) assert.ok(Math.abs(after[t] - ref.sum[t] / ref.total) < 1e-6, `dimension ${t}: ${after[t]} vs ${ref.sum[t] / ref.total}`);
    assert.notDeepEqual(after, before);
    assert.ok(seen.indptr[u + 1] > seen.indptr[u]);
  });

  it('a refresh from the running sums reproduces the served vector of a user without new events (history term included)', async () => {
    const u = 30;
    const f = (model as unknown as { scoring: { users: Float32Array; dim: number } }).scoring;
    const before = f.users.slice(u * f.dim, (u + 1) * f.dim);
    model.refreshUser(u);
    const after = f.users.slice(u * f.dim, (u + 1) * f.dim);
    // The native fused vector (float32 sums) against the TypeScript refresh (double sums): 1e-5 relative.
    for (let t = 0; t < f.dim; t++) assert.ok(Math.abs(after[t] - before[t]) <= 1e-5 * Math.max(1, Math.abs(before[t])), `dimension ${t}: ${after[t]} vs ${before[t]}`);
  });

  it('recommend leaves out what updateUser folded in', async () => {
    const top = await model.recommend([7], 59);
    const first = top.indices[0];
    model.updateUser(7, [{ itemIdx: first, rating: 4 }], { now, refresh: true }); // 4 is inside the planted scale [3, 5]
    const after = await model.recommend([7], 59);
    assert.ok(!after.indices.includes(first));
  });

  it('refreshes the served vector of a light user at once and defers a heavy one (adaptive policy)', async () => {
    const heavy = 11;
    // Make user 11 heavy: 200 events folded with a forced refresh.
    const many = Array.from({ length: 200 }, (_, k) => ({ itemIdx: k % 60, rating: 5, timestamp: 1_600_000 + k }));
    model.updateUser(heavy, many, { now, refresh: true });
    const served = (await model.recommend([heavy], 5)).scores;
    const r1 = model.updateUser(heavy, [{ itemIdx: 3, rating: 5, timestamp: 1_600_300 }], { now });
    assert.equal(r1.refreshed, false);
    assert.equal(model.pendingEvents(heavy), 1);
    assert.deepEqual((await model.recommend([heavy], 5)).scores, served, 'the served vector waits');
    const light = 12;
    const r2 = model.updateUser(light, [{ itemIdx: 3, rating: 5, timestamp: 1_700_000 }], { now });
    assert.equal(r2.refreshed, true);
    const r3 = model.updateUser(heavy, [{ itemIdx: 4, rating: 3 }], { now, refresh: true });
    assert.equal(r3.refreshed, true);
    assert.equal(model.pendingEvents(heavy), 0);
  });

  it('refuses bad events with coded errors naming the field', () => {
    const bad = (events: object[], code: string, pattern: RegExp) =>
      assert.throws(() => model.updateUser(1, events as never, { now }), (e: Error & { code?: string }) => e.code === code && pattern.test(e.message));
    bad([{ itemIdx: 60 }], 'ERR_OUT_OF_RANGE', /events\[0\]\.itemIdx = 60/);
    bad([{ itemIdx: 1 }, { itemIdx: 2, sentiment: 1.5 }], 'ERR_OUT_OF_RANGE', /events\[1\]\.sentiment = 1\.5/);
    bad([{ itemIdx: 1, viewing: NaN }], 'ERR_NAN_INPUT', /events\[0\]\.viewing/);
    bad([{ itemIdx: 1, rating: 9 }], 'ERR_OUT_OF_RANGE', /rating = 9 is outside the dataset's scale \[3, 5\]/);
    bad([{ itemIdx: 1, timestamp: now + 10 }], 'ERR_OUT_OF_RANGE', /events\[0\]\.timestamp .* future of the profile's clock/);
    assert.throws(() => model.updateUser(80, [{ itemIdx: 1 }]), (e: Error & { code?: string }) => e.code === 'ERR_OUT_OF_RANGE');
  });

  it('recommendForHistory serves a user it never saw from their few items, leaning to what those items are about', async () => {
    // Two new users, each with three items of one genre. Each scores items of its own genre higher,
    // relative to the other genre, than the other user does (the item biases, the same for both, cancel).
    const genres = [...new Set(store.items.genres.map((g) => g[0]))];
    const ofGenre = (g: string) => store.items.genres.map((x, i) => (x[0] === g ? i : -1)).filter((i) => i >= 0);
    const [a, b] = genres.map(ofGenre).sort((x, y) => y.length - x.length);
    const n = store.numItems;
    const scoresFor = async (items: number[]) => {
      const recs = await model.recommendForHistory(items.slice(0, 3).map((itemIdx) => ({ itemIdx, rating: 5 })), n, { excludeSeen: false });
      const byItem = new Float64Array(n);
      recs.indices.forEach((i, r) => (byItem[i] = recs.scores[r]));
      return byItem;
    };
    const mean = (s: Float64Array, of: number[]) => of.reduce((t, i) => t + s[i], 0) / of.length;
    const [sa, sb] = [await scoresFor(a), await scoresFor(b)];
    const leanA = mean(sa, a) - mean(sa, b);
    const leanB = mean(sb, a) - mean(sb, b);
    assert.ok(leanA > leanB, `genre A over B: ${leanA} for the genre-A user vs ${leanB} for the genre-B user`);
    const top = await model.recommendForHistory(a.slice(0, 3).map((itemIdx) => ({ itemIdx, rating: 5 })), 10);
    for (const i of a.slice(0, 3)) assert.ok(!Array.from(top.indices).includes(i), 'the history itself is left out');
    const withSeen = await model.recommendForHistory([{ itemIdx: a[0] }], 60, { excludeSeen: false, exclude: [a[5]] });
    assert.ok(!Array.from(withSeen.indices).includes(a[5]));
    await assertCode(() => model.recommendForHistory([{ itemIdx: -1 }], 5), 'ERR_OUT_OF_RANGE', /events\[0\]\.itemIdx/);
  });

  it('similarItems ranks by the cosine of the fused item vectors and leaves the item out', async () => {
    const sim = await model.similarItems(4, 8);
    assert.equal(sim.indices.length, 8);
    assert.ok(!Array.from(sim.indices).includes(4));
    for (let r = 1; r < 8; r++) assert.ok(sim.scores[r - 1] >= sim.scores[r]);
    assert.ok(sim.scores[0] <= 1 + 1e-6);
    await assertCode(() => model.similarItems(60, 3), 'ERR_OUT_OF_RANGE', /itemIdx must be an integer in \[0, 59\], got 60/);
  });

  it('explain splits the score into parts that add up, and the history part over the history items', async () => {
    const u = 20;
    const top = await model.recommend([u], 1);
    const item = top.indices[0];
    const x = await model.explainScore(u, item, { history: 1000 });
    const { collaborative, itemContent, profile, bias } = x.parts;
    assert.ok(Math.abs(collaborative + itemContent + profile + bias - x.score) < 1e-4, JSON.stringify(x.parts));
    assert.ok(Math.abs(x.score - top.scores[0]) < 1e-4);
    const sum = x.history.reduce((s, h) => s + h.contribution, 0);
    assert.ok(Math.abs(sum - profile) < 1e-4, `history ${sum} vs profile ${profile}`);
    const seen = userItems(store);
    const items = new Set(seen.indices.subarray(seen.indptr[u], seen.indptr[u + 1]));
    assert.ok(x.history.every((h) => items.has(h.itemIdx)));
    assert.ok(x.history.every((h) => h.signals.rating !== undefined && h.decay > 0 && h.decay <= 1));
    assert.ok(Math.abs(x.history.reduce((s, h) => s + h.share, 0) - 1) < 1e-4, 'shares sum to 1');
  });

  it('addItems makes items with text and no interactions recommendable, with the trained encoder only', async () => {
    const fresh = createModel('llmrec', { ...SMALL, epochs: 3 }) as LlmRecModel;
    await fresh.fit(store, { seed: 4, encoders: { item: encoder } } as never);
    const genre = store.items.genres[0][0];
    const added = await fresh.addItems(
      [
        { id: 'new-1', text: `${genre} story number 999`, title: 'A new story' },
        { id: 'new-2', text: 'completely unrelated kitchen blender' },
      ],
      { encoder },
    );
    assert.deepEqual((await fresh.similarTo('new-1', { k: 1 }))[0] !== undefined, true, 'new items answer by raw id');
    await assertCode(() => fresh.addItems([{ id: 'new-1', text: 'again' }]), 'ERR_INVALID_ARG_VALUE', /already in the catalog/);
    assert.deepEqual(Array.from(added), [60, 61]);
    assert.equal(fresh.numItems, 62);
    const all = await fresh.recommend([0], 62 - userItems(store).indptr[1]);
    assert.ok(Array.from(all.indices).includes(60) && Array.from(all.indices).includes(61));
    const sim = await fresh.similarItems(60, 5);
    assert.ok(Array.from(sim.indices).some((i) => store.items.genres[i]?.[0] === genre));
    const other = await createEncoder({ model: 'use-lite', maxLength: 32 });
    try {
      await assertCode(() => fresh.addItems([{ id: 'x', text: 'x' }], { encoder: other }), 'ERR_MODEL_MISMATCH', /trained on the encoder/);
    } finally {
      await other.release();
    }
  });

  it('saves and loads with the live profiles, exclusions and explanations', async () => {
    const dir = path.join(tempDir(), 'llmrec');
    await model.save(dir);
    const loaded = (await loadModel(dir)) as LlmRecModel;
    assert.deepEqual(loaded.preferenceVector(5), model.preferenceVector(5));
    assert.deepEqual(await loaded.recommend([7, 5], 10), await model.recommend([7, 5], 10));
    const a = await model.explainScore(5, 0, { history: 50 });
    const b = await loaded.explainScore(5, 0, { history: 50 });
    assert.ok(Math.abs(a.score - b.score) < 1e-6);
    assert.deepEqual(b.history.map((h) => h.itemIdx), a.history.map((h) => h.itemIdx));
    assert.equal(loaded.encoder, model.encoder);
    const other = await createEncoder({ model: 'use-lite', maxLength: 32 });
    try {
      assert.throws(() => loaded.checkEncoder(other), (e: Error & { code?: string }) => e.code === 'ERR_MODEL_MISMATCH');
    } finally {
      await other.release();
    }
  });

  it('on a dataset without item text it says so and trains the collaborative side only', async () => {
    const base = plantedStore(3, 40, 30, 8);
    const bare = new InteractionStore({
      name: 'bare',
      userIds: base.userIds,
      itemIds: DenseIdMap.from(Array.from({ length: 30 }, (_, i) => `i${i}`)),
      userIdx: base.userIdx,
      itemIdx: base.itemIdx,
      rating: base.rating,
      timestamp: base.timestamp,
    });
    const m = createModel('llmrec', { ...SMALL, epochs: 2 }) as LlmRecModel;
    const report = await m.fit(bare, { seed: 1 });
    assert.ok(report.notes?.some((n) => /has no item text: llmrec trains the collaborative side only/.test(n)), JSON.stringify(report.notes));
    assert.equal(m.encoder, '');
    assert.ok((await m.scoreUsers(Int32Array.of(0, 1))).every(Number.isFinite));
    await assertCode(() => m.addItems([{ id: 'n', text: 'text' }]), 'ERR_INVALID_ARG_VALUE', /no semantic side/);
    const recs = await m.recommendForHistory([{ itemIdx: 1 }], 3);
    assert.equal(recs.indices.length, 3);
  });
});
