/**
 * API-key check: `Authorization: Bearer KEY` (as OpenAI clients send it) or `X-API-Key: KEY`.
 * @module
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';

import { HttpError } from './errors';

const digest = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest();

/**
 * A checker for one key. The comparison is constant-time over SHA-256 digests, so neither the key's bytes nor its
 * length show in response times.
 * @example
 * const check = apiKeyChecker('s3cret');
 * check(request.headers); // throws HttpError UNAUTHORIZED unless the key matches
 */
export function apiKeyChecker(key: string): (headers: IncomingHttpHeaders) => void {
  if (key.length === 0) throw new RangeError('Expected a non-empty string for apiKey but received ""');
  const expected = digest(key);
  return (headers) => {
    const auth = headers.authorization;
    const bearer = typeof auth === 'string' && /^bearer /i.test(auth) ? auth.slice(7).trim() : undefined;
    const header = headers['x-api-key'];
    const given = bearer ?? (typeof header === 'string' ? header : undefined);
    if (given === undefined) throw new HttpError('UNAUTHORIZED', 'missing API key: send "Authorization: Bearer <key>" or "X-API-Key: <key>"', { 'www-authenticate': 'Bearer' });
    if (!timingSafeEqual(digest(given), expected)) throw new HttpError('UNAUTHORIZED', 'wrong API key', { 'www-authenticate': 'Bearer' });
  };
}
