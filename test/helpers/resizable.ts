/**
 * ES2024's resizable ArrayBuffer. Node 20 has it, but the project compiles against the ES2022 library (its
 * published types must not need a newer one), so the tests that shrink a buffer under a call type it here.
 */
export type ResizableArrayBuffer = ArrayBuffer & { resize(byteLength: number): void };

/** A resizable ArrayBuffer of `byteLength` bytes that may grow to `maxByteLength`. */
export function resizableBuffer(byteLength: number, maxByteLength: number): ResizableArrayBuffer {
  const Resizable = ArrayBuffer as unknown as new (bytes: number, options: { maxByteLength: number }) => ResizableArrayBuffer;
  return new Resizable(byteLength, { maxByteLength });
}
