// FFmpeg RAII owners, the in-memory reader, the demuxer, the decoder factory and the RGB converter (see the header).
#include "video_ffmpeg.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <vector>

#include "video_isobmff.h"

extern "C" {
#include <libavutil/display.h>
#include <libavutil/imgutils.h>
#include <libavutil/pixdesc.h>
}

namespace xclip::video {
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

constexpr int kAvioBufferSize = 64 * 1024;

// The URL a container last asked to open on this thread (see Demuxer::refuse_nested_open). Thread-local rather than
// per context because demuxers that open other files (hls, concat) may ask through their own inner contexts.
thread_local std::string g_nested_url;

// Demuxers that read other files or network streams named inside the input (playlists, concat lists, image
// sequences, session descriptions, scripts), and any that open their own input (AVFMT_NOFILE). Each also tries
// an io_open first in some paths, which refuse_nested_open catches, but not all of them do (hls fails earlier on a
// custom AVIO context, with "Cannot allocate memory"), so they are refused by name.
bool opens_other_files(const AVInputFormat* f) {
  if (f->flags & AVFMT_NOFILE) return true;
  static const char* const kMultiFile[] = {"hls", "dash", "concat", "image2", "imf", "sdp", "rtsp", "rtp", "sap",
                                           "avisynth", "vapoursynth", "lavfi"};
  for (const char* name : kMultiFile)
    if (std::strcmp(f->name, name) == 0) return true;
  return false;
}

// ---- AVIO over a ByteSource -------------------------------------------------------------------------------------
int buffer_read(void* opaque, uint8_t* buf, int n) {
  auto* r = static_cast<BufferReader*>(opaque);
  if (r->control != nullptr && r->control->expired()) return AVERROR_EXIT;
  int k = r->bytes->read_at(r->pos, buf, n);
  if (k < 0) return k;
  if (k == 0) return AVERROR_EOF;
  r->pos += static_cast<uint64_t>(k);
  return k;
}

int64_t buffer_seek(void* opaque, int64_t offset, int whence) {
  auto* r = static_cast<BufferReader*>(opaque);
  whence &= ~AVSEEK_FORCE;
  const int64_t size = static_cast<int64_t>(r->bytes->size());
  int64_t base = 0;
  switch (whence) {
    case AVSEEK_SIZE: return size;
    case SEEK_SET: base = 0; break;
    case SEEK_CUR: base = static_cast<int64_t>(r->pos); break;
    case SEEK_END: base = size; break;
    default: return AVERROR(EINVAL);
  }
  if (offset > size || offset < -size) return AVERROR(EINVAL);
  int64_t target = base + offset;
  if (target < 0 || target > size) return AVERROR(EINVAL);
  r->pos = static_cast<uint64_t>(target);
  return target;
}

}  // namespace

std::string av_error_text(int err) {
  char buf[AV_ERROR_MAX_STRING_SIZE] = {0};
  av_strerror(err, buf, sizeof(buf));
  std::string s = buf;
  if (!g_last_log.empty()) s += " (last FFmpeg log: " + g_last_log + ")";
  return s;
}

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

void check_frame_count(int64_t n, int64_t max_frames, const std::string& what) {
  if (max_frames > 0 && n > max_frames)
    throw Error(ErrorCode::kVideoTooLarge, "video " + what + " has more than " + std::to_string(max_frames) +
                                               " frames (max_frames; raise it if you trust the file)");
}

void check_pixels(int64_t w, int64_t h, int64_t max_pixels, const std::string& what) {
  if (max_pixels > 0 && w > 0 && h > 0 && w * h > max_pixels)
    throw Error(ErrorCode::kVideoTooLarge, what + ": declared resolution " + std::to_string(w) + "x" + std::to_string(h) +
                                               " (" + std::to_string(w * h) + " pixels) exceeds max_pixels " +
                                               std::to_string(max_pixels));
}

