/**
 * The service's life: a model reloaded (HTTP or SIGHUP) while requests keep being answered, a failed
 * reload that leaves the old model serving, /health answering while a heavy request is scored, and a
 * graceful shutdown (SIGTERM) that lets requests in flight finish and compacts the feedback log.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';

import { FeedbackLog } from '../../ts/server/feedback';
import { useTempDirs } from '../helpers/tempdir';
import { request, saveModel, spawnServer, startService } from './fixtures';

const tempDir = useTempDirs('semrec-serve-life-');
const KEY = 'k';
const auth = { 'x-api-key': KEY };

/**
 * A history whose fold-in takes a while: bpr with 30,000 fold-in passes over 40 items (1.2 million native
 * SGD steps: a second or more on a busy 2-core machine, a tenth of one on a fast idle one).
 */
const HEAVY = { epochs: 5, dim: 32, foldInEpochs: 30_000 };
const heavyHistory = Array.from({ length: 40 }, (_, e) => ({ item: `i${e}` }));

describe('server: reload, responsiveness, shutdown', function () {
  this.timeout(180_000);

  it('reloads a model saved again into its directory while requests keep being answered, keeping the feedback', async () => {
    const dir = path.join(tempDir(), 'm');
    await saveModel(dir, 'bpr', { epochs: 10, dim: 8 }, 3);
    const { service, url } = await startService({ modelDir: dir, apiKey: KEY });
    try {
      for (const item of ['i1', 'i2']) assert.equal((await request(`${url}/feedback`, { body: { user: 'u1', item }, headers: auth })).status, 201);
      const before = (await request<{ model: { version: string } }>(`${url}/ready`)).body.model.version;
      let stop = false;
      const statuses: number[] = [];
      const load = Promise.all(
        Array.from({ length: 4 }, async (_, c) => {
          for (let n = 0; !stop; n++) statuses.push((await request(`${url}/recommend`, { body: { user: `u${(c * 7 + n) % 40}`, k: 5 } })).status);
        }),
      );
      const next = await saveModel(dir, 'lightgcn', { epochs: 3, dim: 8 }, 4);
      const reload = await request<{ model: { model: string; version: string }; previous: { version: string } }>(`${url}/admin/reload`, { method: 'POST', headers: auth });
      await new Promise((resolve) => setTimeout(resolve, 200));
      stop = true;
      await load;
      assert.equal(reload.status, 200, JSON.stringify(reload.body));
      assert.equal(reload.body.model.model, 'lightgcn');
      assert.equal(reload.body.previous.version, before);
      assert.notEqual(reload.body.model.version, before);
      assert.ok(statuses.length > 10, `${statuses.length} requests during the reload`);
      assert.deepEqual([...new Set(statuses)], [200], 'no request failed during the reload');
      const after = await request<{ items: { id: string }[] }>(`${url}/recommend`, { body: { user: 'u5', k: 5 } });
      assert.deepEqual(after.body.items.map((i) => i.id), (await next.recommendFor('u5', { k: 5 })).map((i) => i.id));
      const ready = await request<{ feedback: { events: number } }>(`${url}/ready`);
      assert.equal(ready.body.feedback.events, 2);
    } finally {
      await service.close();
    }
    const { log } = await FeedbackLog.open(path.join(dir, 'feedback'));
    assert.deepEqual(log.eventsAfter(0).map((e) => e.item), ['i1', 'i2'], 'the events acknowledged before the model was saved again are on disk');
    await log.close();
  });

  it('keeps serving the old model when a reload fails, says why, and refuses a second reload while one runs', async () => {
    const dir = path.join(tempDir(), 'm');
    await saveModel(dir);
    const { service, url } = await startService({ modelDir: dir, apiKey: KEY });
    try {
      const version = (await request<{ model: { version: string } }>(`${url}/ready`)).body.model.version;
      const both = await Promise.all([request(`${url}/admin/reload`, { method: 'POST', headers: auth }), request(`${url}/admin/reload`, { method: 'POST', headers: auth })]);
      assert.deepEqual(both.map((r) => r.status).sort(), [200, 409]);
      fs.writeFileSync(path.join(dir, 'model.json'), '{ not json');
      const failed = await request(`${url}/admin/reload`, { method: 'POST', headers: auth });
      assert.equal(failed.status, 500);
      assert.equal(failed.body.code, 'ERR_RELOAD_FAILED');
      assert.match(String(failed.body.message), new RegExp(`previous model \\(${version}\\) keeps serving.*ERR_MODEL_CORRUPT`));
      assert.equal((await request(`${url}/recommend`, { body: { user: 'u1' } })).status, 200);
      assert.equal((await request<{ model: { version: string } }>(`${url}/ready`)).body.model.version, version);
      assert.match((await request<string>(`${url}/metrics`)).body, /semrec_model_reloads_total\{result="failed"\} 1/);
    } finally {
      await service.close();
    }
  });

  it('answers /health while a heavy /recommend is scored (the work runs off the event loop)', async () => {
    const dir = path.join(tempDir(), 'm');
    await saveModel(dir, 'bpr', HEAVY);
    const { service, url } = await startService({ modelDir: dir });
    try {
      let heavyDone = false;
      const heavy = request(`${url}/recommend`, { body: { history: heavyHistory, k: 5 } }).then((r) => {
        heavyDone = true;
        return r;
      });
      const started = performance.now();
      let healthWhileBusy = 0;
      while (!heavyDone) {
        const h = await request(`${url}/health`);
        assert.equal(h.status, 200);
        if (!heavyDone) healthWhileBusy++;
      }
      const heavySeconds = (performance.now() - started) / 1000;
      assert.equal((await heavy).status, 200);
      assert.ok(healthWhileBusy >= 3, `${healthWhileBusy} /health answers during ${heavySeconds.toFixed(2)} s of scoring`);
    } finally {
      await service.close();
    }
  });

  it('shuts down gracefully: a request in flight finishes, new connections are refused, the feedback log is compacted', async () => {
    const dir = path.join(tempDir(), 'm');
    await saveModel(dir, 'bpr', HEAVY);
    const { service, url } = await startService({ modelDir: dir, apiKey: KEY });
    assert.equal((await request(`${url}/feedback`, { body: { user: 'u2', item: 'i3' }, headers: auth })).status, 201);
    const inFlight = request(`${url}/recommend`, { body: { history: heavyHistory, k: 5 } });
    await new Promise((resolve) => setTimeout(resolve, 50));
    const closing = service.close();
    assert.equal(service.ready, false);
    const answer = await inFlight;
    assert.equal(answer.status, 200, 'the request in flight got its answer');
    await closing;
    await assert.rejects(fetch(`${url}/health`), 'the listener is closed');
    const snapshot = fs.readFileSync(path.join(dir, 'feedback', 'snapshot.jsonl'), 'utf8').trim().split('\n');
    assert.equal(snapshot.length, 2, 'header and the one event');
  });

  it('semrec serve: SIGHUP reloads, SIGTERM stops cleanly (exit 0), a busy port is a clear error', async () => {
    const dir = path.join(tempDir(), 'm');
    await saveModel(dir);
    const server = await spawnServer(['--model-dir', dir], { SEMREC_API_KEY: KEY });
    try {
      assert.equal((await request(`${server.url}/feedback`, { body: { user: 'u1', item: 'i1' }, headers: auth })).status, 201);
      assert.equal((await request(`${server.url}/feedback`, { body: { user: 'u1', item: 'i1' } })).status, 401, 'the key comes from SEMREC_API_KEY');
      const port = new URL(server.url).port;
      const busy = await spawnServer(['--model-dir', dir, '--port', port]).then(
        () => assert.fail('a second server on a busy port started'),
        (error: Error) => error.message,
      );
      assert.match(busy, /cannot listen on 127\.0\.0\.1:\d+: the address is in use.*\[ERR_LISTEN\]/);
      server.child.kill('SIGHUP');
      for (let t = 0; t < 100 && !/reloaded bpr/.test(server.output()); t++) await new Promise((resolve) => setTimeout(resolve, 100));
      assert.match(server.output(), /semrec serve: reloaded bpr [0-9a-f]{12} \(was [0-9a-f]{12}\)/);
      server.child.kill('SIGTERM');
      assert.equal(await server.exited, 0);
      assert.match(server.output(), /SIGTERM: stopping[\s\S]*stopped/);
      assert.ok(fs.existsSync(path.join(dir, 'feedback', 'snapshot.jsonl')));
    } finally {
      server.child.kill('SIGKILL');
    }
  });
});
