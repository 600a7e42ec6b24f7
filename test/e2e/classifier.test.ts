// The whole pipeline as a user runs it: file -> readVideo -> XCLIPProcessor -> XCLIPModel, against
// fixtures/e2e (transformers + PyAV on the same files).
import * as fs from 'fs';
import * as path from 'path';
import { pathToFileURL } from 'url';

import { XCLIPModel } from '../../lib/models';
import { ZeroShotVideoClassifier } from '../../lib/pipelines';
import { XCLIPProcessor } from '../../lib/processor';
import { readVideo } from '../../lib/video';
import { expectClose, fixturesDir } from '../helpers/fixtures';
import { readSafetensors } from '../helpers/safetensors';
import { onTestDevice } from '../helpers/device';

const e2e = path.join(fixturesDir(), 'e2e');
const modelDir = path.join(e2e, 'xclip-e2e-a');
interface Case {
  file: string;
  labels: string[];
  sampled_indices: number[];
  input_ids: number[][];
  attention_mask: number[][];
  logits_per_video: number[];
  probs: number[];
  predicted_label: string;
  top2_logit_margin: number;
}
const spec = JSON.parse(fs.readFileSync(path.join(e2e, 'cases.json'), 'utf8')) as {
  cases: Record<string, Case>;
  batch: { videos: string[]; labels_key: string };
  labels: Record<string, string[]>;
};
const expected = readSafetensors(path.join(e2e, 'cases.safetensors'));
// "Exact pipeline" tolerances of fixtures/README.md (e2e).
const LOGITS = 1e-4;
const PROBS = 1e-5;
const EMBEDS = 1e-4;

describe('end to end on fixtures/e2e', () => {
  let model: XCLIPModel;
  let processor: XCLIPProcessor;
  beforeAll(async () => {
    model = await XCLIPModel.fromPretrained(modelDir, onTestDevice());
    processor = await XCLIPProcessor.fromPretrained(modelDir);
  });
  afterAll(() => model.dispose());

  for (const [id, c] of Object.entries(spec.cases)) {
    it(`${id}: indices and ids exact, logits/probs/embeddings within the exact-pipeline tolerance`, async () => {
      const video = await readVideo(path.join(fixturesDir(), c.file), { numFrames: processor.numFrames });
      expect(video.indices).toEqual(c.sampled_indices);
      const inputs = await processor.encode({ text: c.labels, videos: [video.frames], padding: true });
      expect(inputs.inputIds!.toArray()).toEqual(c.input_ids);
      expect(inputs.attentionMask!.toArray()).toEqual(c.attention_mask);
      const out = await model.forward({ inputIds: inputs.inputIds!, attentionMask: inputs.attentionMask, pixelValues: inputs.pixelValues! });
      expectClose(out.logitsPerVideo, expected.get(`${id}/logits_per_video`)!, LOGITS, `${id} logits`);
      expectClose(out.videoEmbeds, expected.get(`${id}/video_embeds`)!, EMBEDS, `${id} video_embeds`);
      expectClose(out.textEmbeds, expected.get(`${id}/text_embeds`)!, EMBEDS, `${id} text_embeds`);
    });
  }

  it('one batched forward of two videos equals the recorded batch run', async () => {
    const labels = spec.labels[spec.batch.labels_key];
    const inputs = await processor.encode({ text: labels, videos: spec.batch.videos.map((v) => path.join(fixturesDir(), 'videos', path.basename(v))) });
    const out = await model.forward({ inputIds: inputs.inputIds!, attentionMask: inputs.attentionMask, pixelValues: inputs.pixelValues! });
    expectClose(out.logitsPerVideo, expected.get('batch/logits_per_video')!, LOGITS, 'batch logits');
  });

  it('decodeThreads reaches the decoder and changes no pixel', async () => {
    const videos = spec.batch.videos.map((v) => path.join(fixturesDir(), 'videos', path.basename(v)));
    const auto = (await processor.encode({ videos })).pixelValues!;
    const one = (await processor.encode({ videos, decodeThreads: 1 })).pixelValues!;
    expect(one.dims).toEqual(auto.dims);
    expect(Buffer.compare(Buffer.from(one.data.buffer, one.data.byteOffset, one.data.byteLength), Buffer.from(auto.data.buffer, auto.data.byteOffset, auto.data.byteLength))).toBe(0);
    await expect(processor.encode({ videos, decodeThreads: 65 })).rejects.toThrow(new RangeError('Expected integer between 0 and 64 for decodeThreads but received 65'));
  });
});

