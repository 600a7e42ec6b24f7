// ZeroShotVideoClassifier.score: X-CLIP's own logits_per_video for every (video, text) pair, batched and with the
// texts encoded once; what ranks videos for a query, where the plain cosine of the embeddings may not.
import * as fs from 'fs';
import * as path from 'path';

import { ZeroShotVideoClassifier } from '../../lib/pipelines';
import { expectClose, fixturesDir } from '../helpers/fixtures';
import { readSafetensors } from '../helpers/safetensors';
import { onTestDevice } from '../helpers/device';

const e2e = path.join(fixturesDir(), 'e2e');
const modelDir = path.join(e2e, 'xclip-e2e-a');
const video = (f: string): string => path.join(fixturesDir(), 'videos', f);
const spec = JSON.parse(fs.readFileSync(path.join(e2e, 'cases.json'), 'utf8')) as {
  cases: Record<string, { file: string; labels: string[] }>;
};
const expected = readSafetensors(path.join(e2e, 'cases.safetensors'));
const FILES = ['h264_320x240_30fps.mp4', 'vp9_176x144_25fps.webm', 'mjpeg_144x256_portrait.mov', 'vfr_h264_192x108.mp4', 'short_5frames.mp4'];
// "Exact pipeline" tolerance of fixtures/README.md (e2e).
const LOGITS = 1e-4;

function cosine(a: Float32Array, b: Float32Array): number {
  let ab = 0;
  let aa = 0;
  let bb = 0;
  for (let i = 0; i < a.length; i++) {
    ab += a[i] * b[i];
    aa += a[i] * a[i];
    bb += b[i] * b[i];
  }
  return ab / Math.sqrt(aa * bb);
}

const order = (values: number[]): number[] => values.map((_, i) => i).sort((x, y) => values[y] - values[x]);

