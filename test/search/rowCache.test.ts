// The rows a search reads, held in memory by LanceDB row id (fragment << 32 | offset): loaded whole fragments at
// a time, never half; a failed load is kept and leaves the cache as it was.
import { RowCache, type RowBatch } from '../../lib/search/rowCache';

const DIM = 4;
const id = (fragment: number, offset: number): bigint => (BigInt(fragment) << 32n) | BigInt(offset);
const vec = (fragment: number, offset: number): number[] => [fragment, offset, fragment + offset, -offset];

/** Rows named [fragment, offset]: vectors from vec(), metadata that names the row (two segments per source). */
function batchOf(rows: readonly (readonly [number, number])[]): RowBatch {
  return {
    rowIds: rows.map(([f, o]) => id(f, o)),
    vectors: Float32Array.from(rows.flatMap(([f, o]) => vec(f, o))),
    ids: rows.map(([f, o]) => `e${f}-${o}`),
    sources: rows.map(([f, o]) => `video-${f}-${o >> 1}.mp4`),
    segments: rows.map(([, o]) => o % 2),
    starts: rows.map(([, o]) => 10 * (o % 2)),
    ends: rows.map(([, o]) => 10 * (o % 2) + 10),
  };
}

/** A table of fragments → row offsets, read in batches of 3 rows as LanceDB scans do; records what was read. */
function table(fragments: Record<number, number[]>, reads: (number | undefined)[] = [], fail?: Error) {
  return async function* read(fragment: number | undefined): AsyncIterable<RowBatch> {
    reads.push(fragment);
    const rows = Object.entries(fragments)
      .filter(([f]) => fragment === undefined || Number(f) === fragment)
      .flatMap(([f, offsets]) => offsets.map((o) => [Number(f), o] as const));
    for (let i = 0; i < rows.length; i += 3) {
      const part = rows.slice(i, i + 3);
      if (fail && i > 0) throw fail;
      yield batchOf(part);
    }
  };
}

describe('RowCache', () => {
  it('loads the whole table first, then only the fragments asked for', async () => {
    const reads: (number | undefined)[] = [];
    const fragments: Record<number, number[]> = { 0: [0, 1, 2, 3], 2: [0, 5, RowCache.BLOCK + 7] };
    const cache = new RowCache(DIM, table(fragments, reads));
    expect(cache.missing([id(0, 1), id(2, 5), id(0, 3)])).toEqual([0, 2]);
    expect(cache.vector(id(0, 1))).toBeUndefined();
    cache.load([0]);
    await cache.settled();
    expect(reads).toEqual([undefined]); // one scan of everything, not one per fragment
    expect(cache.missing([id(0, 1), id(2, 5)])).toEqual([]);
    expect(Array.from(cache.vector(id(2, RowCache.BLOCK + 7))!)).toEqual(vec(2, RowCache.BLOCK + 7));
    expect(Array.from(cache.vector(id(0, 3))!)).toEqual(vec(0, 3));
    // Dot products straight from the held blocks, row ids as LanceDB's uint64 column gives them or as BigInts.
    const query = Float32Array.from([0.5, -1, 2, 0.25]);
    const want = [id(0, 1), id(2, RowCache.BLOCK + 7), id(0, 3)].map((r) => vec(Number(r >> 32n), Number(r & 0xffffffffn)).reduce((a, x, j) => a + x * query[j], 0));
    for (const ids of [BigUint64Array.from([id(0, 1), id(2, RowCache.BLOCK + 7), id(0, 3)]), [id(0, 1), id(2, RowCache.BLOCK + 7), id(0, 3)]]) {
      const out = new Float64Array(3);
      expect(cache.dot(ids, query, out)).toBe(true);
      expect(Array.from(out)).toEqual(want);
    }
    expect(cache.dot(BigUint64Array.from([id(0, 1), id(5, 0)]), query, new Float64Array(2))).toBe(false);
    // Fragment 2 spans two blocks of rows, fragment 0 one.
    expect(cache.rows).toBe(3 * RowCache.BLOCK);
    expect(cache.bytes).toBeGreaterThan(3 * RowCache.BLOCK * DIM * 4);
    expect(cache.bytes).toBeLessThan(3 * RowCache.BLOCK * DIM * 4 + 7 * 100);
    // The metadata of held rows, in the order asked; undefined when one is not held.
    expect(cache.meta([id(2, 5), id(0, 2)])).toEqual({ ids: ['e2-5', 'e0-2'], sources: ['video-2-2.mp4', 'video-0-1.mp4'], segments: [1, 0], starts: [10, 0], ends: [20, 10] });
    expect(cache.meta([id(0, 1), id(0, 9)])).toBeUndefined();
    expect(cache.meta([id(0, 1), id(7, 0)])).toBeUndefined();

    // A fragment committed since (an add, or a compaction's output) is read alone, once even if asked twice.
    fragments[3] = [0, 1];
    expect(cache.missing([id(3, 1), id(0, 0)])).toEqual([3]);
    cache.load([3]);
    cache.load([3]);
    await cache.settled();
    expect(reads).toEqual([undefined, 3]);
    expect(Array.from(cache.vector(id(3, 1))!)).toEqual(vec(3, 1));

    cache.clear();
    expect(cache.rows).toBe(0);
    expect(cache.missing([id(0, 0)])).toEqual([0]);
  });

  it('keeps nothing of a load that fails part way, and says why', async () => {
    const cache = new RowCache(DIM, table({ 0: [0, 1, 2, 3, 4] }, [], new Error('disk gone')));
    cache.load([0]);
    await cache.settled();
    expect(cache.failed).toEqual(new Error('disk gone'));
    expect(cache.missing([id(0, 0)])).toEqual([0]);
    expect(cache.rows).toBe(0);
    // Failed stays failed: the store keeps LanceDB's refine rather than retrying a broken read on every search.
    cache.loadAll();
    await cache.settled();
    expect(cache.rows).toBe(0);
  });
});

describe('RowCache.stop', () => {
  it('ends a load at its next batch, keeps nothing of it, and starts no more', async () => {
    let batches = 0;
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const cache = new RowCache(DIM, async function* () {
      for (let i = 0; i < 1000; i++) {
        batches++;
        if (i === 1) await gate; // the stop arrives while the scan is under way
        yield batchOf([[0, i]]);
      }
    });
    cache.loadAll();
    const stopped = cache.stop();
    release();
    await stopped;
    expect(batches).toBeLessThan(4);
    expect(cache.rows).toBe(0);
    cache.load([0]);
    await cache.settled();
    expect(batches).toBeLessThan(4);
  });
});
