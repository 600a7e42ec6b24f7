/**
 * A minimal dense tensor: a typed array plus its shape. Model inputs are borrowed by the addon without a copy,
 * and model outputs are views of the native result's memory.
 * @module
 */
import { checkArray, is, rangeError, typeError } from './validate';

/**
 * Element types the addon understands. `float16`/`bfloat16` are stored as raw bits in a Uint16Array.
 * @example
 * const type: TensorType = 'bfloat16';
 */
export type TensorType = 'float32' | 'float16' | 'bfloat16' | 'int64' | 'int32' | 'uint8' | 'bool';

/** The typed array that backs each tensor type. */
export interface TensorDataMap {
  float32: Float32Array;
  float16: Uint16Array;
  bfloat16: Uint16Array;
  int64: BigInt64Array;
  int32: Int32Array;
  uint8: Uint8Array;
  bool: Uint8Array;
}

/** Nested plain arrays, e.g. `[[49406, 320, 49407]]` for a batch of token ids. */
export type NestedArray<T> = T | readonly NestedArray<T>[];

/** All tensor types, in the order the docs list them. */
export const TENSOR_TYPES: readonly TensorType[] = ['float32', 'float16', 'bfloat16', 'int64', 'int32', 'uint8', 'bool'];

const ARRAY_CTORS = {
  float32: Float32Array,
  float16: Uint16Array,
  bfloat16: Uint16Array,
  int64: BigInt64Array,
  int32: Int32Array,
  uint8: Uint8Array,
  bool: Uint8Array,
} as const;

/** At most this many dimensions, each at most MAX_DIM (the addon's limits: an empty tensor's other dimensions are
 * still sizes the engine would allocate for). */
const MAX_DIMS = 8;
const MAX_DIM = 2 ** 31 - 1;
/** Plain arrays are walked value by value: larger data belongs in a typed array. */
const MAX_PLAIN_VALUES = 2 ** 24;

function product(dims: readonly number[]): number {
  return dims.reduce((a, b) => a * b, 1);
}

function checkDims(dims: unknown, name: string): number[] {
  return checkArray(`${name}.dims`, dims, MAX_DIMS, (d, at) => {
    if (!is.integer(d)) throw typeError(at, `integer between 0 and ${MAX_DIM}`, d);
    if (!is.inRange(d, 0, MAX_DIM)) throw rangeError(at, `integer between 0 and ${MAX_DIM}`, d);
    return d;
  }, 'an array of non-negative integers');
}

function fromPlain<T extends TensorType>(type: T, values: readonly unknown[], name: string): TensorDataMap[T] {
  const Ctor = ARRAY_CTORS[type];
  if (values.length > MAX_PLAIN_VALUES) {
    throw rangeError(`${name}.length`, `at most ${MAX_PLAIN_VALUES} plain values (pass a typed array)`, values.length);
  }
  const out = new Ctor(values.length) as TensorDataMap[T];
  // Every index, holes included: a sparse array must not read as zeros.
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (type === 'int64') {
      if (typeof v === 'bigint') (out as BigInt64Array)[i] = v;
      else if (is.integer(v)) (out as BigInt64Array)[i] = BigInt(v);
      else throw typeError(`${name}[${i}]`, 'integer or bigint', v);
    } else if (type === 'bool') {
      if (typeof v === 'boolean') (out as Uint8Array)[i] = v ? 1 : 0;
      else if (v === 0 || v === 1) (out as Uint8Array)[i] = v;
      else throw typeError(`${name}[${i}]`, 'boolean, 0 or 1', v);
    } else {
      if (!is.number(v)) throw typeError(`${name}[${i}]`, 'number', v);
      if (type !== 'float32' && !Number.isInteger(v)) throw typeError(`${name}[${i}]`, 'integer', v);
      (out as Float32Array)[i] = v;
    }
  }
  return out;
}

/**
 * A dense, row-major tensor.
 * @example
 * const pixels = new Tensor('float32', new Float32Array(1 * 8 * 3 * 224 * 224), [1, 8, 3, 224, 224]);
 * const ids = new Tensor('int64', [49406n, 320n, 49407n], [1, 3]);
 */
export class Tensor<T extends TensorType = TensorType> {
  /** Element type. */
  readonly type: T;
  /** Elements in row-major order (borrowed, not copied, when you pass a typed array). */
  readonly data: TensorDataMap[T];
  /** Shape; frozen. */
  readonly dims: readonly number[];

  /**
   * @param type element type
   * @param data a typed array of the matching kind (kept by reference) or plain numbers/bigints/booleans (copied)
   * @param dims shape; defaults to `[data.length]`
   * @example
   * new Tensor('int32', new Int32Array([1, 2, 3, 4]), [2, 2]);
   */
  constructor(type: T, data: TensorDataMap[T] | readonly (number | bigint | boolean)[], dims?: readonly number[]) {
    if (!is.inArray(type, TENSOR_TYPES)) throw typeError('type', `one of ${TENSOR_TYPES.join(', ')}`, type);
    const Ctor = ARRAY_CTORS[type];
    let array: TensorDataMap[T];
    if (Array.isArray(data)) {
      array = fromPlain(type, data, 'data');
    } else if (ArrayBuffer.isView(data) && (data as unknown as { [Symbol.toStringTag]: string })[Symbol.toStringTag] === Ctor.name) {
      // Tag check, not instanceof: arrays made by the addon or another realm (vm, jest) have other constructors.
      array = data as TensorDataMap[T];
    } else {
      throw typeError('data', `a ${Ctor.name} or an array for type ${type}`, data);
    }
    const shape = dims === undefined ? [array.length] : checkDims(dims, 'tensor');
    if (product(shape) !== array.length) {
      throw new RangeError(
        `Expected dims with ${array.length} elements for tensor but received [${shape.join(', ')}] (${product(shape)} elements)`,
      );
    }
    this.type = type;
    this.data = array;
    this.dims = Object.freeze(shape);
  }

