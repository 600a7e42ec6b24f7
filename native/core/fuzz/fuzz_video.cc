// libFuzzer harness for video decoding from memory (the custom AVIO path every Buffer input takes): probe_video and
// read_video on arbitrary bytes must return or throw xclip::Error. Limits keep one input cheap: small frames,
// a few frames, a 2 s deadline (a hang past it would be a bug: libFuzzer's -timeout catches it).
// Input byte 0 picks the sampling (explicit indices repeat frames 0 and 1, as a caller may), the decoder threads and
// whether the display matrix is applied, so the index/seek path, the all-frames path, repeated output frames and
// every orientation run; bit 0x10 instead changes the bytes between the engine's passes. Seeds: the files of fixtures/videos and fixtures/videos-external, plus inputs made by
// scripts/fuzz.sh for the hostile classes: playlists and concat lists (must not open anything), MP4 sample tables
// claiming millions of samples (must be refused before FFmpeg indexes them), mirrored display matrices.
#include <cstddef>
#include <cstdint>

#include <vector>

#include "video_engine.h"
#include "xclip/error.h"
#include "xclip/video.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const uint8_t mode = data[0];
  const xclip::VideoSource src = xclip::VideoSource::from_buffer(data + 1, size - 1);
  constexpr int64_t kMaxPixels = 640 * 480;
  if (mode & 0x10) {
    // The bytes change between the packet scan and the decoding passes, as a file rewritten or a buffer refilled
    // during a call: the engine must notice or read safely, never trust the second open.
    std::vector<uint8_t> bytes(data + 1, data + size);
    xclip::video::DecodeConfig cfg;
    cfg.max_pixels = kMaxPixels;
    cfg.max_frames = 4096;
    cfg.timeout_ms = 2000;
    cfg.threads = 1;
    cfg.between_passes = [&] {
      for (size_t i = bytes.size() / 2; i < bytes.size(); ++i) bytes[i] ^= 0x5a;
    };
    try {
      xclip::video::decode_frames(xclip::VideoSource::from_buffer(bytes.data(), bytes.size()), cfg,
                                  [](const xclip::video::FrameTable& t) { return std::vector<int64_t>{0, t.n / 2, t.n - 1}; });
    } catch (const xclip::Error&) {
    }
    return 0;
  }
  try {
    xclip::VideoInfo info = xclip::probe_video(src, kMaxPixels, 4096, 2000);
    (void)info;
  } catch (const xclip::Error&) {
  }
  try {
    xclip::ReadOptions o;
    o.max_pixels = kMaxPixels;
    o.max_frames = 4096;
    o.timeout_ms = 2000;
    o.threads = (mode & 1) ? 2 : 1;
    o.num_frames = 1 + (mode >> 1) % 8;
    o.sampling = (mode & 0x40) ? xclip::Sampling::kUniform : xclip::Sampling::kSegmentMiddle;
    if (mode & 0x20) {
      o.sampling = xclip::Sampling::kIndices;
      for (int i = 0; i < o.num_frames; ++i) o.indices.push_back(i % 2);
    }
    o.apply_rotation = (mode & 0x80) != 0;
    xclip::DecodedVideo v = xclip::read_video(src, o);
    if (v.frames.size(0) != o.num_frames) __builtin_trap();
  } catch (const xclip::Error&) {
  }
  return 0;
}
