// = XCLIPMultiframeIntegrationTransformer: temporal encoder over the projected per-frame CLS features,
// with a residual around it and mean pooling over frames. Its config is vision_config with the mit_* sizes.
#include "parts.h"

namespace xclip {

namespace {
EncoderSpec mit_spec(const XCLIPVisionConfig& c, double f) {
  return {c.mit_hidden_size, c.mit_intermediate_size, c.mit_num_hidden_layers, c.mit_num_attention_heads,
          c.layer_norm_eps, parse_activation(c.hidden_act, "vision_config.hidden_act"), f};
}
}  // namespace

MultiframeIntegrationTransformer::MultiframeIntegrationTransformer(const XCLIPVisionConfig& c, double f) {
  register_parameter("position_embedding", position_embedding, {1, c.num_frames, c.mit_hidden_size}, Init::normal(f));
  encoder = &register_module("encoder", std::make_unique<Encoder>(mit_spec(c, f)));
}

BaseModelOutputWithPooling MultiframeIntegrationTransformer::forward(const at::Tensor& x,
                                                                     const ForwardOptions& opt) const {
  BaseModelOutputWithPooling out;
  at::Tensor last = encoder->forward(x + position_embedding, {}, opt, out) + x;
  out.pooler_output = last.mean(1);
  out.last_hidden_state = std::move(last);
  return out;
}

}  // namespace xclip
