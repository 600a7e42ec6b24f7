#include "xclip/config.h"

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

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

// Bounds that refuse absurd architectures before anything is allocated.
constexpr int64_t kMaxDim = 1 << 16;
constexpr int64_t kMaxLayers = 1024;
constexpr int64_t kMaxVocab = 1 << 24;

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
  r.integer("num_frames", c.num_frames, 1, 4096);
  r.string("hidden_act", c.hidden_act);
  r.number("layer_norm_eps", c.layer_norm_eps, 0.0, 1.0);
  r.number("attention_dropout", c.attention_dropout, 0.0, 1.0);
  r.number("initializer_range", c.initializer_range, 0.0, 1e6);
  r.number("initializer_factor", c.initializer_factor, 0.0, 1e6);
  r.number("drop_path_rate", c.drop_path_rate, 0.0, 1.0);
}

}  // namespace

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
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception& e) {
    throw Error(ErrorCode::kConfigInvalid, source + ": malformed JSON: " + e.what());
  }
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
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(ErrorCode::kFileNotFound, "cannot open " + path);
  std::ostringstream ss;
  ss << in.rdbuf();
  return parse_config(ss.str(), path);
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
