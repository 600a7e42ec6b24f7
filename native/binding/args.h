// Reading the arguments the TypeScript layer passes. TS has already validated them with user-facing messages;
// these checks only keep a malformed call from the binding's own callers from crashing the process.
#pragma once

#include <napi.h>

#include <cstdint>
#include <initializer_list>
#include <string>
#include <utility>
#include <vector>

#include "errors.h"

namespace xclip_binding {

using Entry = Napi::Value (*)(const Napi::CallbackInfo&);

// An export table: each entry becomes a function of `target` under its name (which is also the function's own
// name, as stack traces show it).
inline void set_functions(Napi::Env env, Napi::Object target, std::initializer_list<std::pair<const char*, Entry>> entries) {
  for (const auto& [name, fn] : entries) target.Set(name, Napi::Function::New(env, fn, name));
}

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


// An array longer than `max` is refused before anything walks it (see id_list).
inline void check_length(Napi::Env env, size_t n, size_t max, const std::string& what) {
  if (n > max) throw_code(env, "INVALID_INPUT", what + " has " + std::to_string(n) + " entries (at most " + std::to_string(max) + ")");
}

// Integer ids (token ids, frame indices) from a number array, a BigInt64Array or an Int32Array; at most `max`.
inline std::vector<int64_t> id_list(const Napi::Value& v, const char* what, size_t max) {
  Napi::Env env = v.Env();
  std::vector<int64_t> ids;
  if (v.IsArray()) check_length(env, v.As<Napi::Array>().Length(), max, what);
  if (v.IsTypedArray()) check_length(env, v.As<Napi::TypedArray>().ElementLength(), max, what);
  auto push = [&](double d, uint32_t i) {
    if (d != static_cast<double>(static_cast<int64_t>(d))) throw_code(env, "INVALID_INPUT", std::string(what) + "[" + std::to_string(i) + "] must be an integer");
    ids.push_back(static_cast<int64_t>(d));
  };
  if (v.IsArray()) {
    Napi::Array a = v.As<Napi::Array>();
    for (uint32_t i = 0; i < a.Length(); ++i) {
      Napi::Value x = a.Get(i);
      if (x.IsBigInt()) {
        bool lossless = true;
        ids.push_back(x.As<Napi::BigInt>().Int64Value(&lossless));
      } else if (x.IsNumber()) {
        push(x.As<Napi::Number>().DoubleValue(), i);
      } else {
        throw_code(env, "INVALID_INPUT", std::string(what) + "[" + std::to_string(i) + "] must be a number");
      }
    }
    return ids;
  }
  if (v.IsTypedArray()) {
    Napi::TypedArray t = v.As<Napi::TypedArray>();
    if (t.TypedArrayType() == napi_bigint64_array) {
      auto a = v.As<Napi::TypedArrayOf<int64_t>>();
      ids.assign(a.Data(), a.Data() + a.ElementLength());
      return ids;
    }
    if (t.TypedArrayType() == napi_int32_array) {
      auto a = v.As<Napi::Int32Array>();
      ids.assign(a.Data(), a.Data() + a.ElementLength());
      return ids;
    }
  }
  throw_code(env, "INVALID_INPUT", std::string(what) + " must be an array of integers, a BigInt64Array or an Int32Array");
}

}  // namespace xclip_binding
