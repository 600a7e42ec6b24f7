/**
 * Cancellation with an `AbortSignal`, as `fetch` does it: a call whose signal aborts rejects at once with
 * `signal.reason` (a `DOMException` named `'AbortError'` unless the caller passed another reason to `abort()`),
 * and the work behind it is told to stop.
 * @module
 * @internal
 */
import { typeError } from './validate';

/**
 * An optional `signal` option: undefined, or an AbortSignal. Duck-typed, not instanceof: signals made in another
 * realm (vm contexts, jest) have another constructor.
 * @example
 * const signal = optionalSignal(options.signal);
 */
export function optionalSignal(value: unknown): AbortSignal | undefined {
  if (value === undefined) return undefined;
  const s = value as { aborted?: unknown; addEventListener?: unknown; removeEventListener?: unknown } | null;
  if (typeof s !== 'object' || s === null || typeof s.aborted !== 'boolean' || typeof s.addEventListener !== 'function' || typeof s.removeEventListener !== 'function') {
    throw typeError('signal', 'an AbortSignal', value);
  }
  return value as AbortSignal;
}

/**
 * Settles as `work()` does, or rejects with `signal.reason` as soon as the signal aborts, whichever comes first;
 * `onAbort` runs once on abort so the work can stop early (its own outcome is then dropped). Without a signal it
 * is `work()`. An already aborted signal rejects without starting the work.
 * @example
 * const frames = await abortable(signal, () => binding().video.read(src, opts), () => binding().video.cancel(token));
 */
export async function abortable<T>(signal: AbortSignal | undefined, work: () => Promise<T>, onAbort?: () => void): Promise<T> {
  if (!signal) return work();
  if (signal.aborted) throw signal.reason;
  let listener: (() => void) | undefined;
  const aborted = new Promise<never>((_, reject) => {
    listener = () => {
      onAbort?.();
      reject(signal.reason);
    };
    signal.addEventListener('abort', listener, { once: true });
  });
  try {
    const running = work();
    // Its failure after an abort is nobody's to handle.
    running.catch(() => undefined);
    return await Promise.race([running, aborted]);
  } finally {
    signal.removeEventListener('abort', listener!);
  }
}
