/**
 * The main job: zero-shot video classification against free-text labels, and embedding helpers.
 * @module
 */
import { channel } from 'node:diagnostics_channel';
import { setMaxListeners } from 'node:events';
import { performance } from 'node:perf_hooks';

import { optionalSignal } from './abort';
import { MicroBatcher, type BatchGroup } from './batcher';
import { BATCHING_KEYS, checkBatchingOptions, preprocessDeviceFor, type BatchingOptions, type BatchingSettings } from './batchingOptions';
import { atCallSite, XClipError } from './errors';
import { resolveModelDir } from './hub';
import { XCLIPModel, type Device } from './models';
import { VIDEO_DECODE_KEYS, XCLIPProcessor, type ProcessorOutput, type VideoDecodeOptions, type VideoInput } from './processor';
import { checkModelOptions, HUB_KEYS } from './pretrained';
import { SlotArena, type PreparedInput } from './slotArena';
import { Tensor } from './tensor';
import type { BatchEncoding } from './tokenizer';
import { checkArray, checkKeys, is, optionalBool, optionalObject, rangeError, typeError } from './validate';
import { isFrameList, nativeReadOptions } from './video';
import type { BatchEvent, BatchStats, ClassifyOptions, LabelScore, PipelineOptions, PrepareEvent, SearchFeatureRow, TextOptions, VideoCallOptions } from './pipelineTypes';

export type { BatchEvent, BatchStats, ClassifyOptions, LabelScore, PipelineOptions, PrepareEvent, SearchFeatureRow, TextOptions, VideoCallOptions } from './pipelineTypes';

/** The per-call option keys of every video call, besides the texts' (`truncation`) and classify's own. */
const CALL_KEYS = [...VIDEO_DECODE_KEYS, 'onPrepared'] as const;

// Labels one call may score (the tokenizer encodes them in one batch; its limit).
const MAX_LABELS = 65536;

/**
 * node:diagnostics_channel channels for monitoring (the server's metrics subscribe): one message per model call on
 * videos ({@link BatchEvent}) and per video prepared ({@link PrepareEvent}). Nothing is measured while no one
 * subscribes.
 * @example
 * import { subscribe } from 'node:diagnostics_channel';
 * subscribe(batchChannel.name, (m) => console.log((m as BatchEvent).size));
 */
export const batchChannel = channel('xclip-node:batch');
/** See {@link batchChannel}. */
export const prepareChannel = channel('xclip-node:prepare');

const LABEL_CACHE_SIZE = 32;
/** Videos held ready or in decoding per batch slot: the next batch is decoded while the current one runs. */
const PREPARED_BATCHES = 2;
/** Texts to encode, and whether too long ones are cut. */
interface TextSet {
  texts: readonly string[];
  truncation: boolean;
}

const textKey = (set: TextSet): string => `${set.truncation ? 'truncated ' : ''}${JSON.stringify(set.texts)}`;

/** A call's decode options, checked, its signal and its progress hook. */
interface CallSettings {
  decode: Omit<VideoDecodeOptions, 'signal'>;
  signal: AbortSignal | undefined;
  onPrepared: ((index: number) => void) | undefined;
}

/** A non-empty array of strings (labels, texts); `TypeError` naming the argument otherwise. */
export function checkTexts(name: string, texts: unknown): asserts texts is readonly string[] {
  if (!Array.isArray(texts) || texts.length === 0) throw typeError(name, 'a non-empty array of strings', texts);
  checkArray(name, texts, MAX_LABELS, (t, at) => {
    if (!is.string(t)) throw typeError(at, 'string', t);
    return t;
  });
}

/**
 * Softmax of one row of logits, as transformers' pipeline takes it over `logits_per_video`.
 * @example
 * softmax(Float32Array.of(0, Math.log(3))); // [0.25, 0.75]
 */
export function softmax(row: Float32Array): Float32Array {
  const max = Math.max(...row);
  const exp = row.map((v) => Math.exp(v - max));
  const sum = exp.reduce((a, b) => a + b, 0);
  return exp.map((v) => v / sum);
}

