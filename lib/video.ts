/**
 * Video decoding in-process with FFmpeg (libavformat/libavcodec/libswscale) from a file path or the bytes of a whole
 * file, sampling only the frames X-CLIP needs. Frames come back as RGB24, as PyAV's `to_ndarray(format="rgb24")`.
 * @module
 */
import { fileURLToPath } from 'node:url';

import { abortable, optionalSignal } from './abort';
import { callNative } from './errors';
import {
  binding,
  type CancelHandle,
  type NativeDecodeReport,
  type NativeDecodedVideo,
  type NativeReadOptions,
  type NativeVideoInfo,
  type NativeVideoLimits,
  type VideoInfo,
} from './native';
import { checkArray, checkKeys, integerInRange, is, rangeError, typeError } from './validate';

export type { VideoInfo } from './native';

/**
 * A file path, a `file:` URL object (e.g. `new URL('./clip.mp4', import.meta.url)`), or the bytes of a whole video
 * file (read through a custom AVIO reader, never a temp file). A path names exactly one regular file, opened once
 * per call: a string is never read as a URL (`file:`, `http:`), nor as a pattern (`%d`), and playlists or lists
 * naming other files are refused. Bytes are copied when the call starts, unless they are a view of memory this
 * package returned (a frame, an output tensor), which the call keeps alive instead.
 */
export type VideoSource = string | URL | Uint8Array;

/** One RGB24 frame: `data` is row-major HWC, `width * height * 3` bytes. */
export interface Frame {
  data: Uint8Array;
  width: number;
  height: number;
}

/** How to choose frames. */
export type Sampling =
  | 'segment-middle'
  | 'uniform'
  | { indices: readonly number[] }
  | { hfRandom: { frameSampleRate: number; seed: number } };

/**
 * Limits for untrusted files, checked before and while decoding. Exceeding `maxPixels` or `maxFrames` rejects with
 * `VIDEO_TOO_LARGE`, `timeoutMs` with `VIDEO_TIMEOUT`.
 */
export interface VideoLimits {
  /** Refuse videos whose frames have more pixels than this (default 4096×4096) before decoding anything. */
  maxPixels?: number;
  /** Refuse streams with more frames than this (default 1,048,576: 9.7 hours at 30 fps). */
  maxFrames?: number;
  /** Give up on a call after this many milliseconds (default 600,000; 0: no limit). */
  timeoutMs?: number;
}

/** Settings of the decoder that do not change its output. */
export interface DecoderOptions {
  /**
   * Decoder threads for this call, 0 to 64. Default 0: FFmpeg picks from the core count, which is fastest for one
   * video at a time. Frame threads cost about a quarter more CPU per frame than one thread, so several videos
   * decoded at once go faster with 1 each. Frames are the same either way.
   */
  threads?: number;
}

/** Cancelling a decode. */
export interface Cancellable {
  /**
   * Aborting it stops the decode at the next packet (or inside FFmpeg's current read) and rejects the call at once
   * with `signal.reason`: a `DOMException` named `'AbortError'`, as `fetch` rejects, unless `abort(reason)` gave
   * another reason.
   */
  signal?: AbortSignal;
}

export interface ReadVideoOptions extends VideoLimits, DecoderOptions, Cancellable {
  /** Frames to sample, 1..1024. Default 8. */
  numFrames?: number;
  /**
   * `'segment-middle'` (default, X-CLIP's test-time sampling: `floor((2i+1)·N / (2·numFrames))`), `'uniform'`
   * (first to last), explicit `{ indices }`, or `{ hfRandom }` (the formula of transformers' X-CLIP example, with our
   * own seeded generator: not numpy's random numbers).
   */
  sampling?: Sampling;
  /** Mirror and rotate frames upright as the display matrix says. Default false (as PyAV and HF). */
  applyRotation?: boolean;
}

/** What a decode reports besides its frames. */
export interface DecodeReport {
  /** Frame index of each output frame, in presentation order. */
  indices: number[];
  /** Presentation time of each frame in seconds. */
  timestamps: number[];
  info: VideoInfo;
  /** Frames the sampling ran over. */
  decodedFrameCount: number;
  /** The stream broke off (truncated or corrupt file): sampling ran over the frames that did decode. */
  truncated: boolean;
  /** Why `truncated` is set. */
  warning?: string;
}

export interface DecodedVideo extends DecodeReport {
  frames: Frame[];
}

