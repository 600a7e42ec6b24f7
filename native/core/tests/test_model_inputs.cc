// Input validation (typed errors, never crashes), interpolate_pos_encoding, and the activations' formulas.
#include <cmath>

#include "../src/parts.h"
#include "testing.h"
#include "xclip/model.h"

using namespace xclip;

namespace {

std::shared_ptr<XCLIPModel> tiny8() {
  static auto m = XCLIPModel::from_pretrained(testing::fixture("models/xclip-tiny8"));
  return m;
}

struct Inputs {
  at::Tensor ids, mask, pixels;
};

Inputs inputs() {
  static TensorMap t = load_safetensors(testing::fixture("cases/xclip-tiny8/forward_full.safetensors"));
  return {t.at("inputs.input_ids"), t.at("inputs.attention_mask"), t.at("inputs.pixel_values")};
}

}  // namespace

TEST(model_input_wrong_num_frames) {
  Inputs in = inputs();
  at::Tensor four = in.pixels.narrow(1, 0, 4);
  EXPECT_ERROR(tiny8()->forward(in.ids, four, in.mask), ErrorCode::kInvalidInput, "4 frames", "num_frames=8");
  EXPECT_ERROR(tiny8()->get_video_features(four), ErrorCode::kInvalidInput, "num_frames=8");
  auto vm = XCLIPVisionModel::from_pretrained(testing::fixture("models/xclip-tiny8"));
  EXPECT_ERROR(vm->forward(in.pixels.reshape({16, 3, 32, 32}).narrow(0, 0, 12)), ErrorCode::kInvalidInput, "12 frames",
               "num_frames=8");
}

TEST(model_input_wrong_image_size_and_interpolation) {
  Inputs in = inputs();
  at::Tensor big = at::randn({1, 8, 3, 40, 48});
  EXPECT_ERROR(tiny8()->forward(in.ids, big, in.mask), ErrorCode::kInvalidInput, "40x48", "32x32",
               "interpolate_pos_encoding");
  ForwardOptions o;
  o.interpolate_pos_encoding = true;
  XCLIPOutput out = tiny8()->forward(in.ids, big, in.mask, {}, o);
  EXPECT_EQ(out.vision_model_output.last_hidden_state.size(1), 5 * 6 + 1);
  EXPECT_TRUE(at::isfinite(out.logits_per_video).all().item<bool>());
  // At the native size interpolation is the identity, as in HF.
  XCLIPOutput same = tiny8()->forward(in.ids, in.pixels, in.mask, {}, o);
  XCLIPOutput plain = tiny8()->forward(in.ids, in.pixels, in.mask);
  EXPECT_TRUE(same.logits_per_video.equal(plain.logits_per_video));
  EXPECT_ERROR(tiny8()->forward(in.ids, at::randn({1, 8, 3, 4, 4}), in.mask, {}, o), ErrorCode::kInvalidInput,
               "patch_size 8");
}

TEST(model_input_wrong_channels_rank_dtype) {
  Inputs in = inputs();
  EXPECT_ERROR(tiny8()->forward(in.ids, at::randn({1, 8, 1, 32, 32}), in.mask), ErrorCode::kInvalidInput, "1 channels",
               "num_channels=3");
  EXPECT_ERROR(tiny8()->forward(in.ids, at::randn({8, 3, 32, 32}), in.mask), ErrorCode::kInvalidInput, "5 dims",
               "[8, 3, 32, 32]");
  EXPECT_ERROR(tiny8()->forward(in.ids, in.pixels.to(at::kByte), in.mask), ErrorCode::kInvalidInput, "floating");
  EXPECT_ERROR(tiny8()->forward(in.ids, at::Tensor(), in.mask), ErrorCode::kInvalidInput, "pixel_values");
  auto vm = XCLIPVisionModel::from_pretrained(testing::fixture("models/xclip-tiny8"));
  EXPECT_ERROR(vm->forward(in.pixels), ErrorCode::kInvalidInput, "4 dims");
  // float64 pixels are accepted and cast to the model dtype
  XCLIPOutput out = tiny8()->forward(in.ids, in.pixels.to(at::kDouble), in.mask);
  EXPECT_TRUE(out.logits_per_video.scalar_type() == at::kFloat);
}

TEST(model_input_non_finite_pixels) {
  Inputs in = inputs();
  at::Tensor p = in.pixels.clone();
  p[0][3][1][2][2] = NAN;
  p[1][0][0][0][0] = INFINITY;
  EXPECT_ERROR(tiny8()->forward(in.ids, p, in.mask), ErrorCode::kNonFinite, "pixel_values", "2 NaN/Inf");
  EXPECT_ERROR(tiny8()->get_video_features(p), ErrorCode::kNonFinite, "pixel_values");
}

