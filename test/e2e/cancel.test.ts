// Per-call controls a server needs: an AbortSignal that takes a call out of the classifier's queue, stops its decode
// at the next packet and rejects it with an AbortError (as fetch does), and the decode options of each call.
import * as path from 'path';

import { XClipError } from '../../lib/errors';
import { ZeroShotVideoClassifier } from '../../lib/pipelines';
import { pendingNativeCalls } from '../../lib/runtime';
import { readVideo, readVideoClips } from '../../lib/video';
import { fixturesDir } from '../helpers/fixtures';
import { longVideo } from '../helpers/generated';
import { onTestDevice } from '../helpers/device';

const modelDir = path.join(fixturesDir(), 'e2e', 'xclip-e2e-a');
const video = (f: string): string => path.join(fixturesDir(), 'videos', f);
const LABELS = ['playing sports', 'eating spaghetti', 'go shopping'];

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Milliseconds until the addon has no call queued or running (bounded). */
async function untilNativeIdle(limitMs = 30000): Promise<number> {
  const t0 = performance.now();
  while (pendingNativeCalls() > 0 && performance.now() - t0 < limitMs) await sleep(2);
  return performance.now() - t0;
}

/** What `p` settles with: its value or its rejection. */
async function settled(p: Promise<unknown>): Promise<unknown> {
  try {
    return await p;
  } catch (e) {
    return e;
  }
}

function expectAbortError(e: unknown): void {
  expect(e).toMatchObject({ name: 'AbortError' });
  expect(e).not.toBeInstanceOf(XClipError);
}

// The long clip and how long decoding it takes here: the bounds below are shares of it.
let long: string;
let fullMs: number;
beforeAll(async () => {
  long = longVideo();
  const t0 = performance.now();
  const v = await readVideo(long, { threads: 1 });
  fullMs = performance.now() - t0;
  expect(v.decodedFrameCount).toBe(60);
});

describe('readVideo with a signal', () => {

  it('an aborted decode of a long video rejects at once and its native work stops at the next packet', async () => {
    const ac = new AbortController();
    const p = readVideo(long, { threads: 1, signal: ac.signal });
    await sleep(Math.min(100, fullMs / 10));
    expect(pendingNativeCalls()).toBe(1);
    const t0 = performance.now();
    ac.abort();
    const e = await settled(p);
    const rejectMs = performance.now() - t0;
    const stopMs = await untilNativeIdle();
    console.log(`full decode ${fullMs.toFixed(0)} ms; after abort: rejected in ${rejectMs.toFixed(1)} ms, native work stopped in ${stopMs.toFixed(1)} ms`);
    expectAbortError(e);
    // Both bounds are shares of the full decode (a busy machine slows everything alike): without the rejection on
    // abort the call would settle only with the decode, and without the cancel flag the decode would run on for
    // ~90% of fullMs. The native bound is the looser one: the decode stops only after the packet and frame
    // conversion in hand, which the other jest worker's load can stretch.
    expect(rejectMs).toBeLessThan(Math.max(100, fullMs / 4));
    expect(stopMs).toBeLessThan(Math.max(100, fullMs / 2));
  });

  it('the reason given to abort() is what the call rejects with', async () => {
    const ac = new AbortController();
    const p = readVideo(long, { signal: ac.signal });
    const reason = new Error('client went away');
    ac.abort(reason);
    expect(await settled(p)).toBe(reason);
    await untilNativeIdle();
  });

  it('an already aborted signal rejects without starting a decode', async () => {
    const before = pendingNativeCalls();
    const e = await settled(readVideo(video('h264_320x240_30fps.mp4'), { signal: AbortSignal.abort() }));
    expectAbortError(e);
    expect(pendingNativeCalls()).toBe(before);
  });

  it('readVideoClips stops too', async () => {
    // The same call left to run to its end, timed here rather than in beforeAll: the other jest worker's load
    // changes from one moment to the next, and it slows this call and the cancelled one alike.
    const t0 = performance.now();
    for await (const clip of readVideoClips(long, { numClips: 4, threads: 1 })) expect(clip.frames).toHaveLength(8);
    const clipsMs = performance.now() - t0;
    const ac = new AbortController();
    const clips = readVideoClips(long, { numClips: 4, threads: 1, signal: ac.signal });
    const first = clips.next();
    setTimeout(() => ac.abort(), 50);
    expectAbortError(await settled(first));
    const stopMs = await untilNativeIdle();
    console.log(`readVideoClips to its end ${clipsMs.toFixed(0)} ms; native work stopped ${stopMs.toFixed(1)} ms after the abort`);
    // Without the cancel flag the native call would run on for clipsMs - 50 ms; with it, for one packet's decode
    // and one 4K frame's conversion, which a loaded machine can stretch past 100 ms.
    expect(stopMs).toBeLessThan(Math.max(100, (clipsMs - 50) / 2));
  });

  it('a signal that finishes unused changes nothing, and a non-signal is a TypeError', async () => {
    const ac = new AbortController();
    const v = await readVideo(video('h264_320x240_30fps.mp4'), { signal: ac.signal });
    ac.abort();
    expect(v.frames).toHaveLength(8);
    await expect(readVideo(video('h264_320x240_30fps.mp4'), { signal: {} as AbortSignal })).rejects.toThrow(
      new TypeError('Expected an AbortSignal for signal but received an object'),
    );
  });
});

