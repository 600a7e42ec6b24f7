// Decode throughput (see the header). Uses the core's internal FFmpeg plumbing directly: this is the decoder's floor,
// against which read_video's sampling cost can be compared.
#include "decode_bench.h"

#include <chrono>
#include <vector>

#include "video_ffmpeg.h"
#include "xclip/error.h"

namespace xclip::tools {

DecodeThroughput measure_decode_throughput(const VideoSource& source, bool to_rgb, int threads) {
  auto t0 = std::chrono::steady_clock::now();
  const video::ByteSource bytes(source);
  const video::DecodeControl no_deadline(0, source.describe());
  video::Demuxer demux(bytes, video::DemuxLimits{0, 0}, no_deadline);
  if (!demux.has_video()) throw Error(ErrorCode::kVideoNoStream, "no video stream in " + demux.what());
  video::CodecPtr dec = video::open_decoder(demux, threads, true, 0);
  const AVCodecParameters* par = demux.stream()->codecpar;
  video::RgbConverter rgb(par->width, par->height);
  std::vector<uint8_t> buf(static_cast<size_t>(par->width) * par->height * 3);
  video::FramePtr frame = video::make_frame();
  video::PacketPtr pkt = video::make_packet();
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

}  // namespace xclip::tools
