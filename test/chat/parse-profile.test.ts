/** Reading LLM answers, and building profiles within a token budget. */
import assert from 'node:assert/strict';

import { ChatCatalog } from '../../ts/chat/catalog';
import { LlmClient } from '../../ts/chat/client';
import { parseAnswer } from '../../ts/chat/parse';
import { buildProfile, describeDemographics } from '../../ts/chat/profile';
import { tokenCounter } from '../../ts/chat/tokens';
import { SemrecError } from '../../ts/errors';
import { MOVIES } from './fixtures';

const catalog = new ChatCatalog(MOVIES.map((_, i) => String(i + 1)), MOVIES.map((m) => m[0]), MOVIES.map((m) => m[2]));

describe('chat/parse', () => {
  it('reads JSON inside a code fence with prose around it, and other key names', () => {
    const a = parseAnswer('Sure!\n```json\n{"items": [{"index": 2, "name": "Fargo", "reason": "dark comedy"}, {"candidate": "[5]"}]}\n```\nEnjoy.');
    assert.equal(a.format, 'json');
    assert.equal(a.entries.length, 2);
    assert.equal(a.entries[0].candidate, 2);
    assert.equal(a.entries[0].readings[0].title, 'Fargo');
    assert.equal(a.entries[0].readings[0].explanation, 'dark comedy');
    assert.equal(a.entries[1].candidate, 5);
  });

  it('reads lenient JSON (trailing commas, single quotes) and a bare list of numbers', () => {
    assert.equal(parseAnswer("{'recommendations': [{'candidate': 1,},]}").entries[0].candidate, 1);
    assert.deepEqual(parseAnswer('[3, 1, 2]').entries.map((e) => e.candidate), [3, 1, 2]);
  });

  it('reads "[n] Title — why" lines as candidate numbers and "1. Title" as the model\'s own ordinal', () => {
    const a = parseAnswer('[4] Fargo (1996) — a crime classic\n1. Star Trek: First Contact (1996): great sequel');
    assert.equal(a.format, 'text');
    assert.equal(a.entries[0].candidate, 4);
    assert.equal(a.entries[1].candidate, undefined);
    // Every split of a title with a colon is offered, longest first.
    assert.deepEqual(a.entries[1].readings.map((r) => r.title), ['Star Trek: First Contact (1996): great sequel', 'Star Trek: First Contact (1996)', 'Star Trek']);
    assert.equal(a.entries[1].readings[1].explanation, 'great sequel');
  });

  it('treats prose around a list as a message, and bare lines as items only when there is no list', () => {
    const listed = parseAnswer('Here you go:\n- Fargo\n- Babe\nHappy watching!');
    assert.equal(listed.entries.length, 2);
    assert.equal(listed.message, 'Here you go:\nHappy watching!');
    const bare = parseAnswer('Fargo\nBabe');
    assert.deepEqual(bare.entries.map((e) => [e.readings[0].title, e.listed]), [['Fargo', false], ['Babe', false]]);
  });

  it('counts JSON entries that name nothing as unparsed, and an empty answer as empty', () => {
    const a = parseAnswer('{"recommendations": [{"explanation": "?"}, null, {"title": "Babe"}]}');
    assert.equal(a.entries.length, 1);
    assert.equal(a.unparsed.length, 2);
    assert.equal(parseAnswer('   ').format, 'empty');
  });
});

