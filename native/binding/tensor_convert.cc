#include "tensor_convert.h"

#include <cstring>
#include <map>
#include <mutex>

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

std::atomic<size_t>& max_external_buffer_bytes() {
  static std::atomic<size_t> bytes{(size_t{1} << 31) - 1};  // Node 8+; lib/native.ts sets the runtime's own limit
  return bytes;
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

// The most dimensions an input may have, and the largest one (2^31 - 1: as in the TypeScript checks).
constexpr uint32_t kMaxDims = 8;
constexpr uint64_t kMaxDim = (uint64_t{1} << 31) - 1;

[[noreturn]] void invalid(Napi::Env env, const std::string& message) {
  throw make_error(env, {"INVALID_INPUT", message});
}

// The native owner behind one external output buffer, listed (process-wide: worker threads load the addon too)
// while JavaScript can reach the buffer, so a later call that reads it can co-own the tensor instead of copying.
struct OwnedTensor {
  at::Tensor tensor;
  int64_t bytes;
  const uint8_t* begin;
  bool listed = false;  // set once the external buffer exists; its finalizer then unlists it and adjusts the counters
};

std::mutex& live_mutex() {
  static std::mutex m;
  return m;
}
std::multimap<const uint8_t*, OwnedTensor*>& live_outputs() {
  static std::multimap<const uint8_t*, OwnedTensor*> live;
  return live;
}

void finalize_owned(napi_env env, void* /*data*/, void* hint) {
  auto* owned = static_cast<OwnedTensor*>(hint);
  if (owned->listed) {
    {
      std::lock_guard<std::mutex> lock(live_mutex());
      auto range = live_outputs().equal_range(owned->begin);
      for (auto it = range.first; it != range.second; ++it)
        if (it->second == owned) {
          live_outputs().erase(it);
          break;
        }
    }
    int64_t unused = 0;
    napi_adjust_external_memory(env, -owned->bytes, &unused);
    debug_counters().outputs_live--;
  }
  delete owned;
}

// The tensor of a live output buffer holding all of [p, p + n), or an undefined tensor. Output buffers do not
// overlap (OutputBuilder copies what would), so the buffer starting last at or before p is the only candidate.
at::Tensor live_owner_of(const uint8_t* p, size_t n) {
  std::lock_guard<std::mutex> lock(live_mutex());
  auto& live = live_outputs();
  auto it = live.upper_bound(p);
  if (it == live.begin()) return {};
  const uint8_t* begin = std::prev(it)->first;
  for (auto r = live.equal_range(begin); r.first != r.second; ++r.first)
    if (static_cast<size_t>(p - begin) + n <= static_cast<size_t>(r.first->second->bytes)) return r.first->second->tensor;
  return {};
}

size_t element_size(napi_typedarray_type t) {
  switch (t) {
    case napi_int8_array:
    case napi_uint8_array:
    case napi_uint8_clamped_array: return 1;
    case napi_int16_array:
    case napi_uint16_array: return 2;
    case napi_int32_array:
    case napi_uint32_array:
    case napi_float32_array: return 4;
    default: return 8;  // float64, bigint64, biguint64
  }
}

// Pointer and byte length of a typed array as it is now.
std::pair<uint8_t*, size_t> bytes_of(napi_env env, napi_value array) {
  napi_typedarray_type type;
  size_t length = 0, offset = 0;
  void* data = nullptr;
  napi_value buffer;
  // Asking for the data pointer moves a small on-heap typed array to a fixed backing store.
  NAPI_THROW_IF_FAILED(env, napi_get_typedarray_info(env, array, &type, &length, &data, &buffer, &offset),
                       (std::pair<uint8_t*, size_t>{nullptr, 0}));
  return {static_cast<uint8_t*>(data), data == nullptr ? 0 : length * element_size(type)};
}

const uint8_t kNoBytes = 0;

}  // namespace

const char* dtype_name(at::ScalarType t) {
  const TypeInfo* info = find_type(t);
  return info ? info->name : "unknown";
}

