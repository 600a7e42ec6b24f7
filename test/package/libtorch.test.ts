// Choosing the libtorch to build against (XCLIP_LIBTORCH, read by CMakeLists.txt, so the same for plain CMake, cmake-js
// and npm's install script): a folder without TorchConfig.cmake fails at configure time naming the variable, `python`
// asks python3's PyTorch, the libtorch's C++ ABI flag and library folder (as RUNPATH) reach the build, and a build
// folder follows the variable when it changes. Configure runs only (about a second each); nothing is compiled.
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

const ROOT = path.resolve(__dirname, '..', '..');
// Debian's libtorch-dev: the folder holding Torch/TorchConfig.cmake, and where libtorch.so lies.
const DEBIAN_CMAKE = '/usr/lib/x86_64-linux-gnu/cmake';
const DEBIAN_LIB = '/usr/lib/x86_64-linux-gnu';

let work: string;
beforeAll(() => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'xclip-libtorch-'));
});
afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

function configure(build: string, env: NodeJS.ProcessEnv, args: string[] = []): { status: number | null; out: string } {
  const r = spawnSync('cmake', ['-S', ROOT, '-B', path.join(work, build), '-G', 'Ninja', '-DXCLIP_BUILD_TESTS=OFF', ...args], {
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

/** The linker's -rpath entries in the CLI's link line. */
function rpaths(build: string): string[] {
  const ninja = fs.readFileSync(path.join(work, build, 'build.ninja'), 'utf8');
  return [...ninja.matchAll(/-Wl,-rpath,([^\s"]+)/g)].map((m) => m[1]);
}

it('a folder without TorchConfig.cmake: configure fails, naming XCLIP_LIBTORCH, where it looked and what to set', () => {
  const empty = fs.mkdtempSync(path.join(work, 'not-libtorch-'));
  for (const how of [{ env: { XCLIP_LIBTORCH: empty }, args: [] }, { env: {}, args: [`-DXCLIP_LIBTORCH=${empty}`] }]) {
    const r = configure(`empty-${how.args.length}`, how.env, how.args);
    expect(r.status).not.toBe(0);
    const message = r.out.replace(/\s+/g, ' ');
    expect(message).toContain(`XCLIP_LIBTORCH=${empty}: no TorchConfig.cmake in ${empty}/share/cmake/Torch,`);
    expect(message).toContain('the folder holding share/cmake/Torch');
    expect(message).toContain('or to `python`');
    expect(message).not.toContain('Found Torch');
  }
});

it('a libtorch folder: configured against it with its ABI flag, and its library folder as the binaries\' RUNPATH', () => {
  const r = configure('debian', { XCLIP_LIBTORCH: DEBIAN_CMAKE });
  expect(r.status).toBe(0);
  expect(r.out).toMatch(new RegExp(`libtorch \\d+\\.\\d+\\.\\d+ in ${DEBIAN_LIB} \\(_GLIBCXX_USE_CXX11_ABI=1\\)`));
  expect(rpaths('debian')).toContain(DEBIAN_LIB);
  expect(fs.readFileSync(path.join(work, 'debian', 'build.ninja'), 'utf8')).toContain('-D_GLIBCXX_USE_CXX11_ABI=1');
  // The same build folder without the variable: back to the default libtorch, no RUNPATH added.
  const again = configure('debian', {});
  expect(again.status).toBe(0);
  expect(rpaths('debian')).toEqual([]);
});

describe('XCLIP_LIBTORCH=python', () => {
  let bin: string;
  beforeAll(() => {
    bin = path.join(work, 'bin');
    fs.mkdirSync(bin);
  });
  const fakePython = (body: string): void => {
    fs.writeFileSync(path.join(bin, 'python3'), `#!/bin/sh\n${body}\n`, { mode: 0o755 });
  };

  it("asks python3 for torch.utils.cmake_prefix_path and PyTorch's ABI flag", () => {
    // Stands in for PyTorch: prints what `import torch.utils; print(torch.utils.cmake_prefix_path)` prints.
    fakePython(`case "$2" in *cmake_prefix_path*) printf '%s\\n1\\n' ${DEBIAN_CMAKE};; *) exit 3;; esac`);
    const r = configure('python', { PATH: `${bin}:${process.env.PATH}`, XCLIP_LIBTORCH: 'python' });
    expect(r.status).toBe(0);
    expect(r.out).toMatch(new RegExp(`libtorch \\S+ in ${DEBIAN_LIB} \\(_GLIBCXX_USE_CXX11_ABI=1\\)`));
  });

  it('without PyTorch: fails naming the variable and python\'s own error', () => {
    fakePython(`echo "ModuleNotFoundError: No module named 'torch'" >&2; exit 1`);
    const r = configure('python-missing', { PATH: `${bin}:${process.env.PATH}`, XCLIP_LIBTORCH: 'python' });
    expect(r.status).not.toBe(0);
    const message = r.out.replace(/\s+/g, ' ');
    expect(message).toContain(`XCLIP_LIBTORCH=python: ${bin}/python3 cannot import torch (ModuleNotFoundError: No module named 'torch')`);
  });
});

describe('npm install with XCLIP_LIBTORCH', () => {
  it('builds from source whatever prebuild exists, and a wrong folder gets the CMake message, not an apt line', () => {
    // The package as npm installs it, with the build peers present (a source build needs them).
    const top = path.join(work, 'install');
    const pkgDir = path.join(top, 'node_modules', 'xclip-node');
    fs.mkdirSync(path.join(pkgDir, 'scripts'), { recursive: true });
    for (const f of ['package.json', 'scripts/install.js', 'scripts/build-native.js', 'scripts/native-fingerprint.js']) {
      fs.copyFileSync(path.join(ROOT, f), path.join(pkgDir, f));
    }
    for (const f of ['native', 'CMakeLists.txt']) fs.symlinkSync(path.join(ROOT, f), path.join(pkgDir, f));
    for (const m of ['cmake-js', 'node-addon-api', 'node-gyp-build']) fs.symlinkSync(path.join(ROOT, 'node_modules', m), path.join(top, 'node_modules', m));
    const empty = fs.mkdtempSync(path.join(work, 'not-libtorch-'));
    const r = spawnSync(process.execPath, [path.join(pkgDir, 'scripts', 'install.js')], {
      cwd: pkgDir,
      env: { PATH: process.env.PATH, HOME: process.env.HOME, XCLIP_LIBTORCH: empty },
      encoding: 'utf8',
      timeout: 120_000,
    });
    expect(r.status).toBe(1);
    const lines = r.stderr.trim().split('\n');
    expect(lines[0]).toContain(`XCLIP_LIBTORCH=${empty}: building from source with cmake-js`);
    expect(lines[1]).toMatch(new RegExp(`^xclip-node: building the native addon from source failed: XCLIP_LIBTORCH=${empty}: no TorchConfig.cmake in `));
    expect(r.stderr).not.toContain('apt-get');
  });
});

describe('scripts/build-native.js', () => {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { cmakeJsCommand } = require('../../scripts/build-native') as { cmakeJsCommand(root: string, env: NodeJS.ProcessEnv): string };
  const withCache = (line: string): string => {
    const root = fs.mkdtempSync(path.join(work, 'root-'));
    fs.mkdirSync(path.join(root, 'build'));
    fs.writeFileSync(path.join(root, 'build', 'CMakeCache.txt'), `CMAKE_BUILD_TYPE:STRING=Release\n${line}\n`);
    return root;
  };

  it('compiles when build/ was configured for the same XCLIP_LIBTORCH, reconfigures (rebuild) when it changed', () => {
    expect(cmakeJsCommand(path.join(work, 'nowhere'), {})).toBe('compile');
    expect(cmakeJsCommand(withCache('_XCLIP_LIBTORCH_ENV:INTERNAL='), {})).toBe('compile');
    expect(cmakeJsCommand(withCache('_XCLIP_LIBTORCH_ENV:INTERNAL='), { XCLIP_LIBTORCH: 'python' })).toBe('rebuild');
    expect(cmakeJsCommand(withCache('_XCLIP_LIBTORCH_ENV:INTERNAL=python'), { XCLIP_LIBTORCH: 'python' })).toBe('compile');
    expect(cmakeJsCommand(withCache('_XCLIP_LIBTORCH_ENV:INTERNAL=python'), {})).toBe('rebuild');
    // A build/ from before the variable existed counts as configured without it.
    expect(cmakeJsCommand(withCache('FOO:BOOL=ON'), {})).toBe('compile');
  });
});
