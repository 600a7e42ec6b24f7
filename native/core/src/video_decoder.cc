// Video decoding with FFmpeg 5.1, frame numbering and RGB conversion compatible with PyAV 10
// (container.decode(video=0) + frame.to_ndarray(format="rgb24")), which produced the fixtures.
//
// Strategy: a demux-only pass lists every packet of the stream (pts, key flag) in decode order; sorting the pts
// gives each frame's index in presentation order without decoding (B-frames, VFR). Then only the keyframe-started
// runs that contain the wanted frames are decoded, seeking between runs. Anything unexpected (missing or duplicate
// pts, a read/decode error, a seek that lands too late, a frame whose pts is not in the table) falls back to a plain
// sequential decode from the start, which also defines the count for truncated files the way PyAV does.
#include "xclip/video.h"

#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <random>
#include <unordered_map>

#include "xclip/error.h"

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/avutil.h>
#include <libavutil/display.h>
#include <libavutil/imgutils.h>
#include <libavutil/pixdesc.h>
#include <libswscale/swscale.h>
}

namespace xclip {

std::string VideoSource::describe() const {
  if (data != nullptr || path.empty()) return "<buffer of " + std::to_string(size) + " bytes>";
  return path;
}

namespace {

// ---- logging: FFmpeg's messages are kept (last error per thread) for our error text instead of stderr ----------
thread_local std::string g_last_log;

void log_callback(void* avcl, int level, const char* fmt, va_list vl) {
  static const bool forward = std::getenv("XCLIP_FFMPEG_LOG") != nullptr;
  if (forward) {
    va_list copy;
    va_copy(copy, vl);
    av_log_default_callback(avcl, level, fmt, copy);
    va_end(copy);
  }
  if (level > AV_LOG_ERROR) return;
  char line[512];
  int print_prefix = 1;
  av_log_format_line2(avcl, level, fmt, vl, line, sizeof(line), &print_prefix);
  std::string s(line);
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
  if (!s.empty()) g_last_log = s;
}

void init_ffmpeg() {
  static std::once_flag once;
  std::call_once(once, [] { av_log_set_callback(log_callback); });
}

std::string av_error_text(int err) {
  char buf[AV_ERROR_MAX_STRING_SIZE] = {0};
  av_strerror(err, buf, sizeof(buf));
  std::string s = buf;
  if (!g_last_log.empty()) s += " (last FFmpeg log: " + g_last_log + ")";
  return s;
}

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

FramePtr make_frame() {
  FramePtr f(av_frame_alloc());
  if (!f) throw Error(ErrorCode::kInternal, "av_frame_alloc failed");
  return f;
}
PacketPtr make_packet() {
  PacketPtr p(av_packet_alloc());
  if (!p) throw Error(ErrorCode::kInternal, "av_packet_alloc failed");
  return p;
}

// ---- per-call limits -------------------------------------------------------------------------------------------
// The wall-clock bound of one call, and the caller's cancel flag. FFmpeg polls them through the format context's
// interrupt callback (file reads, stream probing) and our AVIO reader; our own loops check them once per packet. A
// hostile stream therefore cannot keep a worker thread busy past the timeout, and a cancelled call stops at the
// next packet, whatever the stream makes the demuxer or decoder do.
class Deadline {
 public:
  Deadline(int64_t timeout_ms, std::string what, const std::atomic<bool>* cancel = nullptr)
      : timeout_ms_(timeout_ms), what_(std::move(what)), cancel_(cancel) {
    if (timeout_ms_ > 0) end_ = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms_);
  }
  bool cancelled() const { return cancel_ != nullptr && cancel_->load(std::memory_order_relaxed); }
  bool expired() const { return cancelled() || (timeout_ms_ > 0 && std::chrono::steady_clock::now() >= end_); }
  void check() const {
    if (cancelled()) throw Error(ErrorCode::kCancelled, "video " + what_ + ": the call was cancelled");
    if (expired())
      throw Error(ErrorCode::kVideoTimeout, "video " + what_ + " took longer than the " + std::to_string(timeout_ms_) +
                                                " ms timeout (raise timeout_ms if you trust the file)");
  }
  static int interrupt(void* self) { return static_cast<const Deadline*>(self)->expired() ? 1 : 0; }

