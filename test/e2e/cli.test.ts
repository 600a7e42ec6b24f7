// The xclip-node CLI, spawned as a user would (from the compiled dist/ that `npm run build` makes).
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

import { ROOT, fixturesDir } from '../helpers/fixtures';

const cli = path.join(ROOT, 'dist', 'cli.js');
const model = path.join(fixturesDir(), 'e2e', 'xclip-e2e-a');
const video = (f: string): string => path.join(fixturesDir(), 'videos', f);

function run(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('xclip-node CLI', () => {
  beforeAll(() => {
    if (!fs.existsSync(cli)) throw new Error(`${cli} is missing: run "npm run build:ts" first`);
  });

  it('classify prints JSON scores equal to the recorded probabilities', () => {
    const cases = JSON.parse(fs.readFileSync(path.join(fixturesDir(), 'e2e', 'cases.json'), 'utf8')).cases;
    const c = cases['h264_320x240_30fps.mp4/labels3'];
    const r = run(['classify', video('h264_320x240_30fps.mp4'), '--labels', c.labels.join(','), '--model', model, '--json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout) as { results: { file: string; scores: { label: string; score: number }[] }[] };
    expect(out.results[0].scores[0].label).toBe(c.predicted_label);
    for (const s of out.results[0].scores) expect(Math.abs(s.score - c.probs[c.labels.indexOf(s.label)])).toBeLessThan(1e-5);
  });

  it('classify prints a readable table with --top-k', () => {
    const r = run(['classify', video('short_5frames.mp4'), '--labels', 'a,b,c', '--model', model, '--top-k', '2']);
    expect(r.code).toBe(0);
    expect(r.stdout.trim().split('\n')).toHaveLength(3);
  });

  it('embed writes one JSON line per video, with plain progress lines off a TTY', () => {
    const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'xclip-cli-')), 'e.jsonl');
    const r = run(['embed', video('h264_320x240_30fps.mp4'), video('vp9_176x144_25fps.webm'), '--out', out, '--model', model, '--batch', '1']);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/embedding 2\/2/);
    const lines = fs.readFileSync(out, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { file: string; embedding: number[] });
    expect(lines.map((l) => path.basename(l.file))).toEqual(['h264_320x240_30fps.mp4', 'vp9_176x144_25fps.webm']);
    expect(lines[0].embedding).toHaveLength(32);
  });

  it('info names libtorch, FFmpeg and the thread count', () => {
    const r = run(['info']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/libtorch\s+\d+\.\d+/);
    expect(r.stdout).toMatch(/ffmpeg\s+\S+/);
    expect(r.stdout).toMatch(/threads\s+\d+/);
  });

  it('--help for each command exits 0', () => {
    for (const cmd of [['--help'], ['classify', '--help'], ['embed', '--help'], ['info', '--help']]) {
      const r = run(cmd);
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/Usage: xclip-node/);
    }
  });

  it('bad usage exits 2 with a message on stderr', () => {
    expect(run(['classify', video('one_frame.mp4')]).code).toBe(2);
    expect(run(['frobnicate']).code).toBe(2);
    expect(run(['classify', video('one_frame.mp4'), '--labels', 'a', '--top-k', 'x']).code).toBe(2);
    const r = run(['classify', '--bogus']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/unknown option --bogus/);
  });

  it('a missing input file exits 3, a corrupt one 1, both without stack traces', () => {
    const missing = run(['classify', '/no/such/video.mp4', '--labels', 'a,b', '--model', model]);
    expect(missing.code).toBe(3);
    expect(missing.stderr).toMatch(/FILE_NOT_FOUND/);
    const corrupt = run(['classify', video('broken_random_bytes.mp4'), '--labels', 'a,b', '--model', model]);
    expect(corrupt.code).toBe(1);
    expect(corrupt.stderr).toMatch(/VIDEO_OPEN_FAILED/);
    expect(corrupt.stderr).not.toMatch(/\n\s+at /);
    const verbose = run(['classify', video('broken_random_bytes.mp4'), '--labels', 'a,b', '--model', model, '--verbose']);
    expect(verbose.stderr).toMatch(/\n\s+at /);
  });

  it('classify runs its files together yet prints them in order, and stops at a broken one after the ones before it', () => {
    const files = ['h264_320x240_30fps.mp4', 'vp9_176x144_25fps.webm', 'short_5frames.mp4', 'one_frame.mp4'].map(video);
    const ok = run(['classify', ...files, '--labels', 'a,b', '--model', model, '--json', '--batch', '2']);
    expect(ok.code).toBe(0);
    expect((JSON.parse(ok.stdout) as { results: { file: string }[] }).results.map((r) => r.file)).toEqual(files);
    const broken = run(['classify', files[0], video('broken_random_bytes.mp4'), files[1], '--labels', 'a,b', '--model', model]);
    expect(broken.code).toBe(1);
    expect(broken.stdout.split('\n')[0]).toBe(files[0]);
    expect(broken.stdout).not.toContain(files[1]);
    expect(broken.stderr).toMatch(/VIDEO_OPEN_FAILED/);
    expect(run(['classify', files[0], '--labels', 'a', '--model', model, '--batch', '65']).code).toBe(2);
  });

  it('falls back to the generated demo model offline, saying its scores are not meaningful', () => {
    const home = fs.mkdtempSync(path.join(os.tmpdir(), 'xclip-home-'));
    const r = run(['classify', video('one_frame.mp4'), '--labels', 'a,b'], { HF_HUB_OFFLINE: '1', HF_HOME: home, XCLIP_NODE_CACHE: path.join(home, 'xn') });
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/NOT meaningful/);
    expect(fs.existsSync(path.join(home, 'xn', 'demo-model-v1', 'model.safetensors'))).toBe(true);
  });
});
