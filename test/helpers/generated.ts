// Videos made for a test with the ffmpeg CLI (scripts/install-deps.sh installs it): made once per machine in the
// OS temp folder, named by what makes them, and reused by later files and runs.
import { execFileSync } from 'child_process';
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

const DIR = path.join(os.tmpdir(), 'xclip-node-test-videos');

/** The path of a video ffmpeg makes from `args` (everything between `ffmpeg -y` and the output name). */
export function generatedVideo(ext: string, args: readonly string[]): string {
  const key = crypto.createHash('sha256').update(args.join('\0')).digest('hex').slice(0, 16);
  const file = path.join(DIR, `${key}.${ext}`);
  if (fs.existsSync(file)) return file;
  fs.mkdirSync(DIR, { recursive: true });
  // Written beside and renamed, so a concurrent test file never reads half a video.
  const partial = path.join(DIR, `${key}.${process.pid}.partial.${ext}`);
  execFileSync('ffmpeg', ['-loglevel', 'error', '-nostdin', '-y', ...args, partial]);
  fs.renameSync(partial, file);
  return file;
}

/**
 * A 4K clip whose frames all hang off one keyframe, so sampling 8 frames decodes every frame up to the last one:
 * a few seconds of decoding on a 2-core VM, from a still picture that is quick to encode.
 */
export function longVideo(): string {
  return generatedVideo('mpg', ['-f', 'lavfi', '-i', 'color=c=gray:size=3840x2160:rate=30:duration=2,format=yuv420p', '-c:v', 'mpeg2video', '-g', '100000', '-bf', '0']);
}
