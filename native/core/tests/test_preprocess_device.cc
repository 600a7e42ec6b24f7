// preprocess_videos_on (libtorch ops, any device) against preprocess_videos (the Pillow-exact CPU loops):
// run on the CPU device, the two must agree bit for bit, so the device path is proven before a GPU runs it;
// where a CUDA device is visible the same comparisons run there too.
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "testing.h"
#include "xclip/preprocess.h"
#include "xclip/weights.h"

using namespace xclip;
using json = nlohmann::json;

namespace {

// Both paths on the same input, the device path on the CPU and, where this libtorch sees a GPU, on cuda:0 as well;
// returns false (and says where) when they differ anywhere.
bool same_on_cpu(const std::vector<at::Tensor>& videos, const ImageProcessorConfig& c, const std::string& what) {
  const at::Tensor want = preprocess_videos(videos, c);
  std::vector<at::Device> devices = {at::kCPU};
  if (at::hasCUDA()) devices.emplace_back(at::kCUDA, 0);
  bool all = true;
  for (const at::Device& d : devices) {
    const at::Tensor got = preprocess_videos_on(videos, c, d).to(at::kCPU);
    const bool same = got.sizes() == want.sizes() && got.scalar_type() == at::kFloat && at::equal(got, want);
    if (!same) std::printf("    %s on %s: %s vs %s, max |diff| %.3g\n", what.c_str(), d.str().c_str(), c10::str(got.sizes()).c_str(),
                           c10::str(want.sizes()).c_str(), got.sizes() == want.sizes() ? testing::max_abs_diff(got, want) : -1.0);
    all = all && same;
  }
  return all;
}

// Configurations the fixtures' processor cases do not cover: every filter, odd sizes, no crop, a crop larger
// than the resized frame, no resize, upscaling.
std::vector<std::pair<std::string, ImageProcessorConfig>> extra_configs() {
  std::vector<std::pair<std::string, ImageProcessorConfig>> out;
  for (Resample r : {Resample::kNearest, Resample::kBilinear, Resample::kBicubic}) {
    const std::string f = r == Resample::kNearest ? "nearest" : r == Resample::kBilinear ? "bilinear" : "bicubic";
    ImageProcessorConfig odd;  // odd shortest edge and crop, crop wider than the resized frame of a portrait video
    odd.resample = r;
    odd.shortest_edge = 75;
    odd.crop_height = 61;
    odd.crop_width = 97;
    odd.image_mean = {0.485, 0.456, 0.406};
    odd.image_std = {0.229, 0.224, 0.225};
    out.emplace_back(f + " edge 75 crop 61x97", odd);
    ImageProcessorConfig fixed = odd;  // both passes, no crop
    fixed.shortest_edge = 0;
    fixed.size_height = 37;
    fixed.size_width = 53;
    fixed.do_center_crop = false;
    out.emplace_back(f + " 37x53 no crop", fixed);
    ImageProcessorConfig up = odd;  // upscaling: support at the filter's own width
    up.shortest_edge = 301;
    up.crop_height = 299;
    up.crop_width = 257;
    up.do_normalize = false;
    out.emplace_back(f + " up to edge 301 crop 299x257", up);
  }
  ImageProcessorConfig no_resize;  // crop (and pad) only; zero padding maps to -mean/std
  no_resize.do_resize = false;
  no_resize.crop_height = 131;
  no_resize.crop_width = 400;
  no_resize.rescale_factor = 0.0123;
  out.emplace_back("no resize crop 131x400", no_resize);
  return out;
}

}  // namespace

// Every decodable video fixture (frames as PyAV decoded them) under every processor fixture's config and
// the extra ones above.
TEST(preprocess_device_equals_cpu_on_every_fixture_video) {
  json files = json::parse(testing::read_text(testing::fixture("videos/videos.json"))).at("files");
  json cases = json::parse(testing::read_text(testing::fixture("processor/cases.json")));
  auto configs = extra_configs();
  for (const auto& [name, c] : cases.items())
    configs.emplace_back(name, parse_preprocessor_config(c.at("processor_kwargs").dump(), name));
  size_t n = 0;
  for (const auto& [file, info] : files.items()) {
    const std::string expected = testing::fixtures_dir() + "/videos/" + file + ".expected.safetensors";
    if (!std::filesystem::exists(expected)) continue;  // broken or audio-only: nothing decoded to compare
    const at::Tensor frames = load_safetensors(expected).at("frames_rgb");
    for (const auto& [what, config] : configs) EXPECT_TRUE(same_on_cpu({frames}, config, file + ", " + what));
    ++n;
  }
  EXPECT_EQ(n, static_cast<size_t>(8));
}