  /** Number of elements. */
  get size(): number {
    return this.data.length;
  }

  /**
   * Builds a tensor from rectangular nested arrays; dims are inferred.
   * @example
   * Tensor.fromNested('int64', [[49406, 320, 49407], [49406, 49407, 49407]]).dims; // [2, 3]
   */
  static fromNested<T extends TensorType>(type: T, nested: NestedArray<number | bigint | boolean>, name = 'array'): Tensor<T> {
    const dims: number[] = [];
    let probe: unknown = nested;
    while (Array.isArray(probe)) {
      dims.push(probe.length);
      if (dims.length > MAX_DIMS) throw rangeError(name, `at most ${MAX_DIMS} levels of nesting`, nested);
      probe = probe[0];
    }
    // The shape bounds the walk below: refuse what would take long before starting.
    if (product(dims) > MAX_PLAIN_VALUES) {
      throw rangeError(name, `at most ${MAX_PLAIN_VALUES} plain values (pass a typed array)`, `[${dims.join(', ')}]`);
    }
    const flat: unknown[] = [];
    const walk = (node: unknown, depth: number, path: string): void => {
      if (depth === dims.length) {
        if (Array.isArray(node)) throw rangeError(path, `a value at depth ${dims.length}`, node);
        flat.push(node);
        return;
      }
      if (!Array.isArray(node) || node.length !== dims[depth]) {
        throw rangeError(path, `an array of length ${dims[depth]} (rows must have equal lengths)`, node);
      }
      for (let i = 0; i < node.length; i++) walk(node[i], depth + 1, `${path}[${i}]`);  // holes too
    };
    walk(nested, 0, name);
    return new Tensor(type, fromPlain(type, flat, name), dims);
  }

  /**
   * The values as a Float32Array (a copy; float16/bfloat16 are decoded).
   * @example
   * (await model.getVideoFeatures(pixels)).toFloat32Array();
   */
  toFloat32Array(): Float32Array {
    const n = this.data.length;
    const out = new Float32Array(n);
    if (this.type === 'float16') {
      const src = this.data as Uint16Array;
      for (let i = 0; i < n; i++) out[i] = halfToFloat(src[i]);
    } else if (this.type === 'bfloat16') {
      const src = this.data as Uint16Array;
      const u32 = new Uint32Array(out.buffer);
      for (let i = 0; i < n; i++) u32[i] = src[i] << 16;
    } else if (this.type === 'int64') {
      const src = this.data as BigInt64Array;
      for (let i = 0; i < n; i++) out[i] = Number(src[i]);
    } else {
      out.set(this.data as Float32Array);
    }
    return out;
  }

  /**
   * Nested plain arrays of numbers (int64 values converted with Number()).
   * @example
   * new Tensor('float32', [1, 2, 3, 4], [2, 2]).toArray(); // [[1, 2], [3, 4]]
   */
  toArray(): NestedArray<number> {
    const flat = this.type === 'float32' || this.type === 'int32' || this.type === 'uint8' || this.type === 'bool'
      ? Array.from(this.data as Float32Array)
      : Array.from(this.toFloat32Array());
    const build = (offset: number, depth: number): NestedArray<number> => {
      if (depth === this.dims.length) return flat[offset];
      const stride = product(this.dims.slice(depth + 1));
      return Array.from({ length: this.dims[depth] }, (_, i) => build(offset + i * stride, depth + 1));
    };
    return build(0, 0);
  }
}

function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * 2 ** -14 * (frac / 1024);
  if (exp === 0x1f) return frac ? NaN : sign * Infinity;
  return sign * 2 ** (exp - 15) * (1 + frac / 1024);
}

/** Tensor types accepted for token ids and position ids. */
export type IndexTensorType = 'int64' | 'int32';
/** Tensor types accepted for attention masks. */
export type MaskTensorType = 'int64' | 'int32' | 'uint8' | 'bool' | 'float32';
/**
 * Token ids / positions: an integer tensor or nested arrays of integers (copied into an int64 tensor).
 * @example
 * const ids: IndexInput = [[49406, 320, 49407]];
 */
export type IndexInput = Tensor<IndexTensorType> | readonly (readonly (number | bigint)[])[];
/**
 * Attention mask: a tensor or nested arrays of 0/1 (copied into an int64 tensor).
 * @example
 * const mask: MaskInput = [[1, 1, 0]];
 */
export type MaskInput = Tensor<MaskTensorType> | readonly (readonly (number | bigint | boolean)[])[];

/** Normalises an ids/mask argument: a Tensor of an allowed type, or nested arrays -> int64 Tensor. */
export function toTensor<T extends TensorType>(value: unknown, name: string, allowed: readonly T[]): Tensor<T> {
  if (value instanceof Tensor) {
    if (!is.inArray(value.type, allowed)) throw typeError(`${name}.type`, `one of ${allowed.join(', ')}`, value.type);
    return value as Tensor<T>;
  }
  if (Array.isArray(value) && allowed.includes('int64' as T)) {
    const mapped = value.map((row: unknown) => (Array.isArray(row) ? row.map((v: unknown) => (typeof v === 'boolean' ? (v ? 1 : 0) : v)) : row));
    return Tensor.fromNested('int64', mapped as NestedArray<number>, name) as unknown as Tensor<T>;
  }
  throw typeError(name, allowed.includes('int64' as T) ? 'a Tensor or nested arrays of integers' : `a Tensor of type ${allowed.join(' or ')}`, value);
}
