// MicroBatcher on its own, with a fake model: pure TypeScript, no addon.
import { BatchTimes, MicroBatcher, planBatch, type BatchGroup, type BatchPlanInput } from '../../lib/batcher';

/** A fake model call that records each batch and finishes when told to. */
function fakeModel(key: string, log: string[][], gate?: { wait: Promise<void> }): BatchGroup<string, string> {
  return {
    key,
    run: async (inputs) => {
      log.push([...inputs]);
      if (gate) await gate.wait;
      return inputs.map((x) => `${key}:${x}`);
    },
  };
}

function deferred(): { wait: Promise<void>; open: () => void } {
  let open!: () => void;
  const wait = new Promise<void>((r) => (open = r));
  return { wait, open };
}

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('MicroBatcher', () => {
  it('runs a lone input at once, without waiting out maxWaitMs', async () => {
    const b = new MicroBatcher({ maxBatch: 8, maxWaitMs: 1000, maxPending: 16, maxPreparing: 64 });
    const log: string[][] = [];
    const start = Date.now();
    const slot = await b.reserve();
    await expect(slot.submit(fakeModel('k', log), 'a')).resolves.toBe('k:a');
    expect(Date.now() - start).toBeLessThan(500);
  });

  it('collects inputs queued while a batch runs into the next batch, up to maxBatch, one batch at a time', async () => {
    const b = new MicroBatcher({ maxBatch: 3, maxWaitMs: 0, maxPending: 16, maxPreparing: 64 });
    const log: string[][] = [];
    const gate = deferred();
    const group = fakeModel('k', log, gate);
    const first = (await b.reserve()).submit(group, '0');
    await tick();
    const rest = [];
    for (let i = 1; i <= 7; i++) rest.push((await b.reserve()).submit(group, String(i)));
    await tick();
    expect(log).toEqual([['0']]);
    gate.open();
    expect(await Promise.all([first, ...rest])).toEqual(['0', '1', '2', '3', '4', '5', '6', '7'].map((x) => `k:${x}`));
    expect(log).toEqual([['0'], ['1', '2', '3'], ['4', '5', '6'], ['7']]);
  });

  it('waits up to maxWaitMs for inputs still being prepared, and no longer', async () => {
    const b = new MicroBatcher({ maxBatch: 4, maxWaitMs: 300, maxPending: 16, maxPreparing: 64 });
    const log: string[][] = [];
    const group = fakeModel('k', log);
    const slots = await Promise.all([b.reserve(), b.reserve(), b.reserve()]);
    const a = slots[0].submit(group, 'a');
    setTimeout(() => void slots[1].submit(group, 'b'), 5);
    // The third is still "decoding" when the wait runs out.
    await a;
    expect(log).toEqual([['a', 'b']]);
    await slots[2].submit(group, 'c');
    expect(log).toEqual([['a', 'b'], ['c']]);
  });

  it('starts at once when the last input on the way fails to prepare', async () => {
    const b = new MicroBatcher({ maxBatch: 4, maxWaitMs: 10_000, maxPending: 16, maxPreparing: 64 });
    const log: string[][] = [];
    const [s1, s2] = await Promise.all([b.reserve(), b.reserve()]);
    const a = s1.submit(fakeModel('k', log), 'a');
    await tick();
    expect(log).toEqual([]);
    s2.release();
    await expect(a).resolves.toBe('k:a');
  });

  it('serves the oldest input first: a busy key cannot starve another', async () => {
    const b = new MicroBatcher({ maxBatch: 2, maxWaitMs: 0, maxPending: 64, maxPreparing: 64 });
    const log: string[][] = [];
    const gate = deferred();
    const x = fakeModel('x', log, gate);
    const y = fakeModel('y', log);
    const done = [(await b.reserve()).submit(x, 'x0')];
    await tick();
    // While x0 runs: x1 x2 y1 x3 x4 x5 arrive.
    for (const [g, v] of [[x, 'x1'], [x, 'x2'], [y, 'y1'], [x, 'x3'], [x, 'x4'], [x, 'x5']] as const) done.push((await b.reserve()).submit(g, v));
    gate.open();
    await Promise.all(done);
    expect(log).toEqual([['x0'], ['x1', 'x2'], ['y1'], ['x3', 'x4'], ['x5']]);
  });

  it('bounds the inputs reserved ahead; slots free when their batch starts', async () => {
    const b = new MicroBatcher({ maxBatch: 2, maxWaitMs: 0, maxPending: 2, maxPreparing: 64 });
    const log: string[][] = [];
    const gate = deferred();
    const group = fakeModel('k', log, gate);
    const s1 = await b.reserve();
    const s2 = await b.reserve();
    let third = false;
    const s3p = b.reserve().then((s) => ((third = true), s));
    await tick();
    expect(third).toBe(false);
    const p = [s1.submit(group, 'a'), s2.submit(group, 'b')];
    await s3p;
    expect(third).toBe(true);
    gate.open();
    await Promise.all(p);
  });

  it('prepares at most maxPreparing inputs at once; a submitted input makes room for the next', async () => {
    const b = new MicroBatcher({ maxBatch: 8, maxWaitMs: 0, maxPending: 8, maxPreparing: 2 });
    const group = fakeModel('k', [], deferred());
    const s1 = await b.reserve();
    await b.reserve();
    let third = false;
    const s3p = b.reserve().then((s) => ((third = true), s));
    await tick();
    expect(third).toBe(false);
    void s1.submit(group, 'a');
    await s3p;
    expect(third).toBe(true);
  });

  it('rejects only the batch that failed', async () => {
    const b = new MicroBatcher({ maxBatch: 4, maxWaitMs: 0, maxPending: 16, maxPreparing: 64 });
    const bad: BatchGroup<string, string> = { key: 'bad', run: async () => Promise.reject(new Error('engine failed')) };
    const good = fakeModel('good', []);
    const r1 = (await b.reserve()).submit(bad, '1');
    const r2 = (await b.reserve()).submit(good, '2');
    await expect(r1).rejects.toThrow('engine failed');
    await expect(r2).resolves.toBe('good:2');
  });

  it('a batch returning the wrong number of outputs rejects its callers', async () => {
    const b = new MicroBatcher({ maxBatch: 4, maxWaitMs: 0, maxPending: 16, maxPreparing: 64 });
    const broken: BatchGroup<string, string> = { key: 'k', run: async () => [] };
    await expect((await b.reserve()).submit(broken, 'a')).rejects.toThrow('batch of 1 returned 0 outputs');
  });

  it('exclusive work runs alone, in queue order', async () => {
    const b = new MicroBatcher({ maxBatch: 4, maxWaitMs: 0, maxPending: 16, maxPreparing: 64 });
    const log: string[][] = [];
    const gate = deferred();
    const group = fakeModel('k', log, gate);
    const first = (await b.reserve()).submit(group, 'a');
    await tick();
    const text = b.exclusive(async () => {
      log.push(['text']);
      return 42;
    });
    const later = (await b.reserve()).submit(group, 'b');
    gate.open();
    expect(await Promise.all([first, text, later])).toEqual(['k:a', 42, 'k:b']);
    expect(log).toEqual([['a'], ['text'], ['b']]);
  });

  it('an aborted caller leaves the queue and the slot queue', async () => {
    const b = new MicroBatcher({ maxBatch: 4, maxWaitMs: 0, maxPending: 2, maxPreparing: 64 });
    const log: string[][] = [];
    const gate = deferred();
    const group = fakeModel('k', log, gate);
    const running = (await b.reserve()).submit(group, 'run');
    await tick();
    const abort = new AbortController();
    const queued = (await b.reserve()).submit(group, 'queued', abort.signal);
    const held = await b.reserve();
    const waiting = b.reserve(abort.signal);
    abort.abort(new Error('sibling failed'));
    await expect(queued).rejects.toThrow('sibling failed');
    await expect(waiting).rejects.toThrow('sibling failed');
    gate.open();
    await running;
    await held.submit(group, 'next');
    expect(log).toEqual([['run'], ['next']]);
  });

  it('close() rejects queued and waiting callers, lets the running batch finish, refuses later work', async () => {
    const b = new MicroBatcher({ maxBatch: 1, maxWaitMs: 0, maxPending: 2, maxPreparing: 64 });
    const gate = deferred();
    const group = fakeModel('k', [], gate);
    const running = (await b.reserve()).submit(group, 'a');
    await tick();
    const queued = (await b.reserve()).submit(group, 'b');
    const preparing = await b.reserve();
    const waiting = b.reserve();
    b.close(() => new Error('closed'));
    await expect(queued).rejects.toThrow('closed');
    await expect(waiting).rejects.toThrow('closed');
    await expect(preparing.submit(group, 'c')).rejects.toThrow('closed');
    await expect(b.reserve()).rejects.toThrow('closed');
    await expect(b.exclusive(async () => 1)).rejects.toThrow('closed');
    gate.open();
    await expect(running).resolves.toBe('k:a');
    expect(b.closed).toBe(true);
  });
});