// Every processor fixture with its own inputs (several videos per batch, odd sizes such as 97x131).
TEST(preprocess_device_equals_cpu_on_processor_fixtures) {
  json cases = json::parse(testing::read_text(testing::fixture("processor/cases.json")));
  size_t n = 0;
  for (const auto& [name, c] : cases.items()) {
    const ImageProcessorConfig config = parse_preprocessor_config(c.at("processor_kwargs").dump(), name);
    TensorMap t = load_safetensors(testing::fixture("processor/" + name + ".safetensors"));
    std::vector<at::Tensor> videos;
    for (int k = 0; t.count("input.video" + std::to_string(k)); ++k) videos.push_back(t.at("input.video" + std::to_string(k)));
    EXPECT_TRUE(same_on_cpu(videos, config, name));
    for (const auto& [what, extra] : extra_configs()) EXPECT_TRUE(same_on_cpu(videos, extra, name + ", " + what));
    ++n;
  }
  EXPECT_EQ(n, static_cast<size_t>(7));
}

// Random frames of odd sizes, several per batch with different sizes, non-contiguous input, 1-pixel sides.
TEST(preprocess_device_equals_cpu_on_odd_sizes) {
  at::manual_seed(20);
  const std::vector<std::array<int64_t, 2>> sizes = {{1, 1}, {1, 37}, {29, 1}, {17, 23}, {224, 224}, {97, 131}, {241, 119}};
  for (const auto& [what, config] : extra_configs()) {
    if (!config.do_center_crop) continue;  // frames of different sizes only batch with a crop
    std::vector<at::Tensor> videos;
    for (const auto& hw : sizes) videos.push_back(at::randint(0, 256, {3, hw[0], hw[1], 3}, at::kByte));
    EXPECT_TRUE(same_on_cpu(videos, config, what + ", mixed sizes"));
  }
  ImageProcessorConfig xclip;  // the default (bilinear 224) on a transposed, non-contiguous video
  const at::Tensor v = at::randint(0, 256, {2, 301, 203, 3}, at::kByte).transpose(1, 2);
  EXPECT_TRUE(same_on_cpu({v}, xclip, "non-contiguous 203x301"));
  // Extremes: all 0 and all 255 frames, where bicubic's negative lobes clip.
  at::Tensor edges = at::zeros({1, 40, 60, 3}, at::kByte);
  edges.slice(2, 0, 30).fill_(255);
  ImageProcessorConfig bicubic;
  bicubic.resample = Resample::kBicubic;
  bicubic.shortest_edge = 13;
  bicubic.crop_height = bicubic.crop_width = 13;
  EXPECT_TRUE(same_on_cpu({edges}, bicubic, "bicubic clipping"));
}

TEST(preprocess_device_checks_like_cpu) {
  ImageProcessorConfig c;
  EXPECT_ERROR(preprocess_videos_on(std::vector<at::Tensor>{}, c, at::kCPU), ErrorCode::kInvalidInput, "no videos");
  EXPECT_ERROR(preprocess_videos_on({at::zeros({2, 8, 10, 3}, at::kFloat)}, c, at::kCPU), ErrorCode::kInvalidInput, "uint8");
  EXPECT_ERROR(preprocess_videos_on({at::zeros({2, 8, 10, 4}, at::kByte)}, c, at::kCPU), ErrorCode::kInvalidInput, "[T, H, W, 3]");
  EXPECT_ERROR(preprocess_videos_on({at::zeros({2, 8, 10, 3}, at::kByte), at::zeros({3, 8, 10, 3}, at::kByte)}, c, at::kCPU),
               ErrorCode::kInvalidInput, "same number of frames");
  EXPECT_ERROR(preprocess_videos_on({at::zeros({1, 0, 10, 3}, at::kByte)}, c, at::kCPU), ErrorCode::kInvalidInput, "zero size");
  c.do_center_crop = false;
  EXPECT_ERROR(preprocess_videos_on({at::zeros({1, 8, 10, 3}, at::kByte), at::zeros({1, 10, 8, 3}, at::kByte)}, c, at::kCPU),
               ErrorCode::kInvalidInput, "different sizes");
}

// From frames in host memory (what the addon passes): same values; frames of one video must share a size.
TEST(preprocess_device_from_frame_views) {
  const at::Tensor v = at::randint(0, 256, {3, 45, 67, 3}, at::kByte);
  std::vector<FrameView> frames;
  for (int64_t t = 0; t < 3; ++t) frames.push_back({v[t].data_ptr<uint8_t>(), 67, 45, 45 * 67 * 3});
  ImageProcessorConfig c;
  c.resample = Resample::kBicubic;
  EXPECT_TRUE(at::equal(preprocess_videos_on({frames}, c, at::kCPU), preprocess_videos({v}, c)));
  const at::Tensor other = at::randint(0, 256, {50, 67, 3}, at::kByte);
  frames[2] = {other.data_ptr<uint8_t>(), 67, 50, 50 * 67 * 3};
  EXPECT_ERROR(preprocess_videos_on({frames}, c, at::kCPU), ErrorCode::kInvalidInput, "video 0 frame 2 is 67x50", "one frame size per video");
  frames[2].length = 7;
  EXPECT_ERROR(preprocess_videos_on({frames}, c, at::kCPU), ErrorCode::kInvalidInput, "7 bytes");
}
