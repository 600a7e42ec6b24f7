// libFuzzer harness: parse_safetensors must either return tensors or throw xclip::Error, never crash or leak.
#include <cstddef>
#include <cstdint>

#include "xclip/error.h"
#include "xclip/weights.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    xclip::TensorMap m = xclip::parse_safetensors(data, size);
    for (auto& [k, v] : m) (void)v.sum();  // touch every byte the parser claimed was there
  } catch (const xclip::Error&) {
  }
  return 0;
}
