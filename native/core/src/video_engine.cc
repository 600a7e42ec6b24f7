// The decode engine (see the header): packet index, indexed decoding with seeks, sequential fallback.
#include "video_engine.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <numeric>
#include <unordered_map>

#include "xclip/error.h"

namespace xclip::video {
namespace {

// Seek only when it skips more than this many packets; below that, decoding through is as cheap.
constexpr int64_t kSeekGap = 3;

// Where each distinct wanted frame goes in the output: the planner's order may name a frame several times; it is
// converted once, into its first place, and copied to the others.
struct Placement {
  std::vector<int64_t> ranks;   // distinct frame indices, ascending
  std::vector<int64_t> places;  // output positions, grouped by rank: places[first[k]] .. places[first[k + 1] - 1]
  std::vector<size_t> first;

  explicit Placement(const std::vector<int64_t>& order) {
    std::vector<int64_t> pos(order.size());
    std::iota(pos.begin(), pos.end(), 0);
    std::stable_sort(pos.begin(), pos.end(), [&](int64_t a, int64_t b) { return order[a] < order[b]; });
    for (int64_t p : pos) {
      if (ranks.empty() || order[p] != ranks.back()) {
        ranks.push_back(order[p]);
        first.push_back(places.size());
      }
      places.push_back(p);
    }
    first.push_back(places.size());
  }
  Placement() = default;
};

class Engine {
 public:
  Engine(const VideoSource& src, const DecodeConfig& cfg)
      : bytes_(src), cfg_(cfg), control_(cfg.timeout_ms, src.describe(), cfg.cancel),
        limits_{cfg.max_pixels, cfg.max_frames} {}

  Collected run(const Planner& plan) {
    auto demux = std::make_unique<Demuxer>(bytes_, limits_, control_);
    if (!demux->has_video())
      throw Error(ErrorCode::kVideoNoStream, "no video stream in " + demux->what() + " (" +
                                                 std::to_string(demux->fmt()->nb_streams) + " other stream(s))");
    Collected out;
    out.info = stream_info(*demux);
    width_ = out.info.width;
    height_ = out.info.height;
    if (width_ <= 0 || height_ <= 0)
      throw Error(ErrorCode::kVideoDecode, "video " + demux->what() + " has no valid frame size");
    stream_index_ = demux->stream_index();
    codec_id_ = demux->stream()->codecpar->codec_id;
    time_base_q_ = demux->stream()->time_base;
    time_base_ = av_q2d(time_base_q_);
    if (cfg_.apply_orientation) orientation_ = Orientation{out.info.rotation, out.info.mirrored};
    { CodecPtr probe = open_decoder(*demux, 1, false, cfg_.max_pixels); }  // kVideoUnsupported before any work

    PacketIndex index = scan_packets(*demux, cfg_.max_frames, control_);
    demux.reset();
    out.info.frame_count = index.frames;
    out.info.index_incomplete = !index.anomaly.empty();
    if (cfg_.between_passes) cfg_.between_passes();

    if (build_rank_table(index)) {
      out.table.n = static_cast<int64_t>(sorted_pts_.size());
      for (int64_t p : sorted_pts_) out.table.pts_seconds.push_back(p * time_base_);
      prepare_output(plan(out.table), out);
      if (decode_indexed(index, out)) {
        out.indexed = true;
        bytes_.check_unchanged();
        return out;
      }
      if (std::getenv("XCLIP_VIDEO_DEBUG")) std::fprintf(stderr, "xclip video: index path failed: %s\n", why_.c_str());
    }
    // Sequential: one pass counts what really decodes, a second collects the wanted frames.
    out.table = FrameTable{};
    sequential(nullptr, &out.table, -1);
    if (out.table.n == 0)
      throw Error(ErrorCode::kVideoDecode, "no frame of " + bytes_.what() + " could be decoded" +
                                               (out.table.warning.empty() ? "" : ": " + out.table.warning));
    prepare_output(plan(out.table), out);
    sequential(&out, nullptr, out.table.n);
    out.work_frames += work_;
    bytes_.check_unchanged();
    return out;
  }

