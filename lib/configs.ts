/**
 * X-CLIP configurations, mirroring transformers' XCLIPTextConfig / XCLIPVisionConfig / XCLIPConfig with
 * camelCase fields. Defaults are microsoft/xclip-base-patch32. Parsing and validation run through the native
 * core's parse_config, so JavaScript and C++ accept exactly the same config.json files.
 * @module
 */
import * as fs from 'fs';
import * as path from 'path';
import { callNativeSync } from './errors';
import { binding } from './native';
import { checkKeys, is, typeError } from './validate';

/** Activations the core implements. */
export type Activation = 'gelu' | 'relu' | 'selu' | 'gelu_new' | 'quick_gelu';
/** Parameter dtypes a checkpoint may declare. */
export type ConfigDtype = 'float32' | 'float16' | 'bfloat16' | 'float64';

type Json = Record<string, unknown>;

const snake = (key: string): string => key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

function assign(target: object, init: unknown, name: string, keys: readonly string[]): void {
  if (init === undefined) return;
  if (!is.object(init)) throw typeError(name, 'an object', init);
  checkKeys(name, init, keys);
  for (const key of keys) if (init[key] !== undefined) (target as Json)[key] = init[key];
}

function toSnake(source: object, keys: readonly string[]): Json {
  const out: Json = {};
  for (const key of keys) out[snake(key)] = (source as Json)[key];
  return out;
}

function fromSnake(json: Json, keys: readonly string[]): Json {
  const out: Json = {};
  for (const key of keys) if (json[snake(key)] !== undefined) out[key] = json[snake(key)];
  return out;
}

/** Parses HF JSON with the native parser and returns its canonical snake_case form. */
function canonical(hf: string | object, source: string, callSite: Error): Json {
  if (!is.string(hf) && !is.object(hf)) throw typeError('json', 'a JSON string or object', hf);
  const text = is.string(hf) ? hf : JSON.stringify(hf);
  return JSON.parse(callNativeSync(callSite, () => binding().parseConfig(text, source))) as Json;
}

/** Fields of {@link XCLIPTextConfig}. */
export interface XCLIPTextConfigInit {
  vocabSize?: number;
  hiddenSize?: number;
  intermediateSize?: number;
  numHiddenLayers?: number;
  numAttentionHeads?: number;
  maxPositionEmbeddings?: number;
  hiddenAct?: Activation;
  layerNormEps?: number;
  attentionDropout?: number;
  initializerRange?: number;
  initializerFactor?: number;
  padTokenId?: number;
  bosTokenId?: number;
  eosTokenId?: number;
}

const TEXT_KEYS = [
  'vocabSize', 'hiddenSize', 'intermediateSize', 'numHiddenLayers', 'numAttentionHeads', 'maxPositionEmbeddings',
  'hiddenAct', 'layerNormEps', 'attentionDropout', 'initializerRange', 'initializerFactor', 'padTokenId',
  'bosTokenId', 'eosTokenId',
] as const;

/**
 * = transformers XCLIPTextConfig: the CLIP text encoder.
 * @example
 * const text = new XCLIPTextConfig({ hiddenSize: 256, numAttentionHeads: 4 });
 */
export class XCLIPTextConfig implements Required<XCLIPTextConfigInit> {
  vocabSize = 49408;
  hiddenSize = 512;
  intermediateSize = 2048;
  numHiddenLayers = 12;
  numAttentionHeads = 8;
  maxPositionEmbeddings = 77;
  hiddenAct: Activation = 'quick_gelu';
  layerNormEps = 1e-5;
  attentionDropout = 0.0;
  initializerRange = 0.02;
  initializerFactor = 1.0;
  padTokenId = 1;
  bosTokenId = 0;
  eosTokenId = 2;

  /** Unknown keys throw a TypeError (a misspelling would otherwise silently keep the default). */
  constructor(init?: XCLIPTextConfigInit) {
    assign(this, init, 'XCLIPTextConfig', TEXT_KEYS);
  }

  /**
   * HF's snake_case `text_config` object.
   * @example
   * new XCLIPTextConfig().toJSON().hidden_size; // 512
   */
  toJSON(): Json {
    return { ...toSnake(this, TEXT_KEYS), model_type: 'xclip_text_model' };
  }

  /** @internal */
  static fromSnake(json: Json): XCLIPTextConfig {
    return new XCLIPTextConfig(fromSnake(json, TEXT_KEYS) as XCLIPTextConfigInit);
  }
}

