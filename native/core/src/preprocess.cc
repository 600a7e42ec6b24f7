#include "xclip/preprocess.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>
#include <sstream>

#include "preprocess_internal.h"
#include "untrusted_json.h"
#include "xclip/error.h"

// The resampler must round exactly like Pillow's C (built without FMA contraction).
#if defined(__clang__)
#pragma clang fp contract(off)
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

namespace xclip {
namespace {

using json = nlohmann::json;
using pillow::Coeffs;
using pillow::kPrecisionBits;
using pillow::floor_div2;

[[noreturn]] void fail_config(const std::string& source, const std::string& key, const std::string& what) {
  throw Error(ErrorCode::kConfigInvalid, source + ": " + key + " " + what);
}
[[noreturn]] void fail_input(const std::string& msg) { throw Error(ErrorCode::kInvalidInput, msg); }

constexpr int64_t kMaxSide = 1 << 16;  // far above any video frame; keeps every product in int range
// `size` and `crop_size` from a config file: an 8K frame. A crop of 65536^2 would be 51 GB of float32 per frame.
constexpr int64_t kMaxConfigSide = 8192;
// One preprocess call's pixel_values; 64 frames of 8192^2 crops would be 51 GB.
constexpr double kMaxOutputBytes = 4.0 * (1LL << 30);

// ---- preprocessor_config.json -----------------------------------------------------------------------

// HF stores None for a null flag and then tests it for truthiness.
bool read_flag(const json& j, const char* key, bool def, const std::string& source) {
  auto it = j.find(key);
  if (it == j.end()) return def;
  if (it->is_null()) return false;
  if (!it->is_boolean()) fail_config(source, key, "must be true or false but is " + it->dump());
  return it->get<bool>();
}

int64_t positive_int(const json& v, const std::string& key, const std::string& source) {
  if (!v.is_number_integer()) fail_config(source, key, "must be an integer but is " + v.dump());
  int64_t x = v.get<int64_t>();
  if (v.is_number_unsigned() && v.get<uint64_t>() > static_cast<uint64_t>(kMaxConfigSide)) x = kMaxConfigSide + 1;
  if (x <= 0 || x > kMaxConfigSide)
    fail_config(source, key, "must be between 1 and " + std::to_string(kMaxConfigSide) + " but is " + v.dump());
  return x;
}

// Mean, std and rescale factor are applied in float32: a double that does not fit would give inf/NaN pixels.
bool finite_float(double x) { return std::isfinite(x) && std::fabs(x) <= 3.4e38; }

// get_size_dict(): an int means {shortest_edge} for `size` (default_to_square=False) and {height, width}
// for `crop_size`; a list is (height, width); a dict must use one of HF's valid key sets.
struct SizeDict {
  int64_t shortest_edge = 0, longest_edge = 0, height = 0, width = 0, max_height = 0, max_width = 0;
};

SizeDict read_size(const json& v, const char* key, bool default_to_square, const std::string& source) {
  SizeDict s;
  if (v.is_number_integer()) {
    int64_t n = positive_int(v, key, source);
    if (default_to_square) {
      s.height = s.width = n;
    } else {
      s.shortest_edge = n;
    }
    return s;
  }
  if (v.is_array()) {
    if (v.size() != 2) fail_config(source, key, "as a list must be [height, width] but is " + v.dump());
    s.height = positive_int(v[0], std::string(key) + "[0]", source);
    s.width = positive_int(v[1], std::string(key) + "[1]", source);
    return s;
  }
  if (!v.is_object()) fail_config(source, key, "must be an integer, a [height, width] list or an object but is " + v.dump());
  std::vector<std::string> present;
  for (auto it = v.begin(); it != v.end(); ++it) {
    if (it.value().is_null()) continue;
    const std::string sub = std::string(key) + "." + it.key();
    int64_t* field = it.key() == "shortest_edge" ? &s.shortest_edge
                     : it.key() == "longest_edge" ? &s.longest_edge
                     : it.key() == "height"       ? &s.height
                     : it.key() == "width"        ? &s.width
                     : it.key() == "max_height"   ? &s.max_height
                     : it.key() == "max_width"    ? &s.max_width
                                                  : nullptr;
    if (!field) fail_config(source, sub, "is not a valid size key (use shortest_edge, or height and width)");
    *field = positive_int(it.value(), sub, source);
    present.push_back(it.key());
  }
  std::sort(present.begin(), present.end());
  static const std::vector<std::vector<std::string>> kValid = {
      {"height", "width"}, {"shortest_edge"}, {"longest_edge", "shortest_edge"}, {"longest_edge"}, {"max_height", "max_width"}};
  if (std::find(kValid.begin(), kValid.end(), present) == kValid.end())
    fail_config(source, key, "must have the keys {height, width} or {shortest_edge} but is " + v.dump());
  return s;
}

std::array<double, 3> read_channels(const json& j, const char* key, std::array<double, 3> def, const std::string& source) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return def;
  if (it->is_number()) {
    double x = it->get<double>();
    if (!finite_float(x)) fail_config(source, key, "must be a finite float32 number but is " + it->dump());
    return {x, x, x};
  }
  if (!it->is_array() || it->size() != 3)
    fail_config(source, key, "must be a number or a list of 3 numbers (one per RGB channel) but is " + it->dump());
  std::array<double, 3> out{};
  for (size_t c = 0; c < 3; ++c) {
    if (!(*it)[c].is_number()) fail_config(source, key, "must contain numbers but is " + it->dump());
    out[c] = (*it)[c].get<double>();
  }
  for (double x : out)
    if (!finite_float(x)) fail_config(source, key, "must be finite float32 numbers but is " + it->dump());
  return out;
}

inline uint8_t clip8(int32_t ss) {
  int32_t v = ss >> kPrecisionBits;
  return static_cast<uint8_t>(v < 0 ? 0 : v > 255 ? 255 : v);
}

// A rectangle [y0, y1) x [x0, x1) of an image; pixels are RGB24 with the given row stride.
struct Region {
  int64_t y0 = 0, y1 = 0, x0 = 0, x1 = 0;
};

// Writes the pixels `r` of PIL's resize of src (w x h) to out_w x out_h into dst (row stride
// (r.x1 - r.x0) * 3). Each output pixel of Pillow's two passes depends only on its own column's
// horizontal results, so computing just the needed rows/columns gives Pillow's values exactly.
void resize_region(const uint8_t* src, int64_t w, int64_t h, int64_t out_w, int64_t out_h, Resample resample, Region r,
                   uint8_t* dst, std::vector<uint8_t>& scratch) {
  const int64_t rw = r.x1 - r.x0, rh = r.y1 - r.y0;
  if (rw <= 0 || rh <= 0) return;
  const int64_t dst_stride = rw * 3, src_stride = w * 3;
  if (out_w == w && out_h == h) {  // PIL copies instead of resampling
    for (int64_t y = r.y0; y < r.y1; ++y)
      std::copy_n(src + y * src_stride + r.x0 * 3, rw * 3, dst + (y - r.y0) * dst_stride);
    return;
  }
  if (resample == Resample::kNearest) {
    const std::vector<int> xin = pillow::nearest_indices(w, out_w), yin = pillow::nearest_indices(h, out_h);
    for (int64_t y = r.y0; y < r.y1; ++y) {
      const int yi = yin[static_cast<size_t>(y)];
      uint8_t* out = dst + (y - r.y0) * dst_stride;
      for (int64_t x = r.x0; x < r.x1; ++x) {
        int xi = xin[static_cast<size_t>(x)];
        uint8_t* o = out + (x - r.x0) * 3;
        if (yi >= 0 && xi >= 0) {
          const uint8_t* p = src + yi * src_stride + xi * 3;
          o[0] = p[0], o[1] = p[1], o[2] = p[2];
        } else {
          o[0] = o[1] = o[2] = 0;
        }
      }
    }
    return;
  }

  const bool need_h = out_w != w, need_v = out_h != h;
  Coeffs cv, ch;
  int64_t row0 = r.y0, row1 = r.y1;  // source rows the vertical pass reads
  if (need_v) {
    cv = pillow::precompute_coeffs(static_cast<int>(h), static_cast<int>(out_h), resample);
    row0 = cv.bounds[static_cast<size_t>(r.y0) * 2];
    row1 = row0;
    for (int64_t y = r.y0; y < r.y1; ++y) {
      row0 = std::min<int64_t>(row0, cv.bounds[static_cast<size_t>(y) * 2]);
      row1 = std::max<int64_t>(row1, cv.bounds[static_cast<size_t>(y) * 2] + cv.bounds[static_cast<size_t>(y) * 2 + 1]);
    }
  }
  // Horizontal pass over rows [row0, row1), columns [x0, x1) -> tmp (or dst directly if no vertical pass).
  const uint8_t* vsrc = src;
  int64_t vstride = src_stride, vcol0 = 0, vrow0 = 0;
  if (need_h) {
    ch = pillow::precompute_coeffs(static_cast<int>(w), static_cast<int>(out_w), resample);
    uint8_t* tmp;
    if (need_v) {
      scratch.resize(static_cast<size_t>((row1 - row0) * rw * 3));
      tmp = scratch.data();
    } else {
      tmp = dst;
    }
    for (int64_t y = row0; y < row1; ++y) {
      const uint8_t* in = src + y * src_stride;
      uint8_t* out = tmp + (y - row0) * dst_stride;
      for (int64_t xx = r.x0; xx < r.x1; ++xx) {
        const int xmin = ch.bounds[static_cast<size_t>(xx) * 2], xmax = ch.bounds[static_cast<size_t>(xx) * 2 + 1];
        const int32_t* k = &ch.kk[static_cast<size_t>(xx) * static_cast<size_t>(ch.ksize)];
        int32_t ss0 = 1 << (kPrecisionBits - 1), ss1 = ss0, ss2 = ss0;
        const uint8_t* p = in + static_cast<int64_t>(xmin) * 3;
        for (int x = 0; x < xmax; ++x, p += 3) {
          ss0 += p[0] * k[x];
          ss1 += p[1] * k[x];
          ss2 += p[2] * k[x];
        }
        uint8_t* o = out + (xx - r.x0) * 3;
        o[0] = clip8(ss0), o[1] = clip8(ss1), o[2] = clip8(ss2);
      }
    }
    if (!need_v) return;
    vsrc = tmp;
    vstride = dst_stride;
    vcol0 = r.x0;
    vrow0 = row0;
  }
  // Vertical pass: columns [x0, x1) of vsrc (which starts at column vcol0 and row vrow0).
  for (int64_t yy = r.y0; yy < r.y1; ++yy) {
    const int ymin = cv.bounds[static_cast<size_t>(yy) * 2], ymax = cv.bounds[static_cast<size_t>(yy) * 2 + 1];
    const int32_t* k = &cv.kk[static_cast<size_t>(yy) * static_cast<size_t>(cv.ksize)];
    uint8_t* out = dst + (yy - r.y0) * dst_stride;
    for (int64_t xx = r.x0; xx < r.x1; ++xx) {
      int32_t ss0 = 1 << (kPrecisionBits - 1), ss1 = ss0, ss2 = ss0;
      const uint8_t* p = vsrc + (ymin - vrow0) * vstride + (xx - vcol0) * 3;
      for (int y = 0; y < ymax; ++y, p += vstride) {
        ss0 += p[0] * k[y];
        ss1 += p[1] * k[y];
        ss2 += p[2] * k[y];
      }
      uint8_t* o = out + (xx - r.x0) * 3;
      o[0] = clip8(ss0), o[1] = clip8(ss1), o[2] = clip8(ss2);
    }
  }
}

void check_frame(const FrameView& f, size_t b, size_t t) {
  std::string where = "video " + std::to_string(b) + " frame " + std::to_string(t);
  if (f.width <= 0 || f.height <= 0)
    fail_input(where + " has zero size (" + std::to_string(f.width) + "x" + std::to_string(f.height) + ")");
  if (f.width > kMaxSide || f.height > kMaxSide)
    fail_input(where + " is too large (" + std::to_string(f.width) + "x" + std::to_string(f.height) + ", max side " +
               std::to_string(kMaxSide) + ")");
  if (!f.data) fail_input(where + " has no data");
  if (f.length >= 0 && f.length != f.width * f.height * 3)
    fail_input(where + " has " + std::to_string(f.length) + " bytes but " + std::to_string(f.width) + "x" +
               std::to_string(f.height) + " RGB24 needs " + std::to_string(f.width * f.height * 3));
}

}  // namespace

