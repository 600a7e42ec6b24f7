// The public API's types: test/types/usage.ts must compile (and its @ts-expect-error lines must be errors).
import { execFileSync } from 'child_process';
import * as path from 'path';

it('tsc --noEmit accepts the typed usage file', () => {
  const root = path.resolve(__dirname, '..');
  const tsc = require.resolve('typescript/bin/tsc');
  let output = '';
  try {
    execFileSync(process.execPath, [tsc, '--noEmit', '-p', path.join(root, 'test', 'types', 'tsconfig.json')], { cwd: root, encoding: 'utf8' });
  } catch (e) {
    output = String((e as { stdout?: string }).stdout ?? e);
  }
  expect(output).toBe('');
});
