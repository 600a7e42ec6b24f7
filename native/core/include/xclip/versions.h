// What the core was built and runs with, for `info` commands and bug reports.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace xclip {

struct RuntimeVersions {
  std::string libtorch;  // e.g. "1.13.0"
  std::string ffmpeg;    // av_version_info(), or "not built" without FFmpeg
  std::string blas;      // libtorch's BLAS_INFO (e.g. "open" for OpenBLAS), what it was built for
  bool mkldnn = false;   // oneDNN available (bf16 and packed fp32 GEMMs)
};

RuntimeVersions runtime_versions();

struct CudaDeviceInfo {
  int index = 0;
  std::string name;          // "" where the CUDA driver library could not be asked
  int major = 0, minor = 0;  // compute capability
  int64_t total_memory = 0;  // bytes
};

struct CudaInfo {
  bool built = false;        // this libtorch has its CUDA part (libtorch_cuda) loaded
  int device_count = 0;      // devices it sees (0 without a driver or with CUDA_VISIBLE_DEVICES empty)
  long cuda_runtime = 0;     // CUDA runtime version libtorch was built with, e.g. 12040; 0 if not built
  long cudnn = 0;            // cuDNN version, 0 if none
  std::vector<CudaDeviceInfo> devices;
};

// libtorch's own hooks answer whether CUDA is built and how many devices there are on any libtorch, CPU-only ones
// included; names and compute capabilities come from the CUDA driver library (libcuda.so.1) that a CUDA libtorch
// has loaded already, so nothing here needs CUDA headers.
CudaInfo cuda_info();

// One line for `info` commands: "not built", "built (CUDA 12.4), no device visible" or "N device(s) ...".
std::string describe_cuda(const CudaInfo& info);

// The BLAS this process actually runs fp32 matmuls on. Debian's libtorch is built against the generic libblas.so.3
// (BLAS_INFO "generic") and the alternatives system decides which implementation that is, so only the mapped
// library files tell: OpenBLAS (with its build config), MKL, BLIS, ATLAS or the reference BLAS, and its path. Runs a
// small matmul first, so a BLAS loaded on first use is mapped too. "unknown" where /proc/self/maps is unreadable.
std::string loaded_blas();

// The part of loaded_blas() that reads a /proc/<pid>/maps text (`config`: OpenBLAS's openblas_get_config(), if any).
std::string describe_loaded_blas(const std::string& maps, const std::string& config);

}  // namespace xclip
