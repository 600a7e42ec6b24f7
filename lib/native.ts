/**
 * The one typed view of the N-API addon (native/binding). Everything the addon exports is declared here; no
 * other module touches the untyped binding.
 * @module
 * @internal
 */
import { constants as bufferConstants } from 'buffer';
import * as fs from 'fs';
import * as path from 'path';

import { XClipError } from './errors';
import type { CudaInfo } from './runtime';
import type { TensorDataMap, TensorType } from './tensor';

/** A tensor as the addon takes and returns it: an element type, a typed array and a shape. */
export interface NativeTensor<T extends TensorType = TensorType> {
  readonly type: T;
  readonly data: TensorDataMap[T];
  readonly dims: readonly number[];
}

export interface NativeOutputWithPooling {
  lastHiddenState: NativeTensor;
  poolerOutput: NativeTensor;
  hiddenStates?: NativeTensor[];
  attentions?: NativeTensor[];
}

export interface NativeXCLIPOutput {
  loss?: NativeTensor;
  logitsPerVideo: NativeTensor;
  logitsPerText: NativeTensor;
  textEmbeds: NativeTensor;
  videoEmbeds: NativeTensor;
  textModelOutput: NativeOutputWithPooling;
  visionModelOutput: NativeOutputWithPooling;
  mitOutput: NativeOutputWithPooling;
}

declare const tokenizerBrand: unique symbol;
/** Opaque tokenizer handle (an N-API External owning the C++ CLIPTokenizer). */
export type TokenizerHandle = { readonly [tokenizerBrand]: true };

export interface LoadedTokenizer {
  handle: TokenizerHandle;
  vocabSize: number;
  bosTokenId: number;
  eosTokenId: number;
  padTokenId: number;
  unkTokenId: number;
  /** -1 when tokenizer_config.json sets none. */
  modelMaxLength: number;
}

export interface NativeBatchEncodeOptions {
  padding: 'none' | 'longest' | 'max_length';
  maxLength?: number;
  truncation?: boolean;
}

export interface NativeTokenizer {
  load(dir: string): Promise<LoadedTokenizer>;
  tokenize(handle: TokenizerHandle, text: string): string[];
  encode(handle: TokenizerHandle, text: string, addSpecialTokens: boolean): number[];
  batchEncode(
    handle: TokenizerHandle,
    texts: readonly string[],
    options: NativeBatchEncodeOptions,
  ): { inputIds: NativeTensor<'int64'>; attentionMask: NativeTensor<'int64'> };
  decode(handle: TokenizerHandle, ids: readonly number[] | BigInt64Array | Int32Array, skipSpecialTokens: boolean): string;
  idToToken(handle: TokenizerHandle, id: number): string;
  tokenToId(handle: TokenizerHandle, token: string): number | undefined;
}

/** The core's normalised reading of a preprocessor_config.json. */
export interface NativeImageProcessorConfig {
  doResize: boolean;
  size: { shortestEdge: number } | { height: number; width: number };
  resample: number;
  doCenterCrop: boolean;
  cropSize: { height: number; width: number };
  doRescale: boolean;
  rescaleFactor: number;
  doNormalize: boolean;
  imageMean: [number, number, number];
  imageStd: [number, number, number];
  /** (height, width) of every output frame when it does not depend on the input (center crop, fixed resize). */
  fixedOutputSize?: [number, number];
}

declare const imageProcessorBrand: unique symbol;
/** Opaque image processor handle (an N-API External owning the config the core parsed once). */
export type ImageProcessorHandle = { readonly [imageProcessorBrand]: true };

export interface LoadedImageProcessor {
  handle: ImageProcessorHandle;
  config: NativeImageProcessorConfig;
}

export interface NativeFrame {
  data: Uint8Array;
  width: number;
  height: number;
}

