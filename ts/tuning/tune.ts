/**
 * Hyperparameter search on the VALIDATION part of a split (the test part is never looked at): each
 * trial trains the model with the sampled hyperparameters (early stopping on validation where the model
 * has it) and scores it by a validation metric, averaged over the seeds. Trials are appended to a JSON
 * lines log as they finish (fsynced), so a search stopped by Ctrl-C or a crash resumes where it was; the
 * best hyperparameters are written as a file `semrec eval --params` accepts.
 *
 * Log layout: line 1 is a header describing the search (model, dataset, protocol, seeds, metric,
 * sampler, seed, space, fixed hyperparameters); every further line is one finished trial. Resuming with
 * a log whose header differs is refused, naming the field.
 */
import type { InteractionStore } from '../data/store';
import type { Split } from '../data/splits';
import { SemrecError } from '../errors';
import { checkProtocol, splitByProtocol, type ProtocolName } from '../eval/harness';
import { evaluateRanking } from '../eval/ranking';
import type { BaseRecommender } from '../models/base';
import { DEFAULT_STOPPING_METRIC } from '../models/base';
import { userItems } from '../models/data';
import { checkModelName, createModel, type ModelName } from '../models/registry';
import { throwIfAborted, type LongRunningOptions } from '../progress';
import { writeFileAtomically } from '../util/fs';
import { appendJsonLine, readJsonLines } from '../util/jsonl';
import { checkSpace, derivedSpace, type Assignment, type SearchSpace } from './space';
import { propose, SAMPLERS, type FinishedTrial, type SamplerName } from './tpe';

export const TUNE_LOG_FORMAT = 'semrec-tune';
export const TUNE_LOG_VERSION = 1;
/** Seed of the sampler when none is given. */
export const DEFAULT_TUNE_SEED = 42;

export interface TuneOptions extends LongRunningOptions {
  store: InteractionStore;
  model: ModelName;
  trials: number;
  /** The space to search (default: derived from the model's schema, see derivedSpace). */
  space?: SearchSpace;
  /** Hyperparameters held fixed (the sampled ones override none of them: a key may not be in both). */
  fixed?: Record<string, unknown>;
  sampler?: SamplerName;
  seed?: number;
  protocol?: ProtocolName;
  /** Seeds of the splits and trainings each trial is averaged over (default [42]). */
  seeds?: number[];
  /** Validation metric to maximise, as the core names it (default ndcg@10). */
  metric?: string;
  /** Run the model's defaults as trial 0 (default true), so the search starts from a known point. */
  defaultsFirst?: boolean;
  /** JSON lines log: appended to, and resumed from when it exists. */
  log?: string;
  /** Where the best hyperparameters go, as { "<model>": { ... } } (semrec eval --params). */
  out?: string;
  numThreads?: number;
  /** Called after every finished trial (the CLI prints it). */
  onTrial?: (trial: TrialRecord, best: TrialRecord) => void;
}

export interface TrialRecord {
  trial: number;
  params: Assignment;
  status: 'ok' | 'failed';
  /** Mean validation metric over the seeds (NaN when failed). */
  value: number;
  perSeed: number[];
  bestEpochs: number[];
  seconds: number;
  /** Whether the trial ran the model's defaults (defaultsFirst). */
  defaults?: boolean;
  error?: string;
}

export interface TuneHeader {
  kind: 'header';
  format: string;
  version: number;
  model: ModelName;
  dataset: { name: string; numUsers: number; numItems: number; numInteractions: number };
  protocol: ProtocolName;
  seeds: number[];
  metric: string;
  sampler: SamplerName;
  seed: number;
  defaultsFirst: boolean;
  space: SearchSpace;
  fixed: Record<string, unknown>;
}

export interface TuneResult {
  header: TuneHeader;
  trials: TrialRecord[];
  best: TrialRecord;
  /** The trial that ran the defaults, when defaultsFirst. */
  defaults?: TrialRecord;
  /** Trials read back from an existing log rather than run now. */
  resumed: number;
}

