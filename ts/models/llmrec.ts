/**
 * `llmrec`: LLM-Rec (Shang et al. 2024). What a transformer encoder understands of item text and reviews
 * (./llmrec-semantic: item vectors, review sentiment, a contrastive MoE adapter) is fused with what users
 * did (ts/preference: signal-weighted, time-decayed preference vectors that update live) and with learned
 * user and item ID embeddings, in one of three fusion modes, and ranked with the paper's pairwise hinge
 * loss over sampled negatives (native kernels: ts/kernels/fusion.ts).
 *
 *   score(u, i) = z_u . z_i + b_i,  z_u = [ wc (P_u + Wu_E p_u) ; ws Wu_L p_u ],  z_i = [ Q_i + Wi_E s_i ; Wi_L s_i ]
 *
 * Inference needs only the fused vectors: recommendations come from the core's scoreTopK, never from a
 * full score matrix. Users the model never saw are served from a few interactions
 * (recommendForHistory); known users' profiles take new interactions live (updateUser).
 */
import { DenseIdMap, InteractionStore } from '../data/store';
import { simulateTransactions } from '../data/synthetic';
import { SemrecError } from '../errors';
import { scoreMatrixSync } from '../kernels/score';
import type { Csr } from '../kernels/types';
import {
  FUSION_MODES,
  fusionEpoch,
  fusionLayout,
  fusionVectors,
  RANK_LOSSES,
  type FusionLayout,
  type FusionMode,
  type RankLossName,
} from '../kernels/fusion';
import { checkDecay, DECAY_UNITS, type DecayUnit, PAPER_DECAY_ALPHA, decayOverSeconds, type TimeUnit } from '../preference/decay';
import { ADAPTIVE_REFRESH_SHARE, RefreshPolicy, UPDATE_POLICIES, type UpdatePolicyName } from '../preference/policy';
import { PreferenceProfiles, type ProfileMode } from '../preference/profiles';
import {
  interactionWeights,
  PAPER_SIGNAL_WEIGHTS,
  ratingScaleOf,
  ratingSignal,
  SIGNAL_NAMES,
  signalColumns,
  signalWeight,
  type InteractionSignals,
  type SignalName,
  type SignalWeights,
} from '../preference/signals';
import { throwIfAborted } from '../progress';
import { ADAPTER_DROPOUT, ADAPTER_TEMPERATURE, SemanticAdapter } from '../semantic/adapter';
import type { Encoder } from '../semantic/encoder';
import { hasItemText } from '../semantic/templates';
import { concatRows, csrFromLists } from '../util/csr';
import { BaseRecommender, FactorRecommender, type FitContext, type Factors, type HistorySimilarities, type ModelState } from './base';
import type {
  EpochRecord,
  Explanation,
  FitOptions,
  FitReport,
  HistoryEvent,
} from './contract';
import { positivePairs, type TrainingData } from './data';
import { gaussian } from './init';
import { buildSemanticSide, encodeNewItems } from './llmrec-semantic';
import { learningRate, nonNegative, positiveInt, z } from './params';

/**
 * Hyperparameters. Paper values (Shang et al. 2024): hinge margin 0.5, 4 negatives per positive, L2 0.01,
 * dropout 0.1 (Table 8), batch size 64 (Table 4), signal weights 0.4/0.3/0.2/0.1 and decay 0.95 (§3.2).
 * The paper's learning rate (3e-5, AdamW) fine-tuned a transformer; this ranker is trained from scratch,
 * so lr, epochs, the fusion mode and the decay unit were chosen on validation data (README, bench/tune.ts).
 */
export const llmRecParams = z
  .object({
    fusion: z.enum(FUSION_MODES as [FusionMode, ...FusionMode[]]).default('hybrid').describe("fusion of the collaborative and semantic sides: 'early', 'late' or 'hybrid' (paper, Table 3)"),
    dim: positiveInt(4096).default(64).describe('width of the user and item ID embeddings'),
    semDim: positiveInt(4096).default(64).describe('width of the adapted semantic vectors'),
    lateDim: positiveInt(4096).default(32).describe("width of the late semantic score's projection ('late', 'hybrid')"),
    loss: z.enum(RANK_LOSSES as [RankLossName, ...RankLossName[]]).default('hinge').describe("ranking loss: 'hinge' (paper), 'bpr' or 'softmax' (sampled)"),
    margin: nonNegative().default(0.5).describe('hinge margin (paper, Table 8)'),
    negatives: positiveInt(1000).default(4).describe('sampled negatives per positive (paper, Table 8)'),
    reg: nonNegative().default(0.01).describe('L2 on the batch rows and the projections, added to the loss (paper, Table 8)'),
    weightDecay: nonNegative().default(0).describe('decoupled weight decay (AdamW) on top (0: none; validation preferred the coupled L2)'),
    dropout: z.number().min(0).max(0.9).default(0.1).describe('dropout on the fused user vector (paper, Table 8)'),
    batchSize: positiveInt(1 << 20).default(64).describe('positives per mini-batch (paper, Table 4)'),
    lr: learningRate().default(0.0003).describe('Adam learning rate (chosen on validation data)'),
    epochs: positiveInt(100_000).default(200).describe('epochs (the most, with early stopping)'),
    initStd: nonNegative().default(0.1).describe('standard deviation of the initial embeddings and projections'),
    excludeTarget: z.boolean().default(true).describe("train with each positive left out of its user's preference vector"),
    history: z.boolean().default(true).describe("add the profile-weighted mean of the history items' ID embeddings to the user vector (as SVD++ and FISM do)"),
    semantic: z.boolean().default(true).describe('use item text (false: the collaborative side only)'),
    encoder: z.string().min(1).default('use-lite').describe("sentence encoder: 'use-lite' (offline), a model directory or a hub id"),
    reviewVectors: z.boolean().default(true).describe("average each item's text vector with its training reviews' mean"),
    sentiment: z.boolean().default(true).describe('train a review sentiment head on the training reviews (signal 2)'),
    adapter: z.boolean().default(true).describe('train the contrastive MoE adapter (false: raw encoder vectors)'),
    adapterExperts: positiveInt(64).default(4).describe("the adapter's experts"),
    adapterEpochs: positiveInt(100_000).default(20).describe("the adapter's InfoNCE epochs"),
    adapterLr: learningRate().default(0.001).describe("the adapter's Adam learning rate"),
    adapterBatchSize: z.number().int().min(2).max(1 << 20).default(256).describe('item pairs per InfoNCE batch (in-batch negatives)'),
    temperature: z.number().gt(0).max(100).default(ADAPTER_TEMPERATURE).describe('InfoNCE temperature (UniSRec)'),
    adapterDropout: z.number().min(0).max(0.9).default(ADAPTER_DROPOUT).describe("dropout noise on the adapter's inputs (SimCSE)"),
    ratingWeight: nonNegative().default(PAPER_SIGNAL_WEIGHTS.rating).describe('weight of the explicit rating signal (paper)'),
    sentimentWeight: nonNegative().default(PAPER_SIGNAL_WEIGHTS.sentiment).describe('weight of the review sentiment signal (paper)'),
    viewingWeight: nonNegative().default(PAPER_SIGNAL_WEIGHTS.viewing).describe('weight of the viewing signal (paper)'),
    completionWeight: nonNegative().default(PAPER_SIGNAL_WEIGHTS.completion).describe('weight of the completion signal (paper)'),
    simulateSignals: z.boolean().default(false).describe("simulate viewing/completion (ts/data/synthetic) when the data has none; reports say 'simulated'"),
    decay: z.number().gt(0).max(1).default(PAPER_DECAY_ALPHA).describe('time decay factor alpha per unit (paper)'),
    decayUnit: z.enum(DECAY_UNITS as [DecayUnit, ...DecayUnit[]]).default('day').describe("unit of elapsed time for the decay, or 'rank' (recency rank)"),
    updatePolicy: z.enum(UPDATE_POLICIES as [UpdatePolicyName, ...UpdatePolicyName[]]).default('adaptive').describe('when updateUser refreshes the served vector (see ts/preference/policy.ts)'),
  })
  .strict();
