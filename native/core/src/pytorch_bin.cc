// PLACEHOLDER until the restricted-pickle reader lands (weights work item); not to be released as is.
#include "xclip/error.h"
#include "xclip/weights.h"

namespace xclip {
TensorMap load_pytorch_bin(const std::string& path) {
  throw Error(ErrorCode::kInternal, "pytorch_model.bin loading is not implemented yet: " + path);
}
}  // namespace xclip