/** The mean validation metric of `params` over the seeds' splits. */
export async function validationScore(
  model: ModelName,
  params: Record<string, unknown>,
  splits: { seed: number; split: Split }[],
  metric: string,
  options: LongRunningOptions & { numThreads?: number } = {},
): Promise<{ value: number; perSeed: number[]; bestEpochs: number[]; seconds: number }> {
  const k = Number(/@(\d+)$/.exec(metric)?.[1]);
  if (!Number.isInteger(k) || k < 1) throw new SemrecError(`metric must look like 'ndcg@10', got '${metric}'`, 'ERR_INVALID_ARG_VALUE');
  const perSeed: number[] = [];
  const bestEpochs: number[] = [];
  const started = performance.now();
  for (const { seed, split } of splits) {
    const validation = split.validation!;
    const m = createModel(model, params as never) as BaseRecommender<object>;
    const report = await m.fit(split.train, {
      seed,
      earlyStopping: m.rankingEarlyStopping ? { data: validation, metric } : undefined,
      numThreads: options.numThreads,
      signal: options.signal,
    });
    let value = report.epochs[report.bestEpoch - 1]?.validation;
    if (value === undefined) {
      // Models fitted in one step, or trained without ranking-based early stopping: evaluate once.
      const outcome = await evaluateRanking((users) => m.scoreUsers(users), {
        numUsers: split.train.numUsers,
        numItems: split.train.numItems,
        truth: userItems(validation),
        exclude: userItems(split.train),
        ks: [k],
      });
      value = outcome.mean[metric];
      if (value === undefined) throw new SemrecError(`unknown validation metric '${metric}'`, 'ERR_INVALID_ARG_VALUE');
    }
    perSeed.push(value);
    bestEpochs.push(report.bestEpoch);
  }
  return { value: perSeed.reduce((a, b) => a + b, 0) / perSeed.length, perSeed, bestEpochs, seconds: (performance.now() - started) / 1000 };
}

