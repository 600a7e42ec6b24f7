// The job queue in one process, on a real redis-server: VideoJobQueue adds jobs, VideoJobWorker runs them on the e2e
// fixture model, its videos opened by the media-source policy (MediaSources). Results are the in-process results,
// keyed by job id; a corrupt video fails at once and is the only dead letter; a URL whose host answers 503 is
// retried with backoff; bad job data is refused on both sides; locks are renewed while jobs wait for their batch.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { setTimeout as sleep } from 'timers/promises';

import { Queue, QueueEvents } from 'bullmq';

import { WorkerMetrics, metricsUrl, serveMetrics } from '../../lib/jobs/metrics';
import { type JobProgress } from '../../lib/jobs/jobTypes';
import { VideoJobQueue, videoRef } from '../../lib/jobs/queue';
import { VideoJobWorker, type VideoSources } from '../../lib/jobs/worker';
import { type MediaRef, MediaSources } from '../../lib/mediaSource';
import { type LabelScore, ZeroShotVideoClassifier } from '../../lib/pipelines';
import { fixturesDir } from '../helpers/fixtures';
import { type RedisServer, startRedis } from '../helpers/redis';
import { startVideoHost } from '../helpers/videoHost';
import { E2E_MODEL, VIDEOS } from '../helpers/workers';

const LABELS = ['playing sports', 'eating spaghetti', 'go shopping'];
const GOOD = ['h264_320x240_30fps.mp4', 'vp9_176x144_25fps.webm', 'mjpeg_144x256_portrait.mov'];
const SCORES = 1e-5;
const MODEL = { model: 'xclip-e2e-a', demo: false };

const INLINE = 16 * 1024 * 1024;
// The worker's policy: paths under the fixture videos, inline bytes up to 16 MiB, no URLs unless a test allows some.
const sources = new MediaSources({ mediaRoot: VIDEOS, maxInlineBytes: INLINE });

function expectScores(actual: LabelScore[], expected: LabelScore[]): void {
  expect(actual.map((s) => s.label)).toEqual(expected.map((s) => s.label));
  actual.forEach((s, i) => expect(Math.abs(s.score - expected[i].score)).toBeLessThanOrEqual(SCORES));
}

let redis: RedisServer;
let clf: ZeroShotVideoClassifier;
let reference: ZeroShotVideoClassifier;

beforeAll(async () => {
  redis = await startRedis();
  [clf, reference] = await Promise.all([ZeroShotVideoClassifier.fromPretrained(E2E_MODEL), ZeroShotVideoClassifier.fromPretrained(E2E_MODEL, { maxBatch: 1 })]);
});
afterAll(async () => {
  await Promise.all([clf?.dispose(), reference?.dispose(), sources.dispose()]);
  await redis?.stop();
});

/** A queue, a worker on it, and what the queue's events reported, for one test. */
async function setup(queueName: string, worker: Partial<ConstructorParameters<typeof VideoJobWorker>[1]> = {}, classifier = clf) {
  const queue = new VideoJobQueue({ redis: redis.url, queue: queueName, backoffMs: 100 });
  const w = new VideoJobWorker(classifier, { redis: redis.url, queue: queueName, sources, model: MODEL, ...worker });
  const events = new QueueEvents(queueName, { connection: { host: '127.0.0.1', port: redis.port } });
  const progress = new Map<string, string[]>();
  events.on('progress', ({ jobId, data }) => progress.set(jobId, [...(progress.get(jobId) ?? []), (data as unknown as JobProgress).stage]));
  await events.waitUntilReady();
  await w.start();
  const close = async (): Promise<void> => {
    await w.close();
    await Promise.all([queue.close(), events.close()]);
  };
  return { queue, worker: w, progress, close };
}

