#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "testing.h"
#include "xclip/preprocess.h"
#include "xclip/weights.h"

using namespace xclip;
using json = nlohmann::json;

namespace {

json load_json(const std::string& path) { return json::parse(testing::read_text(path)); }

const ImageProcessorConfig kXclip = [] {
  ImageProcessorConfig c;
  c.image_mean = {0.485, 0.456, 0.406};
  c.image_std = {0.229, 0.224, 0.225};
  return c;
}();

}  // namespace

// Every processor/ case: config parsed from the case's HF kwargs, frames from input.video<k>.
TEST(preprocess_matches_videomae_image_processor_fixtures) {
  json cases = load_json(testing::fixture("processor/cases.json"));
  size_t n = 0;
  for (const auto& [name, c] : cases.items()) {
    ImageProcessorConfig cfg = parse_preprocessor_config(c.at("processor_kwargs").dump(), name);
    TensorMap t = load_safetensors(testing::fixture("processor/" + name + ".safetensors"));
    std::vector<at::Tensor> videos;
    for (int k = 0; t.count("input.video" + std::to_string(k)); ++k) videos.push_back(t.at("input.video" + std::to_string(k)));
    EXPECT_TRUE(!videos.empty());
    at::Tensor got = preprocess_videos(videos, cfg);
    const at::Tensor& want = t.at("pixel_values");
    EXPECT_EQ(got.scalar_type(), at::kFloat);
    double diff = testing::max_abs_diff(got, want);
    std::printf("    %-24s %s max |diff| %.3g\n", name.c_str(), c10::str(got.sizes()).c_str(), diff);
    EXPECT_CLOSE(got, want, 1e-5, 0.0, name + " pixel_values");

    // The FrameView path gives the same tensor bit for bit.
    std::vector<std::vector<FrameView>> views;
    for (const auto& v : videos) {
      at::Tensor vc = v.contiguous();
      std::vector<FrameView> frames;
      for (int64_t i = 0; i < vc.size(0); ++i)
        frames.push_back({vc[i].data_ptr<uint8_t>(), vc.size(2), vc.size(1), vc.size(1) * vc.size(2) * 3});
      views.push_back(frames);
    }
    EXPECT_TRUE(at::equal(preprocess_videos(views, cfg), got));
    ++n;
  }
  EXPECT_EQ(n, static_cast<size_t>(7));
}

// Real decoded frames (PyAV rgb24) of the videos/ fixtures; expected values are stored as float16.
TEST(preprocess_matches_video_fixture_pixel_values_f16) {
  size_t n = 0;
  for (const char* file : {"h264_320x240_30fps.mp4", "vp9_176x144_25fps.webm", "mpeg4_160x120_24fps.avi",
                           "mjpeg_144x256_portrait.mov", "vfr_h264_192x108.mp4", "short_5frames.mp4", "one_frame.mp4",
                           "rotated90_h264_320x180.mp4"}) {
    TensorMap t = load_safetensors(testing::fixture(std::string("videos/") + file + ".expected.safetensors"));
    at::Tensor got = preprocess_videos(t.at("frames_rgb"), kXclip);
    at::Tensor want = t.at("pixel_values_f16").to(at::kFloat);
    // f16 storage: half an ulp at |x| <= 2.7 is <= 1e-3; a one-level resize error would be ~0.017.
    EXPECT_CLOSE(got, want, 2e-3, 0.0, std::string(file) + " pixel_values");
    ++n;
  }
  EXPECT_EQ(n, static_cast<size_t>(8));
}

TEST(preprocess_parses_legacy_e2e_config_to_xclip_settings) {
  ImageProcessorConfig c = load_preprocessor_config(testing::fixture("e2e/xclip-e2e-a/preprocessor_config.json"));
  EXPECT_TRUE(c.do_resize && c.do_center_crop && c.do_rescale && c.do_normalize);
  EXPECT_EQ(c.shortest_edge, 224);
  EXPECT_EQ(c.crop_height, 224);
  EXPECT_EQ(c.crop_width, 224);
  EXPECT_TRUE(c.resample == Resample::kBilinear);
  EXPECT_TRUE(c.rescale_factor == 1.0 / 255.0);
  EXPECT_TRUE(c.image_mean == (std::array<double, 3>{0.485, 0.456, 0.406}));
  EXPECT_TRUE(c.image_std == (std::array<double, 3>{0.229, 0.224, 0.225}));
}

