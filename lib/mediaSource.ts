/**
 * Where a video named by an untrusted request may come from, in one policy shared by the HTTP server and the job
 * worker: a server-side path only inside a media root (symlinks resolved), a URL only from listed hosts (never a
 * private, loopback or link-local address that is not itself listed, checked on the address actually connected to),
 * inline base64 only up to a size. Everything else is refused with an `XClipError` code `SOURCE_*`.
 * @module
 */
import { randomUUID } from 'node:crypto';
import * as dns from 'node:dns';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';

import { XClipError } from './errors';
import { integerInRange, is, optionalObject, rangeError, typeError } from './validate';
import type { VideoSource } from './video';

/**
 * A video as a request names it: a path on the server, a URL, or the file's bytes as base64 (or a base64 data URI).
 * @example
 * const refs: MediaRef[] = [{ path: 'cats/a.mp4' }, { url: 'https://videos.example.com/b.mp4' }, { data: 'AAAAIGZ0eXBpc29t...' }];
 */
export type MediaRef = { path: string } | { url: string } | { data: string };

/**
 * What a {@link MediaSources} accepts. Every kind of source is refused unless configured here.
 * @example
 * const policy: MediaPolicy = { mediaRoot: '/srv/videos', allowUrlHosts: ['videos.example.com', '10.0.0.0/8'] };
 */
export interface MediaPolicy {
  /** Directory that paths are resolved against and must stay inside once symlinks are resolved. Unset: paths are refused. */
  mediaRoot?: string;
  /**
   * Hosts a URL may name: host names (`videos.example.com`, or `*.example.com` for its subdomains), IP addresses, or
   * CIDR ranges (`10.0.0.0/8`), each optionally with `:port` (a host name or IP) to allow only that port. A private,
   * loopback, link-local or otherwise non-public address is connected to only if that address is listed itself (as
   * an IP or inside a listed range): listing a host name does not vouch for what it resolves to. Unset or empty: URLs
   * are refused.
   */
  allowUrlHosts?: readonly string[];
  /** Most bytes of one fetched URL, default 512 MiB. */
  maxUrlBytes?: number;
  /** Most bytes of one inline (base64) video once decoded, default 64 MiB. */
  maxInlineBytes?: number;
  /** Time limit of one URL fetch, from connecting to the last byte (redirects included), ms; default 60000. */
  urlTimeoutMs?: number;
  /** Redirects followed, only to the same host and port; default 3. */
  maxRedirects?: number;
  /** Directory for fetched files (default: a private directory made under the OS temp dir on first use). */
  tempDir?: string;
}

/**
 * A source ready for the decoder. Call `close()` once the decoder is done with it (it closes descriptors and
 * deletes fetched files); it is idempotent.
 * @example
 * const media = await sources.open({ path: 'a.mp4' });
 * try { await clf.classify(media.source, labels); } finally { await media.close(); }
 */
export interface OpenedMedia {
  /** A path the decoder opens, or the bytes of the file (a {@link VideoSource}, never a URL). */
  readonly source: string | Uint8Array;
  /** Bytes, where known before decoding (inline data, fetched URLs, files under the media root). */
  readonly bytes: number;
  close(): Promise<void>;
}

/** Options of one {@link MediaSources.open} call. */
export interface OpenOptions {
  /** Gives up (rejecting with `signal.reason`) while fetching. */
  signal?: AbortSignal;
}

const MIB = 1024 * 1024;
const POLICY_KEYS = ['mediaRoot', 'allowUrlHosts', 'maxUrlBytes', 'maxInlineBytes', 'urlTimeoutMs', 'maxRedirects', 'tempDir'] as const;

/**
 * Addresses that are not on the public internet (RFC 6890 special-purpose registries): requests must not reach the
 * server's own loopback, its LAN, cloud metadata (169.254.169.254) or multicast through a URL unless listed.
 */