describe('classify and score with a signal', () => {
  it('a call aborted while the batch before it runs leaves the queue and is never run', async () => {
    // One video per batch and one decode at a time: when the first call's batch starts, the second call is
    // decoding or queued, the third waits for it.
    const clf = await ZeroShotVideoClassifier.fromPretrained(modelDir, onTestDevice({ maxBatch: 1, decodeConcurrency: 1 }));
    try {
      const ac = new AbortController();
      const forward = clf.model.forwardWithTextFeatures.bind(clf.model);
      let batches = 0;
      const spy = jest.spyOn(clf.model, 'forwardWithTextFeatures').mockImplementation((inputs) => {
        if (batches++ === 0) ac.abort();
        return forward(inputs);
      });
      const file = video('h264_320x240_30fps.mp4');
      const [a, b, c] = [clf.classify(file, LABELS), clf.classify(file, LABELS, { signal: ac.signal }), clf.score([file], LABELS)];
      const [ra, rb, rc] = await Promise.all([a, b, c].map(settled));
      spy.mockRestore();
      expect(ra).toHaveLength(3);
      expectAbortError(rb);
      expect(rc).toHaveLength(1);
      expect(batches).toBe(2);
      expect(clf.stats.videos).toBe(2);
    } finally {
      await clf.dispose();
    }
  });

  it('a call aborted during its own batch rejects at once; the batch finishes for the others', async () => {
    const clf = await ZeroShotVideoClassifier.fromPretrained(modelDir, onTestDevice({ maxWaitMs: 500 }));
    try {
      const ac = new AbortController();
      const forward = clf.model.forwardWithTextFeatures.bind(clf.model);
      let batchDone = false;
      const spy = jest.spyOn(clf.model, 'forwardWithTextFeatures').mockImplementation(async (inputs) => {
        ac.abort();
        await sleep(300);
        const out = await forward(inputs);
        batchDone = true;
        return out;
      });
      const files = [video('h264_320x240_30fps.mp4'), video('vp9_176x144_25fps.webm')];
      const mine = clf.score(files, LABELS, { signal: ac.signal });
      const theirs = clf.score(files, LABELS);
      const e = await settled(mine);
      const rejectedBeforeTheBatchEnded = !batchDone;
      const rows = await theirs;
      spy.mockRestore();
      expectAbortError(e);
      expect(rejectedBeforeTheBatchEnded).toBe(true);
      expect(rows).toHaveLength(2);
      expect(clf.stats.batches).toBe(1);
    } finally {
      await clf.dispose();
    }
  });

  it('an abort stops the decode of a long video in the classifier too', async () => {
    const clf = await ZeroShotVideoClassifier.fromPretrained(modelDir, onTestDevice());
    try {
      // The same call left to finish, timed beside the cancelled one (the classifier decodes with its own threads).
      const t0 = performance.now();
      expect(await clf.classify(long, LABELS)).toHaveLength(3);
      const classifyMs = performance.now() - t0;
      const ac = new AbortController();
      const p = clf.classify(long, LABELS, { signal: ac.signal });
      const waitMs = Math.min(100, classifyMs / 10);
      await sleep(waitMs);
      ac.abort();
      expectAbortError(await settled(p));
      const stopMs = await untilNativeIdle();
      console.log(`classify to its end ${classifyMs.toFixed(0)} ms; native work stopped ${stopMs.toFixed(1)} ms after the abort`);
      expect(stopMs).toBeLessThan(Math.max(100, (classifyMs - waitMs) / 2));
      // The classifier is still usable.
      expect(await clf.classify(video('short_5frames.mp4'), LABELS)).toHaveLength(3);
    } finally {
      await clf.dispose();
    }
  });

  it('an already aborted signal rejects before any work', async () => {
    const clf = await ZeroShotVideoClassifier.fromPretrained(modelDir, onTestDevice());
    try {
      expectAbortError(await settled(clf.classify(video('short_5frames.mp4'), LABELS, { signal: AbortSignal.abort() })));
      expectAbortError(await settled(clf.embedVideos([video('short_5frames.mp4')], { signal: AbortSignal.abort() })));
      expect(clf.stats.videos).toBe(0);
      expect(pendingNativeCalls()).toBe(0);
    } finally {
      await clf.dispose();
    }
  });
});

