// Every bad argument gets its own test and its own message; TypeError for wrong types, RangeError for values
// out of range, all raised in TypeScript before the native call. Native refusals arrive as XClipError.
import * as os from 'os';
import * as path from 'path';
import {
  cudaAvailable,
  setNumThreads,
  Tensor,
  XCLIPConfig,
  XClipError,
  XCLIPModel,
  XCLIPTextModel,
  XCLIPVisionModel,
} from '../../lib';
import { modelDir } from '../helpers/fixtures';

// xclip-tiny8: vocab 99, 77 positions, 8 frames of 3x32x32.
let model: XCLIPModel;
let text: XCLIPTextModel;
let vision: XCLIPVisionModel;
beforeAll(async () => {
  model = await XCLIPModel.fromPretrained(modelDir('xclip-tiny8'));
  text = await XCLIPTextModel.fromPretrained(modelDir('xclip-tiny8'));
  vision = await XCLIPVisionModel.fromPretrained(modelDir('xclip-tiny8'));
});
afterAll(async () => {
  await Promise.all([model.dispose(), text.dispose(), vision.dispose()]);
});

const ids = [[97, 5, 98]];
const pixels = (dims = [1, 8, 3, 32, 32]): Tensor<'float32'> =>
  new Tensor('float32', new Float32Array(dims.reduce((a, b) => a * b, 1)), dims);
const good = () => ({ inputIds: ids, attentionMask: [[1, 1, 1]], pixelValues: pixels() });

type Case = [string, () => Promise<unknown>, ErrorConstructor | typeof TypeError | typeof RangeError, string];

