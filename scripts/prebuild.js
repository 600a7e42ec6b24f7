#!/usr/bin/env node
// Makes prebuilds/<platform>-<arch>/xclip-node.node (stripped) with prebuildify, checks that it loads, and records
// its fingerprint beside it (see native-fingerprint.js).
//   node scripts/prebuild.js              always build (npm run prebuildify)
//   node scripts/prebuild.js --if-stale   only when the prebuild is missing or stale (npm's prepack: every
//                                         `npm pack` and `npm publish`); fails, and so fails the pack, when it
//                                         cannot build one.
// prebuildify runs in a staging folder under .cache/ so that it strips and moves a copy, not build/Release itself
// (scripts/prebuild-cmake-js.js builds in build/, reusing it when it can).
'use strict';
const { spawnSync } = require('child_process');
const fs = require('fs');
const path = require('path');
const { fingerprint, fingerprintFile, readFingerprint, difference, loadError } = require('./native-fingerprint');

const root = path.resolve(__dirname, '..');
const pkg = require(path.join(root, 'package.json'));
const target = path.join(root, 'prebuilds', `${process.platform}-${process.arch}`, `${pkg.name}.node`);
const rel = (p) => path.relative(root, p);

function fail(message) {
  console.error(`prebuild: ${message}`);
  process.exit(1);
}

function staleness() {
  if (!fs.existsSync(target)) return `${rel(target)} is missing`;
  let current;
  try {
    current = fingerprint(root, target);
  } catch (err) {
    return err.message;
  }
  return difference(readFingerprint(target), current);
}

function build() {
  const stage = path.join(root, '.cache', 'prebuild-stage');
  fs.rmSync(stage, { recursive: true, force: true });
  fs.mkdirSync(stage, { recursive: true });
  fs.rmSync(target, { force: true });
  fs.rmSync(fingerprintFile(target), { force: true });
  const prebuildify = require.resolve('prebuildify/bin.js', { paths: [root] });
  const wrapper = path.join(__dirname, 'prebuild-cmake-js.js');
  const args = [prebuildify, '--napi', '--strip', '--name', pkg.name, '--node-gyp', wrapper, '--out', root, '--cwd', stage];
  const r = spawnSync(process.execPath, args, { stdio: 'inherit', cwd: stage });
  fs.rmSync(stage, { recursive: true, force: true });
  if (r.status !== 0) fail(`prebuildify exited with ${r.status ?? r.signal}`);
  if (!fs.existsSync(target)) fail(`prebuildify did not write ${rel(target)}`);
  const error = loadError(target);
  if (error) fail(`${rel(target)} was built but does not load: ${error}`);
  const record = { ...fingerprint(root, target), made: new Date().toISOString() };
  fs.writeFileSync(fingerprintFile(target), `${JSON.stringify(record, null, 2)}\n`);
  console.error(`prebuild: wrote ${rel(target)} (${(fs.statSync(target).size / 1e6).toFixed(1)} MB) and ${path.basename(fingerprintFile(target))}`);
}

const t0 = Date.now();
if (process.argv.includes('--if-stale')) {
  const why = staleness();
  if (!why) {
    console.error(`prebuild: ${rel(target)} is up to date with the native sources and the libraries it links`);
    process.exit(0);
  }
  console.error(`prebuild: rebuilding ${rel(target)}: ${why}`);
}
build();
console.error(`prebuild: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
