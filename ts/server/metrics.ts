/**
 * The service's Prometheus metrics (prom-client), in a registry of its own so that several services can
 * live in one process (tests): request latency per route, errors, the model being served, reloads, the
 * feedback log, recommendation batches, and prom-client's process metrics (RSS, event-loop lag, GC).
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

/**
 * Latency buckets in seconds: fine below 10 ms, where a recommender service's p99 goal lives, and up to
 * 10 s for large batch requests.
 */
export const LATENCY_BUCKETS = [0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.015, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export interface ServiceMetrics {
  registry: Registry;
  requestDuration: Histogram<'route' | 'method' | 'status'>;
  requestErrors: Counter<'route' | 'status' | 'code'>;
  modelInfo: Gauge<'model' | 'version' | 'dataset'>;
  modelLoadedAt: Gauge;
  reloads: Counter<'result'>;
  feedbackEvents: Counter<'result'>;
  walSync: Histogram;
  walGroupEvents: Histogram;
  compactions: Counter<'result'>;
  batchSize: Histogram;
}

export function createMetrics(gauges: { feedbackLogEvents: () => number; feedbackNotApplied: () => number }): ServiceMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'semrec_' });
  const registers = [registry];
  new Gauge({
    name: 'semrec_feedback_log_events',
    help: 'Acknowledged feedback events in the log (snapshot and segments)',
    registers,
    collect() {
      this.set(gauges.feedbackLogEvents());
    },
  });
  new Gauge({
    name: 'semrec_feedback_not_applied',
    help: 'Feedback events the current model could not use (an item it does not know, or refused by its profile update)',
    registers,
    collect() {
      this.set(gauges.feedbackNotApplied());
    },
  });
  return {
    registry,
    requestDuration: new Histogram({
      name: 'semrec_http_request_duration_seconds',
      help: 'HTTP request latency by route (the route pattern), method and status',
      labelNames: ['route', 'method', 'status'],
      buckets: LATENCY_BUCKETS,
      registers,
    }),
    requestErrors: new Counter({
      name: 'semrec_http_request_errors_total',
      help: 'Requests answered with a 4xx or 5xx status, by route, status and error code',
      labelNames: ['route', 'status', 'code'],
      registers,
    }),
    modelInfo: new Gauge({
      name: 'semrec_model_info',
      help: 'The model being served (value 1): registry name, version (SHA-256 prefix of its model.json) and training data',
      labelNames: ['model', 'version', 'dataset'],
      registers,
    }),
    modelLoadedAt: new Gauge({ name: 'semrec_model_loaded_timestamp_seconds', help: 'When the model being served was loaded', registers }),
    reloads: new Counter({ name: 'semrec_model_reloads_total', help: 'Model reloads by result (ok, failed)', labelNames: ['result'], registers }),
    feedbackEvents: new Counter({
      name: 'semrec_feedback_events_total',
      help: 'Feedback events acknowledged (recorded) or recognised as a retry of an acknowledged one (duplicate)',
      labelNames: ['result'],
      registers,
    }),
    walSync: new Histogram({
      name: 'semrec_feedback_wal_sync_seconds',
      help: 'Seconds of one group commit of the feedback log (write + fdatasync)',
      buckets: LATENCY_BUCKETS,
      registers,
    }),
    walGroupEvents: new Histogram({
      name: 'semrec_feedback_wal_group_events',
      help: 'Events made durable by one group commit',
      buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256],
      registers,
    }),
    compactions: new Counter({ name: 'semrec_feedback_compactions_total', help: 'Feedback log compactions by result', labelNames: ['result'], registers }),
    batchSize: new Histogram({
      name: 'semrec_recommend_batch_size',
      help: "Known users' requests scored together in one batch",
      buckets: [1, 2, 4, 8, 16, 32, 64, 128],
      registers,
    }),
  };
}
