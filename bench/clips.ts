// The benchmarks' video clips, generated with the ffmpeg CLI (no third-party footage): typical user clips of 6 s of
// 640x360 at 30 fps, H.264 with a keyframe every 2 s, a different lavfi source each (from a static test card of
// ~10 KB to an 8 Mbit/s cellular automaton of ~6 MB).
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

import { XCLIPConfig, XCLIPModel, ensureDemoModel } from '../lib';

/** 16 activity labels, as a zero-shot classifier of user clips would be given. */
export const LABELS = [
  'playing guitar', 'cooking pasta', 'riding a bike', 'swimming', 'dancing salsa', 'typing on a laptop',
  'walking a dog', 'playing football', 'painting a wall', 'reading a book', 'driving a car', 'skiing',
  'making coffee', 'doing yoga', 'playing chess', 'washing dishes',
];

/** Writes an xclip-base-patch32-shaped model with random weights (no download) and the demo tokenizer into `dir`. */
export async function makeBaseModel(dir: string): Promise<void> {
  const model = await XCLIPModel.fromConfig(new XCLIPConfig(), { seed: 0 });
  await model.savePretrained(dir);
  await model.dispose();
  const demo = await ensureDemoModel();
  for (const f of ['vocab.json', 'merges.txt', 'tokenizer_config.json', 'special_tokens_map.json', 'preprocessor_config.json']) fs.copyFileSync(path.join(demo, f), path.join(dir, f));
}

const SOURCES = ['testsrc2', 'smptebars', 'mandelbrot', 'rgbtestsrc', 'testsrc', 'cellauto', 'life', 'smptehdbars'];

/** Writes `count` clips into `dir` and returns their paths. */
export function makeVideos(dir: string, count: number): string[] {
  return Array.from({ length: count }, (_, i) => {
    const file = path.join(dir, `clip${i}.mp4`);
    const src = SOURCES[i % SOURCES.length];
    execFileSync('ffmpeg', ['-loglevel', 'error', '-y', '-f', 'lavfi', '-i', `${src}=size=640x360:rate=30`, '-t', '6', '-c:v', 'libx264', '-g', '60', '-pix_fmt', 'yuv420p', file]);
    return file;
  });
}