export type LlmRecParams = z.output<typeof llmRecParams>;

export interface LlmRecFitOptions extends FitOptions {
  /** Encoders to use instead of creating them from params.encoder (kept open; the model never releases them). */
  encoders?: { item: Encoder; review?: Encoder };
  /** Where encoders and the embedding cache live (default: SEMREC_CACHE_DIR or <tmp>/semrec-cache). */
  cacheDir?: string;
  /** Use the embedding cache (default true). */
  embeddingCache?: boolean;
}

export interface UpdateUserOptions {
  /** The present, in seconds since the epoch (default: the wall clock); later timestamps are refused. */
  now?: number;
  /** Refresh the served vector now whatever the update policy says. */
  refresh?: boolean;
}

export interface UpdateUserResult {
  /** Events folded into the profile. */
  folded: number;
  /** Whether the served vector was refreshed (else the policy deferred it; see ts/preference/policy.ts). */
  refreshed: boolean;
}

/** One history item's part in an explanation. */
export interface HistoryContribution {
  itemIdx: number;
  /** Its part of the score (the profile part is the sum over the history). */
  contribution: number;
  /** Its share of the profile: decayed weight / total weight. */
  share: number;
  /** Its signals in [0, 1] (only those it has) and its decay factor now. */
  signals: InteractionSignals;
  weight: number;
  decay: number;
  /** Seconds since the epoch, when known. */
  time?: number;
}

/**
 * The shared Explanation (`because`: the history items that speak for the item, by each one's score per
 * unit of its profile share as `similarity`), plus the whole score split and every history item's
 * contribution.
 */
export interface LlmRecExplanation extends Explanation {
  userIdx: number;
  /** The score split: collaborative + itemContent + profile + bias = score. */
  parts: {
    /** wc P_u . Q_i: the user's and the item's ID embeddings. */
    collaborative: number;
    /** What the user's ID embedding makes of the item's text (wc P_u . Wi_E s_i). */
    itemContent: number;
    /** What the user's preference vector (their history's text) makes of the item; split over the history below. */
    profile: number;
    /** The item's bias (popularity). */
    bias: number;
  };
  /** History items by |contribution|, largest first. */
  history: HistoryContribution[];
  /** Which signals the weights came from (simulated signals are labelled). */
  signals: string;
}

/** An item added after training (addItems): its raw id, the text the encoder reads, and a title to show. */
export interface NewItem {
  id: string;
  text: string;
  title?: string;
}

/** What explain()'s similarity means for llmrec. */
const EXPLAIN_METHOD =
  "history items by what each scores for the item through the user's profile (ID embedding and adapted text), per unit of its profile share";

/** History items an explanation lists by default. */
export const EXPLAIN_HISTORY = 5;

function asStore(train: TrainingData): InteractionStore {
  if (train instanceof InteractionStore) return train;
  return new InteractionStore({
    name: train.name,
    userIds: DenseIdMap.from(Array.from({ length: train.numUsers }, (_, u) => String(u))),
    itemIds: DenseIdMap.from(Array.from({ length: train.numItems }, (_, i) => String(i))),
    userIdx: train.userIdx,
    itemIdx: train.itemIdx,
    rating: train.rating,
    timestamp: train.timestamp,
    review: train.review,
    items: train.items,
    users: train.users,
  });
}

export class LlmRecModel extends FactorRecommender<LlmRecParams> {
  readonly name = 'llmrec';
  private layout!: FusionLayout;
  private theta: Float32Array = new Float32Array(0);
  private adamM: Float32Array = new Float32Array(0);
  private adamV: Float32Array = new Float32Array(0);
  private step = 0;
  private itemSem: Float32Array = new Float32Array(0);
  private adapter: SemanticAdapter | undefined;
  private encoderId = '';
  private inDim = 0;
  private profiles: PreferenceProfiles | undefined;
  private ratingScale: [number, number] | undefined;
  private signalsDescription = 'signals: none';
  private notes: string[] = [];
  private stages: Record<string, EpochRecord[]> = {};
  /** Items negatives are drawn from: those with training interactions. */
  private candidates: Int32Array = new Int32Array(0);
  /** Per training pair (seen CSR order): decayed-at-training weight, signal weight, time and signals (explanations). */
  private pairWeight: Float32Array = new Float32Array(0);
  private pairSignalWeight: Float32Array = new Float32Array(0);
  private pairTime = new Float64Array(0);
  /** Per training pair: its position in the user's time-ordered history (rank-mode decay). */
  private pairOrder: Int32Array = new Int32Array(0);
  private pairSignals: Partial<Record<SignalName, Float32Array>> = {};
  private pairs: { users: Int32Array; items: Int32Array } = { users: new Int32Array(0), items: new Int32Array(0) };
  /** Events folded by updateUser, per user (explanations and exclusions). */
  private live = new Map<number, { itemIdx: number; weight: number; time: number; signals: InteractionSignals }[]>();
  private policy!: RefreshPolicy;
  /** Preference vectors and weights of the training profiles (fixed while training). */
  private trainUserSem: Float32Array | undefined;
  private trainUserWeight: Float32Array | undefined;
  private scoring: Factors | undefined;
  /** Wu s_i of every item (numItems x projRows), built on the first live update: an event then costs O(projRows). */
  private itemProjections: Float32Array | undefined;
  /**
   * Per live-updated user, running sums kept in step with the profile by fold(): Wu S_u (the projected
   * semantic sums, projRows) and sum_j w_j Q_j (the history term's sums, collabDim).
   */
  private liveSums = new Map<number, { projected: Float64Array; history: Float64Array }>();
  /** Served user vectors read from a saved model (they may lag the profiles, as the update policy allows). */
  private savedServedUsers: Float32Array | undefined;
  private encoders: LlmRecFitOptions['encoders'];
  /** Items added after training (addItems): saved models record them beside the training data's fingerprint. */
  private addedItems = 0;
  protected override readonly extraFitOptions = ['encoders', 'cacheDir', 'embeddingCache'];
  override readonly historyFields: readonly (keyof HistoryEvent)[] = ['itemIdx', 'rating', 'timestamp', 'sentiment', 'viewing', 'completion'];
  protected override similarityMethod = 'cosine of the fused item vectors (ID embedding and adapted text)';
  private cacheDir: string | undefined;

