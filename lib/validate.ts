/**
 * Argument checking, done in TypeScript before any native call: tiny predicates and one message maker, so every
 * complaint reads `Expected <what> for <name> but received <value>`. Wrong types raise `TypeError`, values out
 * of range `RangeError`.
 * @module
 */

/** Describes a received value for an error message: `0`, `"gpu" of type string`, `an array of length 3`. */
export function describe(value: unknown): string {
  if (value === undefined) return 'undefined';
  if (value === null) return 'null';
  switch (typeof value) {
    case 'number':
      return String(value);
    case 'string':
      return `${JSON.stringify(value)} of type string`;
    case 'bigint':
      return `${value}n of type bigint`;
    case 'boolean':
      return `${value} of type boolean`;
    case 'function':
      return 'a function';
    case 'symbol':
      return `${String(value)} of type symbol`;
    default:
      break;
  }
  if (Array.isArray(value)) {
    // Short lists of numbers are shapes: print them as such.
    if (value.length <= 8 && value.every((v) => typeof v === 'number')) return `[${value.join(', ')}]`;
    return `an array of length ${value.length}`;
  }
  if (ArrayBuffer.isView(value)) return `a ${value.constructor.name} of length ${(value as unknown as { length: number }).length ?? value.byteLength}`;
  const ctor = (value as object).constructor;
  return ctor && ctor !== Object ? `an instance of ${ctor.name}` : 'an object';
}

/**
 * The one message maker.
 * @example
 * invalidParameterMessage('numFrames', 'integer between 1 and 64', 0);
 * // 'Expected integer between 1 and 64 for numFrames but received 0'
 */
export function invalidParameterMessage(name: string, expected: string, actual: unknown): string {
  return `Expected ${expected} for ${name} but received ${describe(actual)}`;
}

/** A `TypeError` for a value of the wrong type. */
export function typeError(name: string, expected: string, actual: unknown): TypeError {
  return new TypeError(invalidParameterMessage(name, expected, actual));
}

/** A `RangeError` for a value of the right type but outside what is allowed. */
export function rangeError(name: string, expected: string, actual: unknown): RangeError {
  return new RangeError(invalidParameterMessage(name, expected, actual));
}

/** Predicates (sharp's `is`). */
export const is = {
  defined: (v: unknown): boolean => v !== undefined && v !== null,
  object: (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v),
  bool: (v: unknown): v is boolean => typeof v === 'boolean',
  string: (v: unknown): v is string => typeof v === 'string',
  number: (v: unknown): v is number => typeof v === 'number' && !Number.isNaN(v),
  integer: (v: unknown): v is number => Number.isInteger(v),
  inRange: (v: number, min: number, max: number): boolean => v >= min && v <= max,
  inArray: <T>(v: unknown, list: readonly T[]): v is T => list.includes(v as T),
  /**
   * A typed array of the named kind, by its tag rather than instanceof: arrays the addon makes, or that come from
   * another realm (vm contexts, jest), have other constructors.
   */
  typedArray: <T extends ArrayBufferView>(v: unknown, name: 'Uint8Array' | 'Int32Array' | 'BigInt64Array' | 'Float32Array'): v is T =>
    ArrayBuffer.isView(v) && (v as unknown as { [Symbol.toStringTag]: string })[Symbol.toStringTag] === name,
};

/**
 * Refuses misspelled options: every key of `obj` must be in `allowed`.
 * @example
 * checkKeys('options', { returnLos: true }, ['returnLoss']);
 * // TypeError: Expected one of returnLoss for options key but received "returnLos" of type string
 */
export function checkKeys(name: string, obj: Record<string, unknown>, allowed: readonly string[]): void {
  for (const key of Object.keys(obj)) {
    if (!allowed.includes(key)) throw typeError(`${name} key`, `one of ${allowed.join(', ')}`, key);
  }
}

/** Returns an optional object argument, `{}` when absent; `TypeError` for anything but a plain object. */
export function optionalObject(name: string, value: unknown, allowed: readonly string[]): Record<string, unknown> {
  if (value === undefined) return {};
  if (!is.object(value)) throw typeError(name, 'an object', value);
  checkKeys(name, value, allowed);
  return value;
}

/** Reads an optional boolean option. */
export function optionalBool(name: string, value: unknown): boolean | undefined {
  if (value === undefined) return undefined;
  if (!is.bool(value)) throw typeError(name, 'boolean', value);
  return value;
}

/** An integer between min and max: TypeError for a non-integer, RangeError outside the range. */
export function integerInRange(name: string, value: unknown, min: number, max: number): number {
  const expected = `integer between ${min} and ${max}`;
  if (!is.integer(value)) throw typeError(name, expected, value);
  if (!is.inRange(value, min, max)) throw rangeError(name, expected, value);
  return value;
}

/**
 * Checks an array argument and each of its elements, in order, holes included (they read as `undefined`, so a
 * sparse array is refused rather than skipped as `forEach` would). The length is checked before anything walks the
 * array: `new Array(2 ** 32 - 1)` is cheap to make and takes minutes to walk.
 * @example
 * const texts = checkArray('texts', value, 65536, (v, name) => { if (!is.string(v)) throw typeError(name, 'string', v); return v; });
 */
export function checkArray<T>(name: string, value: unknown, max: number, each: (v: unknown, name: string) => T, expected = 'an array'): T[] {
  if (!Array.isArray(value)) throw typeError(name, expected, value);
  if (value.length > max) throw rangeError(`${name}.length`, `at most ${max}`, value.length);
  const out = new Array<T>(value.length);
  for (let i = 0; i < value.length; i++) out[i] = each(value[i], `${name}[${i}]`);
  return out;
}
