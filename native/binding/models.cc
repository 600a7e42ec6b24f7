// Model handles and one PromiseWorker per operation. A handle is an External owning shared_ptrs to the model;
// every worker copies the shared_ptr on the main thread, so dispose() while calls are in flight only drops the
// handle's reference and the weights go when the last call finishes.
#include "models.h"

#include <memory>
#include <string>

#include "args.h"
#include "errors.h"
#include "worker.h"
#include "xclip/config.h"
#include "xclip/model.h"

namespace xclip_binding {
namespace {

enum class Kind { kXClip, kText, kVision };
constexpr uint32_t kHandleMagic = 0x58434c50;  // "XCLP"

struct Handle {
  uint32_t magic = kHandleMagic;
  Kind kind;
  std::shared_ptr<xclip::XCLIPModel> xclip;
  std::shared_ptr<xclip::XCLIPTextModel> text;
  std::shared_ptr<xclip::XCLIPVisionModel> vision;
  bool disposed() const { return !xclip && !text && !vision; }
};

const char* kind_name(Kind k) {
  switch (k) {
    case Kind::kXClip: return "XCLIPModel";
    case Kind::kText: return "XCLIPTextModel";
    case Kind::kVision: return "XCLIPVisionModel";
  }
  return "model";
}

Handle& get_handle(const Napi::Value& v, Kind kind) {
  Napi::Env env = v.Env();
  if (!v.IsExternal()) throw_code(env, "INVALID_INPUT", std::string("expected a ") + kind_name(kind) + " handle");
  Handle* h = v.As<Napi::External<Handle>>().Data();
  if (!h || h->magic != kHandleMagic || h->kind != kind)
    throw_code(env, "INVALID_INPUT", std::string("expected a ") + kind_name(kind) + " handle");
  if (h->disposed()) throw_code(env, "DISPOSED", std::string(kind_name(kind)) + " has been disposed");
  return *h;
}

xclip::ModelOptions model_options(const Napi::Value& v) {
  Napi::Object o = options_arg(v, "options");
  xclip::ModelOptions opts;
  opts.device = string_field(o, "device", opts.device);
  opts.dtype = string_field(o, "dtype", opts.dtype);
  return opts;
}

xclip::ForwardOptions forward_options(const Napi::Value& v) {
  Napi::Object o = options_arg(v, "options");
  xclip::ForwardOptions opts;
  opts.return_loss = bool_field(o, "returnLoss");
  opts.output_attentions = bool_field(o, "outputAttentions");
  opts.output_hidden_states = bool_field(o, "outputHiddenStates");
  opts.interpolate_pos_encoding = bool_field(o, "interpolatePosEncoding");
  return opts;
}

Napi::Value output_with_pooling(Napi::Env env, OutputBuilder& b, const xclip::BaseModelOutputWithPooling& o,
                                const xclip::ForwardOptions& opts) {
  Napi::Object r = Napi::Object::New(env);
  r.Set("lastHiddenState", b.tensor(o.last_hidden_state));
  r.Set("poolerOutput", b.tensor(o.pooler_output));
  if (opts.output_hidden_states) r.Set("hiddenStates", b.tensors(o.hidden_states));
  if (opts.output_attentions) r.Set("attentions", b.tensors(o.attentions));
  return r;
}

void prepare(xclip::BaseModelOutputWithPooling& o) {
  o.last_hidden_state = prepare_output(o.last_hidden_state);
  o.pooler_output = prepare_output(o.pooler_output);
  for (auto& t : o.hidden_states) t = prepare_output(t);
  for (auto& t : o.attentions) t = prepare_output(t);
}

// The XCLIPOutput fields outside the tower outputs: loss (when asked), logits both ways, embeddings.
void prepare_heads(xclip::XCLIPOutput& o) {
  for (at::Tensor* t : {&o.loss, &o.logits_per_video, &o.logits_per_text, &o.text_embeds, &o.video_embeds}) {
    *t = prepare_output(*t);
  }
}

void set_heads(Napi::Object& r, OutputBuilder& b, const xclip::XCLIPOutput& o) {
  if (o.loss.defined()) r.Set("loss", b.tensor(o.loss));
  r.Set("logitsPerVideo", b.tensor(o.logits_per_video));
  r.Set("logitsPerText", b.tensor(o.logits_per_text));
  r.Set("textEmbeds", b.tensor(o.text_embeds));
  r.Set("videoEmbeds", b.tensor(o.video_embeds));
}

std::string text_config_json(const xclip::XCLIPTextConfig& c) {
  xclip::XCLIPConfig full;
  full.text_config = c;
  return xclip::config_to_json(full);
}

std::string vision_config_json(const xclip::XCLIPVisionConfig& c) {
  xclip::XCLIPConfig full;
  full.vision_config = c;
  return xclip::config_to_json(full);
}

// ---- loading ------------------------------------------------------------------------------------------

class LoadWorker : public PromiseWorker {
 public:
  enum class Source { kPretrained, kConfig };
  LoadWorker(Napi::Env env, Kind kind, Source source, std::string arg, xclip::ModelOptions opts, bool seeded,
             uint64_t seed)
      : PromiseWorker(env), kind_(kind), source_(source), arg_(std::move(arg)), opts_(std::move(opts)),
        seeded_(seeded), seed_(seed) {}

