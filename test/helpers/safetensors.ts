// A tiny safetensors reader for the golden fixtures: u64 LE header length, JSON header, raw LE data.
import * as fs from 'fs';
import { Tensor } from '../../lib/tensor';

export interface RawTensor {
  dtype: string;
  dims: number[];
  data: Float32Array | Float64Array | BigInt64Array | Uint8Array | Uint16Array | Int32Array;
}

const CTORS: Record<string, { new (b: ArrayBuffer): RawTensor['data']; BYTES_PER_ELEMENT: number }> = {
  F32: Float32Array,
  F64: Float64Array,
  I64: BigInt64Array,
  I32: Int32Array,
  U8: Uint8Array,
  BOOL: Uint8Array,
  F16: Uint16Array,
  BF16: Uint16Array,
};

export function readSafetensors(file: string): Map<string, RawTensor> {
  const bytes = fs.readFileSync(file);
  const headerLength = Number(bytes.readBigUInt64LE(0));
  const header = JSON.parse(bytes.subarray(8, 8 + headerLength).toString('utf8')) as Record<
    string,
    { dtype: string; shape: number[]; data_offsets: [number, number] }
  >;
  const base = 8 + headerLength;
  const out = new Map<string, RawTensor>();
  for (const [name, info] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const Ctor = CTORS[info.dtype];
    if (!Ctor) throw new Error(`${file}: unsupported dtype ${info.dtype} for ${name}`);
    const [begin, end] = info.data_offsets;
    // Copy into a fresh, aligned ArrayBuffer (offsets in the file need not be 8-byte aligned).
    const ab = new ArrayBuffer(end - begin);
    new Uint8Array(ab).set(bytes.subarray(base + begin, base + end));
    out.set(name, { dtype: info.dtype, dims: info.shape, data: new Ctor(ab) });
  }
  return out;
}

/** A fixture tensor as an API Tensor (F32 -> float32, I64 -> int64). */
export function toTensor(raw: RawTensor): Tensor {
  if (raw.dtype === 'F32') return new Tensor('float32', raw.data as Float32Array, raw.dims);
  if (raw.dtype === 'I64') return new Tensor('int64', raw.data as BigInt64Array, raw.dims);
  throw new Error(`no Tensor mapping for ${raw.dtype}`);
}