  // ---- training ----

  protected async initialize(ctx: FitContext): Promise<void> {
    const p = this.params;
    const options = ctx.options as LlmRecFitOptions;
    this.encoders = options.encoders;
    this.cacheDir = options.cacheDir;
    const weights = this.signalWeights();
    let store = asStore(ctx.train);
    this.notes = [];
    this.stages = {};
    this.policy = new RefreshPolicy(p.updatePolicy);
    this.live.clear();
    this.addedItems = 0;

    // The semantic side.
    let semDim = 0;
    let sentiment: Float32Array | undefined;
    if (p.semantic && hasItemText(store)) {
      const side = await buildSemanticSide(store, {
        encoder: p.encoder,
        encoders: options.encoders,
        cacheDir: options.cacheDir,
        cache: options.embeddingCache,
        reviewVectors: p.reviewVectors,
        sentiment: p.sentiment && p.sentimentWeight > 0,
        adapter: p.adapter
          ? { outDim: p.semDim, experts: p.adapterExperts, epochs: p.adapterEpochs, lr: p.adapterLr, temperature: p.temperature, dropout: p.adapterDropout, batchSize: p.adapterBatchSize }
          : false,
        seed: ctx.seed,
        numThreads: options.numThreads,
        signal: options.signal,
        onProgress: options.onProgress,
      });
      this.encoderId = side.encoderId;
      this.inDim = side.inDim;
      this.adapter = side.adapter;
      this.itemSem = side.itemSem;
      semDim = side.semDim;
      sentiment = side.sentiment;
      this.stages = side.stages;
      this.notes.push(...side.notes, `semantic side: ${side.texts.items} item texts and ${side.texts.reviews} training reviews (${side.texts.encoded} encoded, ${side.texts.cacheHits} from the cache) with ${side.encoderId}`);
    } else {
      this.encoderId = '';
      this.inDim = 0;
      this.adapter = undefined;
      this.itemSem = new Float32Array(0);
      this.notes.push(p.semantic ? `${store.name} has no item text: llmrec trains the collaborative side only` : 'semantic side switched off: collaborative side only');
    }
    throwIfAborted(options.signal, 'llmrec.fit');

    // Signals and preference profiles.
    if (p.simulateSignals && !store.signals) store = store.withSignals(simulateTransactions(store));
    this.ratingScale = ratingScaleOf(store.rating);
    const signals = signalColumns(store, { ratingScale: this.ratingScale, sentiment });
    this.signalsDescription = signals.description;
    if (signals.simulated) this.notes.push(`preference signals include SIMULATED viewing and completion (${store.signals!.model})`);
    const weightsPerInteraction = interactionWeights(signals.columns, store.numInteractions, weights);
    const layout = fusionLayout({ numUsers: this.numUsers, numItems: this.numItems, collabDim: p.dim, semDim, lateDim: p.lateDim, mode: p.fusion });
    this.layout = layout;
    const timed = store.timestamp.some((t) => Number.isFinite(t));
    const mode: ProfileMode = timed && p.decayUnit !== 'rank' ? 'time' : 'rank';
    const decay = { alpha: p.decay, unit: mode === 'time' ? p.decayUnit : ('rank' as DecayUnit) };
    checkDecay(decay, 'llmrec');
    const byUser = store.byUser();
    this.pairs = positivePairs(ctx.seen);
    this.collectPairs(store, byUser, ctx.seen, weightsPerInteraction, signals.columns, mode, decay);
    if (semDim > 0) {
      this.profiles = await PreferenceProfiles.build({
        numUsers: this.numUsers,
        dim: semDim,
        mode,
        decay,
        byUser,
        item: store.itemIdx,
        weight: weightsPerInteraction,
        time: store.timestamp,
        vectors: this.itemSem,
        numThreads: options.numThreads,
      });
    } else {
      // No semantic vectors: profiles of weights only (totals, clocks), for the history term's live updates.
      this.profiles = new PreferenceProfiles(this.numUsers, 0, mode, decay);
      const seen = ctx.seen;
      for (let u = 0; u < this.numUsers; u++) {
        for (let at = seen.indptr[u]; at < seen.indptr[u + 1]; at++) {
          this.profiles.totals[u] += this.pairWeight[at];
          if (mode === 'time' && Number.isFinite(this.pairTime[at]) && !(this.pairTime[at] <= this.profiles.clock[u])) this.profiles.clock[u] = this.pairTime[at];
        }
        this.profiles.counts[u] = seen.indptr[u + 1] - seen.indptr[u];
      }
    }
    this.trainUserSem = undefined;
    this.trainUserWeight = undefined;

    // Parameters: ID embeddings of items without training interactions stay zero (they are never sampled).
    const theta = new Float32Array(layout.total);
    theta.set(gaussian(ctx.rng, this.numUsers * p.dim, p.initStd), layout.P);
    const warm = new Uint8Array(this.numItems);
    for (const i of ctx.seen.indices) warm[i] = 1;
    const q = gaussian(ctx.rng, this.numItems * p.dim, p.initStd);
    for (let i = 0; i < this.numItems; i++) if (!warm[i]) q.fill(0, i * p.dim, (i + 1) * p.dim);
    theta.set(q, layout.Q);
    theta.set(gaussian(ctx.rng, 2 * layout.projRows * semDim, p.initStd), layout.Wu);
    theta[layout.wc] = 1;
    theta[layout.ws] = 1;
    this.theta = theta;
    this.adamM = new Float32Array(layout.total);
    this.adamV = new Float32Array(layout.total);
    this.step = 0;
    this.candidates = Int32Array.from(Array.from(warm).flatMap((w, i) => (w ? [i] : [])));
    if (this.candidates.length < 2) throw new SemrecError('llmrec.fit: the training data needs at least two items with interactions', 'ERR_INVALID_ARG_VALUE');
  }

