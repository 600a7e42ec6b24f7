#include "xclip/versions.h"

#include <ATen/ATen.h>
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
