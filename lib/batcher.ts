/**
 * Dynamic micro-batching in front of one model. Callers first reserve a slot (which bounds how many inputs are
 * being prepared or waiting at once, so a 1000-video call holds a few videos in memory, not 1000, and how many are
 * prepared at the same time), prepare their input, then submit it; prepared inputs that share a key are run
 * together, one batch at a time, so batches form while the model is busy.
 * @module
 * @internal
 */
import { performance } from 'node:perf_hooks';

export interface BatcherOptions {
  /** Most inputs in one batch. */
  maxBatch: number;
  /**
   * Longest an input waits for others to join it while the model is idle, measured from its submission. Only
   * spent while other inputs are still being prepared: with nothing on the way, a batch starts at once.
   */
  maxWaitMs: number;
  /** Most reserved slots: inputs being prepared plus inputs waiting for a batch (not the batch in flight). */
  maxPending: number;
  /**
   * Most inputs being prepared at once. Preparation runs on the same libuv pool as the model call: a pool full
   * of decoding would hold the next batch back, and decoders beside a running batch slow it down.
   */
  maxPreparing: number;
  /**
   * Latency budget per input, in ms from its submission to its batch's end, or undefined for none. With one, a
   * batch waits for inputs still being prepared only while the oldest input would still finish within the budget
   * (given the measured run time of a batch that size), and is cut to the size that meets it.
   */
  maxLatencyMs?: number;
}

/** What {@link planBatch} decides from. */
export interface BatchPlanInput {
  /** Queued inputs the batch could take (same group as the oldest). */
  available: number;
  /** The batch size cap. */
  cap: number;
  /** Inputs still being prepared, which may join. */
  preparing: number;
  /** How long the oldest input has waited. */
  waitedMs: number;
  maxWaitMs: number;
  maxLatencyMs?: number;
  /** Expected run time of a batch of n, ms (0 while nothing was measured). */
  estimateMs(n: number): number;
}

/**
 * The batching policy, as a pure function: run `take` inputs now, or wait up to `waitMs` for more.
 * Without a latency budget: wait (up to maxWaitMs from the oldest input's submission) only while the batch is not
 * full and inputs are being prepared. With one, the oldest input's latency is its wait so far plus its batch's run
 * time: waiting continues only while that stays within the budget for the batch the inputs being prepared would
 * make, and the batch taken is the largest that meets the budget. When even a batch of one would miss it, the
 * queue is behind: take a full batch, since smaller ones would only lower throughput and let the backlog grow.
 * @example
 * planBatch({ available: 4, cap: 32, preparing: 8, waitedMs: 10, maxWaitMs: 100, maxLatencyMs: 100, estimateMs: (n) => 2 * n });
 * // { waitMs: 66 }: a batch of 12 takes ~24 ms, so the oldest can wait 66 ms more and still finish within 100 ms
 */
export function planBatch(p: BatchPlanInput): { take: number } | { waitMs: number } {
  const full = Math.min(p.available, p.cap);
  const maxWait = p.maxWaitMs - p.waitedMs;
  if (p.maxLatencyMs === undefined) {
    return full < p.cap && p.preparing > 0 && maxWait > 0 ? { waitMs: maxWait } : { take: full };
  }
  const budget = p.maxLatencyMs - p.waitedMs;
  const slack = budget - p.estimateMs(Math.min(p.cap, p.available + p.preparing));
  if (full < p.cap && p.preparing > 0 && slack > 0 && maxWait > 0) return { waitMs: Math.min(slack, maxWait) };
  let take = full;
  while (take > 1 && p.estimateMs(take) > budget) take--;
  return { take: p.estimateMs(take) > budget ? full : take };
}

/**
 * Measured run times per batch size (an average over the last few batches of each size), and an estimate for
 * any size scaled from the nearest measured one (run time proportional to the batch: the model's cost is per video).
 */
export class BatchTimes {
  readonly #ms = new Map<number, number>();

  record(size: number, ms: number): void {
    const prev = this.#ms.get(size);
    // Weighted towards the latest: a device warming up, or another process taking the CPU, changes it.
    this.#ms.set(size, prev === undefined ? ms : 0.7 * prev + 0.3 * ms);
  }

