/**
 * Builds BERT-family encoders (RoBERTa and BERT layouts) as ONNX graphs with semrec's own graph
 * builder: inputs `input_ids`, `attention_mask` (and `token_type_ids` for BERT), output
 * `last_hidden_state` [batch, sequence, hidden]. The layer arithmetic is that of Hugging Face's
 * RobertaModel / BertModel (post-layer-norm blocks, exact-erf GELU, additive attention mask).
 *
 * With `randomTransformerWeights` this makes the offline test fixture (a tiny RoBERTa run with the
 * real roberta-base tokenizer) and the roberta-base-sized model of the benchmarks; a real checkpoint's
 * tensors can be passed in the same `TransformerWeights` layout.
 */
import { SemrecError } from '../../errors';
import { Random } from '../../util/random';
import { attr, GraphBuilder, type ModelInfo, tensor } from './graph';

export interface TransformerConfig {
  /** 'roberta': positions start after the padding index and skip padding; 'bert': positions 0..T-1 and token types. */
  layout: 'roberta' | 'bert';
  vocabSize: number;
  hidden: number;
  layers: number;
  heads: number;
  intermediate: number;
  /** Position embedding rows (roberta-base: 514 = 512 + padding offset 2; bert-base: 512). */
  maxPositions: number;
  /** Token type rows (roberta: 1, bert: 2). */
  typeVocabSize: number;
  /** RoBERTa's padding index, from which positions are offset (1 for roberta-base). */
  paddingIdx: number;
  /** Layer-norm epsilon (1e-5 RoBERTa, 1e-12 BERT). */
  layerNormEps: number;
}

/** roberta-base's shape (Liu et al. 2019; Hugging Face config.json of roberta-base). */
export const ROBERTA_BASE: TransformerConfig = {
  layout: 'roberta',
  vocabSize: 50265,
  hidden: 768,
  layers: 12,
  heads: 12,
  intermediate: 3072,
  maxPositions: 514,
  typeVocabSize: 1,
  paddingIdx: 1,
  layerNormEps: 1e-5,
};

/** The tiny RoBERTa of the tests: roberta-base's vocabulary and layout, 2 layers of width 64. */
export const TINY_ROBERTA: TransformerConfig = { ...ROBERTA_BASE, hidden: 64, layers: 2, heads: 4, intermediate: 128 };

export interface LayerWeights {
  query: Float32Array; queryBias: Float32Array; // hidden x hidden (input-major: y = x W + b), hidden
  key: Float32Array; keyBias: Float32Array;
  value: Float32Array; valueBias: Float32Array;
  attentionOut: Float32Array; attentionOutBias: Float32Array;
  attentionNormScale: Float32Array; attentionNormBias: Float32Array;
  ffnIn: Float32Array; ffnInBias: Float32Array; // hidden x intermediate, intermediate
  ffnOut: Float32Array; ffnOutBias: Float32Array; // intermediate x hidden, hidden
  ffnNormScale: Float32Array; ffnNormBias: Float32Array;
}

export interface TransformerWeights {
  wordEmbeddings: Float32Array; // vocab x hidden
  positionEmbeddings: Float32Array; // maxPositions x hidden
  tokenTypeEmbeddings: Float32Array; // typeVocab x hidden
  embeddingNormScale: Float32Array;
  embeddingNormBias: Float32Array;
  layers: LayerWeights[];
}

/**
 * Deterministic random weights: uniform with the standard deviation of BERT's initialiser (0.02), layer
 * norms at identity. Uniform rather than normal draws keep a 125 M-parameter model quick to generate.
 */
export function randomTransformerWeights(config: TransformerConfig, seed: number): TransformerWeights {
  const rng = new Random(seed);
  const INIT_STD = 0.02; // BertConfig.initializer_range
  const halfWidth = INIT_STD * Math.sqrt(3);
  const rand = (n: number) => {
    const a = new Float32Array(n);
    for (let i = 0; i < n; i++) a[i] = (rng.float() * 2 - 1) * halfWidth;
    return a;
  };
  const ones = (n: number) => new Float32Array(n).fill(1);
  const zeros = (n: number) => new Float32Array(n);
  const { hidden: h, intermediate: f } = config;
  return {
    wordEmbeddings: rand(config.vocabSize * h),
    positionEmbeddings: rand(config.maxPositions * h),
    tokenTypeEmbeddings: rand(config.typeVocabSize * h),
    embeddingNormScale: ones(h),
    embeddingNormBias: zeros(h),
    layers: Array.from({ length: config.layers }, () => ({
      query: rand(h * h), queryBias: rand(h),
      key: rand(h * h), keyBias: rand(h),
      value: rand(h * h), valueBias: rand(h),
      attentionOut: rand(h * h), attentionOutBias: rand(h),
      attentionNormScale: ones(h), attentionNormBias: zeros(h),
      ffnIn: rand(h * f), ffnInBias: rand(f),
      ffnOut: rand(f * h), ffnOutBias: rand(h),
      ffnNormScale: ones(h), ffnNormBias: zeros(h),
    })),
  };
}

