// In-process video decoding (FFmpeg 5.1: libavformat/libavcodec/libswscale) for X-CLIP inputs.
// Frames are numbered the way PyAV / decord count them: position in presentation order among the frames the
// decoder yields (B-frames and variable frame rate included; timestamps are never assumed to be regular).
// RGB conversion matches PyAV's frame.to_ndarray(format="rgb24") (sws_scale, SWS_BILINEAR, libav's default
// colorspace handling), so frames equal the fixtures' PyAV frames.
//
// All structs are plain data so the N-API layer can copy options in and results out without adapters.
#pragma once

#include <ATen/ATen.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace xclip {

// A whole video file, either a path or the caller's in-memory bytes, read through the same custom AVIO callbacks
// (never a temp file, never an FFmpeg protocol). A path names exactly one regular file, opened once per call; a
// path with a NUL character is refused. For a buffer the caller keeps the bytes alive for the duration of the call;
// bytes that change meanwhile may fail the call (kVideoDecode) but are read safely.
struct VideoSource {
  std::string path;              // used when data == nullptr
  const uint8_t* data = nullptr;  // whole file in memory
  size_t size = 0;

  static VideoSource from_path(std::string p) {
    VideoSource s;
    s.path = std::move(p);
    return s;
  }
  static VideoSource from_buffer(const uint8_t* d, size_t n) {
    VideoSource s;
    s.data = d;
    s.size = n;
    return s;
  }
  bool is_buffer() const { return data != nullptr || path.empty(); }
  std::string describe() const;  // the path, or "<buffer of N bytes>", for error messages
};

constexpr int64_t kDefaultMaxPixels = 4096LL * 4096LL;  // per frame; 0 disables the guard
// Frames in one stream (packets counted by the demux pass, frames by the decoder): 9.7 hours at 30 fps.
// More is refused with kVideoTooLarge; 0 disables the guard.
constexpr int64_t kDefaultMaxFrames = 1LL << 20;
// Wall-clock bound of one probe/read call, checked between packets and inside FFmpeg's reads and stream probing;
// exceeding it throws kVideoTimeout. Sampled reads take milliseconds; a sequential pass over an hour of 1080p takes
// minutes on 2 cores. 0 disables the bound.
constexpr int64_t kDefaultTimeoutMs = 600000;
// Most decoder threads one call may ask for (0 lets FFmpeg choose from the core count).
constexpr int kMaxDecoderThreads = 64;

struct VideoInfo {
  bool has_video = false;
  int width = 0;   // stored (decoded) size, before any rotation
  int height = 0;
  double fps = 0;  // average frame rate (stream avg_frame_rate; 0 if unknown)
  // Number of frames: counted by a demux-only pass (no decoding) over the stream's packets, leaving out edit-list
  // preroll packets (decoded, never shown). It equals the decoded count for intact files (all fixtures, also WebM,
  // whose container has no count). The container's own number is container_frame_count (0 when absent; it still
  // says 60 for the truncated fixture). read_video's decoded_frame_count is authoritative: for a damaged file
  // (index_incomplete) it is what actually decodes, e.g. 22 where the index lists 25 packets.
  int64_t frame_count = 0;
  int64_t container_frame_count = 0;
  bool index_incomplete = false;  // the demux pass hit a read error / corrupt packet (e.g. truncated file)
  double duration = 0;            // seconds (stream duration, else container duration)
  std::string codec;              // decoder name, e.g. "h264", "vp9", "mjpeg"
  std::string pix_fmt;            // e.g. "yuv420p", "yuvj420p"
  // Display matrix: mirror horizontally when `mirrored`, then rotate counterclockwise by `rotation` degrees
  // (0/90/180/-90; ffprobe's sign for plain rotations). A mirroring matrix is {0, true} or, for a vertical mirror,
  // {180, true}: ffprobe calls both a rotation by 180.
  int rotation = 0;
  bool mirrored = false;
};

