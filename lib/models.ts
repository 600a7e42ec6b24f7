/**
 * X-CLIP models: XCLIPModel (video-text similarity), XCLIPTextModel and XCLIPVisionModel. Every method returns a
 * Promise and runs on a libuv worker thread; the event loop stays free while a forward pass runs. Inputs are
 * validated here (TypeError / RangeError) before the native call; native failures reject with XClipError.
 * @module
 */
import { XCLIPConfig, XCLIPTextConfig, XCLIPVisionConfig } from './configs';
import { callNative, XClipError } from './errors';
import type { HubOptions } from './hub';
import {
  binding,
  type LoadedModel,
  type ModelHandle,
  type NativeOutputWithPooling,
  type NativeTensor,
  type NativeXCLIPOutput,
} from './native';
import { checkFeatures, checkForwardOptions, checkFrameGeometry, checkPixels, checkTextInputs, checkVideoPixels, PIXEL_TYPES } from './modelInputs';
import { checkModelOptions, checkPath, loadPretrained } from './pretrained';
import { type IndexInput, type MaskInput, Tensor, type TensorType } from './tensor';
import { integerInRange, is, optionalObject, rangeError, typeError } from './validate';

export { DEVICE_PATTERN } from './pretrained';

/** Where the model runs: `'auto'` picks CUDA when this libtorch and machine have it, else the CPU. */
export type Device = 'cpu' | 'cuda' | `cuda:${number}` | 'auto';
/** Parameter / compute dtype. */
export type ModelDtype = 'float32' | 'float16' | 'bfloat16';
/** Floating tensor types accepted for pixel values. */
export type PixelTensorType = 'float32' | 'float16' | 'bfloat16';

/**
 * Device and dtype of a model.
 * @example
 * await XCLIPModel.fromPretrained(dir, { device: 'auto', dtype: 'bfloat16' });
 */
export interface ModelOptions {
  /** Default `'cpu'`. */
  device?: Device;
  /** Default `'float32'`. */
  dtype?: ModelDtype;
}

/**
 * Options for `fromPretrained`: a model directory, or a hub id resolved through the Hugging Face cache.
 * @example
 * await XCLIPModel.fromPretrained('microsoft/xclip-base-patch32', { revision: 'main', device: 'auto' });
 */
export interface LoadOptions extends ModelOptions, Pick<HubOptions, 'revision' | 'localFilesOnly' | 'cacheDir' | 'token' | 'endpoint' | 'onProgress'> {}

/**
 * Options for `XCLIPModel.fromConfig`.
 * @example
 * await XCLIPModel.fromConfig(new XCLIPConfig(), { seed: 42, device: 'cpu' });
 */
export interface FromConfigOptions extends ModelOptions {
  /** Seed of the random initialisation (HF `_init_weights` scheme); same seed, same weights. */
  seed?: number | bigint;
}

/**
 * Text inputs (HF names in camelCase).
 * @example
 * const inputs: TextInputs = { inputIds: [[49406, 320, 49407]], attentionMask: [[1, 1, 1]] };
 */
export interface TextInputs {
  /** `[numTexts, sequenceLength]` token ids. */
  inputIds: IndexInput;
  /** `[numTexts, sequenceLength]`, 1 = attend, 0 = padding. */
  attentionMask?: MaskInput;
  /** `[numTexts, sequenceLength]`; defaults to 0..L-1. */
  positionIds?: IndexInput;
}

/**
 * Inputs of {@link XCLIPModel.forward}.
 * @example
 * const inputs: XCLIPInputs = { inputIds: [[49406, 320, 49407]], pixelValues: new Tensor('float32', frames, [1, 8, 3, 224, 224]) };
 */
export interface XCLIPInputs extends TextInputs {
  /** `[numVideos, numFrames, channels, height, width]`, normalised frames. */
  pixelValues: Tensor<PixelTensorType>;
}

/**
 * Options of {@link XCLIPModel.forward}.
 * @example
 * await model.forward(inputs, { outputAttentions: true, outputHiddenStates: true });
 */
export interface ForwardOptions {
  /** Compute the contrastive loss (needs as many texts as videos). */
  returnLoss?: boolean;
  /** Return every layer's attention probabilities. */
  outputAttentions?: boolean;
  /** Return the input of every layer and the final hidden state. */
  outputHiddenStates?: boolean;
  /** Interpolate the position embeddings for frames of another size than `imageSize`. */
  interpolatePosEncoding?: boolean;
}