TEST(preprocess_config_forms_and_defaults) {
  ImageProcessorConfig d = parse_preprocessor_config("{}");
  EXPECT_EQ(d.shortest_edge, 224);
  EXPECT_TRUE(d.image_mean == (std::array<double, 3>{0.5, 0.5, 0.5}));  // IMAGENET_STANDARD, not DEFAULT
  ImageProcessorConfig a = parse_preprocessor_config(R"({"size": {"height": 100, "width": 50}, "crop_size": 32,
      "resample": 0, "image_mean": 0.25, "rescale_factor": 1, "do_normalize": null, "image_processor_type": "x"})");
  EXPECT_EQ(a.shortest_edge, 0);
  EXPECT_EQ(a.size_height, 100);
  EXPECT_EQ(a.size_width, 50);
  EXPECT_EQ(a.crop_height, 32);
  EXPECT_EQ(a.crop_width, 32);
  EXPECT_TRUE(a.resample == Resample::kNearest);
  EXPECT_TRUE(a.image_mean == (std::array<double, 3>{0.25, 0.25, 0.25}));
  EXPECT_TRUE(a.rescale_factor == 1.0);
  EXPECT_TRUE(!a.do_normalize);
  ImageProcessorConfig l = parse_preprocessor_config(R"({"size": [30, 40], "crop_size": [20, 10]})");
  EXPECT_EQ(l.size_height, 30);
  EXPECT_EQ(l.size_width, 40);
  EXPECT_EQ(l.crop_height, 20);
  EXPECT_EQ(l.crop_width, 10);
  ImageProcessorConfig se = parse_preprocessor_config(R"({"size": {"shortest_edge": 64, "longest_edge": 999}})");
  EXPECT_EQ(se.shortest_edge, 64);

  // HF's output-size rule: short side -> shortest_edge, long side truncated.
  EXPECT_TRUE(resize_output_size(240, 320, kXclip) == (std::array<int64_t, 2>{224, 298}));
  EXPECT_TRUE(resize_output_size(131, 97, kXclip) == (std::array<int64_t, 2>{302, 224}));
  EXPECT_TRUE(resize_output_size(301, 300, kXclip) == (std::array<int64_t, 2>{224, 224}));
  EXPECT_TRUE(resize_output_size(360, 640, kXclip) == (std::array<int64_t, 2>{224, 398}));
}

TEST(preprocess_config_errors_name_the_key) {
  EXPECT_ERROR(parse_preprocessor_config("{"), ErrorCode::kConfigInvalid, "malformed JSON");
  EXPECT_ERROR(parse_preprocessor_config("[]"), ErrorCode::kConfigInvalid, "object");
  EXPECT_ERROR(parse_preprocessor_config(R"({"resample": 1})"), ErrorCode::kConfigInvalid, "resample", "LANCZOS");
  EXPECT_ERROR(parse_preprocessor_config(R"({"resample": 7})"), ErrorCode::kConfigInvalid, "resample");
  EXPECT_ERROR(parse_preprocessor_config(R"({"resample": "bilinear"})"), ErrorCode::kConfigInvalid, "resample");
  EXPECT_ERROR(parse_preprocessor_config(R"({"do_resize": "yes"})"), ErrorCode::kConfigInvalid, "do_resize");
  EXPECT_ERROR(parse_preprocessor_config(R"({"size": "224"})"), ErrorCode::kConfigInvalid, "size");
  EXPECT_ERROR(parse_preprocessor_config(R"({"size": 224.5})"), ErrorCode::kConfigInvalid, "size");
  EXPECT_ERROR(parse_preprocessor_config(R"({"size": 0})"), ErrorCode::kConfigInvalid, "size");
  EXPECT_ERROR(parse_preprocessor_config(R"({"size": {"height": 5}})"), ErrorCode::kConfigInvalid, "size");
  EXPECT_ERROR(parse_preprocessor_config(R"({"size": {"longest_edge": 5}})"), ErrorCode::kConfigInvalid, "size", "shortest_edge");
  EXPECT_ERROR(parse_preprocessor_config(R"({"size": {"shortest_edge": "a"}})"), ErrorCode::kConfigInvalid, "size.shortest_edge");
  EXPECT_ERROR(parse_preprocessor_config(R"({"crop_size": {"shortest_edge": 5}})"), ErrorCode::kConfigInvalid, "crop_size");
  EXPECT_ERROR(parse_preprocessor_config(R"({"crop_size": {"height": -5, "width": 5}})"), ErrorCode::kConfigInvalid, "crop_size.height");
  EXPECT_ERROR(parse_preprocessor_config(R"({"rescale_factor": "1/255"})"), ErrorCode::kConfigInvalid, "rescale_factor");
  EXPECT_ERROR(parse_preprocessor_config(R"({"image_mean": [0.5, 0.5]})"), ErrorCode::kConfigInvalid, "image_mean");
  EXPECT_ERROR(parse_preprocessor_config(R"({"image_std": [0.5, 0, 0.5]})"), ErrorCode::kConfigInvalid, "image_std");
  EXPECT_ERROR(parse_preprocessor_config(R"({"image_std": "x"})"), ErrorCode::kConfigInvalid, "image_std");
  EXPECT_ERROR(load_preprocessor_config(testing::temp_dir() + "/none.json"), ErrorCode::kFileNotFound, "none.json");
}

