// = transformers XCLIPTextConfig / XCLIPVisionConfig / XCLIPConfig (configuration_x_clip.py).
// Defaults are those of microsoft/xclip-base-patch32, field names are HF's JSON keys.
#pragma once

#include <cstdint>
#include <string>

namespace xclip {

struct XCLIPTextConfig {
  int64_t vocab_size = 49408;
  int64_t hidden_size = 512;
  int64_t intermediate_size = 2048;
  int64_t num_hidden_layers = 12;
  int64_t num_attention_heads = 8;
  int64_t max_position_embeddings = 77;
  std::string hidden_act = "quick_gelu";
  double layer_norm_eps = 1e-5;
  double attention_dropout = 0.0;
  double initializer_range = 0.02;
  double initializer_factor = 1.0;
  int64_t pad_token_id = 1;
  int64_t bos_token_id = 0;
  int64_t eos_token_id = 2;
};

// Most frames per video anywhere: a model's num_frames, a sampled read, a prepared video, a clip. X-CLIP
// checkpoints use 8 to 32; the TypeScript checks read this value from the addon, so both agree.
constexpr int64_t kMaxNumFrames = 1024;

struct XCLIPVisionConfig {
  int64_t hidden_size = 768;
  int64_t intermediate_size = 3072;
  int64_t num_hidden_layers = 12;
  int64_t num_attention_heads = 12;
  int64_t mit_hidden_size = 512;
  int64_t mit_intermediate_size = 2048;
  int64_t mit_num_hidden_layers = 1;
  int64_t mit_num_attention_heads = 8;
  int64_t num_channels = 3;
  int64_t image_size = 224;
  int64_t patch_size = 32;
  int64_t num_frames = 8;
  std::string hidden_act = "quick_gelu";
  double layer_norm_eps = 1e-5;
  double attention_dropout = 0.0;
  double initializer_range = 0.02;
  double initializer_factor = 1.0;
  double drop_path_rate = 0.0;
};

struct XCLIPConfig {
  XCLIPTextConfig text_config;
  XCLIPVisionConfig vision_config;
  int64_t projection_dim = 512;
  int64_t prompt_layers = 2;
  double prompt_alpha = 0.1;
  std::string prompt_hidden_act = "quick_gelu";
  int64_t prompt_num_attention_heads = 8;
  double prompt_attention_dropout = 0.0;
  double prompt_projection_dropout = 0.0;
  double logit_scale_init_value = 2.6592;
  double initializer_factor = 1.0;
  std::string dtype = "float32";  // "dtype" (transformers >= 4.56) or legacy "torch_dtype"
};

// Parses an HF config.json text. Unknown keys are ignored; a known key of the wrong type, a value out of
// range or an inconsistent architecture (hidden size not divisible by heads, MIT width != projection_dim,
// unknown activation) throws Error(kConfigInvalid) naming the key. `source` names the file in messages.
XCLIPConfig parse_config(const std::string& json_text, const std::string& source = "config.json");
XCLIPConfig load_config(const std::string& path);  // reads the file, then parse_config
// HF's snake_case file format (what save_pretrained writes), so parse_config(to_json(c)) == c.
std::string config_to_json(const XCLIPConfig& config, int indent = 2);
// Throws kConfigInvalid for values a model cannot be built from, and for architectures too large to allocate
// (over 2e9 parameters, or over 4096 patches per frame), before anything is allocated; parse_config calls it.
void validate_config(const XCLIPConfig& config);
// Number of parameters XCLIPModel has for this config (the elements of its state_dict), computed from the sizes.
double parameter_count(const XCLIPConfig& config);

bool is_supported_activation(const std::string& name);

}  // namespace xclip