describe('ZeroShotVideoClassifier.score', () => {
  let clf: ZeroShotVideoClassifier;
  beforeAll(async () => {
    clf = await ZeroShotVideoClassifier.fromPretrained(modelDir, onTestDevice({ maxWaitMs: 200 }));
  });
  afterAll(() => clf.dispose());

  it("gives transformers' logits_per_video for every pair, in one batched call", async () => {
    const ids = Object.keys(spec.cases).filter((id) => id.endsWith('/labels3'));
    const texts = spec.cases[ids[0]].labels;
    const before = clf.stats;
    const rows = await clf.score(
      ids.map((id) => path.join(fixturesDir(), spec.cases[id].file)),
      texts,
    );
    expect(rows).toHaveLength(ids.length);
    ids.forEach((id, i) => {
      expect(rows[i]).toBeInstanceOf(Float32Array);
      expect(rows[i].length).toBe(texts.length);
      const raw = expected.get(`${id}/logits_per_video`)!;
      const got = { dims: [1, texts.length], toFloat32Array: () => rows[i] };
      expectClose(got as never, raw, LOGITS, `${id} score`);
    });
    expect(clf.stats.batches - before.batches).toBeLessThan(ids.length);
  });

  it('equals classify before the softmax, shares its batches and encodes the texts once', async () => {
    const texts = ['a dog runs', 'a cat sleeps', 'someone cooks'];
    const spy = jest.spyOn(clf.model, 'getTextFeatures');
    try {
      const files = FILES.map(video);
      const before = clf.stats;
      const [rows, lists] = await Promise.all([clf.score(files, texts), clf.classify(files, texts)]);
      // One text-tower run for both calls; ten videos in fewer model calls than calls made.
      expect(spy).toHaveBeenCalledTimes(1);
      expect(clf.stats.videos - before.videos).toBe(2 * files.length);
      expect(clf.stats.batches - before.batches).toBeLessThan(2 * files.length);
      rows.forEach((row, i) => {
        const max = Math.max(...row);
        const exp = Array.from(row, (v) => Math.exp(v - max));
        const sum = exp.reduce((a, b) => a + b, 0);
        for (const s of lists[i]) expect(Math.abs(s.score - exp[texts.indexOf(s.label)] / sum)).toBeLessThan(1e-6);
      });
      await clf.score([files[0]], texts);
      expect(spy).toHaveBeenCalledTimes(1);
    } finally {
      spy.mockRestore();
    }
  });

  it('is logits_per_video of a direct forward of the same inputs', async () => {
    const texts = ['playing sports', 'go shopping'];
    const files = [video('h264_320x240_30fps.mp4'), video('vp9_176x144_25fps.webm')];
    const rows = await clf.score(files, texts);
    const inputs = await clf.processor.encode({ text: texts, videos: files });
    const out = await clf.model.forward({ inputIds: inputs.inputIds!, attentionMask: inputs.attentionMask, pixelValues: inputs.pixelValues! });
    const direct = out.logitsPerVideo.toFloat32Array();
    rows.forEach((row, v) => row.forEach((x, t) => expect(Math.abs(x - direct[v * texts.length + t])).toBeLessThan(1e-5)));
  });

  it('ranks videos by the model score, which plain embedding cosine does not reproduce', async () => {
    // The cosine of embedTexts and embedVideos leaves out the prompt generator (text conditioned on each video).
    const files = [...FILES, 'mpeg4_160x120_24fps.avi', 'one_frame.mp4', 'rotated90_h264_320x180.mp4'].map(video);
    const queries = ['playing sports', 'eating spaghetti', 'go shopping', 'a person cooking', 'a dog', 'a test pattern'];
    const rows = await clf.score(files, queries);
    const queryEmbeds = await clf.embedTexts(queries);
    const videoEmbeds = await clf.embedVideos(files);
    const inputs = await clf.processor.encode({ text: queries, videos: files });
    const out = await clf.model.forward({ inputIds: inputs.inputIds!, attentionMask: inputs.attentionMask, pixelValues: inputs.pixelValues! });
    const logitsPerText = out.logitsPerText.toArray() as number[][];
    let differ = 0;
    queries.forEach((_, q) => {
      const byScore = rows.map((r) => r[q]);
      expect(order(byScore)).toEqual(order(logitsPerText[q]));
      if (order(videoEmbeds.map((e) => cosine(queryEmbeds[q], e))).join() !== order(byScore).join()) differ++;
    });
    // With these weights some queries rank the videos differently by cosine: the reason score exists.
    expect(differ).toBeGreaterThan(0);
  });

  it('a text over 77 tokens is refused naming it and its token count; truncation: true cuts it as transformers does', async () => {
    const long = Array.from({ length: 80 }, (_, i) => `word${i}`).join(' ');
    const n = clf.processor.tokenizer.encode(long).length;
    expect(n).toBeGreaterThan(77);
    const message = `Expected at most 77 tokens (the model's max_position_embeddings, start and end tokens included) for labels[1] but received ${n} tokens in "${long}"`;
    await expect(clf.classify(video('short_5frames.mp4'), ['short', long])).rejects.toThrow(RangeError);
    await expect(clf.classify(video('short_5frames.mp4'), ['short', long])).rejects.toThrow(message);
    // The label is named as written, before the hypothesis template.
    await expect(clf.classify(video('short_5frames.mp4'), ['short', long], { hypothesisTemplate: 'a video of {}' })).rejects.toThrow(`labels[1] but received ${n + 3} tokens in "${long}"`);
    await expect(clf.score([video('short_5frames.mp4')], [long])).rejects.toThrow(/for texts\[0\]/);
    await expect(clf.embedTexts([long])).rejects.toThrow(/for texts\[0\]/);
    const [cut] = await clf.embedTexts([long], { truncation: true });
    const direct = await clf.model.getTextFeatures(clf.processor.tokenizer.batchEncode([long], { truncation: true, maxLength: 77 }));
    expect(Array.from(cut)).toEqual(Array.from(direct.toFloat32Array()));
    expect(await clf.classify(video('short_5frames.mp4'), ['short', long], { truncation: true })).toHaveLength(2);
    await expect(clf.embedTexts([long], { truncation: 1 as never })).rejects.toThrow(new TypeError('Expected boolean for truncation but received 1'));
  });

  it('checks its arguments before any work', async () => {
    const file = video('short_5frames.mp4');
    await expect(clf.score([], ['a'])).rejects.toThrow(new TypeError('Expected a non-empty array of videos for videos but received []'));
    await expect(clf.score(file as never, ['a'])).rejects.toThrow(TypeError);
    await expect(clf.score([file], [])).rejects.toThrow(TypeError);
    await expect(clf.score([file], ['a', 3 as never])).rejects.toThrow(new TypeError('Expected string for texts[1] but received 3'));
    await expect(clf.score([file], ['a'], { topK: 1 } as never)).rejects.toThrow(/options key/);
    await expect(clf.score([file], ['a'], { numFrames: 4 })).rejects.toThrow(new RangeError("Expected 8 (the model's num_frames) for numFrames but received 4"));
  });
});
