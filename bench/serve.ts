// `xclip-node serve` under load against in-process classify of the same files, in one run: a base-size model
// (xclip-base-patch32 shapes, random weights: no download), the bench clips (bench/clips.ts) uploaded as multipart by
// an own bounded client (closed loop, one keep-alive connection per client). Prints the README's table, then one
// JSON line. On a shared machine run it niced: `nice -n 10 npm run bench:serve` (BENCH_QUICK=1: short phases;
// BENCH_SERVE_ARGS="--max-active 4": extra serve options).
//
//  1. one video at a time (latency), in-process and over HTTP in turns;
//  2. 8/32/128 concurrent callers in-process, then as many HTTP clients of the server (a child process with its
//     default settings; clients wait as Retry-After says), for each count;
//  3. overload: requests arriving at 4x the rate the server completes them (its 8-client figure) for 30 s, each
//     sent once whatever the answer (an open loop: arrivals do not wait for answers).
import { spawn } from 'node:child_process';
import { setMaxListeners } from 'node:events';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';

import { ZeroShotVideoClassifier, getNumThreads, releaseCachedMemory } from '../lib';
import { binding } from '../lib/native';
import { LABELS, makeBaseModel, makeVideos } from './clips';

const QUICK = process.env.BENCH_QUICK === '1';
const WARM_S = QUICK ? 2 : 4;
const PHASE_S = QUICK ? 8 : 20;
const OVERLOAD_S = QUICK ? 10 : 30;
const SINGLE_N = QUICK ? 5 : 12;
const CLIENTS = [8, 32, 128];
const EXTRA_ARGS = (process.env.BENCH_SERVE_ARGS ?? '').split(/\s+/).filter((a) => a.length > 0);
const ROOT = path.resolve(__dirname, '..', '..');

interface Sample {
  start: number;
  end: number;
  status: number;
}

interface LoadResult {
  videosPerSecond: number;
  ok: number;
  refused: number;
  other: number;
  p50: number;
  p95: number;
  p99: number;
}

const now = (): number => performance.now() / 1000;
const sleep = (s: number): Promise<void> => new Promise((r) => setTimeout(r, s * 1000));

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

/**
 * `clients` workers call `once(k, signal)` in a loop (k counts calls, to rotate the clips) for warm-up + `seconds`;
 * what completes inside the measured window counts. At the end of the window the signal aborts what is still in
 * flight (128 queued in-process calls would otherwise take a minute to drain), and the loop returns once all settled.
 */
async function closedLoop(clients: number, seconds: number, once: (k: number, signal: AbortSignal) => Promise<{ status: number; pause?: number }>): Promise<LoadResult> {
  const samples: Sample[] = [];
  const t0 = now();
  const from = t0 + WARM_S;
  const to = from + seconds;
  const stop = new AbortController();
  setMaxListeners(clients + 1, stop.signal);
  const timer = setTimeout(() => stop.abort(), (to - t0) * 1000);
  let k = 0;
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (now() < to) {
        const start = now();
        // A call cut off at the end of the window is no answer (-1); any other failure counts as one (0).
        const { status, pause } = await once(k++, stop.signal).catch(() => ({ status: stop.signal.aborted ? -1 : 0, pause: undefined }));
        samples.push({ start, end: now(), status });
        if (pause) await sleep(Math.min(pause, Math.max(0, to - now())));
      }
    }),
  );
  clearTimeout(timer);
  const inWindow = samples.filter((s) => s.end >= from && s.end <= to);
  const ok = inWindow.filter((s) => s.status === 200);
  const lat = ok.map((s) => s.end - s.start).sort((a, b) => a - b);
  return {
    videosPerSecond: ok.length / seconds,
    ok: ok.length,
    refused: inWindow.filter((s) => s.status === 503).length,
    other: inWindow.filter((s) => s.status !== 200 && s.status !== 503 && s.status !== -1).length,
    p50: percentile(lat, 50),
    p95: percentile(lat, 95),
    p99: percentile(lat, 99),
  };
}

/**
 * Requests arriving at `rate` per second for `seconds`, each sent once (an open loop: arrivals do not wait for
 * answers, so the offered load stays `rate` however slow the server gets); all of them count.
 */
async function openLoop(rate: number, seconds: number, once: (k: number) => Promise<{ status: number }>): Promise<LoadResult> {
  const samples: Sample[] = [];
  const t0 = now();
  const calls: Promise<void>[] = [];
  for (let k = 0; k < Math.round(rate * seconds); k++) {
    const due = t0 + k / rate;
    if (due > now()) await sleep(due - now());
    const start = now();
    calls.push(once(k).then(({ status }) => void samples.push({ start, end: now(), status }), () => void samples.push({ start, end: now(), status: 0 })));
  }
  await Promise.all(calls);
  const ok = samples.filter((s) => s.status === 200);
  const lat = ok.map((s) => s.end - s.start).sort((a, b) => a - b);
  return {
    videosPerSecond: ok.length / (Math.max(...samples.map((s) => s.end)) - t0),
    ok: ok.length,
    refused: samples.filter((s) => s.status === 503).length,
    other: samples.filter((s) => s.status !== 200 && s.status !== 503).length,
    p50: percentile(lat, 50),
    p95: percentile(lat, 95),
    p99: percentile(lat, 99),
  };
}

