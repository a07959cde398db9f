/**
 * `semrec serve`: a saved model as an HTTP service (fastify). A thin layer over the model API
 * (./serving.ts) and the durable feedback log (./feedback.ts):
 *
 *   POST /recommend            { user | history, k, exclude, excludeSeen, explain }
 *   GET  /items/:id/similar?k=
 *   POST /explain              { user, item, history? }
 *   POST /feedback             { user, item, rating?, review?, timestamp?, sentiment?, viewing?, completion?, eventId? }
 *   GET  /health  /ready  /metrics  /openapi.json  /model
 *   POST /admin/reload  /admin/compact           (SIGHUP reloads too)
 *
 * Bodies are validated by JSON schemas (./schemas.ts); every error answers { statusCode, error, code,
 * message, field? }. The service listens at once and answers /ready 503 until the model is loaded and the
 * feedback log read back. Scoring runs in the native ops' worker threads, so the event loop (and /health)
 * keeps turning while large requests are scored. close() (SIGTERM) stops accepting, lets requests in
 * flight finish, then closes the feedback log.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';

import swagger from '@fastify/swagger';
import Ajv from 'ajv';
import Fastify, { LogController, type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';

import { isSemrecError, SemrecError } from '../errors';
import type { BaseRecommender } from '../models/base';
import { loadModel } from '../models/registry';
import { semrecVersion } from '../version';
import { DEFAULT_COMPACT_EVERY, FeedbackLog, type FeedbackInput, type FeedbackOpenReport } from './feedback';
import { createMetrics, type ServiceMetrics } from './metrics';
import { compactSchema, explainSchema, feedbackSchema, healthSchema, readySchema, recommendSchema, reloadSchema, similarSchema } from './schemas';
import { DEFAULT_MAX_BATCH, ServiceError, ServingModel, type RecommendRequest, type RequestEvent } from './serving';

/** Largest request body accepted (bytes): a history of a few thousand events fits; more is a 413. */
export const DEFAULT_BODY_LIMIT = 1 << 20;
/** How long close() waits for requests in flight before cutting their connections. */
export const DEFAULT_DRAIN_TIMEOUT_MS = 10_000;
/** Feedback directory inside the model directory, unless the service is given another. */
export const FEEDBACK_DIR = 'feedback';
/** Attempts at loading a model directory that another process keeps replacing (a save between load and hash). */
const LOAD_ATTEMPTS = 3;

export interface ServiceOptions {
  /** A directory written by `semrec train` / model.save(). */
  modelDir: string;
  /** Where the feedback log lives (default `<modelDir>/feedback`). */
  feedbackDir?: string;
  /** When set, /feedback and /admin/* need it (`Authorization: Bearer <key>` or `x-api-key`). */
  apiKey?: string;
  bodyLimitBytes?: number;
  /** Known users' requests scored together at most. */
  maxBatch?: number;
  /** Events since the last snapshot that trigger a compaction of the feedback log. */
  compactEvery?: number;
  drainTimeoutMs?: number;
  /** Fastify's logger (pino) settings; false (default) logs nothing. */
  logger?: boolean | { level: string };
}

export interface ModelInfo {
  model: string;
  version: string;
  dir: string;
  loadedAt: string;
  numUsers: number;
  numItems: number;
  dataset: string;
  dynamicProfiles: boolean;
}

function modelInfo(s: ServingModel): ModelInfo {
  return {
    model: s.name,
    version: s.version,
    dir: s.dir,
    loadedAt: s.loadedAt.toISOString(),
    numUsers: s.model.numUsers,
    numItems: s.model.numItems,
    dataset: s.model.provenance.fingerprint.dataset,
    dynamicProfiles: s.dynamic,
  };
}

async function manifestHash(dir: string): Promise<string> {
  return createHash('sha256')
    .update(await fs.readFile(path.join(dir, 'model.json')))
    .digest('hex')
    .slice(0, 12);
}

/** Loads the model in `dir` with the SHA-256 prefix of the model.json it came from (its version). */
async function loadVersioned(dir: string): Promise<{ model: BaseRecommender<object>; version: string }> {
  for (let attempt = 1; ; attempt++) {
    const before = await manifestHash(dir).catch(() => undefined);
    const model = (await loadModel(dir)) as BaseRecommender<object>;
    const after = await manifestHash(dir);
    if (before === after || attempt >= LOAD_ATTEMPTS) return { model, version: after };
  }
}

