// Hostile and damaged videos: frame-count limit, decode deadline, corruption in the middle of a stream, and
// in-memory bytes that try to make the demuxer open other files. Inputs are fixture bytes modified here.
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <climits>
#include <fstream>
#include <iostream>
#include <iterator>
#include <random>
#include <thread>

#include "testing.h"
#include "video_engine.h"
#include "xclip/config.h"
#include "xclip/video.h"

using namespace xclip;

namespace {

std::vector<uint8_t> fixture_bytes(const std::string& name) {
  std::ifstream f(testing::fixture("videos/" + name), std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(f), {});
}

VideoSource fixture_video(const std::string& name) { return VideoSource::from_path(testing::fixture("videos/" + name)); }

}  // namespace

TEST(video_limits_frame_count) {
  ReadOptions o;
  o.max_frames = 59;  // the file has 60
  EXPECT_ERROR(read_video(fixture_video("h264_320x240_30fps.mp4"), o), ErrorCode::kVideoTooLarge, "more than 59 frames",
               "max_frames");
  o.max_frames = 60;
  EXPECT_EQ(read_video(fixture_video("h264_320x240_30fps.mp4"), o).decoded_frame_count, 60);
  EXPECT_ERROR(probe_video(fixture_video("h264_320x240_30fps.mp4"), kDefaultMaxPixels, 10), ErrorCode::kVideoTooLarge,
               "more than 10 frames");
  // WebM declares no count: the demux pass counts and stops at the limit.
  o.max_frames = 10;
  EXPECT_ERROR(read_video(fixture_video("vp9_176x144_25fps.webm"), o), ErrorCode::kVideoTooLarge, "more than 10 frames");
  // A damaged file (its index is incomplete, so decoding falls back to a sequential pass) is held to it too.
  EXPECT_ERROR(read_video(fixture_video("broken_truncated.mp4"), o), ErrorCode::kVideoTooLarge, "more than 10 frames");
  ClipOptions c;
  c.num_clips = 2;
  c.max_frames = 10;
  EXPECT_ERROR(read_video_clips(fixture_video("h264_320x240_30fps.mp4"), c), ErrorCode::kVideoTooLarge, "more than 10");
}

TEST(video_limits_decode_deadline) {
  // Every frame of the clip (60 decodes and RGB conversions) cannot fit in 1 ms; the call must give up.
  ReadOptions all;
  all.sampling = Sampling::kUniform;
  all.num_frames = 60;
  all.threads = 1;
  all.timeout_ms = 1;
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_ERROR(read_video(fixture_video("h264_320x240_30fps.mp4"), all), ErrorCode::kVideoTimeout, "1 ms timeout");
  std::vector<uint8_t> bytes = fixture_bytes("h264_320x240_30fps.mp4");
  EXPECT_ERROR(read_video(VideoSource::from_buffer(bytes.data(), bytes.size()), all), ErrorCode::kVideoTimeout, "buffer");
  EXPECT_ERROR(read_video(fixture_video("broken_truncated.mp4"), all), ErrorCode::kVideoTimeout, "timeout");
  double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  std::cout << "    three timed-out reads took " << ms << " ms\n";
  EXPECT_TRUE(ms < 3000);
  all.timeout_ms = 0;  // no deadline
  EXPECT_EQ(read_video(fixture_video("h264_320x240_30fps.mp4"), all).frames.size(0), 60);
}

TEST(video_limits_cancel) {
  // A flag set before the call stops it before any frame is decoded, for paths, buffers and clips alike.
  std::atomic<bool> cancel{true};
  ReadOptions o;
  o.cancel = &cancel;
  EXPECT_ERROR(read_video(fixture_video("h264_320x240_30fps.mp4"), o), ErrorCode::kCancelled, "cancelled");
  std::vector<uint8_t> bytes = fixture_bytes("h264_320x240_30fps.mp4");
  EXPECT_ERROR(read_video(VideoSource::from_buffer(bytes.data(), bytes.size()), o), ErrorCode::kCancelled, "buffer");
  ClipOptions c;
  c.num_clips = 2;
  c.cancel = &cancel;
  EXPECT_ERROR(read_video_clips(fixture_video("h264_320x240_30fps.mp4"), c), ErrorCode::kCancelled, "cancelled");
  // Flipped by another thread while reads run: the running read stops with kCancelled, not a timeout or a crash.
  cancel = false;
  ReadOptions all;
  all.sampling = Sampling::kUniform;
  all.num_frames = 60;
  all.threads = 1;
  all.cancel = &cancel;
  std::thread flipper([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(30));
    cancel = true;
  });
  int reads = 0;
  bool stopped = false;
  auto t0 = std::chrono::steady_clock::now();
  while (!stopped && std::chrono::steady_clock::now() - t0 < std::chrono::seconds(20)) {
    try {
      read_video(fixture_video("h264_320x240_30fps.mp4"), all);
      ++reads;
    } catch (const Error& e) {
      EXPECT_TRUE(e.code() == ErrorCode::kCancelled);
      stopped = true;
    }
  }
  flipper.join();
  std::cout << "    " << reads << " reads completed before the flag stopped one\n";
  EXPECT_TRUE(stopped);
}

