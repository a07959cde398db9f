/**
 * semrec's one error class. Every failure semrec reports (argument checks in TypeScript, errors raised in
 * native code, dataset and model errors) is a SemrecError with a stable `code` to match on; messages
 * name the argument, file or line at fault.
 */

/** Codes shared with native/include/semrec/error.h (the native addon throws these). */
export const NativeErrorCodes = [
  'ERR_INVALID_ARG_TYPE', // wrong JS type, wrong TypedArray type, missing field
  'ERR_INVALID_ARG_VALUE', // right type, inconsistent value (length, CSR structure)
  'ERR_OUT_OF_RANGE', // a number or an id outside its allowed range
  'ERR_NAN_INPUT', // NaN where a number is required
  'ERR_CUDA_UNAVAILABLE', // device 'cuda' requested without a usable GPU or CUDA build
  'ERR_CUDA', // the CUDA runtime reported an error
  'ERR_OUT_OF_MEMORY', // host or device allocation failed
  'ERR_INTERNAL', // a bug in semrec
] as const;

export type NativeErrorCode = (typeof NativeErrorCodes)[number];

/** Codes raised only by the TypeScript side. Other modules append theirs here. */
export type ErrorCode =
  | NativeErrorCode
  | 'ERR_ADDON_NOT_BUILT' // build/Release/semrec.node is missing or failed to load
  | 'ERR_NOT_FITTED' // a model was asked to score or save before fit() or loadModel()
  | 'ERR_MODEL_BUSY' // a model was used while its fit() was running, or a saved one kept being replaced while it was loaded
  | 'ERR_UNKNOWN_MODEL' // a model name that is not in the registry (ts/models/registry.ts)
  | 'ERR_INVALID_PARAMS' // hyperparameters that fail the model's schema
  | 'ERR_MODEL_NOT_FOUND' // no saved model (model.json) in the directory given to loadModel()
  | 'ERR_MODEL_VERSION' // a saved model written in another format version
  | 'ERR_MODEL_CORRUPT' // a saved model whose files are damaged (checksum, size or JSON)
  | 'ERR_MISSING_RATINGS' // an explicit-rating model (mf) trained on data without ratings
  | 'ERR_MODEL_NOT_FOUND' // an encoder model, tokenizer or model package is not where it was looked for
  | 'ERR_MODEL_FORMAT' // a model file is unreadable or holds something semrec cannot run or convert
  | 'ERR_ONNX_RUNTIME' // onnxruntime failed while running a model
  | 'ERR_CACHE_MISMATCH' // an embedding cache belongs to another model or dimension
  | 'ERR_MODEL_MISMATCH' // a trained head (e.g. sentiment) is used with an encoder it was not trained on
  | 'ERR_ABORTED' // long work stopped because its AbortSignal fired (ts/progress.ts)
  | 'ERR_WRITE' // a file could not be written (no space, read-only, permissions, a directory in the way); the old file is unchanged
  | 'ERR_UNKNOWN_ID' // a raw user or item id that is not in a model's catalog
  | 'ERR_DATA_MISMATCH' // data handed to a model differs from the data it was trained on (fingerprint)
  // Data layer (ts/data/): raised as DatasetError, which names the file, line and column at fault.
  | 'ERR_DATASET_NOT_FOUND' // the dataset path, or a file the format requires, does not exist
  | 'ERR_DATASET_FORMAT' // the files are not in the layout the format expects (missing file, wrong header)
  | 'ERR_DATASET_PARSE' // a malformed row: wrong field count, non-numeric rating, bad timestamp or quoting, bad JSON
  | 'ERR_DATASET_ENCODING' // invalid UTF-8 where UTF-8 is expected
  | 'ERR_DATASET_EMPTY' // a file (or the whole dataset) has no data rows
  | 'ERR_DATASET_TRUNCATED' // a file ends mid-row, mid-quote or mid-gzip-stream, or has fewer rows than it declares
  | 'ERR_DATASET_INTEGRITY' // rows that parse but contradict the dataset (unknown item id, duplicate under policy 'error')
  | 'ERR_DOWNLOAD' // a dataset or model download failed (HTTP status, connection, interrupted transfer, unknown name)
  | 'ERR_CHECKSUM' // a downloaded file does not match its published checksum or size
  // Chat-REC (ts/chat/): LLM failures never reach a user's list (they become fallback: true), but reach callers of LlmClient.
  | 'ERR_UNKNOWN_USER' // a raw user id that the model's data does not hold
  | 'ERR_LLM_CONFIG' // an endpoint that needs an API key and has none
  | 'ERR_LLM_TIMEOUT' // the LLM endpoint did not answer within the timeout (after the retries)
  | 'ERR_LLM_CONNECTION' // the LLM endpoint could not be reached
  | 'ERR_LLM_HTTP' // the LLM endpoint answered an HTTP error (after the retries)
  | 'ERR_LLM_RESPONSE' // the LLM request failed otherwise
  | 'ERR_FINETUNE_FORMAT' // fine-tuning examples that break OpenAI's chat fine-tuning format
  // Experiments (ts/experiments/):
  | 'ERR_TIMEOUT' // a measured step (e.g. one scalability cell) ran past its time limit and was stopped
  | (string & {});

export class SemrecError extends Error {
  readonly code: ErrorCode;

  constructor(message: string, code: ErrorCode, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'SemrecError';
    this.code = code;
  }
}

export function isSemrecError(value: unknown, code?: ErrorCode): value is SemrecError {
  return value instanceof SemrecError && (code === undefined || value.code === code);
}
