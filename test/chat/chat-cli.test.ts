/**
 * `semrec chat rerank / eval / export-finetune` end to end against the scripted local endpoint: every
 * re-ranking case of cases.ts through the command line (JSON output), the evaluation report, the
 * fine-tuning file, and refusals that name the option at fault.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

import type { ChatEngine } from '../../ts/chat/engine';
import { checkFinetuneFile } from '../../ts/chat/finetune';
import { runCli, writeMl100kLike } from '../helpers/cli';
import { OpenAiTestServer, promptCandidates, reverseRanker } from '../helpers/openai-server';
import { useTempDirs } from '../helpers/tempdir';
import { RERANK_CASES, type CaseResult } from './cases';
import { FAST_BPR_ARGS, fixtureEngine } from './fixtures';

const K = 5;

describe('semrec chat (command line)', function () {
  this.timeout(120_000);
  const tempDir = useTempDirs('semrec-chat-cli-');
  let data: string;
  let engine: ChatEngine;
  let server: OpenAiTestServer;
  let endpoint: string;

  before(async () => {
    data = tempDir();
    ({ engine } = await fixtureEngine(data));
  });
  beforeEach(async () => {
    server = new OpenAiTestServer();
    endpoint = await server.start();
  });
  afterEach(() => server.stop());

  const base = () => ['--format', 'ml-100k', '--path', data, ...FAST_BPR_ARGS];

  for (const c of RERANK_CASES) {
    it(`rerank --json: ${c.name}`, async () => {
      const history = engine.history(engine.userIndex('2')).map((h) => engine.catalog.title(h.itemIdx));
      let scripted = false;
      server.respond = (req) => {
        if (scripted) return { content: '' };
        scripted = true;
        const [first, ...rest] = c.replies(req, { history });
        server.script.push(...rest);
        return first;
      };
      const args = ['chat', 'rerank', ...base(), '--user', '2', '--k', String(K), '--candidates', '10', '--endpoint', endpoint, '--llm-model', 'test-model', '--json'];
      args.push('--max-retries', String(c.client?.maxRetries ?? 2), '--timeout-ms', String(c.client?.timeoutMs ?? 10_000));
      if (!c.client?.stream) args.push('--no-stream');
      const { code, stdout, stderr } = await runCli(args);
      assert.equal(code, 0, stderr);
      const result = JSON.parse(stdout) as CaseResult;
      assert.equal(result.items.length, K);
      for (const item of result.items) assert.deepEqual(Object.keys(item).slice(0, 3), ['id', 'title', 'explanation']);
      const candidates = promptCandidates(server.requests[0]).map((x) => x.title);
      c.check(result, { candidates, history, k: K, requests: server.requests });
    });
  }

  it('rerank without --endpoint prints the base ranking marked fallback', async () => {
    const { code, stdout } = await runCli(['chat', 'rerank', ...base(), '--user', '2', '--k', '3', '--json']);
    assert.equal(code, 0);
    const result = JSON.parse(stdout);
    assert.equal(result.fallback, true);
    assert.equal(result.items.length, 3);
    assert.equal(result.usage, null);
  });

  it('rerank takes candidates from a saved model (--model-dir) with its dataset, and refuses another dataset', async () => {
    const dir = path.join(tempDir(), 'model');
    await engine.model.save(dir);
    const { code, stdout, stderr } = await runCli(['chat', 'rerank', '--format', 'ml-100k', '--path', data, '--model-dir', dir, '--user', '2', '--k', '3', '--json']);
    assert.equal(code, 0, stderr);
    const result = JSON.parse(stdout);
    assert.equal(result.model, 'bpr');
    const top = await engine.rerank(engine.userIndex('2'), { k: 3 });
    assert.deepEqual(result.items.map((i: { id: string }) => i.id), top.items.map((i) => i.id), 'the saved model ranks as the one in memory');
    const other = tempDir();
    writeMl100kLike(other);
    const r = await runCli(['chat', 'rerank', '--format', 'ml-100k', '--path', other, '--model-dir', dir, '--user', '2']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /--model-dir .* holds a model of 30 users x 40 items; the dataset has 40 x 30/);
  });

  it('refuses an unknown user, an endpoint without a model name and a bad URL, naming them', async () => {
    let r = await runCli(['chat', 'rerank', ...base(), '--user', 'nobody', '--json']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /user 'nobody' is not in the dataset \(30 users\) \[ERR_UNKNOWN_USER\]/);
    r = await runCli(['chat', 'rerank', ...base(), '--user', '2', '--endpoint', endpoint]);
    assert.match(r.stderr, /--endpoint needs --llm-model/);
    r = await runCli(['chat', 'rerank', ...base(), '--user', '2', '--endpoint', 'localhost:1234', '--llm-model', 'x']);
    assert.match(r.stderr, /must be an http\(s\) URL|is not a URL/);
  });

  it('eval compares the base and re-ranked lists with intervals, guard counts, latency and tokens', async () => {
    server.respond = reverseRanker;
    const out = path.join(tempDir(), 'eval.json');
    const { code, stdout, stderr } = await runCli(['chat', 'eval', ...base(), '--protocol', 'leave-one-out', '--candidates', '10', '--users', '12', '--ks', '5,10', '--endpoint', endpoint, '--llm-model', 'test-model', '--no-stream', '--json', '--out', out]);
    assert.equal(code, 0, stderr);
    const report = JSON.parse(stdout);
    assert.equal(report.protocol.users, 12);
    assert.equal(server.requests.length, 12, 'one LLM call per user');
    assert.equal(report.fallbacks.count, 0);
    assert.deepEqual(report.guard, { outOfCandidate: 0, duplicates: 0, inHistory: 0, unparsed: 0 });
    for (const key of ['precision@5', 'recall@5', 'ndcg@5', 'precision@10', 'recall@10', 'ndcg@10']) {
      assert.ok(Number.isFinite(report.base.metrics[key]) && Number.isFinite(report.reranked.metrics[key]), key);
      assert.equal(report.base.ci95[key].length, 2);
    }
    // At K = n both lists hold the same 10 candidates: recall cannot differ, only the order does.
    assert.equal(report.base.metrics['recall@10'], report.reranked.metrics['recall@10']);
    assert.ok(report.latencyMs.median > 0 && report.tokens.total > 0);
    assert.deepEqual(JSON.parse(fs.readFileSync(out, 'utf8')).protocol, report.protocol);
  });

  it('eval without an endpoint reports the re-ranked list as the base one, every user a fallback', async () => {
    const { code, stdout } = await runCli(['chat', 'eval', ...base(), '--candidates', '10', '--users', '5']);
    assert.equal(code, 0);
    assert.match(stdout, /no LLM endpoint/);
    assert.match(stdout, /Fallbacks: 5 of 5/);
    assert.match(stdout, /\| ndcg@10 \| /);
  });

  it('export-finetune writes OpenAI chat fine-tuning lines with the held-out item as the answer', async () => {
    const file = path.join(tempDir(), 'ft.jsonl');
    const { code, stdout, stderr } = await runCli(['chat', 'export-finetune', ...base(), '--users', '12', '--candidates', '10', '--out', file, '--json']);
    assert.equal(code, 0, stderr);
    const report = JSON.parse(stdout);
    assert.equal(report.examples, 12);
    const text = fs.readFileSync(file, 'utf8');
    assert.deepEqual(checkFinetuneFile(text), []);
    for (const line of text.trim().split('\n')) {
      const { messages } = JSON.parse(line);
      assert.deepEqual(messages.map((m: { role: string }) => m.role), ['system', 'user', 'assistant']);
      const answer = JSON.parse(messages[2].content);
      assert.equal(answer.recommendations.length, 1);
      const listed = new Map([...messages[1].content.matchAll(/^\[(\d+)\] (.*?)(?: \| .*)?$/gm)].map((m) => [Number(m[1]), m[2]]));
      assert.equal(listed.get(answer.recommendations[0].candidate), answer.recommendations[0].title, 'the answer names its candidate');
    }
  });

  it('export-finetune refuses fewer users than OpenAI accepts and writes nothing', async () => {
    const file = path.join(tempDir(), 'few.jsonl');
    const { code, stderr } = await runCli(['chat', 'export-finetune', ...base(), '--users', '3', '--out', file]);
    assert.equal(code, 1);
    assert.match(stderr, /at least 10 \[ERR_FINETUNE_FORMAT\]|at least 10.*nothing was written/);
    assert.equal(fs.existsSync(file), false);
  });

  it('the interactive chat reads requests line by line and saves a resumable session', function () {
    this.timeout(180_000);
    const session = path.join(tempDir(), 'session.jsonl');
    const cli = path.resolve(__dirname, '..', '..', 'ts', 'cli', 'main.ts');
    const run = (input: string) =>
      spawnSync(process.execPath, ['--require', require.resolve('tsx/cjs'), cli, 'chat', ...base(), '--user', '2', '--k', '3', '--session', session], { input, encoding: 'utf8', timeout: 120_000 });
    const first = run('no horror please\nsomething from the 90s\n/quit\n');
    assert.equal(first.status, 0, first.stderr);
    assert.match(first.stdout, /understood: no Horror/);
    assert.match(first.stdout, /understood: released 1990-1999/);
    const second = run('/state\n/quit\n');
    assert.equal(second.status, 0, second.stderr);
    assert.match(second.stdout, /Resumed .* after 2 turns; constraints: no Horror; released 1990-1999/);
    assert.equal(fs.readFileSync(session, 'utf8').trim().split('\n').length, 3);
  });
});
