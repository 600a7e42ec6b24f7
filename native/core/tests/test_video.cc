// Video decoding against fixtures/videos (PyAV 10 on the same FFmpeg 5.1 libraries) and videos-external.
#include <dirent.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <iterator>
#include <nlohmann/json.hpp>

#include "mp4_writer.h"
#include "testing.h"
#include "xclip/video.h"
#include "xclip/weights.h"

using namespace xclip;
using nlohmann::json;

namespace {

const json& videos_json() {
  static json j = json::parse(std::ifstream(testing::fixture("videos/videos.json")));
  return j;
}

std::vector<uint8_t> read_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(f), {});
}

const std::vector<std::string> kGoodVideos = {
    "h264_320x240_30fps.mp4", "vp9_176x144_25fps.webm",     "mpeg4_160x120_24fps.avi", "mjpeg_144x256_portrait.mov",
    "vfr_h264_192x108.mp4",   "rotated90_h264_320x180.mp4", "short_5frames.mp4",       "one_frame.mp4"};

std::vector<int64_t> ints(const json& j) { return j.get<std::vector<int64_t>>(); }

size_t open_fd_count() {
  size_t n = 0;
  if (DIR* d = opendir("/proc/self/fd")) {
    while (readdir(d) != nullptr) ++n;
    closedir(d);
  }
  return n;
}

// Finds `tag` (a 4-byte box type) in the file bytes at or after `from`.
size_t find_tag(const std::vector<uint8_t>& b, const char* tag, size_t from = 0) {
  for (size_t i = from; i + 4 <= b.size(); ++i)
    if (std::memcmp(&b[i], tag, 4) == 0) return i;
  return std::string::npos;
}

}  // namespace

TEST(video_probe_matches_fixture_metadata) {
  for (const auto& name : kGoodVideos) {
    const json& m = videos_json()["files"][name];
    VideoInfo info = probe_video(VideoSource::from_path(testing::fixture("videos/" + name)));
    EXPECT_TRUE(info.has_video);
    EXPECT_EQ(info.width, m["width"].get<int>());
    EXPECT_EQ(info.height, m["height"].get<int>());
    EXPECT_EQ(info.codec, m["codec"].get<std::string>());
    EXPECT_EQ(info.pix_fmt, m["pix_fmt"].get<std::string>());
    EXPECT_TRUE(std::abs(info.fps - m["average_rate"].get<double>()) < 1e-6);
    EXPECT_EQ(info.container_frame_count, m["metadata_frames"].get<int64_t>());
    EXPECT_EQ(info.frame_count, m["decoded_frames"].get<int64_t>());
    EXPECT_TRUE(!info.index_incomplete);
    double expected_duration = m["stream_duration_s"].is_null() ? m["container_duration_s"].get<double>()
                                                                : m["stream_duration_s"].get<double>();
    EXPECT_TRUE(std::abs(info.duration - expected_duration) < 1e-3);
    int rot = m["rotation"]["display_matrix_rotation"].is_null() ? 0 : m["rotation"]["display_matrix_rotation"].get<int>();
    EXPECT_EQ(info.rotation, rot);
  }
}

TEST(video_sampled_indices_and_counts_match_pyav) {
  for (const auto& name : kGoodVideos) {
    const json& m = videos_json()["files"][name];
    for (int t : {8, 4, 3, 16}) {
      ReadOptions o;
      o.num_frames = t;
      DecodedVideo v = read_video(VideoSource::from_path(testing::fixture("videos/" + name)), o);
      EXPECT_EQ(v.decoded_frame_count, m["decoded_frames"].get<int64_t>());
      if (v.indices != ints(m["sampled_indices"][std::to_string(t)])) XCLIP_FAIL(name << " indices for num_frames " << t);
      EXPECT_EQ(v.frames.size(0), t);
      EXPECT_TRUE(!v.truncated);
      const auto pts = m["frame_pts_s"].get<std::vector<double>>();
      for (size_t i = 0; i < v.indices.size(); ++i) EXPECT_TRUE(std::abs(v.timestamps[i] - pts[v.indices[i]]) < 1e-9);
    }
  }
}

