/**
 * What every model shares: the training loop (epochs driven from TypeScript, so progress, cancellation
 * and early stopping live here while each epoch runs natively), scoring and recommending with seen
 * items excluded, and save/load through ./persist.
 */
import { SemrecError } from '../errors';
import { evaluateRanking } from '../eval/ranking';
import { scoreMatrix, scoreTopK } from '../kernels/score';
import { topK } from '../kernels/topk';
import type { Csr } from '../kernels/types';
import { checkInteger } from '../kernels/validate';
import { throwIfAborted } from '../progress';
import { concatRows, selectRows } from '../util/csr';
import { Random } from '../util/random';
import type {
  EpochRecord,
  FitOptions,
  FitReport,
  ModelKind,
  Recommendations,
  RecommendOptions,
  Recommender,
  ScoreOptions,
} from './contract';
import { checkTrainingData, userItems, type TrainingData } from './data';
import { writeModel, type MetaValue, type SavedArray, type SavedModel } from './persist';

/** Seed used when FitOptions.seed is not given. */
export const DEFAULT_SEED = 42;
/** RecBole's defaults for early stopping: valid_metric NDCG@10, stopping_step 10. */
export const DEFAULT_STOPPING_METRIC = 'ndcg@10';
export const DEFAULT_PATIENCE = 10;

/** The arrays and scalars that define a trained model (what save() writes and load() restores). */
export interface ModelState {
  meta: Record<string, MetaValue>;
  arrays: Record<string, SavedArray>;
}

/** What the training hooks of a model receive. */
export interface FitContext {
  train: TrainingData;
  /** Each user's training items (sorted, unique). */
  seen: Csr;
  seed: number;
  /** Seeded stream for initialisation. */
  rng: Random;
  options: FitOptions;
}

function copyState(state: ModelState): ModelState {
  const arrays: Record<string, SavedArray> = {};
  for (const [k, v] of Object.entries(state.arrays)) arrays[k] = v.slice();
  return { meta: { ...state.meta }, arrays };
}

export function checkUsers(users: ArrayLike<number>, numUsers: number, what: string): Int32Array {
  const out = new Int32Array(users.length);
  for (let r = 0; r < users.length; r++) {
    const u = users[r];
    if (!Number.isInteger(u) || u < 0 || u >= numUsers) {
      throw new SemrecError(`${what}: users[${r}] = ${u} is not a user index in [0, ${numUsers})`, 'ERR_OUT_OF_RANGE');
    }
    out[r] = u;
  }
  return out;
}

export abstract class BaseRecommender<P extends object> implements Recommender<P> {
  abstract readonly name: string;
  readonly kind: ModelKind = 'general';
  /**
   * Whether ranking-based early stopping suits the model. Models trained for another objective (mf:
   * squared rating error) train their configured epochs, and the harness gives them no early stopping.
   */
  readonly rankingEarlyStopping: boolean = true;
  numUsers = 0;
  numItems = 0;
  /** Training items per user (the "seen" set recommend() excludes). */
  protected seen: Csr | undefined;
  private isFitted = false;
  private busy = false;

  constructor(readonly params: Readonly<P>) {}

  get fitted(): boolean {
    return this.isFitted;
  }

  // ---- hooks ----

  /** Allocates and initialises the parameters (iterative models) or computes the whole model (others). */
  protected abstract initialize(ctx: FitContext): Promise<void>;
  /** Maximum number of epochs (0 for models fitted in initialize()). */
  protected epochs(): number {
    return 0;
  }
  /** One epoch; returns its mean loss. */
  protected trainEpoch(_ctx: FitContext, _epoch: number, _seed: number): Promise<number> {
    return Promise.resolve(0);
  }
  /** Derives what scoring needs from the parameters (after training, restoring or loading). */
  protected prepareScoring(): Promise<void> {
    return Promise.resolve();
  }
  /** Stage losses and notes a model adds to its fit report (called after the last epoch). */
  protected fitExtras(): Pick<FitReport, 'stages' | 'notes'> {
    return {};
  }
  /** Scores of a block of valid users against every item. */
  protected abstract scoreBlock(users: Int32Array, options: ScoreOptions): Promise<Float32Array>;
  protected abstract state(): ModelState;
  protected abstract restore(state: ModelState): void;

  // ---- the contract ----

  async fit(train: TrainingData, options: FitOptions = {}): Promise<FitReport> {
    this.enter(`${this.name}.fit`);
    try {
      return await this.fitUnguarded(train, options);
    } finally {
      this.busy = false;
    }
  }