const forwardCases: Case[] = [
  ['inputs is null', () => model.forward(null as never), TypeError, 'Expected an object for inputs but received null'],
  [
    'misspelled input key',
    () => model.forward({ ...good(), attention_mask: [[1, 1, 1]] } as never),
    TypeError,
    'Expected one of inputIds, pixelValues, attentionMask, positionIds for inputs key but received "attention_mask" of type string',
  ],
  ['inputIds missing', () => model.forward({ pixelValues: pixels() } as never), TypeError, 'Expected a Tensor or nested arrays of integers for inputIds but received undefined'],
  [
    'inputIds of type float32',
    () => model.forward({ ...good(), inputIds: new Tensor('float32', [1, 2, 3], [1, 3]) as never }),
    TypeError,
    'Expected one of int64, int32 for inputIds.type but received "float32" of type string',
  ],
  ['inputIds with 1 dim', () => model.forward({ ...good(), inputIds: new Tensor('int64', [97, 98], [2]), attentionMask: undefined }), RangeError, 'Expected 2 dims [numTexts, sequenceLength] for inputIds but received [2]'],
  ['inputIds with no texts', () => model.forward({ ...good(), inputIds: new Tensor('int64', [], [0, 3]), attentionMask: undefined }), RangeError, 'Expected at least 1 for inputIds.dims[0] (numTexts) but received 0'],
  [
    'inputIds longer than maxPositionEmbeddings',
    () => model.forward({ ...good(), inputIds: [new Array(78).fill(5)], attentionMask: undefined }),
    RangeError,
    'Expected integer between 1 and 77 for inputIds.dims[1] (sequenceLength) but received 78',
  ],
  ['token id beyond the vocabulary', () => model.forward({ ...good(), inputIds: [[97, 150, 98]] }), RangeError, 'Expected integer between 0 and 98 for inputIds[0][1] but received 150'],
  ['negative token id', () => model.forward({ ...good(), inputIds: [[97, -1, 98]] }), RangeError, 'Expected integer between 0 and 98 for inputIds[0][1] but received -1'],
  ['ragged inputIds', () => model.forward({ ...good(), inputIds: [[97, 5, 98], [97, 98]], attentionMask: undefined }), RangeError, 'Expected an array of length 3 (rows must have equal lengths) for inputIds[1] but received [97, 98]'],
  ['non-integer token id', () => model.forward({ ...good(), inputIds: [[97, 1.5, 98]] }), TypeError, 'Expected integer or bigint for inputIds[1] but received 1.5'],
  ['attentionMask of another shape', () => model.forward({ ...good(), attentionMask: [[1, 1]] }), RangeError, 'Expected [1, 3] (the shape of inputIds) for attentionMask.dims but received [1, 2]'],
  [
    'attentionMask of type float16',
    () => model.forward({ ...good(), attentionMask: new Tensor('float16', new Uint16Array(3), [1, 3]) as never }),
    TypeError,
    'Expected one of int64, int32, uint8, bool, float32 for attentionMask.type but received "float16" of type string',
  ],
  ['positionIds out of range', () => model.forward({ ...good(), positionIds: [[77, 0, 1]] }), RangeError, 'Expected integer between 0 and 76 for positionIds[0][0] but received 77'],
  ['positionIds of another shape', () => model.forward({ ...good(), positionIds: [[0, 1]] }), RangeError, 'Expected [1, 3] (the shape of inputIds) for positionIds.dims but received [1, 2]'],
  [
    'pixelValues as a bare Float32Array',
    () => model.forward({ ...good(), pixelValues: new Float32Array(8) as never }),
    TypeError,
    'Expected a Tensor of type float32, float16, bfloat16 for pixelValues but received a Float32Array of length 8',
  ],
  [
    'pixelValues of type int32',
    () => model.forward({ ...good(), pixelValues: new Tensor('int32', new Int32Array(1), [1]) as never }),
    TypeError,
    'Expected one of float32, float16, bfloat16 for pixelValues.type but received "int32" of type string',
  ],
  [
    'pixelValues with 4 dims',
    () => model.forward({ ...good(), pixelValues: pixels([8, 3, 32, 32]) }),
    RangeError,
    'Expected 5 dims [numVideos, numFrames, channels, height, width] for pixelValues but received [8, 3, 32, 32]',
  ],
  ['pixelValues with 4 frames', () => model.forward({ ...good(), pixelValues: pixels([1, 4, 3, 32, 32]) }), RangeError, 'Expected 8 for pixelValues.dims[1] (numFrames) but received 4'],
  ['pixelValues with 1 channel', () => model.forward({ ...good(), pixelValues: pixels([1, 8, 1, 32, 32]) }), RangeError, 'Expected 3 for pixelValues.dims[2] (channels) but received 1'],
  [
    'pixelValues of another size',
    () => model.forward({ ...good(), pixelValues: pixels([1, 8, 3, 64, 32]) }),
    RangeError,
    'Expected 32 (imageSize; or set interpolatePosEncoding) for pixelValues.dims[3] (height) but received 64',
  ],
  [
    'frames smaller than a patch with interpolatePosEncoding',
    () => model.forward({ ...good(), pixelValues: pixels([1, 8, 3, 4, 32]) }, { interpolatePosEncoding: true }),
    RangeError,
    'Expected at least 8 (patchSize) for pixelValues.dims[3] (height) but received 4',
  ],
  ['options not an object', () => model.forward(good(), 'fast' as never), TypeError, 'Expected an object for options but received "fast" of type string'],
  [
    'misspelled option',
    () => model.forward(good(), { returnLos: true } as never),
    TypeError,
    'Expected one of returnLoss, outputAttentions, outputHiddenStates, interpolatePosEncoding for options key but received "returnLos" of type string',
  ],
  ['returnLoss not a boolean', () => model.forward(good(), { returnLoss: 'yes' as never }), TypeError, 'Expected boolean for returnLoss but received "yes" of type string'],
  [
    'returnLoss with 2 texts and 1 video',
    () => model.forward({ ...good(), inputIds: [[97, 98], [97, 98]], attentionMask: undefined }, { returnLoss: true }),
    RangeError,
    'Expected 1 (numVideos) for inputIds.dims[0] (numTexts) with returnLoss but received 2',
  ],
  ['getTextFeatures without inputs', () => model.getTextFeatures(undefined as never), TypeError, 'Expected an object for inputs but received undefined'],
  [
    'getTextFeatures with pixelValues',
    () => model.getTextFeatures({ inputIds: ids, pixelValues: pixels() } as never),
    TypeError,
    'Expected one of inputIds, attentionMask, positionIds for inputs key but received "pixelValues" of type string',
  ],
  ['getVideoFeatures with 6 frames', () => model.getVideoFeatures(pixels([2, 6, 3, 32, 32])), RangeError, 'Expected 8 for pixelValues.dims[1] (numFrames) but received 6'],
  ['XCLIPTextModel.forward with an id beyond the vocabulary', () => text.forward({ inputIds: [[99]] }), RangeError, 'Expected integer between 0 and 98 for inputIds[0][0] but received 99'],
  [
    'XCLIPTextModel.forward with a vision option',
    () => text.forward({ inputIds: ids }, { interpolatePosEncoding: true } as never),
    TypeError,
    'Expected one of outputAttentions, outputHiddenStates for options key but received "interpolatePosEncoding" of type string',
  ],
  [
    'XCLIPVisionModel.forward with 12 frames (not a multiple of 8)',
    () => vision.forward({ pixelValues: pixels([12, 3, 32, 32]) }),
    RangeError,
    'Expected a positive multiple of numFrames (8) for pixelValues.dims[0] (batch*numFrames) but received 12',
  ],
  [
    'XCLIPVisionModel.forward with video-shaped pixels',
    () => vision.forward({ pixelValues: pixels() }),
    RangeError,
    'Expected 4 dims [batch*numFrames, channels, height, width] for pixelValues but received [1, 8, 3, 32, 32]',
  ],
];