function rowsOf(t: Tensor): Float32Array[] {
  const [rows, cols] = t.dims;
  const data = t.toFloat32Array();
  return Array.from({ length: rows }, (_, r) => data.slice(r * cols, (r + 1) * cols));
}

/**
/**
 * Zero-shot classification of videos against labels: softmax over `logits_per_video`, as transformers' pipeline.
 *
 * Calls are micro-batched: each video is decoded and preprocessed on its own (off the JS thread), then waits in a
 * queue; whenever the model is free, the oldest waiting video's label set runs with up to `maxBatch` videos that
 * share it, in arrival order. One model call runs at a time per classifier, and the next videos are decoded while
 * it runs (`decodeConcurrency` at a time); at most `2 × maxBatch` videos are decoded ahead, so a call with 1000
 * videos holds only a few in memory. So 32 concurrent single-video calls run as the same batches as one 32-video
 * call would.
 * @example
 * const clf = await ZeroShotVideoClassifier.fromPretrained('microsoft/xclip-base-patch32');
 * const [best] = await clf.classify('clip.mp4', ['playing sports', 'eating spaghetti', 'go shopping']);
 * console.log(best.label, best.score);
 */
export class ZeroShotVideoClassifier {
  readonly model: XCLIPModel;
  readonly processor: XCLIPProcessor;
  /** The model directory in use. */
  readonly modelDir: string;
  /** The batching settings in effect (defaults filled in). */
  readonly batching: Readonly<BatchingSettings>;
  /** Text features of label sets, most recently used last: each set goes through the text tower once. */
  readonly #labelCache = new Map<string, Promise<Tensor>>();
  readonly #batcher: MicroBatcher;
  /** Where videos are prepared, slot by slot (when the processor's output size is fixed), and batches gathered. */
  readonly #arena: SlotArena;
  /** Where videos are resized and normalized ({@link preprocessDeviceFor}); undefined: the CPU loops. */
  readonly #preprocessDevice: Device | undefined;
  readonly #stats: BatchStats = { batches: 0, videos: 0, maxBatchSeen: 0 };

  /**
   * @example
   * const clf = new ZeroShotVideoClassifier(model, processor, dir, { maxBatch: 4 });
   */
  constructor(model: XCLIPModel, processor: XCLIPProcessor, modelDir = '', options: BatchingOptions = {}) {
    if (!(model instanceof XCLIPModel)) throw typeError('model', 'an XCLIPModel', model);
    if (!(processor instanceof XCLIPProcessor)) throw typeError('processor', 'an XCLIPProcessor', processor);
    if (!is.string(modelDir)) throw typeError('modelDir', 'string', modelDir);
    this.batching = Object.freeze(checkBatchingOptions(optionalObject('options', options, BATCHING_KEYS), model.device));
    this.model = model;
    this.processor = processor;
    this.modelDir = modelDir;
    const { maxBatch, maxWaitMs, maxLatencyMs, decodeConcurrency } = this.batching;
    this.#batcher = new MicroBatcher({ maxBatch, maxWaitMs, maxLatencyMs, maxPending: PREPARED_BATCHES * maxBatch, maxPreparing: decodeConcurrency });
    const perVideo = processor.imageProcessor.pixelValuesLength(processor.numFrames);
    // Page-locked when the model is on CUDA: a batch then reaches the device by DMA, without a staging copy.
    this.#arena = new SlotArena(perVideo ?? 0, maxBatch, PREPARED_BATCHES, model.device.startsWith('cuda'));
    this.#preprocessDevice = preprocessDeviceFor(model.device);
  }

