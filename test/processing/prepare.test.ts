// prepare (decode + sample + preprocess in one native call) against its definition, readVideo then preprocess, bit
// for bit, for every fixture video; the batch-slot destination and its memory rule; the image processor handle.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

import { XClipError } from '../../lib/errors';
import { VideoMAEImageProcessor } from '../../lib/imageProcessor';
import { binding } from '../../lib/native';
import { XCLIPProcessor } from '../../lib/processor';
import { pendingNativeCalls } from '../../lib/runtime';
import { readVideo, type ReadVideoOptions } from '../../lib/video';
import { fixturesDir } from '../helpers/fixtures';
import { longVideo } from '../helpers/generated';
import { resizableBuffer } from '../helpers/resizable';

const e2eDir = path.join(fixturesDir(), 'e2e', 'xclip-e2e-a');
const VIDEO_EXT = /\.(mp4|webm|avi|mov|mkv)$/;

/** Every fixture video readVideo decodes (broken and audio-only files are checked separately). */
async function decodableVideos(): Promise<string[]> {
  const files: string[] = [];
  for (const dir of ['videos', 'videos-external']) {
    for (const name of fs.readdirSync(path.join(fixturesDir(), dir)).filter((n) => VIDEO_EXT.test(n)).sort()) {
      const file = path.join(fixturesDir(), dir, name);
      if (await readVideo(file).then(() => true, () => false)) files.push(file);
    }
  }
  return files;
}

function sameBits(a: Float32Array, b: Float32Array): boolean {
  return a.length === b.length && Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.byteLength), Buffer.from(b.buffer, b.byteOffset, b.byteLength)) === 0;
}

