// `xclip-node index add|info` and `xclip-node search`, spawned as a user would (from dist/, which `npm run build`
// makes).
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

import { ROOT, fixturesDir } from '../helpers/fixtures';

const cli = path.join(ROOT, 'dist', 'cli.js');
const MODEL = path.join(fixturesDir(), 'e2e', 'xclip-e2e-a');
const video = (f: string): string => path.join(fixturesDir(), 'videos', f);

function run(args: string[]) {
  const r = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', timeout: 120_000, env: { ...process.env, RUST_LOG: 'error' } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('xclip-node index / search', () => {
  let db: string;
  beforeAll(() => {
    if (!fs.existsSync(cli)) throw new Error(`${cli} is missing: run "npm run build:ts" first`);
    db = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'xclip-cli-index-')), 'db');
  });
  afterAll(() => fs.rmSync(path.dirname(db), { recursive: true, force: true }));

  it('index add segments videos, search prints JSON best first, index info describes it', () => {
    const add = run(['index', 'add', video('h264_320x240_30fps.mp4'), video('vp9_176x144_25fps.webm'), '--db', db, '--model', MODEL, '--clip-seconds', '1']);
    expect(add.code).toBe(0);
    expect(add.stdout).toContain('2 of 2 videos indexed; 4 entries');
    const s = run(['search', 'playing sports', '--db', db, '--k', '3', '--json']);
    expect(s.code).toBe(0);
    const out = JSON.parse(s.stdout) as { model: string; query: string; results: { file: string; start: number; end: number; logit: number; score: number }[] };
    expect(out.model).toBe(MODEL);
    expect(out.query).toBe('playing sports');
    expect(out.results).toHaveLength(3);
    for (const r of out.results) {
      expect([video('h264_320x240_30fps.mp4'), video('vp9_176x144_25fps.webm')]).toContain(r.file);
      expect(r.end - r.start).toBeCloseTo(1, 5);
    }
    expect(out.results[0].logit).toBeGreaterThanOrEqual(out.results[1].logit);
    const info = run(['index', 'info', '--db', db]);
    expect(info.code).toBe(0);
    expect(info.stdout).toMatch(/entries\s+4 from 2 videos/);
    expect(info.stdout).toContain('float16');
  });

  it('says what is wrong: usage (2), a missing index or file (3), a broken video (1)', () => {
    expect(run(['search', 'x']).code).toBe(2);
    expect(run(['index', 'frobnicate', '--db', db]).code).toBe(2);
    expect(run(['search', 'x', '--db', path.join(db, 'none')]).code).toBe(3);
    expect(run(['index', 'add', video('no-such.mp4'), '--db', db]).code).toBe(3);
    const broken = run(['index', 'add', video('broken_empty.mp4'), '--db', db]);
    expect(broken.code).toBe(1);
    expect(broken.stderr).toContain('broken_empty.mp4');
  });
});