 private:
  // Checks the planned indices and the size of the output they make (repeats count: each is a frame of output),
  // then allocates the output once; both passes write into it.
  void prepare_output(std::vector<int64_t> order, Collected& out) {
    const int64_t n = out.table.n;
    for (int64_t r : order)
      if (r < 0 || r >= n)
        throw Error(ErrorCode::kInvalidInput, "frame index " + std::to_string(r) + " is out of range for " +
                                                  bytes_.what() + " with " + std::to_string(n) + " frames");
    placement_ = Placement(order);
    const int out_w = orientation_.swaps_sides() ? height_ : width_;
    const int out_h = orientation_.swaps_sides() ? width_ : height_;
    frame_bytes_ = static_cast<size_t>(width_) * height_ * 3;
    const double bytes = static_cast<double>(order.size()) * static_cast<double>(frame_bytes_);
    if (bytes > static_cast<double>(kMaxOutputBytes))
      throw Error(ErrorCode::kVideoTooLarge,
                  "reading " + std::to_string(order.size()) + " frames (" + std::to_string(placement_.ranks.size()) +
                      " distinct) of " + std::to_string(width_) + "x" + std::to_string(height_) + " from " + bytes_.what() +
                      " would need " + std::to_string(static_cast<int64_t>(bytes / (1 << 20))) + " MiB (limit " +
                      std::to_string(kMaxOutputBytes >> 20) + " MiB; sample fewer frames)");
    out.frames = at::Tensor();  // a fallback's plan replaces the first: never hold both
    out.frames = at::empty({static_cast<int64_t>(order.size()), out_h, out_w, 3}, at::kByte);
    out.order = std::move(order);
  }

  // The k-th distinct wanted frame: converted once into its first place, copied to the others.
  void deliver(size_t k, const AVFrame* frame, RgbConverter& rgb) {
    uint8_t* base = static_cast<uint8_t*>(out_frames_data_);
    const auto& p = placement_;
    uint8_t* first = base + frame_bytes_ * static_cast<size_t>(p.places[p.first[k]]);
    rgb.convert(frame, first);
    for (size_t j = p.first[k] + 1; j < p.first[k + 1]; ++j)
      std::memcpy(base + frame_bytes_ * static_cast<size_t>(p.places[j]), first, frame_bytes_);
  }

  // A pass after the first opens the bytes again: they must still open, and hold the stream the index was built from.
  std::unique_ptr<Demuxer> reopen() const {
    std::unique_ptr<Demuxer> d;
    try {
      d = std::make_unique<Demuxer>(bytes_, limits_, control_);
    } catch (const Error& e) {
      if (e.code() != ErrorCode::kVideoOpen) throw;
      throw Error(ErrorCode::kVideoDecode, "video " + bytes_.what() + " changed while it was being decoded (it no longer "
                                               "opens: " + e.what() + "); read it again once it is complete");
    }
    expect_same_stream(*d);
    return d;
  }

