// FFmpeg 5.1 plumbing for the video decoder: RAII owners, the per-call deadline, the demuxer over a file or bytes
// in memory, the decoder factory and the RGB24 converter. Internal to the core (the decode engine and the
// decode benchmark include it); nothing here knows about frame indices or sampling.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "xclip/error.h"
#include "xclip/video.h"

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/avutil.h>
#include <libswscale/swscale.h>
}

namespace xclip::video {

// The error text of an FFmpeg return code, with the last error FFmpeg logged on this thread (its messages are kept
// for our errors instead of going to stderr; XCLIP_FFMPEG_LOG=1 forwards them too).
std::string av_error_text(int err);

// ---- RAII ------------------------------------------------------------------------------------------------------
struct FormatDeleter {
  void operator()(AVFormatContext* p) const { avformat_close_input(&p); }
};
struct CodecDeleter {
  void operator()(AVCodecContext* p) const { avcodec_free_context(&p); }
};
struct FrameDeleter {
  void operator()(AVFrame* p) const { av_frame_free(&p); }
};
struct PacketDeleter {
  void operator()(AVPacket* p) const { av_packet_free(&p); }
};
struct SwsDeleter {
  void operator()(SwsContext* p) const { sws_freeContext(p); }
};
struct AvioDeleter {
  // avio may have replaced the buffer we gave it, so free whatever it holds now.
  void operator()(AVIOContext* p) const {
    if (p == nullptr) return;
    av_freep(&p->buffer);
    avio_context_free(&p);
  }
};
struct DictDeleter {
  void operator()(AVDictionary* d) const { av_dict_free(&d); }
};
using FormatPtr = std::unique_ptr<AVFormatContext, FormatDeleter>;
using CodecPtr = std::unique_ptr<AVCodecContext, CodecDeleter>;
using FramePtr = std::unique_ptr<AVFrame, FrameDeleter>;
using PacketPtr = std::unique_ptr<AVPacket, PacketDeleter>;
using SwsPtr = std::unique_ptr<SwsContext, SwsDeleter>;
using AvioPtr = std::unique_ptr<AVIOContext, AvioDeleter>;

FramePtr make_frame();
PacketPtr make_packet();

// ---- per-call limits -------------------------------------------------------------------------------------------
// The wall-clock bound of one call, and the caller's cancel flag. FFmpeg polls both through the format context's
// interrupt callback (file reads, stream probing) and our AVIO reader; our own loops check them once per packet. A
// hostile stream therefore cannot keep a worker thread busy past the timeout, whatever it makes the demuxer or
// decoder do, and a cancelled call stops at the next packet.
class DecodeControl {
 public:
  DecodeControl(int64_t timeout_ms, std::string what, const std::atomic<bool>* cancel = nullptr)
      : timeout_ms_(timeout_ms), what_(std::move(what)), cancel_(cancel) {
    if (timeout_ms_ > 0) end_ = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms_);
  }
  bool cancelled() const { return cancel_ != nullptr && cancel_->load(std::memory_order_relaxed); }
  bool expired() const {
    return cancelled() || (timeout_ms_ > 0 && std::chrono::steady_clock::now() >= end_);
  }
  void check() const {
    if (cancelled()) throw Error(ErrorCode::kCancelled, "decoding video " + what_ + " was cancelled");
    if (expired())
      throw Error(ErrorCode::kVideoTimeout, "video " + what_ + " took longer than the " + std::to_string(timeout_ms_) +
                                                " ms timeout (raise timeout_ms if you trust the file)");
  }
  static int interrupt(void* self) { return static_cast<const DecodeControl*>(self)->expired() ? 1 : 0; }

 private:
  int64_t timeout_ms_;
  std::string what_;
  const std::atomic<bool>* cancel_;
  std::chrono::steady_clock::time_point end_;
};

void check_frame_count(int64_t n, int64_t max_frames, const std::string& what);
void check_pixels(int64_t w, int64_t h, int64_t max_pixels, const std::string& what);