  /**
   * From a model directory or a hub id (resolved through the Hugging Face cache, downloading what is missing).
   * @example
   * const clf = await ZeroShotVideoClassifier.fromPretrained('./my-xclip', { device: 'cpu', maxBatch: 16 });
   */
  static async fromPretrained(idOrDir: string, options: PipelineOptions = {}): Promise<ZeroShotVideoClassifier> {
    if (!is.string(idOrDir)) throw typeError('idOrDir', 'string', idOrDir);
    if (!is.object(options as unknown)) throw typeError('options', 'object', options);
    const { maxBatch, maxWaitMs, maxLatencyMs, decodeConcurrency, decodeThreads, ...load } = options;
    // Checked before anything is loaded or downloaded; a misspelled key is refused, not ignored. The defaults are
    // filled in once the model's device is known.
    const batching = { maxBatch, maxWaitMs, maxLatencyMs, decodeConcurrency, decodeThreads };
    checkBatchingOptions(batching);
    checkModelOptions(load, [...HUB_KEYS, ...BATCHING_KEYS]);
    const { device, dtype, ...hub } = load;
    const dir = await resolveModelDir(idOrDir, hub);
    const [model, processor] = await Promise.all([XCLIPModel.fromPretrained(dir, { device, dtype }), XCLIPProcessor.fromPretrained(dir)]);
    return new ZeroShotVideoClassifier(model, processor, dir, batching);
  }

  /** A snapshot of the batching counters. */
  get stats(): Readonly<BatchStats> {
    return { ...this.#stats };
  }

  #encodeTexts({ texts, truncation }: TextSet): BatchEncoding {
    const maxLength = truncation ? this.model.config.textConfig.maxPositionEmbeddings : undefined;
    return this.processor.tokenizer.batchEncode(texts, { padding: 'longest', truncation, maxLength });
  }

  /**
   * Refuses, before any work, a text longer than the text tower takes, naming it (as the caller wrote it, before
   * the hypothesis template) with its token count. Texts already in the feature cache were checked before.
   */
  #textSet(name: string, texts: readonly string[], truncation: unknown, shown: readonly string[] = texts): TextSet {
    const set = { texts, truncation: optionalBool('truncation', truncation) ?? false };
    if (set.truncation || this.#labelCache.has(textKey(set))) return set;
    const max = this.model.config.textConfig.maxPositionEmbeddings;
    texts.forEach((text, i) => {
      const n = this.processor.tokenizer.encode(text).length;
      if (n > max) {
        throw new RangeError(
          `Expected at most ${max} tokens (the model's max_position_embeddings, start and end tokens included) for ${name}[${i}] ` +
            `but received ${n} tokens in ${JSON.stringify(shown[i])}; shorten it, or pass truncation: true to keep its first ${max - 2} ` +
            'tokens and the end token, as transformers\' tokenizer does',
        );
      }
    });
    return set;
  }

  #labelFeatures(set: TextSet): Promise<Tensor> {
    const key = textKey(set);
    let features = this.#labelCache.get(key);
    if (features) {
      this.#labelCache.delete(key);
    } else {
      features = this.model.getTextFeatures(this.#encodeTexts(set));
      // A failed encoding is not cached: the next call tries again.
      features.catch(() => this.#labelCache.delete(key));
      if (this.#labelCache.size >= LABEL_CACHE_SIZE) this.#labelCache.delete(this.#labelCache.keys().next().value as string);
    }
    this.#labelCache.set(key, features);
    return features;
  }

  #recordBatch(size: number): void {
    this.#stats.batches++;
    this.#stats.videos += size;
    this.#stats.maxBatchSeen = Math.max(this.#stats.maxBatchSeen, size);
  }

  /** Runs a batch on one [B, ...] tensor of its videos' pixel values; one output per video, in order. */
  async #runBatch<O>(videos: readonly PreparedInput[], model: (pixelValues: Tensor<'float32'>) => Promise<O[]>): Promise<O[]> {
    this.#recordBatch(videos.length);
    const { pixelValues, rows } = this.#arena.batch(videos);
    const out = await model(pixelValues);
    return rows.map((r) => out[r]);
  }

