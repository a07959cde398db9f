/**
 * `semrec serve` as a client sees it, against the real server on a loopback port: every endpoint's
 * answers equal the model API's, every bad request gets the documented status naming the field, and the
 * operational endpoints (health, readiness, metrics, OpenAPI) say what they promise.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';

import type { BaseRecommender } from '../../ts/models/base';
import type { HistoryEvent } from '../../ts/models/contract';
import { loadModel } from '../../ts/models/registry';
import { useTempDirs } from '../helpers/tempdir';
import { request, saveModel, startService, type Running } from './fixtures';

const tempDir = useTempDirs('semrec-serve-');

describe('server: endpoints, errors and limits', function () {
  this.timeout(120_000);
  let dir: string;
  let model: BaseRecommender<object>;
  let running: Running;
  let url: string;
  const KEY = 'test-key-123';
  const auth = { authorization: `Bearer ${KEY}` };

  before(async () => {
    dir = path.join(tempDir(), 'bpr');
    await saveModel(dir);
    model = (await loadModel(dir)) as BaseRecommender<object>;
    running = await startService({ modelDir: dir, apiKey: KEY, bodyLimitBytes: 64 * 1024 });
    url = running.url;
  });
  after(async () => running?.service.close());

  describe('POST /recommend', () => {
    it("answers a known user's top-k with raw ids, titles and the model's scores", async () => {
      const r = await request<{ items: { id: string; title: string; score: number; rank: number }[]; servedFrom: string }>(`${url}/recommend`, { body: { user: 'u3', k: 5 } });
      assert.equal(r.status, 200);
      const expected = await model.recommendFor('u3', { k: 5 });
      assert.deepEqual(r.body.items.map((i) => i.id), expected.map((i) => i.id));
      assert.deepEqual(r.body.items.map((i) => i.title), expected.map((i) => i.title));
      r.body.items.forEach((item, n) => assert.equal(Math.fround(item.score), Math.fround(expected[n].score)));
      assert.deepEqual(r.body.items.map((i) => i.rank), [1, 2, 3, 4, 5]);
      assert.equal(r.body.servedFrom, 'model');
    });

    it('defaults k to 10 and leaves out the user\'s training items unless excludeSeen is false', async () => {
      const r = await request<{ items: { id: string }[] }>(`${url}/recommend`, { body: { user: 'u3' } });
      assert.equal(r.body.items.length, 10);
      const seen = new Set(Array.from(model.trainingItems(model.catalog.userIndex('u3')), (i) => model.catalog.item(i).id));
      assert.ok(r.body.items.every((i) => !seen.has(i.id)));
      const all = await request<{ items: { id: string }[] }>(`${url}/recommend`, { body: { user: 'u3', excludeSeen: false, k: 50 } });
      assert.ok(all.body.items.some((i) => seen.has(i.id)));
    });

    it('never recommends an item in "exclude"', async () => {
      const first = await request<{ items: { id: string }[] }>(`${url}/recommend`, { body: { user: 'u3', k: 3 } });
      const exclude = first.body.items.map((i) => i.id);
      const r = await request<{ items: { id: string }[] }>(`${url}/recommend`, { body: { user: 'u3', k: 3, exclude } });
      assert.ok(r.body.items.every((i) => !exclude.includes(i.id)));
      assert.deepEqual(r.body.items.map((i) => i.id), (await model.recommendFor('u3', { k: 3, exclude })).map((i) => i.id));
    });

    it('serves a user the model never saw from a history (the cold-start path), as recommendFromHistory does', async () => {
      const history = [{ item: 'i1', rating: 5 }, { item: 'i7' }, { item: 'i12' }];
      const r = await request<{ items: { id: string }[]; servedFrom: string }>(`${url}/recommend`, { body: { user: 'someone-new', history, k: 4 } });
      assert.equal(r.status, 200);
      assert.equal(r.body.servedFrom, 'history');
      const expected = await model.recommendFromHistory([{ itemId: 'i1', rating: 5 }, 'i7', 'i12'], { k: 4 });
      assert.deepEqual(r.body.items.map((i) => i.id), expected.map((i) => i.id));
      const anonymous = await request<{ items: { id: string }[] }>(`${url}/recommend`, { body: { history, k: 4 } });
      assert.deepEqual(anonymous.body.items, r.body.items);
    });

    it('explains each item when asked: the history items most similar to it', async () => {
      const r = await request<{ items: { id: string; because: { id: string; similarity: number }[]; explanation: string }[] }>(`${url}/recommend`, {
        body: { user: 'u3', k: 3, explain: true },
      });
      assert.equal(r.status, 200);
      for (const item of r.body.items) {
        const expected = await model.explainFor('u3', item.id);
        assert.deepEqual(item.because.map((b) => b.id), expected.because.map((b) => b.id));
        assert.equal(item.explanation, expected.method);
      }
    });

    it('answers 404 naming an unknown user, and says to send a history', async () => {
      const r = await request(`${url}/recommend`, { body: { user: 'nobody' } });
      assert.equal(r.status, 404);
      assert.equal(r.body.code, 'ERR_UNKNOWN_USER');
      assert.equal(r.body.field, 'user');
      assert.match(String(r.body.message), /unknown user 'nobody'.*history/);
    });

    it('answers 404 naming an unknown item in the history or in exclude', async () => {
      const h = await request(`${url}/recommend`, { body: { history: [{ item: 'i1' }, { item: 'zzz' }] } });
      assert.equal(h.status, 404);
      assert.equal(h.body.field, 'history[1].item');
      const e = await request(`${url}/recommend`, { body: { user: 'u1', exclude: ['i1', 'nope'] } });
      assert.equal(e.status, 404);
      assert.equal(e.body.field, 'exclude[1]');
    });

    for (const k of [0, 1001, 2.5, -3]) {
      it(`answers 400 for k = ${k} (k must be an integer in [1, 1000])`, async () => {
        const r = await request(`${url}/recommend`, { body: { user: 'u1', k } });
        assert.equal(r.status, 400);
        assert.equal(r.body.code, 'ERR_VALIDATION');
        assert.equal(r.body.field, 'k');
      });
    }

    it('clamps k to the catalog: k = 1000 on 50 items answers every unseen item', async () => {
      const r = await request<{ items: unknown[]; k: number }>(`${url}/recommend`, { body: { user: 'u1', k: 1000, excludeSeen: false } });
      assert.equal(r.status, 200);
      assert.equal(r.body.items.length, 50);
      assert.equal(r.body.k, 50);
    });

    it('answers 400 naming the field for a wrong type, an unknown field, a missing user and history, or a bad signal', async () => {
      const cases: [unknown, string | undefined, RegExp][] = [
        [{ user: 196 }, 'user', /must be string/],
        [{ user: 'u1', k: '10' }, 'k', /must be integer/],
        [{ user: 'u1', limit: 5 }, 'limit', /unknown field/],
        [{ k: 5 }, undefined, /"user".*"history"/],
        [{ history: [{ item: 'i1', completion: 1.5 }] }, 'history[0].completion', /<= 1/],
        [{ history: [{ itemId: 'i1' }] }, 'history[0].item', /required property 'item'/],
        [{ history: [{ item: 'i1', itemId: 'i1' }] }, 'history[0].itemId', /unknown field/],
        [{ user: '' }, 'user', /fewer than 1/],
      ];
      for (const [body, field, message] of cases) {
        const r = await request(`${url}/recommend`, { body });
        assert.equal(r.status, 400, JSON.stringify(body));
        assert.equal(r.body.code, 'ERR_VALIDATION');
        assert.equal(r.body.field, field, JSON.stringify(r.body));
        assert.match(String(r.body.message), message);
      }
    });

    it('answers 400 for a body that is not JSON, or empty', async () => {
      const bad = await request(`${url}/recommend`, { body: '{"user": "u1"' });
      assert.equal(bad.status, 400);
      assert.equal(bad.body.code, 'ERR_INVALID_JSON');
      const empty = await request(`${url}/recommend`, { body: '' });
      assert.equal(empty.status, 400);
      assert.equal(empty.body.code, 'ERR_INVALID_JSON');
    });

    it('answers 413 for a body over the limit', async () => {
      const history = Array.from({ length: 6000 }, (_, e) => ({ item: `i${e % 50}` }));
      const r = await request(`${url}/recommend`, { body: { history } });
      assert.equal(r.status, 413);
      assert.equal(r.body.code, 'ERR_BODY_TOO_LARGE');
      assert.match(String(r.body.message), /65536 bytes/);
    });

    it('answers 415 for a body of a media type the service does not read', async () => {
      const r = await request(`${url}/recommend`, { body: '<user>u1</user>', headers: { 'content-type': 'application/xml' } });
      assert.equal(r.status, 415);
    });
  });

  describe('GET /items/:id/similar and POST /explain', () => {
    it('answers the items most similar to an item, as similarTo does', async () => {
      const r = await request<{ item: { id: string; title: string }; items: { id: string }[] }>(`${url}/items/i4/similar?k=6`);
      assert.equal(r.status, 200);
      assert.equal(r.body.item.id, 'i4');
      assert.equal(r.body.item.title, 'item 4');
      assert.deepEqual(r.body.items.map((i) => i.id), (await model.similarTo('i4', { k: 6 })).map((i) => i.id));
    });

    it('answers 404 for an unknown item and 400 for a bad k', async () => {
      assert.equal((await request(`${url}/items/nope/similar`)).status, 404);
      for (const k of ['0', 'abc', '1001']) {
        const r = await request(`${url}/items/i4/similar?k=${k}`);
        assert.equal(r.status, 400, k);
        assert.equal(r.body.field, 'k');
      }
      const extra = await request(`${url}/items/i4/similar?k=3&n=2`);
      assert.equal(extra.status, 400);
      assert.equal(extra.body.field, 'n');
    });

    it('explains why an item is recommended to a user, as explainFor does', async () => {
      const r = await request<{ because: { id: string; similarity: number }[]; item: { id: string; score: number }; method: string }>(`${url}/explain`, {
        body: { user: 'u3', item: 'i9' },
      });
      assert.equal(r.status, 200);
      const expected = await model.explainFor('u3', 'i9');
      assert.equal(r.body.item.id, 'i9');
      assert.equal(Math.fround(r.body.item.score), Math.fround(expected.item.score));
      assert.deepEqual(r.body.because.map((b) => b.id), expected.because.map((b) => b.id));
      r.body.because.forEach((b, n) => assert.ok(Math.abs(b.similarity - expected.because[n].similarity) < 1e-5, 'similarities to 6 digits'));
      assert.equal(r.body.method, expected.method);
    });

    it('answers 404 for an unknown user or item in /explain, 400 for a missing field', async () => {
      assert.equal((await request(`${url}/explain`, { body: { user: 'nobody', item: 'i1' } })).status, 404);
      assert.equal((await request(`${url}/explain`, { body: { user: 'u1', item: 'nope' } })).status, 404);
      const missing = await request(`${url}/explain`, { body: { user: 'u1' } });
      assert.equal(missing.status, 400);
      assert.equal(missing.body.field, 'item');
    });
  });

  describe('POST /feedback', () => {
    it('needs the API key: 401 without one, 403 with a wrong one, before the body is even read', async () => {
      const none = await request(`${url}/feedback`, { body: { user: 'u1', item: 'i2' } });
      assert.equal(none.status, 401);
      assert.equal(none.body.code, 'ERR_UNAUTHORIZED');
      const wrong = await request(`${url}/feedback`, { body: { user: 'u1', item: 'i2' }, headers: { authorization: 'Bearer nope' } });
      assert.equal(wrong.status, 403);
      const badBodyNoKey = await request(`${url}/feedback`, { body: '{oops' });
      assert.equal(badBodyNoKey.status, 401);
      const viaHeader = await request(`${url}/feedback`, { body: { user: 'u39', item: 'i0' }, headers: { 'x-api-key': KEY } });
      assert.equal(viaHeader.status, 201);
    });

    it('acknowledges an event with 201 and its sequence number; a retry with the same eventId answers 200, recorded once', async () => {
      const before = running.service.feedbackEvents;
      const first = await request(`${url}/feedback`, { body: { user: 'u5', item: 'i9', rating: 4, eventId: 'evt-1' }, headers: auth });
      assert.equal(first.status, 201);
      assert.equal(first.body.duplicate, false);
      const retry = await request(`${url}/feedback`, { body: { user: 'u5', item: 'i9', rating: 4, eventId: 'evt-1' }, headers: auth });
      assert.equal(retry.status, 200);
      assert.equal(retry.body.duplicate, true);
      assert.equal(retry.body.seq, first.body.seq);
      assert.equal(running.service.feedbackEvents, before + 1);
    });

    it("folds a known user's feedback in: their list becomes recommendForHistory(training items + feedback)", async () => {
      const user = 'u7';
      const items = ['i11', 'i23', 'i31'];
      for (const item of items) assert.equal((await request(`${url}/feedback`, { body: { user, item }, headers: auth })).status, 201);
      const r = await request<{ items: { id: string }[]; servedFrom: string; feedbackEvents: number }>(`${url}/recommend`, { body: { user, k: 5 } });
      assert.equal(r.body.servedFrom, 'model+feedback');
      assert.equal(r.body.feedbackEvents, 3);
      const u = model.catalog.userIndex(user);
      const events: HistoryEvent[] = [...Array.from(model.trainingItems(u), (itemIdx) => ({ itemIdx })), ...items.map((id) => ({ itemIdx: model.catalog.itemIndex(id) }))];
      const expected = model.describe(await model.recommendForHistory(events, 5));
      assert.deepEqual(r.body.items.map((i) => i.id), expected.map((i) => i.id));
      assert.ok(r.body.items.every((i) => !items.includes(i.id)), 'feedback items are seen items');
    });

    it('serves a new user from their feedback alone', async () => {
      for (const item of ['i2', 'i3']) await request(`${url}/feedback`, { body: { user: 'brand-new', item, timestamp: 1_700_000_000 }, headers: auth });
      const r = await request<{ items: { id: string }[]; servedFrom: string }>(`${url}/recommend`, { body: { user: 'brand-new', k: 4 } });
      assert.equal(r.status, 200);
      assert.equal(r.body.servedFrom, 'feedback');
      assert.deepEqual(r.body.items.map((i) => i.id), (await model.recommendFromHistory(['i2', 'i3'], { k: 4 })).map((i) => i.id));
    });

    it('answers 404 for an unknown item and 400 naming a bad field, recording nothing', async () => {
      const before = running.service.feedbackEvents;
      const unknown = await request(`${url}/feedback`, { body: { user: 'u1', item: 'nope' }, headers: auth });
      assert.equal(unknown.status, 404);
      assert.equal(unknown.body.field, 'item');
      for (const [body, field] of [
        [{ user: 'u1', item: 'i1', sentiment: -0.1 }, 'sentiment'],
        [{ user: 'u1', item: 'i1', rating: 'five' }, 'rating'],
        [{ user: 'u1', item: 'i1', review: 'x'.repeat(20_001) }, 'review'],
        [{ user: 'u1' }, 'item'],
        [{ user: 'u1', item: 'i1', liked: true }, 'liked'],
      ] as const) {
        const r = await request(`${url}/feedback`, { body, headers: auth });
        assert.equal(r.status, 400, field);
        assert.equal(r.body.field, field);
      }
      assert.equal(running.service.feedbackEvents, before);
    });
  });

  describe('operations', () => {
    it('GET /health answers ok; GET /ready names the model and the feedback log', async () => {
      const health = await request(`${url}/health`);
      assert.equal(health.status, 200);
      assert.equal(health.body.status, 'ok');
      const ready = await request<{ ready: boolean; model: { model: string; numItems: number; version: string }; feedback: { events: number } }>(`${url}/ready`);
      assert.equal(ready.status, 200);
      assert.equal(ready.body.model.model, 'bpr');
      assert.equal(ready.body.model.numItems, 50);
      assert.match(ready.body.model.version, /^[0-9a-f]{12}$/);
      assert.equal(typeof ready.body.feedback.events, 'number');
    });

    it('GET /metrics: latency histograms per route, errors by status and code, the model version (Prometheus text)', async () => {
      const r = await request<string>(`${url}/metrics`);
      assert.equal(r.status, 200);
      assert.match(r.headers.get('content-type') ?? '', /text\/plain/);
      assert.match(r.body, /semrec_http_request_duration_seconds_bucket\{le="0\.005",route="\/recommend",method="POST",status="200"\} \d+/);
      assert.match(r.body, /semrec_http_request_errors_total\{route="\/recommend",status="404",code="ERR_UNKNOWN_USER"\} [1-9]/);
      assert.match(r.body, /semrec_model_info\{model="bpr",version="[0-9a-f]{12}",dataset="planted"\} 1/);
      assert.match(r.body, /semrec_feedback_wal_sync_seconds_count [1-9]/);
      assert.match(r.body, /semrec_process_resident_memory_bytes \d+/);
    });

    it('GET /openapi.json documents every route with its request schema', async () => {
      const r = await request<{ openapi: string; paths: Record<string, Record<string, { requestBody?: { content: Record<string, { schema: { properties: object } }> } }>> }>(`${url}/openapi.json`);
      assert.equal(r.status, 200);
      assert.match(r.body.openapi, /^3\./);
      for (const p of ['/recommend', '/items/{id}/similar', '/explain', '/feedback', '/health', '/ready', '/metrics', '/admin/reload']) assert.ok(r.body.paths[p], p);
      const body = r.body.paths['/feedback'].post.requestBody!.content['application/json'].schema.properties;
      assert.deepEqual(Object.keys(body).sort(), ['completion', 'eventId', 'item', 'rating', 'review', 'sentiment', 'timestamp', 'user', 'viewing']);
    });

    it('answers 404 as JSON for a route that does not exist', async () => {
      const r = await request(`${url}/recommendations`);
      assert.equal(r.status, 404);
      assert.equal(r.body.code, 'ERR_NO_ROUTE');
    });

    it('/admin/* needs the API key', async () => {
      assert.equal((await request(`${url}/admin/reload`, { method: 'POST' })).status, 401);
      assert.equal((await request(`${url}/admin/compact`, { method: 'POST', headers: { 'x-api-key': 'wrong' } })).status, 403);
    });

    it('POST /admin/compact writes the snapshot into the model directory', async () => {
      const r = await request<{ lastSeq: number; events: number }>(`${url}/admin/compact`, { method: 'POST', headers: auth });
      assert.equal(r.status, 200);
      assert.ok(r.body.events > 0);
      const snapshot = fs.readFileSync(path.join(dir, 'feedback', 'snapshot.jsonl'), 'utf8').split('\n');
      assert.equal(JSON.parse(snapshot[0]).lastSeq, r.body.lastSeq);
    });
  });
});
