/**
 * Typed access to the native trainers (native/include/semrec/train_*.h). Parameter arrays are updated
 * in place by the epoch ops; the models own them and never touch them while an op runs. Every op has
 * a readable TypeScript reference in ./reference.ts, and the native side validates every argument.
 *
 * Samples: an epoch either draws its samples from `seed` (the positive pairs in shuffled order, one or
 * more uniform negatives each, drawn in fixed chunks so the sample set never depends on the number of
 * threads) or trains on samples given explicitly (tests replay exactly what an epoch trained on).
 * With numThreads 1 every epoch is bit-reproducible from its seed; see train_common.h for what
 * multi-threaded runs guarantee.
 */
import type { Csr } from '../kernels/types';
import { addon, type RawItemNeighbors, type RawLightFmRepresentations, type RawPointSamples, type RawTriples } from '../native/addon';

/** Positive (user, item) pairs, and each user's positives (sorted, unique) for negative sampling. */
export interface SampleSourceArgs {
  numUsers: number;
  numItems: number;
  pairUsers: Int32Array;
  pairItems: Int32Array;
  positives: Csr;
  seed: number;
}

/** Explicit BPR triples instead of drawing them. */
export interface ExplicitTriples {
  tripleUsers: Int32Array;
  triplePos: Int32Array;
  tripleNeg: Int32Array;
}

export interface ThreadOption {
  /** CPU threads for this call (default: setNumThreads / all hardware threads). */
  numThreads?: number;
}

export type TripleSourceArgs = (Omit<SampleSourceArgs, 'numUsers' | 'numItems'> | ExplicitTriples) & ThreadOption;

export interface MfEpochArgs extends ThreadOption {
  numUsers: number;
  numItems: number;
  dim: number;
  P: Float32Array;
  Q: Float32Array;
  userBias: Float32Array;
  itemBias: Float32Array;
  globalMean: number;
  users: Int32Array;
  items: Int32Array;
  ratings: Float32Array;
  /** Visit order of the ratings; drawn from `seed` when absent. */
  order?: Int32Array;
  seed?: number;
  lr: number;
  regFactors: number;
  regBias: number;
}

export type BprEpochArgs = TripleSourceArgs & {
  numUsers: number;
  numItems: number;
  dim: number;
  P: Float32Array;
  Q: Float32Array;
  itemBias?: Float32Array;
  lr: number;
  reg: number;
  regBias: number;
};

export interface VbprModelArgs extends ThreadOption {
  numUsers: number;
  numItems: number;
  dim: number;
  contentDim: number;
  numFeatures: number;
  gammaU: Float32Array;
  gammaI: Float32Array;
  thetaU: Float32Array;
  E: Float32Array;
  itemBias: Float32Array;
  featureBias: Float32Array;
  features: Float32Array;
}

export type VbprEpochArgs = VbprModelArgs &
  TripleSourceArgs & { lr: number; reg: number; regBias: number; regContent: number };

export interface LightFmModelArgs extends ThreadOption {
  numUsers: number;
  numItems: number;
  numUserFeatures: number;
  numItemFeatures: number;
  dim: number;
  userEmb: Float32Array;
  itemEmb: Float32Array;
  itemBias: Float32Array;
  userFeatures: Csr;
  userFeatureWeights: Float32Array;
  itemFeatures: Csr;
  itemFeatureWeights: Float32Array;
}

export type LightFmEpochArgs = LightFmModelArgs &
  TripleSourceArgs & {
    userEmbAcc: Float32Array;
    itemEmbAcc: Float32Array;
    itemBiasAcc: Float32Array;
    loss: 'bpr' | 'warp';
    lr: number;
    userAlpha: number;
    itemAlpha: number;
    maxSampled: number;
    /** Needed with explicit triples too: WARP skips candidates that are positives. */
    positives: Csr;
    /** WARP candidates (triples x maxSampled) instead of drawing them (tests). */
    candidates?: Int32Array;
    seed?: number;
  };

export interface NeuMfLayoutArgs extends ThreadOption {
  numUsers: number;
  numItems: number;
  gmfDim: number;
  mlpDim: number;
  hidden: number[];
}

export interface ExplicitPointSamples {
  sampleUsers: Int32Array;
  sampleItems: Int32Array;
  sampleLabels: Float32Array;
}

export type PointSourceArgs =
  | (Omit<SampleSourceArgs, 'numUsers' | 'numItems'> & { negatives: number })
  | ExplicitPointSamples;

export type NeuMfEpochArgs = NeuMfLayoutArgs &
  PointSourceArgs & {
    params: Float32Array;
    adamM: Float32Array;
    adamV: Float32Array;
    step: number;
    lr: number;
    reg: number;
    batchSize: number;
  };

