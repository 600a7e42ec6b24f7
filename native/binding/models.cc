// Model handles, their loading, and the model calls: one templated worker (ModelCallWorker) run by a small Op
// struct per entry point. A handle is an External owning shared_ptrs to the model;
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
    Napi::Object r = Napi::Object::New(env);
    r.Set("handle", owned_external(env, std::move(h)));  // the weights go with this worker if it cannot be made
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

// ---- model calls --------------------------------------------------------------------------------------

// One call on a loaded model, described by an Op:
//   using Model;                      the model class the handle must hold
//   static constexpr Kind kKind;      its handle kind
//   static constexpr const char* kInputs[];  the tensors to borrow from the inputs object, in order
//   using Options; static Options options(const Napi::Value&)   the call's options, read on the main thread
//       (ForwardOptionsOp: transformers' forward flags)
//   using Output; static Output run(const Model&, const std::vector<at::Tensor>& inputs, const Options&)
//       on the pool thread (outputs already prepare_output'ed);
//   static Napi::Value result(Napi::Env, OutputBuilder&, const Output&, const Options&) on the main thread.
// ModelCallWorker<Op> borrows the inputs (undefined ones stay undefined tensors), holds the model while it runs, and
// hands the outputs to JS without copies.
template <class Op>
class ModelCallWorker : public PromiseWorker {
 public:
  ModelCallWorker(Napi::Env env, std::shared_ptr<typename Op::Model> model, const Napi::Object& inputs, typename Op::Options opts)
      : PromiseWorker(env), model_(std::move(model)), opts_(std::move(opts)) {
    for (const char* name : Op::kInputs) tensors_.push_back(Borrow(inputs.Get(name), name));
  }

 protected:
  void Run() override {
    std::vector<at::Tensor> in;
    for (const auto& t : tensors_) in.push_back(t.tensor());
    out_ = Op::run(*model_, in, opts_);
  }
  Napi::Value Result(Napi::Env env) override {
    OutputBuilder b(env, inputs_);
    return Op::result(env, b, out_, opts_);
  }

 private:
  std::shared_ptr<typename Op::Model> model_;
  typename Op::Options opts_;
  std::vector<BorrowedTensor> tensors_;
  typename Op::Output out_;
};

template <class Model>
std::shared_ptr<Model> model_of(const Handle& h);
template <>
std::shared_ptr<xclip::XCLIPModel> model_of(const Handle& h) { return h.xclip; }
template <>
std::shared_ptr<xclip::XCLIPTextModel> model_of(const Handle& h) { return h.text; }
template <>
std::shared_ptr<xclip::XCLIPVisionModel> model_of(const Handle& h) { return h.vision; }

// (handle, inputs, options?) -> Promise of Op's result.
template <class Op>
Napi::Value ModelCall(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Handle& h = get_handle(info[0], Op::kKind);
  typename Op::Options opts = Op::options(info.Length() > 2 ? info[2] : env.Undefined());
  return (new ModelCallWorker<Op>(env, model_of<typename Op::Model>(h), object_arg(info, 1, "inputs"), opts))->Start();
}

// The options most calls take: transformers' forward flags (ignored by the calls that have none).
struct ForwardOptionsOp {
  using Options = xclip::ForwardOptions;
  static Options options(const Napi::Value& v) { return forward_options(v); }
};

struct Forward : ForwardOptionsOp {
  using Model = xclip::XCLIPModel;
  static constexpr Kind kKind = Kind::kXClip;
  static constexpr const char* kInputs[] = {"inputIds", "pixelValues", "attentionMask", "positionIds"};
  using Output = xclip::XCLIPOutput;
  static Output run(const Model& m, const std::vector<at::Tensor>& in, const xclip::ForwardOptions& o) {
    Output out = m.forward(in[0], in[1], in[2], in[3], o);
    prepare_heads(out);
    prepare(out.text_model_output);
    prepare(out.vision_model_output);
    prepare(out.mit_output);
    return out;
  }
  static Napi::Value result(Napi::Env env, OutputBuilder& b, const Output& out, const xclip::ForwardOptions& o) {
    Napi::Object r = Napi::Object::New(env);
    set_heads(r, b, out);
    r.Set("textModelOutput", output_with_pooling(env, b, out.text_model_output, o));
    r.Set("visionModelOutput", output_with_pooling(env, b, out.vision_model_output, o));
    r.Set("mitOutput", output_with_pooling(env, b, out.mit_output, o));
    return r;
  }
};

// forward() on texts encoded earlier by get_text_features: the label-set cache of the classifier.
struct ForwardWithTextFeatures : ForwardOptionsOp {
  using Model = xclip::XCLIPModel;
  static constexpr Kind kKind = Kind::kXClip;
  static constexpr const char* kInputs[] = {"textFeatures", "pixelValues"};
  using Output = xclip::XCLIPOutput;
  static Output run(const Model& m, const std::vector<at::Tensor>& in, const xclip::ForwardOptions&) {
    Output out = m.forward_with_text_features(in[0], in[1]);
    prepare_heads(out);
    return out;
  }
  static Napi::Value result(Napi::Env env, OutputBuilder& b, const Output& out, const xclip::ForwardOptions&) {
    Napi::Object r = Napi::Object::New(env);
    set_heads(r, b, out);
    return r;
  }
};

// The calls whose result is one tensor.
struct TensorResult : ForwardOptionsOp {
  using Output = at::Tensor;
  static Napi::Value result(Napi::Env, OutputBuilder& b, const Output& out, const xclip::ForwardOptions&) { return b.tensor(out); }
};