/** Options of {@link XCLIPTextModel.forward}. */
export type TextForwardOptions = Pick<ForwardOptions, 'outputAttentions' | 'outputHiddenStates'>;
/** Options of {@link XCLIPVisionModel.forward}. */
export type VisionForwardOptions = Pick<ForwardOptions, 'outputAttentions' | 'outputHiddenStates' | 'interpolatePosEncoding'>;

/**
 * = transformers BaseModelOutputWithPooling.
 * @example
 * const { lastHiddenState, poolerOutput } = await textModel.forward({ inputIds });
 */
export interface BaseModelOutputWithPooling {
  lastHiddenState: Tensor;
  poolerOutput: Tensor;
  /** With `outputHiddenStates`: embeddings output plus one entry per layer. */
  hiddenStates?: Tensor[];
  /** With `outputAttentions`: one entry per layer. */
  attentions?: Tensor[];
}

/**
 * = transformers XCLIPOutput.
 * @example
 * const { logitsPerVideo } = await model.forward(inputs);
 * const scores = logitsPerVideo.toArray(); // [numVideos][numTexts]
 */
export interface XCLIPOutput {
  /** Scalar contrastive loss, with `returnLoss`. */
  loss?: Tensor;
  /** `[numVideos, numTexts]` scaled cosine similarities. */
  logitsPerVideo: Tensor;
  /** `[numTexts, numVideos]`. */
  logitsPerText: Tensor;
  /** `[numVideos, numTexts, projectionDim]`: text embeddings conditioned on each video (prompt generator). */
  textEmbeds: Tensor;
  /** `[numVideos, projectionDim]`, normalised. */
  videoEmbeds: Tensor;
  textModelOutput: BaseModelOutputWithPooling;
  visionModelOutput: BaseModelOutputWithPooling;
  mitOutput: BaseModelOutputWithPooling;
}

/**
 * What a search index stores per video ({@link XCLIPModel.getVideoSearchFeatures}), from one vision pass.
 * @example
 * const { videoEmbeds, promptFeatures } = await model.getVideoSearchFeatures({ pixelValues }, { featureDtype: 'float16' });
 */
export interface VideoSearchFeatures {
  /** `[numVideos, projectionDim]`: `getVideoFeatures`' output (not normalised). */
  videoEmbeds: Tensor;
  /**
   * `[numVideos, numPatches, projectionDim]`: the prompt generator's visual input (every frame's patch tokens,
   * layer-normed, projected, averaged over time).
   */
  promptFeatures: Tensor;
}

/**
 * Inputs of {@link XCLIPModel.scoreVideoFeatures}.
 * @example
 * const inputs: StoredFeatures = { videoEmbeds, promptFeatures, textFeatures };
 */
export interface StoredFeatures {
  /** `[numVideos, projectionDim]`, normalised or not. */
  videoEmbeds: Tensor;
  /** `[numVideos, numPatches, projectionDim]`, or their keys/values `[numVideos, promptLayers, 2, numPatches, projectionDim]`. */
  promptFeatures: Tensor;
  /** `[numTexts, projectionDim]` from {@link XCLIPModel.getTextFeatures}. */
  textFeatures: Tensor;
}

function wrap(t: NativeTensor): Tensor {
  return new Tensor(t.type as TensorType, t.data, t.dims);
}

function wrapPooling(o: NativeOutputWithPooling): BaseModelOutputWithPooling {
  const r: BaseModelOutputWithPooling = { lastHiddenState: wrap(o.lastHiddenState), poolerOutput: wrap(o.poolerOutput) };
  if (o.hiddenStates) r.hiddenStates = o.hiddenStates.map(wrap);
  if (o.attentions) r.attentions = o.attentions.map(wrap);
  return r;
}

function wrapOutput(o: NativeXCLIPOutput): XCLIPOutput {
  const r: XCLIPOutput = {
    logitsPerVideo: wrap(o.logitsPerVideo),
    logitsPerText: wrap(o.logitsPerText),
    textEmbeds: wrap(o.textEmbeds),
    videoEmbeds: wrap(o.videoEmbeds),
    textModelOutput: wrapPooling(o.textModelOutput),
    visionModelOutput: wrapPooling(o.visionModelOutput),
    mitOutput: wrapPooling(o.mitOutput),
  };
  if (o.loss) r.loss = wrap(o.loss);
  return r;
}

