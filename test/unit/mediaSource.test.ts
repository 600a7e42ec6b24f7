// The media-source policy shared by the server and the job worker: what a request may make the process read or
// fetch. URL cases run against a throwaway HTTP server on 127.0.0.1; nothing leaves the machine.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';

import { XClipError } from '../../lib/errors';
import { MediaSources, type OpenedMedia } from '../../lib/mediaSource';

async function codeOf(p: Promise<unknown> | (() => unknown)): Promise<string> {
  try {
    await (typeof p === 'function' ? p() : p);
    return 'resolved';
  } catch (e) {
    return e instanceof XClipError ? e.code : (e as Error).name;
  }
}

async function bytesOf(media: OpenedMedia): Promise<Buffer> {
  return typeof media.source === 'string' ? fs.promises.readFile(media.source) : Buffer.from(media.source);
}

describe('MediaSources: paths', () => {
  let dir: string;
  let root: string;
  let sources: MediaSources;

  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'xclip-media-test-'));
    root = path.join(dir, 'root');
    fs.mkdirSync(path.join(root, 'sub'), { recursive: true });
    fs.writeFileSync(path.join(root, 'sub', 'a.mp4'), 'inside');
    fs.writeFileSync(path.join(dir, 'secret.txt'), 'outside');
    fs.mkdirSync(path.join(dir, 'elsewhere'));
    fs.writeFileSync(path.join(dir, 'elsewhere', 'b.mp4'), 'outside dir');
    fs.symlinkSync(path.join(dir, 'secret.txt'), path.join(root, 'escape.mp4'));
    fs.symlinkSync(path.join(dir, 'elsewhere'), path.join(root, 'linkdir'));
    fs.symlinkSync(path.join(root, 'sub', 'a.mp4'), path.join(root, 'alias.mp4'));
    execFileSync('mkfifo', [path.join(root, 'fifo.mp4')]);
    sources = new MediaSources({ mediaRoot: root });
  });

  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('refuses every path when no media root is set', async () => {
    expect(await codeOf(new MediaSources().open({ path: path.join(root, 'sub', 'a.mp4') }))).toBe('SOURCE_FORBIDDEN');
  });

  it('opens a file under the root, relative or absolute, and hands the decoder the descriptor it checked', async () => {
    for (const p of ['sub/a.mp4', path.join(root, 'sub', 'a.mp4'), './sub/../sub/a.mp4']) {
      const media = await sources.open({ path: p });
      expect(media.source).toMatch(/^\/proc\/self\/fd\/\d+$/);
      expect((await bytesOf(media)).toString()).toBe('inside');
      expect(media.bytes).toBe(6);
      await media.close();
      await media.close(); // idempotent
    }
  });

  it('refuses .. and absolute paths that leave the root', async () => {
    for (const p of ['../secret.txt', 'sub/../../secret.txt', path.join(dir, 'secret.txt'), '/etc/passwd']) {
      expect(await codeOf(sources.open({ path: p }))).toBe('SOURCE_FORBIDDEN');
    }
  });

  it('refuses symlinks that resolve outside the root, to a file or through a directory, and allows those inside', async () => {
    expect(await codeOf(sources.open({ path: 'escape.mp4' }))).toBe('SOURCE_FORBIDDEN');
    expect(await codeOf(sources.open({ path: 'linkdir/b.mp4' }))).toBe('SOURCE_FORBIDDEN');
    const alias = await sources.open({ path: 'alias.mp4' });
    expect((await bytesOf(alias)).toString()).toBe('inside');
    await alias.close();
  });

  it('reports a missing file as FILE_NOT_FOUND, refuses non-regular files without blocking, and NUL bytes', async () => {
    expect(await codeOf(sources.open({ path: 'sub/none.mp4' }))).toBe('FILE_NOT_FOUND');
    expect(await codeOf(sources.open({ path: 'fifo.mp4' }))).toBe('SOURCE_FORBIDDEN');
    expect(await codeOf(sources.open({ path: 'sub' }))).toBe('SOURCE_FORBIDDEN');
    expect(await codeOf(sources.open({ path: 'sub/a.mp4\0x' }))).toBe('TypeError');
  });

  it('refuses malformed references', async () => {
    for (const ref of [null, {}, { path: '' }, { path: 1 }, { path: 'a', url: 'b' }, { file: 'a' }]) {
      expect(await codeOf(() => sources.open(ref as never))).toBe('TypeError');
    }
  });
});