export interface NativeImageProcessor {
  /** Reads `<dir>/preprocessor_config.json` with the core's file limits. */
  load(dir: string): Promise<LoadedImageProcessor>;
  fromConfig(jsonText: string, source?: string): LoadedImageProcessor;
  /**
   * pixel_values [B, T, 3, H, W]; written into `out` (returned as the tensor's data) when given. With `device`, the
   * libtorch-op path runs there (bit-identical) and the result comes back to host memory.
   */
  preprocess(handle: ImageProcessorHandle, videos: readonly (readonly NativeFrame[])[], out?: Float32Array, device?: string): Promise<NativeTensor<'float32'>>;
}

/** What the container and stream say about a video. */
export interface VideoInfo {
  width: number;
  height: number;
  /** Average frame rate. */
  fps: number;
  /** Frames found by a demux pass (equals the decoded count for intact files). */
  frameCount: number;
  /** The container's own frame count, 0 when it has none (e.g. WebM). */
  containerFrameCount: number;
  /** Seconds. */
  duration: number;
  codec: string;
  pixelFormat: string;
  /**
   * Display-matrix rotation in degrees (counterclockwise: 0, 90, 180 or -90), applied after `mirrored`; frames are
   * returned as stored unless `applyRotation`.
   */
  rotation: number;
  /** The display matrix also mirrors the frame (horizontally, before `rotation`; a vertical mirror is 180 + mirrored). */
  mirrored: boolean;
  hasVideo: boolean;
}

/** The addon's probe result: the public VideoInfo plus whether the demux pass hit a damaged packet. */
export interface NativeVideoInfo extends VideoInfo {
  indexIncomplete: boolean;
}

declare const cancelBrand: unique symbol;
/** Opaque cancel token (an N-API External owning an atomic flag the decoder polls). */
export type CancelHandle = { readonly [cancelBrand]: true };

export interface NativeReadOptions {
  numFrames?: number;
  sampling?: 'segment-middle' | 'uniform' | 'indices' | 'hf-random';
  indices?: readonly number[];
  frameSampleRate?: number;
  seed?: number;
  maxPixels?: number;
  maxFrames?: number;
  timeoutMs?: number;
  applyRotation?: boolean;
  threads?: number;
  cancel?: CancelHandle;
}

/** The limits every video call takes. */
export interface NativeVideoLimits {
  maxPixels?: number;
  maxFrames?: number;
  timeoutMs?: number;
  /** Decoder threads (read, readClips and thumbnail only). */
  threads?: number;
  /** Stops the call when cancelled (read, readClips and thumbnail only). */
  cancel?: CancelHandle;
}

/** What a decode reports besides its frames. */
export interface NativeDecodeReport {
  indices: number[];
  timestamps: number[];
  info: NativeVideoInfo;
  decodedFrameCount: number;
  truncated: boolean;
  warning: string;
}

export interface NativeDecodedVideo extends NativeDecodeReport {
  /** [n, H, W, 3] in consecutive parts of whole frames (one unless the frames exceed 2 GiB: Node's buffer limit). */
  frames: NativeTensor<'uint8'>[];
}

export interface NativePreparedVideo extends NativeDecodeReport {
  /** [1, T, 3, H, W]; its data is `out` when one was given. */
  pixelValues: NativeTensor<'float32'>;
}

export interface NativeVideoClip {
  frames: NativeTensor<'uint8'>[];
  indices: number[];
  timestamps: number[];
  startSeconds: number;
  endSeconds: number;
  firstFrame: number;
  endFrame: number;
}

