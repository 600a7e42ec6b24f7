// xclip-node's N-API entry: configs (parsed by the core, so JS and C++ share one validator), threads, device
// probes, and the operations of models.cc, tokenizer.cc and processing.cc. The test build of the addon
// (XCLIP_TEST_HOOKS) adds the debug hooks of test_hooks.cc.
#include <napi.h>

#include "args.h"
#include "errors.h"
#include "models.h"
#include "processing.h"
#include "test_hooks.h"
#include "tensor_convert.h"
#include "worker.h"
#include "xclip/config.h"
#include "xclip/bench.h"
#include "xclip/flops.h"
#include "xclip/model.h"
#include "xclip/runtime.h"
#include "xclip/versions.h"

namespace xclip_binding {

namespace {

// parseConfig(text, source) -> canonical HF JSON text; throws CONFIG_INVALID naming the key.
Napi::Value ParseConfig(const Napi::CallbackInfo& info) {
  std::string text = string_arg(info, 0, "config text");
  std::string source = info.Length() > 1 && info[1].IsString() ? info[1].As<Napi::String>().Utf8Value() : "config";
  return guard(info.Env(), [&] { return Napi::String::New(info.Env(), xclip::config_to_json(xclip::parse_config(text, source))); });
}

Napi::Value LoadConfig(const Napi::CallbackInfo& info) {
  std::string path = string_arg(info, 0, "path");
  return guard(info.Env(), [&] { return Napi::String::New(info.Env(), xclip::config_to_json(xclip::load_config(path))); });
}

Napi::Value SetNumThreads(const Napi::CallbackInfo& info) {
  if (info.Length() < 1 || !info[0].IsNumber()) throw make_error(info.Env(), {"INVALID_INPUT", "threads must be a number"});
  int n = info[0].As<Napi::Number>().Int32Value();
  return guard(info.Env(), [&] {
    xclip::set_num_threads(n);
    return info.Env().Undefined();
  });
}

Napi::Value GetNumThreads(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&] { return Napi::Number::New(info.Env(), xclip::get_num_threads()); });
}

Napi::Value CudaAvailable(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), at::hasCUDA()); }

// cudaInfo(): what `info` prints about CUDA (xclip::cuda_info; also answers on a CPU-only libtorch).
Napi::Value CudaInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guard(env, [&]() -> Napi::Value {
    const xclip::CudaInfo c = xclip::cuda_info();
    Napi::Object o = Napi::Object::New(env);
    o.Set("built", c.built);
    o.Set("deviceCount", c.device_count);
    o.Set("cudaRuntime", static_cast<double>(c.cuda_runtime));
    o.Set("cudnn", static_cast<double>(c.cudnn));
    Napi::Array devices = Napi::Array::New(env, c.devices.size());
    for (size_t i = 0; i < c.devices.size(); ++i) {
      const auto& d = c.devices[i];
      Napi::Object dev = Napi::Object::New(env);
      dev.Set("index", d.index);
      dev.Set("name", d.name);
      dev.Set("computeCapability", std::to_string(d.major) + "." + std::to_string(d.minor));
      dev.Set("totalMemory", static_cast<double>(d.total_memory));
      devices.Set(static_cast<uint32_t>(i), dev);
    }
    o.Set("devices", devices);
    o.Set("summary", xclip::describe_cuda(c));
    return o;
  });
}

Napi::Value ResolveDevice(const Napi::CallbackInfo& info) {
  std::string spec = string_arg(info, 0, "device");
  return guard(info.Env(), [&] { return Napi::String::New(info.Env(), xclip::resolve_device(spec).str()); });
}

Napi::Value Versions(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guard(env, [&]() -> Napi::Value {
    xclip::RuntimeVersions v = xclip::runtime_versions();
    Napi::Object o = Napi::Object::New(env);
    o.Set("libtorch", v.libtorch);
    o.Set("ffmpeg", v.ffmpeg);
    o.Set("blas", v.blas);
    o.Set("blasLoaded", xclip::loaded_blas());
    o.Set("mkldnn", v.mkldnn);
    o.Set("onednnKernels", xclip::onednn_built());
    return o;
  });
}

// flops(configJson, videos, texts, seqLen): analytic FLOPs (multiply-add = 2) of each entry point, for the bench.
Napi::Value Flops(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string json = string_arg(info, 0, "config");
  for (size_t i = 1; i < 4; ++i) {
    if (info.Length() <= i || !info[i].IsNumber()) throw make_error(env, {"INVALID_INPUT", "videos, texts and seqLen must be numbers"});
  }
  const int64_t videos = info[1].As<Napi::Number>().Int64Value(), texts = info[2].As<Napi::Number>().Int64Value();
  const int64_t seq = info[3].As<Napi::Number>().Int64Value();
  return guard(env, [&]() -> Napi::Value {
    const xclip::XCLIPConfig c = xclip::parse_config(json, "config");
    Napi::Object o = Napi::Object::New(env);
    o.Set("visionTower", xclip::vision_tower_flops(c, videos));
    o.Set("videoFeatures", xclip::video_features_flops(c, videos));
    o.Set("textFeatures", xclip::text_features_flops(c, texts, seq));
    o.Set("prompts", xclip::prompt_flops(c, videos, texts));
    o.Set("forward", xclip::forward_flops(c, videos, texts, seq));
    return o;
  });
}

// setKernelBackend('auto' | 'aten'): the bench's same-run baseline (every layer on libtorch's own kernels).
Napi::Value SetKernelBackend(const Napi::CallbackInfo& info) {
  std::string name = string_arg(info, 0, "backend");
  if (name != "auto" && name != "aten") throw make_error(info.Env(), {"INVALID_INPUT", "backend must be 'auto' or 'aten'"});
  xclip::set_kernel_backend(name == "aten" ? xclip::KernelBackend::kATen : xclip::KernelBackend::kAuto);
  return info.Env().Undefined();
}