describe('MediaSources: inline data', () => {
  const sources = new MediaSources({ maxInlineBytes: 12 });
  const bytes = Buffer.from('hello video!');

  it('decodes base64 and base64 data URIs', async () => {
    expect(await bytesOf(sources.decodeInline(bytes.toString('base64')))).toEqual(bytes);
    expect(await bytesOf(await sources.open({ data: `data:video/mp4;base64,${bytes.toString('base64')}` }))).toEqual(bytes);
  });

  it('refuses data over the limit before decoding it', async () => {
    expect(await codeOf(() => sources.decodeInline(Buffer.alloc(13).toString('base64')))).toBe('SOURCE_TOO_LARGE');
    // A string far over the limit is refused by its length alone (decoding it would cost memory).
    expect(await codeOf(() => sources.decodeInline('A'.repeat(4_000_000)))).toBe('SOURCE_TOO_LARGE');
  });

  it('refuses what is not standard padded base64, and data URIs that are not base64', async () => {
    for (const bad of ['aGVsbG8', 'aGVs!G8=', 'aGVs bG8=', 'data:video/mp4,plain', 'data:video/mp4;base64']) {
      expect(await codeOf(() => sources.decodeInline(bad))).toBe('INVALID_INPUT');
    }
  });
});

describe('MediaSources: URLs', () => {
  let server: http.Server;
  let base: string;
  let port: number;
  const video = Buffer.alloc(1000, 7);
  const requests: string[] = [];

  beforeAll(async () => {
    server = http.createServer((req, res) => {
      requests.push(req.url ?? '');
      const url = req.url ?? '';
      if (url === '/v.mp4') res.end(video);
      else if (url === '/redirect') res.writeHead(302, { location: '/v.mp4' }).end();
      else if (url === '/redirect-away') res.writeHead(302, { location: 'http://example.com/v.mp4' }).end();
      else if (url === '/loop') res.writeHead(302, { location: '/loop' }).end();
      else if (url === '/declared-big') res.writeHead(200, { 'content-length': '5000' }).end(Buffer.alloc(5000));
      else if (url === '/chunked-big') {
        res.writeHead(200);
        for (let i = 0; i < 5; i++) res.write(Buffer.alloc(1000));
        res.end();
      } else if (url === '/stall') res.writeHead(200).write('x'); // never ends
      else res.writeHead(404).end();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as AddressInfo).port;
    base = `http://127.0.0.1:${port}`;
  });

  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  const allowing = (hosts: string[], extra: object = {}): MediaSources => new MediaSources({ allowUrlHosts: hosts, maxUrlBytes: 2000, urlTimeoutMs: 2000, ...extra });

  it('is off unless hosts are listed', async () => {
    expect(await codeOf(new MediaSources().open({ url: `${base}/v.mp4` }))).toBe('SOURCE_FORBIDDEN');
    expect(await codeOf(allowing(['videos.example.com']).open({ url: `${base}/v.mp4` }))).toBe('SOURCE_FORBIDDEN');
  });

  it('fetches from a listed address into a temp file that close() removes', async () => {
    const sources = allowing(['127.0.0.1']);
    const media = await sources.open({ url: `${base}/v.mp4` });
    expect(media.bytes).toBe(video.length);
    expect(await bytesOf(media)).toEqual(video);
    await media.close();
    expect(fs.existsSync(media.source as string)).toBe(false);
    await sources.dispose();
  });

  it('checks the address a listed name resolves to: a loopback address must be listed itself', async () => {
    // "localhost" is listed, but it resolves to a loopback address, which is not: refused at connection time.
    expect(await codeOf(allowing(['localhost']).open({ url: `http://localhost:${port}/v.mp4` }))).toBe('SOURCE_FORBIDDEN');
    const both = allowing(['localhost', '127.0.0.0/8', '::1']);
    const media = await both.open({ url: `http://localhost:${port}/v.mp4` });
    expect(await bytesOf(media)).toEqual(video);
    await media.close();
    await both.dispose();
  });

  it('honours ports, CIDR ranges and wildcards in the list', async () => {
    expect(await codeOf(allowing([`127.0.0.1:${port + 1 > 65535 ? 1 : port + 1}`]).open({ url: `${base}/v.mp4` }))).toBe('SOURCE_FORBIDDEN');
    for (const sources of [allowing([`127.0.0.1:${port}`]), allowing(['127.0.0.0/8'])]) {
      await (await sources.open({ url: `${base}/v.mp4` })).close();
      await sources.dispose();
    }
    expect(await codeOf(allowing(['*.localhost']).open({ url: `http://localhost:${port}/v.mp4` }))).toBe('SOURCE_FORBIDDEN');
    expect(() => allowing(['bad host!'])).toThrow(RangeError);
    expect(() => allowing(['10.0.0.0/33'])).toThrow(RangeError);
  });

  it('refuses other schemes, credentials and non-URLs', async () => {
    const sources = allowing(['127.0.0.1']);
    expect(await codeOf(sources.open({ url: `file:///etc/passwd` }))).toBe('SOURCE_FORBIDDEN');
    expect(await codeOf(sources.open({ url: `http://user:pw@127.0.0.1:${port}/v.mp4` }))).toBe('SOURCE_FORBIDDEN');
    expect(await codeOf(sources.open({ url: 'not a url' }))).toBe('INVALID_INPUT');
  });

  it('follows redirects only to the same host, and only so many', async () => {
    const sources = allowing(['127.0.0.1']);
    expect(await bytesOf(await sources.open({ url: `${base}/redirect` }))).toEqual(video);
    expect(await codeOf(sources.open({ url: `${base}/redirect-away` }))).toBe('SOURCE_FORBIDDEN');
    expect(await codeOf(sources.open({ url: `${base}/loop` }))).toBe('SOURCE_FAILED');
    expect(requests.filter((r) => r === '/loop')).toHaveLength(4); // the first request + 3 redirects
    expect(await codeOf(sources.open({ url: `${base}/missing` }))).toBe('SOURCE_FAILED');
    await sources.dispose();
  });

  it('enforces the size limit from Content-Length and while streaming, leaving no file behind', async () => {
    const tempDir = fs.mkdtempSync(path.join(os.tmpdir(), 'xclip-media-fetch-'));
    const sources = allowing(['127.0.0.1'], { tempDir });
    expect(await codeOf(sources.open({ url: `${base}/declared-big` }))).toBe('SOURCE_TOO_LARGE');
    expect(await codeOf(sources.open({ url: `${base}/chunked-big` }))).toBe('SOURCE_TOO_LARGE');
    expect(fs.readdirSync(tempDir)).toEqual([]);
    fs.rmSync(tempDir, { recursive: true });
  });

  it('gives up after the time limit, or at once when the caller aborts', async () => {
    const sources = allowing(['127.0.0.1'], { urlTimeoutMs: 300 });
    const t0 = Date.now();
    expect(await codeOf(sources.open({ url: `${base}/stall` }))).toBe('SOURCE_TIMEOUT');
    expect(Date.now() - t0).toBeLessThan(3000);
    await sources.dispose();
    const ac = new AbortController();
    const patient = allowing(['127.0.0.1']);
    const pending = codeOf(patient.open({ url: `${base}/stall` }, { signal: ac.signal }));
    setTimeout(() => ac.abort(new Error('client left')), 50);
    expect(await pending).toBe('Error');
    await patient.dispose();
  });
});
