// The decode engine: a demux-only pass lists every packet of the stream (pts, key flag) in decode order; sorting the
// pts gives each frame's index in presentation order without decoding (B-frames, VFR). Then only the
// keyframe-started runs that contain the wanted frames are decoded, seeking between runs. Anything unexpected
// (missing or duplicate pts, a read/decode error, a seek that lands too late, a frame whose pts is not in the table)
// falls back to a plain sequential decode from the start, which also defines the count for truncated files the way
// PyAV does. Internal to the core; which frames are wanted is the caller's Planner.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "video_ffmpeg.h"
#include "xclip/video.h"

namespace xclip::video {

// ---- demux-only index ------------------------------------------------------------------------------------------
struct PacketIndex {
  // Every packet of the stream in decode order. Packets flagged DISCARD (edit-list preroll) are decoded as
  // references but their frames are dropped by libavcodec, so they are not frames (shown == 0).
  std::vector<int64_t> pts;
  std::vector<int64_t> dts;
  std::vector<uint8_t> key;
  std::vector<uint8_t> shown;
  int64_t frames = 0;         // packets that yield a frame
  std::string anomaly;        // non-empty: read error / corrupt packet; the index cannot be trusted for counting
};

PacketIndex scan_packets(Demuxer& d, int64_t max_frames, const Deadline& deadline);

// ---- the decode engine -----------------------------------------------------------------------------------------
struct DecodeConfig {
  int64_t max_pixels = kDefaultMaxPixels;
  int threads = 0;
  int64_t max_frames = kDefaultMaxFrames;
  int64_t timeout_ms = kDefaultTimeoutMs;
};

struct FrameTable {
  int64_t n = 0;
  std::vector<double> pts_seconds;  // per frame index
  bool truncated = false;
  std::string warning;
};

// Given the frame table, returns the frame indices to decode (any order, duplicates allowed).
using Planner = std::function<std::vector<int64_t>(const FrameTable&)>;

struct Collected {
  int64_t work_frames = 0;  // frames the decoder produced, all passes
  bool indexed = false;     // served by the packet index + seeks (no sequential fallback)
  VideoInfo info;
  FrameTable table;
  std::vector<int64_t> ranks;  // sorted unique frame indices that were decoded into `frames`
  at::Tensor frames;           // uint8 [ranks.size(), H, W, 3]
};

// Opens `src`, builds the frame table, asks `plan` which frames to decode and decodes each of them once.
Collected decode_frames(const VideoSource& src, const DecodeConfig& cfg, const Planner& plan);

}  // namespace xclip::video
