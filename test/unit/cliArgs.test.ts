// The CLI's argument parsing and the per-file record shape, without the addon.
import { UsageError, parseArgs } from '../../lib/cli/args';
import { XClipError } from '../../lib/errors';
import { fileRecord, isFailedRecord, recordError } from '../../lib/records';

const SPECS = [
  { name: 'labels', value: 'list', help: '' },
  { name: 'json', help: '' },
];

describe('parseArgs', () => {
  it('reads values, flags and positionals; -- ends the options', () => {
    const p = parseArgs(['a.mp4', '--labels', 'x,y', '--json', '--', '--odd.mp4'], SPECS);
    expect(p.positional).toEqual(['a.mp4', '--odd.mp4']);
    expect([...p.options]).toEqual([
      ['labels', 'x,y'],
      ['json', true],
    ]);
    expect(parseArgs(['--labels=a=b'], SPECS).options.get('labels')).toBe('a=b');
    expect(parseArgs(['-h'], SPECS).options.get('help')).toBe(true);
  });

  it.each([
    [['--lables', 'x'], 'unknown option --lables'],
    [['-x'], 'unknown option -x'],
    [['--labels'], '--labels needs a value <list>'],
    [['--json=1'], '--json takes no value'],
    [['--labels', 'a', '--labels', 'b'], '--labels is given twice'],
  ])('%j is a usage error', (argv, message) => {
    expect(() => parseArgs(argv, SPECS)).toThrow(new UsageError(message));
  });
});

describe('file records', () => {
  it('a result or an error, with the code of an XClipError, else the error code or name', () => {
    expect(fileRecord('a.mp4', { status: 'fulfilled', value: 3 }, (n) => ({ n }))).toEqual({ file: 'a.mp4', n: 3 });
    const failed = fileRecord('b.mp4', { status: 'rejected', reason: new XClipError('VIDEO_NO_STREAM', 'no video') }, () => ({}));
    expect(failed).toEqual({ file: 'b.mp4', error: { code: 'VIDEO_NO_STREAM', message: 'no video' } });
    expect(isFailedRecord(failed)).toBe(true);
    expect(recordError(new DOMException('gone', 'AbortError'))).toEqual({ code: 'AbortError', message: 'gone' });
    expect(recordError(Object.assign(new Error('x'), { code: 'ENOENT' }))).toEqual({ code: 'ENOENT', message: 'x' });
    expect(recordError('plain')).toEqual({ code: 'Error', message: 'plain' });
  });
});
