// npm's install script (scripts/install.js) in each situation a user can meet, run in a package folder laid out as
// npm installs it (no cmake-js or node-addon-api above it), and the error require() gives when a system library is
// missing. The prebuild that needs a missing library is made here with cc: a build machine has one.
import { execFileSync, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

const ROOT = path.resolve(__dirname, '..', '..');
const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
  name: string;
  debian: { runtime: string[]; build: string[] };
};
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { sourcesDigest } = require('../../scripts/native-fingerprint') as { sourcesDigest(root: string): string };
const APT_RUNTIME = `apt-get install --no-install-recommends ${pkg.debian.runtime.join(' ')}`;
const APT_BUILD = `apt-get install --no-install-recommends ${pkg.debian.build.join(' ')}`;

let work: string;
let dir: string;
const prebuild = (): string => path.join(dir, 'prebuilds', `${process.platform}-${process.arch}`, `${pkg.name}.node`);

function install(env: NodeJS.ProcessEnv = {}): { status: number | null; stderr: string } {
  const r = spawnSync(process.execPath, [path.join(dir, 'scripts', 'install.js')], {
    cwd: dir,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { status: r.status, stderr: r.stderr };
}

function placePrebuild(from: string, sources: string): void {
  fs.mkdirSync(path.dirname(prebuild()), { recursive: true });
  fs.copyFileSync(from, prebuild());
  fs.writeFileSync(prebuild().replace(/\.node$/, '.fingerprint.json'), JSON.stringify({ sources }));
}

beforeAll(() => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'xclip-install-'));
  dir = path.join(work, 'node_modules', pkg.name);
  fs.mkdirSync(path.join(dir, 'scripts'), { recursive: true });
  for (const f of ['package.json', 'scripts/install.js', 'scripts/build-native.js', 'scripts/native-fingerprint.js']) fs.copyFileSync(path.join(ROOT, f), path.join(dir, f));
  for (const f of ['native', 'CMakeLists.txt']) fs.symlinkSync(path.join(ROOT, f), path.join(dir, f));
  // dist/ copied, not linked: node resolves a module's __dirname through symlinks, and the package root with it.
  fs.cpSync(path.join(ROOT, 'dist'), path.join(dir, 'dist'), { recursive: true });
  fs.symlinkSync(path.join(ROOT, 'node_modules', 'node-gyp-build'), path.join(work, 'node_modules', 'node-gyp-build'));
});

afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

beforeEach(() => fs.rmSync(path.join(dir, 'prebuilds'), { recursive: true, force: true }));

it('a prebuild that loads and matches the sources beside it: used, nothing built', () => {
  placePrebuild(path.join(ROOT, 'build', 'Release', 'xclip.node'), sourcesDigest(ROOT));
  const r = install();
  expect(r.stderr).toContain(`xclip-node: using prebuilds/${process.platform}-${process.arch}/${pkg.name}.node`);
  expect(r.status).toBe(0);
  expect(fs.existsSync(path.join(dir, 'build'))).toBe(false);
});

it('no prebuild for this platform and no cmake-js: fails, saying what to install and how to rebuild', () => {
  const r = install();
  expect(r.status).toBe(1);
  expect(r.stderr).toContain(`no prebuilt addon for ${process.platform}-${process.arch}`);
  expect(r.stderr).toContain(APT_BUILD);
  expect(r.stderr).toContain('npm install --save-dev cmake-js@"^8.0.0" node-addon-api@"^8.9.2"');
  expect(r.stderr).toContain('npm rebuild xclip-node');
  expect(r.stderr).toContain(APT_RUNTIME);
});

it('a prebuild made from other native sources is not used (a checkout with edited native code)', () => {
  placePrebuild(path.join(ROOT, 'build', 'Release', 'xclip.node'), '0'.repeat(64));
  const r = install();
  expect(r.stderr).toContain('does not fit: it was made from other native sources, so the addon must be built from source');
  expect(r.status).toBe(1);
});

it('XCLIP_NODE_BUILD_FROM_SOURCE=1 builds from source even when a prebuild loads', () => {
  placePrebuild(path.join(ROOT, 'build', 'Release', 'xclip.node'), sourcesDigest(ROOT));
  const r = install({ XCLIP_NODE_BUILD_FROM_SOURCE: '1' });
  expect(r.stderr).toContain('XCLIP_NODE_BUILD_FROM_SOURCE=1, so the addon must be built from source');
  expect(r.status).toBe(1);
});

