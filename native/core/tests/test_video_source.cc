// What a video source reads: a path is exactly one regular file, opened once per call (no FFmpeg protocol, no
// pattern, no playlist segments, nothing after a NUL), and a source that changes while it is decoded (a file renamed
// over, truncated or rewritten; a buffer rewritten) gives a clear VIDEO_* error or the frames of what was opened,
// never a crash. The changes land between the packet scan and the decoding passes through the engine's test hook.
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <climits>
#include <cstring>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <thread>

#include "testing.h"
#include "video_engine.h"
#include "xclip/video.h"

using namespace xclip;

namespace {

std::vector<uint8_t> fixture_bytes(const std::string& name) {
  std::ifstream f(testing::fixture("videos/" + name), std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(f), {});
}

void write_file(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  if (!f) XCLIP_FAIL("cannot write " << path);
}

void write_text(const std::string& path, const std::string& text) {
  write_file(path, std::vector<uint8_t>(text.begin(), text.end()));
}

// A 16x16 binary PPM of one colour: FFmpeg reads it as a one-frame video (ppm_pipe), or as one image of an image2
// sequence when a path names a pattern.
void write_ppm(const std::string& path, uint8_t r, uint8_t g, uint8_t b) {
  std::string header = "P6\n16 16\n255\n";
  std::vector<uint8_t> bytes(header.begin(), header.end());
  for (int i = 0; i < 16 * 16; ++i) bytes.insert(bytes.end(), {r, g, b});
  write_file(path, bytes);
}

// Runs the engine over `src` the way read_video does (8 frames, X-CLIP's sampling), with `between` run after the
// packet scan and before any frame is decoded.
video::Collected decode_with_change(const VideoSource& src, std::function<void()> between) {
  video::DecodeConfig cfg;
  cfg.between_passes = std::move(between);
  return video::decode_frames(src, cfg, [](const video::FrameTable& t) {
    ReadOptions o;
    return sample_frame_indices(o, t.n);
  });
}

// Restores the working directory when a test that changed it ends, failing or not.
struct InDirectory {
  char previous[PATH_MAX];
  explicit InDirectory(const std::string& dir) {
    EXPECT_TRUE(getcwd(previous, sizeof(previous)) != nullptr);
    EXPECT_TRUE(chdir(dir.c_str()) == 0);
  }
  ~InDirectory() {
    if (chdir(previous) != 0) std::cerr << "cannot return to " << previous << "\n";
  }
};

}  // namespace

TEST(video_source_path_is_one_file_named_by_it) {
  const std::string dir = testing::temp_dir();
  write_file(dir + "/clip.mp4", fixture_bytes("h264_320x240_30fps.mp4"));
  write_file(dir + "/file:other.mp4", fixture_bytes("vp9_176x144_25fps.webm"));
  InDirectory in(dir);
  // "file:" is part of the name, not FFmpeg's file protocol: file:clip.mp4 is not clip.mp4 ...
  EXPECT_ERROR(read_video(VideoSource::from_path("file:clip.mp4")), ErrorCode::kFileNotFound, "file:clip.mp4");
  // ... and a file that is really called file:other.mp4 is read as itself.
  EXPECT_EQ(probe_video(VideoSource::from_path("file:other.mp4")).codec, std::string("vp9"));
  // The C library would stop at the NUL and open clip.mp4.
  EXPECT_ERROR(read_video(VideoSource::from_path(std::string("clip.mp4\0.txt", 13))), ErrorCode::kInvalidInput, "NUL");
  EXPECT_ERROR(probe_video(VideoSource::from_path(std::string("clip.mp4\0", 9))), ErrorCode::kInvalidInput, "NUL");
}

// An upload saved under a name with "%d" must not turn into an image sequence of its neighbours.
TEST(video_source_percent_d_is_not_a_pattern) {
  const std::string dir = testing::temp_dir();
  write_ppm(dir + "/frame%d.ppm", 255, 0, 0);  // the file named
  write_ppm(dir + "/frame1.ppm", 0, 255, 0);   // what image2 would read instead
  write_ppm(dir + "/frame2.ppm", 0, 0, 255);
  ReadOptions o;
  o.num_frames = 1;
  DecodedVideo v = read_video(VideoSource::from_path(dir + "/frame%d.ppm"), o);
  EXPECT_EQ(v.decoded_frame_count, 1);
  EXPECT_EQ(static_cast<int>(v.frames[0][8][8][0].item<uint8_t>()), 255);  // red: its own pixels
  EXPECT_EQ(static_cast<int>(v.frames[0][8][8][1].item<uint8_t>()), 0);
}

// A playlist or concat list (as a path or as bytes) names other files: refused before any of them is opened, with
// a message that says why (bytes used to fail with "Cannot allocate memory").
TEST(video_source_playlists_and_lists_are_refused) {
  const std::string dir = testing::temp_dir();
  write_file(dir + "/clip.mp4", fixture_bytes("h264_320x240_30fps.mp4"));
  const std::string hls = "#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:2.0,\nclip.mp4\n#EXT-X-ENDLIST\n";
  const std::string concat = "ffconcat version 1.0\nfile clip.mp4\n";
  write_text(dir + "/upload.mp4", hls);  // a server saves uploads under names of its choosing
  write_text(dir + "/list.m3u8", hls);
  write_text(dir + "/list.ffconcat", concat);
  InDirectory in(dir);
  for (const char* name : {"upload.mp4", "list.m3u8", "list.ffconcat"}) {
    EXPECT_ERROR(read_video(VideoSource::from_path(name)), ErrorCode::kVideoOpen, "not self-contained");
    EXPECT_ERROR(probe_video(VideoSource::from_path(dir + "/" + name)), ErrorCode::kVideoOpen, "only single-file");
  }
  for (const std::string& text : {hls, concat}) {
    const auto* bytes = reinterpret_cast<const uint8_t*>(text.data());
    EXPECT_ERROR(read_video(VideoSource::from_buffer(bytes, text.size())), ErrorCode::kVideoOpen, "not self-contained");
  }
  EXPECT_EQ(read_video(VideoSource::from_path("clip.mp4")).frames.size(0), 8);
}

