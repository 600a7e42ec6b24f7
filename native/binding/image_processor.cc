#include "image_processor.h"

#include <memory>
#include <string>
#include <utility>

#include "args.h"
#include "errors.h"
#include "worker.h"

namespace xclip_binding {
namespace {

constexpr uint32_t kImageProcessorMagic = 0x494d4750;  // "IMGP"
struct ImageProcessorHandle {
  uint32_t magic = kImageProcessorMagic;
  std::shared_ptr<const xclip::ImageProcessorConfig> config;
};

Napi::Object config_to_js(Napi::Env env, const xclip::ImageProcessorConfig& c) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("doResize", c.do_resize);
  Napi::Object size = Napi::Object::New(env);
  if (c.shortest_edge > 0) {
    size.Set("shortestEdge", static_cast<double>(c.shortest_edge));
  } else {
    size.Set("height", static_cast<double>(c.size_height));
    size.Set("width", static_cast<double>(c.size_width));
  }
  o.Set("size", size);
  o.Set("resample", static_cast<double>(static_cast<int>(c.resample)));
  o.Set("doCenterCrop", c.do_center_crop);
  Napi::Object crop = Napi::Object::New(env);
  crop.Set("height", static_cast<double>(c.crop_height));
  crop.Set("width", static_cast<double>(c.crop_width));
  o.Set("cropSize", crop);
  o.Set("doRescale", c.do_rescale);
  o.Set("rescaleFactor", c.rescale_factor);
  o.Set("doNormalize", c.do_normalize);
  Napi::Array mean = Napi::Array::New(env, 3), std = Napi::Array::New(env, 3);
  for (uint32_t i = 0; i < 3; ++i) {
    mean.Set(i, c.image_mean[i]);
    std.Set(i, c.image_std[i]);
  }
  o.Set("imageMean", mean);
  o.Set("imageStd", std);
  // (height, width) of every output frame when it does not depend on the input: callers size batch slots with it.
  if (const auto hw = xclip::fixed_output_frame_size(c)) {
    Napi::Array a = Napi::Array::New(env, 2);
    a.Set(0u, static_cast<double>((*hw)[0]));
    a.Set(1u, static_cast<double>((*hw)[1]));
    o.Set("fixedOutputSize", a);
  }
  return o;
}

// {handle, config}: what load and fromConfig both return.
Napi::Value loaded(Napi::Env env, std::shared_ptr<const xclip::ImageProcessorConfig> config) {
  Napi::Object r = Napi::Object::New(env);
  r.Set("config", config_to_js(env, *config));
  r.Set("handle", owned_external(env, std::make_unique<ImageProcessorHandle>(ImageProcessorHandle{kImageProcessorMagic, std::move(config)})));
  return r;
}

// load(dir) -> Promise<{handle, config}>: <dir>/preprocessor_config.json, read with the core's file limits.
Napi::Value Load(const Napi::CallbackInfo& info) {
  const auto load = [](const std::string& dir) { return xclip::load_preprocessor_config(dir + "/preprocessor_config.json"); };
  return (new DirLoadWorker<xclip::ImageProcessorConfig>(info.Env(), string_arg(info, 0, "dir"), load, loaded))->Start();
}

// fromConfig(jsonText, source) -> {handle, config}; CONFIG_INVALID naming the key.
Napi::Value FromConfig(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string text = string_arg(info, 0, "config text");
  std::string source = info.Length() > 1 && info[1].IsString() ? info[1].As<Napi::String>().Utf8Value() : "preprocessor_config.json";
  return guard(env, [&]() -> Napi::Value {
    return loaded(env, std::make_shared<const xclip::ImageProcessorConfig>(xclip::parse_preprocessor_config(text, source)));
  });
}

}  // namespace

std::shared_ptr<const xclip::ImageProcessorConfig> image_processor_of(const Napi::Value& v) {
  if (!v.IsExternal()) throw_code(v.Env(), "INVALID_INPUT", "expected an image processor handle");
  auto* h = v.As<Napi::External<ImageProcessorHandle>>().Data();
  if (!h || h->magic != kImageProcessorMagic) throw_code(v.Env(), "INVALID_INPUT", "expected an image processor handle");
  return h->config;
}

void init_image_processor(Napi::Env env, Napi::Object ns) {
  set_functions(env, ns, {
      {"load", Load},
      {"fromConfig", FromConfig},
  });
}

}  // namespace xclip_binding