  void expect_same_stream(const Demuxer& d) const {
    std::string what;
    if (!d.has_video() || d.stream_index() != stream_index_) {
      what = "its video stream is gone";
    } else {
      const AVCodecParameters* par = d.stream()->codecpar;
      const AVRational tb = d.stream()->time_base;
      if (par->codec_id != codec_id_ || par->width != width_ || par->height != height_ || tb.num != time_base_q_.num ||
          tb.den != time_base_q_.den)
        what = "now " + std::string(avcodec_get_name(par->codec_id)) + " " + std::to_string(par->width) + "x" +
               std::to_string(par->height) + ", first read as " + avcodec_get_name(codec_id_) + " " +
               std::to_string(width_) + "x" + std::to_string(height_);
    }
    if (!what.empty())
      throw Error(ErrorCode::kVideoDecode, "video " + bytes_.what() + " changed while it was being decoded (" + what +
                                               "); read it again once it is complete");
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

  // The state of one indexed pass: a demuxer and decoder that seek from keyframe to keyframe.
  struct IndexedPass {
    IndexedPass(const PacketIndex& i, Collected& o, std::unique_ptr<Demuxer> d, CodecPtr c, RgbConverter r)
        : idx(i), out(o), demux(std::move(d)), dec(std::move(c)), rgb(std::move(r)) {}
    const PacketIndex& idx;
    Collected& out;
    std::unique_ptr<Demuxer> demux;
    CodecPtr dec;
    RgbConverter rgb;
    FramePtr frame = make_frame();
    PacketPtr pkt = make_packet();
    std::vector<uint8_t> done;  // per wanted frame: converted already
    size_t next = 0;            // first wanted frame not yet collected
    int64_t last_sent = -1;     // packet index (decode order) most recently sent
    int64_t last_seek = -1;     // keyframe packet of the last seek (a seek may land earlier; then decode forward)
    bool at_eof = false;
  };

  // Drains the decoder, converting the wanted frames it yields; false (with why_) when the index cannot be trusted.
  bool receive_indexed(IndexedPass& p) {
    const auto& need = placement_.ranks;
    for (;;) {
      int ret = avcodec_receive_frame(p.dec.get(), p.frame.get());
      if (ret == AVERROR(EAGAIN) || ret == AVERROR_EOF) return true;
      if (ret < 0) return fail("receive_frame: " + av_error_text(ret));
      ++p.out.work_frames;
      int64_t r = rank_of(frame_pts(p.frame.get()));
      if (r < 0) return fail("decoded pts " + std::to_string(frame_pts(p.frame.get())) + " not in the index");
      auto it = std::lower_bound(need.begin(), need.end(), r);
      if (it != need.end() && *it == r) {
        size_t pos = it - need.begin();
        if (!p.done[pos]) {
          deliver(pos, p.frame.get(), p.rgb);
          p.done[pos] = 1;
        }
      }
      av_frame_unref(p.frame.get());
      while (p.next < need.size() && p.done[p.next]) ++p.next;
    }
  }

  // Moves the demuxer to keyframe packet k and sends that packet. Demuxers index keyframes by pts (mov, matroska)
  // or dts (avi): try the pts first, and the dts when the pts lands after the keyframe; always verify the landing
  // packet against the index. False (with why_) when neither lands on or before k.
  bool seek_to_keyframe(IndexedPass& p, int64_t k) {
    const PacketIndex& idx = p.idx;
    p.last_seek = k;
    bool landed = false;
    for (int64_t ts : {idx.pts[k], idx.dts[k]}) {
      if (ts == AV_NOPTS_VALUE || landed) continue;
      if (av_seek_frame(p.demux->fmt(), p.demux->stream_index(), ts, AVSEEK_FLAG_BACKWARD) < 0) continue;
      avcodec_flush_buffers(p.dec.get());
      int64_t at = -1;
      for (;;) {
        int ret = av_read_frame(p.demux->fmt(), p.pkt.get());
        control_.check();
        if (ret < 0) return fail("read after seek: " + av_error_text(ret));
        if (p.pkt->stream_index == p.demux->stream_index() && (p.pkt->flags & AV_PKT_FLAG_KEY)) break;
        av_packet_unref(p.pkt.get());
      }
      auto it = packet_of_pts_.find(p.pkt->pts);
      at = it == packet_of_pts_.end() ? -1 : it->second;
      if (std::getenv("XCLIP_VIDEO_DEBUG"))
        std::fprintf(stderr, "xclip video: seek to packet %lld (ts %lld) landed on %lld\n", (long long)k, (long long)ts,
                     (long long)at);
      if (at < 0 || at > k) {  // unknown packet or past the keyframe we need
        av_packet_unref(p.pkt.get());
        continue;
      }
      landed = true;
      p.last_sent = at;
      int ret = avcodec_send_packet(p.dec.get(), p.pkt.get());
      av_packet_unref(p.pkt.get());
      if (ret < 0) return fail("send_packet: " + av_error_text(ret));
      if (!receive_indexed(p)) return false;
    }
    if (!landed) return fail("seek to keyframe packet " + std::to_string(k) + " failed");
    return true;
  }

  bool decode_indexed(const PacketIndex& idx, Collected& out) {
    const auto& need = placement_.ranks;
    if (need.empty()) return true;
    std::unique_ptr<Demuxer> demux = reopen();
    CodecPtr dec = open_decoder(*demux, cfg_.threads, true, cfg_.max_pixels);
    IndexedPass p(idx, out, std::move(demux), std::move(dec), RgbConverter(width_, height_, orientation_));
    p.done.assign(need.size(), 0);
    out_frames_data_ = out.frames.data_ptr<uint8_t>();

    while (p.next < need.size()) {
      int64_t k = start_packet(idx, need[p.next]);
      if (k > p.last_sent + kSeekGap && k > p.last_seek && !p.at_eof) {
        if (!seek_to_keyframe(p, k)) return false;
        continue;
      }
      if (p.at_eof) return fail("drained and still missing frames");
      int ret = av_read_frame(p.demux->fmt(), p.pkt.get());
      control_.check();
      if (ret == AVERROR_EOF) {
        p.at_eof = true;
        if (avcodec_send_packet(p.dec.get(), nullptr) < 0 || !receive_indexed(p)) return fail("drain");
        continue;
      }
      if (ret < 0) return fail("read: " + av_error_text(ret));
      if (p.pkt->stream_index != p.demux->stream_index()) {
        av_packet_unref(p.pkt.get());
        continue;
      }
      auto it = packet_of_pts_.find(p.pkt->pts);
      if (it != packet_of_pts_.end()) p.last_sent = it->second;
      // A frame nothing refers to and nobody asked for need not be decoded at all (about half of an x264
      // stream's frames are such B-frames). Skipping them cannot change any other frame, so the wanted frames
      // stay bit-identical; the decoder reads the setting per packet, frame threads included.
      const int64_t r = p.pkt->pts == AV_NOPTS_VALUE ? -1 : rank_of(p.pkt->pts);
      const auto want = std::lower_bound(need.begin(), need.end(), r);
      const bool wanted = r < 0 || (want != need.end() && *want == r && !p.done[want - need.begin()]);
      p.dec->skip_frame = wanted ? AVDISCARD_DEFAULT : AVDISCARD_NONREF;
      ret = avcodec_send_packet(p.dec.get(), p.pkt.get());
      av_packet_unref(p.pkt.get());
      if (ret < 0) return fail("send_packet: " + av_error_text(ret));
      if (!receive_indexed(p)) return false;
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
    if (out != nullptr && placement_.ranks.empty()) return;
    std::unique_ptr<Demuxer> opened = reopen();
    Demuxer& demux = *opened;
    CodecPtr dec = open_decoder(demux, cfg_.threads, false, cfg_.max_pixels);
    FramePtr frame = make_frame();
    PacketPtr pkt = make_packet();
    std::unique_ptr<RgbConverter> rgb;
    size_t next = 0;
    if (out != nullptr) {
      out_frames_data_ = out->frames.data_ptr<uint8_t>();
      rgb = std::make_unique<RgbConverter>(width_, height_, orientation_);
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
          const auto& need = placement_.ranks;
          while (next < need.size() && need[next] == count) {
            deliver(next, frame.get(), *rgb);
            ++next;
          }
          if (next == need.size()) return false;
        }
        av_frame_unref(frame.get());
        ++count;
        check_frame_count(count, cfg_.max_frames, bytes_.what());
        if (limit >= 0 && count >= limit) return false;
      }
    };
    bool go = true;
    int64_t packets = 0;
    while (go) {
      int ret = av_read_frame(demux.fmt(), pkt.get());
      control_.check();
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
      check_frame_count(++packets / 2, cfg_.max_frames, bytes_.what());
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
        table->warning = "video " + bytes_.what() + " is truncated or corrupt: " + stop +
                         "; sampling uses the frames decoded before the error";
      }
    }
    if (out != nullptr && next != placement_.ranks.size())
      throw Error(ErrorCode::kVideoDecode, "video " + bytes_.what() + " decoded differently on the second pass (" +
                                               std::to_string(next) + " of " + std::to_string(placement_.ranks.size()) +
                                               " wanted frames)");
  }