 private:
  int64_t timeout_ms_;
  std::string what_;
  const std::atomic<bool>* cancel_;
  std::chrono::steady_clock::time_point end_;
};

void check_frame_count(int64_t n, int64_t max_frames, const std::string& what) {
  if (max_frames > 0 && n > max_frames)
    throw Error(ErrorCode::kVideoTooLarge, "video " + what + " has more than " + std::to_string(max_frames) +
                                               " frames (max_frames; raise it if you trust the file)");
}

// ---- in-memory AVIO --------------------------------------------------------------------------------------------
struct BufferReader {
  const uint8_t* data = nullptr;
  size_t size = 0;
  size_t pos = 0;
  const Deadline* deadline = nullptr;
};

int buffer_read(void* opaque, uint8_t* buf, int n) {
  auto* r = static_cast<BufferReader*>(opaque);
  if (r->deadline != nullptr && r->deadline->expired()) return AVERROR_EXIT;
  if (r->pos >= r->size) return AVERROR_EOF;
  size_t k = std::min(static_cast<size_t>(n), r->size - r->pos);
  std::memcpy(buf, r->data + r->pos, k);
  r->pos += k;
  return static_cast<int>(k);
}

int64_t buffer_seek(void* opaque, int64_t offset, int whence) {
  auto* r = static_cast<BufferReader*>(opaque);
  whence &= ~AVSEEK_FORCE;
  int64_t base = 0;
  switch (whence) {
    case AVSEEK_SIZE: return static_cast<int64_t>(r->size);
    case SEEK_SET: base = 0; break;
    case SEEK_CUR: base = static_cast<int64_t>(r->pos); break;
    case SEEK_END: base = static_cast<int64_t>(r->size); break;
    default: return AVERROR(EINVAL);
  }
  int64_t target = base + offset;
  if (target < 0 || target > static_cast<int64_t>(r->size)) return AVERROR(EINVAL);
  r->pos = static_cast<size_t>(target);
  return target;
}

constexpr int kAvioBufferSize = 64 * 1024;
// Upper bound for one call's RGB output (distinct frames), so a request cannot exhaust memory.
constexpr int64_t kMaxOutputBytes = 8LL << 30;
// Seek only when it skips more than this many packets; below that, decoding through is as cheap.
constexpr int64_t kSeekGap = 3;

void check_pixels(int64_t w, int64_t h, int64_t max_pixels, const std::string& what) {
  if (max_pixels > 0 && w > 0 && h > 0 && w * h > max_pixels)
    throw Error(ErrorCode::kVideoTooLarge, what + ": declared resolution " + std::to_string(w) + "x" + std::to_string(h) +
                                               " (" + std::to_string(w * h) + " pixels) exceeds max_pixels " +
                                               std::to_string(max_pixels));
}

// ---- demuxer ---------------------------------------------------------------------------------------------------
class Demuxer {
 public:
  Demuxer(const VideoSource& src, int64_t max_pixels, const Deadline& deadline) : what_(src.describe()) {
    init_ffmpeg();
    g_last_log.clear();
    const bool buffer = src.is_buffer();
    if (buffer) {
      if (src.size == 0 || src.data == nullptr) throw Error(ErrorCode::kVideoOpen, "cannot open video " + what_ + ": it is empty");
      reader_.data = src.data;
      reader_.size = src.size;
      reader_.deadline = &deadline;
    } else {
      struct stat sb {};
      if (::stat(src.path.c_str(), &sb) != 0) throw Error(ErrorCode::kFileNotFound, "video file not found: " + src.path);
      if (S_ISDIR(sb.st_mode)) throw Error(ErrorCode::kVideoOpen, "cannot open video " + src.path + ": it is a directory");
      // Opening a FIFO blocks until a writer appears, out of reach of the deadline; seeking needs a file anyway.
      if (!S_ISREG(sb.st_mode)) throw Error(ErrorCode::kVideoOpen, "cannot open video " + src.path + ": not a regular file");
      if (sb.st_size == 0) throw Error(ErrorCode::kVideoOpen, "cannot open video " + src.path + ": the file is empty (0 bytes)");
    }

    AVFormatContext* raw = avformat_alloc_context();
    if (raw == nullptr) throw Error(ErrorCode::kInternal, "avformat_alloc_context failed");
    raw->interrupt_callback.callback = &Deadline::interrupt;
    raw->interrupt_callback.opaque = const_cast<Deadline*>(&deadline);
    if (buffer) {
      auto* iobuf = static_cast<uint8_t*>(av_malloc(kAvioBufferSize));
      if (iobuf == nullptr) {
        avformat_free_context(raw);
        throw Error(ErrorCode::kInternal, "av_malloc failed");
      }
      avio_.reset(avio_alloc_context(iobuf, kAvioBufferSize, 0, &reader_, buffer_read, nullptr, buffer_seek));
      if (!avio_) {
        av_free(iobuf);
        avformat_free_context(raw);
        throw Error(ErrorCode::kInternal, "avio_alloc_context failed");
      }
      raw->pb = avio_.get();
      raw->flags |= AVFMT_FLAG_CUSTOM_IO;
    }
    AVDictionary* opts = nullptr;
    // Nested opens (playlists, concat lists, dref) may only reach local files, never the network; and bytes from
    // memory may open nothing at all: an "ffconcat" or playlist buffer must not make us read the server's files.
    av_dict_set(&opts, "protocol_whitelist", buffer ? "none" : "file", 0);
    std::unique_ptr<AVDictionary, DictDeleter> opts_guard(opts);
    // On failure avformat_open_input frees `raw` (and leaves our custom pb alone).
    int ret = avformat_open_input(&raw, buffer ? nullptr : src.path.c_str(), nullptr, &opts);
    opts_guard.release();
    opts_guard.reset(opts);
    if (ret < 0) {
      deadline.check();
      throw Error(ErrorCode::kVideoOpen, "cannot open video " + what_ + ": " + av_error_text(ret));
    }
    fmt_.reset(raw);

    // Refuse absurd sizes from the headers before avformat_find_stream_info decodes anything.
    for (unsigned i = 0; i < fmt_->nb_streams; ++i) {
      const AVCodecParameters* par = fmt_->streams[i]->codecpar;
      if (par->codec_type == AVMEDIA_TYPE_VIDEO) check_pixels(par->width, par->height, max_pixels, "video " + what_);
    }
    // The probing decoders honour max_pixels too (sizes only known from the bitstream, e.g. WebM/raw streams).
    std::vector<AVDictionary*> stream_opts(fmt_->nb_streams, nullptr);
    if (max_pixels > 0)
      for (auto& d : stream_opts) av_dict_set_int(&d, "max_pixels", max_pixels, 0);
    ret = avformat_find_stream_info(fmt_.get(), stream_opts.empty() ? nullptr : stream_opts.data());
    for (auto& d : stream_opts) av_dict_free(&d);
    if (ret < 0) {
      deadline.check();
      throw Error(ErrorCode::kVideoOpen, "cannot read stream info of " + what_ + ": " + av_error_text(ret));
    }
    deadline.check();  // probing may stop early on the interrupt and still report success

    // Like PyAV's streams.video[0]: the first video stream, skipping cover-art pictures.
    for (unsigned i = 0; i < fmt_->nb_streams; ++i) {
      AVStream* s = fmt_->streams[i];
      if (s->codecpar->codec_type == AVMEDIA_TYPE_VIDEO && !(s->disposition & AV_DISPOSITION_ATTACHED_PIC)) {
        stream_index_ = static_cast<int>(i);
        break;
      }
    }
    if (stream_index_ >= 0) {
      for (unsigned i = 0; i < fmt_->nb_streams; ++i)
        if (static_cast<int>(i) != stream_index_) fmt_->streams[i]->discard = AVDISCARD_ALL;
      const AVCodecParameters* par = stream()->codecpar;
      check_pixels(par->width, par->height, max_pixels, "video " + what_);
    }
  }

