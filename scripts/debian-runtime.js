#!/usr/bin/env node
// What a user of the prebuilt addon must install from Debian, measured on a minimal Debian 12 base instead of this
// (fully equipped) machine:
//   base       the closure of bookworm's Priority: required packages without recommends (what debootstrap's
//              minbase installs: about a debian:bookworm image), written to a dpkg status file
//   simulate   `apt-get -s install [--no-install-recommends] PKGS` against that status: the packages apt would
//              add, with their installed and download sizes from the archive's index
//   owners     the Debian packages owning every library the addon loads (ldd resolves DT_NEEDED recursively)
// Needs apt's package lists (apt-get update) and the runtime packages installed here (ldd resolves through them).
//   node scripts/debian-runtime.js [addon.node]   prints the sizes table the README quotes
'use strict';
const { spawnSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');

const root = path.resolve(__dirname, '..');

function run(cmd, args, { allowFailure = false } = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 256 << 20 });
  if (r.error) throw new Error(`${cmd}: ${r.error.message}`);
  if (r.status !== 0 && !allowFailure) throw new Error(`${cmd} ${args.slice(0, 6).join(' ')} ... exited with ${r.status}: ${r.stderr.trim().slice(0, 2000)}`);
  return r.stdout;
}

/** Every package apt knows (its candidate version): name -> { version, priority, installedKiB, bytes }. */
function archive() {
  const out = run('apt-cache', ['dumpavail']);
  const pkgs = new Map();
  for (const stanza of out.split('\n\n')) {
    const field = (name) => new RegExp(`^${name}: (.*)$`, 'm').exec(stanza)?.[1];
    const name = field('Package');
    if (!name) continue;
    pkgs.set(name, {
      version: field('Version'),
      priority: field('Priority'),
      installedKiB: Number(field('Installed-Size') ?? 0),
      bytes: Number(field('Size') ?? 0),
      stanza,
    });
  }
  if (pkgs.size < 1000) throw new Error(`apt knows only ${pkgs.size} packages: run apt-get update first`);
  return pkgs;
}

/** Package names apt would install on top of the dpkg status file `status`. */
function aptInstalls(status, pkgs, { recommends }) {
  // apt's binary caches are kept beside the status file: later runs on the same status reuse them.
  const cache = (name) => ['-o', `Dir::Cache::${name}=${path.join(path.dirname(status), `${path.basename(status)}.${name}.bin`)}`];
  const options = [...cache('pkgcache'), ...cache('srcpkgcache'), '-o', 'Debug::NoLocking=1', '-o', `Dir::State::status=${status}`];
  const args = ['-s', ...options, 'install', ...(recommends ? [] : ['--no-install-recommends']), ...pkgs];
  const out = run('apt-get', args);
  return [...out.matchAll(/^Inst (\S+) /gm)].map((m) => m[1].replace(/:.*$/, ''));
}

/** Writes a dpkg status file holding the minimal bookworm base and returns its path and package names. */
function minimalBase(avail, dir) {
  const empty = path.join(dir, 'empty-status');
  fs.writeFileSync(empty, '');
  const required = [...avail].filter(([, p]) => p.priority === 'required').map(([name]) => name);
  const names = aptInstalls(empty, required, { recommends: false });
  const status = path.join(dir, 'base-status');
  const stanzas = names.map((name) => {
    const s = avail.get(name).stanza.split('\n').filter((l) => !/^(Filename|Size|MD5sum|SHA256|Description-md5|Tag|Section):/.test(l));
    s.splice(1, 0, 'Status: install ok installed');
    return s.join('\n');
  });
  fs.writeFileSync(status, `${stanzas.join('\n\n')}\n`);
  return { status, names: new Set(names) };
}

/** { packages, installedMB, downloadMB } for a list of package names. */
function sizes(avail, names) {
  let kib = 0;
  let bytes = 0;
  for (const n of names) {
    kib += avail.get(n)?.installedKiB ?? 0;
    bytes += avail.get(n)?.bytes ?? 0;
  }
  return { packages: names.length, installedMB: Math.round((kib * 1024) / 1e6), downloadMB: Math.round(bytes / 1e6) };
}

/**
 * Every library the dynamic loader loads for `nodeFile` (ldd: DT_NEEDED, recursively) with the Debian package
 * that owns it. Throws when one is not found.
 */
