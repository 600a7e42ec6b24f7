// The queue's promises, with real processes: `xclip-node worker` children on a real redis-server, jobs from
// VideoJobQueue in this process. Workers killed with SIGKILL mid-run lose no job and duplicate no result; a Redis
// killed and restarted mid-run loses nothing; SIGTERM lets the batch in hand finish and retries nothing.
import * as path from 'path';

import { Queue, QueueEvents, type Job } from 'bullmq';

import type { ClassifyJobResult, JobProgress } from '../../lib/jobs/jobTypes';
import { type JobOutcome, VideoJobQueue } from '../../lib/jobs/queue';
import { type LabelScore, ZeroShotVideoClassifier } from '../../lib/pipelines';
import { DECODABLE_VIDEOS } from '../helpers/fixtures';
import { mulberry32 } from '../helpers/random';
import { type RedisServer, startRedis } from '../helpers/redis';
import { E2E_MODEL, VIDEOS, type WorkerProcess, spawnWorker } from '../helpers/workers';

const LABELS = ['playing sports', 'eating spaghetti', 'go shopping'];
const GOOD = DECODABLE_VIDEOS;
const CORRUPT: Record<string, string> = { 'broken_random_bytes.mp4': 'VIDEO_OPEN_FAILED', 'broken_empty.mp4': 'VIDEO_OPEN_FAILED', 'audio_only.mp4': 'VIDEO_NO_STREAM' };
const SCORES = 1e-5;
// Short locks so a killed worker's jobs come back within seconds; stalls allowed more often than there are kills.
const FAST_RECOVERY = ['--lock-duration-ms', '2000', '--stalled-interval-ms', '500', '--max-stalled-count', '5'];

let reference: ZeroShotVideoClassifier;
const expected = new Map<string, LabelScore[]>();

beforeAll(async () => {
  reference = await ZeroShotVideoClassifier.fromPretrained(E2E_MODEL, { maxBatch: 1 });
  for (const f of GOOD) expected.set(f, await reference.classify(path.join(VIDEOS, f), LABELS));
});
afterAll(() => reference?.dispose());


/** Every completed outcome equals the in-process result for its video; every failed one has its video's code. */
function expectOutcomes(outcomes: JobOutcome<'classify'>[], files: string[]): void {
  outcomes.forEach((o, i) => {
    const file = files[i];
    if (file in CORRUPT) {
      expect([file, o.status === 'failed' ? o.error.code : o.status]).toEqual([file, CORRUPT[file]]);
      return;
    }
    expect([file, o.status]).toEqual([file, 'completed']);
    const scores = (o as { result: ClassifyJobResult }).result.scores;
    const want = expected.get(file)!;
    expect(scores.map((s) => s.label)).toEqual(want.map((s) => s.label));
    scores.forEach((s, j) => expect(Math.abs(s.score - want[j].score)).toBeLessThanOrEqual(SCORES));
  });
}

/** Completed events per job id, read from the queue's event stream from the start. */
function countCompletions(queueName: string, port: number): { events: QueueEvents; completions: Map<string, number> } {
  const events = new QueueEvents(queueName, { connection: { host: '127.0.0.1', port }, lastEventId: '0' });
  events.on('error', () => undefined);
  const completions = new Map<string, number>();
  events.on('completed', ({ jobId }) => completions.set(jobId, (completions.get(jobId) ?? 0) + 1));
  return { events, completions };
}

async function stopAll(workers: WorkerProcess[]): Promise<void> {
  for (const w of workers) if (w.child.exitCode === null && w.child.signalCode === null) w.kill('SIGTERM');
  await Promise.all(workers.map((w) => w.exited));
}

/**
 * A redis-server for the tests of one describe block and a list of its worker processes; both are stopped after
 * the block, whatever happened.
 */
function redisWithWorkers(options: Parameters<typeof startRedis>[0] = {}): { redis: () => RedisServer; workers: WorkerProcess[] } {
  let redis: RedisServer | undefined;
  const workers: WorkerProcess[] = [];
  beforeAll(async () => {
    redis = await startRedis(options);
  });
  afterAll(async () => {
    await stopAll(workers);
    await redis?.stop();
  });
  return { redis: () => redis!, workers };
}

