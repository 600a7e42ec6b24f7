// A VideoIndex is durable: it reopens with the same entries and results, re-adding a video replaces its entries,
// removals stick, another model is refused, and a process killed (SIGKILL) in the middle of add leaves a readable
// index holding every entry that add had reported as done.
import { spawn } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

import { XClipError } from '../../lib/errors';
import { VideoIndex } from '../../lib/search/videoIndex';
import { ROOT, fixturesDir } from '../helpers/fixtures';

const MODEL = path.join(fixturesDir(), 'e2e', 'xclip-e2e-a');
const video = (f: string): string => path.join(fixturesDir(), 'videos', f);
const H264 = video('h264_320x240_30fps.mp4'); // 2 s
const VP9 = video('vp9_176x144_25fps.webm');

/** Every entry of the index, via an exhaustive search. */
async function entries(index: VideoIndex): Promise<Map<string, number>> {
  const hits = await index.search('anything', { k: Math.max(1, index.size), candidates: Math.max(1, index.size) });
  const bySource = new Map<string, number>();
  for (const h of hits) bySource.set(h.source, (bySource.get(h.source) ?? 0) + 1);
  return bySource;
}

describe('VideoIndex persistence', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'xclip-index-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('reopens with the same entries and results, without naming the model again', async () => {
    const a = await VideoIndex.open(dir, { model: MODEL });
    await a.add([H264, VP9], { clipSeconds: 1 });
    const before = await a.search('playing sports', { k: 4 });
    expect(a.size).toBe(4);
    await a.close();
    await expect(a.search('x')).rejects.toMatchObject({ code: 'DISPOSED' });
    const b = await VideoIndex.open(dir);
    expect(b.size).toBe(4);
    expect(b.meta.model.id).toBe(MODEL);
    expect(await b.search('playing sports', { k: 4 })).toEqual(before);
    await b.close();
  });

  it('re-adding a source replaces its entries; remove takes entries out', async () => {
    const index = await VideoIndex.open(dir, { model: MODEL });
    await index.add([H264], { clipSeconds: 0.5 });
    expect(index.size).toBe(4);
    await index.add([H264, VP9]);
    expect(await entries(index)).toEqual(new Map([[H264, 1], [VP9, 1]]));
    expect(await index.remove([`${H264}#0`, 'no-such-id'])).toBe(1);
    expect(index.size).toBe(1);
    const near = await index.similar(`${VP9}#0`, { k: 5 });
    expect(near).toEqual([]);
    await index.close();
  });

  it('overlapping segments with strideSeconds', async () => {
    const index = await VideoIndex.open(dir, { model: MODEL });
    const [r] = await index.add([H264], { clipSeconds: 1, strideSeconds: 0.5 });
    expect(r.entries).toBe(3);
    const hits = await index.search('x', { k: 3, candidates: 3 });
    expect(hits.map((h) => [h.start, h.end]).sort((a, b) => a[0] - b[0])).toEqual([[0, 1], [0.5, 1.5], [1, 2]]);
    await expect(index.add([H264], { strideSeconds: 1 })).rejects.toThrow(RangeError);
    await index.close();
  });

  it('refuses a model other than the one that built it', async () => {
    const index = await VideoIndex.open(dir, { model: MODEL });
    await index.close();
    const err = await VideoIndex.open(dir, { model: 'demo' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(XClipError);
    expect(err).toMatchObject({ code: 'INDEX_MODEL_MISMATCH' });
    expect((err as Error).message).toContain(MODEL);
    await expect(VideoIndex.open(dir, { featureDtype: 'float32' })).rejects.toThrow(RangeError);
  });

  it('refuses a malformed index.json', async () => {
    fs.writeFileSync(path.join(dir, 'index.json'), '{"format": "something else"}');
    await expect(VideoIndex.open(dir, { model: MODEL })).rejects.toMatchObject({ code: 'INDEX_CORRUPT' });
  });

  it('a kill -9 during add leaves a readable index with every entry reported done', async () => {
    const dist = path.join(ROOT, 'dist', 'index.js');
    if (!fs.existsSync(dist)) throw new Error(`${dist} is missing: run "npm run build:ts" first`);
    const child = spawn(process.execPath, [path.join(__dirname, 'helpers', 'addChild.js'), dist, dir, MODEL, H264, VP9], { stdio: ['ignore', 'pipe', 'pipe'] });
    const reported = new Map<string, number>();
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`the child reported ${reported.size} videos in 60 s; stderr: ${stderr}`));
      }, 60_000);
      let buf = '';
      child.stdout.on('data', (d: Buffer) => {
        buf += d.toString();
        const lines = buf.split('\n');
        buf = lines.pop()!;
        for (const line of lines) {
          const m = /^done (\S+) (\d+)$/.exec(line);
          if (m) reported.set(m[1], Number(m[2]));
        }
        // Killed while later videos are being decoded, scored and committed.
        if (reported.size >= 6 && !child.killed) {
          clearTimeout(timer);
          child.kill('SIGKILL');
        }
      });
      child.on('exit', () => resolve());
    });
    expect(child.signalCode).toBe('SIGKILL');
    const index = await VideoIndex.open(dir);
    const found = await entries(index);
    for (const [source, n] of reported) expect([source, found.get(source)]).toEqual([source, n]);
    expect(index.size).toBeLessThan(400 * 4);
    // Still writable after the crash.
    await index.add([H264]);
    expect(index.size).toBe([...found.values()].reduce((a, b) => a + b, 0) + 1);
    await index.close();
  });
});
