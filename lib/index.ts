/**
 * xclip-node: X-CLIP (transformers' XCLIPModel) for Node.js on a libtorch core.
 * @example
 * import { XCLIPModel, Tensor } from 'xclip-node';
 * const model = await XCLIPModel.fromPretrained('./xclip-base-patch32');
 * const out = await model.forward({ inputIds, attentionMask, pixelValues });
 * @module
 */
export { Tensor } from './tensor';
export type { TensorType, TensorDataMap, NestedArray, IndexInput, MaskInput, IndexTensorType, MaskTensorType } from './tensor';
export { XCLIPConfig, XCLIPTextConfig, XCLIPVisionConfig } from './configs';
export type { Activation, ConfigDtype, XCLIPConfigInit, XCLIPTextConfigInit, XCLIPVisionConfigInit } from './configs';
export { XCLIPModel, XCLIPTextModel, XCLIPVisionModel } from './models';
export type {
  BaseModelOutputWithPooling,
  Device,
  ForwardOptions,
  FromConfigOptions,
  LoadOptions,
  ModelDtype,
  PixelTensorType,
  StoredFeatures,
  TextForwardOptions,
  TextInputs,
  VideoSearchFeatures,
  VisionForwardOptions,
  XCLIPInputs,
  XCLIPOutput,
} from './models';
export { XClipError } from './errors';
export type { XClipErrorCode } from './errors';
export {
  cachedMemoryBytes,
  cudaAvailable,
  cudaInfo,
  getKernelBackend,
  getNumThreads,
  measureGemmPeak,
  pendingNativeCalls,
  releaseCachedMemory,
  setKernelBackend,
  setNumThreads,
  type CudaDevice,
  type CudaInfo,
  type GemmPeak,
  type KernelBackend,
} from './runtime';
export { CLIPTokenizer } from './tokenizer';
export type { BatchEncodeOptions, BatchEncoding, DecodeOptions } from './tokenizer';
export { VideoMAEImageProcessor } from './imageProcessor';
export type { ImageProcessorSettings, OutputOptions, PrepareOptions, PreparedVideo } from './imageProcessor';
export { XCLIPProcessor } from './processor';
export type { ProcessorEncodeOptions, ProcessorLoadOptions, ProcessorOutput, VideoDecodeOptions, VideoInput } from './processor';
export { probeVideo, readVideo, readVideoClips, videoThumbnail } from './video';
export type {
  Cancellable,
  DecodeReport,
  DecodedVideo,
  DecoderOptions,
  Frame,
  ReadVideoOptions,
  Sampling,
  VideoClip,
  VideoInfo,
  VideoLimits,
  VideoSource,
  VideoThumbnail,
  VideoThumbnailOptions,
} from './video';
export { ZeroShotVideoClassifier, embedTexts, embedVideos } from './pipelines';
export type { BatchingOptions } from './batchingOptions';
export type { BatchStats, ClassifyOptions, LabelScore, PipelineOptions, SearchFeatureRow, TextOptions, VideoCallOptions } from './pipelines';
export { hubCacheDir, resolveModelDir } from './hub';
export type { DownloadProgress, HubOptions } from './hub';
export { demoModelDir, ensureDemoModel } from './demo';
export { DEFAULT_MODEL_ID, DEMO_MODEL_ID, resolveModelSpec } from './modelSpec';
export { MediaSources } from './mediaSource';
export type { MediaPolicy, MediaRef, OpenedMedia, OpenOptions } from './mediaSource';
export type { ResolvedModel } from './modelSpec';
export { VideoIndex } from './search/videoIndex';
export type { AddOptions, AddProgress, AddResult, AddedEntry, IndexEntry, IndexInfo, NamedVideoFile, SearchOptions, SearchResult, SearchTimings, SimilarResult, VideoBytes, VideoIndexOptions } from './search/videoIndex';
export type { EntryBatch, EntryRow, SearchStore, StoreStats } from './search/store';
export { fileRecord, isFailedRecord, recordError } from './records';
export type { FailedRecord, FileRecord, RecordError } from './records';
export { VideoJobQueue, videoRef } from './jobs/queue';
export type { AddJobOptions, JobOutcome, QueueCounts, VideoJobQueueOptions, WaitOptions } from './jobs/queue';
export { VideoJobWorker } from './jobs/worker';
export type { OpenedVideo, VideoJobWorkerOptions, VideoSources, WorkerLog, WorkerStats } from './jobs/worker';
export { WorkerMetrics, serveMetrics } from './jobs/metrics';
export { DEFAULT_MAX_INLINE_BYTES, JOB_KINDS, PERMANENT_CODES } from './jobs/jobTypes';
export type {
  ClassifyJobData,
  ClassifyJobResult,
  DeadLetter,
  EmbedJobData,
  EmbedJobResult,
  EmbedTextJobData,
  EmbedTextJobResult,
  IndexJobData,
  IndexJobResult,
  JobDataMap,
  JobError,
  JobKind,
  JobProgress,
  JobResultMap,
  ResultModel,
} from './jobs/jobTypes';
