#include "errors.h"

#include "xclip/error.h"

namespace xclip_binding {

ErrorInfo current_exception_info() {
  try {
    const xclip::Error e = xclip::current_error();
    return {e.code_name(), e.what()};
  } catch (const std::exception& e) {
    return {"INTERNAL", e.what()};
  } catch (...) {
    return {"INTERNAL", "unknown native exception"};
  }
}

Napi::Error make_error(Napi::Env env, const ErrorInfo& info) {
  Napi::Error err = Napi::Error::New(env, info.message);
  err.Set("code", Napi::String::New(env, info.code));
  return err;
}

}  // namespace xclip_binding