// The call keeps the descriptor it opened: a file renamed over the path meanwhile does not change what it reads.
TEST(video_source_file_renamed_over_is_read_as_opened) {
  const std::string dir = testing::temp_dir(), path = dir + "/clip.mp4";
  write_file(path, fixture_bytes("h264_320x240_30fps.mp4"));
  DecodedVideo expected = read_video(VideoSource::from_path(path));
  video::Collected c = decode_with_change(VideoSource::from_path(path), [&] {
    write_file(dir + "/next.mp4", fixture_bytes("vp9_176x144_25fps.webm"));
    EXPECT_TRUE(std::rename((dir + "/next.mp4").c_str(), path.c_str()) == 0);
  });
  EXPECT_TRUE(c.frames.equal(expected.frames));
  EXPECT_EQ(probe_video(VideoSource::from_path(path)).codec, std::string("vp9"));  // the path itself did change
}

TEST(video_source_file_changed_in_place_is_a_decode_error) {
  const std::string dir = testing::temp_dir(), path = dir + "/clip.mp4";
  const std::vector<uint8_t> h264 = fixture_bytes("h264_320x240_30fps.mp4");
  write_file(path, h264);
  EXPECT_ERROR(decode_with_change(VideoSource::from_path(path), [&] { EXPECT_TRUE(::truncate(path.c_str(), 20000) == 0); }),
               ErrorCode::kVideoDecode, "changed while it was being decoded");
  write_file(path, h264);
  EXPECT_ERROR(decode_with_change(VideoSource::from_path(path), [&] { write_file(path, fixture_bytes("one_frame.mp4")); }),
               ErrorCode::kVideoDecode, "changed while it was being decoded");
}

// Bytes in memory have no size or date to compare: the stream found on each open must be the one indexed. Before,
// a second open that found no video stream at all crashed (SIGSEGV in open_decoder).
TEST(video_source_buffer_rewritten_between_passes_is_a_decode_error) {
  const std::vector<uint8_t> h264 = fixture_bytes("h264_320x240_30fps.mp4");
  for (const char* other : {"vp9_176x144_25fps.webm", "audio_only.mp4", "broken_random_bytes.mp4"}) {
    std::vector<uint8_t> buf = h264, replacement = fixture_bytes(other);
    replacement.resize(buf.size(), 0);
    try {
      decode_with_change(VideoSource::from_buffer(buf.data(), buf.size()), [&] { buf = replacement; });
      XCLIP_FAIL("a buffer rewritten with " << other << " decoded without complaint");
    } catch (const Error& e) {
      if (e.code() != ErrorCode::kVideoDecode || std::string(e.what()).find("changed") == std::string::npos)
        XCLIP_FAIL(other << ": " << e.code_name() << " " << e.what());
    }
  }
}

// The same through the public API with a thread rewriting the bytes at random moments: every call returns frames or
// a VIDEO_* error (under ASan: no invalid read either). Before, this crashed within a few dozen calls.
TEST(video_source_buffer_rewritten_during_decoding_never_crashes) {
  std::vector<uint8_t> a = fixture_bytes("h264_320x240_30fps.mp4"), b = fixture_bytes("vp9_176x144_25fps.webm");
  const size_t n = std::max(a.size(), b.size());
  a.resize(n, 0);
  b.resize(n, 0);
  std::vector<uint8_t> buf = a;
  std::atomic<bool> stop{false};
  std::thread writer([&] {
    // A deliberate race, as a JavaScript write into a Buffer that a worker is reading is one.
    for (int i = 0; !stop.load(); ++i) {
      std::memcpy(buf.data(), ((i & 1) ? b : a).data(), n);
      std::this_thread::sleep_for(std::chrono::microseconds(i % 7 == 0 ? 20000 : 300));
    }
  });
  int ok = 0, refused = 0;
  std::string unexpected;
  const auto t0 = std::chrono::steady_clock::now();
  while (std::chrono::steady_clock::now() - t0 < std::chrono::milliseconds(1500) && ok + refused < 200) {
    try {
      ReadOptions o;
      o.threads = 1;
      DecodedVideo v = read_video(VideoSource::from_buffer(buf.data(), n), o);
      if (v.frames.size(0) != 8) unexpected = "a call returned " + std::to_string(v.frames.size(0)) + " frames";
      ++ok;
    } catch (const Error& e) {
      if (std::string(e.code_name()).rfind("VIDEO_", 0) != 0) unexpected = std::string(e.code_name()) + " " + e.what();
      ++refused;
    }
  }
  stop = true;
  writer.join();
  std::cout << "    " << ok + refused << " reads of a buffer rewritten meanwhile: " << ok << " decoded, " << refused
            << " refused with a VIDEO_* code\n";
  if (!unexpected.empty()) XCLIP_FAIL(unexpected);
}