describe('chaos: workers killed with SIGKILL mid-run', () => {
  const { redis: server, workers } = redisWithWorkers();

  it('200 jobs on 2 workers, 3 kills: every job ends, results equal in-process, none completed twice, only corrupt videos dead-lettered', async () => {
    const redis = server();
    const seed = Number(process.env.CHAOS_SEED ?? Date.now() % 100000);
    const rand = mulberry32(seed);
    const files = Array.from({ length: 200 }, (_, i) => (i % 20 === 7 ? Object.keys(CORRUPT)[Math.floor(i / 20) % 3] : GOOD[i % GOOD.length]));
    // Workers taking jobs: a victim is picked among them, so that a kill hits a worker with jobs in hand.
    const taking = new Set<WorkerProcess>();
    const start = (name: string): WorkerProcess => {
      const w = spawnWorker(redis.url, name, ['--queue', 'chaos', '--concurrency', '8', '--max-batch', '4', ...FAST_RECOVERY]);
      workers.push(w);
      void w.ready.then(() => taking.add(w), () => undefined);
      return w;
    };
    const live = [start('w1'), start('w2')];
    await Promise.all(live.map((w) => w.ready));
    const { events, completions } = countCompletions('chaos', redis.port);
    await events.waitUntilReady();
    const queue = new VideoJobQueue({ redis: redis.url, queue: 'chaos', backoffMs: 200 });
    const raw = new Queue('chaos', { connection: { host: '127.0.0.1', port: redis.port } });
    try {
      const ids = await queue.addBulk('classify', files.map((f) => ({ video: { path: f }, labels: LABELS })));
      // Three kills when random shares of the jobs have ended, each followed by a restart.
      const thresholds = [0.1 + 0.2 * rand(), 0.35 + 0.2 * rand(), 0.6 + 0.2 * rand()].map((t) => Math.floor(t * files.length));
      const kills: string[] = [];
      let settled = 0;
      let chaos = Promise.resolve();
      const outcomes = await queue.wait<'classify'>(ids, {
        signal: AbortSignal.timeout(150000),
        pollMs: 500,
        onSettled: () => {
          settled++;
          if (thresholds.length > 0 && settled >= thresholds[0]) {
            thresholds.shift();
            const candidates = live.filter((w) => taking.has(w));
            const victim = (candidates.length > 0 ? candidates : live)[Math.floor(rand() * (candidates.length || live.length))];
            live.splice(live.indexOf(victim), 1);
            const at = settled;
            // Killed now, restarted at once; the next kill does not wait for the restart to be ready.
            chaos = chaos.then(async () => {
              const active = (await raw.getActive()).filter((j) => j.processedBy === victim.name).length;
              victim.kill('SIGKILL');
              await victim.exited;
              kills.push(`${victim.name} at ${at} of ${files.length} ended, ${active} jobs in hand`);
              live.push(start(`${victim.name}.${kills.length}`));
            });
          }
        },
      });
      await chaos;
      console.log(`chaos seed ${seed}: killed ${kills.join('; ')}`);
      expect(kills).toHaveLength(3);
      await Promise.all(live.map((w) => w.ready));
      expectOutcomes(outcomes, files);

      const jobs = (await Promise.all(ids.map((id) => raw.getJob(id)))) as Job[];
      // The kills hit jobs in flight: some ran again after their worker died (at least once, not exactly once) ...
      const rerun = jobs.filter((j) => j.stalledCounter > 0);
      console.log(`jobs put back after a kill and run again: ${rerun.length}`);
      expect(rerun.length).toBeGreaterThan(0);
      // ... yet each job completed once: one completion event per job, no result written twice.
      await new Promise((r) => setTimeout(r, 500));
      const good = ids.filter((_, i) => !(files[i] in CORRUPT));
      expect(good.filter((id) => completions.get(id) !== 1)).toEqual([]);
      expect([...completions.keys()].filter((id) => !good.includes(id))).toEqual([]);
      const dead = await queue.deadLetters();
      const corruptIds = ids.filter((_, i) => files[i] in CORRUPT);
      expect(dead.map((d) => d.id).sort()).toEqual([...corruptIds].sort());
      expect(dead.every((d) => d.error.code === CORRUPT[files[ids.indexOf(d.id)]])).toBe(true);
      expect(await queue.counts()).toEqual({ waiting: 0, active: 0, delayed: 0, completed: good.length, failed: corruptIds.length, dead: corruptIds.length });
    } finally {
      await Promise.all([queue.close(), raw.close(), events.close()]);
    }
    await stopAll(live);
    for (const w of live) expect(await w.exited).toEqual({ code: 0, signal: null });
  }, 180000);
});

