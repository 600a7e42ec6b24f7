// examples/ compile and run against the e2e fixture model.
import { execFileSync, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

import { ROOT, fixturesDir } from '../helpers/fixtures';

const out = path.join(ROOT, 'dist-examples', 'examples');
const model = path.join(fixturesDir(), 'e2e', 'xclip-e2e-a');
const video = (f: string): string => path.join(fixturesDir(), 'videos', f);
const run = (script: string, args: string[]) =>
  spawnSync(process.execPath, [path.join(out, script), ...args], { encoding: 'utf8', timeout: 120_000 });

describe('examples', () => {
  beforeAll(() => {
    execFileSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', path.join(ROOT, 'examples', 'tsconfig.json')], { cwd: ROOT });
  });

  it('classify-video prints one score line per label', () => {
    const r = run('classify-video.js', [video('h264_320x240_30fps.mp4'), 'cooking,dancing,skiing', model]);
    expect(r.status).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines).toHaveLength(3);
    const total = lines.reduce((s, l) => s + Number(l.trim().split(/\s+/)[0]), 0);
    expect(Math.abs(total - 1)).toBeLessThan(1e-3);
  });

  it("rank-videos orders videos by X-CLIP's score for the query", () => {
    const files = ['h264_320x240_30fps.mp4', 'vp9_176x144_25fps.webm', 'one_frame.mp4'].map(video);
    const r = run('rank-videos.js', ['eating spaghetti', ...files, '--model', model]);
    expect(r.status).toBe(0);
    const lines = r.stdout.trim().split('\n').map((l) => l.trim().split(/\s+/));
    expect(lines).toHaveLength(3);
    const logits = lines.map((l) => Number(l[0]));
    expect(logits).toEqual([...logits].sort((a, b) => b - a));
    // The values are the model's logits_per_video for the pair (fixtures/e2e, h264 clip with "eating spaghetti").
    const h264 = lines.find((l) => l[1] === files[0])!;
    expect(Math.abs(Number(h264[0]) - -0.34204)).toBeLessThan(1e-4);
  });

  it('embed-folder writes good videos and skips broken ones', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'xclip-ex-'));
    for (const f of ['short_5frames.mp4', 'one_frame.mp4', 'broken_random_bytes.mp4']) fs.copyFileSync(video(f), path.join(dir, f));
    const jsonl = path.join(dir, 'out.jsonl');
    const r = run('embed-folder.js', [dir, jsonl, model]);
    expect(r.status).toBe(0);
    expect(r.stderr).toMatch(/skipped .*broken_random_bytes\.mp4/);
    expect(fs.readFileSync(jsonl, 'utf8').trim().split('\n')).toHaveLength(2);
    fs.rmSync(dir, { recursive: true, force: true });
  });
});
