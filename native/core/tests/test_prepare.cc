// prepare_video against its definition: read_video then preprocess_videos, bit for bit, for every fixture video.
#include <dirent.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "testing.h"
#include "xclip/prepare.h"

using namespace xclip;

namespace {

const ImageProcessorConfig kXclip = [] {
  ImageProcessorConfig c;
  c.image_mean = {0.485, 0.456, 0.406};
  c.image_std = {0.229, 0.224, 0.225};
  return c;
}();

// Every file in videos/ and videos-external/ that read_video decodes (the broken ones are checked below).
std::vector<std::string> decodable_videos() {
  std::vector<std::string> out;
  for (const char* dir : {"videos", "videos-external"}) {
    DIR* d = opendir(testing::fixture(dir).c_str());
    EXPECT_TRUE(d != nullptr);
    while (dirent* e = readdir(d)) {
      const std::string name = e->d_name;
      const size_t dot = name.rfind('.');
      const std::string ext = dot == std::string::npos ? "" : name.substr(dot);
      if (ext != ".mp4" && ext != ".webm" && ext != ".avi" && ext != ".mov" && ext != ".mkv") continue;
      const std::string path = testing::fixture(std::string(dir) + "/" + name);
      try {
        read_video(VideoSource::from_path(path));
        out.push_back(path);
      } catch (const Error&) {
      }
    }
    closedir(d);
  }
  std::sort(out.begin(), out.end());
  return out;
}

at::Tensor reference(const std::string& path, const ReadOptions& o, const ImageProcessorConfig& c) {
  return preprocess_videos(read_video(VideoSource::from_path(path), o).frames, c);
}

}  // namespace

TEST(prepare_equals_read_video_then_preprocess_for_every_fixture_video) {
  const auto videos = decodable_videos();
  EXPECT_TRUE(videos.size() >= 12);  // 9 good or truncated in videos/, 3 in videos-external/
  ImageProcessorConfig no_crop = kXclip;  // frame size follows the video: the destination is checked after decoding
  no_crop.do_center_crop = false;
  no_crop.shortest_edge = 40;
  for (const auto& path : videos) {
    for (int num_frames : {8, 3}) {
      for (bool rotate : {false, true}) {
        for (const ImageProcessorConfig* cfg : std::vector<const ImageProcessorConfig*>{&kXclip, &no_crop}) {
          ReadOptions o;
          o.num_frames = num_frames;
          o.apply_rotation = rotate;
          const at::Tensor want = reference(path, o, *cfg);
          PreparedVideo got = prepare_video(VideoSource::from_path(path), o, *cfg);
          EXPECT_TRUE(at::equal(got.pixel_values, want));
          EXPECT_TRUE(!got.decode.frames.defined());
          DecodedVideo d = read_video(VideoSource::from_path(path), o);
          EXPECT_TRUE(got.decode.indices == d.indices);
          EXPECT_TRUE(got.decode.timestamps == d.timestamps);
          EXPECT_EQ(got.decode.truncated, d.truncated);
          EXPECT_EQ(got.decode.decoded_frame_count, d.decoded_frame_count);

          // Into a slot of a batch: the neighbours stay untouched, the slot holds the same bits.
          const int64_t n = want.numel();
          std::vector<float> batch(static_cast<size_t>(3 * n), -7.0f);
          PreparedVideo slot = prepare_video(VideoSource::from_path(path), o, *cfg, batch.data() + n, n);
          EXPECT_EQ(slot.pixel_values.data_ptr<float>(), batch.data() + n);
          EXPECT_TRUE(std::memcmp(batch.data() + n, want.data_ptr<float>(), static_cast<size_t>(n) * sizeof(float)) == 0);
          EXPECT_TRUE(std::all_of(batch.begin(), batch.begin() + n, [](float v) { return v == -7.0f; }));
          EXPECT_TRUE(std::all_of(batch.begin() + 2 * n, batch.end(), [](float v) { return v == -7.0f; }));
        }
      }
    }
  }
}