 protected:
  void Run() override {
    dtype_ = xclip::resolve_dtype(opts_.dtype);
    switch (kind_) {
      case Kind::kXClip:
        if (source_ == Source::kPretrained) {
          xclip_ = xclip::XCLIPModel::from_pretrained(arg_, opts_);
        } else {
          xclip::XCLIPConfig config = xclip::parse_config(arg_, "config");
          xclip_ = seeded_ ? xclip::XCLIPModel::from_config(config, opts_, seed_)
                           : xclip::XCLIPModel::from_config(config, opts_);
        }
        config_json_ = xclip::config_to_json(xclip_->config());
        device_ = xclip_->device().str();
        dtype_ = xclip_->dtype();
        logit_scale_ = xclip_->state_dict().at("logit_scale").to(at::kDouble).item<double>();
        break;
      case Kind::kText:
        text_ = xclip::XCLIPTextModel::from_pretrained(arg_, opts_);
        config_json_ = text_config_json(text_->config());
        device_ = text_->device().str();
        break;
      case Kind::kVision:
        vision_ = xclip::XCLIPVisionModel::from_pretrained(arg_, opts_);
        config_json_ = vision_config_json(vision_->config());
        device_ = vision_->device().str();
        break;
    }
  }

  Napi::Value Result(Napi::Env env) override {
    auto h = std::make_unique<Handle>();
    h->kind = kind_;
    h->xclip = std::move(xclip_);
    h->text = std::move(text_);
    h->vision = std::move(vision_);
    // Owned here until the External exists: in an environment being torn down its creation fails, and the
    // weights must go with this worker rather than leak.
    auto handle = Napi::External<Handle>::New(env, h.get(), [](Napi::Env, Handle* p) { delete p; });
    h.release();
    Napi::Object r = Napi::Object::New(env);
    r.Set("handle", handle);
    r.Set("config", config_json_);
    r.Set("device", device_);
    r.Set("dtype", dtype_name(dtype_));
    if (kind_ == Kind::kXClip) r.Set("logitScale", logit_scale_);
    return r;
  }

 private:
  Kind kind_;
  Source source_;
  std::string arg_;
  xclip::ModelOptions opts_;
  bool seeded_;
  uint64_t seed_;
  std::shared_ptr<xclip::XCLIPModel> xclip_;
  std::shared_ptr<xclip::XCLIPTextModel> text_;
  std::shared_ptr<xclip::XCLIPVisionModel> vision_;
  std::string config_json_;
  std::string device_;
  at::ScalarType dtype_ = at::kFloat;
  double logit_scale_ = 0;  // XCLIPModel: the parameter (log of the scale the logits carry)
};

// ---- XCLIPModel ---------------------------------------------------------------------------------------

class ForwardWorker : public PromiseWorker {
 public:
  ForwardWorker(Napi::Env env, const Handle& h, const Napi::Object& inputs, const Napi::Value& options)
      : PromiseWorker(env), model_(h.xclip), opts_(forward_options(options)) {
    input_ids_ = Borrow(inputs.Get("inputIds"), "inputIds");
    pixel_values_ = Borrow(inputs.Get("pixelValues"), "pixelValues");
    attention_mask_ = Borrow(inputs.Get("attentionMask"), "attentionMask");
    position_ids_ = Borrow(inputs.Get("positionIds"), "positionIds");
  }

