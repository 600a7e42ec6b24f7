#include "pinned.h"

#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>

#include "args.h"

namespace xclip_binding {
namespace {

struct Block {
  void* data;
  size_t bytes;
  ~Block() { std::free(data); }
};

// Live blocks by start address. A block leaves when the last of JS's array and the workers' references goes.
std::mutex g_mutex;
std::map<uintptr_t, std::weak_ptr<Block>>& registry() {
  static std::map<uintptr_t, std::weak_ptr<Block>> r;
  return r;
}

struct JsHold {
  std::shared_ptr<Block> block;
};

void finalize_pinned(napi_env env, void* /*data*/, void* hint) {
  auto* hold = static_cast<JsHold*>(hint);
  int64_t unused = 0;
  napi_adjust_external_memory(env, -static_cast<int64_t>(hold->block->bytes), &unused);
  {
    std::lock_guard<std::mutex> lock(g_mutex);
    registry().erase(reinterpret_cast<uintptr_t>(hold->block->data));
  }
  delete hold;
}

// napi_get_typedarray_info of a Float32Array: its elements, or none when it is detached.
struct ArrayView {
  float* data = nullptr;
  size_t length = 0;
  napi_value buffer = nullptr;
};

ArrayView view_of(Napi::Env env, napi_value array) {
  ArrayView v;
  napi_typedarray_type type;
  void* data = nullptr;
  size_t offset = 0;
  NAPI_THROW_IF_FAILED(env, napi_get_typedarray_info(env, array, &type, &v.length, &data, &v.buffer, &offset), v);
  v.data = static_cast<float*>(data);
  return v;
}

}  // namespace

std::shared_ptr<const void> pin_of(const void* data, size_t bytes) {
  const auto p = reinterpret_cast<uintptr_t>(data);
  std::lock_guard<std::mutex> lock(g_mutex);
  auto& r = registry();
  auto it = r.upper_bound(p);
  if (it == r.begin()) return nullptr;
  --it;
  std::shared_ptr<Block> b = it->second.lock();
  if (!b || p + bytes > it->first + b->bytes) return nullptr;
  return b;
}

Napi::Value AllocPinned(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsNumber()) throw_code(env, "INVALID_INPUT", "length must be a number");
  const double n = info[0].As<Napi::Number>().DoubleValue();
  if (!(n >= 1 && n <= static_cast<double>(size_t{1} << 34)) || n != static_cast<double>(static_cast<int64_t>(n)))
    throw_code(env, "INVALID_INPUT", "length must be an integer between 1 and 2^34");
  const auto length = static_cast<size_t>(n);
  const size_t bytes = length * sizeof(float);
  // calloc: large blocks come from fresh mappings whose pages are zero and faulted in only when written.
  void* data = std::calloc(length, sizeof(float));
  if (!data) throw_code(env, "INTERNAL", "out of memory allocating " + std::to_string(bytes) + " bytes");
  auto* hold = new JsHold{std::shared_ptr<Block>(new Block{data, bytes})};
  napi_value ab;
  if (napi_create_external_arraybuffer(env, data, bytes, finalize_pinned, hold, &ab) != napi_ok) {
    delete hold;  // frees the memory
    bool pending = false;
    napi_is_exception_pending(env, &pending);
    if (pending) {
      napi_value ignored;
      napi_get_and_clear_last_exception(env, &ignored);
    }
    return Napi::Float32Array::New(env, length);  // e.g. napi_no_external_buffers_allowed: copied when used
  }
  {
    std::lock_guard<std::mutex> lock(g_mutex);
    registry()[reinterpret_cast<uintptr_t>(data)] = hold->block;
  }
  int64_t unused = 0;
  napi_adjust_external_memory(env, static_cast<int64_t>(bytes), &unused);
  return Napi::Float32Array::New(env, length, Napi::ArrayBuffer(env, ab), 0);
}

Destination::Destination(const Napi::Value& value, const std::string& name) : name_(name) {
  Napi::Env env = value.Env();
  if (value.IsUndefined() || value.IsNull()) return;
  if (!value.IsTypedArray() || value.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
    throw_code(env, "INVALID_INPUT", name + " must be a Float32Array");
  const ArrayView v = view_of(env, value);
  bool detached = false;
  napi_is_detached_arraybuffer(env, v.buffer, &detached);
  if (detached) throw_code(env, "INVALID_INPUT", name + " is detached");
  Napi::Value buffer(env, v.buffer);
  // A resizable ArrayBuffer (or growable SharedArrayBuffer) can shrink under the worker: refused.
  if (buffer.As<Napi::Object>().Get("resizable").ToBoolean().Value() || buffer.As<Napi::Object>().Get("growable").ToBoolean().Value())
    throw_code(env, "INVALID_INPUT", name + " must not be backed by a resizable buffer");
  target_ = v.data;
  length_ = v.length;
  pin_ = pin_of(v.data, v.length * sizeof(float));
  ref_ = Napi::Persistent(value.As<Napi::Object>());
}

float* Destination::data() {
  if (pin_) return target_;
  if (!staging_.defined()) staging_ = at::empty({static_cast<int64_t>(length_)}, at::kFloat);
  return staging_.data_ptr<float>();
}

Napi::Value Destination::finish(Napi::Env env) {
  Napi::Object array = ref_.Value();
  const ArrayView v = view_of(env, array);
  if (v.data != target_ || v.length != length_)
    throw_code(env, "INVALID_INPUT", name_ + " was detached or resized while the call ran; its result was dropped");
  if (!pin_ && staging_.defined()) std::memcpy(target_, staging_.data_ptr<float>(), length_ * sizeof(float));
  staging_ = at::Tensor();
  return array;
}

}  // namespace xclip_binding
