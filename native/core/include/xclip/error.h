// Every failure the core reports is an xclip::Error with a stable code; the binding maps the code 1:1
// onto XClipError.code in JavaScript, so these names are part of the public contract.
#pragma once

#include <stdexcept>
#include <string>

namespace xclip {

enum class ErrorCode {
  kConfigInvalid,      // config.json / preprocessor_config.json: bad JSON, wrong type or value
  kFileNotFound,       // a required file is missing
  kIo,                 // read/mmap failure
  kWeightsCorrupt,     // checkpoint bytes are malformed (header, offsets, pickle stream)
  kWeightsMismatch,    // missing / unexpected / mis-shaped tensor for this config
  kInvalidInput,       // wrong shapes, dtypes, batch sizes, ids out of range
  kNonFinite,          // NaN or Inf in an input tensor
  kDeviceUnavailable,  // cuda requested but not available in this libtorch
  kTokenizer,          // tokenizer files missing or malformed
  kVideoOpen,          // container cannot be opened / probed
  kVideoNoStream,      // no video stream (e.g. audio only)
  kVideoDecode,        // corrupt or truncated stream
  kVideoUnsupported,   // codec not available
  kVideoTooLarge,      // declared resolution / frame count over the configured limit
  kVideoTimeout,       // probing or decoding took longer than the call's timeout
  kCancelled,          // the caller cancelled the call (ReadOptions::cancel)
  kInternal,           // a libtorch or FFmpeg failure we did not anticipate
};

// Stable string form used in messages and by the JS layer ("CONFIG_INVALID", ...).
const char* error_code_name(ErrorCode code);

class Error : public std::runtime_error {
 public:
  Error(ErrorCode code, const std::string& message) : std::runtime_error(message), code_(code) {}
  ErrorCode code() const { return code_; }
  const char* code_name() const { return error_code_name(code_); }

 private:
  ErrorCode code_;
};

// The exception being handled, as an xclip::Error; call it only inside a catch block. An xclip::Error comes back
// as it is. libtorch's failures (c10::Error: shapes, dtypes, allocations) and std::bad_alloc become kInternal,
// prefixed "where: " when `where` is not empty and without libtorch's C++ backtrace, which means nothing to a
// user. Any other exception is rethrown unchanged.
Error current_error(const char* where = "");

// Runs fn, translating what escapes it as current_error does.
template <class F>
auto translating_errors(const char* where, F&& fn) -> decltype(fn()) {
  try {
    return fn();
  } catch (const Error&) {
    throw;
  } catch (...) {
    throw current_error(where);
  }
}

}  // namespace xclip
