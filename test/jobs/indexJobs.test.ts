// Many workers fill one search index through the queue: two `xclip-node worker --db DIR` processes (compiled dist/,
// a real redis-server) take `index` jobs that `xclip-node enqueue index --wait` adds. Afterwards the index holds
// every entry once, and its search returns the logits of one in-process VideoIndex.add of the same files.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

import { VideoIndex } from '../../lib/search/videoIndex';
import { type RedisServer, startRedis } from '../helpers/redis';
import { E2E_MODEL, VIDEOS, type WorkerProcess, runCli as run, spawnWorker } from '../helpers/workers';

const NAMES = ['h264_320x240_30fps.mp4', 'vp9_176x144_25fps.webm', 'mjpeg_144x256_portrait.mov', 'mpeg4_160x120_24fps.avi', 'rotated90_h264_320x180.mp4', 'vfr_h264_192x108.mp4'];
const QUERIES = ['playing sports', 'eating spaghetti', 'a dog running on the beach'];
const CLIP_SECONDS = 1;


let redis: RedisServer;
let tmp: string;
const workers: WorkerProcess[] = [];

beforeAll(async () => {
  redis = await startRedis();
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'xclip-index-jobs-'));
}, 30000);
afterAll(async () => {
  for (const w of workers) w.kill('SIGTERM');
  await Promise.all(workers.map((w) => w.exited));
  await redis?.stop();
  fs.rmSync(tmp, { recursive: true, force: true });
}, 60000);

describe('index jobs', () => {
  it('two worker processes fill one index: every entry once, and search gives the logits of one VideoIndex.add', async () => {
    const db = path.join(tmp, 'shared');
    // One job at a time each, so that both take jobs and commit to the same table concurrently.
    for (const name of ['idx-a', 'idx-b']) workers.push(spawnWorker(redis.url, name, ['--queue', 'idx', '--db', db, '--concurrency', '1']));
    await Promise.all(workers.map((w) => w.ready));

    // The first file again at the end: its entries are replaced, not added twice.
    const files = [...NAMES, NAMES[0]].map((n) => path.join(VIDEOS, n));
    const r = await run(['enqueue', 'index', ...files, '--clip-seconds', String(CLIP_SECONDS), '--media-root', VIDEOS, '--redis', redis.url, '--queue', 'idx', '--wait']);
    expect([r.code, r.stderr]).toEqual([0, '']);
    const records = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { file: string; source: string; entries: { id: string; start: number; end: number }[] });
    expect(records.map((x) => [x.file, x.source])).toEqual(files.map((f) => [f, path.basename(f)]));

    // The same files in one process, stored under the same names.
    const reference = await VideoIndex.open(path.join(tmp, 'reference'), { model: E2E_MODEL });
    const shared = await VideoIndex.open(db);
    try {
      const added = await reference.add(NAMES.map((n) => ({ source: n, path: path.join(VIDEOS, n) })), { clipSeconds: CLIP_SECONDS });
      expect(added.every((a) => a.error === undefined)).toBe(true);
      const expectedIds = added.flatMap((a) => a.added.map((e) => e.id)).sort();
      // Each job's result lists the entries it added, as add() reports them.
      expect(records.slice(0, NAMES.length).map((x) => x.entries)).toEqual(added.map((a) => a.added));
      expect(records.at(-1)!.entries).toEqual(added[0].added);

      expect(shared.size).toBe(expectedIds.length);
      const all = await shared.search(QUERIES[0], { k: expectedIds.length, candidates: expectedIds.length });
      expect(all.map((h) => h.id).sort()).toEqual(expectedIds);
      for (const q of QUERIES) {
        const n = expectedIds.length;
        const [got, want] = await Promise.all([shared.search(q, { k: n, candidates: n }), reference.search(q, { k: n, candidates: n })]);
        const logits = new Map(want.map((h) => [h.id, h]));
        for (const h of got) {
          expect(h).toMatchObject({ source: logits.get(h.id)!.source, start: logits.get(h.id)!.start, end: logits.get(h.id)!.end });
          expect(Math.abs(h.logit - logits.get(h.id)!.logit)).toBeLessThan(1e-4);
        }
      }
    } finally {
      await Promise.all([reference.close(), shared.close()]);
    }
    // Both workers did some of the work.
    for (const w of workers) expect(w.logs.filter((l) => l.msg === 'job completed' && l.kind === 'index').length).toBeGreaterThan(0);
  }, 180000);
});
