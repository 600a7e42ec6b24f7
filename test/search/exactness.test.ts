// Search scores are X-CLIP's own: every logit a search returns equals what XCLIPModel.forward gives that (video,
// text) pair, for every number of candidates, on the fixture model and the fixture videos read by path. Stage 1
// only chooses which entries get scored; stage 2 computes forward()'s number for each.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

import { VideoIndex } from '../../lib/search/videoIndex';
import { fixturesDir } from '../helpers/fixtures';
import { readSafetensors } from '../helpers/safetensors';

const MODEL = path.join(fixturesDir(), 'e2e', 'xclip-e2e-a');
const NAMES = ['h264_320x240_30fps.mp4', 'vp9_176x144_25fps.webm', 'mjpeg_144x256_portrait.mov', 'vfr_h264_192x108.mp4', 'short_5frames.mp4'];
const VIDEOS = NAMES.map((n) => path.join(fixturesDir(), 'videos', n));
const cases = JSON.parse(fs.readFileSync(path.join(fixturesDir(), 'e2e', 'cases.json'), 'utf8')).cases as Record<string, { labels: string[] }>;
const LABELS = [...cases[`${NAMES[0]}/labels3`].labels, ...cases[`${NAMES[0]}/labels5`].labels];

describe.each(['float32', 'float16'] as const)('search logits with %s features', (featureDtype) => {
  let dir: string;
  let index: VideoIndex;
  /** forward()'s logits_per_video [video][label], one forward per video over all labels. */
  const reference = new Map<string, number[]>();

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'xclip-search-'));
    index = await VideoIndex.open(dir, { model: MODEL, featureDtype });
    const added = await index.add(VIDEOS);
    expect(added.map((r) => r.entries)).toEqual(VIDEOS.map(() => 1));
    const { model, processor } = index.classifier;
    for (const v of VIDEOS) {
      const inputs = await processor.encode({ text: LABELS, videos: [v] });
      const out = await model.forward({ inputIds: inputs.inputIds!, attentionMask: inputs.attentionMask, pixelValues: inputs.pixelValues! });
      reference.set(v, Array.from(out.logitsPerVideo.toFloat32Array()));
    }
  });

  afterAll(async () => {
    await index?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('forward() on these videos is transformers\' forward (the golden logits of the e2e cases)', () => {
    const golden = readSafetensors(path.join(fixturesDir(), 'e2e', 'cases.safetensors'));
    for (const [i, v] of VIDEOS.entries()) {
      const hf = golden.get(`${NAMES[i]}/labels3/logits_per_video`)!.data as Float32Array;
      hf.forEach((l, k) => expect(Math.abs(reference.get(v)![k] - l)).toBeLessThan(1e-4));
    }
  });

  it('every returned logit is forward()\'s for that pair, whatever the number of candidates', async () => {
    let worst = 0;
    // float16 storage rounds the prompt features (relative 2^-11): 7e-5 here; the core's tests show up to
    // ~5e-4 x logit scale on the ill-conditioned tiny fixture models.
    const tol = 1e-4;
    for (const [k, label] of LABELS.entries()) {
      for (const candidates of [1, 2, 3, 5, 50]) {
        const hits = await index.search(label, { k: Math.min(candidates, 5), candidates });
        expect(hits).toHaveLength(Math.min(candidates, 5));
        for (const h of hits) {
          const expected = reference.get(h.source)![k];
          worst = Math.max(worst, Math.abs(h.logit - expected));
          expect(Math.abs(h.logit - expected)).toBeLessThan(tol);
          expect(h.score).toBeCloseTo(h.logit / index.classifier.model.logitScale, 6);
          expect(h).toMatchObject({ id: `${h.source}#0`, start: 0 });
          expect(h.end).toBeGreaterThan(0);
        }
        // Best first.
        for (let i = 1; i < hits.length; i++) expect(hits[i - 1].logit).toBeGreaterThanOrEqual(hits[i].logit);
      }
      // Exhaustive (candidates >= size): forward()'s ranking of the five videos.
      const all = await index.search(label, { k: 5, candidates: 5 });
      const order = [...VIDEOS].sort((a, b) => reference.get(b)![k] - reference.get(a)![k]);
      // A near tie may swap under float16 rounding; compare the ranking only where the margin exceeds it.
      all.forEach((h, i) => {
        if (h.source !== order[i]) expect(Math.abs(reference.get(h.source)![k] - reference.get(order[i])![k])).toBeLessThan(tol);
      });
    }
    console.log(`${featureDtype} features: largest |search logit - forward() logit| = ${worst.toExponential(2)} over ${LABELS.length} texts`);
  });
});
