// Thumbnails: the frame on screen at a time (ReadOptions::times), encoded as JPEG by libavcodec's mjpeg encoder.
// The JPEG is decoded back with our own decoder and compared with the fixtures' PyAV frames.
#include <iostream>
#include <nlohmann/json.hpp>

#include "testing.h"
#include "xclip/video.h"
#include "xclip/weights.h"

using namespace xclip;

namespace {

std::string video(const std::string& name) { return testing::fixture("videos/" + name); }

// Mean absolute difference in uint8 levels between two [H, W, 3] images.
double mean_abs_levels(const at::Tensor& a, const at::Tensor& b) {
  return (a.to(at::kDouble) - b.to(at::kDouble)).abs().mean().item<double>();
}

at::Tensor decode_jpeg(const std::vector<uint8_t>& jpeg) {
  ReadOptions o;
  o.sampling = Sampling::kIndices;
  o.indices = {0};
  return read_video(VideoSource::from_buffer(jpeg.data(), jpeg.size()), o).frames[0];
}

}  // namespace

TEST(video_frames_at_times_pick_the_frame_on_screen) {
  // VFR: 10 frames at 25 fps, then 20 at 10 fps; pts from the fixture's PyAV decode.
  auto meta = nlohmann::json::parse(testing::read_text(testing::fixture("videos/videos.json")));
  std::vector<double> pts = meta["files"]["vfr_h264_192x108.mp4"]["frame_pts_s"].get<std::vector<double>>();
  ReadOptions o;
  o.sampling = Sampling::kAtTimes;
  o.times = {-1.0, 0.0, 0.039, 0.04, 0.41, 0.48, 1.0, 100.0};
  DecodedVideo v = read_video(VideoSource::from_path(video("vfr_h264_192x108.mp4")), o);
  for (size_t i = 0; i < o.times.size(); ++i) {
    int64_t want = 0;
    for (size_t k = 0; k < pts.size(); ++k)
      if (pts[k] <= o.times[i] + 1e-9) want = static_cast<int64_t>(k);
    EXPECT_EQ(v.indices[i], want);
    EXPECT_TRUE(std::abs(v.timestamps[i] - pts[want]) < 1e-6);
  }
  EXPECT_EQ(v.indices.back(), static_cast<int64_t>(pts.size()) - 1);
}

TEST(video_thumbnail_is_the_frame_as_jpeg) {
  // h264 320x240 at 30 fps: 1.1 s is frame 33, one of the fixture's sampled frames (position 4 of 8).
  TensorMap exp = load_safetensors(video("h264_320x240_30fps.mp4.expected.safetensors"));
  at::Tensor want = exp.at("frames_rgb")[4];
  EXPECT_EQ(exp.at("sampled_indices")[4].item<int64_t>(), 33);
  ThumbnailOptions o;
  o.seconds = 1.1;
  o.max_width = 320;
  o.quality = 2;
  Thumbnail t = video_thumbnail(VideoSource::from_path(video("h264_320x240_30fps.mp4")), o);
  EXPECT_EQ(t.frame_index, 33);
  EXPECT_EQ(t.width, 320);
  EXPECT_EQ(t.height, 240);
  EXPECT_TRUE(t.jpeg.size() > 1000);
  EXPECT_TRUE(t.jpeg[0] == 0xFF && t.jpeg[1] == 0xD8);  // SOI ... EOI: one whole JPEG file
  EXPECT_TRUE(t.jpeg[t.jpeg.size() - 2] == 0xFF && t.jpeg.back() == 0xD9);
  at::Tensor back = decode_jpeg(t.jpeg);
  EXPECT_TRUE(back.sizes() == want.sizes());
  const double full = mean_abs_levels(back, want);
  // Another frame of the same clip is much further away: the thumbnail shows the frame asked for.
  const double other = mean_abs_levels(back, exp.at("frames_rgb")[0]);
  std::cout << "    320x240 q2: " << t.jpeg.size() << " bytes, mean |jpeg - frame| " << full << " levels (frame 3: " << other << ")\n";
  EXPECT_TRUE(full < 3.0);
  EXPECT_TRUE(other > 2 * full);

  // Scaled to 160 wide: compared with the frame averaged over 2x2 blocks.
  o.max_width = 160;
  o.quality = 2;
  Thumbnail small = video_thumbnail(VideoSource::from_path(video("h264_320x240_30fps.mp4")), o);
  EXPECT_EQ(small.width, 160);
  EXPECT_EQ(small.height, 120);
  EXPECT_TRUE(small.jpeg.size() < t.jpeg.size());
  at::Tensor pooled = at::avg_pool2d(want.permute({2, 0, 1}).unsqueeze(0).to(at::kFloat), {2, 2})[0].permute({1, 2, 0});
  const double scaled = mean_abs_levels(decode_jpeg(small.jpeg), pooled);
  at::Tensor pooled0 = at::avg_pool2d(exp.at("frames_rgb")[0].permute({2, 0, 1}).unsqueeze(0).to(at::kFloat), {2, 2})[0].permute({1, 2, 0});
  const double scaled_other = mean_abs_levels(decode_jpeg(small.jpeg), pooled0);
  std::cout << "    160x120 q2: " << small.jpeg.size() << " bytes, mean |jpeg - pooled frame| " << scaled << " levels (frame 3: "
            << scaled_other << ")\n";
  EXPECT_TRUE(scaled < 6.5);  // JPEG at 4:2:0 on testsrc2's fine detail, plus area vs 2x2 averaging
  EXPECT_TRUE(scaled_other > 2 * scaled);
}

