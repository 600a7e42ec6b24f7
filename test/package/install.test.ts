// The package as a user gets it: `npm pack` (whose prepack makes the prebuilt addon), then `npm install` of the
// tarball into a fresh folder whose PATH holds only node, npm and sh (no compiler, no cmake, no make) and with the
// registry out of reach (--offline: the one dependency, node-gyp-build, comes from npm's cache, which `npm ci` of
// this checkout filled). From that folder, CommonJS and ES module scripts classify a fixture video, read by path.
// Runs in its own step of scripts/test.sh (`npm run test:package`), not beside the other jest files: packing runs
// tsc into dist/ and the prebuild step into prebuilds/, which other test files load.
import { execFileSync, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

import { fixturesDir } from '../helpers/fixtures';

const ROOT = path.resolve(__dirname, '..', '..');
const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
  name: string;
  version: string;
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
  bin: Record<string, string>;
};
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { sourceFiles } = require('../../scripts/native-fingerprint') as { sourceFiles(root: string): string[] };

const e2e = path.join(fixturesDir(), 'e2e');
const MODEL = path.join(e2e, 'xclip-e2e-a');
const VIDEO = path.join(fixturesDir(), 'videos', 'h264_320x240_30fps.mp4');
const CASE = (JSON.parse(fs.readFileSync(path.join(e2e, 'cases.json'), 'utf8')) as {
  cases: Record<string, { labels: string[]; probs: number[]; predicted_label: string }>;
}).cases['h264_320x240_30fps.mp4/labels3'];
const PROBS = 1e-5; // the e2e fixture's "exact pipeline" tolerance: the installed package must be the same pipeline

const COMPILERS = ['cc', 'c++', 'gcc', 'g++', 'clang', 'clang++', 'cmake', 'make', 'ninja'];

function which(cmd: string, searchPath: string): string | undefined {
  for (const dir of searchPath.split(path.delimiter)) {
    const file = path.join(dir, cmd);
    try {
      fs.accessSync(file, fs.constants.X_OK);
      return file;
    } catch {
      // not in this directory
    }
  }
  return undefined;
}

let work: string;
let app: string;
let tarFiles: string[];
let installLog: string;
let userEnv: NodeJS.ProcessEnv;
const seconds: Record<string, number> = {};

function timed<T>(label: string, fn: () => T): T {
  const t0 = Date.now();
  try {
    return fn();
  } finally {
    seconds[label] = (Date.now() - t0) / 1000;
  }
}