describe('decode options per classify/score call', () => {
  let clf: ZeroShotVideoClassifier;
  beforeAll(async () => {
    clf = await ZeroShotVideoClassifier.fromPretrained(modelDir, onTestDevice());
  });
  afterAll(() => clf.dispose());

  it('maxPixels and timeoutMs reach the decoder and fail only that call', async () => {
    const file = video('h264_320x240_30fps.mp4');
    await expect(clf.classify(file, LABELS, { maxPixels: 320 * 240 - 1 })).rejects.toMatchObject({ code: 'VIDEO_TOO_LARGE' });
    await expect(clf.score([long], LABELS, { timeoutMs: 50 })).rejects.toMatchObject({ code: 'VIDEO_TIMEOUT' });
    await expect(clf.embedVideos([file], { maxFrames: 10 })).rejects.toMatchObject({ code: 'VIDEO_TOO_LARGE' });
    expect(await clf.classify(file, LABELS, { maxPixels: 320 * 240 })).toHaveLength(3);
  });

  it('applyRotation turns a rotated clip upright and leaves an unrotated one as it was', async () => {
    const rotated = video('rotated90_h264_320x180.mp4');
    const [asStored] = await clf.score([rotated], LABELS);
    const [upright] = await clf.score([rotated], LABELS, { applyRotation: true });
    expect(Array.from(upright)).not.toEqual(Array.from(asStored));
    const plain = video('h264_320x240_30fps.mp4');
    expect(Array.from((await clf.score([plain], LABELS, { applyRotation: true }))[0])).toEqual(Array.from((await clf.score([plain], LABELS))[0]));
  });

  it("sampling reaches the decoder; numFrames may only be the model's", async () => {
    const file = video('h264_320x240_30fps.mp4');
    const before = clf.stats.videos;
    const [segmentMiddle] = await clf.score([file], LABELS);
    // X-CLIP's test-time indices of this 60-frame clip (fixtures/videos), given explicitly: the same frames.
    const [explicit] = await clf.score([file], LABELS, { numFrames: 8, sampling: { indices: [3, 11, 18, 26, 33, 41, 48, 56] } });
    expect(Array.from(explicit)).toEqual(Array.from(segmentMiddle));
    const [uniform] = await clf.score([file], LABELS, { sampling: 'uniform' });
    expect(Array.from(uniform)).not.toEqual(Array.from(segmentMiddle));
    await expect(clf.classify(file, LABELS, { numFrames: 16 })).rejects.toThrow(new RangeError("Expected 8 (the model's num_frames) for numFrames but received 16"));
    await expect(clf.classify(file, LABELS, { sampling: { indices: [1, 2] } })).rejects.toThrow(
      new RangeError("Expected 8 frame indices (the model's num_frames) for sampling.indices but received [1, 2]"),
    );
    await expect(clf.classify(file, LABELS, { sampling: 'random' as never })).rejects.toThrow(TypeError);
    await expect(clf.classify(file, LABELS, { timeoutMs: -1 })).rejects.toThrow(RangeError);
    await expect(clf.classify(file, LABELS, { maxPixel: 10 } as never)).rejects.toThrow(/options key/);
    expect(clf.stats.videos - before).toBe(3);
  });
});
