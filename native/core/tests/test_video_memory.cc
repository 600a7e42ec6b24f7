// Memory per decode: tiny files whose sample tables claim millions of samples are refused before FFmpeg builds an
// index for them; the output counts every frame it holds (repeats included); and each frame is written once, into
// the output itself. Peak RSS is read from /proc (VmHWM, reset through clear_refs); under the sanitizers, whose
// shadow memory and quarantine change RSS, only the outcomes are checked.
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>

#include "mp4_writer.h"
#include "testing.h"
#include "xclip/runtime.h"
#include "xclip/video.h"

using namespace xclip;
namespace mp4 = xclip::testing::mp4;

namespace {

#if defined(__SANITIZE_ADDRESS__)
constexpr bool kSanitized = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool kSanitized = true;
#else
constexpr bool kSanitized = false;
#endif
#else
constexpr bool kSanitized = false;
#endif

int64_t status_kb(const char* key) {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind(key, 0) == 0) return std::stoll(line.substr(std::strlen(key)));
  return -1;
}

// Resets VmHWM to the current RSS; false where the kernel does not allow it.
bool reset_peak_rss() {
  std::ofstream f("/proc/self/clear_refs");
  f << "5";
  f.flush();
  return static_cast<bool>(f);
}

void write_file(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

VideoSource fixture_video(const std::string& name) { return VideoSource::from_path(testing::fixture("videos/" + name)); }

}  // namespace

// Before: the 1 KB file with two 89-million-sample tracks took 4.2 GB and 7-20 s inside avformat_open_input, the
// edit-list one 2.1 GB, the fragment one 2.6 GB (each then failed or decoded garbage).
TEST(video_memory_claimed_samples_are_refused_before_indexing) {
  struct Case {
    const char* what;
    mp4::Claims claims;
  };
  std::vector<Case> cases(6);
  cases[0].what = "constant-size stsz, 2 tracks";
  cases[0].claims.samples = 89000000;
  cases[0].claims.tracks = 2;
  cases[1].what = "edit list repeating 20000 samples 5000 times";
  cases[1].claims.samples = 20000;
  cases[1].claims.data_bytes = 20000;
  cases[1].claims.edits = 5000;
  cases[2].what = "fragment run without per-sample fields";
  cases[2].claims.samples = 1;
  cases[2].claims.fragment_samples = 80000000;
  // FFmpeg reads a sample table wherever it sits (a fuzzer found the first: 2.1 GB and 11 s under ASan).
  using T = mp4::Claims::Tables;
  cases[3].what = "stbl inside dinf";
  cases[3].claims.tables = T::kDinf;
  cases[4].what = "a second stbl in the track's udta";
  cases[4].claims.tables = T::kUdta;
  cases[5].what = "stsz among the sample description's extension boxes";
  cases[5].claims.tables = T::kSampleEntry;
  for (int i = 3; i < 6; ++i) cases[i].claims.samples = 89000000;
  const std::string dir = testing::temp_dir();
  for (const Case& c : cases) {
    const std::vector<uint8_t> file = mp4::claims_file(c.claims);
    write_file(dir + "/claims.mp4", file);
    const bool measured = !kSanitized && reset_peak_rss();
    const int64_t rss0 = status_kb("VmRSS:");
    const auto t0 = std::chrono::steady_clock::now();
    EXPECT_ERROR(read_video(VideoSource::from_buffer(file.data(), file.size())), ErrorCode::kVideoTooLarge, "claim");
    EXPECT_ERROR(read_video(VideoSource::from_path(dir + "/claims.mp4")), ErrorCode::kVideoTooLarge, "claim");
    EXPECT_ERROR(probe_video(VideoSource::from_path(dir + "/claims.mp4")), ErrorCode::kVideoTooLarge, "claim");
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    const int64_t grew = measured ? status_kb("VmHWM:") - rss0 : -1;
    std::cout << "    " << c.what << " (" << file.size() << " bytes): refused 3 times in " << ms << " ms, peak RSS +"
              << grew << " KB\n";
    EXPECT_TRUE(ms < (kSanitized ? 3000 : 300));
    if (measured) EXPECT_TRUE(grew < 32 * 1024);
  }
}