  /** Per training pair: the weights, time and signals of its latest interaction (summed weights when repeated). */
  private collectPairs(
    store: InteractionStore,
    byUser: { indptr: Int32Array; interactions: Int32Array },
    seen: Csr,
    weights: Float32Array,
    columns: Partial<Record<SignalName, Float32Array>>,
    mode: ProfileMode,
    decay: { alpha: number; unit: DecayUnit },
  ): void {
    const nnz = seen.indices.length;
    this.pairWeight = new Float32Array(nnz);
    this.pairSignalWeight = new Float32Array(nnz);
    this.pairTime = new Float64Array(nnz).fill(NaN);
    this.pairOrder = new Int32Array(nnz);
    this.pairSignals = {};
    for (const name of SIGNAL_NAMES) if (columns[name]) this.pairSignals[name] = new Float32Array(nnz).fill(NaN);
    for (let u = 0; u < store.numUsers; u++) {
      const from = byUser.indptr[u];
      const to = byUser.indptr[u + 1];
      let clock = NaN;
      if (mode === 'time') for (let k = from; k < to; k++) {
        const t = store.timestamp[byUser.interactions[k]];
        if (Number.isFinite(t) && !(t <= clock)) clock = t;
      }
      const row = seen.indices.subarray(seen.indptr[u], seen.indptr[u + 1]);
      for (let k = from; k < to; k++) {
        const e = byUser.interactions[k];
        const at = seen.indptr[u] + lowerBound(row, store.itemIdx[e]);
        const t = store.timestamp[e];
        const d = mode === 'time' ? (Number.isFinite(t) && Number.isFinite(clock) ? decayOverSeconds(decay.alpha, decay.unit as TimeUnit, clock - t) : 1) : decay.alpha ** (to - 1 - k);
        this.pairWeight[at] += weights[e] * d;
        this.pairSignalWeight[at] = weights[e];
        this.pairTime[at] = Number.isFinite(t) ? t : NaN;
        this.pairOrder[at] = k - from;
        for (const name of SIGNAL_NAMES) if (columns[name]) this.pairSignals[name]![at] = columns[name]![e];
      }
    }
  }

  protected override epochs(): number {
    return this.params.epochs;
  }

  protected override async trainEpoch(ctx: FitContext, _epoch: number, seed: number): Promise<number> {
    const p = this.params;
    const L = this.layout;
    const semantic = L.semDim > 0;
    const result = await fusionEpoch({
      numUsers: L.numUsers,
      numItems: L.numItems,
      collabDim: L.collabDim,
      semDim: L.semDim,
      lateDim: L.lateDim,
      mode: L.mode,
      params: this.theta,
      adamM: this.adamM,
      adamV: this.adamV,
      step: this.step,
      itemSem: semantic ? this.itemSem : undefined,
      userSem: semantic ? (this.trainUserSem ??= this.profiles!.vectors()) : undefined,
      userWeight: (semantic || p.history) && p.excludeTarget ? (this.trainUserWeight ??= this.pairTotals()) : undefined,
      ...this.historyInputs(),
      pairUsers: this.pairs.users,
      pairItems: this.pairs.items,
      pairWeight: (semantic || p.history) && p.excludeTarget ? this.pairWeight : undefined,
      positives: ctx.seen,
      candidates: this.candidates,
      negatives: p.negatives,
      loss: p.loss,
      margin: p.margin,
      reg: p.reg,
      dropout: p.dropout,
      lr: p.lr,
      weightDecay: p.weightDecay,
      batchSize: p.batchSize,
      seed,
      device: 'cpu',
      numThreads: ctx.options.numThreads,
    });
    this.step = result.step;
    return result.loss;
  }

  /** Each user's total pair weight: Z_u as the history term normalises by it (the profile total, exactly). */
  private pairTotals(): Float32Array {
    const seen = this.seen!;
    const out = new Float32Array(this.numUsers);
    for (let u = 0; u < this.numUsers; u++) {
      let s = 0;
      for (let at = seen.indptr[u]; at < seen.indptr[u + 1]; at++) s += this.pairWeight[at];
      out[u] = s;
    }
    return out;
  }

  /** The training histories for the history term (when it is on). */
  private historyInputs(): { history?: Csr; historyWeight?: Float32Array } {
    return this.params.history ? { history: this.seen!, historyWeight: this.pairWeight } : {};
  }

  protected override fitExtras(): Pick<FitReport, 'stages' | 'notes'> {
    return { stages: this.stages, notes: [...this.notes, this.signalsDescription] };
  }

  // ---- scoring ----

  protected override async prepareScoring(): Promise<void> {
    const L = this.layout;
    const users = Int32Array.from({ length: this.numUsers }, (_, u) => u);
    const v = await fusionVectors({
      ...this.shape(),
      params: this.theta,
      itemSem: L.semDim ? this.itemSem : undefined,
      users,
      userSem: L.semDim ? this.profiles!.vectors() : undefined,
      ...this.historyInputs(),
    });
    // Items without training interactions: the mean bias of the others (a neutral prior, not the untrained 0).
    const itemBias = v.itemBias!;
    const warm = new Uint8Array(this.numItems);
    for (const i of this.candidates) warm[i] = 1;
    let sum = 0;
    for (const i of this.candidates) sum += itemBias[i];
    const mean = this.candidates.length ? sum / this.candidates.length : 0;
    for (let i = 0; i < this.numItems; i++) if (!warm[i]) itemBias[i] = mean;
    let servedUsers = v.users;
    if (this.savedServedUsers && this.savedServedUsers.length === v.users.length) servedUsers = this.savedServedUsers;
    this.savedServedUsers = undefined;
    this.scoring = { users: servedUsers, items: v.items!, dim: v.width, itemBias };
    this.itemProjections = undefined;
    this.liveSums.clear();
    for (const u of this.policy?.users() ?? []) this.policy.clear(u);
  }

  protected factors(): Factors {
    return this.scoring!;
  }

  private shape() {
    const L = this.layout;
    return { numUsers: L.numUsers, numItems: L.numItems, collabDim: L.collabDim, semDim: L.semDim, lateDim: L.lateDim, mode: L.mode };
  }

  private signalWeights(): SignalWeights {
    const p = this.params;
    return { rating: p.ratingWeight, sentiment: p.sentimentWeight, viewing: p.viewingWeight, completion: p.completionWeight };
  }

  /**
   * The fused user vector from an ID embedding row (or none, for a user the model never saw) and a
   * preference vector (the same formula as fusionVectors, for one row, in TypeScript).
   */
  private fuseUser(u: number | undefined, profile: Float32Array, out: Float32Array, offset = 0, history?: ArrayLike<number>): void {
    const L = this.layout;
    const { collabDim: dc, semDim: ds, earlyRows: E, lateRows: Lr, projRows: R } = L;
    const th = this.theta;
    const wc = th[L.wc];
    const ws = th[L.ws];
    const y = new Float32Array(R);
    for (let o = 0; o < R; o++) {
      let s = 0;
      const row = L.Wu + o * ds;
      for (let t = 0; t < ds; t++) s += th[row + t] * profile[t];
      y[o] = s;
    }
    for (let t = 0; t < dc; t++) out[offset + t] = wc * ((u === undefined ? 0 : th[L.P + u * dc + t]) + (history ? history[t] : 0) + (E ? y[t] : 0));
    for (let l = 0; l < Lr; l++) out[offset + dc + l] = ws * y[E + l];
  }

  /** Seen items also hold what updateUser folded in since training (recommend leaves them out). */
  protected override seenRows(users: Int32Array): Csr {
    const trained = super.seenRows(users);
    if (this.live.size === 0) return trained;
    return concatRows(trained, csrFromLists(Array.from(users, (u) => (this.live.get(u) ?? []).map((e) => e.itemIdx))));
  }

