#include "xclip/error.h"

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

}  // namespace xclip
