#!/usr/bin/env node
// `npm run build:native` and the install script's source build: `cmake-js compile`, which only runs the build when
// build/ is configured already. XCLIP_LIBTORCH (see CMakeLists.txt) is read at configure time, so when it differs
// from what build/ was configured with, this runs `cmake-js rebuild` instead (configure + build; ccache keeps it
// short when only the libtorch path changed).
'use strict';
const { spawnSync } = require('child_process');
const fs = require('fs');
const path = require('path');

/** 'compile' or 'rebuild': whether build/ was configured for the XCLIP_LIBTORCH in `env`. */
function cmakeJsCommand(root, env) {
  let cache;
  try {
    cache = fs.readFileSync(path.join(root, 'build', 'CMakeCache.txt'), 'utf8');
  } catch {
    return 'compile';
  }
  const configured = /^_XCLIP_LIBTORCH_ENV:INTERNAL=(.*)$/m.exec(cache);
  return (configured ? configured[1] : '') === (env.XCLIP_LIBTORCH ?? '') ? 'compile' : 'rebuild';
}

module.exports = { cmakeJsCommand };

if (require.main === module) {
  const root = path.resolve(__dirname, '..');
  const cli = require.resolve('cmake-js/bin/cmake-js', { paths: [root] });
  const command = cmakeJsCommand(root, process.env);
  if (command === 'rebuild') console.error(`build:native: XCLIP_LIBTORCH changed since build/ was configured: cmake-js rebuild`);
  const r = spawnSync(process.execPath, [cli, command, ...process.argv.slice(2)], { cwd: root, stdio: 'inherit' });
  process.exit(r.status === null ? 1 : r.status);
}
