/**
 * VideoMAEImageProcessor, the image half of XCLIPProcessor: Pillow-exact resize on uint8 frames, center crop,
 * rescale, normalize. Runs in the native core on whole batches, off the JS thread.
 * @module
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

import { callNative, callNativeSync, XClipError } from './errors';
import { binding, type NativeImageProcessorConfig } from './native';
import { Tensor } from './tensor';
import type { Frame } from './video';
import { checkArray, is, rangeError, typeError } from './validate';

// The native core's limit for config files (untrusted_json.h).
const MAX_CONFIG_FILE_BYTES = 16 << 20;
// Frames one preprocess call takes, all videos together (the native layer's limit).
const MAX_FRAMES = 65536;

/** The processor's settings after parsing (HF semantics, camelCase). */
export type ImageProcessorSettings = NativeImageProcessorConfig;

function checkFrame(f: unknown, name: string): Frame {
  if (!is.object(f)) throw typeError(name, 'a frame { data, width, height }', f);
  const { data, width, height } = f as Record<string, unknown>;
  if (!is.typedArray<Uint8Array>(data, 'Uint8Array')) throw typeError(`${name}.data`, 'Uint8Array', data);
  if (!is.integer(width) || (width as number) < 1) throw rangeError(`${name}.width`, 'positive integer', width);
  if (!is.integer(height) || (height as number) < 1) throw rangeError(`${name}.height`, 'positive integer', height);
  const need = (width as number) * (height as number) * 3;
  if (data.length !== need) {
    throw rangeError(`${name}.data.length`, `${need} (width × height × 3 RGB bytes)`, data.length);
  }
  return f as unknown as Frame;
}

/**
 * @example
 * const proc = await VideoMAEImageProcessor.fromPretrained('/models/xclip');
 * const { pixelValues } = await proc.preprocess([frames]); // float32 [1, 8, 3, 224, 224]
 */
export class VideoMAEImageProcessor {
  /** Parsed settings (read-only view). */
  readonly config: Readonly<ImageProcessorSettings>;
  readonly #json: string;

  private constructor(json: string, config: ImageProcessorSettings) {
    this.#json = json;
    this.config = Object.freeze(config);
  }

  /**
   * From the snake_case object of a `preprocessor_config.json`, as HF writes it.
   * @example
   * VideoMAEImageProcessor.fromConfig({ size: { shortest_edge: 224 }, crop_size: { height: 224, width: 224 } });
   */
  static fromConfig(json: Record<string, unknown>): VideoMAEImageProcessor {
    const callSite = new Error();
    if (!is.object(json)) throw typeError('json', 'an object (preprocessor_config.json contents)', json);
    const text = JSON.stringify(json);
    return new VideoMAEImageProcessor(text, callNativeSync(callSite, () => binding().imageProcessor.parseConfig(text)));
  }

  /**
   * Reads `<dir>/preprocessor_config.json`.
   * @example
   * const proc = await VideoMAEImageProcessor.fromPretrained('/models/xclip');
   */
  static async fromPretrained(dir: string): Promise<VideoMAEImageProcessor> {
    const callSite = new Error();
    if (!is.string(dir)) throw typeError('dir', 'string', dir);
    const file = path.join(dir, 'preprocessor_config.json');
    let text: string;
    try {
      // A huge file is refused by its size, before it is loaded.
      const st = await fs.promises.stat(file);
      // Reading a FIFO would wait forever for a writer.
      if (!st.isFile()) throw new XClipError('FILE_NOT_FOUND', `cannot read ${file}: not a regular file`, callSite);
      const { size } = st;
      if (size > MAX_CONFIG_FILE_BYTES) {
        throw new XClipError('CONFIG_INVALID', `${file} is ${size} bytes, above the ${MAX_CONFIG_FILE_BYTES >> 20} MiB limit for a config file`, callSite);
      }
      text = await fs.promises.readFile(file, 'utf8');
    } catch (err) {
      if (err instanceof XClipError) throw err;
      throw new XClipError('FILE_NOT_FOUND', `cannot read ${file}`, callSite);
    }
    return new VideoMAEImageProcessor(text, callNativeSync(callSite, () => binding().imageProcessor.parseConfig(text, file)));
  }

  /**
   * Frames (RGB24) to `pixel_values`. `videos` is a list of videos, each a list of frames (or one video).
   * @example
   * const { pixelValues } = await proc.preprocess([framesOfVideoA, framesOfVideoB]);
   */
  async preprocess(videos: readonly (readonly Frame[])[] | readonly Frame[]): Promise<{ pixelValues: Tensor<'float32'> }> {
    const callSite = new Error();
    if (!Array.isArray(videos) || videos.length === 0) throw typeError('videos', 'a non-empty array of videos (arrays of frames)', videos);
    const nested = Array.isArray(videos[0]);
    // Lengths before walking: all videos have the first one's length, and the call takes MAX_FRAMES frames in all.
    const perVideo = nested ? Math.max(1, (videos[0] as readonly Frame[]).length) : 1;
    const list: (readonly Frame[])[] = nested
      ? checkArray('videos', videos, Math.floor(MAX_FRAMES / perVideo), (v) => v as Frame[])
      : [checkArray('videos', videos, MAX_FRAMES, (f) => f as Frame)];
    list.forEach((v, b) => {
      const name = nested ? `videos[${b}]` : 'videos';
      if (!Array.isArray(v)) throw typeError(name, 'an array of frames', v);
      if (v.length === 0) throw rangeError(name, 'at least one frame', v);
      if (v.length !== list[0].length) throw rangeError(`${name}.length`, `${list[0].length} frames like videos[0]`, v.length);
      checkArray(name, v, MAX_FRAMES, checkFrame);
    });
    const out = await callNative(callSite, () => binding().imageProcessor.preprocess(list, this.#json));
    return { pixelValues: new Tensor('float32', out.data, out.dims) };
  }
}