ImageProcessorConfig parse_preprocessor_config(const std::string& json_text, const std::string& source) {
  json j = parse_json_limited(json_text, ErrorCode::kConfigInvalid, source + ": malformed JSON: ");
  if (!j.is_object()) throw Error(ErrorCode::kConfigInvalid, source + ": expected a JSON object");
  ImageProcessorConfig c;
  c.do_resize = read_flag(j, "do_resize", true, source);
  c.do_center_crop = read_flag(j, "do_center_crop", true, source);
  c.do_rescale = read_flag(j, "do_rescale", true, source);
  c.do_normalize = read_flag(j, "do_normalize", true, source);

  auto it = j.find("size");
  if (it != j.end() && !it->is_null()) {
    SizeDict s = read_size(*it, "size", false, source);
    if (s.shortest_edge > 0) {
      c.shortest_edge = s.shortest_edge;  // VideoMAE ignores longest_edge
    } else if (s.height > 0) {
      c.shortest_edge = 0;
      c.size_height = s.height;
      c.size_width = s.width;
    } else if (c.do_resize) {
      fail_config(source, "size", "must have 'height' and 'width' or 'shortest_edge' for VideoMAE resizing but is " + it->dump());
    }
  }
  it = j.find("resample");
  if (it != j.end()) {
    if (it->is_null()) {
      if (c.do_resize) fail_config(source, "resample", "must be specified when do_resize is true");
    } else {
      if (!it->is_number_integer()) fail_config(source, "resample", "must be an integer (PIL resampling filter) but is " + it->dump());
      int64_t r = it->get<int64_t>();
      if (r == 0) {
        c.resample = Resample::kNearest;
      } else if (r == 2) {
        c.resample = Resample::kBilinear;
      } else if (r == 3) {
        c.resample = Resample::kBicubic;
      } else if (r == 1 || r == 4 || r == 5) {
        fail_config(source, "resample", "= " + std::to_string(r) + " (" + (r == 1 ? "LANCZOS" : r == 4 ? "BOX" : "HAMMING") +
                                            ") is not supported; use 0 (NEAREST), 2 (BILINEAR) or 3 (BICUBIC)");
      } else {
        fail_config(source, "resample", "must be 0 (NEAREST), 2 (BILINEAR) or 3 (BICUBIC) but is " + it->dump());
      }
    }
  }
  it = j.find("crop_size");
  if (it != j.end() && !it->is_null()) {
    SizeDict s = read_size(*it, "crop_size", true, source);
    if (s.height > 0) {
      c.crop_height = s.height;
      c.crop_width = s.width;
    } else if (c.do_center_crop) {
      fail_config(source, "crop_size", "must have the keys 'height' and 'width' but is " + it->dump());
    }
  }
  it = j.find("rescale_factor");
  if (it != j.end()) {
    if (it->is_null()) {
      if (c.do_rescale) fail_config(source, "rescale_factor", "must be specified when do_rescale is true");
    } else {
      if (!it->is_number()) fail_config(source, "rescale_factor", "must be a number but is " + it->dump());
      c.rescale_factor = it->get<double>();
      if (!finite_float(c.rescale_factor)) fail_config(source, "rescale_factor", "must be finite but is " + it->dump());
    }
  }
  c.image_mean = read_channels(j, "image_mean", c.image_mean, source);
  c.image_std = read_channels(j, "image_std", c.image_std, source);
  for (double s : c.image_std)
    if (c.do_normalize && !(s != 0.0 && std::isfinite(s))) fail_config(source, "image_std", "must be finite and non-zero but is " + j["image_std"].dump());
  for (double m : c.image_mean)
    if (!std::isfinite(m)) fail_config(source, "image_mean", "must be finite but is " + j["image_mean"].dump());
  return c;
}

