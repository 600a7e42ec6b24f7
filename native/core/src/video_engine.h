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

PacketIndex scan_packets(Demuxer& d, int64_t max_frames, const DecodeControl& control);

// ---- the decode engine -----------------------------------------------------------------------------------------
struct DecodeConfig {
  int64_t max_pixels = kDefaultMaxPixels;
  int threads = 0;
  int64_t max_frames = kDefaultMaxFrames;
  int64_t timeout_ms = kDefaultTimeoutMs;
  bool apply_orientation = false;             // frames come out mirrored/rotated as the display matrix says
  const std::atomic<bool>* cancel = nullptr;  // see ReadOptions::cancel
  // Tests only: runs after the packet scan, before the frames are decoded (to change the source in between).
  std::function<void()> between_passes;
};

struct FrameTable {
  int64_t n = 0;
  std::vector<double> pts_seconds;  // per frame index
  bool truncated = false;
  std::string warning;
};

// Given the frame table, returns the frame index of every output frame, in output order; an index may repeat.
using Planner = std::function<std::vector<int64_t>(const FrameTable&)>;

struct Collected {
  int64_t work_frames = 0;  // frames the decoder produced, all passes
  bool indexed = false;     // served by the packet index + seeks (no sequential fallback)
  VideoInfo info;
  FrameTable table;
  std::vector<int64_t> order;  // what the planner asked for
  at::Tensor frames;           // uint8 [order.size(), H, W, 3]: frame order[i] at i, each decoded once
};

// Upper bound for one call's RGB output, repeated frames included, so a request cannot exhaust memory.
constexpr int64_t kMaxOutputBytes = 8LL << 30;

// Opens `src` once, builds the frame table, asks `plan` which frames to output and decodes each distinct one once,
// straight into its place(s) in the output.
Collected decode_frames(const VideoSource& src, const DecodeConfig& cfg, const Planner& plan);

}  // namespace xclip::video