export interface VideoClip {
  frames: Frame[];
  indices: number[];
  timestamps: number[];
  startSeconds: number;
  endSeconds: number;
}

/**
 * True for a video given as decoded frames rather than a source (a list whose first element is a frame; an empty
 * list counts as frames, so it is refused as a video without frames).
 * @internal
 */
export function isFrameList(v: unknown): v is readonly Frame[] {
  return Array.isArray(v) && (v.length === 0 || (is.object(v[0]) && 'data' in (v[0] as object)));
}

/** The path or bytes the addon reads; a `file:` URL becomes its path. @internal */
export function checkSource(source: unknown, name = 'source'): string | Uint8Array {
  if (is.typedArray<Uint8Array>(source, 'Uint8Array')) return source;
  // By its tag, not instanceof: URLs made in another realm (vm contexts, jest) have another constructor.
  if (Object.prototype.toString.call(source) === '[object URL]') {
    const url = source as URL;
    if (url.protocol !== 'file:') throw rangeError(name, 'a file: URL', url.href);
    source = fileURLToPath(url.href);
  }
  if (is.string(source)) {
    if (source.length === 0) throw rangeError(name, 'a non-empty path', source);
    // The C library would read up to the NUL: another file (Node's fs refuses these paths too).
    if (source.includes('\0')) throw rangeError(name, 'a path without NUL characters', source);
    return source;
  }
  throw typeError(name, 'a file path, a file: URL or a Uint8Array/Buffer', source);
}

/** Most frames one video may be sampled to, the core's limit (also a model's largest num_frames). */
function maxNumFrames(): number {
  return binding().limits.maxNumFrames;
}

const LIMIT_KEYS = ['maxPixels', 'maxFrames', 'timeoutMs'] as const;
/** Explicit frame indices one read may name (the native core's limit). */
const MAX_INDICES = 100000;
/** The options every decoding call (not probeVideo) shares. */
const DECODE_KEYS = [...LIMIT_KEYS, 'threads'] as const;

/** The limits, and for decoding calls the decoder settings, as the addon reads them. */
function nativeLimits(options: VideoLimits & DecoderOptions): NativeVideoLimits {
  const out: NativeVideoLimits = {};
  if (options.threads !== undefined) out.threads = integerInRange('threads', options.threads, 0, 64);
  if (options.maxPixels !== undefined) out.maxPixels = integerInRange('maxPixels', options.maxPixels, 1, Number.MAX_SAFE_INTEGER);
  if (options.maxFrames !== undefined) out.maxFrames = integerInRange('maxFrames', options.maxFrames, 1, Number.MAX_SAFE_INTEGER);
  if (options.timeoutMs !== undefined) out.timeoutMs = integerInRange('timeoutMs', options.timeoutMs, 0, Number.MAX_SAFE_INTEGER);
  return out;
}

/**
 * A decode the signal can stop: the addon polls a cancel token where it checks its deadline, and the call rejects
 * with `signal.reason` as soon as the signal aborts. With `untilStopped` (a call writing into the caller's memory,
 * which must not be reused while the native call may still write there) it rejects once the native call has
 * stopped, which the cancel token makes quick.
 * @internal
 */
export async function cancellableNative<T>(
  callSite: Error,
  signal: AbortSignal | undefined,
  run: (cancel?: CancelHandle) => Promise<T>,
  untilStopped = false,
): Promise<T> {
  if (!signal) return callNative(callSite, () => run());
  const token = binding().video.cancelToken();
  const cancel = (): void => binding().video.cancel(token);
  if (!untilStopped) return abortable(signal, () => callNative(callSite, () => run(token)), cancel);
  if (signal.aborted) throw signal.reason;
  signal.addEventListener('abort', cancel, { once: true });
  try {
    const result = await callNative(callSite, () => run(token)).catch((err: unknown) => {
      throw signal.aborted ? signal.reason : err;
    });
    if (signal.aborted) throw signal.reason;
    return result;
  } finally {
    signal.removeEventListener('abort', cancel);
  }
}

function toInfo(i: NativeVideoInfo): VideoInfo {
  const { indexIncomplete: _internal, ...info } = i;
  return info;
}

/** The public report of a native decode. @internal */
export function toReport(v: NativeDecodeReport): DecodeReport {
  const out: DecodeReport = { indices: v.indices, timestamps: v.timestamps, info: toInfo(v.info), decodedFrameCount: v.decodedFrameCount, truncated: v.truncated };
  if (v.warning) out.warning = v.warning;
  return out;
}

