/**
 * A local HTTP server speaking the OpenAI chat-completions protocol (POST <base>/chat/completions, plain
 * JSON or streamed server-sent events), scripted per request: each request takes the next scripted reply,
 * or asks `respond` when the script is empty. It records every request body. Used by the Chat-REC tests
 * and, through `npx tsx test/helpers/openai-server.ts`, to try `semrec chat` by hand without an LLM.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export type ScriptedReply =
  /** A completion whose message content is `content` (streamed as SSE when the request asks to stream). */
  | { content: string; usage?: boolean; delayMs?: number }
  /** An HTTP error status with an OpenAI-style error body; `retryAfterMs` sets the retry-after-ms header. */
  | { status: number; retryAfterMs?: number }
  /** Accept the request and never answer (until the server stops). */
  | { hang: true };

export interface RecordedRequest {
  path: string;
  body: {
    model: string;
    messages: { role: string; content: string }[];
    stream?: boolean;
    temperature?: number;
    max_tokens?: number;
    response_format?: unknown;
  };
  authorization?: string;
}

/** Splits text into stream chunks of a few characters, as servers send tokens. */
function pieces(text: string, size = 7): string[] {
  const out: string[] = [];
  for (let i = 0; i < text.length; i += size) out.push(text.slice(i, i + size));
  return out;
}

export class OpenAiTestServer {
  readonly script: ScriptedReply[] = [];
  readonly requests: RecordedRequest[] = [];
  /** Answers requests once the script is empty (default: an empty answer). */
  respond: (request: RecordedRequest) => ScriptedReply = () => ({ content: '' });
  private server = http.createServer((req, res) => this.handle(req, res));
  private hanging: http.ServerResponse[] = [];

  async start(port = 0): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(port, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/v1`;
  }

  stop(): Promise<void> {
    for (const res of this.hanging) res.destroy();
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.method !== 'POST' || !(req.url ?? '').endsWith('/chat/completions')) {
        res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { message: 'not found', type: 'invalid_request_error' } }));
        return;
      }
      const request: RecordedRequest = { path: req.url ?? '', body: JSON.parse(Buffer.concat(chunks).toString('utf8')), authorization: req.headers.authorization };
      this.requests.push(request);
      const reply = this.script.shift() ?? this.respond(request);
      this.reply(request, reply, res);
    });
  }

  private reply(request: RecordedRequest, reply: ScriptedReply, res: http.ServerResponse): void {
    if ('hang' in reply) {
      this.hanging.push(res);
      return;
    }
    if ('status' in reply) {
      res.writeHead(reply.status, {
        'content-type': 'application/json',
        ...(reply.retryAfterMs !== undefined ? { 'retry-after-ms': String(reply.retryAfterMs) } : {}),
      });
      res.end(JSON.stringify({ error: { message: `scripted status ${reply.status}`, type: reply.status === 429 ? 'rate_limit_exceeded' : 'server_error' } }));
      return;
    }
    if (reply.delayMs !== undefined && reply.delayMs > 0) {
      const { delayMs: _delay, ...now } = reply;
      this.hanging.push(res);
      setTimeout(() => this.reply(request, now, res), reply.delayMs);
      return;
    }
    const id = `chatcmpl-test-${this.requests.length}`;
    const created = Math.floor(Date.now() / 1000);
    const model = request.body.model;
    const promptTokens = request.body.messages.reduce((s, m) => s + Math.ceil(m.content.length / 4), 0);
    const completionTokens = Math.ceil(reply.content.length / 4);
    const usage = reply.usage === false ? undefined : { prompt_tokens: promptTokens, completion_tokens: completionTokens, total_tokens: promptTokens + completionTokens };
    if (request.body.stream) {
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
      const send = (payload: object) => res.write(`data: ${JSON.stringify(payload)}\n\n`);
      send({ id, object: 'chat.completion.chunk', created, model, choices: [{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }] });
      for (const piece of pieces(reply.content)) {
        send({ id, object: 'chat.completion.chunk', created, model, choices: [{ index: 0, delta: { content: piece }, finish_reason: null }] });
      }
      send({ id, object: 'chat.completion.chunk', created, model, choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] });
      if (usage) send({ id, object: 'chat.completion.chunk', created, model, choices: [], usage });
      res.end('data: [DONE]\n\n');
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(
      JSON.stringify({
        id,
        object: 'chat.completion',
        created,
        model,
        choices: [{ index: 0, message: { role: 'assistant', content: reply.content }, finish_reason: 'stop' }],
        ...(usage ? { usage } : {}),
      }),
    );
  }
}

/** The numbered candidates of a semrec prompt: [{ n, title }] from lines "[n] Title | genres". */
export function promptCandidates(request: RecordedRequest): { n: number; title: string }[] {
  const last = request.body.messages[request.body.messages.length - 1].content;
  const out: { n: number; title: string }[] = [];
  for (const line of last.split('\n')) {
    const m = /^\[(\d+)\] (.*?)(?: \| .*)?$/.exec(line);
    if (m) out.push({ n: Number(m[1]), title: m[2] });
  }
  return out;
}

/**
 * A stand-in LLM that follows the prompt's rules: it answers in the requested JSON with the candidates
 * in reverse order (a ranking visibly different from the base one) and a sentence each.
 */
export function reverseRanker(request: RecordedRequest): ScriptedReply {
  const candidates = promptCandidates(request);
  const k = Number(/Choose the (\d+) candidates/.exec(request.body.messages[request.body.messages.length - 1].content)?.[1] ?? 10);
  const picks = [...candidates].reverse().slice(0, k);
  return {
    content: JSON.stringify({
      message: `Here are ${picks.length} picks for you.`,
      recommendations: picks.map((c) => ({ candidate: c.n, title: c.title, explanation: `Picked ${c.title} for its fit with your history.` })),
    }),
  };
}

if (require.main === module) {
  // A scripted endpoint to try `semrec chat` by hand: npx tsx test/helpers/openai-server.ts [port]
  // (SEMREC_TEST_LLM_DELAY_MS delays every answer, to try Ctrl-C during a turn).
  const server = new OpenAiTestServer();
  const delayMs = Number(process.env.SEMREC_TEST_LLM_DELAY_MS ?? 0);
  server.respond = (request) => ({ ...(reverseRanker(request) as { content: string }), delayMs });
  server.start(Number(process.argv[2] ?? 0)).then((url) => process.stdout.write(`OpenAI-compatible test endpoint at ${url}\n`));
}
