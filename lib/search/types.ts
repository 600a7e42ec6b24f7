/**
 * The public types of {@link VideoIndex}: its options, what it answers, and how a search spends its time.
 * @module
 */
import type { ZeroShotVideoClassifier } from '../pipelines';
import type { ModelIdentity } from './meta';

/**
 * @example
 * const index = await VideoIndex.open('./my-index', { model: 'microsoft/xclip-base-patch32' });
 */
export interface VideoIndexOptions {
  /**
   * The model: a directory, a hub id or `demo` (as `--model`), or a loaded classifier to share (not disposed by
   * `close`). Default: the model the index was built with; for a new index, `microsoft/xclip-base-patch32`.
   */
  model?: string | ZeroShotVideoClassifier;
  /** With a classifier: the id to record for it (e.g. the hub id it was loaded from); default its directory. */
  modelId?: string;
  /**
   * Precision of the stored prompt features, fixed when the index is created. `'float16'` (default) halves the
   * disk; rounding the features moves logits by up to ~1e-3 × the logit scale. `'float32'`: every logit equals
   * `forward()`'s within 1e-4.
   */
  featureDtype?: 'float16' | 'float32';
  /** Entries from which stage 1 uses an IVF-PQ index instead of an exact scan. Default 50,000. */
  annThreshold?: number;
  /** IVF partitions stage 1 probes per query (with the IVF-PQ index), 1 to 100,000. Default 32. */
  nprobes?: number;
  /**
   * With the IVF-PQ index, stage 1 re-scores this many times K′ candidates by their full vectors before keeping K′
   * (LanceDB's refine), 1 to 100. Default 4: product quantisation alone ranks too coarsely. On the search bench's
   * 1M entries, K′ = 200 held 73% of the exact cosine top 10 at 1, 89% at 2 and 99.5% at 4. The re-scoring reads
   * the candidates' vectors from memory with `rowCache` (default), else from disk (~half of stage 1's time at 1M).
   */
  refineFactor?: number;
  /**
   * Hold what a search reads of every entry in memory: its video embedding, which stage 1 scores (every entry
   * below `annThreshold`, the IVF-PQ index's candidates above), and its metadata (id, source, times), which names
   * the results. Read from disk instead, each costs a LanceDB read per data file and column touched. About 4 bytes
   * per dimension per entry plus its ids (~2.1 GB at 1M entries of 512). Loaded in the background from the first
   * search on (searches read from disk until then), or at once by `warmUp()`. Default true: on the search bench it
   * takes ~18 ms off a search at 1M entries and ~15 ms at 10k.
   */
  rowCache?: boolean;
}

/**
 * @example
 * await index.add(['a.mp4', { source: 'upload-17.mp4', data: bytes }], { clipSeconds: 10 });
 */
export interface AddOptions {
  /** Cut each video into segments of this many seconds, one entry each; default: one entry per video. */
  clipSeconds?: number;
  /** Seconds between segment starts (with `clipSeconds`); default `clipSeconds`; shorter: overlapping segments. */
  strideSeconds?: number;
  /** Called once a video's entries are committed (durable), in completion order. */
  onProgress?: (progress: AddProgress) => void;
  /** Stops decoding and feature extraction of the videos not committed yet; they fail with `signal.reason`. */
  signal?: AbortSignal;
}

/** A video given by its bytes, under a name of its own. */
export interface VideoBytes {
  source: string;
  data: Uint8Array;
}

/**
 * A video file stored under a name of its own (say, the name a job or an upload gave it, while the file read is
 * a temp file or a descriptor path).
 */
export interface NamedVideoFile {
  source: string;
  path: string;
}

/** One entry an `add` stored: a whole video, or a segment of it. */
export interface AddedEntry {
  /** `<source>#<segment>`. */
  id: string;
  /** Seconds. */
  start: number;
  end: number;
}

export interface AddProgress {
  source: string;
  entries: number;
  /** Videos finished so far (committed or failed) and in all. */
  done: number;
  total: number;
}

export interface AddResult {
  source: string;
  /** Entries stored (0 when the video failed). */
  entries: number;
  /** The entries stored, in segment order (empty when the video failed). */
  added: AddedEntry[];
  /** Why the video was skipped (it could not be decoded, ...); the other videos are added all the same. */
  error?: Error;
}

/**
 * @example
 * const hits = await index.search('a dog catching a frisbee', { k: 5, candidates: 500 });
 */
export interface SearchOptions {
  /** Results wanted, 1 to 10,000. Default 10. */
  k?: number;
  /** Stage-1 candidates scored exactly (K′), k to 100,000. Default 200. */
  candidates?: number;
  /** Receives where the time went (for benchmarks and monitoring). */
  onTimings?: (timings: SearchTimings) => void;
}

/** Milliseconds per stage of one search. */
export interface SearchTimings {
  textEncode: number;
  ann: number;
  /** Reading the candidates' features, and the metadata of those kept. */
  featureFetch: number;
  rerank: number;
  candidates: number;
}

/**
 * @example
 * const [best] = await index.search('cooking pasta');
 * console.log(best.source, best.start, best.end, best.logit);
 */
export interface SearchResult {
  id: string;
  source: string;
  /** Seconds. */
  start: number;
  end: number;
  /** `logits_per_video` of this (video, text) pair, as `XCLIPModel.forward` computes it. */
  logit: number;
  /** The same as a cosine similarity: `logit / model.logitScale`. */
  score: number;
}

/** A stored segment, as {@link VideoIndex.get} returns it. */
export type IndexEntry = Pick<SearchResult, 'id' | 'source' | 'start' | 'end'>;

/** A {@link VideoIndex.similar} hit: `score` is the cosine of the two video embeddings. */
export type SimilarResult = Omit<SearchResult, 'logit'>;

/** Counters for `xclip-node index info`. */
export interface IndexInfo {
  dir: string;
  model: ModelIdentity;
  featureDtype: 'float16' | 'float32';
  entries: number;
  sources: number;
  bytes: number;
  bytesPerEntry: number;
  annIndexed: number;
  /** Bytes the open index holds in memory for searches (`rowCache`; 0 before the IVF-PQ index or warm-up). */
  memoryBytes: number;
}
