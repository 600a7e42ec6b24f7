#!/usr/bin/env node
// npm's install script. The published package carries a prebuilt addon for linux-x64 (Debian 12), so this
// normally only checks that it loads and compiles nothing. It builds from source (cmake-js) only when no
// prebuild fits: another platform, a prebuild made from other sources than the ones beside it (a checkout where
// native/ changed), or a prebuild that loads but fails for another reason than a missing system library.
//   XCLIP_NODE_BUILD_FROM_SOURCE=1   build from source even when a prebuild loads
//   XCLIP_LIBTORCH=/path|python      build from source against that libtorch (e.g. a CUDA one; see CMakeLists.txt)
// cmake-js and node-addon-api are optional peer dependencies: npm does not install them for users of the
// prebuild, so when a source build is needed and they are missing this says how to get them and fails.
'use strict';
const { spawnSync } = require('child_process');
const fs = require('fs');
const path = require('path');

const { cmakeJsCommand } = require('./build-native');
const { loadError, readFingerprint, sourcesDigest } = require('./native-fingerprint');

const root = path.resolve(__dirname, '..');
const pkg = require(path.join(root, 'package.json'));
const rel = (p) => path.relative(root, p);
const log = (line) => console.error(`xclip-node: ${line}`);

/** The addon node-gyp-build would load (build/Release first, then prebuilds/<platform>-<arch>), or undefined. */
function candidate() {
  try {
    return require('node-gyp-build').resolve(root);
  } catch {
    return undefined;
  }
}

/** Why a prebuild does not belong to the sources shipped beside it, or ''. */
function sourcesMismatch(file) {
  const recorded = readFingerprint(file);
  if (!recorded) return 'it has no fingerprint';
  try {
    return recorded.sources === sourcesDigest(root) ? '' : 'it was made from other native sources';
  } catch (err) {
    return `its sources cannot be checked (${err.message})`;
  }
}

function buildFromSource(reason) {
  const resolve = (name) => {
    try {
      return require.resolve(name, { paths: [root] });
    } catch {
      return undefined;
    }
  };
  const cli = resolve('cmake-js/bin/cmake-js');
  const missing = ['cmake-js', 'node-addon-api'].filter((name) => !resolve(`${name}/package.json`));
  if (missing.length) {
    const peers = missing.map((name) => `${name}@"${pkg.peerDependencies[name]}"`).join(' ');
    console.error(
      [
        `xclip-node: ${reason}, so the addon must be built from source. That needs ${missing.join(' and ')}`,
        'xclip-node: (optional peer dependencies, which npm does not install), a C++ compiler and the -dev packages:',
        `    sudo apt-get install --no-install-recommends ${pkg.debian.build.join(' ')}`,
        `    npm install --save-dev ${peers}`,
        '    npm rebuild xclip-node',
        `xclip-node: prebuilt addons exist for linux-x64 on Debian 12; they need only the runtime libraries:`,
        `    sudo apt-get install --no-install-recommends ${pkg.debian.runtime.join(' ')}`,
      ].join('\n'),
    );
    process.exit(1);
  }
  // The build's output goes to a log (beside build/, which cmake-js may wipe): on failure CMake's errors, repeated
  // by cmake-js, would bury what to do.
  const logFile = path.join(root, 'xclip-node-build.log');
  log(`${reason}: building from source with cmake-js (a few minutes; output in ${rel(logFile)})`);
  const fd = fs.openSync(logFile, 'w');
  const r = spawnSync(process.execPath, [cli, cmakeJsCommand(root, process.env)], { cwd: root, stdio: ['ignore', fd, fd] });
  fs.closeSync(fd);
  if (r.status === 0) return log(`built ${rel(path.join(root, 'build', 'Release'))}`);
  console.error(buildFailure(fs.readFileSync(logFile, 'utf8'), logFile));
  process.exit(1);
}