Napi::Value GetKernelBackend(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), xclip::get_kernel_backend() == xclip::KernelBackend::kATen ? "aten" : "auto");
}

Napi::Value CachedMemoryBytes(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(xclip::cached_cpu_bytes()));
}

Napi::Value ReleaseCachedMemory(const Napi::CallbackInfo& info) {
  xclip::release_cached_cpu_memory();
  return info.Env().Undefined();
}

Napi::Value PendingCalls(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), PromiseWorker::Pending()); }

// measureGemmPeak(dtype, seconds) -> Promise<{ gflops, backend }>, timed on a pool thread like inference.
class GemmPeakWorker : public PromiseWorker {
 public:
  GemmPeakWorker(Napi::Env env, at::ScalarType dtype, double seconds) : PromiseWorker(env), dtype_(dtype), seconds_(seconds) {}

 protected:
  void Run() override { peak_ = xclip::measure_gemm_peak(dtype_, seconds_); }
  Napi::Value Result(Napi::Env env) override {
    Napi::Object o = Napi::Object::New(env);
    o.Set("gflops", peak_.gflops);
    o.Set("backend", peak_.backend);
    return o;
  }

 private:
  at::ScalarType dtype_;
  double seconds_;
  xclip::GemmPeak peak_;
};

Napi::Value MeasureGemmPeak(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string dtype = string_arg(info, 0, "dtype");
  if (info.Length() < 2 || !info[1].IsNumber()) throw make_error(env, {"INVALID_INPUT", "seconds must be a number"});
  const double seconds = info[1].As<Napi::Number>().DoubleValue();
  return guard(env, [&]() -> Napi::Value {
    return (new GemmPeakWorker(env, xclip::resolve_dtype(dtype), seconds))->Start();
  });
}

// allocate(type, length): a zero-filled typed array over native memory, handed out like an output. Buffers a caller
// refills and passes to call after call (a batch being stacked) are then read in place (CallMemory pins them)
// instead of being copied at every call, as memory JavaScript allocated must be.
Napi::Value Allocate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const std::string type = string_arg(info, 0, "type");
  if (info.Length() < 2 || !info[1].IsNumber()) throw_code(env, "INVALID_INPUT", "length must be a number");
  const double n = info[1].As<Napi::Number>().DoubleValue();
  if (!(n >= 0 && n <= 9007199254740991.0) || n != static_cast<double>(static_cast<int64_t>(n)))
    throw_code(env, "INVALID_INPUT", "length must be a non-negative integer");
  at::ScalarType dtype = type == "float32" ? at::kFloat : type == "uint8" ? at::kByte : at::kFloat;
  if (type != "float32" && type != "uint8") throw_code(env, "INVALID_INPUT", "type must be float32 or uint8");
  // pinned: page-locked host memory (CUDA's pinned allocator) where libtorch has CUDA and sees a device, so copies
  // to the device are DMA transfers without a staging copy; plain memory elsewhere, the CPU path unchanged.
  const bool pinned = info.Length() > 2 && info[2].IsBoolean() && info[2].As<Napi::Boolean>().Value() && at::hasCUDA();
  return guard(env, [&] {
    OutputBuilder b(env, {});
    at::Tensor t = pinned ? at::empty({static_cast<int64_t>(n)}, at::TensorOptions().dtype(dtype).pinned_memory(true)).zero_()
                          : at::zeros({static_cast<int64_t>(n)}, dtype);
    return b.tensor(t).As<Napi::Object>().Get("data");
  });
}

// The runtime's largest external buffer (Node's buffer.constants.MAX_LENGTH), from lib/native.ts when it loads the
// addon: outputs above it are copied instead of risking a failed external buffer.
Napi::Value SetMaxBufferLength(const Napi::CallbackInfo& info) {
  if (info.Length() > 0 && info[0].IsNumber()) {
    const double v = info[0].As<Napi::Number>().DoubleValue();
    if (v >= 1 && v <= 9007199254740991.0) max_external_buffer_bytes() = static_cast<size_t>(v);
  }
  return info.Env().Undefined();
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  set_functions(env, exports, {
      {"parseConfig", ParseConfig},
      {"loadConfig", LoadConfig},
      {"setNumThreads", SetNumThreads},
      {"getNumThreads", GetNumThreads},
      {"cudaAvailable", CudaAvailable},
      {"cudaInfo", CudaInfo},
      {"resolveDevice", ResolveDevice},
      {"versions", Versions},
      {"flops", Flops},
      {"setKernelBackend", SetKernelBackend},
      {"getKernelBackend", GetKernelBackend},
      {"cachedMemoryBytes", CachedMemoryBytes},
      {"releaseCachedMemory", ReleaseCachedMemory},
      {"pendingCalls", PendingCalls},
      {"measureGemmPeak", MeasureGemmPeak},
      {"setMaxBufferLength", SetMaxBufferLength},
      {"allocate", Allocate},
  });
  Napi::Object limits = Napi::Object::New(env);
  limits.Set("maxNumFrames", static_cast<double>(xclip::kMaxNumFrames));
  exports.Set("limits", limits);
  init_models(env, exports);
  init_tokenizer(env, exports);
  init_processing(env, exports);
#ifdef XCLIP_TEST_HOOKS
  init_test_hooks(env, exports);
#endif
  return exports;
}

}  // namespace
}  // namespace xclip_binding

static Napi::Object InitXClip(Napi::Env env, Napi::Object exports) { return xclip_binding::Init(env, exports); }

NODE_API_MODULE(xclip, InitXClip)