  AVFormatContext* fmt() const { return fmt_.get(); }
  bool has_video() const { return stream_index_ >= 0; }
  int stream_index() const { return stream_index_; }
  AVStream* stream() const { return fmt_->streams[stream_index_]; }
  const std::string& what() const { return what_; }

 private:
  std::string what_;
  BufferReader reader_;
  AvioPtr avio_;    // must outlive fmt_ (declared first, destroyed last)
  FormatPtr fmt_;
  int stream_index_ = -1;
};

int display_rotation(const AVStream* st) {
  const uint8_t* sd = av_stream_get_side_data(st, AV_PKT_DATA_DISPLAYMATRIX, nullptr);
  if (sd == nullptr) return 0;
  double theta = av_display_rotation_get(reinterpret_cast<const int32_t*>(sd));
  if (std::isnan(theta)) return 0;
  int r = static_cast<int>(std::lround(theta / 90.0)) * 90;
  r = ((r % 360) + 360) % 360;
  return r > 180 ? r - 360 : r;  // 0, 90, 180, -90 (ffprobe's convention)
}

VideoInfo stream_info(const Demuxer& d) {
  VideoInfo info;
  info.has_video = d.has_video();
  if (!info.has_video) {
    if (d.fmt()->duration != AV_NOPTS_VALUE) info.duration = d.fmt()->duration / static_cast<double>(AV_TIME_BASE);
    return info;
  }
  const AVStream* st = d.stream();
  const AVCodecParameters* par = st->codecpar;
  info.width = par->width;
  info.height = par->height;
  AVRational rate = st->avg_frame_rate.num > 0 && st->avg_frame_rate.den > 0 ? st->avg_frame_rate : st->r_frame_rate;
  info.fps = rate.num > 0 && rate.den > 0 ? av_q2d(rate) : 0.0;
  info.container_frame_count = st->nb_frames > 0 ? st->nb_frames : 0;
  if (st->duration != AV_NOPTS_VALUE && st->duration > 0)
    info.duration = st->duration * av_q2d(st->time_base);
  else if (d.fmt()->duration != AV_NOPTS_VALUE)
    info.duration = d.fmt()->duration / static_cast<double>(AV_TIME_BASE);
  info.codec = avcodec_get_name(par->codec_id);
  const char* pf = av_get_pix_fmt_name(static_cast<AVPixelFormat>(par->format));
  info.pix_fmt = pf ? pf : "";
  info.rotation = display_rotation(st);
  return info;
}

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

PacketIndex scan_packets(Demuxer& d, int64_t max_frames, const Deadline& deadline) {
  PacketIndex idx;
  PacketPtr pkt = make_packet();
  for (;;) {
    int ret = av_read_frame(d.fmt(), pkt.get());
    if (ret == AVERROR_EOF) break;
    deadline.check();
    if (ret < 0) {
      idx.anomaly = "demuxing stopped after " + std::to_string(idx.pts.size()) + " packets: " + av_error_text(ret);
      break;
    }
    if (pkt->stream_index == d.stream_index()) {
      if (pkt->flags & AV_PKT_FLAG_CORRUPT) idx.anomaly = "corrupt packet " + std::to_string(idx.pts.size());
      const bool shown = !(pkt->flags & AV_PKT_FLAG_DISCARD);
      idx.pts.push_back(pkt->pts);
      idx.dts.push_back(pkt->dts);
      idx.key.push_back((pkt->flags & AV_PKT_FLAG_KEY) ? 1 : 0);
      idx.shown.push_back(shown ? 1 : 0);
      idx.frames += shown ? 1 : 0;
      // Packets, not only shown frames: a stream of hidden packets must not grow the index without bound either.
      check_frame_count(static_cast<int64_t>(idx.pts.size()) / 2, max_frames, d.what());
      check_frame_count(idx.frames, max_frames, d.what());
    }
    av_packet_unref(pkt.get());
  }
  return idx;
}

// ---- decoder + converter ---------------------------------------------------------------------------------------
CodecPtr open_decoder(const Demuxer& d, int threads, bool frame_threads, int64_t max_pixels) {
  const AVCodecParameters* par = d.stream()->codecpar;
  const AVCodec* codec = avcodec_find_decoder(par->codec_id);
  if (codec == nullptr)
    throw Error(ErrorCode::kVideoUnsupported, "no decoder for codec '" + std::string(avcodec_get_name(par->codec_id)) +
                                                  "' in video " + d.what() + " (this FFmpeg build cannot decode it)");
  CodecPtr ctx(avcodec_alloc_context3(codec));
  if (!ctx) throw Error(ErrorCode::kInternal, "avcodec_alloc_context3 failed");
  int ret = avcodec_parameters_to_context(ctx.get(), par);
  if (ret < 0) throw Error(ErrorCode::kInternal, "avcodec_parameters_to_context: " + av_error_text(ret));
  ctx->pkt_timebase = d.stream()->time_base;
  if (threads < 0 || threads > kMaxDecoderThreads)
    throw Error(ErrorCode::kInvalidInput, "decoder threads must be between 0 (automatic) and " + std::to_string(kMaxDecoderThreads) +
                                              ", got " + std::to_string(threads));
  ctx->thread_count = threads;
  // PyAV decodes with slice threads only; frame threads add output delay, which changes how many frames come out
  // before an error, so they are used only where errors send us back to the PyAV-like sequential path anyway.
  ctx->thread_type = frame_threads ? (FF_THREAD_FRAME | FF_THREAD_SLICE) : FF_THREAD_SLICE;
  if (max_pixels > 0) ctx->max_pixels = max_pixels;
  ret = avcodec_open2(ctx.get(), codec, nullptr);
  if (ret < 0)
    throw Error(ErrorCode::kVideoUnsupported,
                "cannot open the " + std::string(codec->name) + " decoder for " + d.what() + ": " + av_error_text(ret));
  return ctx;
}

// frame.to_ndarray(format="rgb24") in PyAV 10 = VideoReformatter: sws_getCachedContext(w, h, src, w, h, RGB24,
// SWS_BILINEAR) and sws_scale, with no sws_setColorspaceDetails call (default colorspace/range arguments); swscale
// itself treats yuvj* formats as full range. We do exactly that, into a 16-byte aligned frame as PyAV allocates.
class RgbConverter {
 public:
  RgbConverter(int width, int height) : width_(width), height_(height) {
    rgb_ = make_frame();
    rgb_->format = AV_PIX_FMT_RGB24;
    rgb_->width = width;
    rgb_->height = height;
    int ret = av_frame_get_buffer(rgb_.get(), 16);
    if (ret < 0) throw Error(ErrorCode::kInternal, "cannot allocate an RGB frame: " + av_error_text(ret));
  }