  // ---- live profiles ----

  private checkEvents(events: readonly HistoryEvent[], what: string, now: number): { itemIdx: number; weight: number; time: number; signals: InteractionSignals }[] {
    if (!Array.isArray(events)) throw new SemrecError(`${what}: events must be an array`, 'ERR_INVALID_ARG_TYPE');
    const weights = this.signalWeights();
    return events.map((e, k) => {
      const at = `${what}: events[${k}]`;
      if (typeof e !== 'object' || e === null) throw new SemrecError(`${at} must be an object`, 'ERR_INVALID_ARG_TYPE');
      if (!Number.isInteger(e.itemIdx) || e.itemIdx < 0 || e.itemIdx >= this.numItems) {
        throw new SemrecError(`${at}.itemIdx = ${String(e.itemIdx)} is not an item index in [0, ${this.numItems})`, 'ERR_OUT_OF_RANGE');
      }
      const signals: InteractionSignals = {};
      if (e.rating !== undefined) {
        if (typeof e.rating !== 'number' || Number.isNaN(e.rating)) throw new SemrecError(`${at}.rating is not a number`, 'ERR_NAN_INPUT');
        if (!this.ratingScale) throw new SemrecError(`${at}.rating: this model was trained without ratings, so it has no scale to read one on`, 'ERR_INVALID_ARG_VALUE');
        const [lo, hi] = this.ratingScale;
        if (!(e.rating >= lo && e.rating <= hi)) throw new SemrecError(`${at}.rating = ${e.rating} is outside the dataset's scale [${lo}, ${hi}]`, 'ERR_OUT_OF_RANGE');
        signals.rating = ratingSignal(e.rating, this.ratingScale);
      }
      for (const name of ['sentiment', 'viewing', 'completion'] as const) {
        const v = e[name];
        if (v === undefined) continue;
        if (typeof v !== 'number' || Number.isNaN(v)) throw new SemrecError(`${at}.${name} is not a number`, 'ERR_NAN_INPUT');
        if (!(v >= 0 && v <= 1)) throw new SemrecError(`${at}.${name} = ${v} is outside [0, 1]`, 'ERR_OUT_OF_RANGE');
        signals[name] = v;
      }
      let time = NaN;
      if (e.timestamp !== undefined) {
        if (typeof e.timestamp !== 'number' || !Number.isFinite(e.timestamp)) throw new SemrecError(`${at}.timestamp is not a finite number of seconds`, 'ERR_NAN_INPUT');
        if (e.timestamp > now) {
          throw new SemrecError(`${at}.timestamp = ${e.timestamp} is in the future of the profile's clock (now = ${now}); timestamps are seconds since the epoch`, 'ERR_OUT_OF_RANGE');
        }
        time = e.timestamp;
      }
      return { itemIdx: e.itemIdx, weight: signalWeight(signals, weights), time, signals };
    });
  }

  /**
   * Folds new interactions of a known user into their preference profile in O(d) per event, without
   * retraining; the served vector is refreshed as the update policy says (always with `refresh`).
   */
  updateUser(userIdx: number, events: readonly HistoryEvent[], options: UpdateUserOptions = {}): UpdateUserResult {
    this.requireReady('llmrec.updateUser');
    const u = userIdx;
    if (!Number.isInteger(u) || u < 0 || u >= this.numUsers) {
      throw new SemrecError(`llmrec.updateUser: userIdx = ${String(userIdx)} is not a user index in [0, ${this.numUsers})`, 'ERR_OUT_OF_RANGE');
    }
    const now = options.now ?? Date.now() / 1000;
    const checked = this.checkEvents(events, 'llmrec.updateUser', now);
    if (checked.length === 0) return { folded: 0, refreshed: false };
    const live = this.live.get(u) ?? [];
    for (const e of checked) {
      // Timeless events happen now (time mode) or are simply the newest (rank mode).
      if (Number.isNaN(e.time) && this.profiles?.mode === 'time') e.time = this.profiles.clock[u];
      live.push(e);
    }
    this.live.set(u, live);
    if (!this.profiles) return { folded: checked.length, refreshed: false };
    const { projRows: R, collabDim: dc } = this.layout;
    const proj = R ? this.itemProjectionTable() : undefined;
    let sums = this.liveSums.get(u);
    if (!sums) {
      // Taken before folding: the history entries include the new events already (live list above).
      sums = this.startLiveSums(u, checked.length);
      this.liveSums.set(u, sums);
    }
    const { projected, history } = sums;
    const Q = this.theta;
    const qBase = this.layout.Q;
    const withHistory = this.params.history;
    const added = this.profiles.fold(
      u,
      checked.map((e) => ({ itemIdx: e.itemIdx, weight: e.weight, time: Number.isNaN(e.time) ? undefined : e.time })),
      this.itemSem,
      (scale, weight, itemIdx) => {
        const at = itemIdx * R;
        for (let o = 0; o < R; o++) projected[o] = scale * projected[o] + weight * proj![at + o];
        if (withHistory) {
          const q = qBase + itemIdx * dc;
          for (let t = 0; t < dc; t++) history[t] = scale * history[t] + weight * Q[q + t];
        }
      },
    );
    const refresh = options.refresh === true || this.policy.shouldRefresh(u, checked.length, added, this.profiles.totals[u]);
    if (refresh) this.refreshUser(u);
    return { folded: checked.length, refreshed: refresh };
  }

  /** Wu s_i for every item (numItems x projRows), computed natively once and kept until the parameters change. */
  private itemProjectionTable(): Float32Array {
    if (!this.itemProjections) {
      const L = this.layout;
      this.itemProjections = scoreMatrixSync({ users: this.itemSem, items: this.theta.subarray(L.Wu, L.Wu + L.projRows * L.semDim), dim: L.semDim }).scores;
    }
    return this.itemProjections;
  }

  /**
   * User u's running sums before its first live fold: Wu S_u from the profile sums, and sum_j w_j d_j Q_j
   * over the history as the profile weighs it now (training pairs and earlier live events; the last
   * `pending` live events are about to be folded and are left out).
   */
  private startLiveSums(u: number, pending: number): { projected: Float64Array; history: Float64Array } {
    const L = this.layout;
    const projected = new Float64Array(L.projRows);
    const S = this.profiles!.sums;
    for (let o = 0; o < L.projRows; o++) {
      let s = 0;
      for (let t = 0; t < L.semDim; t++) s += this.theta[L.Wu + o * L.semDim + t] * S[u * L.semDim + t];
      projected[o] = s;
    }
    const history = new Float64Array(L.collabDim);
    if (this.params.history) {
      for (const e of this.historyEntries(u, pending)) {
        const w = e.weight * e.decay;
        for (let t = 0; t < L.collabDim; t++) history[t] += w * this.theta[L.Q + e.itemIdx * L.collabDim + t];
      }
    }
    return { projected, history };
  }

