// Pure TypeScript: no addon needed.
import { Tensor } from '../../lib/tensor';

describe('Tensor', () => {
  it('keeps the caller typed array by reference and freezes dims', () => {
    const data = new Float32Array([1, 2, 3, 4, 5, 6]);
    const t = new Tensor('float32', data, [2, 3]);
    expect(t.data).toBe(data);
    expect(t.dims).toEqual([2, 3]);
    expect(Object.isFrozen(t.dims)).toBe(true);
    expect(t.size).toBe(6);
    expect(t.toArray()).toEqual([[1, 2, 3], [4, 5, 6]]);
  });

  it('defaults dims to [length]', () => {
    expect(new Tensor('int32', new Int32Array(5)).dims).toEqual([5]);
  });

  it('copies plain arrays into the matching typed array', () => {
    expect(new Tensor('int64', [1, 2n, 3], [3]).data).toEqual(new BigInt64Array([1n, 2n, 3n]));
    expect(new Tensor('bool', [true, false, 1], [3]).data).toEqual(new Uint8Array([1, 0, 1]));
    expect(new Tensor('float32', [0.5], [1]).data).toEqual(new Float32Array([0.5]));
  });

  it('builds from nested arrays', () => {
    const t = Tensor.fromNested('int64', [[49406, 320, 49407], [49406, 49407, 49407]]);
    expect(t.dims).toEqual([2, 3]);
    expect(t.data[4]).toBe(49407n);
  });

  it('refuses ragged nested arrays', () => {
    expect(() => Tensor.fromNested('int64', [[1, 2], [3]], 'inputIds')).toThrow(RangeError);
    expect(() => Tensor.fromNested('int64', [[1, 2], [3]], 'inputIds')).toThrow(
      'Expected an array of length 2 (rows must have equal lengths) for inputIds[1] but received [3]',
    );
  });

  it('decodes float16 and bfloat16 bits', () => {
    expect(Array.from(new Tensor('float16', new Uint16Array([0x3c00, 0xc000, 0x3555, 0x7c00])).toFloat32Array())).toEqual([
      1, -2, expect.closeTo(0.33325, 5), Infinity,
    ]);
    expect(Array.from(new Tensor('bfloat16', new Uint16Array([0x3f80, 0xc040])).toFloat32Array())).toEqual([1, -3]);
  });

  it.each([
    [() => new Tensor('float64' as 'float32', new Float32Array(1)), TypeError, 'Expected one of float32, float16, bfloat16, int64, int32, uint8, bool for type but received "float64" of type string'],
    [() => new Tensor('float32', new Float64Array(1) as unknown as Float32Array), TypeError, 'Expected a Float32Array or an array for type float32 for data but received a Float64Array of length 1'],
    [() => new Tensor('int64', new Int32Array(1) as unknown as BigInt64Array), TypeError, 'Expected a BigInt64Array or an array for type int64 for data but received a Int32Array of length 1'],
    [() => new Tensor('float32', new Float32Array(6), [4, 2]), RangeError, 'Expected dims with 6 elements for tensor but received [4, 2] (8 elements)'],
    [() => new Tensor('float32', new Float32Array(6), [6, -1]), RangeError, 'Expected integer between 0 and 2147483647 for tensor.dims[1] but received -1'],
    [() => new Tensor('float32', new Float32Array(6), [1.5, 4]), TypeError, 'Expected integer between 0 and 2147483647 for tensor.dims[0] but received 1.5'],
    // An empty tensor's other dimensions are still sizes: [2 ** 31, 0] used to exhaust the heap in batchDecode.
    [() => new Tensor('int64', new BigInt64Array(0), [2 ** 31, 0]), RangeError, 'Expected integer between 0 and 2147483647 for tensor.dims[0] but received 2147483648'],
    [() => new Tensor('float32', new Float32Array(1), [1, 1, 1, 1, 1, 1, 1, 1, 1]), RangeError, 'Expected at most 8 for tensor.dims.length but received 9'],
    // Lengths before walking: a sparse array of length 2 ** 32 - 1 took minutes to check.
    [() => new Tensor('float32', new Array(2 ** 32 - 1) as number[]), RangeError, 'Expected at most 16777216 plain values (pass a typed array) for data.length but received 4294967295'],
    [() => Tensor.fromNested('int64', [new Array(2 ** 32 - 1) as number[]]), RangeError, 'Expected at most 16777216 plain values (pass a typed array) for array but received "[1, 4294967295]"'],
    // Holes are values too: they used to read as zeros.
    [() => new Tensor('float32', [1, , 3] as number[]), TypeError, 'Expected number for data[1] but received undefined'],
    [() => new Tensor('int32', [1.5]), TypeError, 'Expected integer for data[0] but received 1.5'],
    [() => new Tensor('int64', ['1' as unknown as number]), TypeError, 'Expected integer or bigint for data[0] but received "1" of type string'],
  ])('bad argument %#', (make, Kind, message) => {
    expect(make).toThrow(Kind);
    expect(make).toThrow(message);
  });
});
