/**
 * `fromPretrained` in one place for the models and the processor: checks the path and the options, resolves a hub
 * id ("org/name") through the Hugging Face cache (downloading what is missing), then loads what was asked for.
 * @module
 * @internal
 */
import { XCLIPConfig } from './configs';
import { atCallSite, callNative, XClipError } from './errors';
import { resolveModelDir, type HubOptions } from './hub';
import { VideoMAEImageProcessor } from './imageProcessor';
import { binding, type LoadedModel } from './native';
import { CLIPTokenizer } from './tokenizer';
import { is, optionalObject, rangeError, typeError } from './validate';

/** What `fromPretrained` can load: one of the three models, or the processor (tokenizer + image processor). */
export type PretrainedKind = 'xclip' | 'text' | 'vision' | 'processor';

/** The processor's parts, each loaded by the native core. */
export interface LoadedProcessor {
  tokenizer: CLIPTokenizer;
  imageProcessor: VideoMAEImageProcessor;
  /** The model's `vision_config.num_frames` (8 when the folder has no config.json). */
  numFrames: number;
}

interface Loaded {
  xclip: LoadedModel;
  text: LoadedModel;
  vision: LoadedModel;
  processor: LoadedProcessor;
}

/** The hub options every `fromPretrained` takes. */
export const HUB_KEYS = ['revision', 'localFilesOnly', 'cacheDir', 'token', 'endpoint', 'onProgress'] as const;
const MODEL_KEYS = ['device', 'dtype'] as const;
/** What a device string looks like. */
export const DEVICE_PATTERN = /^(cpu|cuda|auto|cuda:\d+)$/;
const DTYPES = ['float32', 'float16', 'bfloat16'] as const;

/** Device and dtype of a model load, checked; `extraKeys` are other options the caller accepts. */
export function checkModelOptions(options: unknown, extraKeys: readonly string[] = []): { device?: string; dtype?: string } {
  const o = optionalObject('options', options, [...MODEL_KEYS, ...extraKeys]);
  if (o.device !== undefined) {
    if (!is.string(o.device)) throw typeError('device', "'cpu', 'cuda', 'cuda:N' or 'auto'", o.device);
    if (!DEVICE_PATTERN.test(o.device)) throw rangeError('device', "'cpu', 'cuda', 'cuda:N' or 'auto'", o.device);
  }
  if (o.dtype !== undefined) {
    if (!is.string(o.dtype)) throw typeError('dtype', `one of ${DTYPES.join(', ')}`, o.dtype);
    if (!is.inArray(o.dtype, DTYPES)) throw rangeError('dtype', `one of ${DTYPES.join(', ')}`, o.dtype);
  }
  return { device: o.device as string | undefined, dtype: o.dtype as string | undefined };
}

/** A non-empty path argument. */
export function checkPath(value: unknown, name = 'pathOrDir'): string {
  if (!is.string(value) || value === '') throw typeError(name, 'a non-empty string', value);
  return value;
}

/** `vision_config.num_frames` through the core's config parser; 8 (X-CLIP's) for a folder without config.json. */
function numFramesOf(dir: string, callSite: Error): number {
  try {
    return XCLIPConfig.fromPretrained(dir).visionConfig.numFrames;
  } catch (err) {
    if (err instanceof XClipError && err.code === 'FILE_NOT_FOUND') return 8;
    throw atCallSite(err, callSite);
  }
}

/**
 * Loads `kind` from a directory or a hub id. Capture `callSite` in the public method, before its first await.
 * @example
 * const loaded = await loadPretrained('xclip', 'microsoft/xclip-base-patch32', { device: 'auto' }, new Error());
 */
export async function loadPretrained<K extends PretrainedKind>(kind: K, pathOrDir: unknown, options: unknown, callSite: Error): Promise<Loaded[K]> {
  const idOrDir = checkPath(pathOrDir);
  const model = kind === 'processor' ? {} : checkModelOptions(options, HUB_KEYS);
  const o = kind === 'processor' ? optionalObject('options', options, HUB_KEYS) : (options as Record<string, unknown> | undefined);
  const hub: HubOptions = {};
  for (const key of HUB_KEYS) {
    if (o?.[key] !== undefined) (hub as Record<string, unknown>)[key] = o[key];
  }
  const dir = await callNative(callSite, () => resolveModelDir(idOrDir, hub));
  const b = binding();
  switch (kind) {
    case 'xclip':
      return (await callNative(callSite, () => b.xclipFromPretrained(dir, model))) as Loaded[K];
    case 'text':
      return (await callNative(callSite, () => b.textModelFromPretrained(dir, model))) as Loaded[K];
    case 'vision':
      return (await callNative(callSite, () => b.visionModelFromPretrained(dir, model))) as Loaded[K];
    default: {
      const [tokenizer, imageProcessor] = await Promise.all([CLIPTokenizer.fromPretrained(dir), VideoMAEImageProcessor.fromPretrained(dir)]);
      const processor: LoadedProcessor = { tokenizer, imageProcessor, numFrames: numFramesOf(dir, callSite) };
      return processor as Loaded[K];
    }
  }
}