ImageProcessorConfig load_preprocessor_config(const std::string& path) {
  return parse_preprocessor_config(
      read_file_limited(path, kMaxConfigFileBytes, ErrorCode::kFileNotFound, ErrorCode::kConfigInvalid), path);
}

std::array<int64_t, 2> resize_output_size(int64_t height, int64_t width, const ImageProcessorConfig& config) {
  if (!config.do_resize) return {height, width};
  if (config.shortest_edge <= 0) return {config.size_height, config.size_width};
  // get_resize_output_image_size(default_to_square=False): long side = int(short_edge * long / short).
  const int64_t se = config.shortest_edge;
  const bool portrait = width <= height;
  const int64_t shorter = portrait ? width : height, longer = portrait ? height : width;
  const auto new_long = static_cast<int64_t>(static_cast<double>(se * longer) / static_cast<double>(shorter));
  if (new_long > kMaxSide * 16)
    fail_input("resizing " + std::to_string(width) + "x" + std::to_string(height) + " to shortest edge " + std::to_string(se) +
               " gives a side of " + std::to_string(new_long) + " pixels");
  return portrait ? std::array<int64_t, 2>{new_long, se} : std::array<int64_t, 2>{se, new_long};
}

std::array<int64_t, 2> output_frame_size(int64_t height, int64_t width, const ImageProcessorConfig& config) {
  if (config.do_center_crop) return {config.crop_height, config.crop_width};
  return resize_output_size(height, width, config);
}

