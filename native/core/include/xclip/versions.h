// What the core was built and runs with, for `info` commands and bug reports.
#pragma once

#include <string>

namespace xclip {

struct RuntimeVersions {
  std::string libtorch;  // e.g. "1.13.0"
  std::string ffmpeg;    // av_version_info(), or "not built" without FFmpeg
  std::string blas;      // libtorch's BLAS_INFO (e.g. "open" for OpenBLAS)
  bool mkldnn = false;   // oneDNN available (bf16 and packed fp32 GEMMs)
};

RuntimeVersions runtime_versions();

}  // namespace xclip