/** Splits [n, H, W, 3] uint8 parts (consecutive frames each) into frames that view (not copy) their buffers. */
function splitFrames(parts: readonly { data: Uint8Array; dims: readonly number[] }[]): Frame[] {
  return parts.flatMap((t) => {
    const [n, height, width] = t.dims;
    const bytes = height * width * 3;
    return Array.from({ length: n }, (_, i) => ({ data: t.data.subarray(i * bytes, (i + 1) * bytes), width, height }));
  });
}

/**
 * Checks readVideo's options (all but `signal`) and returns them as the addon reads them; for callers that take
 * these options and decode later, so a mistake is reported at their call.
 * @internal
 */
export function nativeReadOptions(options: Omit<ReadVideoOptions, 'signal'>): NativeReadOptions {
  if (!is.object(options as unknown)) throw typeError('options', 'object', options);
  checkKeys('options', options as Record<string, unknown>, ['numFrames', 'sampling', 'applyRotation', ...DECODE_KEYS]);
  const out: NativeReadOptions = { numFrames: integerInRange('numFrames', options.numFrames ?? 8, 1, maxNumFrames()), ...nativeLimits(options) };
  const s = options.sampling ?? 'segment-middle';
  if (s === 'segment-middle' || s === 'uniform') {
    out.sampling = s;
  } else if (is.object(s) && 'indices' in s) {
    if (!Array.isArray(s.indices) || s.indices.length === 0) throw typeError('sampling.indices', 'a non-empty array of frame indices', s.indices);
    out.indices = checkArray('sampling.indices', s.indices, MAX_INDICES, (v, name) => integerInRange(name, v, 0, Number.MAX_SAFE_INTEGER));
    out.sampling = 'indices';
  } else if (is.object(s) && 'hfRandom' in s && is.object(s.hfRandom)) {
    out.sampling = 'hf-random';
    out.frameSampleRate = integerInRange('sampling.hfRandom.frameSampleRate', s.hfRandom.frameSampleRate, 1, 1000);
    out.seed = integerInRange('sampling.hfRandom.seed', s.hfRandom.seed, 0, Number.MAX_SAFE_INTEGER);
  } else {
    throw typeError('sampling', "'segment-middle', 'uniform', { indices } or { hfRandom }", s);
  }
  if (options.applyRotation !== undefined) {
    if (!is.bool(options.applyRotation)) throw typeError('applyRotation', 'boolean', options.applyRotation);
    out.applyRotation = options.applyRotation;
  }
  return out;
}

/**
 * Container and stream facts without decoding frames.
 * @example
 * const { width, height, fps, frameCount } = await probeVideo('clip.mp4');
 */
export async function probeVideo(source: VideoSource, options: VideoLimits = {}): Promise<VideoInfo> {
  const callSite = new Error();
  const src = checkSource(source);
  if (!is.object(options as unknown)) throw typeError('options', 'object', options);
  checkKeys('options', options as Record<string, unknown>, [...LIMIT_KEYS]);
  const limits = nativeLimits(options);
  return toInfo(await callNative(callSite, () => binding().video.probe(src, limits)));
}

/**
 * Decodes the sampled frames of a video (seeking to the keyframe before each and decoding forward).
 * @example
 * const { frames, indices } = await readVideo('clip.mp4', { numFrames: 8 });
 * const { pixelValues } = await processor.imageProcessor.preprocess([frames]);
 */
export async function readVideo(source: VideoSource, options: ReadVideoOptions = {}): Promise<DecodedVideo> {
  const callSite = new Error();
  const src = checkSource(source);
  if (!is.object(options as unknown)) throw typeError('options', 'object', options);
  const { signal: signalOption, ...rest } = options;
  const opts = nativeReadOptions(rest);
  const signal = optionalSignal(signalOption);
  const v: NativeDecodedVideo = await cancellableNative(callSite, signal, (cancel) => binding().video.read(src, { ...opts, cancel }));
  return { frames: splitFrames(v.frames), ...toReport(v) };
}

/**
 * Clips covering a long video (for search inside it), each sampled with `numFrames` frames: `clipSeconds` long,
 * starting every `strideSeconds` (default `clipSeconds`: back to back; shorter: overlapping), or `numClips` equal
 * parts. Every frame is decoded once, also where clips overlap.
 * @example
 * for await (const clip of readVideoClips('movie.mp4', { numFrames: 8, clipSeconds: 10 })) {
 *   console.log(clip.startSeconds, clip.endSeconds);
 * }
 */
