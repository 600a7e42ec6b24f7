// Process-wide runtime settings of the core: intra-op threads, the CPU tensor allocator and the kernel backend,
// and the per-thread setup every entry point that runs tensor work needs (InferenceScope).
#pragma once

#include <c10/core/InferenceMode.h>

#include <cstddef>
#include <functional>

namespace xclip {

// Intra-op threads. Debian's libtorch starts with 1; the core sets the machine's physical cores on first use
// unless XCLIP_NUM_THREADS or set_num_threads says otherwise.
void set_num_threads(int n);
int get_num_threads();
// at::set_num_threads is sticky per OpenMP thread, and a libuv pool thread starts at libtorch's default of one:
// every thread that runs tensor work calls this first (InferenceScope does).
void ensure_threads_initialised();

// The setup of a thread about to run inference, in one place: the core's thread count on this thread, and
// c10::InferenceMode, which is per thread too (so it belongs in a worker's Execute, not on the JS thread).
class InferenceScope {
 public:
  InferenceScope() { ensure_threads_initialised(); }

 private:
  c10::InferenceMode mode_;
};

// Runs `job` on one of the process's compute threads and waits for it: the lowest-numbered idle one, or a new one
// when all are busy, so calls made one after another all run on thread 0 and calls made at the same time still run
// at the same time. libtorch's OpenMP keeps one team of worker threads per calling thread: calls made from
// whichever thread of a pool (libuv's) picked them up each woke another team while the previous one still spun on
// the same cores, which made a base-size text encoding take 21-36 ms instead of 14. The model's entry points run
// through it; a call from inside one runs inline. Exceptions reach the caller.
void run_on_compute_thread(const std::function<void()>& job);
// This thread's compute thread number, -1 on any other thread; how many compute threads have been started.
int compute_thread_index();
int compute_thread_count();

// CPU tensor memory. Every entry point installs (once) an allocator that keeps freed blocks of 256 KB and more
// for reuse, up to XCLIP_CPU_CACHE_MB (default 2048; 0 leaves libtorch's allocator in place), because fresh
// mappings cost more in page faults than the layers writing them. The cache holds at most one forward's
// transient working set; release_cached_cpu_memory() returns it to the OS (e.g. after disposing a model).
void install_cpu_allocator();
size_t cached_cpu_bytes();
void release_cached_cpu_memory();

// Which kernels the layers use on CPU. kAuto: oneDNN for Linear (float32/bfloat16) and bfloat16 LayerNorm where the
// core was built with it (see onednn_built()), else libtorch's. kATen: always at::linear / at::layer_norm (the
// baseline the bench compares against; also set by XCLIP_KERNELS=aten). Process-wide; applies from the next call.
enum class KernelBackend { kAuto, kATen };
void set_kernel_backend(KernelBackend b);
KernelBackend get_kernel_backend();
bool onednn_built();

}  // namespace xclip