struct TextFeatures : TensorResult {
  using Model = xclip::XCLIPModel;
  static constexpr Kind kKind = Kind::kXClip;
  static constexpr const char* kInputs[] = {"inputIds", "attentionMask", "positionIds"};
  static Output run(const Model& m, const std::vector<at::Tensor>& in, const xclip::ForwardOptions&) {
    return prepare_output(m.get_text_features(in[0], in[1], in[2]));
  }
};

struct VideoFeatures : TensorResult {
  using Model = xclip::XCLIPModel;
  static constexpr Kind kKind = Kind::kXClip;
  static constexpr const char* kInputs[] = {"pixelValues"};
  static Output run(const Model& m, const std::vector<at::Tensor>& in, const xclip::ForwardOptions&) {
    return prepare_output(m.get_video_features(in[0]));
  }
};

// The towers: BaseModelOutputWithPooling.
struct PoolingResult : ForwardOptionsOp {
  using Output = xclip::BaseModelOutputWithPooling;
  static Napi::Value result(Napi::Env env, OutputBuilder& b, const Output& out, const xclip::ForwardOptions& o) {
    return output_with_pooling(env, b, out, o);
  }
};

struct TextForward : PoolingResult {
  using Model = xclip::XCLIPTextModel;
  static constexpr Kind kKind = Kind::kText;
  static constexpr const char* kInputs[] = {"inputIds", "attentionMask", "positionIds"};
  static Output run(const Model& m, const std::vector<at::Tensor>& in, const xclip::ForwardOptions& o) {
    Output out = m.forward(in[0], in[1], in[2], o);
    prepare(out);
    return out;
  }
};

struct VisionForward : PoolingResult {
  using Model = xclip::XCLIPVisionModel;
  static constexpr Kind kKind = Kind::kVision;
  static constexpr const char* kInputs[] = {"pixelValues"};
  static Output run(const Model& m, const std::vector<at::Tensor>& in, const xclip::ForwardOptions& o) {
    Output out = m.forward(in[0], o);
    prepare(out);
    return out;
  }
};

// get_video_search_features: what a search index stores per video, the prompt features cast on the pool thread to
// the dtype the index stores (options.featureDtype, default float32).
struct SearchFeatures {
  using Model = xclip::XCLIPModel;
  static constexpr Kind kKind = Kind::kXClip;
  static constexpr const char* kInputs[] = {"pixelValues"};
  using Options = std::string;
  static Options options(const Napi::Value& v) { return string_field(options_arg(v, "options"), "featureDtype", "float32"); }
  using Output = xclip::VideoSearchFeatures;
  static Output run(const Model& m, const std::vector<at::Tensor>& in, const Options& dtype) {
    Output f = m.get_video_search_features(in[0]);
    f.video_embeds = prepare_output(f.video_embeds);
    f.prompt_features = prepare_output(f.prompt_features.to(xclip::resolve_dtype(dtype)));
    return f;
  }
  static Napi::Value result(Napi::Env env, OutputBuilder& b, const Output& out, const Options&) {
    Napi::Object r = Napi::Object::New(env);
    r.Set("videoEmbeds", b.tensor(out.video_embeds));
    r.Set("promptFeatures", b.tensor(out.prompt_features));
    return r;
  }
};

// score_video_features: the search rerank, one call for every candidate.
struct ScoreFeatures : TensorResult {
  using Model = xclip::XCLIPModel;
  static constexpr Kind kKind = Kind::kXClip;
  static constexpr const char* kInputs[] = {"videoEmbeds", "promptFeatures", "textFeatures"};
  static Output run(const Model& m, const std::vector<at::Tensor>& in, const Options&) {
    return prepare_output(m.score_video_features(in[0], in[1], in[2]));
  }
};

struct PromptKeyValues : TensorResult {
  using Model = xclip::XCLIPModel;
  static constexpr Kind kKind = Kind::kXClip;
  static constexpr const char* kInputs[] = {"promptFeatures"};
  static Output run(const Model& m, const std::vector<at::Tensor>& in, const Options&) {
    return prepare_output(m.prompt_key_values(in[0]));
  }
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

Napi::Value XClipSavePretrained(const Napi::CallbackInfo& info) {
  Handle& h = get_handle(info[0], Kind::kXClip);
  return (new SaveWorker(info.Env(), h, string_arg(info, 1, "path")))->Start();
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
  set_functions(env, exports, {
      {"xclipFromPretrained", FromPretrained<Kind::kXClip>},
      {"xclipFromConfig", XClipFromConfig},
      {"xclipForward", ModelCall<Forward>},
      {"xclipForwardWithTextFeatures", ModelCall<ForwardWithTextFeatures>},
      {"xclipGetTextFeatures", ModelCall<TextFeatures>},
      {"xclipGetVideoFeatures", ModelCall<VideoFeatures>},
      {"xclipGetVideoSearchFeatures", ModelCall<SearchFeatures>},
      {"xclipScoreVideoFeatures", ModelCall<ScoreFeatures>},
      {"xclipPromptKeyValues", ModelCall<PromptKeyValues>},
      {"xclipSavePretrained", XClipSavePretrained},
      {"textModelFromPretrained", FromPretrained<Kind::kText>},
      {"textModelForward", ModelCall<TextForward>},
      {"visionModelFromPretrained", FromPretrained<Kind::kVision>},
      {"visionModelForward", ModelCall<VisionForward>},
      {"dispose", Dispose},
  });
}

}  // namespace xclip_binding