describe('planBatch: the batch size from the queue depth and the latency budget', () => {
  // A model whose batch of n takes 10 ms per video (what BatchTimes would report after measuring it).
  const linear = (n: number): number => 10 * n;
  const plan = (p: Partial<BatchPlanInput>) =>
    planBatch({ available: 1, cap: 32, preparing: 0, waitedMs: 0, maxWaitMs: 1000, estimateMs: linear, ...p });

  it('without a budget: waits out maxWaitMs only while the batch is short and inputs are being prepared', () => {
    expect(plan({ available: 4, preparing: 2, waitedMs: 3, maxWaitMs: 5 })).toEqual({ waitMs: 2 });
    expect(plan({ available: 4, preparing: 2, waitedMs: 5, maxWaitMs: 5 })).toEqual({ take: 4 });
    expect(plan({ available: 4, preparing: 0, maxWaitMs: 5 })).toEqual({ take: 4 });
    expect(plan({ available: 40, preparing: 5, maxWaitMs: 5 })).toEqual({ take: 32 });
  });

  it('with a budget: waits while the batch the prepared inputs would make still finishes within it', () => {
    // 4 queued + 8 being prepared = 12 videos, ~120 ms; waited 30 of 200: 50 ms of slack left.
    expect(plan({ available: 4, preparing: 8, waitedMs: 30, maxLatencyMs: 200 })).toEqual({ waitMs: 50 });
    // maxWaitMs still bounds the wait.
    expect(plan({ available: 4, preparing: 8, waitedMs: 30, maxWaitMs: 40, maxLatencyMs: 200 })).toEqual({ waitMs: 10 });
    // No slack left: flush now, with what is queued.
    expect(plan({ available: 4, preparing: 8, waitedMs: 80, maxLatencyMs: 200 })).toEqual({ take: 4 });
    // Nothing being prepared: no reason to wait.
    expect(plan({ available: 4, preparing: 0, waitedMs: 0, maxLatencyMs: 200 })).toEqual({ take: 4 });
  });

  it('with a budget: takes the largest batch that meets it, and a full batch once the queue is behind', () => {
    // 30 queued, waited 50 of 200 ms: 15 videos (150 ms) fit, 16 would not.
    expect(plan({ available: 30, waitedMs: 50, maxLatencyMs: 200 })).toEqual({ take: 15 });
    // Even one video misses the budget: throughput first, the whole batch.
    expect(plan({ available: 30, waitedMs: 195, maxLatencyMs: 200 })).toEqual({ take: 30 });
    expect(plan({ available: 60, waitedMs: 195, maxLatencyMs: 200 })).toEqual({ take: 32 });
    // Nothing measured yet (estimate 0): everything queued, up to the cap.
    expect(plan({ available: 30, waitedMs: 50, maxLatencyMs: 200, estimateMs: () => 0 })).toEqual({ take: 30 });
  });

  it('BatchTimes: per-size averages weighted to the latest, other sizes scaled from the nearest measured', () => {
    const t = new BatchTimes();
    expect(t.estimateMs(8)).toBe(0);
    t.record(8, 80);
    expect(t.estimateMs(8)).toBe(80);
    expect(t.estimateMs(16)).toBe(160);
    expect(t.estimateMs(4)).toBe(40);
    t.record(8, 180);
    expect(t.estimateMs(8)).toBeCloseTo(110);
    t.record(32, 64);
    expect(t.estimateMs(30)).toBeCloseTo(60);
  });

  it('MicroBatcher with a budget: the measured batch time decides how long the next batch waits for inputs being prepared', async () => {
    const b = new MicroBatcher({ maxBatch: 32, maxWaitMs: 60_000, maxLatencyMs: 400, maxPending: 64, maxPreparing: 64 });
    b.times.record(1, 1000); // a batch of one takes a second: any wait breaks the 400 ms budget
    const log: string[][] = [];
    const preparing = await b.reserve(); // still being prepared, never finishes in this test
    const start = Date.now();
    await expect((await b.reserve()).submit(fakeModel('k', log), 'a')).resolves.toBe('k:a');
    // Without the budget it would have waited up to 60 s for the other input.
    expect(Date.now() - start).toBeLessThan(5000);
    expect(log).toEqual([['a']]);
    preparing.release();
  });
});