void pil_resize_rgb(const uint8_t* src, int64_t width, int64_t height, uint8_t* dst, int64_t out_width, int64_t out_height,
                    Resample resample) {
  if (width <= 0 || height <= 0 || out_width <= 0 || out_height <= 0)
    fail_input("pil_resize_rgb: sizes must be positive");
  if (resample != Resample::kNearest && resample != Resample::kBilinear && resample != Resample::kBicubic)
    fail_input("pil_resize_rgb: unsupported resample " + std::to_string(static_cast<int>(resample)));
  std::vector<uint8_t> scratch;
  resize_region(src, width, height, out_width, out_height, resample, Region{0, out_height, 0, out_width}, dst, scratch);
}

namespace detail {

void check_destination(const std::array<int64_t, 5>& shape, const float* out, int64_t capacity) {
  const int64_t need = shape[0] * shape[1] * shape[2] * shape[3] * shape[4];
  if (!out || capacity != need)
    fail_input("the destination holds " + std::to_string(capacity) + " values but pixel_values [" + std::to_string(shape[0]) + ", " +
               std::to_string(shape[1]) + ", 3, " + std::to_string(shape[3]) + ", " + std::to_string(shape[4]) + "] need " +
               std::to_string(need));
}

std::array<int64_t, 5> checked_output_shape(const std::vector<std::vector<FrameView>>& videos, const ImageProcessorConfig& config) {
  if (videos.empty()) fail_input("no videos to preprocess");
  const size_t num_frames = videos[0].size();
  for (size_t b = 0; b < videos.size(); ++b) {
    if (videos[b].empty()) fail_input("video " + std::to_string(b) + " has no frames");
    if (videos[b].size() != num_frames)
      fail_input("videos in one batch need the same number of frames: video 0 has " + std::to_string(num_frames) + ", video " +
                 std::to_string(b) + " has " + std::to_string(videos[b].size()));
    for (size_t t = 0; t < videos[b].size(); ++t) check_frame(videos[b][t], b, t);
  }
  if (config.do_resize && config.shortest_edge <= 0 && (config.size_height <= 0 || config.size_width <= 0))
    fail_input("image processor config has no usable size");
  if (config.do_center_crop && (config.crop_height <= 0 || config.crop_width <= 0))
    fail_input("image processor config has no usable crop_size");
  const auto out_hw = output_frame_size(videos[0][0].height, videos[0][0].width, config);
  for (size_t b = 0; b < videos.size(); ++b)
    for (size_t t = 0; t < num_frames; ++t) {
      resize_output_size(videos[b][t].height, videos[b][t].width, config);  // throws here, not inside parallel_for
      auto hw = output_frame_size(videos[b][t].height, videos[b][t].width, config);
      if (hw != out_hw)
        fail_input("frames come out at different sizes without center crop: " + std::to_string(out_hw[0]) + "x" +
                   std::to_string(out_hw[1]) + " vs " + std::to_string(hw[0]) + "x" + std::to_string(hw[1]) + " (video " +
                   std::to_string(b) + " frame " + std::to_string(t) + ")");
    }
  const int64_t oh = out_hw[0], ow = out_hw[1];
  const auto B = static_cast<int64_t>(videos.size()), T = static_cast<int64_t>(num_frames);
  const double out_bytes = 4.0 * B * T * 3 * static_cast<double>(oh) * static_cast<double>(ow);
  if (out_bytes > kMaxOutputBytes)
    fail_input("pixel_values for " + std::to_string(B) + " video(s) x " + std::to_string(T) + " frames of " + std::to_string(oh) +
               "x" + std::to_string(ow) + " would take " + std::to_string(static_cast<int64_t>(out_bytes / (1 << 20))) +
               " MiB, above the " + std::to_string(static_cast<int64_t>(kMaxOutputBytes) >> 20) + " MiB limit of one call");
  return {B, T, 3, oh, ow};
}

}  // namespace detail

