/**
 * semrec: semantic recommendation with native CPU/CUDA hot paths.
 * The public API: what `import ... from 'semrec'` gives. Building blocks that tests, benchmarks and
 * converters need but applications do not (ONNX graph building, model sources, tokenizers, native
 * trainer references) are in `semrec/internals` (ts/internals.ts), which makes no stability promise.
 * Names: an *encoder* turns text into vectors (createEncoder, DEFAULT_ENCODER, resolveEncoder); a *model*
 * is a recommender (createModel, loadModel, MODEL_NAMES).
 */
export { SemrecError, isSemrecError, NativeErrorCodes } from './errors';
export type { ErrorCode, NativeErrorCode } from './errors';

export { deviceInfo, setNumThreads } from './native/device';
export type { DeviceInfo } from './native/device';

export { topK, topKSync } from './kernels/topk';
export { scoreMatrix, scoreMatrixSync, scoreTopK, scoreTopKSync } from './kernels/score';
export {
  rankingMetrics,
  rankingMetricsSync,
  rankingMetricsFromTopK,
  rankingMetricsFromTopKSync,
} from './kernels/metrics';
export type {
  Csr,
  Device,
  DeviceUsed,
  ItemFeatures,
  RankingMetricsFromTopKOptions,
  RankingMetricsOptions,
  RankingMetricsResult,
  ScoreMatrixOptions,
  ScoreMatrixResult,
  ScoreTopKOptions,
  TopKOptions,
  TopKResult,
} from './kernels/types';

// Data layer: dataset loaders, the columnar interaction store, splits.
export { loadDataset, DATASET_FORMATS } from './data/load';
export type { DatasetFormat, InteractionColumns, LoadDatasetOptions } from './data/load';
export { DenseIdMap, InteractionStore, DUPLICATE_POLICIES } from './data/store';
export type {
  CountQuantiles,
  DatasetStats,
  DuplicatePolicy,
  IdMap,
  InteractionGroups,
  InteractionStoreInit,
  ItemMetadata,
  LoadReport,
  SkippedRow,
  TransactionSignals,
  UserMetadata,
} from './data/store';
export { DatasetError, isDatasetError } from './data/errors';
export type { DatasetErrorLocation } from './data/errors';
export { compact, DEFAULT_SPLIT_SEED, kCore, leaveOneOut, ratioSplit, temporalSplit, toImplicit } from './data/splits';
export type {
  ImplicitOptions,
  KCoreOptions,
  LeaveOneOutOptions,
  ProtocolDescription,
  RatioSplitOptions,
  Split,
  TemporalSplitOptions,
} from './data/splits';

// Progress and cancellation of long work (every LongRunningOptions takes these).
export type { LongRunningOptions, ProgressCallback, ProgressEvent } from './progress';
export { formatVersion, semrecVersion } from './version';
export type { SemrecVersion } from './version';