describe('a prebuild whose system libraries are missing', () => {
  beforeEach(() => {
    // An addon that links libxclipgone.so.1, which is then removed: what a machine without libtorch1.13 sees.
    const gone = path.join(work, 'libxclipgone.so.1');
    execFileSync('cc', ['-shared', '-fPIC', '-o', gone, '-Wl,-soname,libxclipgone.so.1', '-x', 'c', '/dev/null']);
    const addon = path.join(work, 'needs-gone.node');
    execFileSync('cc', ['-shared', '-fPIC', '-o', addon, '-x', 'c', '/dev/null', '-x', 'none', '-Wl,--no-as-needed', gone]);
    fs.rmSync(gone);
    placePrebuild(addon, sourcesDigest(ROOT));
  });

  it('install succeeds (compiling needs the same libraries) and names the apt line', () => {
    const r = install();
    expect(r.status).toBe(0);
    expect(r.stderr).toContain('needs system libraries that are missing');
    expect(r.stderr).toContain('libxclipgone.so.1: cannot open shared object file');
    expect(r.stderr).toContain(APT_RUNTIME);
  });

  it('require() then fails with the loader message and the apt line', () => {
    const script = `try { require(${JSON.stringify(path.join(dir, 'dist', 'index.js'))}).getNumThreads(); } catch (e) { console.log(e.name, e.code); console.log(e.message); }`;
    const out = execFileSync(process.execPath, ['-e', script], { encoding: 'utf8' });
    expect(out.split('\n')[0]).toBe('XClipError ADDON_LOAD_FAILED');
    expect(out).toContain('xclip-node: the native addon needs system libraries that are missing');
    expect(out).toContain('libxclipgone.so.1: cannot open shared object file');
    expect(out).toContain(APT_RUNTIME);
  });
});

describe('a source build that fails', () => {
  let pkgDir: string;
  beforeAll(() => {
    // A package whose CMakeLists.txt needs a pkg-config module no machine has: what a machine without the -dev
    // packages meets. cmake-js and node-addon-api are there, as after `npm install --save-dev` of the peers.
    const top = path.join(work, 'failing');
    pkgDir = path.join(top, 'node_modules', pkg.name);
    fs.mkdirSync(path.join(pkgDir, 'scripts'), { recursive: true });
    for (const f of ['package.json', 'scripts/install.js', 'scripts/build-native.js', 'scripts/native-fingerprint.js']) fs.copyFileSync(path.join(ROOT, f), path.join(pkgDir, f));
    fs.writeFileSync(
      path.join(pkgDir, 'CMakeLists.txt'),
      'cmake_minimum_required(VERSION 3.15)\nproject(xclip_missing CXX)\nfind_package(PkgConfig REQUIRED)\npkg_check_modules(GONE REQUIRED IMPORTED_TARGET libxclipgone)\n',
    );
    for (const m of ['cmake-js', 'node-addon-api', 'node-gyp-build']) fs.symlinkSync(path.join(ROOT, 'node_modules', m), path.join(top, 'node_modules', m));
  });

  it('prints one paragraph: what is missing, the apt line, how to retry and where the log is; no stack, no CMake output', () => {
    const r = spawnSync(process.execPath, [path.join(pkgDir, 'scripts', 'install.js')], {
      cwd: pkgDir,
      env: { PATH: process.env.PATH, HOME: process.env.HOME, XCLIP_NODE_BUILD_FROM_SOURCE: '1' },
      encoding: 'utf8',
      timeout: 120_000,
    });
    expect(r.status).toBe(1);
    const log = path.join(pkgDir, 'xclip-node-build.log');
    expect(r.stderr.trim().split('\n')).toEqual([
      expect.stringContaining('XCLIP_NODE_BUILD_FROM_SOURCE=1: building from source with cmake-js'),
      'xclip-node: building the native addon from source failed: it is missing the pkg-config module libxclipgone (Debian: libxclipgone-dev).',
      'Install the build dependencies (Debian 12) with',
      `    sudo ${APT_BUILD}`,
      'then retry with',
      '    npm rebuild xclip-node',
      `The full build output is in ${log}.`,
    ]);
    expect(fs.readFileSync(log, 'utf8')).toMatch(/CMake Error/);
  });
});