describe('Redis killed and restarted mid-run', () => {
  // Append-only file fsynced on every write: a SIGKILL loses nothing that Redis acknowledged.
  const { redis: server, workers } = redisWithWorkers({ persist: true });

  it('workers reconnect and finish; every job completes once with the in-process result', async () => {
    const redis = server();
    workers.push(spawnWorker(redis.url, 'r1', ['--queue', 'restart', '--concurrency', '8', '--max-batch', '4', ...FAST_RECOVERY]));
    workers.push(spawnWorker(redis.url, 'r2', ['--queue', 'restart', '--concurrency', '8', '--max-batch', '4', ...FAST_RECOVERY]));
    await Promise.all(workers.map((w) => w.ready));
    const files = Array.from({ length: 60 }, (_, i) => GOOD[i % GOOD.length]);
    const { events, completions } = countCompletions('restart', redis.port);
    await events.waitUntilReady();
    const queue = new VideoJobQueue({ redis: redis.url, queue: 'restart', backoffMs: 200 });
    try {
      const ids = await queue.addBulk('classify', files.map((f) => ({ video: { path: f }, labels: LABELS })));
      let settled = 0;
      let restarted: Promise<void> | undefined;
      const outcomes = await queue.wait<'classify'>(ids, {
        signal: AbortSignal.timeout(120000),
        pollMs: 500,
        onSettled: () => {
          if (++settled === 15) restarted = redis.restart(1000);
        },
      });
      await restarted;
      expect(restarted).toBeDefined();
      expectOutcomes(outcomes, files);
      expect(workers.every((w) => w.child.exitCode === null)).toBe(true);
      // They saw Redis go away and come back.
      expect(workers.some((w) => w.logs.some((l) => l.msg === 'redis'))).toBe(true);
      const raw = new Queue('restart', { connection: { host: '127.0.0.1', port: redis.port } });
      try {
        const jobs = (await Promise.all(ids.map((id) => raw.getJob(id)))) as Job[];
        expect(jobs.every((j) => j.finishedOn !== undefined && j.returnvalue !== null)).toBe(true);
      } finally {
        await raw.close();
      }
      expect(await queue.counts()).toEqual({ waiting: 0, active: 0, delayed: 0, completed: 60, failed: 0, dead: 0 });
      await new Promise((r) => setTimeout(r, 500));
      expect(ids.filter((id) => completions.get(id) !== 1)).toEqual([]);
    } finally {
      await Promise.all([queue.close(), events.close()]);
    }
    await stopAll(workers);
    for (const w of workers) expect(await w.exited).toEqual({ code: 0, signal: null });
  }, 150000);
});

describe('SIGTERM during a batch', () => {
  const { redis: server, workers } = redisWithWorkers();

  it('the jobs in hand finish on the worker that took them, it exits 0, and nothing runs twice', async () => {
    const redis = server();
    const first = spawnWorker(redis.url, 't1', ['--queue', 'term', '--concurrency', '8', '--max-batch', '8']);
    workers.push(first);
    await first.ready;
    const queue = new VideoJobQueue({ redis: redis.url, queue: 'term' });
    const raw = new Queue('term', { connection: { host: '127.0.0.1', port: redis.port } });
    const events = new QueueEvents('term', { connection: { host: '127.0.0.1', port: redis.port } });
    events.on('error', () => undefined);
    try {
      await events.waitUntilReady();
      const decoded = new Promise<void>((resolve) => events.on('progress', ({ data }) => (data as unknown as JobProgress).stage === 'decoded' && resolve()));
      const files = Array.from({ length: 40 }, (_, i) => GOOD[i % GOOD.length]);
      const ids = await queue.addBulk('classify', files.map((f) => ({ video: { path: f }, labels: LABELS })));
      // A video of the first batch is decoded: the batch is forming or running.
      await decoded;
      const inHand = (await raw.getActive()).map((j) => j.id!);
      first.kill('SIGTERM');
      expect(await first.exited).toEqual({ code: 0, signal: null });
      expect(inHand.length).toBeGreaterThan(0);
      expect(first.logs.map((l) => l.msg)).toEqual(expect.arrayContaining(['SIGTERM: no new jobs; finishing the jobs in hand', 'worker closed']));

      const byFirst = (await Promise.all(ids.map((id) => raw.getJob(id)))).filter((j) => j!.processedBy === 't1') as Job[];
      // What it held when told to stop, it finished ...
      for (const id of inHand) expect(byFirst.map((j) => j.id)).toContain(id);
      for (const j of byFirst) expect([j.id, await j.getState(), j.attemptsStarted, j.stalledCounter]).toEqual([j.id, 'completed', 1, 0]);
      // ... and it took nothing it did not finish: the rest wait, untouched.
      expect((await queue.counts()).waiting).toBe(ids.length - byFirst.length);

      const second = spawnWorker(redis.url, 't2', ['--queue', 'term', '--concurrency', '8', '--max-batch', '8']);
      workers.push(second);
      await second.ready;
      const outcomes = await queue.wait<'classify'>(ids, { signal: AbortSignal.timeout(60000) });
      expectOutcomes(outcomes, files);
      const jobs = (await Promise.all(ids.map((id) => raw.getJob(id)))) as Job[];
      expect(jobs.map((j) => [j.attemptsStarted, j.stalledCounter, j.attemptsMade])).toEqual(Array(40).fill([1, 0, 1]));
    } finally {
      await Promise.all([queue.close(), raw.close(), events.close()]);
    }
  }, 120000);
});