function validate(config: TransformerConfig, w: TransformerWeights): void {
  const { hidden: h, intermediate: f } = config;
  if (h % config.heads !== 0) throw new SemrecError(`hidden (${h}) must be a multiple of heads (${config.heads})`, 'ERR_INVALID_ARG_VALUE');
  const expect = (what: string, a: Float32Array, n: number) => {
    if (a.length !== n) throw new SemrecError(`transformer weights: ${what} has ${a.length} values, expected ${n}`, 'ERR_INVALID_ARG_VALUE');
  };
  expect('wordEmbeddings', w.wordEmbeddings, config.vocabSize * h);
  expect('positionEmbeddings', w.positionEmbeddings, config.maxPositions * h);
  expect('tokenTypeEmbeddings', w.tokenTypeEmbeddings, config.typeVocabSize * h);
  if (w.layers.length !== config.layers) throw new SemrecError(`transformer weights: ${w.layers.length} layers, config says ${config.layers}`, 'ERR_INVALID_ARG_VALUE');
  w.layers.forEach((l, i) => {
    for (const k of ['query', 'key', 'value', 'attentionOut'] as const) expect(`layers[${i}].${k}`, l[k], h * h);
    expect(`layers[${i}].ffnIn`, l.ffnIn, h * f);
    expect(`layers[${i}].ffnOut`, l.ffnOut, f * h);
  });
}

/** Additive mask value for padded keys: exp() of it underflows to exactly 0 in float32. */
const MASKED_SCORE = -1e9;