export async function* readVideoClips(
  source: VideoSource,
  options: { numFrames?: number; clipSeconds?: number; strideSeconds?: number; numClips?: number; applyRotation?: boolean } & VideoLimits & DecoderOptions & Cancellable,
): AsyncGenerator<VideoClip> {
  const callSite = new Error();
  const src = checkSource(source);
  if (!is.object(options as unknown)) throw typeError('options', 'object', options);
  checkKeys('options', options as Record<string, unknown>, ['numFrames', 'clipSeconds', 'strideSeconds', 'numClips', 'applyRotation', 'signal', ...DECODE_KEYS]);
  const signal = optionalSignal(options.signal);
  const numFrames = integerInRange('numFrames', options.numFrames ?? 8, 1, maxNumFrames());
  const { clipSeconds, numClips } = options;
  if ((clipSeconds === undefined) === (numClips === undefined)) {
    throw typeError('options', 'exactly one of clipSeconds or numClips', options);
  }
  if (clipSeconds !== undefined && (!is.number(clipSeconds) || !(clipSeconds > 0) || !Number.isFinite(clipSeconds))) {
    throw rangeError('clipSeconds', 'positive number', clipSeconds);
  }
  if (numClips !== undefined) integerInRange('numClips', numClips, 1, 100000);
  const { strideSeconds } = options;
  if (strideSeconds !== undefined) {
    if (clipSeconds === undefined) throw typeError('strideSeconds', 'clipSeconds with it', strideSeconds);
    if (!is.number(strideSeconds) || !(strideSeconds > 0) || !Number.isFinite(strideSeconds)) throw rangeError('strideSeconds', 'positive number', strideSeconds);
  }
  const limits = nativeLimits(options);
  const r = await cancellableNative(callSite, signal, (cancel) =>
    binding().video.readClips(src, { numFrames, clipSeconds, strideSeconds, numClips, applyRotation: options.applyRotation, ...limits, cancel }),
  );
  for (const c of r.clips) {
    yield { frames: splitFrames(c.frames), indices: c.indices, timestamps: c.timestamps, startSeconds: c.startSeconds, endSeconds: c.endSeconds };
  }
}

/** A preview image of one moment of a video. */
export interface VideoThumbnail {
  /** A whole JPEG file. */
  jpeg: Buffer;
  width: number;
  height: number;
  /** Presentation time of the frame shown, in seconds (the clock of {@link DecodedVideo.timestamps}). */
  timestamp: number;
  /** Its index in presentation order. */
  frameIndex: number;
}

export interface VideoThumbnailOptions extends VideoLimits, DecoderOptions, Cancellable {
  /** Scale down to at most this many pixels wide, 16..4096 (aspect kept, never enlarged). Default 320. */
  maxWidth?: number;
  /** JPEG quantiser, 2 (best, biggest) to 31. Default 5. */
  quality?: number;
}

/**
 * The frame on screen at `seconds` (the last frame presented at or before it; the first frame for earlier times),
 * turned upright by the rotation metadata, scaled down and encoded as a JPEG by FFmpeg's own mjpeg encoder.
 * Decoding seeks to the keyframe before that frame, so it costs at most one group of pictures.
 * @example
 * const { jpeg, width, height } = await videoThumbnail('clip.mp4', 1.5, { maxWidth: 320 });
 * fs.writeFileSync('clip.jpg', jpeg);
 */
export async function videoThumbnail(source: VideoSource, seconds: number, options: VideoThumbnailOptions = {}): Promise<VideoThumbnail> {
  const callSite = new Error();
  const src = checkSource(source);
  if (!is.number(seconds)) throw typeError('seconds', 'a number of seconds >= 0', seconds);
  if (!(seconds >= 0) || !Number.isFinite(seconds)) throw rangeError('seconds', 'a finite number of seconds >= 0', seconds);
  if (!is.object(options as unknown)) throw typeError('options', 'object', options);
  checkKeys('options', options as Record<string, unknown>, ['maxWidth', 'quality', 'signal', ...DECODE_KEYS]);
  const maxWidth = integerInRange('maxWidth', options.maxWidth ?? 320, 16, 4096);
  const quality = integerInRange('quality', options.quality ?? 5, 2, 31);
  const limits = nativeLimits(options);
  const signal = optionalSignal(options.signal);
  return cancellableNative(callSite, signal, (cancel) => binding().video.thumbnail(src, { seconds, maxWidth, quality, threads: 1, ...limits, cancel }));
}
