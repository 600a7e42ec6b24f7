/**
 * The {@link SearchStore} on LanceDB: one embedded table (`entries`) in the index directory, with the normalised
 * video embedding as a fixed-size-list vector column and the prompt features as a fixed-size binary column.
 * Stage 1 is an exact scan until the table reaches `annThreshold` rows, then its IVF-PQ index (rows added later
 * are scanned exactly until `maintain` folds them in). With the rows held in memory (`rowCache`), the exact scan
 * and the index's refine read the vectors from there; LanceDB's flat scan runs while they load.
 * @module
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

import type * as Lance from '@lancedb/lancedb';
import type * as Arrow from 'apache-arrow';

import { XClipError } from '../errors';
import { peer } from '../peer';
import type { Candidates, EntryBatch, EntryMeta, EntryRow, SearchStore, StoreStats } from './store';
import { RowCache, type RowBatch } from './rowCache';

// LanceDB's native package is ~155 MB per platform, so both it and apache-arrow are optional peer dependencies:
// an application that only classifies never downloads them. LanceStore.open is the only way in, and it loads them,
// so everything below may use these two names.
let lancedb!: typeof Lance;
let arrow!: typeof Arrow;

/** Loads LanceDB and apache-arrow, or throws the error saying how to install them. */
export function loadPeers(): void {
  lancedb ??= peer<typeof Lance>('@lancedb/lancedb', '0.31.0', 'the video index');
  arrow ??= peer<typeof Arrow>('apache-arrow', '18.1.0', 'the video index');
}

const TABLE = 'entries';
/** Feature reads split into at most this many concurrent takes, of at least MIN_FETCH_PART rows each. */
const FETCH_PARTS = 4;
const MIN_FETCH_PART = 32;
/** Product quantisation trains 256 centroids per sub-vector: LanceDB refuses an IVF-PQ index on fewer rows. */
const PQ_MIN_ROWS = 256;
const META = ['id', 'source', 'segment', 'start', 'end'];
const COLUMNS = [...META, 'vector'];

/**
 * @example
 * const store = await LanceStore.open('/data/index/lance', { dim: 512, featureBytes: 49 * 512 * 2 });
 */
export interface LanceStoreOptions {
  dim: number;
  featureBytes: number;
  /** Rows from which stage 1 uses an IVF-PQ index instead of an exact scan. Default 50,000. */
  annThreshold?: number;
  /** IVF partitions probed per query. Default 32. */
  nprobes?: number;
  /** PQ candidates re-scored with the full vectors, as a multiple of k. Default 4. */
  refineFactor?: number;
  /** Hold the rows searches read (vectors and metadata) in memory once the IVF-PQ index is in use (see RowCache). Default true. */
  rowCache?: boolean;
}

function schemaFor(dim: number, featureBytes: number): Arrow.Schema {
  return new arrow.Schema([
    new arrow.Field('id', new arrow.Utf8(), false),
    new arrow.Field('source', new arrow.Utf8(), false),
    new arrow.Field('segment', new arrow.Int32(), false),
    new arrow.Field('start', new arrow.Float64(), false),
    new arrow.Field('end', new arrow.Float64(), false),
    new arrow.Field('vector', new arrow.FixedSizeList(dim, new arrow.Field('item', new arrow.Float32(), true)), false),
    new arrow.Field('features', new arrow.FixedSizeBinary(featureBytes), false),
  ]);
}

/** A SQL string literal for LanceDB's filters (DataFusion: quotes doubled). */
function sqlString(s: string): string {
  return `'${s.replace(/'/g, "''")}'`;
}

function sqlList(values: readonly string[]): string {
  return values.map(sqlString).join(', ');
}

/** Every chunk's values of a fixed-size column, as one contiguous array (a copy only when there are several). */
function contiguous<T extends Float32Array | Uint8Array>(chunks: readonly Arrow.Data[], width: number, make: (n: number) => T, values: (d: Arrow.Data) => T): T {
  if (chunks.length === 1) {
    const d = chunks[0];
    return values(d).subarray(d.offset * width, (d.offset + d.length) * width) as T;
  }
  const total = chunks.reduce((n, d) => n + d.length, 0);
  const out = make(total * width);
  let at = 0;
  for (const d of chunks) {
    out.set(values(d).subarray(d.offset * width, (d.offset + d.length) * width), at);
    at += d.length * width;
  }
  return out;
}

/**
 * Row `j` of a fixed-width binary column spread over chunks (a take answers one chunk per data file it read),
 * without first gathering the chunks into one buffer: the caller copies each row once, to where it belongs.
 */
