// The job queue against in-process classification, measured side by side in one run: an xclip-base-patch32-sized
// model with random weights (saved once under .cache/bench/), typical clips (bench/clips.ts), a redis-server of its
// own on 127.0.0.1, and three set-ups loaded at once and timed in turn, round after round, so that a change in the
// machine's load hits all three alike:
//   - in process: ZeroShotVideoClassifier.classify on N files at once, 1 inference thread, batch 8 (the baseline);
//   - 1 worker process, 1 thread, batch 8, the same N files as N jobs: the queue's overhead per job;
//   - 2 worker processes, 1 thread each, N jobs: scaling on a 2-core box;
//   - the same two set-ups with each worker pinned to a core of its own (taskset), where taskset exists.
// Besides wall time it counts CPU time (this process, the workers, redis-server): the queue's cost in CPU per job
// does not depend on what else the machine runs; the wall-time ratios need the cores to be free. A one-thread
// worker that is not pinned also decodes the next videos on another core while its model thread runs, so on two
// cores two such workers cannot reach 2x one of them: the bench measures decoding's CPU per video (d) and the
// model's (m) and prints that ceiling, 2m / (m + d). Under contention CPU time swells too, so the queue's own CPU
// per job is also measured where the work is next to nothing: 400 embed-text jobs of one word on the tiny e2e fixture
// model through 1 worker, minus the same call in process. Then Redis memory per waiting job (video by path, inline
// bytes). Prints a markdown table for the README and one JSON line.
// The machine may be shared: run it niced (and quiet, for the scaling figure),
//   nice -n 10 npm run bench:jobs            (BENCH_JOBS=N jobs per timed run, default 64; BENCH_ROUNDS, default 3)
// 64 jobs, not fewer: a worker takes up to 2 x batch = 16 jobs at once, so with 16 jobs one worker of two may hold
// nearly all of them and the figures would measure that start-up split rather than a queue in steady use.
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { VideoJobQueue, XCLIPConfig, XCLIPModel, ZeroShotVideoClassifier, setNumThreads } from '../lib';
import { packageRoot } from '../lib/native';
import { fixturesDir } from '../test/helpers/fixtures';
import { E2E_MODEL } from '../test/helpers/workers';
import { startRedis, type RedisServer } from '../test/helpers/redis';
import { type WorkerProcess, spawnWorker } from '../test/helpers/workers';
import { makeVideos } from './clips';

const JOBS = Number(process.env.BENCH_JOBS ?? 64);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const MAX_BATCH = 8;
const LABELS = ['playing guitar', 'cooking pasta', 'riding a bike', 'swimming', 'dancing salsa', 'typing on a laptop', 'walking a dog', 'skiing'];
const TOKENIZER_FILES = ['vocab.json', 'merges.txt', 'tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'preprocessor_config.json'];
const CLK_TCK = 100; // Linux's USER_HZ: /proc/<pid>/stat counts CPU time in these ticks

/** xclip-base-patch32's architecture with random weights, and the CLIP tokenizer and processor files of the e2e fixture. */
async function benchModel(): Promise<string> {
  const dir = path.join(packageRoot(), '.cache', 'bench', 'xclip-base-random');
  if (fs.existsSync(path.join(dir, 'model.safetensors'))) return dir;
  fs.mkdirSync(path.dirname(dir), { recursive: true });
  const tmp = fs.mkdtempSync(`${dir}.tmp-`);
  const model = await XCLIPModel.fromConfig(new XCLIPConfig(), { seed: 7 });
  try {
    await model.savePretrained(tmp);
  } finally {
    await model.dispose();
  }
  for (const f of TOKENIZER_FILES) fs.copyFileSync(path.join(fixturesDir(), 'e2e', 'xclip-e2e-a', f), path.join(tmp, f));
  fs.rmSync(dir, { recursive: true, force: true });
  fs.renameSync(tmp, dir);
  return dir;
}

/** CPU seconds (user + system) a process has used so far. */
function cpuOf(pid: number): number {
  const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
}

const selfCpu = (): number => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};

interface Timed {
  wall: number;
  /** CPU seconds of every process taking part. */
  cpu: number;
  /** The same, per process: this one first, then `pids` in order. */
  cpuParts: number[];
}

/** Wall and CPU seconds of `work`, counting this process and the processes `pids`. */
async function timed(pids: number[], work: () => Promise<void>): Promise<Timed> {
  const sample = (): number[] => [selfCpu(), ...pids.map(cpuOf)];
  const cpu0 = sample();
  const t0 = process.hrtime.bigint();
  await work();
  const wall = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpuParts = sample().map((c, i) => c - cpu0[i]);
  return { wall, cpu: cpuParts.reduce((a, b) => a + b, 0), cpuParts };
}

