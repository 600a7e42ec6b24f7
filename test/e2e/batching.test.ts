// Micro-batching in ZeroShotVideoClassifier on the e2e fixture model: concurrent calls share model calls and
// each caller still gets exactly its own scores; failures stay with the caller they belong to.
import * as path from 'path';

import { XClipError } from '../../lib/errors';
import { type LabelScore, ZeroShotVideoClassifier } from '../../lib/pipelines';
import type { VideoInput } from '../../lib/processor';
import { readVideo } from '../../lib/video';
import { getNumThreads } from '../../lib/runtime';
import { DECODABLE_VIDEOS, fixturesDir } from '../helpers/fixtures';
import { onTestDevice } from '../helpers/device';

const modelDir = path.join(fixturesDir(), 'e2e', 'xclip-e2e-a');
const video = (f: string): string => path.join(fixturesDir(), 'videos', f);
const GOOD = DECODABLE_VIDEOS.map(video);
const LABELS = ['playing sports', 'eating spaghetti', 'go shopping'];
const SCORES = 1e-5;

/** Scores of each label, in label order, so results can be compared whatever their sort order. */
function byLabel(scores: LabelScore[], labels: readonly string[]): number[] {
  return labels.map((l) => scores.find((s) => s.label === l)!.score);
}

function expectSameScores(actual: LabelScore[], expected: LabelScore[], labels: readonly string[]): void {
  const a = byLabel(actual, labels);
  byLabel(expected, labels).forEach((e, i) => expect(Math.abs(a[i] - e)).toBeLessThanOrEqual(SCORES));
  expect(actual.map((s) => s.label)).toEqual(expected.map((s) => s.label));
}

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'resolved';
  } catch (e) {
    return e instanceof XClipError ? e.code : (e as Error).name;
  }
}

