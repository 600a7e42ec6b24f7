/**
 * Where a {@link VideoIndex} keeps its entries: a small interface with one implementation on LanceDB (an embedded
 * table in the index directory), so that a shared store (PostgreSQL + pgvector) can follow for teams whose workers
 * fill one index from several machines. A store knows nothing about the model: rows carry a normalised vector for
 * the nearest-neighbour stage and opaque feature bytes for the rerank.
 * @module
 */

/**
 * One entry: a video, or one segment of it.
 * @example
 * const row: EntryRow = { id: '/v/a.mp4#0', source: '/v/a.mp4', segment: 0, start: 0, end: 10, vector, features };
 */
export interface EntryRow {
  /** Unique key: the source and the segment number. */
  id: string;
  /** The video it came from (an absolute path, or the name given with its bytes). */
  source: string;
  /** Segment number within the source, from 0. */
  segment: number;
  /** Seconds. */
  start: number;
  end: number;
  /** The normalised video embedding, `dim` floats. */
  vector: Float32Array;
  /** The stored prompt features, exactly `featureBytes` bytes. */
  features: Uint8Array;
}

/**
 * Stage-1 candidates of a search: what the rerank needs and nothing more (their metadata is read afterwards, with
 * {@link SearchStore.describe}, for the few that are kept). Reading every candidate's id and source strings cost
 * LanceDB more than the nearest-neighbour search itself.
 * @example
 * const { handles, vectors } = await store.candidates(query, 200);
 */
export interface Candidates {
  /** Opaque handles that {@link SearchStore.features} and {@link SearchStore.describe} take back (LanceDB row ids). */
  handles: readonly unknown[];
  /** Dot product with the query vector (cosine: both are normalised); NaN from `get`. */
  similarities: number[];
  /** `[n, dim]` normalised video embeddings. */
  vectors: Float32Array;
}

/**
 * What an entry is, column by column.
 * @example
 * const { ids, starts } = await store.describe(handles);
 */
export interface EntryMeta {
  ids: string[];
  sources: string[];
  segments: number[];
  starts: number[];
  ends: number[];
}

/**
 * Entries found by {@link SearchStore.nearest} or {@link SearchStore.get}, column by column; `vectors` are
 * contiguous so the rerank takes them as one tensor.
 * @example
 * const { ids, vectors } = await store.nearest(query, 10);
 */
export interface EntryBatch extends Candidates, EntryMeta {}

/**
 * Counters for `index info` and the store's own upkeep.
 * @example
 * const { rows, annIndexed } = await store.stats();
 */
export interface StoreStats {
  rows: number;
  /** Bytes on disk. */
  bytes: number;
  /** Rows covered by the approximate nearest-neighbour index (0: stage 1 is an exact scan). */
  annIndexed: number;
  /** Data files; many small ones are compacted by {@link SearchStore.maintain}. */
  fragments: number;
  /** Bytes held in memory to speed up searches (the vector cache). */
  memoryBytes: number;
}

/**
 * The storage a VideoIndex needs. A crash during a write leaves whole entries only: a source's rows are all there or
 * none are (a crash while replacing a source may leave it with none, never with old and new rows mixed).
 * @example
 * const store = await LanceStore.open(dir, { dim: 512, featureBytes: 49 * 512 * 2 });
 * await store.replaceSources(['/v/a.mp4'], rows);
 */
export interface SearchStore {
  readonly dim: number;
  readonly featureBytes: number;
  count(): Promise<number>;
  /** Distinct sources stored (a scan: for `index info`, not for every request). */
  countSources(): Promise<number>;
  /** Removes every entry of `sources`, then inserts `rows` (re-adding a video replaces it). */
  replaceSources(sources: readonly string[], rows: readonly EntryRow[]): Promise<void>;
  /** Removes entries by id; resolves with how many there were. */
  removeIds(ids: readonly string[]): Promise<number>;
  /**
   * The `k` entries whose vectors have the largest dot product with `vector` (normalised), best first; exact below
   * the ANN threshold, approximate above it. `exclude` ids are skipped.
   */
  nearest(vector: Float32Array, k: number, exclude?: readonly string[]): Promise<EntryBatch>;
  /** As {@link SearchStore.nearest} without the metadata, in any order: stage 1 of a search. */
  candidates(vector: Float32Array, k: number): Promise<Candidates>;
  /** Entries by id, in the order found (missing ids are left out). */
  get(ids: readonly string[]): Promise<EntryBatch>;
  /**
   * The feature bytes of entries this store returned, `[n, featureBytes]` in the order of `handles`; undefined when
   * any of them is gone (a write in between moved or removed it): search again.
   */
  features(handles: readonly unknown[]): Promise<Uint8Array | undefined>;
  /** The metadata of entries this store returned, in the order of `handles`; undefined as for `features`. */
  describe(handles: readonly unknown[]): Promise<EntryMeta | undefined>;
  stats(): Promise<StoreStats>;
  /** Loads what searches keep in memory, so that the first searches are as fast as the rest. */
  warmUp(): Promise<void>;
  /** Upkeep after writes: compacts small files, builds or extends the ANN index when due. */
  maintain(): Promise<void>;
  close(): Promise<void>;
}