/** Common lifecycle: a native handle, dispose() and `await using`. */
abstract class DisposableModel {
  #handle: ModelHandle | undefined;
  readonly #name: string;
  /** Device the weights live on, e.g. `'cpu'` or `'cuda:0'`. */
  readonly device: string;
  /** Parameter dtype. */
  readonly dtype: TensorType;

  protected constructor(name: string, loaded: LoadedModel) {
    this.#name = name;
    this.#handle = loaded.handle;
    this.device = loaded.device;
    this.dtype = loaded.dtype;
  }

  /** True once {@link dispose} was called. */
  get disposed(): boolean {
    return this.#handle === undefined;
  }

  protected handle(): ModelHandle {
    if (!this.#handle) throw new XClipError('DISPOSED', `${this.#name} has been disposed`);
    return this.#handle;
  }

  /**
   * Releases the weights. Calls already running finish normally (they hold their own reference); later calls
   * reject with XClipError code `DISPOSED`. Idempotent.
   * @example
   * await model.dispose();
   */
  async dispose(): Promise<void> {
    const handle = this.#handle;
    this.#handle = undefined;
    if (handle) await callNative(new Error(), () => binding().dispose(handle));
  }

  /**
   * `await using model = await XCLIPModel.fromPretrained(dir);` disposes at the end of the scope.
   */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.dispose();
  }
}

/**
 * = transformers XCLIPModel: scores videos against texts.
 * @example
 * const model = await XCLIPModel.fromPretrained('./xclip-base-patch32');
 * const out = await model.forward({ inputIds, attentionMask, pixelValues });
 * console.log(out.logitsPerVideo.toArray());
 * await model.dispose();
 */
export class XCLIPModel extends DisposableModel {
  /** The model's configuration. */
  readonly config: XCLIPConfig;
  /** `exp(logit_scale)`: logits are cosine similarities times this. */
  readonly logitScale: number;

  private constructor(loaded: LoadedModel) {
    super('XCLIPModel', loaded);
    this.logitScale = Math.exp(loaded.logitScale ?? 0);
    // Canonical JSON from the native parser: already validated.
    this.config = XCLIPConfig.fromCanonical(JSON.parse(loaded.config) as Record<string, unknown>);
  }

  /**
   * Loads `config.json` plus `model.safetensors` (or a sharded index, or a legacy `pytorch_model.bin`) from a
   * folder laid out like a Hugging Face snapshot. Strict: missing, unexpected or mis-shaped tensors reject
   * with `WEIGHTS_MISMATCH`.
   * @example
   * const model = await XCLIPModel.fromPretrained('./xclip-base-patch32', { device: 'auto' });
   */
  static async fromPretrained(pathOrDir: string, options?: LoadOptions): Promise<XCLIPModel> {
    return new XCLIPModel(await loadPretrained('xclip', pathOrDir, options, new Error()));
  }

  /**
   * A randomly initialised model (HF's `_init_weights`), deterministic for a given seed.
   * @example
   * const model = await XCLIPModel.fromConfig(new XCLIPConfig(), { seed: 42 });
   */
  static async fromConfig(config: XCLIPConfig, options?: FromConfigOptions): Promise<XCLIPModel> {
    const callSite = new Error();
    if (!(config instanceof XCLIPConfig)) throw typeError('config', 'an XCLIPConfig', config);
    const opts: { device?: string; dtype?: string; seed?: number | bigint } = checkModelOptions(options, ['seed']);
    const seed = (options as FromConfigOptions | undefined)?.seed;
    if (seed !== undefined) {
      if (typeof seed === 'bigint') {
        if (seed < 0n || seed >= 2n ** 64n) throw rangeError('seed', 'integer between 0 and 2^64-1', seed);
      } else {
        integerInRange('seed', seed, 0, Number.MAX_SAFE_INTEGER);
      }
      opts.seed = seed;
    }
    const json = JSON.stringify(config.toJSON());
    return new XCLIPModel(await callNative(callSite, () => binding().xclipFromConfig(json, opts)));
  }

