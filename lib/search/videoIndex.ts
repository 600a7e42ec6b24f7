/**
 * Text-to-video search with X-CLIP's own scores. X-CLIP conditions the text embedding on each video (the prompt
 * generator attends from the text to the video's patch features), so its logits are not a cosine of two stored
 * vectors. A VideoIndex stores, per video or segment, the video embedding and the prompt generator's visual input;
 * a search finds candidates by the cosine of the video embedding with the plain text embedding (stage 1), then
 * scores every candidate exactly as `XCLIPModel.forward` would, in one native call (stage 2).
 * @module
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

import { optionalSignal } from '../abort';
import { atCallSite, XClipError } from '../errors';
import { resolveModelSpec } from '../modelSpec';
import { ZeroShotVideoClassifier } from '../pipelines';
import { Slots } from '../slots';
import { Tensor } from '../tensor';
import { integerInRange, is, optionalObject, rangeError, typeError } from '../validate';
import { readVideoClips, type VideoSource } from '../video';
import { LanceStore, loadPeers } from './lanceStore';
import { checkModel, configHash, readMeta, weightsHash, writeMeta, type IndexMeta, type ModelIdentity } from './meta';
import type { EntryBatch, EntryRow, SearchStore } from './store';
import type { AddOptions, AddResult, IndexEntry, IndexInfo, NamedVideoFile, SearchOptions, SearchResult, SimilarResult, VideoBytes, VideoIndexOptions } from './types';

export type { AddedEntry, AddOptions, AddProgress, AddResult, IndexEntry, IndexInfo, NamedVideoFile, SearchOptions, SearchResult, SearchTimings, SimilarResult, VideoBytes, VideoIndexOptions } from './types';


const TEXT_CACHE_SIZE = 256;
/** Searches started over when writes keep removing the candidates being read before giving up. */
const SEARCH_ATTEMPTS = 3;

function vanished(attempt: number): void {
  if (attempt >= SEARCH_ATTEMPTS) throw new XClipError('INDEX_CORRUPT', `entries vanished while being read, ${SEARCH_ATTEMPTS} times in a row`);
}
const STORE_DIR = 'lance';

interface Item {
  source: string;
  input: VideoSource;
}

function normalised(v: Float32Array): Float32Array {
  let s = 0;
  for (const x of v) s += x * x;
  const n = Math.sqrt(s) || 1;
  return v.map((x) => x / n);
}

function toItem(video: unknown, i: number): Item {
  if (is.string(video)) {
    if (video === '') throw rangeError(`videos[${i}]`, 'a non-empty path', video);
    return { source: path.resolve(video), input: video };
  }
  if (is.object(video) && is.string(video.source) && video.source !== '') {
    if (is.typedArray<Uint8Array>(video.data, 'Uint8Array') && video.path === undefined) return { source: video.source, input: video.data };
    if (is.string(video.path) && video.path !== '' && video.data === undefined) return { source: video.source, input: video.path };
  }
  throw typeError(`videos[${i}]`, 'a file path, { source, data: Uint8Array } or { source, path }', video);
}

/**
 * An on-disk text-to-video search index scored with X-CLIP's own logits.
 * @example
 * const index = await VideoIndex.open('./videos-index', { model: 'demo' });
 * await index.add(['a.mp4', 'b.mp4'], { clipSeconds: 10 });
 * for (const hit of await index.search('someone skiing', { k: 3 })) console.log(hit.source, hit.start, hit.logit);
 * await index.close();
 */
export class VideoIndex {
  /** The directory holding `index.json` and the table. */
  readonly dir: string;
  /** What the index was built with. */
  readonly meta: IndexMeta;
  readonly #clf: ZeroShotVideoClassifier;
  readonly #ownsModel: boolean;
  readonly #store: SearchStore;
  readonly #textCache = new Map<string, Promise<Float32Array>>();
  /** Commits run one at a time; videos finished meanwhile go into the next one. */
  readonly #pending = new Map<string, { rows: EntryRow[]; resolve: () => void; reject: (err: unknown) => void }>();
  #writing: Promise<void> | undefined;
  #size: number;
  #closed = false;

