// Internal building blocks of X-CLIP, each mirroring one class of transformers' modeling_x_clip.py.
#pragma once

#include <ATen/ATen.h>

#include <memory>
#include <string>
#include <vector>

#include "activations.h"
#include "kernels.h"
#include "module.h"
#include "xclip/config.h"
#include "xclip/model.h"

namespace xclip {


// Sizes shared by XCLIPAttention / XCLIPMLP / XCLIPEncoderLayer; the text, vision and MIT configs all map to it.
struct EncoderSpec {
  int64_t hidden_size, intermediate_size, num_hidden_layers, num_attention_heads;
  double layer_norm_eps;
  Activation act;
  double initializer_factor;  // the top-level XCLIPConfig's (HF's _init_weights reads self.config)
};

// ---- attention.cc: = XCLIPAttention (CLIPAttention, eager path) ----
struct Attention : Module {
  explicit Attention(const EncoderSpec& s);
  // x [B, L, D]; mask additive [B or 1, 1, L, L] or undefined. attn_out, when given, receives [B, H, L, L].
  at::Tensor forward(const at::Tensor& x, const at::Tensor& mask, at::Tensor* attn_out) const;
  int64_t embed_dim, num_heads, head_dim;
  double scale;
  Linear *k_proj, *v_proj, *q_proj, *out_proj;
};

// ---- mlp.cc: = XCLIPMLP ----
struct MLP : Module {
  explicit MLP(const EncoderSpec& s);
  at::Tensor forward(const at::Tensor& x) const { return fc2->forward(fc1->forward(x, {act})); }
  Activation act;
  Linear *fc1, *fc2;
};

// = XCLIPEncoderLayer (text tower and MIT)
struct EncoderLayer : Module {
  explicit EncoderLayer(const EncoderSpec& s);
  at::Tensor forward(const at::Tensor& x, const at::Tensor& mask, at::Tensor* attn_out) const;
  Attention* self_attn;
  LayerNorm *layer_norm1, *layer_norm2;
  MLP* mlp;
};

// = XCLIPEncoder: runs the layers, collecting hidden states / attentions as HF does.
struct Encoder : Module {
  explicit Encoder(const EncoderSpec& s);
  at::Tensor forward(at::Tensor x, const at::Tensor& mask, const ForwardOptions& opt,
                     BaseModelOutputWithPooling& out) const;
  std::vector<EncoderLayer*> layers;
};

// ---- text_encoder.cc: = XCLIPTextTransformer (embeddings + encoder + final_layer_norm) ----
struct TextTransformer : Module {
  TextTransformer(const XCLIPTextConfig& c, double initializer_factor);
  // input_ids/attention_mask/position_ids already validated and on the model's device.
  BaseModelOutputWithPooling forward(const at::Tensor& input_ids, const at::Tensor& attention_mask,
                                     const at::Tensor& position_ids, const ForwardOptions& opt) const;
  XCLIPTextConfig config;
  at::Tensor token_embedding, position_embedding;  // embeddings.{token,position}_embedding.weight
  Encoder* encoder;
  LayerNorm* final_layer_norm;
};

// ---- vision_encoder.cc: = XCLIPVisionTransformer with XCLIPVisionEncoderLayer (cross-frame messages) ----
struct VisionEncoderLayer : Module {
  VisionEncoderLayer(const EncoderSpec& s, int64_t num_frames);
  at::Tensor forward(const at::Tensor& x, at::Tensor* attn_out) const;
  int64_t num_frames;
  Linear* message_fc;
  LayerNorm* message_ln;
  Attention* message_attn;
  Attention* self_attn;
  LayerNorm *layer_norm1, *layer_norm2;
  MLP* mlp;
};

struct VisionTransformer : Module {
  VisionTransformer(const XCLIPVisionConfig& c, double initializer_factor);
  // pixel_values [B*T, C, H, W] in the model dtype, validated.
  BaseModelOutputWithPooling forward(const at::Tensor& pixel_values, const ForwardOptions& opt) const;
  at::Tensor embed(const at::Tensor& pixel_values, bool interpolate_pos_encoding) const;
  XCLIPVisionConfig config;
  at::Tensor class_embedding, patch_embedding, position_embedding;
  LayerNorm* pre_layernorm;
  std::vector<VisionEncoderLayer*> layers;
  LayerNorm* post_layernorm;
};

// ---- mit.cc: = XCLIPMultiframeIntegrationTransformer ----
struct MultiframeIntegrationTransformer : Module {
  MultiframeIntegrationTransformer(const XCLIPVisionConfig& c, double initializer_factor);
  // x [B, T, P] -> last_hidden_state [B, T, P], pooler_output [B, P]
  BaseModelOutputWithPooling forward(const at::Tensor& x, const ForwardOptions& opt) const;
  at::Tensor position_embedding;  // [1, T, P]
  Encoder* encoder;
};

// ---- prompt_generator.cc: = XCLIPPromptGenerator (VideoSpecificPrompt) ----
// What the prompt layers attend to: the (layer-normed) visual tokens [B, N, P], or their keys and values per
// layer computed beforehand (PromptGenerator::key_values).
struct PromptMemory {
  at::Tensor tokens;
  at::Tensor keys, values;  // [B, N, P] each, for one layer
};

// Two association orders of the same cross-attention (see CrossAttention::forward); kAuto takes the one with
// fewer FLOPs for the shapes at hand. Tests pin each to check both against transformers.
enum class AttentionOrder { kAuto, kKeysFirst, kQueriesFirst };

struct CrossAttention : Module {
  explicit CrossAttention(const XCLIPConfig& c);
  at::Tensor forward(const at::Tensor& queries, const PromptMemory& memory, AttentionOrder order = AttentionOrder::kAuto) const;
  // queries [B, Lq, P] attend to keys/values [B, Lk, P] already projected (HF's order).
  at::Tensor attend(const at::Tensor& queries, const at::Tensor& keys, const at::Tensor& values) const;
  int64_t num_heads;
  double scale;
  Linear *q_proj, *k_proj, *v_proj, *proj;
};

struct PromptGeneratorLayer : Module {
  explicit PromptGeneratorLayer(const XCLIPConfig& c);
  at::Tensor forward(const at::Tensor& x, const PromptMemory& visual, AttentionOrder order = AttentionOrder::kAuto) const;
  CrossAttention* cross_attn;
  LayerNorm *norm1, *norm3;
  Linear *mlp0, *mlp3;  // mlp.0 / mlp.3 of nn.Sequential(Linear, act, Dropout, Linear)
  Activation act;
};

struct PromptGenerator : Module {
  explicit PromptGenerator(const XCLIPConfig& c);
  // text [B, K, P], visual [B, N, P] -> alpha * prompts [B, K, P]
  at::Tensor forward(at::Tensor text, const at::Tensor& visual, AttentionOrder order = AttentionOrder::kAuto) const;
  // The same from key_values(visual) [B, L, 2, N, P].
  at::Tensor forward_key_values(at::Tensor text, const at::Tensor& kv) const;
  // Every layer's cross-attention keys and values of `visual` [B, N, P]: [B, L, 2, N, P].
  at::Tensor key_values(const at::Tensor& visual) const;
  LayerNorm* layernorm;
  std::vector<PromptGeneratorLayer*> decoder;
  at::Tensor alpha;
};

}  // namespace xclip