 protected:
  void Run() override {
    out_ = model_->forward(input_ids_.tensor(), pixel_values_.tensor(), attention_mask_.tensor(),
                           position_ids_.tensor(), opts_);
    prepare_heads(out_);
    prepare(out_.text_model_output);
    prepare(out_.vision_model_output);
    prepare(out_.mit_output);
  }

  Napi::Value Result(Napi::Env env) override {
    OutputBuilder b(env, inputs_);
    Napi::Object r = Napi::Object::New(env);
    set_heads(r, b, out_);
    r.Set("textModelOutput", output_with_pooling(env, b, out_.text_model_output, opts_));
    r.Set("visionModelOutput", output_with_pooling(env, b, out_.vision_model_output, opts_));
    r.Set("mitOutput", output_with_pooling(env, b, out_.mit_output, opts_));
    return r;
  }

 private:
  std::shared_ptr<xclip::XCLIPModel> model_;
  xclip::ForwardOptions opts_;
  BorrowedTensor input_ids_, pixel_values_, attention_mask_, position_ids_;
  xclip::XCLIPOutput out_;
};

// forward() on texts encoded earlier by get_text_features: the label-set cache of the classifier.
class ForwardWithTextFeaturesWorker : public PromiseWorker {
 public:
  ForwardWithTextFeaturesWorker(Napi::Env env, const Handle& h, const Napi::Object& inputs)
      : PromiseWorker(env), model_(h.xclip) {
    text_features_ = Borrow(inputs.Get("textFeatures"), "textFeatures");
    pixel_values_ = Borrow(inputs.Get("pixelValues"), "pixelValues");
  }

 protected:
  void Run() override {
    out_ = model_->forward_with_text_features(text_features_.tensor(), pixel_values_.tensor());
    prepare_heads(out_);
  }

  Napi::Value Result(Napi::Env env) override {
    OutputBuilder b(env, inputs_);
    Napi::Object r = Napi::Object::New(env);
    set_heads(r, b, out_);
    return r;
  }

 private:
  std::shared_ptr<xclip::XCLIPModel> model_;
  BorrowedTensor text_features_, pixel_values_;
  xclip::XCLIPOutput out_;
};

class TextFeaturesWorker : public PromiseWorker {
 public:
  TextFeaturesWorker(Napi::Env env, const Handle& h, const Napi::Object& inputs)
      : PromiseWorker(env), model_(h.xclip) {
    input_ids_ = Borrow(inputs.Get("inputIds"), "inputIds");
    attention_mask_ = Borrow(inputs.Get("attentionMask"), "attentionMask");
    position_ids_ = Borrow(inputs.Get("positionIds"), "positionIds");
  }

 protected:
  void Run() override {
    out_ = prepare_output(model_->get_text_features(input_ids_.tensor(), attention_mask_.tensor(),
                                                    position_ids_.tensor()));
  }
  Napi::Value Result(Napi::Env env) override {
    OutputBuilder b(env, inputs_);
    return b.tensor(out_);
  }

 private:
  std::shared_ptr<xclip::XCLIPModel> model_;
  BorrowedTensor input_ids_, attention_mask_, position_ids_;
  at::Tensor out_;
};

class VideoFeaturesWorker : public PromiseWorker {
 public:
  VideoFeaturesWorker(Napi::Env env, const Handle& h, const Napi::Value& pixel_values)
      : PromiseWorker(env), model_(h.xclip) {
    pixel_values_ = Borrow(pixel_values, "pixelValues");
  }