  /** Recomputes user u's served vector from its current profile. */
  refreshUser(u: number): void {
    const L = this.layout;
    const sums = this.liveSums.get(u) ?? (this.profiles ? this.startLiveSums(u, 0) : undefined);
    if (sums && this.profiles) {
      // z_u = [wc (P_u + H / Z + Y_E / Z) ; ws Y_L / Z] from the running sums: O(width).
      const { collabDim: dc, earlyRows: E, lateRows: Lr } = L;
      const Z = this.profiles.totals[u];
      const inv = Z > 0 ? 1 / Z : 0;
      const out = this.scoring!.users;
      const base = u * L.width;
      const wc = this.theta[L.wc];
      const ws = this.theta[L.ws];
      const { projected, history } = sums;
      for (let t = 0; t < dc; t++) out[base + t] = wc * (this.theta[L.P + u * dc + t] + history[t] * inv + (E ? projected[t] * inv : 0));
      for (let l = 0; l < Lr; l++) out[base + dc + l] = ws * projected[E + l] * inv;
    }
    this.policy.clear(u);
  }

  /**
   * User u's history as the profile weighs it now: training pairs (signal weight, time, signals) and live
   * events, each with its decay relative to the profile's clock (time mode) or its recency rank. The last
   * `skipLive` live events are left out (not folded yet).
   */
  private historyEntries(u: number, skipLive = 0): { itemIdx: number; weight: number; decay: number; time: number; signals: InteractionSignals }[] {
    const seen = this.seen!;
    const profiles = this.profiles!;
    const live = (this.live.get(u) ?? []).slice(0, Math.max(0, (this.live.get(u)?.length ?? 0) - skipLive));
    const clock = profiles.clock[u];
    const decayOf = (time: number, rank: number) =>
      profiles.mode === 'time'
        ? Number.isFinite(time) && Number.isFinite(clock)
          ? decayOverSeconds(this.params.decay, profiles.decay.unit as TimeUnit, clock - time)
          : 1
        : this.params.decay ** rank;
    let trained = 0;
    for (let at = seen.indptr[u]; at < seen.indptr[u + 1]; at++) trained = Math.max(trained, this.pairOrder[at] + 1);
    const out = [];
    for (let at = seen.indptr[u]; at < seen.indptr[u + 1]; at++) {
      const signals: InteractionSignals = {};
      for (const name of SIGNAL_NAMES) {
        const v = this.pairSignals[name]?.[at];
        if (v !== undefined && !Number.isNaN(v)) signals[name] = v;
      }
      // Rank mode: the training history is older than every live event.
      const rank = trained - 1 - this.pairOrder[at] + live.length;
      out.push({ itemIdx: seen.indices[at], weight: this.pairSignalWeight[at], decay: decayOf(this.pairTime[at], rank), time: this.pairTime[at], signals });
    }
    live.forEach((e, k) => out.push({ itemIdx: e.itemIdx, weight: e.weight, decay: decayOf(e.time, live.length - 1 - k), time: e.time, signals: e.signals }));
    return out;
  }

  /** Events folded into user u's profile that its served vector does not reflect yet. */
  pendingEvents(u: number): number {
    return this.policy.pending(u);
  }

  /** A user's preference vector (semDim values; empty without a semantic side). */
  preferenceVector(u: number): Float32Array {
    const out = new Float32Array(this.layout.semDim);
    this.profiles?.vectorInto(u, out);
    return out;
  }

  /** llmrec reads every signal of a history event (see checkEvents) and refuses what it cannot read. */
  protected override checkHistoryFields(events: readonly HistoryEvent[], what: string): void {
    this.checkEvents(events, what, Date.now() / 1000);
  }

  /**
   * A user the model never saw, from a few interactions (recommendForHistory): the preference vector and
   * the history term are built from the events (signals and decay as in training) and fused with no ID
   * embedding of the user's own.
   */
  protected override async foldIn(events: readonly HistoryEvent[]): Promise<Float32Array> {
    const checked = this.checkEvents(events, 'llmrec.recommendForHistory', Date.now() / 1000);
    const L = this.layout;
    const vector = new Float32Array(L.width);
    const profile = new Float32Array(L.semDim);
    let history: Float64Array | undefined;
    if (this.profiles && checked.length > 0) {
      const one = new PreferenceProfiles(1, L.semDim, this.profiles.mode, this.profiles.decay);
      const ordered = checked.slice().sort((a, b) => (Number.isNaN(a.time) || Number.isNaN(b.time) ? 0 : a.time - b.time));
      const sums = new Float64Array(L.collabDim);
      const dc = L.collabDim;
      one.fold(0, ordered.map((e) => ({ itemIdx: e.itemIdx, weight: e.weight, time: Number.isNaN(e.time) ? undefined : e.time })), this.itemSem, (scale, weight, itemIdx) => {
        for (let t = 0; t < dc; t++) sums[t] = scale * sums[t] + weight * this.theta[L.Q + itemIdx * dc + t];
      });
      one.vectorInto(0, profile);
      if (this.params.history && one.totals[0] > 0) history = sums.map((v) => v / one.totals[0]);
    }
    this.fuseUser(undefined, profile, vector, 0, history);
    return vector;
  }

  /**
   * Adds items that have text but no interactions: encoded with the model's encoder, adapted, and
   * recommendable at once (ID embedding 0, bias the mean of the trained items'); their raw ids (and
   * titles) join the catalog. Returns their indices.
   */
  async addItems(items: readonly NewItem[], options: { encoder?: Encoder; cacheDir?: string } = {}): Promise<Int32Array> {
    const what = 'llmrec.addItems';
    this.requireReady(what);
    if (!Array.isArray(items)) throw new SemrecError(`${what}: items must be an array of { id, text, title? }`, 'ERR_INVALID_ARG_TYPE');
    items.forEach((item, r) => {
      if (typeof item?.text !== 'string') throw new SemrecError(`${what}: items[${r}].text must be a string`, 'ERR_INVALID_ARG_TYPE');
    });
    const L = this.layout;
    if (L.semDim === 0) throw new SemrecError(`${what}: this model has no semantic side (it was trained without item text), so new items cannot be placed`, 'ERR_INVALID_ARG_VALUE');
    if (items.length === 0) return new Int32Array(0);
    this.catalog.withItems(items, what); // checks the ids before anything is encoded
    const texts = items.map((i) => i.text);
    const raw = await encodeNewItems(texts, { encoder: this.params.encoder, encoderId: this.encoderId, cacheDir: options.cacheDir ?? this.cacheDir, item: options.encoder ?? this.encoders?.item });
    if (raw.length !== texts.length * this.inDim) throw new SemrecError(`llmrec.addItems: the encoder gave ${raw.length / texts.length}-d vectors, the model reads ${this.inDim}-d`, 'ERR_MODEL_MISMATCH');
    const adapted = this.adapter ? await this.adapter.apply(raw) : raw;
    const first = this.numItems;
    const added = texts.length;
    const next = fusionLayout({ ...this.shape(), numItems: first + added });
    const theta = new Float32Array(next.total);
    theta.set(this.theta.subarray(0, L.Q + first * L.collabDim), 0);
    theta.set(this.theta.subarray(L.bias, L.bias + first), next.bias);
    theta.set(this.theta.subarray(L.Wu), next.Wu);
    const sem = new Float32Array((first + added) * L.semDim);
    sem.set(this.itemSem);
    sem.set(adapted, first * L.semDim);
    this.theta = theta;
    this.adamM = new Float32Array(next.total);
    this.adamV = new Float32Array(next.total);
    this.itemSem = sem;
    this.layout = next;
    this.extendCatalog(items, what);
    this.numItems = first + added;
    this.addedItems += added;
    await this.prepareScoring();
    return Int32Array.from({ length: added }, (_, j) => first + j);
  }

