// = XCLIPTextTransformer: XCLIPTextEmbeddings + XCLIPEncoder (causal + padding mask) + final_layer_norm,
// pooled at input_ids.argmax(-1) (the first maximum, CLIP's "eot has the highest id" convention).
#include "parts.h"

namespace xclip {

namespace {
EncoderSpec text_spec(const XCLIPTextConfig& c, double f) {
  return {c.hidden_size, c.intermediate_size, c.num_hidden_layers, c.num_attention_heads, c.layer_norm_eps,
          parse_activation(c.hidden_act, "text_config.hidden_act"), f};
}
}  // namespace

TextTransformer::TextTransformer(const XCLIPTextConfig& c, double f) : config(c) {
  auto& emb = register_module("embeddings", std::make_unique<Module>());
  emb.register_parameter("token_embedding.weight", token_embedding, {c.vocab_size, c.hidden_size},
                         Init::normal(0.02 * f));
  emb.register_parameter("position_embedding.weight", position_embedding, {c.max_position_embeddings, c.hidden_size},
                         Init::normal(0.02 * f));
  encoder = &register_module("encoder", std::make_unique<Encoder>(text_spec(c, f)));
  final_layer_norm = &register_module("final_layer_norm", std::make_unique<LayerNorm>(c.hidden_size, c.layer_norm_eps));
}

BaseModelOutputWithPooling TextTransformer::forward(const at::Tensor& input_ids, const at::Tensor& attention_mask,
                                                    const at::Tensor& position_ids, const ForwardOptions& opt) const {
  const int64_t b = input_ids.size(0), l = input_ids.size(1);
  const auto dtype = token_embedding.scalar_type();
  const auto fopt = token_embedding.options();
  at::Tensor pos = position_ids.defined() ? position_ids
                                          : at::arange(l, input_ids.options()).unsqueeze(0);
  at::Tensor h = at::embedding(token_embedding, input_ids) + at::embedding(position_embedding, pos);

  // _create_4d_causal_attention_mask: finfo.min above the diagonal, [1, 1, L, L] (HF expands it to B).
  const double neg = mask_min(dtype);
  at::Tensor mask = at::full({l, l}, neg, fopt).triu_(1).view({1, 1, l, l});
  if (attention_mask.defined()) {
    // _prepare_4d_attention_mask: (1 - mask) -> finfo.min where masked, [B, 1, 1, L]; HF adds it to the
    // causal mask before the scores, so min + min overflows to -inf exactly as there.
    at::Tensor inverted = 1.0 - attention_mask.to(dtype);
    at::Tensor pad = inverted.masked_fill(inverted.to(at::kBool), neg).view({b, 1, 1, l});
    mask = pad + mask;
  }

  BaseModelOutputWithPooling out;
  at::Tensor last = encoder->forward(h, mask, opt, out);
  last = final_layer_norm->forward(last);
  at::Tensor idx = input_ids.argmax(-1);
  out.pooler_output = last.index({at::arange(b, idx.options()), idx});
  out.last_hidden_state = std::move(last);
  return out;
}

}  // namespace xclip