describe('VideoJobQueue + VideoJobWorker', () => {
  it('classify, embed and embed-text jobs give the in-process results, keyed by job id, with progress at decode and model done', async () => {
    const { queue, progress, close } = await setup('kinds');
    try {
      const files = GOOD.map((f) => path.join(VIDEOS, f));
      const classifyIds = await queue.addBulk('classify', GOOD.map((f) => ({ video: videoRef(f), labels: LABELS })));
      // Bytes carried in the job: the same video as the first path.
      const inlineId = await queue.add('classify', { video: videoRef(fs.readFileSync(files[0])), name: 'inline.mp4', labels: LABELS, topK: 2 });
      const embedId = await queue.add('embed', { video: { path: GOOD[1] } });
      const textId = await queue.add('embed-text', { texts: LABELS });
      const outcomes = await queue.wait([...classifyIds, inlineId, embedId, textId], { signal: AbortSignal.timeout(60000) });
      expect(outcomes.map((o) => o.status)).toEqual(Array(6).fill('completed'));
      const results = outcomes.map((o) => (o.status === 'completed' ? o.result : undefined));

      for (const [i, file] of files.entries()) {
        const r = results[i] as { scores: LabelScore[]; model: string; demo: boolean };
        expect({ model: r.model, demo: r.demo }).toEqual(MODEL);
        expectScores(r.scores, await reference.classify(file, LABELS));
      }
      // The e2e fixture's own probabilities (HF transformers), through the queue.
      const cases = JSON.parse(fs.readFileSync(path.join(fixturesDir(), 'e2e', 'cases.json'), 'utf8')).cases;
      const c = cases['h264_320x240_30fps.mp4/labels3'] as { probs: number[] };
      for (const s of (results[0] as { scores: LabelScore[] }).scores) expect(Math.abs(s.score - c.probs[LABELS.indexOf(s.label)])).toBeLessThan(SCORES);
      expectScores((results[3] as { scores: LabelScore[] }).scores, (await reference.classify(files[0], LABELS)).slice(0, 2));
      const [embedding] = await reference.embedVideos([files[1]]);
      (results[4] as { embedding: number[] }).embedding.forEach((v, i) => expect(Math.abs(v - embedding[i])).toBeLessThan(1e-4));
      const texts = await reference.embedTexts(LABELS);
      (results[5] as { embeddings: number[][] }).embeddings.forEach((row, j) => row.forEach((v, i) => expect(Math.abs(v - texts[j][i])).toBeLessThan(1e-4)));

      // Results stay under their job ids.
      expect(await queue.result(classifyIds[1])).toEqual(results[1]);
      // Progress: videos report 'decoded', then 'done'; texts only 'done'.
      await new Promise((r) => setTimeout(r, 200));
      for (const id of [...classifyIds, inlineId, embedId]) expect(progress.get(id)).toEqual(['decoded', 'done']);
      expect(progress.get(textId)).toEqual(['done']);
    } finally {
      await close();
    }
  });

  it('a corrupt video fails at once, with its code in the failed reason, and is the only dead letter', async () => {
    const { queue, worker, close } = await setup('corrupt');
    try {
      const ids = await queue.addBulk('classify', ['broken_random_bytes.mp4', GOOD[0], 'audio_only.mp4'].map((f) => ({ video: { path: f }, labels: LABELS })));
      const outcomes = await queue.wait(ids, { signal: AbortSignal.timeout(60000) });
      expect(outcomes.map((o) => (o.status === 'failed' ? o.error.code : o.status))).toEqual(['VIDEO_OPEN_FAILED', 'completed', 'VIDEO_NO_STREAM']);
      // The message names the video as the job did, not what the decoder was handed.
      expect((outcomes[0] as { error: { message: string } }).error.message).toMatch(/^cannot open video broken_random_bytes\.mp4: /);
      const raw = new Queue('corrupt', { connection: { host: '127.0.0.1', port: redis.port } });
      try {
        const job = (await raw.getJob(ids[0]))!;
        expect(job.attemptsMade).toBe(1); // of 5 allowed: permanent failures are not retried
        expect(job.opts.attempts).toBe(5);
        expect(job.failedReason).toMatch(/^VIDEO_OPEN_FAILED: /);
      } finally {
        await raw.close();
      }
      const dead = await queue.deadLetters();
      expect(dead.map((d) => [d.id, d.error.code, d.attempts]).sort()).toEqual([
        [ids[0], 'VIDEO_OPEN_FAILED', 1],
        [ids[2], 'VIDEO_NO_STREAM', 1],
      ]);
      expect(dead[0].data).toEqual({ video: { path: expect.any(String) }, labels: LABELS });
      expect(dead[0]).toMatchObject({ kind: 'classify', worker: worker.name, model: MODEL.model });
      expect(worker.stats.retried).toBe(0);
      expect(worker.stats.failed).toEqual({ VIDEO_OPEN_FAILED: 1, VIDEO_NO_STREAM: 1 });
      expect(await queue.counts()).toEqual({ waiting: 0, active: 0, delayed: 0, completed: 1, failed: 2, dead: 2 });
    } finally {
      await close();
    }
  });

  it('a URL job: 503 is SOURCE_FAILED, retried with backoff, then completes or is dead-lettered after the last attempt; a host not allowed is SOURCE_FORBIDDEN at once', async () => {
    const host = await startVideoHost(VIDEOS);
    const tempDir = fs.mkdtempSync(path.join(os.tmpdir(), 'xclip-url-jobs-'));
    const urls = new MediaSources({ mediaRoot: VIDEOS, allowUrlHosts: [`127.0.0.1:${host.port}`], maxInlineBytes: INLINE, urlTimeoutMs: 10000, tempDir });
    // Served after two 503s; never served; served at once.
    host.fail(`/${GOOD[1]}`, 2);
    host.fail(`/${GOOD[2]}`, Infinity);
    const { queue, worker, close } = await setup('urls', { sources: urls });
    const raw = new Queue('urls', { connection: { host: '127.0.0.1', port: redis.port } });
    try {
      const retrying = new VideoJobQueue({ redis: redis.url, queue: 'urls', attempts: 3, backoffMs: 150 });
      const ids = await retrying.addBulk('classify', [
        { video: { url: `${host.base}/${GOOD[0]}` }, labels: LABELS },
        { video: { url: `${host.base}/${GOOD[1]}` }, labels: LABELS },
        { video: { url: `${host.base}/${GOOD[2]}` }, labels: LABELS },
        // Not the listed host (a name, though it resolves to the same address): refused before any request.
        { video: { url: `http://localhost:${host.port}/${GOOD[0]}` }, labels: LABELS },
        { video: { path: GOOD[0] }, labels: LABELS },
      ]);
      await retrying.close();
      const outcomes = await queue.wait(ids, { signal: AbortSignal.timeout(60000), pollMs: 100 });
      expect(outcomes.map((o) => (o.status === 'failed' ? o.error.code : o.status))).toEqual(['completed', 'completed', 'SOURCE_FAILED', 'SOURCE_FORBIDDEN', 'completed']);
      const scores = outcomes.map((o) => (o.status === 'completed' ? (o.result as { scores: LabelScore[] }).scores : []));
      // A fetched video scores as the same file read by path.
      expectScores(scores[0], scores[4]);
      expectScores(scores[0], await reference.classify(path.join(VIDEOS, GOOD[0]), LABELS));
      expectScores(scores[1], await reference.classify(path.join(VIDEOS, GOOD[1]), LABELS));

      const [ok, flaky, down, forbidden] = await Promise.all(ids.map((id) => raw.getJob(id)));
      expect(ok!.attemptsMade).toBe(1);
      // Two failed attempts, then the completing one; waits of 150 and 300 ms between them.
      expect(flaky!.attemptsMade).toBe(3);
      expect(flaky!.finishedOn! - flaky!.timestamp).toBeGreaterThanOrEqual(450);
      expect(down!.attemptsMade).toBe(3);
      expect(down!.failedReason).toBe(`SOURCE_FAILED: GET ${host.base}/${GOOD[2]} answered 503`);
      expect(forbidden!.attemptsMade).toBe(1);
      expect(forbidden!.failedReason).toBe(`SOURCE_FORBIDDEN: host localhost:${host.port} is not allowed for fetching`);
      expect(host.requests.filter((r) => r === `/${GOOD[0]}`)).toHaveLength(1);
      expect(host.requests.filter((r) => r === `/${GOOD[1]}`)).toHaveLength(3);
      expect(host.requests.filter((r) => r === `/${GOOD[2]}`)).toHaveLength(3);
      expect((await queue.deadLetters()).map((d) => [d.id, d.error.code, d.attempts]).sort()).toEqual([
        [ids[2], 'SOURCE_FAILED', 3],
        [ids[3], 'SOURCE_FORBIDDEN', 1],
      ]);
      expect(worker.stats.retried).toBe(4);
      expect(worker.stats.failed).toEqual({ SOURCE_FAILED: 1, SOURCE_FORBIDDEN: 1 });
      // Every fetched file was deleted once its job was done with it.
      expect(fs.readdirSync(tempDir)).toEqual([]);
    } finally {
      await raw.close();
      await close();
      await urls.dispose();
      await host.close();
      fs.rmSync(tempDir, { recursive: true, force: true });
    }
  });

  it('job data that is not what its kind takes is refused by the producer, and by the worker as INVALID_INPUT', async () => {
    const { queue, close } = await setup('invalid');
    const raw = new Queue('invalid', { connection: { host: '127.0.0.1', port: redis.port } });
    try {
      await expect(queue.add('classify', { video: { path: 'a.mp4' }, labels: [] })).rejects.toThrow(new TypeError('Expected a non-empty array of strings for labels but received []'));
      await expect(queue.add('classify', { video: { path: 'a.mp4', url: 'http://x' } as unknown as MediaRef, labels: LABELS })).rejects.toThrow(TypeError);
      await expect(queue.add('embed', { video: { path: 'a.mp4' }, lables: LABELS } as never)).rejects.toThrow('Expected one of video, name for data key but received "lables" of type string');
      await expect(queue.add('transcode' as never, {} as never)).rejects.toThrow(TypeError);
      await expect(queue.add('classify', { video: { path: 'a.mp4' }, labels: LABELS, topK: 4 })).rejects.toThrow(RangeError);
      await expect(queue.add('embed', { video: { path: 'a.mp4' } }, { jobId: '42' })).rejects.toThrow(RangeError);
      // Index jobs: inline bytes need a name to be stored under; a stride needs segments.
      await expect(queue.add('index', { video: videoRef(Buffer.alloc(8)) })).rejects.toThrow('Expected a name to store an inline video under for name but received undefined');
      await expect(queue.add('index', { video: { path: 'a.mp4' }, strideSeconds: 1 })).rejects.toThrow(RangeError);
      await expect(queue.add('index', { video: { path: 'a.mp4' }, clipSeconds: 0 })).rejects.toThrow(RangeError);
      const small = new VideoJobQueue({ redis: redis.url, queue: 'invalid', maxInlineBytes: 10 });
      await expect(small.add('embed', { video: videoRef(Buffer.alloc(11)) })).rejects.toThrow('Expected at most 10 bytes of video (base64) for video.data but received "11 bytes" of type string');
      await small.close();

      // Another producer, without the checks: the worker refuses the same data, for good.
      const jobs = await raw.addBulk([
        { name: 'classify', data: { video: { path: GOOD[0] }, labels: [] }, opts: { attempts: 3 } },
        { name: 'transcode', data: { video: { path: GOOD[0] } }, opts: { attempts: 3 } },
      ]);
      const outcomes = await queue.wait(jobs.map((j) => j.id!), { signal: AbortSignal.timeout(60000) });
      expect(outcomes.map((o) => (o.status === 'failed' ? o.error.code : o.status))).toEqual(['INVALID_INPUT', 'INVALID_INPUT']);
      expect((await raw.getJob(jobs[0].id!))!.attemptsMade).toBe(1);
      // A worker without a search index refuses index jobs for good, saying why.
      const [noIndex] = await queue.wait([await queue.add('index', { video: { path: GOOD[0] } })], { signal: AbortSignal.timeout(60000) });
      expect(noIndex.status === 'failed' && noIndex.error).toEqual({ code: 'INVALID_INPUT', message: expect.stringContaining('has no search index: start it with --db DIR') });
    } finally {
      await raw.close();
      await close();
    }
  });

  it('a job id added twice is one job with one result', async () => {
    const { queue, worker, close } = await setup('ids');
    try {
      const a = await queue.add('embed', { video: { path: GOOD[0] } }, { jobId: 'embed-h264' });
      const b = await queue.add('embed', { video: { path: GOOD[1] } }, { jobId: 'embed-h264' });
      expect(b).toBe(a);
      const [o] = await queue.wait([a, b], { signal: AbortSignal.timeout(60000) });
      expect(o.status).toBe('completed');
      const [embedding] = await reference.embedVideos([path.join(VIDEOS, GOOD[0])]);
      expect(Math.abs((o as { result: { embedding: number[] } }).result.embedding[0] - embedding[0])).toBeLessThan(1e-4);
      expect(worker.stats.completed.embed).toBe(1);
      expect((await queue.counts()).completed).toBe(1);
    } finally {
      await close();
    }
  });

  it('locks are renewed while jobs wait for their batch and run: with a 1 s lock, no job stalls', async () => {
    // Each job's video opens only after 3.5 lock periods (the source waits, as a slow network share would), then
    // the jobs queue for a classifier that runs one video per model call: every job outlives its lock several
    // times, whatever the machine's speed. The lock is 1 s rather than shorter because renewal runs on the event
    // loop, which a 2-core machine running other suites can hold for a few hundred ms.
    const JOBS = 24;
    const LOCK_MS = 1000;
    const slowSources: VideoSources = {
      maxInlineBytes: sources.maxInlineBytes,
      open: async (ref, options) => {
        await sleep(3.5 * LOCK_MS, undefined, { signal: options?.signal });
        return sources.open(ref, options);
      },
    };
    const serial = await ZeroShotVideoClassifier.fromPretrained(E2E_MODEL, { maxBatch: 1 });
    const { queue, worker, close } = await setup(
      'locks',
      { sources: slowSources, concurrency: JOBS, lockDurationMs: LOCK_MS, stalledIntervalMs: LOCK_MS / 2, maxStalledCount: 0 },
      serial,
    );
    const raw = new Queue('locks', { connection: { host: '127.0.0.1', port: redis.port } });
    try {
      const ids = await queue.addBulk('classify', Array.from({ length: JOBS }, (_, i) => ({ video: { path: GOOD[i % GOOD.length] }, labels: LABELS })));
      const outcomes = await queue.wait(ids, { signal: AbortSignal.timeout(90000) });
      expect(outcomes.every((o) => o.status === 'completed')).toBe(true);
      const jobs = await Promise.all(ids.map((id) => raw.getJob(id)));
      const longest = Math.max(...jobs.map((j) => j!.finishedOn! - j!.processedOn!));
      // The test means something only if jobs outlived their lock several times over.
      expect(longest).toBeGreaterThan(3 * LOCK_MS);
      expect(jobs.map((j) => [j!.attemptsStarted, j!.stalledCounter])).toEqual(Array(JOBS).fill([1, 0]));
      expect(worker.stats.stalled).toBe(0);
      expect(worker.stats.lockRenewalFailures).toBe(0);
      expect(worker.stats.locksRenewed).toBeGreaterThan(0);
    } finally {
      await raw.close();
      await close();
      await serial.dispose();
    }
  });

  it('serves Prometheus metrics: queue counts from Redis, what this worker did', async () => {
    const { queue, worker, close } = await setup('metrics');
    const server = await serveMetrics(new WorkerMetrics(worker), { host: '127.0.0.1', port: 0 });
    try {
      const ids = await queue.addBulk('classify', [GOOD[0], GOOD[1], 'broken_empty.mp4'].map((f) => ({ video: { path: f }, labels: LABELS })));
      await queue.wait(ids, { signal: AbortSignal.timeout(60000) });
      const res = await fetch(metricsUrl(server));
      expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
      const text = await res.text();
      for (const line of [
        'xclip_queue_jobs{queue="metrics",state="completed"} 2',
        'xclip_queue_jobs{queue="metrics",state="failed"} 1',
        'xclip_queue_jobs{queue="metrics",state="waiting"} 0',
        'xclip_queue_jobs{queue="metrics",state="active"} 0',
        'xclip_queue_jobs{queue="metrics-dead",state="waiting"} 1',
        'xclip_worker_jobs_completed_total{kind="classify"} 2',
        'xclip_worker_jobs_failed_total{code="VIDEO_OPEN_FAILED"} 1',
        'xclip_worker_videos_total 2',
        'xclip_worker_concurrency 16',
      ]) {
        expect(text.split('\n')).toContain(line);
      }
      expect(text).toMatch(/^xclip_worker_videos_per_second 0\.2$/m);
      expect(text).toMatch(/^nodejs_eventloop_lag_max_seconds /m);
      expect((await fetch(metricsUrl(server).replace('/metrics', '/other'))).status).toBe(404);
    } finally {
      await new Promise((r) => server.close(r));
      await close();
    }
  });
});
