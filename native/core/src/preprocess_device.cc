// = preprocess_videos (preprocess.cc) as libtorch ops on any device: the same Pillow integers, rounding and
// clipping, so that pixel_values are bit-identical to the CPU path while the frames cross to the GPU as uint8
// (4x less than float32) and the resampling runs there.
#include <ATen/ATen.h>

#include <algorithm>
#include <vector>

#include "preprocess_internal.h"
#include "xclip/error.h"
#include "xclip/preprocess.h"

namespace xclip {
namespace {

using pillow::kPrecisionBits;

// A host table moved to the device: int64 indices or int32 weights.
template <typename T>
at::Tensor on_device(const std::vector<T>& v, at::ScalarType type, const at::Device& device) {
  return at::tensor(at::ArrayRef<T>(v), at::TensorOptions().dtype(type)).to(device);
}

// One separable pass of Pillow's resampler along `dim` of x ([T, H, W, 3] uint8 values, as uint8 or int32) for the
// outputs [o0, o1): each output sums ksize taps of input * fixed-point weight in int32 from half a unit,
// then shifts out the fraction and clips to 0..255, exactly as ImagingResampleHorizontal/Vertical_8bpc.
// `first` is the input index that x's row/column 0 stands for (x may be a slice of the image).
at::Tensor resample_pass(const at::Tensor& x, int64_t dim, int64_t in_size, int64_t out_size, int64_t o0, int64_t o1,
                         int64_t first, Resample resample) {
  const pillow::Coeffs c = pillow::precompute_coeffs(static_cast<int>(in_size), static_cast<int>(out_size), resample);
  const int64_t n = o1 - o0, k = c.ksize, last = first + x.size(dim) - 1;
  // Tap j of output i reads input bounds[i] + j; taps past the count have weight 0, so any valid index will do.
  std::vector<int64_t> index(static_cast<size_t>(n * k));
  std::vector<int32_t> weight(static_cast<size_t>(n * k));
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < k; ++j) {
      const auto src = static_cast<size_t>((o0 + i) * k + j);
      const int64_t at = std::min<int64_t>(c.bounds[static_cast<size_t>(o0 + i) * 2] + j, last);
      index[static_cast<size_t>(j * n + i)] = at - first;  // tap-major: row j holds tap j of every output
      weight[static_cast<size_t>(j * n + i)] = c.kk[src];
    }
  const at::Tensor idx = on_device(index, at::kLong, x.device()), w = on_device(weight, at::kInt, x.device());
  std::vector<int64_t> wshape(static_cast<size_t>(x.dim()), 1);
  wshape[static_cast<size_t>(dim)] = n;
  // Gathered taps are widened one at a time, so the source frames stay uint8 on the device.
  at::Tensor acc = at::full({}, 1 << (kPrecisionBits - 1), x.options().dtype(at::kInt));
  for (int64_t j = 0; j < k; ++j)
    acc = acc + x.index_select(dim, idx.narrow(0, j * n, n)).to(at::kInt) * w.narrow(0, j * n, n).view(wshape);
  return at::bitwise_right_shift(acc, kPrecisionBits).clamp_(0, 255);
}

// Pillow's resize of x (uint8 [T, h, w, 3] on the device) to out_h x out_w, only the outputs in region r,
// as int32 [T, r.y1 - r.y0, r.x1 - r.x0, 3]: the CPU path's resize_region.
at::Tensor resize_region(const at::Tensor& x, int64_t out_h, int64_t out_w, Resample resample, int64_t y0, int64_t y1, int64_t x0,
                         int64_t x1) {
  const int64_t h = x.size(1), w = x.size(2);
  if (out_h == h && out_w == w) return x.slice(1, y0, y1).slice(2, x0, x1).to(at::kInt);  // PIL copies
  if (resample == Resample::kNearest) {
    std::vector<int> ys = pillow::nearest_indices(h, out_h), xs = pillow::nearest_indices(w, out_w);
    std::vector<int64_t> yi(ys.begin() + y0, ys.begin() + y1), xi(xs.begin() + x0, xs.begin() + x1);
    std::vector<int32_t> inside(static_cast<size_t>((y1 - y0) * (x1 - x0)));
    for (size_t a = 0; a < yi.size(); ++a)
      for (size_t b = 0; b < xi.size(); ++b) inside[a * xi.size() + b] = yi[a] >= 0 && xi[b] >= 0;
    for (auto* v : {&yi, &xi})
      for (auto& i : *v) i = std::max<int64_t>(i, 0);
    const at::Device d = x.device();
    at::Tensor out = x.index_select(1, on_device(yi, at::kLong, d)).index_select(2, on_device(xi, at::kLong, d)).to(at::kInt);
    return out * on_device(inside, at::kInt, d).view({1, y1 - y0, x1 - x0, 1});  // outside the image: 0
  }
  const bool need_h = out_w != w, need_v = out_h != h;
  // Rows the vertical pass reads (all of them when there is none: then [y0, y1) are the rows themselves).
  int64_t row0 = y0, row1 = y1;
  if (need_v) {
    const pillow::Coeffs cv = pillow::precompute_coeffs(static_cast<int>(h), static_cast<int>(out_h), resample);
    row0 = cv.bounds[static_cast<size_t>(y0) * 2];
    row1 = row0;
    for (int64_t y = y0; y < y1; ++y) {
      row0 = std::min<int64_t>(row0, cv.bounds[static_cast<size_t>(y) * 2]);
      row1 = std::max<int64_t>(row1, cv.bounds[static_cast<size_t>(y) * 2] + cv.bounds[static_cast<size_t>(y) * 2 + 1]);
    }
  }
  at::Tensor t = x.slice(1, row0, row1);  // [T, rows, w, 3] uint8
  t = need_h ? resample_pass(t, 2, w, out_w, x0, x1, 0, resample) : t.slice(2, x0, x1);
  return need_v ? resample_pass(t, 1, h, out_h, y0, y1, row0, resample) : t.to(at::kInt);
}

}  // namespace