// With a device (the CPU here, cuda:0 too where visible): preprocessing by libtorch ops gives the CPU loops'
// pixel values bit for bit for every decodable fixture video (videos/ and videos-external/), returned on that
// device or written into a slot of a batch in host memory.
TEST(prepare_on_a_device_equals_the_cpu_loops_for_every_fixture_video) {
  ImageProcessorConfig odd = kXclip;  // bicubic, odd edge and crop wider than a portrait frame's resized width
  odd.resample = Resample::kBicubic;
  odd.shortest_edge = 75;
  odd.crop_height = 61;
  odd.crop_width = 97;
  ImageProcessorConfig no_crop = kXclip;
  no_crop.do_center_crop = false;
  no_crop.shortest_edge = 41;
  std::vector<at::Device> devices = {at::kCPU};
  if (at::hasCUDA()) devices.emplace_back(at::kCUDA, 0);
  size_t n = 0;
  for (const auto& path : decodable_videos()) {
    for (bool rotate : {false, true}) {
      for (const ImageProcessorConfig* cfg : std::vector<const ImageProcessorConfig*>{&kXclip, &odd, &no_crop}) {
        ReadOptions o;
        o.apply_rotation = rotate;
        const at::Tensor want = reference(path, o, *cfg);
        for (const at::Device& d : devices) {
          PreparedVideo got = prepare_video(VideoSource::from_path(path), o, *cfg, nullptr, 0, d);
          EXPECT_TRUE(got.pixel_values.device() == d);
          EXPECT_TRUE(at::equal(got.pixel_values.to(at::kCPU), want));
          const int64_t len = want.numel();
          std::vector<float> batch(static_cast<size_t>(2 * len), -7.0f);
          PreparedVideo slot = prepare_video(VideoSource::from_path(path), o, *cfg, batch.data() + len, len, d);
          EXPECT_EQ(slot.pixel_values.data_ptr<float>(), batch.data() + len);
          EXPECT_TRUE(std::memcmp(batch.data() + len, want.data_ptr<float>(), static_cast<size_t>(len) * sizeof(float)) == 0);
          EXPECT_TRUE(std::all_of(batch.begin(), batch.begin() + len, [](float v) { return v == -7.0f; }));
          EXPECT_ERROR(prepare_video(VideoSource::from_path(path), o, *cfg, batch.data(), len - 1, d), ErrorCode::kInvalidInput,
                       "the destination holds");
        }
      }
    }
    ++n;
  }
  EXPECT_TRUE(n >= 12);
}

TEST(prepare_from_a_buffer_and_with_explicit_indices) {
  const std::string path = testing::fixture("videos/h264_320x240_30fps.mp4");
  const std::string bytes = testing::read_text(path);
  ReadOptions o;
  o.sampling = Sampling::kIndices;
  o.indices = {0, 59, 7, 7};
  const at::Tensor want = reference(path, o, kXclip);
  EXPECT_EQ(want.size(1), 4);
  PreparedVideo got = prepare_video(VideoSource::from_buffer(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()), o, kXclip);
  EXPECT_TRUE(at::equal(got.pixel_values, want));
}

TEST(prepare_refuses_a_destination_of_the_wrong_size_before_writing) {
  const std::string path = testing::fixture("videos/h264_320x240_30fps.mp4");
  std::vector<float> small(8 * 3 * 224 * 224 - 1, 5.0f);
  // Fixed output size: refused before decoding, so even a file that does not exist is not opened.
  EXPECT_ERROR(prepare_video(VideoSource::from_path("/no/such/file.mp4"), ReadOptions{}, kXclip, small.data(),
                             static_cast<int64_t>(small.size())),
               ErrorCode::kInvalidInput, "holds 1204223 values", "[1, 8, 3, 224, 224]");
  ImageProcessorConfig no_crop = kXclip;
  no_crop.do_center_crop = false;
  EXPECT_ERROR(prepare_video(VideoSource::from_path(path), ReadOptions{}, no_crop, small.data(), static_cast<int64_t>(small.size())),
               ErrorCode::kInvalidInput, "holds 1204223 values", "[1, 8, 3, 224, 298]");
  EXPECT_TRUE(std::all_of(small.begin(), small.end(), [](float v) { return v == 5.0f; }));
}

TEST(prepare_reports_broken_videos_as_read_video_does) {
  for (const char* name : {"broken_empty.mp4", "broken_random_bytes.mp4", "audio_only.mp4"}) {
    const std::string path = testing::fixture(std::string("videos/") + name);
    ErrorCode want = ErrorCode::kInternal;
    try {
      read_video(VideoSource::from_path(path));
      XCLIP_FAIL(name << " decoded");
    } catch (const Error& e) {
      want = e.code();
    }
    std::vector<float> slot(8 * 3 * 224 * 224, 5.0f);
    EXPECT_ERROR(prepare_video(VideoSource::from_path(path), ReadOptions{}, kXclip, slot.data(), static_cast<int64_t>(slot.size())), want);
    EXPECT_TRUE(std::all_of(slot.begin(), slot.end(), [](float v) { return v == 5.0f; }));
  }
}
