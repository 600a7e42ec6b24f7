/**
 * Errors raised by the native core, each with a stable `code`.
 * @module
 */

/**
 * Every code the native core reports (the names of `xclip::ErrorCode`), plus those of this layer: `DISPOSED`, the
 * hub's `HUB_*`, the media-source codes (`SOURCE_*`, lib/mediaSource.ts), and `ADDON_LOAD_FAILED` when the addon
 * itself cannot load.
 */
export type XClipErrorCode =
  | 'CONFIG_INVALID'
  | 'FILE_NOT_FOUND'
  | 'IO_ERROR'
  | 'WEIGHTS_CORRUPT'
  | 'WEIGHTS_MISMATCH'
  | 'INVALID_INPUT'
  | 'NON_FINITE_INPUT'
  | 'DEVICE_UNAVAILABLE'
  | 'TOKENIZER_ERROR'
  | 'VIDEO_OPEN_FAILED'
  | 'VIDEO_NO_STREAM'
  | 'VIDEO_DECODE_FAILED'
  | 'VIDEO_UNSUPPORTED'
  | 'VIDEO_TOO_LARGE'
  | 'VIDEO_TIMEOUT'
  | 'CANCELLED'
  | 'INTERNAL'
  | 'DISPOSED'
  | 'INDEX_MODEL_MISMATCH'
  | 'INDEX_CORRUPT'
  | 'HUB_NOT_FOUND'
  | 'HUB_UNAUTHORIZED'
  | 'HUB_OFFLINE'
  | 'HUB_DOWNLOAD_FAILED'
  | 'HUB_INTEGRITY'
  | 'ADDON_LOAD_FAILED'
  | 'SOURCE_FORBIDDEN'
  | 'SOURCE_TOO_LARGE'
  | 'SOURCE_TIMEOUT'
  | 'SOURCE_FAILED';

/**
 * A failure reported by the native core (bad checkpoint, bad config, invalid input, ...) or a call on a disposed
 * model. Its stack starts at the caller's call site, not inside the addon.
 * @example
 * try {
 *   await XCLIPModel.fromPretrained('/no/such/dir');
 * } catch (err) {
 *   if (err instanceof XClipError && err.code === 'FILE_NOT_FOUND') console.error(err.message);
 * }
 */
export class XClipError extends Error {
  /** Stable machine-readable reason, e.g. `'WEIGHTS_MISMATCH'`. */
  readonly code: XClipErrorCode;

  constructor(code: XClipErrorCode, message: string, callSite?: Error) {
    super(message);
    this.name = 'XClipError';
    this.code = code;
    if (callSite?.stack) {
      // As sharp does: keep the caller's frames (captured before the native call) under our message.
      const frames = callSite.stack.split('\n').slice(1).join('\n');
      this.stack = `${this.name} [${code}]: ${message}\n${frames}`;
    }
  }
}

/** Turns whatever the addon threw into an XClipError located at `callSite`; other errors pass through. */
export function toXClipError(err: unknown, callSite: Error): unknown {
  if (err instanceof XClipError) return err;
  // Duck-typed, not instanceof Error: the addon's errors belong to the main realm, which differs from the
  // caller's under vm contexts (jest).
  const e = err as { code?: unknown; message?: unknown } | null;
  if (typeof e === 'object' && e !== null && typeof e.code === 'string' && typeof e.message === 'string') {
    return new XClipError(e.code as XClipErrorCode, e.message, callSite);
  }
  return err;
}

/**
 * Runs a native call (sync throw or rejected promise) and rethrows native failures as XClipError with the
 * caller's stack. Capture `callSite` with `new Error()` in the public method, before its first await.
 */
export async function callNative<T>(callSite: Error, fn: () => T | Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw toXClipError(err, callSite);
  }
}

/**
 * The same failure seen from another caller: an XClipError is copied with `callSite`'s stack (work shared by
 * several callers, such as one batch, would otherwise show where it ran, not who asked); other errors pass through.
 */
export function atCallSite(err: unknown, callSite: Error): unknown {
  return err instanceof XClipError ? new XClipError(err.code, err.message, callSite) : err;
}

/** Synchronous variant of callNative. */
export function callNativeSync<T>(callSite: Error, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw toXClipError(err, callSite);
  }
}
