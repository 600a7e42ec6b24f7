// What the CPU preprocessing (preprocess.cc) and the device one (preprocess_device.cc) share, so both check
// the same things and compute from the same integers: the batch checks, Pillow's fixed-point resampling tables
// (src/libImaging/Resample.c, 8 bits per channel) and HF's rescale/normalize table.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "xclip/preprocess.h"

namespace xclip {
namespace detail {

// Checks a batch of frames against the config and returns the shape of its pixel_values [B, T, 3, H', W'].
// Frame data is only checked for null; errors are kInvalidInput.
std::array<int64_t, 5> checked_output_shape(const std::vector<std::vector<FrameView>>& videos, const ImageProcessorConfig& config);
// kInvalidInput unless `out` holds exactly the floats of pixel_values of `shape` (nothing is written).
void check_destination(const std::array<int64_t, 5>& shape, const float* out, int64_t capacity);
// Checks one [T, H, W, 3] uint8 video tensor (dtype, shape, frames) without touching its data.
void check_video_tensor(const at::Tensor& v, size_t index);

}  // namespace detail

namespace pillow {

// Weights carry 22 fractional bits; a pass sums uint8 * weight plus half a unit in int32, then shifts and clips.
constexpr int kPrecisionBits = 32 - 8 - 2;

struct Coeffs {
  int ksize = 0;
  std::vector<int> bounds;    // per output index: first input index, count
  std::vector<int32_t> kk;    // fixed-point weights, ksize per output index (zero past the count)
};

// precompute_coeffs() + normalize_coeffs_8bpc() for the box (0, in_size); bilinear or bicubic.
Coeffs precompute_coeffs(int in_size, int out_size, Resample resample);

// ImagingScaleAffine's source index of each of out_size nearest-neighbour outputs; -1 where it falls outside.
std::vector<int> nearest_indices(int64_t in_size, int64_t out_size);

// uint8 value -> float32 per channel, as HF computes it: rescale in float64 then cast, normalize in float32.
std::array<std::array<float, 256>, 3> value_table(const ImageProcessorConfig& config);

// Python's floor division by 2 (the center crop's offsets are negative when the crop is larger than the image).
inline int64_t floor_div2(int64_t v) { return v >= 0 ? v / 2 : -((-v + 1) / 2); }

}  // namespace pillow
}  // namespace xclip