  /**
   * = HF `XCLIPModel.forward`.
   * @example
   * const out = await model.forward(
   *   { inputIds: [[49406, 1929, 49407]], attentionMask: [[1, 1, 1]], pixelValues },
   *   { outputHiddenStates: true },
   * );
   * out.logitsPerVideo.dims; // [numVideos, numTexts]
   */
  async forward(inputs: XCLIPInputs, options?: ForwardOptions): Promise<XCLIPOutput> {
    const callSite = new Error();
    const handle = this.handle();
    if (!is.object(inputs)) throw typeError('inputs', 'an object', inputs);
    optionalObject('inputs', inputs, ['inputIds', 'pixelValues', 'attentionMask', 'positionIds']);
    const opts = checkForwardOptions(options, ['returnLoss', 'outputAttentions', 'outputHiddenStates', 'interpolatePosEncoding']);
    const text = checkTextInputs(inputs as unknown as Record<string, unknown>, this.config.textConfig);
    const pixelValues = checkVideoPixels(inputs.pixelValues, this.config.visionConfig, opts.interpolatePosEncoding === true);
    if (opts.returnLoss && pixelValues.dims[0] !== text.inputIds.dims[0]) {
      throw rangeError('inputIds.dims[0] (numTexts) with returnLoss', `${pixelValues.dims[0]} (numVideos)`, text.inputIds.dims[0]);
    }
    const out = await callNative(callSite, () => binding().xclipForward(handle, { ...text, pixelValues }, opts));
    return wrapOutput(out);
  }

  /**
   * `forward` for texts already encoded with {@link getTextFeatures}: the same logits and embeddings without
   * running the text tower again, so a fixed label set is encoded once and reused across videos.
   * @example
   * const textFeatures = await model.getTextFeatures({ inputIds, attentionMask });
   * const { logitsPerVideo } = await model.forwardWithTextFeatures({ textFeatures, pixelValues });
   */
  async forwardWithTextFeatures(inputs: {
    textFeatures: Tensor;
    pixelValues: Tensor<PixelTensorType>;
  }): Promise<Pick<XCLIPOutput, 'logitsPerVideo' | 'logitsPerText' | 'textEmbeds' | 'videoEmbeds'>> {
    const callSite = new Error();
    const handle = this.handle();
    if (!is.object(inputs)) throw typeError('inputs', 'an object', inputs);
    optionalObject('inputs', inputs, ['textFeatures', 'pixelValues']);
    const textFeatures = inputs.textFeatures;
    if (!(textFeatures instanceof Tensor) || !is.inArray(textFeatures.type, PIXEL_TYPES)) {
      throw typeError('textFeatures', 'a float32, float16 or bfloat16 Tensor (getTextFeatures output)', textFeatures);
    }
    const p = this.config.projectionDim;
    if (textFeatures.dims.length !== 2 || textFeatures.dims[1] !== p || textFeatures.dims[0] < 1) {
      throw rangeError('textFeatures.dims', `[numTexts, ${p}]`, textFeatures.dims);
    }
    const pixelValues = checkVideoPixels(inputs.pixelValues, this.config.visionConfig, false);
    const out = await callNative(callSite, () => binding().xclipForwardWithTextFeatures(handle, { textFeatures, pixelValues }));
    return { logitsPerVideo: wrap(out.logitsPerVideo), logitsPerText: wrap(out.logitsPerText), textEmbeds: wrap(out.textEmbeds), videoEmbeds: wrap(out.videoEmbeds) };
  }

  /**
   * = HF `get_text_features`: `[numTexts, projectionDim]`, projected, not normalised.
   * @example
   * const features = await model.getTextFeatures({ inputIds, attentionMask });
   */
  async getTextFeatures(inputs: TextInputs): Promise<Tensor> {
    const callSite = new Error();
    const handle = this.handle();
    if (!is.object(inputs)) throw typeError('inputs', 'an object', inputs);
    optionalObject('inputs', inputs, ['inputIds', 'attentionMask', 'positionIds']);
    const text = checkTextInputs(inputs as unknown as Record<string, unknown>, this.config.textConfig);
    return wrap(await callNative(callSite, () => binding().xclipGetTextFeatures(handle, text)));
  }

  /**
   * = HF `get_video_features`: the MIT's pooled output, `[numVideos, projectionDim]` (not normalised).
   * @example
   * const features = await model.getVideoFeatures({ pixelValues });
   */
  async getVideoFeatures(inputs: { pixelValues: Tensor<PixelTensorType> } | Tensor<PixelTensorType>): Promise<Tensor> {
    const callSite = new Error();
    const handle = this.handle();
    const pixelValues = inputs instanceof Tensor ? inputs : is.object(inputs) ? inputs.pixelValues : inputs;
    const pv = checkVideoPixels(pixelValues, this.config.visionConfig, false);
    return wrap(await callNative(callSite, () => binding().xclipGetVideoFeatures(handle, { pixelValues: pv })));
  }