// Issue 7's accuracy bar for bfloat16 on CPU: logits within 0.05 of HF's float32, embeddings at cosine >= 0.9999.
const BF16_LOGITS = 0.05;
const BF16_COSINE = 0.9999;

function cosines(a: Float32Array, b: Float32Array, dim: number): number[] {
  const out: number[] = [];
  for (let r = 0; r < a.length / dim; ++r) {
    let ab = 0, aa = 0, bb = 0;
    for (let i = r * dim; i < (r + 1) * dim; ++i) {
      ab += a[i] * b[i];
      aa += a[i] * a[i];
      bb += b[i] * b[i];
    }
    out.push(ab / Math.sqrt(aa * bb));
  }
  return out;
}

describe('bfloat16 on fixtures/e2e', () => {
  let model: XCLIPModel;
  let processor: XCLIPProcessor;
  beforeAll(async () => {
    model = await XCLIPModel.fromPretrained(modelDir, onTestDevice({ dtype: 'bfloat16' as const }));
    processor = await XCLIPProcessor.fromPretrained(modelDir);
  });
  afterAll(() => model.dispose());

  for (const [id, c] of Object.entries(spec.cases)) {
    it(`${id}: logits within ${BF16_LOGITS} of float32 HF, embeddings cosine >= ${BF16_COSINE}`, async () => {
      const inputs = await processor.encode({ text: c.labels, videos: [path.join(fixturesDir(), c.file)], padding: true });
      const out = await model.forward({ inputIds: inputs.inputIds!, attentionMask: inputs.attentionMask, pixelValues: inputs.pixelValues! });
      expect(out.logitsPerVideo.type).toBe('bfloat16');
      expectClose(out.logitsPerVideo, expected.get(`${id}/logits_per_video`)!, BF16_LOGITS, `${id} bf16 logits`);
      const video = expected.get(`${id}/video_embeds`)!;
      const text = expected.get(`${id}/text_embeds`)!;
      const dim = video.dims[video.dims.length - 1];
      for (const [got, want] of [
        [out.videoEmbeds, video],
        [out.textEmbeds, text],
      ] as const) {
        for (const cos of cosines(got.toFloat32Array(), want.data as Float32Array, dim)) expect(cos).toBeGreaterThanOrEqual(BF16_COSINE);
      }
    });
  }
});

