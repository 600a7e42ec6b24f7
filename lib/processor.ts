/**
 * XCLIPProcessor = CLIP tokenizer + VideoMAE image processor (+ video decoding), loaded from one model directory.
 * @module
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

import { VideoMAEImageProcessor } from './imageProcessor';
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
   * Loads the tokenizer files and `preprocessor_config.json` of a model directory; `num_frames` comes from its
   * `config.json` when present.
   * @example
   * const processor = await XCLIPProcessor.fromPretrained('/models/xclip');
   */
  static async fromPretrained(dir: string): Promise<XCLIPProcessor> {
    if (!is.string(dir)) throw typeError('dir', 'string', dir);
    const [tokenizer, imageProcessor] = await Promise.all([CLIPTokenizer.fromPretrained(dir), VideoMAEImageProcessor.fromPretrained(dir)]);
    let numFrames = 8;
    try {
      const cfg = JSON.parse(await fs.promises.readFile(path.join(dir, 'config.json'), 'utf8')) as {
        vision_config?: { num_frames?: unknown };
        vision_config_dict?: { num_frames?: unknown };
      };
      const n = cfg.vision_config_dict?.num_frames ?? cfg.vision_config?.num_frames;
      if (is.integer(n) && (n as number) > 0) numFrames = n as number;
    } catch {
      // A processor directory without a model config keeps the X-CLIP default of 8 frames.
    }
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
