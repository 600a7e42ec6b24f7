// Measurements for benchmarks (the bench and the CLI), not used by inference itself.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <string>

namespace xclip {

// The machine's GEMM throughput, measured for about `seconds` on a product of the vision tower's dominant shape
// ([m, k] @ [k, n], default 4096 x 768 x 3072): oneDNN with its weights pre-packed (its best case) where built
// in, else at::linear. The denominator of the bench's ratios; float32 or bfloat16.
struct GemmPeak {
  double gflops = 0;
  std::string backend;  // "onednn-packed" | "aten"
};
GemmPeak measure_gemm_peak(at::ScalarType dtype, double seconds = 1.0, int64_t m = 4096, int64_t k = 768,
                           int64_t n = 3072);

}  // namespace xclip
