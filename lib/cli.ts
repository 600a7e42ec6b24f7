#!/usr/bin/env node
/**
 * `xclip-node`: zero-shot video classification and embeddings from the shell.
 * Exit codes: 0 success, 1 the work failed (bad video, model error), 2 bad usage, 3 an input file is missing.
 * @module
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

import { ensureDemoModel } from './demo';
import { XClipError } from './errors';
import { resolveModelDir, type DownloadProgress } from './hub';
import { packageRoot, binding } from './native';
import { type LabelScore, ZeroShotVideoClassifier } from './pipelines';
import { getNumThreads } from './runtime';
import { parseArgs } from 'node:util';
import { runWorker } from './jobs/workerProcess';

export const EXIT_OK = 0;
export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;
export const EXIT_MISSING_INPUT = 3;

const DEFAULT_MODEL = 'microsoft/xclip-base-patch32';

class UsageError extends Error {}

const HELP: Record<string, string> = {
  main: `Usage: xclip-node <command> [options]

Commands:
  classify <video...> --labels "a,b,c"   zero-shot classification of videos against labels
  embed <video...> --out file.jsonl       write one video embedding per line (JSONL)
  info                                    versions, device, threads

Run "xclip-node <command> --help" for a command's options.`,
  classify: `Usage: xclip-node classify <video...> --labels "a,b,c" [options]

Options:
  --labels <list>      comma-separated labels (required)
  --model <id|dir>     hub id or model directory (default ${DEFAULT_MODEL}; without it in the
                       cache and no network, a generated demo model whose scores are not meaningful)
  --top-k <n>          best n labels per video (default: all)
  --template <text>    hypothesis template, {} marks the label (default "{}")
  --batch <n>          most videos per model call, 1-64 (default 8)
  --device <d>         cpu | cuda | cuda:N | auto (default cpu)
  --json               machine-readable output
  --verbose            stack traces on errors`,
  embed: `Usage: xclip-node embed <video...> --out <file.jsonl> [options]

Options:
  --out <file>         JSONL output: {"file": ..., "embedding": [...]} per video (required)
  --model <id|dir>     as for classify
  --batch <n>          most videos per model call, 1-64 (default 8)
  --device <d>         cpu | cuda | cuda:N | auto
  --verbose            stack traces on errors`,
  info: `Usage: xclip-node info

Prints the package, libtorch and FFmpeg versions, device and thread settings.`,
};

interface Parsed {
  command: string;
  positional: string[];
  flags: Map<string, string | true>;
}

const VALUE_FLAGS = new Set(['labels', 'model', 'top-k', 'template', 'device', 'out', 'batch']);
const BOOL_FLAGS = new Set(['json', 'verbose', 'help']);

function parse(argv: string[]): Parsed {
  const [command = 'help', ...rest] = argv;
  const positional: string[] = [];
  const flags = new Map<string, string | true>();
  for (let i = 0; i < rest.length; i++) {
    const a = rest[i];
    if (a === '-h') {
      flags.set('help', true);
    } else if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      const name = eq > 0 ? a.slice(2, eq) : a.slice(2);
      if (BOOL_FLAGS.has(name)) {
        flags.set(name, true);
      } else if (VALUE_FLAGS.has(name)) {
        const value = eq > 0 ? a.slice(eq + 1) : rest[++i];
        if (value === undefined) throw new UsageError(`--${name} needs a value`);
        flags.set(name, value);
      } else {
        throw new UsageError(`unknown option --${name}`);
      }
    } else {
      positional.push(a);
    }
  }
  return { command, positional, flags };
}

function str(p: Parsed, name: string): string | undefined {
  const v = p.flags.get(name);
  return typeof v === 'string' ? v : undefined;
}

function positiveInt(p: Parsed, name: string): number | undefined {
  const v = str(p, name);
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v) || Number(v) < 1) throw new UsageError(`--${name} expects a positive integer but received "${v}"`);
  return Number(v);
}

function checkInputs(files: string[]): void {
  if (files.length === 0) throw new UsageError('no video files given');
  for (const f of files) {
    if (!fs.existsSync(f)) {
      const err = new XClipError('FILE_NOT_FOUND', `video not found: ${f}`);
      (err as XClipError & { exitCode?: number }).exitCode = EXIT_MISSING_INPUT;
      throw err;
    }
  }
}

/** TTY: one redrawn bar with rate and ETA; otherwise a plain line per step. */
function progress(label: string, total: number): (done: number) => void {
  const start = Date.now();
  const tty = process.stderr.isTTY === true;
  return (done) => {
    const secs = (Date.now() - start) / 1000;
    const rate = secs > 0 ? done / secs : 0;
    const eta = rate > 0 ? (total - done) / rate : 0;
    if (tty) {
      const width = 30;
      const filled = Math.round((done / total) * width);
      process.stderr.write(`\r${label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total} ${rate.toFixed(2)}/s ETA ${eta.toFixed(0)}s`);
      if (done === total) process.stderr.write('\n');
    } else {
      process.stderr.write(`${label} ${done}/${total} (${rate.toFixed(2)}/s, ETA ${eta.toFixed(0)}s)\n`);
    }
  };
}