  /**
   * What a text-to-video search index stores per video, from one vision pass: the video embedding
   * (= {@link getVideoFeatures}) and the prompt generator's visual input. `featureDtype` rounds the prompt
   * features for storage (default: float32).
   * @example
   * const { videoEmbeds, promptFeatures } = await model.getVideoSearchFeatures({ pixelValues }, { featureDtype: 'float16' });
   */
  async getVideoSearchFeatures(
    inputs: { pixelValues: Tensor<PixelTensorType> } | Tensor<PixelTensorType>,
    options?: { featureDtype?: PixelTensorType },
  ): Promise<VideoSearchFeatures> {
    const callSite = new Error();
    const handle = this.handle();
    const pixelValues = inputs instanceof Tensor ? inputs : is.object(inputs) ? inputs.pixelValues : inputs;
    const pv = checkVideoPixels(pixelValues, this.config.visionConfig, false);
    const o = optionalObject('options', options, ['featureDtype']);
    if (o.featureDtype !== undefined && !is.inArray(o.featureDtype, PIXEL_TYPES)) {
      throw typeError('featureDtype', `one of ${PIXEL_TYPES.join(', ')}`, o.featureDtype);
    }
    const out = await callNative(callSite, () => binding().xclipGetVideoSearchFeatures(handle, { pixelValues: pv }, { featureDtype: o.featureDtype as string | undefined }));
    return { videoEmbeds: wrap(out.videoEmbeds), promptFeatures: wrap(out.promptFeatures) };
  }

  /**
   * `logitsPerVideo` `[numVideos, numTexts]` exactly as {@link forward} computes them for those videos and texts,
   * from features stored earlier ({@link getVideoSearchFeatures}) and text features ({@link getTextFeatures}),
   * without the vision tower: the rerank of a search, one call for every candidate.
   * @example
   * const logits = await model.scoreVideoFeatures({ videoEmbeds, promptFeatures, textFeatures });
   */
  async scoreVideoFeatures(inputs: StoredFeatures): Promise<Tensor> {
    const callSite = new Error();
    const handle = this.handle();
    if (!is.object(inputs)) throw typeError('inputs', 'an object', inputs);
    optionalObject('inputs', inputs, ['videoEmbeds', 'promptFeatures', 'textFeatures']);
    const p = this.config.projectionDim;
    const videoEmbeds = checkFeatures(inputs.videoEmbeds, 'videoEmbeds', [2], p);
    const promptFeatures = checkFeatures(inputs.promptFeatures, 'promptFeatures', [3, 5], p);
    const textFeatures = checkFeatures(inputs.textFeatures, 'textFeatures', [2], p);
    if (promptFeatures.dims[0] !== videoEmbeds.dims[0]) {
      throw rangeError('promptFeatures.dims[0] (numVideos)', `${videoEmbeds.dims[0]} (videoEmbeds.dims[0])`, promptFeatures.dims[0]);
    }
    return wrap(await callNative(callSite, () => binding().xclipScoreVideoFeatures(handle, { videoEmbeds, promptFeatures, textFeatures })));
  }

  /**
   * The prompt generator's per-layer cross-attention keys and values of stored prompt features,
   * `[numVideos, promptLayers, 2, numPatches, projectionDim]`: an alternative storage layout for
   * {@link scoreVideoFeatures} (4x the bytes at base size, a little less compute).
   * @example
   * const kv = await model.promptKeyValues(promptFeatures);
   */
  async promptKeyValues(promptFeatures: Tensor): Promise<Tensor> {
    const callSite = new Error();
    const handle = this.handle();
    const pf = checkFeatures(promptFeatures, 'promptFeatures', [3], this.config.projectionDim);
    return wrap(await callNative(callSite, () => binding().xclipPromptKeyValues(handle, { promptFeatures: pf })));
  }

  /**
   * Writes `config.json` + `model.safetensors`, loadable by transformers' `from_pretrained`.
   * @example
   * await model.savePretrained('./my-xclip');
   */
  async savePretrained(dir: string): Promise<void> {
    const callSite = new Error();
    const handle = this.handle();
    const target = checkPath(dir);
    await callNative(callSite, () => binding().xclipSavePretrained(handle, target));
  }
}