TEST(video_frames_match_pyav_rgb24) {
  for (const auto& name : kGoodVideos) {
    TensorMap exp = load_safetensors(testing::fixture("videos/" + name + ".expected.safetensors"));
    DecodedVideo v = read_video(VideoSource::from_path(testing::fixture("videos/" + name)));
    std::vector<int64_t> want(exp.at("sampled_indices").data_ptr<int64_t>(), exp.at("sampled_indices").data_ptr<int64_t>() + 8);
    EXPECT_TRUE(v.indices == want);
    at::Tensor e = exp.at("frames_rgb");
    EXPECT_TRUE(v.frames.sizes() == e.sizes());
    EXPECT_TRUE(v.frames.scalar_type() == at::kByte);
    at::Tensor d = (v.frames.to(at::kInt) - e.to(at::kInt)).abs();
    int max_abs = d.max().item<int>();
    double mean = d.to(at::kDouble).mean().item<double>();
    std::cout << "    " << name << ": frames vs PyAV max abs " << max_abs << ", mean " << mean << "\n";
    EXPECT_TRUE(max_abs <= 1);  // mjpeg (yuvj420p, full range) included: same swscale call as PyAV
  }
}

TEST(video_buffer_source_equals_path_source) {
  for (const auto& name : kGoodVideos) {
    std::string path = testing::fixture("videos/" + name);
    std::vector<uint8_t> bytes = read_bytes(path);
    ReadOptions o;
    o.num_frames = 16;
    DecodedVideo a = read_video(VideoSource::from_path(path), o);
    DecodedVideo b = read_video(VideoSource::from_buffer(bytes.data(), bytes.size()), o);
    EXPECT_TRUE(a.indices == b.indices);
    EXPECT_TRUE(a.frames.equal(b.frames));
    VideoInfo pa = probe_video(VideoSource::from_path(path));
    VideoInfo pb = probe_video(VideoSource::from_buffer(bytes.data(), bytes.size()));
    EXPECT_EQ(pa.frame_count, pb.frame_count);
    EXPECT_EQ(pa.codec, pb.codec);
  }
}

TEST(video_all_frames_equal_sampled_frames) {
  // Reading every frame (one sequential run) and reading a sparse sample must agree frame for frame.
  for (const auto& name : kGoodVideos) {
    auto src = VideoSource::from_path(testing::fixture("videos/" + name));
    int64_t n = videos_json()["files"][name]["decoded_frames"].get<int64_t>();
    ReadOptions all;
    all.sampling = Sampling::kIndices;
    for (int64_t i = 0; i < n; ++i) all.indices.push_back(i);
    DecodedVideo full = read_video(src, all);
    DecodedVideo s = read_video(src);
    for (size_t i = 0; i < s.indices.size(); ++i) EXPECT_TRUE(s.frames[i].equal(full.frames[s.indices[i]]));
  }
}

TEST(video_truncated_decodes_partially_like_pyav) {
  const json& m = videos_json()["files"]["broken_truncated.mp4"];
  auto src = VideoSource::from_path(testing::fixture("videos/broken_truncated.mp4"));
  VideoInfo info = probe_video(src);
  EXPECT_TRUE(info.index_incomplete);
  EXPECT_EQ(info.container_frame_count, 60);
  for (int t : {8, 4, 3, 16}) {
    ReadOptions o;
    o.num_frames = t;
    DecodedVideo v = read_video(src, o);
    EXPECT_TRUE(v.truncated);
    EXPECT_TRUE(v.warning.find("truncated") != std::string::npos);
    EXPECT_EQ(v.decoded_frame_count, m["decoded_frames"].get<int64_t>());  // 22, as PyAV
    EXPECT_TRUE(v.indices == ints(m["sampled_indices"][std::to_string(t)]));
  }
  // The frames it does return are the real ones: equal to the intact file's frames at those indices.
  DecodedVideo v = read_video(src);
  DecodedVideo good = read_video(VideoSource::from_path(testing::fixture("videos/h264_320x240_30fps.mp4")),
                                 [&] {
                                   ReadOptions o;
                                   o.sampling = Sampling::kIndices;
                                   o.indices = v.indices;
                                   return o;
                                 }());
  EXPECT_TRUE(v.frames.equal(good.frames));
  ReadOptions bad;
  bad.sampling = Sampling::kIndices;
  bad.indices = {30};
  EXPECT_ERROR(read_video(src, bad), ErrorCode::kInvalidInput, "out of range", "22 frames");
}

