// Recall of the two stages against exhaustive exact scoring, small and fast (the bench measures 20,000 entries at
// base size): synthetic features (bench/searchSynthetic.ts) scored by the fixture model's real prompt generator.
// The exhaustive reference scores every entry with scoreVideoFeatures; the index scores only stage 1's K' nearest.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

import { Tensor } from '../../lib/tensor';
import { VideoIndex } from '../../lib/search/videoIndex';
import { makeSpace, queryFeatures, syntheticRows } from '../../bench/searchSynthetic';
import { fixturesDir } from '../helpers/fixtures';

const MODEL = path.join(fixturesDir(), 'e2e', 'xclip-e2e-a');
const N = 1500;
const QUERIES = 10;

describe('two-stage recall vs exhaustive exact scoring', () => {
  let dir: string;
  let index: VideoIndex;

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'xclip-recall-'));
    index = await VideoIndex.open(dir, { model: MODEL, featureDtype: 'float32' });
  });
  afterAll(async () => {
    await index?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('recall@10 grows with K\' and is 1 when K\' covers the index', async () => {
    const { numPatches, projectionDim: dim } = index.meta;
    const space = makeSpace(dim, numPatches, 64, 7);
    const rows = syntheticRows(space, 0, N, 'float32');
    await index.addEntries(rows);
    expect(index.size).toBe(N);
    const model = index.classifier.model;
    const queries = Array.from({ length: QUERIES }, (_, q) => queryFeatures(space, q));
    // Exhaustive: every entry against every query in one call.
    const tokens = new Float32Array(N * numPatches * dim);
    const vectors = new Float32Array(N * dim);
    rows.forEach((r, i) => {
      tokens.set(new Float32Array(r.features.buffer, r.features.byteOffset, numPatches * dim), i * numPatches * dim);
      vectors.set(r.vector, i * dim);
    });
    const text = new Float32Array(QUERIES * dim);
    queries.forEach((q, i) => text.set(q, i * dim));
    const all = (
      await model.scoreVideoFeatures({
        videoEmbeds: new Tensor('float32', vectors, [N, dim]),
        promptFeatures: new Tensor('float32', tokens, [N, numPatches, dim]),
        textFeatures: new Tensor('float32', text, [QUERIES, dim]),
      })
    ).toFloat32Array();
    const recall: Record<number, number> = {};
    for (const kPrime of [10, 50, 200, N]) {
      let found = 0;
      for (const [q, query] of queries.entries()) {
        const exact = Array.from({ length: N }, (_, i) => i)
          .sort((a, b) => all[b * QUERIES + q] - all[a * QUERIES + q])
          .slice(0, 10)
          .map((i) => rows[i].id);
        const hits = await index.search(query, { k: 10, candidates: kPrime });
        found += hits.filter((h) => exact.includes(h.id)).length;
        // Whatever K', the logits are the exhaustive ones.
        for (const h of hits) expect(Math.abs(h.logit - all[rows.findIndex((r) => r.id === h.id) * QUERIES + q])).toBeLessThan(1e-4);
      }
      recall[kPrime] = found / (10 * QUERIES);
    }
    console.log(`recall@10 over ${N} synthetic entries, ${QUERIES} queries: ${JSON.stringify(recall)}`);
    expect(recall[N]).toBe(1);
    expect(recall[200]).toBeGreaterThanOrEqual(recall[50]);
    expect(recall[50]).toBeGreaterThanOrEqual(recall[10]);
  });
});
