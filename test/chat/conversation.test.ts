/** Conversation state: constraints read from words, candidates narrowed by them, sessions saved and resumed; the fine-tuning format rules. */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';

import { ChatSession, emptyState, readRequest, satisfies } from '../../ts/chat/conversation';
import type { ChatEngine } from '../../ts/chat/engine';
import { checkFinetuneExample, checkFinetuneFile, MIN_FINETUNE_EXAMPLES } from '../../ts/chat/finetune';
import { tokenCounter } from '../../ts/chat/tokens';
import { SemrecError } from '../../ts/errors';
import { OpenAiTestServer, reverseRanker } from '../helpers/openai-server';
import { useTempDirs } from '../helpers/tempdir';
import { LlmClient } from '../../ts/chat/client';
import { fixtureEngine } from './fixtures';

describe('chat/conversation', function () {
  this.timeout(60_000);
  const tempDir = useTempDirs('semrec-conv-');
  let engine: ChatEngine;
  before(async () => {
    ({ engine } = await fixtureEngine(tempDir()));
  });
  const read = (text: string, state = emptyState()) => readRequest(text, state, engine.catalog);
  const title = (i: number) => engine.catalog.title(i);

  it('reads negated genres as exclusions and plain ones as wishes, synonyms included', () => {
    const r = read('no horror please, something funny and some sci-fi');
    assert.deepEqual(r.state.constraints.excludeGenres, ['Horror']);
    assert.deepEqual(r.state.constraints.includeGenres.sort(), ['Comedy', 'Sci-Fi']);
    assert.deepEqual(read("I don't want romance").state.constraints.excludeGenres, ['Romance']);
  });

  it('reads decades and year bounds', () => {
    assert.deepEqual([read('something from the 90s').state.constraints.yearFrom, read('something from the 90s').state.constraints.yearTo], [1990, 1999]);
    assert.equal(read('anything from the 1970s?').state.constraints.yearFrom, 1970);
    assert.equal(read('made before 1980').state.constraints.yearTo, 1979);
    assert.equal(read('released after 1990').state.constraints.yearFrom, 1991);
  });

  it('reads "more like X", "I loved X" and "I didn\'t like X" with fuzzy titles, and a genre inside a title is no genre wish', () => {
    const r = read("more like The Godfather. I loved Fargo, but I didn't like Scream");
    assert.deepEqual(r.state.constraints.moreLike.map(title), ['Godfather, The (1972)']);
    assert.deepEqual(r.state.liked.map(title), ['Fargo (1996)']);
    assert.deepEqual(r.state.disliked.map(title), ['Scream (1996)']);
    assert.deepEqual(read('more like Alien').state.constraints.includeGenres, []);
  });

  it('"reset" clears the constraints but keeps what the user liked and disliked', () => {
    const s = read('no horror. I loved Fargo').state;
    const r = read('reset', s);
    assert.equal(r.reset, true);
    assert.deepEqual(r.state.constraints.excludeGenres, []);
    assert.deepEqual(r.state.liked, s.liked);
  });

  it('narrows every turn\'s candidates to the constraints and never offers liked or disliked items', async () => {
    const session = await ChatSession.open({ engine, userIdx: engine.userIndex('1'), k: 5, candidates: 10 });
    const first = await session.turn('no action, something from the 90s');
    assert.ok(first.items.length > 0);
    for (const item of first.result.items) {
      assert.ok(!engine.catalog.genresOf(item.itemIdx).includes('Action'), `${item.title} has no Action`);
      const y = engine.catalog.year(item.itemIdx)!;
      assert.ok(y >= 1990 && y <= 1999, `${item.title} is from the 90s`);
      assert.ok(satisfies(item.itemIdx, session.state.constraints, engine.catalog));
    }
    const liked = first.result.items[0];
    const second = await session.turn(`I loved ${liked.title}`);
    assert.ok(!second.result.items.some((i) => i.itemIdx === liked.itemIdx), 'a liked item is not offered again');
  });

  it('says so when no item satisfies the constraints', async () => {
    const session = await ChatSession.open({ engine, userIdx: engine.userIndex('1'), k: 5 });
    const r = await session.turn('a western from the 1950s');
    assert.equal(r.items.length, 0);
    assert.match(r.reply, /Nothing in the catalog satisfies/);
  });

  it('sends earlier turns and the constraints to the LLM, and takes its message as the reply', async () => {
    const server = new OpenAiTestServer();
    server.respond = reverseRanker;
    const endpoint = await server.start();
    try {
      const client = new LlmClient({ endpoint, model: 'test-model' });
      const session = await ChatSession.open({ engine, userIdx: engine.userIndex('4'), client, k: 3, candidates: 6 });
      await session.turn('no horror');
      const r = await session.turn('something from the 90s');
      assert.equal(r.fallback, false);
      assert.match(r.reply, /Here are 3 picks/);
      const messages = server.requests[1].body.messages;
      assert.deepEqual(messages.map((m) => m.role), ['system', 'user', 'assistant', 'user']);
      assert.equal(messages[1].content, 'no horror');
      assert.match(messages[3].content, /Constraints in force: no Horror; released 1990-1999/);
    } finally {
      await server.stop();
    }
  });

  it('saves each turn as a JSON line and resumes the state; a session of another user is refused', async () => {
    const file = path.join(tempDir(), 's.jsonl');
    const userIdx = engine.userIndex('5');
    const a = await ChatSession.open({ engine, userIdx, file });
    await a.turn('no horror');
    await a.turn('more like Fargo');
    const b = await ChatSession.open({ engine, userIdx, file });
    assert.equal(b.turns.length, 2);
    assert.deepEqual(b.state, a.state);
    // A turn cut off by a crash mid-write is dropped, the rest kept.
    fs.appendFileSync(file, '{"kind":"turn","turn":3,"req');
    const c = await ChatSession.open({ engine, userIdx, file });
    assert.equal(c.turns.length, 2);
    await assert.rejects(ChatSession.open({ engine, userIdx: engine.userIndex('6'), file }), (e: SemrecError) => e.code === 'ERR_INVALID_ARG_VALUE' && /belongs to user "5"/.test(e.message));
  });
});