const NON_PUBLIC = ((): net.BlockList => {
  const list = new net.BlockList();
  const v4: [string, number][] = [
    ['0.0.0.0', 8], ['10.0.0.0', 8], ['100.64.0.0', 10], ['127.0.0.0', 8], ['169.254.0.0', 16], ['172.16.0.0', 12],
    ['192.0.0.0', 24], ['192.0.2.0', 24], ['192.88.99.0', 24], ['192.168.0.0', 16], ['198.18.0.0', 15],
    ['198.51.100.0', 24], ['203.0.113.0', 24], ['224.0.0.0', 4], ['240.0.0.0', 4],
  ];
  const v6: [string, number][] = [
    ['::', 128], ['::1', 128], ['64:ff9b::', 96], ['64:ff9b:1::', 48], ['100::', 64], ['2001::', 23], ['2001:db8::', 32],
    ['2002::', 16], ['fc00::', 7], ['fe80::', 10], ['fec0::', 10], ['ff00::', 8],
  ];
  for (const [a, p] of v4) list.addSubnet(a, p, 'ipv4');
  // IPv4-mapped IPv6 (::ffff:a.b.c.d) is checked against the IPv4 rules by BlockList itself.
  for (const [a, p] of v6) list.addSubnet(a, p, 'ipv6');
  return list;
})();

interface HostRule {
  /** Lower-case host name, or the suffix after `*.`; undefined for address rules. */
  name?: string;
  wildcard?: boolean;
  port?: number;
}

interface ParsedHosts {
  names: HostRule[];
  /** Listed IPs and ranges: allowed as URL hosts, and allowed to be connected to even when not public. */
  addresses: net.BlockList;
  /** Ports of listed single IPs, where one was given. */
  addressPorts: Map<string, number>;
  anyAddress: boolean;
}

const familyOf = (ip: string): 'ipv4' | 'ipv6' => (net.isIPv6(ip) ? 'ipv6' : 'ipv4');

function parsePort(text: string, entry: string): number {
  if (!/^\d{1,5}$/.test(text) || Number(text) < 1 || Number(text) > 65535) throw rangeError('allowUrlHosts', 'host[:port] with a port between 1 and 65535', entry);
  return Number(text);
}

function parseHosts(entries: readonly string[]): ParsedHosts {
  const out: ParsedHosts = { names: [], addresses: new net.BlockList(), addressPorts: new Map(), anyAddress: false };
  for (const raw of entries) {
    if (!is.string(raw)) throw typeError('allowUrlHosts[]', 'string', raw);
    const entry = raw.trim().toLowerCase();
    const cidr = /^\[?([0-9a-f:.]+)\]?\/(\d{1,3})$/.exec(entry);
    if (cidr && net.isIP(cidr[1])) {
      const max = net.isIPv6(cidr[1]) ? 128 : 32;
      if (Number(cidr[2]) > max) throw rangeError('allowUrlHosts', `a prefix length of at most ${max}`, raw);
      out.addresses.addSubnet(cidr[1], Number(cidr[2]), familyOf(cidr[1]));
      out.anyAddress = true;
      continue;
    }
    // [v6]:port, v6, v4:port, v4, name:port, name
    let host = entry;
    let port: string | undefined;
    const bracket = /^\[([0-9a-f:.]+)\](?::(\d+))?$/.exec(entry);
    if (bracket) {
      [, host, port] = bracket;
    } else if (!net.isIPv6(entry) && entry.includes(':')) {
      host = entry.slice(0, entry.lastIndexOf(':'));
      port = entry.slice(entry.lastIndexOf(':') + 1);
    }
    if (net.isIP(host)) {
      out.addresses.addAddress(host, familyOf(host));
      if (port !== undefined) out.addressPorts.set(host, parsePort(port, raw));
      out.anyAddress = true;
      continue;
    }
    const wildcard = host.startsWith('*.');
    const name = wildcard ? host.slice(2) : host;
    if (!/^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/.test(name)) {
      throw rangeError('allowUrlHosts', 'host names, IP addresses or CIDR ranges, each optionally with :port', raw);
    }
    out.names.push({ name, wildcard, port: port === undefined ? undefined : parsePort(port, raw) });
  }
  return out;
}

