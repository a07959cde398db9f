/**
 * semrec: semantic recommendation with native CPU/CUDA hot paths.
 * The public API; everything a user imports comes from here.
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
export { compact, DEFAULT_SPLIT_SEED, kCore, leaveOneOut, ratioCounts, ratioSplit, temporalSplit, toImplicit } from './data/splits';
export type {
  ImplicitOptions,
  KCoreOptions,
  LeaveOneOutOptions,
  ProtocolDescription,
  RatioSplitOptions,
  Split,
  TemporalSplitOptions,
} from './data/splits';

// Semantic module: sentence encoders on ONNX Runtime, model sources, text templates, sentiment, caches.
export { createEncoder, normalizeRows, resolveModel, DEFAULT_MODEL, ITEM_MAX_LENGTH, REVIEW_MAX_LENGTH, DEFAULT_BATCH_SIZE } from './semantic/encoder';
export type { CreateEncoderOptions, Encoder } from './semantic/encoder';
export type { ModelConfig, Pooling, ResolvedModel } from './semantic/sources/types';
export { HfTokenizer, UseLiteTokenizer } from './semantic/tokenizer';
export type { Tokenizer } from './semantic/tokenizer';
export { hubFileUrl, loadHubModel, DEFAULT_HUB_ENDPOINT } from './semantic/sources/hub';
export type { HubOptions } from './semantic/sources/hub';
export { loadLocalModel, readModelConfig, ENCODER_CONFIG_FILE } from './semantic/sources/local';
export { convertUseLite, loadUseLite, USE_LITE_DIM, USE_LITE_MAX_TOKENS } from './semantic/sources/use-lite';
export { EmbeddingCache, encodeWithCache } from './semantic/cache';
export type { CacheStatus, CachedEncodeResult, EmbeddingCacheOptions } from './semantic/cache';
export { readEmbeddingFile, writeEmbeddingFile } from './semantic/embedding-file';
export type { EmbeddingFile, EmbeddingFileInfo, EmbeddingSection } from './semantic/embedding-file';
export {
  rocAuc,
  sentimentLabel,
  SentimentHead,
  trainSentimentHead,
  L2_GRID,
  NEGATIVE_MAX_RATING,
  POSITIVE_MIN_RATING,
} from './semantic/sentiment';
export type { SentimentHeadData, TrainSentimentOptions } from './semantic/sentiment';
export { ITEM_TEMPLATES, USER_TEMPLATES, REVIEW_TEMPLATE, itemTexts, reviewTexts, userTexts, truncateText } from './semantic/templates';
export type { ItemTextPart, ItemTextTemplate, ReviewTextTemplate, UserTextTemplate } from './semantic/templates';
export { GraphBuilder, attr, tensor } from './semantic/onnx/graph';
export type { Attr, ElemType, TensorConst } from './semantic/onnx/graph';
export { buildTransformerEncoder, randomTransformerWeights, ROBERTA_BASE, TINY_ROBERTA } from './semantic/onnx/roberta';
export type { TransformerConfig, TransformerWeights } from './semantic/onnx/roberta';
export { convertTfjsGraph, readTfjsModel } from './semantic/onnx/tfjs';
export { logisticFit, logisticFitSync, logisticPredict } from './kernels/logistic';
export type { LogisticFitOptions, LogisticFitResult } from './kernels/logistic';
export { DEFAULT_SIMULATION_SEED, simulateTransactions, simulationModel, withSimulatedSignals } from './data/synthetic';
export type { SimulationOptions } from './data/synthetic';
export { DATASET_SOURCES, datasetSource, downloadDataset } from './data/download';
export type { Checksum, DatasetSource, DownloadOptions, DownloadResult } from './data/download';
// Models: one Recommender contract, the baselines in a typed registry, save/load.
export { createModel, loadModel, describeParams, isModelName, MODEL_NAMES, modelRegistry } from './models/registry';
export type { ModelName, ModelOf, ParamDoc, ParamsInput, ParamsOf } from './models/registry';
export type {
  EarlyStopping,
  EpochRecord,
  FitOptions,
  FitReport,
  ItemFeatureMatrix,
  ModelKind,
  Recommendations,
  RecommendOptions,
  Recommender,
  ScoreOptions,
} from './models/contract';
export type { TrainingData } from './models/data';
export { isRatingPredictor } from './models/mf';
export type { RatingPredictor } from './models/mf';
export { MODEL_FORMAT, MODEL_FORMAT_VERSION } from './models/persist';

// Evaluation: protocols, the harness, statistics, reports.
export { DEFAULT_KS, PROTOCOLS, runExperiment, splitByProtocol } from './eval/harness';
export type { ExperimentOptions, ExperimentReport, ModelResult, ProtocolName, SeedResult } from './eval/harness';
export { evaluateRanking } from './eval/ranking';
export type { RankingOutcome, RankingTask, Scorer } from './eval/ranking';
export { pairedTests, summarize } from './eval/statistics';
export type { PairedTest, Summary } from './eval/statistics';
export { renderJson, renderMarkdown } from './eval/report';

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
export { ChatEngine, DEFAULT_CANDIDATE_MODEL, DEFAULT_CANDIDATES, DEFAULT_K } from './chat/engine';
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

// Every user's top-k from a saved model, as user shards plus a checksummed manifest (one process or a batch).
export { DEFAULT_SHARD_USERS, MANIFEST_FILE, RECOMMENDATIONS_FORMAT, RECOMMENDATIONS_VERSION, planUserShards, recommendAllUsers, verifyRecommendations } from './models/all-users';
export type { AllUsersOptions, RecommendationsHeader, RecommendationsManifest, ShardEntry } from './models/all-users';
export { savedModelDigest } from './models/persist';
export { assembleReport, evaluateCell, planExperiment, prepareSeed } from './eval/harness';
export type { CellOptions, CellResult, ExperimentPlan, SeedContext, UserValues } from './eval/harness';

// Distributed batch jobs on BullMQ + Redis: submit, follow, resume; workers on any machine.
export { BatchQueue, FINISHED_BATCH_TTL_S } from './distributed/queue';
export type { BatchRecord, BatchState, RunningShard, ShardFailure, ShardStates } from './distributed/queue';
export { batchStatus, commonSpec, completeBatch, findBatch, incompleteError, prepareWorkDir, resumeBatch, submitBatch, waitForBatch, DEFAULT_POLL_MS } from './distributed/batch';
export type { BatchCommonOptions, BatchPhase, BatchStatus, ResumeReport, WaitOptions } from './distributed/batch';
export { planRecommendBatch } from './distributed/recommend';
export type { RecommendBatchOptions } from './distributed/recommend';
export { planEmbedBatch } from './distributed/embed';
export type { EmbedCatalog } from './distributed/embed';
export { planEvalBatch, renderBatchEvalJson, renderBatchEvalMarkdown } from './distributed/eval';
export type { BatchEvalReport, EvalGrid } from './distributed/eval';
export { BatchWorker, DEFAULT_GRACE_MS, DEFAULT_LOCK_MS, DEFAULT_MAX_STALLED, DEFAULT_STALLED_INTERVAL_MS } from './distributed/worker';
export type { BatchWorkerOptions, WorkerEvent } from './distributed/worker';
export { connectRedis, DEFAULT_REDIS_URL, redisUrl } from './distributed/redis';
export { BATCH_KINDS, DEFAULT_ATTEMPTS, DEFAULT_BACKOFF_MS, DEFAULT_QUEUE } from './distributed/spec';
export type { BatchKindName, BatchSpec, EmbedBatchSpec, EncoderSpec, EvalBatchSpec, RecommendBatchSpec } from './distributed/spec';
export type { BatchResult } from './distributed/kind';