 protected:
  void Run() override { out_ = prepare_output(model_->get_video_features(pixel_values_.tensor())); }
  Napi::Value Result(Napi::Env env) override {
    OutputBuilder b(env, inputs_);
    return b.tensor(out_);
  }

 private:
  std::shared_ptr<xclip::XCLIPModel> model_;
  BorrowedTensor pixel_values_;
  at::Tensor out_;
};

// get_video_search_features, with the prompt features cast on the worker thread to the dtype an index stores.
class SearchFeaturesWorker : public PromiseWorker {
 public:
  SearchFeaturesWorker(Napi::Env env, const Handle& h, const Napi::Value& pixel_values, const Napi::Value& options)
      : PromiseWorker(env), model_(h.xclip),
        dtype_(string_field(options_arg(options, "options"), "featureDtype", "float32")) {
    pixel_values_ = Borrow(pixel_values, "pixelValues");
  }

 protected:
  void Run() override {
    xclip::VideoSearchFeatures f = model_->get_video_search_features(pixel_values_.tensor());
    out_.video_embeds = prepare_output(f.video_embeds);
    out_.prompt_features = prepare_output(f.prompt_features.to(xclip::resolve_dtype(dtype_)));
  }
  Napi::Value Result(Napi::Env env) override {
    OutputBuilder b(env, inputs_);
    Napi::Object r = Napi::Object::New(env);
    r.Set("videoEmbeds", b.tensor(out_.video_embeds));
    r.Set("promptFeatures", b.tensor(out_.prompt_features));
    return r;
  }

 private:
  std::shared_ptr<xclip::XCLIPModel> model_;
  std::string dtype_;
  BorrowedTensor pixel_values_;
  xclip::VideoSearchFeatures out_;
};

// score_video_features: the search rerank, one call for every candidate.
class ScoreFeaturesWorker : public PromiseWorker {
 public:
  ScoreFeaturesWorker(Napi::Env env, const Handle& h, const Napi::Object& inputs) : PromiseWorker(env), model_(h.xclip) {
    video_embeds_ = Borrow(inputs.Get("videoEmbeds"), "videoEmbeds");
    prompt_features_ = Borrow(inputs.Get("promptFeatures"), "promptFeatures");
    text_features_ = Borrow(inputs.Get("textFeatures"), "textFeatures");
  }

 protected:
  void Run() override {
    out_ = prepare_output(
        model_->score_video_features(video_embeds_.tensor(), prompt_features_.tensor(), text_features_.tensor()));
  }
  Napi::Value Result(Napi::Env env) override { return OutputBuilder(env, inputs_).tensor(out_); }

 private:
  std::shared_ptr<xclip::XCLIPModel> model_;
  BorrowedTensor video_embeds_, prompt_features_, text_features_;
  at::Tensor out_;
};

class PromptKeyValuesWorker : public PromiseWorker {
 public:
  PromptKeyValuesWorker(Napi::Env env, const Handle& h, const Napi::Value& prompt_features)
      : PromiseWorker(env), model_(h.xclip) {
    prompt_features_ = Borrow(prompt_features, "promptFeatures");
  }

 protected:
  void Run() override { out_ = prepare_output(model_->prompt_key_values(prompt_features_.tensor())); }
  Napi::Value Result(Napi::Env env) override { return OutputBuilder(env, inputs_).tensor(out_); }

 private:
  std::shared_ptr<xclip::XCLIPModel> model_;
  BorrowedTensor prompt_features_;
  at::Tensor out_;
};

class SaveWorker : public PromiseWorker {
 public:
  SaveWorker(Napi::Env env, const Handle& h, std::string dir) : PromiseWorker(env), model_(h.xclip), dir_(std::move(dir)) {}

 protected:
  void Run() override { model_->save_pretrained(dir_); }
  Napi::Value Result(Napi::Env env) override { return env.Undefined(); }

