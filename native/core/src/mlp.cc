// = XCLIPMLP, XCLIPEncoderLayer and XCLIPEncoder (shared by the text tower and the MIT).
#include "parts.h"

namespace xclip {

MLP::MLP(const EncoderSpec& s) : act(s.act) {
  const double f = s.initializer_factor;
  const double fc_std = std::pow(2.0 * s.hidden_size, -0.5) * f;
  const double in_std = std::pow(double(s.hidden_size), -0.5) * std::pow(2.0 * s.num_hidden_layers, -0.5) * f;
  fc1 = &register_module("fc1", std::make_unique<Linear>(s.hidden_size, s.intermediate_size, true, fc_std));
  fc2 = &register_module("fc2", std::make_unique<Linear>(s.intermediate_size, s.hidden_size, true, in_std));
}

EncoderLayer::EncoderLayer(const EncoderSpec& s) {
  self_attn = &register_module("self_attn", std::make_unique<Attention>(s));
  layer_norm1 = &register_module("layer_norm1", std::make_unique<LayerNorm>(s.hidden_size, s.layer_norm_eps));
  mlp = &register_module("mlp", std::make_unique<MLP>(s));
  layer_norm2 = &register_module("layer_norm2", std::make_unique<LayerNorm>(s.hidden_size, s.layer_norm_eps));
}

at::Tensor EncoderLayer::forward(const at::Tensor& x, const at::Tensor& mask, at::Tensor* attn_out) const {
  // Residual adds reuse the fresh sublayer outputs (a + b == b + a bitwise).
  at::Tensor h = self_attn->forward(layer_norm1->forward(x), mask, attn_out).add_(x);
  return mlp->forward(layer_norm2->forward(h)).add_(h);
}

Encoder::Encoder(const EncoderSpec& s) {
  auto& list = register_module("layers", std::make_unique<Module>());
  for (int64_t i = 0; i < s.num_hidden_layers; ++i) {
    layers.push_back(&list.register_module(std::to_string(i), std::make_unique<EncoderLayer>(s)));
  }
}

at::Tensor Encoder::forward(at::Tensor x, const at::Tensor& mask, const ForwardOptions& opt,
                            BaseModelOutputWithPooling& out) const {
  for (const EncoderLayer* layer : layers) {
    if (opt.output_hidden_states) out.hidden_states.push_back(x);
    at::Tensor attn;
    x = layer->forward(x, mask, opt.output_attentions ? &attn : nullptr);
    if (opt.output_attentions) out.attentions.push_back(attn);
  }
  if (opt.output_hidden_states) out.hidden_states.push_back(x);
  return x;
}

}  // namespace xclip
