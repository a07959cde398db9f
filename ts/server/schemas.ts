/**
 * JSON schemas of every request and answer: fastify validates requests against them (a bad field is a
 * 400 naming it), serialises answers by them, and @fastify/swagger publishes them as the OpenAPI document.
 * Bodies are strict: no type coercion and no unknown fields.
 */
import { MAX_K } from './serving';

/** Longest raw user or item id accepted. */
export const MAX_ID_LENGTH = 256;
/** Longest review text accepted with a feedback event (characters). */
export const MAX_REVIEW_LENGTH = 20_000;
/** Most events in a request's history and most ids in `exclude`. */
export const MAX_LIST = 10_000;

const id = { type: 'string', minLength: 1, maxLength: MAX_ID_LENGTH } as const;
const unit = { type: 'number', minimum: 0, maximum: 1 } as const;
const k = { type: 'integer', minimum: 1, maximum: MAX_K, default: 10, description: `how many items (1 to ${MAX_K}; at most the catalog)` } as const;

const historyEvent = {
  type: 'object',
  additionalProperties: false,
  required: ['item'],
  properties: {
    item: { ...id, description: 'raw item id' },
    rating: { type: 'number', description: "explicit rating on the dataset's scale" },
    timestamp: { type: 'number', description: 'seconds since the epoch' },
    sentiment: { ...unit, description: 'review sentiment in [0, 1]' },
    viewing: { ...unit, description: 'viewing signal in [0, 1]' },
    completion: { ...unit, description: 'share of the item consumed, in [0, 1]' },
  },
} as const;

const errorAnswer = {
  type: 'object',
  properties: {
    statusCode: { type: 'integer' },
    error: { type: 'string' },
    code: { type: 'string' },
    message: { type: 'string' },
    field: { type: 'string' },
  },
} as const;

const catalogItem = {
  id: { type: 'string' },
  title: { type: 'string' },
  genres: { type: 'array', items: { type: 'string' } },
  fields: { type: 'object', additionalProperties: { type: 'number' } },
} as const;

const resultItem = {
  type: 'object',
  properties: {
    rank: { type: 'integer' },
    ...catalogItem,
    score: { type: 'number' },
    because: {
      type: 'array',
      items: {
        type: 'object',
        properties: { id: { type: 'string' }, title: { type: 'string' }, similarity: { type: 'number' }, share: { type: 'number' } },
      },
    },
    explanation: { type: 'string' },
  },
} as const;

const errors = { 400: errorAnswer, 401: errorAnswer, 403: errorAnswer, 404: errorAnswer, 413: errorAnswer, 503: errorAnswer } as const;

export const recommendSchema = {
  summary: 'Top-k items for a user, or for a new user from a history',
  description:
    'A known user by raw id (with their acknowledged feedback), or a history of items for a user the model never saw ' +
    '(the cold-start path; an unknown user with a history is served from it). Answers raw item ids, titles and scores.',
  body: {
    type: 'object',
    additionalProperties: false,
    anyOf: [{ required: ['user'] }, { required: ['history'] }],
    properties: {
      user: { ...id, description: 'raw user id' },
      history: { type: 'array', maxItems: MAX_LIST, items: historyEvent, description: 'events of a new user (or more events of this user)' },
      k,
      exclude: { type: 'array', maxItems: MAX_LIST, items: id, description: 'raw item ids never to recommend' },
      excludeSeen: { type: 'boolean', default: true, description: "leave out the user's own items" },
      explain: { type: 'boolean', default: false, description: 'say why each item is recommended' },
    },
  },
  response: {
    200: {
      type: 'object',
      properties: {
        model: { type: 'string' },
        user: { type: 'string' },
        k: { type: 'integer' },
        servedFrom: { type: 'string', enum: ['model', 'model+feedback', 'feedback', 'history'] },
        feedbackEvents: { type: 'integer' },
        items: { type: 'array', items: resultItem },
      },
    },
    ...errors,
  },
} as const;

