#!/usr/bin/env node
// prebuildify calls its --node-gyp program as `<it> rebuild --target=V --devdir=D --arch=A --release|--debug`.
// This stands in for node-gyp and builds with cmake-js instead. An N-API addon does not depend on the Node
// version, so --target/--devdir are dropped (cmake-js would read --target as a CMake target and fail with
// "ninja: error: unknown target '26.0.0'").
// Extra cmake-js flags can be passed through $CMAKE_JS_EXTRA, e.g. CMAKE_JS_EXTRA="--CDXCLIP_WITH_FFMPEG=OFF".
//
// The build happens in the package's own build/ (where `npm install` and `npm run build:native` build). When
// build/ was configured by cmake-js with the settings a prebuild uses, this runs `cmake-js compile`: Ninja then
// rebuilds exactly what changed (it tracks every source and header through depfiles, reconfigures when
// CMakeLists.txt changes and relinks when libtorch or FFmpeg changes), so an up-to-date build/ costs seconds
// instead of a 2-4 minute `cmake-js rebuild`. Any other configuration gets `cmake-js rebuild`.
//
// prebuildify strips the .node it finds in <its cwd>/build/Release and moves it into prebuilds/. When its cwd is
// not the package root (scripts/prebuild.js runs it in a staging folder), the built file is copied there first, so
// the developer's build/Release/xclip.node is neither stripped nor moved away.
'use strict';
const { spawnSync } = require('child_process');
const fs = require('fs');
const path = require('path');

const root = path.resolve(__dirname, '..');
let arch = process.arch;
let debug = false;
for (const arg of process.argv.slice(2)) {
  if (arg.startsWith('--arch=')) arch = arg.slice('--arch='.length);
  else if (arg === '--debug') debug = true;
}
const extra = (process.env.CMAKE_JS_EXTRA ?? '').split(/\s+/).filter(Boolean);
const config = debug ? 'Debug' : 'Release';
const cli = require.resolve('cmake-js/bin/cmake-js', { paths: [root] });
const cmakeJsVersion = require(require.resolve('cmake-js/package.json', { paths: [root] })).version;

/** Why build/ cannot be reused for this prebuild, or '' when it can. */
function reuseBlocker() {
  if (extra.length) return 'CMAKE_JS_EXTRA is set (cmake-js compile would not apply it to an existing configuration)';
  if (arch !== process.arch) return `cross build for ${arch}`;
  let text;
  try {
    text = fs.readFileSync(path.join(root, 'build', 'CMakeCache.txt'), 'utf8');
  } catch {
    return 'build/ is not configured';
  }
  const cache = new Map();
  for (const m of text.matchAll(/^([A-Za-z_][A-Za-z0-9_]*):[A-Z]+=(.*)$/gm)) cache.set(m[1], m[2]);
  const home = cache.get('CMAKE_HOME_DIRECTORY');
  if (!home || fs.realpathSync(home) !== fs.realpathSync(root)) return `build/ belongs to ${home}`;
  // What cmake-js sets by default and what CMakeLists.txt defaults to; anything else was configured by hand.
  const expected = {
    CMAKE_JS_VERSION: cmakeJsVersion,
    CMAKE_BUILD_TYPE: config,
    XCLIP_WITH_FFMPEG: 'ON',
    XCLIP_WITH_ONEDNN: 'ON',
    XCLIP_SANITIZE: 'OFF',
    XCLIP_BUILD_FUZZERS: 'OFF',
  };
  for (const [key, value] of Object.entries(expected)) {
    if (cache.has(key) && cache.get(key) !== value) return `build/ has ${key}=${cache.get(key)}, a prebuild needs ${value}`;
  }
  if (!cache.has('CMAKE_JS_VERSION')) return 'build/ was not configured by cmake-js';
  for (const key of ['LIBTORCH', 'XCLIP_LIBTORCH', '_XCLIP_LIBTORCH_ENV']) {
    if (cache.get(key)) return `build/ links the libtorch in ${cache.get(key)} (${key})`;
  }
  const flags = (cache.get('CMAKE_CXX_FLAGS') ?? '').replace('-DBUILDING_NODE_EXTENSION', '').trim();
  if (flags) return `build/ has CMAKE_CXX_FLAGS=${flags}`;
  return '';
}

const blocker = reuseBlocker();
const command = blocker ? 'rebuild' : 'compile';
console.error(blocker ? `prebuild: cmake-js rebuild (${blocker})` : 'prebuild: reusing build/ (cmake-js compile rebuilds only what changed)');
const args = [cli, command, '--arch', arch, ...(debug ? ['--debug'] : []), ...extra];
const result = spawnSync(process.execPath, args, { stdio: 'inherit', cwd: root });
if (result.status !== 0) process.exit(result.status === null ? 1 : result.status);

if (path.resolve(process.cwd()) !== root) {
  const built = path.join(root, 'build', config);
  const nodes = fs.readdirSync(built).filter((f) => f.endsWith('.node'));
  if (nodes.length !== 1) {
    console.error(`prebuild: expected one .node in ${built}, found ${nodes.length}`);
    process.exit(1);
  }
  const dest = path.join(process.cwd(), 'build', config);
  fs.mkdirSync(dest, { recursive: true });
  fs.copyFileSync(path.join(built, nodes[0]), path.join(dest, nodes[0]));
}