namespace {

// Writes the pixel_values of frames already checked by checked_output_shape into out_base ([B, T, 3, oh, ow]).
void write_pixel_values(const std::vector<std::vector<FrameView>>& videos, const ImageProcessorConfig& config,
                        const std::array<int64_t, 5>& shape, float* out_base) {
  const int64_t T = shape[1], oh = shape[3], ow = shape[4];
  const auto lut = pillow::value_table(config);

  const int64_t plane = oh * ow;
  at::parallel_for(0, shape[0] * T, 1, [&](int64_t begin, int64_t end) {
    std::vector<uint8_t> region_buf, scratch;
    for (int64_t i = begin; i < end; ++i) {
      const FrameView& f = videos[static_cast<size_t>(i / T)][static_cast<size_t>(i % T)];
      const auto rs = resize_output_size(f.height, f.width, config);
      const int64_t rh = rs[0], rw = rs[1];
      int64_t top = 0, left = 0;
      if (config.do_center_crop) {
        top = floor_div2(rh - oh);
        left = floor_div2(rw - ow);
      }
      // The part of the resized frame inside the crop; the rest of the crop is zero padding (HF pads uint8 zeros).
      Region r{std::max<int64_t>(0, top), std::min<int64_t>(rh, top + oh), std::max<int64_t>(0, left), std::min<int64_t>(rw, left + ow)};
      const uint8_t* px;
      int64_t stride;
      if (rh == f.height && rw == f.width) {
        px = f.data + r.y0 * f.width * 3 + r.x0 * 3;
        stride = f.width * 3;
      } else {
        region_buf.resize(static_cast<size_t>(std::max<int64_t>(0, (r.y1 - r.y0) * (r.x1 - r.x0) * 3)));
        resize_region(f.data, f.width, f.height, rw, rh, config.resample, r, region_buf.data(), scratch);
        px = region_buf.data();
        stride = (r.x1 - r.x0) * 3;
      }
      float* dst = out_base + i * 3 * plane;
      float* d0 = dst;
      float* d1 = dst + plane;
      float* d2 = dst + 2 * plane;
      const float *l0 = lut[0].data(), *l1 = lut[1].data(), *l2 = lut[2].data();
      // Output columns [xa, xb) come from the image; the rest (and rows outside it) are padding.
      const int64_t xa = r.x0 - left, xb = r.x1 - left;
      for (int64_t y = 0; y < oh; ++y) {
        const int64_t sy = y + top, o = y * ow;
        const bool pad_row = sy < r.y0 || sy >= r.y1;
        const int64_t a = pad_row ? ow : xa, e = pad_row ? ow : xb;
        std::fill_n(d0 + o, a, l0[0]);
        std::fill_n(d1 + o, a, l1[0]);
        std::fill_n(d2 + o, a, l2[0]);
        if (!pad_row) {
          const uint8_t* p = px + (sy - r.y0) * stride;
          for (int64_t x = a; x < e; ++x, p += 3) {
            d0[o + x] = l0[p[0]];
            d1[o + x] = l1[p[1]];
            d2[o + x] = l2[p[2]];
          }
          std::fill_n(d0 + o + e, ow - e, l0[0]);
          std::fill_n(d1 + o + e, ow - e, l1[0]);
          std::fill_n(d2 + o + e, ow - e, l2[0]);
        }
      }
    }
  });
}

}  // namespace

