/**
 * The explicit, typed registry of models: name -> hyperparameter schema and constructor. createModel()
 * validates hyperparameters against the schema (filling in the documented defaults); loadModel() reads
 * a saved model and rebuilds it through the same entry.
 */
import { SemrecError } from '../errors';
import type { BaseRecommender } from './base';
import type { TrainingData } from './data';
import { Bert4RecModel, bert4RecParams } from './bert4rec';
import { BprModel, bprParams } from './bpr';
import { ItemKnnModel, itemKnnParams } from './itemknn';
import { LightFmModel, lightFmParams } from './lightfm';
import { LightGcnModel, lightGcnParams } from './lightgcn';
import { MfModel, mfParams } from './mf';
import { NeuMfModel, neuMfParams } from './neumf';
import { parseParams, type z } from './params';
import { readModel } from './persist';
import { PopModel, popParams } from './pop';
import { SasRecModel, sasRecParams } from './sasrec';
import { VbprModel, vbprParams } from './vbpr';

interface RegistryEntry<S extends z.ZodType, M> {
  schema: S;
  create: (params: z.output<S>) => M;
  description: string;
}

function entry<S extends z.ZodType, M>(e: RegistryEntry<S, M>): RegistryEntry<S, M> {
  return e;
}

export const modelRegistry = {
  pop: entry({ schema: popParams, create: (p) => new PopModel(p), description: 'most popular items' }),
  itemknn: entry({ schema: itemKnnParams, create: (p) => new ItemKnnModel(p), description: 'item-based k-NN, cosine with shrinkage' }),
  mf: entry({ schema: mfParams, create: (p) => new MfModel(p), description: 'biased MF of explicit ratings, SGD ("SVD")' }),
  bpr: entry({ schema: bprParams, create: (p) => new BprModel(p), description: 'BPR-MF, pairwise SGD' }),
  neumf: entry({ schema: neuMfParams, create: (p) => new NeuMfModel(p), description: 'NeuMF: GMF + MLP, BCE, Adam' }),
  lightgcn: entry({ schema: lightGcnParams, create: (p) => new LightGcnModel(p), description: 'LightGCN, 3-layer graph propagation, BPR, Adam' }),
  vbpr: entry({ schema: vbprParams, create: (p) => new VbprModel(p), description: 'VBPR with item content vectors, BPR SGD' }),
  lightfm: entry({ schema: lightFmParams, create: (p) => new LightFmModel(p), description: 'LightFM hybrid factorisation, WARP/BPR, Adagrad' }),
  sasrec: entry({ schema: sasRecParams, create: (p) => new SasRecModel(p), description: 'SASRec: causal self-attention, next-item CE (sequential)' }),
  bert4rec: entry({ schema: bert4RecParams, create: (p) => new Bert4RecModel(p), description: 'BERT4Rec: bidirectional, masked-item CE (sequential)' }),
} as const;

export type ModelName = keyof typeof modelRegistry;
type Schema<N extends ModelName> = (typeof modelRegistry)[N]['schema'];
/** Validated hyperparameters of model N (defaults filled in). */
export type ParamsOf<N extends ModelName> = z.output<Schema<N>>;
/** Hyperparameters as a user writes them (every field optional). */
export type ParamsInput<N extends ModelName> = z.input<Schema<N>>;
export type ModelOf<N extends ModelName> = ReturnType<(typeof modelRegistry)[N]['create']>;

export const MODEL_NAMES = Object.keys(modelRegistry) as ModelName[];

export function isModelName(name: string): name is ModelName {
  return Object.prototype.hasOwnProperty.call(modelRegistry, name);
}

export function checkModelName(name: string, what: string): ModelName {
  if (!isModelName(name)) {
    throw new SemrecError(`${what}: unknown model '${name}' (known: ${MODEL_NAMES.join(', ')})`, 'ERR_UNKNOWN_MODEL');
  }
  return name;
}

/** A new, unfitted model with validated hyperparameters. */
export function createModel<N extends ModelName>(name: N, params: ParamsInput<N> = {} as ParamsInput<N>): ModelOf<N> {
  const e = modelRegistry[checkModelName(name, 'createModel')] as unknown as RegistryEntry<z.ZodType, ModelOf<N>>;
  return e.create(parseParams(name, e.schema, params));
}

/** Any registered model. */
export type AnyModel = ModelOf<ModelName>;

export interface LoadModelOptions<N extends ModelName = ModelName> {
  /** The model the directory must hold (ERR_UNKNOWN_MODEL otherwise); narrows the returned type. */
  model?: N;
  /** Data the model must have been trained on exactly (ERR_DATA_MISMATCH otherwise, saying what differs). */
  trainingData?: TrainingData;
  /** A dataset that must share the model's users and items at the same indices (e.g. the full dataset of its training split). */
  dataset?: TrainingData;
}

/**
 * A model saved with save(dir), ready to score and to answer by raw id without the dataset. Passing
 * `trainingData` or `dataset` checks them against the model's training-data fingerprint.
 */
export async function loadModel<N extends ModelName = ModelName>(dir: string, options: LoadModelOptions<N> = {}): Promise<ModelOf<N>> {
  const saved = await readModel(dir);
  if (!isModelName(saved.model)) {
    throw new SemrecError(`load: ${dir} holds a '${saved.model}' model, which this semrec does not know`, 'ERR_UNKNOWN_MODEL');
  }
  if (options.model !== undefined && saved.model !== options.model) {
    throw new SemrecError(`load: ${dir} holds a '${saved.model}' model, not the '${options.model}' asked for`, 'ERR_UNKNOWN_MODEL');
  }
  const model = createModel(saved.model, saved.params as never) as BaseRecommender<object>;
  await model.restoreSaved(saved, dir);
  if (options.trainingData) model.checkData(options.trainingData, 'interactions');
  if (options.dataset) model.checkData(options.dataset, 'ids');
  return model as ModelOf<N>;
}

export interface ParamDoc {
  name: string;
  default: unknown;
  description: string;
}

/** Each hyperparameter of a model with its default and description (for help texts and reports). */
export function describeParams(name: ModelName): ParamDoc[] {
  const schema = modelRegistry[name].schema as unknown as z.ZodObject;
  const defaults = schema.parse({}) as Record<string, unknown>;
  return Object.entries(schema.shape).map(([key, field]) => ({
    name: key,
    default: defaults[key],
    description: (field as z.ZodType).description ?? '',
  }));
}
