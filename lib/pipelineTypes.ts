/**
 * The classifier's public option and result types ({@link ZeroShotVideoClassifier} in pipelines.ts uses them):
 * construction and per-call options, label scores, stored search features, and the monitoring events it publishes.
 * @module
 */
import type { BatchingOptions } from './batchingOptions';
import type { HubOptions } from './hub';
import type { Device, ModelDtype } from './models';
import type { ZeroShotVideoClassifier } from './pipelines';
import type { VideoDecodeOptions } from './processor';
import type { Tensor } from './tensor';

export interface PipelineOptions extends Omit<HubOptions, 'onProgress'>, BatchingOptions {
  device?: Device;
  dtype?: ModelDtype;
  onProgress?: HubOptions['onProgress'];
}

/**
 * Per-call options of {@link ZeroShotVideoClassifier.classify}: the label handling, how each video is decoded
 * (`maxPixels`, `maxFrames`, `timeoutMs`, `applyRotation`, `sampling`; `numFrames` only as the model's own
 * `num_frames`, since X-CLIP's towers are built for that count), and `signal` to cancel the call.
 * @example
 * const ac = new AbortController();
 * req.on('close', () => ac.abort());
 * const scores = await clf.classify(file, labels, { topK: 3, maxPixels: 1920 * 1080, timeoutMs: 30000, signal: ac.signal });
 */
export interface ClassifyOptions extends VideoCallOptions {
  /** Keep the best `topK` labels (default: all). */
  topK?: number;
  /** Template each label is put into, `{}` marks the label (default `'{}'`); e.g. `'a video of {}'`. */
  hypothesisTemplate?: string;
}

/**
 * How texts (labels) are tokenized. The text tower takes at most `max_position_embeddings` tokens (77 for X-CLIP),
 * start and end tokens included; a longer text is refused, naming it, unless `truncation` cuts it as transformers'
 * tokenizer does (`truncation=True, max_length=77`: its first 75 tokens, then the end token).
 * @example
 * const [q] = await clf.embedTexts([longDescription], { truncation: true });
 */
export interface TextOptions {
  /** Cut texts longer than the model takes instead of refusing them. Default false. */
  truncation?: boolean;
}

/**
 * Per-call options of {@link ZeroShotVideoClassifier.score} (and, without `truncation`, of
 * {@link ZeroShotVideoClassifier.embedVideos}): how each video is decoded, `signal` to cancel the call, how the
 * texts are tokenized, and `onPrepared` to hear when each video is ready for the model.
 * @example
 * const rows = await clf.score(files, ['a person cooking'], { timeoutMs: 30000, signal, truncation: true, onPrepared: (i) => console.log(`video ${i} decoded`) });
 */
export interface VideoCallOptions extends VideoDecodeOptions, TextOptions {
  /**
   * Called once per video when it is decoded and preprocessed and joins the queue for a model call, with its index in
   * the call's videos: a job worker reports progress with it. It runs on the JS thread, so keep it short; what it
   * throws rejects the call.
   */
  onPrepared?: (index: number) => void;
}


/**
 * What a search index stores for one video ({@link ZeroShotVideoClassifier.searchFeatures}).
 * @example
 * const [{ videoEmbed, promptFeatures }] = await clf.searchFeatures(['clip.mp4'], { featureDtype: 'float16' });
 */
export interface SearchFeatureRow {
  /** `get_video_features`, projectionDim floats (not normalised). */
  videoEmbed: Float32Array;
  /** The prompt generator's visual input, `[numPatches, projectionDim]` in the dtype asked for. */
  promptFeatures: Tensor;
}

export interface LabelScore {
  label: string;
  score: number;
}

/**
 * What the batching has done so far, for monitoring and tests.
 * @example
 * const { batches, videos } = clf.stats;
 * console.log(`${(videos / batches).toFixed(1)} videos per model call`);
 */
export interface BatchStats {
  /** Model calls on videos (classify and embedVideos). */
  batches: number;
  /** Videos those calls processed. */
  videos: number;
  /** The largest batch so far. */
  maxBatchSeen: number;
}

/**
 * What a classifier's model calls on videos publish on {@link batchChannel}: `size` videos took `seconds`.
 * @example
 * const onBatch = ({ classifier, size, seconds }: BatchEvent) => console.log(size, seconds);
 */
export interface BatchEvent {
  classifier: ZeroShotVideoClassifier;
  /** `logits`: classify and score calls; `embed`: embedVideos. */
  kind: 'logits' | 'embed';
  size: number;
  seconds: number;
}

/**
 * What decoding and preprocessing one video publishes on {@link prepareChannel}: `seconds` from the start of
 * decoding to the pixel values (or the failure), including waits for a libuv thread.
 */
export interface PrepareEvent {
  classifier: ZeroShotVideoClassifier;
  seconds: number;
  ok: boolean;
}