/** Runs node in the app folder with the user's PATH; returns the last stdout line parsed as JSON. */
function runApp(args: string[]): Record<string, unknown> {
  const r = spawnSync(process.execPath, args, { cwd: app, env: userEnv, encoding: 'utf8', timeout: 60_000 });
  if (r.status !== 0) throw new Error(`node ${args.join(' ')} exited with ${r.status}:\n${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as Record<string, unknown>;
}

function du(dir: string): number {
  let bytes = 0;
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) bytes += du(p);
    else if (e.isFile()) bytes += fs.statSync(p).size;
  }
  return bytes;
}

/** Folders holding an installed package (node_modules/<name>, node_modules/@scope/<name>, nested too). */
function installedPackages(nodeModules: string): string[] {
  const out: string[] = [];
  if (!fs.existsSync(nodeModules)) return out;
  for (const e of fs.readdirSync(nodeModules, { withFileTypes: true })) {
    if (!e.isDirectory() || e.name.startsWith('.')) continue;
    const dirs = e.name.startsWith('@') ? fs.readdirSync(path.join(nodeModules, e.name)).map((n) => path.join(e.name, n)) : [e.name];
    for (const d of dirs) {
      out.push(d);
      out.push(...installedPackages(path.join(nodeModules, d, 'node_modules')));
    }
  }
  return out;
}

beforeAll(() => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'xclip-pack-'));
  timed('npm pack', () =>
    execFileSync('npm', ['pack', '--loglevel=warn', '--pack-destination', work], { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'] }),
  );
  const tgz = path.join(work, `${pkg.name}-${pkg.version}.tgz`);
  tarFiles = execFileSync('tar', ['-tzf', tgz], { encoding: 'utf8' })
    .split('\n')
    .filter(Boolean)
    .map((f) => f.replace(/^package\//, ''));

  // The user's machine: node, npm and a shell, nothing that compiles.
  const bin = path.join(work, 'bin');
  fs.mkdirSync(bin);
  const npmCli = fs.realpathSync(which('npm', process.env.PATH ?? '')!);
  fs.symlinkSync(process.execPath, path.join(bin, 'node'));
  fs.symlinkSync(npmCli, path.join(bin, 'npm'));
  fs.symlinkSync('/bin/sh', path.join(bin, 'sh'));
  userEnv = { PATH: bin, HOME: process.env.HOME, LANG: 'C.UTF-8', XCLIP_NODE_CACHE: path.join(work, 'cache') };

  app = path.join(work, 'app');
  fs.mkdirSync(app);
  fs.writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'app', version: '1.0.0', private: true }));
  const args = [npmCli, 'install', '--offline', '--no-audit', '--no-fund', '--foreground-scripts', tgz];
  const r = timed('npm install', () => spawnSync(process.execPath, args, { cwd: app, env: userEnv, encoding: 'utf8', timeout: 300_000 }));
  installLog = `${r.stdout}\n${r.stderr}`;
  if (r.status !== 0) throw new Error(`npm install of the tarball failed (${r.status}):\n${installLog}`);
}, 600_000);

afterAll(() => {
  const installed = path.join(app ?? '', 'node_modules');
  if (fs.existsSync(installed)) {
    const pkgs = installedPackages(installed);
    const mb = (du(installed) / 1e6).toFixed(1);
    console.log(`package test: ${JSON.stringify(seconds)} s; npm install added ${pkgs.length} packages (${pkgs.join(', ')}), ${mb} MB`);
  }
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

describe('the packed tarball', () => {
  it('carries the linux-x64 prebuild with its fingerprint, the CommonJS and ESM entry points, the bin and LICENSE', () => {
    for (const f of [
      `prebuilds/linux-x64/${pkg.name}.node`,
      `prebuilds/linux-x64/${pkg.name}.fingerprint.json`,
      'dist/index.js',
      'dist/index.d.ts',
      'dist/index.mjs',
      'dist/index.d.mts',
      ...Object.values(pkg.bin).map((f) => path.posix.normalize(f)),
      'LICENSE',
      'README.md',
      'package.json',
      'scripts/install.js',
      'scripts/build-native.js',
      'scripts/native-fingerprint.js',
    ]) {
      expect(tarFiles).toContain(f);
    }
  });

  it('ships exactly the native sources the addon build reads (those the prebuild fingerprint covers)', () => {
    const native = tarFiles.filter((f) => f.startsWith('native/') || f === 'CMakeLists.txt').sort();
    expect(native).toEqual(sourceFiles(ROOT));
  });

  it('ships no tests, fuzzers, tools, benchmarks, TypeScript sources, source maps or build folders', () => {
    const unwanted = tarFiles.filter((f) =>
      /^(test|bench|examples|lib|build|build-[^/]*|\.cache|native\/core\/(tests|fuzz|tools))\/|\.map$|\.ts$(?<!\.d\.ts)|^binding\.gyp$|^tsconfig/.test(f),
    );
    expect(unwanted).toEqual([]);
  });
});

describe('npm install of the tarball (no compiler on PATH, registry offline)', () => {
  it('runs on a PATH without compilers or build tools', () => {
    expect(COMPILERS.filter((c) => which(c, userEnv.PATH!))).toEqual([]);
  });

  it('uses the prebuilt addon and builds nothing', () => {
    expect(installLog).toContain(`xclip-node: using prebuilds/linux-x64/${pkg.name}.node`);
    expect(fs.existsSync(path.join(app, 'node_modules', pkg.name, 'build'))).toBe(false);
  });

  it('installs the runtime dependencies only: no cmake-js, node-addon-api or other build and dev tools', () => {
    const pkgs = installedPackages(path.join(app, 'node_modules'));
    for (const dep of [pkg.name, ...Object.keys(pkg.dependencies)]) expect(pkgs).toContain(dep);
    const devOnly = Object.keys(pkg.devDependencies).filter((d) => !(d in pkg.dependencies));
    expect(devOnly).toEqual(expect.arrayContaining(['cmake-js', 'node-addon-api']));
    expect(pkgs.filter((p) => devOnly.includes(p))).toEqual([]);
  });
});

/** Runs a classify script in the app folder on the e2e fixture; its scores must be the fixture's. */
function classifyWith(script: string, label: string): Record<string, unknown> {
  const out = timed(label, () => runApp([script, MODEL, VIDEO, JSON.stringify(CASE.labels)]));
  const scores = out.scores as { label: string; score: number }[];
  expect(scores[0].label).toBe(CASE.predicted_label);
  for (const s of scores) expect(Math.abs(s.score - CASE.probs[CASE.labels.indexOf(s.label)])).toBeLessThan(PROBS);
  return out;
}

describe('from the installed folder', () => {
  it('CommonJS: require() classifies a video with the prebuilt addon, as the e2e fixture does', () => {
    fs.writeFileSync(
      path.join(app, 'classify.cjs'),
      `const fs = require('fs');
const { ZeroShotVideoClassifier } = require('xclip-node');
(async () => {
  const clf = await ZeroShotVideoClassifier.fromPretrained(process.argv[2]);
  const scores = await clf.classify(process.argv[3], JSON.parse(process.argv[4]));
  await clf.dispose();
  const addons = fs.readFileSync('/proc/self/maps', 'utf8').split('\\n').filter((l) => l.endsWith('.node')).map((l) => l.slice(l.indexOf('/')));
  console.log(JSON.stringify({ resolved: require.resolve('xclip-node'), scores, addons: [...new Set(addons)] }));
})();
`,
    );
    const out = classifyWith('classify.cjs', 'classify (CommonJS)');
    expect(out.resolved).toBe(path.join(fs.realpathSync(app), 'node_modules', pkg.name, 'dist', 'index.js'));
    expect(out.addons).toEqual([path.join(fs.realpathSync(app), 'node_modules', pkg.name, 'prebuilds', 'linux-x64', `${pkg.name}.node`)]);
  });

  it('ESM: named imports classify the same way, sharing one module instance with require()', () => {
    fs.writeFileSync(
      path.join(app, 'classify.mjs'),
      `import { createRequire } from 'node:module';
import xclip, { ZeroShotVideoClassifier } from 'xclip-node';
import * as esm from 'xclip-node';
const require = createRequire(import.meta.url);
const cjs = require('xclip-node');
const clf = await ZeroShotVideoClassifier.fromPretrained(process.argv[2]);
const scores = await clf.classify(process.argv[3], JSON.parse(process.argv[4]));
await clf.dispose();
const names = Object.keys(esm).filter((n) => n !== 'default').sort();
console.log(JSON.stringify({
  scores,
  sameInstance: ZeroShotVideoClassifier === cjs.ZeroShotVideoClassifier && xclip === cjs,
  missing: Object.keys(cjs).filter((n) => !names.includes(n)),
  named: names.length,
}));
`,
    );
    const out = classifyWith('classify.mjs', 'classify (ESM)');
    expect(out.sameInstance).toBe(true);
    expect(out.missing).toEqual([]);
    expect(out.named).toBeGreaterThan(20);
  });

  it('exposes package.json but not the internals, to require() and import alike', () => {
    fs.writeFileSync(
      path.join(app, 'exports.mjs'),
      `import { createRequire } from 'node:module';
const require = createRequire(import.meta.url);
const code = async (f) => { try { await f(); return 'loaded'; } catch (e) { return e.code; } };
console.log(JSON.stringify({
  version: require('xclip-node/package.json').version,
  importInternal: await code(() => import('xclip-node/dist/native.js')),
  requireInternal: await code(() => require('xclip-node/dist/native')),
  requireCli: await code(() => require('xclip-node/dist/cli.js')),
}));
`,
    );
    expect(runApp(['exports.mjs'])).toEqual({
      version: pkg.version,
      importInternal: 'ERR_PACKAGE_PATH_NOT_EXPORTED',
      requireInternal: 'ERR_PACKAGE_PATH_NOT_EXPORTED',
      requireCli: 'ERR_PACKAGE_PATH_NOT_EXPORTED',
    });
  });

  it('the video index and the job queue name the optional package to install, and the rest works without them', () => {
    fs.writeFileSync(
      path.join(app, 'optional.cjs'),
      `const os = require('os');
const path = require('path');
const { VideoIndex, VideoJobQueue } = require('xclip-node');
const message = async (f) => { try { await f(); return 'ok'; } catch (e) { return e.message; } };
(async () => {
  console.log(JSON.stringify({
    index: await message(() => VideoIndex.open(path.join(os.tmpdir(), 'xclip-optional-' + process.pid), { model: process.argv[2] })),
    queue: await message(() => new VideoJobQueue({ redis: 'redis://127.0.0.1:1' })),
  }));
})();
`,
    );
    const out = runApp(['optional.cjs', MODEL]);
    expect(out.index).toContain('npm install @lancedb/lancedb@0.31.0');
    expect(out.queue).toContain('npm install bullmq@');
  });

  it('runs the CLI from node_modules/.bin', () => {
    const r = spawnSync(path.join(app, 'node_modules', '.bin', 'xclip-node'), ['info'], { cwd: app, env: userEnv, encoding: 'utf8', timeout: 60_000 });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toContain(`xclip-node ${pkg.version}`);
    expect(r.stdout).toMatch(/libtorch\s+1\.13/);
  });

  // TypeScript users: the `types` conditions must resolve for each moduleResolution that reads `exports`.
  const tsc = path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
  const consumer = {
    'esm.mts': `import xclip, { ZeroShotVideoClassifier, XClipError, type LabelScore } from 'xclip-node';
export async function top(video: string): Promise<LabelScore | undefined> {
  const clf = await xclip.ZeroShotVideoClassifier.fromPretrained('dir');
  const [best] = await clf.classify(video, ['a', 'b']);
  return best;
}
export const isError = (e: unknown): e is XClipError => e instanceof XClipError;
export const same: typeof ZeroShotVideoClassifier = xclip.ZeroShotVideoClassifier;
// @ts-expect-error classify takes labels
export const wrong = (c: ZeroShotVideoClassifier) => c.classify('v.mp4', 3);
// @ts-expect-error internals are not exported
export type Internal = typeof import('xclip-node/dist/native.js');
`,
    'cjs.cts': `import xclip = require('xclip-node');
import type { LabelScore } from 'xclip-node';
export const load = (dir: string) => xclip.ZeroShotVideoClassifier.fromPretrained(dir);
export const score = (s: LabelScore): number => s.score;
`,
    'bundler.ts': `import { ZeroShotVideoClassifier, type LabelScore } from 'xclip-node';
export const load = (dir: string): Promise<ZeroShotVideoClassifier> => ZeroShotVideoClassifier.fromPretrained(dir);
export const score = (s: LabelScore): number => s.score;
// @ts-expect-error internals are not exported
export type Internal = typeof import('xclip-node/dist/native');
`,
  };
  // One run also checks the declaration files themselves as a consumer compiles them (skipLibCheck false, ~3x slower).
  const settings: Record<string, { module: string; files: string[]; skipLibCheck: boolean }> = {
    node16: { module: 'node16', files: ['esm.mts', 'cjs.cts'], skipLibCheck: false },
    nodenext: { module: 'nodenext', files: ['esm.mts', 'cjs.cts'], skipLibCheck: true },
    bundler: { module: 'esnext', files: ['bundler.ts'], skipLibCheck: true },
  };
  for (const [resolution, { module, files, skipLibCheck }] of Object.entries(settings)) {
    it(`types resolve under moduleResolution ${resolution}`, () => {
      const dir = path.join(app, 'types');
      fs.mkdirSync(dir, { recursive: true });
      for (const [name, text] of Object.entries(consumer)) fs.writeFileSync(path.join(dir, name), text);
      const config = path.join(dir, `tsconfig.${resolution}.json`);
      fs.writeFileSync(
        config,
        JSON.stringify({
          compilerOptions: {
            module,
            moduleResolution: resolution,
            target: 'ES2022',
            strict: true,
            noEmit: true,
            skipLibCheck,
            types: ['node'],
            typeRoots: [path.join(ROOT, 'node_modules', '@types')],
          },
          files,
        }),
      );
      const r = timed(`tsc ${resolution}`, () =>
        spawnSync(process.execPath, [tsc, '-p', config], { cwd: dir, encoding: 'utf8', timeout: 120_000 }),
      );
      expect(r.stdout + r.stderr).toBe('');
      expect(r.status).toBe(0);
    });
  }
});