export interface NativeVideo {
  probe(source: string | Uint8Array, options: NativeVideoLimits): Promise<NativeVideoInfo>;
  read(source: string | Uint8Array, options: NativeReadOptions): Promise<NativeDecodedVideo>;
  readClips(
    source: string | Uint8Array,
    options: { numFrames?: number; clipSeconds?: number; strideSeconds?: number; numClips?: number; applyRotation?: boolean } & NativeVideoLimits,
  ): Promise<{ clips: NativeVideoClip[]; info: NativeVideoInfo; decodedFrameCount: number; truncated: boolean; warning: string }>;
  thumbnail(
    source: string | Uint8Array,
    options: { seconds: number; maxWidth?: number; quality?: number } & NativeVideoLimits,
  ): Promise<{ jpeg: Buffer; width: number; height: number; timestamp: number; frameIndex: number }>;
  /** A fresh token for one call's `cancel` option. */
  cancelToken(): CancelHandle;
  /** Makes the calls holding `token` stop at their next packet (they reject with code CANCELLED). */
  cancel(token: CancelHandle): void;
  /** read + the image processor in one worker: the frames never reach JS. */
  prepare(handle: ImageProcessorHandle, source: string | Uint8Array, options: NativeReadOptions, out?: Float32Array, device?: string): Promise<NativePreparedVideo>;
}

declare const handleBrand: unique symbol;
/** Opaque model handle (an N-API External owning the C++ model). */
export type ModelHandle = { readonly [handleBrand]: true };

export interface LoadedModel {
  handle: ModelHandle;
  /** HF config.json text (for the towers: a full XCLIPConfig whose own tower's part is meaningful). */
  config: string;
  device: string;
  dtype: TensorType;
  /** XCLIPModel only: the `logit_scale` parameter (logits are cosines times its exp). */
  logitScale?: number;
}

export interface NativeModelOptions {
  device?: string;
  dtype?: string;
}

export interface NativeForwardOptions {
  returnLoss?: boolean;
  outputAttentions?: boolean;
  outputHiddenStates?: boolean;
  interpolatePosEncoding?: boolean;
}

export interface NativeTextInputs {
  inputIds: NativeTensor;
  attentionMask?: NativeTensor;
  positionIds?: NativeTensor;
}

export interface NativeXCLIPInputs extends NativeTextInputs {
  pixelValues: NativeTensor;
}

export interface NativeDebugCounters {
  outputsExternal: number;
  outputsCopied: number;
  outputsLive: number;
  /** Inputs read by calls: pinned (the addon's own output memory) plus copied (memory JavaScript allocated). */
  inputsBorrowed: number;
  inputsPinned: number;
  inputsCopied: number;
}

export interface NativeDebug {
  counters(): NativeDebugCounters;
  forceCopyOutputs(on: boolean): void;
  addressOf(array: ArrayBufferView): bigint;
  inspect(tensor: NativeTensor, delayMs: number): Promise<{ address: bigint; values: number[] }>;
  makeOutput(n: number, type?: 'float32' | 'uint8'): { tensor: NativeTensor; address: bigint };
  fill(array: ArrayBufferView, value: number, delayMs: number): Promise<void>;
}

