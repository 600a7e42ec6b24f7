/**
 * The rows of a LanceDB table that a search reads, held in memory by row id: every entry's video embedding, which
 * stage 1 re-scores the IVF-PQ index's candidates with, and its metadata, which names the results. Read through
 * LanceDB instead, each is a take that pays per data file and per column touched: on the search bench's 1M
 * entries (25 files, 2 cores), the refine's 800 vectors cost ~12 ms of a ~22 ms stage 1 and the 10 results'
 * metadata ~10 ms, against under 1 ms each from memory. It costs ~4 bytes per dimension per entry plus its ids
 * (about 2.1 GB at 1M entries of 512).
 * @module
 */
import type { EntryMeta } from './store';

/**
 * A row id is `fragment << 32 | offset` (LanceDB without stable row ids). A row never changes under its id: rows
 * are appended, deleted, or rewritten under new ids by a compaction (into new fragments; fragment ids are never
 * reused), so what is held stays right; rows of fragments not loaded yet are missing, and the caller reads them
 * through LanceDB while they load.
 * @example
 * const cache = new RowCache(512, (fragment) => batchesOf(fragment));
 * if (cache.missing(ids).length === 0 && cache.dot(ids, query, sims)) rank(sims);
 */
export class RowCache {
  /** Rows per vector allocation: a fragment's rows are held in blocks, so one partly filled wastes little. */
  static readonly BLOCK = 4096;
  readonly dim: number;
  readonly #read: (fragment: number | undefined) => AsyncIterable<RowBatch>;
  /** Complete fragments only. */
  readonly #fragments = new Map<number, FragmentRows>();
  #rows = 0;
  #bytes = 0;
  /** Loads under way: undefined for the whole-table one. */
  readonly #loading = new Map<number | undefined, Promise<void>>();
  #failed: unknown;
  #stopped = false;

  /** @param read the rows of one fragment, or of every fragment when undefined, in batches. */
  constructor(dim: number, read: (fragment: number | undefined) => AsyncIterable<RowBatch>) {
    this.dim = dim;
    this.#read = read;
  }

  /** Rows there is room for in what is held (whole blocks; deleted rows keep their slots). */
  get rows(): number {
    return this.#rows;
  }

  /** Memory held, in bytes (the strings estimated at two bytes a character). */
  get bytes(): number {
    return this.#bytes;
  }

  /** The first load error, if any: the cache then stays as it is and the caller keeps reading through LanceDB. */
  get failed(): unknown {
    return this.#failed;
  }