PinnedBytes CallMemory::read(const Napi::TypedArray& array) {
  auto [data, bytes] = bytes_of(array.Env(), array);
  auto& counters = debug_counters();
  counters.inputs_borrowed++;
  if (bytes == 0) return {&kNoBytes, 0, false};
  if (at::Tensor owner = live_owner_of(data, bytes); owner.defined()) {
    owners_.push_back(std::move(owner));
    ranges_.emplace_back(data, bytes);
    counters.inputs_pinned++;
    return {data, bytes, false};
  }
  at::Tensor copy = at::empty({static_cast<int64_t>(bytes)}, at::kByte);
  std::memcpy(copy.data_ptr(), data, bytes);
  const auto* p = static_cast<const uint8_t*>(copy.data_ptr());
  owners_.push_back(std::move(copy));
  ranges_.emplace_back(p, bytes);
  counters.inputs_copied++;
  return {p, bytes, true};
}

uint8_t* CallMemory::write(const Napi::TypedArray& array) {
  auto [data, bytes] = bytes_of(array.Env(), array);
  if (bytes == 0) return nullptr;
  Pending w{Napi::Persistent(array.As<Napi::Object>()), data, bytes, at::Tensor()};
  if (at::Tensor owner = live_owner_of(data, bytes); owner.defined()) {
    owners_.push_back(std::move(owner));  // the addon's own memory: written in place
  } else {
    w.scratch = at::empty({static_cast<int64_t>(bytes)}, at::kByte);
    std::memcpy(w.scratch.data_ptr(), data, bytes);
  }
  uint8_t* target = w.scratch.defined() ? static_cast<uint8_t*>(w.scratch.data_ptr()) : data;
  writes_.push_back(std::move(w));
  return target;
}

void CallMemory::write_back(Napi::Env env) {
  for (auto& w : writes_) {
    auto [data, bytes] = bytes_of(env, w.array.Value());
    if (data != w.data || bytes != w.bytes)
      throw make_error(env, {"INVALID_INPUT", "an output array was detached or resized while the call filled it (" +
                                                  std::to_string(w.bytes) + " bytes then, " + std::to_string(bytes) +
                                                  " now); its result was dropped"});
    if (w.scratch.defined()) std::memcpy(data, w.scratch.data_ptr(), bytes);
  }
  writes_.clear();
}

at::Tensor BorrowedTensor::tensor() const {
  if (!defined) return {};
  // No deleter: the call's CallMemory owns (or co-owns) the bytes until the worker is deleted.
  return at::from_blob(const_cast<void*>(data), dims, at::TensorOptions().dtype(dtype));
}

