#include "module.h"

#include <ATen/CPUGeneratorImpl.h>

#include <map>
#include <set>
#include <sstream>

#include "xclip/error.h"

namespace xclip {

std::string shape_str(at::IntArrayRef shape) {
  std::ostringstream os;
  os << "[";
  for (size_t i = 0; i < shape.size(); ++i) os << (i ? ", " : "") << shape[i];
  os << "]";
  return os.str();
}

void Module::register_parameter(const std::string& name, at::Tensor& slot, std::vector<int64_t> shape, Init init) {
  params_.push_back({name, &slot, std::move(shape), init});
}

void Module::collect(const std::string& prefix, std::vector<ParamRef>& out) const {
  for (const auto& p : params_) out.push_back({prefix + p.name, p.slot, p.shape, p.init});
  for (const auto& [name, child] : children_) child->collect(prefix + name + ".", out);
}

std::vector<ParamRef> Module::named_parameters(const std::string& prefix) const {
  std::vector<ParamRef> out;
  collect(prefix, out);
  return out;
}

void Module::load_state_dict(const TensorMap& weights, at::ScalarType dtype, at::Device device,
                             const std::string& scope, const std::string& source) {
  std::vector<std::string> missing, unexpected, misshaped;
  std::set<std::string> used;
  std::vector<std::pair<at::Tensor*, at::Tensor>> assign;
  for (const ParamRef& p : named_parameters()) {
    auto it = weights.find(p.name);
    if (it == weights.end()) {
      missing.push_back(p.name + " " + shape_str(p.shape));
      continue;
    }
    used.insert(p.name);
    const at::Tensor& t = it->second;
    if (!t.defined() || t.sizes() != at::IntArrayRef(p.shape)) {
      misshaped.push_back(p.name + ": checkpoint " + (t.defined() ? shape_str(t.sizes()) : std::string("<undefined>")) +
                          " vs model " + shape_str(p.shape));
      continue;
    }
    if (!at::isFloatingType(t.scalar_type())) {
      misshaped.push_back(p.name + ": checkpoint dtype " + std::string(c10::toString(t.scalar_type())) +
                          " is not a floating type");
      continue;
    }
    assign.emplace_back(p.slot, t);
  }
  for (const auto& [k, v] : weights) {
    // Older checkpoints saved HF's position_ids buffers (now non-persistent); HF ignores them on load.
    const bool buffer = k.size() >= 24 && k.compare(k.size() - 24, 24, ".embeddings.position_ids") == 0;
    if (k.compare(0, scope.size(), scope) == 0 && !used.count(k) && !buffer) {
      unexpected.push_back(k + " " + (v.defined() ? shape_str(v.sizes()) : std::string()));
    }
  }
  if (!missing.empty() || !unexpected.empty() || !misshaped.empty()) {
    std::ostringstream os;
    os << source << " does not match the model config (" << missing.size() << " missing, " << unexpected.size()
       << " unexpected, " << misshaped.size() << " mis-shaped)";
    auto list = [&](const char* what, const std::vector<std::string>& v) {
      if (v.empty()) return;
      os << "; " << what << ": ";
      for (size_t i = 0; i < v.size(); ++i) os << (i ? ", " : "") << v[i];
    };
    list("missing keys", missing);
    list("unexpected keys", unexpected);
    list("mis-shaped keys", misshaped);
    throw Error(ErrorCode::kWeightsMismatch, os.str());
  }
  for (auto& [slot, t] : assign) {
    // .to() returns the same tensor (no copy) when dtype and device already match: mmap'd F32 stays zero-copy.
    *slot = t.to(device, dtype);
  }
}

void Module::init_parameters(uint64_t seed, at::ScalarType dtype, at::Device device) {
  at::Generator gen = at::detail::createCPUGenerator(seed);
  for (const ParamRef& p : named_parameters()) {
    at::Tensor t = at::empty(p.shape, at::TensorOptions().dtype(at::kFloat));
    if (p.init.kind == Init::kNormal) {
      t.normal_(0.0, p.init.value, gen);
    } else {
      t.fill_(p.init.value);
    }
    *p.slot = t.to(device, dtype);
  }
}

TensorMap Module::state_dict(const std::string& prefix) const {
  TensorMap out;
  for (const ParamRef& p : named_parameters(prefix)) out[p.name] = *p.slot;
  return out;
}

Linear::Linear(int64_t in, int64_t out, bool has_bias, double weight_std) {
  register_parameter("weight", weight, {out, in}, Init::normal(weight_std));
  if (has_bias) register_parameter("bias", bias, {out}, Init::fill(0.0));
}

at::Tensor Linear::forward(const at::Tensor& x, const Epilogue& epilogue) const {
  return xclip::linear(x, weight, bias, epilogue);
}

LayerNorm::LayerNorm(int64_t d, double e) : dim(d), eps(e) {
  register_parameter("weight", weight, {d}, Init::fill(1.0));
  register_parameter("bias", bias, {d}, Init::fill(0.0));
}

}  // namespace xclip
