// Parity with transformers 4.57.6: every case file of every fixture model (see fixtures/README.md).
#include <map>
#include <memory>

#include "testing.h"
#include "xclip/model.h"

using namespace xclip;

namespace {

struct Fixture {
  TensorMap t;
  std::string name;
  const at::Tensor& operator[](const std::string& key) const {
    auto it = t.find(key);
    if (it == t.end()) XCLIP_FAIL(name << ": fixture key missing: " << key);
    return it->second;
  }
  bool has(const std::string& key) const { return t.count(key) > 0; }
};

Fixture load_case(const std::string& model, const std::string& file) {
  return {load_safetensors(testing::fixture("cases/" + model + "/" + file + ".safetensors")), model + "/" + file};
}

std::shared_ptr<XCLIPModel> model_for(const std::string& name) {
  static std::map<std::string, std::shared_ptr<XCLIPModel>> cache;
  auto& m = cache[name];
  if (!m) m = XCLIPModel::from_pretrained(testing::fixture("models/" + name));
  return m;
}

double tol_for(const std::string& model) { return model == "xclip-deep12" ? 2e-4 : 1e-4; }
constexpr double kAttnTol = 1e-5;

// Compares a BaseModelOutputWithPooling with fixture keys "<prefix>last_hidden_state", "...hidden_states.i", ...
void compare_base(const BaseModelOutputWithPooling& out, const Fixture& f, const std::string& prefix, double tol,
                  size_t n_hidden, size_t n_attn) {
  if (f.has(prefix + "last_hidden_state"))
    EXPECT_CLOSE(out.last_hidden_state, f[prefix + "last_hidden_state"], tol, tol, f.name + " " + prefix + "last_hidden_state");
  if (f.has(prefix + "pooler_output"))
    EXPECT_CLOSE(out.pooler_output, f[prefix + "pooler_output"], tol, tol, f.name + " " + prefix + "pooler_output");
  if (n_hidden) {
    EXPECT_EQ(out.hidden_states.size(), n_hidden);
    size_t seen = 0;
    for (size_t i = 0; i < out.hidden_states.size(); ++i) {
      const std::string key = prefix + "hidden_states." + std::to_string(i);
      if (!f.has(key)) continue;
      ++seen;
      EXPECT_CLOSE(out.hidden_states[i], f[key], tol, tol, f.name + " " + key);
    }
    EXPECT_EQ(seen, n_hidden);
  }
  if (n_attn) {
    EXPECT_EQ(out.attentions.size(), n_attn);
    size_t seen = 0;
    for (size_t i = 0; i < out.attentions.size(); ++i) {
      const std::string key = prefix + "attentions." + std::to_string(i);
      if (!f.has(key)) continue;
      ++seen;
      EXPECT_CLOSE(out.attentions[i], f[key], kAttnTol, kAttnTol, f.name + " " + key);
    }
    EXPECT_EQ(seen, n_attn);
  }
}

void compare_heads(const XCLIPOutput& out, const Fixture& f, const std::string& p, double tol) {
  EXPECT_CLOSE(out.logits_per_video, f[p + "logits_per_video"], tol, tol, f.name + " " + p + "logits_per_video");
  EXPECT_CLOSE(out.logits_per_text, f[p + "logits_per_text"], tol, tol, f.name + " " + p + "logits_per_text");
  EXPECT_CLOSE(out.text_embeds, f[p + "text_embeds"], tol, tol, f.name + " " + p + "text_embeds");
  EXPECT_CLOSE(out.video_embeds, f[p + "video_embeds"], tol, tol, f.name + " " + p + "video_embeds");
}

void check_forward_full(const std::string& name) {
  auto m = model_for(name);
  Fixture f = load_case(name, "forward_full");
  ForwardOptions opt;
  opt.output_attentions = opt.output_hidden_states = true;
  XCLIPOutput out = m->forward(f["inputs.input_ids"], f["inputs.pixel_values"], f["inputs.attention_mask"], {}, opt);
  const double tol = tol_for(name);
  compare_heads(out, f, "", tol);
  const auto& c = m->config();
  const size_t tl = c.text_config.num_hidden_layers, vl = c.vision_config.num_hidden_layers,
               ml = c.vision_config.mit_num_hidden_layers;
  compare_base(out.text_model_output, f, "text_model_output.", tol, tl + 1, tl);
  compare_base(out.vision_model_output, f, "vision_model_output.", tol, vl + 1, vl);
  compare_base(out.mit_output, f, "mit_output.", tol, ml + 1, ml);
  EXPECT_TRUE(!out.loss.defined());
}

void check_forward_loss(const std::string& name) {
  auto m = model_for(name);
  Fixture f = load_case(name, "forward_loss");
  ForwardOptions opt;
  opt.return_loss = true;
  XCLIPOutput out = m->forward(f["inputs.input_ids"], f["inputs.pixel_values"], f["inputs.attention_mask"], {}, opt);
  compare_heads(out, f, "", tol_for(name));
  EXPECT_EQ(out.loss.dim(), 0);
  EXPECT_CLOSE(out.loss, f["loss"], 1e-5, 1e-5, f.name + " loss");
}

void check_forward_position_ids(const std::string& name) {
  auto m = model_for(name);
  Fixture f = load_case(name, "forward_position_ids");
  const double tol = tol_for(name);
  XCLIPOutput out =
      m->forward(f["inputs.input_ids"], f["inputs.pixel_values"], f["inputs.attention_mask"], f["inputs.position_ids"]);
  compare_heads(out, f, "", tol);
  compare_base(out.text_model_output, f, "text_model_output.", tol, 0, 0);
  EXPECT_CLOSE(m->get_text_features(f["inputs.input_ids"], f["inputs.attention_mask"], f["inputs.position_ids"]),
               f["get_text_features"], tol, tol, f.name + " get_text_features");
}

void check_forward_no_mask(const std::string& name) {
  auto m = model_for(name);
  Fixture f = load_case(name, "forward_no_mask");
  const double tol = tol_for(name);
  XCLIPOutput out = m->forward(f["inputs.input_ids"], f["inputs.pixel_values"]);
  compare_heads(out, f, "", tol);
  compare_base(out.text_model_output, f, "text_model_output.", tol, 0, 0);
}

void check_forward_shapes(const std::string& name) {
  auto m = model_for(name);
  Fixture f = load_case(name, "forward_shapes");
  const double tol = tol_for(name);
  for (std::string p : {"", "b."}) {
    XCLIPOutput out = m->forward(f[p + "inputs.input_ids"], f[p + "inputs.pixel_values"], f[p + "inputs.attention_mask"]);
    compare_heads(out, f, p, tol);
  }
}

void check_features(const std::string& name) {
  auto m = model_for(name);
  Fixture f = load_case(name, "features");
  const double tol = tol_for(name);
  EXPECT_CLOSE(m->get_text_features(f["inputs.input_ids"], f["inputs.attention_mask"]), f["get_text_features"], tol, tol,
               f.name + " get_text_features");
  EXPECT_CLOSE(m->get_text_features(f["inputs.input_ids"]), f["get_text_features_no_mask"], tol, tol,
               f.name + " get_text_features_no_mask");
  EXPECT_CLOSE(m->get_video_features(f["inputs.pixel_values"]), f["get_video_features"], tol, tol,
               f.name + " get_video_features");
}

void check_text_quirks(const std::string& name) {
  auto tm = XCLIPTextModel::from_pretrained(testing::fixture("models/" + name));
  Fixture f = load_case(name, "text_quirks");
  const double tol = tol_for(name);
  // The pooled row must be the first maximum of input_ids, exactly.
  at::Tensor idx = f["inputs.input_ids"].argmax(-1);
  EXPECT_TRUE(idx.equal(f["pooled_index"]));
  auto out = tm->forward(f["inputs.input_ids"], f["inputs.attention_mask"]);
  compare_base(out, f, "", tol, 0, 0);
  at::Tensor rows = out.last_hidden_state.index({at::arange(idx.size(0)), f["pooled_index"]});
  EXPECT_TRUE(rows.equal(out.pooler_output));
  EXPECT_CLOSE(model_for(name)->get_text_features(f["inputs.input_ids"], f["inputs.attention_mask"]),
               f["get_text_features"], tol, tol, f.name + " get_text_features");
}

void check_text_model(const std::string& name) {
  auto tm = XCLIPTextModel::from_pretrained(testing::fixture("models/" + name));
  Fixture f = load_case(name, "text_model");
  ForwardOptions opt;
  opt.output_attentions = opt.output_hidden_states = true;
  auto out = tm->forward(f["inputs.input_ids"], f["inputs.attention_mask"], {}, opt);
  const size_t n = tm->config().num_hidden_layers;
  compare_base(out, f, "", tol_for(name), n + 1, n);
}

void check_vision_model(const std::string& name) {
  auto vm = XCLIPVisionModel::from_pretrained(testing::fixture("models/" + name));
  Fixture f = load_case(name, "vision_model");
  ForwardOptions opt;
  opt.output_attentions = opt.output_hidden_states = true;
  auto out = vm->forward(f["inputs.pixel_values"], opt);
  const size_t n = vm->config().num_hidden_layers;
  EXPECT_EQ(out.hidden_states.size(), n + 1);
  EXPECT_EQ(out.attentions.size(), n);
  // deep12's file keeps only the final outputs; its per-layer tensors are checked through forward_full.
  const bool per_layer = f.has("hidden_states.0");
  compare_base(out, f, "", tol_for(name), per_layer ? n + 1 : 0, per_layer ? n : 0);
  // The message token is dropped from hidden states but present in the attention maps.
  const auto& c = vm->config();
  const int64_t patches = (c.image_size / c.patch_size) * (c.image_size / c.patch_size);
  EXPECT_EQ(out.last_hidden_state.size(1), patches + 1);
  EXPECT_EQ(out.attentions[0].size(-1), patches + 2);
}

}  // namespace