// ---- the bytes of one call --------------------------------------------------------------------------------------
// A video's bytes, opened once for the whole call and read by every demuxer the call creates: a path is opened
// exactly once, as a regular file (its descriptor is kept, so a file renamed over it or deleted meanwhile does not
// matter), or the caller's memory. FFmpeg never sees the path: no protocol, no second file, no pattern expansion.
class ByteSource {
 public:
  explicit ByteSource(const VideoSource& src);
  ~ByteSource();
  ByteSource(const ByteSource&) = delete;
  ByteSource& operator=(const ByteSource&) = delete;

  uint64_t size() const { return size_; }
  // Up to n bytes at pos; fewer at the end, 0 past it, a negative AVERROR on a read error.
  int read_at(uint64_t pos, uint8_t* buf, int n) const;
  // A file changed in place since it was opened (size or modification time): kVideoDecode. Called on every open
  // of the container and after the last pass, so a call never mixes two versions of a file without saying so.
  void check_unchanged() const;
  const std::string& what() const { return what_; }

 private:
  std::string what_;
  int fd_ = -1;
  const uint8_t* data_ = nullptr;
  uint64_t size_ = 0;
  int64_t mtime_ns_ = 0;
};

// ---- demuxer ---------------------------------------------------------------------------------------------------
struct BufferReader {
  const ByteSource* bytes = nullptr;
  uint64_t pos = 0;
  const DecodeControl* control = nullptr;
};

struct DemuxLimits {
  int64_t max_pixels = kDefaultMaxPixels;
  int64_t max_frames = kDefaultMaxFrames;  // also bounds the index an MP4's sample tables may make FFmpeg build
};

// An opened container with its first video stream selected (cover art skipped) and every other stream discarded.
// Single-file only: a container that tries to open anything else (a playlist's segments, a concat list's files, an
// MP4 data reference) is refused with kVideoOpen.
class Demuxer {
 public:
  Demuxer(const ByteSource& bytes, const DemuxLimits& limits, const DecodeControl& control);

  AVFormatContext* fmt() const { return fmt_.get(); }
  bool has_video() const { return stream_index_ >= 0; }
  int stream_index() const { return stream_index_; }
  AVStream* stream() const { return fmt_->streams[stream_index_]; }
  const std::string& what() const { return what_; }

 private:
  static int refuse_nested_open(AVFormatContext* s, AVIOContext** pb, const char* url, int flags, AVDictionary** options);

  std::string what_;
  BufferReader reader_;
  AvioPtr avio_;  // must outlive fmt_ (declared first, destroyed last)
  FormatPtr fmt_;
  int stream_index_ = -1;
};

// What the container says about the selected stream (frame_count is left to the packet scan).
VideoInfo stream_info(const Demuxer& d);

// ---- decoder + converter ---------------------------------------------------------------------------------------
CodecPtr open_decoder(const Demuxer& d, int threads, bool frame_threads, int64_t max_pixels);

// How a stored frame is shown: mirrored horizontally (first) and rotated counterclockwise by a multiple of 90.
struct Orientation {
  int rotation = 0;  // 0, 90, 180, -90
  bool mirrored = false;
  bool swaps_sides() const { return rotation == 90 || rotation == -90; }
};
// The display matrix of a stream as FFmpeg's own player pipeline reads it (fftools' autorotate): rotation to the
// nearest quarter turn, and the mirror a negative determinant adds. A pure horizontal mirror is {0, true}, not a
// rotation by 180 (which also turns the frame upside down).
Orientation stream_orientation(const AVStream* st);

// frame.to_ndarray(format="rgb24") in PyAV 10 = VideoReformatter: sws_getCachedContext(w, h, src, w, h, RGB24,
// SWS_BILINEAR) and sws_scale, with no sws_setColorspaceDetails call (default colorspace/range arguments); swscale
// itself treats yuvj* formats as full range. We do exactly that, into a 16-byte aligned frame as PyAV allocates,
// then write it to its place in the output in the requested orientation (no second pass over the output).
class RgbConverter {
 public:
  RgbConverter(int width, int height, Orientation orientation = {});
  void convert(const AVFrame* src, uint8_t* dst);  // writes width * height * 3 bytes, oriented

 private:
  int width_, height_;
  Orientation orientation_;
  FramePtr rgb_;
  SwsPtr sws_;
};

inline int64_t frame_pts(const AVFrame* f) { return f->pts != AV_NOPTS_VALUE ? f->pts : f->best_effort_timestamp; }

}  // namespace xclip::video