/** The encoder as ONNX bytes. */
export function buildTransformerEncoder(config: TransformerConfig, weights: TransformerWeights, info: ModelInfo = {}): Uint8Array {
  validate(config, weights);
  const g = new GraphBuilder(`${config.layout}-encoder`);
  const { hidden: h, heads, intermediate: f } = config;
  const headDim = h / heads;
  const f32 = (prefix: string, dims: number[], values: Float32Array) => g.constant(prefix, { type: 'float32', dims, values });
  const i64 = (prefix: string, values: number[]) => g.constant(prefix, tensor('int64', [values.length], values));
  const scalar = (prefix: string, v: number) => g.constant(prefix, tensor('float32', [], [v]));

  const inputIds = g.input('input_ids', 'int64', ['batch', 'sequence']);
  const mask = g.input('attention_mask', 'int64', ['batch', 'sequence']);
  const tokenTypes = config.layout === 'bert' ? g.input('token_type_ids', 'int64', ['batch', 'sequence']) : undefined;

  // ---- embeddings
  const words = g.op('Gather', [f32('embeddings/word', [config.vocabSize, h], weights.wordEmbeddings), inputIds], { axis: attr.int(0) }, 'embeddings/words');
  let positionIds: string;
  if (config.layout === 'roberta') {
    // create_position_ids_from_input_ids: cumsum over real tokens, offset by the padding index; padding keeps paddingIdx.
    const cum = g.op('CumSum', [mask, g.constant('embeddings/axis1', tensor('int64', [], [1]))], {}, 'embeddings/cumsum');
    const real = g.op('Mul', [cum, mask], {}, 'embeddings/real_positions');
    positionIds = g.op('Add', [real, g.constant('embeddings/padding_idx', tensor('int64', [], [config.paddingIdx]))], {}, 'embeddings/position_ids');
  } else {
    const seq = g.op('Gather', [g.op('Shape', [inputIds]), g.constant('embeddings/one', tensor('int64', [], [1]))], { axis: attr.int(0) }, 'embeddings/seq_len');
    const range = g.op('Range', [g.constant('embeddings/zero', tensor('int64', [], [0])), seq, g.constant('embeddings/step', tensor('int64', [], [1]))], {}, 'embeddings/range');
    positionIds = g.op('Unsqueeze', [range, i64('embeddings/axes0', [0])], {}, 'embeddings/position_ids');
  }
  const positions = g.op('Gather', [f32('embeddings/position', [config.maxPositions, h], weights.positionEmbeddings), positionIds], { axis: attr.int(0) }, 'embeddings/positions');
  const typeTable = f32('embeddings/token_type', [config.typeVocabSize, h], weights.tokenTypeEmbeddings);
  const types = tokenTypes
    ? g.op('Gather', [typeTable, tokenTypes], { axis: attr.int(0) }, 'embeddings/types')
    : g.op('Gather', [typeTable, g.constant('embeddings/type0', tensor('int64', [], [0]))], { axis: attr.int(0) }, 'embeddings/types');
  let x = g.op('Add', [g.op('Add', [words, positions], {}, 'embeddings/sum'), types], {}, 'embeddings/sum_types');
  const layerNorm = (input: string, scale: Float32Array, bias: Float32Array, prefix: string) =>
    g.op('LayerNormalization', [input, f32(`${prefix}/scale`, [h], scale), f32(`${prefix}/bias`, [h], bias)], { axis: attr.int(-1), epsilon: attr.float(config.layerNormEps) }, prefix);
  x = layerNorm(x, weights.embeddingNormScale, weights.embeddingNormBias, 'embeddings/norm');

  // ---- additive attention mask [batch, 1, 1, sequence]
  const maskF = g.op('Cast', [mask], { to: attr.int(1) }, 'mask/float');
  const inverted = g.op('Sub', [scalar('mask/one', 1), maskF], {}, 'mask/inverted');
  const additive = g.op('Mul', [inverted, scalar('mask/neg', MASKED_SCORE)], {}, 'mask/additive');
  const maskBias = g.op('Unsqueeze', [additive, i64('mask/axes', [1, 2])], {}, 'mask/bias');

  const splitShape = i64('shape/split_heads', [0, -1, heads, headDim]);
  const mergeShape = i64('shape/merge_heads', [0, -1, h]);
  const invSqrt = scalar('attention/scale', 1 / Math.sqrt(headDim));
  const half = scalar('gelu/half', 0.5);
  const one = scalar('gelu/one', 1);
  const invSqrt2 = scalar('gelu/inv_sqrt2', Math.SQRT1_2);

  weights.layers.forEach((l, i) => {
    const p = `layer${i}`;
    const dense = (input: string, w: Float32Array, b: Float32Array, rows: number, cols: number, name: string) =>
      g.op('Add', [g.op('MatMul', [input, f32(`${p}/${name}/weight`, [rows, cols], w)], {}, `${p}/${name}/matmul`), f32(`${p}/${name}/bias`, [cols], b)], {}, `${p}/${name}`);
    // Reshape with 0 copies the batch dimension (allowzero stays 0 here on purpose).
    const heads4 = (t: string, name: string) =>
      g.op('Transpose', [g.op('Reshape', [t, splitShape], {}, `${p}/${name}/split`)], { perm: attr.ints([0, 2, 1, 3]) }, `${p}/${name}/heads`);
    const q = heads4(dense(x, l.query, l.queryBias, h, h, 'query'), 'query');
    const k = heads4(dense(x, l.key, l.keyBias, h, h, 'key'), 'key');
    const v = heads4(dense(x, l.value, l.valueBias, h, h, 'value'), 'value');
    const kT = g.op('Transpose', [k], { perm: attr.ints([0, 1, 3, 2]) }, `${p}/key/transposed`);
    const scores = g.op('Add', [g.op('Mul', [g.op('MatMul', [q, kT], {}, `${p}/scores/raw`), invSqrt], {}, `${p}/scores/scaled`), maskBias], {}, `${p}/scores`);
    const probs = g.op('Softmax', [scores], { axis: attr.int(-1) }, `${p}/probs`);
    const context = g.op('Reshape', [g.op('Transpose', [g.op('MatMul', [probs, v], {}, `${p}/context/heads`)], { perm: attr.ints([0, 2, 1, 3]) }, `${p}/context/t`), mergeShape], {}, `${p}/context`);
    const attnOut = dense(context, l.attentionOut, l.attentionOutBias, h, h, 'attention_out');
    x = layerNorm(g.op('Add', [attnOut, x], {}, `${p}/attention_residual`), l.attentionNormScale, l.attentionNormBias, `${p}/attention_norm`);
    const inner = dense(x, l.ffnIn, l.ffnInBias, h, f, 'ffn_in');
    // GELU, exact: 0.5 x (1 + erf(x / sqrt 2)).
    const erf = g.op('Erf', [g.op('Mul', [inner, invSqrt2], {}, `${p}/gelu/scaled`)], {}, `${p}/gelu/erf`);
    const gelu = g.op('Mul', [g.op('Mul', [inner, half], {}, `${p}/gelu/half`), g.op('Add', [erf, one], {}, `${p}/gelu/one_plus`)], {}, `${p}/gelu`);
    const ffnOut = dense(gelu, l.ffnOut, l.ffnOutBias, f, h, 'ffn_out');
    x = layerNorm(g.op('Add', [ffnOut, x], {}, `${p}/ffn_residual`), l.ffnNormScale, l.ffnNormBias, `${p}/ffn_norm`);
  });
  g.output(x, 'float32', ['batch', 'sequence', h], 'last_hidden_state');
  return g.serialize(info);
}
