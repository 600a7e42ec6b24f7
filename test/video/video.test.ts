// Video decoding through the TS API vs. PyAV's frames and metadata in fixtures/videos.
import * as fs from 'fs';
import * as path from 'path';
import { pathToFileURL } from 'url';

import { XClipError } from '../../lib/errors';
import { probeVideo, readVideo, readVideoClips } from '../../lib/video';
import { fixturesDir } from '../helpers/fixtures';
import { readSafetensors } from '../helpers/safetensors';

const dir = path.join(fixturesDir(), 'videos');
interface FileMeta {
  decoded_frames?: number;
  width?: number;
  height?: number;
  codec?: string;
  sampled_indices?: Record<string, number[]>;
  rotation?: { display_matrix_rotation: number | null } | null;
}
const meta = JSON.parse(fs.readFileSync(path.join(dir, 'videos.json'), 'utf8')) as { files: Record<string, FileMeta> };
const good = Object.entries(meta.files).filter(([, m]) => m.sampled_indices && !('decode_error' in m && (m as { decode_error?: string }).decode_error));

describe('readVideo on the fixture videos', () => {
  for (const [file, m] of good) {
    it(`${file}: indices for 8/4/3/16 frames and frames equal to PyAV's`, async () => {
      for (const n of ['8', '4', '3', '16']) {
        const v = await readVideo(path.join(dir, file), { numFrames: Number(n) });
        expect(v.indices).toEqual(m.sampled_indices![n]);
        expect(v.decodedFrameCount).toBe(m.decoded_frames);
        expect(v.frames).toHaveLength(Number(n));
      }
      const v = await readVideo(path.join(dir, file));
      const expected = readSafetensors(path.join(dir, `${file}.expected.safetensors`)).get('frames_rgb')!;
      expect(v.frames[0].width).toBe(expected.dims[2]);
      expect(v.frames[0].height).toBe(expected.dims[1]);
      const e = expected.data as Uint8Array;
      let maxAbs = 0;
      v.frames.forEach((f, i) => {
        const off = i * f.data.length;
        for (let k = 0; k < f.data.length; k++) maxAbs = Math.max(maxAbs, Math.abs(f.data[k] - e[off + k]));
      });
      // ≤ 1 level for h264/vp9/mpeg4; mjpeg (full range) is held to the same bound here since swscale matches PyAV's.
      expect(maxAbs).toBeLessThanOrEqual(1);
    });
  }

  it('decodes a Buffer exactly like the path', async () => {
    const file = path.join(dir, 'vp9_176x144_25fps.webm');
    const a = await readVideo(file);
    const b = await readVideo(fs.readFileSync(file));
    expect(b.indices).toEqual(a.indices);
    a.frames.forEach((f, i) => expect(Buffer.compare(Buffer.from(f.data), Buffer.from(b.frames[i].data))).toBe(0));
  });

  it('takes a file: URL as its path; other URLs are refused', async () => {
    const file = path.join(dir, 'vp9_176x144_25fps.webm');
    const url = pathToFileURL(file);
    const [a, b] = await Promise.all([readVideo(file), readVideo(url)]);
    expect(b.indices).toEqual(a.indices);
    a.frames.forEach((f, i) => expect(Buffer.compare(Buffer.from(f.data), Buffer.from(b.frames[i].data))).toBe(0));
    expect(await probeVideo(url)).toEqual(await probeVideo(file));
    const clips = readVideoClips(url, { numClips: 2 });
    expect((await clips.next()).value?.frames).toHaveLength(8);
    await clips.return(undefined);
    await expect(readVideo(new URL('https://example.com/clip.mp4'))).rejects.toThrow(
      new RangeError('Expected a file: URL for source but received "https://example.com/clip.mp4" of type string'),
    );
    await expect(probeVideo(pathToFileURL(path.join(dir, 'no-such.mp4')))).rejects.toMatchObject({ code: 'FILE_NOT_FOUND' });
  });

  it('probes metadata', async () => {
    const info = await probeVideo(path.join(dir, 'h264_320x240_30fps.mp4'));
    expect(info).toMatchObject({ width: 320, height: 240, fps: 30, frameCount: 60, codec: 'h264', hasVideo: true, rotation: 0 });
    const webm = await probeVideo(path.join(dir, 'vp9_176x144_25fps.webm'));
    expect(webm.containerFrameCount).toBe(0);
    expect(webm.frameCount).toBe(meta.files['vp9_176x144_25fps.webm'].decoded_frames);
  });

  it('reports rotation and applies it only when asked', async () => {
    const file = path.join(dir, 'rotated90_h264_320x180.mp4');
    const info = await probeVideo(file);
    expect(Math.abs(info.rotation)).toBe(Math.abs(meta.files['rotated90_h264_320x180.mp4'].rotation!.display_matrix_rotation!));
    const stored = await readVideo(file, { numFrames: 1 });
    expect([stored.frames[0].width, stored.frames[0].height]).toEqual([320, 180]);
    const upright = await readVideo(file, { numFrames: 1, applyRotation: true });
    expect([upright.frames[0].width, upright.frames[0].height]).toEqual([180, 320]);
  });

  it('samples explicit indices, uniform and hfRandom deterministically', async () => {
    const file = path.join(dir, 'h264_320x240_30fps.mp4');
    expect((await readVideo(file, { sampling: { indices: [0, 59, 30] } })).indices).toEqual([0, 59, 30]);
    const u = await readVideo(file, { numFrames: 4, sampling: 'uniform' });
    expect(u.indices[0]).toBe(0);
    expect(u.indices[3]).toBe(59);
    const r1 = await readVideo(file, { numFrames: 4, sampling: { hfRandom: { frameSampleRate: 4, seed: 7 } } });
    const r2 = await readVideo(file, { numFrames: 4, sampling: { hfRandom: { frameSampleRate: 4, seed: 7 } } });
    expect(r1.indices).toEqual(r2.indices);
  });

  it('splits a video into clips with time ranges', async () => {
    const clips = [];
    for await (const c of readVideoClips(path.join(dir, 'h264_320x240_30fps.mp4'), { numFrames: 4, clipSeconds: 0.5 })) clips.push(c);
    expect(clips).toHaveLength(4);
    expect(clips[0].startSeconds).toBeCloseTo(0, 5);
    clips.forEach((c) => expect(c.frames).toHaveLength(4));
    expect(clips[3].indices[3]).toBeLessThan(60);
  });
});