/** `files` as jobs on `queue`, from adding them to the last result; every job must complete. */
async function runJobs(queue: VideoJobQueue, files: readonly string[]): Promise<void> {
  const ids = await queue.addBulk('classify', files.map((f) => ({ video: { path: path.basename(f) }, labels: LABELS })));
  const outcomes = await queue.wait(ids, { pollMs: 1000 });
  const failed = outcomes.filter((o) => o.status !== 'completed');
  if (failed.length > 0) throw new Error(`${failed.length} jobs failed: ${JSON.stringify(failed[0])}`);
}

/** A metric's value from a Prometheus text page. */
function metric(text: string, name: string): number {
  const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(text);
  return m ? Number(m[1]) : Number.NaN;
}

async function scrape(w: WorkerProcess): Promise<{ batches: number; videos: number; lagMaxS: number }> {
  const url = w.stdout.find((l) => l.startsWith('metrics on '))!.slice('metrics on '.length);
  const text = await (await fetch(url)).text();
  return { batches: metric(text, 'xclip_worker_batches_total'), videos: metric(text, 'xclip_worker_batch_videos_total'), lagMaxS: metric(text, 'nodejs_eventloop_lag_max_seconds') };
}

function usedMemory(redis: RedisServer): number {
  const info = execFileSync('redis-cli', ['-p', String(redis.port), 'info', 'memory'], { encoding: 'utf8' });
  return Number(/used_memory:(\d+)/.exec(info)![1]);
}