BorrowedTensor borrow_tensor(const Napi::Value& value, const std::string& name, CallMemory& memory) {
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
  Napi::TypedArray array = data.As<Napi::TypedArray>();
  if (array.TypedArrayType() != info->array_type)
    invalid(env, name + ".data must be a " + info->array_name + " for type " + info->name);
  if (!dims.IsArray()) invalid(env, name + ".dims must be an array");
  Napi::Array dims_array = dims.As<Napi::Array>();
  // Checked before walking it: a length of 2^32 - 1 would take minutes to walk.
  if (dims_array.Length() > kMaxDims)
    invalid(env, name + ".dims has " + std::to_string(dims_array.Length()) + " entries (at most " + std::to_string(kMaxDims) + ")");
  const size_t length = array.ElementLength();
  // Every dimension fits in 2^53 and the product is checked as it grows: a huge dimension next to a zero one
  // describes no elements but must not reach the core as a shape to allocate for.
  uint64_t numel = 1;
  bool empty = false;
  for (uint32_t i = 0; i < dims_array.Length(); ++i) {
    Napi::Value d = dims_array.Get(i);
    if (!d.IsNumber()) invalid(env, name + ".dims[" + std::to_string(i) + "] must be a number");
    double v = d.As<Napi::Number>().DoubleValue();
    if (!(v >= 0 && v <= static_cast<double>(kMaxDim)) || v != static_cast<double>(static_cast<int64_t>(v)))
      invalid(env, name + ".dims[" + std::to_string(i) + "] must be an integer between 0 and " + std::to_string(kMaxDim));
    out.dims.push_back(static_cast<int64_t>(v));
    const auto n = static_cast<uint64_t>(v);
    if (n == 0) empty = true;
    else numel = numel > (uint64_t{1} << 62) / n ? uint64_t{1} << 62 : numel * n;
  }
  if (empty) numel = 0;
  if (numel != length)
    invalid(env, name + " has " + std::to_string(length) + " elements but its dims need " + std::to_string(numel));
  PinnedBytes bytes = memory.read(array);
  out.defined = true;
  out.data = bytes.data;
  out.byte_length = bytes.size;
  out.dtype = info->dtype;
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
    auto* owned = new OwnedTensor{t, static_cast<int64_t>(bytes), begin};
    napi_value ab;
    napi_status status =
        napi_create_external_arraybuffer(env_, t.data_ptr(), bytes, finalize_owned, owned, &ab);
    if (status == napi_ok) {
      {
        std::lock_guard<std::mutex> lock(live_mutex());
        owned->listed = true;
        live_outputs().emplace(begin, owned);
      }
      int64_t unused = 0;
      napi_adjust_external_memory(env_, static_cast<int64_t>(bytes), &unused);
      counters.outputs_external++;
      counters.outputs_live++;
      Napi::ArrayBuffer buffer(env_, ab);
      seen_.push_back({t.data_ptr(), bytes, buffer});
      return buffer;
    }
    // Refused up front (no external buffers here, an exception pending), Node never took `owned`. A generic failure
    // comes from creating the buffer, after Node handed `owned` to the finalizer, which has run or will run and frees
    // it (deleting it here as well was the double free of outputs over Node's buffer limit).
    if (status != napi_generic_failure) delete owned;
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
  // One typed array holds at most the runtime's buffer limit (4 GiB in Node 20): larger outputs are refused before
  // anything is copied (video frames are split below it, see split_rows).
  if (bytes > max_external_buffer_bytes().load())
    throw make_error(env_, {"INVALID_INPUT", "an output of " + std::to_string(bytes) + " bytes is larger than the " +
                                                 std::to_string(max_external_buffer_bytes().load()) + " bytes one "
                                                 "JavaScript array can hold here; ask for less at once (a smaller batch)"});
  Napi::Value data;
  try {
    Napi::ArrayBuffer buffer = buffer_for(t, bytes);
    switch (info->array_type) {
      case napi_float32_array: data = Napi::Float32Array::New(env_, numel, buffer, 0); break;
      case napi_uint16_array: data = Napi::Uint16Array::New(env_, numel, buffer, 0); break;
      case napi_bigint64_array: data = Napi::BigInt64Array::New(env_, numel, buffer, 0); break;
      case napi_int32_array: data = Napi::Int32Array::New(env_, numel, buffer, 0); break;
      default: data = Napi::Uint8Array::New(env_, numel, buffer, 0); break;
    }
  } catch (const Napi::Error& e) {
    throw make_error(env_, {"INTERNAL", "could not hand over an output of " + std::to_string(bytes) + " bytes: " + e.Message()});
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

std::vector<at::Tensor> split_rows(const at::Tensor& t, size_t max_bytes) {
  if (!t.defined() || t.dim() == 0 || t.size(0) == 0) return {t};
  const size_t row = static_cast<size_t>(t.numel() / t.size(0)) * t.element_size();
  const int64_t per = std::max<int64_t>(1, row == 0 ? t.size(0) : static_cast<int64_t>(max_bytes / row));
  std::vector<at::Tensor> parts;
  for (int64_t i = 0; i < t.size(0); i += per) parts.push_back(t.narrow(0, i, std::min(per, t.size(0) - i)));
  return parts;
}

}  // namespace xclip_binding