/** Fields of {@link XCLIPVisionConfig}. */
export interface XCLIPVisionConfigInit {
  hiddenSize?: number;
  intermediateSize?: number;
  numHiddenLayers?: number;
  numAttentionHeads?: number;
  mitHiddenSize?: number;
  mitIntermediateSize?: number;
  mitNumHiddenLayers?: number;
  mitNumAttentionHeads?: number;
  numChannels?: number;
  imageSize?: number;
  patchSize?: number;
  numFrames?: number;
  hiddenAct?: Activation;
  layerNormEps?: number;
  attentionDropout?: number;
  initializerRange?: number;
  initializerFactor?: number;
  dropPathRate?: number;
}

const VISION_KEYS = [
  'hiddenSize', 'intermediateSize', 'numHiddenLayers', 'numAttentionHeads', 'mitHiddenSize', 'mitIntermediateSize',
  'mitNumHiddenLayers', 'mitNumAttentionHeads', 'numChannels', 'imageSize', 'patchSize', 'numFrames', 'hiddenAct',
  'layerNormEps', 'attentionDropout', 'initializerRange', 'initializerFactor', 'dropPathRate',
] as const;

/**
 * = transformers XCLIPVisionConfig: the ViT with cross-frame message tokens, and the MIT (multi-frame
 * integration transformer) settings.
 * @example
 * const vision = new XCLIPVisionConfig({ numFrames: 16, patchSize: 16 });
 */
export class XCLIPVisionConfig implements Required<XCLIPVisionConfigInit> {
  hiddenSize = 768;
  intermediateSize = 3072;
  numHiddenLayers = 12;
  numAttentionHeads = 12;
  mitHiddenSize = 512;
  mitIntermediateSize = 2048;
  mitNumHiddenLayers = 1;
  mitNumAttentionHeads = 8;
  numChannels = 3;
  imageSize = 224;
  patchSize = 32;
  numFrames = 8;
  hiddenAct: Activation = 'quick_gelu';
  layerNormEps = 1e-5;
  attentionDropout = 0.0;
  initializerRange = 0.02;
  initializerFactor = 1.0;
  dropPathRate = 0.0;

  /** Unknown keys throw a TypeError. */
  constructor(init?: XCLIPVisionConfigInit) {
    assign(this, init, 'XCLIPVisionConfig', VISION_KEYS);
  }

  /**
   * HF's snake_case `vision_config` object.
   * @example
   * new XCLIPVisionConfig().toJSON().num_frames; // 8
   */
  toJSON(): Json {
    return { ...toSnake(this, VISION_KEYS), model_type: 'xclip_vision_model' };
  }

  /** @internal */
  static fromSnake(json: Json): XCLIPVisionConfig {
    return new XCLIPVisionConfig(fromSnake(json, VISION_KEYS) as XCLIPVisionConfigInit);
  }
}

/** Fields of {@link XCLIPConfig}; the towers may be given as config objects or as their fields. */
export interface XCLIPConfigInit {
  textConfig?: XCLIPTextConfig | XCLIPTextConfigInit;
  visionConfig?: XCLIPVisionConfig | XCLIPVisionConfigInit;
  projectionDim?: number;
  promptLayers?: number;
  promptAlpha?: number;
  promptHiddenAct?: Activation;
  promptNumAttentionHeads?: number;
  promptAttentionDropout?: number;
  promptProjectionDropout?: number;
  logitScaleInitValue?: number;
  initializerFactor?: number;
  dtype?: ConfigDtype;
}

const TOP_KEYS = [
  'projectionDim', 'promptLayers', 'promptAlpha', 'promptHiddenAct', 'promptNumAttentionHeads',
  'promptAttentionDropout', 'promptProjectionDropout', 'logitScaleInitValue', 'initializerFactor', 'dtype',
] as const;

/**
 * = transformers XCLIPConfig. `new XCLIPConfig()` is microsoft/xclip-base-patch32.
 * @example
 * const config = XCLIPConfig.fromPretrained('./xclip-base-patch32');
 * console.log(config.visionConfig.numFrames, config.projectionDim);
 * @example
 * const tiny = new XCLIPConfig({
 *   projectionDim: 32,
 *   textConfig: { hiddenSize: 32, numHiddenLayers: 2, numAttentionHeads: 4, intermediateSize: 37 },
 *   visionConfig: { hiddenSize: 32, numHiddenLayers: 2, numAttentionHeads: 4, mitHiddenSize: 32, mitNumAttentionHeads: 4 },
 *   promptNumAttentionHeads: 4,
 * });
 * tiny.validate();
 */
