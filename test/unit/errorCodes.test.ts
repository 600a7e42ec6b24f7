// Every error code the package can raise is in one README table (code, meaning, what to do), and the TS union,
// the core's ErrorCode names and that table agree.
import * as fs from 'fs';
import * as path from 'path';
import { ROOT } from '../helpers/fixtures';

const read = (p: string): string => fs.readFileSync(path.join(ROOT, p), 'utf8');

function tsCodes(): Set<string> {
  const src = read('lib/errors.ts');
  const union = src.slice(src.indexOf('export type XClipErrorCode'), src.indexOf(';', src.indexOf('export type XClipErrorCode')));
  return new Set([...union.matchAll(/'([A-Z_]+)'/g)].map((m) => m[1]));
}

function coreCodes(): Set<string> {
  return new Set([...read('native/core/src/error.cc').matchAll(/return "([A-Z_]+)";/g)].map((m) => m[1]));
}

function readmeTable(): Map<string, string[]> {
  const readme = read('README.md');
  const section = readme.slice(readme.indexOf('## Error codes'));
  const rows = new Map<string, string[]>();
  for (const line of section.split('\n').slice(1)) {
    if (line.startsWith('## ')) break;
    const m = /^\| `([A-Z_]+)` \|(.*)\|$/.exec(line);
    if (m) rows.set(m[1], m[2].split('|').map((c) => c.trim()));
  }
  return rows;
}

describe('error codes', () => {
  it('the TS union holds every code of the native core', () => {
    const ts = tsCodes();
    for (const c of coreCodes()) expect(ts).toContain(c);
  });

  it('the README table documents every code with a meaning and an action, and nothing else', () => {
    const table = readmeTable();
    expect([...table.keys()].sort()).toEqual([...tsCodes()].sort());
    for (const [code, [meaning, action]] of table) {
      expect(`${code}: ${meaning}`.length).toBeGreaterThan(code.length + 10);
      expect(`${code}: ${action}`.length).toBeGreaterThan(code.length + 5);
    }
  });
});
