/**
 * VideoMAEImageProcessor, the image half of XCLIPProcessor: Pillow-exact resize on uint8 frames, center crop,
 * rescale, normalize. A native handle: the core reads and validates `preprocessor_config.json` once, and every call
 * runs in the core on whole batches, off the JS thread. `prepare` goes from a video file to pixel values in one
 * native call, without handing the frames to JavaScript.
 * @module
 */
import { optionalSignal } from './abort';
import { callNative, callNativeSync } from './errors';
import type { Device } from './models';
import { binding, type ImageProcessorHandle, type LoadedImageProcessor, type NativeImageProcessorConfig } from './native';
import { checkModelOptions } from './pretrained';
import { Tensor } from './tensor';
import { cancellableNative, checkSource, nativeReadOptions, toReport, type DecodeReport, type Frame, type ReadVideoOptions, type VideoSource } from './video';
import { checkArray, checkKeys, is, rangeError, typeError } from './validate';

// Frames one preprocess call takes, all videos together (the native layer's limit).
const MAX_FRAMES = 65536;

/** The processor's settings after parsing (HF semantics, camelCase). */
export type ImageProcessorSettings = Omit<NativeImageProcessorConfig, 'fixedOutputSize'>;

/**
 * Where pixel values go: `out`, a Float32Array of exactly the output's size (e.g. one video's slot in a batch being
 * assembled). The returned tensor's data is then `out` itself. Default: a new buffer.
 */
export interface OutputOptions {
  out?: Float32Array;
  /**
   * Where the resize, crop and normalization run. Absent: the CPU loops (the default, and the fastest on a CPU).
   * A device (e.g. the model's `'cuda'`): the frames go there once as uint8 and libtorch ops compute the same
   * Pillow integer arithmetic, giving the same values bit for bit; the pixel values come back to host memory
   * (into `out` when given).
   */
  device?: Device;
}

/**
 * Options of {@link VideoMAEImageProcessor.prepare}: how to read the video (`signal` included: with `out`, an aborted
 * call rejects once the native call has stopped writing there), and where the pixel values go.
 */
export interface PrepareOptions extends ReadVideoOptions, OutputOptions {}

/**
 * A video prepared for the model: its pixel values and what the decode reported (as {@link readVideo} does).
 * @example
 * const { pixelValues, indices, truncated } = await proc.prepare('clip.mp4');
 */
export interface PreparedVideo extends DecodeReport {
  /** float32 `[1, numFrames, 3, height, width]`. */
  pixelValues: Tensor<'float32'>;
}

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

function checkOut(out: unknown, expected: number | undefined): Float32Array | undefined {
  if (out === undefined) return undefined;
  if (!is.typedArray<Float32Array>(out, 'Float32Array')) throw typeError('out', 'Float32Array', out);
  if (expected !== undefined && out.length !== expected) throw rangeError('out.length', `${expected} (the pixel values' size)`, out.length);
  return out;
}

/**
 * @example
 * const proc = await VideoMAEImageProcessor.fromPretrained('/models/xclip');
 * const { pixelValues } = await proc.preprocess([frames]); // float32 [1, 8, 3, 224, 224]
 */
export class VideoMAEImageProcessor {
  /** Parsed settings (read-only view). */
  readonly config: Readonly<ImageProcessorSettings>;
  /**
   * (height, width) of every processed frame when it does not depend on the input (a center crop, or a resize to a
   * fixed size): what a batch slot is sized with. Undefined when frames keep their aspect ratio.
   */
  readonly fixedOutputSize: readonly [number, number] | undefined;
  readonly #handle: ImageProcessorHandle;

  private constructor(loaded: LoadedImageProcessor) {
    const { fixedOutputSize, ...config } = loaded.config;
    this.#handle = loaded.handle;
    this.config = Object.freeze(config);
    this.fixedOutputSize = fixedOutputSize ? Object.freeze([fixedOutputSize[0], fixedOutputSize[1]] as const) : undefined;
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
    return new VideoMAEImageProcessor(callNativeSync(callSite, () => binding().imageProcessor.fromConfig(text)));
  }