/** Bytes of Redis memory per waiting job: `count` jobs added to a queue no worker takes. */
async function memoryPerJob(redis: RedisServer, queueName: string, count: number, video: { path: string } | { data: string }): Promise<number> {
  const queue = new VideoJobQueue({ redis: redis.url, queue: queueName });
  try {
    await queue.add('classify', { video, labels: LABELS }); // the queue's own keys, not counted
    const before = usedMemory(redis);
    await queue.addBulk('classify', Array.from({ length: count }, () => ({ video, labels: LABELS })));
    return (usedMemory(redis) - before) / count;
  } finally {
    await queue.close();
  }
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const TINY_JOBS = 400;

/**
 * CPU seconds per job that the queue itself costs (producer, worker process, redis-server), measured on jobs whose
 * work is next to nothing: embed-text of one word on the tiny e2e fixture model, minus the same call in process.
 */
async function queueCpuPerJob(redis: RedisServer): Promise<number> {
  const worker = spawnWorker(redis.url, 'tiny-0', ['--queue', 'tiny', '--concurrency', '16'], { model: E2E_MODEL, threads: 1 });
  const queue = new VideoJobQueue({ redis: redis.url, queue: 'tiny' });
  const clf = await ZeroShotVideoClassifier.fromPretrained(E2E_MODEL);
  try {
    await worker.ready;
    const run = async (): Promise<void> => {
      const ids = await queue.addBulk('embed-text', Array.from({ length: TINY_JOBS }, () => ({ texts: ['dog'] })));
      await queue.wait(ids, { pollMs: 1000 });
    };
    await run();
    const queued = await timed([worker.child.pid!, redis.pid!], run);
    await Promise.all(Array.from({ length: 16 }, () => clf.embedTexts(['dog'])));
    const inProcess = await timed([], async () => void (await Promise.all(Array.from({ length: TINY_JOBS }, () => clf.embedTexts(['dog'])))));
    return (queued.cpu - inProcess.cpu) / TINY_JOBS;
  } finally {
    await Promise.all([queue.close(), clf.dispose()]);
    worker.kill('SIGTERM');
    await worker.exited;
  }
}

async function main(): Promise<void> {
  const model = await benchModel();
  const videos = fs.mkdtempSync(path.join(os.tmpdir(), 'xclip-bench-jobs-'));
  const redis = await startRedis();
  const load0 = os.loadavg()[0];
  const workers: WorkerProcess[] = [];
  try {
    const clips = makeVideos(videos, 8);
    const files = Array.from({ length: JOBS }, (_, i) => clips[i % clips.length]);
    const spawn = (queue: string, i: number, cpus?: string): WorkerProcess => {
      const w = spawnWorker(redis.url, `${queue}-${i}`, ['--queue', queue, '--max-batch', String(MAX_BATCH), '--metrics-port', '0'], { model, mediaRoot: videos, threads: 1, cpus, readyMs: 600000 });
      workers.push(w);
      return w;
    };
    const pinning = os.cpus().length >= 2 && spawnSync('taskset', ['-c', '0', 'true']).status === 0;
    // All loaded before anything is timed; idle workers block on Redis and use no CPU.
    const sets: Record<string, WorkerProcess[]> = { one: [spawn('one', 0)], two: [spawn('two', 0), spawn('two', 1)] };
    if (pinning) Object.assign(sets, { pinnedOne: [spawn('pinnedOne', 0, '0')], pinnedTwo: [spawn('pinnedTwo', 0, '0'), spawn('pinnedTwo', 1, '1')] });
    setNumThreads(1);
    const clf = await ZeroShotVideoClassifier.fromPretrained(model, { maxBatch: MAX_BATCH });
    const queues = Object.fromEntries(Object.keys(sets).map((name) => [name, new VideoJobQueue({ redis: redis.url, queue: name })]));
    const results: Record<string, Timed[]> = { inProcess: [], ...Object.fromEntries(Object.keys(sets).map((name) => [name, []])) };
    let decodeCpu: number;
    try {
      await Promise.all(workers.map((w) => w.ready));
      // Warm-up: each set-up sees every clip and the labels once.
      await Promise.all(clips.map((f) => clf.classify(f, LABELS)));
      for (const [name, ws] of Object.entries(sets)) await runJobs(queues[name], clips.concat(ws.length > 1 ? clips : []));
      // Decoding and preprocessing alone, as the classifier does it (one decoder thread per video), CPU per video.
      decodeCpu = (await timed([], async () => void (await Promise.all(clips.map((f) => clf.processor.encode({ videos: [f], decodeThreads: 1 })))))).cpu / clips.length;
      const pidsOf = (ws: WorkerProcess[]): number[] => [...ws.map((w) => w.child.pid!), redis.pid!];
      for (let r = 0; r < ROUNDS; r++) {
        results.inProcess.push(await timed([], async () => void (await Promise.all(files.map((f) => clf.classify(f, LABELS))))));
        for (const [name, ws] of Object.entries(sets)) results[name].push(await timed(pidsOf(ws), () => runJobs(queues[name], files)));
        process.stderr.write(`round ${r + 1}/${ROUNDS}: ${Object.entries(results).map(([k, v]) => `${k} ${v[r].wall.toFixed(1)} s`).join(', ')}\n`);
      }
    } finally {
      await clf.dispose();
      await Promise.all(Object.values(queues).map((q) => q.close()));
    }
    const scraped: Record<string, { batches: number; videos: number; lagMaxS: number }[]> = {};
    for (const [name, ws] of Object.entries(sets)) scraped[name] = await Promise.all(ws.map(scrape));
    const queueCpu = await queueCpuPerJob(redis);
    const bigClip = clips.reduce((a, b) => (fs.statSync(a).size >= fs.statSync(b).size ? a : b));
    const pathBytes = await memoryPerJob(redis, 'mem-path', 1000, { path: 'clip0.mp4' });
    const inlineBytes = await memoryPerJob(redis, 'mem-inline', 20, { data: fs.readFileSync(bigClip).toString('base64') });

    // Per round: figures taken next to each other; the median round.
    const perRound = (f: (r: number) => number): number => median(Array.from({ length: ROUNDS }, (_, r) => f(r)));
    const overheadWall = perRound((r) => results.one[r].wall / results.inProcess[r].wall - 1);
    const overheadCpu = perRound((r) => results.one[r].cpu / results.inProcess[r].cpu - 1);
    const scaling = perRound((r) => results.one[r].wall / results.two[r].wall);
    const pinnedScaling = pinning ? perRound((r) => results.pinnedOne[r].wall / results.pinnedTwo[r].wall) : Number.NaN;
    // The model's CPU per video: what in-process classification costs beyond decoding.
    const modelCpu = perRound((r) => results.inProcess[r].cpu / JOBS) - decodeCpu;
    const ceiling = Math.min(2, (2 * modelCpu) / (modelCpu + decodeCpu));
    const cores = (t: Timed[]): number => perRound((r) => t[r].cpu / t[r].wall);
    const meanBatch = (s: { batches: number; videos: number }[]): number => s.reduce((a, x) => a + x.videos, 0) / s.reduce((a, x) => a + x.batches, 0);
    const lag = (s: { lagMaxS: number }[]): string => `${(1000 * Math.max(...s.map((x) => x.lagMaxS))).toFixed(0)} ms`;
    const row = (name: string, t: Timed[], note: string): string => {
      const wall = perRound((r) => t[r].wall);
      const cpu = perRound((r) => t[r].cpu);
      return `| ${name} | ${wall.toFixed(2)} | ${(JOBS / wall).toFixed(2)} | ${(cpu / JOBS).toFixed(3)} | ${cores(t).toFixed(2)} | ${note} |`;
    };
    const load1 = os.loadavg()[0];
    console.log(`\n${JOBS} classify jobs (${LABELS.length} labels) over ${clips.length} clips of 6 s 640x360 H.264, xclip-base-patch32-sized model (random weights); median of ${ROUNDS} rounds; ${os.cpus().length} CPUs, load average ${load0.toFixed(1)} at the start, ${load1.toFixed(1)} at the end\n`);
    console.log('| run | s | jobs/s | CPU s per job | cores used | note |\n|---|---|---|---|---|---|');
    console.log(row('in process: classify, 1 thread, batch 8 (baseline)', results.inProcess, ''));
    console.log(row('1 worker × 1 thread, batch 8', results.one, `mean batch ${meanBatch(scraped.one).toFixed(1)}; event-loop lag max ${lag(scraped.one)}; CPU includes redis-server`));
    console.log(row('2 workers × 1 thread', results.two, `mean batch ${meanBatch(scraped.two).toFixed(1)}; event-loop lag max ${lag(scraped.two)}`));
    if (pinning) {
      console.log(row('1 worker × 1 thread, pinned to 1 core', results.pinnedOne, `mean batch ${meanBatch(scraped.pinnedOne).toFixed(1)}`));
      console.log(row('2 workers × 1 thread, 1 core each', results.pinnedTwo, `mean batch ${meanBatch(scraped.pinnedTwo).toFixed(1)}`));
    }
    console.log('\n| ratio (same run, median round) | value | goal |\n|---|---|---|');
    console.log(`| queue overhead per job, CPU: 1 worker + Redis + producer vs in process, batch 8 | ${(100 * overheadCpu).toFixed(1)}% | ≤ 5% |`);
    console.log(`| queue overhead per job, wall time | ${(100 * overheadWall).toFixed(1)}% | ≤ 5% |`);
    // Where the 1-worker run's CPU went, per job (median round): the producer (this process), the worker, redis-server
    // (which also answers the idle workers of the other set-ups while this one runs).
    const partPerJob = (i: number): string => (1000 * perRound((r) => results.one[r].cpuParts[i] / JOBS)).toFixed(1);
    console.log(`| ↳ CPU ms per job in the 1-worker run: producer / worker / redis-server, vs in process | ${partPerJob(0)} / ${partPerJob(1)} / ${partPerJob(2)} vs ${(1000 * perRound((r) => results.inProcess[r].cpu / JOBS)).toFixed(1)} | |`);
    console.log(`| queue's own CPU per job (${TINY_JOBS} near-empty jobs, 1 worker), as a share of a classify job in process | ${(1000 * queueCpu).toFixed(2)} ms = ${((100 * queueCpu) / perRound((r) => results.inProcess[r].cpu / JOBS)).toFixed(2)}% | ≤ 5% |`);
    console.log(`| scaling: 2 workers × 1 thread vs 1 worker × 1 thread, jobs/s | ${scaling.toFixed(2)}× | ≥ 1.8× |`);
    console.log(`| ↳ its CPU-bound ceiling on 2 cores, 2m/(m+d): model ${modelCpu.toFixed(3)} CPU s per video, decoding ${decodeCpu.toFixed(3)} | ${ceiling.toFixed(2)}× | |`);
    if (pinning) console.log(`| scaling with one core per worker: 2 pinned workers vs 1 pinned worker | ${pinnedScaling.toFixed(2)}× | (ceiling 2×) |`);
    console.log(`| Redis memory per waiting job, video by path (8 labels) | ${(pathBytes / 1024).toFixed(1)} KiB | |`);
    console.log(`| Redis memory per waiting job, ${(fs.statSync(bigClip).size / 1048576).toFixed(2)} MiB video inline | ${(inlineBytes / 1048576).toFixed(2)} MiB (${(inlineBytes / fs.statSync(bigClip).size).toFixed(2)}× the video) | |`);
    if (Math.max(load0, load1) > 1.5) {
      console.log(`\nnote: the load average was ${Math.max(load0, load1).toFixed(1)} on ${os.cpus().length} CPUs: other work took cores, so the wall-time figures (scaling above all) say little; the CPU figures hold. Rerun on a quiet machine.`);
    }
    console.log(JSON.stringify({ jobs: JOBS, rounds: ROUNDS, load: [load0, load1], results, overheadCpu, overheadWall, scaling, pinnedScaling, modelCpu, decodeCpu, ceiling, queueCpu, meanBatch: Object.fromEntries(Object.entries(scraped).map(([k, v]) => [k, meanBatch(v)])), pathBytes, inlineBytes, inlineVideoBytes: fs.statSync(bigClip).size }));
  } finally {
    for (const w of workers) w.kill('SIGTERM');
    await Promise.all(workers.map((w) => w.exited));
    await redis.stop();
    fs.rmSync(videos, { recursive: true, force: true });
  }
}

main().catch((err: Error) => {
  console.error(err.stack ?? err.message);
  process.exitCode = 1;
});
