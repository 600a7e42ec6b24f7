// The server's life around its requests, in-process on 127.0.0.1: 503 while the model loads, admission under
// overload (503 + Retry-After, never more held than the limits), 504 at the request timeout, a client that goes
// away, and a graceful shutdown with requests in flight. Requests are held "in flight" by uploads whose last bytes
// the test sends when it wants, so nothing here depends on timing the model.
import * as fs from 'node:fs';
import * as http from 'node:http';

import { pendingNativeCalls } from '../../lib/runtime';
import { ZeroShotVideoClassifier } from '../../lib/pipelines';
import { E2E_MODEL, LABELS3, VIDEOS, holdUpload, send, sendExpectingContinue, startServer, until, videoBytes, type Part, type Running } from '../helpers/server';

const upload = (file = 'short_5frames.mp4'): Part[] => [
  { name: 'labels', value: JSON.stringify(LABELS3) },
  { name: 'file', filename: file, value: videoBytes(file) },
];

describe('xclip-node server lifecycle', () => {
  let clf: ZeroShotVideoClassifier;
  const servers: Running[] = [];
  const start = async (options: Parameters<typeof startServer>[0]): Promise<Running> => {
    const s = await startServer(options);
    servers.push(s);
    return s;
  };

  beforeAll(async () => {
    clf = await ZeroShotVideoClassifier.fromPretrained(E2E_MODEL);
  });

  afterAll(async () => {
    for (const s of servers) await s.app.close();
    await clf?.dispose();
  });

  it('answers 503 on /health and model routes while the model loads, then 200', async () => {
    let loaded: (c: ZeroShotVideoClassifier) => void = () => undefined;
    const s = await start({ classifier: new Promise<ZeroShotVideoClassifier>((r) => (loaded = r)) });
    const health = await send(`${s.url}/health`);
    expect([health.status, health.json.status]).toEqual([503, 'loading']);
    const work = await send(`${s.url}/v1/embeddings`, { body: { input: 'a' } });
    expect([work.status, work.json.error.code]).toEqual([503, 'UNAVAILABLE']);
    expect(work.headers['retry-after']).toBeDefined();
    loaded(clf);
    await until(() => s.app.xclip.state === 'ready');
    expect((await send(`${s.url}/health`)).status).toBe(200);
    expect((await send(`${s.url}/v1/embeddings`, { body: { input: 'a' } })).status).toBe(200);
  });

  it('a failed load keeps /health at 503 "failed"', async () => {
    const failing = Promise.reject(new Error('no weights'));
    const s = await start({ classifier: failing });
    await until(() => s.app.xclip.state === 'failed');
    const health = await send(`${s.url}/health`);
    expect([health.status, health.json.status]).toEqual([503, 'failed']);
  });

  it('refuses overload at once with 503 + Retry-After, queues up to the limit, and serves the queue in order', async () => {
    const s = await start({ classifier: clf, maxActive: 1, maxQueue: 1 });
    const first = holdUpload(`${s.url}/v1/classify`, upload());
    await until(() => s.app.xclip.admission.state.active === 1);
    const queued = holdUpload(`${s.url}/v1/classify`, upload('one_frame.mp4'));
    await until(() => s.app.xclip.admission.state.queued === 1);
    const t0 = Date.now();
    const refused = await send(`${s.url}/v1/classify`, { body: { videos: [{ data: videoBytes('one_frame.mp4').toString('base64') }], labels: LABELS3 } });
    expect(Date.now() - t0).toBeLessThan(1000);
    expect([refused.status, refused.json.error.code]).toEqual([503, 'OVERLOADED']);
    expect(Number(refused.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(s.app.xclip.admission.state).toMatchObject({ active: 1, queued: 1, rejected: 1 });
    queued.finish(); // its body is all there, but it waits its turn
    first.finish();
    const [a, b] = await Promise.all([first.response, queued.response]);
    expect([a.status, b.status]).toEqual([200, 200]);
    expect(b.json.results[0].file).toBe('one_frame.mp4');
    await until(() => s.app.xclip.admission.state.active === 0);
    const metrics = await send(`${s.url}/metrics`);
    expect(metrics.text).toMatch(/^xclip_admission_rejected_total 1$/m);
    expect(metrics.text).toMatch(/^xclip_http_requests_total\{method="POST",route="\/v1\/classify",status="503"\} 1$/m);
  });

  it('refuses an upload announced with Expect: 100-continue before its body is sent, and takes it when there is room', async () => {
    const s = await start({ classifier: clf, maxActive: 1, maxQueue: 0 });
    const held = holdUpload(`${s.url}/v1/classify`, upload());
    await until(() => s.app.xclip.admission.state.active === 1);
    const refused = await sendExpectingContinue(`${s.url}/v1/classify`, upload());
    expect([refused.status, refused.json.error.code, refused.bodySent]).toEqual([503, 'OVERLOADED', false]);
    expect(Number(refused.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    held.finish();
    expect((await held.response).status).toBe(200);
    await until(() => s.app.xclip.admission.state.active === 0);
    const taken = await sendExpectingContinue(`${s.url}/v1/classify`, upload());
    expect([taken.status, taken.bodySent]).toEqual([200, true]);
    const metrics = await send(`${s.url}/metrics`);
    expect(metrics.text).toMatch(/^xclip_http_requests_total\{method="POST",route="\/v1\/classify",status="503"\} 1$/m);
  });

  it('holds nothing more under a flood than its limits: every answer is 200 or 503', async () => {
    const s = await start({ classifier: clf, maxActive: 2, maxQueue: 2 });
    const body = { videos: [{ data: videoBytes('one_frame.mp4').toString('base64') }], labels: LABELS3 };
    let peak = 0;
    const watch = setInterval(() => (peak = Math.max(peak, s.app.xclip.admission.state.active + s.app.xclip.admission.state.queued)), 1);
    const replies = await Promise.all(Array.from({ length: 24 }, () => send(`${s.url}/v1/classify`, { body })));
    clearInterval(watch);
    const statuses = replies.map((r) => r.status);
    expect(statuses.filter((c) => c !== 200 && c !== 503)).toEqual([]);
    expect(statuses.filter((c) => c === 200).length).toBeGreaterThanOrEqual(4);
    expect(statuses.filter((c) => c === 503).length).toBeGreaterThan(0);
    expect(peak).toBeLessThanOrEqual(4);
  });

  it('answers 504 at the request timeout, drops the stalled upload and frees its slot', async () => {
    const s = await start({ classifier: clf, requestTimeoutMs: 300, maxActive: 1, maxQueue: 0 });
    const stalled = holdUpload(`${s.url}/v1/classify`, upload());
    const t0 = Date.now();
    const r = await stalled.response;
    expect([r.status, r.json.error.code]).toEqual([504, 'TIMEOUT']);
    expect(Date.now() - t0).toBeLessThan(3000);
    await until(() => s.app.xclip.admission.state.active === 0 && s.app.xclip.works.size === 0);
    expect((await send(`${s.url}/v1/embeddings`, { body: { input: 'a' } })).status).toBe(200);
  });

  it('a client that disconnects leaves the queue at once, and an upload it abandons frees its slot and its temp file', async () => {
    const s = await start({ classifier: clf, maxActive: 1, maxQueue: 4 });
    const held = holdUpload(`${s.url}/v1/classify`, upload());
    await until(() => s.app.xclip.admission.state.active === 1);
    const waiting = holdUpload(`${s.url}/v1/classify`, upload());
    await until(() => s.app.xclip.admission.state.queued === 1);
    waiting.abort();
    await until(() => s.app.xclip.admission.state.queued === 0);
    held.abort();
    await until(() => s.app.xclip.admission.state.active === 0 && s.app.xclip.works.size === 0);
    expect(fs.readdirSync(s.app.xclip.tempDir)).toEqual([]);
  });

  it('a client that disconnects cancels its work: its videos still queued or decoding are dropped (AbortSignal to the batcher)', async () => {
    const s = await start({ classifier: clf, media: { mediaRoot: VIDEOS } });
    const videos = Array.from({ length: 64 }, (_, i) => ({ path: ['h264_320x240_30fps.mp4', 'mjpeg_144x256_portrait.mov', 'mpeg4_160x120_24fps.avi'][i % 3] }));
    const before = clf.stats.videos;
    const req = http.request(`${s.url}/v1/classify`, { method: 'POST', headers: { 'content-type': 'application/json' }, agent: false });
    req.on('error', () => undefined);
    req.end(JSON.stringify({ videos, labels: LABELS3 }));
    await until(() => clf.stats.videos > before); // the first batch ran: the request is in the middle of its work
    req.destroy();
    await until(() => s.app.xclip.works.size === 0 && s.app.xclip.admission.state.active === 0);
    await until(() => pendingNativeCalls() === 0);
    expect(clf.stats.videos - before).toBeLessThan(48);
    const metrics = await send(`${s.url}/metrics`);
    expect(metrics.text).toMatch(/^xclip_http_requests_total\{method="POST",route="\/v1\/classify",status="499"\} 1$/m);
  });

  it('shuts down gracefully: 503 for new work and /health at once, requests in flight finish, then the listener closes', async () => {
    const s = await start({ classifier: clf, shutdownTimeoutMs: 20000 });
    const inFlight = holdUpload(`${s.url}/v1/classify`, upload());
    await until(() => s.app.xclip.works.size === 1);
    const closed = s.app.xclip.shutdown();
    const health = await send(`${s.url}/health`);
    expect([health.status, health.json.status]).toEqual([503, 'draining']);
    const refused = await send(`${s.url}/v1/embeddings`, { body: { input: 'a' } });
    expect([refused.status, refused.json.error.code]).toEqual([503, 'UNAVAILABLE']);
    inFlight.finish();
    const r = await inFlight.response;
    expect(r.status).toBe(200);
    expect(r.json.results[0].scores).toHaveLength(3);
    await closed;
    await expect(send(`${s.url}/health`)).rejects.toThrow(/ECONNREFUSED/);
  });

  it('at the shutdown deadline, aborts what is still in flight (503) and closes', async () => {
    const s = await start({ classifier: clf, shutdownTimeoutMs: 200 });
    const stuck = holdUpload(`${s.url}/v1/classify`, upload());
    await until(() => s.app.xclip.works.size === 1);
    const t0 = Date.now();
    await s.app.xclip.shutdown();
    expect(Date.now() - t0).toBeLessThan(5000);
    const r = await stuck.response.catch((e: Error) => e);
    // The answer is sent, then the connection dropped (its body never came); a client may see either.
    if (!(r instanceof Error)) expect([r.status, r.json.error.code]).toEqual([503, 'UNAVAILABLE']);
    await until(() => pendingNativeCalls() === 0);
  });
});