 private:
  std::shared_ptr<xclip::XCLIPModel> model_;
  std::string dir_;
};

// ---- towers -------------------------------------------------------------------------------------------

class TextForwardWorker : public PromiseWorker {
 public:
  TextForwardWorker(Napi::Env env, const Handle& h, const Napi::Object& inputs, const Napi::Value& options)
      : PromiseWorker(env), model_(h.text), opts_(forward_options(options)) {
    input_ids_ = Borrow(inputs.Get("inputIds"), "inputIds");
    attention_mask_ = Borrow(inputs.Get("attentionMask"), "attentionMask");
    position_ids_ = Borrow(inputs.Get("positionIds"), "positionIds");
  }

 protected:
  void Run() override {
    out_ = model_->forward(input_ids_.tensor(), attention_mask_.tensor(),
                           position_ids_.tensor(), opts_);
    prepare(out_);
  }
  Napi::Value Result(Napi::Env env) override {
    OutputBuilder b(env, inputs_);
    return output_with_pooling(env, b, out_, opts_);
  }

 private:
  std::shared_ptr<xclip::XCLIPTextModel> model_;
  xclip::ForwardOptions opts_;
  BorrowedTensor input_ids_, attention_mask_, position_ids_;
  xclip::BaseModelOutputWithPooling out_;
};

class VisionForwardWorker : public PromiseWorker {
 public:
  VisionForwardWorker(Napi::Env env, const Handle& h, const Napi::Object& inputs, const Napi::Value& options)
      : PromiseWorker(env), model_(h.vision), opts_(forward_options(options)) {
    pixel_values_ = Borrow(inputs.Get("pixelValues"), "pixelValues");
  }

 protected:
  void Run() override {
    out_ = model_->forward(pixel_values_.tensor(), opts_);
    prepare(out_);
  }
  Napi::Value Result(Napi::Env env) override {
    OutputBuilder b(env, inputs_);
    return output_with_pooling(env, b, out_, opts_);
  }

 private:
  std::shared_ptr<xclip::XCLIPVisionModel> model_;
  xclip::ForwardOptions opts_;
  BorrowedTensor pixel_values_;
  xclip::BaseModelOutputWithPooling out_;
};

// Releasing the weights can take a while (munmap, freeing large buffers), so it happens on the pool too.
class DisposeWorker : public PromiseWorker {
 public:
  DisposeWorker(Napi::Env env, Handle& h) : PromiseWorker(env) {
    xclip_ = std::move(h.xclip);
    text_ = std::move(h.text);
    vision_ = std::move(h.vision);
  }

 protected:
  void Run() override {
    xclip_.reset();
    text_.reset();
    vision_.reset();
  }
  Napi::Value Result(Napi::Env env) override { return env.Undefined(); }