function sameJson(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/**
 * Reads an existing log: its header and finished trials (a last line cut short by a crash is dropped, see
 * readJsonLines); damage anywhere else is an error naming the line.
 */
async function readLog(file: string): Promise<{ header: TuneHeader; trials: TrialRecord[] } | undefined> {
  const parsed = await readJsonLines(file, 'tune: the trials log');
  if (parsed === undefined) return undefined;
  const header = parsed[0] as unknown as TuneHeader;
  if (header.kind !== 'header' || header.format !== TUNE_LOG_FORMAT) {
    throw new SemrecError(`tune: ${file} is not a semrec trials log (line 1 is not its header)`, 'ERR_INVALID_ARG_VALUE');
  }
  if (header.version !== TUNE_LOG_VERSION) {
    throw new SemrecError(`tune: ${file} was written by trials-log version ${String(header.version)}; this semrec writes ${TUNE_LOG_VERSION} (start a new log)`, 'ERR_INVALID_ARG_VALUE');
  }
  const trials = parsed.slice(1).map((t, n) => {
    if (t.kind !== 'trial' || typeof t.trial !== 'number' || typeof t.params !== 'object') {
      throw new SemrecError(`tune: ${file} line ${n + 2} is not a trial record`, 'ERR_INVALID_ARG_VALUE');
    }
    const { kind: _kind, ...record } = t;
    return { ...record, value: t.value === null ? NaN : t.value } as unknown as TrialRecord;
  });
  trials.forEach((t, n) => {
    if (t.trial !== n) throw new SemrecError(`tune: ${file} line ${n + 2} holds trial ${t.trial}, expected ${n}`, 'ERR_INVALID_ARG_VALUE');
  });
  return { header, trials };
}

function better(a: TrialRecord, b: TrialRecord | undefined): boolean {
  return a.status === 'ok' && (b === undefined || a.value > b.value);
}

export async function tune(options: TuneOptions): Promise<TuneResult> {
  const model = checkModelName(options.model, 'tune');
  const { store } = options;
  if (!Number.isInteger(options.trials) || options.trials < 1 || options.trials > 100_000) {
    throw new SemrecError(`tune: trials must be an integer in [1, 100000], got ${options.trials}`, 'ERR_OUT_OF_RANGE');
  }
  const sampler = options.sampler ?? 'tpe';
  if (!SAMPLERS.includes(sampler)) throw new SemrecError(`tune: sampler must be one of ${SAMPLERS.join(', ')}`, 'ERR_INVALID_ARG_VALUE');
  const protocol = checkProtocol(options.protocol ?? 'ratio-8-1-1');
  const space = options.space ? checkSpace(model, options.space, 'tune: space') : derivedSpace(model);
  const fixed = options.fixed ?? {};
  for (const key of Object.keys(fixed)) {
    if (key in space) throw new SemrecError(`tune: '${key}' is both fixed and in the search space; keep it in one`, 'ERR_INVALID_ARG_VALUE');
  }
  createModel(model, fixed as never); // validates the fixed hyperparameters up front
  const header: TuneHeader = {
    kind: 'header',
    format: TUNE_LOG_FORMAT,
    version: TUNE_LOG_VERSION,
    model,
    dataset: { name: store.name, numUsers: store.numUsers, numItems: store.numItems, numInteractions: store.numInteractions },
    protocol,
    seeds: options.seeds ?? [42],
    metric: options.metric ?? DEFAULT_STOPPING_METRIC,
    sampler,
    seed: options.seed ?? DEFAULT_TUNE_SEED,
    defaultsFirst: options.defaultsFirst ?? true,
    space,
    fixed,
  };

  const trials: TrialRecord[] = [];
  if (options.log) {
    const existing = await readLog(options.log);
    if (existing) {
      for (const key of ['model', 'dataset', 'protocol', 'seeds', 'metric', 'sampler', 'seed', 'defaultsFirst', 'space', 'fixed'] as const) {
        if (!sameJson(existing.header[key], header[key])) {
          throw new SemrecError(
            `tune: the trials log ${options.log} belongs to another search (its ${key} is ${JSON.stringify(existing.header[key])}, ` +
              `this one's is ${JSON.stringify(header[key])}); give the same options or another --log`,
            'ERR_INVALID_ARG_VALUE',
          );
        }
      }
      trials.push(...existing.trials);
    } else {
      await appendJsonLine(options.log, header);
    }
  }
  const resumed = trials.length;

  const splits = header.seeds.map((seed) => {
    const split = splitByProtocol(store, protocol, seed);
    if (!split.validation) {
      throw new SemrecError(`tune: protocol ${protocol} has no validation part; tuning never looks at the test part`, 'ERR_INVALID_ARG_VALUE');
    }
    return { seed, split };
  });

  let best: TrialRecord | undefined;
  for (const t of trials) if (better(t, best)) best = t;
  for (let n = trials.length; n < options.trials; n++) {
    throwIfAborted(options.signal, 'tune');
    const isDefaults = header.defaultsFirst && n === 0;
    const history: FinishedTrial[] = trials.filter((t) => t.status === 'ok' && !t.defaults).map((t) => ({ params: t.params, value: t.value }));
    const params: Assignment = isDefaults ? {} : propose(sampler, space, history, header.seed, n);
    let record: TrialRecord;
    try {
      const score = await validationScore(model, { ...fixed, ...params }, splits, header.metric, {
        numThreads: options.numThreads,
        signal: options.signal,
      });
      record = { trial: n, params, status: Number.isFinite(score.value) ? 'ok' : 'failed', ...score, ...(isDefaults ? { defaults: true } : {}) };
    } catch (error) {
      if ((error as SemrecError).code === 'ERR_ABORTED') throw error;
      record = { trial: n, params, status: 'failed', value: NaN, perSeed: [], bestEpochs: [], seconds: 0, error: (error as Error).message, ...(isDefaults ? { defaults: true } : {}) };
    }
    if (options.log) await appendJsonLine(options.log, { kind: 'trial', ...record });
    trials.push(record);
    if (better(record, best)) best = record;
    options.onProgress?.({ phase: `tuning ${model} (${sampler})`, done: n + 1, total: options.trials, unit: 'trials' });
    if (best) options.onTrial?.(record, best);
  }
  if (!best) throw new SemrecError(`tune: every trial of ${model} failed (first error: ${trials[0]?.error ?? 'unknown'})`, 'ERR_INVALID_ARG_VALUE');
  if (options.out) {
    const full = createModel(model, { ...fixed, ...best.params } as never).params;
    await writeFileAtomically(options.out, `${JSON.stringify({ [model]: full }, null, 2)}\n`);
  }
  return { header, trials, best, defaults: trials.find((t) => t.defaults), resumed };
}