function downloadProgress(): (p: DownloadProgress) => void {
  let last = 0;
  return (p) => {
    const now = Date.now();
    if (now - last < 500 && p.loaded !== p.total) return;
    last = now;
    const pct = p.total ? ` ${((100 * p.loaded) / p.total).toFixed(1)}%` : '';
    process.stderr.write(`downloading ${p.file}: ${(p.loaded / 1e6).toFixed(1)} MB${pct}\n`);
  };
}

/**
 * Starts every task at once (the classifier batches them and bounds how many videos are decoded ahead) and hands
 * the results over in order, stopping at the first failure.
 */
async function inOrder<T>(tasks: Promise<T>[], each: (value: T, index: number) => void): Promise<void> {
  // Failures after the one that stops us (DISPOSED, once the caller disposes) are nobody's to handle.
  for (const t of tasks) t.catch(() => undefined);
  for (const [i, t] of tasks.entries()) each(await t, i);
}

/** The model to use: the one asked for, else the default from the cache/hub, else the generated demo model. */
async function openClassifier(p: Parsed): Promise<ZeroShotVideoClassifier> {
  const device = str(p, 'device') as 'cpu' | undefined;
  const maxBatch = positiveInt(p, 'batch');
  if (maxBatch !== undefined && maxBatch > 64) throw new UsageError(`--batch must be at most 64 but received ${maxBatch}`);
  const asked = str(p, 'model');
  let dir: string;
  if (asked !== undefined) {
    dir = await resolveModelDir(asked, { onProgress: downloadProgress() });
  } else {
    try {
      dir = await resolveModelDir(DEFAULT_MODEL, { onProgress: downloadProgress() });
    } catch (err) {
      if (!(err instanceof XClipError) || !err.code.startsWith('HUB_')) throw err;
      process.stderr.write(
        `note: ${DEFAULT_MODEL} is not in the Hugging Face cache and could not be downloaded (${err.message}).\n` +
          'note: using a small demo model with RANDOM weights generated by xclip-node: its scores are NOT meaningful.\n',
      );
      dir = await ensureDemoModel();
    }
  }
  return ZeroShotVideoClassifier.fromPretrained(dir, { device, maxBatch });
}

async function classify(p: Parsed): Promise<number> {
  const labelsArg = str(p, 'labels');
  if (!labelsArg) throw new UsageError('--labels is required');
  const labels = labelsArg.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
  if (labels.length === 0) throw new UsageError('--labels has no labels');
  const topK = positiveInt(p, 'top-k');
  if (topK !== undefined && topK > labels.length) throw new UsageError(`--top-k must be at most ${labels.length} (the number of labels)`);
  checkInputs(p.positional);
  const clf = await openClassifier(p);
  try {
    const results: { file: string; scores: LabelScore[] }[] = [];
    const options = { topK, hypothesisTemplate: str(p, 'template') };
    // One call per file, so a broken file fails after the results of the files before it are printed.
    await inOrder(
      p.positional.map((file) => clf.classify(file, labels, options)),
      (scores, i) => {
        const file = p.positional[i];
        results.push({ file, scores });
        if (!p.flags.has('json')) {
          process.stdout.write(`${file}\n`);
          for (const s of scores) process.stdout.write(`  ${s.score.toFixed(4)}  ${s.label}\n`);
        }
      },
    );
    if (p.flags.has('json')) process.stdout.write(`${JSON.stringify({ model: clf.modelDir, results })}\n`);
  } finally {
    await clf.dispose();
  }
  return EXIT_OK;
}