describe('prepare', () => {
  let proc: VideoMAEImageProcessor;
  let noCrop: VideoMAEImageProcessor;
  let videos: string[];
  beforeAll(async () => {
    proc = await VideoMAEImageProcessor.fromPretrained(e2eDir);
    noCrop = VideoMAEImageProcessor.fromConfig({ size: { shortest_edge: 40 }, do_center_crop: false, image_mean: [0.485, 0.456, 0.406], image_std: [0.229, 0.224, 0.225] });
    videos = await decodableVideos();
  });

  it('has every decodable fixture video to check', () => {
    expect(videos.length).toBeGreaterThanOrEqual(12); // 9 in videos/ (one truncated), 3 in videos-external/
  });

  const variants: [string, ReadVideoOptions][] = [
    ['8 frames', {}],
    ['3 frames, rotated upright', { numFrames: 3, applyRotation: true }],
    ['explicit indices', { sampling: { indices: [0, 0] } }],
  ];
  for (const [what, options] of variants) {
    it(`equals readVideo + preprocess bit for bit for every fixture video (${what}), alone and in a batch slot`, async () => {
      for (const file of videos) {
        for (const p of [proc, noCrop]) {
          const read = await readVideo(file, options);
          const want = (await p.preprocess([read.frames])).pixelValues;
          const got = await p.prepare(file, options);
          expect(got.pixelValues.dims).toEqual(want.dims);
          expect(sameBits(got.pixelValues.data, want.data)).toBe(true);
          const { frames: _frames, ...report } = read;
          const { pixelValues: _pv, ...gotReport } = got;
          // FFmpeg's log names its decoder context by address, which differs between calls.
          const noAddress = (r: { warning?: string }) => ({ ...r, warning: r.warning?.replace(/ @ 0x[0-9a-f]+/g, '') });
          expect(noAddress(gotReport)).toEqual(noAddress(report));

          // The middle slot of a three-video batch: written in place, neighbours untouched.
          const n = want.data.length;
          for (const batch of [new Float32Array(3 * n).fill(-7), binding().allocate('float32', 3 * n).fill(-7)]) {
            const slot = batch.subarray(n, 2 * n);
            const inSlot = await p.prepare(file, { ...options, out: slot });
            expect(inSlot.pixelValues.data).toBe(slot);
            expect(sameBits(slot, want.data)).toBe(true);
            expect(batch.subarray(0, n).every((v) => v === -7) && batch.subarray(2 * n).every((v) => v === -7)).toBe(true);
          }
        }
      }
    });
  }

  it('from the bytes of a file, as from its path', async () => {
    const file = path.join(fixturesDir(), 'videos', 'vp9_176x144_25fps.webm');
    const a = await proc.prepare(file);
    const b = await proc.prepare(fs.readFileSync(file));
    expect(sameBits(a.pixelValues.data, b.pixelValues.data)).toBe(true);
  });

  it('broken files reject as readVideo does, and leave the slot untouched', async () => {
    for (const name of ['broken_empty.mp4', 'broken_random_bytes.mp4', 'audio_only.mp4']) {
      const file = path.join(fixturesDir(), 'videos', name);
      const readErr = (await readVideo(file).catch((e: unknown) => e)) as XClipError;
      const out = new Float32Array(8 * 3 * 224 * 224).fill(5);
      const err = (await proc.prepare(file, { out }).catch((e: unknown) => e)) as XClipError;
      expect(err).toBeInstanceOf(XClipError);
      expect(err.code).toBe(readErr.code);
      expect(out.every((v) => v === 5)).toBe(true);
    }
  });

  describe('with a signal', () => {
    it('an aborted prepare into a destination rejects only once the native call has stopped writing there', async () => {
      const out = new Float32Array(8 * 3 * 224 * 224).fill(5);
      const ac = new AbortController();
      const before = pendingNativeCalls();
      const call = proc.prepare(longVideo(), { threads: 1, out, signal: ac.signal });
      setTimeout(() => ac.abort(), 50);
      await expect(call).rejects.toMatchObject({ name: 'AbortError' });
      expect(pendingNativeCalls()).toBe(before); // settled after the worker, so the slot can be reused at once
      expect(out.every((v) => v === 5)).toBe(true); // stopped while decoding: nothing written
    });
    it('without a destination it rejects at once, as readVideo does', async () => {
      const ac = new AbortController();
      const call = proc.prepare(longVideo(), { threads: 1, signal: ac.signal });
      setTimeout(() => ac.abort(), 50);
      await expect(call).rejects.toMatchObject({ name: 'AbortError' });
      while (pendingNativeCalls() > 0) await new Promise((r) => setTimeout(r, 5));
    });
    it('an already aborted signal starts nothing', async () => {
      const before = pendingNativeCalls();
      await expect(proc.prepare(longVideo(), { out: new Float32Array(8 * 3 * 224 * 224), signal: AbortSignal.abort() })).rejects.toMatchObject({ name: 'AbortError' });
      expect(pendingNativeCalls()).toBe(before);
    });
  });

  describe('bad destinations', () => {
    const file = path.join(fixturesDir(), 'videos', 'short_5frames.mp4');
    it('of the wrong length', async () => {
      await expect(proc.prepare(file, { out: new Float32Array(10) })).rejects.toThrow(
        new RangeError(`Expected ${8 * 3 * 224 * 224} (the pixel values' size) for out.length but received 10`),
      );
    });
    it('not a Float32Array', async () => {
      await expect(proc.prepare(file, { out: new Float64Array(8 * 3 * 224 * 224) as unknown as Float32Array })).rejects.toThrow(TypeError);
    });
    it('of the wrong length for a frame size known only after decoding', async () => {
      await expect(noCrop.prepare(file, { out: new Float32Array(10) })).rejects.toMatchObject({ code: 'INVALID_INPUT' });
    });
    it('detached before the call', async () => {
      const out = new Float32Array(8 * 3 * 224 * 224);
      structuredClone(out.buffer, { transfer: [out.buffer as ArrayBuffer] });
      await expect(proc.prepare(file, { out })).rejects.toThrow(RangeError); // its length reads 0 once detached
    });
    it('backed by a resizable ArrayBuffer: written when the call completes, dropped if the buffer shrank meanwhile', async () => {
      const n = 8 * 3 * 224 * 224;
      const buffer = resizableBuffer(4 * n, 8 * n);
      const out = new Float32Array(buffer, 0, n);
      const want = (await proc.prepare(file)).pixelValues.data;
      expect(sameBits((await proc.prepare(file, { out })).pixelValues.data, want)).toBe(true);
      const call = proc.prepare(file, { out });
      buffer.resize(0);
      await expect(call).rejects.toMatchObject({ code: 'INVALID_INPUT', message: expect.stringMatching(/detached or resized/) });
    });
    it('detached while the call runs: the call rejects, nothing crashes', async () => {
      const n = 8 * 3 * 224 * 224;
      const out = new Float32Array(n);
      const call = proc.prepare(path.join(fixturesDir(), 'videos', 'h264_320x240_30fps.mp4'), { out });
      const moved = structuredClone(out.buffer, { transfer: [out.buffer as ArrayBuffer] });
      expect(out.length).toBe(0);
      await expect(call).rejects.toMatchObject({ code: 'INVALID_INPUT', message: expect.stringMatching(/detached/) });
      expect(moved.byteLength).toBe(4 * n);
      expect(new Float32Array(moved).every((v) => v === 0)).toBe(true); // the result was dropped, not written
      expect((await proc.prepare(file)).pixelValues.dims).toEqual([1, 8, 3, 224, 224]);
    });
    it("the addon's memory (allocate) is written in place and cannot be taken away from a running call: a transfer copies it", async () => {
      const n = 8 * 3 * 224 * 224;
      const out = binding().allocate('float32', n);
      const call = proc.prepare(path.join(fixturesDir(), 'videos', 'h264_320x240_30fps.mp4'), { out });
      const copy = structuredClone(out.buffer, { transfer: [out.buffer as ArrayBuffer] });
      expect(out.length).toBe(n);
      expect(copy).not.toBe(out.buffer);
      expect((await call).pixelValues.data).toBe(out);
    });
  });
});

