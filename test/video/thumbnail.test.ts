// videoThumbnail: the frame at a time, as a JPEG from FFmpeg's mjpeg encoder, through the addon's worker.
import * as fs from 'fs';
import * as path from 'path';

import { XClipError } from '../../lib/errors';
import { readVideo, videoThumbnail } from '../../lib/video';
import { fixturesDir } from '../helpers/fixtures';

const video = (f: string): string => path.join(fixturesDir(), 'videos', f);

describe('videoThumbnail', () => {
  it('encodes the frame on screen at the time asked, scaled to maxWidth', async () => {
    const t = await videoThumbnail(video('h264_320x240_30fps.mp4'), 1.1, { maxWidth: 160 });
    expect(t).toMatchObject({ width: 160, height: 120, frameIndex: 33 });
    expect(t.timestamp).toBeCloseTo(1.1, 6);
    expect(Buffer.isBuffer(t.jpeg)).toBe(true);
    expect([...t.jpeg.subarray(0, 2)]).toEqual([0xff, 0xd8]);
    expect([...t.jpeg.subarray(-2)]).toEqual([0xff, 0xd9]);
    // Our own decoder reads it back as a one-frame mjpeg image of that size.
    const back = await readVideo(t.jpeg, { numFrames: 1 });
    expect(back.info).toMatchObject({ codec: 'mjpeg', width: 160, height: 120 });
  });

  it('is the same from bytes as from the path, and turned upright', async () => {
    const a = await videoThumbnail(video('rotated90_h264_320x180.mp4'), 0.5);
    const b = await videoThumbnail(fs.readFileSync(video('rotated90_h264_320x180.mp4')), 0.5);
    expect(a).toMatchObject({ width: 180, height: 320 });
    expect(b.jpeg.equals(a.jpeg)).toBe(true);
  });

  it('rejects bad arguments with TypeError/RangeError and broken files with codes', async () => {
    await expect(videoThumbnail(video('h264_320x240_30fps.mp4'), -1)).rejects.toThrow(RangeError);
    await expect(videoThumbnail(video('h264_320x240_30fps.mp4'), Number.NaN)).rejects.toThrow('for seconds but received NaN');
    await expect(videoThumbnail(video('h264_320x240_30fps.mp4'), '1' as unknown as number)).rejects.toThrow(TypeError);
    await expect(videoThumbnail(video('h264_320x240_30fps.mp4'), 0, { maxWidth: 8 })).rejects.toThrow('Expected integer between 16 and 4096 for maxWidth but received 8');
    await expect(videoThumbnail(video('h264_320x240_30fps.mp4'), 0, { size: 3 } as never)).rejects.toThrow(TypeError);
    const err = await videoThumbnail(video('audio_only.mp4'), 0).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(XClipError);
    expect((err as XClipError).code).toBe('VIDEO_NO_STREAM');
    // Still usable.
    expect((await videoThumbnail(video('vp9_176x144_25fps.webm'), 0.5)).width).toBe(176);
  });

  it('stops when its signal aborts', async () => {
    const controller = new AbortController();
    controller.abort();
    await expect(videoThumbnail(video('h264_320x240_30fps.mp4'), 1, { signal: controller.signal })).rejects.toMatchObject({ name: 'AbortError' });
  });
});