// ---- the bytes of one call --------------------------------------------------------------------------------------
ByteSource::ByteSource(const VideoSource& src) : what_(src.describe()) {
  if (src.is_buffer()) {
    if (src.size == 0 || src.data == nullptr) throw Error(ErrorCode::kVideoOpen, "cannot open video " + what_ + ": it is empty");
    data_ = src.data;
    size_ = src.size;
    return;
  }
  const std::string& path = src.path;
  // The C library would read the path up to the NUL, i.e. another file (Node's fs refuses such paths too).
  if (path.find('\0') != std::string::npos)
    throw Error(ErrorCode::kInvalidInput, "video path contains a NUL character: " + path.substr(0, path.find('\0')) + "\\0...");
  struct stat sb {};
  if (::stat(path.c_str(), &sb) != 0) throw Error(ErrorCode::kFileNotFound, "video file not found: " + path);
  if (S_ISDIR(sb.st_mode)) throw Error(ErrorCode::kVideoOpen, "cannot open video " + path + ": it is a directory");
  // Opening a FIFO blocks until a writer appears, out of reach of the deadline; seeking needs a file anyway.
  if (!S_ISREG(sb.st_mode)) throw Error(ErrorCode::kVideoOpen, "cannot open video " + path + ": not a regular file");
  // O_NONBLOCK: the path may have become a FIFO since the stat; the fstat below is what counts.
  fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  if (fd_ < 0) {
    const int err = errno;
    if (err == ENOENT) throw Error(ErrorCode::kFileNotFound, "video file not found: " + path);
    throw Error(ErrorCode::kVideoOpen, "cannot open video " + path + ": " + std::strerror(err));
  }
  if (::fstat(fd_, &sb) != 0 || !S_ISREG(sb.st_mode)) {
    ::close(fd_);
    fd_ = -1;
    throw Error(ErrorCode::kVideoOpen, "cannot open video " + path + ": not a regular file");
  }
  if (sb.st_size == 0) {
    ::close(fd_);
    fd_ = -1;
    throw Error(ErrorCode::kVideoOpen, "cannot open video " + path + ": the file is empty (0 bytes)");
  }
  size_ = static_cast<uint64_t>(sb.st_size);
  mtime_ns_ = static_cast<int64_t>(sb.st_mtim.tv_sec) * 1000000000LL + sb.st_mtim.tv_nsec;
}

ByteSource::~ByteSource() {
  if (fd_ >= 0) ::close(fd_);
}

int ByteSource::read_at(uint64_t pos, uint8_t* buf, int n) const {
  if (n <= 0 || pos >= size_) return 0;
  // Never past the size seen at open: a file that grows meanwhile is read as it was.
  const size_t k = static_cast<size_t>(std::min<uint64_t>(static_cast<uint64_t>(n), size_ - pos));
  if (fd_ < 0) {
    std::memcpy(buf, data_ + pos, k);
    return static_cast<int>(k);
  }
  for (;;) {
    ssize_t got = ::pread(fd_, buf, k, static_cast<off_t>(pos));
    if (got >= 0) return static_cast<int>(got);
    if (errno != EINTR) return AVERROR(errno);
  }
}

void ByteSource::check_unchanged() const {
  if (fd_ < 0) return;
  struct stat sb {};
  if (::fstat(fd_, &sb) != 0)
    throw Error(ErrorCode::kVideoDecode, "video " + what_ + " could not be checked while decoding: " + std::strerror(errno));
  const int64_t mtime = static_cast<int64_t>(sb.st_mtim.tv_sec) * 1000000000LL + sb.st_mtim.tv_nsec;
  if (static_cast<uint64_t>(sb.st_size) != size_ || mtime != mtime_ns_)
    throw Error(ErrorCode::kVideoDecode, "video " + what_ + " changed while it was being decoded (" + std::to_string(size_) +
                                             " bytes when opened, " + std::to_string(sb.st_size) +
                                             " now, or written to since); read it again once it is complete");
}

// ---- demuxer ---------------------------------------------------------------------------------------------------
int Demuxer::refuse_nested_open(AVFormatContext*, AVIOContext**, const char* url, int, AVDictionary**) {
  g_nested_url = url != nullptr ? std::string(url).substr(0, 200) : "";
  if (g_nested_url.empty()) g_nested_url = "(unnamed)";
  return AVERROR(EPERM);
}