at::Tensor preprocess_videos(const std::vector<std::vector<FrameView>>& videos, const ImageProcessorConfig& config) {
  const auto shape = detail::checked_output_shape(videos, config);
  at::Tensor out = at::empty(shape, at::kFloat);
  write_pixel_values(videos, config, shape, out.data_ptr<float>());
  return out;
}

at::Tensor preprocess_videos_into(const std::vector<std::vector<FrameView>>& videos, const ImageProcessorConfig& config,
                                  float* out, int64_t capacity) {
  const auto shape = detail::checked_output_shape(videos, config);
  detail::check_destination(shape, out, capacity);
  write_pixel_values(videos, config, shape, out);
  return at::from_blob(out, shape, at::kFloat);
}

std::optional<std::array<int64_t, 2>> fixed_output_frame_size(const ImageProcessorConfig& config) {
  if (config.do_center_crop) return std::array<int64_t, 2>{config.crop_height, config.crop_width};
  if (config.do_resize && config.shortest_edge <= 0) return std::array<int64_t, 2>{config.size_height, config.size_width};
  return std::nullopt;
}

namespace {

// Validates a [T, H, W, 3] uint8 tensor and returns a contiguous CPU copy (or the tensor itself).
at::Tensor checked_video_tensor(const at::Tensor& v, size_t index) {
  detail::check_video_tensor(v, index);
  return v.device().is_cpu() ? v.contiguous() : v.to(at::kCPU).contiguous();
}

}  // namespace