/** `inner` is `root` or below it (both absolute and normalised). */
function isInside(root: string, inner: string): boolean {
  const rel = path.relative(root, inner);
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
}

function defaultPort(url: URL): number {
  return url.port ? Number(url.port) : url.protocol === 'https:' ? 443 : 80;
}

/**
 * Counts bytes through a stream and fails it with `tooLarge()` once they pass `max`.
 * @example
 * await pipeline(upload, new ByteLimit(1 << 20, () => new Error('over 1 MiB')), fs.createWriteStream(file));
 */
export class ByteLimit extends Transform {
  bytes = 0;
  readonly #max: number;
  readonly #tooLarge: () => Error;

  constructor(max: number, tooLarge: () => Error) {
    super();
    this.#max = max;
    this.#tooLarge = tooLarge;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.bytes += chunk.length;
    if (this.bytes > this.#max) done(this.#tooLarge());
    else done(null, chunk);
  }
}

/**
 * Opens videos named by requests under a {@link MediaPolicy}. One instance per server or worker; it is cheap and
 * holds no open resources except the temp directory, which {@link dispose} removes.
 * @example
 * const sources = new MediaSources({ mediaRoot: '/srv/videos', allowUrlHosts: ['videos.example.com'] });
 * const media = await sources.open({ url: 'https://videos.example.com/a.mp4' }, { signal });
 * try {
 *   console.log(await clf.classify(media.source, ['cooking', 'dancing']));
 * } finally {
 *   await media.close();
 * }
 */
export class MediaSources {
  readonly maxUrlBytes: number;
  readonly maxInlineBytes: number;
  readonly urlTimeoutMs: number;
  readonly maxRedirects: number;
  readonly #mediaRoot: string | undefined;
  readonly #hosts: ParsedHosts | undefined;
  #realRoot: Promise<string> | undefined;
  #tempDir: Promise<string> | undefined;
  readonly #ownsTempDir: boolean;

  constructor(policy: MediaPolicy = {}) {
    const p = optionalObject('policy', policy, POLICY_KEYS) as MediaPolicy;
    if (p.mediaRoot !== undefined && (!is.string(p.mediaRoot) || p.mediaRoot.length === 0)) throw typeError('mediaRoot', 'a directory path', p.mediaRoot);
    if (p.allowUrlHosts !== undefined && !Array.isArray(p.allowUrlHosts)) throw typeError('allowUrlHosts', 'an array of host names', p.allowUrlHosts);
    if (p.tempDir !== undefined && (!is.string(p.tempDir) || p.tempDir.length === 0)) throw typeError('tempDir', 'a directory path', p.tempDir);
    this.maxUrlBytes = integerInRange('maxUrlBytes', p.maxUrlBytes ?? 512 * MIB, 1, Number.MAX_SAFE_INTEGER);
    this.maxInlineBytes = integerInRange('maxInlineBytes', p.maxInlineBytes ?? 64 * MIB, 1, 2 ** 31 - 1);
    this.urlTimeoutMs = integerInRange('urlTimeoutMs', p.urlTimeoutMs ?? 60000, 1, 2 ** 31 - 1);
    this.maxRedirects = integerInRange('maxRedirects', p.maxRedirects ?? 3, 0, 20);
    this.#mediaRoot = p.mediaRoot === undefined ? undefined : path.resolve(p.mediaRoot);
    this.#hosts = p.allowUrlHosts && p.allowUrlHosts.length > 0 ? parseHosts(p.allowUrlHosts) : undefined;
    this.#ownsTempDir = p.tempDir === undefined;
    if (p.tempDir !== undefined) this.#tempDir = Promise.resolve(p.tempDir);
  }

  /** Whether paths are accepted (a media root is set). */
  get acceptsPaths(): boolean {
    return this.#mediaRoot !== undefined;
  }

