// Decode throughput of the FFmpeg plumbing alone (no sampling, no index), for `xclip-core bench-decode`.
#pragma once

#include <cstdint>

#include "xclip/video.h"

namespace xclip::tools {

struct DecodeThroughput {
  int64_t frames = 0;
  double seconds = 0;
  double frames_per_second = 0;
};

// Decodes every frame (and converts to RGB24 when to_rgb) sequentially.
DecodeThroughput measure_decode_throughput(const VideoSource& source, bool to_rgb = true, int threads = 0);

}  // namespace xclip::tools