/** "body/history/3/item" -> "history[3].item"; a missing property names itself. */
function fieldOf(error: { instancePath?: string; params?: Record<string, unknown> }): string | undefined {
  const parts = (error.instancePath ?? '').split('/').filter((p) => p.length > 0);
  const extra = (error.params?.missingProperty ?? error.params?.additionalProperty) as string | undefined;
  if (extra !== undefined) parts.push(extra);
  if (parts.length === 0) return undefined;
  return parts.reduce((out, p) => (/^\d+$/.test(p) ? `${out}[${p}]` : out ? `${out}.${p}` : p), '');
}

const STATUS_TEXT: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  409: 'Conflict',
  413: 'Payload Too Large',
  415: 'Unsupported Media Type',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

/** The HTTP status of a SemrecError from the model layer. */
function statusOf(error: SemrecError): number {
  if (error instanceof ServiceError) return error.statusCode;
  switch (error.code) {
    case 'ERR_UNKNOWN_ID':
    case 'ERR_UNKNOWN_USER':
      return 404;
    case 'ERR_INVALID_ARG_TYPE':
    case 'ERR_INVALID_ARG_VALUE':
    case 'ERR_OUT_OF_RANGE':
      return 400;
    case 'ERR_WRITE':
    case 'ERR_NOT_READY':
      return 503;
    default:
      return 500;
  }
}

export class SemrecService {
  readonly app: FastifyInstance;
  readonly metrics: ServiceMetrics;
  private current: ServingModel | undefined;
  private feedback: FeedbackLog | undefined;
  private feedbackReport: FeedbackOpenReport | undefined;
  private notReadyReason = 'loading the model';
  private closing = false;
  private reloading: Promise<unknown> | undefined;
  private readonly startedAt = Date.now();
  readonly feedbackDir: string;

  constructor(readonly options: ServiceOptions) {
    this.feedbackDir = options.feedbackDir ?? path.join(options.modelDir, FEEDBACK_DIR);
    this.metrics = createMetrics({
      feedbackLogEvents: () => this.feedback?.size ?? 0,
      feedbackNotApplied: () => this.current?.notApplied ?? 0,
    });
    this.app = Fastify({
      logger: options.logger ?? false,
      // Requests are measured in /metrics; logging each one would cost more than serving it.
      logController: new LogController({ disableRequestLogging: true }),
      bodyLimit: options.bodyLimitBytes ?? DEFAULT_BODY_LIMIT,
      // Keep-alive connections that sit idle are closed by close(); requests in flight finish.
      forceCloseConnections: 'idle',
      return503OnClosing: true,
    });
    this.configureValidation();
    this.configureErrors();
    this.configureMetrics();
  }

  /** Bodies: strict (no coercion, no unknown fields, defaults filled in); query strings: coerced from text. */
  private configureValidation(): void {
    const body = new Ajv({ coerceTypes: false, useDefaults: true, removeAdditional: false, allErrors: false, strict: false });
    const text = new Ajv({ coerceTypes: true, useDefaults: true, removeAdditional: false, allErrors: false, strict: false });
    this.app.setValidatorCompiler(({ schema, httpPart }) => (httpPart === 'body' ? body : text).compile(schema));
  }

  private configureErrors(): void {
    this.app.setErrorHandler((error: FastifyError & { validation?: { instancePath?: string; params?: Record<string, unknown>; message?: string }[] }, request, reply) => {
      let status: number;
      let code: string;
      let message: string;
      let field: string | undefined;
      if (error.validation && error.validation.length > 0) {
        const first = error.validation[0];
        field = fieldOf(first);
        status = 400;
        code = 'ERR_VALIDATION';
        message = `${error.validationContext ?? 'body'}${field ? `.${field}` : ''} ${first.message ?? 'is invalid'}`;
        if (first.params?.additionalProperty) message = `${error.validationContext ?? 'body'}.${field}: unknown field`;
        if (error.validation.some((e) => (e as { keyword?: string }).keyword === 'anyOf')) {
          field = undefined;
          message = 'body must have "user" (a raw user id) or "history" (a list of events), or both';
        }
      } else if (isSemrecError(error as unknown)) {
        const semrec = error as unknown as SemrecError;
        status = statusOf(semrec);
        code = semrec.code;
        message = semrec.message;
        if (semrec instanceof ServiceError) field = semrec.field;
      } else if (error.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
        status = 413;
        code = 'ERR_BODY_TOO_LARGE';
        message = `the request body is larger than ${this.app.initialConfig.bodyLimit} bytes`;
      } else if (error.code === 'FST_ERR_CTP_INVALID_JSON_BODY' || error instanceof SyntaxError) {
        status = 400;
        code = 'ERR_INVALID_JSON';
        message = `the request body is not valid JSON: ${error.message}`;
      } else if (error.code === 'FST_ERR_CTP_EMPTY_JSON_BODY') {
        status = 400;
        code = 'ERR_INVALID_JSON';
        message = 'the request body is empty; send a JSON object';
      } else if (typeof error.statusCode === 'number' && error.statusCode >= 400 && error.statusCode < 500) {
        status = error.statusCode;
        code = error.code ?? 'ERR_REQUEST';
        message = error.message;
      } else {
        status = 500;
        code = 'ERR_INTERNAL';
        message = `internal error: ${error.message}`;
        request.log.error({ err: error }, 'request failed');
      }
      void reply.code(status).send({ statusCode: status, error: STATUS_TEXT[status] ?? 'Error', code, message, ...(field ? { field } : {}) });
    });
    this.app.setNotFoundHandler((request, reply) => {
      void reply.code(404).send({ statusCode: 404, error: 'Not Found', code: 'ERR_NO_ROUTE', message: `no route ${request.method} ${request.url}` });
    });
  }

