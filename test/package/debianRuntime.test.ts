// The README's apt line for users of the prebuilt addon cannot rot: every library the dynamic loader loads for the
// addon (ldd: its DT_NEEDED entries, recursively) must come from a Debian package that
// `apt-get install --no-install-recommends <that line>` installs on a minimal Debian 12 (apt-get -s against a dpkg
// status holding only the closure of bookworm's Priority: required packages), and every package on the line must
// own one of those libraries. A real install into an empty root (debootstrap plus ~300 packages) would download
// ~250 MB per CI run; this checks the same sonames against apt's own resolution in seconds.
import * as fs from 'fs';
import * as path from 'path';

const ROOT = path.resolve(__dirname, '..', '..');
const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { debian: { runtime: string[]; build: string[] } };
// eslint-disable-next-line @typescript-eslint/no-require-imports
const debian = require('../../scripts/debian-runtime') as {
  measure(nodeFile?: string): {
    nodeFile: string;
    libraries: number;
    owners: string[];
    ownersMissing: string[];
    installs: string[];
    sets: { documentedNoRecommends: { packages: number; installedMB: number } };
  };
};

it("the README's Install section gives exactly package.json's debian.runtime as its apt line", () => {
  const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const install = readme.slice(readme.indexOf('## Install'), readme.indexOf('\n## ', readme.indexOf('## Install') + 1));
  expect(readme.indexOf('## Install')).toBeLessThan(readme.indexOf('## Quick start'));
  const line = /^sudo apt-get install --no-install-recommends (.+)$/m.exec(install);
  expect(line?.[1].split(' ')).toEqual(pkg.debian.runtime);
});

it("CI installs every package of debian.build (what the install script tells source builders)", () => {
  const script = fs.readFileSync(path.join(ROOT, 'scripts', 'install-deps.sh'), 'utf8');
  const listed = new Set(script.slice(script.indexOf('PKGS=('), script.indexOf('\n)', script.indexOf('PKGS=('))).replace(/#.*$/gm, '').split(/\s+/));
  expect(pkg.debian.build.filter((p) => !listed.has(p))).toEqual([]);
});

describe('on a minimal Debian 12 with the documented line installed', () => {
  let m: ReturnType<typeof debian.measure>;
  beforeAll(() => {
    m = debian.measure();
  }, 300_000);

  it('every library the addon loads comes from an installed package', () => {
    expect(m.libraries).toBeGreaterThan(50);
    expect(m.ownersMissing).toEqual([]);
  });

  it('every package on the line owns a library the addon loads (nothing listed for nothing)', () => {
    expect(pkg.debian.runtime.filter((p) => !m.owners.includes(p))).toEqual([]);
  });

  it('BLAS is OpenBLAS (openmp), not the reference BLAS apt would pick without it', () => {
    expect(m.installs).toContain('libopenblas0-openmp');
    expect(m.installs).not.toContain('libblas3');
    expect(m.installs).not.toContain('libopenblas0-pthread');
  });

  it('no compiler, headers or Python come with it', () => {
    const build = m.installs.filter((p) => /-dev$|^(gcc|g\+\+|cpp|cmake|make|python3)(-[0-9.]+)?$/.test(p));
    expect(build).toEqual([]);
    console.log(`apt-get install --no-install-recommends ${pkg.debian.runtime.join(' ')}: ${m.sets.documentedNoRecommends.packages} packages, ${m.sets.documentedNoRecommends.installedMB} MB on a minimal bookworm; ${m.libraries} libraries loaded by ${m.nodeFile}`);
  });
});
