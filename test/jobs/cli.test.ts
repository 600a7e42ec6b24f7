// `xclip-node enqueue` and `xclip-node worker` as a user runs them (compiled dist/), on a real redis-server:
// `enqueue ... --wait` prints what `classify` / `embed` / `embed-text` print for the same inputs.
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

import { VideoJobQueue } from '../../lib/jobs/queue';
import { type RedisServer, startRedis } from '../helpers/redis';
import { type VideoHost, startVideoHost } from '../helpers/videoHost';
import { CLI, E2E_MODEL, VIDEOS, type WorkerProcess, runCli as run, spawnWorker } from '../helpers/workers';

const LABELS = 'playing sports,eating spaghetti,go shopping';
const FILES = ['h264_320x240_30fps.mp4', 'broken_random_bytes.mp4', 'vp9_176x144_25fps.webm', 'audio_only.mp4', 'short_5frames.mp4'].map((f) => path.join(VIDEOS, f));


/**
 * What may differ between the two commands' error messages: FFmpeg's log lines name its contexts by address, which
 * differs between processes; and the worker decodes a file under its media root through the descriptor it checked
 * (/proc/self/fd/N, no extension), so FFmpeg probes the bytes alone and a corrupt file may fail without the
 * demuxer's log line that the file name's extension leads to. Code and the rest of the message are the same.
 */
const withoutFfmpegLog = (text: string): string => text.replace(/ \(last FFmpeg log: [^)]*\)/g, '');

/** JSON with every number rounded to 4 decimals: batches of different sizes differ in the last float bits. */
function rounded(text: string): unknown {
  return JSON.parse(withoutFfmpegLog(text), (_k, v: unknown) => (typeof v === 'number' ? Math.round(v * 1e4) / 1e4 : v));
}

let redis: RedisServer;
let host: VideoHost;
let worker: WorkerProcess;

beforeAll(async () => {
  [redis, host] = await Promise.all([startRedis(), startVideoHost(VIDEOS)]);
  worker = spawnWorker(redis.url, 'cli-w', ['--queue', 'cli', '--allow-url-fetch', `127.0.0.1:${host.port}`]);
  await worker.ready;
}, 90000);
afterAll(async () => {
  worker?.kill('SIGTERM');
  await worker?.exited;
  await Promise.all([redis?.stop(), host?.close()]);
});

describe('xclip-node enqueue --wait', () => {
  it('classify --json prints exactly the document classify --json prints, failures and exit status included', async () => {
    const [queued, direct] = await Promise.all([
      run(['enqueue', 'classify', ...FILES, '--labels', LABELS, '--redis', redis.url, '--queue', 'cli', '--wait', '--json']),
      Promise.resolve(spawnSync(process.execPath, [CLI, 'classify', ...FILES, '--labels', LABELS, '--model', E2E_MODEL, '--json'], { encoding: 'utf8' })),
    ]);
    expect([queued.code, direct.status]).toEqual([1, 1]);
    expect(queued.stderr).toBe(direct.stderr);
    expect(rounded(queued.stdout)).toEqual(rounded(direct.stdout));
    const doc = JSON.parse(queued.stdout) as { model: string; demo: boolean; results: { file: string; error?: { code: string } }[] };
    expect(doc.model).toBe(E2E_MODEL);
    expect(doc.results.map((r) => r.error?.code ?? 'ok')).toEqual(['ok', 'VIDEO_OPEN_FAILED', 'ok', 'VIDEO_NO_STREAM', 'ok']);
  });

  it('classify without --json prints the same lines as classify, --top-k and --template carried to the worker', async () => {
    const args = [FILES[0], FILES[2], '--labels', LABELS, '--top-k', '2', '--template', 'a video of {}'];
    const queued = await run(['enqueue', 'classify', ...args, '--redis', redis.url, '--queue', 'cli', '--wait']);
    const direct = spawnSync(process.execPath, [CLI, 'classify', ...args, '--model', E2E_MODEL], { encoding: 'utf8' });
    expect([queued.code, direct.status]).toEqual([0, 0]);
    const shape = (text: string): string[] => text.trim().split('\n').map((l) => l.replace(/\d\.\d{4}/, (n) => (Math.round(Number(n) * 1e3) / 1e3).toFixed(3)));
    expect(shape(queued.stdout)).toEqual(shape(direct.stdout));
    expect(queued.stdout.trim().split('\n')).toHaveLength(6);
  });

  it('embed prints the JSONL embed prints; embed-text the lines embed-text prints', async () => {
    const queued = await run(['enqueue', 'embed', FILES[0], FILES[1], '--redis', redis.url, '--queue', 'cli', '--wait']);
    const direct = spawnSync(process.execPath, [CLI, 'embed', FILES[0], FILES[1], '--model', E2E_MODEL], { encoding: 'utf8' });
    expect([queued.code, direct.status]).toEqual([1, 1]);
    expect(rounded(`[${queued.stdout.trim().split('\n').join(',')}]`)).toEqual(rounded(`[${direct.stdout.trim().split('\n').join(',')}]`));
    const texts = await run(['enqueue', 'embed-text', 'a dog', 'a cat', '--redis', redis.url, '--queue', 'cli', '--wait']);
    const textsDirect = spawnSync(process.execPath, [CLI, 'embed-text', 'a dog', 'a cat', '--model', E2E_MODEL], { encoding: 'utf8' });
    expect([texts.code, textsDirect.status]).toEqual([0, 0]);
    expect(rounded(`[${texts.stdout.trim().split('\n').join(',')}]`)).toEqual(rounded(`[${textsDirect.stdout.trim().split('\n').join(',')}]`));
  });

  it('--inline carries the bytes; --media-root sends relative paths', async () => {
    const inline = await run(['enqueue', 'classify', FILES[0], '--labels', LABELS, '--redis', redis.url, '--queue', 'cli', '--wait', '--json', '--inline']);
    const relative = await run(['enqueue', 'classify', FILES[0], '--labels', LABELS, '--redis', redis.url, '--queue', 'cli', '--wait', '--json', '--media-root', VIDEOS]);
    expect([inline.code, relative.code]).toEqual([0, 0]);
    expect(rounded(inline.stdout)).toEqual(rounded(relative.stdout));
    expect((JSON.parse(inline.stdout) as { results: { file: string }[] }).results[0].file).toBe(FILES[0]);
  });
});

