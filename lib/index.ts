/**
 * xclip-node: X-CLIP (transformers' XCLIPModel) for Node.js on a libtorch core.
 * @example
 * import { XCLIPModel, Tensor } from 'xclip-node';
 * const model = await XCLIPModel.fromPretrained('./xclip-base-patch32');
 * const out = await model.forward({ inputIds, attentionMask, pixelValues });
 * @module
 */
export { Tensor } from './tensor';
export type { TensorType, TensorDataMap, NestedArray, IndexInput, MaskInput, IndexTensorType, MaskTensorType } from './tensor';
export { XCLIPConfig, XCLIPTextConfig, XCLIPVisionConfig } from './configs';
export type { Activation, ConfigDtype, XCLIPConfigInit, XCLIPTextConfigInit, XCLIPVisionConfigInit } from './configs';
export { XCLIPModel, XCLIPTextModel, XCLIPVisionModel } from './models';
export type {
  BaseModelOutputWithPooling,
  Device,
  ForwardOptions,
  FromConfigOptions,
  LoadOptions,
  ModelDtype,
  PixelTensorType,
  TextForwardOptions,
  TextInputs,
  VisionForwardOptions,
  XCLIPInputs,
  XCLIPOutput,
} from './models';
export { XClipError } from './errors';
export type { XClipErrorCode } from './errors';
export { cudaAvailable, getNumThreads, setNumThreads } from './runtime';