TEST(video_broken_inputs_give_clear_errors) {
  auto fx = [](const std::string& n) { return VideoSource::from_path(testing::fixture("videos/" + n)); };
  EXPECT_ERROR(read_video(fx("broken_empty.mp4")), ErrorCode::kVideoOpen, "empty");
  EXPECT_ERROR(probe_video(fx("broken_empty.mp4")), ErrorCode::kVideoOpen, "empty");
  EXPECT_ERROR(read_video(fx("broken_random_bytes.mp4")), ErrorCode::kVideoOpen, "broken_random_bytes.mp4");
  EXPECT_ERROR(read_video(fx("audio_only.mp4")), ErrorCode::kVideoNoStream, "no video stream");
  VideoInfo audio = probe_video(fx("audio_only.mp4"));
  EXPECT_TRUE(!audio.has_video);
  EXPECT_ERROR(read_video(VideoSource::from_path(testing::temp_dir() + "/missing.mp4")), ErrorCode::kFileNotFound,
               "missing.mp4");
  uint8_t nothing = 0;
  EXPECT_ERROR(read_video(VideoSource::from_buffer(&nothing, 0)), ErrorCode::kVideoOpen, "empty");
  std::vector<uint8_t> random = read_bytes(testing::fixture("videos/broken_random_bytes.mp4"));
  EXPECT_ERROR(read_video(VideoSource::from_buffer(random.data(), random.size())), ErrorCode::kVideoOpen, "buffer");

  // One frame is fine (every sample is frame 0).
  DecodedVideo one = read_video(fx("one_frame.mp4"));
  EXPECT_TRUE(one.indices == std::vector<int64_t>(8, 0));

  // max_pixels guard, and a header that declares 65535x65535 (patched avc1 sample entry).
  ReadOptions small;
  small.max_pixels = 320 * 240 - 1;
  EXPECT_ERROR(read_video(fx("h264_320x240_30fps.mp4"), small), ErrorCode::kVideoTooLarge, "320x240", "max_pixels");
  std::vector<uint8_t> huge = read_bytes(testing::fixture("videos/h264_320x240_30fps.mp4"));
  size_t avc1 = find_tag(huge, "avc1", find_tag(huge, "stsd"));  // the sample entry, not the ftyp brand
  EXPECT_TRUE(avc1 != std::string::npos);
  for (size_t i = avc1 + 28; i < avc1 + 32; ++i) huge[i] = 0xFF;  // width, height (16 bit each)
  EXPECT_ERROR(read_video(VideoSource::from_buffer(huge.data(), huge.size())), ErrorCode::kVideoTooLarge, "65535x65535");

  // Unsupported codec: the sample entry's fourcc renamed to one no decoder knows.
  std::vector<uint8_t> alien = read_bytes(testing::fixture("videos/h264_320x240_30fps.mp4"));
  std::memcpy(&alien[avc1], "zzzz", 4);
  EXPECT_ERROR(read_video(VideoSource::from_buffer(alien.data(), alien.size())), ErrorCode::kVideoUnsupported, "codec");

  ReadOptions zero;
  zero.num_frames = 0;
  EXPECT_ERROR(read_video(fx("one_frame.mp4"), zero), ErrorCode::kInvalidInput, "num_frames");
}

TEST(video_open_loop_does_not_leak_fds) {
  std::vector<uint8_t> bytes = read_bytes(testing::fixture("videos/short_5frames.mp4"));
  const std::vector<std::string> files = {"short_5frames.mp4", "broken_empty.mp4", "broken_random_bytes.mp4",
                                          "audio_only.mp4", "broken_truncated.mp4"};
  auto one_round = [&](int i) {
    const std::string& n = files[i % files.size()];
    try {
      ReadOptions o;
      o.num_frames = 2;
      read_video(VideoSource::from_path(testing::fixture("videos/" + n)), o);
      read_video(VideoSource::from_buffer(bytes.data(), bytes.size()), o);
    } catch (const Error&) {
    }
  };
  for (int i = 0; i < 10; ++i) one_round(i);  // warm-up (lazy library state)
  size_t before = open_fd_count();
  for (int i = 0; i < 200; ++i) one_round(i);
  size_t after = open_fd_count();
  std::cout << "    open fds before " << before << ", after 200 rounds " << after << "\n";
  EXPECT_TRUE(after <= before + 2);
}

