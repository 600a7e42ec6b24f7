// One pass from a video file to X-CLIP's pixel_values: decode the sampled frames (read_video) and run the image
// processor on them (preprocess_videos) in one call, on one thread, without handing the frames to the caller. The
// result can be written straight into the caller's memory (a slot of a batch being assembled), so a video costs
// one decoded-frames buffer, which is freed before the call returns, and no pixel_values of its own.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <optional>

#include "xclip/preprocess.h"
#include "xclip/video.h"

namespace xclip {

struct PreparedVideo {
  // float32 [1, T, 3, H', W']; a view over the caller's memory when prepare_video was given one.
  at::Tensor pixel_values;
  // What read_video reports about the decode (indices, timestamps, info, truncation); `frames` is left undefined.
  DecodedVideo decode;
};

// = read_video(source, options) then preprocess_videos on its frames, bit for bit. With `out`, the pixel values go
// into out[0, capacity), which must hold exactly T * 3 * H' * W' floats: when the config's output size is fixed
// (fixed_output_frame_size) that is checked before decoding, otherwise once the frame size is known, and in both
// cases before anything is written (kInvalidInput). With `device`, the frames are preprocessed there
// (preprocess_videos_on, bit for bit the same values); the pixel values are on that device unless `out` is given.
PreparedVideo prepare_video(const VideoSource& source, const ReadOptions& options, const ImageProcessorConfig& config,
                            float* out = nullptr, int64_t capacity = 0, std::optional<at::Device> device = std::nullopt);

}  // namespace xclip
