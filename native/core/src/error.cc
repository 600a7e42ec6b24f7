#include "xclip/error.h"

#include <c10/util/Exception.h>

#include <new>

namespace xclip {

const char* error_code_name(ErrorCode code) {
  switch (code) {
    case ErrorCode::kConfigInvalid: return "CONFIG_INVALID";
    case ErrorCode::kFileNotFound: return "FILE_NOT_FOUND";
    case ErrorCode::kIo: return "IO_ERROR";
    case ErrorCode::kWeightsCorrupt: return "WEIGHTS_CORRUPT";
    case ErrorCode::kWeightsMismatch: return "WEIGHTS_MISMATCH";
    case ErrorCode::kInvalidInput: return "INVALID_INPUT";
    case ErrorCode::kNonFinite: return "NON_FINITE_INPUT";
    case ErrorCode::kDeviceUnavailable: return "DEVICE_UNAVAILABLE";
    case ErrorCode::kTokenizer: return "TOKENIZER_ERROR";
    case ErrorCode::kVideoOpen: return "VIDEO_OPEN_FAILED";
    case ErrorCode::kVideoNoStream: return "VIDEO_NO_STREAM";
    case ErrorCode::kVideoDecode: return "VIDEO_DECODE_FAILED";
    case ErrorCode::kVideoUnsupported: return "VIDEO_UNSUPPORTED";
    case ErrorCode::kVideoTooLarge: return "VIDEO_TOO_LARGE";
    case ErrorCode::kVideoTimeout: return "VIDEO_TIMEOUT";
    case ErrorCode::kCancelled: return "CANCELLED";
    case ErrorCode::kInternal: return "INTERNAL";
  }
  return "INTERNAL";
}

Error current_error(const char* where) {
  const std::string prefix = where && *where ? std::string(where) + ": " : std::string();
  try {
    throw;
  } catch (const Error& e) {
    return e;
  } catch (const c10::Error& e) {
    return Error(ErrorCode::kInternal, prefix + e.what_without_backtrace());
  } catch (const std::bad_alloc&) {
    return Error(ErrorCode::kInternal, prefix + "out of memory");
  }
}

}  // namespace xclip