TEST(video_thumbnail_upright_and_from_memory) {
  // Stored 320x180 with a 90 degree display matrix: shown (and thumbnailed) 180 wide, 320 high.
  ThumbnailOptions o;
  o.seconds = 0.5;
  Thumbnail t = video_thumbnail(VideoSource::from_path(video("rotated90_h264_320x180.mp4")), o);
  EXPECT_EQ(t.width, 180);
  EXPECT_EQ(t.height, 320);
  EXPECT_EQ(t.frame_index, 10);
  std::string bytes = testing::read_text(video("rotated90_h264_320x180.mp4"));
  Thumbnail m = video_thumbnail(VideoSource::from_buffer(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()), o);
  EXPECT_TRUE(m.jpeg == t.jpeg);  // deterministic: same frame, same bytes
}

TEST(video_thumbnail_rejects_bad_input) {
  ThumbnailOptions o;
  o.seconds = -1;
  EXPECT_ERROR(video_thumbnail(VideoSource::from_path(video("h264_320x240_30fps.mp4")), o), ErrorCode::kInvalidInput, "seconds");
  o.seconds = 0;
  o.max_width = 8;
  EXPECT_ERROR(video_thumbnail(VideoSource::from_path(video("h264_320x240_30fps.mp4")), o), ErrorCode::kInvalidInput, "max_width");
  o.max_width = 320;
  o.quality = 1;
  EXPECT_ERROR(video_thumbnail(VideoSource::from_path(video("h264_320x240_30fps.mp4")), o), ErrorCode::kInvalidInput, "quality");
  o.quality = 5;
  EXPECT_ERROR(video_thumbnail(VideoSource::from_path(video("audio_only.mp4")), o), ErrorCode::kVideoNoStream);
  EXPECT_ERROR(video_thumbnail(VideoSource::from_path(video("broken_empty.mp4")), o), ErrorCode::kVideoOpen);
  EXPECT_ERROR(video_thumbnail(VideoSource::from_path(testing::temp_dir() + "/missing.mp4"), o), ErrorCode::kFileNotFound);
  EXPECT_ERROR(encode_jpeg(at::zeros({4, 4}, at::kByte), 320, 5), ErrorCode::kInvalidInput, "uint8 [H, W, 3]");
  // Still usable afterwards, and a tiny image stays whole (never enlarged, sizes kept even).
  int w = 0, h = 0;
  std::vector<uint8_t> tiny = encode_jpeg(at::full({7, 5, 3}, 200, at::kByte), 320, 5, &w, &h);
  EXPECT_EQ(w, 4);
  EXPECT_EQ(h, 6);
  EXPECT_TRUE(tiny[0] == 0xFF && tiny[1] == 0xD8);
}