enum class Sampling {
  kSegmentMiddle,  // X-CLIP test-time: idx_i = floor((2i+1)*N / (2*num_frames)); repeats when N < num_frames
  kUniform,        // idx_i = trunc(linspace(0, N-1, num_frames)[i]) (first and last frame included)
  kIndices,        // ReadOptions::indices as given (each must be in [0, N))
  kHfRandom,       // transformers' X-CLIP docs sample_frame_indices(clip_len=num_frames, frame_sample_rate, N)
  kAtTimes,        // ReadOptions::times: the frame on screen at each time (see there)
};

struct ReadOptions {
  int num_frames = 8;
  Sampling sampling = Sampling::kSegmentMiddle;
  std::vector<int64_t> indices;  // kIndices
  // kAtTimes: seconds on the timestamps' clock (pts * time_base, as DecodedVideo::timestamps); each picks the last
  // frame presented at or before that time, the first frame for earlier times, the last one for later times.
  std::vector<double> times;
  // kHfRandom: converted_len = num_frames*frame_sample_rate; end ~ U{converted_len, N-1} (std::mt19937_64(seed),
  // uniform_int_distribution); start = end - converted_len; linspace(start, end, num_frames) clipped to
  // [start, end-1] and truncated. Same formula as the docs' numpy code, NOT the same random numbers as
  // np.random. When N <= converted_len (numpy would raise) start = 0, end = N.
  int frame_sample_rate = 4;
  uint64_t seed = 0;
  int64_t max_pixels = kDefaultMaxPixels;  // refuse width*height above this before decoding (kVideoTooLarge)
  int64_t max_frames = kDefaultMaxFrames;  // refuse streams with more frames (kVideoTooLarge)
  int64_t timeout_ms = kDefaultTimeoutMs;  // give up after this long (kVideoTimeout)
  bool apply_rotation = false;             // mirror and rotate frames as the display matrix says (upright)
  // Decoder threads for the seek path (frame + slice threading), 0..kMaxDecoderThreads; 0 = automatic. The
  // sequential path (damaged files, AVI with B-frames) uses slice threads only, as PyAV does, so its frame count
  // matches PyAV's. Frame threads cost ~25% more CPU per frame than one thread: callers that decode several videos
  // at once get more throughput from one thread each.
  int threads = 0;
  // Set by another thread to stop the call at the next packet or FFmpeg read; it then throws kCancelled. The
  // caller keeps the flag alive for the duration of the call.
  const std::atomic<bool>* cancel = nullptr;
};

// Memory: one call holds its output (every requested frame, repeats included, at most 8 GiB; more is refused with
// kVideoTooLarge before decoding), one RGB frame, the decoder's own frames (bounded by max_pixels) and the packet
// index (bounded by max_frames; an MP4 whose sample tables claim more than max_frames video frames, or more samples
// in any track than it has bytes, is refused with kVideoTooLarge before FFmpeg builds its index).
struct DecodedVideo {
  at::Tensor frames;               // uint8 [n, H, W, 3] RGB24 (H, W swapped when a 90/-90 rotation is applied)
  std::vector<int64_t> indices;    // frame index of each output frame (presentation order)
  std::vector<double> timestamps;  // seconds: pts * time_base, as PyAV's frame.time (start_time not subtracted)
  VideoInfo info;
  int64_t decoded_frame_count = 0;  // N the sampling ran over
  // Cost report: frames the decoder produced (all passes), and whether the packet index + seeking served the
  // request (false: the sequential PyAV-like path ran, e.g. for a truncated file or missing timestamps).
  int64_t decode_work_frames = 0;
  bool used_index = false;
  // Truncated/corrupt stream: decoding stopped at the first error (as PyAV does) and sampling ran over the
  // frames that decoded before it; `warning` says where and why. Never invented frames.
  bool truncated = false;
  std::string warning;
};

