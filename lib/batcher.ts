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
    const batch: Item[] = [];
    for (const item of this.#queue) {
      if (item.group.key !== head.group.key) continue;
      batch.push(item);
      if (batch.length === cap) break;
    }
    const wait = head.submittedAt + this.options.maxWaitMs - performance.now();
    if (batch.length < cap && this.#preparing > 0 && wait > 0) {
      this.#timer ??= setTimeout(() => {
        this.#timer = undefined;
        this.#schedule();
      }, Math.ceil(wait));
      return;
    }
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
      outputs = await group.run(batch.map((item) => item.input));
      if (outputs.length !== batch.length) throw new Error(`batch of ${batch.length} returned ${outputs.length} outputs`);
    } catch (err) {
      for (const item of batch) item.reject(err);
      return;
    }
    batch.forEach((item, i) => item.resolve(outputs[i]));
  }
}