  /** Whether URLs are accepted (hosts are listed). */
  get acceptsUrls(): boolean {
    return this.#hosts !== undefined;
  }

  /**
   * Checks a reference against the policy and makes it readable by the decoder.
   * @example
   * const media = await sources.open({ data: base64 });
   */
  async open(ref: MediaRef, options: OpenOptions = {}): Promise<OpenedMedia> {
    if (!is.object(ref as unknown)) throw typeError('video', 'an object with one of path, url or data', ref);
    const keys = Object.keys(ref);
    if (keys.length !== 1 || !['path', 'url', 'data'].includes(keys[0])) throw typeError('video', 'an object with exactly one of path, url or data', ref);
    const value = (ref as Record<string, unknown>)[keys[0]];
    if (!is.string(value) || value.length === 0) throw typeError(`video.${keys[0]}`, 'a non-empty string', value);
    if ('path' in ref) return this.openPath(value);
    if ('url' in ref) return this.fetchUrl(value, options.signal);
    return this.decodeInline(value);
  }

  /**
   * A path relative to the media root (or absolute inside it). The file is opened here and handed to the decoder as
   * `/proc/self/fd/N`, so what the decoder reads is the file that was checked, even if a symlink is swapped later.
   * @example
   * const media = await sources.openPath('cats/a.mp4');
   */
  async openPath(p: string): Promise<OpenedMedia> {
    if (!is.string(p) || p.length === 0 || p.includes('\0')) throw typeError('video.path', 'a non-empty path without NUL bytes', p);
    if (this.#mediaRoot === undefined) throw new XClipError('SOURCE_FORBIDDEN', 'server-side paths are not accepted: no media root is set');
    this.#realRoot ??= fs.promises.realpath(this.#mediaRoot);
    const root = await this.#realRoot;
    const candidate = path.resolve(root, p);
    const outside = (): XClipError => new XClipError('SOURCE_FORBIDDEN', `path ${JSON.stringify(p)} is outside the media root`);
    if (!isInside(root, candidate)) throw outside();
    let handle: fs.promises.FileHandle;
    try {
      // O_NONBLOCK: opening a FIFO placed under the root must not hang; it changes nothing for regular files.
      handle = await fs.promises.open(candidate, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') throw new XClipError('FILE_NOT_FOUND', `video not found: ${JSON.stringify(p)}`);
      if (code === 'EACCES' || code === 'EPERM' || code === 'ELOOP') throw new XClipError('SOURCE_FORBIDDEN', `video ${JSON.stringify(p)} cannot be opened (${code})`);
      throw new XClipError('IO_ERROR', `opening ${JSON.stringify(p)} failed: ${(err as Error).message}`);
    }
    try {
      const fdPath = `/proc/self/fd/${handle.fd}`;
      let real: string;
      let source = fdPath;
      try {
        real = await fs.promises.readlink(fdPath);
      } catch {
        // No /proc: the check falls back to the resolved path (a swap between check and decode is then possible).
        real = await fs.promises.realpath(candidate);
        source = real;
      }
      if (!isInside(root, real)) throw outside();
      const stat = await handle.stat();
      if (!stat.isFile()) throw new XClipError('SOURCE_FORBIDDEN', `path ${JSON.stringify(p)} is not a regular file`);
      let closed = false;
      return {
        source,
        bytes: stat.size,
        close: async () => {
          if (closed) return;
          closed = true;
          await handle.close();
        },
      };
    } catch (err) {
      await handle.close();
      throw err;
    }
  }

  /**
   * Base64 bytes of a whole file, or a base64 data URI (`data:video/mp4;base64,...`); the size is checked before
   * anything is decoded.
   * @example
   * const media = sources.decodeInline(fs.readFileSync('a.mp4').toString('base64'));
   */
  decodeInline(data: string): OpenedMedia {
    if (!is.string(data) || data.length === 0) throw typeError('video.data', 'a non-empty base64 string', data);
    let b64 = data;
    if (data.startsWith('data:')) {
      const comma = data.indexOf(',');
      if (comma < 0 || !/;base64$/i.test(data.slice(0, comma))) throw new XClipError('INVALID_INPUT', 'a data URI for a video must be base64 (data:<type>;base64,<bytes>)');
      b64 = data.slice(comma + 1);
    }
    const padding = b64.endsWith('==') ? 2 : b64.endsWith('=') ? 1 : 0;
    const expected = (b64.length / 4) * 3 - padding;
    if (expected > this.maxInlineBytes) {
      throw new XClipError('SOURCE_TOO_LARGE', `inline video of ${Math.floor(expected)} bytes is over the limit of ${this.maxInlineBytes} bytes`);
    }
    const bytes = Buffer.from(b64, 'base64');
    // Buffer.from skips characters outside the alphabet silently: a length mismatch is how they show.
    if (b64.length % 4 !== 0 || bytes.length !== expected || bytes.length === 0) {
      throw new XClipError('INVALID_INPUT', 'inline video data is not valid base64 (standard alphabet, padded)');
    }
    return { source: bytes, bytes: bytes.length, close: async () => undefined };
  }

  /**
   * Downloads a URL from a listed host into the temp directory, following redirects only to the same host and
   * port, within the size and time limits.
   * @example
   * const media = await sources.fetchUrl('https://videos.example.com/a.mp4', AbortSignal.timeout(5000));
   */
  async fetchUrl(raw: string, signal?: AbortSignal): Promise<OpenedMedia> {
    if (!is.string(raw) || raw.length === 0) throw typeError('video.url', 'an http(s) URL', raw);
    if (this.#hosts === undefined) throw new XClipError('SOURCE_FORBIDDEN', 'URLs are not accepted: no hosts are allowed for fetching');
    let url: URL;
    try {
      url = new URL(raw);
    } catch {
      throw new XClipError('INVALID_INPUT', `not a URL: ${JSON.stringify(raw)}`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new XClipError('SOURCE_FORBIDDEN', `only http and https URLs are fetched, not ${url.protocol}`);
    if (url.username || url.password) throw new XClipError('SOURCE_FORBIDDEN', 'URLs with credentials are not fetched');
    this.#checkHost(url);
    const timeout = AbortSignal.timeout(this.urlTimeoutMs);
    const deadline = signal ? AbortSignal.any([signal, timeout]) : timeout;
    const origin = `${url.hostname}:${defaultPort(url)}`;
    let file: string | undefined;
    const remove = async (): Promise<void> => {
      if (file !== undefined) await fs.promises.rm(file, { force: true });
    };
    try {
      for (let redirects = 0; ; redirects++) {
        const res = await this.#get(url, deadline);
        const location = res.headers.location;
        if (res.statusCode !== undefined && res.statusCode >= 300 && res.statusCode < 400 && location !== undefined) {
          res.resume();
          const next = new URL(location, url);
          if (`${next.hostname}:${defaultPort(next)}` !== origin || (next.protocol !== 'http:' && next.protocol !== 'https:')) {
            throw new XClipError('SOURCE_FORBIDDEN', `${url.href} redirects to another host (${next.host}), which is not followed`);
          }
          if (redirects >= this.maxRedirects) throw new XClipError('SOURCE_FAILED', `${raw} redirects more than ${this.maxRedirects} times`);
          url = next;
          continue;
        }
        if (res.statusCode !== 200) {
          res.resume();
          throw new XClipError('SOURCE_FAILED', `GET ${url.href} answered ${res.statusCode ?? 'nothing'}`);
        }
        const length = Number(res.headers['content-length']);
        if (Number.isFinite(length) && length > this.maxUrlBytes) {
          res.destroy();
          throw new XClipError('SOURCE_TOO_LARGE', `${url.href} is ${length} bytes, over the limit of ${this.maxUrlBytes} bytes`);
        }
        const limit = new ByteLimit(this.maxUrlBytes, () => new XClipError('SOURCE_TOO_LARGE', `${url.href} is larger than the limit of ${this.maxUrlBytes} bytes`));
        file = path.join(await this.#dir(), `url-${randomUUID()}`);
        await pipeline(res, limit, fs.createWriteStream(file, { flags: 'wx', mode: 0o600 }), { signal: deadline });
        let closed = false;
        return {
          source: file,
          bytes: limit.bytes,
          close: async () => {
            if (closed) return;
            closed = true;
            await remove();
          },
        };
      }
    } catch (err) {
      await remove();
      if (signal?.aborted) throw signal.reason;
      if (timeout.aborted) throw new XClipError('SOURCE_TIMEOUT', `fetching ${raw} took longer than ${this.urlTimeoutMs} ms`);
      if (err instanceof XClipError) throw err;
      throw new XClipError('SOURCE_FAILED', `fetching ${raw} failed: ${(err as Error).message}`);
    }
  }

  /** Removes the temp directory this instance made (fetched files still open are the caller's to close first). */
  async dispose(): Promise<void> {
    if (this.#ownsTempDir && this.#tempDir) {
      const dir = await this.#tempDir.catch(() => undefined);
      this.#tempDir = undefined;
      if (dir) await fs.promises.rm(dir, { recursive: true, force: true });
    }
  }

  #dir(): Promise<string> {
    this.#tempDir ??= fs.promises.mkdtemp(path.join(os.tmpdir(), 'xclip-media-'));
    return this.#tempDir;
  }

  /** The URL's host must be listed (by name, or as an address for IP-literal URLs), on the listed port if any. */
  #checkHost(url: URL): void {
    const hosts = this.#hosts!;
    const host = url.hostname.replace(/^\[|\]$/g, '').toLowerCase();
    const port = defaultPort(url);
    const refuse = (): XClipError => new XClipError('SOURCE_FORBIDDEN', `host ${url.host} is not allowed for fetching`);
    if (net.isIP(host)) {
      if (!hosts.addresses.check(host, familyOf(host))) throw refuse();
      const only = hosts.addressPorts.get(host);
      if (only !== undefined && only !== port) throw refuse();
      this.#checkAddress(host, url.host);
      return;
    }
    const ok = hosts.names.some((r) => (r.wildcard ? host.endsWith(`.${r.name}`) : host === r.name) && (r.port === undefined || r.port === port));
    if (!ok) throw refuse();
  }

  /** An address about to be connected to: public, or listed itself. */
  #checkAddress(address: string, host: string): void {
    const family = familyOf(address);
    if (NON_PUBLIC.check(address, family) && !this.#hosts!.addresses.check(address, family)) {
      throw new XClipError('SOURCE_FORBIDDEN', `${host} resolves to ${address}, a non-public address that is not allowed for fetching`);
    }
  }

  /** One GET whose connection goes only to addresses that pass #checkAddress (checked in the lookup the socket uses). */
  #get(url: URL, signal: AbortSignal): Promise<http.IncomingMessage> {
    const lookup = (hostname: string, options: dns.LookupOptions, callback: (...args: unknown[]) => void): void => {
      dns.lookup(hostname, { all: true, verbatim: true, family: options.family }, (err, addresses) => {
        if (err) return callback(err);
        const allowed: dns.LookupAddress[] = [];
        let refusal: unknown;
        for (const a of addresses) {
          try {
            this.#checkAddress(a.address, hostname);
            allowed.push(a);
          } catch (e) {
            refusal = e;
          }
        }
        if (allowed.length === 0) return callback(refusal ?? new XClipError('SOURCE_FAILED', `${hostname} has no address`));
        if (options.all) return callback(null, allowed);
        return callback(null, allowed[0].address, allowed[0].family);
      });
    };
    const get = url.protocol === 'https:' ? https.get : http.get;
    return new Promise((resolve, reject) => {
      const req = get(url, { lookup: lookup as unknown as net.LookupFunction, signal, headers: { 'user-agent': 'xclip-node', accept: '*/*' } }, resolve);
      req.on('error', reject);
    });
  }
}
