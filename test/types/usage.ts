// Compiled with `tsc --noEmit` by test/types.test.ts: typed usage of the public API must type-check, and each
// line marked as an expected error must stay an error.
import {
  MediaSources,
  type OpenedMedia,
  type BaseModelOutputWithPooling,
  type BatchStats,
  type PreparedVideo,
  type JobOutcome,
  type QueueCounts,
  VideoJobQueue,
  VideoJobWorker,
  type WorkerStats,
  videoRef,
  Tensor,
  VideoMAEImageProcessor,
  XCLIPConfig,
  XCLIPProcessor,
  XClipError,
  type XClipErrorCode,
  XCLIPModel,
  type XCLIPOutput,
  XCLIPTextModel,
  XCLIPVisionModel,
  ZeroShotVideoClassifier,
  type FileRecord,
  type LabelScore,
  fileRecord,
  isFailedRecord,
} from '../../lib';
import { buildServer } from '../../lib/server/app';

export async function usage(): Promise<void> {
  const config: XCLIPConfig = XCLIPConfig.fromPretrained('./model');
  const frames: number = config.visionConfig.numFrames;
  const model = await XCLIPModel.fromPretrained('./model', { device: 'cuda:1', dtype: 'bfloat16' });
  const random = await XCLIPModel.fromConfig(new XCLIPConfig({ projectionDim: 512 }), { seed: 1n, device: 'auto' });
  const pixelValues = new Tensor('float32', new Float32Array(frames * 3 * 224 * 224), [1, frames, 3, 224, 224]);
  const out: XCLIPOutput = await model.forward(
    { inputIds: [[49406, 320, 49407]], attentionMask: new Tensor('int64', [1n, 1n, 1n], [1, 3]), pixelValues },
    { returnLoss: false, outputHiddenStates: true },
  );
  const logits: Float32Array = out.logitsPerVideo.toFloat32Array();
  const hidden: Tensor[] | undefined = out.textModelOutput.hiddenStates;
  const text: Tensor = await model.getTextFeatures({ inputIds: new Tensor('int32', new Int32Array(3), [1, 3]) });
  const video: Tensor = await model.getVideoFeatures(pixelValues);
  const towerText = await XCLIPTextModel.fromPretrained('./model');
  const pooled: BaseModelOutputWithPooling = await towerText.forward({ inputIds: [[1n, 2n]] }, { outputAttentions: true });
  const towerVision = await XCLIPVisionModel.fromPretrained('./model', { device: 'cpu' });
  await towerVision.forward({ pixelValues: new Tensor('float16', new Uint16Array(8 * 3 * 4), [8, 3, 2, 2]) }, { interpolatePosEncoding: true });
  const dims: readonly number[] = video.dims;
  try {
    await random.dispose();
  } catch (e) {
    if (e instanceof XClipError) {
      const code: XClipErrorCode = e.code;
      void code;
    }
  }
  {
    await using scoped = await XCLIPModel.fromPretrained('./model');
    void scoped.device;
  }
  void [logits, hidden, text, pooled, dims];

  const clf = await ZeroShotVideoClassifier.fromPretrained('./model', { maxBatch: 16, maxWaitMs: 2, decodeConcurrency: 4, decodeThreads: 2, device: 'cpu' });
  const scored = await Promise.all(['a.mp4', 'b.mp4'].map((v) => clf.classify(v, ['x', 'y'])));
  const best: string = scored[0][0].label;
  const stats: Readonly<BatchStats> = clf.stats;
  const perCall: number = stats.videos / stats.batches + stats.maxBatchSeen;
  const shared = new ZeroShotVideoClassifier(model, clf.processor, '', { maxBatch: 4 });
  await shared.dispose();
  void [best, perCall];
  // @ts-expect-error stats are read-only
  clf.stats.batches = 0;
  // @ts-expect-error misspelled batching option
  new ZeroShotVideoClassifier(model, clf.processor, '', { maxBach: 4 });

  const proc = await VideoMAEImageProcessor.fromPretrained('./model');
  const prepared: PreparedVideo = await proc.prepare('a.mp4', { numFrames: 8, out: new Float32Array(8 * 3 * 224 * 224), signal: new AbortController().signal });
  const slotSize: readonly [number, number] | undefined = proc.fixedOutputSize;
  const fromHub = await XCLIPProcessor.fromPretrained('microsoft/xclip-base-patch32', { localFilesOnly: true });
  const encoded = await fromHub.encode({ videos: ['a.mp4'], out: new Float32Array(8 * 3 * 224 * 224) });
  void [prepared.pixelValues.dims, prepared.indices, slotSize, encoded.pixelValues];
  // @ts-expect-error out is a Float32Array
  await proc.prepare('a.mp4', { out: new Float64Array(4) });
  // @ts-expect-error the processor takes hub options, not model options
  await XCLIPProcessor.fromPretrained('org/name', { device: 'cpu' });
  const ac = new AbortController();
  const rows: Float32Array[] = await clf.score(['a.mp4', new URL('file:///v/b.mp4')], ['a dog'], { signal: ac.signal, timeoutMs: 1000, truncation: true });
  const top: LabelScore[] = await clf.classify('a.mp4', ['x'], { topK: 1, maxPixels: 1 << 20, applyRotation: true, sampling: 'uniform', signal: ac.signal });
  const embeds: Float32Array[] = await clf.embedVideos(['a.mp4'], { signal: ac.signal });
  const texts: Float32Array[] = await clf.embedTexts(['a dog'], { truncation: true });
  const record: FileRecord<{ scores: LabelScore[] }> = fileRecord('a.mp4', { status: 'fulfilled', value: top }, (scores) => ({ scores }));
  if (isFailedRecord(record)) void record.error.code;
  void [rows, embeds, texts];
  // @ts-expect-error topK is classify's, not score's
  await clf.score(['a.mp4'], ['x'], { topK: 1 });
  // @ts-expect-error embedVideos does not tokenize
  await clf.embedVideos(['a.mp4'], { truncation: true });
  const sources = new MediaSources({ mediaRoot: '/srv/videos', allowUrlHosts: ['videos.example.com'], maxInlineBytes: 1 << 20 });
  const media: OpenedMedia = await sources.open({ path: 'a.mp4' }, { signal: AbortSignal.timeout(1000) });
  await clf.classify(media.source, ['x']);
  await media.close();
  // @ts-expect-error a reference names exactly one of path, url, data
  await sources.open({ file: 'a.mp4' });
  // @ts-expect-error misspelled policy key
  new MediaSources({ mediaRooot: '/srv' });
  const app = await buildServer({ classifier: clf, modelId: 'm', maxActive: 4, media: { mediaRoot: '/srv' } });
  await app.xclip.shutdown(1000);
  // @ts-expect-error modelId is required
  await buildServer({ classifier: clf });

  // @ts-expect-error device must be one of the listed strings
  await XCLIPModel.fromPretrained('./model', { device: 'gpu' });
  // @ts-expect-error no such dtype
  await XCLIPModel.fromPretrained('./model', { dtype: 'float64' });
  // @ts-expect-error pixelValues is required for forward
  await model.forward({ inputIds: [[1]] });
  // @ts-expect-error misspelled option
  await model.forward({ inputIds: [[1]], pixelValues }, { returnLos: true });
  // @ts-expect-error pixel values must be floating point
  await model.getVideoFeatures(new Tensor('int64', [1n], [1]));
  // @ts-expect-error data must match the element type
  new Tensor('float32', new Int32Array(4), [4]);
  // @ts-expect-error dims are read-only
  video.dims.push(1);
  // @ts-expect-error the vision tower takes no text
  await towerVision.forward({ inputIds: [[1]] });
}