  // ---- explanations ----

  /**
   * What history item j scores for itemIdx per unit of its profile share: its semantic vector through the
   * user projection, wc (Wu_E s_j) . (Q_i + x_E) + ws (Wu_L s_j) . x_L, plus with the history term
   * wc Q_j . (Q_i + x_E), where x = Wi s_i. A user's profile and history parts are the share-weighted sum.
   */
  private perShareScores(itemIdx: number): (j: number) => number {
    const L = this.layout;
    const { collabDim: dc, semDim: ds, earlyRows: E, projRows: R } = L;
    const th = this.theta;
    const wc = th[L.wc];
    const ws = th[L.ws];
    const x = new Float64Array(R);
    for (let o = 0; o < R; o++) for (let t = 0; t < ds; t++) x[o] += th[L.Wi + o * ds + t] * this.itemSem[itemIdx * ds + t];
    return (j: number) => {
      let c = 0;
      if (this.params.history) for (let t = 0; t < dc; t++) c += wc * th[L.Q + j * dc + t] * (th[L.Q + itemIdx * dc + t] + (E ? x[t] : 0));
      for (let o = 0; o < R; o++) {
        let y = 0;
        for (let t = 0; t < ds; t++) y += th[L.Wu + o * ds + t] * this.itemSem[j * ds + t];
        c += o < E ? wc * y * (th[L.Q + itemIdx * dc + o] + x[o]) : ws * y * x[o];
      }
      return c;
    };
  }

  /** explain()'s similarity: what each history item scores for the item per unit of its profile share. */
  protected override async historySimilarities(itemIdx: number, items: Int32Array): Promise<HistorySimilarities> {
    const perShare = this.perShareScores(itemIdx);
    return { similarity: Float64Array.from(items, (j) => perShare(j)), method: EXPLAIN_METHOD };
  }

  /**
   * explain() (the history items that speak for the item) plus the score split into its parts
   * (collaborative + itemContent + profile + bias = score), every history item's contribution through the
   * user's profile (largest first, `history` of them) and the signals behind them.
   */
  async explainScore(userIdx: number, itemIdx: number, options: { history?: number } = {}): Promise<LlmRecExplanation> {
    const shared = await this.explain(userIdx, itemIdx);
    const u = userIdx;
    const L = this.layout;
    const { collabDim: dc, semDim: ds, earlyRows: E, projRows: R } = L;
    const th = this.theta;
    const wc = th[L.wc];
    const x = new Float64Array(R);
    for (let o = 0; o < R; o++) for (let t = 0; t < ds; t++) x[o] += th[L.Wi + o * ds + t] * this.itemSem[itemIdx * ds + t];
    let collaborative = 0;
    let itemContent = 0;
    for (let t = 0; t < dc; t++) {
      const pu = th[L.P + u * dc + t];
      collaborative += wc * pu * th[L.Q + itemIdx * dc + t];
      if (E) itemContent += wc * pu * x[t];
    }
    const perShare = this.perShareScores(itemIdx);
    const history: HistoryContribution[] = [];
    let profile = 0;
    if (this.profiles) {
      const Z = this.profiles.totals[u];
      for (const e of this.historyEntries(u)) {
        const share = Z > 0 ? (e.weight * e.decay) / Z : 0;
        const contribution = share * perShare(e.itemIdx);
        profile += contribution;
        history.push({ itemIdx: e.itemIdx, contribution, share, signals: e.signals, weight: e.weight, decay: e.decay, ...(Number.isFinite(e.time) ? { time: e.time } : {}) });
      }
    }
    history.sort((a, b) => Math.abs(b.contribution) - Math.abs(a.contribution) || a.itemIdx - b.itemIdx);
    const bias = this.scoring!.itemBias![itemIdx];
    return {
      ...shared,
      userIdx: u,
      parts: { collaborative, itemContent, profile, bias },
      history: history.slice(0, options.history ?? EXPLAIN_HISTORY),
      signals: this.signalsDescription,
    };
  }

  // ---- save / load ----

  protected state(): ModelState {
    const L = this.layout;
    const arrays: ModelState['arrays'] = {
      params: this.theta,
      servedUsers: this.scoring!.users,
      candidates: this.candidates,
      pairWeight: this.pairWeight,
      pairSignalWeight: this.pairSignalWeight,
    };
    const timeBase = finiteMin(this.pairTime);
    arrays.pairTime = Int32Array.from(this.pairTime, (t) => (Number.isFinite(t) ? Math.round(t - timeBase) : NO_TIME));
    arrays.pairOrder = this.pairOrder;
    for (const name of SIGNAL_NAMES) if (this.pairSignals[name]) arrays[`pairSignal_${name}`] = this.pairSignals[name]!;
    const meta: ModelState['meta'] = {
      semDim: L.semDim,
      encoderId: this.encoderId,
      inDim: this.inDim,
      signals: this.signalsDescription,
      notes: this.notes,
      pairTimeBase: timeBase,
      addedItems: this.addedItems,
    };
    if (this.ratingScale) meta.ratingScale = [...this.ratingScale];
    if (L.semDim > 0) arrays.itemSem = this.itemSem;
    if (this.profiles) {
      const s = this.profiles.state();
      arrays.profileSums = s.sums;
      arrays.profileTotals = s.totals;
      arrays.profileClock = s.clockOffsets;
      arrays.profileCounts = s.counts;
      meta.profileClockBase = s.clockBase;
      meta.profileMode = this.profiles.mode;
      meta.profileUnit = this.profiles.decay.unit;
    }
    if (this.adapter) {
      arrays.adapter = this.adapter.params;
      meta.adapterExperts = this.adapter.shape.experts;
    }
    // Live events (updateUser) since training: user, item, weight, time offset, and their signals.
    const liveUsers: number[] = [];
    const liveItems: number[] = [];
    const liveWeights: number[] = [];
    const liveTimes: number[] = [];
    const liveSignals: number[] = [];
    for (const [u, events] of this.live) {
      for (const e of events) {
        liveUsers.push(u);
        liveItems.push(e.itemIdx);
        liveWeights.push(e.weight);
        liveTimes.push(Number.isFinite(e.time) ? Math.round(e.time - timeBase) : NO_TIME);
        for (const name of SIGNAL_NAMES) liveSignals.push(e.signals[name] ?? NaN);
      }
    }
    arrays.liveUsers = Int32Array.from(liveUsers);
    arrays.liveItems = Int32Array.from(liveItems);
    arrays.liveWeights = Float32Array.from(liveWeights);
    arrays.liveTimes = Int32Array.from(liveTimes);
    arrays.liveSignals = Float32Array.from(liveSignals);
    return { meta, arrays };
  }