  private async fitUnguarded(train: TrainingData, options: FitOptions): Promise<FitReport> {
    const started = performance.now();
    checkTrainingData(train, `${this.name}.fit: train`);
    const seed = checkInteger(options.seed ?? DEFAULT_SEED, `${this.name}.fit: seed`, 0, 2 ** 31 - 1);
    this.isFitted = false;
    this.numUsers = train.numUsers;
    this.numItems = train.numItems;
    const seen = userItems(train);
    this.seen = seen;
    const ctx: FitContext = { train, seen, seed, rng: new Random(seed), options };
    throwIfAborted(options.signal, `${this.name}.fit`);
    await this.initialize(ctx);

    const maxEpochs = this.epochs();
    const stopping = options.earlyStopping;
    const metric = stopping?.metric ?? DEFAULT_STOPPING_METRIC;
    const patience = stopping?.patience ?? DEFAULT_PATIENCE;
    const every = stopping?.every ?? 1;
    let validation: { truth: Csr; k: number } | undefined;
    if (stopping && maxEpochs > 0) {
      checkTrainingData(stopping.data, `${this.name}.fit: earlyStopping.data`);
      if (stopping.data.numUsers !== train.numUsers || stopping.data.numItems !== train.numItems) {
        throw new SemrecError(
          `${this.name}.fit: earlyStopping.data must have the training data's users and items`,
          'ERR_INVALID_ARG_VALUE',
        );
      }
      const k = Number(/@(\d+)$/.exec(metric)?.[1]);
      if (!Number.isInteger(k) || k < 1) {
        throw new SemrecError(`${this.name}.fit: earlyStopping.metric must look like 'ndcg@10', got '${metric}'`, 'ERR_INVALID_ARG_VALUE');
      }
      validation = { truth: userItems(stopping.data), k };
    }

    const epochSeeds = new Random(seed ^ 0x5eed);
    const records: EpochRecord[] = [];
    let best = -Infinity;
    let bestEpoch = maxEpochs;
    let bestState: ModelState | undefined;
    let sinceBest = 0;
    let stoppedEarly = false;
    for (let epoch = 1; epoch <= maxEpochs; epoch++) {
      throwIfAborted(options.signal, `${this.name}.fit`);
      const epochStart = performance.now();
      const loss = await this.trainEpoch(ctx, epoch, epochSeeds.int(0, 2 ** 31 - 1));
      const record: EpochRecord = { epoch, loss, seconds: (performance.now() - epochStart) / 1000 };
      records.push(record);
      if (validation && (epoch % every === 0 || epoch === maxEpochs)) {
        await this.prepareScoring();
        const outcome = await evaluateRanking((users) => this.scoreBlock(users, {}), {
          numUsers: this.numUsers,
          numItems: this.numItems,
          truth: validation.truth,
          exclude: seen,
          ks: [validation.k],
        });
        const value = outcome.mean[metric];
        if (value === undefined) {
          throw new SemrecError(`${this.name}.fit: unknown early-stopping metric '${metric}'`, 'ERR_INVALID_ARG_VALUE');
        }
        record.validation = value;
        if (value > best) {
          best = value;
          bestEpoch = epoch;
          bestState = copyState(this.state());
          sinceBest = 0;
        } else if (++sinceBest >= patience) {
          stoppedEarly = epoch < maxEpochs;
          break;
        }
      }
      options.onProgress?.({ phase: `training ${this.name}`, done: epoch, total: maxEpochs, unit: 'epochs' });
    }
    if (bestState && bestEpoch !== records.length) this.restore(bestState);
    await this.prepareScoring();
    this.isFitted = true;
    return {
      epochs: records,
      bestEpoch: maxEpochs === 0 ? 0 : validation ? bestEpoch : records.length,
      stoppedEarly,
      seconds: (performance.now() - started) / 1000,
      ...this.fitExtras(),
    };
  }

  async scoreUsers(users: Int32Array, options: ScoreOptions = {}): Promise<Float32Array> {
    this.requireReady(`${this.name}.scoreUsers`);
    return this.scoreBlock(checkUsers(users, this.numUsers, `${this.name}.scoreUsers`), options);
  }

  async recommend(users: ArrayLike<number>, k: number, options: RecommendOptions = {}): Promise<Recommendations> {
    const what = `${this.name}.recommend`;
    this.requireReady(what);
    const rows = checkUsers(users, this.numUsers, what);
    checkInteger(k, `${what}: k`, 1, 2 ** 31 - 1);
    const exclude = this.exclusions(rows, options, what);
    const top = await this.topItems(rows, k, exclude, options);
    return { indices: top.indices, scores: top.scores, k };
  }

  /** Top-k of a block of users; dot-product models override this with the core's scoreTopK. */
  protected async topItems(users: Int32Array, k: number, exclude: Csr | undefined, options: ScoreOptions) {
    const scores = await this.scoreBlock(users, options);
    return topK({ scores, numRows: users.length, numCols: this.numItems, k, exclude });
  }

