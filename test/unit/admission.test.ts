// The server's admission control: a bounded FIFO queue in front of a fixed number of active slots; a full queue
// refuses at once (503 + Retry-After), never by holding more.
import { Admission } from '../../lib/server/admission';
import { defaultAdmission } from '../../lib/server/defaults';
import { HttpError } from '../../lib/server/errors';

async function outcome(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'admitted';
  } catch (e) {
    return e instanceof HttpError ? e.code : String((e as Error).message);
  }
}

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('Admission', () => {
  it('admits up to maxActive at once, queues up to maxQueue, refuses the rest at once with a Retry-After', async () => {
    const a = new Admission({ maxActive: 2, maxQueue: 2 });
    const r1 = await a.acquire();
    const r2 = await a.acquire();
    const q1 = a.acquire();
    const q2 = a.acquire();
    expect(a.state).toMatchObject({ active: 2, queued: 2 });
    const refused = await a.acquire().catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(HttpError);
    expect((refused as HttpError).code).toBe('OVERLOADED');
    expect((refused as HttpError).statusCode).toBe(503);
    expect(Number((refused as HttpError).headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(a.state.rejected).toBe(1);
    // Slots pass to the queue in arrival order; the active count never exceeds the limit.
    let order = '';
    void q1.then(() => (order += '1'));
    void q2.then(() => (order += '2'));
    r1();
    r1(); // a second release of the same slot does nothing
    await tick();
    expect(order).toBe('1');
    expect(a.state).toMatchObject({ active: 2, queued: 1 });
    r2();
    await tick();
    expect(order).toBe('12');
    (await q1)();
    (await q2)();
    expect(a.state).toMatchObject({ active: 0, queued: 0 });
  });

  it('Retry-After grows with the clients refused lately, so that many waiting clients do not all come back at once', async () => {
    const a = new Admission({ maxActive: 1, maxQueue: 0 });
    // Two completions 200 ms apart: a completion rate of ~7-10 per second.
    (await a.acquire())();
    await new Promise((r) => setTimeout(r, 200));
    (await a.acquire())();
    const held = await a.acquire();
    const retryAfter = (e: unknown): number => Number((e as HttpError).headers['retry-after']);
    const first = retryAfter(await a.acquire().catch((e: unknown) => e));
    let last = first;
    for (let i = 0; i < 40; i++) last = retryAfter(await a.acquire().catch((e: unknown) => e));
    // One client waiting gets the time to the next completion; 41 of them at ~10 per second get ~4-6 s.
    expect(first).toBe(1);
    expect(last).toBeGreaterThanOrEqual(3);
    expect(last).toBeLessThanOrEqual(60);
    held();
  });

  it('default admission: on a CPU the decoders plus one in the model, one queued; on CUDA two batches and one queued', () => {
    expect(defaultAdmission({ maxBatch: 8, decodeConcurrency: 2 }, 'cpu')).toEqual({ maxActive: 3, maxQueue: 1 });
    expect(defaultAdmission({ maxBatch: 32, decodeConcurrency: 8 }, 'cuda')).toEqual({ maxActive: 72, maxQueue: 32 });
  });

  it('a queue of 0 refuses as soon as every slot is taken', async () => {
    const a = new Admission({ maxActive: 1, maxQueue: 0 });
    const r = await a.acquire();
    expect(await outcome(a.acquire())).toBe('OVERLOADED');
    r();
    expect(await outcome(a.acquire())).toBe('admitted');
  });

  it('a waiter that gives up leaves the queue and rejects with its reason', async () => {
    const a = new Admission({ maxActive: 1, maxQueue: 1 });
    const r = await a.acquire();
    const ac = new AbortController();
    const waiting = outcome(a.acquire(ac.signal));
    ac.abort(new Error('client left'));
    expect(await waiting).toBe('client left');
    expect(a.state.queued).toBe(0);
    expect(await outcome(a.acquire(AbortSignal.abort(new Error('already gone'))))).toBe('already gone');
    r();
    expect(a.state.active).toBe(0);
  });

  it('close() refuses what is queued and what comes later; active slots are kept until released', async () => {
    const a = new Admission({ maxActive: 1, maxQueue: 4 });
    const r = await a.acquire();
    const queued = outcome(a.acquire());
    a.close();
    expect(await queued).toBe('UNAVAILABLE');
    expect(await outcome(a.acquire())).toBe('UNAVAILABLE');
    expect(a.state.active).toBe(1);
    r();
    expect(a.state.active).toBe(0);
  });

  it('estimates Retry-After from the recent completion rate', async () => {
    const a = new Admission({ maxActive: 1, maxQueue: 0 });
    expect(a.retryAfterSeconds()).toBe(1);
    for (let i = 0; i < 3; i++) {
      (await a.acquire())();
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(a.completionRate()).toBeGreaterThan(10);
    expect(a.retryAfterSeconds()).toBe(1);
    expect(() => new Admission({ maxActive: 0, maxQueue: 1 })).toThrow(RangeError);
    expect(() => new Admission({ maxActive: 1, maxQueue: -1 })).toThrow(RangeError);
  });
});
