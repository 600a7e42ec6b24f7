// Debug hooks for the jest suites, built only into the test build of the addon (build/Test/xclip.node, target
// xclip_test), never into the addon that ships: counters that prove outputs are not copied, a switch to the
// copying path, the address a typed array lives at, a worker that borrows a tensor like a model call does, and one
// that fills a caller's array as a call writing there does.
#include "test_hooks.h"

#include <chrono>
#include <cstring>
#include <thread>

#include "args.h"
#include "errors.h"
#include "tensor_convert.h"
#include "worker.h"

namespace xclip_binding {
namespace {

Napi::Value DebugCountersValue(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto& c = debug_counters();
  Napi::Object o = Napi::Object::New(env);
  o.Set("outputsExternal", static_cast<double>(c.outputs_external.load()));
  o.Set("outputsCopied", static_cast<double>(c.outputs_copied.load()));
  o.Set("outputsLive", static_cast<double>(c.outputs_live.load()));
  o.Set("inputsBorrowed", static_cast<double>(c.inputs_borrowed.load()));
  o.Set("inputsPinned", static_cast<double>(c.inputs_pinned.load()));
  o.Set("inputsCopied", static_cast<double>(c.inputs_copied.load()));
  return o;
}

Napi::Value DebugForceCopyOutputs(const Napi::CallbackInfo& info) {
  force_copy_outputs() = info.Length() > 0 && info[0].ToBoolean().Value();
  return info.Env().Undefined();
}

// The address a typed array's elements live at, as the addon sees it.
Napi::Value DebugAddressOf(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsTypedArray()) throw make_error(env, {"INVALID_INPUT", "expected a typed array"});
  napi_typedarray_type type;
  size_t length, offset;
  void* data;
  napi_value ab;
  NAPI_THROW_IF_FAILED(env, napi_get_typedarray_info(env, info[0], &type, &length, &data, &ab, &offset), Napi::Value());
  return Napi::BigInt::New(env, static_cast<uint64_t>(reinterpret_cast<uintptr_t>(data)));
}

// Borrows a tensor exactly as a model call does, sleeps on the pool thread, then reports the data pointer it used
// and the values it reads then: a write the caller makes during the sleep shows up only where nothing was copied
// (the addon's own output memory), and detaching the caller's buffer meanwhile must not matter.
class InspectWorker : public PromiseWorker {
 public:
  InspectWorker(Napi::Env env, const Napi::Value& tensor, int delay_ms) : PromiseWorker(env), delay_ms_(delay_ms) {
    input_ = Borrow(tensor, "tensor");
  }

 protected:
  void Run() override {
    std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms_));
    at::Tensor t = input_.tensor();
    address_ = reinterpret_cast<uintptr_t>(t.data_ptr());
    at::Tensor flat = t.reshape({-1}).to(at::kDouble);
    for (int64_t i = 0; i < flat.numel() && i < 64; ++i) values_.push_back(flat[i].item<double>());
  }
  Napi::Value Result(Napi::Env env) override {
    Napi::Object o = Napi::Object::New(env);
    o.Set("address", Napi::BigInt::New(env, static_cast<uint64_t>(address_)));
    Napi::Array values = Napi::Array::New(env, values_.size());
    for (size_t i = 0; i < values_.size(); ++i) values.Set(static_cast<uint32_t>(i), values_[i]);
    o.Set("values", values);
    return o;
  }

 private:
  BorrowedTensor input_;
  int delay_ms_;
  uintptr_t address_ = 0;
  std::vector<double> values_;
};

Napi::Value DebugInspect(const Napi::CallbackInfo& info) {
  int delay = info.Length() > 1 && info[1].IsNumber() ? info[1].As<Napi::Number>().Int32Value() : 0;
  return (new InspectWorker(info.Env(), info[0], delay))->Start();
}

// A tensor made by C++ and handed out like a model output: proves the external (not copied) path and lets tests
// watch finalizers run. makeOutput(n) is arange(n) float32; makeOutput(n, 'uint8') is n uninitialised bytes (pages
// never touched), for outputs near Node's buffer limit without the memory.
Napi::Value DebugMakeOutput(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int64_t n = info.Length() > 0 && info[0].IsNumber() ? info[0].As<Napi::Number>().Int64Value() : 4;
  const bool bytes = info.Length() > 1 && info[1].IsString() && info[1].As<Napi::String>().Utf8Value() == "uint8";
  return guard(env, [&] {
    at::Tensor t = bytes ? at::empty({n}, at::kByte) : at::arange(n, at::kFloat);
    OutputBuilder b(env, {});
    Napi::Object o = Napi::Object::New(env);
    o.Set("tensor", b.tensor(t));
    o.Set("address", Napi::BigInt::New(env, static_cast<uint64_t>(reinterpret_cast<uintptr_t>(t.data_ptr()))));
    return o;
  });
}

// Fills a caller's typed array on the pool thread after a sleep, as a call writing into a caller-provided buffer
// would (CallMemory::write): the bytes land in the array when the promise settles, or the call rejects if the array
// was detached meanwhile.
class FillWorker : public PromiseWorker {
 public:
  FillWorker(Napi::Env env, const Napi::Value& array, uint8_t value, int delay_ms)
      : PromiseWorker(env), value_(value), delay_ms_(delay_ms) {
    if (!array.IsTypedArray()) throw make_error(env, {"INVALID_INPUT", "expected a typed array"});
    bytes_ = array.As<Napi::TypedArray>().ByteLength();
    target_ = memory_.write(array.As<Napi::TypedArray>());
  }

 protected:
  void Run() override {
    std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms_));
    if (target_ != nullptr) std::memset(target_, value_, bytes_);
  }
  Napi::Value Result(Napi::Env env) override {
    memory_.write_back(env);
    return env.Undefined();
  }

 private:
  uint8_t* target_ = nullptr;
  size_t bytes_ = 0;
  uint8_t value_;
  int delay_ms_;
};

Napi::Value DebugFill(const Napi::CallbackInfo& info) {
  const auto value = static_cast<uint8_t>(info.Length() > 1 && info[1].IsNumber() ? info[1].As<Napi::Number>().Int32Value() : 0);
  const int delay = info.Length() > 2 && info[2].IsNumber() ? info[2].As<Napi::Number>().Int32Value() : 0;
  return (new FillWorker(info.Env(), info[0], value, delay))->Start();
}

}  // namespace

void init_test_hooks(Napi::Env env, Napi::Object exports) {
  Napi::Object debug = Napi::Object::New(env);
  set_functions(env, debug, {
      {"counters", DebugCountersValue},
      {"forceCopyOutputs", DebugForceCopyOutputs},
      {"addressOf", DebugAddressOf},
      {"inspect", DebugInspect},
      {"makeOutput", DebugMakeOutput},
      {"fill", DebugFill},
  });
  exports.Set("debug", debug);
}

}  // namespace xclip_binding
