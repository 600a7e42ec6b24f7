// = transformers XCLIPModel / XCLIPTextModel / XCLIPVisionModel (modeling_x_clip.py), inference only.
// All entry points are const and keep no per-call state, so one model serves concurrent callers.
#pragma once

#include <ATen/ATen.h>

#include <memory>
#include <string>
#include <vector>

#include "xclip/config.h"
#include "xclip/weights.h"

namespace xclip {

struct ModelOptions {
  std::string device = "cpu";   // "cpu", "cuda", "cuda:N", "auto" (cuda when available, else cpu)
  std::string dtype = "float32";  // "float32" | "float16" | "bfloat16"
  // Weights are converted to `dtype` at load; float inputs are cast to it, ids to int64; all outputs come back
  // in `dtype` on `device`. Softmax runs in float32. On a CPU libtorch without half kernels (Debian's 1.13),
  // "float16" computes in float32 with float16-rounded weights and returns float16 outputs.
};

struct ForwardOptions {
  bool return_loss = false;
  bool output_attentions = false;
  bool output_hidden_states = false;
  bool interpolate_pos_encoding = false;
};

// Undefined tensors stand for HF's None.
struct BaseModelOutputWithPooling {
  at::Tensor last_hidden_state;
  at::Tensor pooler_output;
  std::vector<at::Tensor> hidden_states;  // empty unless output_hidden_states
  std::vector<at::Tensor> attentions;     // empty unless output_attentions
};

struct XCLIPOutput {
  at::Tensor loss;              // scalar, defined only with return_loss
  at::Tensor logits_per_video;  // [num_videos, num_texts]
  at::Tensor logits_per_text;   // [num_texts, num_videos]
  at::Tensor text_embeds;       // [num_videos, num_texts, projection_dim] (video-conditioned, normalised)
  at::Tensor video_embeds;      // [num_videos, projection_dim] (normalised)
  BaseModelOutputWithPooling text_model_output;
  BaseModelOutputWithPooling vision_model_output;
  BaseModelOutputWithPooling mit_output;
};

// What a search index stores per video (get_video_search_features), from one vision pass.
struct VideoSearchFeatures {
  at::Tensor video_embeds;     // [num_videos, projection_dim] = get_video_features (MIT pooled, not normalised)
  at::Tensor prompt_features;  // [num_videos, num_patches, projection_dim]: the prompt generator's visual input
                               // (every frame's patch tokens layer-normed, projected, averaged over time)
};

class XCLIPModelImpl;
class XCLIPTextModelImpl;
class XCLIPVisionModelImpl;

class XCLIPModel {
 public:
  // dir holds config.json and a checkpoint (see load_checkpoint_dir). Strict: every missing, unexpected or
  // mis-shaped tensor is reported (kWeightsMismatch) with both shapes.
  static std::shared_ptr<XCLIPModel> from_pretrained(const std::string& dir, const ModelOptions& options = {});
  static std::shared_ptr<XCLIPModel> from_config(const XCLIPConfig& config, const ModelOptions& options = {});
  // Randomly initialised with HF's _init_weights scheme, deterministic for a given seed.
  static std::shared_ptr<XCLIPModel> from_config(const XCLIPConfig& config, const ModelOptions& options, uint64_t seed);
  // Builds from an already loaded state dict (strict, as from_pretrained).
  static std::shared_ptr<XCLIPModel> from_state_dict(const XCLIPConfig& config, const TensorMap& weights,
                                                     const ModelOptions& options = {});

  // input_ids [num_texts, L] int64; pixel_values [num_videos, T, C, H, W]; attention_mask / position_ids may be
  // undefined tensors.
  XCLIPOutput forward(const at::Tensor& input_ids, const at::Tensor& pixel_values, const at::Tensor& attention_mask = {},
                      const at::Tensor& position_ids = {}, const ForwardOptions& options = {}) const;
  at::Tensor get_text_features(const at::Tensor& input_ids, const at::Tensor& attention_mask = {},
                               const at::Tensor& position_ids = {}) const;
  // forward() for texts already encoded by get_text_features ([num_texts, projection_dim]): the same logits and
  // embeddings, without re-running the text tower, so a label set is encoded once and reused.
  // text_model_output is left empty.
  XCLIPOutput forward_with_text_features(const at::Tensor& text_features, const at::Tensor& pixel_values) const;
  at::Tensor get_video_features(const at::Tensor& pixel_values) const;

  // Text-to-video search with X-CLIP's own scores. get_video_search_features stores, per video, what
  // forward() derives from its pixels; score_video_features then gives logits_per_video [num_videos, num_texts]
  // equal to forward()'s for those videos and texts (text_features = get_text_features), without the vision
  // tower. prompt_features may also be their keys and values (prompt_key_values, [num_videos, prompt_layers, 2,
  // num_patches, projection_dim]): 4x the bytes for less compute. Features may come in float16/bfloat16 (they
  // are computed in the model's dtype); video_embeds may be normalised already.
  VideoSearchFeatures get_video_search_features(const at::Tensor& pixel_values) const;
  at::Tensor score_video_features(const at::Tensor& video_embeds, const at::Tensor& prompt_features,
                                  const at::Tensor& text_features) const;
  at::Tensor prompt_key_values(const at::Tensor& prompt_features) const;

  const XCLIPConfig& config() const;
  at::Device device() const;
  at::ScalarType dtype() const;
  // named_parameters() keyed by HF checkpoint names.
  TensorMap state_dict() const;
  // config.json + model.safetensors, loadable by transformers' from_pretrained.
  void save_pretrained(const std::string& dir) const;

  explicit XCLIPModel(std::unique_ptr<XCLIPModelImpl> impl);
  ~XCLIPModel();

 private:
  std::unique_ptr<XCLIPModelImpl> impl_;
};

// Loaded from a full X-CLIP checkpoint (its text_model.* keys), as HF's XCLIPTextModel.from_pretrained does.
class XCLIPTextModel {
 public:
  static std::shared_ptr<XCLIPTextModel> from_pretrained(const std::string& dir, const ModelOptions& options = {});
  BaseModelOutputWithPooling forward(const at::Tensor& input_ids, const at::Tensor& attention_mask = {},
                                     const at::Tensor& position_ids = {}, const ForwardOptions& options = {}) const;
  const XCLIPTextConfig& config() const;
  at::Device device() const;

  explicit XCLIPTextModel(std::unique_ptr<XCLIPTextModelImpl> impl);
  ~XCLIPTextModel();

 private:
  std::unique_ptr<XCLIPTextModelImpl> impl_;
};

// pixel_values [B*T, C, H, W]: frames of consecutive videos; B*T must be a multiple of num_frames.
class XCLIPVisionModel {
 public:
  static std::shared_ptr<XCLIPVisionModel> from_pretrained(const std::string& dir, const ModelOptions& options = {});
  BaseModelOutputWithPooling forward(const at::Tensor& pixel_values, const ForwardOptions& options = {}) const;
  const XCLIPVisionConfig& config() const;
  at::Device device() const;

  explicit XCLIPVisionModel(std::unique_ptr<XCLIPVisionModelImpl> impl);
  ~XCLIPVisionModel();

 private:
  std::unique_ptr<XCLIPVisionModelImpl> impl_;
};

// Resolves "cpu" | "cuda" | "cuda:N" | "auto"; kDeviceUnavailable when this libtorch/machine has no such device.
at::Device resolve_device(const std::string& spec);
at::ScalarType resolve_dtype(const std::string& name);

}  // namespace xclip