/**
 * = transformers XCLIPTextModel, loaded from a full X-CLIP checkpoint (its `text_model.*` weights).
 * @example
 * const text = await XCLIPTextModel.fromPretrained('./xclip-base-patch32');
 * const { poolerOutput } = await text.forward({ inputIds: [[49406, 320, 49407]] });
 */
export class XCLIPTextModel extends DisposableModel {
  /** The text tower's configuration. */
  readonly config: XCLIPTextConfig;

  private constructor(loaded: LoadedModel) {
    super('XCLIPTextModel', loaded);
    this.config = XCLIPTextConfig.fromSnake((JSON.parse(loaded.config) as { text_config: Record<string, unknown> }).text_config);
  }

  /**
   * @example
   * const text = await XCLIPTextModel.fromPretrained('./xclip-base-patch32', { dtype: 'bfloat16' });
   */
  static async fromPretrained(pathOrDir: string, options?: LoadOptions): Promise<XCLIPTextModel> {
    return new XCLIPTextModel(await loadPretrained('text', pathOrDir, options, new Error()));
  }

  /**
   * @example
   * const out = await text.forward({ inputIds, attentionMask }, { outputAttentions: true });
   */
  async forward(inputs: TextInputs, options?: TextForwardOptions): Promise<BaseModelOutputWithPooling> {
    const callSite = new Error();
    const handle = this.handle();
    if (!is.object(inputs)) throw typeError('inputs', 'an object', inputs);
    optionalObject('inputs', inputs, ['inputIds', 'attentionMask', 'positionIds']);
    const opts = checkForwardOptions(options, ['outputAttentions', 'outputHiddenStates']);
    const text = checkTextInputs(inputs as unknown as Record<string, unknown>, this.config);
    return wrapPooling(await callNative(callSite, () => binding().textModelForward(handle, text, opts)));
  }
}

/**
 * = transformers XCLIPVisionModel: per-frame ViT with cross-frame communication.
 * @example
 * const vision = await XCLIPVisionModel.fromPretrained('./xclip-base-patch32');
 * const out = await vision.forward({ pixelValues }); // pixelValues [batch*numFrames, 3, 224, 224]
 */
export class XCLIPVisionModel extends DisposableModel {
  /** The vision tower's configuration. */
  readonly config: XCLIPVisionConfig;

  private constructor(loaded: LoadedModel) {
    super('XCLIPVisionModel', loaded);
    this.config = XCLIPVisionConfig.fromSnake((JSON.parse(loaded.config) as { vision_config: Record<string, unknown> }).vision_config);
  }

  /**
   * @example
   * const vision = await XCLIPVisionModel.fromPretrained('./xclip-base-patch32');
   */
  static async fromPretrained(pathOrDir: string, options?: LoadOptions): Promise<XCLIPVisionModel> {
    return new XCLIPVisionModel(await loadPretrained('vision', pathOrDir, options, new Error()));
  }

  /**
   * `pixelValues` holds the frames of consecutive videos: `[batch*numFrames, channels, height, width]`.
   * @example
   * const { poolerOutput } = await vision.forward({ pixelValues });
   */
  async forward(inputs: { pixelValues: Tensor<PixelTensorType> }, options?: VisionForwardOptions): Promise<BaseModelOutputWithPooling> {
    const callSite = new Error();
    const handle = this.handle();
    if (!is.object(inputs)) throw typeError('inputs', 'an object', inputs);
    optionalObject('inputs', inputs, ['pixelValues']);
    const opts = checkForwardOptions(options, ['outputAttentions', 'outputHiddenStates', 'interpolatePosEncoding']);
    const pv = checkPixels(inputs.pixelValues, 'pixelValues', 4);
    const n = pv.dims[0];
    if (n < 1 || n % this.config.numFrames !== 0) {
      throw rangeError('pixelValues.dims[0] (batch*numFrames)', `a positive multiple of numFrames (${this.config.numFrames})`, n);
    }
    checkFrameGeometry(pv, 'pixelValues', this.config, opts.interpolatePosEncoding === true, 1);
    return wrapPooling(await callNative(callSite, () => binding().visionModelForward(handle, { pixelValues: pv }, opts)));
  }
}
