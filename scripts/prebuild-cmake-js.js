#!/usr/bin/env node
// prebuildify calls its --node-gyp program as `<it> rebuild --target=V --devdir=D --arch=A --release|--debug`.
// This stands in for node-gyp and runs `cmake-js rebuild` instead. An N-API addon does not depend on the Node
// version, so --target/--devdir are dropped (cmake-js would read --target as a CMake target and fail with
// "ninja: error: unknown target '26.0.0'").
// Extra cmake-js flags can be passed through $CMAKE_JS_EXTRA, e.g. CMAKE_JS_EXTRA="--CDXCLIP_WITH_FFMPEG=OFF".
'use strict';
const { spawnSync } = require('child_process');
const path = require('path');

const args = ['rebuild'];
for (const arg of process.argv.slice(2)) {
  if (arg.startsWith('--arch=')) args.push('--arch', arg.slice('--arch='.length));
  else if (arg === '--debug') args.push('--debug');
}
if (process.env.CMAKE_JS_EXTRA) args.push(...process.env.CMAKE_JS_EXTRA.split(/\s+/).filter(Boolean));

const cli = require.resolve('cmake-js/bin/cmake-js', { paths: [path.resolve(__dirname, '..')] });
const result = spawnSync(process.execPath, [cli, ...args], { stdio: 'inherit', cwd: path.resolve(__dirname, '..') });
process.exit(result.status === null ? 1 : result.status);
