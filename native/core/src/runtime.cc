// Device and dtype resolution, intra-op thread setup.
#include <ATen/Parallel.h>
#include <ATen/detail/CUDAHooksInterface.h>

#include <sched.h>

#include <atomic>
#include <fstream>
#include <set>
#include <string>
#include <utility>
#include <cstdlib>
#include <mutex>
#include <thread>

#include "parts.h"
#include "xclip/error.h"
#include "xclip/model.h"
#include "xclip/runtime.h"

namespace xclip {

at::Device resolve_device(const std::string& spec) {
  const bool has_cuda = at::hasCUDA();
  const int count = has_cuda ? at::detail::getCUDAHooks().getNumGPUs() : 0;
  if (spec == "cpu") return at::Device(at::kCPU);
  if (spec == "auto") return count > 0 ? at::Device(at::kCUDA, 0) : at::Device(at::kCPU);
  int64_t index = 0;
  if (spec == "cuda") {
    index = 0;
  } else if (spec.rfind("cuda:", 0) == 0 && spec.size() > 5 && spec.size() < 9 &&
             spec.find_first_not_of("0123456789", 5) == std::string::npos) {
    index = std::stoll(spec.substr(5));
  } else {
    throw Error(ErrorCode::kInvalidInput, "device \"" + spec + "\" is not one of cpu, cuda, cuda:N, auto");
  }
  if (!has_cuda || count == 0) {
    throw Error(ErrorCode::kDeviceUnavailable,
                "device \"" + spec + "\" requested but this libtorch build or machine has no CUDA device" +
                    (has_cuda ? " (0 GPUs visible)" : " (libtorch compiled without CUDA)"));
  }
  if (index >= count) {
    throw Error(ErrorCode::kDeviceUnavailable,
                "device \"" + spec + "\" requested but only " + std::to_string(count) + " CUDA device(s) are visible");
  }
  return at::Device(at::kCUDA, static_cast<c10::DeviceIndex>(index));
}

at::ScalarType resolve_dtype(const std::string& name) {
  if (name == "float32" || name == "float" || name == "fp32") return at::kFloat;
  if (name == "float16" || name == "half" || name == "fp16") return at::kHalf;
  if (name == "bfloat16" || name == "bf16") return at::kBFloat16;
  throw Error(ErrorCode::kInvalidInput, "dtype \"" + name + "\" is not one of float32, float16, bfloat16");
}

namespace {
// Physical cores among the CPUs this process may run on: GEMMs saturate a core's vector units, so a second
// hyperthread per core only adds contention. 0 when sysfs does not tell (containers without it, non-Linux).
int physical_cores() {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) != 0) return 0;
  std::set<std::pair<int, int>> cores;  // (package, core)
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
    if (!CPU_ISSET(cpu, &set)) continue;
    const std::string dir = "/sys/devices/system/cpu/cpu" + std::to_string(cpu) + "/topology/";
    std::ifstream pkg(dir + "physical_package_id"), core(dir + "core_id");
    int p = 0, c = 0;
    if (!(pkg >> p) || !(core >> c)) return 0;
    cores.emplace(p, c);
  }
  return static_cast<int>(cores.size());
}

std::atomic<int> g_threads{0};  // 0 = not decided yet
std::once_flag g_threads_once;

int default_threads() {
  if (const char* env = std::getenv("XCLIP_NUM_THREADS")) {
    char* end = nullptr;
    long n = std::strtol(env, &end, 10);
    if (end != env && *end == '\0' && n > 0 && n <= 1024) return static_cast<int>(n);
  }
  const int physical = physical_cores();
  if (physical > 0) return physical;
  unsigned hw = std::thread::hardware_concurrency();
  return hw > 0 ? static_cast<int>(hw) : 1;
}
}  // namespace

void set_num_threads(int n) {
  if (n <= 0) throw Error(ErrorCode::kInvalidInput, "num_threads must be positive, got " + std::to_string(n));
  // The first call of the process may be this one (`serve --threads 2`): it must set up what the first model
  // call would have, the caching allocator included, or every later call pays fresh page faults.
  g_threads = n;
  ensure_threads_initialised();
}

int get_num_threads() {
  ensure_threads_initialised();
  return g_threads.load();
}

// at::set_num_threads is sticky per OpenMP thread, so every entry point re-applies it on the calling thread.
void ensure_threads_initialised() {
  std::call_once(g_threads_once, [] {
    if (g_threads.load() == 0) g_threads = default_threads();
    install_cpu_allocator();
  });
  const int n = g_threads.load();
  if (at::get_num_threads() != n) at::set_num_threads(n);
}

}  // namespace xclip
