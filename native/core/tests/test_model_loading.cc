// Strict loading, from_config initialisation, save/load round trip, device and dtype handling.
#include <set>
#include <thread>

#include "testing.h"
#include "xclip/model.h"
#include "xclip/runtime.h"

using namespace xclip;

namespace {

const std::string kTiny8 = "models/xclip-tiny8";

XCLIPConfig tiny8_config() { return load_config(testing::fixture(kTiny8 + "/config.json")); }
TensorMap tiny8_weights() { return load_safetensors(testing::fixture(kTiny8 + "/model.safetensors")); }
TensorMap forward_inputs() { return load_safetensors(testing::fixture("cases/xclip-tiny8/forward_full.safetensors")); }

std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(model_load_missing_key) {
  TensorMap w = tiny8_weights();
  w.erase("mit.position_embedding");
  EXPECT_ERROR(XCLIPModel::from_state_dict(tiny8_config(), w), ErrorCode::kWeightsMismatch, "1 missing",
               "mit.position_embedding");
}

TEST(model_load_unexpected_key) {
  TensorMap w = tiny8_weights();
  w["text_model.encoder.layers.7.mlp.fc1.weight"] = at::zeros({2, 2});
  EXPECT_ERROR(XCLIPModel::from_state_dict(tiny8_config(), w), ErrorCode::kWeightsMismatch, "1 unexpected",
               "text_model.encoder.layers.7.mlp.fc1.weight");
}

TEST(model_load_wrong_shape_names_both_shapes) {
  TensorMap w = tiny8_weights();
  w["vision_model.embeddings.patch_embedding.weight"] = at::zeros({32, 3, 6, 6});
  EXPECT_ERROR(XCLIPModel::from_state_dict(tiny8_config(), w), ErrorCode::kWeightsMismatch,
               "vision_model.embeddings.patch_embedding.weight: checkpoint [32, 3, 6, 6] vs model [32, 3, 8, 8]");
}

TEST(model_load_reports_all_problems_at_once) {
  TensorMap w = tiny8_weights();
  w.erase("logit_scale");
  w.erase("prompts_generator.alpha");
  w["extra.weight"] = at::zeros({1});
  w["text_projection.weight"] = at::zeros({32, 31});
  EXPECT_ERROR(XCLIPModel::from_state_dict(tiny8_config(), w), ErrorCode::kWeightsMismatch, "2 missing",
               "1 unexpected", "1 mis-shaped", "logit_scale", "prompts_generator.alpha", "extra.weight",
               "text_projection.weight: checkpoint [32, 31] vs model [32, 32]");
}

TEST(model_load_wrong_config_for_checkpoint) {
  XCLIPConfig c = load_config(testing::fixture("models/xclip-tiny3/config.json"));
  EXPECT_ERROR(XCLIPModel::from_state_dict(c, tiny8_weights()), ErrorCode::kWeightsMismatch, "mis-shaped",
               "text_model.embeddings.token_embedding.weight: checkpoint [99, 32] vs model [300, 24]");
}

TEST(model_load_ignores_legacy_position_ids_buffers) {
  TensorMap w = tiny8_weights();
  w["text_model.embeddings.position_ids"] = at::arange(77).unsqueeze(0);
  w["vision_model.embeddings.position_ids"] = at::arange(17).unsqueeze(0);
  XCLIPModel::from_state_dict(tiny8_config(), w);
}

TEST(model_load_f32_is_zero_copy_and_f16_is_converted) {
  TensorMap w = tiny8_weights();
  auto m = XCLIPModel::from_state_dict(tiny8_config(), w);
  TensorMap sd = m->state_dict();
  EXPECT_EQ(sd.size(), w.size());
  EXPECT_TRUE(sd.at("text_projection.weight").data_ptr() == w.at("text_projection.weight").data_ptr());

  TensorMap half;
  for (const auto& [k, v] : w) half[k] = v.to(at::kHalf);
  auto mh = XCLIPModel::from_state_dict(tiny8_config(), half);
  EXPECT_TRUE(mh->state_dict().at("text_projection.weight").scalar_type() == at::kFloat);
  EXPECT_TRUE(mh->state_dict().at("logit_scale").equal(half.at("logit_scale").to(at::kFloat)));
  TensorMap in = forward_inputs();
  auto a = m->forward(in["inputs.input_ids"], in["inputs.pixel_values"], in["inputs.attention_mask"]);
  auto b = mh->forward(in["inputs.input_ids"], in["inputs.pixel_values"], in["inputs.attention_mask"]);
  EXPECT_CLOSE(b.logits_per_video, a.logits_per_video, 0.05, 0.05, "f16 checkpoint vs f32");
}

TEST(model_named_parameters_are_hf_checkpoint_keys) {
  auto m = XCLIPModel::from_config(tiny8_config(), {}, 1);
  TensorMap sd = m->state_dict(), w = tiny8_weights();
  std::set<std::string> a, b;
  for (const auto& kv : sd) a.insert(kv.first);
  for (const auto& kv : w) b.insert(kv.first);
  EXPECT_TRUE(a == b);
  for (const auto& [k, v] : w) EXPECT_TRUE(sd.at(k).sizes() == v.sizes());
}

TEST(model_from_config_init_scheme_and_determinism) {
  XCLIPConfig c = tiny8_config();
  auto a = XCLIPModel::from_config(c, {}, 7);
  auto b = XCLIPModel::from_config(c, {}, 7);
  auto d = XCLIPModel::from_config(c, {}, 8);
  TensorMap sa = a->state_dict(), sb = b->state_dict(), sd = d->state_dict();
  for (const auto& [k, v] : sa) EXPECT_TRUE(v.equal(sb.at(k)));
  EXPECT_TRUE(!sa.at("text_projection.weight").equal(sd.at("text_projection.weight")));
  // _init_weights: LayerNorm 1/0, Linear bias 0, logit_scale and alpha from the config.
  EXPECT_TRUE(sa.at("text_model.final_layer_norm.weight").eq(1).all().item<bool>());
  EXPECT_TRUE(sa.at("vision_model.encoder.layers.0.message_ln.bias").eq(0).all().item<bool>());
  EXPECT_TRUE(sa.at("mit.encoder.layers.0.mlp.fc1.bias").eq(0).all().item<bool>());
  EXPECT_CLOSE(sa.at("logit_scale"), at::tensor(c.logit_scale_init_value, at::kFloat).reshape({}), 1e-6, 0, "logit_scale");
  EXPECT_CLOSE(sa.at("prompts_generator.alpha"), at::full({32}, c.prompt_alpha), 1e-7, 0, "alpha");
  // Standard deviations follow HF (large tensors only, loosely): token embedding 0.02, message_fc 1.0.
  const double tok_std = sa.at("text_model.embeddings.token_embedding.weight").std().item<double>();
  EXPECT_TRUE(tok_std > 0.015 && tok_std < 0.025);
  const double msg_std = sa.at("vision_model.encoder.layers.0.message_fc.weight").std().item<double>();
  EXPECT_TRUE(msg_std > 0.85 && msg_std < 1.15);
  const double q_std = sa.at("text_model.encoder.layers.0.self_attn.q_proj.weight").std().item<double>();
  const double want_q = std::pow(32.0, -0.5) * std::pow(4.0, -0.5);  // embed^-0.5 * (2 layers * 2)^-0.5
  EXPECT_TRUE(std::abs(q_std - want_q) < 0.25 * want_q);
}

TEST(model_save_pretrained_round_trip) {
  auto a = XCLIPModel::from_config(tiny8_config(), {}, 3);
  std::string dir = testing::temp_dir() + "/saved";
  a->save_pretrained(dir);
  auto b = XCLIPModel::from_pretrained(dir);
  TensorMap sa = a->state_dict(), sb = b->state_dict();
  EXPECT_EQ(sa.size(), sb.size());
  for (const auto& [k, v] : sa) EXPECT_TRUE(v.equal(sb.at(k)));
  EXPECT_EQ(b->config().vision_config.num_frames, 8);
  TensorMap in = forward_inputs();
  auto oa = a->forward(in["inputs.input_ids"], in["inputs.pixel_values"], in["inputs.attention_mask"]);
  auto ob = b->forward(in["inputs.input_ids"], in["inputs.pixel_values"], in["inputs.attention_mask"]);
  EXPECT_TRUE(oa.logits_per_video.equal(ob.logits_per_video));
  EXPECT_TRUE(at::isfinite(oa.logits_per_video).all().item<bool>());
}

TEST(model_device_resolution) {
  EXPECT_TRUE(resolve_device("cpu") == at::Device(at::kCPU));
  EXPECT_ERROR(resolve_device("gpu"), ErrorCode::kInvalidInput, "gpu");
  EXPECT_ERROR(resolve_device("cuda:x"), ErrorCode::kInvalidInput, "cuda:x");
  EXPECT_ERROR(resolve_dtype("float8"), ErrorCode::kInvalidInput, "float8");
  if (!at::hasCUDA()) {
    EXPECT_TRUE(resolve_device("auto") == at::Device(at::kCPU));
    EXPECT_ERROR(resolve_device("cuda"), ErrorCode::kDeviceUnavailable, "\"cuda\"", "CUDA");
    EXPECT_ERROR(resolve_device("cuda:1"), ErrorCode::kDeviceUnavailable, "cuda:1");
    ModelOptions o;
    o.device = "cuda";
    EXPECT_ERROR(XCLIPModel::from_pretrained(testing::fixture(kTiny8), o), ErrorCode::kDeviceUnavailable, "cuda");
  }
}

TEST(model_reduced_precision_runs) {
  TensorMap in = forward_inputs();
  auto ref = XCLIPModel::from_pretrained(testing::fixture(kTiny8));
  auto r = ref->forward(in["inputs.input_ids"], in["inputs.pixel_values"], in["inputs.attention_mask"]);
  for (const char* dt : {"bfloat16", "float16"}) {
    ModelOptions o;
    o.dtype = dt;
    auto m = XCLIPModel::from_pretrained(testing::fixture(kTiny8), o);
    EXPECT_TRUE(m->dtype() == resolve_dtype(dt));
    ForwardOptions fo;
    fo.output_hidden_states = fo.output_attentions = true;
    auto out = m->forward(in["inputs.input_ids"], in["inputs.pixel_values"], in["inputs.attention_mask"], {}, fo);
    EXPECT_TRUE(out.logits_per_video.scalar_type() == m->dtype());
    EXPECT_TRUE(out.text_model_output.attentions[0].scalar_type() == m->dtype());
    EXPECT_TRUE(at::isfinite(out.logits_per_video.to(at::kFloat)).all().item<bool>());
    EXPECT_CLOSE(out.logits_per_video, r.logits_per_video, 0.5, 0.1, std::string(dt) + " logits vs f32");
    EXPECT_CLOSE(out.video_embeds, r.video_embeds, 0.05, 0.05, std::string(dt) + " video_embeds vs f32");
    EXPECT_TRUE(m->get_video_features(in["inputs.pixel_values"]).scalar_type() == m->dtype());
  }
}

TEST(model_threads_and_concurrent_callers) {
  set_num_threads(2);
  EXPECT_EQ(get_num_threads(), 2);
  EXPECT_ERROR(set_num_threads(0), ErrorCode::kInvalidInput, "0");
  auto m = XCLIPModel::from_pretrained(testing::fixture(kTiny8));
  TensorMap in = forward_inputs();
  at::Tensor ref = m->forward(in["inputs.input_ids"], in["inputs.pixel_values"], in["inputs.attention_mask"]).logits_per_video;
  at::Tensor got[2];
  std::vector<std::thread> threads;
  for (int i = 0; i < 2; ++i) {
    threads.emplace_back([&, i] {
      got[i] = m->forward(in["inputs.input_ids"], in["inputs.pixel_values"], in["inputs.attention_mask"]).logits_per_video;
    });
  }
  for (auto& t : threads) t.join();
  for (const auto& g : got) EXPECT_CLOSE(g, ref, 1e-6, 0, "concurrent forward");
}

TEST(model_save_pretrained_over_its_own_checkpoint) {
  // The loaded F32 weights alias the old file's mapping; the writer must not clobber it in place.
  std::string dir = testing::temp_dir() + "/same";
  XCLIPModel::from_config(tiny8_config(), {}, 5)->save_pretrained(dir);
  auto a = XCLIPModel::from_pretrained(dir);
  TensorMap before;
  for (const auto& [k, v] : a->state_dict()) before[k] = v.clone();
  a->save_pretrained(dir);
  for (const auto& [k, v] : a->state_dict()) EXPECT_TRUE(v.equal(before.at(k)));
  auto b = XCLIPModel::from_pretrained(dir);
  for (const auto& [k, v] : b->state_dict()) EXPECT_TRUE(v.equal(before.at(k)));
}

TEST(model_towers_load_strictly_from_full_checkpoints) {
  std::string dir = testing::temp_dir() + "/towers";
  auto full = XCLIPModel::from_config(tiny8_config(), {}, 9);
  full->save_pretrained(dir);
  TensorMap w = full->state_dict();
  w.erase("text_model.final_layer_norm.bias");
  w["vision_model.encoder.layers.0.extra"] = at::zeros({1});
  save_safetensors(dir + "/model.safetensors", w);
  // Each tower only looks at its own prefix and is strict there.
  EXPECT_ERROR(XCLIPTextModel::from_pretrained(dir), ErrorCode::kWeightsMismatch, "text_model.final_layer_norm.bias",
               "1 missing", "0 unexpected");
  EXPECT_ERROR(XCLIPVisionModel::from_pretrained(dir), ErrorCode::kWeightsMismatch,
               "vision_model.encoder.layers.0.extra", "0 missing", "1 unexpected");
  EXPECT_ERROR(XCLIPModel::from_pretrained(dir), ErrorCode::kWeightsMismatch, "1 missing", "1 unexpected");
  EXPECT_ERROR(XCLIPModel::from_pretrained(testing::temp_dir()), ErrorCode::kFileNotFound, "config.json");
}
