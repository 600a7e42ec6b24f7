// A minimal ATen-only stand-in for torch::nn::Module: parameters and children are registered under HF's
// attribute names, so named_parameters() yields exactly the checkpoint keys. Inference only (no autograd state).
#pragma once

#include <ATen/ATen.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "kernels.h"
#include "xclip/weights.h"

namespace xclip {

// How a parameter is initialised by from_config (= XCLIPPreTrainedModel._init_weights).
struct Init {
  enum Kind { kNormal, kFill } kind = kFill;
  double value = 0.0;  // std for kNormal (mean 0), the constant for kFill
  static Init normal(double std) { return {kNormal, std}; }
  static Init fill(double v) { return {kFill, v}; }
};

struct ParamRef {
  std::string name;
  at::Tensor* slot;
  std::vector<int64_t> shape;
  Init init;
};

class Module {
 public:
  Module() = default;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;
  virtual ~Module() = default;

  // Registers `slot` (a member of the derived module) with the shape a checkpoint must have.
  void register_parameter(const std::string& name, at::Tensor& slot, std::vector<int64_t> shape, Init init);
  template <class M>
  M& register_module(const std::string& name, std::unique_ptr<M> child) {
    M& ref = *child;
    children_.emplace_back(name, std::move(child));
    return ref;
  }

  std::vector<ParamRef> named_parameters(const std::string& prefix = "") const;

  // Strict load: every missing, unexpected or mis-shaped key is reported in one kWeightsMismatch error.
  // Only checkpoint keys starting with `scope` can be unexpected (a tower loaded from a full X-CLIP checkpoint
  // ignores the other towers, as HF does). Tensors are converted to dtype/device; F32 CPU tensors are
  // aliased, not copied.
  void load_state_dict(const TensorMap& weights, at::ScalarType dtype, at::Device device,
                       const std::string& scope = "", const std::string& source = "checkpoint");
  // Fills every parameter per its Init with a CPU generator seeded by `seed`, in registration order.
  void init_parameters(uint64_t seed, at::ScalarType dtype, at::Device device);
  TensorMap state_dict(const std::string& prefix = "") const;

 private:
  void collect(const std::string& prefix, std::vector<ParamRef>& out) const;
  struct Own {
    std::string name;
    at::Tensor* slot;
    std::vector<int64_t> shape;
    Init init;
  };
  std::vector<Own> params_;
  std::vector<std::pair<std::string, std::unique_ptr<Module>>> children_;
};

// = nn.Linear (weight [out, in], optional bias [out]). Init is the generic nn.Linear branch of _init_weights:
// N(0, initializer_factor), bias 0; owners override the weight std where HF does.
struct Linear : Module {
  Linear(int64_t in, int64_t out, bool bias, double weight_std = 1.0);
  at::Tensor forward(const at::Tensor& x, const Epilogue& epilogue = {}) const;
  at::Tensor weight, bias;
};

// = nn.LayerNorm(dim, eps): weight 1, bias 0.
struct LayerNorm : Module {
  LayerNorm(int64_t dim, double eps);
  at::Tensor forward(const at::Tensor& x) const { return xclip::layer_norm(x, weight, bias, eps); }
  int64_t dim;
  double eps;
  at::Tensor weight, bias;
};

std::string shape_str(at::IntArrayRef shape);

}  // namespace xclip