  private constructor(dir: string, meta: IndexMeta, clf: ZeroShotVideoClassifier, ownsModel: boolean, store: SearchStore, size: number) {
    this.dir = dir;
    this.meta = meta;
    this.#clf = clf;
    this.#ownsModel = ownsModel;
    this.#store = store;
    this.#size = size;
  }

  /**
   * Opens the index in `dir`, creating it (and the directory) when there is none. An existing index refuses a
   * model other than the one it was built with (`INDEX_MODEL_MISMATCH`).
   * @example
   * const index = await VideoIndex.open('./idx', { model: './xclip-base-patch32', featureDtype: 'float32' });
   */
  static async open(dir: string, options: VideoIndexOptions = {}): Promise<VideoIndex> {
    const callSite = new Error();
    if (!is.string(dir) || dir === '') throw typeError('dir', 'a non-empty string', dir);
    const o = optionalObject('options', options, ['model', 'modelId', 'featureDtype', 'annThreshold', 'nprobes', 'refineFactor', 'rowCache']);
    if (o.modelId !== undefined && !is.string(o.modelId)) throw typeError('modelId', 'a string', o.modelId);
    if (o.model !== undefined && !is.string(o.model) && !(o.model instanceof ZeroShotVideoClassifier)) {
      throw typeError('model', 'a model directory, hub id or ZeroShotVideoClassifier', o.model);
    }
    if (o.featureDtype !== undefined && o.featureDtype !== 'float16' && o.featureDtype !== 'float32') {
      throw typeError('featureDtype', "'float16' or 'float32'", o.featureDtype);
    }
    const annThreshold = o.annThreshold === undefined ? undefined : integerInRange('annThreshold', o.annThreshold, 1, Number.MAX_SAFE_INTEGER);
    const nprobes = o.nprobes === undefined ? undefined : integerInRange('nprobes', o.nprobes, 1, 100000);
    const refineFactor = o.refineFactor === undefined ? undefined : integerInRange('refineFactor', o.refineFactor, 1, 100);
    if (o.rowCache !== undefined && typeof o.rowCache !== 'boolean') throw typeError('rowCache', 'a boolean', o.rowCache);
    const rowCache = o.rowCache as boolean | undefined;
    const root = path.resolve(dir);
    // Before the model loads or anything is written: an application without LanceDB learns it at once.
    loadPeers();
    try {
      let meta = readMeta(root);
      const spec = (o.model as string | ZeroShotVideoClassifier | undefined) ?? meta?.model.id;
      let clf: ZeroShotVideoClassifier;
      let id: string;
      const owns = !(spec instanceof ZeroShotVideoClassifier);
      if (spec instanceof ZeroShotVideoClassifier) {
        clf = spec;
        id = (o.modelId as string | undefined) ?? (clf.modelDir || 'in-memory model');
      } else {
        const resolved = await resolveModelSpec(spec);
        // A directory is recorded by its absolute path, so the index opens from any working directory.
        id = spec !== undefined && fs.existsSync(spec) ? path.resolve(spec) : resolved.id;
        clf = await ZeroShotVideoClassifier.fromPretrained(resolved.dir);
      }
      try {
        const identity: ModelIdentity = { id, configHash: configHash(clf.model.config), weightsHash: weightsHash(clf.modelDir) };
        const { projectionDim, visionConfig } = clf.model.config;
        const numPatches = (visionConfig.imageSize / visionConfig.patchSize) ** 2;
        if (meta) {
          checkModel(root, meta, identity);
          if (o.featureDtype !== undefined && o.featureDtype !== meta.featureDtype) {
            throw rangeError('featureDtype', `'${meta.featureDtype}' (this index stores ${meta.featureDtype} features)`, o.featureDtype);
          }
        } else {
          fs.mkdirSync(root, { recursive: true });
          const featureDtype = (o.featureDtype as 'float16' | 'float32' | undefined) ?? 'float16';
          meta = writeMeta(root, { model: identity, featureDtype, layout: 'visual-tokens', numPatches, projectionDim });
        }
        const featureBytes = meta.numPatches * meta.projectionDim * (meta.featureDtype === 'float16' ? 2 : 4);
        const store = await LanceStore.open(path.join(root, STORE_DIR), { dim: meta.projectionDim, featureBytes, annThreshold, nprobes, refineFactor, rowCache });
        return new VideoIndex(root, meta, clf, owns, store, await store.count());
      } catch (err) {
        if (owns) await clf.dispose();
        throw err;
      }
    } catch (err) {
      throw atCallSite(err, callSite);
    }
  }

