// The hub client against a look-alike of the hub's resolve endpoint on 127.0.0.1 (no outside network here).
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';

import { XClipError } from '../../lib/errors';
import { hubCacheDir, isRepoId, resolveModelDir } from '../../lib/hub';

const COMMIT = 'a'.repeat(40);

interface FakeFile {
  data: Buffer;
  lfs: boolean;
}

function gitSha1(data: Buffer): string {
  return createHash('sha1').update(`blob ${data.length}\0`).update(data).digest('hex');
}

class FakeHub {
  files = new Map<string, FakeFile>();
  requests: string[] = [];
  cutAfter?: number;  // destroy the next GET of a weights file after this many bytes
  corrupt = false;    // serve wrong bytes for the weights file
  server = http.createServer((req, res) => this.handle(req, res));
  endpoint = '';

  async start(): Promise<void> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.endpoint = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  stop(): Promise<void> {
    return new Promise((r) => this.server.close(() => r()));
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    this.requests.push(`${req.method} ${req.url} ${req.headers.range ?? ''}`.trim());
    const m = /^\/org\/tiny\/resolve\/([^/]+)\/(.+)$/.exec(req.url ?? '');
    const file = m && (m[1] === 'main' || m[1] === COMMIT) ? this.files.get(m[2]) : undefined;
    if (!file) {
      res.writeHead(404).end('Entry not found');
      return;
    }
    const etag = file.lfs ? createHash('sha256').update(file.data).digest('hex') : gitSha1(file.data);
    const common = { 'x-repo-commit': COMMIT, etag: `"${etag}"` };
    if (req.method === 'HEAD') {
      res.writeHead(200, { ...common, 'content-length': String(file.data.length) }).end();
      return;
    }
    let body = this.corrupt && file.lfs ? Buffer.from(file.data.map((b) => b ^ 0xff)) : file.data;
    const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    let status = 200;
    if (range) {
      body = body.subarray(Number(range[1]));
      status = 206;
    }
    res.writeHead(status, { ...common, 'content-length': String(body.length) });
    if (this.cutAfter !== undefined && file.lfs) {
      const n = this.cutAfter;
      this.cutAfter = undefined;
      res.write(body.subarray(0, n), () => res.destroy());
      return;
    }
    res.end(body);
  }
}

