// `xclip-node worker` processes for the queue tests and bench, spawned from the compiled dist/ as a user runs them.
// Each is killed when the spawning process exits, so a failed test never leaves one running.
import { type ChildProcess, spawn } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';

import { packageRoot } from '../../lib/native';
import { fixturesDir } from './fixtures';

// From the package root, wherever this file was compiled to (jest, or the bench's dist-bench/).
export const CLI = path.join(packageRoot(), 'dist', 'cli.js');
export const E2E_MODEL = path.join(fixturesDir(), 'e2e', 'xclip-e2e-a');
export const VIDEOS = path.join(fixturesDir(), 'videos');

/** One parsed JSON log line of a worker's stderr. */
export interface LogLine {
  level: string;
  msg: string;
  job?: string;
  code?: string;
  [key: string]: unknown;
}

export interface WorkerProcess {
  readonly child: ChildProcess;
  readonly name: string;
  /** stdout lines so far. */
  readonly stdout: string[];
  /** Parsed stderr log lines so far (lines that are not JSON are kept as { level: 'raw', msg }). */
  readonly logs: LogLine[];
  /** Resolves once it printed `worker ready`; rejects if it exits first or takes longer than `readyMs`. */
  readonly ready: Promise<void>;
  /** Resolves when it exits. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  kill(signal: NodeJS.Signals): void;
}

const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const c of live) c.kill('SIGKILL');
});

export interface SpawnOptions {
  /** Default: the e2e fixture model. */
  model?: string;
  /** Default: the fixture videos. */
  mediaRoot?: string;
  /** Inference threads; default 1: several workers share this machine's cores, as on a real box. */
  threads?: number;
  /** Pins the process to these CPUs (`taskset -c`, e.g. '0' or '0,1'); default: not pinned. */
  cpus?: string;
  readyMs?: number;
}

/**
 * Starts `xclip-node worker --redis URL --name NAME --model MODEL --media-root DIR --threads N ...extra`.
 * @example
 * const w = spawnWorker(redis.url, 'w1', ['--concurrency', '8']);
 * await w.ready;
 */
export function spawnWorker(redisUrl: string, name: string, extra: string[] = [], options: SpawnOptions = {}): WorkerProcess {
  const { model = E2E_MODEL, mediaRoot = VIDEOS, threads = 1, cpus, readyMs = 60000 } = options;
  if (!fs.existsSync(CLI)) throw new Error(`${CLI} is missing: run "npm run build:ts" first`);
  const args = [CLI, 'worker', '--redis', redisUrl, '--name', name, '--model', model, '--media-root', mediaRoot, '--threads', String(threads), ...extra];
  // taskset execs node in its own process, so the child's pid stays the worker's.
  const child = cpus === undefined ? spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] }) : spawn('taskset', ['-c', cpus, process.execPath, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  live.add(child);
  const stdout: string[] = [];
  const logs: LogLine[] = [];
  const lines = (stream: NodeJS.ReadableStream, each: (line: string) => void): void => {
    let buf = '';
    stream.setEncoding('utf8');
    stream.on('data', (d: string) => {
      buf += d;
      let i: number;
      while ((i = buf.indexOf('\n')) >= 0) {
        each(buf.slice(0, i));
        buf = buf.slice(i + 1);
      }
    });
  };
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => {
      live.delete(child);
      resolve({ code, signal });
    }),
  );
  const ready = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`worker ${name} not ready after ${readyMs} ms; stderr:\n${logs.map((l) => JSON.stringify(l)).join('\n')}`)), readyMs);
    lines(child.stdout!, (line) => {
      stdout.push(line);
      if (line === 'worker ready') {
        clearTimeout(timer);
        resolve();
      }
    });
    void exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`worker ${name} exited (${code ?? signal}) before it was ready; stderr:\n${logs.map((l) => JSON.stringify(l)).join('\n')}`));
    });
  });
  ready.catch(() => undefined);
  lines(child.stderr!, (line) => {
    try {
      logs.push(JSON.parse(line) as LogLine);
    } catch {
      logs.push({ level: 'raw', msg: line });
    }
  });
  return { child, name, stdout, logs, ready, exited, kill: (signal) => child.kill(signal) };
}

/** What a CLI run printed, and its exit status. */
export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs `xclip-node ARGS` from dist/ asynchronously (worker children of this process keep running meanwhile);
 * SIGKILLs it after `timeoutMs`.
 * @example
 * const r = await runCli(['enqueue', 'embed', 'a.mp4', '--redis', url, '--wait']);
 */
export function runCli(args: string[], timeoutMs = 90000): Promise<CliRun> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}
