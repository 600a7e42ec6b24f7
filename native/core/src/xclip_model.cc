// = XCLIPModel / XCLIPTextModel / XCLIPVisionModel: loading, input validation and the top-level forward.
// Dtype policy: weights live in the requested dtype (F16/BF16/F32 checkpoints are converted at load); float
// inputs are cast to it, integer inputs to int64; every output is in the model dtype on the model's device.
// One exception: a libtorch without CPU float16 kernels (Debian's 1.13 has no half conv2d/addmm on CPU) runs a
// float16 CPU model in float32 with the weights rounded to float16, and casts the outputs to float16.
#include <filesystem>
#include <fstream>
#include <optional>
#include <type_traits>
#include <sstream>

#include "kernels.h"
#include "parts.h"
#include "xclip/error.h"
#include "xclip/model.h"
#include "xclip/runtime.h"

namespace xclip {
namespace fs = std::filesystem;

namespace {

const char* dtype_name(at::ScalarType t) {
  switch (t) {
    case at::kHalf: return "float16";
    case at::kBFloat16: return "bfloat16";
    default: return "float32";
  }
}

[[noreturn]] void invalid(const std::string& msg) { throw Error(ErrorCode::kInvalidInput, msg); }

// Runs `fn` on a compute thread (run_on_compute_thread) set up for inference (InferenceScope), translating
// libtorch's errors.
template <class F>
auto guarded(const char* where, F&& fn) -> decltype(fn()) {
  using R = decltype(fn());
  if constexpr (std::is_void_v<R>) {
    run_on_compute_thread([&] {
      InferenceScope scope;
      translating_errors(where, fn);
    });
  } else {
    std::optional<R> out;
    run_on_compute_thread([&] {
      InferenceScope scope;
      out.emplace(translating_errors(where, fn));
    });
    return std::move(*out);
  }
}

at::Tensor checked_ids(const at::Tensor& t, const char* name, int64_t upper, const char* upper_what,
                       at::Device device) {
  if (!at::isIntegralType(t.scalar_type(), /*includeBool=*/false)) {
    invalid(std::string(name) + " must be an integer tensor, got " + c10::toString(t.scalar_type()));
  }
  if (t.numel() > 0) {
    const int64_t lo = t.min().item<int64_t>(), hi = t.max().item<int64_t>();
    if (lo < 0 || hi >= upper) {
      const int64_t bad = lo < 0 ? lo : hi;
      invalid(std::string(name) + " contains " + std::to_string(bad) + ", outside [0, " + std::to_string(upper) +
              ") (" + upper_what + ")");
    }
  }
  return t.to(device, at::kLong);
}

struct TextInputs {
  at::Tensor input_ids, attention_mask, position_ids;
};

TextInputs prepare_text(const XCLIPTextConfig& c, const at::Tensor& ids, const at::Tensor& mask, const at::Tensor& pos,
                        at::ScalarType dtype, at::Device device) {
  if (!ids.defined()) invalid("input_ids is required");
  if (ids.dim() != 2) invalid("input_ids must have 2 dims [num_texts, sequence_length], got " + shape_str(ids.sizes()));
  const int64_t b = ids.size(0), l = ids.size(1);
  if (b == 0 || l == 0) invalid("input_ids is empty: " + shape_str(ids.sizes()));
  if (l > c.max_position_embeddings) {
    invalid("sequence length " + std::to_string(l) + " exceeds max_position_embeddings " +
            std::to_string(c.max_position_embeddings));
  }
  TextInputs out;
  out.input_ids = checked_ids(ids, "input_ids", c.vocab_size, "vocab_size", device);
  if (mask.defined()) {
    if (mask.sizes() != ids.sizes()) {
      invalid("attention_mask shape " + shape_str(mask.sizes()) + " does not match input_ids " + shape_str(ids.sizes()) +
              " (batch size and sequence length must agree)");
    }
    if (at::isComplexType(mask.scalar_type())) invalid("attention_mask must be integer, bool or float");
    out.attention_mask = mask.to(device, dtype);
  }
  if (pos.defined()) {
    if (pos.dim() != 2 || (pos.size(0) != b && pos.size(0) != 1) || pos.size(1) != l) {
      invalid("position_ids shape " + shape_str(pos.sizes()) + " does not match input_ids " + shape_str(ids.sizes()) +
              " (batch size and sequence length must agree)");
    }
    out.position_ids = checked_ids(pos, "position_ids", c.max_position_embeddings, "max_position_embeddings", device);
  }
  return out;
}

// pixel_values [N, C, H, W] (already flattened) -> validated, in the model dtype on its device.
at::Tensor prepare_frames(const XCLIPVisionConfig& c, const at::Tensor& pv, bool interpolate, at::ScalarType dtype,
                          at::Device device) {
  if (!at::isFloatingType(pv.scalar_type())) {
    invalid(std::string("pixel_values must be a floating tensor, got ") + c10::toString(pv.scalar_type()));
  }
  if (pv.size(1) != c.num_channels) {
    invalid("pixel_values has " + std::to_string(pv.size(1)) + " channels, the model expects num_channels=" +
            std::to_string(c.num_channels));
  }
  const int64_t h = pv.size(2), w = pv.size(3);
  if (!interpolate && (h != c.image_size || w != c.image_size)) {
    invalid("pixel_values image size " + std::to_string(h) + "x" + std::to_string(w) + " does not match the model (" +
            std::to_string(c.image_size) + "x" + std::to_string(c.image_size) +
            "); resize the frames or pass interpolate_pos_encoding");
  }
  if (h < c.patch_size || w < c.patch_size) {
    invalid("pixel_values image size " + std::to_string(h) + "x" + std::to_string(w) + " is smaller than patch_size " +
            std::to_string(c.patch_size));
  }
  if (pv.numel() > 0 && !at::isfinite(pv).all().item<bool>()) {
    const int64_t bad = pv.numel() - at::isfinite(pv).sum().item<int64_t>();
    throw Error(ErrorCode::kNonFinite, "pixel_values contains " + std::to_string(bad) + " NaN/Inf value(s)");
  }
  return pv.to(device, dtype);
}

void check_video_rank(const XCLIPVisionConfig& c, const at::Tensor& pv) {
  if (!pv.defined()) invalid("pixel_values is required");
  if (pv.dim() != 5) {
    invalid("pixel_values must have 5 dims [num_videos, num_frames, channels, height, width], got " +
            shape_str(pv.sizes()));
  }
  if (pv.size(0) == 0) invalid("pixel_values holds no video: " + shape_str(pv.sizes()));
  if (pv.size(1) != c.num_frames) {
    invalid("pixel_values has " + std::to_string(pv.size(1)) + " frames per video but this checkpoint wants num_frames=" +
            std::to_string(c.num_frames));
  }
}

at::Tensor normalise(const at::Tensor& t) { return t / at::linalg_vector_norm(t, 2, at::IntArrayRef{-1}, true); }

// = contrastive_loss / x_clip_loss
at::Tensor contrastive_loss(const at::Tensor& logits) {
  at::Tensor target = at::arange(logits.size(0), logits.options().dtype(at::kLong));
  return at::nll_loss(at::log_softmax(logits, 1), target);
}

// The dtype the kernels run in for a model of dtype `dt` on `dev` (see the policy above).
at::ScalarType compute_dtype(at::ScalarType dt, at::Device dev) {
  if (dt != at::kHalf || !dev.is_cpu()) return dt;
  static const bool half_kernels = [] {
    try {
      InferenceScope scope;
      at::Tensor x = at::ones({1, 1, 2, 2}, at::kHalf);
      at::conv2d(x, x);
      at::linear(x.view({1, 4}), at::ones({2, 4}, at::kHalf));
      at::layer_norm(x, {2});
      return true;
    } catch (const c10::Error&) {
      return false;
    }
  }();
  return half_kernels ? dt : at::kFloat;
}

// Weights were materialised in the storage dtype; move them to the compute dtype when those differ.
void to_compute(Module& m, at::ScalarType compute) {
  for (const ParamRef& p : m.named_parameters()) {
    if (p.slot->scalar_type() != compute) *p.slot = p.slot->to(compute);
  }
}

void cast_output(BaseModelOutputWithPooling& o, at::ScalarType dt) {
  auto cast = [dt](at::Tensor& t) {
    if (t.defined() && t.scalar_type() != dt) t = t.to(dt);
  };
  cast(o.last_hidden_state);
  cast(o.pooler_output);
  for (auto& t : o.hidden_states) cast(t);
  for (auto& t : o.attentions) cast(t);
}

void write_config(const std::string& dir, const XCLIPConfig& config) {
  std::ofstream out(dir + "/config.json", std::ios::binary | std::ios::trunc);
  if (!out) throw Error(ErrorCode::kIo, "cannot write " + dir + "/config.json");
  out << config_to_json(config) << "\n";
  if (!out) throw Error(ErrorCode::kIo, "cannot write " + dir + "/config.json");
}

}  // namespace

// ------------------------------------------------------------------------------------------------------
class XCLIPModelImpl : public Module {
 public:
  XCLIPModelImpl(const XCLIPConfig& c, at::Device dev, at::ScalarType dt)
      : config(c), device(dev), dtype(dt), compute(compute_dtype(dt, dev)) {
    validate_config(config);
    config.dtype = dtype_name(dtype);
    const double f = c.initializer_factor;
    const int64_t dt_ = c.text_config.hidden_size, dv = c.vision_config.hidden_size, p = c.projection_dim;
    text_model = &register_module("text_model", std::make_unique<TextTransformer>(c.text_config, f));
    vision_model = &register_module("vision_model", std::make_unique<VisionTransformer>(c.vision_config, f));
    visual_projection =
        &register_module("visual_projection", std::make_unique<Linear>(dv, p, false, std::pow(double(dv), -0.5) * f));
    text_projection =
        &register_module("text_projection", std::make_unique<Linear>(dt_, p, false, std::pow(double(dt_), -0.5) * f));
    register_parameter("logit_scale", logit_scale, {}, Init::fill(c.logit_scale_init_value));
    prompts_visual_layernorm =
        &register_module("prompts_visual_layernorm", std::make_unique<LayerNorm>(dv, c.vision_config.layer_norm_eps));
    register_parameter("prompts_visual_projection", prompts_visual_projection, {dv, p},
                       Init::normal(std::pow(double(dv), -0.5) * f));
    mit = &register_module("mit", std::make_unique<MultiframeIntegrationTransformer>(c.vision_config, f));
    prompts_generator = &register_module("prompts_generator", std::make_unique<PromptGenerator>(c));
  }