  protected restore(state: ModelState): void {
    const p = this.params;
    const semDim = BaseRecommender.number(state, 'semDim');
    this.layout = fusionLayout({ numUsers: this.numUsers, numItems: this.numItems, collabDim: p.dim, semDim, lateDim: p.lateDim, mode: p.fusion });
    const L = this.layout;
    this.theta = BaseRecommender.array(state, 'params', Float32Array, L.total);
    this.adamM = new Float32Array(L.total);
    this.adamV = new Float32Array(L.total);
    this.savedServedUsers = BaseRecommender.array(state, 'servedUsers', Float32Array, this.numUsers * L.width);
    const candidates = state.arrays.candidates;
    if (!(candidates instanceof Int32Array)) throw new SemrecError("load: array 'candidates' is missing", 'ERR_MODEL_CORRUPT');
    this.candidates = candidates;
    const nnz = this.seen ? this.seen.indices.length : 0;
    this.pairWeight = BaseRecommender.array(state, 'pairWeight', Float32Array, nnz);
    this.pairSignalWeight = BaseRecommender.array(state, 'pairSignalWeight', Float32Array, nnz);
    const timeBase = BaseRecommender.number(state, 'pairTimeBase');
    this.pairTime = Float64Array.from(BaseRecommender.array(state, 'pairTime', Int32Array, nnz), (o) => (o === NO_TIME ? NaN : timeBase + o));
    this.pairOrder = BaseRecommender.array(state, 'pairOrder', Int32Array, nnz);
    this.pairSignals = {};
    for (const name of SIGNAL_NAMES) {
      const a = state.arrays[`pairSignal_${name}`];
      if (a !== undefined) this.pairSignals[name] = BaseRecommender.array(state, `pairSignal_${name}`, Float32Array, nnz);
    }
    if (this.seen) this.pairs = positivePairs(this.seen);
    this.encoderId = typeof state.meta.encoderId === 'string' ? state.meta.encoderId : '';
    this.inDim = typeof state.meta.inDim === 'number' ? state.meta.inDim : 0;
    this.addedItems = typeof state.meta.addedItems === 'number' ? state.meta.addedItems : 0;
    this.signalsDescription = typeof state.meta.signals === 'string' ? state.meta.signals : '';
    this.notes = Array.isArray(state.meta.notes) ? (state.meta.notes as string[]) : [];
    const scale = state.meta.ratingScale;
    this.ratingScale = Array.isArray(scale) && scale.length === 2 ? [Number(scale[0]), Number(scale[1])] : undefined;
    this.policy = new RefreshPolicy(p.updatePolicy);
    this.live = new Map();
    this.profiles = undefined;
    if (state.arrays.profileTotals !== undefined) {
      const mode = state.meta.profileMode === 'time' ? 'time' : 'rank';
      const unit = String(state.meta.profileUnit) as DecayUnit;
      this.profiles = PreferenceProfiles.restore(this.numUsers, semDim, mode, { alpha: p.decay, unit }, {
        sums: BaseRecommender.array(state, 'profileSums', Float32Array, this.numUsers * semDim),
        totals: BaseRecommender.array(state, 'profileTotals', Float32Array, this.numUsers),
        clockBase: BaseRecommender.number(state, 'profileClockBase'),
        clockOffsets: BaseRecommender.array(state, 'profileClock', Int32Array, this.numUsers),
        counts: BaseRecommender.array(state, 'profileCounts', Int32Array, this.numUsers),
      });
    }
    if (semDim > 0) {
      this.itemSem = BaseRecommender.array(state, 'itemSem', Float32Array, this.numItems * semDim);
      if (state.arrays.adapter !== undefined) {
        const shape = { inDim: this.inDim, outDim: semDim, experts: BaseRecommender.number(state, 'adapterExperts') };
        const adapterParams = state.arrays.adapter;
        if (!(adapterParams instanceof Float32Array)) throw new SemrecError("load: array 'adapter' is not float32", 'ERR_MODEL_CORRUPT');
        this.adapter = new SemanticAdapter(shape, adapterParams);
      } else {
        this.adapter = undefined;
      }
    } else {
      this.itemSem = new Float32Array(0);
      this.adapter = undefined;
    }
    const liveUsers = state.arrays.liveUsers;
    if (liveUsers instanceof Int32Array) {
      const n = liveUsers.length;
      const items = BaseRecommender.array(state, 'liveItems', Int32Array, n);
      const weights = BaseRecommender.array(state, 'liveWeights', Float32Array, n);
      const times = BaseRecommender.array(state, 'liveTimes', Int32Array, n);
      const sig = BaseRecommender.array(state, 'liveSignals', Float32Array, n * SIGNAL_NAMES.length);
      for (let k = 0; k < n; k++) {
        const signals: InteractionSignals = {};
        SIGNAL_NAMES.forEach((name, j) => {
          const v = sig[k * SIGNAL_NAMES.length + j];
          if (!Number.isNaN(v)) signals[name] = v;
        });
        const list = this.live.get(liveUsers[k]) ?? [];
        list.push({ itemIdx: items[k], weight: weights[k], time: times[k] === NO_TIME ? NaN : timeBase + times[k], signals });
        this.live.set(liveUsers[k], list);
      }
    }
  }

  /** The [min, max] rating scale the model reads event ratings on (the training data's), if it had ratings. */
  get ratingScaleOf(): readonly [number, number] | undefined {
    return this.ratingScale;
  }

  /** The encoder id the model's vectors come from ('' without a semantic side). */
  get encoder(): string {
    return this.encoderId;
  }

  /** Refuses an encoder other than the one the model was trained with. */
  checkEncoder(encoder: Encoder): void {
    if (encoder.id !== this.encoderId) {
      throw new SemrecError(`this model was trained on the encoder ${this.encoderId || '(none)'}; the encoder given is ${encoder.id}`, 'ERR_MODEL_MISMATCH');
    }
  }

  /** The share of a profile's weight that pending events may carry (ts/preference/policy.ts). */
  static readonly refreshShare = ADAPTIVE_REFRESH_SHARE;
}

/** Saved time offset of a pair or event without a timestamp. */
const NO_TIME = -(2 ** 31);

function finiteMin(a: Float64Array): number {
  let m = Infinity;
  for (const v of a) if (Number.isFinite(v) && v < m) m = v;
  return Number.isFinite(m) ? m : 0;
}

function lowerBound(row: Int32Array, value: number): number {
  let lo = 0;
  let hi = row.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (row[mid] < value) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