/** A multipart body of one clip and the labels, built once: the client should cost the server's CPUs little. */
function uploadBody(file: string): { body: Buffer; type: string } {
  const boundary = 'xclipbench';
  const head = `--${boundary}\r\nContent-Disposition: form-data; name="labels"\r\n\r\n${JSON.stringify(LABELS)}\r\n--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${path.basename(file)}"\r\nContent-Type: video/mp4\r\n\r\n`;
  return { body: Buffer.concat([Buffer.from(head), fs.readFileSync(file), Buffer.from(`\r\n--${boundary}--\r\n`)]), type: `multipart/form-data; boundary=${boundary}` };
}

/**
 * One upload, announced with "Expect: 100-continue" as curl does above 1 MB: the body goes out only after the
 * server's 100 Continue, so a refusal costs no upload (the server then closes that connection).
 */
function post(agent: http.Agent, url: string, upload: { body: Buffer; type: string }): Promise<{ status: number; retryAfter: number }> {
  return new Promise((resolve, reject) => {
    const headers = { 'content-type': upload.type, 'content-length': String(upload.body.length), expect: '100-continue' };
    let sent = false;
    let answered = false;
    const req = http.request(url, { method: 'POST', agent, headers }, (res) => {
      answered = true;
      res.resume();
      res.on('end', () => {
        resolve({ status: res.statusCode ?? 0, retryAfter: Number(res.headers['retry-after'] ?? 0) });
        if (!sent) req.destroy();
      });
    });
    req.on('continue', () => {
      sent = true;
      req.end(upload.body);
    });
    req.on('error', (err) => {
      if (!answered) reject(err);
    });
  });
}

/** Resident set of a process, from /proc. */
function rssOf(pid: number): number {
  const m = /VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : 0;
}

interface Server {
  url: string;
  pid: number;
  stop(): Promise<number | null>;
}

function startServer(modelDir: string, logFile: string): Promise<Server> {
  const log = fs.openSync(logFile, 'w');
  const child = spawn(process.execPath, [path.join(ROOT, 'dist', 'cli.js'), 'serve', '--model', modelDir, '--port', '0', ...EXTRA_ARGS], { stdio: ['ignore', 'pipe', log] });
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /listening on (\S+)\n/.exec(out);
      if (m) resolve({ url: m[1], pid: child.pid!, stop: () => (child.kill('SIGTERM'), exited) });
    });
    void exited.then((code) => reject(new Error(`serve exited (${code}) before listening; see ${logFile}`)));
  });
}

async function metric(url: string, name: RegExp): Promise<number> {
  const text = await new Promise<string>((resolve, reject) => {
    http.get(`${url}/metrics`, (res) => {
      let s = '';
      res.on('data', (d: Buffer) => (s += d.toString()));
      res.on('end', () => resolve(s));
    }).on('error', reject);
  });
  const line = text.split('\n').find((l) => name.test(l));
  return line ? Number(line.split(' ').pop()) : NaN;
}

const ms = (s: number): string => (Number.isFinite(s) ? `${(s * 1000).toFixed(0)} ms` : '–');
const pct = (r: number): string => `${(100 * r).toFixed(0)}%`;