function loadedLibraries(nodeFile) {
  const libs = [];
  for (const line of run('ldd', [nodeFile]).split('\n')) {
    if (/not found/.test(line)) throw new Error(`ldd ${nodeFile}: ${line.trim()}`);
    const m = /^\s*(\S+) => (\/\S+) \(0x[0-9a-f]+\)$/.exec(line) ?? /^\s*(\/\S+) \(0x[0-9a-f]+\)$/.exec(line);
    if (m) libs.push({ soname: m[2] ? m[1] : path.basename(m[1]), path: m[2] ?? m[1] });
  }
  // dpkg records a file under the path its package ships (e.g. /lib/... for libc6, /usr/lib/... for most): ask for
  // the loader's path, the real path (alternatives such as libblas.so.3 are symlinks) and their /usr twins.
  const twin = (p) => (p.startsWith('/usr/') ? p.slice(4) : `/usr${p}`);
  const candidates = (p) => {
    const real = fs.realpathSync(p);
    return [real, p, twin(real), twin(p)];
  };
  const all = [...new Set(libs.flatMap((l) => candidates(l.path)))];
  const owner = new Map();
  for (const line of run('dpkg-query', ['-S', ...all], { allowFailure: true }).split('\n')) {
    const m = /^([^:]+(?::[a-z0-9]+)?(?:, [^:]+(?::[a-z0-9]+)?)*): (\/.*)$/.exec(line);
    if (m && !m[1].startsWith('diversion')) owner.set(m[2], m[1].split(', ')[0].replace(/:.*$/, ''));
  }
  for (const lib of libs) {
    lib.package = candidates(lib.path).map((c) => owner.get(c)).find(Boolean);
    if (!lib.package) throw new Error(`no Debian package owns ${lib.path} (loaded by ${nodeFile})`);
  }
  return libs;
}

/** The addon node-gyp-build would load from this checkout. */
function addonPath() {
  return require(require.resolve('node-gyp-build', { paths: [root] })).resolve(root);
}

/**
 * The documented runtime line checked against what the addon loads: `ownersMissing` lists packages owning a loaded
 * library that `apt-get install --no-install-recommends <line>` on a minimal bookworm would not install. With
 * `sizes: true`, also the sizes the README quotes (four more apt runs).
 */
function measure(nodeFile = addonPath(), { sizes: withSizes = false } = {}) {
  const pkg = require(path.join(root, 'package.json'));
  const documented = pkg.debian.runtime;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'xclip-debian-'));
  try {
    const avail = archive();
    const base = minimalBase(avail, dir);
    const libs = loadedLibraries(nodeFile);
    const owners = [...new Set(libs.map((l) => l.package))].sort();
    const install = (names, recommends) => aptInstalls(base.status, names, { recommends });
    const noRecommends = install(documented, false);
    const result = {
      nodeFile,
      documented,
      base: { packages: base.names.size },
      libraries: libs.length,
      owners,
      ownersMissing: owners.filter((p) => !base.names.has(p) && !noRecommends.includes(p)),
      installs: noRecommends,
      sets: { documentedNoRecommends: sizes(avail, noRecommends) },
    };
    if (withSizes) {
      const withoutBlas = documented.filter((p) => p !== 'libopenblas0-openmp');
      Object.assign(result.sets, {
        fullWithRecommends: sizes(avail, install(documented, true)),
        libtorchAloneNoRecommends: sizes(avail, install(['libtorch1.13'], false)),
        withoutOpenblas: sizes(avail, install(withoutBlas, false)),
        ownersOfLoadedLibraries: sizes(avail, owners.filter((p) => !base.names.has(p))),
      });
    }
    return result;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

module.exports = { measure, loadedLibraries, addonPath };

if (require.main === module) {
  const m = measure(process.argv[2], { sizes: true });
  const row = (label, s) => `| ${label} | ${s.packages} | ${s.installedMB} MB | ${s.downloadMB} MB |`;
  console.log(`addon: ${m.nodeFile}; minimal bookworm base: ${m.base.packages} packages; ${m.libraries} libraries loaded, owned by ${m.owners.length} packages`);
  console.log('| apt-get install on a minimal Debian 12 base | packages added | installed | download |');
  console.log('|---|---|---|---|');
  console.log(row(`\`${m.documented.join(' ')}\` (apt's default: with recommends)`, m.sets.fullWithRecommends));
  console.log(row('the same with `--no-install-recommends` (the documented line)', m.sets.documentedNoRecommends));
  console.log(row('`libtorch1.13` alone, `--no-install-recommends`', m.sets.libtorchAloneNoRecommends));
  console.log(row('documented line without `libopenblas0-openmp` (loads, but reference BLAS)', m.sets.withoutOpenblas));
  console.log(row('only the packages owning a library the addon loads (not installable as such)', m.sets.ownersOfLoadedLibraries));
  if (m.ownersMissing.length) {
    console.log(`NOT covered by the documented line: ${m.ownersMissing.join(' ')}`);
    process.exitCode = 1;
  }
}
