#include "tensor_convert.h"

#include <cstring>

#include "errors.h"

namespace xclip_binding {

DebugCounters& debug_counters() {
  static DebugCounters counters;
  return counters;
}

std::atomic<bool>& force_copy_outputs() {
  static std::atomic<bool> flag{false};
  return flag;
}

namespace {

struct TypeInfo {
  const char* name;
  at::ScalarType dtype;
  napi_typedarray_type array_type;
  const char* array_name;
};

// float16/bfloat16 travel as Uint16Array (JS has no such element types); bool as Uint8Array.
constexpr TypeInfo kTypes[] = {
    {"float32", at::kFloat, napi_float32_array, "Float32Array"},
    {"float16", at::kHalf, napi_uint16_array, "Uint16Array"},
    {"bfloat16", at::kBFloat16, napi_uint16_array, "Uint16Array"},
    {"int64", at::kLong, napi_bigint64_array, "BigInt64Array"},
    {"int32", at::kInt, napi_int32_array, "Int32Array"},
    {"uint8", at::kByte, napi_uint8_array, "Uint8Array"},
    {"bool", at::kBool, napi_uint8_array, "Uint8Array"},
};

const TypeInfo* find_type(const std::string& name) {
  for (const auto& t : kTypes)
    if (name == t.name) return &t;
  return nullptr;
}

const TypeInfo* find_type(at::ScalarType dtype) {
  for (const auto& t : kTypes)
    if (dtype == t.dtype) return &t;
  return nullptr;
}

[[noreturn]] void invalid(Napi::Env env, const std::string& message) {
  throw make_error(env, {"INVALID_INPUT", message});
}

struct OwnedTensor {
  at::Tensor tensor;
  int64_t bytes;
};

void finalize_owned(napi_env env, void* /*data*/, void* hint) {
  auto* owned = static_cast<OwnedTensor*>(hint);
  int64_t unused = 0;
  napi_adjust_external_memory(env, -owned->bytes, &unused);
  debug_counters().outputs_live--;
  delete owned;
}

}  // namespace

const char* dtype_name(at::ScalarType t) {
  const TypeInfo* info = find_type(t);
  return info ? info->name : "unknown";
}

at::Tensor BorrowedTensor::tensor() const {
  if (!defined) return {};
  // No deleter: the JS array is kept alive by the worker's reference, not by the tensor.
  return at::from_blob(data, dims, at::TensorOptions().dtype(dtype));
}

BorrowedTensor borrow_tensor(const Napi::Value& value, const std::string& name,
                             std::vector<Napi::ObjectReference>& refs) {
  Napi::Env env = value.Env();
  BorrowedTensor out;
  out.name = name;
  if (value.IsUndefined() || value.IsNull()) return out;
  if (!value.IsObject()) invalid(env, name + " must be a Tensor");
  Napi::Object obj = value.As<Napi::Object>();
  Napi::Value type = obj.Get("type");
  Napi::Value data = obj.Get("data");
  Napi::Value dims = obj.Get("dims");
  if (!type.IsString()) invalid(env, name + ".type must be a string");
  const TypeInfo* info = find_type(type.As<Napi::String>().Utf8Value());
  if (!info) invalid(env, name + ".type \"" + type.As<Napi::String>().Utf8Value() + "\" is not supported");
  if (!data.IsTypedArray()) invalid(env, name + ".data must be a " + info->array_name);
  napi_typedarray_type array_type;
  size_t length = 0;
  void* ptr = nullptr;
  napi_value arraybuffer;
  size_t byte_offset = 0;
  // Asking for the data pointer moves a small on-heap typed array to a fixed backing store, so the pointer stays
  // valid while the array is referenced.
  NAPI_THROW_IF_FAILED(env, napi_get_typedarray_info(env, data, &array_type, &length, &ptr, &arraybuffer, &byte_offset),
                       out);
  if (array_type != info->array_type) invalid(env, name + ".data must be a " + info->array_name + " for type " + info->name);
  if (!dims.IsArray()) invalid(env, name + ".dims must be an array");
  Napi::Array dims_array = dims.As<Napi::Array>();
  int64_t numel = 1;
  for (uint32_t i = 0; i < dims_array.Length(); ++i) {
    Napi::Value d = dims_array.Get(i);
    if (!d.IsNumber()) invalid(env, name + ".dims[" + std::to_string(i) + "] must be a number");
    double v = d.As<Napi::Number>().DoubleValue();
    if (!(v >= 0 && v <= 9007199254740991.0) || v != static_cast<double>(static_cast<int64_t>(v)))
      invalid(env, name + ".dims[" + std::to_string(i) + "] must be a non-negative integer");
    out.dims.push_back(static_cast<int64_t>(v));
    numel *= out.dims.back();
  }
  if (static_cast<size_t>(numel) != length)
    invalid(env, name + " has " + std::to_string(length) + " elements but its dims need " + std::to_string(numel));
  out.defined = true;
  out.data = ptr;
  out.byte_length = length * at::elementSize(info->dtype);
  out.dtype = info->dtype;
  refs.push_back(Napi::Persistent(data.As<Napi::Object>()));
  debug_counters().inputs_borrowed++;
  return out;
}

at::Tensor prepare_output(const at::Tensor& t) {
  if (!t.defined()) return t;
  at::Tensor r = t;
  if (!r.device().is_cpu()) r = r.to(at::kCPU);
  if (!find_type(r.scalar_type())) r = r.to(at::kFloat);  // float64 and anything exotic
  return r.contiguous();
}

OutputBuilder::OutputBuilder(Napi::Env env, const std::vector<BorrowedTensor>& inputs) : env_(env) {
  for (const auto& in : inputs) {
    if (!in.defined || in.byte_length == 0) continue;
    auto* p = static_cast<const uint8_t*>(in.data);
    input_ranges_.emplace_back(p, p + in.byte_length);
  }
}

Napi::ArrayBuffer OutputBuilder::buffer_for(const at::Tensor& t, size_t bytes) {
  auto& counters = debug_counters();
  if (bytes == 0) return Napi::ArrayBuffer::New(env_, 0);
  const auto* begin = static_cast<const uint8_t*>(t.data_ptr());
  const auto* end = begin + bytes;
  bool must_copy = force_copy_outputs().load();
  for (const auto& s : seen_) {
    const auto* sb = static_cast<const uint8_t*>(s.ptr);
    if (s.ptr == t.data_ptr() && s.bytes == bytes) return s.buffer;
    if (begin < sb + s.bytes && sb < end) must_copy = true;  // partial overlap: a second backing store would alias
  }
  for (const auto& r : input_ranges_)
    if (begin < r.second && r.first < end) must_copy = true;

  if (!must_copy) {
    auto* owned = new OwnedTensor{t, static_cast<int64_t>(bytes)};
    napi_value ab;
    napi_status status =
        napi_create_external_arraybuffer(env_, t.data_ptr(), bytes, finalize_owned, owned, &ab);
    if (status == napi_ok) {
      int64_t unused = 0;
      napi_adjust_external_memory(env_, static_cast<int64_t>(bytes), &unused);
      counters.outputs_external++;
      counters.outputs_live++;
      Napi::ArrayBuffer buffer(env_, ab);
      seen_.push_back({t.data_ptr(), bytes, buffer});
      return buffer;
    }
    delete owned;
    // napi_no_external_buffers_allowed leaves no exception pending; anything else might.
    bool pending = false;
    napi_is_exception_pending(env_, &pending);
    if (pending) {
      napi_value ignored;
      napi_get_and_clear_last_exception(env_, &ignored);
    }
  }
  Napi::ArrayBuffer buffer = Napi::ArrayBuffer::New(env_, bytes);
  std::memcpy(buffer.Data(), t.data_ptr(), bytes);
  counters.outputs_copied++;
  return buffer;
}

Napi::Value OutputBuilder::tensor(const at::Tensor& input) {
  if (!input.defined()) return env_.Undefined();
  at::Tensor t = prepare_output(input);  // no-op when the worker already prepared it
  const TypeInfo* info = find_type(t.scalar_type());
  const size_t numel = static_cast<size_t>(t.numel());
  const size_t bytes = numel * t.element_size();
  Napi::ArrayBuffer buffer = buffer_for(t, bytes);
  Napi::Value data;
  switch (info->array_type) {
    case napi_float32_array: data = Napi::Float32Array::New(env_, numel, buffer, 0); break;
    case napi_uint16_array: data = Napi::Uint16Array::New(env_, numel, buffer, 0); break;
    case napi_bigint64_array: data = Napi::BigInt64Array::New(env_, numel, buffer, 0); break;
    case napi_int32_array: data = Napi::Int32Array::New(env_, numel, buffer, 0); break;
    default: data = Napi::Uint8Array::New(env_, numel, buffer, 0); break;
  }
  Napi::Array dims = Napi::Array::New(env_, t.dim());
  for (int64_t i = 0; i < t.dim(); ++i) dims.Set(static_cast<uint32_t>(i), Napi::Number::New(env_, static_cast<double>(t.size(i))));
  Napi::Object obj = Napi::Object::New(env_);
  obj.Set("type", info->name);
  obj.Set("data", data);
  obj.Set("dims", dims);
  return obj;
}

Napi::Array OutputBuilder::tensors(const std::vector<at::Tensor>& ts) {
  Napi::Array arr = Napi::Array::New(env_, ts.size());
  for (size_t i = 0; i < ts.size(); ++i) arr.Set(static_cast<uint32_t>(i), tensor(ts[i]));
  return arr;
}

}  // namespace xclip_binding
