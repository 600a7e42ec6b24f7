// What require() says when the addon cannot load: a documented code, the missing library, its Debian package.
import * as fs from 'fs';
import * as path from 'path';

import { XClipError } from '../../lib/errors';
import { explainLoadFailure } from '../../lib/native';
import { ROOT } from '../helpers/fixtures';

const runtime = (JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { debian: { runtime: string[] } }).debian.runtime;
const dlopen = (message: string): Error => Object.assign(new Error(message), { code: 'ERR_DLOPEN_FAILED' });

describe('explainLoadFailure', () => {
  it.each([
    ['libavformat.so.59', 'libavformat59'],
    ['libtorch_cpu.so.1.13', 'libtorch1.13'],
    ['libc10.so.1.13', 'libtorch1.13'],
    ['libdnnl.so.2', 'libdnnl2'],
    ['libutf8proc.so.2', 'libutf8proc2'],
    ['libswscale.so.6', 'libswscale6'],
  ])('%s missing: ADDON_LOAD_FAILED naming it and the package %s', (lib, pkg) => {
    const cause = dlopen(`${lib}: cannot open shared object file: No such file or directory`);
    const e = explainLoadFailure(cause, ROOT) as XClipError;
    expect(e).toBeInstanceOf(XClipError);
    expect(e.code).toBe('ADDON_LOAD_FAILED');
    expect(e.message.split('\n')).toEqual([
      `xclip-node: the native addon needs system libraries that are missing: ${cause.message}`,
      `${lib} is in the Debian package ${pkg}: sudo apt-get install --no-install-recommends ${pkg}`,
      `On Debian 12, the runtime libraries: sudo apt-get install --no-install-recommends ${runtime.join(' ')}`,
      'Elsewhere, build from source (see the README, "Building from source").',
    ]);
    expect((e as Error & { cause?: unknown }).cause).toBe(cause);
  });

  it('a library of no runtime package still gets the whole apt line; other dlopen failures and no build too', () => {
    const other = explainLoadFailure(dlopen('libfoo.so.7: cannot open shared object file: No such file or directory'), ROOT) as XClipError;
    expect(other.message).not.toMatch(/is in the Debian package/);
    expect(other.message).toContain(runtime.join(' '));
    const symbol = explainLoadFailure(dlopen('/x/xclip.node: undefined symbol: _ZN3c10'), ROOT) as XClipError;
    expect([symbol.code, symbol.message.split('\n')[0]]).toEqual(['ADDON_LOAD_FAILED', 'xclip-node: the native addon cannot be loaded: /x/xclip.node: undefined symbol: _ZN3c10']);
    const none = explainLoadFailure(new Error('No native build was found for platform=linux arch=x64 runtime=node abi=115'), ROOT) as XClipError;
    expect(none.code).toBe('ADDON_LOAD_FAILED');
    expect(none.message).toContain('npm rebuild xclip-node');
    const unrelated = new TypeError('something else');
    expect(explainLoadFailure(unrelated, ROOT)).toBe(unrelated);
  });
});