at::Tensor preprocess_videos_on(const std::vector<at::Tensor>& videos, const ImageProcessorConfig& config, const at::Device& device) {
  std::vector<std::vector<FrameView>> sizes(videos.size());  // the CPU path's checks see only each frame's size
  for (size_t b = 0; b < videos.size(); ++b) {
    detail::check_video_tensor(videos[b], b);
    const at::Tensor& v = videos[b];
    for (int64_t t = 0; t < v.size(0); ++t)
      sizes[b].push_back(FrameView{static_cast<const uint8_t*>(v.data_ptr()), v.size(2), v.size(1), -1});
  }
  const auto shape = detail::checked_output_shape(sizes, config);
  const int64_t oh = shape[3], ow = shape[4];

  const auto table = pillow::value_table(config);
  std::vector<float> flat;
  for (const auto& channel : table) flat.insert(flat.end(), channel.begin(), channel.end());
  const at::Tensor lut = on_device(flat, at::kFloat, device);                                            // [3 * 256]
  const at::Tensor channel_base = at::arange(0, 3 * 256, 256, at::TensorOptions().dtype(at::kLong).device(device)).view({1, 3, 1, 1});

  std::vector<at::Tensor> out;
  for (const at::Tensor& video : videos) {
    const at::Tensor x = video.to(device);  // uint8 [T, h, w, 3]: the one copy to the device
    const int64_t T = x.size(0), h = x.size(1), w = x.size(2);
    const auto rs = resize_output_size(h, w, config);
    const int64_t rh = rs[0], rw = rs[1];
    int64_t top = 0, left = 0;
    if (config.do_center_crop) {
      top = pillow::floor_div2(rh - oh);
      left = pillow::floor_div2(rw - ow);
    }
    // The part of the resized frame inside the crop; the rest of the crop is zero padding (HF pads uint8 zeros).
    const int64_t y0 = std::max<int64_t>(0, top), y1 = std::min<int64_t>(rh, top + oh);
    const int64_t x0 = std::max<int64_t>(0, left), x1 = std::min<int64_t>(rw, left + ow);
    at::Tensor pixels = at::zeros({T, oh, ow, 3}, x.options().dtype(at::kLong));
    if (y1 > y0 && x1 > x0)
      pixels.slice(1, y0 - top, y1 - top).slice(2, x0 - left, x1 - left).copy_(resize_region(x, rh, rw, config.resample, y0, y1, x0, x1));
    // [T, oh, ow, 3] values -> [T, 3, oh, ow] float32 through the value table.
    out.push_back(at::take(lut, pixels.permute({0, 3, 1, 2}) + channel_base));
  }
  return at::stack(out);
}

at::Tensor copy_pixel_values_into(const at::Tensor& pixel_values, float* out, int64_t capacity) {
  const auto s = pixel_values.sizes();
  if (pixel_values.dim() != 5 || pixel_values.scalar_type() != at::kFloat)
    throw Error(ErrorCode::kInvalidInput, "copy_pixel_values_into takes float32 [B, T, 3, H, W] pixel values");
  const std::array<int64_t, 5> shape = {s[0], s[1], s[2], s[3], s[4]};
  detail::check_destination(shape, out, capacity);
  at::Tensor dst = at::from_blob(out, shape, at::kFloat);
  dst.copy_(pixel_values);  // from a device: one transfer into (possibly pinned) host memory
  return dst;
}

at::Tensor preprocess_videos_on(const std::vector<std::vector<FrameView>>& videos, const ImageProcessorConfig& config,
                                const at::Device& device) {
  detail::checked_output_shape(videos, config);  // sizes, data lengths and limits, before anything is copied
  std::vector<at::Tensor> tensors;
  for (size_t b = 0; b < videos.size(); ++b) {
    const FrameView& first = videos[b][0];
    std::vector<at::Tensor> frames;
    for (size_t t = 0; t < videos[b].size(); ++t) {
      const FrameView& f = videos[b][t];
      if (f.width != first.width || f.height != first.height)
        throw Error(ErrorCode::kInvalidInput, "video " + std::to_string(b) + " frame " + std::to_string(t) + " is " + std::to_string(f.width) +
                                                  "x" + std::to_string(f.height) + " but frame 0 is " + std::to_string(first.width) + "x" +
                                                  std::to_string(first.height) + "; preprocessing on a device takes one frame size per video");
      // The caller's memory is only read: from_blob needs a mutable pointer but nothing writes through it.
      frames.push_back(at::from_blob(const_cast<uint8_t*>(f.data), {f.height, f.width, 3}, at::kByte));
    }
    tensors.push_back(at::stack(frames));  // [T, h, w, 3]: one host copy, then one transfer
  }
  return preprocess_videos_on(tensors, config, device);
}

}  // namespace xclip
