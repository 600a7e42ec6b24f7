// Search features: logits from stored per-video features (score_video_features) against transformers' forward()
// on every fixture model, both association orders of the prompt cross-attention, the key/value layout, and the
// argument checks.
#include <cstdio>
#include <map>
#include <memory>

#include "../src/parts.h"
#include "testing.h"
#include "xclip/flops.h"
#include "xclip/model.h"

using namespace xclip;

namespace {

const char* kModels[] = {"xclip-tiny8", "xclip-tiny4-gelu", "xclip-tiny3", "xclip-deep12"};

double tol_for(const std::string& model) { return model == "xclip-deep12" ? 2e-4 : 1e-4; }

std::shared_ptr<XCLIPModel> model_for(const std::string& name) {
  static std::map<std::string, std::shared_ptr<XCLIPModel>> cache;
  auto& m = cache[name];
  if (!m) m = XCLIPModel::from_pretrained(testing::fixture("models/" + name));
  return m;
}

TensorMap load_case(const std::string& model, const std::string& file) {
  return load_safetensors(testing::fixture("cases/" + model + "/" + file + ".safetensors"));
}

// A model's prompt generator alone, loaded from its checkpoint, so a test can pin the attention order.
struct PromptGeneratorOnly : Module {
  explicit PromptGeneratorOnly(const XCLIPConfig& c) {
    pg = &register_module("prompts_generator", std::make_unique<PromptGenerator>(c));
  }
  PromptGenerator* pg;
};

at::Tensor normalise(const at::Tensor& t) { return t / t.norm(2, -1, true); }

}  // namespace

// Every (video, text) pair of forward_full (2 x 3) and forward_shapes (1 x 5, and 3 x 1: a search's shape), scored
// from the stored features, equals transformers' logits_per_video; also from normalised video embeddings and
// from the key/value layout.
TEST(search_score_features_matches_forward_all_models) {
  for (const char* name : kModels) {
    auto m = model_for(name);
    const double tol = tol_for(name);
    for (const auto& [file, prefix] : std::vector<std::pair<std::string, std::string>>{
             {"forward_full", ""}, {"forward_shapes", ""}, {"forward_shapes", "b."}}) {
      TensorMap f = load_case(name, file);
      const std::string what = std::string(name) + "/" + file + " " + prefix;
      at::Tensor ids = f.at(prefix + "inputs.input_ids");
      at::Tensor mask = f.at(prefix + "inputs.attention_mask");
      at::Tensor pv = f.at(prefix + "inputs.pixel_values");
      at::Tensor text = m->get_text_features(ids, mask);
      VideoSearchFeatures v = m->get_video_search_features(pv);
      EXPECT_EQ(v.prompt_features.dim(), 3);
      EXPECT_EQ(v.prompt_features.size(0), pv.size(0));
      EXPECT_EQ(v.prompt_features.size(2), m->config().projection_dim);
      EXPECT_CLOSE(v.video_embeds, m->get_video_features(pv), 0, 0, what + " video_embeds = get_video_features");
      const at::Tensor& expected = f.at(prefix + "logits_per_video");
      EXPECT_CLOSE(m->score_video_features(v.video_embeds, v.prompt_features, text), expected, tol, tol, what + " tokens");
      EXPECT_CLOSE(m->score_video_features(normalise(v.video_embeds), v.prompt_features, text), expected, tol, tol,
                   what + " normalised video_embeds");
      at::Tensor kv = m->prompt_key_values(v.prompt_features);
      EXPECT_EQ(kv.dim(), 5);
      EXPECT_EQ(kv.size(1), m->config().prompt_layers);
      EXPECT_CLOSE(m->score_video_features(v.video_embeds, kv, text), expected, tol, tol, what + " keys/values");
      // Same as our own forward() to float32 rounding: one code path after the towers.
      XCLIPOutput out = m->forward(ids, pv, mask);
      EXPECT_CLOSE(m->score_video_features(v.video_embeds, v.prompt_features, text), out.logits_per_video, 2e-6, 2e-6,
                   what + " vs forward()");
    }
  }
}