  void convert(const AVFrame* src, uint8_t* dst) {
    sws_.reset(sws_getCachedContext(sws_.release(), src->width, src->height, static_cast<AVPixelFormat>(src->format),
                                    width_, height_, AV_PIX_FMT_RGB24, SWS_BILINEAR, nullptr, nullptr, nullptr));
    if (!sws_)
      throw Error(ErrorCode::kVideoDecode, std::string("cannot convert pixel format ") +
                                               (av_get_pix_fmt_name(static_cast<AVPixelFormat>(src->format)) ?: "?") +
                                               " to rgb24");
    sws_scale(sws_.get(), src->data, src->linesize, 0, src->height, rgb_->data, rgb_->linesize);
    const size_t row = static_cast<size_t>(width_) * 3;
    for (int y = 0; y < height_; ++y) std::memcpy(dst + row * y, rgb_->data[0] + static_cast<ptrdiff_t>(rgb_->linesize[0]) * y, row);
  }

 private:
  int width_, height_;
  FramePtr rgb_;
  SwsPtr sws_;
};

int64_t frame_pts(const AVFrame* f) { return f->pts != AV_NOPTS_VALUE ? f->pts : f->best_effort_timestamp; }

// ---- the decode engine -----------------------------------------------------------------------------------------
struct DecodeConfig {
  int64_t max_pixels = kDefaultMaxPixels;
  int threads = 0;
  int64_t max_frames = kDefaultMaxFrames;
  int64_t timeout_ms = kDefaultTimeoutMs;
  const std::atomic<bool>* cancel = nullptr;
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

std::vector<int64_t> unique_sorted(std::vector<int64_t> v) {
  std::sort(v.begin(), v.end());
  v.erase(std::unique(v.begin(), v.end()), v.end());
  return v;
}

class Engine {
 public:
  Engine(const VideoSource& src, const DecodeConfig& cfg)
      : src_(src), cfg_(cfg), deadline_(cfg.timeout_ms, src.describe(), cfg.cancel) {}