function rowReader(chunks: readonly Arrow.Data[], width: number): (j: number) => Uint8Array {
  const starts: number[] = [];
  let total = 0;
  for (const d of chunks) {
    starts.push(total);
    total += d.length;
  }
  let c = 0;
  return (j) => {
    // Rows are asked for in order nearly always: look from the last chunk found.
    if (j < starts[c] || j >= starts[c] + chunks[c].length) c = starts.findIndex((s, i) => j >= s && j < s + chunks[i].length);
    const d = chunks[c];
    const at = d.offset + j - starts[c];
    return (d.values as Uint8Array).subarray(at * width, (at + 1) * width);
  };
}

function vectorsOf(table: Arrow.Table, dim: number): Float32Array {
  const col = table.getChild('vector');
  if (!col) return new Float32Array(0);
  return contiguous(col.data, dim, (n) => new Float32Array(n), (d) => d.children[0].values as Float32Array);
}

/** The metadata columns of `table`, its rows in the order `rows` gives (all, in order, by default). */
function metaOf(table: Arrow.Table, rows?: readonly number[]): EntryMeta {
  const col = <T>(name: string): T[] => {
    const all = Array.from((table.getChild(name)?.toArray() ?? []) as ArrayLike<T>);
    return rows ? rows.map((j) => all[j]) : all;
  };
  return { ids: col('id'), sources: col('source'), segments: col('segment'), starts: col('start'), ends: col('end') };
}

function candidatesOf(table: Arrow.Table, dim: number, withDistance: boolean): Candidates {
  const distances = withDistance ? (table.getChild('_distance')?.toArray() as Float32Array) : undefined;
  return {
    handles: Array.from(table.getChild('_rowid')?.toArray() ?? []),
    // LanceDB's 'dot' distance is 1 - dot.
    similarities: Array.from({ length: table.numRows }, (_, i) => (distances ? 1 - distances[i] : Number.NaN)),
    vectors: vectorsOf(table, dim),
  };
}

function batchOf(table: Arrow.Table, dim: number, withDistance: boolean): EntryBatch {
  return { ...metaOf(table), ...candidatesOf(table, dim, withDistance) };
}

function select(batch: EntryBatch, keep: (i: number) => boolean, dim: number): EntryBatch {
  const idx = batch.ids.map((_, i) => i).filter(keep);
  const pick = <T>(a: readonly T[]): T[] => idx.map((i) => a[i]);
  return {
    ids: pick(batch.ids),
    sources: pick(batch.sources),
    segments: pick(batch.segments),
    starts: pick(batch.starts),
    ends: pick(batch.ends),
    ...reorder(batch, idx, dim),
  };
}

/** Candidates `idx` of `c`, in that order. */
function sortedIncludes(sorted: BigUint64Array, id: bigint): boolean {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid] < id) lo = mid + 1;
    else hi = mid;
  }
  return lo < sorted.length && sorted[lo] === id;
}

/** Indices of the k largest of `sims`, largest first (ties: lower index first). */
export function bestIndices(sims: Float64Array, k: number): number[] {
  let pool = Array.from(sims.keys());
  if (sims.length > 4 * k && k > 0) {
    // A whole-table scan: the k-th largest value by a typed-array sort, then only rows at or above it are ordered.
    const kth = Float64Array.from(sims).sort()[sims.length - k];
    pool = pool.filter((i) => sims[i] >= kth);
  }
  return pool.sort((a, b) => sims[b] - sims[a] || a - b).slice(0, k);
}

function reorder(c: Candidates, idx: readonly number[], dim: number): Candidates {
  const vectors = new Float32Array(idx.length * dim);
  idx.forEach((i, j) => vectors.set(c.vectors.subarray(i * dim, (i + 1) * dim), j * dim));
  return { handles: idx.map((i) => c.handles[i]), similarities: idx.map((i) => c.similarities[i]), vectors };
}

/**
 * @example
 * const store = await LanceStore.open(path.join(dir, 'lance'), { dim: 32, featureBytes: 16 * 32 * 2 });
 * const hits = await store.nearest(queryVector, 200);
 * const bytes = await store.features(hits);
 */
