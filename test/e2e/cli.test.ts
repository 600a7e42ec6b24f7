// The xclip-node CLI as a user meets it. Most cases run main() in this process with captured output (the addon
// and the model load once); what only a real process shows (exit statuses of the bin, a closed pipe, offline
// hub, the demo model) is spawned from the compiled dist/ that `npm run build` makes.
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

import { main } from '../../lib/cli';
import { CliIo } from '../../lib/cli/io';
import { ZeroShotVideoClassifier } from '../../lib/pipelines';
import { ROOT, fixturesDir } from '../helpers/fixtures';
import { onTestDevice } from '../helpers/device';

const cli = path.join(ROOT, 'dist', 'cli.js');
const model = path.join(fixturesDir(), 'e2e', 'xclip-e2e-a');
const video = (f: string): string => path.join(fixturesDir(), 'videos', f);
const cases = JSON.parse(fs.readFileSync(path.join(fixturesDir(), 'e2e', 'cases.json'), 'utf8')).cases as Record<
  string,
  { labels: string[]; probs: number[]; predicted_label: string; logits_per_video: number[] }
>;

/** Output written by one main() call. */
class Capture {
  text = '';
  constructor(readonly isTTY = false) {}
  write(chunk: string): boolean {
    this.text += chunk;
    return true;
  }
}

async function runIn(args: string[], tty = false): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = new Capture();
  const err = new Capture(tty);
  const code = await main(args, new CliIo(out, err));
  return { code, stdout: out.text, stderr: err.text };
}

