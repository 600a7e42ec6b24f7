// The LanceDB store's search path: stage 1 names its candidates by row handles, the rerank reads their features
// and the kept ones' metadata through them, and a write committed in between (which takes rows away) makes the
// store say so and the search start again.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

import { LanceStore } from '../../lib/search/lanceStore';
import type { EntryRow } from '../../lib/search/store';
import { bestIndices } from '../../lib/search/lanceStore';
import { RowCache } from '../../lib/search/rowCache';
import { VideoIndex } from '../../lib/search/videoIndex';
import { fixturesDir } from '../helpers/fixtures';

const MODEL = path.join(fixturesDir(), 'e2e', 'xclip-e2e-a'); // projection 32, 49 patches

function unit(dim: number, seed: number): Float32Array {
  const v = Float32Array.from({ length: dim }, (_, i) => Math.sin(seed * 12.9898 + i * 78.233));
  const n = Math.hypot(...v);
  return v.map((x) => x / n);
}

/** `n` entries of `source`, each with features bytes that name it (entry i: every byte i + offset). */
function rows(source: string, n: number, dim: number, featureBytes: number, offset = 0): EntryRow[] {
  return Array.from({ length: n }, (_, i) => ({
    id: `${source}#${i}`,
    source,
    segment: i,
    start: i,
    end: i + 1,
    vector: unit(dim, i + offset * 100),
    features: new Uint8Array(featureBytes).fill((i + offset) % 256),
  }));
}

describe('LanceStore search path', () => {
  let dir: string;
  let store: LanceStore;
  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'xclip-store-'));
    store = await LanceStore.open(dir, { dim: 8, featureBytes: 16 });
    await store.replaceSources(['a'], rows('a', 50, 8, 16));
    await store.replaceSources(['b'], rows('b', 50, 8, 16, 100));
  });
  afterAll(async () => {
    await store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('reads features and metadata through the candidates handles, in the order asked', async () => {
    const query = unit(8, 7);
    const c = await store.candidates(query, 12);
    expect(c.handles).toHaveLength(12);
    expect(c.vectors).toHaveLength(12 * 8);
    c.similarities.forEach((s, i) => {
      const dot = c.vectors.subarray(i * 8, (i + 1) * 8).reduce((a, x, j) => a + x * query[j], 0);
      expect(s).toBeCloseTo(dot, 5);
    });
    // The 12 best by an exhaustive scan.
    const all = [...rows('a', 50, 8, 16), ...rows('b', 50, 8, 16, 100)];
    const exact = all.map((r) => r.vector.reduce((a, x, j) => a + x * query[j], 0)).sort((x, y) => y - x);
    expect([...c.similarities].sort((x, y) => y - x)).toEqual(exact.slice(0, 12).map((x) => expect.closeTo(x, 5)));

    // In any order asked, in one take (12) or in several at once (all 100).
    for (const handles of [[...c.handles].reverse(), [...(await store.candidates(query, 100)).handles].reverse()]) {
      const [features, meta] = await Promise.all([store.features(handles), store.describe(handles)]);
      expect(features).toHaveLength(handles.length * 16);
      expect(new Set(meta!.ids).size).toBe(handles.length);
      meta!.ids.forEach((id, i) => {
        const row = all.find((r) => r.id === id)!;
        expect(meta!.sources[i]).toBe(row.source);
        expect(meta!.starts[i]).toBe(row.start);
        expect(Array.from(features!.subarray(i * 16, (i + 1) * 16))).toEqual(Array.from(row.features));
      });
    }
  });

  it('answers undefined for handles whose rows a later write removed', async () => {
    const c = await store.candidates(unit(8, 3), 100);
    await store.replaceSources(['a'], rows('a', 50, 8, 16, 7)); // source 'a' rewritten: its old rows are gone
    expect(await store.features(c.handles)).toBeUndefined();
    expect(await store.describe(c.handles)).toBeUndefined();
    const again = await store.candidates(unit(8, 3), 100);
    expect((await store.features(again.handles))!.length).toBe(100 * 16);
  });
});