  private configureMetrics(): void {
    this.app.addHook('onSend', async (request, reply, payload) => {
      // While shutting down, answers close their connection: a keep-alive client would otherwise hold it open.
      if (this.closing) void reply.header('connection', 'close');
      if (reply.statusCode >= 400 && typeof payload === 'string') {
        let code = 'unknown';
        try {
          code = (JSON.parse(payload) as { code?: string }).code ?? code;
        } catch {
          // not JSON: keep 'unknown'
        }
        this.metrics.requestErrors.inc({ route: request.routeOptions.url ?? 'unmatched', status: String(reply.statusCode), code });
      }
      return payload;
    });
    this.app.addHook('onResponse', async (request, reply) => {
      this.metrics.requestDuration.observe(
        { route: request.routeOptions.url ?? 'unmatched', method: request.method, status: String(reply.statusCode) },
        reply.elapsedTime / 1000,
      );
    });
  }

  /** 401 without a key, 403 with a wrong one (when the service has a key); checked before the body is read. */
  private authorize = async (request: FastifyRequest): Promise<void> => {
    const key = this.options.apiKey;
    if (key === undefined) return;
    const header = request.headers.authorization;
    const given = header?.startsWith('Bearer ') ? header.slice(7) : (request.headers['x-api-key'] as string | undefined);
    if (given === undefined || given.length === 0) {
      throw new ServiceError('this endpoint needs the API key (Authorization: Bearer <key>, or x-api-key)', 'ERR_UNAUTHORIZED', 401);
    }
    const a = createHash('sha256').update(given).digest();
    const b = createHash('sha256').update(key).digest();
    if (!timingSafeEqual(a, b)) throw new ServiceError('the API key is not valid', 'ERR_FORBIDDEN', 403);
  };

  private serving(): ServingModel {
    if (!this.current || this.closing) {
      throw new ServiceError(`the service is not ready: ${this.closing ? 'shutting down' : this.notReadyReason}`, 'ERR_NOT_READY', 503);
    }
    return this.current;
  }

  private routesRegistered = false;

