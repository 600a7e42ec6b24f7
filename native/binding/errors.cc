#include "errors.h"

#include <c10/util/Exception.h>

#include "xclip/error.h"

namespace xclip_binding {

ErrorInfo current_exception_info() {
  try {
    throw;
  } catch (const xclip::Error& e) {
    return {e.code_name(), e.what()};
  } catch (const c10::Error& e) {
    // The full what() carries a C++ backtrace that means nothing to a JS user.
    return {"INTERNAL", e.what_without_backtrace()};
  } catch (const std::bad_alloc&) {
    return {"INTERNAL", "out of memory"};
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