  /** Runs one model call on `size` videos, publishing its duration when someone listens. */
  async #timed<T>(kind: BatchEvent['kind'], size: number, run: () => Promise<T>): Promise<T> {
    if (!batchChannel.hasSubscribers) return run();
    const t0 = performance.now();
    try {
      return await run();
    } finally {
      batchChannel.publish({ classifier: this, kind, size, seconds: (performance.now() - t0) / 1000 } satisfies BatchEvent);
    }
  }

  /** Decodes and preprocesses one video (`encode`), publishing its duration when someone listens. */
  #prepare(encode: () => Promise<ProcessorOutput>): Promise<ProcessorOutput> {
    const t0 = prepareChannel.hasSubscribers ? performance.now() : -1;
    const encoded = encode();
    if (t0 < 0) return encoded;
    const publish = (ok: boolean): void => prepareChannel.publish({ classifier: this, seconds: (performance.now() - t0) / 1000, ok } satisfies PrepareEvent);
    encoded.then(() => publish(true), () => publish(false));
    return encoded;
  }

  /** Videos that may share a forward pass (classify and score alike): same texts, same frame geometry. */
  #logitsGroup(texts: TextSet, shape: string): BatchGroup<PreparedInput, Float32Array> {
    return {
      key: `logits ${shape} ${textKey(texts)}`,
      run: (videos) =>
        this.#timed('logits', videos.length, () =>
          this.#runBatch(videos, async (pixelValues) => {
            // Inside the batch, so the text tower never runs beside a vision batch; cached after the first time.
            const textFeatures = await this.#labelFeatures(texts);
            return rowsOf((await this.model.forwardWithTextFeatures({ textFeatures, pixelValues })).logitsPerVideo);
          }),
        ),
    };
  }

  #embedGroup(shape: string): BatchGroup<PreparedInput, Float32Array> {
    return {
      key: `embed ${shape}`,
      run: (videos) => this.#timed('embed', videos.length, () => this.#runBatch(videos, async (pixelValues) => rowsOf(await this.model.getVideoFeatures(pixelValues)))),
    };
  }

  #searchGroup(shape: string, featureDtype: 'float32' | 'float16'): BatchGroup<PreparedInput, SearchFeatureRow> {
    return {
      key: `search ${featureDtype} ${shape}`,
      run: (videos) =>
        this.#runBatch(videos, async (pixelValues) => {
          const { videoEmbeds, promptFeatures } = await this.model.getVideoSearchFeatures(pixelValues, { featureDtype });
          const embeds = rowsOf(videoEmbeds);
          const [n, ...row] = promptFeatures.dims;
          const size = row[0] * row[1];
          return Array.from({ length: n }, (_, i) => ({
            videoEmbed: embeds[i],
            promptFeatures: new Tensor(promptFeatures.type, promptFeatures.data.subarray(i * size, (i + 1) * size), row),
          }));
        }),
    };
  }

  /**
   * Checks a call's decode options up front (a mistake is reported at the call, not per video) and splits off its
   * signal. `numFrames` may only restate the model's `num_frames`: the vision tower and the MIT are built for it.
   */
  #callSettings(options: Omit<VideoCallOptions, 'truncation'>): CallSettings {
    const { signal, onPrepared, ...decode } = options;
    if (onPrepared !== undefined && typeof onPrepared !== 'function') throw typeError('onPrepared', 'a function', onPrepared);
    const numFrames = this.model.config.visionConfig.numFrames;
    if (decode.numFrames !== undefined && decode.numFrames !== numFrames) {
      throw rangeError('numFrames', `${numFrames} (the model's num_frames)`, decode.numFrames);
    }
    const s = decode.sampling;
    if (is.object(s) && 'indices' in s && Array.isArray(s.indices) && s.indices.length !== numFrames) {
      throw rangeError('sampling.indices', `${numFrames} frame indices (the model's num_frames)`, s.indices);
    }
    nativeReadOptions({ ...decode, numFrames });
    return { decode: { ...decode, numFrames }, signal: optionalSignal(signal), onPrepared };
  }

  /**
   * Decodes and preprocesses each video on its own (straight into a slot of the next batches' memory, in one native
   * call for a video source), queues it in the group `groupOf` names for its shape, and resolves with one output per
   * video, in order. A video's slot is held until its batch's model call is over, or until it leaves the queue. Videos are admitted one at a time, so concurrent calls take
   * turns for the preparation slots; the first failure rejects the call, withdraws its queued videos and stops
   * their decoding. The caller's signal does the same, and the call rejects with its reason at once, even while
   * one of its videos is in the running batch (whose result is then dropped).
   */
  async #eachVideo<O>(
    videos: readonly VideoInput[],
    callSite: Error,
    groupOf: (shape: string) => BatchGroup<PreparedInput, O>,
    { decode, signal, onPrepared }: CallSettings,
  ): Promise<O[]> {
    if (signal?.aborted) throw signal.reason;
    const abort = new AbortController();
    // Listeners on it: each video waiting for a slot or a batch, each decode and preprocessing, and the call's
    // own; the batcher's bounds keep that few.
    const { maxPending, maxPreparing } = this.#batcher.options;
    setMaxListeners(maxPending + 2 * maxPreparing + 4, abort.signal);
    const forward = (): void => abort.abort(signal!.reason);
    signal?.addEventListener('abort', forward, { once: true });
    const stopped = new Promise<never>((_, reject) => abort.signal.addEventListener('abort', () => reject(abort.signal.reason), { once: true }));
    stopped.catch(() => undefined);
    const results: Promise<O>[] = [];
    try {
      for (const [index, video] of videos.entries()) {
        const reservation = await this.#batcher.reserve(abort.signal);
        const slot = this.#slotFor(video);
        // With `out`, encode settles only once the native call stopped writing there, abort or not; the item's
        // promise settles only after its batch's model call (the batcher resolves items when run() returns).
        const result = this.#prepare(() =>
          this.processor.encode({ videos: [video], decodeThreads: this.batching.decodeThreads, device: this.#preprocessDevice, ...decode, signal: abort.signal, out: slot?.data }),
        )
          .then(
            ({ pixelValues }) => {
              try {
                onPrepared?.(index);
              } catch (err) {
                // The hook's failure is the call's, and the reservation must not be lost with it.
                reservation.release();
                throw err;
              }
              // In the slot when the processor wrote there (a subclass may return its own buffer instead).
              const input: PreparedInput = { pixelValues: pixelValues!, slot: pixelValues!.data === slot?.data ? slot : undefined };
              return reservation.submit(groupOf(pixelValues!.dims.slice(1).join('x')), input, abort.signal);
            },
            (err: unknown) => {
              reservation.release();
              throw err;
            },
          )
          .finally(() => this.#arena.release(slot));
        result.catch((err: unknown) => abort.abort(err));
        results.push(result);
      }
      return await Promise.race([Promise.all(results), stopped]);
    } catch (err) {
      throw atCallSite(err, callSite);
    } finally {
      signal?.removeEventListener('abort', forward);
    }
  }

  /** A batch slot for a video whose pixel values have the arena's size (frames given as lists may not). */
  #slotFor(video: VideoInput): ReturnType<SlotArena['acquire']> {
    if (this.#arena.slotLength === 0) return undefined;
    if (isFrameList(video) && video.length !== this.processor.numFrames) return undefined;
    return this.#arena.acquire();
  }

  /**
   * Scores every label for each video, best first. One video in, one list out; an array of videos in, one list per
   * video out. Videos go through the model in batches of up to `maxBatch`, shared with concurrent calls on the
   * same labels; a label set's text features are computed once and reused by later calls. A video that cannot be
   * decoded rejects only its own call.
   * @example
   * const [a, b] = await clf.classify(['a.mp4', 'b.mp4'], ['cooking', 'dancing'], { topK: 1 });
   */
  async classify(video: VideoInput, labels: readonly string[], options?: ClassifyOptions): Promise<LabelScore[]>;
  async classify(videos: readonly VideoInput[], labels: readonly string[], options?: ClassifyOptions): Promise<LabelScore[][]>;
  async classify(
    videos: VideoInput | readonly VideoInput[],
    labels: readonly string[],
    options: ClassifyOptions = {},
  ): Promise<LabelScore[] | LabelScore[][]> {
    const callSite = new Error();
    checkTexts('labels', labels);
    if (!is.object(options as unknown)) throw typeError('options', 'object', options);
    checkKeys('options', options as Record<string, unknown>, ['topK', 'hypothesisTemplate', 'truncation', ...CALL_KEYS]);
    const { topK = labels.length, hypothesisTemplate = '{}', truncation, ...decodeOptions } = options;
    if (!is.integer(topK)) throw typeError('topK', `integer between 1 and ${labels.length}`, topK);
    if (!is.inRange(topK, 1, labels.length)) throw rangeError('topK', `integer between 1 and ${labels.length}`, topK);
    if (!is.string(hypothesisTemplate) || !hypothesisTemplate.includes('{}')) {
      throw typeError('hypothesisTemplate', "a string containing '{}'", hypothesisTemplate);
    }
    const single = !Array.isArray(videos) || (videos.length > 0 && isFrameList(videos));
    const list = (single ? [videos] : videos) as readonly VideoInput[];
    if (list.length === 0) throw rangeError('videos', 'at least one video', videos);
    const settings = this.#callSettings(decodeOptions);
    const texts = this.#textSet('labels', labels.map((l) => hypothesisTemplate.split('{}').join(l)), truncation, labels);
    const logits = await this.#eachVideo(list, callSite, (shape) => this.#logitsGroup(texts, shape), settings);
    const results = logits.map((row) =>
      Array.from(softmax(row), (score, i) => ({ label: labels[i], score }))
        .sort((a, b) => b.score - a.score)
        .slice(0, topK),
    );
    return single ? results[0] : results;
  }

  /**
   * X-CLIP's own score of every (video, text) pair: one row per video, `logits_per_video` of transformers'
   * `XCLIPModel` (logit scale × cosine of the video embedding and the text embedding conditioned on that video by
   * the prompt generator), in the order of `texts`. This is what ranks videos for a query: the plain cosine of
   * {@link embedTexts} and {@link embedVideos} leaves the prompt generator out and can order videos differently.
   * Videos are batched with concurrent `classify`/`score` calls on the same texts; the texts go through the text
   * tower once and are cached.
   * @example
   * const rows = await clf.score(['a.mp4', 'b.mp4'], ['a person cooking']);
   * const ranked = rows.map((row, i) => ({ file: files[i], logit: row[0] })).sort((a, b) => b.logit - a.logit);
   */
  async score(videos: readonly VideoInput[], texts: readonly string[], options: VideoCallOptions = {}): Promise<Float32Array[]> {
    const callSite = new Error();
    if (!Array.isArray(videos) || videos.length === 0) throw typeError('videos', 'a non-empty array of videos', videos);
    checkTexts('texts', texts);
    const { truncation, ...decodeOptions } = optionalObject('options', options, [...CALL_KEYS, 'truncation']);
    const settings = this.#callSettings(decodeOptions);
    const set = this.#textSet('texts', texts, truncation);
    return this.#eachVideo(videos, callSite, (shape) => this.#logitsGroup(set, shape), settings);
  }

  /**
   * Video embeddings from `get_video_features` (the MIT-pooled projection, not normalised), one Float32Array per
   * video. Batched like {@link classify}. Their cosine with {@link embedTexts}' embeddings is a CLIP-like retrieval
   * score without X-CLIP's video-conditioned text prompts; use {@link score} for the model's own ranking.
   * @example
   * const [e] = await clf.embedVideos(['clip.mp4'], { timeoutMs: 30000 });
   */
  async embedVideos(videos: readonly VideoInput[], options: Omit<VideoCallOptions, 'truncation'> = {}): Promise<Float32Array[]> {
    const callSite = new Error();
    if (!Array.isArray(videos) || videos.length === 0) throw typeError('videos', 'a non-empty array of videos', videos);
    const settings = this.#callSettings(optionalObject('options', options, CALL_KEYS));
    return this.#eachVideo(videos, callSite, (shape) => this.#embedGroup(shape), settings);
  }

  /**
   * What a text-to-video search index stores per video (`getVideoSearchFeatures`: the video embedding and the
   * prompt generator's visual input), from one vision pass, batched like {@link embedVideos}.
   * @example
   * const rows = await clf.searchFeatures(['a.mp4', 'b.mp4'], { featureDtype: 'float16' });
   */
  async searchFeatures(
    videos: readonly VideoInput[],
    options: VideoDecodeOptions & { featureDtype?: 'float32' | 'float16' } = {},
  ): Promise<SearchFeatureRow[]> {
    const callSite = new Error();
    if (!Array.isArray(videos) || videos.length === 0) throw typeError('videos', 'a non-empty array of videos', videos);
    const { featureDtype = 'float32', ...decodeOptions } = optionalObject('options', options, [...VIDEO_DECODE_KEYS, 'featureDtype']);
    if (featureDtype !== 'float32' && featureDtype !== 'float16') throw typeError('featureDtype', "'float32' or 'float16'", featureDtype);
    const settings = this.#callSettings(decodeOptions);
    return this.#eachVideo(videos, callSite, (shape) => this.#searchGroup(shape, featureDtype), settings);
  }

  /**
   * Text embeddings (`get_text_features`: projected, not normalised), one Float32Array per text. Their cosine with
   * {@link embedVideos}' embeddings is a CLIP-like retrieval score; X-CLIP's own score conditions each text on the
   * video (see {@link score}).
   * @example
   * const [q] = await clf.embedTexts(['a person cooking']);
   */
  async embedTexts(texts: readonly string[], options: TextOptions = {}): Promise<Float32Array[]> {
    const callSite = new Error();
    checkTexts('texts', texts);
    const { truncation } = optionalObject('options', options, ['truncation']);
    const encoding = this.#encodeTexts(this.#textSet('texts', texts, truncation));
    try {
      // Queued with the video batches: one model call at a time.
      return rowsOf(await this.#batcher.exclusive(() => this.model.getTextFeatures(encoding)));
    } catch (err) {
      throw atCallSite(err, callSite);
    }
  }

  /**
   * Rejects queued and later calls with XClipError code `DISPOSED` and releases the model's memory; the batch
   * already running completes. Idempotent.
   * @example
   * await clf.dispose();
   */
  async dispose(): Promise<void> {
    this.#batcher.close(() => new XClipError('DISPOSED', 'ZeroShotVideoClassifier has been disposed'));
    this.#arena.clear();
    await this.model.dispose();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.dispose();
  }
}

/**
 * `get_video_features` for each video, as Float32Arrays (see {@link ZeroShotVideoClassifier.embedVideos}).
 * @example
 * const embeds = await embedVideos(model, processor, ['a.mp4', 'b.mp4'], { timeoutMs: 30000 });
 */
export async function embedVideos(model: XCLIPModel, processor: XCLIPProcessor, videos: readonly VideoInput[], options?: VideoDecodeOptions): Promise<Float32Array[]> {
  return new ZeroShotVideoClassifier(model, processor).embedVideos(videos, options);
}

/**
 * `get_text_features` for each text, as Float32Arrays (see {@link ZeroShotVideoClassifier.embedTexts}).
 * @example
 * const embeds = await embedTexts(model, processor, ['a dog', 'a cat']);
 */
export async function embedTexts(model: XCLIPModel, processor: XCLIPProcessor, texts: readonly string[], options?: TextOptions): Promise<Float32Array[]> {
  return new ZeroShotVideoClassifier(model, processor).embedTexts(texts, options);
}
