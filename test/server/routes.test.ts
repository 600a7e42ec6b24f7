// The HTTP server on 127.0.0.1 with the e2e fixture model: every route, its answers and its error statuses. Scores
// are checked against HF's recorded probabilities and against the same classifier called in-process.
import { XClipError } from '../../lib/errors';
import { ZeroShotVideoClassifier } from '../../lib/pipelines';
import { buildServer } from '../../lib/server/app';
import {
  E2E_MODEL,
  LABELS3,
  VIDEOS,
  multipart,
  recordedCase,
  recordedProbs,
  send,
  startServer,
  until,
  videoBytes,
  videoPath,
  type Running,
} from '../helpers/server';

const SCORES = 1e-5;

describe('xclip-node server routes', () => {
  let clf: ZeroShotVideoClassifier;
  let server: Running;
  let url: string;

  beforeAll(async () => {
    clf = await ZeroShotVideoClassifier.fromPretrained(E2E_MODEL, { maxBatch: 4 });
    // Room for the concurrency test's 6 requests at once (the CPU default admits 4).
    server = await startServer({ classifier: clf, media: { mediaRoot: VIDEOS }, maxUploadBytes: 256 * 1024, maxInlineBytes: 128 * 1024, maxActive: 8, maxQueue: 8 });
    url = server.url;
  });

  afterAll(async () => {
    await server?.app.close();
    await clf?.dispose();
  });

  it('GET /health answers 200 once the model is loaded', async () => {
    const r = await send(`${url}/health`);
    expect(r.status).toBe(200);
    expect(r.json).toEqual({ status: 'ok', model: 'xclip-e2e-a', active: 0, queued: 0 });
  });

  it('GET /v1/models describes the served model in OpenAI list shape', async () => {
    const r = await send(`${url}/v1/models`);
    expect(r.status).toBe(200);
    expect(r.json.object).toBe('list');
    expect(r.json.data[0]).toMatchObject({ id: 'xclip-e2e-a', object: 'model', owned_by: 'xclip-node', demo: false, num_frames: 8, projection_dim: 32, max_text_tokens: 77, dtype: 'float32', device: 'cpu', max_batch: 4 });
  });

  it('POST /v1/classify (multipart) returns HF\'s recorded probabilities, in input order, named by filename', async () => {
    const files = ['vp9_176x144_25fps.webm', 'h264_320x240_30fps.mp4'];
    const body = multipart([...files.map((f) => ({ name: 'file', filename: f, value: videoBytes(f) })), { name: 'labels', value: JSON.stringify(LABELS3) }]);
    const r = await send(`${url}/v1/classify`, { headers: body.headers, body: body.body });
    expect(r.status).toBe(200);
    expect(r.json.model).toBe('xclip-e2e-a');
    expect(r.json.demo).toBe(false);
    expect(r.json.results.map((x: { file: string }) => x.file)).toEqual(files);
    for (const [i, f] of files.entries()) {
      const expected = recordedProbs(f);
      const scores = r.json.results[i].scores as { label: string; score: number }[];
      expect(scores.map((s) => s.score)).toEqual([...scores.map((s) => s.score)].sort((a, b) => b - a));
      for (const s of scores) expect(Math.abs(s.score - expected.get(s.label)!)).toBeLessThan(SCORES);
    }
  });

  it('POST /v1/classify (multipart) takes repeated labels fields, topK and a template', async () => {
    const body = multipart([
      { name: 'labels', value: 'playing sports' },
      { name: 'labels', value: 'go shopping' },
      { name: 'topK', value: '1' },
      { name: 'template', value: 'a video of {}' },
      { name: 'file', filename: 'x.mp4', value: videoBytes('h264_320x240_30fps.mp4') },
    ]);
    const r = await send(`${url}/v1/classify`, { headers: body.headers, body: body.body });
    expect(r.status).toBe(200);
    const [expected] = await clf.classify(videoPath('h264_320x240_30fps.mp4'), ['playing sports', 'go shopping'], { topK: 1, hypothesisTemplate: 'a video of {}' });
    expect(r.json.results).toEqual([{ file: 'x.mp4', scores: [{ label: expected.label, score: expect.closeTo(expected.score, 6) }] }]);
  });

  it('POST /v1/classify (JSON) takes base64, data URIs and paths under the media root, with the in-process scores', async () => {
    const f = 'mjpeg_144x256_portrait.mov';
    const b64 = videoBytes(f).toString('base64');
    const r = await send(`${url}/v1/classify`, { body: { videos: [{ data: b64 }, { data: `data:video/quicktime;base64,${b64}` }, { path: f }], labels: LABELS3 } });
    expect(r.status).toBe(200);
    const expected = await clf.classify(videoPath(f), LABELS3);
    expect(r.json.results.map((x: { file: unknown }) => x.file)).toEqual(['0', '1', f]);
    for (const res of r.json.results) {
      for (const [i, s] of (res.scores as { label: string; score: number }[]).entries()) {
        expect(s.label).toBe(expected[i].label);
        expect(Math.abs(s.score - expected[i].score)).toBeLessThan(SCORES);
      }
    }
  });

  it('reports a video that fails in its place (the others succeed, 200); when all fail, the failure status', async () => {
    const hostile = ['broken_random_bytes.mp4', 'broken_empty.mp4', 'audio_only.mp4'];
    const body = multipart([
      { name: 'labels', value: JSON.stringify(LABELS3) },
      ...['short_5frames.mp4', ...hostile, 'broken_truncated.mp4'].map((f) => ({ name: 'file', filename: f, value: videoBytes(f) })),
    ]);
    const r = await send(`${url}/v1/classify`, { headers: body.headers, body: body.body });
    expect(r.status).toBe(200);
    const codes = r.json.results.map((x: { scores?: unknown; error?: { code: string; message: string } }) => x.error?.code ?? 'ok');
    expect(codes).toEqual(['ok', 'VIDEO_OPEN_FAILED', 'VIDEO_OPEN_FAILED', 'VIDEO_NO_STREAM', 'ok']);
    // Messages name the file as the client did, not the server's temp file.
    expect(r.json.results[1].error.message).toContain('broken_random_bytes.mp4');
    expect(r.json.results[1].error.message).not.toContain('/tmp/');
    const bad = multipart([{ name: 'labels', value: 'a' }, ...hostile.map((f) => ({ name: 'file', filename: f, value: videoBytes(f) }))]);
    const all = await send(`${url}/v1/classify`, { headers: bad.headers, body: bad.body });
    expect(all.status).toBe(422);
    expect(all.json.error.code).toBe('VIDEO_OPEN_FAILED');
    expect(all.json.results).toHaveLength(3);
  });

  it('400 for bad input, each with INVALID_INPUT and a message', async () => {
    const good = { videos: [{ path: 'one_frame.mp4' }], labels: ['a', 'b'] };
    const bodies: unknown[] = [
      { videos: good.videos },
      { ...good, labels: [] },
      { ...good, labels: 'a,b' },
      { ...good, topK: 3 },
      { ...good, topK: '1' },
      { ...good, template: 'no placeholder' },
      { ...good, extra: true },
      { ...good, videos: [] },
      { ...good, videos: [{ path: 'a', url: 'b' }] },
      { ...good, videos: [{ data: 'not base64!' }] },
    ];
    for (const body of bodies) {
      const r = await send(`${url}/v1/classify`, { body: body as object });
      expect([JSON.stringify(body), r.status, r.json.error.code]).toEqual([JSON.stringify(body), 400, 'INVALID_INPUT']);
      expect(r.json.error.message.length).toBeGreaterThan(5);
    }
    const broken = await send(`${url}/v1/classify`, { headers: { 'content-type': 'application/json' }, body: '{"videos": [' });
    expect([broken.status, broken.json.error.code]).toEqual([400, 'INVALID_INPUT']);
    for (const parts of [
      [{ name: 'labels', value: 'a' }],
      [{ name: 'file', filename: 'a.mp4', value: videoBytes('one_frame.mp4') }],
      [{ name: 'labels', value: '[1, 2]' }, { name: 'file', filename: 'a.mp4', value: videoBytes('one_frame.mp4') }],
      [{ name: 'labels', value: 'a' }, { name: 'video', filename: 'a.mp4', value: videoBytes('one_frame.mp4') }],
      [{ name: 'labels', value: 'a' }, { name: 'topK', value: 'x' }, { name: 'file', filename: 'a.mp4', value: videoBytes('one_frame.mp4') }],
      [{ name: 'labels', value: 'a' }, { name: 'colour', value: 'red' }],
    ]) {
      const b = multipart(parts);
      const r = await send(`${url}/v1/classify`, { headers: b.headers, body: b.body });
      expect([parts.map((p) => p.name).join(','), r.status, r.json.error.code]).toEqual([parts.map((p) => p.name).join(','), 400, 'INVALID_INPUT']);
    }
  });

  it('404 for unknown routes and for another model; 415 for other content types', async () => {
    const r404 = await send(`${url}/v2/classify`, { body: {} });
    expect([r404.status, r404.json.error.code]).toEqual([404, 'NOT_FOUND']);
    const model = await send(`${url}/v1/embeddings`, { body: { input: 'a', model: 'text-embedding-3-small' } });
    expect([model.status, model.json.error.code]).toEqual([404, 'NOT_FOUND']);
    for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'video/mp4']) {
      const r = await send(`${url}/v1/classify`, { headers: { 'content-type': type }, body: 'labels=a' });
      expect([type, r.status, r.json.error.code]).toEqual([type, 415, 'UNSUPPORTED_MEDIA_TYPE']);
    }
  });

  it('413 for an upload, inline video or JSON body over the limits', async () => {
    const big = multipart([{ name: 'labels', value: 'a' }, { name: 'file', filename: 'big.mp4', value: Buffer.alloc(300 * 1024) }]);
    const r1 = await send(`${url}/v1/classify`, { headers: big.headers, body: big.body });
    expect([r1.status, r1.json.error.code]).toEqual([413, 'PAYLOAD_TOO_LARGE']);
    // Two files each under the limit, together over it.
    const two = multipart([{ name: 'labels', value: 'a' }, ...[1, 2].map((i) => ({ name: 'file', filename: `${i}.mp4`, value: Buffer.alloc(150 * 1024) }))]);
    expect((await send(`${url}/v1/classify`, { headers: two.headers, body: two.body })).status).toBe(413);
    const inline = await send(`${url}/v1/classify`, { body: { videos: [{ data: Buffer.alloc(130 * 1024).toString('base64') }], labels: ['a'] } });
    expect([inline.status, inline.json.error.code]).toEqual([413, 'SOURCE_TOO_LARGE']);
    const json = await send(`${url}/v1/classify`, { body: { videos: [{ data: 'A'.repeat(2 * 1024 * 1024) }], labels: ['a'] } });
    expect([json.status, json.json.error.code]).toEqual([413, 'PAYLOAD_TOO_LARGE']);
  });

  it('a multipart bomb (thousands of tiny parts, a huge field, many header lines) ends in 413 without holding memory', async () => {
    const rss0 = process.memoryUsage().rss;
    const t0 = Date.now();
    const parts = Array.from({ length: 20000 }, (_, i) => ({ name: i % 2 ? 'labels' : 'file', filename: i % 2 ? undefined : `${i}.mp4`, value: 'x' }));
    const bomb = multipart(parts);
    const r = await send(`${url}/v1/classify`, { headers: bomb.headers, body: bomb.body });
    expect([r.status, r.json.error.code]).toEqual([413, 'PAYLOAD_TOO_LARGE']);
    const field = multipart([{ name: 'labels', value: 'x'.repeat(1024 * 1024) }]);
    expect((await send(`${url}/v1/classify`, { headers: field.headers, body: field.body })).status).toBe(413);
    const boundary = 'bomb';
    // 20,000 header lines (280 KB) in one part: the parser keeps the first few and drops the rest as they stream by,
    // so the request gets as far as its content allows (no file parts: 400).
    const headerLines = Array.from({ length: 20000 }, (_, i) => `X-Pad-${i}: y`).join('\r\n');
    const manyHeaders = Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="labels"\r\n${headerLines}\r\n\r\na\r\n--${boundary}--\r\n`);
    const h = await send(`${url}/v1/classify`, { headers: { 'content-type': `multipart/form-data; boundary=${boundary}` }, body: manyHeaders });
    expect([h.status, h.json.error.code]).toEqual([400, 'INVALID_INPUT']);
    expect(Date.now() - t0).toBeLessThan(10000);
    expect(process.memoryUsage().rss - rss0).toBeLessThan(64 * 2 ** 20);
    await until(() => server.app.xclip.admission.state.active === 0);
  });

  it('POST /v1/embeddings: texts, L2-normalized by default, exactly getTextFeatures with normalize false, base64 on request', async () => {
    const texts = ['a person cooking', 'a dog'];
    const r = await send(`${url}/v1/embeddings`, { body: { input: texts } });
    expect(r.status).toBe(200);
    expect(r.json.object).toBe('list');
    expect(r.json.model).toBe('xclip-e2e-a');
    const tokens = texts.reduce((n, t) => n + clf.processor.tokenizer.encode(t).length, 0);
    expect(r.json.usage).toEqual({ prompt_tokens: tokens, total_tokens: tokens });
    const raw = await clf.embedTexts(texts);
    for (const [i, d] of r.json.data.entries()) {
      expect(d).toMatchObject({ object: 'embedding', index: i });
      const norm = Math.hypot(...(d.embedding as number[]));
      expect(Math.abs(norm - 1)).toBeLessThan(1e-5);
      const rawNorm = Math.hypot(...raw[i]);
      (d.embedding as number[]).forEach((v, j) => expect(Math.abs(v - raw[i][j] / rawNorm)).toBeLessThan(1e-6));
    }
    const plain = await send(`${url}/v1/embeddings`, { body: { input: 'a dog', normalize: false, encoding_format: 'base64' } });
    const bytes = Buffer.from(plain.json.data[0].embedding as string, 'base64');
    expect(Array.from(new Float32Array(bytes.buffer, bytes.byteOffset, bytes.length / 4))).toEqual(Array.from(raw[1]));
    expect((await send(`${url}/v1/embeddings`, { body: { input: [] } })).status).toBe(400);
    expect((await send(`${url}/v1/embeddings`, { body: { input: 'a', encoding_format: 'int8' } })).status).toBe(400);
  });

  it('POST /v1/embeddings: videos as base64 or data URIs (JSON) and as multipart parts equal getVideoFeatures', async () => {
    const f = 'vp9_176x144_25fps.webm';
    const [raw] = await clf.embedVideos([videoPath(f)]);
    const b64 = videoBytes(f).toString('base64');
    const json = await send(`${url}/v1/embeddings`, { body: { input: [b64, `data:video/webm;base64,${b64}`], modality: 'video', normalize: false } });
    expect(json.status).toBe(200);
    expect(json.json.usage).toEqual({ prompt_tokens: 0, total_tokens: 0 });
    for (const d of json.json.data) (d.embedding as number[]).forEach((v, j) => expect(Math.abs(v - raw[j])).toBeLessThan(1e-6));
    const body = multipart([{ name: 'file', filename: f, value: videoBytes(f) }]);
    const mp = await send(`${url}/v1/embeddings`, { headers: body.headers, body: body.body });
    expect(mp.status).toBe(200);
    const norm = Math.hypot(...raw);
    (mp.json.data[0].embedding as number[]).forEach((v, j) => expect(Math.abs(v - raw[j] / norm)).toBeLessThan(1e-6));
    const broken = await send(`${url}/v1/embeddings`, { body: { input: [b64, videoBytes('broken_random_bytes.mp4').toString('base64')], modality: 'video' } });
    expect([broken.status, broken.json.error.code]).toEqual([422, 'VIDEO_OPEN_FAILED']);
  });

  it('POST /v1/score returns X-CLIP\'s logits_per_video (HF\'s recorded values), with probs on request', async () => {
    const files = ['h264_320x240_30fps.mp4', 'vp9_176x144_25fps.webm'];
    const r = await send(`${url}/v1/score`, { body: { videos: files.map((path) => ({ path })), texts: LABELS3, probs: true } });
    expect(r.status).toBe(200);
    expect(r.json.files).toEqual(files);
    for (const [i, f] of files.entries()) {
      const c = recordedCase(f);
      (r.json.logits_per_video[i] as number[]).forEach((v, j) => expect(Math.abs(v - c.logits_per_video[j])).toBeLessThan(1e-4));
      (r.json.probs[i] as number[]).forEach((v, j) => expect(Math.abs(v - c.probs[j])).toBeLessThan(SCORES));
    }
    const body = multipart([{ name: 'texts', value: 'go shopping' }, { name: 'file', filename: files[0], value: videoBytes(files[0]) }]);
    const mp = await send(`${url}/v1/score`, { headers: body.headers, body: body.body });
    expect(mp.status).toBe(200);
    expect(mp.json.probs).toBeUndefined();
    expect(Math.abs(mp.json.logits_per_video[0][0] - recordedCase(files[0]).logits_per_video[2])).toBeLessThan(1e-4);
    const broken = await send(`${url}/v1/score`, { body: { videos: [{ path: files[0] }, { path: 'broken_empty.mp4' }], texts: ['a'] } });
    expect([broken.status, broken.json.error.code]).toEqual([422, 'VIDEO_OPEN_FAILED']);
    expect((await send(`${url}/v1/score`, { body: { videos: [{ path: files[0] }], texts: [] } })).status).toBe(400);
  });

  it('refuses texts over 77 tokens with 400 naming them, unless truncate is set', async () => {
    const long = Array.from({ length: 100 }, (_, i) => `word${i}`).join(' ');
    const refused = await send(`${url}/v1/classify`, { body: { videos: [{ path: 'one_frame.mp4' }], labels: ['a', long] } });
    expect([refused.status, refused.json.error.code]).toEqual([400, 'INVALID_INPUT']);
    expect(refused.json.error.message).toMatch(/tokens/);
    const cut = await send(`${url}/v1/classify`, { body: { videos: [{ path: 'one_frame.mp4' }], labels: ['a', long], truncate: true } });
    expect(cut.status).toBe(200);
    expect((await send(`${url}/v1/embeddings`, { body: { input: long } })).status).toBe(400);
    const emb = await send(`${url}/v1/embeddings`, { body: { input: long, truncate: true } });
    expect([emb.status, emb.json.usage.prompt_tokens]).toEqual([200, 77]);
    expect((await send(`${url}/v1/score`, { body: { videos: [{ path: 'one_frame.mp4' }], texts: [long], truncate: true } })).status).toBe(200);
  });

  it('concurrent requests share model calls, and each gets its own scores', async () => {
    const files = ['h264_320x240_30fps.mp4', 'vp9_176x144_25fps.webm', 'mpeg4_160x120_24fps.avi', 'short_5frames.mp4', 'one_frame.mp4', 'vfr_h264_192x108.mp4'];
    const expected = await clf.classify(files.map(videoPath), LABELS3);
    const before = clf.stats;
    const replies = await Promise.all(files.map((f) => send(`${url}/v1/classify`, { body: { videos: [{ path: f }], labels: LABELS3 } })));
    const after = clf.stats;
    expect(after.videos - before.videos).toBe(files.length);
    expect(after.batches - before.batches).toBeLessThan(files.length);
    replies.forEach((r, i) => {
      expect(r.status).toBe(200);
      const got = r.json.results[0].scores as { label: string; score: number }[];
      got.forEach((s, j) => {
        expect(s.label).toBe(expected[i][j].label);
        expect(Math.abs(s.score - expected[i][j].score)).toBeLessThan(SCORES);
      });
    });
  });

  it('GET /metrics reports requests and latency per route and status, queue depth, batches, decode and model time, videos/s and memory', async () => {
    await send(`${url}/v1/classify`, { body: { videos: [{ path: 'one_frame.mp4' }], labels: ['a', 'b'] } });
    const r = await send(`${url}/metrics`);
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toMatch(/^text\/plain/);
    const value = (line: RegExp): number => {
      const m = r.text.split('\n').find((l) => line.test(l));
      if (!m) throw new Error(`no metric line matches ${line}`);
      return Number(m.split(' ').pop());
    };
    expect(value(/^xclip_http_requests_total\{method="POST",route="\/v1\/classify",status="200"\}/)).toBeGreaterThanOrEqual(5);
    expect(value(/^xclip_http_requests_total\{method="POST",route="\/v1\/classify",status="400"\}/)).toBeGreaterThanOrEqual(10);
    expect(value(/^xclip_http_request_duration_seconds_count\{method="POST",route="\/v1\/classify",status="200"\}/)).toBeGreaterThanOrEqual(5);
    expect(value(/^xclip_admission_queued /)).toBe(0);
    expect(value(/^xclip_admission_limit\{kind="active"\}/)).toBeGreaterThan(0);
    expect(value(/^xclip_batch_size_count\{kind="logits"\}/)).toBeGreaterThan(0);
    expect(value(/^xclip_batch_size_sum\{kind="logits"\}/)).toBeGreaterThan(value(/^xclip_batch_size_count\{kind="logits"\}/));
    expect(value(/^xclip_model_seconds_count\{kind="embed"\}/)).toBeGreaterThan(0);
    expect(value(/^xclip_decode_seconds_count\{outcome="ok"\}/)).toBeGreaterThan(0);
    expect(value(/^xclip_decode_seconds_count\{outcome="error"\}/)).toBeGreaterThan(0);
    expect(value(/^xclip_videos_total\{outcome="error"\}/)).toBeGreaterThan(0);
    expect(value(/^xclip_videos_per_second /)).toBeGreaterThan(0);
    expect(value(/^process_resident_memory_bytes /)).toBeGreaterThan(50e6);
    expect(value(/^xclip_native_cached_bytes /)).toBeGreaterThanOrEqual(0);
    expect(value(/^xclip_native_pending_calls /)).toBeGreaterThanOrEqual(0);
  });

  it('GET /docs serves Swagger UI from the package (no CDN); /openapi.json documents every route', async () => {
    const docs = await send(`${url}/docs`);
    expect(docs.status).toBe(200);
    expect(docs.headers['content-type']).toMatch(/text\/html/);
    const assets = [...docs.text.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]);
    expect(assets.length).toBeGreaterThan(3);
    for (const a of assets) {
      expect(a).toMatch(/^\/docs\//);
      expect((await send(`${url}${a}`)).status).toBe(200);
    }
    const spec = await send(`${url}/openapi.json`);
    expect(spec.status).toBe(200);
    expect(spec.json.openapi).toMatch(/^3\./);
    for (const [p, m] of [['/v1/classify', 'post'], ['/v1/embeddings', 'post'], ['/v1/score', 'post'], ['/v1/models', 'get'], ['/health', 'get'], ['/metrics', 'get']]) {
      expect(spec.json.paths[p]?.[m]).toBeDefined();
    }
    expect(Object.keys(spec.json.paths['/v1/classify'].post.requestBody.content).sort()).toEqual(['application/json', 'multipart/form-data']);
    expect(spec.json.components.schemas.VideoRef).toBeDefined();
    expect(spec.json.paths['/v1/embeddings'].post.description).toMatch(/not X-CLIP's score/);
  });

  it('echoes a client\'s X-Request-Id (else makes one), and sends no CORS headers', async () => {
    const mine = await send(`${url}/health`, { headers: { 'x-request-id': 'trace-42.a:b' } });
    expect(mine.headers['x-request-id']).toBe('trace-42.a:b');
    const hostile = await send(`${url}/health`, { headers: { 'x-request-id': 'x'.repeat(500) } });
    expect(hostile.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    const cors = await send(`${url}/v1/models`, { headers: { origin: 'https://evil.example' } });
    expect(cors.headers['access-control-allow-origin']).toBeUndefined();
    const preflight = await send(`${url}/v1/classify`, { method: 'OPTIONS', headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' } });
    expect(preflight.status).toBe(404);
    expect(preflight.headers['access-control-allow-origin']).toBeUndefined();
  });

  it('500 only for INTERNAL: an unexpected failure in a route plugin, its message kept out of the answer', async () => {
    const app = await buildServer({ classifier: clf, modelId: 'x' });
    await app.register(async (child) => {
      child.get('/v1/boom', { config: { work: true } }, async () => {
        throw new Error('secret /srv/path detail');
      });
      child.get('/v1/disposed', { config: { work: true } }, async () => {
        throw new XClipError('DISPOSED', 'gone');
      });
    });
    const listening = await app.listen({ host: '127.0.0.1', port: 0 });
    try {
      const boom = await send(`${listening}/v1/boom`);
      expect(boom.status).toBe(500);
      expect(boom.json).toEqual({ error: { code: 'INTERNAL', message: 'internal error' } });
      const disposed = await send(`${listening}/v1/disposed`);
      expect([disposed.status, disposed.json.error.code]).toEqual([503, 'DISPOSED']);
    } finally {
      await app.close();
    }
  });
});