describe('LanceStore.maintain', () => {
  it('compacts many small data files into one and leaves fewer alone, keeping every row', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'xclip-compact-'));
    const store = await LanceStore.open(dir, { dim: 8, featureBytes: 16 });
    try {
      // One data file (fragment) per write; every take of a search pays per file it touches.
      for (let i = 0; i < 63; i++) await store.replaceSources([], rows(`s${i}`, 2, 8, 16, i));
      await store.maintain();
      expect((await store.stats()).fragments).toBe(63);
      await store.replaceSources([], rows('s63', 2, 8, 16, 63));
      await store.maintain();
      const after = await store.stats();
      expect(after.fragments).toBe(1);
      expect(after.rows).toBe(128);
      const c = await store.candidates(unit(8, 1), 128);
      expect(new Set((await store.describe(c.handles))!.ids).size).toBe(128);
    } finally {
      await store.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('VideoIndex.search when candidates vanish while being read', () => {
  let dir: string;
  let index: VideoIndex;
  const text = unit(32, 5);
  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'xclip-vanish-'));
    index = await VideoIndex.open(dir, { model: MODEL });
    const featureBytes = 49 * 32 * 2; // float16 tokens
    await index.addEntries(rows('v', 20, 32, featureBytes).map((r) => ({ ...r, features: new Uint8Array(featureBytes) })));
  });
  afterAll(async () => {
    jest.restoreAllMocks();
    await index.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('starts again from stage 1 and answers as an undisturbed search does', async () => {
    const expected = await index.search(text, { k: 5 });
    const spy = jest.spyOn(LanceStore.prototype, 'features').mockImplementationOnce(async () => undefined);
    const candidates = jest.spyOn(LanceStore.prototype, 'candidates');
    try {
      expect(await index.search(text, { k: 5 })).toEqual(expected);
      expect(spy).toHaveBeenCalledTimes(2);
      expect(candidates).toHaveBeenCalledTimes(2);
    } finally {
      spy.mockRestore();
      candidates.mockRestore();
    }
  });

  it('searches through the IVF-PQ index with the nprobes and refine factor given', async () => {
    const ivfDir = fs.mkdtempSync(path.join(os.tmpdir(), 'xclip-ivf-'));
    const featureBytes = 49 * 32 * 2;
    // Product quantisation trains 256 centroids: fewer rows than that stay on the exact scan whatever the threshold.
    const small = await VideoIndex.open(ivfDir, { model: MODEL, annThreshold: 1 });
    await small.addEntries(rows('w', 100, 32, featureBytes).map((r) => ({ ...r, features: new Uint8Array(featureBytes) })));
    expect((await small.info()).annIndexed).toBe(0);
    await small.close();
    const exact = await VideoIndex.open(ivfDir, { model: MODEL });
    await exact.addEntries(rows('x', 200, 32, featureBytes, 1000).map((r) => ({ ...r, features: new Uint8Array(featureBytes) })));
    expect((await exact.info()).annIndexed).toBe(0);
    const expected = await exact.search(text, { k: 5, candidates: 300 });
    await exact.close();
    const ivf = await VideoIndex.open(ivfDir, { model: MODEL, annThreshold: 1, nprobes: 100, refineFactor: 100 });
    await ivf.maintain();
    try {
      expect((await ivf.info()).annIndexed).toBe(300);
      // Every partition probed and every candidate re-scored by its vector: the exhaustive answer.
      let seen = 0;
      expect(await ivf.search(text, { k: 5, candidates: 300, onTimings: (t) => (seen = t.candidates) })).toEqual(expected);
      expect(seen).toBe(300);
      // One partition of ~17 probed: stage 1 finds only that partition's entries.
      const one = await VideoIndex.open(ivfDir, { model: MODEL, annThreshold: 1, nprobes: 1 });
      await one.search(text, { k: 5, candidates: 300, onTimings: (t) => (seen = t.candidates) });
      await one.close();
      expect(seen).toBeGreaterThan(0);
      expect(seen).toBeLessThan(300);
    } finally {
      await ivf.close();
      fs.rmSync(ivfDir, { recursive: true, force: true });
    }
  });

  it('gives up with INDEX_CORRUPT when the rows keep vanishing, and searches again afterwards', async () => {
    const spy = jest.spyOn(LanceStore.prototype, 'describe').mockImplementation(async () => undefined);
    try {
      await expect(index.search(text, { k: 5 })).rejects.toMatchObject({ code: 'INDEX_CORRUPT', message: expect.stringContaining('3 times') });
      expect(spy).toHaveBeenCalledTimes(3);
    } finally {
      spy.mockRestore();
    }
    expect(await index.search(text, { k: 5 })).toHaveLength(5);
  });
});