void detail::check_video_tensor(const at::Tensor& v, size_t index) {
  const std::string where = "video " + std::to_string(index);
  if (!v.defined()) fail_input(where + " is an undefined tensor");
  if (v.scalar_type() != at::kByte)
    fail_input(where + " must be a uint8 tensor but is " + std::string(c10::toString(v.scalar_type())));
  if (v.dim() != 4 || v.size(3) != 3) {
    std::ostringstream os;
    os << where << " must have shape [T, H, W, 3] (RGB24 frames) but has " << v.sizes();
    fail_input(os.str());
  }
  if (v.size(0) == 0) fail_input(where + " has no frames");
}

at::Tensor preprocess_videos(const std::vector<at::Tensor>& videos, const ImageProcessorConfig& config) {
  std::vector<at::Tensor> keep;
  keep.reserve(videos.size());
  std::vector<std::vector<FrameView>> views(videos.size());
  for (size_t b = 0; b < videos.size(); ++b) {
    keep.push_back(checked_video_tensor(videos[b], b));
    const at::Tensor& v = keep.back();
    const int64_t h = v.size(1), w = v.size(2);
    const uint8_t* base = v.data_ptr<uint8_t>();
    for (int64_t t = 0; t < v.size(0); ++t) views[b].push_back(FrameView{base + t * h * w * 3, w, h, h * w * 3});
  }
  return preprocess_videos(views, config);
}

at::Tensor preprocess_videos(const at::Tensor& videos, const ImageProcessorConfig& config) {
  if (!videos.defined()) fail_input("videos is an undefined tensor");
  if (videos.dim() == 4) return preprocess_videos(std::vector<at::Tensor>{videos}, config);
  if (videos.dim() != 5) {
    std::ostringstream os;
    os << "videos must have shape [T, H, W, 3] or [B, T, H, W, 3] but has " << videos.sizes();
    fail_input(os.str());
  }
  if (videos.size(0) == 0) fail_input("no videos to preprocess");
  std::vector<at::Tensor> list;
  for (int64_t b = 0; b < videos.size(0); ++b) list.push_back(videos[b]);
  return preprocess_videos(list, config);
}


