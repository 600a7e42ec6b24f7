#include "xclip/config.h"

#include <cmath>
#include <cstdio>
#include <utility>
#include <nlohmann/json.hpp>

#include "untrusted_json.h"
#include "xclip/error.h"

namespace xclip {
namespace {

using json = nlohmann::json;

[[noreturn]] void fail(const std::string& source, const std::string& key, const std::string& what) {
  throw Error(ErrorCode::kConfigInvalid, source + ": " + key + " " + what);
}

const char* type_name(const json& v) { return v.type_name(); }

// Each reader takes the value at `key` if present; HF writes ints as JSON integers and floats as numbers.
struct Reader {
  const json& obj;
  std::string prefix;  // "text_config." etc., for messages
  const std::string& source;

  const json* find(const char* key) const {
    auto it = obj.find(key);
    if (it == obj.end() || it->is_null()) return nullptr;
    return &*it;
  }
  void integer(const char* key, int64_t& out, int64_t lo, int64_t hi) const {
    const json* v = find(key);
    if (!v) return;
    // Range-check before the cast: converting an out-of-range double (1e300) to int64 is undefined behaviour.
    auto integral = [](double d) { return d >= -9.2e18 && d <= 9.2e18 && d == std::trunc(d); };
    if (!v->is_number_integer() && !(v->is_number_float() && integral(v->get<double>()))) {
      fail(source, prefix + key, std::string("must be an integer but is ") + type_name(*v) + " " + v->dump());
    }
    int64_t x = v->is_number_integer() ? v->get<int64_t>() : static_cast<int64_t>(v->get<double>());
    if (v->is_number_unsigned() && v->get<uint64_t>() > static_cast<uint64_t>(INT64_MAX)) x = INT64_MAX;
    if (x < lo || x > hi) {
      fail(source, prefix + key, "must be between " + std::to_string(lo) + " and " + std::to_string(hi) + " but is " + v->dump());
    }
    out = x;
  }
  void number(const char* key, double& out, double lo, double hi) const {
    const json* v = find(key);
    if (!v) return;
    if (!v->is_number()) fail(source, prefix + key, std::string("must be a number but is ") + type_name(*v) + " " + v->dump());
    double x = v->get<double>();
    if (!(x >= lo && x <= hi)) fail(source, prefix + key, "must be between " + std::to_string(lo) + " and " + std::to_string(hi) + " but is " + v->dump());
    out = x;
  }
  void string(const char* key, std::string& out) const {
    const json* v = find(key);
    if (!v) return;
    if (!v->is_string()) fail(source, prefix + key, std::string("must be a string but is ") + type_name(*v) + " " + v->dump());
    out = v->get<std::string>();
  }
};

// Bounds that refuse absurd architectures before anything is allocated. Each size alone is checked here; their
// product (what would be allocated) by validate_config.
constexpr int64_t kMaxDim = 1 << 16;
constexpr int64_t kMaxLayers = 1024;
constexpr int64_t kMaxVocab = 1 << 24;
// 8 GB of float32. The largest X-CLIP (large-patch14) has ~0.58e9.
constexpr double kMaxParameters = 2e9;
// Attention over one frame is [heads, N, N]; X-CLIP large at 336 px has 576 patches.
constexpr int64_t kMaxPatches = 4096;

double linear(double in, double out, bool bias = true) { return in * out + (bias ? out : 0); }
double layer_norm(double d) { return 2 * d; }
double attention(double d) { return 4 * linear(d, d); }
// CLIP's pre-LN encoder layer: self-attention, two layer norms, fc1/fc2.
double encoder_layer(double d, double i) { return attention(d) + 2 * layer_norm(d) + linear(d, i) + linear(i, d); }

void read_text(const json& j, const std::string& prefix, const std::string& source, XCLIPTextConfig& c) {
  if (!j.is_object()) fail(source, prefix.substr(0, prefix.size() - 1), std::string("must be an object but is ") + j.type_name());
  Reader r{j, prefix, source};
  r.integer("vocab_size", c.vocab_size, 1, kMaxVocab);
  r.integer("hidden_size", c.hidden_size, 1, kMaxDim);
  r.integer("intermediate_size", c.intermediate_size, 1, kMaxDim * 4);
  r.integer("num_hidden_layers", c.num_hidden_layers, 0, kMaxLayers);
  r.integer("num_attention_heads", c.num_attention_heads, 1, kMaxDim);
  r.integer("max_position_embeddings", c.max_position_embeddings, 1, kMaxDim);
  r.string("hidden_act", c.hidden_act);
  r.number("layer_norm_eps", c.layer_norm_eps, 0.0, 1.0);
  r.number("attention_dropout", c.attention_dropout, 0.0, 1.0);
  r.number("initializer_range", c.initializer_range, 0.0, 1e6);
  r.number("initializer_factor", c.initializer_factor, 0.0, 1e6);
  r.integer("pad_token_id", c.pad_token_id, INT64_MIN, INT64_MAX);
  r.integer("bos_token_id", c.bos_token_id, INT64_MIN, INT64_MAX);
  r.integer("eos_token_id", c.eos_token_id, INT64_MIN, INT64_MAX);
}

void read_vision(const json& j, const std::string& prefix, const std::string& source, XCLIPVisionConfig& c) {
  if (!j.is_object()) fail(source, prefix.substr(0, prefix.size() - 1), std::string("must be an object but is ") + j.type_name());
  Reader r{j, prefix, source};
  r.integer("hidden_size", c.hidden_size, 1, kMaxDim);
  r.integer("intermediate_size", c.intermediate_size, 1, kMaxDim * 4);
  r.integer("num_hidden_layers", c.num_hidden_layers, 0, kMaxLayers);
  r.integer("num_attention_heads", c.num_attention_heads, 1, kMaxDim);
  r.integer("mit_hidden_size", c.mit_hidden_size, 1, kMaxDim);
  r.integer("mit_intermediate_size", c.mit_intermediate_size, 1, kMaxDim * 4);
  r.integer("mit_num_hidden_layers", c.mit_num_hidden_layers, 0, kMaxLayers);
  r.integer("mit_num_attention_heads", c.mit_num_attention_heads, 1, kMaxDim);
  r.integer("num_channels", c.num_channels, 1, 64);
  r.integer("image_size", c.image_size, 1, kMaxDim);
  r.integer("patch_size", c.patch_size, 1, kMaxDim);
  r.integer("num_frames", c.num_frames, 1, kMaxNumFrames);
  r.string("hidden_act", c.hidden_act);
  r.number("layer_norm_eps", c.layer_norm_eps, 0.0, 1.0);
  r.number("attention_dropout", c.attention_dropout, 0.0, 1.0);
  r.number("initializer_range", c.initializer_range, 0.0, 1e6);
  r.number("initializer_factor", c.initializer_factor, 0.0, 1e6);
  r.number("drop_path_rate", c.drop_path_rate, 0.0, 1.0);
}

}  // namespace

double parameter_count(const XCLIPConfig& c) {
  const auto& t = c.text_config;
  const auto& v = c.vision_config;
  const double dt = t.hidden_size, dv = v.hidden_size, p = c.projection_dim;
  const double text = (double(t.vocab_size) + t.max_position_embeddings) * dt +
                      t.num_hidden_layers * encoder_layer(dt, t.intermediate_size) + layer_norm(dt);
  const double side = v.patch_size > 0 ? v.image_size / v.patch_size : 0;
  // Each vision layer adds X-CLIP's message_fc, message_ln and message_attn to a CLIP layer.
  const double vision = dv + double(v.num_channels) * v.patch_size * v.patch_size * dv + (side * side + 1) * dv +
                        2 * layer_norm(dv) +
                        v.num_hidden_layers * (encoder_layer(dv, v.intermediate_size) + linear(dv, dv) + layer_norm(dv) + attention(dv));
  const double mit = double(v.num_frames) * v.mit_hidden_size +
                     v.mit_num_hidden_layers * encoder_layer(v.mit_hidden_size, v.mit_intermediate_size);
  const double prompts = layer_norm(p) + p +
                         c.prompt_layers * (3 * linear(p, p, false) + linear(p, p) + 2 * layer_norm(p) + linear(p, 4 * p) + linear(4 * p, p));
  return text + vision + mit + prompts + linear(dv, p, false) + linear(dt, p, false) + 1 + layer_norm(dv) + dv * p;
}

bool is_supported_activation(const std::string& name) {
  return name == "gelu" || name == "relu" || name == "selu" || name == "gelu_new" || name == "quick_gelu";
}

void validate_config(const XCLIPConfig& c) {
  const std::string src = "config";
  auto need = [&](bool ok, const std::string& key, const std::string& what) {
    if (!ok) fail(src, key, what);
  };
  const auto& t = c.text_config;
  const auto& v = c.vision_config;
  // parse_config range-checks every field; a config built in code reaches here unchecked, and the divisions
  // below must not see a zero.
  const std::pair<const char*, int64_t> sizes[] = {
      {"text_config.vocab_size", t.vocab_size},
      {"text_config.hidden_size", t.hidden_size},
      {"text_config.intermediate_size", t.intermediate_size},
      {"text_config.num_attention_heads", t.num_attention_heads},
      {"text_config.max_position_embeddings", t.max_position_embeddings},
      {"vision_config.hidden_size", v.hidden_size},
      {"vision_config.intermediate_size", v.intermediate_size},
      {"vision_config.num_attention_heads", v.num_attention_heads},
      {"vision_config.mit_hidden_size", v.mit_hidden_size},
      {"vision_config.mit_intermediate_size", v.mit_intermediate_size},
      {"vision_config.mit_num_attention_heads", v.mit_num_attention_heads},
      {"vision_config.num_channels", v.num_channels},
      {"vision_config.image_size", v.image_size},
      {"vision_config.patch_size", v.patch_size},
      {"vision_config.num_frames", v.num_frames},
      {"projection_dim", c.projection_dim},
      {"prompt_num_attention_heads", c.prompt_num_attention_heads},
  };
  for (const auto& [key, value] : sizes)
    need(value > 0 && value <= kMaxVocab, key, "must be between 1 and " + std::to_string(kMaxVocab) + " but is " + std::to_string(value));
  for (const auto& [key, value] : {std::pair<const char*, int64_t>{"text_config.num_hidden_layers", t.num_hidden_layers},
                                   {"vision_config.num_hidden_layers", v.num_hidden_layers},
                                   {"vision_config.mit_num_hidden_layers", v.mit_num_hidden_layers},
                                   {"prompt_layers", c.prompt_layers}})
    need(value >= 0 && value <= kMaxLayers, key, "must be between 0 and " + std::to_string(kMaxLayers) + " but is " + std::to_string(value));
  need(t.hidden_size % t.num_attention_heads == 0, "text_config.hidden_size",
       "(" + std::to_string(t.hidden_size) + ") must be divisible by text_config.num_attention_heads (" +
           std::to_string(t.num_attention_heads) + ")");
  need(v.hidden_size % v.num_attention_heads == 0, "vision_config.hidden_size",
       "(" + std::to_string(v.hidden_size) + ") must be divisible by vision_config.num_attention_heads (" +
           std::to_string(v.num_attention_heads) + ")");
  need(v.mit_hidden_size % v.mit_num_attention_heads == 0, "vision_config.mit_hidden_size",
       "(" + std::to_string(v.mit_hidden_size) + ") must be divisible by vision_config.mit_num_attention_heads (" +
           std::to_string(v.mit_num_attention_heads) + ")");
  // The MIT consumes projected per-frame CLS features, so its width is the projection width.
  need(v.mit_hidden_size == c.projection_dim, "vision_config.mit_hidden_size",
       "(" + std::to_string(v.mit_hidden_size) + ") must equal projection_dim (" + std::to_string(c.projection_dim) + ")");
  need(c.projection_dim % c.prompt_num_attention_heads == 0, "projection_dim",
       "(" + std::to_string(c.projection_dim) + ") must be divisible by prompt_num_attention_heads (" +
           std::to_string(c.prompt_num_attention_heads) + ")");
  need(v.image_size % v.patch_size == 0 || v.image_size >= v.patch_size, "vision_config.patch_size",
       "(" + std::to_string(v.patch_size) + ") must not exceed image_size (" + std::to_string(v.image_size) + ")");
  need(v.image_size >= v.patch_size, "vision_config.patch_size",
       "(" + std::to_string(v.patch_size) + ") must not exceed image_size (" + std::to_string(v.image_size) + ")");
  const int64_t side = v.image_size / v.patch_size;
  need(side * side <= kMaxPatches, "vision_config.image_size",
       "(" + std::to_string(v.image_size) + ") / patch_size (" + std::to_string(v.patch_size) + ") gives " +
           std::to_string(side * side) + " patches per frame, above the limit of " + std::to_string(kMaxPatches));
  const double params = parameter_count(c);
  if (params > kMaxParameters) {
    char what[320];
    std::snprintf(what, sizeof(what),
                  "would need %.3g parameters (%.3g GB in float32), above the limit of %.0e: text %lld x %lld layers, "
                  "vision %lld x %lld layers, vocab %lld",
                  params, params * 4 / 1e9, kMaxParameters, static_cast<long long>(t.hidden_size),
                  static_cast<long long>(t.num_hidden_layers), static_cast<long long>(v.hidden_size),
                  static_cast<long long>(v.num_hidden_layers), static_cast<long long>(t.vocab_size));
    fail(src, "(architecture)", what);
  }
  need(is_supported_activation(t.hidden_act), "text_config.hidden_act",
       "\"" + t.hidden_act + "\" is not one of gelu, relu, selu, gelu_new, quick_gelu");
  need(is_supported_activation(v.hidden_act), "vision_config.hidden_act",
       "\"" + v.hidden_act + "\" is not one of gelu, relu, selu, gelu_new, quick_gelu");
  need(is_supported_activation(c.prompt_hidden_act), "prompt_hidden_act",
       "\"" + c.prompt_hidden_act + "\" is not one of gelu, relu, selu, gelu_new, quick_gelu");
  need(c.dtype == "float32" || c.dtype == "float16" || c.dtype == "bfloat16" || c.dtype == "float64", "dtype",
       "\"" + c.dtype + "\" is not one of float32, float16, bfloat16, float64");
}

XCLIPConfig parse_config(const std::string& text, const std::string& source) {
  json j = parse_json_limited(text, ErrorCode::kConfigInvalid, source + ": malformed JSON: ");
  if (!j.is_object()) fail(source, "(top level)", std::string("must be a JSON object but is ") + j.type_name());
  XCLIPConfig c;
  Reader r{j, "", source};
  r.integer("projection_dim", c.projection_dim, 1, kMaxDim);
  r.integer("prompt_layers", c.prompt_layers, 0, kMaxLayers);
  r.number("prompt_alpha", c.prompt_alpha, -1e6, 1e6);
  r.string("prompt_hidden_act", c.prompt_hidden_act);
  r.integer("prompt_num_attention_heads", c.prompt_num_attention_heads, 1, kMaxDim);
  r.number("prompt_attention_dropout", c.prompt_attention_dropout, 0.0, 1.0);
  r.number("prompt_projection_dropout", c.prompt_projection_dropout, 0.0, 1.0);
  r.number("logit_scale_init_value", c.logit_scale_init_value, -1e6, 1e6);
  r.number("initializer_factor", c.initializer_factor, 0.0, 1e6);
  // transformers >= 4.56 writes "dtype"; older checkpoints (the hub's xclip ones) "torch_dtype".
  r.string("torch_dtype", c.dtype);
  r.string("dtype", c.dtype);

  if (const json* tc = r.find("text_config")) read_text(*tc, "text_config.", source, c.text_config);
  if (const json* vc = r.find("vision_config")) read_vision(*vc, "vision_config.", source, c.vision_config);
  // Legacy *_config_dict: HF rebuilds a full config from it (defaults included) and lets it win.
  if (const json* td = r.find("text_config_dict")) {
    c.text_config = XCLIPTextConfig{};
    read_text(*td, "text_config_dict.", source, c.text_config);
  }
  if (const json* vd = r.find("vision_config_dict")) {
    c.vision_config = XCLIPVisionConfig{};
    read_vision(*vd, "vision_config_dict.", source, c.vision_config);
  }
  try {
    validate_config(c);
  } catch (const Error& e) {
    throw Error(ErrorCode::kConfigInvalid, source + ": " + std::string(e.what()).substr(std::string("config: ").size()));
  }
  return c;
}

XCLIPConfig load_config(const std::string& path) {
  return parse_config(read_file_limited(path, kMaxConfigFileBytes, ErrorCode::kFileNotFound, ErrorCode::kConfigInvalid), path);
}

std::string config_to_json(const XCLIPConfig& c, int indent) {
  const auto& t = c.text_config;
  const auto& v = c.vision_config;
  json tj = {
      {"attention_dropout", t.attention_dropout}, {"bos_token_id", t.bos_token_id},
      {"eos_token_id", t.eos_token_id},           {"hidden_act", t.hidden_act},
      {"hidden_size", t.hidden_size},             {"initializer_factor", t.initializer_factor},
      {"initializer_range", t.initializer_range}, {"intermediate_size", t.intermediate_size},
      {"layer_norm_eps", t.layer_norm_eps},       {"max_position_embeddings", t.max_position_embeddings},
      {"model_type", "xclip_text_model"},         {"num_attention_heads", t.num_attention_heads},
      {"num_hidden_layers", t.num_hidden_layers}, {"pad_token_id", t.pad_token_id},
      {"vocab_size", t.vocab_size},
  };
  json vj = {
      {"attention_dropout", v.attention_dropout},
      {"drop_path_rate", v.drop_path_rate},
      {"hidden_act", v.hidden_act},
      {"hidden_size", v.hidden_size},
      {"image_size", v.image_size},
      {"initializer_factor", v.initializer_factor},
      {"initializer_range", v.initializer_range},
      {"intermediate_size", v.intermediate_size},
      {"layer_norm_eps", v.layer_norm_eps},
      {"mit_hidden_size", v.mit_hidden_size},
      {"mit_intermediate_size", v.mit_intermediate_size},
      {"mit_num_attention_heads", v.mit_num_attention_heads},
      {"mit_num_hidden_layers", v.mit_num_hidden_layers},
      {"model_type", "xclip_vision_model"},
      {"num_attention_heads", v.num_attention_heads},
      {"num_channels", v.num_channels},
      {"num_frames", v.num_frames},
      {"num_hidden_layers", v.num_hidden_layers},
      {"patch_size", v.patch_size},
  };
  json j = {
      {"architectures", {"XCLIPModel"}},
      {"dtype", c.dtype},
      {"initializer_factor", c.initializer_factor},
      {"logit_scale_init_value", c.logit_scale_init_value},
      {"model_type", "xclip"},
      {"projection_dim", c.projection_dim},
      {"prompt_alpha", c.prompt_alpha},
      {"prompt_attention_dropout", c.prompt_attention_dropout},
      {"prompt_hidden_act", c.prompt_hidden_act},
      {"prompt_layers", c.prompt_layers},
      {"prompt_num_attention_heads", c.prompt_num_attention_heads},
      {"prompt_projection_dropout", c.prompt_projection_dropout},
      {"text_config", tj},
      {"vision_config", vj},
  };
  return j.dump(indent);
}

}  // namespace xclip
