// libFuzzer harness: parse_config on arbitrary text must return a config or throw xclip::Error.
#include <cstddef>
#include <cstdint>
#include <string>

#include "xclip/config.h"
#include "xclip/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    xclip::XCLIPConfig c = xclip::parse_config(std::string(reinterpret_cast<const char*>(data), size));
    (void)xclip::config_to_json(c);
  } catch (const xclip::Error&) {
  }
  return 0;
}