async function main(): Promise<void> {
  const env = { cpu: os.cpus()[0]?.model ?? 'unknown', cores: os.cpus().length, threads: getNumThreads(), nice: os.getPriority(), libtorch: binding().versions().libtorch, loadStart: os.loadavg()[0] };
  console.log(`${env.cpu}, ${env.cores} CPUs, ${env.threads} threads, nice ${env.nice}, libtorch ${env.libtorch}${QUICK ? ', QUICK' : ''}${EXTRA_ARGS.length ? `, serve ${EXTRA_ARGS.join(' ')}` : ''}`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'xclip-bench-serve-'));
  try {
    const clips = makeVideos(dir, 8);
    const modelDir = path.join(dir, 'model');
    await makeBaseModel(modelDir);
    const uploads = clips.map(uploadBody);
    console.log(`clips: ${clips.length}, ${(uploads.reduce((n, u) => n + u.body.length, 0) / clips.length / 1e6).toFixed(2)} MB per upload on average; ${LABELS.length} labels`);

    // In-process and server figures are taken in turns (the in-process model idles while the server runs, and the
    // other way round), so that a load drifting on a shared machine hits both sides of each ratio alike.
    const clf = await ZeroShotVideoClassifier.fromPretrained(modelDir);
    await clf.classify(clips.slice(0, 2), LABELS); // label features cached, allocator warm: as in a serving process
    const server = await startServer(modelDir, path.join(dir, 'serve.log'));
    let phaseRss = 0;
    const sampler = setInterval(() => (phaseRss = Math.max(phaseRss, rssOf(server.pid))), 200);
    const url = `${server.url}/v1/classify`;
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1024 });
    const once = async (k: number, honourRetryAfter: boolean): Promise<{ status: number; pause?: number }> => {
      const r = await post(agent, url, uploads[k % uploads.length]);
      return { status: r.status, pause: r.status === 503 && honourRetryAfter ? Math.max(1, r.retryAfter) : undefined };
    };
    await post(agent, url, uploads[0]);
    await post(agent, url, uploads[1]);
    const single: number[] = [];
    const httpSingle: number[] = [];
    for (let i = 0; i < SINGLE_N; i++) {
      let t = now();
      await clf.classify(clips[0], LABELS);
      single.push(now() - t);
      t = now();
      const r = await post(agent, url, uploads[0]);
      if (r.status !== 200) throw new Error(`single request answered ${r.status}`);
      httpSingle.push(now() - t);
    }
    single.sort((a, b) => a - b);
    httpSingle.sort((a, b) => a - b);
    const inproc = new Map<number, LoadResult>();
    const served = new Map<number, LoadResult & { rss: number }>();
    for (const n of CLIENTS) {
      inproc.set(n, await closedLoop(n, PHASE_S, async (k, signal) => (await clf.classify(clips[k % clips.length], LABELS, { signal }), { status: 200 })));
      phaseRss = 0;
      const r = await closedLoop(n, PHASE_S, (k) => once(k, true));
      served.set(n, { ...r, rss: phaseRss });
      console.log(`${n} clients: in-process ${inproc.get(n)!.videosPerSecond.toFixed(2)} videos/s, server ${r.videosPerSecond.toFixed(2)} videos/s (${r.refused} refused)`);
    }
    await clf.dispose();
    releaseCachedMemory();
    const maxActive = await metric(server.url, /^xclip_admission_limit\{kind="active"\}/);
    const maxQueue = await metric(server.url, /^xclip_admission_limit\{kind="queue"\}/);
    phaseRss = 0;
    const rate = 4 * served.get(CLIENTS[0])!.videosPerSecond;
    const overload = await openLoop(rate, OVERLOAD_S, (k) => once(k, false));
    const overloadRss = phaseRss;
    console.log(`overload ${rate.toFixed(1)} requests/s: ${overload.ok} ok, ${overload.refused} refused, ${overload.other} other`);
    clearInterval(sampler);
    agent.destroy();
    const exitCode = await server.stop();

    // ---- report ----
    const unloadedP50 = percentile(httpSingle, 50);
    const rows: string[] = [
      '| measurement | in-process | server | server / in-process |',
      '|---|---|---|---|',
      `| one video at a time, p50 latency | ${ms(percentile(single, 50))} | ${ms(unloadedP50)} | ${(unloadedP50 / percentile(single, 50)).toFixed(3)}× (goal ≤ 1.05×) |`,
    ];
    for (const n of CLIENTS) {
      const a = inproc.get(n)!;
      const b = served.get(n)!;
      rows.push(
        `| ${n} concurrent clients, videos/s | ${a.videosPerSecond.toFixed(2)} | ${b.videosPerSecond.toFixed(2)} (p50 ${ms(b.p50)}, p95 ${ms(b.p95)}, p99 ${ms(b.p99)}; ${b.refused} × 503) | ${pct(b.videosPerSecond / a.videosPerSecond)} (goal ≥ 90%) |`,
      );
    }
    const normalRss = Math.max(...CLIENTS.map((n) => served.get(n)!.rss));
    const statuses = overload.other === 0 ? 'only 200 and 503' : `${overload.other} answers other than 200/503`;
    rows.push(
      `| overload: ${rate.toFixed(1)} requests/s (4 × the 8-client rate) for ${OVERLOAD_S} s, admission ${maxActive} active + ${maxQueue} queued | | ${overload.videosPerSecond.toFixed(2)} videos/s; ${overload.ok} × 200, ${overload.refused} × 503; ${statuses}; admitted p99 ${ms(overload.p99)} = ${(overload.p99 / unloadedP50).toFixed(2)}× the unloaded p50 (goal ≤ 3×) | |`,
      `| server RSS, peak | | ${(normalRss / 2 ** 20).toFixed(0)} MiB under 8–128 clients, ${(overloadRss / 2 ** 20).toFixed(0)} MiB under overload (${((overloadRss / normalRss - 1) * 100).toFixed(1)}%) | |`,
    );
    // How busy the machine was: on a shared box the other load is part of every figure.
    const load = `load average ${env.loadStart.toFixed(1)} at the start, ${os.loadavg()[0].toFixed(1)} at the end`;
    console.log(`\n${env.cpu}, ${env.cores} CPUs, ${env.threads} threads, nice ${env.nice}, ${load}; base-size model (random weights), ${LABELS.length} labels, clips of 6 s 640x360 H.264; server exit code after SIGTERM: ${exitCode}\n`);
    console.log(rows.join('\n'));
    console.log(JSON.stringify({ env, quick: QUICK, extraArgs: EXTRA_ARGS, single, httpSingle, inproc: Object.fromEntries(inproc), served: Object.fromEntries(served), admission: { maxActive, maxQueue }, overloadRate: rate, overload, rss: { normal: normalRss, overload: overloadRss }, exitCode }));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: Error) => {
  console.error(err.stack ?? err.message);
  process.exitCode = 1;
});
