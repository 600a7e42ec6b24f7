// worker_threads terminated while a call runs (as worker pools such as piscina do): the parent process must live
// on, the native work finishes and its result is dropped, and memory and file descriptors stay bounded. The rounds
// run in a child process (the compiled dist/), so that an abort shows up as its exit status, not as a lost jest worker.
import { spawnSync } from 'child_process';
import * as path from 'path';

import { ROOT, fixturesDir } from '../helpers/fixtures';

const ROUNDS = 28;
const KINDS = ['decode', 'preprocess', 'tokenize', 'forward', 'classify'] as const;
// Per kind, RSS over its last rounds vs. just after its warm-up rounds (allocators, libtorch's first calls). A
// result leaked by a dropped call (a tokenizer is 7 MB, a model more) grows it by that much every round: 140 MB
// or more over the 20 rounds between the two means. Memory freed by the dying workers also leaves malloc's arenas
// fragmented, which is not a leak but moves RSS too: it levels off, and on a loaded machine it reached 39 MB
// within 12 rounds of `forward` (RSS flat over 40 rounds when nothing else ran), hence a bound between the two.
const WARMUP = 4;
const MAX_RSS_GROWTH_MB = 64;
const MAX_FD_GROWTH = 2;

// The worker: loops one kind of call, saying "busy" once the first call is in flight. The parent terminates it
// (or, every 4th round, lets it call process.exit) after a random delay, so every stage of a call gets hit.
const WORKER = `
const { parentPort, workerData: w } = require('worker_threads');
const x = require(w.dist);
(async () => {
  const e2e = w.model;
  const frames = Array.from({ length: 8 }, () => ({ data: new Uint8Array(640 * 360 * 3).fill(90), width: 640, height: 360 }));
  const longText = Array.from({ length: 300 }, (_, i) => 'word' + i).join(' ');
  let call;
  if (w.kind === 'decode') call = () => x.readVideo(w.video, { threads: 1, numFrames: 16, sampling: 'uniform' });
  if (w.kind === 'preprocess') {
    const ip = await x.VideoMAEImageProcessor.fromPretrained(e2e);
    call = () => ip.preprocess([frames, frames]);
  }
  if (w.kind === 'tokenize') call = async () => (await x.CLIPTokenizer.fromPretrained(e2e)).batchEncode([longText, 'a dog'], { truncation: true, maxLength: 77 });
  if (w.kind === 'forward' || w.kind === 'classify') {
    const clf = await x.ZeroShotVideoClassifier.fromPretrained(e2e);
    const pixels = new x.Tensor('float32', new Float32Array(8 * 3 * 224 * 224), [1, 8, 3, 224, 224]);
    call = w.kind === 'forward' ? () => clf.model.getVideoFeatures(pixels) : () => clf.classify(w.video, ['a dog', 'a cat']);
  }
  const first = call();
  parentPort.postMessage('busy');
  await first;
  for (;;) await call();
})();
if (w.exit) parentPort.on('message', () => process.exit(3));
`;

const DRIVER = `
const { Worker } = require('worker_threads');
const fs = require('fs');
const [dist, model, video, rounds, warmup, kinds] = JSON.parse(process.argv[1]);
const x = require(dist);
// Freed tensor blocks stay cached for reuse (the CPU allocator): let them go so RSS shows what is still held.
const rssMB = () => (x.releaseCachedMemory(), process.memoryUsage().rss / 2 ** 20);
const fds = () => fs.readdirSync('/proc/self/fd').length;
(async () => {
  const report = {};
  for (const kind of kinds) {
    const t0 = Date.now();
    const rss = [];
    let warmFds;
    for (let i = 0; i < rounds; i++) {
      const exit = i % 4 === 3;
      const w = new Worker(process.argv[2], { eval: true, workerData: { dist, model, video, kind, exit } });
      const gone = new Promise((resolve) => w.on('exit', resolve));
      w.on('error', (e) => { console.error(kind, 'worker error', e); process.exit(10); });
      await new Promise((resolve) => w.on('message', resolve));
      await new Promise((resolve) => setTimeout(resolve, Math.floor(Math.random() * 40)));
      if (exit) w.postMessage('exit'); else await w.terminate();
      await gone;
      rss.push(rssMB());
      if (i === warmup - 1) warmFds = fds();
    }
    // Means of 4 rounds: one round's RSS moves by several MB as allocators and V8 come and go.
    const mean = (a) => a.reduce((s, v) => s + v, 0) / a.length;
    report[kind] = { ms: Date.now() - t0, warm: { rss: mean(rss.slice(warmup, warmup + 4)), fds: warmFds }, end: { rss: mean(rss.slice(-4)), fds: fds() } };
  }
  // Completions of the dropped calls have all run: nothing is left queued or running.
  for (let i = 0; i < 500 && x.pendingNativeCalls() > 0; i++) await new Promise((r) => setTimeout(r, 10));
  // Output tensors handed to a dying environment are freed with it, not leaked.
  const { outputsLive } = require(dist.replace(/index\.js$/, 'native.js')).binding().debug.counters();
  console.log(JSON.stringify({ kinds: report, pending: x.pendingNativeCalls(), outputsLive }));
})();
`;

it(`${ROUNDS} workers per kind of call (${KINDS.join(', ')}) terminated mid-call: the parent lives, RSS and fds stay bounded`, () => {
  const args = [path.join(ROOT, 'dist', 'index.js'), path.join(fixturesDir(), 'e2e', 'xclip-e2e-a'), path.join(fixturesDir(), 'videos', 'h264_320x240_30fps.mp4'), ROUNDS, WARMUP, KINDS];
  // Two malloc arenas: each worker thread would otherwise get an arena of its own, whose growth says nothing about leaks.
  const env = { ...process.env, MALLOC_ARENA_MAX: '2' };
  // ~50 s on a quiet 2-core VM; the bound leaves room for a machine shared with builds.
  const r = spawnSync(process.execPath, ['-e', DRIVER, JSON.stringify(args), WORKER], { encoding: 'utf8', env, timeout: 280_000 });
  // 134 = abort ("terminate called after throwing an instance of 'Napi::Error'"), as before the fix.
  expect({ status: r.status, signal: r.signal, stderr: r.stderr }).toEqual({ status: 0, signal: null, stderr: '' });
  type Sample = { rss: number; fds: number };
  const out = JSON.parse(r.stdout) as { kinds: Record<string, { ms: number; warm: Sample; end: Sample }>; pending: number; outputsLive: number };
  const lines = Object.entries(out.kinds).map(([k, v]) => `${k} ${v.ms} ms, RSS ${v.warm.rss.toFixed(0)} -> ${v.end.rss.toFixed(0)} MB, fds ${v.warm.fds} -> ${v.end.fds}`);
  console.log(`worker termination, ${ROUNDS} rounds per kind (RSS: mean of rounds ${WARMUP + 1}-${WARMUP + 4} -> mean of the last 4):\n${lines.join('\n')}`);
  expect(out.pending).toBe(0);
  expect(out.outputsLive).toBe(0);
  const over = Object.entries(out.kinds).filter(([, v]) => v.end.rss - v.warm.rss > MAX_RSS_GROWTH_MB || v.end.fds - v.warm.fds > MAX_FD_GROWTH);
  expect(over.map(([kind]) => kind)).toEqual([]);
}, 300_000);
