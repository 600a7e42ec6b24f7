#include "xclip/versions.h"

#include <ATen/ATen.h>
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

}  // namespace xclip