  /** Entries stored (videos, or segments of them), as of this process's last write (or the open). */
  get size(): number {
    return this.#size;
  }

  /** The classifier the index computes features with (shared with its owner when one was passed in). */
  get classifier(): ZeroShotVideoClassifier {
    return this.#clf;
  }

  #check(): void {
    if (this.#closed) throw new XClipError('DISPOSED', 'VideoIndex has been closed');
  }

  /** Queues a video's rows for the next commit; resolves once they are durable. */
  #commit(source: string, rows: EntryRow[]): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const earlier = this.#pending.get(source);
      // The same source twice in one commit: the later add wins, the earlier is done as well.
      if (earlier) earlier.resolve();
      this.#pending.set(source, { rows, resolve, reject });
      if (!this.#writing) this.#writing = this.#drain();
    });
  }

  async #drain(): Promise<void> {
    while (this.#pending.size > 0) {
      const batch = [...this.#pending.entries()];
      this.#pending.clear();
      try {
        await this.#store.replaceSources(
          batch.map(([source]) => source),
          batch.flatMap(([, p]) => p.rows),
        );
        this.#size = await this.#store.count();
        for (const [, p] of batch) p.resolve();
      } catch (err) {
        for (const [, p] of batch) p.reject(err);
      }
    }
    this.#writing = undefined;
  }

  /** The entries of one video: one per clip, or one for the whole video. Only decoding holds a `slots` place. */
  async #entries(item: Item, clipSeconds: number | undefined, strideSeconds: number | undefined, slots?: Slots, signal?: AbortSignal): Promise<EntryRow[]> {
    const clf = this.#clf;
    const decode = async () => {
      signal?.throwIfAborted();
      const clips = [];
      const options = clipSeconds === undefined ? { numClips: 1 } : { clipSeconds, strideSeconds };
      for await (const clip of readVideoClips(item.input, { numFrames: clf.processor.numFrames, threads: clf.batching.decodeThreads, signal, ...options })) clips.push(clip);
      return clips;
    };
    const clips = await (slots ? slots.use(decode) : decode());
    const features = await clf.searchFeatures(
      clips.map((c) => c.frames),
      { featureDtype: this.meta.featureDtype, signal },
    );
    return features.map((f, segment) => {
      const pf = f.promptFeatures.data as Uint16Array | Float32Array;
      return {
        id: `${item.source}#${segment}`,
        source: item.source,
        segment,
        start: clips[segment].startSeconds,
        end: clips[segment].endSeconds,
        vector: normalised(f.videoEmbed),
        features: new Uint8Array(pf.buffer, pf.byteOffset, pf.byteLength),
      };
    });
  }

  /**
   * Adds videos (paths, or bytes under a name), replacing the entries of any source added before. Videos are
   * decoded, batched through the model and committed as they finish; each video's entries are durable when
   * `onProgress` reports it. A video that fails is reported in its result and does not stop the others.
   * @example
   * const results = await index.add(['a.mp4', 'b.mp4'], { clipSeconds: 10, onProgress: (p) => console.log(p.source) });
   */
  async add(videos: readonly (string | VideoBytes | NamedVideoFile)[], options: AddOptions = {}): Promise<AddResult[]> {
    const callSite = new Error();
    this.#check();
    if (!Array.isArray(videos)) throw typeError('videos', 'an array of paths, { source, data } or { source, path }', videos);
    const o = optionalObject('options', options, ['clipSeconds', 'strideSeconds', 'onProgress', 'signal']);
    if (o.clipSeconds !== undefined && (!is.number(o.clipSeconds) || !(o.clipSeconds > 0) || !Number.isFinite(o.clipSeconds))) {
      throw rangeError('clipSeconds', 'positive number', o.clipSeconds);
    }
    if (o.strideSeconds !== undefined && (o.clipSeconds === undefined || !is.number(o.strideSeconds) || !(o.strideSeconds > 0) || !Number.isFinite(o.strideSeconds))) {
      throw rangeError('strideSeconds', 'a positive number, with clipSeconds', o.strideSeconds);
    }
    if (o.onProgress !== undefined && typeof o.onProgress !== 'function') throw typeError('onProgress', 'a function', o.onProgress);
    const clipSeconds = o.clipSeconds as number | undefined;
    const strideSeconds = o.strideSeconds as number | undefined;
    const onProgress = o.onProgress as AddOptions['onProgress'];
    const signal = optionalSignal(o.signal);
    const items = videos.map(toItem);
    const { maxBatch, decodeConcurrency } = this.#clf.batching;
    // Videos in flight: enough to keep the model's batches full while others decode. Decoding itself gets the
    // classifier's share of libuv's pool, so the model call always finds a thread.
    const decodeSlots = new Slots(decodeConcurrency);
    const results: AddResult[] = new Array(items.length);
    let next = 0;
    let done = 0;
    const worker = async (): Promise<void> => {
      while (next < items.length) {
        const i = next++;
        const item = items[i];
        try {
          const rows = await this.#entries(item, clipSeconds, strideSeconds, decodeSlots, signal);
          await this.#commit(item.source, rows);
          results[i] = { source: item.source, entries: rows.length, added: rows.map((r) => ({ id: r.id, start: r.start, end: r.end })) };
        } catch (err) {
          results[i] = { source: item.source, entries: 0, added: [], error: atCallSite(err, callSite) as Error };
        }
        onProgress?.({ source: item.source, entries: results[i].entries, done: ++done, total: items.length });
      }
    };
    await Promise.all(Array.from({ length: Math.min(items.length, maxBatch + decodeConcurrency) }, worker));
    try {
      await this.#store.maintain();
    } catch (err) {
      throw atCallSite(err, callSite);
    }
    return results;
  }

  /**
   * Stores entries whose features were computed elsewhere (`classifier.searchFeatures` in a job worker, or
   * generated for a benchmark), replacing every entry of their sources. Vectors are normalised here.
   * `maintain: false` leaves the upkeep of {@link maintain} to the caller (bulk loads).
   * @example
   * await index.addEntries([{ id: 'a.mp4#0', source: 'a.mp4', segment: 0, start: 0, end: 10, vector, features }]);
   */
  async addEntries(entries: readonly EntryRow[], options: { maintain?: boolean } = {}): Promise<void> {
    const callSite = new Error();
    this.#check();
    const { maintain = true } = optionalObject('options', options, ['maintain']);
    if (!Array.isArray(entries)) throw typeError('entries', 'an array of entries', entries);
    const bytes = this.#store.featureBytes;
    const bySource = new Map<string, EntryRow[]>();
    entries.forEach((e, i) => {
      if (!is.object(e) || !is.string(e.id) || !is.string(e.source)) throw typeError(`entries[${i}]`, 'an entry with string id and source', e);
      if (!is.typedArray<Float32Array>(e.vector, 'Float32Array') || e.vector.length !== this.meta.projectionDim) {
        throw rangeError(`entries[${i}].vector`, `a Float32Array of ${this.meta.projectionDim}`, e.vector);
      }
      if (!is.typedArray<Uint8Array>(e.features, 'Uint8Array') || e.features.length !== bytes) {
        throw rangeError(`entries[${i}].features`, `a Uint8Array of ${bytes} bytes (${this.meta.numPatches} x ${this.meta.projectionDim} ${this.meta.featureDtype})`, e.features);
      }
      const rows = bySource.get(e.source) ?? [];
      const r = e as unknown as EntryRow;
      if (![r.segment, r.start, r.end].every(Number.isFinite)) throw typeError(`entries[${i}]`, 'finite segment, start and end', e);
      rows.push({ ...r, vector: normalised(r.vector) });
      bySource.set(e.source, rows);
    });
    try {
      await this.#writing;
      await this.#store.replaceSources([...bySource.keys()], [...bySource.values()].flat());
      this.#size = await this.#store.count();
      if (maintain) await this.#store.maintain();
    } catch (err) {
      throw atCallSite(err, callSite);
    }
  }

  /**
   * Upkeep that `add` does after each call: compacts many small files, (re)builds the IVF-PQ index when due.
   * Call it after `addEntries(..., { maintain: false })` bulk loads.
   * @example
   * await index.maintain();
   */
  async maintain(): Promise<void> {
    const callSite = new Error();
    this.#check();
    try {
      await this.#writing;
      await this.#store.maintain();
    } catch (err) {
      throw atCallSite(err, callSite);
    }
  }

  /**
   * Loads what searches keep in memory (every entry's vector and metadata, see `rowCache`), so that the
   * first searches are as fast as the rest; searches before it completes read from disk instead. A server calls
   * it before taking traffic.
   * @example
   * await index.warmUp();
   */
  async warmUp(): Promise<void> {
    const callSite = new Error();
    this.#check();
    try {
      await this.#store.warmUp();
    } catch (err) {
      throw atCallSite(err, callSite);
    }
  }

  #textFeatures(text: string): Promise<Float32Array> {
    let f = this.#textCache.get(text);
    if (f) {
      this.#textCache.delete(text);
    } else {
      const { tokenizer } = this.#clf.processor;
      const encoding = tokenizer.batchEncode([text], { padding: 'longest', truncation: true, maxLength: this.#clf.model.config.textConfig.maxPositionEmbeddings });
      f = this.#clf.model.getTextFeatures(encoding).then((t) => t.toFloat32Array());
      f.catch(() => this.#textCache.delete(text));
      if (this.#textCache.size >= TEXT_CACHE_SIZE) this.#textCache.delete(this.#textCache.keys().next().value as string);
    }
    this.#textCache.set(text, f);
    return f;
  }

  #promptTensor(bytes: Uint8Array, n: number): Tensor {
    const dims = [n, this.meta.numPatches, this.meta.projectionDim];
    return this.meta.featureDtype === 'float16'
      ? new Tensor('float16', new Uint16Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 2), dims)
      : new Tensor('float32', new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4), dims);
  }

  /**
   * The `k` entries that best match `text`, best first, by X-CLIP's `logits_per_video`: the `candidates` nearest
   * by plain embedding cosine are scored exactly. With `candidates` at least the index size the search is
   * exhaustive. `text` may also be its `getTextFeatures` output (projectionDim floats), e.g. cached by the caller.
   * @example
   * const hits = await index.search('a person playing guitar', { k: 10, candidates: 200 });
   */
  async search(text: string | Float32Array, options: SearchOptions = {}): Promise<SearchResult[]> {
    const callSite = new Error();
    this.#check();
    const features = is.typedArray<Float32Array>(text, 'Float32Array');
    if (features && text.length !== this.meta.projectionDim) throw rangeError('text', `a Float32Array of ${this.meta.projectionDim} (text features)`, text);
    if (!features && (!is.string(text) || text.trim() === '')) throw typeError('text', 'a non-empty string or text features', text);
    const o = optionalObject('options', options, ['k', 'candidates', 'onTimings']);
    const k = integerInRange('k', o.k ?? 10, 1, 10000);
    const candidates = integerInRange('candidates', o.candidates ?? 200, k, 100000);
    if (o.onTimings !== undefined && typeof o.onTimings !== 'function') throw typeError('onTimings', 'a function', o.onTimings);
    try {
      const t0 = performance.now();
      const textFeatures = features ? (text as Float32Array) : await this.#textFeatures(text as string);
      const t1 = performance.now();
      const query = normalised(textFeatures);
      // Stage 1 names its candidates by row handles, which a write committed in between (another process's add,
      // a compaction) may take away: then the search starts again from stage 1 on the new version.
      for (let attempt = 1; ; attempt++) {
        const timings = { textEncode: t1 - t0, ann: 0, featureFetch: 0, rerank: 0, candidates: 0 };
        let t = performance.now();
        const c = await this.#store.candidates(query, candidates);
        const n = c.handles.length;
        timings.ann = performance.now() - t;
        timings.candidates = n;
        if (n === 0) return [];
        t = performance.now();
        const bytes = await this.#store.features(c.handles);
        timings.featureFetch = performance.now() - t;
        if (bytes === undefined) {
          vanished(attempt);
          continue;
        }
        t = performance.now();
        const logits = await this.#clf.model.scoreVideoFeatures({
          videoEmbeds: new Tensor('float32', c.vectors, [n, this.meta.projectionDim]),
          promptFeatures: this.#promptTensor(bytes, n),
          textFeatures: new Tensor('float32', textFeatures, [1, this.meta.projectionDim]),
        });
        timings.rerank = performance.now() - t;
        const l = logits.toFloat32Array();
        const best = Array.from({ length: n }, (_, i) => i)
          .sort((a, b) => l[b] - l[a])
          .slice(0, k);
        t = performance.now();
        const meta = await this.#store.describe(best.map((i) => c.handles[i]));
        timings.featureFetch += performance.now() - t;
        if (meta === undefined) {
          vanished(attempt);
          continue;
        }
        (o.onTimings as SearchOptions['onTimings'])?.(timings);
        const scale = this.#clf.model.logitScale;
        return best.map((i, j) => ({ id: meta.ids[j], source: meta.sources[j], start: meta.starts[j], end: meta.ends[j], logit: l[i], score: l[i] / scale }));
      }
    } catch (err) {
      throw atCallSite(err, callSite);
    }
  }

  /**
   * Entries whose video embedding is closest (cosine) to an entry of the index (by id) or to a video.
   * @example
   * const near = await index.similar('/videos/a.mp4#0', { k: 5 });
   */
  async similar(videoOrId: string | VideoBytes, options: { k?: number } = {}): Promise<SimilarResult[]> {
    const callSite = new Error();
    this.#check();
    const k = integerInRange('k', optionalObject('options', options, ['k']).k ?? 10, 1, 10000);
    try {
      let vector: Float32Array;
      const exclude: string[] = [];
      const found: EntryBatch | undefined = is.string(videoOrId) ? await this.#store.get([videoOrId]) : undefined;
      if (found && found.ids.length > 0) {
        vector = found.vectors.slice(0, this.meta.projectionDim);
        exclude.push(videoOrId as string);
      } else {
        const [row] = await this.#entries(toItem(videoOrId, 0), undefined, undefined);
        vector = row.vector;
      }
      const batch = await this.#store.nearest(vector, k, exclude);
      return batch.ids.map((id, i) => ({ id, source: batch.sources[i], start: batch.starts[i], end: batch.ends[i], score: batch.similarities[i] }));
    } catch (err) {
      throw atCallSite(err, callSite);
    }
  }

  /**
   * Entries by id, in the order asked (ids not stored are left out), without their features.
   * @example
   * const [entry] = await index.get(['/videos/a.mp4#0']);
   * if (entry) console.log(entry.source, entry.start, entry.end);
   */
  async get(ids: readonly string[]): Promise<IndexEntry[]> {
    const callSite = new Error();
    this.#check();
    if (!Array.isArray(ids) || !ids.every(is.string)) throw typeError('ids', 'an array of entry ids', ids);
    try {
      const batch = await this.#store.get(ids);
      const byId = new Map(batch.ids.map((id, i) => [id, { id, source: batch.sources[i], start: batch.starts[i], end: batch.ends[i] }]));
      return ids.flatMap((id) => byId.get(id) ?? []);
    } catch (err) {
      throw atCallSite(err, callSite);
    }
  }

  /**
   * Removes entries by id (`<source>#<segment>`); resolves with how many were stored.
   * @example
   * await index.remove(['/videos/a.mp4#0']);
   */
  async remove(ids: readonly string[]): Promise<number> {
    const callSite = new Error();
    this.#check();
    if (!Array.isArray(ids) || !ids.every(is.string)) throw typeError('ids', 'an array of entry ids', ids);
    try {
      await this.#writing;
      const removed = await this.#store.removeIds(ids);
      this.#size = await this.#store.count();
      return removed;
    } catch (err) {
      throw atCallSite(err, callSite);
    }
  }

  /**
   * What `xclip-node index info` prints.
   * @example
   * const { entries, bytesPerEntry } = await index.info();
   */
  async info(): Promise<IndexInfo> {
    this.#check();
    const s = await this.#store.stats();
    return {
      dir: this.dir,
      model: this.meta.model,
      featureDtype: this.meta.featureDtype,
      entries: s.rows,
      sources: await this.#store.countSources(),
      bytes: s.bytes,
      bytesPerEntry: s.rows > 0 ? s.bytes / s.rows : 0,
      annIndexed: s.annIndexed,
      memoryBytes: s.memoryBytes,
    };
  }

  /**
   * Waits for pending commits, closes the table and disposes the model if the index loaded it. Idempotent.
   * @example
   * await index.close();
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#writing;
    await this.#store.close();
    if (this.#ownsModel) await this.#clf.dispose();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