describe('hub client', () => {
  let hub: FakeHub;
  let cache: string;
  const weights = Buffer.alloc(300_000, 7);

  beforeEach(async () => {
    hub = new FakeHub();
    hub.files.set('config.json', { data: Buffer.from('{"model_type":"xclip"}'), lfs: false });
    hub.files.set('model.safetensors', { data: weights, lfs: true });
    hub.files.set('vocab.json', { data: Buffer.from('{}'), lfs: false });
    await hub.start();
    cache = fs.mkdtempSync(path.join(os.tmpdir(), 'xclip-hub-'));
  });
  afterEach(async () => {
    await hub.stop();
    fs.rmSync(cache, { recursive: true, force: true });
  });

  const opts = () => ({ cacheDir: cache, endpoint: hub.endpoint });

  it('downloads into the huggingface_hub cache layout', async () => {
    const progress: number[] = [];
    const dir = await resolveModelDir('org/tiny', { ...opts(), onProgress: (p) => p.file === 'model.safetensors' && progress.push(p.loaded) });
    expect(dir).toBe(path.join(cache, 'models--org--tiny', 'snapshots', COMMIT));
    expect(fs.readFileSync(path.join(dir, 'model.safetensors')).equals(weights)).toBe(true);
    expect(fs.lstatSync(path.join(dir, 'model.safetensors')).isSymbolicLink()).toBe(true);
    expect(fs.readFileSync(path.join(cache, 'models--org--tiny', 'refs', 'main'), 'utf8')).toBe(COMMIT);
    expect(fs.existsSync(path.join(dir, 'vocab.json'))).toBe(true);
    expect(fs.existsSync(path.join(dir, 'merges.txt'))).toBe(false);  // optional and absent upstream
    expect(progress[progress.length - 1]).toBe(weights.length);
  });

  it('serves a cache hit with metadata requests only', async () => {
    await resolveModelDir('org/tiny', opts());
    hub.requests = [];
    await resolveModelDir('org/tiny', opts());
    expect(hub.requests.filter((r) => r.startsWith('GET'))).toEqual([]);
  });

  it('resumes after a cut connection with a Range request', async () => {
    hub.cutAfter = 100_000;
    await expect(resolveModelDir('org/tiny', opts())).rejects.toMatchObject({ code: 'HUB_DOWNLOAD_FAILED' });
    const blobs = path.join(cache, 'models--org--tiny', 'blobs');
    const partial = fs.readdirSync(blobs).find((f) => f.endsWith('.incomplete'));
    expect(partial).toBeDefined();
    const have = fs.statSync(path.join(blobs, partial as string)).size;
    expect(have).toBeGreaterThan(0);
    const dir = await resolveModelDir('org/tiny', opts());
    expect(hub.requests).toContain(`GET /org/tiny/resolve/main/model.safetensors bytes=${have}-`);
    expect(fs.readFileSync(path.join(dir, 'model.safetensors')).equals(weights)).toBe(true);
  });

  it('removes a corrupted download and says so', async () => {
    hub.corrupt = true;
    const err = await resolveModelDir('org/tiny', opts()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(XClipError);
    expect(err).toMatchObject({ code: 'HUB_INTEGRITY' });
    const blobs = fs.readdirSync(path.join(cache, 'models--org--tiny', 'blobs'));
    expect(blobs.some((f) => f.endsWith('.incomplete'))).toBe(false);
    hub.corrupt = false;
    await expect(resolveModelDir('org/tiny', opts())).resolves.toContain(COMMIT);
  });

  it('discards a corrupted partial file it cannot resume', async () => {
    hub.cutAfter = 50_000;
    await expect(resolveModelDir('org/tiny', opts())).rejects.toMatchObject({ code: 'HUB_DOWNLOAD_FAILED' });
    const blobs = path.join(cache, 'models--org--tiny', 'blobs');
    const partial = path.join(blobs, fs.readdirSync(blobs).find((f) => f.endsWith('.incomplete')) as string);
    fs.writeFileSync(partial, Buffer.alloc(50_000, 1));  // garbage prefix: the resumed whole fails its checksum
    await expect(resolveModelDir('org/tiny', opts())).rejects.toMatchObject({ code: 'HUB_INTEGRITY' });
    await expect(resolveModelDir('org/tiny', opts())).resolves.toContain(COMMIT);
  });

  it('reports a missing repository as HUB_NOT_FOUND', async () => {
    await expect(resolveModelDir('org/missing', opts())).rejects.toMatchObject({ code: 'HUB_NOT_FOUND' });
  });

  it('never touches the network offline', async () => {
    await expect(resolveModelDir('org/tiny', { ...opts(), localFilesOnly: true })).rejects.toMatchObject({ code: 'HUB_OFFLINE' });
    expect(hub.requests).toEqual([]);
    await resolveModelDir('org/tiny', opts());
    hub.requests = [];
    const prev = process.env.HF_HUB_OFFLINE;
    process.env.HF_HUB_OFFLINE = '1';
    try {
      await expect(resolveModelDir('org/tiny', opts())).resolves.toContain(COMMIT);
    } finally {
      if (prev === undefined) delete process.env.HF_HUB_OFFLINE;
      else process.env.HF_HUB_OFFLINE = prev;
    }
    expect(hub.requests).toEqual([]);
  });

  it('sends HF_TOKEN as a bearer token', async () => {
    const seen: string[] = [];
    hub.server.prependListener('request', (req: http.IncomingMessage) => seen.push(String(req.headers.authorization)));
    await resolveModelDir('org/tiny', { ...opts(), token: 'hf_secret' });
    expect(seen.every((a) => a === 'Bearer hf_secret')).toBe(true);
  });

  it('resolves the cache root from the environment as huggingface_hub does', () => {
    const saved = { ...process.env };
    try {
      delete process.env.HF_HUB_CACHE;
      delete process.env.HUGGINGFACE_HUB_CACHE;
      process.env.HF_HOME = '/x/hf';
      expect(hubCacheDir()).toBe('/x/hf/hub');
      process.env.HF_HUB_CACHE = '/y/cache';
      expect(hubCacheDir()).toBe('/y/cache');
      expect(hubCacheDir('/z')).toBe('/z');
    } finally {
      process.env = saved;
    }
  });

  it('tells hub ids from paths', () => {
    expect(isRepoId('microsoft/xclip-base-patch32')).toBe(true);
    expect(isRepoId('./models/x')).toBe(false);
    expect(isRepoId('/abs/dir')).toBe(false);
    expect(isRepoId('../x/y')).toBe(false);
  });
});
