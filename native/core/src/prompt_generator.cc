// = XCLIPPromptGenerator (VideoSpecificPrompt): the text embeddings attend to the video's patch features.
#include "parts.h"

namespace xclip {

CrossAttention::CrossAttention(const XCLIPConfig& c) : num_heads(c.prompt_num_attention_heads) {
  const int64_t dim = c.projection_dim;
  scale = std::pow(static_cast<double>(dim / num_heads), -0.5);
  // Plain nn.Linear layers: HF's _init_weights gives them N(0, initializer_factor).
  const double f = c.initializer_factor;
  q_proj = &register_module("q_proj", std::make_unique<Linear>(dim, dim, false, f));
  k_proj = &register_module("k_proj", std::make_unique<Linear>(dim, dim, false, f));
  v_proj = &register_module("v_proj", std::make_unique<Linear>(dim, dim, false, f));
  proj = &register_module("proj", std::make_unique<Linear>(dim, dim, true, f));
}

at::Tensor CrossAttention::forward(const at::Tensor& queries, const at::Tensor& kv) const {
  const int64_t b = queries.size(0), lq = queries.size(1), d = queries.size(2), lk = kv.size(1);
  const int64_t hd = d / num_heads;
  at::Tensor q = q_proj->forward(queries).reshape({b, lq, num_heads, hd}).permute({0, 2, 1, 3});
  at::Tensor k = k_proj->forward(kv).reshape({b, lk, num_heads, hd}).permute({0, 2, 1, 3});
  at::Tensor v = v_proj->forward(kv).reshape({b, lk, num_heads, hd}).permute({0, 2, 1, 3});
  at::Tensor attn = at::matmul(q, k.transpose(-2, -1)).mul_(scale).softmax(-1);
  return proj->forward(at::matmul(attn, v).transpose(1, 2).reshape({b, lq, d}));
}

PromptGeneratorLayer::PromptGeneratorLayer(const XCLIPConfig& c)
    : act(parse_activation(c.prompt_hidden_act, "prompt_hidden_act")) {
  const int64_t d = c.projection_dim;
  const double f = c.initializer_factor;
  cross_attn = &register_module("cross_attn", std::make_unique<CrossAttention>(c));
  norm1 = &register_module("norm1", std::make_unique<LayerNorm>(d, c.text_config.layer_norm_eps));
  norm3 = &register_module("norm3", std::make_unique<LayerNorm>(d, c.text_config.layer_norm_eps));
  auto& seq = register_module("mlp", std::make_unique<Module>());
  mlp0 = &seq.register_module("0", std::make_unique<Linear>(d, 4 * d, true, f));
  mlp3 = &seq.register_module("3", std::make_unique<Linear>(4 * d, d, true, f));
}

at::Tensor PromptGeneratorLayer::forward(const at::Tensor& x, const at::Tensor& visual) const {
  at::Tensor h = x + cross_attn->forward(norm1->forward(x), visual);
  return h + mlp3->forward(mlp0->forward(norm3->forward(h), {act}));
}

PromptGenerator::PromptGenerator(const XCLIPConfig& c) {
  const int64_t d = c.projection_dim;
  layernorm = &register_module("layernorm", std::make_unique<LayerNorm>(d, c.vision_config.layer_norm_eps));
  auto& list = register_module("decoder", std::make_unique<Module>());
  for (int64_t i = 0; i < c.prompt_layers; ++i) {
    decoder.push_back(&list.register_module(std::to_string(i), std::make_unique<PromptGeneratorLayer>(c)));
  }
  register_parameter("alpha", alpha, {d}, Init::fill(c.prompt_alpha));
}

at::Tensor PromptGenerator::forward(at::Tensor text, const at::Tensor& visual) const {
  at::Tensor v = layernorm->forward(visual);
  for (const PromptGeneratorLayer* layer : decoder) text = layer->forward(text, v);
  return alpha * text;
}

}  // namespace xclip