// Scoring each video on its own (the rerank sees candidates in any grouping) gives each pair's logit.
TEST(search_score_features_per_video_equals_batch) {
  auto m = model_for("xclip-tiny8");
  TensorMap f = load_case("xclip-tiny8", "forward_full");
  at::Tensor text = m->get_text_features(f.at("inputs.input_ids"), f.at("inputs.attention_mask"));
  VideoSearchFeatures v = m->get_video_search_features(f.at("inputs.pixel_values"));
  at::Tensor all = m->score_video_features(v.video_embeds, v.prompt_features, text);
  for (int64_t b = 0; b < 2; ++b) {
    for (int64_t k = 0; k < 3; ++k) {
      at::Tensor one = m->score_video_features(v.video_embeds.narrow(0, b, 1), v.prompt_features.narrow(0, b, 1),
                                               text.narrow(0, k, 1));
      EXPECT_CLOSE(one.view({1}), all[b][k].view({1}), 1e-6, 1e-6, "pair " + std::to_string(b) + "," + std::to_string(k));
    }
  }
}

// Both association orders of the prompt cross-attention give transformers' video-conditioned text embeddings,
// whether the texts come expanded over the videos (the first layer then projects them once) or as separate copies.
TEST(search_prompt_attention_orders_match_transformers) {
  for (const char* name : kModels) {
    auto m = model_for(name);
    PromptGeneratorOnly only(m->config());
    only.load_state_dict(load_checkpoint_dir(testing::fixture(std::string("models/") + name)), at::kFloat,
                         at::kCPU, "prompts_generator.");
    TensorMap f = load_case(name, "forward_full");
    at::Tensor text = m->get_text_features(f.at("inputs.input_ids"), f.at("inputs.attention_mask"));
    VideoSearchFeatures v = m->get_video_search_features(f.at("inputs.pixel_values"));
    at::Tensor t = text.unsqueeze(0).expand({v.prompt_features.size(0), -1, -1});
    for (AttentionOrder order : {AttentionOrder::kKeysFirst, AttentionOrder::kQueriesFirst}) {
      for (const bool expanded : {true, false}) {
        c10::InferenceMode guard;
        const at::Tensor input = expanded ? t : t.contiguous();
        at::Tensor embeds = normalise(t + only.pg->forward(input, v.prompt_features, order));
        EXPECT_CLOSE(embeds, f.at("text_embeds"), tol_for(name), tol_for(name),
                     std::string(name) + (order == AttentionOrder::kKeysFirst ? " keys first" : " queries first") +
                         (expanded ? ", expanded texts" : ", copied texts"));
      }
    }
  }
}

// The order the core picks: folding the projections into the queries wins for a few texts against 49 tokens
// (a search, a label set) and loses for many texts.
TEST(search_prompt_order_choice_and_flops) {
  EXPECT_TRUE(prompt_queries_first(1, 49, 512, 8));
  EXPECT_TRUE(prompt_queries_first(16, 49, 512, 8));
  EXPECT_TRUE(!prompt_queries_first(64, 49, 512, 8));
  XCLIPConfig base;  // xclip-base-patch32's sizes
  const double tokens = stored_prompt_flops(base, 200, 1, false), kv = stored_prompt_flops(base, 200, 1, true);
  // One query against 49 tokens: the 4x MLP dominates either way; stored keys/values save the folded projections.
  EXPECT_TRUE(tokens > kv && tokens < 1.5 * kv);
  EXPECT_TRUE(tokens < 3.0e9);  // 200 candidates, 2 layers: ~2.8 GFLOP instead of ~22 projecting every token
  std::printf("  base size, 200 candidates x 1 text: tokens %.2f GFLOP, keys/values %.2f GFLOP\n", tokens / 1e9, kv / 1e9);
}

