// The search routes of a server started with an index (serve --db): POST /v1/index adds uploaded or media-root
// videos, POST /v1/search answers with exactly what VideoIndex.search gives for the same videos in process. On the
// e2e fixture model with fixture videos; requests over real HTTP on 127.0.0.1.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { ZeroShotVideoClassifier } from '../../lib/pipelines';
import { buildServer } from '../../lib/server/app';
import { VideoIndex } from '../../lib/search/videoIndex';
import { E2E_MODEL, VIDEOS, multipart, send, startServer, videoBytes, videoPath, type Running } from '../helpers/server';

const UPLOADED = ['h264_320x240_30fps.mp4', 'vp9_176x144_25fps.webm'];
const BY_PATH = 'mjpeg_144x256_portrait.mov';
const QUERIES = ['playing sports', 'eating spaghetti', 'go shopping'];

describe('POST /v1/index and /v1/search (serve --db)', () => {
  let tmp: string;
  let clf: ZeroShotVideoClassifier;
  let index: VideoIndex;
  let reference: VideoIndex;
  let server: Running;
  let url: string;

  beforeAll(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'xclip-serve-search-'));
    clf = await ZeroShotVideoClassifier.fromPretrained(E2E_MODEL, { maxBatch: 4 });
    [index, reference] = await Promise.all([VideoIndex.open(path.join(tmp, 'served'), { model: clf }), VideoIndex.open(path.join(tmp, 'reference'), { model: clf })]);
    server = await startServer({ classifier: clf, index, media: { mediaRoot: VIDEOS }, maxActive: 4, maxQueue: 4 });
    url = server.url;
  });

  afterAll(async () => {
    await server?.app.close();
    await Promise.all([index?.close(), reference?.close()]);
    await clf?.dispose();
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('adds uploads (under their filenames) and media-root paths, one entry per segment, answering the entries added', async () => {
    const body = multipart([...UPLOADED.map((f) => ({ name: 'file', filename: f, value: videoBytes(f) })), { name: 'clipSeconds', value: '1' }]);
    const uploaded = await send(`${url}/v1/index`, { headers: body.headers, body: body.body });
    const byPath = await send(`${url}/v1/index`, { body: { path: BY_PATH } });
    const expected = await reference.add([...UPLOADED.map((f) => ({ source: f, path: videoPath(f) }))], { clipSeconds: 1 });
    const [expectedPath] = await reference.add([{ source: BY_PATH, path: videoPath(BY_PATH) }]);
    expect(uploaded.status).toBe(200);
    expect(uploaded.json).toEqual({ model: 'xclip-e2e-a', results: expected.map((e, i) => ({ file: UPLOADED[i], source: UPLOADED[i], entries: e.added })) });
    expect(expected.every((e) => e.entries === 2)).toBe(true);
    expect(byPath.status).toBe(200);
    expect(byPath.json).toEqual({ model: 'xclip-e2e-a', results: [{ file: BY_PATH, source: BY_PATH, entries: [{ id: `${BY_PATH}#0`, start: expectedPath.added[0].start, end: expectedPath.added[0].end }] }] });
    expect(index.size).toBe(reference.size);
  });

  it('searches with the logits of VideoIndex.search on the same videos', async () => {
    const n = reference.size;
    expect(n).toBe(5);
    for (const query of QUERIES) {
      const r = await send(`${url}/v1/search`, { body: { query, k: n, candidates: n } });
      expect(r.status).toBe(200);
      const want = await reference.search(query, { k: n, candidates: n });
      expect(r.json.model).toBe('xclip-e2e-a');
      expect(r.json.query).toBe(query);
      expect(r.json.results.map((h: { id: string }) => h.id)).toEqual(want.map((h) => h.id));
      r.json.results.forEach((h: { logit: number; score: number; source: string; start: number; end: number }, i: number) => {
        expect(Math.abs(h.logit - want[i].logit)).toBeLessThan(1e-5);
        expect(Math.abs(h.score - want[i].score)).toBeLessThan(1e-6);
        expect([h.source, h.start, h.end]).toEqual([want[i].source, want[i].start, want[i].end]);
      });
    }
    // Defaults: k 10, candidates max(k, 200).
    const d = await send(`${url}/v1/search`, { body: { query: QUERIES[0] } });
    expect(d.json.results).toHaveLength(n);
    const top = await send(`${url}/v1/search`, { body: { query: QUERIES[0], k: 2 } });
    expect(top.json.results.map((h: { id: string }) => h.id)).toEqual((await reference.search(QUERIES[0], { k: 2 })).map((h) => h.id));
  });

  it('adding a source again replaces its entries', async () => {
    const before = index.size;
    const again = await send(`${url}/v1/index`, { body: { path: `./${BY_PATH}`, clipSeconds: 1 } });
    expect(again.status).toBe(200);
    expect(again.json.results[0].source).toBe(BY_PATH);
    expect(again.json.results[0].entries).toHaveLength(2);
    expect(index.size).toBe(before + 1);
    await send(`${url}/v1/index`, { body: { path: BY_PATH } });
    expect(index.size).toBe(before);
  });

  it('refuses bad requests with the status of their error code', async () => {
    const cases: [object, number, string][] = [
      [{ query: '' }, 400, 'INVALID_INPUT'],
      [{ query: '   ' }, 400, 'INVALID_INPUT'],
      [{ query: 'x', k: 0 }, 400, 'INVALID_INPUT'],
      [{ query: 'x', k: 5, candidates: 2 }, 400, 'INVALID_INPUT'],
      [{ query: 'x', k: '5' }, 400, 'INVALID_INPUT'],
      [{ query: 'x', limit: 5 }, 400, 'INVALID_INPUT'],
      [{ text: 'x' }, 400, 'INVALID_INPUT'],
    ];
    for (const [body, status, code] of cases) {
      const r = await send(`${url}/v1/search`, { body });
      expect([JSON.stringify(body), r.status, r.json.error.code]).toEqual([JSON.stringify(body), status, code]);
    }
    const indexCases: [object, number, string][] = [
      [{ path: '../outside.mp4' }, 403, 'SOURCE_FORBIDDEN'],
      [{ path: 'missing.mp4' }, 422, 'FILE_NOT_FOUND'],
      [{ path: 'broken_random_bytes.mp4' }, 422, 'VIDEO_OPEN_FAILED'],
      [{ path: BY_PATH, strideSeconds: 1 }, 400, 'INVALID_INPUT'],
      [{ path: BY_PATH, clipSeconds: 0 }, 400, 'INVALID_INPUT'],
      [{ url: 'http://x/a.mp4' }, 400, 'INVALID_INPUT'],
    ];
    for (const [body, status, code] of indexCases) {
      const r = await send(`${url}/v1/index`, { body });
      expect([JSON.stringify(body), r.status, r.json.error.code]).toEqual([JSON.stringify(body), status, code]);
    }
    // A broken upload fails alone; a part without a filename cannot be named.
    const mixed = multipart([
      { name: 'file', filename: 'broken.mp4', value: videoBytes('broken_random_bytes.mp4') },
      { name: 'file', filename: 'short.mp4', value: videoBytes('short_5frames.mp4') },
    ]);
    const r = await send(`${url}/v1/index`, { headers: mixed.headers, body: mixed.body });
    expect(r.status).toBe(200);
    expect(r.json.results.map((x: { error?: { code: string } }) => x.error?.code ?? 'ok')).toEqual(['VIDEO_OPEN_FAILED', 'ok']);
    expect(r.json.results[0].error.message).toMatch(/^cannot open video broken\.mp4: /);
    const unnamed = multipart([{ name: 'file', value: videoBytes('short_5frames.mp4'), contentType: 'video/mp4' }]);
    const u = await send(`${url}/v1/index`, { headers: unnamed.headers, body: unnamed.body });
    expect([u.status, u.json.error.code]).toEqual([400, 'INVALID_INPUT']);
    const sizeBefore = index.size;
    await send(`${url}/v1/index`, { body: { path: 'short_5frames.mp4' } });
    expect(index.size).toBe(sizeBefore + 1);
  });

  it('lists both routes in the OpenAPI document', async () => {
    const r = await send(`${url}/openapi.json`);
    expect(Object.keys(r.json.paths)).toEqual(expect.arrayContaining(['/v1/index', '/v1/search']));
    expect(Object.keys(r.json.paths['/v1/index'].post.requestBody.content).sort()).toEqual(['application/json', 'multipart/form-data']);
    expect(r.json.paths['/v1/search'].post.requestBody.content['application/json'].schema.required).toEqual(['query']);
  });
});