describe('ZeroShotVideoClassifier micro-batching', () => {
  // Sequential reference: one video per model call.
  let reference: ZeroShotVideoClassifier;
  const expected = new Map<string, LabelScore[]>();
  const referenceScores = async (file: string, labels: readonly string[]): Promise<LabelScore[]> => {
    const key = `${file}|${labels.join(',')}`;
    if (!expected.has(key)) expected.set(key, await reference.classify(file, labels));
    return expected.get(key)!;
  };

  beforeAll(async () => {
    reference = await ZeroShotVideoClassifier.fromPretrained(modelDir, onTestDevice({ maxBatch: 1 }));
  });
  afterAll(() => reference.dispose());

  it('32 concurrent single-video calls share model calls and equal sequential calls', async () => {
    // A long wait makes the batching deterministic enough to assert on: the first batch fills up.
    const clf = await ZeroShotVideoClassifier.fromPretrained(modelDir, onTestDevice({ maxWaitMs: 200 }));
    try {
      const files = Array.from({ length: 32 }, (_, i) => GOOD[i % GOOD.length]);
      const results = await Promise.all(files.map((f) => clf.classify(f, LABELS)));
      for (const [i, f] of files.entries()) expectSameScores(results[i], await referenceScores(f, LABELS), LABELS);
      const stats = clf.stats;
      expect(stats.videos).toBe(32);
      expect(stats.batches).toBeLessThan(32);
      expect(stats.maxBatchSeen).toBeGreaterThan(1);
      expect(stats.maxBatchSeen).toBeLessThanOrEqual(8);
      expect(reference.stats.maxBatchSeen).toBe(1);
    } finally {
      await clf.dispose();
    }
  });

  it('concurrent calls on different label sets each get their own labels scored', async () => {
    const sets = [LABELS, ['cooking', 'dancing'], ['a dog', 'a cat', 'a bird', 'a horse'], LABELS.slice().reverse()];
    const clf = await ZeroShotVideoClassifier.fromPretrained(modelDir, onTestDevice({ maxBatch: 4, maxWaitMs: 50 }));
    try {
      const calls = Array.from({ length: 16 }, (_, i) => ({ file: GOOD[i % GOOD.length], labels: sets[i % sets.length] }));
      const results = await Promise.all(calls.map((c) => clf.classify(c.file, c.labels)));
      for (const [i, c] of calls.entries()) {
        expect(results[i].map((s) => s.label).sort()).toEqual([...c.labels].sort());
        expectSameScores(results[i], await referenceScores(c.file, c.labels), c.labels);
      }
      expect(clf.stats.batches).toBeLessThan(16);
    } finally {
      await clf.dispose();
    }
  });

  it('a multi-video call goes in chunks of maxBatch, with decoding bounded and overlapping inference', async () => {
    const clf = await ZeroShotVideoClassifier.fromPretrained(modelDir, onTestDevice({ maxBatch: 4, decodeConcurrency: 3 }));
    const encode = clf.processor.encode.bind(clf.processor);
    const forward = clf.model.forwardWithTextFeatures.bind(clf.model);
    let decoding = 0;
    let maxDecoding = 0;
    let inferring = false;
    let startedDuringInference = 0;
    jest.spyOn(clf.processor, 'encode').mockImplementation(async (o) => {
      decoding++;
      maxDecoding = Math.max(maxDecoding, decoding);
      if (inferring) startedDuringInference++;
      try {
        return await encode(o);
      } finally {
        decoding--;
      }
    });
    jest.spyOn(clf.model, 'forwardWithTextFeatures').mockImplementation(async (inputs) => {
      inferring = true;
      try {
        return await forward(inputs);
      } finally {
        inferring = false;
      }
    });
    try {
      const files = Array.from({ length: 20 }, (_, i) => GOOD[i % GOOD.length]);
      const lists = await clf.classify(files, LABELS);
      expect(lists).toHaveLength(20);
      for (const [i, f] of files.entries()) expectSameScores(lists[i], await referenceScores(f, LABELS), LABELS);
      expect(clf.stats).toMatchObject({ videos: 20 });
      expect(clf.stats.maxBatchSeen).toBeLessThanOrEqual(4);
      expect(clf.stats.batches).toBeGreaterThanOrEqual(5);
      // decodeConcurrency videos decode at once, and the next ones decode while a batch runs.
      expect(maxDecoding).toBe(3);
      expect(startedDuringInference).toBeGreaterThan(0);
    } finally {
      jest.restoreAllMocks();
      await clf.dispose();
    }
  });

  it('embedVideos batches too, and equals one video at a time', async () => {
    const clf = await ZeroShotVideoClassifier.fromPretrained(modelDir, onTestDevice({ maxBatch: 3 }));
    try {
      const files = GOOD.slice(0, 7);
      const all = await clf.embedVideos(files);
      expect(clf.stats).toMatchObject({ videos: 7 });
      expect(clf.stats.maxBatchSeen).toBeLessThanOrEqual(3);
      for (const [i, f] of files.entries()) {
        const [one] = await reference.embedVideos([f]);
        one.forEach((v, j) => expect(Math.abs(all[i][j] - v)).toBeLessThanOrEqual(1e-4));
      }
    } finally {
      await clf.dispose();
    }
  });

  it('bad videos reject their own callers with their own codes; good ones in flight resolve', async () => {
    const clf = await ZeroShotVideoClassifier.fromPretrained(modelDir, onTestDevice({ maxWaitMs: 50 }));
    try {
      const wrongFrameCount = (await readVideo(GOOD[0], { numFrames: 4 })).frames;
      const inputs: { input: VideoInput; want: string }[] = [
        { input: GOOD[0], want: 'resolved' },
        { input: video('broken_random_bytes.mp4'), want: 'VIDEO_OPEN_FAILED' },
        { input: GOOD[1], want: 'resolved' },
        { input: video('audio_only.mp4'), want: 'VIDEO_NO_STREAM' },
        { input: GOOD[2], want: 'resolved' },
        { input: video('no-such-file.mp4'), want: 'FILE_NOT_FOUND' },
        { input: GOOD[3], want: 'resolved' },
        { input: video('broken_empty.mp4'), want: 'VIDEO_OPEN_FAILED' },
        // Decodes fine but cannot share a batch with 8-frame videos: it fails alone, in the model's argument check.
        { input: wrongFrameCount, want: 'RangeError' },
        { input: GOOD[4], want: 'resolved' },
      ];
      const calls = inputs.map(({ input }) => clf.classify(input, LABELS));
      expect(await Promise.all(calls.map(codeOf))).toEqual(inputs.map((c) => c.want));
      for (const [i, { input, want }] of inputs.entries()) {
        if (want === 'resolved') expectSameScores(await calls[i], await referenceScores(input as string, LABELS), LABELS);
      }
    } finally {
      await clf.dispose();
    }
  });

  it('a bad video fails its multi-video call and withdraws the rest of it; other calls are unaffected', async () => {
    const clf = await ZeroShotVideoClassifier.fromPretrained(modelDir, onTestDevice({ maxBatch: 2 }));
    try {
      const files = [...GOOD.slice(0, 3), video('broken_random_bytes.mp4'), ...GOOD, ...GOOD];
      const [multi, other] = await Promise.allSettled([clf.classify(files, LABELS), clf.classify(GOOD[5], LABELS)]);
      expect(multi.status).toBe('rejected');
      expect((multi as PromiseRejectedResult).reason).toMatchObject({ code: 'VIDEO_OPEN_FAILED' });
      expect(other.status).toBe('fulfilled');
      expectSameScores((other as PromiseFulfilledResult<LabelScore[]>).value, await referenceScores(GOOD[5], LABELS), LABELS);
      expect(clf.stats.videos).toBeLessThan(files.length);
    } finally {
      await clf.dispose();
    }
  });

  it('an engine error rejects every caller of that batch with its XClipError, and the next batch runs', async () => {
    const clf = await ZeroShotVideoClassifier.fromPretrained(modelDir, onTestDevice({ maxBatch: 4, maxWaitMs: 1000 }));
    try {
      jest.spyOn(clf.model, 'forwardWithTextFeatures').mockRejectedValueOnce(new XClipError('INTERNAL', 'simulated engine failure'));
      const failed = await Promise.allSettled(GOOD.slice(0, 4).map((f) => clf.classify(f, LABELS)));
      expect(failed.map((r) => r.status)).toEqual(['rejected', 'rejected', 'rejected', 'rejected']);
      const errors = failed.map((r) => (r as PromiseRejectedResult).reason as XClipError);
      for (const e of errors) {
        expect(e).toBeInstanceOf(XClipError);
        expect(e).toMatchObject({ code: 'INTERNAL', message: 'simulated engine failure' });
        // Each caller's error points at its own call, not at the batch runner.
        expect(e.stack).toMatch(/batching\.test\.ts/);
      }
      expect(new Set(errors).size).toBe(4);
      expect(clf.stats).toMatchObject({ batches: 1, videos: 4 });
      expectSameScores(await clf.classify(GOOD[0], LABELS), await referenceScores(GOOD[0], LABELS), LABELS);
    } finally {
      jest.restoreAllMocks();
      await clf.dispose();
    }
  });

  it('dispose() in the middle rejects queued calls with DISPOSED and nothing else breaks', async () => {
    const clf = await ZeroShotVideoClassifier.fromPretrained(modelDir, onTestDevice({ maxBatch: 2 }));
    const files = Array.from({ length: 24 }, (_, i) => GOOD[i % GOOD.length]);
    const calls = files.map((f) => clf.classify(f, LABELS));
    const multi = clf.classify(files, LABELS);
    // Handled below, after dispose; without this its rejection could be reported as unhandled meanwhile.
    multi.catch(() => undefined);
    await Promise.race(calls);
    await Promise.all([clf.dispose(), clf.dispose()]);
    const settled = await Promise.allSettled([...calls, multi]);
    const codes = await Promise.all([...calls, multi].map(codeOf));
    expect(codes.every((c) => c === 'resolved' || c === 'DISPOSED')).toBe(true);
    expect(codes.filter((c) => c === 'resolved').length).toBeGreaterThan(0);
    expect(codes.filter((c) => c === 'DISPOSED').length).toBeGreaterThan(0);
    for (const [i, r] of settled.slice(0, files.length).entries()) {
      if (r.status === 'fulfilled') expectSameScores(r.value as LabelScore[], await referenceScores(files[i], LABELS), LABELS);
    }
    await expect(clf.classify(GOOD[0], LABELS)).rejects.toMatchObject({ code: 'DISPOSED', message: 'ZeroShotVideoClassifier has been disposed' });
    await expect(clf.embedVideos([GOOD[0]])).rejects.toMatchObject({ code: 'DISPOSED' });
    await expect(clf.embedTexts(['a'])).rejects.toMatchObject({ code: 'DISPOSED' });
  });

  it('maxBatch up to 256; with a latency budget a batch waits for the videos being decoded and runs them together', async () => {
    // 20 concurrent calls, decoded two at a time: with a generous budget and nothing measured yet, the batch waits
    // until no video is being decoded any more, so all 20 run in one model call, each scoring as it does alone.
    const files = Array.from({ length: 20 }, (_, i) => GOOD[i % 5]);
    const clf = await ZeroShotVideoClassifier.fromPretrained(modelDir, onTestDevice({ maxBatch: 256, maxLatencyMs: 600_000 }));
    try {
      expect(clf.batching).toMatchObject({ maxBatch: 256, maxLatencyMs: 600_000, maxWaitMs: 60_000 });
      const results = await Promise.all(files.map((f) => clf.classify(f, LABELS)));
      expect(clf.stats).toEqual({ batches: 1, videos: 20, maxBatchSeen: 20 });
      for (const [i, r] of results.entries()) expectSameScores(r, await referenceScores(files[i], LABELS), LABELS);
    } finally {
      await clf.dispose();
    }
    // Without a budget and with no wait, the first decoded video starts a batch at once: the same calls take
    // several model calls.
    const eager = await ZeroShotVideoClassifier.fromPretrained(modelDir, onTestDevice({ maxBatch: 256, maxWaitMs: 0 }));
    try {
      await Promise.all(files.map((f) => eager.classify(f, LABELS)));
      expect(eager.stats.batches).toBeGreaterThan(1);
    } finally {
      await eager.dispose();
    }
  });

  it('validates the batching options', async () => {
    const bad: [Record<string, unknown>, Error][] = [
      [{ maxBatch: 0 }, new RangeError('Expected integer between 1 and 256 for maxBatch but received 0')],
      [{ maxBatch: 257 }, new RangeError('Expected integer between 1 and 256 for maxBatch but received 257')],
      [{ maxBatch: 2.5 }, new TypeError('Expected integer between 1 and 256 for maxBatch but received 2.5')],
      [{ maxBatch: '8' }, new TypeError('Expected integer between 1 and 256 for maxBatch but received "8" of type string')],
      [{ maxWaitMs: -1 }, new RangeError('Expected integer between 0 and 60000 for maxWaitMs but received -1')],
      [{ maxWaitMs: 60001 }, new RangeError('Expected integer between 0 and 60000 for maxWaitMs but received 60001')],
      [{ maxWaitMs: NaN }, new TypeError('Expected integer between 0 and 60000 for maxWaitMs but received NaN')],
      [{ maxLatencyMs: 0 }, new RangeError('Expected integer between 1 and 600000 for maxLatencyMs but received 0')],
      [{ maxLatencyMs: 600001 }, new RangeError('Expected integer between 1 and 600000 for maxLatencyMs but received 600001')],
      [{ maxLatencyMs: '50' }, new TypeError('Expected integer between 1 and 600000 for maxLatencyMs but received "50" of type string')],
      [{ decodeConcurrency: 0 }, new RangeError('Expected integer between 1 and 64 for decodeConcurrency but received 0')],
      [{ decodeConcurrency: true }, new TypeError('Expected integer between 1 and 64 for decodeConcurrency but received true of type boolean')],
      [{ decodeThreads: -1 }, new RangeError('Expected integer between 0 and 64 for decodeThreads but received -1')],
      [{ decodeThreads: 65 }, new RangeError('Expected integer between 0 and 64 for decodeThreads but received 65')],
      [{ decodeThreads: 1.5 }, new TypeError('Expected integer between 0 and 64 for decodeThreads but received 1.5')],
    ];
    for (const [options, error] of bad) {
      await expect(ZeroShotVideoClassifier.fromPretrained(modelDir, options)).rejects.toThrow(error);
      expect(() => new ZeroShotVideoClassifier(reference.model, reference.processor, modelDir, options)).toThrow(error);
    }
    expect(() => new ZeroShotVideoClassifier(reference.model, reference.processor, modelDir, { maxBach: 4 } as never)).toThrow(
      new TypeError('Expected one of maxBatch, maxWaitMs, maxLatencyMs, decodeConcurrency, decodeThreads for options key but received "maxBach" of type string'),
    );
    // decodeConcurrency defaults to half of libuv's pool: 2 unless UV_THREADPOOL_SIZE says otherwise; the model's
    // threads are shared among the decoders.
    const pool = Number(process.env.UV_THREADPOOL_SIZE) || 4;
    const concurrency = Math.max(1, Math.floor(pool / 2));
    expect(reference.batching).toEqual({
      maxBatch: 1,
      maxWaitMs: 5,
      decodeConcurrency: concurrency,
      decodeThreads: Math.max(1, Math.floor(getNumThreads() / concurrency)),
    });
    expect(new ZeroShotVideoClassifier(reference.model, reference.processor, '', { decodeConcurrency: 3, decodeThreads: 0 }).batching).toEqual({
      maxBatch: 8,
      maxWaitMs: 5,
      decodeConcurrency: 3,
      decodeThreads: 0,
    });
    expect(new ZeroShotVideoClassifier(reference.model, reference.processor, '', { decodeConcurrency: 64 }).batching.decodeThreads).toBe(1);
  });
});