// ---- Pillow's resampling tables (pillow_resample.h) --------------------------------------------------

namespace pillow {
namespace {

double bilinear_filter(double x) {
  if (x < 0.0) x = -x;
  if (x < 1.0) return 1.0 - x;
  return 0.0;
}

double bicubic_filter(double x) {
  const double a = -0.5;
  if (x < 0.0) x = -x;
  if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
  if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
  return 0.0;
}

}  // namespace

Coeffs precompute_coeffs(int in_size, int out_size, Resample resample) {
  double (*filter)(double) = resample == Resample::kBicubic ? bicubic_filter : bilinear_filter;
  const double filter_support = resample == Resample::kBicubic ? 2.0 : 1.0;
  const float in0 = 0.0f, in1 = static_cast<float>(in_size);
  double scale = static_cast<double>(in1 - in0) / out_size;
  double filterscale = scale < 1.0 ? 1.0 : scale;
  double support = filter_support * filterscale;
  Coeffs c;
  c.ksize = static_cast<int>(std::ceil(support)) * 2 + 1;
  c.bounds.resize(static_cast<size_t>(out_size) * 2);
  c.kk.assign(static_cast<size_t>(out_size) * static_cast<size_t>(c.ksize), 0);
  std::vector<double> k(static_cast<size_t>(c.ksize));
  for (int xx = 0; xx < out_size; ++xx) {
    double center = in0 + (xx + 0.5) * scale;
    double ww = 0.0;
    double ss = 1.0 / filterscale;
    int xmin = static_cast<int>(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    int xmax = static_cast<int>(center + support + 0.5);
    if (xmax > in_size) xmax = in_size;
    xmax -= xmin;
    for (int x = 0; x < xmax; ++x) {
      double w = filter((x + xmin - center + 0.5) * ss);
      k[static_cast<size_t>(x)] = w;
      ww += w;
    }
    int32_t* out = &c.kk[static_cast<size_t>(xx) * static_cast<size_t>(c.ksize)];
    for (int x = 0; x < xmax; ++x) {
      double v = k[static_cast<size_t>(x)];
      if (ww != 0.0) v /= ww;
      out[x] = v < 0 ? static_cast<int32_t>(-0.5 + v * (1 << kPrecisionBits)) : static_cast<int32_t>(0.5 + v * (1 << kPrecisionBits));
    }
    c.bounds[static_cast<size_t>(xx) * 2] = xmin;
    c.bounds[static_cast<size_t>(xx) * 2 + 1] = xmax;
  }
  return c;
}

std::vector<int> nearest_indices(int64_t in_size, int64_t out_size) {
  // Positions accumulate in double from the first pixel, as Pillow does.
  const double a = static_cast<double>(static_cast<float>(in_size) - 0.0f) / static_cast<double>(out_size);
  std::vector<int> idx(static_cast<size_t>(out_size), -1);
  double pos = 0.0 + a * 0.5;
  for (int64_t i = 0; i < out_size; ++i) {
    const int v = pos < 0.0 ? -1 : static_cast<int>(pos);
    if (v >= 0 && v < in_size) idx[static_cast<size_t>(i)] = v;
    pos += a;
  }
  return idx;
}

std::array<std::array<float, 256>, 3> value_table(const ImageProcessorConfig& config) {
  std::array<std::array<float, 256>, 3> lut{};
  for (int c = 0; c < 3; ++c) {
    const float mean = static_cast<float>(config.image_mean[static_cast<size_t>(c)]);
    const float std_ = static_cast<float>(config.image_std[static_cast<size_t>(c)]);
    for (int u = 0; u < 256; ++u) {
      float v = config.do_rescale ? static_cast<float>(static_cast<double>(u) * config.rescale_factor) : static_cast<float>(u);
      if (config.do_normalize) v = (v - mean) / std_;
      lut[static_cast<size_t>(c)][static_cast<size_t>(u)] = v;
    }
  }
  return lut;
}

}  // namespace pillow

}  // namespace xclip
