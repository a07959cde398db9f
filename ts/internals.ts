/**
 * `semrec/internals`: building blocks that semrec's tests, benchmarks and converters use and that
 * applications normally do not need. No stability promise: names here may change in any release.
 * The public API is ts/index.ts (`semrec`).
 */

// ONNX graph building and the transformer encoder graph (tests build small random encoders with these).
export { GraphBuilder, attr, tensor, readModelMetadata } from './semantic/onnx/graph';
export type { Attr, ElemType, TensorConst } from './semantic/onnx/graph';
export { buildTransformerEncoder, randomTransformerWeights, ROBERTA_BASE, TINY_ROBERTA } from './semantic/onnx/roberta';
export type { TransformerConfig, TransformerWeights } from './semantic/onnx/roberta';
export { convertTfjsGraph, readTfjsModel } from './semantic/onnx/tfjs';

// Encoder sources and tokenizers behind createEncoder.
export { HfTokenizer, UseLiteTokenizer } from './semantic/tokenizer';
export type { Tokenizer } from './semantic/tokenizer';
export { hubFileUrl, loadHubModel, DEFAULT_HUB_ENDPOINT } from './semantic/sources/hub';
export { loadLocalModel, readEncoderConfig } from './semantic/sources/local';
export { convertUseLite, loadUseLite, USE_LITE_DIM, USE_LITE_MAX_TOKENS } from './semantic/sources/use-lite';

// The sentiment head's ridge grid and its native logistic-regression fit.
export { L2_GRID } from './semantic/sentiment';
export { logisticFit, logisticFitSync, logisticPredict } from './kernels/logistic';
export type { LogisticFitOptions, LogisticFitResult } from './kernels/logistic';

// The model registry object itself (createModel / describeParams are the public way in).
export { modelRegistry } from './models/registry';
// Split arithmetic (RecBole's rounding), used by the split tests.
export { ratioCounts } from './data/splits';
// Faiss parameters faiss-node does not expose, edited in faiss's serialisation.
export { readHnswParams, readIvfParams, withHnswParams, withIvfParams } from './retrieval/faiss-params';
// The native transformer behind sasrec and bert4rec (layouts and raw epoch / gradient / encode ops).
export { transformerLayout, transformerOps } from './models/transformer';
export type { Segments, TransformerConfig as SequentialTransformerConfig, TransformerLayout } from './models/transformer';