TEST(video_rotation_reported_and_applied) {
  auto src = VideoSource::from_path(testing::fixture("videos/rotated90_h264_320x180.mp4"));
  DecodedVideo plain = read_video(src);
  EXPECT_EQ(plain.info.rotation, 90);
  EXPECT_TRUE(plain.frames.sizes() == at::IntArrayRef({8, 180, 320, 3}));
  ReadOptions o;
  o.apply_rotation = true;
  DecodedVideo rotated = read_video(src, o);
  EXPECT_TRUE(rotated.frames.sizes() == at::IntArrayRef({8, 320, 180, 3}));
  // +90 (counterclockwise): the stored top-right pixel ends up top-left.
  EXPECT_TRUE(rotated.frames[0][0][0].equal(plain.frames[0][0][319]));
  EXPECT_TRUE(rotated.frames[0][319][179].equal(plain.frames[0][179][0]));

  VideoInfo ext = probe_video(VideoSource::from_path(testing::fixture("videos-external/decord_video_90.mov")));
  EXPECT_EQ(ext.rotation, -90);
}

// Display matrices with a mirror, written into a copy of a fixture's tkhd box. Each maps to (rotation, mirrored) as
// FFmpeg's own player pipeline reads it, and apply_rotation shows the frames that way. Before, a horizontal mirror
// was reported as rotation 180 and applied as a half turn (upside down).
TEST(video_mirrored_display_matrices) {
  std::vector<uint8_t> clean = read_bytes(testing::fixture("videos/h264_320x240_30fps.mp4"));
  DecodedVideo plain = read_video(VideoSource::from_buffer(clean.data(), clean.size()));
  const at::Tensor f = plain.frames;  // [8, 240, 320, 3]
  struct Case {
    const char* what;
    int a, b, c, d;
    int rotation;
    bool mirrored;
    at::Tensor expected;
  };
  const std::vector<Case> cases = {
      {"horizontal mirror", -1, 0, 0, 1, 0, true, f.flip(2)},
      {"vertical mirror", 1, 0, 0, -1, 180, true, f.flip(1)},
      {"transpose", 0, 1, 1, 0, 90, true, f.transpose(1, 2)},
      {"anti-transpose", 0, -1, -1, 0, -90, true, f.flip({1, 2}).transpose(1, 2)},
      {"quarter turn counterclockwise", 0, -1, 1, 0, 90, false, at::rot90(f, 1, {1, 2})},
      {"quarter turn clockwise", 0, 1, -1, 0, -90, false, at::rot90(f, 3, {1, 2})},
      {"half turn", -1, 0, 0, -1, 180, false, at::rot90(f, 2, {1, 2})},
  };
  for (const Case& k : cases) {
    std::vector<uint8_t> b = clean;
    testing::mp4::set_display_matrix(b, k.a, k.b, k.c, k.d);
    ReadOptions o;
    o.apply_rotation = true;
    DecodedVideo v = read_video(VideoSource::from_buffer(b.data(), b.size()), o);
    if (v.info.rotation != k.rotation || v.info.mirrored != k.mirrored)
      XCLIP_FAIL(k.what << ": reported rotation " << v.info.rotation << " mirrored " << v.info.mirrored);
    if (!v.frames.equal(k.expected.contiguous())) XCLIP_FAIL(k.what << ": frames are not oriented as the matrix says");
  }
}

TEST(video_external_files_decode) {
  struct Ext {
    const char* name;
    int64_t frames;
    int w, h;
  };
  for (const Ext& e : {Ext{"decord_video_90.mov", 3, 568, 320}, Ext{"decord_unordered.mov", 4, 50, 50},
                       Ext{"filetype_fixture.mkv", 1, 640, 356}}) {
    auto src = VideoSource::from_path(testing::fixture(std::string("videos-external/") + e.name));
    VideoInfo info = probe_video(src);
    DecodedVideo v = read_video(src);
    std::cout << "    " << e.name << ": " << info.codec << " " << info.width << "x" << info.height << " probe frames "
              << info.frame_count << " container " << info.container_frame_count << " decoded " << v.decoded_frame_count
              << " rotation " << info.rotation << "\n";
    EXPECT_EQ(v.decoded_frame_count, e.frames);
    EXPECT_EQ(info.width, e.w);
    EXPECT_EQ(info.height, e.h);
    EXPECT_EQ(v.frames.size(0), 8);
    // Sparse and full reads agree here too.
    ReadOptions all;
    all.sampling = Sampling::kIndices;
    for (int64_t i = 0; i < v.decoded_frame_count; ++i) all.indices.push_back(i);
    DecodedVideo full = read_video(src, all);
    for (size_t i = 0; i < v.indices.size(); ++i) EXPECT_TRUE(v.frames[i].equal(full.frames[v.indices[i]]));
  }
}

