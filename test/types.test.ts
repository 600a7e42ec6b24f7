// The public API's types: test/types/usage.ts must compile (and its @ts-expect-error lines must be errors), and so
// must every TypeScript block of the README, under strict, as a user would paste it (importing 'xclip-node'). Both
// go through one tsc run; the README's shell blocks must parse (bash -n).
import { execFileSync, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

const root = path.resolve(__dirname, '..');

interface Block {
  lang: string;
  line: number;
  code: string;
}

/** The fenced code blocks of a markdown text, with the line each starts on. */
function codeBlocks(markdown: string): Block[] {
  const blocks: Block[] = [];
  let open: Block | undefined;
  markdown.split('\n').forEach((text, i) => {
    if (!text.startsWith('```')) {
      if (open) open.code += `${text}\n`;
    } else if (open) {
      blocks.push(open);
      open = undefined;
    } else {
      open = { lang: text.slice(3).trim(), line: i + 1, code: '' };
    }
  });
  return blocks;
}

/** A README block as a module: its imports on top, the rest in an async function (top-level await as in an ES module). */
function asModule(code: string): string {
  const lines = code.split('\n');
  const imports = lines.filter((l) => l.startsWith('import '));
  const body = lines.filter((l) => !l.startsWith('import '));
  return `${imports.join('\n')}\n\nexport async function readmeBlock(): Promise<void> {\n${body.join('\n')}\n}\n`;
}

const blocks = codeBlocks(fs.readFileSync(path.join(root, 'README.md'), 'utf8'));

it('tsc --noEmit accepts the typed usage file and every TypeScript block of the README, under strict', () => {
  const ts = blocks.filter((b) => b.lang === 'ts' || b.lang === 'typescript');
  expect(ts.length).toBeGreaterThanOrEqual(5);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'xclip-readme-'));
  try {
    for (const b of ts) fs.writeFileSync(path.join(dir, `README.md-line-${b.line}.ts`), asModule(b.code));
    const config = {
      extends: path.join(root, 'test', 'types', 'tsconfig.json'),
      compilerOptions: { rootDir: '/', strict: true, typeRoots: [path.join(root, 'node_modules', '@types')], paths: { 'xclip-node': [path.join(root, 'lib', 'index.ts')] } },
      include: [path.join(root, 'test', 'types', 'usage.ts'), path.join(root, 'lib', '**', '*.ts'), path.join(dir, '*.ts')],
    };
    fs.writeFileSync(path.join(dir, 'tsconfig.json'), JSON.stringify(config));
    let output = '';
    try {
      execFileSync(process.execPath, [require.resolve('typescript/bin/tsc'), '--noEmit', '-p', path.join(dir, 'tsconfig.json')], { cwd: root, encoding: 'utf8' });
    } catch (e) {
      output = String((e as { stdout?: string }).stdout ?? e);
    }
    // tsc names the block files relative to the working directory; the file name says the README line.
    expect(output.split(path.relative(root, dir) + path.sep).join('')).toBe('');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

it('every shell block of the README parses', () => {
  const sh = blocks.filter((b) => b.lang === 'sh' || b.lang === 'bash');
  expect(sh.length).toBeGreaterThanOrEqual(3);
  for (const b of sh) {
    const r = spawnSync('bash', ['-n'], { input: b.code, encoding: 'utf8' });
    expect({ line: b.line, stderr: r.stderr }).toEqual({ line: b.line, stderr: '' });
  }
});

// ts-jest compiles each test file on its own (isolatedModules), so a type error in a test (an API that changed
// under it) would otherwise go unnoticed.
it('tsc --noEmit accepts the tests, the benchmarks and the search page under their own configs', () => {
  for (const config of ['test/tsconfig.json', 'bench/tsconfig.json', 'lib/page/tsconfig.json']) {
    const r = spawnSync(process.execPath, [require.resolve('typescript/bin/tsc'), '--noEmit', '-p', config], { cwd: root, encoding: 'utf8' });
    expect({ config, output: r.stdout + r.stderr }).toEqual({ config, output: '' });
  }
}, 120_000);
