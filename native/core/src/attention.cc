// = XCLIPAttention (copied from CLIPAttention; transformers 4.57 eager path: scores = q k^T * scale + mask,
// softmax in float32, cast back to the input dtype).
#include <torch/version.h>  // macros only

#include <cstdlib>
#include <cstring>

#include "parts.h"

namespace xclip {

#if TORCH_VERSION_MAJOR >= 2
namespace {
// XCLIP_ATTENTION=eager keeps the unfused path below even where the fused one exists: the bench's eager baseline,
// and a way around a fused kernel a driver gets wrong. Read once per process.
bool fused_attention() {
  static const bool on = [] {
    const char* e = std::getenv("XCLIP_ATTENTION");
    return !(e && std::strcmp(e, "eager") == 0);
  }();
  return on;
}
}  // namespace
#endif

Attention::Attention(const EncoderSpec& s)
    : embed_dim(s.hidden_size), num_heads(s.num_attention_heads), head_dim(s.hidden_size / s.num_attention_heads) {
  scale = std::pow(static_cast<double>(head_dim), -0.5);
  const double f = s.initializer_factor;
  const double in_std = std::pow(double(embed_dim), -0.5) * std::pow(2.0 * s.num_hidden_layers, -0.5) * f;
  const double out_std = std::pow(double(embed_dim), -0.5) * f;
  k_proj = &register_module("k_proj", std::make_unique<Linear>(embed_dim, embed_dim, true, in_std));
  v_proj = &register_module("v_proj", std::make_unique<Linear>(embed_dim, embed_dim, true, in_std));
  q_proj = &register_module("q_proj", std::make_unique<Linear>(embed_dim, embed_dim, true, in_std));
  out_proj = &register_module("out_proj", std::make_unique<Linear>(embed_dim, embed_dim, true, out_std));
}

at::Tensor Attention::forward(const at::Tensor& x, const at::Tensor& mask, at::Tensor* attn_out) const {
  const int64_t b = x.size(0), l = x.size(1);
  // [B, L, D] -> [B, H, L, hd]
  auto heads = [&](const at::Tensor& t) { return t.view({b, l, num_heads, head_dim}).transpose(1, 2); };
  at::Tensor q = heads(q_proj->forward(x));
  at::Tensor k = heads(k_proj->forward(x));
  at::Tensor v = heads(v_proj->forward(x));
#if TORCH_VERSION_MAJOR >= 2
  // libtorch 2.x fuses scores, mask, softmax and the weighted sum (flash / memory-efficient kernels on CUDA, a
  // blocked kernel on CPU), as transformers' "sdpa" attention does. Its default scale is head_dim^-0.5, ours.
  // The eager path below stays for attention weights, which the fused kernels do not return.
  if (!attn_out && fused_attention()) {
    at::Tensor out = at::scaled_dot_product_attention(q, k, v, mask.defined() ? c10::optional<at::Tensor>(mask) : c10::nullopt);
    return out_proj->forward(out.transpose(1, 2).reshape({b, l, embed_dim}));
  }
#endif
  at::Tensor scores = at::matmul(q, k.transpose(2, 3)).mul_(scale);
  if (mask.defined()) scores.add_(mask);
  at::Tensor probs = at::softmax(scores, -1, at::kFloat);
  if (probs.scalar_type() != x.scalar_type()) probs = probs.to(x.scalar_type());
  if (attn_out) *attn_out = probs;
  at::Tensor out = at::matmul(probs, v).transpose(1, 2).reshape({b, l, embed_dim});
  return out_proj->forward(out);
}

}  // namespace xclip
