// The kernels every Linear and LayerNorm goes through. On CPU, libtorch 1.13 sends fp32 at::linear to BLAS (OpenBLAS runs at about
// half of this CPU's AVX-512 peak) and only bf16 to oneDNN; calling oneDNN's matmul directly on the dense
// tensors (weights used in place, no reorder or second copy) runs fp32 ~2x faster and bf16 ~1.3x faster.
#pragma once

#include <ATen/ATen.h>

#include <optional>

#include "activations.h"

namespace xclip {

// What happens to a GEMM's output before it is stored; oneDNN applies it in the same pass (post-ops), so the
// activation costs no extra read and write of the [M, intermediate] tensor, the largest one a layer makes.
struct Epilogue {
  std::optional<Activation> act;
};

// act(x [..., K] @ weight[N, K]^T + bias[N]): oneDNN where built in and enabled for x's device and dtype,
// else at::linear and apply_activation.
at::Tensor linear(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias, const Epilogue& epilogue = {});
// nn.LayerNorm over the last dim. bfloat16 on CPU runs on oneDNN (statistics in float32): libtorch 1.13's
// bfloat16 kernel is ~50x slower and rounds more.
at::Tensor layer_norm(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias, double eps);

// x [..., K] @ weight [K, N] (a projection stored the other way round, e.g. prompts_visual_projection).
at::Tensor matmul(const at::Tensor& x, const at::Tensor& weight);

// at::bmm: a [B, M, K] @ b [B, K, N], both read through their strides (transposed views included). float32 on
// CPU runs as one oneDNN batched matmul: libtorch 1.13 runs one BLAS call per batch entry, and a search rerank's
// 200 candidates x 8 heads of [8, 512] x [512, 49] spent ~2x longer in those calls than in the arithmetic.
at::Tensor bmm(const at::Tensor& a, const at::Tensor& b);

}  // namespace xclip
