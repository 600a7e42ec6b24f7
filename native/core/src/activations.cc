// = transformers.activations ACT2FN entries that X-CLIP configs use.
#include <cmath>
#include <limits>

#include "activations.h"
#include "xclip/error.h"

namespace xclip {

Activation parse_activation(const std::string& name, const std::string& key) {
  if (name == "gelu") return Activation::kGelu;
  if (name == "relu") return Activation::kRelu;
  if (name == "selu") return Activation::kSelu;
  if (name == "gelu_new") return Activation::kGeluNew;
  if (name == "quick_gelu") return Activation::kQuickGelu;
  throw Error(ErrorCode::kConfigInvalid,
              key + ": \"" + name + "\" is not a supported activation (gelu, relu, selu, gelu_new, quick_gelu)");
}

at::Tensor apply_activation(Activation act, const at::Tensor& x) {
  switch (act) {
    case Activation::kGelu:  // GELUActivation: exact erf form
      return at::gelu(x);
    case Activation::kRelu:
      return at::relu(x);
    case Activation::kSelu:
      return at::selu(x);
    case Activation::kGeluNew: {  // NewGELUActivation, written term by term as HF does so rounding matches
      const double k = std::sqrt(2.0 / M_PI);
      return 0.5 * x * (1.0 + at::tanh(k * (x + 0.044715 * at::pow(x, 3.0))));
    }
    case Activation::kQuickGelu:  // QuickGELUActivation: x * sigmoid(1.702 x), in place on the temporary
      return at::sigmoid(1.702 * x).mul_(x);
  }
  throw Error(ErrorCode::kInternal, "unknown activation");
}

double mask_min(at::ScalarType dtype) {
  switch (dtype) {
    case at::kFloat: return std::numeric_limits<float>::lowest();
    case at::kDouble: return std::numeric_limits<double>::lowest();
    case at::kHalf: return -65504.0;
    case at::kBFloat16: return static_cast<double>(std::numeric_limits<c10::BFloat16>::lowest());
    default: throw Error(ErrorCode::kInternal, "mask_min: not a floating dtype");
  }
}

}  // namespace xclip
