/** What every model source (use-lite, a local directory, a hub repository) resolves to. */
import type { Tokenizer } from '../tokenizer';

/** How token states become one vector per text; 'none' when the graph outputs sentence vectors itself. */
export type Pooling = 'mean' | 'cls' | 'none';

export interface EncoderConfig {
  /** Width of the vectors the encoder returns. */
  dim: number;
  pooling: Pooling;
  /** L2-normalise the pooled vectors unless the caller says otherwise. */
  normalize: boolean;
  /** Graph output to read; default: 'last_hidden_state' when present, else the first output. */
  output?: string;
  /** The most tokens the model accepts (its position table); longer requests are capped to it. */
  maxTokens: number;
}

export interface ResolvedEncoder {
  /**
   * Identity of the weights and tokenizer (source, version, content hash): two models with the same id
   * give the same vectors, so it keys embedding caches.
   */
  id: string;
  /** The ONNX file onnxruntime loads. */
  modelPath: string;
  tokenizer: Tokenizer;
  config: EncoderConfig;
}
