// What the core was built and runs with, for `info` commands and bug reports.
#pragma once

#include <string>

namespace xclip {

struct RuntimeVersions {
  std::string libtorch;  // e.g. "1.13.0"
  std::string ffmpeg;    // av_version_info(), or "not built" without FFmpeg
  std::string blas;      // libtorch's BLAS_INFO (e.g. "open" for OpenBLAS), what it was built for
  bool mkldnn = false;   // oneDNN available (bf16 and packed fp32 GEMMs)
};

RuntimeVersions runtime_versions();

// The BLAS this process actually runs fp32 matmuls on. Debian's libtorch is built against the generic libblas.so.3
// (BLAS_INFO "generic") and the alternatives system decides which implementation that is, so only the mapped
// library files tell: OpenBLAS (with its build config), MKL, BLIS, ATLAS or the reference BLAS, and its path. Runs a
// small matmul first, so a BLAS loaded on first use is mapped too. "unknown" where /proc/self/maps is unreadable.
std::string loaded_blas();

// The part of loaded_blas() that reads a /proc/<pid>/maps text (`config`: OpenBLAS's openblas_get_config(), if any).
std::string describe_loaded_blas(const std::string& maps, const std::string& config);

}  // namespace xclip
