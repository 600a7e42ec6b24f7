// The public video API: frame sampling rules, probe_video, and read_video / read_video_clips, which plan the frames
// each call wants (sampled indices, or consecutive clips) and leave the decoding to the engine (video_engine.h).
// Frames are numbered the way PyAV counts them, and RGB conversion matches PyAV's to_ndarray(format="rgb24"); see
// xclip/video.h.
#include "xclip/video.h"

#include <algorithm>
#include <cmath>
#include <random>

#include "video_engine.h"
#include "xclip/config.h"
#include "xclip/error.h"

namespace xclip {

using video::Collected;
using video::DecodeConfig;
using video::FrameTable;

std::string VideoSource::describe() const {
  if (data != nullptr || path.empty()) return "<buffer of " + std::to_string(size) + " bytes>";
  return path;
}

namespace {

std::vector<double> timestamps_of(const Collected& c, const std::vector<int64_t>& indices) {
  std::vector<double> t;
  t.reserve(indices.size());
  for (int64_t i : indices) t.push_back(c.table.pts_seconds.at(i));
  return t;
}

constexpr size_t kMaxIndices = 100000;

}  // namespace

std::vector<int64_t> sample_frame_indices(const ReadOptions& o, int64_t n) {
  if (n <= 0) throw Error(ErrorCode::kInvalidInput, "cannot sample frames from a video with 0 frames");
  std::vector<int64_t> idx;
  if (o.sampling == Sampling::kIndices) return o.indices;
  if (o.sampling == Sampling::kAtTimes)
    throw Error(ErrorCode::kInvalidInput, "sampling at times needs the stream's timestamps: use read_video");
  const int64_t t = o.num_frames;
  if (t <= 0) throw Error(ErrorCode::kInvalidInput, "num_frames must be positive, got " + std::to_string(t));
  switch (o.sampling) {
    case Sampling::kSegmentMiddle:
      for (int64_t i = 0; i < t; ++i) idx.push_back((2 * i + 1) * n / (2 * t));
      break;
    case Sampling::kUniform:
      for (int64_t i = 0; i < t; ++i)
        idx.push_back(t == 1 ? 0 : static_cast<int64_t>(static_cast<double>(i) * static_cast<double>(n - 1) / (t - 1)));
      break;
    case Sampling::kHfRandom: {
      if (o.frame_sample_rate <= 0)
        throw Error(ErrorCode::kInvalidInput, "frame_sample_rate must be positive, got " + std::to_string(o.frame_sample_rate));
      const int64_t converted = t * o.frame_sample_rate;
      int64_t start = 0, end = n;
      if (n > converted) {
        std::mt19937_64 rng(o.seed);
        end = std::uniform_int_distribution<int64_t>(converted, n - 1)(rng);
        start = end - converted;
      }
      // np.linspace(start, end, t) then clip to [start, end-1] and astype(int64).
      const double step = t > 1 ? static_cast<double>(end - start) / static_cast<double>(t - 1) : 0.0;
      for (int64_t i = 0; i < t; ++i) {
        double v = t > 1 && i == t - 1 ? static_cast<double>(end) : static_cast<double>(start) + i * step;
        v = std::min(std::max(v, static_cast<double>(start)), static_cast<double>(end - 1));
        idx.push_back(static_cast<int64_t>(v));
      }
      break;
    }
    case Sampling::kIndices:
    case Sampling::kAtTimes: break;
  }
  return idx;
}

VideoInfo probe_video(const VideoSource& source, int64_t max_pixels, int64_t max_frames, int64_t timeout_ms,
                      const std::atomic<bool>* cancel) {
  const video::ByteSource bytes(source);
  const video::DecodeControl control(timeout_ms, source.describe(), cancel);
  video::Demuxer d(bytes, video::DemuxLimits{max_pixels, max_frames}, control);
  VideoInfo info = video::stream_info(d);
  if (info.has_video) {
    video::PacketIndex idx = video::scan_packets(d, max_frames, control);
    info.frame_count = idx.frames;
    info.index_incomplete = !idx.anomaly.empty();
  }
  return info;
}

namespace {

// The limits and decoder settings ReadOptions and ClipOptions share.
template <class Options>
DecodeConfig decode_config(const Options& o) {
  DecodeConfig cfg;
  cfg.max_pixels = o.max_pixels;
  cfg.threads = o.threads;
  cfg.max_frames = o.max_frames;
  cfg.timeout_ms = o.timeout_ms;
  cfg.apply_orientation = o.apply_rotation;
  cfg.cancel = o.cancel;
  return cfg;
}

// The frame on screen at each time: the last one whose pts is at or before it (pts_seconds is sorted).
std::vector<int64_t> frames_at_times(const std::vector<double>& times, const FrameTable& t) {
  std::vector<int64_t> out;
  const auto end = t.pts_seconds.begin() + t.n;
  for (double s : times) {
    const int64_t after = std::upper_bound(t.pts_seconds.begin(), end, s + 1e-9) - t.pts_seconds.begin();
    out.push_back(std::max<int64_t>(after - 1, 0));
  }
  return out;
}

DecodedVideo read_video_impl(const VideoSource& source, const ReadOptions& options) {
  if (options.sampling == Sampling::kAtTimes) {
    if (options.times.empty() || options.times.size() > kMaxIndices)
      throw Error(ErrorCode::kInvalidInput, "sampling at times needs 1 to " + std::to_string(kMaxIndices) + " times, got " +
                                                std::to_string(options.times.size()));
    for (double s : options.times)
      if (!std::isfinite(s)) throw Error(ErrorCode::kInvalidInput, "sampling times must be finite numbers of seconds");
  } else if (options.sampling != Sampling::kIndices && (options.num_frames <= 0 || options.num_frames > kMaxNumFrames)) {
    throw Error(ErrorCode::kInvalidInput,
                "num_frames must be in [1, " + std::to_string(kMaxNumFrames) + "], got " + std::to_string(options.num_frames));
  }
  if (options.sampling == Sampling::kIndices && (options.indices.empty() || options.indices.size() > kMaxIndices))
    throw Error(ErrorCode::kInvalidInput, "sampling by explicit indices needs 1 to " + std::to_string(kMaxIndices) +
                                              " indices, got " + std::to_string(options.indices.size()));
  const DecodeConfig cfg = decode_config(options);
  Collected c = video::decode_frames(source, cfg, [&](const FrameTable& t) {
    return options.sampling == Sampling::kAtTimes ? frames_at_times(options.times, t) : sample_frame_indices(options, t.n);
  });
  DecodedVideo v;
  v.info = c.info;
  v.decoded_frame_count = c.table.n;
  v.decode_work_frames = c.work_frames;
  v.used_index = c.indexed;
  v.truncated = c.table.truncated;
  v.warning = c.table.warning;
  v.timestamps = timestamps_of(c, c.order);
  v.indices = std::move(c.order);
  v.frames = std::move(c.frames);
  return v;
}

VideoClips read_video_clips_impl(const VideoSource& source, const ClipOptions& options) {
  if (options.num_frames <= 0 || options.num_frames > kMaxNumFrames)
    throw Error(ErrorCode::kInvalidInput,
                "num_frames must be in [1, " + std::to_string(kMaxNumFrames) + "], got " + std::to_string(options.num_frames));
  if ((options.clip_seconds > 0) == (options.num_clips > 0))
    throw Error(ErrorCode::kInvalidInput, "give exactly one of clip_seconds (> 0) or num_clips (> 0)");
  const DecodeConfig cfg = decode_config(options);
  std::vector<std::pair<int64_t, int64_t>> ranges;
  std::vector<std::pair<double, double>> windows;  // clip_seconds mode: the time window of each clip
  std::vector<std::vector<int64_t>> per_clip;
  Collected c = video::decode_frames(source, cfg, [&](const FrameTable& t) {
    ranges.clear();  // the planner runs again when the index path falls back to sequential decoding
    windows.clear();
    per_clip.clear();
    const int64_t n = t.n;
    if (options.num_clips > 0) {
      const int64_t k = std::min<int64_t>(options.num_clips, n);
      for (int64_t i = 0; i < k; ++i) ranges.emplace_back(i * n / k, (i + 1) * n / k);
    } else {
      // Windows [t0 + j*stride, t0 + j*stride + clip_seconds) by presentation time; pts are sorted by index.
      // Back to back (stride = clip_seconds) every frame is in one window; empty windows (VFR gaps) are skipped.
      const double t0 = t.pts_seconds.front(), clip = options.clip_seconds;
      const double stride = options.stride_seconds > 0 ? options.stride_seconds : clip;
      const auto at_or_after = [&](double s) {
        return std::lower_bound(t.pts_seconds.begin(), t.pts_seconds.begin() + n, s - 1e-9) - t.pts_seconds.begin();
      };
      int64_t first = 0, previous = -1;
      while (first < n) {
        // The first window after the previous one that holds frame `first`.
        const int64_t j = std::max<int64_t>(
            previous + 1, static_cast<int64_t>(std::floor((t.pts_seconds[first] - t0 - clip) / stride + 1e-9)) + 1);
        previous = j;
        const double start_t = t0 + j * stride, end_t = start_t + clip;
        const int64_t a = at_or_after(start_t), b = at_or_after(end_t);
        ranges.emplace_back(a, b);
        windows.emplace_back(start_t, end_t);
        if (b >= n) break;
        first = at_or_after(start_t + stride);
      }
    }
    std::vector<int64_t> all;
    ReadOptions ro;
    ro.num_frames = options.num_frames;
    for (auto [a, b] : ranges) {
      std::vector<int64_t> idx = sample_frame_indices(ro, b - a);
      for (auto& i : idx) i += a;
      all.insert(all.end(), idx.begin(), idx.end());
      per_clip.push_back(std::move(idx));
    }
    return all;
  });
  VideoClips out;
  out.info = c.info;
  out.decoded_frame_count = c.table.n;
  out.truncated = c.table.truncated;
  out.warning = c.table.warning;
  const double stream_end = c.info.duration > 0 ? std::max(c.info.duration, c.table.pts_seconds.back())
                                                 : c.table.pts_seconds.back();
  int64_t offset = 0;  // clips are consecutive slices of the one output, which holds each clip's frames in turn
  for (size_t i = 0; i < ranges.size(); ++i) {
    VideoClip clip;
    clip.first_frame = ranges[i].first;
    clip.end_frame = ranges[i].second;
    clip.indices = per_clip[i];
    clip.timestamps = timestamps_of(c, clip.indices);
    const auto n = static_cast<int64_t>(clip.indices.size());
    clip.frames = c.frames.narrow(0, offset, n);
    offset += n;
    if (!windows.empty()) {
      clip.start_seconds = windows[i].first;
      clip.end_seconds = std::min(windows[i].second, std::max(stream_end, c.table.pts_seconds[clip.end_frame - 1]));
    } else {
      clip.start_seconds = c.table.pts_seconds[clip.first_frame];
      clip.end_seconds = clip.end_frame < c.table.n ? c.table.pts_seconds[clip.end_frame] : stream_end;
    }
    out.clips.push_back(std::move(clip));
  }
  return out;
}

}  // namespace

DecodedVideo read_video(const VideoSource& source, const ReadOptions& options) {
  return translating_errors("read_video", [&] { return read_video_impl(source, options); });
}

VideoClips read_video_clips(const VideoSource& source, const ClipOptions& options) {
  return translating_errors("read_video_clips", [&] { return read_video_clips_impl(source, options); });
}

}  // namespace xclip