 private:
  std::shared_ptr<xclip::XCLIPModel> xclip_;
  std::shared_ptr<xclip::XCLIPTextModel> text_;
  std::shared_ptr<xclip::XCLIPVisionModel> vision_;
};

// ---- exported functions -------------------------------------------------------------------------------

template <Kind kKind>
Napi::Value FromPretrained(const Napi::CallbackInfo& info) {
  std::string dir = string_arg(info, 0, "path");
  auto* w = new LoadWorker(info.Env(), kKind, LoadWorker::Source::kPretrained, dir, model_options(info[1]), false, 0);
  return w->Start();
}

Napi::Value XClipFromConfig(const Napi::CallbackInfo& info) {
  std::string json = string_arg(info, 0, "config");
  Napi::Object o = options_arg(info[1], "options");
  bool seeded = false;
  uint64_t seed = 0;
  Napi::Value s = o.Get("seed");
  if (s.IsBigInt()) {
    bool lossless = false;
    seed = s.As<Napi::BigInt>().Uint64Value(&lossless);
    seeded = true;
  } else if (s.IsNumber()) {
    seed = static_cast<uint64_t>(s.As<Napi::Number>().Int64Value());
    seeded = true;
  }
  auto* w = new LoadWorker(info.Env(), Kind::kXClip, LoadWorker::Source::kConfig, json, model_options(info[1]), seeded,
                           seed);
  return w->Start();
}

Napi::Value XClipForward(const Napi::CallbackInfo& info) {
  Handle& h = get_handle(info[0], Kind::kXClip);
  return (new ForwardWorker(info.Env(), h, object_arg(info, 1, "inputs"), info[2]))->Start();
}

Napi::Value XClipTextFeatures(const Napi::CallbackInfo& info) {
  Handle& h = get_handle(info[0], Kind::kXClip);
  return (new TextFeaturesWorker(info.Env(), h, object_arg(info, 1, "inputs")))->Start();
}

Napi::Value XClipForwardWithTextFeatures(const Napi::CallbackInfo& info) {
  Handle& h = get_handle(info[0], Kind::kXClip);
  return (new ForwardWithTextFeaturesWorker(info.Env(), h, object_arg(info, 1, "inputs")))->Start();
}

Napi::Value XClipVideoFeatures(const Napi::CallbackInfo& info) {
  Handle& h = get_handle(info[0], Kind::kXClip);
  return (new VideoFeaturesWorker(info.Env(), h, info[1]))->Start();
}

Napi::Value XClipSearchFeatures(const Napi::CallbackInfo& info) {
  Handle& h = get_handle(info[0], Kind::kXClip);
  return (new SearchFeaturesWorker(info.Env(), h, info[1], info[2]))->Start();
}

Napi::Value XClipScoreFeatures(const Napi::CallbackInfo& info) {
  Handle& h = get_handle(info[0], Kind::kXClip);
  return (new ScoreFeaturesWorker(info.Env(), h, object_arg(info, 1, "inputs")))->Start();
}

Napi::Value XClipPromptKeyValues(const Napi::CallbackInfo& info) {
  Handle& h = get_handle(info[0], Kind::kXClip);
  return (new PromptKeyValuesWorker(info.Env(), h, info[1]))->Start();
}

Napi::Value XClipSavePretrained(const Napi::CallbackInfo& info) {
  Handle& h = get_handle(info[0], Kind::kXClip);
  return (new SaveWorker(info.Env(), h, string_arg(info, 1, "path")))->Start();
}

Napi::Value TextForward(const Napi::CallbackInfo& info) {
  Handle& h = get_handle(info[0], Kind::kText);
  return (new TextForwardWorker(info.Env(), h, object_arg(info, 1, "inputs"), info[2]))->Start();
}

Napi::Value VisionForward(const Napi::CallbackInfo& info) {
  Handle& h = get_handle(info[0], Kind::kVision);
  return (new VisionForwardWorker(info.Env(), h, object_arg(info, 1, "inputs"), info[2]))->Start();
}

// Idempotent: disposing twice resolves twice.
Napi::Value Dispose(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsExternal()) throw_code(env, "INVALID_INPUT", "expected a model handle");
  Handle* h = info[0].As<Napi::External<Handle>>().Data();
  if (!h || h->magic != kHandleMagic) throw_code(env, "INVALID_INPUT", "expected a model handle");
  return (new DisposeWorker(env, *h))->Start();
}

}  // namespace

void init_models(Napi::Env env, Napi::Object exports) {
  auto fn = [&](const char* name, Napi::Value (*f)(const Napi::CallbackInfo&)) {
    exports.Set(name, Napi::Function::New(env, f, name));
  };
  fn("xclipFromPretrained", FromPretrained<Kind::kXClip>);
  fn("xclipFromConfig", XClipFromConfig);
  fn("xclipForward", XClipForward);
  fn("xclipForwardWithTextFeatures", XClipForwardWithTextFeatures);
  fn("xclipGetTextFeatures", XClipTextFeatures);
  fn("xclipGetVideoFeatures", XClipVideoFeatures);
  fn("xclipGetVideoSearchFeatures", XClipSearchFeatures);
  fn("xclipScoreVideoFeatures", XClipScoreFeatures);
  fn("xclipPromptKeyValues", XClipPromptKeyValues);
  fn("xclipSavePretrained", XClipSavePretrained);
  fn("textModelFromPretrained", FromPretrained<Kind::kText>);
  fn("textModelForward", TextForward);
  fn("visionModelFromPretrained", FromPretrained<Kind::kVision>);
  fn("visionModelForward", VisionForward);
  fn("dispose", Dispose);
}

}  // namespace xclip_binding
