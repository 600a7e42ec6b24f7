// = XCLIPPromptGenerator (VideoSpecificPrompt): the text embeddings attend to the video's patch features.
#include "parts.h"
#include "xclip/flops.h"

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

at::Tensor CrossAttention::forward(const at::Tensor& queries, const PromptMemory& memory, AttentionOrder order) const {
  if (memory.keys.defined()) return attend(queries, memory.keys, memory.values);
  const at::Tensor& kv = memory.tokens;
  if (order == AttentionOrder::kAuto) {
    order = prompt_queries_first(queries.size(1), kv.size(1), queries.size(2), num_heads) ? AttentionOrder::kQueriesFirst
                                                                                          : AttentionOrder::kKeysFirst;
  }
  if (order == AttentionOrder::kKeysFirst) return attend(queries, k_proj->forward(kv), v_proj->forward(kv));

  // Same attention, other association: q_h . (W_k,h x_j) = (W_k,h^T q_h) . x_j, and sum_j a_j (W_v,h x_j) =
  // W_v,h (sum_j a_j x_j). For one query (a search) against 49 tokens at base size the attention costs ~25x
  // fewer FLOPs than projecting the tokens, so a search index needs to store only the tokens.
  // In bfloat16/float16 these folded products are rounded at other points than the projected path, which moved a
  // small model's logits by ~0.1 in bfloat16; they are the cheap side (few queries), so they run in float32.
  const at::ScalarType dtype = queries.scalar_type();
  const auto f32 = [](const at::Tensor& t) { return t.to(at::kFloat); };
  const int64_t b = queries.size(0), lq = queries.size(1), d = queries.size(2), h = num_heads, hd = d / h;
  const at::Tensor tokens = f32(kv);
  // The first layer's queries are the same texts for every video (expanded, stride 0): project and fold them once.
  const bool shared = b > 1 && queries.stride(0) == 0;
  const int64_t bq = shared ? 1 : b;
  at::Tensor q = f32(q_proj->forward(shared ? queries.narrow(0, 0, 1) : queries)).reshape({bq * lq, h, hd}).transpose(0, 1);
  at::Tensor qk = xclip::bmm(q, f32(k_proj->weight).reshape({h, hd, d}));  // [H, Bq*Lq, D]
  qk = qk.view({h, bq, lq, d}).permute({1, 0, 2, 3}).reshape({bq, h * lq, d});
  if (shared) qk = qk.expand({b, h * lq, d}).contiguous();
  at::Tensor attn = xclip::bmm(qk, tokens.transpose(1, 2)).mul_(scale).softmax(-1);  // [B, H*Lq, Lk]
  at::Tensor mixed = xclip::bmm(attn, tokens).view({b, h, lq, d}).permute({1, 0, 2, 3}).reshape({h, b * lq, d});
  at::Tensor out = xclip::bmm(mixed, f32(v_proj->weight).reshape({h, hd, d}).transpose(1, 2));  // [H, B*Lq, hd]
  return proj->forward(out.view({h, b, lq, hd}).permute({1, 2, 0, 3}).reshape({b, lq, d}).to(dtype));
}

at::Tensor CrossAttention::attend(const at::Tensor& queries, const at::Tensor& keys, const at::Tensor& values) const {
  const int64_t b = queries.size(0), lq = queries.size(1), d = queries.size(2), lk = keys.size(1);
  const int64_t hd = d / num_heads;
  at::Tensor q = q_proj->forward(queries).reshape({b, lq, num_heads, hd}).permute({0, 2, 1, 3});
  at::Tensor k = keys.reshape({b, lk, num_heads, hd}).permute({0, 2, 1, 3});
  at::Tensor v = values.reshape({b, lk, num_heads, hd}).permute({0, 2, 1, 3});
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

at::Tensor PromptGeneratorLayer::forward(const at::Tensor& x, const PromptMemory& visual, AttentionOrder order) const {
  // x expanded over the videos (the first layer's text embeddings): normalise one copy and keep it expanded, which
  // lets the attention project the queries once (a search reranks 200 videos against one text).
  const bool shared = x.size(0) > 1 && x.stride(0) == 0;
  const at::Tensor normed = shared ? norm1->forward(x.narrow(0, 0, 1)).expand(x.sizes()) : norm1->forward(x);
  at::Tensor h = x + cross_attn->forward(normed, visual, order);
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

at::Tensor PromptGenerator::forward(at::Tensor text, const at::Tensor& visual, AttentionOrder order) const {
  const PromptMemory memory{layernorm->forward(visual), {}, {}};
  for (const PromptGeneratorLayer* layer : decoder) text = layer->forward(text, memory, order);
  return alpha * text;
}

at::Tensor PromptGenerator::forward_key_values(at::Tensor text, const at::Tensor& kv) const {
  for (size_t i = 0; i < decoder.size(); ++i) {
    const int64_t l = static_cast<int64_t>(i);
    text = decoder[i]->forward(text, PromptMemory{{}, kv.select(1, l).select(1, 0), kv.select(1, l).select(1, 1)});
  }
  return alpha * text;
}

at::Tensor PromptGenerator::key_values(const at::Tensor& visual) const {
  at::Tensor v = layernorm->forward(visual);
  std::vector<at::Tensor> layers;
  for (const PromptGeneratorLayer* layer : decoder) {
    layers.push_back(at::stack({layer->cross_attn->k_proj->forward(v), layer->cross_attn->v_proj->forward(v)}, 1));
  }
  return at::stack(layers, 1);  // [B, L, 2, N, P]
}

}  // namespace xclip
