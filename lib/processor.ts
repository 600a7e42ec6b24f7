/**
 * XCLIPProcessor = CLIP tokenizer + VideoMAE image processor (+ video decoding), loaded from one model directory.
 * @module
 */
import type { HubOptions } from './hub';
import { VideoMAEImageProcessor } from './imageProcessor';
import { loadPretrained } from './pretrained';
import type { Tensor } from './tensor';
import { CLIPTokenizer, type BatchEncodeOptions, type DecodeOptions } from './tokenizer';
import { checkKeys, integerInRange, is, rangeError, typeError } from './validate';
import { isFrameList, readVideo, type Frame, type ReadVideoOptions, type VideoSource } from './video';

/** A video given as decoded frames, or as a file path / the bytes of a whole file. */
export type VideoInput = readonly Frame[] | VideoSource;

export interface ProcessorEncodeOptions extends BatchEncodeOptions {
  text?: string | readonly string[];
  videos?: VideoInput | readonly VideoInput[];
  /** Frames sampled from video sources; defaults to the model's `num_frames` (8 when unknown). */
  numFrames?: number;
  /** How frames are sampled from video sources; default `'segment-middle'` (X-CLIP's test-time rule). */
  sampling?: ReadVideoOptions['sampling'];
  /** Decoder threads per video source (`threads` of {@link readVideo}); default 0, FFmpeg's choice. */
  decodeThreads?: number;
}

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
   * sources) → `pixelValues`.
   * @example
   * const { inputIds, attentionMask, pixelValues } = await processor.encode({ text: labels, videos: [frames] });
   */
  async encode(options: ProcessorEncodeOptions): Promise<ProcessorOutput> {
    if (!is.object(options as unknown)) throw typeError('options', 'object', options);
    checkKeys('options', options as Record<string, unknown>, ['text', 'videos', 'padding', 'maxLength', 'truncation', 'numFrames', 'sampling', 'decodeThreads']);
    const { text, videos, numFrames = this.numFrames, sampling, decodeThreads, ...tok } = options;
    if (decodeThreads !== undefined) integerInRange('decodeThreads', decodeThreads, 0, 64);
    if (text === undefined && videos === undefined) throw typeError('options', 'at least one of text or videos', options);
    const out: ProcessorOutput = {};
    if (text !== undefined) {
      const texts = is.string(text) ? [text] : text;
      Object.assign(out, this.tokenizer.batchEncode(texts, tok));
    }
    if (videos !== undefined) {
      const list: readonly VideoInput[] = isFrameList(videos) || !Array.isArray(videos) ? [videos as VideoInput] : (videos as readonly VideoInput[]);
      if (list.length === 0) throw rangeError('videos', 'at least one video', videos);
      const frames = await Promise.all(
        list.map(async (v) => (isFrameList(v) ? v : (await readVideo(v as VideoSource, { numFrames, sampling, threads: decodeThreads })).frames)),
      );
      out.pixelValues = (await this.imageProcessor.preprocess(frames)).pixelValues;
    }
    return out;
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