describe('broken and hostile videos', () => {
  const codeOf = async (p: Promise<unknown>): Promise<string | undefined> => {
    try {
      await p;
      return undefined;
    } catch (e) {
      expect(e).toBeInstanceOf(XClipError);
      return (e as XClipError).code;
    }
  };

  it('zero bytes, random bytes, audio only, missing file', async () => {
    expect(await codeOf(readVideo(path.join(dir, 'broken_empty.mp4')))).toBe('VIDEO_OPEN_FAILED');
    expect(await codeOf(readVideo(path.join(dir, 'broken_random_bytes.mp4')))).toBe('VIDEO_OPEN_FAILED');
    expect(await codeOf(readVideo(new Uint8Array(0)))).toBe('VIDEO_OPEN_FAILED');
    expect(await codeOf(readVideo(path.join(dir, 'audio_only.mp4')))).toBe('VIDEO_NO_STREAM');
    expect(await codeOf(readVideo(path.join(dir, 'no-such-file.mp4')))).toBe('FILE_NOT_FOUND');
  });

  it('a truncated file decodes partially and says so', async () => {
    const truncated = meta.files['broken_truncated.mp4'] as FileMeta;
    const v = await readVideo(path.join(dir, 'broken_truncated.mp4'));
    expect(v.truncated).toBe(true);
    expect(v.warning).toMatch(/truncated/);
    expect(v.decodedFrameCount).toBe(truncated.decoded_frames);
    expect(Math.max(...v.indices)).toBeLessThan(truncated.decoded_frames!);
  });

  it('refuses frames above maxPixels before decoding', async () => {
    expect(await codeOf(readVideo(path.join(dir, 'h264_320x240_30fps.mp4'), { maxPixels: 320 * 240 - 1 }))).toBe('VIDEO_TOO_LARGE');
  });

  it('checks arguments in TypeScript', async () => {
    await expect(readVideo(42 as unknown as string)).rejects.toThrow(TypeError);
    await expect(readVideo('x.mp4', { numFrames: 0 })).rejects.toThrow(new RangeError('Expected integer between 1 and 1024 for numFrames but received 0'));
    await expect(readVideo('x.mp4', { sampling: 'random' as unknown as 'uniform' })).rejects.toThrow(TypeError);
    await expect(readVideo('x.mp4', { numframes: 8 } as unknown as object)).rejects.toThrow(TypeError);
  });

  it('does not leak file descriptors over hundreds of good and bad opens', async () => {
    const files = ['h264_320x240_30fps.mp4', 'broken_empty.mp4', 'broken_random_bytes.mp4', 'audio_only.mp4', 'broken_truncated.mp4', 'one_frame.mp4'];
    const fds = () => fs.readdirSync('/proc/self/fd').length;
    for (const f of files) await readVideo(path.join(dir, f), { numFrames: 2 }).catch(() => undefined);
    const before = fds();
    for (let i = 0; i < 200; i++) {
      const f = path.join(dir, files[i % files.length]);
      await readVideo(i % 2 ? f : fs.readFileSync(f), { numFrames: 2 }).catch(() => undefined);
    }
    expect(fds()).toBeLessThanOrEqual(before + 2);
  });
});