  private async registerRoutes(): Promise<void> {
    if (this.routesRegistered) return;
    this.routesRegistered = true;
    const app = this.app;
    await app.register(swagger, {
      openapi: {
        openapi: '3.0.3',
        info: { title: 'semrec serve', version: semrecVersion().version, description: 'A saved semrec model as an HTTP service' },
        components: { securitySchemes: { apiKey: { type: 'http', scheme: 'bearer' } } },
      },
    });
    app.post('/recommend', { schema: recommendSchema }, async (request) => this.serving().recommend(request.body as RecommendRequest));
    app.get('/items/:id/similar', { schema: similarSchema }, async (request) => {
      const { id } = request.params as { id: string };
      const { k } = request.query as { k: number };
      return this.serving().similar(id, k);
    });
    app.post('/explain', { schema: explainSchema }, async (request) => {
      const body = request.body as { user: string; item: string; history?: RequestEvent[] };
      return this.serving().explain(body.user, body.item, body.history);
    });
    app.post('/feedback', { schema: { ...feedbackSchema, security: [{ apiKey: [] }] }, onRequest: this.authorize }, async (request, reply) => this.recordFeedback(request.body as FeedbackInput, reply));
    app.get('/health', { schema: healthSchema }, async () => ({ status: 'ok', uptimeSeconds: (Date.now() - this.startedAt) / 1000 }));
    app.get('/ready', { schema: readySchema }, async (_request, reply) => {
      const reason = this.closing ? 'shutting down' : this.feedback?.error ? `the feedback log cannot take events: ${this.feedback.error.message}` : this.current ? undefined : this.notReadyReason;
      if (reason !== undefined) return reply.code(503).send({ ready: false, reason });
      return { ready: true, model: modelInfo(this.current!), feedback: this.feedbackStats() };
    });
    app.get('/model', { schema: { summary: 'The model being served and the feedback log' } }, async () => ({
      ...modelInfo(this.serving()),
      params: this.serving().model.params,
      provenance: this.serving().model.provenance,
      feedback: this.feedbackStats(),
    }));
    app.get('/metrics', { schema: { summary: 'Prometheus metrics' } }, async (_request, reply) => {
      void reply.header('content-type', this.metrics.registry.contentType);
      return this.metrics.registry.metrics();
    });
    app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
    app.post('/admin/reload', { schema: { ...reloadSchema, security: [{ apiKey: [] }] }, onRequest: this.authorize }, async () => this.reload());
    app.post('/admin/compact', { schema: { ...compactSchema, security: [{ apiKey: [] }] }, onRequest: this.authorize }, async () => {
      const log = this.feedbackLog();
      await log.compact();
      return { lastSeq: log.lastSeq, events: log.size };
    });
  }

  private feedbackLog(): FeedbackLog {
    if (!this.feedback || this.closing) throw new ServiceError(`the service is not ready: ${this.closing ? 'shutting down' : this.notReadyReason}`, 'ERR_NOT_READY', 503);
    return this.feedback;
  }

  private feedbackStats() {
    const log = this.feedback;
    return {
      dir: this.feedbackDir,
      events: log?.size ?? 0,
      users: log?.users ?? 0,
      lastSeq: log?.lastSeq ?? 0,
      sinceSnapshot: log?.sinceSnapshot ?? 0,
      notApplied: this.current?.notApplied ?? 0,
      ...(this.current?.lastNotApplied ? { lastNotApplied: this.current.lastNotApplied } : {}),
      ...(this.feedbackReport ? { readBackAtStart: this.feedbackReport } : {}),
    };
  }

  private async recordFeedback(input: FeedbackInput, reply: FastifyReply) {
    const serving = this.serving();
    const log = this.feedbackLog();
    serving.checkFeedback(input);
    const { event, duplicate } = await log.record(input);
    this.metrics.feedbackEvents.inc({ result: duplicate ? 'duplicate' : 'recorded' });
    let applied: 'live' | 'at-request' | 'not-applied' = 'at-request';
    let reason: string | undefined;
    // The swap of a reload may have happened meanwhile: apply to whichever model serves now.
    const now = this.current ?? serving;
    if (now.dynamic && now.model.catalog.userIds.index(event.user) !== undefined) {
      const before = now.notApplied;
      await now.catchUp();
      applied = now.notApplied > before ? 'not-applied' : 'live';
      if (applied === 'not-applied') reason = now.lastNotApplied;
    }
    void reply.code(duplicate ? 200 : 201);
    return { seq: event.seq, user: event.user, item: event.item, duplicate, applied, ...(reason ? { reason } : {}) };
  }

  /** A model loaded from the directory and made ready: checked (one recommendation and one similar list) and caught up with the feedback. */
  private async prepare(): Promise<ServingModel> {
    const { model, version } = await loadVersioned(this.options.modelDir);
    if (model.numUsers > 0) await model.recommend([0], 1);
    if (model.numItems > 1) await model.similarItems(0, 1);
    const serving = new ServingModel(model, path.resolve(this.options.modelDir), version, new Date(), this.feedback!, { maxBatch: this.options.maxBatch ?? DEFAULT_MAX_BATCH });
    serving.batcher.onBatch = (size) => this.metrics.batchSize.observe(size);
    await serving.catchUp();
    return serving;
  }

  private publish(serving: ServingModel): void {
    this.metrics.modelInfo.reset();
    this.metrics.modelInfo.set({ model: serving.name, version: serving.version, dataset: serving.model.provenance.fingerprint.dataset }, 1);
    this.metrics.modelLoadedAt.set(serving.loadedAt.getTime() / 1000);
    this.current = serving;
  }