describe('the image processor handle', () => {
  it('is read once by the core: settings, the fixed output size, and a frozen config', async () => {
    const proc = await VideoMAEImageProcessor.fromPretrained(e2eDir);
    expect(proc.fixedOutputSize).toEqual([224, 224]);
    expect(Object.isFrozen(proc.config)).toBe(true);
    expect('fixedOutputSize' in proc.config).toBe(false);
    expect(VideoMAEImageProcessor.fromConfig({ do_center_crop: false }).fixedOutputSize).toBeUndefined();
    expect(VideoMAEImageProcessor.fromConfig({ do_center_crop: false, size: { height: 32, width: 48 } }).fixedOutputSize).toEqual([32, 48]);
  });

  it('serves concurrent calls', async () => {
    const proc = VideoMAEImageProcessor.fromConfig({ size: { shortest_edge: 32 }, crop_size: { height: 32, width: 32 } });
    const frame = { data: new Uint8Array(40 * 30 * 3).fill(9), width: 40, height: 30 };
    const outs = await Promise.all(Array.from({ length: 8 }, () => proc.preprocess([[frame, frame]])));
    for (const o of outs) expect(sameBits(o.pixelValues.data, outs[0].pixelValues.data)).toBe(true);
  });

  it('preprocess writes into a destination too', async () => {
    const proc = VideoMAEImageProcessor.fromConfig({ size: { shortest_edge: 32 }, crop_size: { height: 32, width: 32 } });
    const frame = { data: new Uint8Array(40 * 30 * 3).fill(200), width: 40, height: 30 };
    const want = await proc.preprocess([[frame]]);
    const out = new Float32Array(3 * 32 * 32);
    const got = await proc.preprocess([[frame]], { out });
    expect(got.pixelValues.data).toBe(out);
    expect(sameBits(out, want.pixelValues.data)).toBe(true);
  });

  describe('files the core refuses', () => {
    let dir: string;
    beforeEach(() => {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'xclip-imgproc-'));
    });
    afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));
    it('a missing preprocessor_config.json', async () => {
      await expect(VideoMAEImageProcessor.fromPretrained(dir)).rejects.toMatchObject({ code: 'FILE_NOT_FOUND' });
    });
    it('a FIFO (reading it would block forever)', async () => {
      const fifo = path.join(dir, 'preprocessor_config.json');
      require('child_process').execFileSync('mkfifo', [fifo]);
      await expect(VideoMAEImageProcessor.fromPretrained(dir)).rejects.toMatchObject({ code: 'FILE_NOT_FOUND', message: expect.stringMatching(/not a regular file/) });
    });
    it('a directory in its place', async () => {
      fs.mkdirSync(path.join(dir, 'preprocessor_config.json'));
      await expect(VideoMAEImageProcessor.fromPretrained(dir)).rejects.toMatchObject({ code: 'FILE_NOT_FOUND' });
    });
  });
});