  Collected run(const Planner& plan) {
    auto demux = std::make_unique<Demuxer>(src_, cfg_.max_pixels, deadline_);
    if (!demux->has_video())
      throw Error(ErrorCode::kVideoNoStream, "no video stream in " + demux->what() + " (" +
                                                 std::to_string(demux->fmt()->nb_streams) + " other stream(s))");
    Collected out;
    out.info = stream_info(*demux);
    width_ = out.info.width;
    height_ = out.info.height;
    if (width_ <= 0 || height_ <= 0)
      throw Error(ErrorCode::kVideoDecode, "video " + demux->what() + " has no valid frame size");
    time_base_ = av_q2d(demux->stream()->time_base);
    { CodecPtr probe = open_decoder(*demux, 1, false, cfg_.max_pixels); }  // kVideoUnsupported before any work

    PacketIndex index = scan_packets(*demux, cfg_.max_frames, deadline_);
    demux.reset();
    out.info.frame_count = index.frames;
    out.info.index_incomplete = !index.anomaly.empty();

    if (build_rank_table(index)) {
      out.table.n = static_cast<int64_t>(sorted_pts_.size());
      for (int64_t p : sorted_pts_) out.table.pts_seconds.push_back(p * time_base_);
      out.ranks = checked_needed(plan(out.table), out.table.n);
      if (decode_indexed(index, out)) {
        out.indexed = true;
        return out;
      }
      if (std::getenv("XCLIP_VIDEO_DEBUG")) std::fprintf(stderr, "xclip video: index path failed: %s\n", why_.c_str());
    }
    // Sequential: one pass counts what really decodes, a second collects the wanted frames.
    out.table = FrameTable{};
    sequential(nullptr, &out.table, -1);
    if (out.table.n == 0)
      throw Error(ErrorCode::kVideoDecode, "no frame of " + src_.describe() + " could be decoded" +
                                               (out.table.warning.empty() ? "" : ": " + out.table.warning));
    out.ranks = checked_needed(plan(out.table), out.table.n);
    sequential(&out, nullptr, out.table.n);
    out.work_frames += work_;
    return out;
  }

 private:
  std::vector<int64_t> checked_needed(std::vector<int64_t> v, int64_t n) {
    for (int64_t r : v)
      if (r < 0 || r >= n)
        throw Error(ErrorCode::kInvalidInput, "frame index " + std::to_string(r) + " is out of range for " +
                                                  src_.describe() + " with " + std::to_string(n) + " frames");
    return unique_sorted(std::move(v));
  }

  // Presentation rank of every packet; false when the pts cannot index frames (missing/duplicate, damaged file).
  bool build_rank_table(const PacketIndex& idx) {
    if (!idx.anomaly.empty() || idx.frames == 0) return false;
    sorted_pts_.clear();
    packet_of_pts_.clear();
    for (size_t i = 0; i < idx.pts.size(); ++i) {
      if (idx.pts[i] == AV_NOPTS_VALUE) return false;
      if (!packet_of_pts_.emplace(idx.pts[i], static_cast<int64_t>(i)).second) return false;  // duplicate pts
      if (idx.shown[i]) sorted_pts_.push_back(idx.pts[i]);
    }
    std::sort(sorted_pts_.begin(), sorted_pts_.end());
    return true;
  }

  int64_t rank_of(int64_t pts) const {
    auto it = std::lower_bound(sorted_pts_.begin(), sorted_pts_.end(), pts);
    if (it == sorted_pts_.end() || *it != pts) return -1;
    return it - sorted_pts_.begin();
  }

  // Packet (decode order) of the keyframe to start from for frame `rank`: the last keyframe at or before the
  // frame's packet whose own pts is not after the frame (so open-GOP leading pictures start one GOP earlier).
  int64_t start_packet(const PacketIndex& idx, int64_t rank) const {
    int64_t pts = sorted_pts_[rank];
    int64_t j = packet_of_pts_.at(pts);
    for (int64_t k = j; k >= 0; --k)
      if (idx.key[k] && idx.pts[k] <= pts) return k;
    return 0;
  }

  at::Tensor alloc_frames(size_t n) const {
    const double bytes = static_cast<double>(n) * width_ * height_ * 3;
    if (bytes > kMaxOutputBytes)
      throw Error(ErrorCode::kVideoTooLarge, "decoding " + std::to_string(n) + " distinct frames of " + std::to_string(width_) +
                                                 "x" + std::to_string(height_) + " from " + src_.describe() +
                                                 " would need " + std::to_string(static_cast<int64_t>(bytes / (1 << 20))) +
                                                 " MiB (limit " + std::to_string(kMaxOutputBytes >> 20) + " MiB)");
    return at::empty({static_cast<int64_t>(n), height_, width_, 3}, at::kByte);
  }