describe('a server without --db', () => {
  it('answers 404 on the search routes, saying why, and does not list them', async () => {
    const clf = await ZeroShotVideoClassifier.fromPretrained(E2E_MODEL);
    const server = await startServer({ classifier: clf });
    try {
      for (const route of ['/v1/index', '/v1/search']) {
        const r = await send(`${server.url}${route}`, { body: { query: 'x' } });
        expect([r.status, r.json.error]).toEqual([404, { code: 'NOT_FOUND', message: 'this server has no search index: start it with --db DIR' }]);
      }
      const doc = await send(`${server.url}/openapi.json`);
      expect(Object.keys(doc.json.paths)).not.toContain('/v1/search');
    } finally {
      await server.app.close();
      await clf.dispose();
    }
  });

  it('while the index opens, the search routes and /health answer 503', async () => {
    const clf = await ZeroShotVideoClassifier.fromPretrained(E2E_MODEL);
    const app = await buildServer({ classifier: clf, modelId: 'm', index: new Promise<VideoIndex>(() => undefined) });
    try {
      expect((await app.inject({ method: 'GET', url: '/health' })).statusCode).toBe(503);
      const r = await app.inject({ method: 'POST', url: '/v1/search', payload: { query: 'x' } });
      expect([r.statusCode, r.json().error.code]).toEqual([503, 'UNAVAILABLE']);
    } finally {
      await app.close();
      await clf.dispose();
    }
  });
});