  /** Starts listening, then loads the model and reads the feedback log back (/ready says when). */
  async start(port: number, host: string): Promise<string> {
    await this.registerRoutes();
    let address: string;
    try {
      address = await this.app.listen({ port, host });
    } catch (cause) {
      const code = (cause as NodeJS.ErrnoException).code;
      const why =
        code === 'EADDRINUSE' ? 'the address is in use (another process listens on that port; choose another --port, or 0 for any free one)'
        : code === 'EACCES' ? 'permission denied (ports below 1024 need privileges)'
        : code === 'EADDRNOTAVAIL' ? 'this machine has no such address'
        : (cause as Error).message;
      throw new SemrecError(`serve: cannot listen on ${host}:${port}: ${why}`, 'ERR_LISTEN', { cause });
    }
    await this.load();
    return address;
  }

  /** Loads the model and the feedback log without listening (in-process use: app.inject, tests). */
  async load(): Promise<void> {
    await this.registerRoutes();
    this.notReadyReason = 'reading the feedback log back';
    const { log, report } = await FeedbackLog.open(this.feedbackDir, { compactEvery: this.options.compactEvery ?? DEFAULT_COMPACT_EVERY });
    log.onSync = (seconds, records) => {
      this.metrics.walSync.observe(seconds);
      this.metrics.walGroupEvents.observe(records);
    };
    log.onCompaction = (outcome) => {
      this.metrics.compactions.inc({ result: 'error' in outcome ? 'failed' : 'ok' });
      if ('error' in outcome) this.app.log.error({ err: outcome.error }, 'feedback log compaction failed');
    };
    this.feedback = log;
    this.feedbackReport = report;
    this.notReadyReason = 'loading the model';
    this.publish(await this.prepare());
    await this.app.ready();
  }

  /** Loads the model directory again, checks it and swaps it in; on failure the old model keeps serving. */
  async reload(): Promise<{ model: ModelInfo; previous: ModelInfo; replayedEvents: number }> {
    if (this.reloading) throw new ServiceError('a reload is already running', 'ERR_RELOAD_BUSY', 409);
    const previous = this.serving();
    const run = (async () => {
      try {
        // A save that replaced the whole model directory took the feedback directory with it: write it anew.
        if (await this.feedback!.ensureLocation()) this.app.log.warn({ dir: this.feedbackDir }, 'the feedback directory was replaced; every acknowledged event was written to it again');
        const next = await this.prepare();
        // Events acknowledged while it loaded: apply them before the swap, which happens in this same turn.
        await next.catchUp();
        this.publish(next);
        this.metrics.reloads.inc({ result: 'ok' });
        this.app.log.info({ model: next.name, version: next.version }, 'model reloaded');
        return { model: modelInfo(next), previous: modelInfo(previous), replayedEvents: next.dynamic ? this.feedback!.size : 0 };
      } catch (error) {
        this.metrics.reloads.inc({ result: 'failed' });
        this.app.log.error({ err: error }, 'model reload failed; the previous model keeps serving');
        const reason = isSemrecError(error) ? `${error.message} [${error.code}]` : (error as Error).message;
        throw new ServiceError(`reload failed, the previous model (${previous.version}) keeps serving: ${reason}`, 'ERR_RELOAD_FAILED', 500);
      }
    })();
    this.reloading = run;
    try {
      return await run;
    } finally {
      this.reloading = undefined;
    }
  }

  get ready(): boolean {
    return this.current !== undefined && !this.closing;
  }

  get model(): ServingModel | undefined {
    return this.current;
  }

  get feedbackEvents(): number {
    return this.feedback?.size ?? 0;
  }

  /**
   * Graceful shutdown: /ready turns 503, the listener closes, requests in flight finish (cut after
   * drainTimeoutMs), then the feedback log drains its appends, compacts and closes.
   */
  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    const drain = this.options.drainTimeoutMs ?? DEFAULT_DRAIN_TIMEOUT_MS;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      this.app.close(),
      new Promise<void>((resolve) => {
        timer = setTimeout(() => {
          this.app.server.closeAllConnections();
          resolve();
        }, drain);
        timer.unref();
      }),
    ]);
    clearTimeout(timer);
    if (this.reloading) await this.reloading.catch(() => undefined);
    await this.feedback?.close({ compact: true });
  }
}

/** A service for `options` (not yet listening: call start(port, host), or load() for app.inject). */
export function createService(options: ServiceOptions): SemrecService {
  if (typeof options.modelDir !== 'string' || options.modelDir.length === 0) {
    throw new SemrecError('serve: modelDir is required', 'ERR_INVALID_ARG_VALUE');
  }
  return new SemrecService(options);
}