  bool decode_indexed(const PacketIndex& idx, Collected& out) {
    const auto& need = out.ranks;
    out.frames = alloc_frames(need.size());
    if (need.empty()) return true;
    std::vector<uint8_t> done(need.size(), 0);
    size_t next = 0;  // first wanted frame not yet collected
    auto demux = std::make_unique<Demuxer>(src_, cfg_.max_pixels, deadline_);
    CodecPtr dec = open_decoder(*demux, cfg_.threads, true, cfg_.max_pixels);
    RgbConverter rgb(width_, height_);
    FramePtr frame = make_frame();
    PacketPtr pkt = make_packet();
    const size_t frame_bytes = static_cast<size_t>(width_) * height_ * 3;
    uint8_t* base = out.frames.data_ptr<uint8_t>();
    int64_t last_sent = -1;  // packet index (decode order) most recently sent
    int64_t last_seek = -1;  // keyframe packet of the last seek (a seek may land earlier; then decode forward)
    bool at_eof = false;

    auto receive_all = [&]() -> bool {
      for (;;) {
        int ret = avcodec_receive_frame(dec.get(), frame.get());
        if (ret == AVERROR(EAGAIN) || ret == AVERROR_EOF) return true;
        if (ret < 0) return fail("receive_frame: " + av_error_text(ret));
        ++out.work_frames;
        int64_t r = rank_of(frame_pts(frame.get()));
        if (r < 0) return fail("decoded pts " + std::to_string(frame_pts(frame.get())) + " not in the index");
        auto it = std::lower_bound(need.begin(), need.end(), r);
        if (it != need.end() && *it == r) {
          size_t pos = it - need.begin();
          if (!done[pos]) {
            rgb.convert(frame.get(), base + frame_bytes * pos);
            done[pos] = 1;
          }
        }
        av_frame_unref(frame.get());
        while (next < need.size() && done[next]) ++next;
      }
    };

    while (next < need.size()) {
      int64_t k = start_packet(idx, need[next]);
      if (k > last_sent + kSeekGap && k > last_seek && !at_eof) {
        last_seek = k;
        // Skip ahead. Demuxers index keyframes by pts (mov, matroska) or dts (avi): try the pts first, and the
        // dts when the pts lands after the keyframe; always verify the landing packet against the index.
        bool landed = false;
        for (int64_t ts : {idx.pts[k], idx.dts[k]}) {
          if (ts == AV_NOPTS_VALUE || landed) continue;
          if (av_seek_frame(demux->fmt(), demux->stream_index(), ts, AVSEEK_FLAG_BACKWARD) < 0) continue;
          avcodec_flush_buffers(dec.get());
          int64_t at = -1;
          for (;;) {
            int ret = av_read_frame(demux->fmt(), pkt.get());
            deadline_.check();
            if (ret < 0) return fail("read after seek: " + av_error_text(ret));
            if (pkt->stream_index == demux->stream_index() && (pkt->flags & AV_PKT_FLAG_KEY)) break;
            av_packet_unref(pkt.get());
          }
          auto it = packet_of_pts_.find(pkt->pts);
          at = it == packet_of_pts_.end() ? -1 : it->second;
          if (std::getenv("XCLIP_VIDEO_DEBUG"))
            std::fprintf(stderr, "xclip video: seek to packet %lld (ts %lld) landed on %lld\n", (long long)k, (long long)ts,
                         (long long)at);
          if (at < 0 || at > k) {  // unknown packet or past the keyframe we need
            av_packet_unref(pkt.get());
            continue;
          }
          landed = true;
          last_sent = at;
          int ret = avcodec_send_packet(dec.get(), pkt.get());
          av_packet_unref(pkt.get());
          if (ret < 0) return fail("send_packet: " + av_error_text(ret));
          if (!receive_all()) return false;
        }
        if (!landed) return fail("seek to keyframe packet " + std::to_string(k) + " failed");
        continue;
      }
      if (at_eof) return fail("drained and still missing frames");
      int ret = av_read_frame(demux->fmt(), pkt.get());
      deadline_.check();
      if (ret == AVERROR_EOF) {
        at_eof = true;
        if (avcodec_send_packet(dec.get(), nullptr) < 0 || !receive_all()) return fail("drain");
        continue;
      }
      if (ret < 0) return fail("read: " + av_error_text(ret));
      if (pkt->stream_index != demux->stream_index()) {
        av_packet_unref(pkt.get());
        continue;
      }
      auto it = packet_of_pts_.find(pkt->pts);
      if (it != packet_of_pts_.end()) last_sent = it->second;
      // A frame nothing refers to and nobody asked for need not be decoded at all (about half of an x264
      // stream's frames are such B-frames). Skipping them cannot change any other frame, so the wanted frames
      // stay bit-identical; the decoder reads the setting per packet, frame threads included.
      const int64_t r = pkt->pts == AV_NOPTS_VALUE ? -1 : rank_of(pkt->pts);
      const auto want = std::lower_bound(need.begin(), need.end(), r);
      const bool wanted = r < 0 || (want != need.end() && *want == r && !done[want - need.begin()]);
      dec->skip_frame = wanted ? AVDISCARD_DEFAULT : AVDISCARD_NONREF;
      ret = avcodec_send_packet(dec.get(), pkt.get());
      av_packet_unref(pkt.get());
      if (ret < 0) return fail("send_packet: " + av_error_text(ret));
      if (!receive_all()) return false;
    }
    return true;
  }

  bool fail(std::string why) {
    why_ = std::move(why);
    return false;
  }