describe('searches from the rows held in memory (rowCache)', () => {
  const text = unit(32, 5);
  const featureBytes = 49 * 32 * 2;
  /** Entries with float16 features of moderate, distinct values, so that every rerank logit differs. */
  const entries = (source: string, n: number, offset: number): EntryRow[] =>
    rows(source, n, 32, featureBytes, offset).map((r, i) => {
      const half = Uint16Array.from({ length: featureBytes / 2 }, (_, j) => 0x3000 + (((i + offset) * 7919 + j * 104729) % 0x0b00) + (j % 3 === 0 ? 0x8000 : 0));
      return { ...r, features: new Uint8Array(half.buffer) };
    });

  it('gives what reading through LanceDB gives, before and after warm-up, through adds and removals', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'xclip-vcache-'));
    const build = await VideoIndex.open(dir, { model: MODEL, annThreshold: 1 });
    await build.addEntries(entries('x', 300, 0));
    expect((await build.info()).annIndexed).toBe(300);
    await build.close();
    const options = { model: MODEL, nprobes: 100 };
    const cached = await VideoIndex.open(dir, options);
    const plain = await VideoIndex.open(dir, { ...options, rowCache: false });
    const reads = jest.spyOn(RowCache.prototype, 'dot');
    const metas = jest.spyOn(RowCache.prototype, 'meta');
    try {
      expect((await cached.info()).memoryBytes).toBe(0);
      const expected = await plain.search(text, { k: 5, candidates: 40 });
      // Not loaded yet: LanceDB's refine answers while the load starts.
      expect(await cached.search(text, { k: 5, candidates: 40 })).toEqual(expected);
      expect(reads).not.toHaveBeenCalled();
      await cached.warmUp();
      expect((await cached.info()).memoryBytes).toBeGreaterThanOrEqual(300 * 32 * 4);
      expect(await cached.search(text, { k: 5, candidates: 40 })).toEqual(expected);
      expect(reads).toHaveBeenCalledTimes(1);
      expect(reads.mock.calls[0][0]).toHaveLength(4 * 40); // refine factor 4: every PQ candidate re-scored from memory
      expect(metas.mock.results.at(-1)?.value).toMatchObject({ ids: expected.map((r) => r.id) }); // results named from memory
      await plain.warmUp();
      expect((await plain.info()).memoryBytes).toBe(0);

      // Rows added since (a new data file, scanned exactly until indexed) and rows removed.
      await cached.addEntries(entries('y', 30, 500), { maintain: false });
      expect(await cached.remove(expected.slice(0, 2).map((r) => r.id))).toBe(2);
      const fresh = await VideoIndex.open(dir, { ...options, rowCache: false });
      const after = await fresh.search(text, { k: 5, candidates: 40 });
      await fresh.close();
      expect(after.map((r) => r.id)).not.toContain(expected[0].id);
      expect(after).not.toEqual(expected);
      reads.mockClear();
      expect(await cached.search(text, { k: 5, candidates: 40 })).toEqual(after); // the new file's rows: not held yet
      await cached.warmUp();
      expect(await cached.search(text, { k: 5, candidates: 40 })).toEqual(after);
      expect(reads).toHaveBeenCalled();
    } finally {
      reads.mockRestore();
      metas.mockRestore();
      await cached.close();
      await plain.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('scans a table without an index from memory, and follows commits made through another connection', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'xclip-vcache-'));
    const options = { model: MODEL };
    const writer = await VideoIndex.open(dir, { ...options, rowCache: false });
    await writer.addEntries(entries('x', 300, 0));
    expect((await writer.info()).annIndexed).toBe(0);
    const cached = await VideoIndex.open(dir, options);
    const reads = jest.spyOn(RowCache.prototype, 'dot');
    try {
      const expected = await writer.search(text, { k: 5, candidates: 40 });
      expect(await cached.search(text, { k: 5, candidates: 40 })).toEqual(expected); // LanceDB's scan while rows load
      expect(reads).not.toHaveBeenCalled();
      await cached.warmUp();
      expect((await cached.info()).memoryBytes).toBeGreaterThanOrEqual(300 * 32 * 4);
      expect(await cached.search(text, { k: 5, candidates: 40 })).toEqual(expected);
      expect(reads).toHaveBeenCalledTimes(1);
      expect(reads.mock.calls[0][0]).toHaveLength(300); // every live row scored from memory

      // Another connection (an ingest worker's) removes the best two and adds a data file; this one checks for new
      // versions at most once a second.
      expect(await writer.remove(expected.slice(0, 2).map((r) => r.id))).toBe(2);
      await writer.addEntries(entries('y', 30, 500), { maintain: false });
      const after = await writer.search(text, { k: 5, candidates: 40 });
      expect(after.map((r) => r.id)).not.toContain(expected[0].id);
      await new Promise((r) => setTimeout(r, 1200));
      reads.mockClear();
      expect(await cached.search(text, { k: 5, candidates: 40 })).toEqual(after); // the new file's rows: not held yet
      await cached.warmUp();
      expect(await cached.search(text, { k: 5, candidates: 40 })).toEqual(after);
      expect(reads).toHaveBeenCalledTimes(1);
      expect(reads.mock.calls[0][0]).toHaveLength(328); // removed rows stay held but are not scored
    } finally {
      reads.mockRestore();
      await cached.close();
      await writer.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('bestIndices: the k largest, largest first, ties by position, whole-table sizes included', () => {
    expect(bestIndices(Float64Array.from([0.1, 0.5, 0.3, 0.5, -1]), 3)).toEqual([1, 3, 2]);
    expect(bestIndices(Float64Array.from([0.2, 0.1]), 5)).toEqual([0, 1]);
    expect(bestIndices(new Float64Array(0), 3)).toEqual([]);
    const sims = Float64Array.from({ length: 5000 }, (_, i) => Math.sin(i * 12.9898) * 43758.5453 % 1);
    const reference = Array.from(sims.keys()).sort((a, b) => sims[b] - sims[a] || a - b).slice(0, 50);
    expect(bestIndices(sims, 50)).toEqual(reference);
    sims.fill(0.25, 100, 300); // ties at the cut
    const tied = Array.from(sims.keys()).sort((a, b) => sims[b] - sims[a] || a - b).slice(0, 1200);
    expect(bestIndices(sims, 1200)).toEqual(tied);
  });
});
