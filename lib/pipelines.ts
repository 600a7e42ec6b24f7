/**
 * The main job: zero-shot video classification against free-text labels, and embedding helpers.
 * @module
 */
import { resolveModelDir, type HubOptions } from './hub';
import { XCLIPModel, type Device, type ModelDtype } from './models';
import { XCLIPProcessor, type VideoInput } from './processor';
import type { Tensor } from './tensor';
import type { BatchEncoding } from './tokenizer';
import { checkKeys, is, rangeError, typeError } from './validate';

export interface PipelineOptions extends Omit<HubOptions, 'onProgress'> {
  device?: Device;
  dtype?: ModelDtype;
  onProgress?: HubOptions['onProgress'];
}

export interface ClassifyOptions {
  /** Keep the best `topK` labels (default: all). */
  topK?: number;
  /** Template each label is put into, `{}` marks the label (default `'{}'`); e.g. `'a video of {}'`. */
  hypothesisTemplate?: string;
}

export interface LabelScore {
  label: string;
  score: number;
}

const LABEL_CACHE_SIZE = 32;

function softmaxRows(logits: Tensor): Float32Array[] {
  const [rows, cols] = logits.dims;
  const data = logits.toFloat32Array();
  return Array.from({ length: rows }, (_, r) => {
    const row = data.subarray(r * cols, (r + 1) * cols);
    const max = Math.max(...row);
    const exp = row.map((v) => Math.exp(v - max));
    const sum = exp.reduce((a, b) => a + b, 0);
    return exp.map((v) => v / sum);
  });
}

function rowsOf(t: Tensor): Float32Array[] {
  const [rows, cols] = t.dims;
  const data = t.toFloat32Array();
  return Array.from({ length: rows }, (_, r) => data.slice(r * cols, (r + 1) * cols));
}

/**
 * Zero-shot classification of videos against labels: softmax over `logits_per_video`, as transformers' pipeline.
 * @example
 * const clf = await ZeroShotVideoClassifier.fromPretrained('microsoft/xclip-base-patch32');
 * const [best] = await clf.classify('clip.mp4', ['playing sports', 'eating spaghetti', 'go shopping']);
 * console.log(best.label, best.score);
 */
export class ZeroShotVideoClassifier {
  readonly model: XCLIPModel;
  readonly processor: XCLIPProcessor;
  /** The model directory in use. */
  readonly modelDir: string;
  /** Text features of label sets, most recently used last: each set goes through the text tower once. */
  readonly #labelCache = new Map<string, Promise<Tensor>>();

  constructor(model: XCLIPModel, processor: XCLIPProcessor, modelDir = '') {
    this.model = model;
    this.processor = processor;
    this.modelDir = modelDir;
  }

  /**
   * From a model directory or a hub id (resolved through the Hugging Face cache, downloading what is missing).
   * @example
   * const clf = await ZeroShotVideoClassifier.fromPretrained('./my-xclip', { device: 'cpu' });
   */
  static async fromPretrained(idOrDir: string, options: PipelineOptions = {}): Promise<ZeroShotVideoClassifier> {
    if (!is.string(idOrDir)) throw typeError('idOrDir', 'string', idOrDir);
    if (!is.object(options as unknown)) throw typeError('options', 'object', options);
    const { device, dtype, ...hub } = options;
    const dir = await resolveModelDir(idOrDir, hub);
    const [model, processor] = await Promise.all([XCLIPModel.fromPretrained(dir, { device, dtype }), XCLIPProcessor.fromPretrained(dir)]);
    return new ZeroShotVideoClassifier(model, processor, dir);
  }