TEST(video_e2e_cases_sampled_indices) {
  json cases = json::parse(std::ifstream(testing::fixture("e2e/cases.json")));
  int checked = 0;
  for (auto& [key, c] : cases["cases"].items()) {
    DecodedVideo v = read_video(VideoSource::from_path(testing::fixture(c["file"].get<std::string>())));
    EXPECT_EQ(v.decoded_frame_count, c["decoded_frames"].get<int64_t>());
    if (v.indices != ints(c["sampled_indices"])) XCLIP_FAIL(key << ": sampled indices differ");
    ++checked;
  }
  EXPECT_TRUE(checked > 0);
}

TEST(video_sampling_rules) {
  ReadOptions o;
  o.num_frames = 8;
  EXPECT_TRUE(sample_frame_indices(o, 60) == std::vector<int64_t>({3, 11, 18, 26, 33, 41, 48, 56}));
  o.sampling = Sampling::kUniform;
  EXPECT_TRUE(sample_frame_indices(o, 60) == std::vector<int64_t>({0, 8, 16, 25, 33, 42, 50, 59}));
  o.sampling = Sampling::kHfRandom;
  o.frame_sample_rate = 4;
  o.seed = 7;
  auto a = sample_frame_indices(o, 300);
  EXPECT_TRUE(a == sample_frame_indices(o, 300));  // deterministic per seed
  EXPECT_EQ(a.size(), size_t(8));
  // linspace(start, end, 8) with end - start = 32: steps of 32/7, last clipped to end - 1.
  int64_t start = a[0];
  for (int i = 0; i < 7; ++i) EXPECT_EQ(a[i], start + static_cast<int64_t>(i * 32.0 / 7.0));
  EXPECT_EQ(a[7], start + 31);
  EXPECT_TRUE(start >= 0 && start + 32 <= 299);
  o.seed = 8;
  bool differs = false;
  for (int s = 8; s < 20 && !differs; ++s) {
    o.seed = s;
    differs = sample_frame_indices(o, 300) != a;
  }
  EXPECT_TRUE(differs);
  // Too short for the window: numpy would raise; we span the whole video.
  auto short_idx = sample_frame_indices(o, 10);
  EXPECT_EQ(short_idx.front(), 0);
  EXPECT_EQ(short_idx.back(), 9);
}

// Overlapping windows: 1 s clips every 0.5 s over the 2 s, 30 fps h264 fixture -> [0,1) [0.5,1.5) [1,2); frames
// shared by two clips are decoded once and come out equal to read_video's. A stride longer than the clip leaves
// gaps.
TEST(video_clips_overlap_with_a_stride) {
  auto src = VideoSource::from_path(testing::fixture("videos/h264_320x240_30fps.mp4"));
  ClipOptions co;
  co.num_frames = 8;
  co.clip_seconds = 1;
  co.stride_seconds = 0.5;
  VideoClips c = read_video_clips(src, co);
  EXPECT_EQ(c.clips.size(), size_t(3));
  const int64_t first[] = {0, 15, 30}, end[] = {30, 45, 60};
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(c.clips[i].first_frame, first[i]);
    EXPECT_EQ(c.clips[i].end_frame, end[i]);
    EXPECT_TRUE(std::abs(c.clips[i].start_seconds - 0.5 * i) < 1e-9);
    ReadOptions o;
    o.sampling = Sampling::kIndices;
    o.indices = c.clips[i].indices;
    EXPECT_TRUE(c.clips[i].frames.equal(read_video(src, o).frames));
  }
  co.clip_seconds = 0.5;
  co.stride_seconds = 1.5;
  VideoClips gaps = read_video_clips(src, co);
  EXPECT_EQ(gaps.clips.size(), size_t(2));
  EXPECT_EQ(gaps.clips[0].end_frame, 15);
  EXPECT_EQ(gaps.clips[1].first_frame, 45);
}

