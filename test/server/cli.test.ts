// `xclip-node serve` as a user runs it (the compiled dist/cli.js in a child process): the one stdout line, JSON logs
// with request ids on stderr, the API key from the environment, usage errors, and SIGTERM/SIGINT draining requests
// in flight before exiting 0.
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { ROOT } from '../helpers/fixtures';
import { E2E_MODEL, LABELS3, VIDEOS, holdUpload, send, videoBytes, type Part } from '../helpers/server';

const cli = path.join(ROOT, 'dist', 'cli.js');

interface Child {
  proc: ChildProcessWithoutNullStreams;
  url: string;
  stdout: () => string;
  stderr: () => string;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Starts `serve` and resolves once it printed its address (rejects if it exits first or takes over 60 s). */
function serve(args: string[], env: Record<string, string> = {}): Promise<Child> {
  const proc = spawn(process.execPath, [cli, 'serve', '--model', E2E_MODEL, '--port', '0', ...args], { env: { ...process.env, ...env } });
  let out = '';
  let err = '';
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => proc.on('exit', (code, signal) => resolve({ code, signal })));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`serve did not start within 60 s:\n${err}`));
    }, 60000);
    proc.stderr.on('data', (d: Buffer) => (err += d.toString()));
    proc.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /^listening on (http:\/\/127\.0\.0\.1:\d+)\n/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({ proc, url: m[1], stdout: () => out, stderr: () => err, exit });
      }
    });
    void exit.then(({ code }) => {
      clearTimeout(timer);
      reject(new Error(`serve exited with ${code} before listening:\n${err}`));
    });
  });
}

const upload: Part[] = [
  { name: 'labels', value: JSON.stringify(LABELS3) },
  { name: 'file', filename: 'short.mp4', value: videoBytes('short_5frames.mp4') },
];

