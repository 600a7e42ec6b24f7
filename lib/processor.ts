/**
 * XCLIPProcessor = CLIP tokenizer + VideoMAE image processor (+ video decoding), loaded from one model directory.
 * @module
 */
import { optionalSignal } from './abort';
import { XClipError } from './errors';
import type { HubOptions } from './hub';
import { VideoMAEImageProcessor, type OutputOptions } from './imageProcessor';
import type { Device } from './models';
import { binding } from './native';
import { loadPretrained } from './pretrained';
import { Tensor } from './tensor';
import { CLIPTokenizer, type BatchEncodeOptions, type DecodeOptions } from './tokenizer';
import { checkKeys, integerInRange, is, rangeError, typeError } from './validate';
import { isFrameList, type Cancellable, type Frame, type ReadVideoOptions, type VideoLimits, type VideoSource } from './video';

/** A video given as decoded frames, or as a file path / the bytes of a whole file. */
export type VideoInput = readonly Frame[] | VideoSource;

/**
 * How video sources are decoded: the options of {@link readVideo} that a caller of the processor or of a pipeline
 * may set per call.
 * @example
 * await processor.encode({ videos: ['upload.mp4'], maxPixels: 1920 * 1080, timeoutMs: 30000, signal });
 */
export interface VideoDecodeOptions extends VideoLimits, Cancellable {
  /** Frames sampled from video sources; defaults to the model's `num_frames` (8 when unknown). */
  numFrames?: number;
  /** How frames are sampled from video sources; default `'segment-middle'` (X-CLIP's test-time rule). */
  sampling?: ReadVideoOptions['sampling'];
  /** Rotate frames upright according to the rotation metadata (default false, as PyAV and HF). */
  applyRotation?: boolean;
}

export interface ProcessorEncodeOptions extends BatchEncodeOptions, VideoDecodeOptions {
  text?: string | readonly string[];
  videos?: VideoInput | readonly VideoInput[];
  /** Decoder threads per video source (`threads` of {@link readVideo}); default 0, FFmpeg's choice. */
  decodeThreads?: number;
  /**
   * Where `pixelValues` go: a Float32Array of exactly their size (`[numVideos, numFrames, 3, height, width]`), e.g. a
   * slot of a larger batch. Video sources are decoded and preprocessed straight into it.
   */
  out?: Float32Array;
  /** Where resize, crop and normalization run (`device` of the image processor's `preprocess`); absent: the CPU loops. */
  device?: Device;
}

/** The keys of {@link VideoDecodeOptions}. */
export const VIDEO_DECODE_KEYS = ['numFrames', 'sampling', 'applyRotation', 'maxPixels', 'maxFrames', 'timeoutMs', 'signal'] as const;

/** What `XCLIPModel.forward` takes. */
export interface ProcessorOutput {
  inputIds?: Tensor<'int64'>;
  attentionMask?: Tensor<'int64'>;
  pixelValues?: Tensor<'float32'>;
}

/** Options of {@link XCLIPProcessor.fromPretrained}: where a hub id is looked up. */
export type ProcessorLoadOptions = Pick<HubOptions, 'revision' | 'localFilesOnly' | 'cacheDir' | 'token' | 'endpoint' | 'onProgress'>;

/**
 * @example
 * const processor = await XCLIPProcessor.fromPretrained('/models/xclip');
 * const inputs = await processor.encode({ text: ['playing sports', 'cooking'], videos: ['clip.mp4'] });
 * const out = await model.forward(inputs);
 */
export class XCLIPProcessor {
  readonly tokenizer: CLIPTokenizer;
  readonly imageProcessor: VideoMAEImageProcessor;
  /** Frames sampled per video source (the model's `vision_config.num_frames`). */
  readonly numFrames: number;

  constructor(tokenizer: CLIPTokenizer, imageProcessor: VideoMAEImageProcessor, numFrames = 8) {
    if (!(tokenizer instanceof CLIPTokenizer)) throw typeError('tokenizer', 'a CLIPTokenizer', tokenizer);
    if (!(imageProcessor instanceof VideoMAEImageProcessor)) throw typeError('imageProcessor', 'a VideoMAEImageProcessor', imageProcessor);
    this.tokenizer = tokenizer;
    this.imageProcessor = imageProcessor;
    this.numFrames = numFrames;
  }

  /**
   * Loads the tokenizer files and `preprocessor_config.json` of a model directory, or of a hub id ("org/name")
   * through the Hugging Face cache as `XCLIPModel.fromPretrained` does; `num_frames` comes from its `config.json`
   * when present.
   * @example
   * const processor = await XCLIPProcessor.fromPretrained('microsoft/xclip-base-patch32');
   */
  static async fromPretrained(pathOrDir: string, options?: ProcessorLoadOptions): Promise<XCLIPProcessor> {
    const { tokenizer, imageProcessor, numFrames } = await loadPretrained('processor', pathOrDir, options, new Error());
    return new XCLIPProcessor(tokenizer, imageProcessor, numFrames);
  }

