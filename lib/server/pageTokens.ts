/**
 * Opaque references to index entries for the search page. The page must not learn the server's paths (an entry id
 * is `<absolute path>#<segment>`), yet its thumbnails and video elements need URLs for entries: each URL carries the
 * entry id sealed with AES-256-GCM under a key made when the server starts. A token cannot be read or forged by the
 * page, so it also serves as the capability to fetch that entry's media. The IV is derived from the id (an HMAC, as
 * in SIV), so one entry keeps one URL for the server's lifetime and the browser's cache works.
 * @module
 * @internal
 */
import { createCipheriv, createDecipheriv, createHmac, randomBytes } from 'node:crypto';

const IV_BYTES = 12;
const TAG_BYTES = 16;

/** Seals and opens entry ids; one per server. */
export class PageTokens {
  readonly #key = randomBytes(32);
  readonly #ivKey = randomBytes(32);

  /** The token of an entry id (URL-safe base64). */
  seal(id: string): string {
    const plain = Buffer.from(id, 'utf8');
    const iv = createHmac('sha256', this.#ivKey).update(plain).digest().subarray(0, IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.#key, iv);
    const body = Buffer.concat([cipher.update(plain), cipher.final()]);
    return Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64url');
  }

  /** The entry id a token was made from, or undefined for anything this server did not make. */
  open(token: string): string | undefined {
    if (typeof token !== 'string' || token.length > 8192 || !/^[\w-]+$/.test(token)) return undefined;
    const raw = Buffer.from(token, 'base64url');
    if (raw.length <= IV_BYTES + TAG_BYTES) return undefined;
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.#key, raw.subarray(0, IV_BYTES));
      decipher.setAuthTag(raw.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
      return Buffer.concat([decipher.update(raw.subarray(IV_BYTES + TAG_BYTES)), decipher.final()]).toString('utf8');
    } catch {
      return undefined;
    }
  }
}