VideoInfo probe_video(const VideoSource& source, int64_t max_pixels = kDefaultMaxPixels,
                      int64_t max_frames = kDefaultMaxFrames, int64_t timeout_ms = kDefaultTimeoutMs,
                      const std::atomic<bool>* cancel = nullptr);
DecodedVideo read_video(const VideoSource& source, const ReadOptions& options = {});

// Frame indices for a sampling rule over n_frames frames (exposed so callers/tests can check the rule).
std::vector<int64_t> sample_frame_indices(const ReadOptions& options, int64_t n_frames);

struct ClipOptions {
  int num_frames = 8;         // frames per clip (SegmentMiddle inside each clip)
  double clip_seconds = 0;    // either: windows of this length (last one may be shorter) ...
  double stride_seconds = 0;  //    starting every stride_seconds (0: clip_seconds, back to back; less: overlapping)
  int num_clips = 0;          // ... or: this many equal frame-count segments
  int64_t max_pixels = kDefaultMaxPixels;
  int64_t max_frames = kDefaultMaxFrames;
  int64_t timeout_ms = kDefaultTimeoutMs;
  bool apply_rotation = false;
  int threads = 0;
  const std::atomic<bool>* cancel = nullptr;  // as ReadOptions::cancel
};

struct VideoClip {
  at::Tensor frames;  // uint8 [num_frames, H, W, 3]
  std::vector<int64_t> indices;
  std::vector<double> timestamps;
  // clip_seconds: the window [t0 + j*stride, t0 + j*stride + clip_seconds) (t0 = first frame's pts, stride =
  // stride_seconds or clip_seconds; the last window reaches the stream end); windows holding no frame (VFR gaps)
  // produce no clip.
  // num_clips: from the clip's first frame pts to the next clip's first frame pts (stream end for the last).
  double start_seconds = 0;
  double end_seconds = 0;
  int64_t first_frame = 0;   // frame range [first_frame, end_frame)
  int64_t end_frame = 0;
};

struct VideoClips {
  std::vector<VideoClip> clips;
  VideoInfo info;
  int64_t decoded_frame_count = 0;
  bool truncated = false;
  std::string warning;
};

// Clips covering the whole video (overlapping when stride_seconds < clip_seconds); a frame used by several clips
// is decoded once.
VideoClips read_video_clips(const VideoSource& source, const ClipOptions& options);

// A preview of one moment: the frame on screen at `seconds` (ReadOptions::times), turned upright by the
// display-matrix rotation, scaled down to at most max_width pixels wide (aspect kept, never enlarged), encoded as a
// baseline JPEG by libavcodec's mjpeg encoder (full-range YUV 4:2:0, what every browser shows).
struct ThumbnailOptions {
  double seconds = 0;
  int max_width = 320;  // 16..4096
  int quality = 5;      // mjpeg qscale: 2 (best, biggest) .. 31
  int64_t max_pixels = kDefaultMaxPixels;
  int64_t max_frames = kDefaultMaxFrames;
  int64_t timeout_ms = kDefaultTimeoutMs;
  int threads = 1;
  const std::atomic<bool>* cancel = nullptr;  // as ReadOptions::cancel
};

struct Thumbnail {
  std::vector<uint8_t> jpeg;  // a whole .jpg file
  int width = 0;
  int height = 0;
  double timestamp = 0;     // the chosen frame's presentation time (seconds, the timestamps' clock)
  int64_t frame_index = 0;  // its index in presentation order
};

Thumbnail video_thumbnail(const VideoSource& source, const ThumbnailOptions& options);

// Encodes an RGB24 image (uint8 [H, W, 3]) as a JPEG, scaled down to at most max_width wide; what
// video_thumbnail does after decoding.
std::vector<uint8_t> encode_jpeg(const at::Tensor& rgb, int max_width, int quality, int* out_width = nullptr,
                                 int* out_height = nullptr);

}  // namespace xclip