export class XCLIPConfig {
  textConfig: XCLIPTextConfig;
  visionConfig: XCLIPVisionConfig;
  projectionDim = 512;
  promptLayers = 2;
  promptAlpha = 0.1;
  promptHiddenAct: Activation = 'quick_gelu';
  promptNumAttentionHeads = 8;
  promptAttentionDropout = 0.0;
  promptProjectionDropout = 0.0;
  logitScaleInitValue = 2.6592;
  initializerFactor = 1.0;
  dtype: ConfigDtype = 'float32';

  /** Unknown keys throw a TypeError. Values are checked by {@link XCLIPConfig.validate} and by model loading. */
  constructor(init?: XCLIPConfigInit) {
    const { textConfig, visionConfig, ...rest } = (init ?? {}) as XCLIPConfigInit;
    if (init !== undefined && !is.object(init)) throw typeError('XCLIPConfig', 'an object', init);
    assign(this, rest, 'XCLIPConfig', TOP_KEYS);
    this.textConfig = textConfig instanceof XCLIPTextConfig ? textConfig : new XCLIPTextConfig(textConfig);
    this.visionConfig = visionConfig instanceof XCLIPVisionConfig ? visionConfig : new XCLIPVisionConfig(visionConfig);
  }

  /**
   * = HF `XCLIPConfig.from_text_vision_configs`.
   * @example
   * const config = XCLIPConfig.fromTextVisionConfigs(new XCLIPTextConfig(), new XCLIPVisionConfig(), { projectionDim: 512 });
   */
  static fromTextVisionConfigs(
    textConfig: XCLIPTextConfig | XCLIPTextConfigInit,
    visionConfig: XCLIPVisionConfig | XCLIPVisionConfigInit,
    extra?: Omit<XCLIPConfigInit, 'textConfig' | 'visionConfig'>,
  ): XCLIPConfig {
    if (extra !== undefined && !is.object(extra)) throw typeError('extra', 'an object', extra);
    return new XCLIPConfig({ ...(extra ?? {}), textConfig, visionConfig });
  }

  /**
   * Parses an HF config (config.json text or its object), validated by the native core. Accepts both `dtype`
   * and the legacy `torch_dtype`, and the legacy `text_config_dict` / `vision_config_dict`.
   * @throws XClipError with code `CONFIG_INVALID` naming the offending key
   * @example
   * const config = XCLIPConfig.fromJSON(fs.readFileSync('config.json', 'utf8'));
   */
  static fromJSON(json: string | object, source = 'config'): XCLIPConfig {
    const callSite = new Error();
    return XCLIPConfig.fromCanonical(canonical(json, source, callSite));
  }

  /**
   * Reads `config.json` from a model folder (or the given file).
   * @example
   * const config = XCLIPConfig.fromPretrained('./models/xclip-base-patch32');
   */
  static fromPretrained(pathOrDir: string): XCLIPConfig {
    const callSite = new Error();
    if (!is.string(pathOrDir) || pathOrDir === '') throw typeError('pathOrDir', 'a non-empty string', pathOrDir);
    let file = pathOrDir;
    try {
      if (fs.statSync(pathOrDir).isDirectory()) file = path.join(pathOrDir, 'config.json');
    } catch {
      // a missing path is reported by the native loader as FILE_NOT_FOUND
    }
    const text = callNativeSync(callSite, () => binding().loadConfig(file));
    return XCLIPConfig.fromCanonical(JSON.parse(text) as Json);
  }

  /** @internal Builds from the native parser's canonical snake_case JSON. */
  static fromCanonical(json: Json): XCLIPConfig {
    return new XCLIPConfig({
      ...(fromSnake(json, TOP_KEYS) as XCLIPConfigInit),
      textConfig: XCLIPTextConfig.fromSnake(json.text_config as Json),
      visionConfig: XCLIPVisionConfig.fromSnake(json.vision_config as Json),
    });
  }

  /**
   * HF's config.json object (snake_case), what `save_pretrained` writes; `JSON.stringify(config)` uses it.
   * @example
   * fs.writeFileSync('config.json', JSON.stringify(config, null, 2));
   */
  toJSON(): Json {
    const top = toSnake(this, TOP_KEYS);
    const { dtype, ...rest } = top;
    return {
      architectures: ['XCLIPModel'],
      dtype,
      ...rest,
      model_type: 'xclip',
      text_config: this.textConfig.toJSON(),
      vision_config: this.visionConfig.toJSON(),
    };
  }

  /**
   * Checks the config with the native validator (types, ranges, head divisibility, MIT width = projectionDim,
   * activations).
   * @throws XClipError with code `CONFIG_INVALID`
   * @example
   * new XCLIPConfig({ projectionDim: 256 }).validate(); // throws: mit_hidden_size (512) must equal projection_dim (256)
   */
  validate(): this {
    canonical(this.toJSON(), 'config', new Error());
    return this;
  }
}
