#include "xclip/prepare.h"

#include <string>
#include <utility>
#include <vector>

#include "xclip/config.h"
#include "xclip/error.h"

namespace xclip {

PreparedVideo prepare_video(const VideoSource& source, const ReadOptions& options, const ImageProcessorConfig& config,
                            float* out, int64_t capacity, std::optional<at::Device> device) {
  const int64_t sampled = options.sampling == Sampling::kIndices ? static_cast<int64_t>(options.indices.size())
                                                                  : static_cast<int64_t>(options.num_frames);
  if (sampled < 1 || sampled > kMaxNumFrames)
    throw Error(ErrorCode::kInvalidInput, "a prepared video has 1 to " + std::to_string(kMaxNumFrames) + " frames, not " +
                                              std::to_string(sampled));
  if (out) {
    if (const auto hw = fixed_output_frame_size(config)) {
      // Fail before decoding when the destination cannot fit.
      const int64_t need = sampled * 3 * (*hw)[0] * (*hw)[1];
      if (capacity != need)
        throw Error(ErrorCode::kInvalidInput, "the destination holds " + std::to_string(capacity) + " values but pixel_values [1, " +
                                                  std::to_string(sampled) + ", 3, " + std::to_string((*hw)[0]) + ", " +
                                                  std::to_string((*hw)[1]) + "] need " + std::to_string(need));
    }
  }
  PreparedVideo r;
  r.decode = read_video(source, options);
  // [n, H, W, 3] uint8; dropped when this returns, so peak memory is one video's frames.
  const at::Tensor frames = std::move(r.decode.frames).contiguous();
  r.decode.frames = at::Tensor();
  if (device) {
    const at::Tensor pixel_values = preprocess_videos_on(std::vector<at::Tensor>{frames}, config, *device);
    r.pixel_values = out ? copy_pixel_values_into(pixel_values, out, capacity) : pixel_values;
    return r;
  }
  const int64_t n = frames.size(0), h = frames.size(1), w = frames.size(2);
  const uint8_t* base = frames.data_ptr<uint8_t>();
  std::vector<std::vector<FrameView>> views(1);
  for (int64_t t = 0; t < n; ++t) views[0].push_back(FrameView{base + t * h * w * 3, w, h, h * w * 3});
  r.pixel_values = out ? preprocess_videos_into(views, config, out, capacity) : preprocess_videos(views, config);
  return r;
}

}  // namespace xclip
