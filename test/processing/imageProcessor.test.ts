// VideoMAEImageProcessor through the TS API vs. transformers' outputs in fixtures/processor.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

import { VideoMAEImageProcessor } from '../../lib/imageProcessor';
import { preprocessDeviceFor } from '../../lib/batchingOptions';
import { XCLIPProcessor } from '../../lib/processor';
import type { Frame } from '../../lib/video';
import { expectClose, fixturesDir } from '../helpers/fixtures';
import { readSafetensors } from '../helpers/safetensors';
import { TEST_DEVICE } from '../helpers/device';

const bytesOf = (a: Float32Array): Buffer => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

const dir = path.join(fixturesDir(), 'processor');
const cases = JSON.parse(fs.readFileSync(path.join(dir, 'cases.json'), 'utf8')) as Record<string, { processor_kwargs: Record<string, unknown> }>;

function framesOf(raw: { dims: number[]; data: ArrayBufferView }): Frame[] {
  const [t, height, width] = raw.dims;
  const bytes = new Uint8Array(raw.data.buffer, raw.data.byteOffset, raw.data.byteLength);
  return Array.from({ length: t }, (_, i) => ({ data: bytes.subarray(i * height * width * 3, (i + 1) * height * width * 3), width, height }));
}

describe('VideoMAEImageProcessor', () => {
  for (const [name, c] of Object.entries(cases)) {
    it(`${name}: pixel values within 1e-5 of transformers`, async () => {
      const tensors = readSafetensors(path.join(dir, `${name}.safetensors`));
      const videos = [...tensors.keys()].filter((k) => k.startsWith('input.video')).sort().map((k) => framesOf(tensors.get(k)!));
      const proc = VideoMAEImageProcessor.fromConfig(c.processor_kwargs);
      const { pixelValues } = await proc.preprocess(videos);
      expectClose(pixelValues, tensors.get('pixel_values')!, 1e-5, name);
      // The libtorch-op path on the test device (XCLIP_TEST_DEVICE) gives the CPU loops' values bit for bit.
      const onDevice = (await proc.preprocess(videos, { device: TEST_DEVICE })).pixelValues;
      expect(onDevice.dims).toEqual(pixelValues.dims);
      expect(Buffer.compare(bytesOf(onDevice.data), bytesOf(pixelValues.data))).toBe(0);
    });
  }

  it('reads the legacy hub preprocessor_config.json of the e2e model as xclip-base-patch32 settings', async () => {
    const proc = await VideoMAEImageProcessor.fromPretrained(path.join(fixturesDir(), 'e2e', 'xclip-e2e-a'));
    expect(proc.config.size).toEqual({ shortestEdge: 224 });
    expect(proc.config.cropSize).toEqual({ height: 224, width: 224 });
    expect(proc.config.resample).toBe(2);
    expect(proc.config.imageMean).toEqual([0.485, 0.456, 0.406]);
  });

  describe('bad input', () => {
    const proc = VideoMAEImageProcessor.fromConfig({ size: { shortest_edge: 32 }, crop_size: { height: 32, width: 32 } });
    const frame = (w: number, h: number): Frame => ({ data: new Uint8Array(w * h * 3), width: w, height: h });
    it('data length not width*height*3', async () => {
      await expect(proc.preprocess([[{ data: new Uint8Array(10), width: 4, height: 4 }]])).rejects.toThrow(
        new RangeError('Expected 48 (width × height × 3 RGB bytes) for videos[0][0].data.length but received 10'),
      );
    });
    it('zero-sized frame', async () => {
      await expect(proc.preprocess([[frame(0, 4)]])).rejects.toThrow(RangeError);
    });
    it('empty video', async () => {
      await expect(proc.preprocess([[]])).rejects.toThrow(RangeError);
    });
    it('videos with different frame counts', async () => {
      await expect(proc.preprocess([[frame(8, 8)], [frame(8, 8), frame(8, 8)]])).rejects.toThrow(
        new RangeError('Expected 1 frames like videos[0] for videos[1].length but received 2'),
      );
    });
    it('data that is not a Uint8Array', async () => {
      await expect(proc.preprocess([[{ data: [1, 2, 3] as unknown as Uint8Array, width: 1, height: 1 }]])).rejects.toThrow(TypeError);
    });
    it('unknown resample', () => {
      expect(() => VideoMAEImageProcessor.fromConfig({ resample: 5 })).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID' }));
    });
    it('bad device option', async () => {
      await expect(proc.preprocess([[frame(8, 8)]], { device: 'gpu' as never })).rejects.toThrow(
        new RangeError("Expected 'cpu', 'cuda', 'cuda:N' or 'auto' for device but received \"gpu\" of type string"),
      );
      await expect(proc.preprocess([[frame(8, 8)]], { devcie: 'cpu' } as never)).rejects.toThrow(TypeError);
    });
    it('frames of different sizes in one video on a device', async () => {
      await expect(proc.preprocess([[frame(8, 8), frame(9, 8)]], { device: 'cpu' })).rejects.toMatchObject({
        code: 'INVALID_INPUT',
        message: expect.stringContaining('one frame size per video'),
      });
    });
    it('malformed preprocessor config file', async () => {
      const d = fs.mkdtempSync(path.join(os.tmpdir(), 'xclip-pp-'));
      fs.writeFileSync(path.join(d, 'preprocessor_config.json'), '{"size": ');
      await expect(VideoMAEImageProcessor.fromPretrained(d)).rejects.toMatchObject({ code: 'CONFIG_INVALID' });
      fs.rmSync(d, { recursive: true, force: true });
    });
    it('a processor stays usable after errors', async () => {
      const { pixelValues } = await proc.preprocess([[frame(40, 30)]]);
      expect(pixelValues.dims).toEqual([1, 1, 3, 32, 32]);
    });
  });
});