  ByteSource bytes_;  // opened once: every pass reads these bytes
  DecodeConfig cfg_;
  DecodeControl control_;
  DemuxLimits limits_;
  int width_ = 0, height_ = 0;
  int stream_index_ = -1;
  AVCodecID codec_id_ = AV_CODEC_ID_NONE;
  AVRational time_base_q_{0, 1};
  double time_base_ = 0;
  Orientation orientation_;
  Placement placement_;
  size_t frame_bytes_ = 0;
  void* out_frames_data_ = nullptr;
  std::vector<int64_t> sorted_pts_;
  std::unordered_map<int64_t, int64_t> packet_of_pts_;
  int64_t work_ = 0;
  std::string why_;  // why the index path gave up (XCLIP_VIDEO_DEBUG)
};

}  // namespace

PacketIndex scan_packets(Demuxer& d, int64_t max_frames, const DecodeControl& control) {
  PacketIndex idx;
  PacketPtr pkt = make_packet();
  for (;;) {
    int ret = av_read_frame(d.fmt(), pkt.get());
    if (ret == AVERROR_EOF) break;
    control.check();
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

Collected decode_frames(const VideoSource& src, const DecodeConfig& cfg, const Planner& plan) {
  return Engine(src, cfg).run(plan);
}

}  // namespace xclip::video