const loadCases: Case[] = [
  ['fromPretrained with a number', () => XCLIPModel.fromPretrained(42 as never), TypeError, 'Expected a non-empty string for pathOrDir but received 42'],
  ['fromPretrained with device "gpu"', () => XCLIPModel.fromPretrained(modelDir('xclip-tiny8'), { device: 'gpu' as never }), RangeError, `Expected 'cpu', 'cuda', 'cuda:N' or 'auto' for device but received "gpu" of type string`],
  ['fromPretrained with device 0', () => XCLIPModel.fromPretrained(modelDir('xclip-tiny8'), { device: 0 as never }), TypeError, `Expected 'cpu', 'cuda', 'cuda:N' or 'auto' for device but received 0`],
  ['fromPretrained with dtype float64', () => XCLIPModel.fromPretrained(modelDir('xclip-tiny8'), { dtype: 'float64' as never }), RangeError, 'Expected one of float32, float16, bfloat16 for dtype but received "float64" of type string'],
  ['fromPretrained with an unknown option', () => XCLIPModel.fromPretrained(modelDir('xclip-tiny8'), { seed: 1 } as never), TypeError, 'Expected one of device, dtype, revision, localFilesOnly, cacheDir, token, endpoint, onProgress for options key but received "seed" of type string'],
  ['XCLIPTextModel.fromPretrained with undefined', () => XCLIPTextModel.fromPretrained(undefined as never), TypeError, 'Expected a non-empty string for pathOrDir but received undefined'],
  ['XCLIPVisionModel.fromPretrained with dtype 1', () => XCLIPVisionModel.fromPretrained(modelDir('xclip-tiny8'), { dtype: 1 as never }), TypeError, 'Expected one of float32, float16, bfloat16 for dtype but received 1'],
  ['fromConfig with a plain object', () => XCLIPModel.fromConfig({ projectionDim: 8 } as never), TypeError, 'Expected an XCLIPConfig for config but received an object'],
  ['fromConfig with a negative seed', () => XCLIPModel.fromConfig(new XCLIPConfig(), { seed: -1 }), RangeError, 'Expected integer between 0 and 9007199254740991 for seed but received -1'],
  ['fromConfig with a fractional seed', () => XCLIPModel.fromConfig(new XCLIPConfig(), { seed: 0.5 }), TypeError, 'Expected integer between 0 and 9007199254740991 for seed but received 0.5'],
  ['fromConfig with a bigint seed of 2^64', () => XCLIPModel.fromConfig(new XCLIPConfig(), { seed: 2n ** 64n }), RangeError, 'Expected integer between 0 and 2^64-1 for seed but received 18446744073709551616n of type bigint'],
];

describe.each([...forwardCases, ...loadCases])('bad argument: %s', (_name, call, Kind, message) => {
  it(`rejects with ${Kind.name}`, async () => {
    const err = await call().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(Kind);
    expect(err).not.toBeInstanceOf(XClipError);
    expect((err as Error).message).toBe(message);
  });
});

describe('native refusals arrive as XClipError with the caller stack', () => {
  async function rejection(p: Promise<unknown>): Promise<XClipError> {
    const err = await p.then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(XClipError);
    return err as XClipError;
  }

  it('missing model folder: FILE_NOT_FOUND', async () => {
    const e = await rejection(XCLIPModel.fromPretrained(path.join(os.tmpdir(), 'no-such-xclip-model')));
    expect(e.code).toBe('FILE_NOT_FOUND');
    expect(e.name).toBe('XClipError');
    expect(e.stack).toContain('arguments.test.ts');
    expect(e.stack).not.toContain('models.cc');
  });

  it('NaN in pixelValues: NON_FINITE_INPUT', async () => {
    const pv = pixels();
    pv.data[100] = NaN;
    const e = await rejection(model.forward({ ...good(), pixelValues: pv }));
    expect(e.code).toBe('NON_FINITE_INPUT');
    expect(e.message).toMatch(/NaN/);
  });

  it('invalid config in fromConfig: CONFIG_INVALID naming the key', async () => {
    const e = await rejection(XCLIPModel.fromConfig(new XCLIPConfig({ projectionDim: 100 })));
    expect(e.code).toBe('CONFIG_INVALID');
    expect(e.message).toContain('projection_dim');
  });

  (cudaAvailable() ? it.skip : it)('device cuda without CUDA: DEVICE_UNAVAILABLE', async () => {
    const e = await rejection(XCLIPModel.fromPretrained(modelDir('xclip-tiny8'), { device: 'cuda' }));
    expect(e.code).toBe('DEVICE_UNAVAILABLE');
  });

  it('setNumThreads(0): RangeError', () => {
    expect(() => setNumThreads(0)).toThrow(new RangeError('Expected integer between 1 and 1024 for threads but received 0'));
  });
});