function spawnCli(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

interface Report {
  model: string;
  demo: boolean;
  results: { file: string; scores?: { label: string; score: number }[]; error?: { code: string; message: string } }[];
}

let tmp: string;
beforeAll(() => {
  if (!fs.existsSync(cli)) throw new Error(`${cli} is missing: run "npm run build:ts" first`);
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'xclip-cli-'));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('classify', () => {
  it('prints JSON scores equal to the recorded probabilities, naming the model', async () => {
    const c = cases['h264_320x240_30fps.mp4/labels3'];
    const r = await runIn(['classify', video('h264_320x240_30fps.mp4'), '--labels', c.labels.join(','), '--model', model, '--json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout) as Report;
    expect(out.model).toBe(model);
    expect(out.demo).toBe(false);
    expect(out.results[0].scores![0].label).toBe(c.predicted_label);
    for (const s of out.results[0].scores!) expect(Math.abs(s.score - c.probs[c.labels.indexOf(s.label)])).toBeLessThan(1e-5);
  });

  it('gives every file its record in input order; a bad file fails only itself and the exit status is 1', async () => {
    const files = [video('h264_320x240_30fps.mp4'), video('broken_random_bytes.mp4'), video('audio_only.mp4'), video('vp9_176x144_25fps.webm')];
    const r = await runIn(['classify', ...files, '--labels', 'a,b', '--model', model, '--json', '--batch', '2']);
    expect(r.code).toBe(1);
    const out = JSON.parse(r.stdout) as Report;
    expect(out.results.map((x) => x.file)).toEqual(files);
    expect(out.results.map((x) => x.error?.code)).toEqual([undefined, 'VIDEO_OPEN_FAILED', 'VIDEO_NO_STREAM', undefined]);
    expect(out.results[3].scores).toHaveLength(2);
    expect(r.stderr).toBe('xclip-node: 2 of 4 files failed\n');
    const table = await runIn(['classify', ...files, '--labels', 'a,b', '--model', model, '--top-k', '1']);
    expect(table.code).toBe(1);
    expect(table.stdout.split('\n')).toEqual([files[0], expect.stringMatching(/^ {2}0\.\d{4} {2}[ab]$/), files[1], expect.stringMatching(/^ {2}error \[VIDEO_OPEN_FAILED\]: /), files[2], expect.stringMatching(/^ {2}error \[VIDEO_NO_STREAM\]: /), files[3], expect.stringMatching(/^ {2}0\.\d{4}/), '']);
  });

  it('--fail-fast stops at the first failure', async () => {
    const files = [video('short_5frames.mp4'), video('broken_random_bytes.mp4'), video('vp9_176x144_25fps.webm')];
    const r = await runIn(['classify', ...files, '--labels', 'a,b', '--model', model, '--json', '--fail-fast']);
    expect(r.code).toBe(1);
    expect((JSON.parse(r.stdout) as Report).results.map((x) => x.error?.code ?? 'ok')).toEqual(['ok', 'VIDEO_OPEN_FAILED']);
  });

  it('expands folders (subfolders with --recursive) and refuses a folder without videos', async () => {
    const dir = path.join(tmp, 'videos');
    fs.mkdirSync(path.join(dir, 'sub'), { recursive: true });
    fs.copyFileSync(video('short_5frames.mp4'), path.join(dir, 'b.mp4'));
    fs.copyFileSync(video('vp9_176x144_25fps.webm'), path.join(dir, 'a.webm'));
    fs.copyFileSync(video('one_frame.mp4'), path.join(dir, 'sub', 'c.mp4'));
    fs.writeFileSync(path.join(dir, 'notes.txt'), 'not a video');
    const flat = await runIn(['classify', dir, '--labels', 'a,b', '--model', model, '--json']);
    expect(flat.code).toBe(0);
    expect((JSON.parse(flat.stdout) as Report).results.map((x) => path.relative(dir, x.file))).toEqual(['a.webm', 'b.mp4']);
    const deep = await runIn(['classify', dir, '--recursive', '--labels', 'a,b', '--model', model, '--json']);
    expect((JSON.parse(deep.stdout) as Report).results.map((x) => path.relative(dir, x.file))).toEqual(['a.webm', 'b.mp4', path.join('sub', 'c.mp4')]);
    const empty = path.join(tmp, 'empty');
    fs.mkdirSync(empty);
    const refused = await runIn(['classify', empty, '--labels', 'a,b', '--model', model]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/folder .*empty holds no video files/);
  });

  it('--labels-file takes one label per line, commas included', async () => {
    const file = path.join(tmp, 'labels.txt');
    fs.writeFileSync(file, 'cooking, baking or frying\r\n\nskiing\n');
    const r = await runIn(['classify', video('short_5frames.mp4'), '--labels-file', file, '--model', model, '--json']);
    expect(r.code).toBe(0);
    expect((JSON.parse(r.stdout) as Report).results[0].scores!.map((s) => s.label).sort()).toEqual(['cooking, baking or frying', 'skiing']);
    expect((await runIn(['classify', video('short_5frames.mp4'), '--labels-file', path.join(tmp, 'nope.txt'), '--model', model])).code).toBe(3);
    expect((await runIn(['classify', video('short_5frames.mp4'), '--labels-file', file, '--labels', 'a', '--model', model])).code).toBe(2);
  });

  it('a label over 77 tokens is named with its token count and exits 2; --truncate cuts it as transformers does', async () => {
    const long = Array.from({ length: 90 }, (_, i) => `word${i}`).join(' ');
    const r = await runIn(['classify', video('short_5frames.mp4'), '--labels', `short,${long}`, '--model', model]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/Expected at most 77 tokens .* for labels\[1\] but received \d+ tokens in "word0 word1 .*truncation/);
    expect(r.stderr).toMatch(/Usage: xclip-node classify/);
    const t = await runIn(['classify', video('short_5frames.mp4'), '--labels', `short,${long}`, '--model', model, '--truncate', '--json']);
    expect(t.code).toBe(0);
  });

  it('bad usage exits 2 with the message and that command\'s help', async () => {
    const file = video('one_frame.mp4');
    for (const [args, message] of [
      [['--device', 'gpu'], /--device expects cpu, cuda, cuda:N or auto but received "gpu"/],
      [['--bogus'], /unknown option --bogus/],
      [['--template', 'a video'], /--template must contain \{\}/],
      [['--top-k', 'x'], /--top-k expects an integer between 1 and 1/],
      [['--batch', '257'], /--batch expects an integer between 1 and 256/],
      [['--json=yes'], /--json takes no value/],
    ] as const) {
      const r = await runIn(['classify', file, '--labels', 'a', '--model', model, ...args]);
      expect([r.code, r.stderr]).toEqual([2, expect.stringMatching(message)]);
      expect(r.stderr).toMatch(/Usage: xclip-node classify .*\n[\s\S]*--labels-file/);
    }
    expect((await runIn(['classify', file])).stderr).toMatch(/give --labels or --labels-file/);
    expect((await runIn(['classify', '--labels', 'a'])).stderr).toMatch(/no video files given/);
    const unknown = await runIn(['frobnicate']);
    expect([unknown.code, unknown.stderr]).toEqual([2, expect.stringMatching(/unknown command "frobnicate"[\s\S]*Commands:/)]);
  });

  it('a missing video or model folder exits 3; a corrupt video 1; no stack traces unless --verbose', async () => {
    const missing = await runIn(['classify', '/no/such/video.mp4', '--labels', 'a,b', '--model', model]);
    expect([missing.code, missing.stderr]).toEqual([3, 'xclip-node: error [FILE_NOT_FOUND]: video not found: /no/such/video.mp4\n']);
    const noModel = await runIn(['classify', video('one_frame.mp4'), '--labels', 'a,b', '--model', '/nonexistent']);
    expect([noModel.code, noModel.stderr]).toEqual([3, expect.stringMatching(/^xclip-node: error \[FILE_NOT_FOUND\]: \/nonexistent is neither a model directory/)]);
    const corrupt = await runIn(['classify', video('broken_random_bytes.mp4'), '--labels', 'a,b', '--model', model]);
    expect(corrupt.code).toBe(1);
    expect(corrupt.stdout).toMatch(/VIDEO_OPEN_FAILED/);
    expect(corrupt.stdout + corrupt.stderr).not.toMatch(/\n\s+at /);
    const verbose = await runIn(['classify', video('one_frame.mp4'), '--labels', 'a,b', '--model', '/nonexistent', '--verbose']);
    expect(verbose.stderr).toMatch(/\n\s+at /);
  });
});

describe('score, embed, embed-text', () => {
  it("score prints X-CLIP's logits per text, equal to the library's and the recorded ones", async () => {
    const c = cases['h264_320x240_30fps.mp4/labels3'];
    const files = [video('h264_320x240_30fps.mp4'), video('one_frame.mp4')];
    const r = await runIn(['score', ...files, '--texts', c.labels.join(','), '--model', model, '--json']);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout) as { texts: string[]; results: { file: string; logits: number[] }[] };
    expect(out.texts).toEqual(c.labels);
    out.results[0].logits.forEach((l, j) => expect(Math.abs(l - c.logits_per_video[j])).toBeLessThan(1e-4));
    const clf = await ZeroShotVideoClassifier.fromPretrained(model, onTestDevice());
    try {
      const rows = await clf.score(files, c.labels);
      rows.forEach((row, i) => expect(out.results[i].logits).toEqual(Array.from(row)));
    } finally {
      await clf.dispose();
    }
    const table = await runIn(['score', files[0], '--texts', 'a dog', '--model', model]);
    expect(table.stdout).toMatch(new RegExp(`^${files[0]}\n  -?\\d+\\.\\d{4}  a dog\n$`));
  });

  it('embed writes a line per file, errors included, with plain progress lines off a terminal', async () => {
    const out = path.join(tmp, 'e.jsonl');
    const files = [video('h264_320x240_30fps.mp4'), video('audio_only.mp4'), video('vp9_176x144_25fps.webm')];
    const r = await runIn(['embed', ...files, '--out', out, '--model', model, '--batch', '1']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/embedding 3\/3/);
    const lines = fs.readFileSync(out, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { file: string; embedding?: number[]; error?: { code: string } });
    expect(lines.map((l) => l.file)).toEqual(files);
    expect(lines[0].embedding).toHaveLength(32);
    expect(lines[1].error!.code).toBe('VIDEO_NO_STREAM');
    expect(lines[2].embedding).toHaveLength(32);
    const toStdout = await runIn(['embed', files[0], '--model', model]);
    expect(JSON.parse(toStdout.stdout).embedding).toEqual(lines[0].embedding);
  });

  it('on a terminal, the progress bar line is ended before an error is printed', async () => {
    const r = await runIn(['embed', video('short_5frames.mp4'), video('audio_only.mp4'), '--model', model], true);
    expect(r.stderr).toMatch(/\r.*embedding \[#+\] 2\/2[^\n]*\nxclip-node: 1 of 2 files failed\n$/);
  });

  it('embed-text writes one line per text, from arguments or a file', async () => {
    const r = await runIn(['embed-text', 'a dog', 'a cat, sitting', '--model', model]);
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { text: string; embedding: number[] });
    expect(lines.map((l) => l.text)).toEqual(['a dog', 'a cat, sitting']);
    expect(lines[0].embedding).toHaveLength(32);
    const file = path.join(tmp, 'texts.txt');
    fs.writeFileSync(file, 'a dog\na cat, sitting\n');
    const fromFile = await runIn(['embed-text', '--texts-file', file, '--model', model]);
    expect(fromFile.stdout).toBe(r.stdout);
    expect((await runIn(['embed-text', '--model', model])).code).toBe(2);
  });
});

describe('info', () => {
  it('names libtorch, FFmpeg, the threads and the BLAS library actually loaded', async () => {
    const r = await runIn(['info']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^libtorch\s+\d+\.\d+/m);
    expect(r.stdout).toMatch(/^ffmpeg\s+\S+/m);
    expect(r.stdout).toMatch(/^threads\s+\d+/m);
    // This machine's Debian libtorch has no CUDA: the line says so (a CUDA build lists its devices instead).
    expect(r.stdout).toMatch(/^cuda\s+not available \(this libtorch has no CUDA\)$/m);
    // Debian's libtorch says BLAS_INFO=generic whatever libblas.so.3 points to; the line names the mapped library.
    const blas = /^blas\s+(.+) \((\/[^)]+)\); libtorch built for BLAS_INFO=\S+$/m.exec(r.stdout);
    expect(blas).not.toBeNull();
    expect(blas![1]).toMatch(/OpenBLAS|MKL|BLIS|ATLAS|reference BLAS/);
    expect(fs.readFileSync('/proc/self/maps', 'utf8')).toContain(blas![2]);
  });
});

describe('the installed command', () => {
  it('--version, --help and each command\'s --help exit 0', () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string };
    expect(spawnCli(['--version'])).toEqual({ code: 0, stdout: `${pkg.version}\n`, stderr: '' });
    const help = spawnCli(['--help']);
    expect(help.code).toBe(0);
    for (const cmd of ['classify', 'score', 'embed', 'embed-text', 'info']) expect(help.stdout).toContain(`  ${cmd} `);
  });

  it('offline without a cached default model: exit 1 with HUB_OFFLINE and a hint, never the demo model', () => {
    const home = fs.mkdtempSync(path.join(tmp, 'home-'));
    const r = spawnCli(['classify', video('one_frame.mp4'), '--labels', 'a,b', '--json'], { HF_HUB_OFFLINE: '1', HF_HOME: home, XCLIP_NODE_CACHE: path.join(home, 'xn') });
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^xclip-node: error \[HUB_OFFLINE\]: microsoft\/xclip-base-patch32 .*\nhint: .*--model demo.*\n$/);
    expect(fs.existsSync(path.join(home, 'xn'))).toBe(false);
  });

  it('--model demo says so on stderr and in the JSON', () => {
    const home = fs.mkdtempSync(path.join(tmp, 'home-'));
    const r = spawnCli(['classify', video('one_frame.mp4'), '--labels', 'a,b', '--model', 'demo', '--json'], { HF_HUB_OFFLINE: '1', XCLIP_NODE_CACHE: path.join(home, 'xn') });
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/RANDOM weights: its scores are NOT meaningful/);
    const out = JSON.parse(r.stdout) as Report;
    expect([out.model, out.demo, out.results[0].scores!.length]).toEqual(['demo', true, 2]);
  });

  it('a reader that closes the pipe ends the command quietly', () => {
    const files = ['h264_320x240_30fps.mp4', 'vp9_176x144_25fps.webm', 'short_5frames.mp4', 'one_frame.mp4', 'mpeg4_160x120_24fps.avi'].map(video);
    const args = ['classify', ...files, '--labels', 'a,b', '--model', model, '--batch', '1'].map((a) => `'${a}'`).join(' ');
    const r = spawnSync('bash', ['-c', `'${process.execPath}' '${cli}' ${args} | head -1; echo "status \${PIPESTATUS[0]}" >&2`], { encoding: 'utf8', timeout: 120_000 });
    expect(r.stdout).toBe(`${files[0]}\n`);
    expect(r.stderr).toBe('status 0\n');
  });
});
