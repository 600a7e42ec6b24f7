// CUDA runs (reported as skipped on a CPU-only libtorch): same fixtures, device-resident outputs. cuDNN may use TF32 for the
// patch convolution by default, so the tolerance here is looser than the CPU parity tests.
#include "testing.h"
#include "xclip/model.h"

using namespace xclip;

TEST(model_cuda_parity_and_dtypes) {
  if (!at::hasCUDA()) SKIP_TEST("no CUDA in this libtorch/machine; scripts/device_check_core.sh runs it on a GPU");
  for (const char* name : {"xclip-tiny8", "xclip-tiny4-gelu", "xclip-deep12"}) {
    ModelOptions o;
    o.device = "cuda";
    auto m = XCLIPModel::from_pretrained(testing::fixture(std::string("models/") + name), o);
    EXPECT_TRUE(m->device().is_cuda());
    TensorMap f = load_safetensors(testing::fixture(std::string("cases/") + name + "/forward_full.safetensors"));
    ForwardOptions fo;
    fo.output_attentions = fo.output_hidden_states = true;
    XCLIPOutput out = m->forward(f.at("inputs.input_ids"), f.at("inputs.pixel_values"), f.at("inputs.attention_mask"), {}, fo);
    EXPECT_TRUE(out.logits_per_video.is_cuda());
    EXPECT_TRUE(out.text_model_output.attentions[0].is_cuda());
    const std::string n(name);
    EXPECT_CLOSE(out.logits_per_video, f.at("logits_per_video"), 2e-3, 2e-3, n + " cuda logits_per_video");
    EXPECT_CLOSE(out.text_embeds, f.at("text_embeds"), 1e-3, 1e-3, n + " cuda text_embeds");
    EXPECT_CLOSE(out.video_embeds, f.at("video_embeds"), 1e-3, 1e-3, n + " cuda video_embeds");
    EXPECT_CLOSE(out.text_model_output.last_hidden_state, f.at("text_model_output.last_hidden_state"), 1e-3, 1e-3,
                 n + " cuda text last_hidden_state");
    EXPECT_CLOSE(m->get_video_features(f.at("inputs.pixel_values")), f.at("mit_output.pooler_output"), 1e-3, 1e-3,
                 n + " cuda get_video_features");
    ForwardOptions lo;
    lo.return_loss = true;
    auto sq = m->forward(f.at("inputs.input_ids").narrow(0, 0, 2), f.at("inputs.pixel_values"),
                         f.at("inputs.attention_mask").narrow(0, 0, 2), {}, lo);
    EXPECT_TRUE(sq.loss.is_cuda() && std::isfinite(sq.loss.item<double>()));
    for (const char* dt : {"float16", "bfloat16"}) {
      o.dtype = dt;
      auto h = XCLIPModel::from_pretrained(testing::fixture(std::string("models/") + name), o);
      auto ho = h->forward(f.at("inputs.input_ids"), f.at("inputs.pixel_values"), f.at("inputs.attention_mask"));
      EXPECT_TRUE(ho.logits_per_video.scalar_type() == resolve_dtype(dt));
      EXPECT_TRUE(at::isfinite(ho.logits_per_video).all().item<bool>());
      EXPECT_CLOSE(ho.logits_per_video, f.at("logits_per_video"), 0.5, 0.1, n + " cuda " + dt + " logits");
    }
    o.dtype = "float32";
  }
  EXPECT_TRUE(resolve_device("auto").is_cuda());
  EXPECT_ERROR(resolve_device("cuda:7"), ErrorCode::kDeviceUnavailable, "cuda:7");
}
