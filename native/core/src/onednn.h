// The oneDNN pieces the kernels and the GEMM-peak measurement share (only where the core is built with oneDNN).
#pragma once

#ifdef XCLIP_WITH_ONEDNN
#include <ATen/ATen.h>

#include <dnnl.hpp>

namespace xclip {

// One CPU engine per process: oneDNN caches primitives per engine.
inline const dnnl::engine& cpu_engine() {
  static const dnnl::engine eng(dnnl::engine::kind::cpu, 0);
  return eng;
}

inline dnnl::memory::data_type dnnl_type(at::ScalarType t) {
  return t == at::kBFloat16 ? dnnl::memory::data_type::bf16 : dnnl::memory::data_type::f32;
}

}  // namespace xclip
#endif
