// What a prebuilt addon was made from, so `npm pack` can tell whether prebuilds/ still matches the tree and the
// install script can tell whether a prebuild belongs to the sources shipped beside it; and whether an addon loads.
// The fingerprint is recorded as JSON beside the .node file (node-gyp-build only looks at *.node).
//
// A prebuild is stale when any of these differ from the recorded ones:
//   sources   sha256 over the files the addon build reads (CMakeLists.txt and the native sources it compiles;
//             the core's tests, fuzzers and tools are not part of the addon and are not shipped)
//   config    node-addon-api's version (its headers are compiled in) and extra cmake-js flags
//   libraries path, size and mtime of each non-system library the .node links (libtorch, FFmpeg, oneDNN,
//             utf8proc), as the dynamic loader resolves them now: a new libtorch or FFmpeg package changes them
'use strict';
const crypto = require('crypto');
const { spawnSync } = require('child_process');
const fs = require('fs');
const path = require('path');

/** The addon build's inputs, relative to the package root. `files` in package.json ships exactly these. */
const NATIVE_SOURCES = ['CMakeLists.txt', 'native/core/include', 'native/core/src', 'native/binding'];

// The C and C++ runtime: ABI-stable across Debian point releases, and not what a prebuild is tied to.
const SYSTEM_LIBRARIES = /^(libc|libm|libgcc_s|libstdc\+\+|libpthread|libdl|librt|ld-linux[^.]*)\.so/;

function walk(root, rel, out) {
  const abs = path.join(root, rel);
  if (fs.statSync(abs).isDirectory()) {
    for (const name of fs.readdirSync(abs)) walk(root, path.posix.join(rel, name), out);
  } else {
    out.push(rel);
  }
}

/** The addon's source files, relative to root, sorted. */
function sourceFiles(root) {
  const out = [];
  for (const rel of NATIVE_SOURCES) walk(root, rel, out);
  return out.sort();
}

/** sha256 over every source file's path and content. */
function sourcesDigest(root) {
  const hash = crypto.createHash('sha256');
  for (const rel of sourceFiles(root)) {
    hash.update(`${rel}\0`);
    hash.update(fs.readFileSync(path.join(root, rel)));
    hash.update('\0');
  }
  return hash.digest('hex');
}

function run(cmd, args) {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.error) throw new Error(`${cmd}: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited with ${r.status}: ${r.stderr.trim()}`);
  return r.stdout;
}

/** The Debian package (name and version) that installed a file, or undefined off Debian. */
function debianPackage(file) {
  const owner = spawnSync('dpkg-query', ['-S', file], { encoding: 'utf8' });
  if (owner.status !== 0) return undefined;
  const name = owner.stdout.split('\n')[0].split(':')[0];
  const version = spawnSync('dpkg-query', ['-W', '-f', '${Version}', name], { encoding: 'utf8' });
  return version.status === 0 ? `${name} ${version.stdout.trim()}` : name;
}

/**
 * The non-system libraries a .node file links (its DT_NEEDED entries) as the loader resolves them here:
 * { soname: { path, bytes, mtime, package? } }. Throws when one is not found.
 */
function linkedLibraries(nodeFile) {
  const needed = [...run('readelf', ['-d', nodeFile]).matchAll(/\(NEEDED\)\s+Shared library: \[([^\]]+)\]/g)].map((m) => m[1]);
  const resolved = new Map();
  for (const line of run('ldd', [nodeFile]).split('\n')) {
    const m = /^\s*(\S+) => (.+?) \(0x[0-9a-f]+\)$/.exec(line) ?? /^\s*(\S+) => (not found)$/.exec(line);
    if (m) resolved.set(m[1], m[2]);
  }
  const libs = {};
  for (const soname of needed.filter((n) => !SYSTEM_LIBRARIES.test(n)).sort()) {
    const where = resolved.get(soname);
    if (!where || where === 'not found') throw new Error(`${soname} (linked by ${nodeFile}) is not found by the dynamic loader`);
    const real = fs.realpathSync(where);
    const st = fs.statSync(real);
    const pkg = debianPackage(real);
    libs[soname] = { path: real, bytes: st.size, mtime: st.mtime.toISOString(), ...(pkg ? { package: pkg } : {}) };
  }
  return libs;
}

/** The build settings that change the binary, beyond the sources. */
function buildConfig(root) {
  const version = (name) => {
    try {
      return require(require.resolve(`${name}/package.json`, { paths: [root] })).version;
    } catch {
      return null;
    }
  };
  return { nodeAddonApi: version('node-addon-api'), cmakeJsExtra: (process.env.CMAKE_JS_EXTRA ?? '').trim() };
}

/** Everything that makes a prebuild what it is, for the .node file at nodeFile built from root. */
function fingerprint(root, nodeFile) {
  return { sources: sourcesDigest(root), files: sourceFiles(root).length, config: buildConfig(root), libraries: linkedLibraries(nodeFile) };
}

/** Loads an addon in a child process (a failed dlopen cannot take this one down); returns '' or the error line. */
function loadError(nodeFile) {
  const r = spawnSync(process.execPath, ['-e', 'require(process.argv[1])', nodeFile], { encoding: 'utf8' });
  if (r.status === 0) return '';
  return (r.stderr.split('\n').find((l) => /Error/.test(l)) ?? r.stderr.trim()) || `exit status ${r.status}`;
}

const fingerprintFile = (nodeFile) => nodeFile.replace(/\.node$/, '.fingerprint.json');

function readFingerprint(nodeFile) {
  try {
    return JSON.parse(fs.readFileSync(fingerprintFile(nodeFile), 'utf8'));
  } catch {
    return undefined;
  }
}

/** Why a prebuild with fingerprint `recorded` is stale against `current` (the first difference found), or '' when it is not. */
function difference(recorded, current) {
  if (!recorded) return 'no fingerprint recorded';
  if (recorded.sources !== current.sources) return 'native sources or CMakeLists.txt changed';
  if (JSON.stringify(recorded.config) !== JSON.stringify(current.config)) {
    return `build settings changed (${JSON.stringify(recorded.config)} -> ${JSON.stringify(current.config)})`;
  }
  const libs = new Set([...Object.keys(recorded.libraries ?? {}), ...Object.keys(current.libraries)]);
  for (const soname of [...libs].sort()) {
    const a = recorded.libraries?.[soname];
    const b = current.libraries[soname];
    if (!a || !b || a.path !== b.path || a.bytes !== b.bytes || a.mtime !== b.mtime) return `${soname} changed`;
  }
  return '';
}

module.exports = {
  NATIVE_SOURCES,
  sourceFiles,
  sourcesDigest,
  linkedLibraries,
  fingerprint,
  fingerprintFile,
  readFingerprint,
  difference,
  loadError,
};
