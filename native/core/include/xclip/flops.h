// Analytic FLOP counts (a multiply-add counts 2) of the model's matmuls, for throughput-vs-peak ratios.
// Elementwise ops, softmax and layer norms are left out: they are a few percent at base size.
#pragma once

#include <cstdint>

#include "xclip/config.h"

namespace xclip {

double vision_tower_flops(const XCLIPConfig& c, int64_t num_videos);
double video_features_flops(const XCLIPConfig& c, int64_t num_videos);  // vision + projection + MIT
double text_features_flops(const XCLIPConfig& c, int64_t num_texts, int64_t seq_len);
// prompts_visual_projection + prompt generator for num_videos x num_texts (forward_with_text_features' extra).
double prompt_flops(const XCLIPConfig& c, int64_t num_videos, int64_t num_texts);
// The prompt generator alone on stored search features (XCLIPModel::score_video_features): visual tokens, or
// their per-layer keys and values when `key_values`.
double stored_prompt_flops(const XCLIPConfig& c, int64_t num_videos, int64_t num_texts, bool key_values);
// Whether the prompt generator's cross-attention is cheaper with the key/value projections folded into the
// queries (lq queries, lk visual tokens of width d, `heads` heads) than with the tokens projected: the order
// the core runs.
bool prompt_queries_first(int64_t lq, int64_t lk, int64_t d, int64_t heads);
double forward_flops(const XCLIPConfig& c, int64_t num_videos, int64_t num_texts, int64_t seq_len);

}  // namespace xclip