  private exclusions(users: Int32Array, options: RecommendOptions, what: string): Csr | undefined {
    const seen = options.excludeSeen === false ? undefined : selectRows(this.seen!, users);
    if (options.exclude && options.exclude.indptr.length !== users.length + 1) {
      throw new SemrecError(`${what}: exclude must have one row per requested user (${users.length})`, 'ERR_INVALID_ARG_VALUE');
    }
    if (seen && options.exclude) return concatRows(seen, options.exclude);
    return seen ?? options.exclude;
  }

  async save(dir: string): Promise<void> {
    this.requireReady(`${this.name}.save`);
    const state = this.state();
    await writeModel(dir, {
      model: this.name,
      params: this.params,
      meta: { ...state.meta, numUsers: this.numUsers, numItems: this.numItems },
      arrays: { ...state.arrays, seenIndptr: this.seen!.indptr, seenIndices: this.seen!.indices },
    });
  }

  /** Restores a model read by loadModel (the registry validated the params already). */
  async restoreSaved(saved: SavedModel): Promise<void> {
    const { seenIndptr, seenIndices, ...arrays } = saved.arrays;
    const numUsers = saved.meta.numUsers;
    const numItems = saved.meta.numItems;
    if (
      typeof numUsers !== 'number' ||
      typeof numItems !== 'number' ||
      !(seenIndptr instanceof Int32Array) ||
      !(seenIndices instanceof Int32Array) ||
      seenIndptr.length !== numUsers + 1
    ) {
      throw new SemrecError(`load: the saved ${this.name} model lacks its user/item counts or seen items`, 'ERR_MODEL_CORRUPT');
    }
    this.numUsers = numUsers;
    this.numItems = numItems;
    this.seen = { indptr: seenIndptr, indices: seenIndices };
    try {
      this.restore({ meta: saved.meta, arrays });
    } catch (error) {
      if (error instanceof SemrecError) throw error;
      throw new SemrecError(`load: the saved ${this.name} model is inconsistent: ${(error as Error).message}`, 'ERR_MODEL_CORRUPT');
    }
    await this.prepareScoring();
    this.isFitted = true;
  }

  // ---- helpers for subclasses ----

  protected requireReady(what: string): void {
    if (this.busy) throw new SemrecError(`${what}: the model is being fitted`, 'ERR_MODEL_BUSY');
    if (!this.isFitted) throw new SemrecError(`${what}: the model is not fitted (call fit() or loadModel() first)`, 'ERR_NOT_FITTED');
  }

  private enter(what: string): void {
    if (this.busy) throw new SemrecError(`${what}: the model is already being fitted`, 'ERR_MODEL_BUSY');
    this.busy = true;
  }

  /** An array from a saved state, checked for type and length. */
  protected static array<T extends SavedArray>(
    state: ModelState,
    name: string,
    type: new (n: number) => T,
    length: number,
  ): T {
    const a = state.arrays[name];
    if (!(a instanceof type) || a.length !== length) {
      throw new SemrecError(
        `load: array '${name}' is missing or has the wrong type/length (expected ${length})`,
        'ERR_MODEL_CORRUPT',
      );
    }
    return a;
  }

  protected static number(state: ModelState, name: string): number {
    const v = state.meta[name];
    if (typeof v !== 'number' || !Number.isFinite(v)) {
      throw new SemrecError(`load: meta '${name}' is missing or not a number`, 'ERR_MODEL_CORRUPT');
    }
    return v;
  }
}

/**
 * Models that score by a dot product: score(u, i) = users[u] . items[i] + itemBias[i]. Scoring and
 * recommending go through the core's scoreMatrix / scoreTopK.
 */
export interface Factors {
  users: Float32Array;
  items: Float32Array;
  dim: number;
  itemBias?: Float32Array;
}

export abstract class FactorRecommender<P extends object> extends BaseRecommender<P> {
  /** The scoring factors (valid after prepareScoring()). */
  protected abstract factors(): Factors;

  private userRows(users: Int32Array): Float32Array {
    const f = this.factors();
    const out = new Float32Array(users.length * f.dim);
    for (let r = 0; r < users.length; r++) out.set(f.users.subarray(users[r] * f.dim, (users[r] + 1) * f.dim), r * f.dim);
    return out;
  }

  protected async scoreBlock(users: Int32Array): Promise<Float32Array> {
    const f = this.factors();
    const result = await scoreMatrix({ users: this.userRows(users), items: f.items, dim: f.dim, itemBias: f.itemBias });
    return result.scores;
  }

  protected override async topItems(users: Int32Array, k: number, exclude: Csr | undefined) {
    const f = this.factors();
    return scoreTopK({ users: this.userRows(users), items: f.items, dim: f.dim, itemBias: f.itemBias, k, exclude });
  }
}
