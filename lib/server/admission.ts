/**
 * Admission control in front of the model: at most `maxActive` requests are worked on at once, at most `maxQueue`
 * more wait for a turn (first come, first served), and any request beyond that is refused at once, before its body
 * is read, with `OVERLOADED` (503) and a `Retry-After` estimated from the recent completion rate and how many
 * clients are waiting for a turn. So an overload costs a refusal per request, never memory: what is held is bounded
 * by (maxActive + maxQueue) requests.
 * @module
 */
import { performance } from 'node:perf_hooks';

import { integerInRange } from '../validate';
import { HttpError } from './errors';

/**
 * @example
 * const admission = new Admission({ maxActive: 4, maxQueue: 4 });
 */
export interface AdmissionOptions {
  /** Requests handed to the classifier at once (decoding, waiting for a batch, in a batch), 1 to 4096. */
  maxActive: number;
  /** Requests waiting for an active slot, 0 to 65536; a request beyond them is refused with 503. */
  maxQueue: number;
}

/** A snapshot for metrics and /health. */
export interface AdmissionState {
  active: number;
  queued: number;
  maxActive: number;
  maxQueue: number;
  /** Requests refused because the queue was full, since start. */
  rejected: number;
  /** Requests completed per second over the last {@link RATE_WINDOW_MS} ms (0 before any). */
  completionRate: number;
}

/** Completions kept for the rate estimate; it answers "how soon will a slot free up", so it favours recent history. */
const RATE_WINDOW_MS = 30_000;
const MAX_RETRY_AFTER_S = 60;
/** Enough completions for a stable rate; older ones add nothing but memory. */
const MAX_COMPLETIONS = 1024;
/** Refusals remembered for the Retry-After estimate: more clients than this waiting already means the longest wait. */
const MAX_REFUSALS = 4096;

interface Waiter {
  resolve(release: () => void): void;
  reject(reason: unknown): void;
  detach(): void;
}

/**
 * @example
 * const release = await admission.acquire(signal); // throws HttpError OVERLOADED when full
 * try { await work(); } finally { release(); }
 */
export class Admission {
  readonly maxActive: number;
  readonly maxQueue: number;
  #active = 0;
  #rejected = 0;
  #closed = false;
  readonly #waiters: Waiter[] = [];
  /** Completion times (performance.now()), oldest first, within the rate window. */
  readonly #completions: number[] = [];
  /** Refusal times, oldest first, within the longest Retry-After. */
  readonly #refusals: number[] = [];
  /** The Retry-After last given, in seconds: the period over which refused clients come back. */
  #retryAfter = 1;

  constructor(options: AdmissionOptions) {
    this.maxActive = integerInRange('maxActive', options.maxActive, 1, 4096);
    this.maxQueue = integerInRange('maxQueue', options.maxQueue, 0, 65536);
  }

  get state(): AdmissionState {
    return { active: this.#active, queued: this.#waiters.length, maxActive: this.maxActive, maxQueue: this.maxQueue, rejected: this.#rejected, completionRate: this.completionRate() };
  }

  /**
   * An active slot: at once if one is free and nobody waits, else after the requests queued before it. Throws
   * `OVERLOADED` synchronously-fast when the queue is full, `UNAVAILABLE` once closed, and rejects with
   * `signal.reason` if the caller gives up while queued. The returned function frees the slot (idempotent).
   */
  acquire(signal?: AbortSignal): Promise<() => void> {
    if (this.#closed) return Promise.reject(new HttpError('UNAVAILABLE', 'the server is shutting down', { 'retry-after': '5' }));
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (this.#active < this.maxActive && this.#waiters.length === 0) return Promise.resolve(this.#grant());
    const refusal = this.refusal();
    if (refusal) return Promise.reject(refusal);
    return new Promise((resolve, reject) => {
      const onAbort = (): void => {
        const i = this.#waiters.indexOf(waiter);
        if (i >= 0) this.#waiters.splice(i, 1);
        reject(signal?.reason);
      };
      const waiter: Waiter = { resolve, reject, detach: () => signal?.removeEventListener('abort', onAbort) };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#waiters.push(waiter);
    });
  }

  /**
   * The `OVERLOADED` error (counted as a refusal) if a request arriving now would be refused, else undefined: for
   * refusing an upload before its body is sent (`Expect: 100-continue`).
   */
  refusal(): HttpError | undefined {
    if (this.#active < this.maxActive || this.#waiters.length < this.maxQueue) return undefined;
    this.#rejected++;
    const now = performance.now();
    this.#refusals.push(now);
    if (this.#refusals.length > MAX_REFUSALS) this.#refusals.shift();
    return new HttpError('OVERLOADED', `the server is at capacity (${this.maxActive} requests in progress, ${this.#waiters.length} queued); retry later`, {
      'retry-after': String(this.retryAfterSeconds()),
    });
  }

  /** Refuses later requests and those still queued (with `UNAVAILABLE`); active ones keep their slots. */
  close(): void {
    this.#closed = true;
    for (const w of this.#waiters.splice(0)) {
      w.detach();
      w.reject(new HttpError('UNAVAILABLE', 'the server is shutting down', { 'retry-after': '5' }));
    }
  }

  /** Completions per second over the recent window. */
  completionRate(): number {
    this.#trim(performance.now());
    const n = this.#completions.length;
    if (n < 2) return 0;
    const span = (performance.now() - this.#completions[0]) / 1000;
    return span > 0 ? n / span : 0;
  }

  /**
   * Seconds until a turn is likely free for a refused client, at least 1 (the header's unit), at most 60. Those
   * ahead of it are the queue and the other clients refused and coming back: a client that honours Retry-After
   * comes back once per Retry-After, so the refusals within the last one given count the clients waiting outside.
   * Sending 100 such clients back after 1 s when 2 turns free up per second would only have them ask again and
   * again, each refusal a connection and a response on the CPUs that run the model.
   */
  retryAfterSeconds(): number {
    const rate = this.completionRate();
    if (rate <= 0) return 1;
    const now = performance.now();
    while (this.#refusals.length > 0 && now - this.#refusals[0] > this.#retryAfter * 1000) this.#refusals.shift();
    const waiting = Math.max(this.#waiters.length + 1, this.#refusals.length);
    this.#retryAfter = Math.min(MAX_RETRY_AFTER_S, Math.max(1, Math.ceil(waiting / rate)));
    return this.#retryAfter;
  }

  #grant(): () => void {
    this.#active++;
    return this.#releaser();
  }

  /** Frees the slot once: it passes straight to the next in line (the active count stays), or is given back. */
  #releaser(): () => void {
    let held = true;
    return () => {
      if (!held) return;
      held = false;
      const now = performance.now();
      this.#completions.push(now);
      if (this.#completions.length > MAX_COMPLETIONS) this.#completions.shift();
      this.#trim(now);
      const next = this.#waiters.shift();
      if (next) {
        next.detach();
        next.resolve(this.#releaser());
      } else {
        this.#active--;
      }
    };
  }

  #trim(now: number): void {
    while (this.#completions.length > 0 && now - this.#completions[0] > RATE_WINDOW_MS) this.#completions.shift();
  }
}