  estimateMs(size: number): number {
    let nearest = 0;
    for (const m of this.#ms.keys()) if (nearest === 0 || Math.abs(m - size) < Math.abs(nearest - size)) nearest = m;
    return nearest === 0 ? 0 : (this.#ms.get(nearest)! * size) / nearest;
  }
}

/**
 * Inputs with the same key may share one call of `run`; items of one key must be stackable (same shape).
 */
export interface BatchGroup<I, O> {
  readonly key: string;
  /** A group's own cap below the batcher's `maxBatch` (1 for work that never shares a call). */
  readonly maxBatch?: number;
  /** One output per input, in order. */
  run(inputs: readonly I[]): Promise<readonly O[]>;
}

/** A slot held while one input is prepared and then queued; exactly one of submit() or release() ends the preparation. */
export interface Reservation {
  /** Queues the prepared input; the promise settles with its own output or its batch's error. */
  submit<I, O>(group: BatchGroup<I, O>, input: I, signal?: AbortSignal): Promise<O>;
  /** Gives the slot back when preparation failed. */
  release(): void;
}

interface Item {
  group: BatchGroup<unknown, unknown>;
  input: unknown;
  submittedAt: number;
  /** Holds a pending slot until it leaves the queue (exclusive tasks hold none). */
  holdsSlot: boolean;
  resolve(value: unknown): void;
  reject(reason: unknown): void;
  detach(): void;
}

interface Waiter {
  signal: AbortSignal | undefined;
  resolve(r: Reservation): void;
  reject(reason: unknown): void;
  detach(): void;
}

/**
 * @example
 * const batcher = new MicroBatcher({ maxBatch: 8, maxWaitMs: 5, maxPending: 16, maxPreparing: 2 });
 * const slot = await batcher.reserve();
 * const out = await slot.submit({ key: 'double', run: async (xs: number[]) => xs.map((x) => 2 * x) }, 21);
 */
export class MicroBatcher {
  readonly options: Readonly<BatcherOptions>;
  #free: number;
  #preparing = 0;
  #busy = false;
  #closedReason: (() => unknown) | undefined;
  #timer: NodeJS.Timeout | undefined;
  #exclusiveCount = 0;
  readonly #queue: Item[] = [];
  readonly #waiters: Waiter[] = [];
  /** Run times of past batches (not of exclusive tasks), which the latency budget plans with. */
  readonly times = new BatchTimes();

  constructor(options: BatcherOptions) {
    this.options = Object.freeze({ ...options });
    this.#free = options.maxPending;
  }

  /** True once close() was called. */
  get closed(): boolean {
    return this.#closedReason !== undefined;
  }

  /**
   * A preparation slot, first come first served. Rejects when closed, or with `signal.reason` when the caller
   * gives up while waiting.
   */
  reserve(signal?: AbortSignal): Promise<Reservation> {
    if (this.#closedReason) return Promise.reject(this.#closedReason());
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (this.#waiters.length === 0 && this.#canAdmit()) return Promise.resolve(this.#grant());
    return new Promise<Reservation>((resolve, reject) => {
      const onAbort = (): void => {
        const i = this.#waiters.indexOf(waiter);
        if (i >= 0) this.#waiters.splice(i, 1);
        reject(signal?.reason);
      };
      const waiter: Waiter = { signal, resolve, reject, detach: () => signal?.removeEventListener('abort', onAbort) };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#waiters.push(waiter);
    });
  }

  /**
   * Runs `fn` alone, in queue order, between batches: for other work on the same model (e.g. text features) that
   * must not run beside a batch.
   */
  exclusive<T>(fn: () => Promise<T>): Promise<T> {
    if (this.#closedReason) return Promise.reject(this.#closedReason());
    const group: BatchGroup<undefined, T> = { key: `\0exclusive ${this.#exclusiveCount++}`, maxBatch: 1, run: async () => [await fn()] };
    return this.#enqueue(group, undefined, false) as Promise<T>;
  }

  /**
   * Refuses all later work and rejects everything queued or waiting for a slot with `reason()`. The batch in
   * flight, if any, settles normally.
   */
  close(reason: () => unknown): void {
    if (this.#closedReason) return;
    this.#closedReason = reason;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    for (const w of this.#waiters.splice(0)) {
      w.detach();
      w.reject(reason());
    }
    for (const item of this.#queue.splice(0)) {
      item.detach();
      item.reject(reason());
    }
  }

  #canAdmit(): boolean {
    return this.#free > 0 && this.#preparing < this.options.maxPreparing;
  }

  #grant(): Reservation {
    this.#free--;
    this.#preparing++;
    let open = true;
    const end = (): boolean => {
      if (!open) return false;
      open = false;
      this.#preparing--;
      return true;
    };
    return {
      submit: <I, O>(group: BatchGroup<I, O>, input: I, signal?: AbortSignal): Promise<O> => {
        if (!end()) return Promise.reject(new Error('reservation already used'));
        if (this.#closedReason) return Promise.reject(this.#closedReason());
        if (signal?.aborted) {
          this.#freeSlots(1);
          this.#schedule();
          return Promise.reject(signal.reason);
        }
        this.#admit();
        return this.#enqueue(group as BatchGroup<unknown, unknown>, input, true, signal) as Promise<O>;
      },
      release: (): void => {
        if (!end() || this.#closedReason) return;
        this.#freeSlots(1);
        // One fewer input on the way may be what a waiting batch was waiting for.
        this.#schedule();
      },
    };
  }

  #freeSlots(n: number): void {
    this.#free += n;
    this.#admit();
  }

  /** Grants waiting reservations, in order, while slots and preparation capacity allow. */
  #admit(): void {
    while (this.#waiters.length > 0 && this.#canAdmit()) {
      const next = this.#waiters.shift()!;
      next.detach();
      // Its abort may be dispatching right now, after the listener that freed this slot.
      if (next.signal?.aborted) next.reject(next.signal.reason);
      else next.resolve(this.#grant());
    }
  }

  #enqueue(group: BatchGroup<unknown, unknown>, input: unknown, holdsSlot: boolean, signal?: AbortSignal): Promise<unknown> {
    return new Promise((resolve, reject) => {
      // A caller that gives up (another video of its call failed) leaves the queue at once and frees its slot.
      const onAbort = (): void => {
        const i = this.#queue.indexOf(item);
        if (i < 0) return;
        this.#queue.splice(i, 1);
        if (holdsSlot) this.#freeSlots(1);
        reject(signal?.reason);
        this.#schedule();
      };
      const item: Item = {
        group,
        input,
        submittedAt: performance.now(),
        holdsSlot,
        resolve,
        reject,
        detach: () => signal?.removeEventListener('abort', onAbort),
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#queue.push(item);
      this.#schedule();
    });
  }

  /**
   * Starts the next batch when the model is idle: the oldest item's group, with that group's later items in
   * submission order. Serving the oldest item first is what keeps one key from starving another.
   */
  #schedule(): void {
    if (this.#busy || this.#closedReason || this.#queue.length === 0) return;
    const head = this.#queue[0];
    const cap = Math.min(this.options.maxBatch, head.group.maxBatch ?? Infinity);
    let batch: Item[] = [];
    for (const item of this.#queue) {
      if (item.group.key !== head.group.key) continue;
      batch.push(item);
      if (batch.length === cap) break;
    }
    const plan = planBatch({
      available: batch.length,
      cap,
      preparing: this.#preparing,
      waitedMs: performance.now() - head.submittedAt,
      maxWaitMs: this.options.maxWaitMs,
      maxLatencyMs: this.options.maxLatencyMs,
      estimateMs: (n) => this.times.estimateMs(n),
    });
    if ('waitMs' in plan) {
      this.#timer ??= setTimeout(() => {
        this.#timer = undefined;
        this.#schedule();
      }, Math.ceil(plan.waitMs));
      return;
    }
    batch = batch.slice(0, plan.take);
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const taken = new Set(batch);
    this.#queue.splice(0, this.#queue.length, ...this.#queue.filter((item) => !taken.has(item)));
    for (const item of batch) item.detach();
    // Slots free as the batch starts, so the next inputs are prepared while this one runs.
    this.#freeSlots(batch.filter((item) => item.holdsSlot).length);
    this.#busy = true;
    void this.#run(head.group, batch).finally(() => {
      this.#busy = false;
      this.#schedule();
    });
  }

  async #run(group: BatchGroup<unknown, unknown>, batch: readonly Item[]): Promise<void> {
    let outputs: readonly unknown[];
    try {
      const start = performance.now();
      outputs = await group.run(batch.map((item) => item.input));
      if (group.maxBatch !== 1) this.times.record(batch.length, performance.now() - start);
      if (outputs.length !== batch.length) throw new Error(`batch of ${batch.length} returned ${outputs.length} outputs`);
    } catch (err) {
      for (const item of batch) item.reject(err);
      return;
    }
    batch.forEach((item, i) => item.resolve(outputs[i]));
  }
}