TEST(video_clips_are_consecutive_and_match_read_video) {
  auto src = VideoSource::from_path(testing::fixture("videos/vfr_h264_192x108.mp4"));
  ClipOptions co;
  co.num_frames = 4;
  co.num_clips = 3;
  VideoClips c = read_video_clips(src, co);
  EXPECT_EQ(c.clips.size(), size_t(3));
  EXPECT_EQ(c.clips[0].first_frame, 0);
  EXPECT_EQ(c.clips[2].end_frame, 30);
  for (size_t i = 0; i + 1 < c.clips.size(); ++i) {
    EXPECT_EQ(c.clips[i].end_frame, c.clips[i + 1].first_frame);
    EXPECT_TRUE(std::abs(c.clips[i].end_seconds - c.clips[i + 1].start_seconds) < 1e-9);
  }
  for (const auto& clip : c.clips) {
    ReadOptions o;
    o.sampling = Sampling::kIndices;
    o.indices = clip.indices;
    EXPECT_TRUE(clip.frames.equal(read_video(src, o).frames));
  }
  // By time (pts listed in videos.json): 0.5 s windows -> frames [0,12), [12,16), ...
  ClipOptions ct;
  ct.num_frames = 2;
  ct.clip_seconds = 0.5;
  VideoClips t = read_video_clips(src, ct);
  EXPECT_EQ(t.clips[0].first_frame, 0);
  EXPECT_EQ(t.clips[0].end_frame, 12);  // pts 0, 0.04, ..., 0.4, 0.48
  EXPECT_EQ(t.clips[1].end_frame, 16);  // 0.6, 0.68, 0.8, 0.88
  EXPECT_EQ(t.clips.back().end_frame, 30);
  for (const auto& clip : t.clips) {
    EXPECT_TRUE(clip.end_seconds - clip.start_seconds <= 0.5 + 1e-9);
    EXPECT_EQ(clip.frames.size(0), 2);
  }
  EXPECT_ERROR(read_video_clips(src, ClipOptions{}), ErrorCode::kInvalidInput, "clip_seconds");

  // Truncated file (sequential path): clips cover the 22 frames that decode.
  ClipOptions tc;
  tc.num_frames = 4;
  tc.num_clips = 2;
  VideoClips tr = read_video_clips(VideoSource::from_path(testing::fixture("videos/broken_truncated.mp4")), tc);
  EXPECT_TRUE(tr.truncated);
  EXPECT_EQ(tr.decoded_frame_count, 22);
  EXPECT_EQ(tr.clips.size(), size_t(2));
  EXPECT_EQ(tr.clips[0].end_frame, 11);
  EXPECT_EQ(tr.clips[1].end_frame, 22);
  EXPECT_TRUE(tr.clips[1].indices == std::vector<int64_t>({12, 15, 17, 20}));
}