  /** Fragments of rows `ids` not held, in first-seen order. */
  missing(ids: RowIds): number[] {
    const out: number[] = [];
    const words = wordsOf(ids);
    for (let i = 0; i < ids.length; i++) {
      const f = words ? words[2 * i + 1] : Number(BigInt(ids[i]) >> 32n);
      if (!this.#fragments.has(f) && !out.includes(f)) out.push(f);
    }
    return out;
  }

  /**
   * out[i] = query . vector(ids[i]) for every row (a search's few hundred candidates: row ids are split into
   * fragment and offset as 32-bit words, without a BigInt per row). False when a row is not held.
   */
  dot(ids: RowIds, query: Float32Array, out: Float64Array): boolean {
    const { dim } = this;
    const words = wordsOf(ids);
    let fragment = -1;
    let blocks: (Float32Array | undefined)[] | undefined;
    for (let i = 0; i < ids.length; i++) {
      const f = words ? words[2 * i + 1] : Number(BigInt(ids[i]) >> 32n);
      const offset = words ? words[2 * i] : Number(BigInt(ids[i]) & 0xffffffffn);
      if (f !== fragment) {
        blocks = this.#fragments.get(f)?.blocks;
        fragment = f;
      }
      const block = blocks?.[Math.floor(offset / RowCache.BLOCK)];
      if (!block) return false;
      const at = (offset % RowCache.BLOCK) * dim;
      // Four sums: one chain of dependent adds ran ~25% slower (an exact scan of a whole small table comes here).
      let d0 = 0, d1 = 0, d2 = 0, d3 = 0;
      let j = 0;
      for (; j + 4 <= dim; j += 4) {
        d0 += block[at + j] * query[j];
        d1 += block[at + j + 1] * query[j + 1];
        d2 += block[at + j + 2] * query[j + 2];
        d3 += block[at + j + 3] * query[j + 3];
      }
      for (; j < dim; j++) d0 += block[at + j] * query[j];
      out[i] = d0 + d1 + (d2 + d3);
    }
    return true;
  }

  /** The held vector of row `id` (a view); undefined when its fragment is not held. */
  vector(id: bigint): Float32Array | undefined {
    const rows = this.#fragments.get(Number(id >> 32n));
    const offset = Number(id & 0xffffffffn);
    const block = rows?.blocks[Math.floor(offset / RowCache.BLOCK)];
    if (!block) return undefined;
    const at = (offset % RowCache.BLOCK) * this.dim;
    return block.subarray(at, at + this.dim);
  }

  /** The metadata of rows `ids`, in that order; undefined when one is not held. */
  meta(ids: readonly bigint[]): EntryMeta | undefined {
    const out: EntryMeta = { ids: [], sources: [], segments: [], starts: [], ends: [] };
    for (const id of ids) {
      const rows = this.#fragments.get(Number(id >> 32n));
      const offset = Number(id & 0xffffffffn);
      const entry = rows?.ids[offset];
      if (rows === undefined || entry === undefined) return undefined;
      out.ids.push(entry);
      out.sources.push(rows.sources[offset]);
      out.segments.push(rows.segments[offset]);
      out.starts.push(rows.starts[offset]);
      out.ends.push(rows.ends[offset]);
    }
    return out;
  }

  /**
   * Starts loading `fragments` in the background (each once at a time); when nothing is held yet, the whole table
   * in one scan instead, cheaper than a filtered scan per fragment. Errors are kept in `failed`, not thrown.
   */
  load(fragments: readonly number[]): void {
    if (fragments.length === 0) return;
    if (this.#fragments.size === 0 && this.#loading.size === 0) return this.loadAll();
    for (const f of fragments) this.#start(f);
  }

  /** Starts one scan of the whole table (fragments already held are kept as they are). */
  loadAll(): void {
    this.#start(undefined);
  }

  /** Ends the loads under way at their next batch (keeping nothing of them) and starts no more: before a close. */
  async stop(): Promise<void> {
    this.#stopped = true;
    await this.settled();
  }

  /** Resolves when no load is under way. */
  async settled(): Promise<void> {
    while (this.#loading.size > 0) await Promise.all(this.#loading.values());
  }

  /**
   * Drops everything held (loads under way still finish), e.g. once a compaction has rewritten the rows under new
   * ids and the old fragments' memory would otherwise stay.
   */
  clear(): void {
    this.#fragments.clear();
    this.#rows = 0;
    this.#bytes = 0;
  }

  #start(fragment: number | undefined): void {
    if (this.#stopped || this.#failed !== undefined || this.#loading.has(fragment) || this.#loading.has(undefined)) return;
    const p = this.#fill(fragment)
      .catch((err: unknown) => {
        this.#failed ??= err;
      })
      .finally(() => this.#loading.delete(fragment));
    this.#loading.set(fragment, p);
  }

  async #fill(fragment: number | undefined): Promise<void> {
    const seen = new Map<number, FragmentRows>();
    const { dim } = this;
    for await (const batch of this.#read(fragment)) {
      if (this.#stopped) return;
      const { rowIds, vectors } = batch;
      for (let i = 0; i < rowIds.length; i++) {
        const f = Number(rowIds[i] >> 32n);
        const offset = Number(rowIds[i] & 0xffffffffn);
        let rows = seen.get(f);
        if (!rows) seen.set(f, (rows = { blocks: [], ids: [], sources: [], segments: [], starts: [], ends: [], interned: new Map(), bytes: 0 }));
        const b = Math.floor(offset / RowCache.BLOCK);
        let block = rows.blocks[b];
        if (!block) {
          block = rows.blocks[b] = new Float32Array(RowCache.BLOCK * dim);
          rows.bytes += block.byteLength;
        }
        block.set(vectors.subarray(i * dim, (i + 1) * dim), (offset % RowCache.BLOCK) * dim);
        // A video's segments share its source: hold one string for them.
        let source = rows.interned.get(batch.sources[i]);
        if (source === undefined) {
          source = batch.sources[i];
          rows.interned.set(source, source);
          rows.bytes += 2 * source.length;
        }
        rows.ids[offset] = batch.ids[i];
        rows.sources[offset] = source;
        rows.segments[offset] = batch.segments[i];
        rows.starts[offset] = batch.starts[i];
        rows.ends[offset] = batch.ends[i];
        rows.bytes += 2 * batch.ids[i].length + 8 * 5;
      }
    }
    // A fragment counts only once all its rows are in: a scan cut short leaves nothing half-held.
    for (const [f, rows] of seen) {
      if (this.#fragments.has(f)) continue;
      rows.interned.clear();
      this.#fragments.set(f, rows);
      this.#rows += rows.blocks.reduce((n, b) => n + (b ? RowCache.BLOCK : 0), 0);
      this.#bytes += rows.bytes;
    }
  }
}

interface FragmentRows {
  /** Vectors in blocks of BLOCK rows (undefined where no row of the block was seen). */
  blocks: (Float32Array | undefined)[];
  /** Metadata by row offset. */
  ids: string[];
  sources: string[];
  segments: number[];
  starts: number[];
  ends: number[];
  interned: Map<string, string>;
  bytes: number;
}

/** LanceDB `_rowid`s as its Arrow column gives them (uint64), or as BigInts. */
export type RowIds = BigUint64Array | BigInt64Array | readonly bigint[];

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/** A uint64 array's [low, high] 32-bit words (offset, fragment), or undefined where it has to go through BigInt. */
function wordsOf(ids: RowIds): Uint32Array | undefined {
  if (!LITTLE_ENDIAN || !(ids instanceof BigUint64Array || ids instanceof BigInt64Array)) return undefined;
  return new Uint32Array(ids.buffer, ids.byteOffset, ids.length * 2);
}

/** One batch of a table scan: row ids, their vectors (`[rowIds.length, dim]`) and metadata columns. */
export interface RowBatch {
  rowIds: ArrayLike<bigint>;
  vectors: Float32Array;
  ids: ArrayLike<string>;
  sources: ArrayLike<string>;
  segments: ArrayLike<number>;
  starts: ArrayLike<number>;
  ends: ArrayLike<number>;
}