export async function queueUsage(clf: ZeroShotVideoClassifier): Promise<void> {
  const queue = new VideoJobQueue({ redis: 'redis://127.0.0.1:6379', attempts: 3, backoffMs: 500 });
  const id: string = await queue.add('classify', { video: videoRef('a.mp4'), labels: ['x', 'y'], topK: 1 }, { jobId: 'a-xy' });
  const ids: string[] = await queue.addBulk('embed', [{ video: { url: 'https://videos.example.com/b.mp4' } }, { video: videoRef(Buffer.alloc(8)) }]);
  const [o]: JobOutcome<'classify'>[] = await queue.wait<'classify'>([id], { signal: AbortSignal.timeout(1000) });
  if (o.status === 'completed') {
    const label: string = o.result.scores[0].label;
    void label;
  } else {
    const code: string = o.error.code;
    void code;
  }
  const counts: QueueCounts = await queue.counts();
  const worker = new VideoJobWorker(clf, {
    redis: 'redis://127.0.0.1:6379',
    sources: { maxInlineBytes: 1 << 20, open: async () => ({ source: 'a.mp4', close: async () => undefined }) },
    concurrency: 16,
    lockDurationMs: 60000,
  });
  const stats: WorkerStats = worker.stats;
  void [ids, counts, stats];
  // @ts-expect-error embed jobs take no labels
  await queue.add('embed', { video: { path: 'a.mp4' }, labels: ['x'] });
  // @ts-expect-error a video is a path, a URL or bytes
  await queue.add('embed', { video: { file: 'a.mp4' } });
  // @ts-expect-error no such job kind
  await queue.add('transcode', {});
  const [e] = await queue.wait<'embed'>(ids);
  // @ts-expect-error the result of an embed job has no scores
  if (e.status === 'completed') void e.result.scores;
}
