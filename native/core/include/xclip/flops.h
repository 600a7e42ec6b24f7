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
double forward_flops(const XCLIPConfig& c, int64_t num_videos, int64_t num_texts, int64_t seq_len);

}  // namespace xclip
