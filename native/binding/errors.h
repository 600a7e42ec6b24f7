// Error mapping: every failure crosses into JS as an Error whose `code` is the stable name of an
// xclip::ErrorCode ("CONFIG_INVALID", ...); lib/errors.ts turns it into an XClipError with the caller's stack.
#pragma once

#include <napi.h>

#include <exception>
#include <string>

namespace xclip_binding {

struct ErrorInfo {
  std::string code;
  std::string message;
};

// Call from inside a catch block: classifies the in-flight exception. xclip::Error keeps its code; c10::Error
// and bad_alloc are translated as the core's current_error() does (INTERNAL, no C++ backtrace); anything else is
// INTERNAL.
ErrorInfo current_exception_info();

Napi::Error make_error(Napi::Env env, const ErrorInfo& info);

// Synchronous native entry points: runs fn and converts any C++ exception into a thrown JS error.
template <typename Fn>
auto guard(Napi::Env env, Fn&& fn) -> decltype(fn()) {
  try {
    return fn();
  } catch (const Napi::Error&) {
    throw;
  } catch (...) {
    throw make_error(env, current_exception_info());
  }
}

}  // namespace xclip_binding
