// = transformers VideoMAEImageProcessor (the image half of XCLIPProcessor): per frame, PIL resize on uint8
// (Pillow 12's fixed-point antialiased resampler, reproduced bit for bit) -> center crop (zero padding when
// the crop is larger) -> rescale (float64, cast to float32) -> normalize (float32) -> channels first.
#pragma once

#include <ATen/ATen.h>

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace xclip {

// PILImageResampling values as stored in preprocessor_config.json.
enum class Resample : int { kNearest = 0, kBilinear = 2, kBicubic = 3 };

struct ImageProcessorConfig {
  bool do_resize = true;
  // `size`: {"shortest_edge": n} (a bare int n in legacy files) or {"height": h, "width": w}.
  int64_t shortest_edge = 224;  // > 0 selects the shortest-edge rule; 0 when size_height/size_width are used
  int64_t size_height = 0;
  int64_t size_width = 0;
  Resample resample = Resample::kBilinear;
  bool do_center_crop = true;
  int64_t crop_height = 224;
  int64_t crop_width = 224;
  bool do_rescale = true;
  double rescale_factor = 1.0 / 255.0;
  bool do_normalize = true;
  std::array<double, 3> image_mean = {0.5, 0.5, 0.5};  // HF's IMAGENET_STANDARD_* defaults
  std::array<double, 3> image_std = {0.5, 0.5, 0.5};
};

// Parses preprocessor_config.json as VideoMAEImageProcessor.from_dict does; unknown keys are ignored.
// Wrong types/values throw Error(kConfigInvalid) naming the key; resample other than 0/2/3 is refused.
ImageProcessorConfig parse_preprocessor_config(const std::string& json_text,
                                               const std::string& source = "preprocessor_config.json");
ImageProcessorConfig load_preprocessor_config(const std::string& path);  // kFileNotFound if absent

// One RGB24 frame, rows packed (stride = width*3). `length` = bytes available at data; -1 = not checked.
struct FrameView {
  const uint8_t* data = nullptr;
  int64_t width = 0;
  int64_t height = 0;
  int64_t length = -1;
};

// (height, width) after the resize step for an input of height x width (HF get_resize_output_image_size).
std::array<int64_t, 2> resize_output_size(int64_t height, int64_t width, const ImageProcessorConfig& config);
// (height, width) of one processed frame (the crop size when do_center_crop).
std::array<int64_t, 2> output_frame_size(int64_t height, int64_t width, const ImageProcessorConfig& config);
// The same when it does not depend on the input (a center crop, or a resize to a fixed height and width), so a
// caller can size the destination of preprocess_videos_into before decoding anything; nullopt otherwise.
std::optional<std::array<int64_t, 2>> fixed_output_frame_size(const ImageProcessorConfig& config);

// videos[b][t] -> float32 [B, T, 3, H', W']. All videos need the same frame count, and all frames must
// come out the same size (always true with do_center_crop). Errors: kInvalidInput.
at::Tensor preprocess_videos(const std::vector<std::vector<FrameView>>& videos, const ImageProcessorConfig& config);
// The same, written into the caller's memory: `out` holds exactly `capacity` floats, which must be the size of
// [B, T, 3, H', W'] (kInvalidInput otherwise, before anything is written). Returns a tensor viewing `out`.
at::Tensor preprocess_videos_into(const std::vector<std::vector<FrameView>>& videos, const ImageProcessorConfig& config,
                                  float* out, int64_t capacity);
// Each video a uint8 [T, H, W, 3] tensor (any strides, CPU).
at::Tensor preprocess_videos(const std::vector<at::Tensor>& videos, const ImageProcessorConfig& config);
// One uint8 tensor: [T, H, W, 3] (one video) or [B, T, H, W, 3].
at::Tensor preprocess_videos(const at::Tensor& videos, const ImageProcessorConfig& config);

// The same pixel_values, computed on `device` with libtorch ops: each video ([T, H, W, 3] uint8, any device
// and strides) is copied there once, then resized with Pillow's fixed-point weights in int32 (the CPU path's
// integers, rounding and clipping), cropped, and mapped through the CPU path's float32 value table, so the
// result equals preprocess_videos bit for bit on any device. Returns float32 [B, T, 3, H', W'] on `device`.
// Same checks and errors as preprocess_videos.
at::Tensor preprocess_videos_on(const std::vector<at::Tensor>& videos, const ImageProcessorConfig& config,
                                const at::Device& device);
// The same from frames in host memory: each video's frames must share one size (kInvalidInput otherwise).
at::Tensor preprocess_videos_on(const std::vector<std::vector<FrameView>>& videos, const ImageProcessorConfig& config,
                                const at::Device& device);
// Copies pixel_values (float32 [B, T, 3, H', W'], any device) into the caller's host memory, which must hold exactly
// that many floats (kInvalidInput otherwise, before anything is written), as preprocess_videos_into does. Returns a
// tensor viewing `out`.
at::Tensor copy_pixel_values_into(const at::Tensor& pixel_values, float* out, int64_t capacity);

// PIL Image.resize((out_width, out_height), resample) of one RGB24 frame: uint8 in, uint8 out.
void pil_resize_rgb(const uint8_t* src, int64_t width, int64_t height, uint8_t* dst, int64_t out_width,
                    int64_t out_height, Resample resample);

}  // namespace xclip
