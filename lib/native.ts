/**
 * The one typed view of the N-API addon (native/binding). Everything the addon exports is declared here; no
 * other module touches the untyped binding.
 * @module
 * @internal
 */
import * as fs from 'fs';
import * as path from 'path';
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

declare const handleBrand: unique symbol;
/** Opaque model handle (an N-API External owning the C++ model). */
export type ModelHandle = { readonly [handleBrand]: true };

export interface LoadedModel {
  handle: ModelHandle;
  /** HF config.json text (for the towers: a full XCLIPConfig whose own tower's part is meaningful). */
  config: string;
  device: string;
  dtype: TensorType;
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
  inputsBorrowed: number;
}

export interface NativeDebug {
  counters(): NativeDebugCounters;
  forceCopyOutputs(on: boolean): void;
  addressOf(array: ArrayBufferView): bigint;
  inspect(tensor: NativeTensor, delayMs: number): Promise<{ address: bigint; values: number[] }>;
  makeOutput(n: number): { tensor: NativeTensor<'float32'>; address: bigint };
}

export interface NativeBinding {
  parseConfig(text: string, source?: string): string;
  loadConfig(path: string): string;
  setNumThreads(n: number): void;
  getNumThreads(): number;
  cudaAvailable(): boolean;
  resolveDevice(spec: string): string;
  xclipFromPretrained(dir: string, options: NativeModelOptions): Promise<LoadedModel>;
  xclipFromConfig(configJson: string, options: NativeModelOptions & { seed?: number | bigint }): Promise<LoadedModel>;
  xclipForward(handle: ModelHandle, inputs: NativeXCLIPInputs, options: NativeForwardOptions): Promise<NativeXCLIPOutput>;
  xclipGetTextFeatures(handle: ModelHandle, inputs: NativeTextInputs): Promise<NativeTensor>;
  xclipGetVideoFeatures(handle: ModelHandle, pixelValues: NativeTensor): Promise<NativeTensor>;
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
  debug: NativeDebug;
}

/**
 * The package root (the folder holding our package.json). Compiled code runs from dist/, tests from lib/, so
 * `__dirname/..` is not reliable (TOOLCHAIN pitfall 5): walk up instead.
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

/** Loads the addon on first use (build/Release/*.node or prebuilds/<platform>-<arch>/). */
export function binding(): NativeBinding {
  if (!cached) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const load = require('node-gyp-build') as (dir: string) => any; // eslint-disable-line @typescript-eslint/no-explicit-any
    cached = load(packageRoot()) as NativeBinding;
  }
  return cached;
}