// Semantic module: sentence encoders on ONNX Runtime, text templates, review sentiment, embedding caches.
export { createEncoder, normalizeRows, resolveEncoder, DEFAULT_ENCODER, ITEM_MAX_LENGTH, REVIEW_MAX_LENGTH, DEFAULT_BATCH_SIZE } from './semantic/encoder';
export type { CreateEncoderOptions, Encoder } from './semantic/encoder';
export type { EncoderConfig, Pooling, ResolvedEncoder } from './semantic/sources/types';
export type { HubOptions } from './semantic/sources/hub';
export { ENCODER_CONFIG_FILE } from './semantic/sources/local';
export { EmbeddingCache, encodeWithCache } from './semantic/cache';
export type { CacheStatus, CachedEncodeResult, EmbeddingCacheOptions } from './semantic/cache';
export { readEmbeddingFile, writeEmbeddingFile } from './semantic/embedding-file';
export type { EmbeddingFile, EmbeddingFileInfo, EmbeddingSection } from './semantic/embedding-file';
export { rocAuc, sentimentLabel, SentimentHead, trainSentimentHead, NEGATIVE_MAX_RATING, POSITIVE_MIN_RATING } from './semantic/sentiment';
export type { SentimentHeadData, TrainSentimentOptions } from './semantic/sentiment';
export { ITEM_TEMPLATES, USER_TEMPLATES, REVIEW_TEMPLATE, itemTexts, reviewTexts, userTexts, truncateText } from './semantic/templates';
export type { ItemTextPart, ItemTextTemplate, ReviewTextTemplate, UserTextTemplate } from './semantic/templates';
export { DEFAULT_SIMULATION_SEED, simulateTransactions, simulationModel, withSimulatedSignals } from './data/synthetic';
export type { SimulationOptions } from './data/synthetic';
export { GENERATED_GENRES, generateDataset, generatedShape } from './data/generate';
export type { GenerateOptions } from './data/generate';
export { runScalability } from './experiments/scalability';
export type { CellResult, CellRow, ScalabilityOptions, ScalabilityReport } from './experiments/scalability';
export { DATASET_SOURCES, datasetSource, downloadDataset } from './data/download';
export type { Checksum, DatasetSource, DownloadOptions, DownloadResult } from './data/download';

// Models: one Recommender contract, the baselines in a typed registry, save/load, serving by raw id.
export { createModel, loadModel, describeParams, isModelName, MODEL_NAMES } from './models/registry';
export type { AnyModel, LoadModelOptions, ModelName, ModelOf, ParamDoc, ParamsInput, ParamsOf } from './models/registry';
export type {
  EarlyStopping,
  EpochRecord,
  Explanation,
  ExplanationItem,
  FitOptions,
  FitReport,
  HistoryEvent,
  HistoryRecommendOptions,
  ItemFeatureMatrix,
  ModelKind,
  Recommendations,
  RecommendOptions,
  Recommender,
  ScoreOptions,
} from './models/contract';
export { DEFAULT_K, EXPLAIN_TOP, FOLD_IN_SEED, RETRIEVAL_MIN_ITEMS } from './models/base';
export type {
  BaseRecommender,
  ExplanationByIds,
  ModelProvenance,
  RawHistoryEvent,
  RawHistoryOptions,
  RawRecommendOptions,
  RawSimilarOptions,
  TrainingSummary,
} from './models/base';
export { fingerprintOf } from './models/catalog';
export type { CatalogItem, DataFingerprint, ModelCatalog, ScoredItem } from './models/catalog';
export type { TrainingData } from './models/data';
export { isRatingPredictor } from './models/mf';
export type { RatingPredictor } from './models/mf';
export { MODEL_FORMAT, MODEL_FORMAT_VERSION } from './models/persist';
export { DEFAULT_SHARD_USERS, MANIFEST_FILE, planShards, shardFile, writeAllRecommendations } from './models/batch';
export type { AllUsersOptions, RecommendationsManifest, ShardEntry } from './models/batch';
// Sequential models (sasrec, bert4rec): each user's ordered history (the transformer's raw ops are in semrec/internals).
export { SequentialRecommender, userSequences } from './models/sequential';

// Retrieval: the faiss vector index (exact by default; IVF and HNSW for large catalogs).
export { VectorIndex, DEFAULT_EF_CONSTRUCTION, DEFAULT_EF_SEARCH, DEFAULT_HNSW_M, DEFAULT_NPROBE, defaultIvfLists } from './retrieval/index';
export type { VectorIndexKind, VectorIndexOptions, VectorIndexStats, VectorSearchOptions, VectorSearchResult } from './retrieval/index';