// Seeking between GOPs: longer multi-keyframe files made with the ffmpeg CLI (skipped when it is missing), in
// containers whose seek indexes differ (mp4/mkv by pts, avi by dts, webm cues); sparse reads must equal a full read.
TEST(video_seek_across_keyframes_matches_sequential) {
  std::string dir = testing::temp_dir();
  struct Variant {
    const char* file;
    const char* codec_args;
    bool indexed;  // AVI with B-frames has no per-packet pts: the sequential path must give the same frames
  };
  const Variant variants[] = {{"gop.mp4", "-c:v libx264 -g 25 -bf 2", true},
                              {"gop.mkv", "-c:v libx264 -g 25 -bf 3", true},
                              {"gop.avi", "-c:v mpeg4 -g 25 -bf 0", true},
                              {"gop_bframes.avi", "-c:v mpeg4 -g 25 -bf 1", false},
                              {"gop.webm", "-c:v libvpx-vp9 -g 25 -deadline realtime -cpu-used 8", true}};
  for (const Variant& var : variants) {
    std::string path = dir + "/" + var.file;
    std::string cmd = std::string("ffmpeg -v error -y -f lavfi -i testsrc2=size=96x64:rate=25:duration=12 ") +
                      var.codec_args + " -pix_fmt yuv420p " + path + " 2>/dev/null";
    if (std::system(cmd.c_str()) != 0) {
      std::cout << "    (ffmpeg CLI could not make " << var.file << ": skipped)\n";
      continue;
    }
    auto src = VideoSource::from_path(path);
    ReadOptions all;
    all.sampling = Sampling::kIndices;
    for (int64_t i = 0; i < 300; ++i) all.indices.push_back(i);
    DecodedVideo full = read_video(src, all);
    EXPECT_EQ(full.decoded_frame_count, 300);
    for (int t : {3, 8, 16}) {
      ReadOptions o;
      o.num_frames = t;
      DecodedVideo s = read_video(src, o);
      for (size_t i = 0; i < s.indices.size(); ++i)
        if (!s.frames[i].equal(full.frames[s.indices[i]])) XCLIP_FAIL(var.file << " frame " << s.indices[i] << " differs");
    }
    for (int threads : {1, 3}) {  // frame threading must not change a pixel
      ReadOptions o;
      o.threads = threads;
      DecodedVideo s = read_video(src, o);
      for (size_t i = 0; i < s.indices.size(); ++i)
        if (!s.frames[i].equal(full.frames[s.indices[i]])) XCLIP_FAIL(var.file << " frame " << s.indices[i] << " differs with " << threads << " threads");
    }
    ReadOptions pick;
    pick.sampling = Sampling::kIndices;
    pick.indices = {299, 0, 24, 25, 26, 150, 149, 151};
    DecodedVideo p = read_video(src, pick);
    for (size_t i = 0; i < pick.indices.size(); ++i)
      if (!p.frames[i].equal(full.frames[pick.indices[i]])) XCLIP_FAIL(var.file << " picked frame " << pick.indices[i]);
    std::cout << "    " << var.file << ": 8 picked frames cost " << p.decode_work_frames << " decoded frames, index path "
              << p.used_index << "\n";
    EXPECT_EQ(p.used_index, var.indexed);
    if (var.indexed) EXPECT_TRUE(p.decode_work_frames < 150);  // three GOPs decoded, not all 300 frames
  }
}

// An MP4 cut with `-ss 0.5 -c copy` keeps the preroll GOP behind an edit list: its packets are flagged DISCARD,
// must be decoded as references, and are not frames. Reference: the ffmpeg CLI's own decode of the same file.
TEST(video_edit_list_preroll_is_decoded_not_counted) {
  std::string dir = testing::temp_dir();
  std::string src_path = dir + "/src.mp4", cut = dir + "/cut.mp4", raw = dir + "/cut.rgb";
  std::string cmd = "ffmpeg -v error -y -f lavfi -i testsrc2=size=96x64:rate=25:duration=12 -c:v libx264 -g 25 -bf 2 "
                    "-pix_fmt yuv420p " + src_path + " && ffmpeg -v error -y -ss 0.5 -i " + src_path + " -c copy " + cut +
                    " && ffmpeg -v error -i " + cut + " -vsync passthrough -f rawvideo -pix_fmt rgb24 -sws_flags bilinear -y " +
                    raw + " 2>/dev/null";
  if (std::system(cmd.c_str()) != 0) {
    std::cout << "    (ffmpeg CLI not available: skipped)\n";
    return;
  }
  std::vector<uint8_t> ref = read_bytes(raw);
  const int64_t n = static_cast<int64_t>(ref.size() / (96 * 64 * 3));
  auto src = VideoSource::from_path(cut);
  VideoInfo info = probe_video(src);
  EXPECT_EQ(info.frame_count, n);
  ReadOptions all;
  all.sampling = Sampling::kIndices;
  for (int64_t i = 0; i < n; ++i) all.indices.push_back(i);
  DecodedVideo full = read_video(src, all);
  EXPECT_EQ(full.decoded_frame_count, n);
  at::Tensor expected = at::from_blob(ref.data(), {n, 64, 96, 3}, at::kByte);
  int max_abs = (full.frames.to(at::kInt) - expected.to(at::kInt)).abs().max().item<int>();
  std::cout << "    cut.mp4: " << n << " frames, max abs vs ffmpeg CLI " << max_abs << "\n";
  EXPECT_TRUE(max_abs <= 1);
  ReadOptions o;
  o.num_frames = 8;
  DecodedVideo s = read_video(src, o);
  EXPECT_TRUE(s.used_index);
  for (size_t i = 0; i < s.indices.size(); ++i) EXPECT_TRUE(s.frames[i].equal(full.frames[s.indices[i]]));
}