  // vision tower -> visual_projection -> MIT over the frames of each video.
  void encode_video(const at::Tensor& pixel_values, const ForwardOptions& opt, BaseModelOutputWithPooling& vision,
                    BaseModelOutputWithPooling& mit_out) const {
    check_video_rank(config.vision_config, pixel_values);
    const int64_t b = pixel_values.size(0), t = pixel_values.size(1);
    at::Tensor frames = pixel_values.reshape({b * t, pixel_values.size(2), pixel_values.size(3), pixel_values.size(4)});
    frames = prepare_frames(config.vision_config, frames, opt.interpolate_pos_encoding, compute, device);
    vision = vision_model->forward(frames, opt);
    at::Tensor cls = visual_projection->forward(vision.pooler_output).view({b, t, -1});
    mit_out = mit->forward(cls, opt);
  }

  XCLIPConfig config;
  at::Device device;
  at::ScalarType dtype, compute;
  TextTransformer* text_model;
  VisionTransformer* vision_model;
  Linear *visual_projection, *text_projection;
  at::Tensor logit_scale;
  LayerNorm* prompts_visual_layernorm;
  at::Tensor prompts_visual_projection;
  MultiframeIntegrationTransformer* mit;
  PromptGenerator* prompts_generator;
};

XCLIPModel::XCLIPModel(std::unique_ptr<XCLIPModelImpl> impl) : impl_(std::move(impl)) {}
XCLIPModel::~XCLIPModel() = default;

// Every loader: resolve device and dtype (a bad device fails before a large read), read the weights, build the
// module tree, load it strictly (checkpoint keys under `scope`) and move it to the compute dtype.
template <class Model, class Impl, class LoadWeights>
std::shared_ptr<Model> build_loaded(const char* what, const XCLIPConfig& config, const ModelOptions& options,
                                    LoadWeights&& load_weights, const std::string& scope, const std::string& source) {
  at::Device device = resolve_device(options.device);
  at::ScalarType dtype = resolve_dtype(options.dtype);
  const auto& weights = load_weights();
  return guarded(what, [&] {
    auto impl = std::make_unique<Impl>(config, device, dtype);
    impl->load_state_dict(weights, dtype, device, scope, source);
    to_compute(*impl, impl->compute);
    return std::make_shared<Model>(std::move(impl));
  });
}

std::shared_ptr<XCLIPModel> XCLIPModel::from_config(const XCLIPConfig& config, const ModelOptions& options) {
  return from_config(config, options, 0);
}

std::shared_ptr<XCLIPModel> XCLIPModel::from_config(const XCLIPConfig& config, const ModelOptions& options,
                                                    uint64_t seed) {
  at::Device device = resolve_device(options.device);
  at::ScalarType dtype = resolve_dtype(options.dtype);
  return guarded("XCLIPModel.from_config", [&] {
    auto impl = std::make_unique<XCLIPModelImpl>(config, device, dtype);
    impl->init_parameters(seed, dtype, device);
    to_compute(*impl, impl->compute);
    return std::make_shared<XCLIPModel>(std::move(impl));
  });
}

std::shared_ptr<XCLIPModel> XCLIPModel::from_state_dict(const XCLIPConfig& config, const TensorMap& weights,
                                                        const ModelOptions& options) {
  return build_loaded<XCLIPModel, XCLIPModelImpl>(
      "XCLIPModel.from_state_dict", config, options, [&]() -> const TensorMap& { return weights; }, "", "checkpoint");
}

std::shared_ptr<XCLIPModel> XCLIPModel::from_pretrained(const std::string& dir, const ModelOptions& options) {
  return build_loaded<XCLIPModel, XCLIPModelImpl>("XCLIPModel.from_pretrained", load_config(dir + "/config.json"), options,
                                                  [&] { return load_checkpoint_dir(dir); }, "", "checkpoint in " + dir);
}

namespace {

// The prompt generator's visual input: every frame's patch tokens, layer-normed, projected and averaged over
// time. hidden [B*T, 1+N, Dv] -> [B, N, P]
at::Tensor prompt_visual_input(const XCLIPModelImpl& m, const at::Tensor& hidden, int64_t b, int64_t t) {
  at::Tensor img = hidden.narrow(1, 1, hidden.size(1) - 1);
  img = m.prompts_visual_layernorm->forward(img);
  // HF projects every frame's tokens, then averages over time; the projection is linear, so averaging first
  // gives the same result with T times fewer FLOPs.
  return xclip::matmul(img.view({b, t, img.size(1), img.size(2)}).mean(1), m.prompts_visual_projection);
}

// HF XCLIPModel.forward after the towers: video-conditioned prompts, normalisation and logits, from the video
// embeddings [B, P], the prompt generator's visual input (tokens [B, N, P], or per-layer keys and values
// [B, L, 2, N, P]) and text_features [K, P] (= get_text_features), all in the compute dtype. forward() and the
// search rerank (score_video_features) both end here.
void score(const XCLIPModelImpl& m, const at::Tensor& video_embeds, const at::Tensor& visual,
           const at::Tensor& text_features, XCLIPOutput& out) {
  const int64_t b = video_embeds.size(0);
  at::Tensor text_embeds = text_features.unsqueeze(0).expand({b, -1, -1});
  text_embeds = text_embeds + (visual.dim() == 5 ? m.prompts_generator->forward_key_values(text_embeds, visual)
                                                 : m.prompts_generator->forward(text_embeds, visual));
  out.video_embeds = normalise(video_embeds);
  out.text_embeds = normalise(text_embeds);
  at::Tensor scale = m.logit_scale.exp();
  out.logits_per_video = at::einsum("bd,bkd->bk", {out.video_embeds, scale * out.text_embeds});
  out.logits_per_text = out.logits_per_video.t();
}

void score_videos(const XCLIPModelImpl& m, const at::Tensor& text_features, int64_t b, int64_t t, XCLIPOutput& out) {
  score(m, out.mit_output.pooler_output, prompt_visual_input(m, out.vision_model_output.last_hidden_state, b, t),
        text_features, out);
}

// A floating tensor of `rank` dims whose last dim is the projection dim, on the model's device in the compute dtype.
at::Tensor converted_features(const XCLIPModelImpl& m, const at::Tensor& t, const char* name, int64_t rank,
                              const char* layout) {
  const int64_t p = m.config.projection_dim;
  if (!t.defined() || t.dim() != rank || t.size(0) < 1 || t.size(-1) != p || t.numel() == 0 ||
      !at::isFloatingType(t.scalar_type())) {
    invalid(std::string(name) + " must be a floating " + layout + " tensor with projection_dim " + std::to_string(p) +
            ", got " + (t.defined() ? shape_str(t.sizes()) + " " + c10::toString(t.scalar_type()) : std::string("none")));
  }
  return t.to(m.device, m.compute);
}

// NaN/Inf in converted features are refused naming the first row (video or text) that holds one. Checked after
// the cast: stored float16 features would take libtorch's scalar half-precision path.
void check_finite(const at::Tensor& c, const char* name) {
  if (at::isfinite(c.sum()).item<bool>()) return;  // one pass; a NaN/Inf anywhere makes the sum non-finite
  at::Tensor finite = at::isfinite(c).flatten(1).all(1);
  if (!finite.all().item<bool>()) {
    const int64_t row = (~finite).nonzero().min().item<int64_t>();
    throw Error(ErrorCode::kNonFinite, std::string(name) + "[" + std::to_string(row) + "] contains NaN or Inf");
  }
}

at::Tensor checked_features(const XCLIPModelImpl& m, const at::Tensor& t, const char* name, int64_t rank,
                            const char* layout) {
  at::Tensor c = converted_features(m, t, name, rank, layout);
  check_finite(c, name);
  return c;
}

void cast_outputs(const XCLIPModelImpl& m, XCLIPOutput& out) {
  if (m.compute == m.dtype) return;
  for (at::Tensor* t : {&out.loss, &out.logits_per_video, &out.logits_per_text, &out.text_embeds, &out.video_embeds}) {
    if (t->defined()) *t = t->to(m.dtype);
  }
  cast_output(out.text_model_output, m.dtype);
  cast_output(out.vision_model_output, m.dtype);
  cast_output(out.mit_output, m.dtype);
}

}  // namespace

XCLIPOutput XCLIPModel::forward(const at::Tensor& input_ids, const at::Tensor& pixel_values,
                                const at::Tensor& attention_mask, const at::Tensor& position_ids,
                                const ForwardOptions& options) const {
  const XCLIPModelImpl& m = *impl_;
  return guarded("XCLIPModel.forward", [&] {
    TextInputs text = prepare_text(m.config.text_config, input_ids, attention_mask, position_ids, m.compute, m.device);
    check_video_rank(m.config.vision_config, pixel_values);
    if (options.return_loss && input_ids.size(0) != pixel_values.size(0)) {
      invalid("return_loss needs as many texts as videos (contrastive targets are the diagonal), got " +
              std::to_string(input_ids.size(0)) + " texts and " + std::to_string(pixel_values.size(0)) + " videos");
    }
    XCLIPOutput out;
    m.encode_video(pixel_values, options, out.vision_model_output, out.mit_output);
    out.text_model_output = m.text_model->forward(text.input_ids, text.attention_mask, text.position_ids, options);
    at::Tensor text_features = m.text_projection->forward(out.text_model_output.pooler_output);  // [K, P]
    score_videos(m, text_features, pixel_values.size(0), pixel_values.size(1), out);
    if (options.return_loss) {
      out.loss = (contrastive_loss(out.logits_per_text) + contrastive_loss(out.logits_per_text.t())) / 2.0;
    }
    cast_outputs(m, out);
    return out;
  });
}

XCLIPOutput XCLIPModel::forward_with_text_features(const at::Tensor& text_features, const at::Tensor& pixel_values) const {
  const XCLIPModelImpl& m = *impl_;
  return guarded("XCLIPModel.forward_with_text_features", [&] {
    check_video_rank(m.config.vision_config, pixel_values);
    at::Tensor text = checked_features(m, text_features, "text_features", 2, "[num_texts, projection_dim] (get_text_features output)");
    XCLIPOutput out;
    m.encode_video(pixel_values, {}, out.vision_model_output, out.mit_output);
    score_videos(m, text, pixel_values.size(0), pixel_values.size(1), out);
    cast_outputs(m, out);
    return out;
  });
}

at::Tensor XCLIPModel::get_text_features(const at::Tensor& input_ids, const at::Tensor& attention_mask,
                                         const at::Tensor& position_ids) const {
  const XCLIPModelImpl& m = *impl_;
  return guarded("XCLIPModel.get_text_features", [&] {
    TextInputs text = prepare_text(m.config.text_config, input_ids, attention_mask, position_ids, m.compute, m.device);
    auto out = m.text_model->forward(text.input_ids, text.attention_mask, text.position_ids, {});
    return m.text_projection->forward(out.pooler_output).to(m.dtype);
  });
}

at::Tensor XCLIPModel::get_video_features(const at::Tensor& pixel_values) const {
  const XCLIPModelImpl& m = *impl_;
  return guarded("XCLIPModel.get_video_features", [&] {
    BaseModelOutputWithPooling vision, mit_out;
    m.encode_video(pixel_values, {}, vision, mit_out);
    return mit_out.pooler_output.to(m.dtype);
  });
}

VideoSearchFeatures XCLIPModel::get_video_search_features(const at::Tensor& pixel_values) const {
  const XCLIPModelImpl& m = *impl_;
  return guarded("XCLIPModel.get_video_search_features", [&] {
    BaseModelOutputWithPooling vision, mit_out;
    m.encode_video(pixel_values, {}, vision, mit_out);
    VideoSearchFeatures out;
    out.video_embeds = mit_out.pooler_output.to(m.dtype);
    out.prompt_features =
        prompt_visual_input(m, vision.last_hidden_state, pixel_values.size(0), pixel_values.size(1)).to(m.dtype);
    return out;
  });
}

at::Tensor XCLIPModel::prompt_key_values(const at::Tensor& prompt_features) const {
  const XCLIPModelImpl& m = *impl_;
  return guarded("XCLIPModel.prompt_key_values", [&] {
    at::Tensor visual = checked_features(m, prompt_features, "prompt_features", 3, "[num_videos, num_patches, projection_dim]");
    return m.prompts_generator->key_values(visual).to(m.dtype);
  });
}

at::Tensor XCLIPModel::score_video_features(const at::Tensor& video_embeds, const at::Tensor& prompt_features,
                                            const at::Tensor& text_features) const {
  const XCLIPModelImpl& m = *impl_;
  return guarded("XCLIPModel.score_video_features", [&] {
    at::Tensor video = checked_features(m, video_embeds, "video_embeds", 2, "[num_videos, projection_dim]");
    at::Tensor text = checked_features(m, text_features, "text_features", 2, "[num_texts, projection_dim] (get_text_features output)");
    const bool kv = prompt_features.defined() && prompt_features.dim() == 5;
    // Visual tokens are checked for NaN/Inf after scoring, and only when a logit came out non-finite: they are most
    // of a rerank's bytes (200 candidates: 20 MB in float32) and the rerank is memory-bound, so a pass over them up
    // front cost every search. A NaN or Inf token always reaches its video's logits (the layer norm turns its row
    // into NaN, and every token enters the attention). Keys and values are checked up front: a -Inf in a key only
    // zeroes that token's attention weight.
    at::Tensor visual = kv ? checked_features(m, prompt_features, "prompt_features", 5,
                                              "[num_videos, prompt_layers, 2, num_patches, projection_dim] (prompt_key_values output)")
                           : converted_features(m, prompt_features, "prompt_features", 3, "[num_videos, num_patches, projection_dim]");
    if (visual.size(0) != video.size(0)) {
      invalid("prompt_features holds " + std::to_string(visual.size(0)) + " videos but video_embeds " +
              std::to_string(video.size(0)));
    }
    if (kv && (visual.size(1) != m.config.prompt_layers || visual.size(2) != 2)) {
      invalid("prompt_features " + shape_str(visual.sizes()) + " are not keys and values for " +
              std::to_string(m.config.prompt_layers) + " prompt layers");
    }
    XCLIPOutput out;
    score(m, video, visual, text, out);
    if (!kv && !at::isfinite(out.logits_per_video).all().item<bool>()) check_finite(visual, "prompt_features");
    return out.logits_per_video.to(m.dtype);
  });
}

const XCLIPConfig& XCLIPModel::config() const { return impl_->config; }
at::Device XCLIPModel::device() const { return impl_->device; }
at::ScalarType XCLIPModel::dtype() const { return impl_->dtype; }
TensorMap XCLIPModel::state_dict() const {
  TensorMap sd = impl_->state_dict();
  if (impl_->compute != impl_->dtype) {
    for (auto& kv : sd) kv.second = kv.second.to(impl_->dtype);
  }
  return sd;
}

void XCLIPModel::save_pretrained(const std::string& dir) const {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw Error(ErrorCode::kIo, "cannot create directory " + dir + ": " + ec.message());
  write_config(dir, impl_->config);
  guarded("XCLIPModel.save_pretrained", [&] { save_safetensors(dir + "/model.safetensors", state_dict()); });
}

// ------------------------------------------------------------------------------------------------------
class XCLIPTextModelImpl : public Module {
 public:
  XCLIPTextModelImpl(const XCLIPConfig& c, at::Device dev, at::ScalarType dt)
      : config(c.text_config), device(dev), dtype(dt), compute(compute_dtype(dt, dev)) {
    validate_config(c);
    text_model = &register_module("text_model", std::make_unique<TextTransformer>(c.text_config, c.initializer_factor));
  }
  XCLIPTextConfig config;
  at::Device device;
  at::ScalarType dtype, compute;
  TextTransformer* text_model;
};

XCLIPTextModel::XCLIPTextModel(std::unique_ptr<XCLIPTextModelImpl> impl) : impl_(std::move(impl)) {}
XCLIPTextModel::~XCLIPTextModel() = default;

std::shared_ptr<XCLIPTextModel> XCLIPTextModel::from_pretrained(const std::string& dir, const ModelOptions& options) {
  return build_loaded<XCLIPTextModel, XCLIPTextModelImpl>("XCLIPTextModel.from_pretrained",
                                                          load_config(dir + "/config.json"), options,
                                                          [&] { return load_checkpoint_dir(dir); }, "text_model.",
                                                          "checkpoint in " + dir);
}

BaseModelOutputWithPooling XCLIPTextModel::forward(const at::Tensor& input_ids, const at::Tensor& attention_mask,
                                                   const at::Tensor& position_ids, const ForwardOptions& options) const {
  const XCLIPTextModelImpl& m = *impl_;
  return guarded("XCLIPTextModel.forward", [&] {
    TextInputs text = prepare_text(m.config, input_ids, attention_mask, position_ids, m.compute, m.device);
    auto out = m.text_model->forward(text.input_ids, text.attention_mask, text.position_ids, options);
    cast_output(out, m.dtype);
    return out;
  });
}

const XCLIPTextConfig& XCLIPTextModel::config() const { return impl_->config; }
at::Device XCLIPTextModel::device() const { return impl_->device; }

// ------------------------------------------------------------------------------------------------------
class XCLIPVisionModelImpl : public Module {
 public:
  XCLIPVisionModelImpl(const XCLIPConfig& c, at::Device dev, at::ScalarType dt)
      : config(c.vision_config), device(dev), dtype(dt), compute(compute_dtype(dt, dev)) {
    validate_config(c);
    vision_model =
        &register_module("vision_model", std::make_unique<VisionTransformer>(c.vision_config, c.initializer_factor));
  }
  XCLIPVisionConfig config;
  at::Device device;
  at::ScalarType dtype, compute;
  VisionTransformer* vision_model;
};

XCLIPVisionModel::XCLIPVisionModel(std::unique_ptr<XCLIPVisionModelImpl> impl) : impl_(std::move(impl)) {}
XCLIPVisionModel::~XCLIPVisionModel() = default;

std::shared_ptr<XCLIPVisionModel> XCLIPVisionModel::from_pretrained(const std::string& dir,
                                                                    const ModelOptions& options) {
  return build_loaded<XCLIPVisionModel, XCLIPVisionModelImpl>("XCLIPVisionModel.from_pretrained",
                                                              load_config(dir + "/config.json"), options,
                                                              [&] { return load_checkpoint_dir(dir); }, "vision_model.",
                                                              "checkpoint in " + dir);
}

BaseModelOutputWithPooling XCLIPVisionModel::forward(const at::Tensor& pixel_values,
                                                     const ForwardOptions& options) const {
  const XCLIPVisionModelImpl& m = *impl_;
  return guarded("XCLIPVisionModel.forward", [&] {
    if (!pixel_values.defined()) invalid("pixel_values is required");
    if (pixel_values.dim() != 4) {
      invalid("pixel_values must have 4 dims [batch*num_frames, channels, height, width], got " +
              shape_str(pixel_values.sizes()));
    }
    const int64_t n = pixel_values.size(0);
    if (n == 0 || n % m.config.num_frames != 0) {
      invalid("pixel_values holds " + std::to_string(n) + " frames, not a positive multiple of num_frames=" +
              std::to_string(m.config.num_frames) + " this checkpoint wants");
    }
    at::Tensor frames = prepare_frames(m.config, pixel_values, options.interpolate_pos_encoding, m.compute, m.device);
    auto out = m.vision_model->forward(frames, options);
    cast_output(out, m.dtype);
    return out;
  });
}

const XCLIPVisionConfig& XCLIPVisionModel::config() const { return impl_->config; }
at::Device XCLIPVisionModel::device() const { return impl_->device; }

}  // namespace xclip
