// Preview images of a video: one decoded frame, scaled and encoded as JPEG with libavcodec's own mjpeg encoder,
// so the package needs no image library beyond the FFmpeg it already links.
#include <algorithm>
#include <cmath>
#include <string>

#include "video_ffmpeg.h"
#include "xclip/error.h"
#include "xclip/video.h"

namespace xclip {
namespace {

using video::CodecPtr;
using video::FramePtr;
using video::PacketPtr;
using video::SwsPtr;
using video::av_error_text;
using video::make_frame;
using video::make_packet;

void check_range(int value, int lo, int hi, const char* what) {
  if (value < lo || value > hi)
    throw Error(ErrorCode::kInvalidInput, std::string(what) + " must be between " + std::to_string(lo) + " and " +
                                              std::to_string(hi) + ", got " + std::to_string(value));
}

}  // namespace

std::vector<uint8_t> encode_jpeg(const at::Tensor& rgb_in, int max_width, int quality, int* out_width, int* out_height) {
  check_range(max_width, 16, 4096, "max_width");
  check_range(quality, 2, 31, "quality");
  if (rgb_in.scalar_type() != at::kByte || rgb_in.dim() != 3 || rgb_in.size(2) != 3 || rgb_in.size(0) < 1 || rgb_in.size(1) < 1)
    throw Error(ErrorCode::kInvalidInput, "encode_jpeg expects a uint8 [H, W, 3] RGB image");
  const at::Tensor rgb = rgb_in.contiguous();
  const int src_h = static_cast<int>(rgb.size(0)), src_w = static_cast<int>(rgb.size(1));
  int w = std::min(src_w, max_width);
  int h = std::max(1, static_cast<int>(std::lround(static_cast<double>(src_h) * w / src_w)));
  // 4:2:0 chroma halves both sizes: even sizes keep the last row and column from being half-coloured.
  w = std::max(2, w & ~1);
  h = std::max(2, h & ~1);

  const AVCodec* codec = avcodec_find_encoder(AV_CODEC_ID_MJPEG);
  if (codec == nullptr) throw Error(ErrorCode::kVideoUnsupported, "this FFmpeg build has no mjpeg encoder");
  CodecPtr ctx(avcodec_alloc_context3(codec));
  if (!ctx) throw Error(ErrorCode::kInternal, "avcodec_alloc_context3 failed");
  ctx->width = w;
  ctx->height = h;
  ctx->pix_fmt = AV_PIX_FMT_YUVJ420P;  // full-range 4:2:0, JFIF's own
  ctx->color_range = AVCOL_RANGE_JPEG;
  ctx->time_base = AVRational{1, 25};
  ctx->thread_count = 1;
  // A fixed quantiser (qscale), not a bitrate: every thumbnail gets the same quality whatever its content.
  ctx->flags |= AV_CODEC_FLAG_QSCALE;
  ctx->global_quality = FF_QP2LAMBDA * quality;
  int ret = avcodec_open2(ctx.get(), codec, nullptr);
  if (ret < 0) throw Error(ErrorCode::kInternal, "cannot open the mjpeg encoder: " + av_error_text(ret));

  FramePtr frame = make_frame();
  frame->format = ctx->pix_fmt;
  frame->width = w;
  frame->height = h;
  frame->color_range = AVCOL_RANGE_JPEG;
  ret = av_frame_get_buffer(frame.get(), 0);
  if (ret < 0) throw Error(ErrorCode::kInternal, "cannot allocate a YUV frame: " + av_error_text(ret));
  // Area averaging when shrinking (no aliasing on fine detail), bicubic otherwise; one call converts and scales.
  const int flags = (w < src_w ? SWS_AREA : SWS_BICUBIC) | SWS_ACCURATE_RND | SWS_FULL_CHR_H_INP;
  SwsPtr sws(sws_getContext(src_w, src_h, AV_PIX_FMT_RGB24, w, h, AV_PIX_FMT_YUVJ420P, flags, nullptr, nullptr, nullptr));
  if (!sws) throw Error(ErrorCode::kInternal, "cannot convert rgb24 to yuvj420p");
  const uint8_t* src[4] = {rgb.data_ptr<uint8_t>(), nullptr, nullptr, nullptr};
  const int src_stride[4] = {src_w * 3, 0, 0, 0};
  sws_scale(sws.get(), src, src_stride, 0, src_h, frame->data, frame->linesize);
  frame->pts = 0;
  frame->quality = ctx->global_quality;

  std::vector<uint8_t> out;
  PacketPtr pkt = make_packet();
  for (AVFrame* f : {frame.get(), static_cast<AVFrame*>(nullptr)}) {  // the frame, then the end of the stream
    ret = avcodec_send_frame(ctx.get(), f);
    if (ret < 0) throw Error(ErrorCode::kInternal, "mjpeg encoder refused the frame: " + av_error_text(ret));
    while ((ret = avcodec_receive_packet(ctx.get(), pkt.get())) == 0) {
      out.insert(out.end(), pkt->data, pkt->data + pkt->size);
      av_packet_unref(pkt.get());
    }
    if (ret != AVERROR(EAGAIN) && ret != AVERROR_EOF) throw Error(ErrorCode::kInternal, "mjpeg encoding failed: " + av_error_text(ret));
  }
  if (out.empty()) throw Error(ErrorCode::kInternal, "the mjpeg encoder produced no image");
  if (out_width != nullptr) *out_width = w;
  if (out_height != nullptr) *out_height = h;
  return out;
}

Thumbnail video_thumbnail(const VideoSource& source, const ThumbnailOptions& options) {
  check_range(options.max_width, 16, 4096, "max_width");
  check_range(options.quality, 2, 31, "quality");
  if (!std::isfinite(options.seconds) || options.seconds < 0)
    throw Error(ErrorCode::kInvalidInput, "the thumbnail time must be a finite number of seconds >= 0");
  ReadOptions read;
  read.sampling = Sampling::kAtTimes;
  read.times = {options.seconds};
  read.apply_rotation = true;  // a preview is looked at, so it is shown the way players show the video
  read.max_pixels = options.max_pixels;
  read.max_frames = options.max_frames;
  read.timeout_ms = options.timeout_ms;
  read.threads = options.threads;
  read.cancel = options.cancel;
  DecodedVideo v = read_video(source, read);
  Thumbnail t;
  t.frame_index = v.indices.at(0);
  t.timestamp = v.timestamps.at(0);
  t.jpeg = translating_errors("video_thumbnail", [&] { return encode_jpeg(v.frames[0], options.max_width, options.quality, &t.width, &t.height); });
  return t;
}

}  // namespace xclip