  /**
   * Text → `inputIds`/`attentionMask` (padded to the longest text unless told otherwise); videos (frames or
   * sources) → `pixelValues`. A video source is decoded and preprocessed in one native call: its frames never
   * reach JavaScript. An aborted `signal` stops the decodes at their next packet and rejects with its reason once
   * the native calls have stopped writing (at once when nothing was decoding).
   * @example
   * const { inputIds, attentionMask, pixelValues } = await processor.encode({ text: labels, videos: [frames] });
   */
  async encode(options: ProcessorEncodeOptions): Promise<ProcessorOutput> {
    const callSite = new Error();
    if (!is.object(options as unknown)) throw typeError('options', 'object', options);
    checkKeys('options', options as Record<string, unknown>, ['text', 'videos', 'padding', 'maxLength', 'truncation', 'decodeThreads', 'out', 'device', ...VIDEO_DECODE_KEYS]);
    const { text, videos, numFrames = this.numFrames, sampling, decodeThreads, applyRotation, maxPixels, maxFrames, timeoutMs, signal: signalOption, out, device, ...tok } = options;
    if (decodeThreads !== undefined) integerInRange('decodeThreads', decodeThreads, 0, 64);
    const signal = optionalSignal(signalOption);
    if (out !== undefined && !is.typedArray<Float32Array>(out, 'Float32Array')) throw typeError('out', 'Float32Array', out);
    if (text === undefined && videos === undefined) throw typeError('options', 'at least one of text or videos', options);
    const result: ProcessorOutput = {};
    if (text !== undefined) {
      const texts = is.string(text) ? [text] : text;
      Object.assign(result, this.tokenizer.batchEncode(texts, tok));
    }
    if (videos !== undefined) {
      const list: readonly VideoInput[] = isFrameList(videos) || !Array.isArray(videos) ? [videos as VideoInput] : (videos as readonly VideoInput[]);
      if (list.length === 0) throw rangeError('videos', 'at least one video', videos);
      const read: ReadVideoOptions = { numFrames, sampling, threads: decodeThreads, applyRotation, maxPixels, maxFrames, timeoutMs, signal };
      result.pixelValues = await this.#pixelValues(list, read, { out, device }, callSite);
    }
    return result;
  }

  /**
   * Every video's pixel values in one [B, T, 3, H, W] tensor. With a fixed output size each video is written into
   * its slot of the batch (the caller's `out`, else one buffer of native memory): no copy. Otherwise each comes back on its
   * own and the batch is stacked after checking the shapes agree.
   */
  async #pixelValues(list: readonly VideoInput[], read: ReadVideoOptions, { out, device }: OutputOptions, callSite: Error): Promise<Tensor<'float32'>> {
    const sampled = is.object(read.sampling) && 'indices' in read.sampling && Array.isArray(read.sampling.indices) ? read.sampling.indices.length : read.numFrames!;
    const frames = list.map((v) => (isFrameList(v) ? v.length : sampled));
    frames.forEach((n, b) => {
      if (n !== frames[0]) throw rangeError(`videos[${b}].length`, `${frames[0]} frames like videos[0]`, n);
    });
    const perVideo = this.imageProcessor.pixelValuesLength(frames[0]);
    if (perVideo) {
      if (out !== undefined && out.length !== perVideo * list.length) throw rangeError('out.length', `${perVideo * list.length} (the pixel values' size)`, out.length);
      const batch = out ?? binding().allocate('float32', perVideo * list.length);
      // Every call writing into the batch has stopped before this settles, even when one failed or was aborted.
      const settled = await Promise.allSettled(list.map((v, b) => this.#one(v, read, { out: batch.subarray(b * perVideo, (b + 1) * perVideo), device })));
      if (read.signal?.aborted) throw read.signal.reason;
      for (const s of settled) if (s.status === 'rejected') throw s.reason;
      return new Tensor('float32', batch, [list.length, frames[0], 3, ...this.imageProcessor.fixedOutputSize!]);
    }
    const each = await Promise.all(list.map((v) => this.#one(v, read, { out: list.length === 1 ? out : undefined, device })));
    if (list.length === 1) return each[0];
    const dims = each[0].dims;
    each.forEach((t, b) => {
      if (t.dims.join() !== dims.join()) {
        const message = `frames come out at different sizes without center crop: [${dims.join(', ')}] for video 0, [${t.dims.join(', ')}] for video ${b}`;
        throw new XClipError('INVALID_INPUT', message, callSite);
      }
    });
    const perEach = each[0].data.length;
    const data = out ?? new Float32Array(perEach * each.length);
    if (data.length !== perEach * each.length) throw rangeError('out.length', `${perEach * each.length} (the pixel values' size)`, data.length);
    each.forEach((t, b) => data.set(t.data, b * perEach));
    return new Tensor('float32', data, [each.length, ...dims.slice(1)]);
  }

  /** One video's pixel values [1, T, 3, H, W], in `where.out` when given, computed on `where.device` when given. */
  async #one(video: VideoInput, read: ReadVideoOptions, where: OutputOptions): Promise<Tensor<'float32'>> {
    if (isFrameList(video)) return (await this.imageProcessor.preprocess([video], where)).pixelValues;
    return (await this.imageProcessor.prepare(video, { ...read, ...where })).pixelValues;
  }

  /** Forwards to the tokenizer. */
  decode(ids: readonly (number | bigint)[] | BigInt64Array | Int32Array, options?: DecodeOptions): string {
    return this.tokenizer.decode(ids, options);
  }

  /** Forwards to the tokenizer. */
  batchDecode(batch: Parameters<CLIPTokenizer['batchDecode']>[0], options?: DecodeOptions): string[] {
    return this.tokenizer.batchDecode(batch, options);
  }
}