describe('the worker reads videos only inside its --media-root', () => {
  it('a path outside it, given as absolute or through .., fails for good without being opened', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'xclip-outside-'));
    try {
      const outside = path.join(dir, 'copy.mp4');
      fs.copyFileSync(FILES[0], outside);
      const queue = new VideoJobQueue({ redis: redis.url, queue: 'cli' });
      try {
        const ids = await queue.addBulk('classify', [{ path: outside }, { path: path.relative(VIDEOS, outside) }].map((video) => ({ video, labels: LABELS.split(',') })));
        expect(ids).toHaveLength(2);
        for (const o of await queue.wait(ids, { signal: AbortSignal.timeout(60000) })) {
          if (o.status !== 'failed') throw new Error(`${o.id} completed`);
          expect(o.error.code).toBe('SOURCE_FORBIDDEN');
          expect(o.error.message).toContain('outside the media root');
        }
        expect((await queue.deadLetters()).filter((d) => ids.includes(d.id)).map((d) => d.attempts)).toEqual([1, 1]);
      } finally {
        await queue.close();
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('the worker fetches URLs only from its --allow-url-fetch hosts', () => {
  it('a URL on a listed host scores as the same video by path; another host is SOURCE_FORBIDDEN, not retried', async () => {
    const queue = new VideoJobQueue({ redis: redis.url, queue: 'cli' });
    try {
      const name = path.basename(FILES[0]);
      const videos = [{ url: `${host.base}/${name}` }, { path: name }, { url: `http://localhost:${host.port}/${name}` }];
      const ids = await queue.addBulk('classify', videos.map((video) => ({ video, labels: LABELS.split(',') })));
      const outcomes = await queue.wait(ids, { signal: AbortSignal.timeout(60000) });
      expect(outcomes.map((o) => (o.status === 'failed' ? o.error.code : o.status))).toEqual(['completed', 'completed', 'SOURCE_FORBIDDEN']);
      const [byUrl, byPath] = outcomes.map((o) => (o.status === 'completed' ? (o.result as { scores: { label: string; score: number }[] }).scores : []));
      expect(byUrl.map((s) => s.label)).toEqual(byPath.map((s) => s.label));
      byUrl.forEach((s, i) => expect(s.score).toBeCloseTo(byPath[i].score, 5));
      expect(host.requests).toEqual([`/${name}`]);
      expect((await queue.deadLetter(ids[2]))?.attempts).toBe(1);
    } finally {
      await queue.close();
    }
  });
});

describe('xclip-node enqueue without --wait, and usage', () => {
  it('prints one job id per file (or JSON), and the jobs run', async () => {
    const r = await run(['enqueue', 'embed', FILES[0], FILES[2], '--redis', redis.url, '--queue', 'cli', '--json']);
    // With stderr, so that a failure (seen once in a full CI run, exit status 1) says what went wrong.
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
    const { queue, jobs } = JSON.parse(r.stdout) as { queue: string; jobs: { file: string; id: string }[] };
    expect(queue).toBe('cli');
    expect(jobs.map((j) => j.file)).toEqual([FILES[0], FILES[2]]);
    const plain = await run(['enqueue', 'embed', FILES[0], '--redis', redis.url, '--queue', 'cli']);
    expect(plain.stdout).toMatch(new RegExp(`^\\d+\\t${FILES[0].replace(/[.]/g, '\\.')}\\n$`));
  });

  it('bad usage exits 2 with the command help, a missing file 3, a wait that runs out 1', async () => {
    const noRedis = await run(['enqueue', 'classify', FILES[0], '--labels', LABELS]);
    expect([noRedis.code, noRedis.stderr]).toEqual([2, expect.stringContaining('--redis is required')]);
    expect(noRedis.stderr).toContain('Usage: xclip-node enqueue');
    const badKind = await run(['enqueue', 'transcode', FILES[0], '--redis', redis.url]);
    expect([badKind.code, badKind.stderr]).toEqual([2, expect.stringContaining('the first argument is the job kind: classify, embed, embed-text')]);
    const badUrl = await run(['enqueue', 'embed', FILES[0], '--redis', 'http://x']);
    expect([badUrl.code, badUrl.stderr]).toEqual([2, expect.stringContaining('Expected a redis:// or rediss:// URL for redis')]);
    const missing = await run(['enqueue', 'embed', '/no/such.mp4', '--redis', redis.url]);
    expect(missing.code).toBe(3);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'xclip-enqueue-'));
    try {
      const big = path.join(dir, 'big.mp4');
      fs.writeFileSync(big, Buffer.alloc(16 * 1024 * 1024 + 1));
      const tooBig = await run(['enqueue', 'embed', big, '--inline', '--redis', redis.url]);
      expect([tooBig.code, tooBig.stderr]).toEqual([2, expect.stringContaining('over the 16 MiB a job carries inline')]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
    // No worker on this queue: the wait gives up, the job stays.
    const late = await run(['enqueue', 'classify', FILES[0], '--labels', LABELS, '--redis', redis.url, '--queue', 'nobody', '--wait', '--json', '--timeout-ms', '300']);
    expect(late.code).toBe(1);
    expect(JSON.parse(late.stdout).results[0].error.code).toBe('WAIT_TIMEOUT');
  });

  it('worker: bad usage exits 2 before loading anything', async () => {
    const noRedis = await run(['worker', '--model', E2E_MODEL]);
    expect([noRedis.code, noRedis.stderr]).toEqual([2, expect.stringContaining('--redis is required')]);
    const both = await run(['worker', '--redis', redis.url, '--batch', '4', '--max-batch', '4']);
    expect([both.code, both.stderr]).toEqual([2, expect.stringContaining('give --max-batch or --batch, not both')]);
    const badQueue = await run(['worker', '--redis', redis.url, '--queue', 'a:b', '--model', E2E_MODEL]);
    expect(badQueue.code).toBe(2);
    const noRoot = await run(['worker', '--redis', redis.url, '--media-root', FILES[0], '--model', E2E_MODEL]);
    expect([noRoot.code, noRoot.stderr]).toEqual([2, expect.stringContaining(`--media-root ${FILES[0]} is not a directory`)]);
    const badHosts = await run(['worker', '--redis', redis.url, '--allow-url-fetch', 'videos.example.com,not a host', '--model', E2E_MODEL]);
    expect([badHosts.code, badHosts.stderr]).toEqual([2, expect.stringContaining('--allow-url-fetch: Expected host names, IP addresses or CIDR ranges')]);
    const badWait = await run(['worker', '--redis', redis.url, '--max-wait-ms', '60001', '--model', E2E_MODEL]);
    expect([badWait.code, badWait.stderr]).toEqual([2, expect.stringContaining('--max-wait-ms')]);
  });

  it('worker: waits up to 1000 ms for a batch to fill unless --max-wait-ms says otherwise', async () => {
    // The worker started above with the defaults: throughput first (interactive callers get 5 ms).
    expect(worker.logs.find((l) => l.msg === 'worker ready')).toMatchObject({ maxWaitMs: 1000, maxBatch: 8 });
    const other = spawnWorker(redis.url, 'cli-wait', ['--queue', 'cli-wait', '--max-wait-ms', '20']);
    try {
      await other.ready;
      expect(other.logs.find((l) => l.msg === 'worker ready')).toMatchObject({ maxWaitMs: 20 });
    } finally {
      other.kill('SIGTERM');
      await other.exited;
    }
  }, 60000);
});