describe('ZeroShotVideoClassifier', () => {
  let clf: ZeroShotVideoClassifier;
  beforeAll(async () => {
    clf = await ZeroShotVideoClassifier.fromPretrained(modelDir, onTestDevice());
  });
  afterAll(() => clf.dispose());

  it('gives HF probabilities sorted best first, and the predicted label where the margin is clear', async () => {
    for (const [id, c] of Object.entries(spec.cases)) {
      const scores = await clf.classify(path.join(fixturesDir(), c.file), c.labels);
      expect(scores.map((s) => s.score)).toEqual([...scores.map((s) => s.score)].sort((a, b) => b - a));
      for (const s of scores) {
        expect(Math.abs(s.score - c.probs[c.labels.indexOf(s.label)])).toBeLessThanOrEqual(PROBS);
      }
      if (c.top2_logit_margin > 0.05) expect(scores[0].label).toBe(c.predicted_label);
      expect(id).toBeTruthy();
    }
  });

  it('classifies several videos in one call, with topK and a hypothesis template', async () => {
    const files = spec.batch.videos.map((v) => path.join(fixturesDir(), 'videos', path.basename(v)));
    const labels = spec.labels[spec.batch.labels_key];
    const lists = await clf.classify(files, labels, { topK: 2 });
    expect(lists).toHaveLength(2);
    lists.forEach((l) => expect(l).toHaveLength(2));
    const templated = await clf.classify(files[0], labels, { hypothesisTemplate: 'a video of {}' });
    expect(templated.map((s) => s.label).sort()).toEqual([...labels].sort());
  });

  it('encodes a label set once and reuses its text features', async () => {
    const file = path.join(fixturesDir(), 'videos', 'short_5frames.mp4');
    const spy = jest.spyOn(clf.model, 'getTextFeatures');
    try {
      const first = await clf.classify(file, ['reused label a', 'reused label b']);
      const second = await clf.classify(file, ['reused label a', 'reused label b']);
      expect(spy).toHaveBeenCalledTimes(1);
      expect(second).toEqual(first);
      await clf.classify(file, ['another set']);
      expect(spy).toHaveBeenCalledTimes(2);
    } finally {
      spy.mockRestore();
    }
  });

  it('forwardWithTextFeatures scores like forward', async () => {
    const c = spec.cases['vp9_176x144_25fps.webm/labels5'];
    const inputs = await clf.processor.encode({ text: c.labels, videos: [path.join(fixturesDir(), c.file)] });
    const full = await clf.model.forward({ inputIds: inputs.inputIds!, attentionMask: inputs.attentionMask, pixelValues: inputs.pixelValues! });
    const textFeatures = await clf.model.getTextFeatures({ inputIds: inputs.inputIds!, attentionMask: inputs.attentionMask });
    const cached = await clf.model.forwardWithTextFeatures({ textFeatures, pixelValues: inputs.pixelValues! });
    expectClose(cached.logitsPerVideo, expected.get('vp9_176x144_25fps.webm/labels5/logits_per_video')!, LOGITS, 'cached logits');
    const a = cached.logitsPerVideo.toFloat32Array();
    full.logitsPerVideo.toFloat32Array().forEach((v, i) => expect(Math.abs(v - a[i])).toBeLessThan(1e-6));
    await expect(clf.model.forwardWithTextFeatures({ textFeatures: inputs.inputIds! as never, pixelValues: inputs.pixelValues! })).rejects.toThrow(TypeError);
  });

  it('embeds videos and texts as Float32Arrays', async () => {
    const [v] = await clf.embedVideos([path.join(fixturesDir(), 'videos', 'h264_320x240_30fps.mp4')]);
    const t = await clf.embedTexts(['playing sports', 'go shopping']);
    expect(v).toBeInstanceOf(Float32Array);
    expect(v.length).toBe(clf.model.config.projectionDim);
    expect(t).toHaveLength(2);
    expect(t[0].length).toBe(clf.model.config.projectionDim);
  });

  it('checks arguments', async () => {
    const file = path.join(fixturesDir(), 'videos', 'h264_320x240_30fps.mp4');
    await expect(clf.classify(file, [])).rejects.toThrow(TypeError);
    await expect(clf.classify(file, ['a', 'b'], { topK: 3 })).rejects.toThrow(new RangeError('Expected integer between 1 and 2 for topK but received 3'));
    await expect(clf.classify(file, ['a'], { hypothesisTemplate: 'no slot' })).rejects.toThrow(TypeError);
  });

  it('refuses misspelled options of fromPretrained and the constructor instead of ignoring them', async () => {
    await expect(ZeroShotVideoClassifier.fromPretrained(modelDir, { devcie: 'cuda' } as never)).rejects.toThrow(
      /^Expected one of device, dtype, revision, .*maxBatch.* for options key but received "devcie" of type string$/,
    );
    await expect(ZeroShotVideoClassifier.fromPretrained(modelDir, { maxbatch: 4 } as never)).rejects.toThrow(TypeError);
    await expect(ZeroShotVideoClassifier.fromPretrained(modelDir, { device: 'gpu' as never })).rejects.toThrow(RangeError);
    expect(() => new ZeroShotVideoClassifier(clf.model, clf.processor, modelDir, { maxbatch: 4 } as never)).toThrow(
      new TypeError('Expected one of maxBatch, maxWaitMs, maxLatencyMs, decodeConcurrency, decodeThreads for options key but received "maxbatch" of type string'),
    );
  });

  it('takes file: URLs like paths', async () => {
    const file = path.join(fixturesDir(), 'videos', 'short_5frames.mp4');
    expect(await clf.classify(pathToFileURL(file), ['a', 'b'])).toEqual(await clf.classify(file, ['a', 'b']));
    const [fromUrl] = await clf.score([pathToFileURL(file)], ['a dog']);
    expect(Array.from(fromUrl)).toEqual(Array.from((await clf.score([file], ['a dog']))[0]));
  });

  it('a corrupt video rejects with a code and the classifier keeps working', async () => {
    await expect(clf.classify(path.join(fixturesDir(), 'videos', 'broken_random_bytes.mp4'), ['a', 'b'])).rejects.toMatchObject({ code: 'VIDEO_OPEN_FAILED' });
    const ok = await clf.classify(path.join(fixturesDir(), 'videos', 'short_5frames.mp4'), ['a', 'b']);
    expect(ok).toHaveLength(2);
  });
});
