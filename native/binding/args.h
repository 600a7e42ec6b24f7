// Reading the arguments the TypeScript layer passes. TS has already validated them with user-facing messages;
// these checks only keep a malformed call from the binding's own callers from crashing the process.
#pragma once

#include <napi.h>

#include <cstdint>
#include <string>

#include "errors.h"

namespace xclip_binding {

[[noreturn]] inline void throw_code(Napi::Env env, const char* code, const std::string& message) {
  throw make_error(env, {code, message});
}

inline std::string string_arg(const Napi::CallbackInfo& info, size_t i, const char* what) {
  if (info.Length() <= i || !info[i].IsString()) throw_code(info.Env(), "INVALID_INPUT", std::string(what) + " must be a string");
  return info[i].As<Napi::String>().Utf8Value();
}

inline Napi::Object object_arg(const Napi::CallbackInfo& info, size_t i, const char* what) {
  if (info.Length() <= i || !info[i].IsObject()) throw_code(info.Env(), "INVALID_INPUT", std::string(what) + " must be an object");
  return info[i].As<Napi::Object>();
}

// An optional options object: undefined/null read as {}.
inline Napi::Object options_arg(const Napi::Value& v, const char* what) {
  if (v.IsUndefined() || v.IsNull()) return Napi::Object::New(v.Env());
  if (!v.IsObject()) throw_code(v.Env(), "INVALID_INPUT", std::string(what) + " must be an object");
  return v.As<Napi::Object>();
}

inline std::string string_field(const Napi::Object& o, const char* key, const std::string& fallback) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined() || v.IsNull()) return fallback;
  if (!v.IsString()) throw_code(o.Env(), "INVALID_INPUT", std::string(key) + " must be a string");
  return v.As<Napi::String>().Utf8Value();
}

inline bool bool_field(const Napi::Object& o, const char* key, bool fallback = false) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined() || v.IsNull()) return fallback;
  return v.ToBoolean().Value();
}

inline int64_t int_field(const Napi::Object& o, const char* key, int64_t fallback) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined() || v.IsNull()) return fallback;
  if (!v.IsNumber()) throw_code(o.Env(), "INVALID_INPUT", std::string(key) + " must be a number");
  return v.As<Napi::Number>().Int64Value();
}

}  // namespace xclip_binding
