/**
 * Process-wide native settings.
 * @module
 */
import { callNativeSync } from './errors';
import { binding } from './native';
import { integerInRange } from './validate';

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