describe('XCLIPProcessor on the prepare path', () => {
  it('encode of sources equals encode of their frames, bit for bit, batched', async () => {
    const processor = await XCLIPProcessor.fromPretrained(e2eDir);
    const files = ['h264_320x240_30fps.mp4', 'vp9_176x144_25fps.webm', 'mjpeg_144x256_portrait.mov'].map((f) => path.join(fixturesDir(), 'videos', f));
    const frames = await Promise.all(files.map(async (f) => (await readVideo(f, { numFrames: processor.numFrames })).frames));
    const fromFrames = (await processor.encode({ videos: frames })).pixelValues!;
    const fromFiles = (await processor.encode({ videos: files })).pixelValues!;
    expect(fromFiles.dims).toEqual([3, 8, 3, 224, 224]);
    expect(sameBits(fromFiles.data, fromFrames.data)).toBe(true);
    const mixed = (await processor.encode({ videos: [files[0], frames[1], files[2]] })).pixelValues!;
    expect(sameBits(mixed.data, fromFrames.data)).toBe(true);
    const out = new Float32Array(fromFrames.data.length);
    expect((await processor.encode({ videos: files, out })).pixelValues!.data).toBe(out);
    expect(sameBits(out, fromFrames.data)).toBe(true);
  });

  it('a processor without a fixed output size stacks videos of one size and refuses two sizes', async () => {
    const base = await XCLIPProcessor.fromPretrained(e2eDir);
    const processor = new XCLIPProcessor(base.tokenizer, VideoMAEImageProcessor.fromConfig({ size: { shortest_edge: 32 }, do_center_crop: false }), 8);
    const a = path.join(fixturesDir(), 'videos', 'h264_320x240_30fps.mp4');
    const b = path.join(fixturesDir(), 'videos', 'mjpeg_144x256_portrait.mov');
    const two = (await processor.encode({ videos: [a, a] })).pixelValues!;
    const one = (await processor.encode({ videos: [a] })).pixelValues!;
    expect(two.dims).toEqual([2, 8, 3, 32, 42]);
    expect(sameBits(two.data.subarray(one.data.length), one.data)).toBe(true);
    await expect(processor.encode({ videos: [a, b] })).rejects.toMatchObject({ code: 'INVALID_INPUT' });
  });

  it('loads from a hub id through the Hugging Face cache, as XCLIPModel does', async () => {
    const cache = fs.mkdtempSync(path.join(os.tmpdir(), 'xclip-proc-hub-'));
    try {
      const commit = 'a'.repeat(40);
      const repo = path.join(cache, 'models--org--proc');
      fs.mkdirSync(path.join(repo, 'refs'), { recursive: true });
      fs.writeFileSync(path.join(repo, 'refs', 'main'), commit);
      const snapshot = path.join(repo, 'snapshots', commit);
      fs.mkdirSync(snapshot, { recursive: true });
      for (const f of fs.readdirSync(e2eDir)) fs.symlinkSync(path.join(e2eDir, f), path.join(snapshot, f));
      const processor = await XCLIPProcessor.fromPretrained('org/proc', { cacheDir: cache, localFilesOnly: true });
      expect(processor.numFrames).toBe(8);
      expect(processor.imageProcessor.fixedOutputSize).toEqual([224, 224]);
      await expect(XCLIPProcessor.fromPretrained('org/absent', { cacheDir: cache, localFilesOnly: true })).rejects.toMatchObject({ code: 'HUB_OFFLINE' });
      await expect(XCLIPProcessor.fromPretrained('org/proc', { device: 'cpu' } as never)).rejects.toThrow(TypeError);
    } finally {
      fs.rmSync(cache, { recursive: true, force: true });
    }
  });

  it('reads num_frames through the config parser: 16 from config.json, 8 without one, strict on a broken one', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'xclip-proc-'));
    try {
      for (const f of ['vocab.json', 'merges.txt', 'tokenizer_config.json', 'special_tokens_map.json', 'preprocessor_config.json']) {
        fs.copyFileSync(path.join(e2eDir, f), path.join(dir, f));
      }
      expect((await XCLIPProcessor.fromPretrained(dir)).numFrames).toBe(8);
      fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ vision_config: { num_frames: 16 } }));
      expect((await XCLIPProcessor.fromPretrained(dir)).numFrames).toBe(16);
      fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ vision_config: { num_frames: 0 } }));
      await expect(XCLIPProcessor.fromPretrained(dir)).rejects.toMatchObject({ code: 'CONFIG_INVALID', message: expect.stringMatching(/num_frames/) });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
