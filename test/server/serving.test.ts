/**
 * How feedback reaches a model in the service (ServingModel): a model with live profile updates gets
 * each acknowledged event of a user it knows through updateUser, once, in log order, and serves that
 * user from its updated profile; any other model serves the user from history. Batches of known users
 * answer exactly what single requests would.
 */
import assert from 'node:assert/strict';

import type { HistoryEvent } from '../../ts/models/contract';
import { BprModel, bprParams } from '../../ts/models/bpr';
import { MfModel, mfParams } from '../../ts/models/mf';
import { FeedbackLog } from '../../ts/server/feedback';
import { ServingModel } from '../../ts/server/serving';
import { useTempDirs } from '../helpers/tempdir';
import { store } from './fixtures';

const tempDir = useTempDirs('semrec-serving-model-');

/**
 * A bpr whose updateUser folds the user's training items plus every event received so far into the
 * user's factor row (the real fold-in op): a model with dynamic profiles, as LLM-Rec will be.
 */
class LiveBpr extends BprModel {
  readonly updates: { userIdx: number; events: HistoryEvent[] }[] = [];
  private readonly extra = new Map<number, HistoryEvent[]>();

  async updateUser(userIdx: number, events: HistoryEvent[]): Promise<void> {
    if (events.some((e) => e.rating !== undefined && e.rating < 0)) throw new Error('negative ratings are not events');
    this.updates.push({ userIdx, events });
    const all = [...(this.extra.get(userIdx) ?? []), ...events];
    this.extra.set(userIdx, all);
    const training = Array.from(this.trainingItems(userIdx), (itemIdx) => ({ itemIdx }));
    const vector = await this.foldIn([...training, ...all]);
    const f = this.factors();
    f.users.set(vector, userIdx * f.dim);
  }
}

async function liveModel(): Promise<LiveBpr> {
  const model = new LiveBpr(bprParams.parse({ epochs: 10, dim: 8 }));
  await model.fit(store, { seed: 3 });
  return model;
}

describe('server/serving: feedback and models', function () {
  this.timeout(60_000);

  it('applies each acknowledged event of a known user through updateUser, once and in log order', async () => {
    const model = await liveModel();
    const { log } = await FeedbackLog.open(tempDir());
    const serving = new ServingModel(model, 'dir', 'v1', new Date(), log);
    assert.equal(serving.dynamic, true);
    await log.record({ user: 'u1', item: 'i5', rating: 4 });
    await log.record({ user: 'stranger', item: 'i6' });
    await log.record({ user: 'u2', item: 'i7', sentiment: 0.8 });
    await Promise.all([serving.catchUp(), serving.catchUp()]);
    await serving.catchUp();
    assert.deepEqual(
      model.updates.map((u) => [u.userIdx, u.events[0].itemIdx]),
      [
        [model.catalog.userIndex('u1'), model.catalog.itemIndex('i5')],
        [model.catalog.userIndex('u2'), model.catalog.itemIndex('i7')],
      ],
    );
    assert.equal(model.updates[1].events[0].sentiment, 0.8);
    assert.ok(serving.caughtUp);
  });

  it("serves a known user of a dynamic model from the updated profile ('model'), a new user from their feedback", async () => {
    const model = await liveModel();
    const { log } = await FeedbackLog.open(tempDir());
    const serving = new ServingModel(model, 'dir', 'v1', new Date(), log);
    const before = await serving.recommend({ user: 'u4', k: 5 });
    for (const item of ['i30', 'i31', 'i32', 'i33']) await log.record({ user: 'u4', item });
    const after = await serving.recommend({ user: 'u4', k: 5 });
    assert.equal(after.servedFrom, 'model');
    assert.deepEqual(after.items.map((i) => i.id), (await model.recommendFor('u4', { k: 5 })).map((i) => i.id));
    assert.notDeepEqual(after.items.map((i) => i.id), before.items.map((i) => i.id), 'four new events change the list');
    await log.record({ user: 'newcomer', item: 'i3' });
    const fresh = await serving.recommend({ user: 'newcomer', k: 3 });
    assert.equal(fresh.servedFrom, 'feedback');
    assert.deepEqual(fresh.items.map((i) => i.id), (await model.recommendFromHistory(['i3'], { k: 3 })).map((i) => i.id));
  });

  it('replays the whole log into a reloaded model, and counts events a model refuses without stopping', async () => {
    const { log } = await FeedbackLog.open(tempDir());
    await log.record({ user: 'u1', item: 'i1' });
    await log.record({ user: 'u1', item: 'i2', rating: -1 });
    await log.record({ user: 'u3', item: 'i3' });
    const next = new ServingModel(await liveModel(), 'dir', 'v2', new Date(), log);
    await next.catchUp();
    assert.equal((next.model as LiveBpr).updates.length, 2);
    assert.equal(next.notApplied, 1);
    assert.match(next.lastNotApplied!, /event 2: bpr\.updateUser refused it: negative ratings/);
  });

  it('answers a batch of known users exactly as it answers each alone', async () => {
    const model = await liveModel();
    const { log } = await FeedbackLog.open(tempDir());
    const serving = new ServingModel(model, 'dir', 'v1', new Date(), log, { maxBatch: 8 });
    const sizes: number[] = [];
    serving.batcher.onBatch = (size) => sizes.push(size);
    const requests = Array.from({ length: 30 }, (_, n) => ({ user: `u${n}`, k: 1 + (n % 7), excludeSeen: n % 3 !== 0, exclude: n % 4 === 0 ? ['i1', 'i2'] : [] }));
    const together = await Promise.all(requests.map((r) => serving.recommend(r)));
    assert.ok(Math.max(...sizes) > 1 && Math.max(...sizes) <= 8, `batch sizes ${sizes.join(',')}`);
    for (const [n, r] of requests.entries()) {
      const alone = await model.recommendFor(r.user, { k: r.k, excludeSeen: r.excludeSeen, exclude: r.exclude });
      assert.deepEqual(together[n].items.map((i) => i.id), alone.map((i) => i.id), r.user);
    }
  });

  it('needs ratings for a rating predictor (mf) and stands in its own predictions for the training items', async () => {
    const model = new MfModel(mfParams.parse({ epochs: 5, dim: 8 }));
    await model.fit(store, { seed: 3 });
    const { log } = await FeedbackLog.open(tempDir());
    const serving = new ServingModel(model, 'dir', 'v1', new Date(), log);
    assert.throws(() => serving.checkFeedback({ user: 'u1', item: 'i1' }), /rating is required: mf/);
    await log.record({ user: 'u1', item: 'i9', rating: 5 });
    const answer = await serving.recommend({ user: 'u1', k: 4 });
    assert.equal(answer.servedFrom, 'model+feedback');
    const u = model.catalog.userIndex('u1');
    const items = model.trainingItems(u);
    const ratings = model.predictRatings(new Int32Array(items.length).fill(u), items);
    const events = [...Array.from(items, (itemIdx, r) => ({ itemIdx, rating: ratings[r] })), { itemIdx: model.catalog.itemIndex('i9'), rating: 5 }];
    assert.deepEqual(answer.items.map((i) => i.id), model.describe(await model.recommendForHistory(events, 4)).map((i) => i.id));
  });
});
