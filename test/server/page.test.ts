// The page's routes over HTTP, on a real index of two fixture videos: the page views of search never carry a server
// path, thumbnails are cached beside the index with a strong ETag, media honours single byte ranges, and files are
// served only under the media root.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import type { FastifyInstance } from 'fastify';

import { ZeroShotVideoClassifier } from '../../lib/pipelines';
import { VideoIndex } from '../../lib/search/videoIndex';
import { buildServer } from '../../lib/server/app';
import { E2E_MODEL, VIDEOS, videoBytes, videoPath } from '../helpers/server';

const FILES = ['h264_320x240_30fps.mp4', 'vp9_176x144_25fps.webm'];

// The server turns ready once the classifier and the index promises settle (a tick after buildServer).
async function waitReady(a: FastifyInstance): Promise<void> {
  for (let i = 0; i < 100 && (await a.inject({ method: 'GET', url: '/health' })).statusCode !== 200; i++) await new Promise((r) => setTimeout(r, 10));
}

interface PageHit {
  token: string;
  name: string;
  start: number;
  end: number;
  logit: number;
}

describe('page routes', () => {
  let db: string;
  let clf: ZeroShotVideoClassifier;
  let index: VideoIndex;
  let app: FastifyInstance;
  let noRoot: FastifyInstance;
  let hits: PageHit[];

  const build = async (mediaRoot?: string): Promise<FastifyInstance> => {
    const a = await buildServer({ classifier: clf, index, modelId: 'xclip-e2e-a', media: mediaRoot ? { mediaRoot } : {} });
    await a.ready();
    await waitReady(a);
    return a;
  };

  beforeAll(async () => {
    db = fs.mkdtempSync(path.join(os.tmpdir(), 'xclip-page-routes-'));
    clf = await ZeroShotVideoClassifier.fromPretrained(E2E_MODEL);
    index = await VideoIndex.open(db, { model: clf, modelId: 'xclip-e2e-a' });
    await index.add(FILES.map(videoPath), { clipSeconds: 1 });
    app = await build(VIDEOS);
    noRoot = await build();
    const res = await app.inject({ method: 'POST', url: '/page/api/search', payload: { query: 'go shopping', k: 10 } });
    expect(res.statusCode).toBe(200);
    hits = res.json().results;
  });

  afterAll(async () => {
    await app?.close();
    await noRoot?.close();
    await index?.close();
    await clf?.dispose();
    if (db) fs.rmSync(db, { recursive: true, force: true });
  });

  it('serves the page with a CSP that allows only its own files', async () => {
    const res = await app.inject({ method: 'GET', url: '/' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/html/);
    expect(res.headers['content-security-policy']).toContain("script-src 'self'");
    expect(res.body).toContain('<script type="module" src="/page/app.js">');
    expect((await app.inject({ method: 'GET', url: '/page/app.js' })).headers['content-type']).toMatch(/^text\/javascript/);
  });

  it("search answers /v1/search's hits in its order with file names and tokens, never a path", async () => {
    const direct = (await app.inject({ method: 'POST', url: '/v1/search', payload: { query: 'go shopping', k: 10 } })).json().results as { source: string; start: number; end: number; logit: number }[];
    expect(direct.length).toBeGreaterThan(2);
    expect(hits.map((h) => [h.name, h.start, h.end, h.logit])).toEqual(direct.map((r) => [path.basename(r.source), r.start, r.end, r.logit]));
    expect(JSON.stringify(hits)).not.toContain(VIDEOS);
    const bad = await app.inject({ method: 'POST', url: '/page/api/search', payload: { query: 'x', k: 0 } });
    expect(bad.statusCode).toBe(400);
    expect((await app.inject({ method: 'POST', url: '/page/api/search', payload: { k: 3 } })).statusCode).toBe(400);
  });

  it('similar by token leaves the entry out; an unknown token is 404', async () => {
    const res = await app.inject({ method: 'POST', url: '/page/api/similar', payload: { token: hits[0].token, k: 5 } });
    expect(res.statusCode).toBe(200);
    const near: PageHit[] = res.json().results;
    expect(near.length).toBeGreaterThan(0);
    expect(near.some((h) => h.token === hits[0].token)).toBe(false);
    expect(JSON.stringify(near)).not.toContain(VIDEOS);
    const forged = await app.inject({ method: 'POST', url: '/page/api/similar', payload: { token: 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' } });
    expect(forged.statusCode).toBe(404);
  });

  it('/v1/similar by entry id: the nearest entries by video embedding, the entry left out; unknown ids 404', async () => {
    const [entry] = await index.search('go shopping', { k: 1 });
    const res = await app.inject({ method: 'POST', url: '/v1/similar', payload: { id: entry.id, k: 3 } });
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body.id).toBe(entry.id);
    expect(body.results).toEqual(await index.similar(entry.id, { k: 3 }));
    expect(body.results.some((r: { id: string }) => r.id === entry.id)).toBe(false);
    expect((await app.inject({ method: 'POST', url: '/v1/similar', payload: { id: videoPath(FILES[0]) } })).statusCode).toBe(404);
    expect((await app.inject({ method: 'POST', url: '/v1/similar', payload: { id: entry.id, k: 0 } })).statusCode).toBe(400);
    expect((await app.inject({ method: 'POST', url: '/v1/similar', payload: { id: entry.id, extra: 1 } })).statusCode).toBe(400);
  });

  it('thumbnails: JPEG cached beside the index, strong ETag, 304 on If-None-Match', async () => {
    const url = `/page/thumb?t=${hits[0].token}`;
    const first = await app.inject({ method: 'GET', url });
    expect(first.statusCode).toBe(200);
    expect(first.headers['content-type']).toBe('image/jpeg');
    expect(first.headers['cache-control']).toContain('max-age=');
    const etag = String(first.headers.etag);
    expect(etag).toMatch(/^"[\w-]+"$/);
    expect([...first.rawPayload.subarray(0, 2)]).toEqual([0xff, 0xd8]);
    const cached = fs.readdirSync(path.join(db, 'thumbs'));
    expect(cached).toContain(`${etag.slice(1, -1)}.jpg`);
    const again = await app.inject({ method: 'GET', url, headers: { 'if-none-match': etag } });
    expect(again.statusCode).toBe(304);
    expect(again.rawPayload.length).toBe(0);
    const repeat = await app.inject({ method: 'GET', url });
    expect(repeat.rawPayload.equals(first.rawPayload)).toBe(true);
    // The public route by entry id gives the same image.
    const [entry] = await index.search('go shopping', { k: 1 });
    const byId = await app.inject({ method: 'GET', url: `/v1/thumbnail?id=${encodeURIComponent(entry.id)}` });
    expect(byId.statusCode).toBe(200);
    expect(byId.headers.etag).toBe(etag);
    expect((await app.inject({ method: 'GET', url: '/v1/thumbnail?id=nope%230' })).statusCode).toBe(404);
  });

  it('media: whole file, single ranges (206), unsatisfiable ranges (416)', async () => {
    const hit = hits.find((h) => h.name === FILES[0])!;
    const bytes = videoBytes(FILES[0]);
    const url = `/media?t=${hit.token}`;
    const whole = await app.inject({ method: 'GET', url });
    expect(whole.statusCode).toBe(200);
    expect(whole.headers['accept-ranges']).toBe('bytes');
    expect(whole.headers['content-type']).toBe('video/mp4');
    expect(whole.rawPayload.equals(bytes)).toBe(true);
    const part = await app.inject({ method: 'GET', url, headers: { range: 'bytes=100-1099' } });
    expect(part.statusCode).toBe(206);
    expect(part.headers['content-range']).toBe(`bytes 100-1099/${bytes.length}`);
    expect(part.rawPayload.equals(bytes.subarray(100, 1100))).toBe(true);
    const tail = await app.inject({ method: 'GET', url, headers: { range: 'bytes=-16' } });
    expect(tail.statusCode).toBe(206);
    expect(tail.rawPayload.equals(bytes.subarray(bytes.length - 16))).toBe(true);
    const beyond = await app.inject({ method: 'GET', url, headers: { range: `bytes=${bytes.length}-` } });
    expect(beyond.statusCode).toBe(416);
    expect(beyond.headers['content-range']).toBe(`bytes */${bytes.length}`);
    // If-Range with another validator: the whole file again.
    const stale = await app.inject({ method: 'GET', url, headers: { range: 'bytes=0-9', 'if-range': '"other"' } });
    expect(stale.statusCode).toBe(200);
    expect((await app.inject({ method: 'GET', url: '/media?t=forged' })).statusCode).toBe(404);
  });

  it('serves no file without a media root (403), and tokens of another server are unknown (404)', async () => {
    const t = hits[0].token;
    const media = await noRoot.inject({ method: 'GET', url: `/media?t=${t}` });
    expect(media.statusCode).toBe(404); // noRoot seals with its own key
    const own = (await noRoot.inject({ method: 'POST', url: '/page/api/search', payload: { query: 'go shopping', k: 1 } })).json().results[0].token;
    const refused = await noRoot.inject({ method: 'GET', url: `/media?t=${own}` });
    expect(refused.statusCode).toBe(403);
    expect(refused.json().error.code).toBe('SOURCE_FORBIDDEN');
    expect((await noRoot.inject({ method: 'GET', url: `/page/thumb?t=${own}` })).statusCode).toBe(403);
  });
});