// What a failed configure says is missing, as Debian -dev packages (the names CMakeLists.txt looks for).
const MISSING = [
  [/Could not find a package configuration file provided by "Torch"|Could NOT find Torch|TorchConfig\.cmake/, 'libtorch-dev'],
  [/nlohmann_json|nlohmann\/json\.hpp/, 'nlohmann-json3-dev'],
  [/Could NOT find PkgConfig|PKG_CONFIG_EXECUTABLE/, 'pkg-config'],
  [/No CMAKE_CXX_COMPILER could be found|CMAKE_CXX_COMPILER.*(not set|NOTFOUND)/, 'g++'],
  [/unable to find a build program corresponding to "Ninja"/, 'ninja-build'],
  [/cmake: not found|spawn cmake ENOENT|CMake executable is not found/i, 'cmake'],
  [/dnnl\.hpp: No such file|DNNL_(INCLUDE_DIR|LIBRARY).*NOTFOUND/, 'libdnnl-dev'],
  [/utf8proc\.h: No such file|UTF8PROC_(INCLUDE_DIR|LIBRARY).*NOTFOUND/, 'libutf8proc-dev'],
];

/** One paragraph: what is missing, the command that installs it, how to retry, where the whole log is. */
function buildFailure(output, logFile) {
  // A libtorch chosen with XCLIP_LIBTORCH that is not one: CMake's message says what to set, not what to install.
  const chosen = /CMake Error[^\n]*\n\s*(XCLIP_LIBTORCH=[^]*?)\n\n/.exec(output);
  if (chosen) {
    return [
      `xclip-node: building the native addon from source failed: ${chosen[1].replace(/\s+/g, ' ').trim()}`,
      `The full build output is in ${logFile}.`,
    ].join('\n');
  }
  const modules = [...output.matchAll(/Package '([^']+)', required by '[^']*', not found/g)].map((m) => m[1]);
  const missing = [...new Set([...modules.map((m) => `the pkg-config module ${m} (Debian: ${m}-dev)`), ...MISSING.filter(([re]) => re.test(output)).map(([, pkgName]) => pkgName)])];
  const firstError = output.split('\n').find((l) => /error/i.test(l) && !/^\s*(--|ERR!)/.test(l));
  const what = missing.length
    ? `it is missing ${missing.join(', ')}`
    : `the compiler or CMake reported an error${firstError ? `, first: "${firstError.trim()}"` : ''}`;
  return [
    `xclip-node: building the native addon from source failed: ${what}.`,
    'Install the build dependencies (Debian 12) with',
    `    sudo apt-get install --no-install-recommends ${pkg.debian.build.join(' ')}`,
    'then retry with',
    '    npm rebuild xclip-node',
    `The full build output is in ${logFile}.`,
  ].join('\n');
}

function main() {
  if (process.env.XCLIP_NODE_BUILD_FROM_SOURCE === '1') return buildFromSource('XCLIP_NODE_BUILD_FROM_SOURCE=1');
  // Prebuilds link Debian's libtorch; another one always means a build against it.
  if (process.env.XCLIP_LIBTORCH) return buildFromSource(`XCLIP_LIBTORCH=${process.env.XCLIP_LIBTORCH}`);
  const file = candidate();
  if (!file) return buildFromSource(`no prebuilt addon for ${process.platform}-${process.arch}`);
  const isPrebuild = !path.relative(path.join(root, 'prebuilds'), file).startsWith('..');
  if (isPrebuild) {
    const mismatch = sourcesMismatch(file);
    if (mismatch) return buildFromSource(`${rel(file)} does not fit: ${mismatch}`);
  }
  const error = loadError(file);
  if (!error) return log(`using ${rel(file)}`);
  if (isPrebuild && /cannot open shared object file/.test(error)) {
    // The right binary, on a machine that lacks runtime packages (or a Docker build stage that installs them
    // later): compiling would need the same libraries and more, so keep it; require() says the same until then.
    log(`${rel(file)} needs system libraries that are missing: ${error}`);
    log(`on Debian 12: sudo apt-get install --no-install-recommends ${pkg.debian.runtime.join(' ')}`);
    return undefined;
  }
  return buildFromSource(`${rel(file)} does not load here (${error})`);
}

main();
