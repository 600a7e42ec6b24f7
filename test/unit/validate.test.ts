// Pure TypeScript: no addon needed.
import { checkKeys, describe as describeValue, integerInRange, invalidParameterMessage } from '../../lib/validate';

describe('validate', () => {
  it('formats the one message shape', () => {
    expect(invalidParameterMessage('numFrames', 'integer between 1 and 64', 0)).toBe(
      'Expected integer between 1 and 64 for numFrames but received 0',
    );
  });

  it.each([
    [undefined, 'undefined'],
    [null, 'null'],
    [1.5, '1.5'],
    ['gpu', '"gpu" of type string'],
    [3n, '3n of type bigint'],
    [true, 'true of type boolean'],
    [[1, 2], '[1, 2]'],
    [['a'], 'an array of length 1'],
    [new Array(9).fill(0), 'an array of length 9'],
    [new Float64Array(3), 'a Float64Array of length 3'],
    [{}, 'an object'],
    [new Map(), 'an instance of Map'],
  ])('describes %p as %s', (value, text) => {
    expect(describeValue(value)).toBe(text);
  });

  it('integerInRange: TypeError for a non-integer, RangeError out of range', () => {
    expect(() => integerInRange('numFrames', 1.5, 1, 64)).toThrow(new TypeError('Expected integer between 1 and 64 for numFrames but received 1.5'));
    expect(() => integerInRange('numFrames', 0, 1, 64)).toThrow(new RangeError('Expected integer between 1 and 64 for numFrames but received 0'));
    expect(integerInRange('numFrames', 8, 1, 64)).toBe(8);
  });

  it('checkKeys refuses misspelled options', () => {
    expect(() => checkKeys('options', { returnLos: true }, ['returnLoss'])).toThrow(
      new TypeError('Expected one of returnLoss for options key but received "returnLos" of type string'),
    );
  });
});