function logLines(stderr: string): Record<string, unknown>[] {
  return stderr
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

describe('xclip-node serve (child process)', () => {
  const children: Child[] = [];

  beforeAll(() => {
    if (!fs.existsSync(cli)) throw new Error(`${cli} is missing: run "npm run build:ts" first`);
  });

  afterAll(() => {
    for (const c of children) if (c.proc.exitCode === null && c.proc.signalCode === null) c.proc.kill('SIGKILL');
  });

  it('prints exactly one stdout line, logs JSON with request ids to stderr, and on SIGTERM finishes the request in flight, then exits 0', async () => {
    const c = await serve([]);
    children.push(c);
    const r = await send(`${c.url}/v1/embeddings`, { headers: { 'x-request-id': 'req-abc' }, body: { input: 'a dog' } });
    expect(r.status).toBe(200);
    const inFlight = holdUpload(`${c.url}/v1/classify`, upload);
    // The request is in flight once the server logged it as incoming.
    await waitFor(() => logLines(c.stderr()).some((l) => (l.req as { url?: string } | undefined)?.url === '/v1/classify'));
    c.proc.kill('SIGTERM');
    await waitFor(() => /draining/.test(c.stderr()));
    const health = await send(`${c.url}/health`);
    expect([health.status, health.json.status]).toEqual([503, 'draining']);
    inFlight.finish();
    const answer = await inFlight.response;
    expect(answer.status).toBe(200);
    expect(answer.json.results[0].file).toBe('short.mp4');
    expect(await c.exit).toEqual({ code: 0, signal: null });
    expect(c.stdout()).toBe(`listening on ${c.url}\n`);
    const logs = logLines(c.stderr());
    expect(logs.filter((l) => l.reqId === 'req-abc').length).toBeGreaterThanOrEqual(2); // incoming + completed
    expect(logs.some((l) => l.msg === 'drained: all requests answered, no native call running')).toBe(true);
  });

  it('SIGINT drains too; a second signal exits at once', async () => {
    const c = await serve(['--log-level', 'warn']);
    children.push(c);
    c.proc.kill('SIGINT');
    expect(await c.exit).toEqual({ code: 0, signal: null });
    const d = await serve(['--log-level', 'warn', '--shutdown-timeout-ms', '60000']);
    children.push(d);
    const stuck = holdUpload(`${d.url}/v1/classify`, upload);
    await new Promise((r) => setTimeout(r, 300));
    d.proc.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 200));
    d.proc.kill('SIGTERM');
    expect((await d.exit).code).toBe(1);
    stuck.abort();
  });

  it('at the shutdown deadline, gives up on a stalled upload and still exits 0', async () => {
    const c = await serve(['--log-level', 'warn', '--shutdown-timeout-ms', '300']);
    children.push(c);
    const stuck = holdUpload(`${c.url}/v1/classify`, upload);
    await new Promise((r) => setTimeout(r, 300));
    const t0 = Date.now();
    c.proc.kill('SIGTERM');
    expect(await c.exit).toEqual({ code: 0, signal: null });
    expect(Date.now() - t0).toBeLessThan(10000);
    expect(c.stderr()).toMatch(/shutdown deadline passed/);
    stuck.abort();
  });

  it('takes the API key from XCLIP_API_KEY', async () => {
    const c = await serve(['--log-level', 'silent'], { XCLIP_API_KEY: 'from-env' });
    children.push(c);
    expect((await send(`${c.url}/v1/models`)).status).toBe(401);
    expect((await send(`${c.url}/v1/models`, { headers: { authorization: 'Bearer from-env' } })).status).toBe(200);
    c.proc.kill('SIGTERM');
    expect((await c.exit).code).toBe(0);
  });

  it('with --db: indexes and searches over HTTP, and the index outlives the server; an index of another model is refused', async () => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'xclip-serve-db-'));
    try {
      const db = path.join(tmp, 'index');
      const c = await serve(['--db', db, '--media-root', VIDEOS, '--log-level', 'silent']);
      children.push(c);
      const added = await send(`${c.url}/v1/index`, { body: { path: 'h264_320x240_30fps.mp4' } });
      expect(added.status).toBe(200);
      expect(added.json.results[0].entries).toEqual([{ id: 'h264_320x240_30fps.mp4#0', start: 0, end: expect.any(Number) }]);
      const found = await send(`${c.url}/v1/search`, { body: { query: 'playing sports', k: 1 } });
      expect(found.status).toBe(200);
      c.proc.kill('SIGTERM');
      expect((await c.exit).code).toBe(0);
      // The same index from the command line: the same hit and logit.
      const cli2 = spawnSync(process.execPath, [cli, 'search', 'playing sports', '--db', db, '--k', '1', '--json'], { encoding: 'utf8', timeout: 60000 });
      expect(cli2.status).toBe(0);
      const doc = JSON.parse(cli2.stdout) as { results: { file: string; logit: number }[] };
      expect(doc.results.map((h) => h.file)).toEqual(['h264_320x240_30fps.mp4']);
      expect(doc.results[0].logit).toBeCloseTo(found.json.results[0].logit, 5);

      // The index as if another model (another configuration) had built it.
      const metaFile = path.join(db, 'index.json');
      const meta = JSON.parse(fs.readFileSync(metaFile, 'utf8')) as { model: { configHash: string } };
      meta.model.configHash = '0'.repeat(meta.model.configHash.length);
      fs.writeFileSync(metaFile, JSON.stringify(meta));
      const refused = spawnSync(process.execPath, [cli, 'serve', '--model', E2E_MODEL, '--port', '0', '--db', db], { encoding: 'utf8', timeout: 60000 });
      expect(refused.status).toBe(1);
      expect(refused.stdout).toBe('');
      expect(refused.stderr).toMatch(/opening the search index .* failed/);
      expect(refused.stderr).toMatch(/INDEX_MODEL_MISMATCH/);
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  });

  it('exits 2 on bad usage and 1 when the model cannot be loaded, without printing the listening line', () => {
    for (const args of [['--port', 'abc'], ['--bogus'], ['--media-root', '/no/such/dir'], ['--batch', '257']]) {
      const r = spawnSync(process.execPath, [cli, 'serve', ...args], { encoding: 'utf8', timeout: 60000 });
      expect([args.join(' '), r.status]).toEqual([args.join(' '), 2]);
      expect(r.stdout).toBe('');
      expect(r.stderr).toMatch(/Usage: xclip-node serve/);
    }
    const help = spawnSync(process.execPath, [cli, 'serve', '--help'], { encoding: 'utf8', timeout: 60000 });
    expect(help.status).toBe(0);
    expect(help.stdout).toMatch(/--allow-url-fetch/);
    const missing = spawnSync(process.execPath, [cli, 'serve', '--model', '/no/such/model', '--port', '0'], { encoding: 'utf8', timeout: 60000 });
    expect(missing.status).toBe(1);
    expect(missing.stdout).toBe('');
    expect(missing.stderr).toMatch(/loading the model failed/);
  });
});

async function waitFor(cond: () => boolean, ms = 20000): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error(`condition not met within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
