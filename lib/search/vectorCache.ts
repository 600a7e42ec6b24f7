/**
 * The full video embeddings of a LanceDB table, held in memory by row id, so that stage 1 re-scores the IVF-PQ
 * index's candidates itself. LanceDB's own refine reads each candidate's vector from its data file: at refine
 * factor 4 that is 800 random reads per query, ~12 of a 1M-entry search's ~22 ms of stage 1 on 2 cores, against
 * well under 1 ms from memory. It costs 4 bytes per dimension per entry (2 GB at 1M entries of 512).
 * @module
 */

/**
 * A row id is `fragment << 32 | offset` (LanceDB without stable row ids). A row's vector never changes under its
 * id: rows are appended, deleted, or rewritten under new ids by a compaction (into new fragments; fragment ids are
 * never reused), so what is held stays right; rows of fragments not loaded yet are missing, and the caller
 * falls back to LanceDB's refine while they load.
 * @example
 * const cache = new VectorCache(512, (fragment) => table.query().where(rowIdRange(fragment)).select(['vector']).withRowId());
 * if (cache.missing(handles).length === 0) cache.copy(handles, out);
 */
export class VectorCache {
  /** Rows per allocation: a fragment's rows are held in blocks, so one growing or partly filled wastes little. */
  static readonly BLOCK = 4096;
  readonly dim: number;
  readonly #read: (fragment: number | undefined) => AsyncIterable<VectorBatch>;
  /** Fragment → blocks of BLOCK rows (undefined where no row of the block was seen). Complete fragments only. */
  readonly #fragments = new Map<number, (Float32Array | undefined)[]>();
  #rows = 0;
  /** Loads under way: undefined for the first, whole-table one. */
  readonly #loading = new Map<number | undefined, Promise<void>>();
  #failed: unknown;
  #stopped = false;

  /**
   * @param read the rows of one fragment, or of every fragment when undefined, as batches of row ids and vectors.
   */
  constructor(dim: number, read: (fragment: number | undefined) => AsyncIterable<VectorBatch>) {
    this.dim = dim;
    this.#read = read;
  }

  /** Rows there is room for in what is held (whole blocks; deleted rows keep their slots). */
  get rows(): number {
    return this.#rows;
  }

  /** Memory held, in bytes. */
  get bytes(): number {
    return this.#rows * this.dim * 4;
  }

  /** The first load error, if any: the cache then stays as it is and the caller keeps LanceDB's refine. */
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
        blocks = this.#fragments.get(f);
        fragment = f;
      }
      const block = blocks?.[Math.floor(offset / VectorCache.BLOCK)];
      if (!block) return false;
      const at = (offset % VectorCache.BLOCK) * dim;
      let d = 0;
      for (let j = 0; j < dim; j++) d += block[at + j] * query[j];
      out[i] = d;
    }
    return true;
  }

  /**
   * Starts loading `fragments` in the background (each once at a time). The first call reads the whole table in
   * one scan, cheaper than one filtered scan per fragment. Errors are kept in `failed`, not thrown.
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

  #start(fragment: number | undefined): void {
    if (this.#stopped || this.#failed !== undefined || this.#loading.has(fragment) || this.#loading.has(undefined)) return;
    const p = this.#fill(fragment)
      .catch((err: unknown) => {
        this.#failed ??= err;
      })
      .finally(() => this.#loading.delete(fragment));
    this.#loading.set(fragment, p);
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

  /** The held vector of row `handle` (a view); undefined when its fragment is not held. */
  vector(handle: bigint): Float32Array | undefined {
    const blocks = this.#fragments.get(Number(handle >> 32n));
    const offset = Number(handle & 0xffffffffn);
    const block = blocks?.[Math.floor(offset / VectorCache.BLOCK)];
    if (!block) return undefined;
    const at = (offset % VectorCache.BLOCK) * this.dim;
    return block.subarray(at, at + this.dim);
  }

  /**
   * Drops everything held (loads under way still finish), e.g. once a compaction has rewritten the rows under new
   * ids and the old fragments' memory would otherwise stay.
   */
  clear(): void {
    this.#fragments.clear();
    this.#rows = 0;
  }

  async #fill(fragment: number | undefined): Promise<void> {
    const seen = new Map<number, (Float32Array | undefined)[]>();
    const { dim } = this;
    for await (const batch of this.#read(fragment)) {
      if (this.#stopped) return;
      const { rowIds, vectors } = batch;
      for (let i = 0; i < rowIds.length; i++) {
        const f = Number(rowIds[i] >> 32n);
        const offset = Number(rowIds[i] & 0xffffffffn);
        let blocks = seen.get(f);
        if (!blocks) seen.set(f, (blocks = []));
        const b = Math.floor(offset / VectorCache.BLOCK);
        let block = blocks[b];
        if (!block) block = blocks[b] = new Float32Array(VectorCache.BLOCK * dim);
        block.set(vectors.subarray(i * dim, (i + 1) * dim), (offset % VectorCache.BLOCK) * dim);
      }
    }
    // A fragment counts only once all its rows are in: a scan cut short leaves nothing half-held.
    for (const [f, blocks] of seen) {
      if (this.#fragments.has(f)) continue;
      this.#fragments.set(f, blocks);
      this.#rows += blocks.reduce((n, b) => n + (b ? VectorCache.BLOCK : 0), 0);
    }
  }
}

/** LanceDB `_rowid`s as its Arrow column gives them (uint64), or as BigInts. */
export type RowIds = BigUint64Array | BigInt64Array | readonly bigint[];

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/** A uint64 array's [low, high] 32-bit words (offset, fragment), or undefined where it has to go through BigInt. */
function wordsOf(ids: RowIds): Uint32Array | undefined {
  if (!LITTLE_ENDIAN || !(ids instanceof BigUint64Array || ids instanceof BigInt64Array)) return undefined;
  return new Uint32Array(ids.buffer, ids.byteOffset, ids.length * 2);
}

/** One batch of a table scan: row ids and their vectors, `[rowIds.length, dim]`. */
export interface VectorBatch {
  rowIds: ArrayLike<bigint>;
  vectors: Float32Array;
}