// Evaluation: protocols, the harness, statistics, reports, fold-in quality.
export { DEFAULT_KS, PROTOCOLS, runExperiment, splitByProtocol } from './eval/harness';
export type { ExperimentOptions, ExperimentReport, ModelResult, ProtocolName, SeedResult } from './eval/harness';
export { evaluateRanking } from './eval/ranking';
export type { RankingOutcome, RankingTask, Scorer } from './eval/ranking';
export { pairedTests, summarize } from './eval/statistics';
export type { PairedTest, Summary } from './eval/statistics';
export { renderJson, renderMarkdown } from './eval/report';
export { evaluateFoldIn, historyOf } from './eval/fold-in';
export type { FoldInEvaluation, FoldInEvaluationOptions } from './eval/fold-in';

// Hyperparameter search: TPE and random search on a protocol's validation part, resumable trial logs.
export { tune, validationScore, DEFAULT_TUNE_SEED, TUNE_LOG_FORMAT, TUNE_LOG_VERSION } from './tuning/tune';
export type { TrialRecord, TuneHeader, TuneOptions, TuneResult } from './tuning/tune';
export { checkSpace, derivedSpace, DERIVED_FLOAT_SPAN, DERIVED_INT_SPAN } from './tuning/space';
export type { Assignment, Choice, Domain, SearchSpace } from './tuning/space';
export { propose, randomAssignment, SAMPLERS, STARTUP_TRIALS, CANDIDATES } from './tuning/tpe';
export type { FinishedTrial, SamplerName } from './tuning/tpe';

// Chat-REC: profiles, prompts, the LLM client, guards, conversation, fine-tuning data and evaluation.
export { ChatCatalog, FUZZY_TITLE_SIMILARITY, titleKey, titleSimilarity } from './chat/catalog';
export type { ChatItem, TitleKey, TitleMatch } from './chat/catalog';
export { LlmClient, DEFAULT_API_KEY_ENV, DEFAULT_MAX_RETRIES, DEFAULT_MAX_TOKENS, DEFAULT_TEMPERATURE, DEFAULT_TIMEOUT_MS } from './chat/client';
export type { CompleteOptions, LlmConfig, LlmReply, LlmUsage } from './chat/client';
export { ChatEngine, DEFAULT_CANDIDATE_MODEL, DEFAULT_CANDIDATES } from './chat/engine';
export type { Candidate, CandidateOptions, ChatEngineInit, RankedItem, RankResult, RerankOptions, RerankOutcome, TrainEngineOptions } from './chat/engine';
export { CooccurrenceSignals, ModelSignals, explainFromSignals } from './chat/explain';
export type { SignalSource, SimilarItem } from './chat/explain';
export { emptyGuardCounts, fillToK, guardAnswer } from './chat/guards';
export type { GuardCounts, GuardResult } from './chat/guards';
export { parseAnswer } from './chat/parse';
export type { AnswerEntry, ParsedAnswer } from './chat/parse';
export { buildProfile, DEFAULT_PROFILE_TOKENS } from './chat/profile';
export type { HistoryEntry, Profile, ProfileInput, ProfileOptions } from './chat/profile';
export { CONVERSATION_TURN, PROMPT_TEMPLATES, RANK_AND_EXPLAIN, templateTag } from './chat/prompts';
export type { ChatMessage, PromptTemplate } from './chat/prompts';
export { tokenCounter, DEFAULT_TOKENIZER, TOKENIZERS } from './chat/tokens';
export type { TokenCounter, TokenizerName } from './chat/tokens';
export { ChatSession, readRequest, describeConstraints, SESSION_FORMAT, SESSION_VERSION } from './chat/conversation';
export type { Constraints, SessionState, TurnRecord } from './chat/conversation';
export { checkFinetuneExample, checkFinetuneFile, exportFinetune, MAX_EXAMPLE_TOKENS, MIN_FINETUNE_EXAMPLES } from './chat/finetune';
export type { FinetuneOptions, FinetuneProblem, FinetuneReport } from './chat/finetune';
export { chatEval, renderChatEval, DEFAULT_CHAT_KS } from './chat/eval';
export type { ChatEvalOptions, ChatEvalReport } from './chat/eval';