export interface NativeBinding {
  parseConfig(text: string, source?: string): string;
  loadConfig(path: string): string;
  setNumThreads(n: number): void;
  getNumThreads(): number;
  cudaAvailable(): boolean;
  cudaInfo(): CudaInfo;
  resolveDevice(spec: string): string;
  xclipFromPretrained(dir: string, options: NativeModelOptions): Promise<LoadedModel>;
  xclipFromConfig(configJson: string, options: NativeModelOptions & { seed?: number | bigint }): Promise<LoadedModel>;
  xclipForward(handle: ModelHandle, inputs: NativeXCLIPInputs, options: NativeForwardOptions): Promise<NativeXCLIPOutput>;
  xclipForwardWithTextFeatures(
    handle: ModelHandle,
    inputs: { textFeatures: NativeTensor; pixelValues: NativeTensor },
  ): Promise<Pick<NativeXCLIPOutput, 'logitsPerVideo' | 'logitsPerText' | 'textEmbeds' | 'videoEmbeds'>>;
  xclipGetTextFeatures(handle: ModelHandle, inputs: NativeTextInputs): Promise<NativeTensor>;
  xclipGetVideoFeatures(handle: ModelHandle, inputs: { pixelValues: NativeTensor }): Promise<NativeTensor>;
  xclipGetVideoSearchFeatures(
    handle: ModelHandle,
    inputs: { pixelValues: NativeTensor },
    options: { featureDtype?: string },
  ): Promise<{ videoEmbeds: NativeTensor; promptFeatures: NativeTensor }>;
  xclipScoreVideoFeatures(
    handle: ModelHandle,
    inputs: { videoEmbeds: NativeTensor; promptFeatures: NativeTensor; textFeatures: NativeTensor },
  ): Promise<NativeTensor>;
  xclipPromptKeyValues(handle: ModelHandle, inputs: { promptFeatures: NativeTensor }): Promise<NativeTensor>;
  xclipSavePretrained(handle: ModelHandle, dir: string): Promise<void>;
  textModelFromPretrained(dir: string, options: NativeModelOptions): Promise<LoadedModel>;
  textModelForward(handle: ModelHandle, inputs: NativeTextInputs, options: NativeForwardOptions): Promise<NativeOutputWithPooling>;
  visionModelFromPretrained(dir: string, options: NativeModelOptions): Promise<LoadedModel>;
  visionModelForward(
    handle: ModelHandle,
    inputs: { pixelValues: NativeTensor },
    options: NativeForwardOptions,
  ): Promise<NativeOutputWithPooling>;
  dispose(handle: ModelHandle): Promise<void>;
  /** `blas`: libtorch's build-time BLAS_INFO; `blasLoaded`: the BLAS library actually mapped in this process. */
  versions(): { libtorch: string; ffmpeg: string; blas: string; blasLoaded: string; mkldnn: boolean; onednnKernels: boolean };
  flops(configJson: string, videos: number, texts: number, seqLen: number): {
    visionTower: number;
    videoFeatures: number;
    textFeatures: number;
    prompts: number;
    forward: number;
  };
  setKernelBackend(backend: 'auto' | 'aten'): void;
  getKernelBackend(): 'auto' | 'aten';
  cachedMemoryBytes(): number;
  releaseCachedMemory(): void;
  pendingCalls(): number;
  measureGemmPeak(dtype: 'float32' | 'bfloat16', seconds: number): Promise<{ gflops: number; backend: string }>;
  setMaxBufferLength(bytes: number): void;
  /** Zeroed native memory as a typed array: calls read it and write into it in place, where memory JavaScript
   * made is copied (CallMemory). `pinned`: page-locked (CUDA pinned) memory where libtorch sees a CUDA device,
   * plain memory otherwise. */
  allocate(type: 'float32', length: number, pinned?: boolean): Float32Array;
  allocate(type: 'uint8', length: number, pinned?: boolean): Uint8Array;
  /** The core's limits that the TypeScript checks share. */
  limits: { maxNumFrames: number };
  tokenizer: NativeTokenizer;
  imageProcessor: NativeImageProcessor;
  video: NativeVideo;
  /** Only in the test build of the addon (native/binding/test_hooks.cc), which the jest suites load. */
  debug?: NativeDebug;
}

/**
 * The package root (the folder holding our package.json). Compiled code runs from dist/, tests from lib/, so
 * `__dirname/..` is dist/ for one and the root for the other (where the addon is looked up): walk up instead.
 */
export function packageRoot(start: string = __dirname): string {
  let dir = start;
  for (;;) {
    const pkg = path.join(dir, 'package.json');
    if (fs.existsSync(pkg)) {
      try {
        if ((JSON.parse(fs.readFileSync(pkg, 'utf8')) as { name?: string }).name === 'xclip-node') return dir;
      } catch {
        // unreadable package.json: keep walking
      }
    }
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error(`xclip-node: package.json not found above ${start}`);
    dir = parent;
  }
}

let cached: NativeBinding | undefined;

/** True once this module instance has loaded the addon (nothing else loads it). */
export function bindingLoaded(): boolean {
  return cached !== undefined;
}

/**
 * The Debian package that ships a library the addon links, by the rule of its runtime packages (a soname's stem and
 * major version: libavformat.so.59 is in libavformat59; libtorch's libraries are all in libtorch1.13), when that
 * package is one of `runtime`.
 */