  // PyAV-equivalent loop from the start: stops at the first demux or decode error without draining (PyAV raises
  // there), drains at EOF. Frame i is the i-th frame out. Fills `table` (counting pass) or `out` (collecting).
  void sequential(Collected* out, FrameTable* table, int64_t limit) {
    Demuxer demux(src_, cfg_.max_pixels, deadline_);
    CodecPtr dec = open_decoder(demux, cfg_.threads, false, cfg_.max_pixels);
    FramePtr frame = make_frame();
    PacketPtr pkt = make_packet();
    std::unique_ptr<RgbConverter> rgb;
    size_t frame_bytes = static_cast<size_t>(width_) * height_ * 3;
    uint8_t* base = nullptr;
    size_t next = 0;
    if (out != nullptr) {
      out->frames = alloc_frames(out->ranks.size());
      base = out->frames.data_ptr<uint8_t>();
      rgb = std::make_unique<RgbConverter>(width_, height_);
      if (out->ranks.empty()) return;
    }
    int64_t count = 0;
    std::string stop;
    auto receive_all = [&]() -> bool {  // false: stop decoding
      for (;;) {
        int ret = avcodec_receive_frame(dec.get(), frame.get());
        if (ret == AVERROR(EAGAIN) || ret == AVERROR_EOF) return true;
        if (ret < 0) {
          stop = "decoding failed after " + std::to_string(count) + " frames: " + av_error_text(ret);
          return false;
        }
        ++work_;
        if (table != nullptr) table->pts_seconds.push_back(frame_pts(frame.get()) * time_base_);
        if (out != nullptr) {
          const auto& need = out->ranks;
          while (next < need.size() && need[next] == count) {
            rgb->convert(frame.get(), base + frame_bytes * next);
            ++next;
          }
          if (next == need.size()) return false;
        }
        av_frame_unref(frame.get());
        ++count;
        check_frame_count(count, cfg_.max_frames, src_.describe());
        if (limit >= 0 && count >= limit) return false;
      }
    };
    bool go = true;
    int64_t packets = 0;
    while (go) {
      int ret = av_read_frame(demux.fmt(), pkt.get());
      deadline_.check();
      if (ret == AVERROR_EOF) {
        if (avcodec_send_packet(dec.get(), nullptr) >= 0) receive_all();
        break;
      }
      if (ret < 0) {
        stop = "reading stopped after " + std::to_string(count) + " frames: " + av_error_text(ret);
        break;
      }
      if (pkt->stream_index != demux.stream_index()) {
        av_packet_unref(pkt.get());
        continue;
      }
      // Packets that decode to nothing (a decoder swallowing garbage) count too, two per frame (field pairs).
      check_frame_count(++packets / 2, cfg_.max_frames, src_.describe());
      ret = avcodec_send_packet(dec.get(), pkt.get());
      av_packet_unref(pkt.get());
      if (ret < 0 && ret != AVERROR(EAGAIN)) {
        stop = "decoding stopped after " + std::to_string(count) + " frames: " + av_error_text(ret);
        break;
      }
      go = receive_all();
    }
    if (table != nullptr) {
      table->n = count;
      if (!stop.empty()) {
        table->truncated = true;
        table->warning = "video " + src_.describe() + " is truncated or corrupt: " + stop +
                         "; sampling uses the frames decoded before the error";
      }
    }
    if (out != nullptr && next != out->ranks.size())
      throw Error(ErrorCode::kVideoDecode, "video " + src_.describe() + " decoded differently on the second pass (" +
                                               std::to_string(next) + " of " + std::to_string(out->ranks.size()) +
                                               " wanted frames)");
  }

  VideoSource src_;
  DecodeConfig cfg_;
  Deadline deadline_;
  int width_ = 0, height_ = 0;
  double time_base_ = 0;
  std::vector<int64_t> sorted_pts_;
  std::unordered_map<int64_t, int64_t> packet_of_pts_;
  int64_t work_ = 0;
  std::string why_;  // why the index path gave up (XCLIP_VIDEO_DEBUG)
};

at::Tensor rotate(const at::Tensor& frames, int rotation) {
  int k = ((rotation / 90) % 4 + 4) % 4;
  if (k == 0) return frames;
  return at::rot90(frames, k, {1, 2}).contiguous();  // counterclockwise, as the display matrix asks
}

at::Tensor gather(const Collected& c, const std::vector<int64_t>& indices, std::vector<double>* timestamps) {
  std::vector<int64_t> pos;
  pos.reserve(indices.size());
  for (int64_t i : indices) {
    pos.push_back(std::lower_bound(c.ranks.begin(), c.ranks.end(), i) - c.ranks.begin());
    timestamps->push_back(c.table.pts_seconds.at(i));
  }
  return c.frames.index_select(0, at::tensor(pos, at::kLong));
}

// libtorch reports allocation/shape failures as c10::Error: surface them as xclip::Error without the backtrace.
template <typename F>
auto guarded(F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const c10::Error& e) {
    throw Error(ErrorCode::kInternal, std::string("libtorch: ") + e.what_without_backtrace());
  } catch (const std::bad_alloc&) {
    throw Error(ErrorCode::kInternal, "out of memory while decoding video");
  }
}

}  // namespace

