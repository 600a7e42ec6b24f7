/**
 * Validation of what the models take: token ids, masks, pixel values and features, each checked against the model's
 * config before the native call, so that a wrong shape or value is a TypeError or RangeError naming the input (and,
 * for token ids, the element) instead of an engine error.
 * @module
 */
import type { XCLIPTextConfig, XCLIPVisionConfig } from './configs';
import type { ForwardOptions, PixelTensorType } from './models';
import type { NativeForwardOptions } from './native';
import { type MaskTensorType, Tensor, toTensor } from './tensor';
import { integerInRange, is, optionalBool, optionalObject, rangeError, typeError } from './validate';

const INDEX_TYPES = ['int64', 'int32'] as const;
const MASK_TYPES: readonly MaskTensorType[] = ['int64', 'int32', 'uint8', 'bool', 'float32'];
export const PIXEL_TYPES: readonly PixelTensorType[] = ['float32', 'float16', 'bfloat16'];

export function checkForwardOptions(options: unknown, keys: readonly (keyof ForwardOptions)[]): NativeForwardOptions {
  const o = optionalObject('options', options, keys);
  const r: NativeForwardOptions = {};
  for (const key of keys) {
    const v = optionalBool(key, o[key]);
    if (v !== undefined) r[key] = v;
  }
  return r;
}

function sameDims(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

function checkIndexValues(t: Tensor, name: string, max: number): void {
  // The core checks too, but only here can the message point at the offending element.
  const data = t.data as BigInt64Array | Int32Array;
  const cols = t.dims[1];
  for (let i = 0; i < data.length; i++) {
    const v = Number(data[i]);
    if (v < 0 || v > max) {
      throw rangeError(`${name}[${Math.floor(i / cols)}][${i % cols}]`, `integer between 0 and ${max}`, v);
    }
  }
}

/** Validates text inputs against the text config; returns the tensors the addon gets. */
export function checkTextInputs(inputs: Record<string, unknown>, text: XCLIPTextConfig) {
  const inputIds = toTensor(inputs.inputIds, 'inputIds', INDEX_TYPES);
  if (inputIds.dims.length !== 2) {
    throw rangeError('inputIds', '2 dims [numTexts, sequenceLength]', inputIds.dims);
  }
  const [numTexts, length] = inputIds.dims;
  if (numTexts < 1) throw rangeError('inputIds.dims[0] (numTexts)', 'at least 1', numTexts);
  integerInRange('inputIds.dims[1] (sequenceLength)', length, 1, text.maxPositionEmbeddings);
  checkIndexValues(inputIds, 'inputIds', text.vocabSize - 1);
  let attentionMask: Tensor | undefined;
  if (inputs.attentionMask !== undefined) {
    attentionMask = toTensor(inputs.attentionMask, 'attentionMask', MASK_TYPES);
    if (!sameDims(attentionMask.dims, inputIds.dims)) {
      throw rangeError('attentionMask.dims', `[${inputIds.dims.join(', ')}] (the shape of inputIds)`, attentionMask.dims);
    }
  }
  let positionIds: Tensor | undefined;
  if (inputs.positionIds !== undefined) {
    positionIds = toTensor(inputs.positionIds, 'positionIds', INDEX_TYPES);
    if (!sameDims(positionIds.dims, inputIds.dims)) {
      throw rangeError('positionIds.dims', `[${inputIds.dims.join(', ')}] (the shape of inputIds)`, positionIds.dims);
    }
    checkIndexValues(positionIds, 'positionIds', text.maxPositionEmbeddings - 1);
  }
  return { inputIds, attentionMask, positionIds };
}

export function checkPixels(value: unknown, name: string, rank: 4 | 5): Tensor {
  if (!(value instanceof Tensor)) throw typeError(name, `a Tensor of type ${PIXEL_TYPES.join(', ')}`, value);
  if (!is.inArray(value.type, PIXEL_TYPES)) throw typeError(`${name}.type`, `one of ${PIXEL_TYPES.join(', ')}`, value.type);
  if (value.dims.length !== rank) {
    const shape = rank === 5 ? '[numVideos, numFrames, channels, height, width]' : '[batch*numFrames, channels, height, width]';
    throw rangeError(name, `${rank} dims ${shape}`, value.dims);
  }
  return value;
}

export function checkFrameGeometry(pv: Tensor, name: string, v: XCLIPVisionConfig, interpolate: boolean, offset: number): void {
  const [c, h, w] = pv.dims.slice(offset);
  if (c !== v.numChannels) throw rangeError(`${name}.dims[${offset}] (channels)`, `${v.numChannels}`, c);
  for (const [i, size] of [[offset + 1, h], [offset + 2, w]] as const) {
    const label = i === offset + 1 ? 'height' : 'width';
    if (interpolate) {
      if (size < v.patchSize) throw rangeError(`${name}.dims[${i}] (${label})`, `at least ${v.patchSize} (patchSize)`, size);
    } else if (size !== v.imageSize) throw rangeError(`${name}.dims[${i}] (${label})`, `${v.imageSize} (imageSize; or set interpolatePosEncoding)`, size);
  }
}

export function checkVideoPixels(value: unknown, v: XCLIPVisionConfig, interpolate: boolean): Tensor {
  const pv = checkPixels(value, 'pixelValues', 5);
  if (pv.dims[0] < 1) throw rangeError('pixelValues.dims[0] (numVideos)', 'at least 1', pv.dims[0]);
  if (pv.dims[1] !== v.numFrames) throw rangeError('pixelValues.dims[1] (numFrames)', `${v.numFrames}`, pv.dims[1]);
  checkFrameGeometry(pv, 'pixelValues', v, interpolate, 2);
  return pv;
}

/** A floating features tensor of one of `ranks` dims, non-empty, whose last dim is the projection dim. */
export function checkFeatures(value: unknown, name: string, ranks: readonly number[], projectionDim: number): Tensor {
  if (!(value instanceof Tensor) || !is.inArray(value.type, PIXEL_TYPES)) throw typeError(name, 'a float32, float16 or bfloat16 Tensor', value);
  const dims = value.dims;
  if (!ranks.includes(dims.length) || dims[dims.length - 1] !== projectionDim || dims.some((d) => d < 1)) {
    throw rangeError(`${name}.dims`, `${ranks.join(' or ')} non-zero dims ending in projectionDim ${projectionDim}`, dims);
  }
  return value;
}