TEST(model_input_token_ids) {
  Inputs in = inputs();
  at::Tensor ids = in.ids.clone();
  ids[1][2] = 99;  // vocab_size 99
  EXPECT_ERROR(tiny8()->forward(ids, in.pixels, in.mask), ErrorCode::kInvalidInput, "input_ids contains 99",
               "[0, 99)");
  ids[1][2] = -1;
  EXPECT_ERROR(tiny8()->get_text_features(ids, in.mask), ErrorCode::kInvalidInput, "-1");
  EXPECT_ERROR(tiny8()->get_text_features(in.ids.to(at::kFloat)), ErrorCode::kInvalidInput, "input_ids", "integer");
  EXPECT_ERROR(tiny8()->get_text_features(in.ids[0]), ErrorCode::kInvalidInput, "2 dims");
  // int32 ids are accepted
  EXPECT_CLOSE(tiny8()->get_text_features(in.ids.to(at::kInt), in.mask), tiny8()->get_text_features(in.ids, in.mask), 0,
               0, "int32 ids");
}

TEST(model_input_sequence_too_long) {
  at::Tensor ids = at::ones({1, 78}, at::kLong);
  EXPECT_ERROR(tiny8()->get_text_features(ids), ErrorCode::kInvalidInput, "78", "max_position_embeddings 77");
  auto tm = XCLIPTextModel::from_pretrained(testing::fixture("models/xclip-tiny8"));
  EXPECT_ERROR(tm->forward(ids), ErrorCode::kInvalidInput, "max_position_embeddings 77");
}

TEST(model_input_batch_mismatch) {
  Inputs in = inputs();
  EXPECT_ERROR(tiny8()->forward(in.ids, in.pixels, in.mask.narrow(0, 0, 2)), ErrorCode::kInvalidInput,
               "attention_mask shape [2, 11]", "[3, 11]");
  at::Tensor pos = at::arange(11).unsqueeze(0).expand({2, 11});
  EXPECT_ERROR(tiny8()->get_text_features(in.ids, in.mask, pos), ErrorCode::kInvalidInput, "position_ids shape [2, 11]");
  at::Tensor far = at::full({3, 11}, 77, at::kLong);
  EXPECT_ERROR(tiny8()->get_text_features(in.ids, in.mask, far), ErrorCode::kInvalidInput, "position_ids contains 77");
  EXPECT_ERROR(tiny8()->get_text_features(in.ids, in.mask, at::arange(11, at::kFloat).unsqueeze(0)),
               ErrorCode::kInvalidInput, "position_ids", "integer");
  // [1, L] position ids broadcast over the batch, like HF's default buffer.
  EXPECT_CLOSE(tiny8()->get_text_features(in.ids, in.mask, at::arange(11).unsqueeze(0)),
               tiny8()->get_text_features(in.ids, in.mask), 0, 0, "explicit default position_ids");
}

TEST(model_input_loss_needs_square_batch) {
  Inputs in = inputs();  // 3 texts, 2 videos
  ForwardOptions o;
  o.return_loss = true;
  EXPECT_ERROR(tiny8()->forward(in.ids, in.pixels, in.mask, {}, o), ErrorCode::kInvalidInput, "3 texts", "2 videos");
}

TEST(model_activations_match_formulas) {
  at::Tensor x = at::linspace(-6, 6, 1001, at::kDouble);
  auto ref = [&](double (*f)(double)) {
    at::Tensor out = at::empty_like(x);
    auto xa = x.accessor<double, 1>();
    auto oa = out.accessor<double, 1>();
    for (int64_t i = 0; i < x.size(0); ++i) oa[i] = f(xa[i]);
    return out;
  };
  auto gelu = [](double v) { return 0.5 * v * (1.0 + std::erf(v / std::sqrt(2.0))); };
  auto gelu_new = [](double v) {
    return 0.5 * v * (1.0 + std::tanh(std::sqrt(2.0 / M_PI) * (v + 0.044715 * v * v * v)));
  };
  auto quick = [](double v) { return v / (1.0 + std::exp(-1.702 * v)); };
  auto relu = [](double v) { return v > 0 ? v : 0.0; };
  auto selu = [](double v) {
    const double a = 1.6732632423543772848170429916717, s = 1.0507009873554804934193349852946;
    return s * (v > 0 ? v : a * (std::exp(v) - 1.0));
  };
  EXPECT_CLOSE(apply_activation(parse_activation("gelu"), x), ref(gelu), 1e-12, 1e-12, "gelu");
  EXPECT_CLOSE(apply_activation(parse_activation("gelu_new"), x), ref(gelu_new), 1e-12, 1e-12, "gelu_new");
  EXPECT_CLOSE(apply_activation(parse_activation("quick_gelu"), x), ref(quick), 1e-12, 1e-12, "quick_gelu");
  EXPECT_CLOSE(apply_activation(parse_activation("relu"), x), ref(relu), 0, 0, "relu");
  EXPECT_CLOSE(apply_activation(parse_activation("selu"), x), ref(selu), 1e-12, 1e-12, "selu");
  // gelu and gelu_new really differ (the test would notice a swap)
  EXPECT_TRUE(testing::max_abs_diff(ref(gelu), ref(gelu_new)) > 1e-4);
  EXPECT_ERROR(parse_activation("swish", "text_config.hidden_act"), ErrorCode::kConfigInvalid,
               "text_config.hidden_act", "swish");
}

TEST(model_config_with_unknown_activation_is_rejected) {
  XCLIPConfig c = load_config(testing::fixture("models/xclip-tiny8/config.json"));
  c.prompt_hidden_act = "mish";
  EXPECT_ERROR(XCLIPModel::from_config(c, {}, 0), ErrorCode::kConfigInvalid, "prompt_hidden_act", "mish");
}