describe('chat/profile', () => {
  const history = MOVIES.map((_, i) => ({ itemIdx: i, rating: (i % 5) + 1, timestamp: 880_000_000 + i * 86_400 }));

  it('says who the user is, their signals in words, the loved and disliked items, then the history newest first', () => {
    const p = buildProfile({ catalog, history, demographics: { age: 24, gender: 'M', occupation: 'technician', zip: '85711' }, datasetMeanRating: 3.5 }, { tokenBudget: 100_000 });
    assert.match(p.text, /Who: 24-year-old man, works as technician\./);
    assert.doesNotMatch(p.text, /85711/);
    assert.match(p.text, /Rated 40 items, mean 3\.0\/5, rates harshly \(dataset mean 3\.5\)/);
    assert.match(p.text, /Most watched genres: Action \(40% of items, mean 3\.1\), Drama/);
    assert.match(p.text, /Loved most: .*\(5\/5\)/);
    assert.match(p.text, /Disliked most: .*\(1\/5\)/);
    const lines = p.text.split('\n').filter((l) => /^- \d{4}-\d\d-\d\d/.test(l));
    assert.equal(lines.length, MOVIES.length);
    assert.ok(lines[0] > lines[lines.length - 1], 'newest first');
    assert.match(lines[0], /Home Alone \(1990\) \| rated 5\/5/);
  });

  it('holds the token budget, counted by the tokenizer, leaving out the oldest history first', () => {
    const counter = tokenCounter('o200k_base');
    const full = buildProfile({ catalog, history }, { counter, tokenBudget: 100_000 });
    for (const budget of [300, 500, 700]) {
      const p = buildProfile({ catalog, history }, { counter, tokenBudget: budget });
      assert.ok(p.tokens <= budget, `${p.tokens} <= ${budget}`);
      assert.equal(p.tokens, counter.count(p.text));
      assert.ok(p.historyShown < full.historyShown);
      // What is shown is the most recent part, in order.
      const shown = p.text.split('\n').filter((l) => /^- \d{4}/.test(l));
      const all = full.text.split('\n').filter((l) => /^- \d{4}/.test(l));
      assert.deepEqual(shown, all.slice(0, shown.length));
      assert.match(p.text, new RegExp(`the ${p.historyShown} most recent of ${MOVIES.length}`));
      // One more line would not have fitted.
      const next = buildProfile({ catalog, history }, { counter, tokenBudget: p.tokens + counter.count(all[shown.length]) - 1 });
      assert.ok(next.historyShown <= p.historyShown + 1);
    }
  });

  it('refuses a budget that cannot hold even the heading, naming it', () => {
    assert.throws(() => buildProfile({ catalog, history }, { tokenBudget: 2 }), (e: SemrecError) => e.code === 'ERR_OUT_OF_RANGE' && /token budget of 2/.test(e.message));
  });

  it('describes demographics it knows and lists other fields by name', () => {
    assert.equal(describeDemographics({ age: 53, gender: 'F', occupation: 'other' }), '53-year-old woman');
    assert.equal(describeDemographics({ country: 'NO' }), 'country: NO');
    assert.equal(describeDemographics({}), undefined);
  });
});

describe('chat/client configuration', () => {
  it('needs a key for OpenAI itself, and sends a placeholder to local servers without one', () => {
    const saved = process.env.SEMREC_TEST_NO_KEY;
    delete process.env.SEMREC_TEST_NO_KEY;
    assert.throws(() => new LlmClient({ endpoint: 'https://api.openai.com/v1', model: 'gpt-4o-mini', apiKeyEnv: 'SEMREC_TEST_NO_KEY' }), (e: SemrecError) => e.code === 'ERR_LLM_CONFIG' && /SEMREC_TEST_NO_KEY/.test(e.message));
    assert.doesNotThrow(() => new LlmClient({ endpoint: 'http://localhost:11434/v1', model: 'llama3.1', apiKeyEnv: 'SEMREC_TEST_NO_KEY' }));
    if (saved !== undefined) process.env.SEMREC_TEST_NO_KEY = saved;
  });

  it('refuses a malformed endpoint, a missing model name and negative retries', () => {
    assert.throws(() => new LlmClient({ endpoint: 'not a url', model: 'm' }), /is not a URL/);
    assert.throws(() => new LlmClient({ endpoint: 'ftp://host/v1', model: 'm' }), /http\(s\)/);
    assert.throws(() => new LlmClient({ endpoint: 'http://localhost/v1', model: '' }), /--llm-model/);
    assert.throws(() => new LlmClient({ endpoint: 'http://localhost/v1', model: 'm', maxRetries: -1 }), /maxRetries/);
  });
});
