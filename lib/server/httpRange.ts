/**
 * The one `Range` form video elements send (RFC 9110 §14.1.2: a single `bytes=` range, e.g. `bytes=0-`,
 * `bytes=1000-1999`, `bytes=-500`). Several ranges at once are answered with the whole file, which the RFC allows
 * and players never need otherwise.
 * @module
 * @internal
 */

/** What to send for a `Range` header over a file of `size` bytes. */
export type RangeAnswer =
  | { kind: 'whole' }
  | { kind: 'partial'; start: number; end: number } // inclusive end, as Content-Range writes it
  | { kind: 'unsatisfiable' };

/**
 * @example
 * parseRange('bytes=100-', 1000); // { kind: 'partial', start: 100, end: 999 }
 */
export function parseRange(header: string | undefined, size: number): RangeAnswer {
  if (header === undefined) return { kind: 'whole' };
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  // Not a single byte range (another unit, a list, garbage): ignored, as the RFC lets a server do.
  if (!m || (m[1] === '' && m[2] === '')) return { kind: 'whole' };
  let start: number;
  let end: number;
  if (m[1] === '') {
    const suffix = Number(m[2]); // the last N bytes
    if (suffix === 0 || size === 0) return { kind: 'unsatisfiable' };
    start = Math.max(0, size - suffix);
    end = size - 1;
  } else {
    start = Number(m[1]);
    end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
    if (m[2] !== '' && Number(m[2]) < start) return { kind: 'whole' }; // invalid range: ignored
  }
  if (!Number.isSafeInteger(start) || start >= size) return { kind: 'unsatisfiable' };
  return { kind: 'partial', start, end };
}
