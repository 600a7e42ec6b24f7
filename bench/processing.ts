// Tokenizer and video-decoding throughput, each against a baseline measured in the same run (absolute times on
// shared machines are noise). Prints a table and, last, one JSON line.
//   npm run bench
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { CLIPTokenizer, readVideo, probeVideo } from '../lib';

const fixtures = process.env.XCLIP_FIXTURES ?? path.resolve(__dirname, '..', '..', '..', 'shared', 'fixtures');

function seconds(fn: () => void): number {
  const t0 = process.hrtime.bigint();
  fn();
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

async function secondsAsync(fn: () => Promise<unknown>): Promise<number> {
  const t0 = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

async function benchTokenizer(): Promise<Record<string, number>> {
  const tok = await CLIPTokenizer.fromPretrained(path.join(fixtures, 'tokenizer'));
  const cases = (JSON.parse(fs.readFileSync(path.join(fixtures, 'tokenizer', 'encodings.json'), 'utf8')) as { cases: { text: string }[] }).cases;
  // Fresh words every round defeat the BPE cache (cold); the fixture strings repeated hit it (warm).
  const words = Array.from({ length: 20000 }, (_, i) => `w${(i * 7919).toString(36)}x${(i * 104729).toString(36)}`);
  const coldTexts = Array.from({ length: 2000 }, (_, i) => words.slice(i * 10, i * 10 + 10).join(' '));
  let coldTokens = 0;
  const cold = seconds(() => {
    for (const t of coldTexts) coldTokens += tok.encode(t).length;
  });
  const warmTexts = Array.from({ length: 20 }, () => cases.map((c) => c.text)).flat();
  let warmTokens = 0;
  const warm = seconds(() => {
    for (const t of warmTexts) warmTokens += tok.encode(t).length;
  });
  const batch = seconds(() => {
    for (let i = 0; i < 20; i++) tok.batchEncode(cases.map((c) => c.text), { padding: 'max_length', maxLength: 77, truncation: true });
  });
  // Baseline in the same process: JSON round trip of the same strings, a floor for any per-string JS<->native work.
  const json = seconds(() => {
    for (const t of warmTexts) JSON.parse(JSON.stringify(t));
  });
  return {
    cold_tokens_per_s: coldTokens / cold,
    warm_tokens_per_s: warmTokens / warm,
    warm_strings_per_s: warmTexts.length / warm,
    batch_encode_strings_per_s: (20 * cases.length) / batch,
    warm_vs_json_roundtrip: warm / json,
  };
}

async function benchDecode(): Promise<Record<string, number>> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'xclip-bench-'));
  const clip = path.join(dir, 'clip720p.mp4');
  // 10 s of 720p30 with a keyframe every 2 s: a typical user clip.
  execFileSync('ffmpeg', ['-loglevel', 'error', '-y', '-f', 'lavfi', '-i', 'testsrc2=size=1280x720:rate=30:duration=10', '-c:v', 'libx264', '-g', '60', '-pix_fmt', 'yuv420p', clip]);
  const info = await probeVideo(clip);
  const cli = spawnSync('ffmpeg', ['-loglevel', 'error', '-threads', '1', '-i', clip, '-f', 'rawvideo', '-pix_fmt', 'rgb24', '-y', '/dev/null']);
  if (cli.status !== 0) throw new Error(`ffmpeg failed: ${cli.stderr}`);
  const tCli = seconds(() => spawnSync('ffmpeg', ['-loglevel', 'error', '-threads', '1', '-i', clip, '-f', 'rawvideo', '-pix_fmt', 'rgb24', '-y', '/dev/null']));
  const all = Array.from({ length: info.frameCount }, (_, i) => i);
  const tAll = await secondsAsync(() => readVideo(clip, { numFrames: all.length, sampling: { indices: all } }));
  const t8 = await secondsAsync(() => readVideo(clip, { numFrames: 8 }));
  fs.rmSync(dir, { recursive: true, force: true });
  return {
    frames: info.frameCount,
    ffmpeg_cli_all_frames_fps: info.frameCount / tCli,
    readVideo_all_frames_fps: info.frameCount / tAll,
    readVideo_all_vs_ffmpeg_cli: tCli / tAll,
    readVideo_8_frames_s: t8,
    readVideo_8_frames_vs_ffmpeg_cli_all: tCli / t8,
  };
}

async function main(): Promise<void> {
  const results = { tokenizer: await benchTokenizer(), decode: await benchDecode() };
  for (const [group, values] of Object.entries(results)) {
    console.log(group);
    for (const [k, v] of Object.entries(values)) console.log(`  ${k.padEnd(36)} ${v.toFixed(3)}`);
  }
  console.log(JSON.stringify(results));
}

main().catch((err: Error) => {
  console.error(err.message);
  process.exitCode = 1;
});