Demuxer::Demuxer(const ByteSource& bytes, const DemuxLimits& limits, const DecodeControl& control) : what_(bytes.what()) {
  init_ffmpeg();
  g_last_log.clear();
  g_nested_url.clear();
  bytes.check_unchanged();
  // The one container whose headers can make FFmpeg build a huge index from a few bytes: checked before it parses.
  check_sample_tables(bytes, limits.max_frames, control);
  reader_.bytes = &bytes;
  reader_.control = &control;
  const int64_t max_pixels = limits.max_pixels;

  AVFormatContext* raw = avformat_alloc_context();
  if (raw == nullptr) throw Error(ErrorCode::kInternal, "avformat_alloc_context failed");
  raw->interrupt_callback.callback = &DecodeControl::interrupt;
  raw->interrupt_callback.opaque = const_cast<DecodeControl*>(&control);
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
  // Paths and buffers alike: the container is read from these bytes alone. Any other open it asks for (playlist
  // segments, concat list entries, data references) is refused here, and no protocol is allowed should a demuxer
  // open something without asking.
  raw->io_open = &Demuxer::refuse_nested_open;
  AVDictionary* opts = nullptr;
  av_dict_set(&opts, "protocol_whitelist", "none", 0);
  std::unique_ptr<AVDictionary, DictDeleter> opts_guard(opts);
  // The format is found from the content alone, never from a name (image2's "%d" patterns), and must be one that
  // reads a single file: playlists, lists and network descriptions are refused before they open anything.
  const AVInputFormat* format = nullptr;
  int ret = av_probe_input_buffer2(raw->pb, &format, nullptr, nullptr, 0, 0);
  if (ret >= 0 && format != nullptr && opens_other_files(format)) ret = AVERROR(EPERM);
  if (ret == AVERROR(EPERM)) {
    avformat_free_context(raw);
    throw Error(ErrorCode::kVideoOpen, "cannot open video " + what_ + ": it is a " + format->name +
                                           " file, which is not self-contained (it lists other files or streams); "
                                           "only single-file videos are read");
  }
  if (ret < 0) {
    avformat_free_context(raw);
    control.check();
    throw Error(ErrorCode::kVideoOpen, "cannot open video " + what_ + ": " + av_error_text(ret));
  }
  // On failure avformat_open_input frees `raw` (and leaves our custom pb alone).
  ret = avformat_open_input(&raw, nullptr, format, &opts);
  opts_guard.release();
  opts_guard.reset(opts);
  if (ret >= 0) fmt_.reset(raw);
  auto refuse_if_nested = [&] {
    if (!g_nested_url.empty())
      throw Error(ErrorCode::kVideoOpen, "cannot open video " + what_ + ": it is not self-contained (it refers to \"" +
                                             g_nested_url + "\", as a playlist, concat list or reference movie does); "
                                             "only single-file videos are read");
  };
  refuse_if_nested();
  if (ret < 0) {
    control.check();
    throw Error(ErrorCode::kVideoOpen, "cannot open video " + what_ + ": " + av_error_text(ret));
  }

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
  refuse_if_nested();
  if (ret < 0) {
    control.check();
    throw Error(ErrorCode::kVideoOpen, "cannot read stream info of " + what_ + ": " + av_error_text(ret));
  }
  control.check();  // probing may stop early on the interrupt and still report success

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

Orientation stream_orientation(const AVStream* st) {
  const uint8_t* sd = av_stream_get_side_data(st, AV_PKT_DATA_DISPLAYMATRIX, nullptr);
  if (sd == nullptr) return {};
  const auto* m = reinterpret_cast<const int32_t*>(sd);
  const double ccw = av_display_rotation_get(m);
  if (std::isnan(ccw)) return {};
  // fftools (FFmpeg >= 6.1, configure_input_video_filter): theta is the clockwise angle; at each quarter turn the
  // signs of the matrix say whether a flip comes with it. As (rotation counterclockwise, mirrored first):
  double theta = -std::round(ccw);
  theta -= 360 * std::floor(theta / 360 + 0.9 / 360);
  switch (static_cast<int>(std::lround(theta / 90.0)) % 4) {
    case 1: return m[3] > 0 ? Orientation{90, true} : Orientation{-90, false};  // transpose : clockwise
    case 2:
      if (m[0] < 0 && m[4] < 0) return {180, false};  // both flips: a half turn
      if (m[0] < 0) return {0, true};                 // horizontal mirror
      if (m[4] < 0) return {180, true};               // vertical mirror
      return {};
    case 3: return m[3] < 0 ? Orientation{-90, true} : Orientation{90, false};  // anti-transpose : counterclockwise
    default: return m[4] < 0 ? Orientation{180, true} : Orientation{};          // vertical mirror : none
  }
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
  const Orientation o = stream_orientation(st);
  info.rotation = o.rotation;
  info.mirrored = o.mirrored;
  return info;
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

RgbConverter::RgbConverter(int width, int height, Orientation orientation)
    : width_(width), height_(height), orientation_(orientation) {
  rgb_ = make_frame();
  rgb_->format = AV_PIX_FMT_RGB24;
  rgb_->width = width;
  rgb_->height = height;
  int ret = av_frame_get_buffer(rgb_.get(), 16);
  if (ret < 0) throw Error(ErrorCode::kInternal, "cannot allocate an RGB frame: " + av_error_text(ret));
}

void RgbConverter::convert(const AVFrame* src, uint8_t* dst) {
  sws_.reset(sws_getCachedContext(sws_.release(), src->width, src->height, static_cast<AVPixelFormat>(src->format),
                                  width_, height_, AV_PIX_FMT_RGB24, SWS_BILINEAR, nullptr, nullptr, nullptr));
  if (!sws_)
    throw Error(ErrorCode::kVideoDecode, std::string("cannot convert pixel format ") +
                                             (av_get_pix_fmt_name(static_cast<AVPixelFormat>(src->format)) ?: "?") +
                                             " to rgb24");
  sws_scale(sws_.get(), src->data, src->linesize, 0, src->height, rgb_->data, rgb_->linesize);
  const int64_t w = width_, h = height_;
  const size_t row = static_cast<size_t>(w) * 3;
  const uint8_t* rgb = rgb_->data[0];
  const ptrdiff_t stride = rgb_->linesize[0];
  if (orientation_.rotation == 0 && !orientation_.mirrored) {
    for (int64_t y = 0; y < h; ++y) std::memcpy(dst + row * y, rgb + stride * y, row);
    return;
  }
  // Source pixel (x, y) goes to (X, Y) = (x', y') turned by the rotation, where x' = W-1-x when mirrored. Both are
  // affine in x, so each source row is one walk through the output with a fixed step.
  const int64_t out_w = orientation_.swaps_sides() ? h : w;
  for (int64_t y = 0; y < h; ++y) {
    // (X, Y) at x' = 0 and the change of X and Y per step of x'.
    int64_t x0 = 0, y0 = 0, dx = 0, dy = 0;
    switch (orientation_.rotation) {
      case 90: x0 = y, y0 = w - 1, dx = 0, dy = -1; break;       // (x', y) -> (y, W-1-x')
      case -90: x0 = h - 1 - y, y0 = 0, dx = 0, dy = 1; break;   // (x', y) -> (H-1-y, x')
      case 180: x0 = w - 1, y0 = h - 1 - y, dx = -1, dy = 0; break;  // (x', y) -> (W-1-x', H-1-y)
      default: x0 = 0, y0 = y, dx = 1, dy = 0; break;
    }
    int64_t at = (y0 * out_w + x0) * 3;
    int64_t step = (dy * out_w + dx) * 3;
    if (orientation_.mirrored) {  // x' = W-1-x: start where x' = W-1 and walk backwards
      at += step * (w - 1);
      step = -step;
    }
    const uint8_t* in = rgb + stride * y;
    for (int64_t x = 0; x < w; ++x, at += step, in += 3) {
      dst[at] = in[0];
      dst[at + 1] = in[1];
      dst[at + 2] = in[2];
    }
  }
}

}  // namespace xclip::video
