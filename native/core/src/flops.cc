#include "xclip/flops.h"

namespace xclip {
namespace {

// One pre-LN transformer layer over `n` tokens of width d with an MLP of width i.
double encoder_layer(double n, double d, double i) {
  return 4 * 2 * n * d * d     // q, k, v, out projections
         + 2 * 2 * n * n * d   // scores and weighted sum
         + 2 * 2 * n * d * i;  // fc1, fc2
}

}  // namespace

double vision_tower_flops(const XCLIPConfig& c, int64_t num_videos) {
  const auto& v = c.vision_config;
  const double frames = static_cast<double>(num_videos) * v.num_frames;
  const double patches = static_cast<double>(v.image_size / v.patch_size) * (v.image_size / v.patch_size);
  const double d = v.hidden_size;
  double per_frame = 2 * patches * (v.num_channels * v.patch_size * v.patch_size) * d;
  // Each layer: message_fc, message attention across the T frames' tokens, then self-attention over the
  // frame's CLS + patches + its message token.
  double layer = 2 * d * d + 4 * 2 * d * d + 2 * 2 * v.num_frames * d + encoder_layer(patches + 2, d, v.intermediate_size);
  per_frame += v.num_hidden_layers * layer;
  return frames * per_frame;
}

double video_features_flops(const XCLIPConfig& c, int64_t num_videos) {
  const auto& v = c.vision_config;
  const double frames = static_cast<double>(num_videos) * v.num_frames;
  double mit = v.mit_num_hidden_layers * encoder_layer(v.num_frames, v.mit_hidden_size, v.mit_intermediate_size);
  return vision_tower_flops(c, num_videos) + frames * 2 * v.hidden_size * c.projection_dim + num_videos * mit;
}

double text_features_flops(const XCLIPConfig& c, int64_t num_texts, int64_t seq_len) {
  const auto& t = c.text_config;
  double per_text = t.num_hidden_layers * encoder_layer(seq_len, t.hidden_size, t.intermediate_size);
  return num_texts * (per_text + 2 * t.hidden_size * c.projection_dim);
}

bool prompt_queries_first(int64_t lq, int64_t lk, int64_t d, int64_t heads) {
  // Multiply-adds that differ between the two orders: projecting the Lk visual tokens to keys and values and
  // attending per head, or folding the key and value projections into each query per head and attending to
  // the raw tokens.
  const double keys_first = 2.0 * lk * d * d + 2.0 * lq * lk * d;
  const double queries_first = 2.0 * lq * d * d + 2.0 * heads * lq * lk * d;
  return queries_first < keys_first;
}

double stored_prompt_flops(const XCLIPConfig& c, int64_t num_videos, int64_t num_texts, bool key_values) {
  const auto& v = c.vision_config;
  const double p = c.projection_dim, h = c.prompt_num_attention_heads;
  const double patches = static_cast<double>(v.image_size / v.patch_size) * (v.image_size / v.patch_size);
  const double q = static_cast<double>(num_videos) * num_texts;
  const bool queries_first = !key_values && prompt_queries_first(num_texts, static_cast<int64_t>(patches),
                                                                 c.projection_dim, c.prompt_num_attention_heads);
  // Each layer: the text queries cross-attend to the video's visual tokens (in the cheaper order, see
  // prompt_queries_first; keys and values read as stored when precomputed), then a 4x MLP. In the queries-first
  // order the first layer's queries, the same texts for every video, are projected and folded once.
  const auto layer = [&](double query_rows) {
    double attention;
    if (key_values) {
      attention = 2 * 2 * q * patches * p;
    } else if (queries_first) {
      attention = 2 * query_rows * p * p + 2 * q * p * p + 2 * 2 * h * q * patches * p;
    } else {
      attention = 2 * 2 * num_videos * patches * p * p + 2 * 2 * q * patches * p;
    }
    return 2 * query_rows * p * p  // q_proj
           + attention
           + 2 * q * p * p           // proj
           + 2 * 2 * q * p * 4 * p;  // mlp
  };
  if (c.prompt_layers < 1) return 0;
  return layer(queries_first ? static_cast<double>(num_texts) : q) + (c.prompt_layers - 1) * layer(q);
}

double prompt_flops(const XCLIPConfig& c, int64_t num_videos, int64_t num_texts) {
  const auto& v = c.vision_config;
  // The patch tokens averaged over time: the prompt generator sees one set per video, not one per frame.
  const double patches = static_cast<double>(v.image_size / v.patch_size) * (v.image_size / v.patch_size);
  // prompts_visual_projection, applied after the time average (linear, so the same result as HF's order).
  const double prompts_in = num_videos * patches * 2 * v.hidden_size * c.projection_dim;
  return prompts_in + stored_prompt_flops(c, num_videos, num_texts, false);
}

double forward_flops(const XCLIPConfig& c, int64_t num_videos, int64_t num_texts, int64_t seq_len) {
  return video_features_flops(c, num_videos) + text_features_flops(c, num_texts, seq_len) +
         prompt_flops(c, num_videos, num_texts);
}

}  // namespace xclip
