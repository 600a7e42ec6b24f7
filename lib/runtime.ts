/**
 * Process-wide native settings.
 * @module
 */
import { callNative, callNativeSync } from './errors';
import { binding } from './native';
import { integerInRange, is, rangeError, typeError } from './validate';

/**
 * Sets libtorch's intra-op thread count for every later call (default: the machine's physical cores, or
 * `XCLIP_NUM_THREADS`).
 * @example
 * setNumThreads(2);
 */
export function setNumThreads(threads: number): void {
  integerInRange('threads', threads, 1, 1024);
  callNativeSync(new Error(), () => binding().setNumThreads(threads));
}

/**
 * @example
 * console.log(getNumThreads());
 */
export function getNumThreads(): number {
  return callNativeSync(new Error(), () => binding().getNumThreads());
}

/**
 * Whether this build of libtorch sees a CUDA device (`device: 'auto'` uses it then).
 * @example
 * const device = cudaAvailable() ? 'cuda' : 'cpu';
 */
export function cudaAvailable(): boolean {
  return binding().cudaAvailable();
}

/** One CUDA device as libtorch numbers it (`cuda:<index>`). */
export interface CudaDevice {
  index: number;
  /** e.g. `'NVIDIA H200'`; `''` where the CUDA driver library could not be asked. */
  name: string;
  /** e.g. `'9.0'`. */
  computeCapability: string;
  /** Bytes. */
  totalMemory: number;
}

/** What the loaded libtorch offers on CUDA. */
export interface CudaInfo {
  /** The libtorch the addon was built against has its CUDA part (see `XCLIP_LIBTORCH` in the README). */
  built: boolean;
  deviceCount: number;
  /** CUDA runtime version libtorch was built with, e.g. 12040 for 12.4; 0 when not built. */
  cudaRuntime: number;
  /** cuDNN version, 0 when none. */
  cudnn: number;
  devices: CudaDevice[];
  /** What `xclip-node info` prints: e.g. `'not available (this libtorch has no CUDA)'`. */
  summary: string;
}

/**
 * Whether the loaded libtorch has CUDA, which devices it sees, their names and compute capabilities.
 * @example
 * for (const d of cudaInfo().devices) console.log(`cuda:${d.index} ${d.name} sm_${d.computeCapability}`);
 */
export function cudaInfo(): CudaInfo {
  return callNativeSync(new Error(), () => binding().cudaInfo());
}

/** Which kernels the layers run on: `'auto'` (oneDNN where the addon has it, the default) or `'aten'` (libtorch's own). */
export type KernelBackend = 'auto' | 'aten';

/**
 * Switches every model's CPU layers between oneDNN (`'auto'`) and libtorch's own kernels (`'aten'`, what plain
 * libtorch does; `XCLIP_KERNELS=aten` sets it at start-up). For measuring one against the other in a single run.
 * @example
 * setKernelBackend('aten'); // baseline
 */
export function setKernelBackend(backend: KernelBackend): void {
  if (backend !== 'auto' && backend !== 'aten') throw typeError('backend', "'auto' or 'aten'", backend);
  binding().setKernelBackend(backend);
}

/**
 * @example
 * console.log(getKernelBackend()); // 'auto'
 */
export function getKernelBackend(): KernelBackend {
  return binding().getKernelBackend();
}

/**
 * Bytes of freed CPU tensor memory kept for reuse (at most `XCLIP_CPU_CACHE_MB`, default 2048): fresh pages
 * cost more in page faults than the layers that write them.
 * @example
 * console.log(cachedMemoryBytes() / 2 ** 20, 'MiB cached');
 */
export function cachedMemoryBytes(): number {
  return binding().cachedMemoryBytes();
}

/**
 * Returns the cached CPU tensor memory to the OS, e.g. after disposing the last model.
 * @example
 * model.dispose(); releaseCachedMemory();
 */
export function releaseCachedMemory(): void {
  binding().releaseCachedMemory();
}

/**
 * Native calls (decoding, preprocessing, model calls, loads) queued or running and not yet settled, in this process.
 * Node's exit waits for running ones to finish, and a call whose promise was abandoned (a classify that rejected
 * while its other videos were still decoding) keeps running: wait for zero before `process.exit` for a prompt exit.
 * @example
 * while (pendingNativeCalls() > 0) await new Promise((r) => setTimeout(r, 10));
 */
export function pendingNativeCalls(): number {
  return binding().pendingCalls();
}

export interface GemmPeak {
  /** GFLOP/s of a [4096, 768] x [768, 3072] product, the vision tower's dominant shape. */
  gflops: number;
  /** `'onednn-packed'` (oneDNN with pre-packed weights, its best case) or `'aten'` (at::linear). */
  backend: string;
}

/**
 * Measures this machine's GEMM throughput for about `seconds`, off the JS thread, with the threads inference
 * uses: the denominator of the bench's "of peak" ratios.
 * @example
 * const { gflops } = await measureGemmPeak('bfloat16');
 */
export async function measureGemmPeak(dtype: 'float32' | 'bfloat16' = 'float32', seconds = 1): Promise<GemmPeak> {
  if (dtype !== 'float32' && dtype !== 'bfloat16') throw typeError('dtype', "'float32' or 'bfloat16'", dtype);
  if (!is.number(seconds)) throw typeError('seconds', 'number between 0.01 and 60', seconds);
  if (!(seconds >= 0.01 && seconds <= 60)) throw rangeError('seconds', 'number between 0.01 and 60', seconds);
  return callNative(new Error(), () => binding().measureGemmPeak(dtype, seconds));
}