describe("preprocessing on the model's device", () => {
  it('XCLIPProcessor.encode with a device gives the CPU loops\' pixel values bit for bit (decoded fixture videos)', async () => {
    const processor = await XCLIPProcessor.fromPretrained(path.join(fixturesDir(), 'e2e', 'xclip-e2e-a'));
    const videos = ['h264_320x240_30fps.mp4', 'mjpeg_144x256_portrait.mov', 'one_frame.mp4'].map((f) => path.join(fixturesDir(), 'videos', f));
    for (const video of videos) {
      const cpu = (await processor.encode({ videos: [video] })).pixelValues!;
      const onDevice = (await processor.encode({ videos: [video], device: TEST_DEVICE })).pixelValues!;
      expect(onDevice.dims).toEqual(cpu.dims);
      expect(Buffer.compare(bytesOf(onDevice.data), bytesOf(cpu.data))).toBe(0);
    }
  });

  it('prepare with a device writes the CPU loops\' pixel values into a slot, bit for bit', async () => {
    const proc = await VideoMAEImageProcessor.fromPretrained(path.join(fixturesDir(), 'e2e', 'xclip-e2e-a'));
    const file = path.join(fixturesDir(), 'videos', 'vp9_176x144_25fps.webm');
    const cpu = (await proc.prepare(file, { numFrames: 8 })).pixelValues;
    const slot = new Float32Array(cpu.data.length);
    const onDevice = (await proc.prepare(file, { numFrames: 8, out: slot, device: TEST_DEVICE })).pixelValues;
    expect(onDevice.data).toBe(slot);
    expect(Buffer.compare(bytesOf(slot), bytesOf(cpu.data))).toBe(0);
    await expect(proc.prepare(file, { device: 'tpu' as never })).rejects.toThrow(RangeError);
  });

  it('a classifier preprocesses on its model\'s GPU unless XCLIP_PREPROCESS=cpu, and on the CPU loops for a CPU model', () => {
    expect(preprocessDeviceFor('cuda:0', {})).toBe('cuda:0');
    expect(preprocessDeviceFor('cuda:1', { XCLIP_PREPROCESS: 'device' })).toBe('cuda:1');
    expect(preprocessDeviceFor('cuda:0', { XCLIP_PREPROCESS: 'cpu' })).toBeUndefined();
    expect(preprocessDeviceFor('cpu', {})).toBeUndefined();
  });
});
