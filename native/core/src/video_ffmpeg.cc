// FFmpeg RAII owners, the in-memory reader, the demuxer, the decoder factory and the RGB converter (see the header).
#include "video_ffmpeg.h"

#include <sys/stat.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <vector>

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

// ---- in-memory AVIO --------------------------------------------------------------------------------------------
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

int display_rotation(const AVStream* st) {
  const uint8_t* sd = av_stream_get_side_data(st, AV_PKT_DATA_DISPLAYMATRIX, nullptr);
  if (sd == nullptr) return 0;
  double theta = av_display_rotation_get(reinterpret_cast<const int32_t*>(sd));
  if (std::isnan(theta)) return 0;
  int r = static_cast<int>(std::lround(theta / 90.0)) * 90;
  r = ((r % 360) + 360) % 360;
  return r > 180 ? r - 360 : r;  // 0, 90, 180, -90 (ffprobe's convention)
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

// ---- demuxer ---------------------------------------------------------------------------------------------------
Demuxer::Demuxer(const VideoSource& src, int64_t max_pixels, const Deadline& deadline) : what_(src.describe()) {
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

RgbConverter::RgbConverter(int width, int height) : width_(width), height_(height) {
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
  const size_t row = static_cast<size_t>(width_) * 3;
  for (int y = 0; y < height_; ++y) std::memcpy(dst + row * y, rgb_->data[0] + static_cast<ptrdiff_t>(rgb_->linesize[0]) * y, row);
}

}  // namespace xclip::video