describe('chat/finetune format rules', () => {
  const counter = tokenCounter();
  const good = { messages: [{ role: 'system', content: 's' }, { role: 'user', content: 'u' }, { role: 'assistant', content: 'a', weight: 1 }] };
  const kinds = (example: unknown) => checkFinetuneExample(example, 1, counter).map((p) => p.kind);

  it('accepts system / user / assistant examples', () => {
    assert.deepEqual(kinds(good), []);
  });

  it('names each broken rule', () => {
    assert.deepEqual(kinds([good]), ['data_type']);
    assert.deepEqual(kinds({ messages: [] }), ['missing_messages_list']);
    assert.deepEqual(kinds({ messages: [{ role: 'user', content: 'u' }] }), ['example_missing_assistant_message']);
    assert.deepEqual(kinds({ messages: [{ role: 'user', content: 'u' }, { role: 'assistant', content: 'a' }, { role: 'user', content: 'again' }] }), ['last_message_not_assistant']);
    assert.deepEqual(kinds({ messages: [{ role: 'human', content: 'u' }, { role: 'assistant', content: 'a' }] }), ['unrecognized_role']);
    assert.deepEqual(kinds({ messages: [{ role: 'user', text: 'u' }, { role: 'assistant', content: 'a' }] }), ['message_missing_key', 'message_unrecognized_key', 'missing_content']);
    assert.deepEqual(kinds({ messages: [{ role: 'user', content: ' ' }, { role: 'assistant', content: 'a' }] }), ['missing_content']);
    assert.deepEqual(kinds({ messages: [{ role: 'user', content: 'u', weight: 1 }, { role: 'assistant', content: 'a' }] }), ['invalid_weight']);
    assert.deepEqual(kinds({ messages: good.messages, extra: 1 }), ['unrecognized_key']);
  });

  it('limits the tokens of one example and the number of examples', () => {
    const long = { messages: [{ role: 'user', content: 'word '.repeat(200) }, { role: 'assistant', content: 'a' }] };
    assert.deepEqual(checkFinetuneExample(long, 1, counter, 100).map((p) => p.kind), ['example_too_long']);
    const nine = `${Array.from({ length: MIN_FINETUNE_EXAMPLES - 1 }, () => JSON.stringify(good)).join('\n')}\n`;
    assert.deepEqual(checkFinetuneFile(nine).map((p) => p.kind), ['too_few_examples']);
    assert.deepEqual(checkFinetuneFile(`${nine}{oops\n`).map((p) => p.kind), ['invalid_json']);
  });
});