export const similarSchema = {
  summary: 'The items most similar to an item',
  params: { type: 'object', required: ['id'], properties: { id: { ...id, description: 'raw item id' } } },
  querystring: { type: 'object', additionalProperties: false, properties: { k } },
  response: {
    200: {
      type: 'object',
      properties: { model: { type: 'string' }, item: { type: 'object', properties: catalogItem }, k: { type: 'integer' }, items: { type: 'array', items: resultItem } },
    },
    ...errors,
  },
} as const;

export const explainSchema = {
  summary: 'Why an item is (or would be) recommended to a user',
  body: {
    type: 'object',
    additionalProperties: false,
    required: ['user', 'item'],
    properties: {
      user: { ...id, description: 'raw user id' },
      item: { ...id, description: 'raw item id' },
      history: { type: 'array', maxItems: MAX_LIST, items: historyEvent, description: 'events of a user the model never saw' },
    },
  },
  response: {
    200: {
      type: 'object',
      properties: {
        model: { type: 'string' },
        user: { type: 'string' },
        item: { type: 'object', properties: { ...catalogItem, score: { type: 'number' } } },
        method: { type: 'string' },
        because: resultItem.properties.because,
      },
    },
    ...errors,
  },
} as const;

export const feedbackSchema = {
  summary: "Record a user's interaction with an item (durable before the answer)",
  description:
    'Appended and fsynced to the write-ahead log before the 201; a retry with the same eventId answers 200 with the first ' +
    "event's seq and records nothing. Needs the API key when the service has one.",
  body: {
    type: 'object',
    additionalProperties: false,
    required: ['user', 'item'],
    properties: {
      user: { ...id, description: 'raw user id (a new one is fine)' },
      item: { ...id, description: 'raw item id' },
      rating: { type: 'number', description: "explicit rating on the dataset's scale" },
      review: { type: 'string', maxLength: MAX_REVIEW_LENGTH, description: 'review text (kept with the event)' },
      timestamp: { type: 'number', description: 'seconds since the epoch (default: when the service received it)' },
      sentiment: historyEvent.properties.sentiment,
      viewing: historyEvent.properties.viewing,
      completion: historyEvent.properties.completion,
      eventId: { type: 'string', minLength: 1, maxLength: 128, description: 'client id of the event: retries are recorded once' },
    },
  },
  response: {
    '2xx': {
      type: 'object',
      properties: {
        seq: { type: 'integer' },
        user: { type: 'string' },
        item: { type: 'string' },
        duplicate: { type: 'boolean' },
        applied: { type: 'string', enum: ['live', 'at-request', 'not-applied'] },
        reason: { type: 'string' },
      },
    },
    ...errors,
  },
} as const;

const modelInfo = {
  type: 'object',
  properties: {
    model: { type: 'string' },
    version: { type: 'string' },
    dir: { type: 'string' },
    loadedAt: { type: 'string' },
    numUsers: { type: 'integer' },
    numItems: { type: 'integer' },
    dataset: { type: 'string' },
    dynamicProfiles: { type: 'boolean' },
  },
} as const;

export const healthSchema = {
  summary: 'Liveness: the process answers',
  response: { 200: { type: 'object', properties: { status: { type: 'string' }, uptimeSeconds: { type: 'number' } } } },
} as const;

export const readySchema = {
  summary: 'Readiness: a model is loaded, the feedback log read back, and the service is not shutting down',
  response: {
    200: { type: 'object', properties: { ready: { type: 'boolean' }, model: modelInfo, feedback: { type: 'object', additionalProperties: true } } },
    503: { type: 'object', properties: { ready: { type: 'boolean' }, reason: { type: 'string' } } },
  },
} as const;

export const reloadSchema = {
  summary: 'Load the model directory again, check it, and swap it in (requests keep being served)',
  response: { 200: { type: 'object', properties: { model: modelInfo, previous: modelInfo, replayedEvents: { type: 'integer' } } }, ...errors, 500: errorAnswer, 409: errorAnswer },
} as const;

export const compactSchema = {
  summary: 'Compact the feedback log now (snapshot + remove covered segments)',
  response: { 200: { type: 'object', properties: { lastSeq: { type: 'integer' }, events: { type: 'integer' } } }, ...errors },
} as const;