  #encodeLabels(texts: readonly string[]): BatchEncoding {
    return this.processor.tokenizer.batchEncode(texts, { padding: 'longest' });
  }

  #labelFeatures(texts: readonly string[]): Promise<Tensor> {
    const key = JSON.stringify(texts);
    let features = this.#labelCache.get(key);
    if (features) {
      this.#labelCache.delete(key);
    } else {
      features = this.model.getTextFeatures(this.#encodeLabels(texts));
      // A failed encoding is not cached: the next call tries again.
      features.catch(() => this.#labelCache.delete(key));
      if (this.#labelCache.size >= LABEL_CACHE_SIZE) this.#labelCache.delete(this.#labelCache.keys().next().value as string);
    }
    this.#labelCache.set(key, features);
    return features;
  }

  /**
   * Scores every label for each video, best first. One video in, one list out; an array of videos in, one list per
   * video out. All videos × labels go through the model in one batched call; a label set's text features are
   * computed once and reused by later calls.
   * @example
   * const [a, b] = await clf.classify(['a.mp4', 'b.mp4'], ['cooking', 'dancing'], { topK: 1 });
   */
  async classify(video: VideoInput, labels: readonly string[], options?: ClassifyOptions): Promise<LabelScore[]>;
  async classify(videos: readonly VideoInput[], labels: readonly string[], options?: ClassifyOptions): Promise<LabelScore[][]>;
  async classify(
    videos: VideoInput | readonly VideoInput[],
    labels: readonly string[],
    options: ClassifyOptions = {},
  ): Promise<LabelScore[] | LabelScore[][]> {
    if (!Array.isArray(labels) || labels.length === 0) throw typeError('labels', 'a non-empty array of strings', labels);
    labels.forEach((l, i) => {
      if (!is.string(l)) throw typeError(`labels[${i}]`, 'string', l);
    });
    if (!is.object(options as unknown)) throw typeError('options', 'object', options);
    checkKeys('options', options as Record<string, unknown>, ['topK', 'hypothesisTemplate']);
    const { topK = labels.length, hypothesisTemplate = '{}' } = options;
    if (!is.integer(topK)) throw typeError('topK', `integer between 1 and ${labels.length}`, topK);
    if (!is.inRange(topK, 1, labels.length)) throw rangeError('topK', `integer between 1 and ${labels.length}`, topK);
    if (!is.string(hypothesisTemplate) || !hypothesisTemplate.includes('{}')) {
      throw typeError('hypothesisTemplate', "a string containing '{}'", hypothesisTemplate);
    }
    const single = !Array.isArray(videos) || (videos.length > 0 && is.object(videos[0]) && 'data' in (videos[0] as object));
    const list = (single ? [videos] : videos) as readonly VideoInput[];
    if (list.length === 0) throw rangeError('videos', 'at least one video', videos);
    const texts = labels.map((l) => hypothesisTemplate.split('{}').join(l));
    const [textFeatures, { pixelValues }] = await Promise.all([this.#labelFeatures(texts), this.processor.encode({ videos: list })]);
    const out = await this.model.forwardWithTextFeatures({ textFeatures, pixelValues: pixelValues as Tensor<'float32'> });
    const results = softmaxRows(out.logitsPerVideo).map((probs) =>
      Array.from(probs, (score, i) => ({ label: labels[i], score }))
        .sort((a, b) => b.score - a.score)
        .slice(0, topK),
    );
    return single ? results[0] : results;
  }

  /**
   * Video embeddings from `get_video_features` (the MIT-pooled projection, not normalised), one Float32Array per
   * video.
   * @example
   * const [e] = await clf.embedVideos(['clip.mp4']);
   */
  async embedVideos(videos: readonly VideoInput[]): Promise<Float32Array[]> {
    if (!Array.isArray(videos) || videos.length === 0) throw typeError('videos', 'a non-empty array of videos', videos);
    const { pixelValues } = await this.processor.encode({ videos });
    return rowsOf(await this.model.getVideoFeatures(pixelValues as Tensor<'float32'>));
  }

  /**
   * Text embeddings (`get_text_features`), one Float32Array per text.
   * @example
   * const [q] = await clf.embedTexts(['a person cooking']);
   */
  async embedTexts(texts: readonly string[]): Promise<Float32Array[]> {
    if (!Array.isArray(texts) || texts.length === 0) throw typeError('texts', 'a non-empty array of strings', texts);
    return rowsOf(await this.model.getTextFeatures(this.#encodeLabels(texts)));
  }

  /** Releases the model's memory; later calls reject. */
  dispose(): void {
    this.model.dispose();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.dispose();
  }
}

/**
 * `get_video_features` for each video, as Float32Arrays.
 * @example
 * const embeds = await embedVideos(model, processor, ['a.mp4', 'b.mp4']);
 */
export async function embedVideos(model: XCLIPModel, processor: XCLIPProcessor, videos: readonly VideoInput[]): Promise<Float32Array[]> {
  return new ZeroShotVideoClassifier(model, processor).embedVideos(videos);
}

/**
 * `get_text_features` for each text, as Float32Arrays.
 * @example
 * const embeds = await embedTexts(model, processor, ['a dog', 'a cat']);
 */
export async function embedTexts(model: XCLIPModel, processor: XCLIPProcessor, texts: readonly string[]): Promise<Float32Array[]> {
  return new ZeroShotVideoClassifier(model, processor).embedTexts(texts);
}
