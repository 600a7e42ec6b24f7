// = transformers.activations ACT2FN entries that X-CLIP configs use (activations.cc).
#pragma once

#include <ATen/ATen.h>

#include <string>

namespace xclip {

enum class Activation { kGelu, kRelu, kSelu, kGeluNew, kQuickGelu };
Activation parse_activation(const std::string& name, const std::string& key = "hidden_act");  // kConfigInvalid
at::Tensor apply_activation(Activation act, const at::Tensor& x);

// The most negative finite value of `dtype` (torch.finfo(dtype).min), HF's additive mask value.
double mask_min(at::ScalarType dtype);

}  // namespace xclip