TEST(preprocess_rejects_bad_input) {
  std::vector<uint8_t> px(10 * 8 * 3, 7);
  FrameView ok{px.data(), 10, 8, static_cast<int64_t>(px.size())};
  EXPECT_ERROR(preprocess_videos(std::vector<std::vector<FrameView>>{}, kXclip), ErrorCode::kInvalidInput, "no videos");
  EXPECT_ERROR(preprocess_videos(std::vector<std::vector<FrameView>>{{}}, kXclip), ErrorCode::kInvalidInput, "no frames");
  EXPECT_ERROR(preprocess_videos({{ok, ok}, {ok}}, kXclip), ErrorCode::kInvalidInput, "same number of frames");
  FrameView short_data{px.data(), 10, 9, static_cast<int64_t>(px.size())};
  EXPECT_ERROR(preprocess_videos({{ok}, {short_data}}, kXclip), ErrorCode::kInvalidInput, "video 1 frame 0", "240 bytes", "270");
  FrameView empty{px.data(), 0, 8, 0};
  EXPECT_ERROR(preprocess_videos({{empty}}, kXclip), ErrorCode::kInvalidInput, "zero size");
  FrameView null_data{nullptr, 10, 8, -1};
  EXPECT_ERROR(preprocess_videos({{null_data}}, kXclip), ErrorCode::kInvalidInput, "no data");
  EXPECT_ERROR(preprocess_videos(at::zeros({2, 8, 10, 3}, at::kFloat), kXclip), ErrorCode::kInvalidInput, "uint8");
  EXPECT_ERROR(preprocess_videos(at::zeros({2, 8, 10, 4}, at::kByte), kXclip), ErrorCode::kInvalidInput, "[T, H, W, 3]");
  EXPECT_ERROR(preprocess_videos(at::zeros({0, 8, 10, 3}, at::kByte), kXclip), ErrorCode::kInvalidInput, "no frames");
  EXPECT_ERROR(preprocess_videos(std::vector<at::Tensor>{at::zeros({2, 8, 10, 3}, at::kByte), at::zeros({3, 8, 10, 3}, at::kByte)}, kXclip),
               ErrorCode::kInvalidInput, "same number of frames");
  std::vector<uint8_t> strip(65536 * 3, 1);
  FrameView sliver{strip.data(), 65536, 1, static_cast<int64_t>(strip.size())};
  EXPECT_ERROR(preprocess_videos({{sliver}}, kXclip), ErrorCode::kInvalidInput, "65536x1", "gives a side of");
  FrameView huge{px.data(), 70000, 8, -1};
  EXPECT_ERROR(preprocess_videos({{huge}}, kXclip), ErrorCode::kInvalidInput, "too large");
  ImageProcessorConfig nocrop = kXclip;
  nocrop.do_center_crop = false;
  FrameView other{px.data(), 8, 10, static_cast<int64_t>(px.size())};
  EXPECT_ERROR(preprocess_videos({{ok, other}}, nocrop), ErrorCode::kInvalidInput, "different sizes");
}