export interface LightGcnGraphArgs extends ThreadOption {
  numUsers: number;
  numItems: number;
  dim: number;
  layers: number;
  /** The training graph: each user's items, sorted and unique. */
  positives: Csr;
}

export type LightGcnEpochArgs = LightGcnGraphArgs &
  TripleSourceArgs & {
    E0: Float32Array;
    adamM: Float32Array;
    adamV: Float32Array;
    step: number;
    lr: number;
    reg: number;
    batchSize: number;
  };

export interface ItemKnnNeighborsArgs extends ThreadOption {
  numUsers: number;
  numItems: number;
  byItem: Csr;
  byUser: Csr;
  neighbors: number;
  shrink: number;
}

export interface ItemKnnScoreArgs extends ThreadOption {
  numUsers: number;
  numItems: number;
  neighbors: Csr;
  similarity: Float32Array;
  userItems: Csr;
  users: Int32Array;
}

/** The frozen item side of a fold-in: score(u, i) = userVector(u) . itemFactors[i] + itemBias[i]. */
export interface FrozenItemsArgs extends ThreadOption {
  numItems: number;
  dim: number;
  itemFactors: Float32Array;
  itemBias?: Float32Array;
}

/** Pairwise SGD fold-in of new users (semrec/fold_in.h): one free vector per history row. */
export interface FoldInPairwiseArgs extends FrozenItemsArgs {
  numUsers: number;
  /** Each new user's history items, sorted and unique. */
  histories: Csr;
  /** Added to scale * x_u before scoring (numUsers x dim; LightGCN's graph-propagated part). */
  offset?: Float32Array;
  /** 1 by default: the user vector is scale * x_u + offset[u]. */
  scale?: number;
  loss?: 'bpr' | 'warp';
  lr: number;
  reg: number;
  epochs: number;
  maxSampled?: number;
  adagrad?: boolean;
  seed: number;
}

/** Least-squares fold-in of explicit ratings (semrec/fold_in.h). */
export interface FoldInRidgeArgs extends FrozenItemsArgs {
  numUsers: number;
  /** Each new user's rated items (repeats allowed), aligned with `targets`. */
  histories: Csr;
  /** Rating minus the global mean, per entry of histories.indices. */
  targets: Float32Array;
  regFactors: number;
  regBias: number;
}

export const trainOps = {
  sampleTriples: (a: SampleSourceArgs & ThreadOption): Promise<RawTriples> => addon().sampleTriples(a),
  samplePoints: (a: SampleSourceArgs & ThreadOption & { negatives: number }): Promise<RawPointSamples> =>
    addon().samplePoints(a),
  mfEpoch: (a: MfEpochArgs) => addon().mfEpoch(a),
  bprEpoch: (a: BprEpochArgs) => addon().bprEpoch(a),
  vbprEpoch: (a: VbprEpochArgs) => addon().vbprEpoch(a),
  vbprItemFactors: (a: VbprModelArgs) => addon().vbprItemFactors(a),
  lightfmEpoch: (a: LightFmEpochArgs) => addon().lightfmEpoch(a),
  lightfmRepresentations: (a: LightFmModelArgs): Promise<RawLightFmRepresentations> => addon().lightfmRepresentations(a),
  neumfEpoch: (a: NeuMfEpochArgs) => addon().neumfEpoch(a),
  neumfGradient: (a: NeuMfLayoutArgs & PointSourceArgs & { params: Float32Array; reg: number }) => addon().neumfGradient(a),
  neumfScore: (a: NeuMfLayoutArgs & { params: Float32Array; users: Int32Array }) => addon().neumfScore(a),
  lightgcnEpoch: (a: LightGcnEpochArgs) => addon().lightgcnEpoch(a),
  lightgcnGradient: (a: LightGcnGraphArgs & (ExplicitTriples & ThreadOption) & { E0: Float32Array; reg: number }) =>
    addon().lightgcnGradient(a),
  lightgcnForward: (a: LightGcnGraphArgs & { E0: Float32Array }) => addon().lightgcnForward(a),
  itemKnnNeighbors: (a: ItemKnnNeighborsArgs): Promise<RawItemNeighbors> => addon().itemKnnNeighbors(a),
  itemKnnScore: (a: ItemKnnScoreArgs) => addon().itemKnnScore(a),
  foldInPairwise: (a: FoldInPairwiseArgs) => addon().foldInPairwise(a),
  foldInRidge: (a: FoldInRidgeArgs) => addon().foldInRidge(a),
};