TEST(video_memory_claims_that_fit_are_read) {
  // 25 one-byte samples in 64 bytes: the claims fit the file, so FFmpeg reads it (the data is no JPEG).
  mp4::Claims fits;
  const std::vector<uint8_t> file = mp4::claims_file(fits);
  VideoInfo info = probe_video(VideoSource::from_buffer(file.data(), file.size()));
  EXPECT_EQ(info.frame_count, 25);
  // FFmpeg takes its sample count from tables in those other places too (20 samples there, 25 in the udta case's
  // standard stbl): what the refusals above guard against is what it reads.
  for (auto where : {mp4::Claims::Tables::kDinf, mp4::Claims::Tables::kUdta, mp4::Claims::Tables::kSampleEntry}) {
    mp4::Claims elsewhere;
    elsewhere.samples = 20;
    elsewhere.tables = where;
    const std::vector<uint8_t> f = mp4::claims_file(elsewhere);
    EXPECT_EQ(probe_video(VideoSource::from_buffer(f.data(), f.size())).frame_count, 20);
  }
  // A video track claiming more frames than max_frames is refused from its tables, before any index exists.
  mp4::Claims many;
  many.samples = 5000;
  many.data_bytes = 6000;
  const std::vector<uint8_t> big = mp4::claims_file(many);
  EXPECT_ERROR(probe_video(VideoSource::from_buffer(big.data(), big.size()), kDefaultMaxPixels, 1000),
               ErrorCode::kVideoTooLarge, "more than 1000 frames", "claim 5000");
  EXPECT_EQ(probe_video(VideoSource::from_buffer(big.data(), big.size()), kDefaultMaxPixels, 5000).frame_count, 5000);
}

// The 8 GiB output bound counts the frames handed back, not the distinct ones decoded: 37283 copies of one
// 320x240 frame are 8.0001 GiB. Before, this allocated 8 GiB in index_select (INTERNAL or a crash where memory is
// short).
TEST(video_memory_output_counts_repeated_frames) {
  ReadOptions o;
  o.sampling = Sampling::kIndices;
  o.indices.assign(37283, 0);
  EXPECT_ERROR(read_video(fixture_video("h264_320x240_30fps.mp4"), o), ErrorCode::kVideoTooLarge, "37283 frames (1 distinct)",
               "8192 MiB");
  ClipOptions c;
  c.num_clips = 60;
  c.num_frames = 1000;  // 60 clips of one frame each, 1000 times over: 13.8 GB
  EXPECT_ERROR(read_video_clips(fixture_video("h264_320x240_30fps.mp4"), c), ErrorCode::kVideoTooLarge, "60 distinct");
  // Within the bound, repeats are copies of the one decoded frame.
  o.indices = {5, 0, 5, 5};
  DecodedVideo v = read_video(fixture_video("h264_320x240_30fps.mp4"), o);
  EXPECT_EQ(v.frames.size(0), 4);
  EXPECT_TRUE(v.frames[0].equal(v.frames[2]) && v.frames[0].equal(v.frames[3]));
  EXPECT_TRUE(!v.frames[0].equal(v.frames[1]));
  o.indices = {0};
  EXPECT_TRUE(v.frames[1].equal(read_video(fixture_video("h264_320x240_30fps.mp4"), o).frames[0]));
}

// Frames go straight into the output: peak memory is the output plus the decoder's working set, not twice the output
// (before: a tensor of the distinct frames, then index_select's copy in output order).
TEST(video_memory_frames_are_written_once) {
  const std::string dir = testing::temp_dir(), path = dir + "/clip.avi";
  const std::string cmd = "ffmpeg -v error -y -f lavfi -i testsrc2=size=640x480:rate=25:duration=4 -c:v mjpeg -q:v 8 " +
                          path + " 2>/dev/null";
  if (std::system(cmd.c_str()) != 0) SKIP_TEST("the ffmpeg CLI (Debian package ffmpeg) is needed to make the clip");
  ReadOptions all;
  all.sampling = Sampling::kUniform;
  all.num_frames = 100;
  all.threads = 1;
  read_video(VideoSource::from_path(path), all);  // warm-up: decoder tables, libswscale
  release_cached_cpu_memory();
  const bool measured = !kSanitized && reset_peak_rss();
  const int64_t rss0 = status_kb("VmRSS:");
  DecodedVideo v = read_video(VideoSource::from_path(path), all);
  const int64_t output_kb = v.frames.numel() / 1024;
  EXPECT_EQ(v.frames.size(0), 100);
  if (!measured) {
    std::cout << "    (peak RSS not measured under the sanitizers or without /proc/self/clear_refs)\n";
    return;
  }
  const int64_t grew = status_kb("VmHWM:") - rss0;
  std::cout << "    100 frames of 640x480: output " << output_kb / 1024 << " MiB, peak RSS +" << grew / 1024 << " MiB\n";
  EXPECT_TRUE(grew < output_kb + output_kb / 4);
}