// float16 storage: rounding the stored prompt features to half precision (relative error <= 2^-11) moves the
// video-conditioned text embeddings by ~1e-3 on these models, so the logits by up to ~5e-4 x logit scale:
// beyond forward()'s 1e-4 tolerance. Printed, and bounded relative to the scale (~100 for trained checkpoints).
TEST(search_score_features_float16_storage) {
  for (const char* name : kModels) {
    auto m = model_for(name);
    TensorMap f = load_case(name, "forward_full");
    at::Tensor text = m->get_text_features(f.at("inputs.input_ids"), f.at("inputs.attention_mask"));
    VideoSearchFeatures v = m->get_video_search_features(f.at("inputs.pixel_values"));
    at::Tensor exact = m->score_video_features(v.video_embeds, v.prompt_features, text);
    at::Tensor half = m->score_video_features(normalise(v.video_embeds), v.prompt_features.to(at::kHalf), text);
    const double dev = testing::max_abs_diff(half, exact);
    const double scale = std::exp(m->state_dict().at("logit_scale").item<double>());
    std::printf("  %s: float16 prompt features move logits by %.2e (logit scale %.1f)\n", name, dev, scale);
    EXPECT_TRUE(dev < 1e-3 * scale);
    EXPECT_EQ(half.scalar_type(), at::kFloat);
  }
}

TEST(search_score_features_rejects_bad_arguments) {
  auto m = model_for("xclip-tiny8");  // projection_dim 32, 16 patches, 1 prompt layer
  at::Tensor ve = at::randn({2, 32}), pf = at::randn({2, 16, 32}), tf = at::randn({3, 32});
  const at::Tensor ok = m->score_video_features(ve, pf, tf);  // held: sizes() views the tensor's own storage
  EXPECT_EQ(ok.sizes(), (std::vector<int64_t>{2, 3}));
  EXPECT_ERROR(m->score_video_features(at::randn({2, 31}), pf, tf), ErrorCode::kInvalidInput, "video_embeds", "[2, 31]");
  EXPECT_ERROR(m->score_video_features(ve, at::randn({2, 32}), tf), ErrorCode::kInvalidInput, "prompt_features");
  EXPECT_ERROR(m->score_video_features(ve, at::randn({3, 16, 32}), tf), ErrorCode::kInvalidInput, "3 videos", "2");
  EXPECT_ERROR(m->score_video_features(ve, pf, at::randn({3, 16})), ErrorCode::kInvalidInput, "text_features");
  EXPECT_ERROR(m->score_video_features(ve, pf, at::zeros({0, 32})), ErrorCode::kInvalidInput, "text_features");
  EXPECT_ERROR(m->score_video_features(ve, pf.to(at::kLong), tf), ErrorCode::kInvalidInput, "floating");
  EXPECT_ERROR(m->score_video_features(ve, at::randn({2, 2, 2, 16, 32}), tf), ErrorCode::kInvalidInput, "1 prompt layers");
  EXPECT_ERROR(m->score_video_features(ve, at::Tensor(), tf), ErrorCode::kInvalidInput, "none");
  at::Tensor bad = pf.clone();
  bad[1][3][7] = std::numeric_limits<float>::quiet_NaN();
  EXPECT_ERROR(m->score_video_features(ve, bad, tf), ErrorCode::kNonFinite, "prompt_features[1]");
  // Tokens are checked once a logit comes out non-finite: +Inf and -Inf in any one dim of one token are found too.
  for (const float x : {std::numeric_limits<float>::infinity(), -std::numeric_limits<float>::infinity()}) {
    at::Tensor big = pf.clone();
    big[1][15][31] = x;
    EXPECT_ERROR(m->score_video_features(ve, big, tf), ErrorCode::kNonFinite, "prompt_features[1]");
  }
  // Keys and values are checked before: a -Inf key component would only zero its token's attention weight.
  at::Tensor keys = m->prompt_key_values(pf).clone();
  keys[0][0][0][5][0] = -std::numeric_limits<float>::infinity();
  EXPECT_ERROR(m->score_video_features(ve, keys, tf), ErrorCode::kNonFinite, "prompt_features[0]");
  at::Tensor inf = ve.clone();
  inf[0][0] = std::numeric_limits<float>::infinity();
  EXPECT_ERROR(m->score_video_features(inf, pf, tf), ErrorCode::kNonFinite, "video_embeds[0]");
  EXPECT_ERROR(m->prompt_key_values(at::randn({16, 32})), ErrorCode::kInvalidInput, "prompt_features");
}

