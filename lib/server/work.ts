/**
 * What one request to a model route holds while it runs: an AbortSignal (client gone, request timeout, shutdown
 * deadline), its admission slot, and the temp files and sources to release. Everything is released once, after
 * both the response is done and every piece of work the request started has settled: a response sent early (a
 * timeout) must not free the slot or delete a file while a decoder still reads it.
 * @module
 */
import type { FastifyReply, FastifyRequest } from 'fastify';

import { HttpError } from './errors';

/**
 * @example
 * const work = new RequestWork(30_000);
 * const scores = await work.race(work.track(clf.classify(file, labels)));
 * await work.finish();
 */
export class RequestWork {
  readonly #controller = new AbortController();
  readonly #pending = new Set<Promise<unknown>>();
  readonly #cleanups: (() => unknown)[] = [];
  readonly #timer: NodeJS.Timeout | undefined;
  #release: (() => void) | undefined;
  #finished: Promise<void> | undefined;

  /** `timeoutMs` 0: no timeout. */
  constructor(timeoutMs: number) {
    if (timeoutMs > 0) {
      this.#timer = setTimeout(() => this.abort(new HttpError('TIMEOUT', `the request took longer than ${timeoutMs} ms`)), timeoutMs);
      this.#timer.unref();
    }
  }

  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  /** Ends the request's work with `reason` (an HttpError: TIMEOUT, CANCELLED, UNAVAILABLE); the first reason wins. */
  abort(reason: HttpError): void {
    this.#controller.abort(reason);
  }

  /** Holds the admission slot until {@link finish}. */
  holdSlot(release: () => void): void {
    this.#release = release;
  }

  /** Something to run once the work has settled (close a source, delete a file). */
  onFinish(cleanup: () => unknown): void {
    if (this.#finished) void Promise.resolve().then(cleanup);
    else this.#cleanups.push(cleanup);
  }

  /** Registers work that must settle before the request's resources are released; returns it unchanged. */
  track<T>(work: Promise<T>): Promise<T> {
    this.#pending.add(work);
    const settle = (): void => void this.#pending.delete(work);
    work.then(settle, settle);
    return work;
  }

  /** Settles with `work`, or rejects with the abort reason as soon as the request is aborted. */
  race<T>(work: Promise<T>): Promise<T> {
    const signal = this.signal;
    if (signal.aborted) return Promise.reject(signal.reason);
    return new Promise<T>((resolve, reject) => {
      const onAbort = (): void => reject(signal.reason);
      signal.addEventListener('abort', onAbort, { once: true });
      work.then(
        (v) => {
          signal.removeEventListener('abort', onAbort);
          resolve(v);
        },
        (e: unknown) => {
          signal.removeEventListener('abort', onAbort);
          reject(e);
        },
      );
    });
  }

  /** Whether {@link finish} has been called. */
  get finishing(): boolean {
    return this.#finished !== undefined;
  }

  /**
   * Waits for all tracked work (including work tracked while waiting), then runs the cleanups and frees the slot.
   * Idempotent: every caller gets the same promise.
   */
  finish(): Promise<void> {
    this.#finished ??= (async () => {
      clearTimeout(this.#timer);
      while (this.#pending.size > 0) await Promise.allSettled([...this.#pending]);
      for (const cleanup of this.#cleanups.splice(0)) {
        try {
          await cleanup();
        } catch {
          // A cleanup that fails (a file already gone) must not keep the others or the slot.
        }
      }
      this.#release?.();
      this.#release = undefined;
    })();
    return this.#finished;
  }
}

/**
 * Wraps a model route's handler so that the handler itself counts as the request's work: resources are released
 * only once it has returned, even if the client left while it ran; and an aborted request is answered at once with
 * the abort's reason (504 TIMEOUT, 503 at a shutdown deadline). Use it for every route with `config.work`.
 * @example
 * app.post('/v1/thing', { config: { work: true } }, workHandler(async (request, reply, work) => ({ ok: true })));
 */
export function workHandler<R>(
  handler: (request: FastifyRequest, reply: FastifyReply, work: RequestWork) => Promise<R>,
): (request: FastifyRequest, reply: FastifyReply) => Promise<R> {
  return (request, reply) => {
    const work = request.work;
    if (!work) return Promise.reject(new Error('workHandler on a route without config.work'));
    if (work.signal.aborted) return Promise.reject(work.signal.reason);
    // The answer goes out as soon as the request is aborted (timeout, shutdown); the handler's work runs on, tracked.
    return work.race(work.track(handler(request, reply, work))).catch((err: unknown) => {
      throw work.signal.aborted ? work.signal.reason : err;
    });
  };
}