std::vector<int64_t> sample_frame_indices(const ReadOptions& o, int64_t n) {
  if (n <= 0) throw Error(ErrorCode::kInvalidInput, "cannot sample frames from a video with 0 frames");
  std::vector<int64_t> idx;
  if (o.sampling == Sampling::kIndices) return o.indices;
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
    case Sampling::kIndices: break;
  }
  return idx;
}

VideoInfo probe_video(const VideoSource& source, int64_t max_pixels, int64_t max_frames, int64_t timeout_ms) {
  Deadline deadline(timeout_ms, source.describe());
  Demuxer d(source, max_pixels, deadline);
  VideoInfo info = stream_info(d);
  if (info.has_video) {
    PacketIndex idx = scan_packets(d, max_frames, deadline);
    info.frame_count = idx.frames;
    info.index_incomplete = !idx.anomaly.empty();
  }
  return info;
}

namespace {

DecodedVideo read_video_impl(const VideoSource& source, const ReadOptions& options) {
  if (options.sampling != Sampling::kIndices && (options.num_frames <= 0 || options.num_frames > 100000))
    throw Error(ErrorCode::kInvalidInput, "num_frames must be in [1, 100000], got " + std::to_string(options.num_frames));
  if (options.sampling == Sampling::kIndices && options.indices.empty())
    throw Error(ErrorCode::kInvalidInput, "sampling by explicit indices needs at least one index");
  Engine engine(source, DecodeConfig{options.max_pixels, options.threads, options.max_frames, options.timeout_ms, options.cancel});
  std::vector<int64_t> sampled;
  Collected c = engine.run([&](const FrameTable& t) {
    sampled = sample_frame_indices(options, t.n);
    return sampled;
  });
  DecodedVideo v;
  v.info = c.info;
  v.decoded_frame_count = c.table.n;
  v.decode_work_frames = c.work_frames;
  v.used_index = c.indexed;
  v.truncated = c.table.truncated;
  v.warning = c.table.warning;
  v.indices = sampled;
  v.frames = gather(c, sampled, &v.timestamps);
  if (options.apply_rotation) v.frames = rotate(v.frames, v.info.rotation);
  return v;
}

VideoClips read_video_clips_impl(const VideoSource& source, const ClipOptions& options) {
  if (options.num_frames <= 0) throw Error(ErrorCode::kInvalidInput, "num_frames must be positive");
  if ((options.clip_seconds > 0) == (options.num_clips > 0))
    throw Error(ErrorCode::kInvalidInput, "give exactly one of clip_seconds (> 0) or num_clips (> 0)");
  Engine engine(source, DecodeConfig{options.max_pixels, options.threads, options.max_frames, options.timeout_ms, options.cancel});
  std::vector<std::pair<int64_t, int64_t>> ranges;
  std::vector<std::pair<double, double>> windows;  // clip_seconds mode: the time window of each clip
  std::vector<std::vector<int64_t>> per_clip;
  Collected c = engine.run([&](const FrameTable& t) {
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
  for (size_t i = 0; i < ranges.size(); ++i) {
    VideoClip clip;
    clip.first_frame = ranges[i].first;
    clip.end_frame = ranges[i].second;
    clip.indices = per_clip[i];
    clip.frames = gather(c, clip.indices, &clip.timestamps);
    if (options.apply_rotation) clip.frames = rotate(clip.frames, c.info.rotation);
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
  return guarded([&] { return read_video_impl(source, options); });
}

VideoClips read_video_clips(const VideoSource& source, const ClipOptions& options) {
  return guarded([&] { return read_video_clips_impl(source, options); });
}

DecodeThroughput measure_decode_throughput(const VideoSource& source, bool to_rgb, int threads) {
  auto t0 = std::chrono::steady_clock::now();
  const Deadline no_deadline(0, source.describe());
  Demuxer demux(source, 0, no_deadline);
  if (!demux.has_video()) throw Error(ErrorCode::kVideoNoStream, "no video stream in " + demux.what());
  CodecPtr dec = open_decoder(demux, threads, true, 0);
  const AVCodecParameters* par = demux.stream()->codecpar;
  RgbConverter rgb(par->width, par->height);
  std::vector<uint8_t> buf(static_cast<size_t>(par->width) * par->height * 3);
  FramePtr frame = make_frame();
  PacketPtr pkt = make_packet();
  DecodeThroughput r;
  auto drain = [&] {
    while (avcodec_receive_frame(dec.get(), frame.get()) == 0) {
      if (to_rgb) rgb.convert(frame.get(), buf.data());
      av_frame_unref(frame.get());
      ++r.frames;
    }
  };
  for (;;) {
    int ret = av_read_frame(demux.fmt(), pkt.get());
    if (ret < 0) break;
    if (pkt->stream_index == demux.stream_index()) {
      ret = avcodec_send_packet(dec.get(), pkt.get());
      av_packet_unref(pkt.get());
      if (ret < 0 && ret != AVERROR(EAGAIN)) break;
      drain();
    } else {
      av_packet_unref(pkt.get());
    }
  }
  if (avcodec_send_packet(dec.get(), nullptr) >= 0) drain();
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  r.frames_per_second = r.seconds > 0 ? r.frames / r.seconds : 0;
  return r;
}

}  // namespace xclip