// Pillow behaviours the fixtures do not reach: same-size resize is a copy, a crop larger than the image
// pads with zeros (which normalize to -mean/std), non-strided tensors, [B,T,H,W,3] input.
TEST(preprocess_copy_pad_and_layouts) {
  at::Tensor frames = at::randint(0, 256, {2, 6, 5, 3}, at::kByte);
  ImageProcessorConfig c;
  c.do_resize = false;
  c.crop_height = 8;
  c.crop_width = 3;
  c.do_normalize = false;
  at::Tensor out = preprocess_videos(frames, c);
  EXPECT_TRUE(out.sizes() == at::IntArrayRef({1, 2, 3, 8, 3}));
  // rows: top = (6-8)//2 = -1 -> row 0 is padding; cols: left = (5-3)//2 = 1.
  at::Tensor expect = at::zeros({2, 3, 8, 3}, at::kFloat);
  expect.narrow(2, 1, 6).copy_(frames.narrow(2, 1, 3).permute({0, 3, 1, 2}).to(at::kDouble).mul(1.0 / 255.0).to(at::kFloat));
  EXPECT_TRUE(at::equal(out[0], expect));

  // Crop larger than the image on both axes: offsets (6-9)//2 = -2 rows, (5-8)//2 = -2 cols.
  c.crop_height = 9;
  c.crop_width = 8;
  c.do_normalize = true;
  c.image_mean = {0.1, 0.2, 0.3};
  c.image_std = {0.5, 0.25, 0.125};
  at::Tensor padded = preprocess_videos(frames, c);
  for (int ch = 0; ch < 3; ++ch) {
    const float pad = (0.0f - static_cast<float>(c.image_mean[ch])) / static_cast<float>(c.image_std[ch]);
    for (int y = 0; y < 9; ++y)
      for (int x = 0; x < 8; ++x) {
        const int sy = y - 2, sx = x - 2;
        float want = pad;
        if (sy >= 0 && sy < 6 && sx >= 0 && sx < 5) {
          const auto u = frames[1][sy][sx][ch].item<uint8_t>();
          want = (static_cast<float>(u * (1.0 / 255.0)) - static_cast<float>(c.image_mean[ch])) / static_cast<float>(c.image_std[ch]);
        }
        EXPECT_EQ(padded[0][1][ch][y][x].item<float>(), want);
      }
  }

  ImageProcessorConfig same;  // 224x224 input with shortest_edge 224: PIL copies, nothing is resampled
  at::Tensor sq = at::randint(0, 256, {1, 224, 224, 3}, at::kByte);
  same.do_normalize = false;
  at::Tensor o2 = preprocess_videos(sq, same);
  EXPECT_TRUE(at::equal(o2[0][0], sq[0].permute({2, 0, 1}).to(at::kDouble).mul(1.0 / 255.0).to(at::kFloat)));

  at::Tensor batch = at::randint(0, 256, {2, 3, 40, 50, 3}, at::kByte);
  ImageProcessorConfig small;
  small.shortest_edge = 20;
  small.crop_height = small.crop_width = 16;
  at::Tensor ob = preprocess_videos(batch, small);
  EXPECT_TRUE(ob.sizes() == at::IntArrayRef({2, 3, 3, 16, 16}));
  at::Tensor strided = batch[1].permute({0, 2, 1, 3}).contiguous().permute({0, 2, 1, 3});  // same values, other strides
  EXPECT_TRUE(at::equal(preprocess_videos(strided, small)[0], ob[1]));
}

// pil_resize_rgb over the whole image equals the region path used by preprocess (checked via no-crop mode).
TEST(preprocess_pil_resize_full_image) {
  at::Tensor f = at::randint(0, 256, {37, 53, 3}, at::kByte);
  for (Resample r : {Resample::kNearest, Resample::kBilinear, Resample::kBicubic}) {
    std::vector<uint8_t> dst(20 * 31 * 3);
    pil_resize_rgb(f.data_ptr<uint8_t>(), 53, 37, dst.data(), 31, 20, r);
    ImageProcessorConfig c;
    c.shortest_edge = 0;
    c.size_height = 20;
    c.size_width = 31;
    c.resample = r;
    c.do_center_crop = false;
    c.do_rescale = c.do_normalize = false;
    at::Tensor o = preprocess_videos(f.unsqueeze(0), c)[0][0];
    at::Tensor want = at::from_blob(dst.data(), {20, 31, 3}, at::kByte).permute({2, 0, 1}).to(at::kFloat);
    EXPECT_TRUE(at::equal(o, want));
    // Upscaling works as well (support stays at the filter's own width).
    std::vector<uint8_t> up(80 * 90 * 3);
    pil_resize_rgb(f.data_ptr<uint8_t>(), 53, 37, up.data(), 90, 80, r);
  }
  // A uniform image stays uniform through every filter (weights are normalized).
  at::Tensor flat = at::full({17, 23, 3}, 200, at::kByte);
  std::vector<uint8_t> out(9 * 11 * 3);
  pil_resize_rgb(flat.data_ptr<uint8_t>(), 23, 17, out.data(), 11, 9, Resample::kBicubic);
  for (uint8_t v : out) EXPECT_EQ(static_cast<int>(v), 200);
}
