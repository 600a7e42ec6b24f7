// The untrusted-input limits as a TS caller sees them: options validated by name, limits reported with stable codes.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { probeVideo, readVideo, readVideoClips, VideoMAEImageProcessor, XClipError } from '../../lib';
import { fixturesDir } from '../helpers/fixtures';

const video = (name: string): string => path.join(fixturesDir(), 'videos', name);

async function codeOf(p: Promise<unknown>): Promise<string> {
  const e = await p.then(() => undefined, (err: unknown) => err);
  if (!(e instanceof XClipError)) throw new Error(`expected an XClipError, got ${String(e)}`);
  return e.code;
}

describe('video limits', () => {
  const h264 = video('h264_320x240_30fps.mp4');  // 60 frames

  it('maxFrames refuses longer streams with VIDEO_TOO_LARGE', async () => {
    expect(await codeOf(readVideo(h264, { maxFrames: 59 }))).toBe('VIDEO_TOO_LARGE');
    expect(await codeOf(probeVideo(fs.readFileSync(h264), { maxFrames: 10 }))).toBe('VIDEO_TOO_LARGE');
    expect((await readVideo(h264, { maxFrames: 60 })).decodedFrameCount).toBe(60);
    const clips = readVideoClips(h264, { numClips: 2, maxFrames: 5 });
    expect(await codeOf(clips.next())).toBe('VIDEO_TOO_LARGE');
  });

  it('timeoutMs bounds a call with VIDEO_TIMEOUT; 0 means no bound', async () => {
    expect(await codeOf(readVideo(h264, { numFrames: 60, sampling: 'uniform', timeoutMs: 1 }))).toBe('VIDEO_TIMEOUT');
    expect((await readVideo(h264, { numFrames: 60, sampling: 'uniform', timeoutMs: 0 })).frames).toHaveLength(60);
  });

  it('limit options are checked by name', async () => {
    await expect(readVideo(h264, { maxFrames: 0 })).rejects.toThrow(new RangeError('Expected integer between 1 and 9007199254740991 for maxFrames but received 0'));
    await expect(readVideo(h264, { timeoutMs: -1 })).rejects.toThrow(RangeError);
    await expect(readVideo(h264, { timeoutMs: 1.5 })).rejects.toThrow(TypeError);
    await expect(probeVideo(h264, { maxFrame: 3 } as unknown as object)).rejects.toThrow(TypeError);
    await expect(readVideo(h264, { threads: 65 })).rejects.toThrow(new RangeError('Expected integer between 0 and 64 for threads but received 65'));
    await expect(readVideoClips(h264, { numClips: 2, threads: -1 }).next()).rejects.toThrow(RangeError);
    // Decoder threads are not a probe setting.
    await expect(probeVideo(h264, { threads: 1 } as unknown as object)).rejects.toThrow(TypeError);
  });

  it('decoder threads change nothing in the frames', async () => {
    const auto = await readVideo(h264, { numFrames: 16 });
    for (const threads of [1, 3]) {
      const v = await readVideo(h264, { numFrames: 16, threads });
      expect(v.indices).toEqual(auto.indices);
      v.frames.forEach((f, i) => expect(Buffer.compare(f.data, auto.frames[i].data)).toBe(0));
    }
  });
});

describe('config file limits', () => {
  it('a huge preprocessor_config.json is refused by size, before it is read', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'xclip-limits-'));
    try {
      const file = path.join(dir, 'preprocessor_config.json');
      fs.writeFileSync(file, '{"size": 224, "pad": "');
      fs.truncateSync(file, 64 * 2 ** 20);  // sparse: no disk space used
      const err = await VideoMAEImageProcessor.fromPretrained(dir).then(() => undefined, (e: unknown) => e);
      expect(err).toBeInstanceOf(XClipError);
      expect((err as XClipError).code).toBe('CONFIG_INVALID');
      expect((err as XClipError).message).toMatch(/16 MiB limit/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('absurd sizes in a preprocessor config are refused with the key named', () => {
    expect(() => VideoMAEImageProcessor.fromConfig({ crop_size: 1000000000 })).toThrow(/crop_size must be between 1 and 8192/);
    expect(() => VideoMAEImageProcessor.fromConfig({ image_mean: [1e300, 0, 0] })).toThrow(XClipError);
  });
});
