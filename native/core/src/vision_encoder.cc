// = XCLIPVisionTransformer (CrossFrameCommunicationTransformer): XCLIPVisionEmbeddings, pre_layernorm,
// XCLIPVisionEncoderLayer x N (CrossFramelAttentionBlock), post_layernorm on the CLS token.
#include "kernels.h"
#include "parts.h"

namespace xclip {

namespace {
EncoderSpec vision_spec(const XCLIPVisionConfig& c, double f) {
  return {c.hidden_size, c.intermediate_size, c.num_hidden_layers, c.num_attention_heads, c.layer_norm_eps,
          parse_activation(c.hidden_act, "vision_config.hidden_act"), f};
}
}  // namespace

VisionEncoderLayer::VisionEncoderLayer(const EncoderSpec& s, int64_t frames) : num_frames(frames) {
  // message_fc is a plain nn.Linear in HF, so _init_weights leaves it at N(0, initializer_factor).
  message_fc = &register_module("message_fc",
                                std::make_unique<Linear>(s.hidden_size, s.hidden_size, true, s.initializer_factor));
  message_ln = &register_module("message_ln", std::make_unique<LayerNorm>(s.hidden_size, s.layer_norm_eps));
  message_attn = &register_module("message_attn", std::make_unique<Attention>(s));
  self_attn = &register_module("self_attn", std::make_unique<Attention>(s));
  layer_norm1 = &register_module("layer_norm1", std::make_unique<LayerNorm>(s.hidden_size, s.layer_norm_eps));
  mlp = &register_module("mlp", std::make_unique<MLP>(s));
  layer_norm2 = &register_module("layer_norm2", std::make_unique<LayerNorm>(s.hidden_size, s.layer_norm_eps));
}

at::Tensor VisionEncoderLayer::forward(const at::Tensor& x, at::Tensor* attn_out) const {
  const int64_t bt = x.size(0), seq = x.size(1), d = x.size(2);
  const int64_t b = bt / num_frames;
  // One message token per frame, from its CLS token, mixed across the frames of each video.
  at::Tensor msg = message_fc->forward(x.select(1, 0)).view({b, num_frames, d});
  msg = msg + message_attn->forward(message_ln->forward(msg), {}, nullptr);
  at::Tensor h = at::cat({x, msg.view({bt, 1, d})}, 1);  // [BT, 1+N+1, D]
  h = self_attn->forward(layer_norm1->forward(h), {}, attn_out).add_(h);
  h = h.narrow(1, 0, seq);  // the message token is dropped again
  return mlp->forward(layer_norm2->forward(h)).add_(h);
}

VisionTransformer::VisionTransformer(const XCLIPVisionConfig& c, double f) : config(c) {
  const int64_t d = c.hidden_size;
  const int64_t positions = (c.image_size / c.patch_size) * (c.image_size / c.patch_size) + 1;
  auto& emb = register_module("embeddings", std::make_unique<Module>());
  emb.register_parameter("class_embedding", class_embedding, {d}, Init::normal(std::pow(double(d), -0.5) * f));
  emb.register_parameter("patch_embedding.weight", patch_embedding, {d, c.num_channels, c.patch_size, c.patch_size},
                         Init::normal(c.initializer_range * f));
  emb.register_parameter("position_embedding.weight", position_embedding, {positions, d},
                         Init::normal(c.initializer_range * f));
  pre_layernorm = &register_module("pre_layernorm", std::make_unique<LayerNorm>(d, c.layer_norm_eps));
  auto& enc = register_module("encoder", std::make_unique<Module>());
  auto& list = enc.register_module("layers", std::make_unique<Module>());
  const EncoderSpec spec = vision_spec(c, f);
  for (int64_t i = 0; i < c.num_hidden_layers; ++i) {
    layers.push_back(&list.register_module(std::to_string(i), std::make_unique<VisionEncoderLayer>(spec, c.num_frames)));
  }
  post_layernorm = &register_module("post_layernorm", std::make_unique<LayerNorm>(d, c.layer_norm_eps));
}

at::Tensor VisionTransformer::embed(const at::Tensor& pixel_values, bool interpolate) const {
  const int64_t bt = pixel_values.size(0), h = pixel_values.size(2), w = pixel_values.size(3);
  const int64_t d = config.hidden_size;
  // The patch conv (kernel = stride = patch, no bias) is a GEMM over non-overlapping patches: cut them out as
  // rows [BT*gh*gw, C*p*p] and run them through the same matmul as every Linear (oneDNN's is ~2x the conv's).
  const int64_t p = config.patch_size, c = pixel_values.size(1), gh = h / p, gw = w / p;
  at::Tensor rows = pixel_values.narrow(2, 0, gh * p)
                        .narrow(3, 0, gw * p)
                        .view({bt, c, gh, p, gw, p})
                        .permute({0, 2, 4, 1, 3, 5})
                        .reshape({bt * gh * gw, c * p * p});
  at::Tensor patches = xclip::linear(rows, patch_embedding.view({d, c * p * p}), {}).view({bt, gh * gw, d});
  at::Tensor cls = class_embedding.expand({bt, 1, d});
  at::Tensor emb = at::cat({cls, patches}, 1);
  const int64_t num_patches = emb.size(1) - 1;
  const int64_t num_positions = position_embedding.size(0) - 1;
  if (!interpolate || (num_patches == num_positions && h == w)) return emb + position_embedding;
  // interpolate_pos_encoding: bicubic resize of the patch position grid (align_corners=False).
  const int64_t side = static_cast<int64_t>(std::sqrt(static_cast<double>(num_positions)));
  at::Tensor grid = position_embedding.narrow(0, 1, num_positions).reshape({1, side, side, d}).permute({0, 3, 1, 2});
  // CPU bicubic has no reduced-precision kernel in every libtorch; resize in float32 and cast back.
  at::Tensor resized =
      at::upsample_bicubic2d(grid.to(at::kFloat), {h / config.patch_size, w / config.patch_size}, false)
          .to(position_embedding.scalar_type());
  at::Tensor pos = at::cat({position_embedding.narrow(0, 0, 1), resized.permute({0, 2, 3, 1}).reshape({-1, d})}, 0);
  return emb + pos;
}

BaseModelOutputWithPooling VisionTransformer::forward(const at::Tensor& pixel_values, const ForwardOptions& opt) const {
  at::Tensor x = pre_layernorm->forward(embed(pixel_values, opt.interpolate_pos_encoding));
  BaseModelOutputWithPooling out;
  for (const VisionEncoderLayer* layer : layers) {
    if (opt.output_hidden_states) out.hidden_states.push_back(x);
    at::Tensor attn;
    x = layer->forward(x, opt.output_attentions ? &attn : nullptr);
    if (opt.output_attentions) out.attentions.push_back(attn);
  }
  if (opt.output_hidden_states) out.hidden_states.push_back(x);
  out.pooler_output = post_layernorm->forward(x.select(1, 0));
  out.last_hidden_state = std::move(x);
  return out;
}

}  // namespace xclip
