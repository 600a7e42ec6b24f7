// The search entry points of XCLIPModel and VideoIndex check their arguments before any native call, and the
// core's own checks arrive as XClipError codes.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

import { XCLIPModel } from '../../lib/models';
import { VideoIndex } from '../../lib/search/videoIndex';
import { Tensor } from '../../lib/tensor';
import { fixturesDir } from '../helpers/fixtures';

const MODEL = path.join(fixturesDir(), 'e2e', 'xclip-e2e-a'); // projection 32, 49 patches

describe('XCLIPModel search features', () => {
  let model: XCLIPModel;
  beforeAll(async () => {
    model = await XCLIPModel.fromPretrained(MODEL);
  });
  afterAll(() => model.dispose());

  const f32 = (dims: number[], fill = 0.1) => new Tensor('float32', new Float32Array(dims.reduce((a, b) => a * b, 1)).fill(fill), dims);

  it('scores stored features in the tokens and the keys/values layouts alike', async () => {
    const inputs = { videoEmbeds: f32([2, 32]), promptFeatures: f32([2, 49, 32]), textFeatures: f32([3, 32], 0.2) };
    const logits = await model.scoreVideoFeatures(inputs);
    expect(logits.dims).toEqual([2, 3]);
    const kv = await model.promptKeyValues(inputs.promptFeatures);
    expect(kv.dims).toEqual([2, model.config.promptLayers, 2, 49, 32]);
    const fromKv = await model.scoreVideoFeatures({ ...inputs, promptFeatures: kv });
    fromKv.toFloat32Array().forEach((v, i) => expect(v).toBeCloseTo(logits.toFloat32Array()[i], 5));
    expect(model.logitScale).toBeGreaterThan(1);
  });

  it('refuses bad shapes and types before the native call', async () => {
    const ok = { videoEmbeds: f32([2, 32]), promptFeatures: f32([2, 49, 32]), textFeatures: f32([1, 32]) };
    await expect(model.scoreVideoFeatures({ ...ok, videoEmbeds: f32([2, 31]) })).rejects.toThrow(RangeError);
    await expect(model.scoreVideoFeatures({ ...ok, promptFeatures: f32([3, 49, 32]) })).rejects.toThrow(/promptFeatures.dims\[0\]/);
    await expect(model.scoreVideoFeatures({ ...ok, textFeatures: new Tensor('int64', new BigInt64Array(32), [1, 32]) as unknown as Tensor })).rejects.toThrow(TypeError);
    await expect(model.scoreVideoFeatures({ ...ok, extra: 1 } as never)).rejects.toThrow(TypeError);
    await expect(model.getVideoSearchFeatures(f32([1, 8, 3, 224, 224]), { featureDtype: 'int8' as never })).rejects.toThrow(TypeError);
  });

  it('NaN in stored features is a NON_FINITE_INPUT naming the entry', async () => {
    const pf = f32([2, 49, 32]);
    (pf.data as Float32Array)[49 * 32 + 5] = Number.NaN;
    await expect(model.scoreVideoFeatures({ videoEmbeds: f32([2, 32]), promptFeatures: pf, textFeatures: f32([1, 32]) })).rejects.toMatchObject({
      code: 'NON_FINITE_INPUT',
      message: expect.stringContaining('prompt_features[1]'),
    });
  });
});

describe('VideoIndex arguments', () => {
  let dir: string;
  let index: VideoIndex;
  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'xclip-index-args-'));
    index = await VideoIndex.open(dir, { model: MODEL });
  });
  afterAll(async () => {
    await index.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('checks each argument', async () => {
    await expect(VideoIndex.open('')).rejects.toThrow(TypeError);
    await expect(VideoIndex.open(dir, { featureDtype: 'int8' as never })).rejects.toThrow(TypeError);
    await expect(VideoIndex.open(dir, { nprobes: 0 })).rejects.toThrow(RangeError);
    await expect(VideoIndex.open(dir, { refineFactor: 101 })).rejects.toThrow('Expected integer between 1 and 100 for refineFactor but received 101');
    await expect(VideoIndex.open(dir, { rowCache: 'yes' as unknown as boolean })).rejects.toThrow(TypeError);
    await expect(index.search('')).rejects.toThrow(TypeError);
    await expect(index.search('x', { k: 0 })).rejects.toThrow(RangeError);
    await expect(index.search('x', { k: 20, candidates: 10 })).rejects.toThrow(RangeError);
    await expect(index.search(new Float32Array(3))).rejects.toThrow(RangeError);
    await expect(index.add([42 as never])).rejects.toThrow(TypeError);
    await expect(index.add(['a.mp4'], { clipSeconds: -1 })).rejects.toThrow(RangeError);
    await expect(index.addEntries([{ id: 'a', source: 'a', segment: 0, start: 0, end: 1, vector: new Float32Array(32), features: new Uint8Array(3) }])).rejects.toThrow(RangeError);
    expect(await index.search('anything')).toEqual([]);
  });
});