  /**
   * Reads `<dir>/preprocessor_config.json` (refused above 16 MiB, or when it is not a regular file).
   * @example
   * const proc = await VideoMAEImageProcessor.fromPretrained('/models/xclip');
   */
  static async fromPretrained(dir: string): Promise<VideoMAEImageProcessor> {
    const callSite = new Error();
    if (!is.string(dir)) throw typeError('dir', 'string', dir);
    return new VideoMAEImageProcessor(await callNative(callSite, () => binding().imageProcessor.load(dir)));
  }

  /** Values of `frames` frames' pixel values, when the output size is fixed. @internal */
  pixelValuesLength(frames: number): number | undefined {
    const hw = this.fixedOutputSize;
    return hw ? frames * 3 * hw[0] * hw[1] : undefined;
  }

  /**
   * Frames (RGB24) to `pixel_values`. `videos` is a list of videos, each a list of frames (or one video).
   * @example
   * const { pixelValues } = await proc.preprocess([framesOfVideoA, framesOfVideoB]);
   * const same = await proc.preprocess([framesOfVideoA], { device: 'cuda' }); // resized on the GPU, equal bit for bit
   */
  async preprocess(videos: readonly (readonly Frame[])[] | readonly Frame[], options: OutputOptions = {}): Promise<{ pixelValues: Tensor<'float32'> }> {
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
    const { out, device } = checkOptions(options, []);
    const length = this.pixelValuesLength(list.length * list[0].length);
    const dest = checkOut(out, length);
    const t = await callNative(callSite, () => binding().imageProcessor.preprocess(this.#handle, list, dest, device));
    return { pixelValues: new Tensor('float32', t.data, t.dims) };
  }

  /**
   * Decodes the sampled frames of a video and preprocesses them in one native call (the frames never reach
   * JavaScript): the same pixel values, bit for bit, as `readVideo` then `preprocess`, for less CPU and memory.
   * @example
   * const { pixelValues } = await proc.prepare('clip.mp4', { numFrames: 8 });
   * const slot = batch.subarray(i * perVideo, (i + 1) * perVideo);
   * await proc.prepare(files[i], { numFrames: 8, out: slot }); // written into a batch being assembled
   */
  async prepare(source: VideoSource, options: PrepareOptions = {}): Promise<PreparedVideo> {
    const callSite = new Error();
    const src = checkSource(source);
    const { out, device, read } = checkOptions(options, ['numFrames', 'sampling', 'applyRotation', 'maxPixels', 'maxFrames', 'timeoutMs', 'threads', 'signal']);
    const { signal: signalOption, ...rest } = read;
    const opts = nativeReadOptions(rest);
    const signal = optionalSignal(signalOption);
    const frames = opts.sampling === 'indices' ? opts.indices!.length : opts.numFrames!;
    const dest = checkOut(out, this.pixelValuesLength(frames));
    // Into `out`, an aborted call settles only when the native call has stopped writing there.
    const v = await cancellableNative(callSite, signal, (cancel) => binding().video.prepare(this.#handle, src, { ...opts, cancel }, dest, device), dest !== undefined);
    return { pixelValues: new Tensor('float32', v.pixelValues.data, v.pixelValues.dims), ...toReport(v) };
  }
}

/** Splits `out` and `device` (checked as the models' device) from the other options (checked against `readKeys`). */
function checkOptions(options: unknown, readKeys: readonly string[]): { out: unknown; device: string | undefined; read: ReadVideoOptions } {
  if (!is.object(options)) throw typeError('options', 'object', options);
  checkKeys('options', options, ['out', 'device', ...readKeys]);
  const { out, device, ...read } = options;
  return { out, device: checkModelOptions({ device }).device, read: read as ReadVideoOptions };
}