// Damage inside the coded data (not a clean cut like broken_truncated.mp4): every outcome is either frames of the
// declared size or a VIDEO_* error, never a crash, hang or foreign exception.
TEST(video_limits_corruption_mid_stream) {
  std::mt19937 rng(12345);
  int decoded = 0, refused = 0;
  for (const char* name : {"h264_320x240_30fps.mp4", "vp9_176x144_25fps.webm", "mpeg4_160x120_24fps.avi",
                           "mjpeg_144x256_portrait.mov", "vfr_h264_192x108.mp4"}) {
    const std::vector<uint8_t> clean = fixture_bytes(name);
    for (double where : {0.3, 0.5, 0.7, 0.9}) {
      for (size_t span : {size_t(16), size_t(2048)}) {
        std::vector<uint8_t> b = clean;
        size_t at = static_cast<size_t>(where * static_cast<double>(b.size()));
        for (size_t i = at; i < std::min(b.size(), at + span); ++i) b[i] = static_cast<uint8_t>(rng());
        ReadOptions o;
        o.timeout_ms = 20000;
        try {
          DecodedVideo v = read_video(VideoSource::from_buffer(b.data(), b.size()), o);
          EXPECT_EQ(v.frames.size(0), 8);
          EXPECT_EQ(v.frames.size(1), v.info.height);
          EXPECT_EQ(v.frames.size(2), v.info.width);
          ++decoded;
        } catch (const Error& e) {
          const std::string code = e.code_name();
          if (code.rfind("VIDEO_", 0) != 0) XCLIP_FAIL(name << " damaged at " << where << ": " << code << " " << e.what());
          ++refused;
        }
      }
    }
  }
  std::cout << "    40 damaged streams: " << decoded << " decoded, " << refused << " refused with a VIDEO_* code\n";
  EXPECT_EQ(decoded + refused, 40);
}

// A buffer that is a concat list (or a playlist) naming a file: with bytes from memory nothing else may be opened,
// or a caller's upload could make the server decode (and hand back frames of) its own files.
TEST(video_limits_buffer_cannot_open_other_files) {
  char cwd[PATH_MAX];
  EXPECT_TRUE(getcwd(cwd, sizeof(cwd)) != nullptr);
  const std::string dir = testing::fixture("videos");
  EXPECT_TRUE(chdir(dir.c_str()) == 0);
  const std::string list = "ffconcat version 1.0\nfile h264_320x240_30fps.mp4\n";
  bool refused = false;
  std::string what;
  try {
    read_video(VideoSource::from_buffer(reinterpret_cast<const uint8_t*>(list.data()), list.size()));
  } catch (const Error& e) {
    refused = e.code() == ErrorCode::kVideoOpen;
    what = e.what();
  }
  EXPECT_TRUE(chdir(cwd) == 0);
  if (!refused) XCLIP_FAIL("a concat list in memory opened a local file (" << what << ")");
  // The same file as a path is a normal video.
  EXPECT_EQ(read_video(fixture_video("h264_320x240_30fps.mp4")).frames.size(0), 8);
}

// A FIFO as a path would block the open forever, out of reach of the deadline; a device would never end.
TEST(video_limits_non_regular_paths_are_refused) {
  const std::string fifo = testing::temp_dir() + "/clip.mp4";
  EXPECT_TRUE(::mkfifo(fifo.c_str(), 0600) == 0);
  EXPECT_ERROR(read_video(VideoSource::from_path(fifo)), ErrorCode::kVideoOpen, "not a regular file");
  EXPECT_ERROR(probe_video(VideoSource::from_path("/dev/zero")), ErrorCode::kVideoOpen, "not a regular file");
}

TEST(video_limits_decoder_threads_out_of_range_are_refused) {
  for (int threads : {-1, kMaxDecoderThreads + 1}) {
    ReadOptions o;
    o.threads = threads;
    EXPECT_ERROR(read_video(fixture_video("h264_320x240_30fps.mp4"), o), ErrorCode::kInvalidInput, "decoder threads");
    ClipOptions c;
    c.num_clips = 2;
    c.threads = threads;
    EXPECT_ERROR(read_video_clips(fixture_video("h264_320x240_30fps.mp4"), c), ErrorCode::kInvalidInput, "decoder threads");
  }
}

// A sampled read and a clip take at most kMaxNumFrames frames, the bound a model's num_frames and a prepared video
// share (the TypeScript checks read the same value).
TEST(video_limits_num_frames_follow_the_model_bound) {
  const std::string bound = "num_frames must be in [1, " + std::to_string(kMaxNumFrames) + "]";
  ReadOptions o;
  o.num_frames = static_cast<int>(kMaxNumFrames) + 1;
  EXPECT_ERROR(read_video(fixture_video("h264_320x240_30fps.mp4"), o), ErrorCode::kInvalidInput, bound.c_str());
  ClipOptions c;
  c.num_clips = 1;
  c.num_frames = static_cast<int>(kMaxNumFrames) + 1;
  EXPECT_ERROR(read_video_clips(fixture_video("h264_320x240_30fps.mp4"), c), ErrorCode::kInvalidInput, bound.c_str());
  o.num_frames = static_cast<int>(kMaxNumFrames);  // 60 frames read up to 1024 times: allowed
  EXPECT_EQ(read_video(fixture_video("h264_320x240_30fps.mp4"), o).indices.size(), static_cast<size_t>(kMaxNumFrames));
}

// The cancel flag also stops a probe, and a call flagged once its packet index exists decodes no frame after it.
TEST(video_limits_cancel_probe_and_between_passes) {
  std::atomic<bool> cancel{true};
  EXPECT_ERROR(probe_video(fixture_video("h264_320x240_30fps.mp4"), kDefaultMaxPixels, kDefaultMaxFrames, 0, &cancel),
               ErrorCode::kCancelled, "cancelled");
  cancel = false;
  video::DecodeConfig cfg;
  cfg.cancel = &cancel;
  cfg.between_passes = [&] { cancel = true; };
  EXPECT_ERROR(video::decode_frames(fixture_video("h264_320x240_30fps.mp4"), cfg,
                                    [](const video::FrameTable& t) { return std::vector<int64_t>{0, t.n - 1}; }),
               ErrorCode::kCancelled, "cancelled");
}
