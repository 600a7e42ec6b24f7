// The decode engine (see the header): packet index, indexed decoding with seeks, sequential fallback.
#include "video_engine.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <unordered_map>

#include "xclip/error.h"

namespace xclip::video {
namespace {

// Upper bound for one call's RGB output (distinct frames), so a request cannot exhaust memory.
constexpr int64_t kMaxOutputBytes = 8LL << 30;
// Seek only when it skips more than this many packets; below that, decoding through is as cheap.
constexpr int64_t kSeekGap = 3;

std::vector<int64_t> unique_sorted(std::vector<int64_t> v) {
  std::sort(v.begin(), v.end());
  v.erase(std::unique(v.begin(), v.end()), v.end());
  return v;
}

class Engine {
 public:
  Engine(const VideoSource& src, const DecodeConfig& cfg)
      : src_(src), cfg_(cfg), deadline_(cfg.timeout_ms, src.describe()) {}

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

  // The state of one indexed pass: a demuxer and decoder that seek from keyframe to keyframe.
  struct IndexedPass {
    IndexedPass(const PacketIndex& i, Collected& o, std::unique_ptr<Demuxer> d, CodecPtr c, int width, int height)
        : idx(i), out(o), demux(std::move(d)), dec(std::move(c)), rgb(width, height) {}
    const PacketIndex& idx;
    Collected& out;
    std::unique_ptr<Demuxer> demux;
    CodecPtr dec;
    RgbConverter rgb;
    FramePtr frame = make_frame();
    PacketPtr pkt = make_packet();
    uint8_t* base = nullptr;
    size_t frame_bytes = 0;
    std::vector<uint8_t> done;  // per wanted frame: converted already
    size_t next = 0;            // first wanted frame not yet collected
    int64_t last_sent = -1;     // packet index (decode order) most recently sent
    int64_t last_seek = -1;     // keyframe packet of the last seek (a seek may land earlier; then decode forward)
    bool at_eof = false;
  };

  // Drains the decoder, converting the wanted frames it yields; false (with why_) when the index cannot be trusted.
  bool receive_indexed(IndexedPass& p) {
    const auto& need = p.out.ranks;
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
          p.rgb.convert(p.frame.get(), p.base + p.frame_bytes * pos);
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
        deadline_.check();
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
    const auto& need = out.ranks;
    out.frames = alloc_frames(need.size());
    if (need.empty()) return true;
    auto demux = std::make_unique<Demuxer>(src_, cfg_.max_pixels, deadline_);
    CodecPtr dec = open_decoder(*demux, cfg_.threads, true, cfg_.max_pixels);
    IndexedPass p(idx, out, std::move(demux), std::move(dec), width_, height_);
    p.done.assign(need.size(), 0);
    p.frame_bytes = static_cast<size_t>(width_) * height_ * 3;
    p.base = out.frames.data_ptr<uint8_t>();

    while (p.next < need.size()) {
      int64_t k = start_packet(idx, need[p.next]);
      if (k > p.last_sent + kSeekGap && k > p.last_seek && !p.at_eof) {
        if (!seek_to_keyframe(p, k)) return false;
        continue;
      }
      if (p.at_eof) return fail("drained and still missing frames");
      int ret = av_read_frame(p.demux->fmt(), p.pkt.get());
      deadline_.check();
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

}  // namespace

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

Collected decode_frames(const VideoSource& src, const DecodeConfig& cfg, const Planner& plan) {
  return Engine(src, cfg).run(plan);
}

}  // namespace xclip::video
