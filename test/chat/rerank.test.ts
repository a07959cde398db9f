/**
 * Chat-REC re-ranking through the API against a local OpenAI-compatible server scripted per case (clean
 * JSON, numbered text, invented titles, duplicates, history items, near-miss titles, an empty answer, 429
 * then success, 500s until the retries run out, a hang past the timeout, a streamed answer): each case
 * checks the final list, the guard counts and `fallback`.
 */
import assert from 'node:assert/strict';

import { LlmClient } from '../../ts/chat/client';
import { ChatEngine } from '../../ts/chat/engine';
import { OpenAiTestServer } from '../helpers/openai-server';
import { useTempDirs } from '../helpers/tempdir';
import { RERANK_CASES } from './cases';
import { fixtureEngine } from './fixtures';

const K = 5;
const N = 10;

describe('chat: re-ranking through the API', function () {
  this.timeout(60_000);
  const tempDir = useTempDirs('semrec-chat-');
  let engine: ChatEngine;
  let server: OpenAiTestServer;
  let endpoint: string;

  before(async () => {
    ({ engine } = await fixtureEngine(tempDir()));
  });
  beforeEach(async () => {
    server = new OpenAiTestServer();
    endpoint = await server.start();
  });
  afterEach(() => server.stop());

  for (const c of RERANK_CASES) {
    it(c.name, async () => {
      const user = engine.userIndex('2');
      const history = engine.history(user).map((h) => engine.catalog.title(h.itemIdx));
      // The first request decides the script (the scripted replies name the real candidates).
      let scripted = false;
      server.respond = (req) => {
        if (scripted) return { content: '' };
        scripted = true;
        const [first, ...rest] = c.replies(req, { history });
        server.script.push(...rest);
        return first;
      };
      const client = new LlmClient({ endpoint, model: 'test-model', maxRetries: c.client?.maxRetries ?? 2, timeoutMs: c.client?.timeoutMs ?? 10_000 });
      const pieces: string[] = [];
      const result = await engine.rerank(user, { k: K, candidates: N, client, stream: c.client?.stream, onToken: (t) => pieces.push(t) });
      assert.equal(result.items.length, K, 'never fewer than k items when k exist');
      c.check(result, { candidates: result.candidates.map((x) => engine.catalog.title(x.itemIdx)), history, k: K, requests: server.requests });
      if (c.client?.stream) assert.equal(pieces.join(''), result.answer);
    });
  }

  it('without an endpoint returns the base ranking, explained from the engine signals', async () => {
    const user = engine.userIndex('1');
    const result = await engine.rerank(user, { k: K, candidates: N });
    assert.equal(result.fallback, true);
    assert.equal(result.fallbackReason, 'no LLM endpoint given');
    assert.deepEqual(result.items.map((i) => i.itemIdx), result.candidates.slice(0, K).map((c) => c.itemIdx));
    const history = new Set(engine.history(user).map((h) => engine.catalog.label(h.itemIdx)));
    for (const item of result.items) {
      assert.equal(item.source, 'base');
      // Sentence-initial when no history item is similar enough to name first (bpr now explains by factor cosine).
      assert.match(item.explanation, /bpr ranked it \d+(st|nd|rd|th) of 10/i);
    }
    // Co-occurrence names history items the recommended ones are watched with.
    const named = result.items.filter((i) => [...history].some((t) => i.explanation.includes(t)));
    assert.ok(named.length > 0, 'some explanation names a history item');
  });

  it('asks the endpoint for the configured model with a numbered candidate list and the profile', async () => {
    server.respond = () => ({ content: '' });
    const client = new LlmClient({ endpoint, model: 'my-model', temperature: 0 });
    await engine.rerank(engine.userIndex('3'), { k: K, candidates: N, client });
    const body = server.requests[0].body;
    assert.equal(body.model, 'my-model');
    assert.equal(body.temperature, 0);
    const prompt = body.messages[1].content;
    assert.match(prompt, /User profile/);
    assert.match(prompt, /works as/);
    assert.match(prompt, /\[10\] /);
    assert.match(prompt, /"recommendations"/);
    assert.equal(server.requests[0].authorization, 'Bearer semrec-no-key');
  });
});