export class LanceStore implements SearchStore {
  readonly dim: number;
  readonly featureBytes: number;
  readonly #db: Lance.Connection;
  readonly #table: Lance.Table;
  readonly #schema: Arrow.Schema;
  readonly #annThreshold: number;
  readonly #nprobes: number;
  readonly #refineFactor: number;
  readonly #dir: string;
  readonly #cache?: RowCache;
  /** The live row ids at a table version, for the exact scan from memory. */
  #live?: { version: number; ids: BigUint64Array };
  #indexed = false;

  private constructor(dir: string, db: Lance.Connection, table: Lance.Table, options: LanceStoreOptions, indexed: boolean) {
    this.#dir = dir;
    this.dim = options.dim;
    this.featureBytes = options.featureBytes;
    this.#db = db;
    this.#table = table;
    this.#schema = schemaFor(options.dim, options.featureBytes);
    this.#annThreshold = options.annThreshold ?? 50000;
    this.#nprobes = options.nprobes ?? 32;
    this.#refineFactor = options.refineFactor ?? 4;
    this.#indexed = indexed;
    if (options.rowCache !== false) this.#cache = new RowCache(this.dim, (fragment) => this.#rowBatches(fragment));
  }

  /** The cached columns of one fragment's rows (row ids `fragment << 32 | offset`), or of the whole table. */
  async *#rowBatches(fragment: number | undefined): AsyncIterable<RowBatch> {
    let q = this.#table.query().select(COLUMNS).withRowId();
    if (fragment !== undefined) q = q.where(`_rowid >= ${BigInt(fragment) << 32n} AND _rowid < ${BigInt(fragment + 1) << 32n}`);
    for await (const batch of q) {
      const table = new arrow.Table(batch);
      const col = <T>(name: string) => (table.getChild(name)?.toArray() ?? []) as ArrayLike<T>;
      yield { rowIds: col<bigint>('_rowid'), vectors: vectorsOf(table, this.dim), ids: col('id'), sources: col('source'), segments: col('segment'), starts: col('start'), ends: col('end') };
    }
  }

  /** Opens the table in `dir`, creating it when absent; refuses one whose columns do not fit `dim`/`featureBytes`. */
  static async open(dir: string, options: LanceStoreOptions): Promise<LanceStore> {
    loadPeers();
    // Other processes (ingest workers) may commit to the same table: look for new versions at most every second.
    const db = await lancedb.connect(dir, { readConsistencyInterval: 1 });
    const schema = schemaFor(options.dim, options.featureBytes);
    const table = (await db.tableNames()).includes(TABLE) ? await db.openTable(TABLE) : await db.createEmptyTable(TABLE, schema, { existOk: true });
    const found = await table.schema();
    const vector = found.fields.find((f) => f.name === 'vector')?.type;
    const features = found.fields.find((f) => f.name === 'features')?.type;
    if (!(vector instanceof arrow.FixedSizeList) || vector.listSize !== options.dim || !(features instanceof arrow.FixedSizeBinary) || features.byteWidth !== options.featureBytes) {
      table.close();
      db.close();
      throw new XClipError('INDEX_CORRUPT', `${dir}: table '${TABLE}' has columns ${found.fields.map((f) => `${f.name}: ${String(f.type)}`).join(', ')}, not vectors of ${options.dim} and features of ${options.featureBytes} bytes`);
    }
    const indexed = (await table.listIndices()).some((i) => i.columns.includes('vector'));
    return new LanceStore(dir, db, table, options, indexed);
  }

  count(): Promise<number> {
    return this.#table.countRows();
  }

  async countSources(): Promise<number> {
    const sources = new Set<string>();
    for await (const batch of this.#table.query().select(['source'])) {
      for (const s of batch.getChild('source')?.toArray() ?? []) sources.add(s as string);
    }
    return sources.size;
  }

  #arrowTable(rows: readonly EntryRow[]): Arrow.Table {
    const n = rows.length;
    const vectors = new Float32Array(n * this.dim);
    const features = new Uint8Array(n * this.featureBytes);
    rows.forEach((r, i) => {
      vectors.set(r.vector, i * this.dim);
      features.set(r.features, i * this.featureBytes);
    });
    const fields = this.#schema.fields;
    const children = [
      arrow.vectorFromArray(rows.map((r) => r.id), new arrow.Utf8()).data[0],
      arrow.vectorFromArray(rows.map((r) => r.source), new arrow.Utf8()).data[0],
      arrow.makeData({ type: new arrow.Int32(), length: n, data: Int32Array.from(rows, (r) => r.segment) }),
      arrow.makeData({ type: new arrow.Float64(), length: n, data: Float64Array.from(rows, (r) => r.start) }),
      arrow.makeData({ type: new arrow.Float64(), length: n, data: Float64Array.from(rows, (r) => r.end) }),
      arrow.makeData({ type: fields[5].type, length: n, nullCount: 0, child: arrow.makeData({ type: new arrow.Float32(), length: n * this.dim, data: vectors }) }),
      arrow.makeData({ type: fields[6].type, length: n, nullCount: 0, data: features }),
    ];
    const struct = arrow.makeData({ type: new arrow.Struct(fields), length: n, nullCount: 0, children });
    return new arrow.Table(this.#schema, new arrow.RecordBatch(this.#schema, struct));
  }

  async replaceSources(sources: readonly string[], rows: readonly EntryRow[]): Promise<void> {
    for (const r of rows) {
      if (r.vector.length !== this.dim || r.features.length !== this.featureBytes) {
        throw new RangeError(`entry ${r.id}: ${r.vector.length} vector values and ${r.features.length} feature bytes, expected ${this.dim} and ${this.featureBytes}`);
      }
    }
    // Two commits, delete then append: a crash between them leaves these sources without entries (never doubled,
    // never partial). LanceDB's one-commit mergeInsert with a delete-by-source clause reads every row of the table,
    // features included, on each call: it fails outright past 2 GiB of features (~43k entries at base size).
    if (sources.length > 0) await this.#table.delete(`source IN (${sqlList(sources)})`);
    if (rows.length > 0) await this.#table.add(this.#arrowTable(rows));
  }

  async removeIds(ids: readonly string[]): Promise<number> {
    if (ids.length === 0) return 0;
    const r = await this.#table.delete(`id IN (${sqlList(ids)})`);
    return r.numDeletedRows;
  }

  async nearest(vector: Float32Array, k: number, exclude: readonly string[] = []): Promise<EntryBatch> {
    let q = this.#table.vectorSearch(vector).distanceType('dot').select([...COLUMNS, '_distance']).withRowId().limit(k + exclude.length);
    if (this.#indexed) q = q.nprobes(this.#nprobes).refineFactor(this.#refineFactor);
    const batch = batchOf(await q.toArrow(), this.dim, true);
    if (exclude.length === 0 && batch.ids.length <= k) return batch;
    const skip = new Set(exclude);
    let kept = 0;
    return select(batch, (i) => !skip.has(batch.ids[i]) && kept++ < k, this.dim);
  }

  async candidates(vector: Float32Array, k: number): Promise<Candidates> {
    const held = this.#cache !== undefined && this.#cache.failed === undefined;
    const c = (held && (this.#indexed ? await this.#refinedInMemory(vector, k) : await this.#exactInMemory(vector, k))) || (await this.#refinedByLance(vector, k));
    // In row-id order, the order LanceDB's take returns rows in, so that features() can hand back the buffer it read.
    const h = c.handles as bigint[];
    const idx = h.map((_, i) => i).sort((a, b) => (h[a] < h[b] ? -1 : h[a] > h[b] ? 1 : 0));
    return idx.every((i, j) => i === j) ? c : reorder(c, idx, this.dim);
  }

  async #refinedByLance(vector: Float32Array, k: number): Promise<Candidates> {
    let q = this.#table.vectorSearch(vector).distanceType('dot').select(['vector', '_distance']).withRowId().limit(k);
    if (this.#indexed) q = q.nprobes(this.#nprobes).refineFactor(this.#refineFactor);
    return candidatesOf(await q.toArrow(), this.dim, true);
  }

  /**
   * The index's refineFactor × k candidates re-scored with the vectors held in memory, best k kept: what LanceDB's
   * refine computes, without reading the vectors from the data files. Undefined while some candidate's fragment is
   * not held yet (its load starts, and the caller refines with LanceDB meanwhile).
   */
  async #refinedInMemory(vector: Float32Array, k: number): Promise<Candidates | undefined> {
    const cache = this.#cache!;
    const pq = await this.#table.vectorSearch(vector).distanceType('dot').select(['_distance']).withRowId().limit(k * this.#refineFactor).nprobes(this.#nprobes).toArrow();
    const ids = (pq.getChild('_rowid')?.toArray() ?? new BigUint64Array(0)) as BigUint64Array;
    const missing = cache.missing(ids);
    if (missing.length > 0) {
      // Held rows of fragments a compaction has since replaced would stay: start again when that is most of it.
      if (cache.rows > 2 * (await this.#table.countRows()) + 64 * RowCache.BLOCK) cache.clear();
      cache.load(missing);
      return undefined;
    }
    return this.#bestHeld(ids, vector, k);
  }

  /**
   * Stage 1 without an index: every live row scored from memory, best k kept. LanceDB's flat scan of the same 10k
   * rows took 17 ms (56 at p95) on the search bench's 2 cores, the scan from memory ~6. The live row ids are read
   * again (one column) whenever the table's version moves, by this process or another one: rows deleted since
   * stay held under their ids but are not scored. Undefined while rows load.
   */
  async #exactInMemory(vector: Float32Array, k: number): Promise<Candidates | undefined> {
    const cache = this.#cache!;
    const version = await this.#table.version();
    if (this.#live?.version !== version) {
      const parts: BigUint64Array[] = [];
      for await (const batch of this.#table.query().select([]).withRowId()) parts.push(batch.getChild('_rowid')?.toArray() as BigUint64Array);
      // A commit while the ids were read: this search reads through LanceDB, the next one reads the ids again.
      if ((await this.#table.version()) !== version) return undefined;
      const ids = new BigUint64Array(parts.reduce((n, p) => n + p.length, 0));
      parts.reduce((at, p) => (ids.set(p, at), at + p.length), 0);
      this.#live = { version, ids: ids.sort() };
    }
    const { ids } = this.#live;
    const missing = cache.missing(ids);
    if (missing.length > 0) {
      if (cache.rows > 2 * ids.length + 64 * RowCache.BLOCK) cache.clear();
      cache.load(missing);
      return undefined;
    }
    return this.#bestHeld(ids, vector, k);
  }

  /** Whether rows `ids` are all live at the table's current version, by the exact scan's snapshot of its row ids. */
  async #liveNow(ids: readonly bigint[]): Promise<boolean> {
    const live = this.#live;
    if (live === undefined || (await this.#table.version()) !== live.version) return false;
    return ids.every((id) => sortedIncludes(live.ids, id));
  }

  /** The best k of rows `ids` by dot product with `vector`, all held; undefined if one is not. */
  #bestHeld(ids: BigUint64Array, vector: Float32Array, k: number): Candidates | undefined {
    const cache = this.#cache!;
    const sims = new Float64Array(ids.length);
    if (!cache.dot(ids, vector, sims)) return undefined;
    const best = bestIndices(sims, k);
    const vectors = new Float32Array(best.length * this.dim);
    best.forEach((i, j) => vectors.set(cache.vector(ids[i])!, j * this.dim));
    return { handles: best.map((i) => ids[i]), similarities: best.map((i) => sims[i]), vectors };
  }

  async warmUp(): Promise<void> {
    if (!this.#cache) return;
    this.#cache.loadAll();
    await this.#cache.settled();
    if (this.#cache.failed !== undefined) throw this.#cache.failed;
  }

  async get(ids: readonly string[]): Promise<EntryBatch> {
    if (ids.length === 0) return batchOf(new arrow.Table(), this.dim, false);
    const t = await this.#table.query().where(`id IN (${sqlList(ids)})`).select(COLUMNS).withRowId().toArrow();
    return batchOf(t, this.dim, false);
  }

  /**
   * `columns` of the rows `handles` name, and where each handle's row lies in the answer; undefined when a row is
   * missing. Row ids name a row of one table version: rows are never rewritten in place (a replaced source gets new
   * rows), but a delete or a compaction committed since the ids were read (another process may write) drops them.
   */
  async #take(handles: readonly unknown[], columns: string[]): Promise<{ table: Arrow.Table; rows: number[] } | undefined> {
    const table = await this.#table.takeRowIds(handles as bigint[]).select(columns).withRowId().toArrow();
    const at = new Map<bigint, number>();
    Array.from((table.getChild('_rowid')?.toArray() ?? []) as ArrayLike<bigint>).forEach((r, j) => at.set(r, j));
    const rows = handles.map((h) => at.get(h as bigint));
    return rows.every((j) => j !== undefined) ? { table, rows: rows as number[] } : undefined;
  }

  async features(handles: readonly unknown[]): Promise<Uint8Array | undefined> {
    const w = this.featureBytes;
    const n = handles.length;
    if (n === 0) return new Uint8Array(0);
    // Several takes at once: LanceDB reads one take's rows about one at a time, and once the features outgrow the
    // page cache each row is a random 50 KB disk read (200 of them: ~50 ms in one take, ~37 ms in four).
    const parts = Math.max(1, Math.min(FETCH_PARTS, Math.floor(n / MIN_FETCH_PART)));
    const size = Math.ceil(n / parts);
    const taken = await Promise.all(Array.from({ length: parts }, (_, p) => this.#take(handles.slice(p * size, (p + 1) * size), ['features'])));
    if (taken.some((t) => t === undefined)) return undefined;
    const chunks = taken.map((t) => t!.table.getChild('features')?.data ?? []);
    // Candidates come in row-id order, as a take answers: then one take's one chunk is used where it lies.
    if (parts === 1 && chunks[0].length === 1 && taken[0]!.rows.every((j, i) => j === i)) {
      const d = chunks[0][0];
      return (d.values as Uint8Array).subarray(d.offset * w, (d.offset + n) * w);
    }
    const out = new Uint8Array(n * w);
    taken.forEach((t, p) => {
      const row = rowReader(chunks[p], w);
      t!.rows.forEach((j, i) => out.set(row(j), (p * size + i) * w));
    });
    return out;
  }

  async describe(handles: readonly unknown[]): Promise<EntryMeta | undefined> {
    if (handles.length === 0) return { ids: [], sources: [], segments: [], starts: [], ends: [] };
    // Held rows stay held after a delete: without an index, only rows the exact scan's snapshot of the current
    // version holds are named from memory (a removed row must read as gone, and the search then starts again).
    const held = this.#indexed || (await this.#liveNow(handles as bigint[])) ? this.#cache?.meta(handles as bigint[]) : undefined;
    if (held) return held;
    const taken = await this.#take(handles, META);
    return taken && metaOf(taken.table, taken.rows);
  }

  async stats(): Promise<StoreStats> {
    const s = await this.#table.stats();
    let annIndexed = 0;
    if (this.#indexed) annIndexed = (await this.#table.indexStats('vector_idx'))?.numIndexedRows ?? 0;
    return { rows: s.numRows, bytes: s.totalBytes, annIndexed, fragments: s.fragmentStats.numFragments, memoryBytes: this.#cache?.bytes ?? 0 };
  }

  async maintain(): Promise<void> {
    const s = await this.#table.stats();
    const trained = this.#trainedRows();
    // (Re)train the IVF-PQ index at the threshold, and again whenever the table has grown 4x since: partitions
    // sized for 50k rows would each hold 80k rows at 4M.
    if (s.numRows >= Math.max(this.#annThreshold, PQ_MIN_ROWS) && (!this.#indexed || s.numRows >= 4 * trained)) {
      // sqrt(rows) partitions (LanceDB's default); sub-vectors of 8 dims (twice the default) for better recall.
      await this.#table.createIndex('vector', {
        config: lancedb.Index.ivfPq({ distanceType: 'dot', numPartitions: Math.round(Math.sqrt(s.numRows)), numSubVectors: this.dim % 8 === 0 ? this.dim / 8 : undefined }),
        replace: true,
      });
      fs.writeFileSync(this.#annFile, JSON.stringify({ trainedRows: s.numRows }));
      this.#indexed = true;
      return;
    }
    // Every take of a search pays for each data file it touches (at 1M entries, 200 rows' features took 37 ms from
    // 100 files and 22 ms from 10), and a commit of a few videos makes one: many small files are merged (LanceDB
    // rewrites them into files of up to ~1M rows). Files of 10k rows and more, from bulk addEntries, are left alone:
    // merging them would rewrite the whole table, tens of GB at base size, on an ordinary add.
    let due = s.fragmentStats.numFragments >= 64 && s.fragmentStats.lengths.mean < 10000;
    if (this.#indexed && !due) {
      const idx = await this.#table.indexStats('vector_idx');
      due = (idx?.numUnindexedRows ?? 0) > Math.max(10000, 0.1 * (idx?.numIndexedRows ?? 0));
    }
    // Compacts, appends unindexed rows to the ANN index, and drops data files of versions older than ten minutes
    // (a reader in another process may still be on one of those).
    if (due) await this.#table.optimize({ cleanupOlderThan: new Date(Date.now() - 10 * 60 * 1000) });
  }

  get #annFile(): string {
    return path.join(this.#dir, 'ann.json');
  }

  #trainedRows(): number {
    try {
      return (JSON.parse(fs.readFileSync(this.#annFile, 'utf8')) as { trainedRows: number }).trainedRows;
    } catch {
      return 0;
    }
  }

  async close(): Promise<void> {
    // A background load of the vectors would otherwise hold the process open until it had read them all.
    await this.#cache?.stop();
    this.#table.close();
    this.#db.close();
  }
}