#define XCLIP_MODEL_TESTS(id, name)                                         \
  TEST(model_parity_forward_full_##id) { check_forward_full(name); }         \
  TEST(model_parity_forward_loss_##id) { check_forward_loss(name); }         \
  TEST(model_parity_forward_position_ids_##id) { check_forward_position_ids(name); } \
  TEST(model_parity_forward_no_mask_##id) { check_forward_no_mask(name); }   \
  TEST(model_parity_forward_shapes_##id) { check_forward_shapes(name); }     \
  TEST(model_parity_features_##id) { check_features(name); }                 \
  TEST(model_parity_text_quirks_##id) { check_text_quirks(name); }           \
  TEST(model_parity_text_model_##id) { check_text_model(name); }             \
  TEST(model_parity_vision_model_##id) { check_vision_model(name); }

XCLIP_MODEL_TESTS(tiny8, "xclip-tiny8")
XCLIP_MODEL_TESTS(tiny4_gelu, "xclip-tiny4-gelu")
XCLIP_MODEL_TESTS(tiny3, "xclip-tiny3")
XCLIP_MODEL_TESTS(deep12, "xclip-deep12")

// The legacy pytorch_model.bin twin must load to exactly the same weights and outputs.
TEST(model_parity_legacy_bin_matches_safetensors) {
  auto bin = XCLIPModel::from_pretrained(testing::fixture("models/xclip-tiny4-gelu-legacy-bin"));
  auto st = model_for("xclip-tiny4-gelu");
  TensorMap a = bin->state_dict(), b = st->state_dict();
  EXPECT_EQ(a.size(), b.size());
  for (const auto& [k, v] : b) {
    EXPECT_TRUE(a.count(k) == 1);
    EXPECT_TRUE(a.at(k).equal(v));
  }
  Fixture f = load_case("xclip-tiny4-gelu", "forward_full");
  XCLIPOutput out = bin->forward(f["inputs.input_ids"], f["inputs.pixel_values"], f["inputs.attention_mask"]);
  compare_heads(out, f, "", 1e-4);
}

// A label set encoded once (get_text_features) and reused must score exactly as forward() does.
TEST(model_forward_with_text_features_equals_forward) {
  for (const char* name : {"xclip-tiny8", "xclip-tiny4-gelu", "xclip-deep12"}) {
    auto m = model_for(name);
    Fixture f = load_case(name, "forward_full");
    XCLIPOutput full = m->forward(f["inputs.input_ids"], f["inputs.pixel_values"], f["inputs.attention_mask"]);
    at::Tensor features = m->get_text_features(f["inputs.input_ids"], f["inputs.attention_mask"]);
    XCLIPOutput cached = m->forward_with_text_features(features, f["inputs.pixel_values"]);
    EXPECT_CLOSE(cached.logits_per_video, full.logits_per_video, 1e-6, 1e-6, std::string(name) + " logits");
    EXPECT_CLOSE(cached.text_embeds, full.text_embeds, 1e-6, 1e-6, std::string(name) + " text_embeds");
    EXPECT_CLOSE(cached.logits_per_video, f["logits_per_video"], tol_for(name), tol_for(name), std::string(name) + " vs HF");
    EXPECT_TRUE(!cached.text_model_output.last_hidden_state.defined());
  }
  auto m = model_for("xclip-tiny8");
  Fixture f = load_case("xclip-tiny8", "forward_full");
  EXPECT_ERROR(m->forward_with_text_features(at::zeros({3, 7}), f["inputs.pixel_values"]), ErrorCode::kInvalidInput,
               "text_features", "[3, 7]");
  EXPECT_ERROR(m->forward_with_text_features(at::full({2, 32}, NAN), f["inputs.pixel_values"]), ErrorCode::kNonFinite,
               "text_features");
}