async function embed(p: Parsed): Promise<number> {
  const out = str(p, 'out');
  if (!out) throw new UsageError('--out is required');
  checkInputs(p.positional);
  const clf = await openClassifier(p);
  const tick = progress('embedding', p.positional.length);
  const fd = fs.openSync(out, 'w');
  try {
    await inOrder(
      p.positional.map((file) => clf.embedVideos([file]).then(([e]) => e)),
      (embedding, i) => {
        fs.writeSync(fd, `${JSON.stringify({ file: p.positional[i], embedding: Array.from(embedding) })}\n`);
        tick(i + 1);
      },
    );
  } finally {
    fs.closeSync(fd);
    await clf.dispose();
  }
  return EXIT_OK;
}

function info(): number {
  const pkg = JSON.parse(fs.readFileSync(path.join(packageRoot(), 'package.json'), 'utf8')) as { version: string };
  const b = binding();
  const v = b.versions();
  process.stdout.write(
    [
      `xclip-node ${pkg.version}`,
      `node       ${process.version}`,
      `libtorch   ${v.libtorch}`,
      `ffmpeg     ${v.ffmpeg}`,
      `device     cpu${b.cudaAvailable() ? ', cuda available' : ' (no CUDA in this libtorch)'}`,
      `threads    ${getNumThreads()}`,
      `blas       ${v.blas}`,
      '',
    ].join('\n'),
  );
  return EXIT_OK;
}

// TODO(merge): interim glue until the per-command CLI (issue 14) lands; then lib/cli/worker.ts.
async function interimWorker(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      redis: { type: 'string' }, queue: { type: 'string' }, model: { type: 'string' }, concurrency: { type: 'string' },
      'max-batch': { type: 'string' }, 'media-root': { type: 'string' }, 'lock-duration-ms': { type: 'string' },
      'stalled-interval-ms': { type: 'string' }, 'max-stalled-count': { type: 'string' }, 'metrics-port': { type: 'string' },
      threads: { type: 'string' }, name: { type: 'string' },
    },
  });
  const n = (k: string): number | undefined => (values[k as keyof typeof values] === undefined ? undefined : Number(values[k as keyof typeof values]));
  return runWorker(
    {
      redis: values.redis as string, queue: values.queue as string | undefined, model: values.model as string | undefined,
      concurrency: n('concurrency'), maxBatch: n('max-batch'), mediaRoot: values['media-root'] as string | undefined,
      lockDurationMs: n('lock-duration-ms'), stalledIntervalMs: n('stalled-interval-ms'), maxStalledCount: n('max-stalled-count'),
      metricsPort: n('metrics-port'), threads: n('threads'), name: values.name as string | undefined,
    },
    { out: (l) => process.stdout.write(`${l}\n`), err: (l) => process.stderr.write(`${l}\n`) },
  );
}

/** Runs the CLI; returns the exit code. */
export async function main(argv: string[]): Promise<number> {
  if (argv[0] === 'worker') return interimWorker(argv.slice(1));
  let parsed: Parsed | undefined;
  try {
    parsed = parse(argv);
    const { command } = parsed;
    if (command === 'help' || command === '--help' || command === '-h') {
      process.stdout.write(`${HELP.main}\n`);
      return EXIT_OK;
    }
    if (!(command in HELP) || command === 'main') throw new UsageError(`unknown command "${command}"`);
    if (parsed.flags.has('help')) {
      process.stdout.write(`${HELP[command]}\n`);
      return EXIT_OK;
    }
    if (command === 'classify') return await classify(parsed);
    if (command === 'embed') return await embed(parsed);
    return info();
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`xclip-node: ${err.message}\n${HELP[parsed?.command ?? 'main'] ?? HELP.main}\n`);
      return EXIT_USAGE;
    }
    const verbose = parsed?.flags.has('verbose') ?? false;
    const e = err as Error & { code?: string; exitCode?: number };
    process.stderr.write(verbose && e.stack ? `${e.stack}\n` : `xclip-node: error${e.code ? ` [${e.code}]` : ''}: ${e.message}\n`);
    return e.exitCode ?? EXIT_FAILED;
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(`xclip-node: ${String(err)}\n`);
      process.exitCode = EXIT_FAILED;
    },
  );
}