function debianPackageOf(soname: string, runtime: readonly string[]): string | undefined {
  const m = /^(lib[A-Za-z0-9_+-]*?)\.so\.(\d+(?:\.\d+)?)/.exec(soname);
  if (!m) return undefined;
  const [, stem, version] = m;
  const candidates = [/^lib(torch|c10)/.test(stem) ? `libtorch${version}` : `${stem}${version.split('.')[0]}`, `${stem}${version}`];
  return candidates.find((c) => runtime.includes(c));
}

/**
 * The addon failing to load, as an XClipError with code `ADDON_LOAD_FAILED` that says what to do. A missing system
 * library is the usual cause: the dynamic loader's message ("libtorch.so.1.13: cannot open shared object file")
 * names the library but not the Debian package, so the message adds the apt line for it and for the whole runtime set.
 * @internal
 */
export function explainLoadFailure(err: unknown, root: string): unknown {
  const message = err instanceof Error ? err.message : String(err);
  const code = (err as { code?: unknown } | null)?.code;
  const missingLibrary = /([^\s/:]+\.so[.\d]*): cannot open shared object file/.exec(message)?.[1];
  const noBuild = /No native build was found/.test(message);
  if (code !== 'ERR_DLOPEN_FAILED' && !missingLibrary && !noBuild) return err;
  let runtime: string[] = [];
  try {
    runtime = (JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as { debian?: { runtime?: string[] } }).debian?.runtime ?? [];
  } catch {
    // the hint is a courtesy; the loader's message below still says what is missing
  }
  const all = `On Debian 12, the runtime libraries: sudo apt-get install --no-install-recommends ${runtime.join(' ')}`;
  const elsewhere = 'Elsewhere, build from source (see the README, "Building from source").';
  let text: string;
  if (missingLibrary) {
    const pkg = debianPackageOf(missingLibrary, runtime);
    text = [
      `xclip-node: the native addon needs system libraries that are missing: ${message}`,
      pkg ? `${missingLibrary} is in the Debian package ${pkg}: sudo apt-get install --no-install-recommends ${pkg}` : undefined,
      all,
      elsewhere,
    ]
      .filter((l) => l !== undefined)
      .join('\n');
  } else if (noBuild) {
    text = `xclip-node: no native addon was built for this machine (${message.split('\n')[0]}); run "npm rebuild xclip-node" to build it.\n${elsewhere}`;
  } else {
    text = `xclip-node: the native addon cannot be loaded: ${message}\n${all}\n${elsewhere}`;
  }
  const error = new XClipError('ADDON_LOAD_FAILED', text);
  (error as Error & { cause?: unknown }).cause = err;
  return error;
}

/**
 * Loads the addon on first use (build/Release/*.node or prebuilds/<platform>-<arch>/). With XCLIP_TEST_ADDON=1 (the
 * jest setup sets it) it loads the test build of the same sources instead, build/Test/xclip.node, which adds the
 * debug hooks; `cmake-js compile` builds both.
 */
export function binding(): NativeBinding {
  if (!cached) {
    const root = packageRoot();
    const testBuild = path.join(root, 'build', 'Test', 'xclip.node');
    if (process.env.XCLIP_TEST_ADDON === '1' && !fs.existsSync(testBuild)) {
      throw new Error(`xclip-node: the addon's test build ${testBuild} is missing; build it with npm run build:native`);
    }
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const load = require('node-gyp-build') as (dir: string) => any; // eslint-disable-line @typescript-eslint/no-explicit-any
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      cached = (process.env.XCLIP_TEST_ADDON === '1' ? require(testBuild) : load(root)) as NativeBinding;
    } catch (err) {
      throw explainLoadFailure(err, root);
    }
    // Outputs above this are copied rather than handed over as external buffers, which Node refuses past it.
    cached.setMaxBufferLength(bufferConstants.MAX_LENGTH);
  }
  return cached;
}
