/**
 * Thumbnails of index entries for the search page: the frame in the middle of the segment, from our own decoder
 * (videoThumbnail: FFmpeg decode + mjpeg encode), cached as files beside the index (`<db>/thumbs/<key>.jpg`). The
 * key hashes what determines the image (the file's identity, size and modification time, the time and the
 * encoding settings), so a changed video gets a new thumbnail and the key doubles as a strong ETag.
 * @module
 * @internal
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';

import type { MediaSources } from '../mediaSource';
import type { IndexEntry } from '../search/videoIndex';
import { Slots } from '../slots';
import { videoThumbnail } from '../video';
import { HttpError } from './errors';

/** One thumbnail: its ETag, and its bytes unless the client already has them. */
export interface ThumbnailAnswer {
  etag: string;
  jpeg?: Buffer;
}

const MAX_WIDTH = 320;
const QUALITY = 5;
/** Bumped when the rendering changes, so cached files made the old way are not served as the new. */
const RENDERING = 1;

/**
 * @example
 * const thumbs = new ThumbnailCache(() => path.join(db, 'thumbs'), media);
 * const { etag, jpeg } = await thumbs.get(entry, { ifNoneMatch: req.headers['if-none-match'] });
 */
export class ThumbnailCache {
  readonly #dir: () => string;
  readonly #media: MediaSources;
  // A results page asks for a few dozen at once: two decoders at a time, a bounded line behind them.
  readonly #slots = new Slots(2);
  readonly #maxWaiting = 256;
  readonly #making = new Map<string, Promise<Buffer>>();

  /** `dir`: where the files go, asked for when one is made (the index may still be opening at start-up). */
  constructor(dir: () => string, media: MediaSources) {
    this.#dir = dir;
    this.#media = media;
  }

  /** The entry's thumbnail; the file is read under the media policy (paths only inside the media root). */
  async get(entry: IndexEntry, options: { ifNoneMatch?: string } = {}): Promise<ThumbnailAnswer> {
    const opened = await this.#media.openPath(entry.source);
    try {
      const st = await fs.promises.stat(opened.source as string); // openPath always gives a path
      const seconds = Math.max(0, (entry.start + entry.end) / 2);
      const key = createHash('sha256')
        .update(JSON.stringify([RENDERING, st.dev, st.ino, st.size, st.mtimeMs, seconds, MAX_WIDTH, QUALITY]))
        .digest('base64url')
        .slice(0, 32);
      const etag = `"${key}"`;
      if (options.ifNoneMatch !== undefined && options.ifNoneMatch.split(',').some((t) => t.trim().replace(/^W\//, '') === etag)) return { etag };
      const dir = this.#dir();
      const file = path.join(dir, `${key}.jpg`);
      try {
        return { etag, jpeg: await fs.promises.readFile(file) };
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
      let making = this.#making.get(key);
      if (!making) {
        if (this.#slots.waiting >= this.#maxWaiting) throw new HttpError('OVERLOADED', 'too many thumbnails are being made', { 'retry-after': '1' });
        making = this.#slots.use(() => this.#make(opened.source, seconds, dir, file));
        this.#making.set(key, making);
        const forget = (): void => void this.#making.delete(key);
        making.then(forget, forget);
      }
      return { etag, jpeg: await making };
    } finally {
      await opened.close();
    }
  }

  async #make(source: string | Uint8Array, seconds: number, dir: string, file: string): Promise<Buffer> {
    const { jpeg } = await videoThumbnail(source, seconds, { maxWidth: MAX_WIDTH, quality: QUALITY });
    await fs.promises.mkdir(dir, { recursive: true });
    // Written aside and renamed: a reader never sees half a file, and concurrent servers on one index agree.
    const tmp = `${file}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
    await fs.promises.writeFile(tmp, jpeg);
    await fs.promises.rename(tmp, file);
    return jpeg;
  }
}
