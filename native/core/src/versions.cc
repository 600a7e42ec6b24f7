#include "xclip/versions.h"

#include <ATen/ATen.h>
#include <ATen/detail/CUDAHooksInterface.h>
#include <dlfcn.h>

#include <fstream>
#include <sstream>
#include <torch/version.h>  // macros only

#ifdef XCLIP_WITH_FFMPEG
extern "C" {
#include <libavutil/avutil.h>
}
#endif

namespace xclip {

RuntimeVersions runtime_versions() {
  RuntimeVersions v;
  v.libtorch = std::to_string(TORCH_VERSION_MAJOR) + "." + std::to_string(TORCH_VERSION_MINOR) + "." +
               std::to_string(TORCH_VERSION_PATCH);
#ifdef XCLIP_WITH_FFMPEG
  v.ffmpeg = av_version_info();
#else
  v.ffmpeg = "not built";
#endif
  // show_config() is libtorch's build summary; its BLAS_INFO names the BLAS it dispatches to.
  const std::string config = at::show_config();
  const std::string key = "BLAS_INFO=";
  auto pos = config.find(key);
  if (pos != std::string::npos) {
    auto end = config.find_first_of(", \n", pos + key.size());
    v.blas = config.substr(pos + key.size(), end - pos - key.size());
  } else {
    v.blas = "unknown";
  }
  v.mkldnn = at::hasMKLDNN();
  return v;
}

namespace {
// The few CUDA driver API entry points used, declared here so that no CUDA header is needed (cuda.h: CUresult is
// an enum, CUdevice an int; attributes 75/76 are CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR/MINOR).
using CuInit = int (*)(unsigned);
using CuDeviceGet = int (*)(int*, int);
using CuDeviceGetName = int (*)(char*, int, int);
using CuDeviceGetAttribute = int (*)(int*, int, int);
using CuDeviceTotalMem = int (*)(size_t*, int);

void describe_devices(CudaInfo& info) {
  void* lib = dlopen("libcuda.so.1", RTLD_NOW | RTLD_NOLOAD);
  if (!lib) lib = dlopen("libcuda.so.1", RTLD_NOW);
  if (!lib) return;
  auto init = reinterpret_cast<CuInit>(dlsym(lib, "cuInit"));
  auto get = reinterpret_cast<CuDeviceGet>(dlsym(lib, "cuDeviceGet"));
  auto name = reinterpret_cast<CuDeviceGetName>(dlsym(lib, "cuDeviceGetName"));
  auto attr = reinterpret_cast<CuDeviceGetAttribute>(dlsym(lib, "cuDeviceGetAttribute"));
  auto mem = reinterpret_cast<CuDeviceTotalMem>(dlsym(lib, "cuDeviceTotalMem_v2"));
  if (!init || !get || !name || !attr || !mem || init(0) != 0) return;
  // The driver numbers devices as libtorch does (both follow CUDA_VISIBLE_DEVICES and CUDA_DEVICE_ORDER).
  for (auto& d : info.devices) {
    int dev = 0;
    if (get(&dev, d.index) != 0) continue;
    char buf[256] = {0};
    if (name(buf, sizeof(buf) - 1, dev) == 0) d.name = buf;
    attr(&d.major, 75, dev);
    attr(&d.minor, 76, dev);
    size_t bytes = 0;
    if (mem(&bytes, dev) == 0) d.total_memory = static_cast<int64_t>(bytes);
  }
}
}  // namespace

CudaInfo cuda_info() {
  CudaInfo info;
  const auto& hooks = at::detail::getCUDAHooks();
  // Without libtorch_cuda the hooks are the interface's defaults, whose version queries throw. (hasCUDA() would
  // not tell: it is also false for a CUDA libtorch on a machine without a device.)
  try {
    info.cuda_runtime = hooks.versionCUDART();
  } catch (const c10::Error&) {
    return info;
  }
  info.built = true;
  info.device_count = hooks.getNumGPUs();
  try {
    if (hooks.hasCuDNN()) info.cudnn = hooks.versionCuDNN();
  } catch (const c10::Error&) {
  }
  for (int i = 0; i < info.device_count; ++i) info.devices.push_back(CudaDeviceInfo{i, "", 0, 0, 0});
  describe_devices(info);
  return info;
}

std::string describe_cuda(const CudaInfo& info) {
  if (!info.built) return "not available (this libtorch has no CUDA)";
  const std::string runtime = "CUDA " + std::to_string(info.cuda_runtime / 1000) + "." +
                              std::to_string(info.cuda_runtime % 1000 / 10) +
                              (info.cudnn ? ", cuDNN " + std::to_string(info.cudnn) : "");
  if (info.device_count == 0) return "libtorch built with " + runtime + ", but no CUDA device is visible";
  std::string out = std::to_string(info.device_count) + " device(s), " + runtime;
  for (const auto& d : info.devices) {
    out += "\n  cuda:" + std::to_string(d.index) + "  " + (d.name.empty() ? "(name unknown)" : d.name) +
           ", compute capability " + std::to_string(d.major) + "." + std::to_string(d.minor) + ", " +
           std::to_string(d.total_memory >> 20) + " MiB";
  }
  return out;
}

std::string describe_loaded_blas(const std::string& maps, const std::string& config) {
  // One mapped file per line: "<range> <perms> <offset> <dev> <inode> <path>".
  std::istringstream lines(maps);
  std::string line, found, kind;
  int rank = 0;  // an implementation's own library beats the libblas.so.3 shim that forwards to it
  while (std::getline(lines, line)) {
    auto slash = line.find('/');
    if (slash == std::string::npos) continue;
    const std::string path = line.substr(slash);
    const std::string file = path.substr(path.rfind('/') + 1);
    std::string k;
    int r = 0;
    if (file.rfind("libmkl_", 0) == 0) k = "MKL", r = 3;
    else if (file.rfind("libopenblas", 0) == 0) k = "OpenBLAS", r = 3;
    else if (file.rfind("libblis", 0) == 0) k = "BLIS", r = 3;
    else if (file.rfind("libsatlas", 0) == 0 || file.rfind("libtatlas", 0) == 0 || file.rfind("libatlas", 0) == 0) k = "ATLAS", r = 3;
    else if (file.rfind("libblas.so", 0) == 0) {
      r = 1;
      if (path.find("openblas") != std::string::npos) k = "OpenBLAS";
      else if (path.find("/blis") != std::string::npos) k = "BLIS";
      else if (path.find("atlas") != std::string::npos) k = "ATLAS";
      else k = "reference BLAS (netlib, unoptimised)";
    }
    if (r > rank) rank = r, kind = k, found = path;
  }
  if (found.empty()) return "unknown (no BLAS library mapped)";
  std::string out = kind == "OpenBLAS" && !config.empty() ? config : kind;
  if (found.find("openblas-openmp") != std::string::npos) out += ", OpenMP";
  else if (found.find("openblas-pthread") != std::string::npos) out += ", pthreads";
  return out + " (" + found + ")";
}

std::string loaded_blas() {
  (void)at::mm(at::ones({4, 4}), at::ones({4, 4}));
  std::ifstream f("/proc/self/maps");
  if (!f) return "unknown";
  std::stringstream maps;
  maps << f.rdbuf();
  std::string config;
  using ConfigFn = const char* (*)();
  if (auto fn = reinterpret_cast<ConfigFn>(dlsym(RTLD_DEFAULT, "openblas_get_config"))) config = fn();
  return describe_loaded_blas(maps.str(), config);
}

}  // namespace xclip
