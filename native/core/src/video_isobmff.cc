// Sample-table claims of an ISO BMFF file against its size (see the header). Box layouts: ISO/IEC 14496-12.
#include "video_isobmff.h"

#include <algorithm>
#include <cstring>
#include <vector>

namespace xclip::video {
namespace {

constexpr uint32_t fourcc(const char (&s)[5]) {
  return (uint32_t(uint8_t(s[0])) << 24) | (uint32_t(uint8_t(s[1])) << 16) | (uint32_t(uint8_t(s[2])) << 8) |
         uint32_t(uint8_t(s[3]));
}

// Counts saturate far below overflow: anything this large is refused anyway.
constexpr uint64_t kHuge = uint64_t{1} << 62;
uint64_t sat_add(uint64_t a, uint64_t b) { return std::min(kHuge, a + std::min(b, kHuge)); }
uint64_t sat_mul(uint64_t a, uint64_t b) { return a == 0 || b <= kHuge / a ? std::min(kHuge, a * b) : kHuge; }

// Reads through a window: the walk reads many small fields close together.
class Reader {
 public:
  Reader(const ByteSource& bytes, const DecodeControl& control) : bytes_(bytes), control_(control) {}
  uint64_t size() const { return bytes_.size(); }

  // False when [pos, pos + n) is not all in the file.
  bool read(uint64_t pos, uint8_t* dst, size_t n) {
    if (pos > size() || n > size() - pos) return false;
    if (pos < win_pos_ || pos + n > win_pos_ + win_len_) {
      if (++refills_ % 1024 == 0) control_.check();
      win_pos_ = pos;
      win_len_ = 0;
      while (win_len_ < sizeof(win_)) {
        int got = bytes_.read_at(pos + win_len_, win_ + win_len_, static_cast<int>(sizeof(win_) - win_len_));
        if (got <= 0) break;
        win_len_ += static_cast<size_t>(got);
      }
      if (n > win_len_) return false;
    }
    std::memcpy(dst, win_ + (pos - win_pos_), n);
    return true;
  }
  bool u8(uint64_t pos, uint8_t* v) { return read(pos, v, 1); }
  bool u32(uint64_t pos, uint32_t* v) {
    uint8_t b[4];
    if (!read(pos, b, 4)) return false;
    *v = (uint32_t(b[0]) << 24) | (uint32_t(b[1]) << 16) | (uint32_t(b[2]) << 8) | b[3];
    return true;
  }
  bool u64(uint64_t pos, uint64_t* v) {
    uint32_t hi, lo;
    if (!u32(pos, &hi) || !u32(pos + 4, &lo)) return false;
    *v = (uint64_t{hi} << 32) | lo;
    return true;
  }

 private:
  const ByteSource& bytes_;
  const DecodeControl& control_;
  uint8_t win_[8192];
  uint64_t win_pos_ = 0;
  size_t win_len_ = 0;
  uint64_t refills_ = 0;
};

struct Box {
  uint32_t type = 0;
  uint64_t payload = 0;  // first byte after the header
  uint64_t end = 0;      // one past the last byte (clamped to the parent)
};

// The box at `pos` inside [pos, limit); false at the end or on a malformed header (FFmpeg stops there too).
bool box_at(Reader& r, uint64_t pos, uint64_t limit, Box* box) {
  uint32_t size32 = 0;
  if (pos + 8 > limit || !r.u32(pos, &size32) || !r.u32(pos + 4, &box->type)) return false;
  uint64_t size = size32;
  box->payload = pos + 8;
  if (size32 == 1) {
    if (pos + 16 > limit || !r.u64(pos + 8, &size)) return false;
    box->payload = pos + 16;
  } else if (size32 == 0) {
    size = limit - pos;  // to the end of the parent
  }
  if (size < box->payload - pos) return false;
  box->end = size > limit - pos ? limit : pos + size;
  return true;
}

template <typename F>
void for_each_child(Reader& r, const Box& parent, uint64_t skip, F&& f) {
  Box child;
  for (uint64_t pos = parent.payload + skip; box_at(r, pos, parent.end, &child); pos = child.end) {
    f(child);
    if (child.end <= pos) break;
  }
}

// Full boxes (version + flags first): the version byte, and the payload after version and flags.
uint8_t version_of(Reader& r, const Box& b) {
  uint8_t v = 0;
  r.u8(b.payload, &v);
  return v;
}

struct Edit {
  uint64_t duration = 0;  // movie timescale
  bool empty = false;     // media_time -1: a gap, no samples
};

struct Track {
  uint32_t id = 0;
  bool video = false;
  uint64_t stsz = 0, stts = 0, stsc = 0;  // samples claimed by each table
  uint64_t chunks = 0;
  std::vector<std::pair<uint32_t, uint32_t>> stsc_runs;  // (first_chunk, samples_per_chunk)
  uint64_t min_delta = 0;                                // smallest non-zero stts delta
  uint32_t media_timescale = 0;
  std::vector<Edit> edits;
  bool has_edits = false;
  uint64_t fragments = 0;  // samples claimed by trun boxes
};

void read_stbl(Reader& r, const Box& stbl, Track& t) {
  for_each_child(r, stbl, 0, [&](const Box& b) {
    const uint64_t bytes = b.end - b.payload;
    uint32_t a = 0, n = 0;
    if (b.type == fourcc("stsz")) {  // version/flags, sample_size, sample_count, [sizes]
      if (!r.u32(b.payload + 4, &a) || !r.u32(b.payload + 8, &n)) return;
      // A table costs 4 bytes a sample; a constant size costs nothing, so only then is the count a bare claim.
      t.stsz = a != 0 ? n : std::min<uint64_t>(n, bytes > 12 ? (bytes - 12) / 4 : 0);
    } else if (b.type == fourcc("stz2")) {  // version/flags, reserved(3) + field_size(1), sample_count, sizes
      uint8_t field = 0;
      if (!r.u8(b.payload + 7, &field) || !r.u32(b.payload + 8, &n) || field == 0) return;
      t.stsz = std::min<uint64_t>(n, bytes > 12 ? (bytes - 12) * 8 / field : 0);
    } else if (b.type == fourcc("stts")) {  // version/flags, entry_count, (sample_count, sample_delta)*
      if (!r.u32(b.payload + 4, &n)) return;
      const uint64_t entries = std::min<uint64_t>(n, bytes > 8 ? (bytes - 8) / 8 : 0);
      for (uint64_t i = 0; i < entries; ++i) {
        uint32_t count = 0, delta = 0;
        if (!r.u32(b.payload + 8 + 8 * i, &count) || !r.u32(b.payload + 12 + 8 * i, &delta)) break;
        t.stts = sat_add(t.stts, count);
        if (delta > 0 && (t.min_delta == 0 || delta < t.min_delta)) t.min_delta = delta;
      }
    } else if (b.type == fourcc("stsc")) {  // version/flags, entry_count, (first_chunk, samples_per_chunk, desc)*
      if (!r.u32(b.payload + 4, &n)) return;
      const uint64_t entries = std::min<uint64_t>(n, bytes > 8 ? (bytes - 8) / 12 : 0);
      t.stsc_runs.clear();
      for (uint64_t i = 0; i < entries; ++i) {
        uint32_t first = 0, per_chunk = 0;
        if (!r.u32(b.payload + 8 + 12 * i, &first) || !r.u32(b.payload + 12 + 12 * i, &per_chunk)) break;
        t.stsc_runs.emplace_back(first, per_chunk);
      }
    } else if (b.type == fourcc("stco") || b.type == fourcc("co64")) {  // version/flags, entry_count, offsets
      if (!r.u32(b.payload + 4, &n)) return;
      const uint64_t width = b.type == fourcc("stco") ? 4 : 8;
      t.chunks = std::min<uint64_t>(n, bytes > 8 ? (bytes - 8) / width : 0);
    }
  });
  // Samples of each stsc run: its chunks (up to the next run's first chunk, the last run to the last chunk).
  t.stsc = 0;
  for (size_t i = 0; i < t.stsc_runs.size(); ++i) {
    const uint64_t first = t.stsc_runs[i].first;
    const uint64_t next = i + 1 < t.stsc_runs.size() ? t.stsc_runs[i + 1].first : t.chunks + 1;
    if (next > first) t.stsc = sat_add(t.stsc, sat_mul(next - first, t.stsc_runs[i].second));
  }
  t.stsc_runs.clear();
  t.stsc_runs.shrink_to_fit();
}

void read_trak(Reader& r, const Box& trak, Track& t) {
  for_each_child(r, trak, 0, [&](const Box& b) {
    if (b.type == fourcc("tkhd")) {  // version/flags, creation, modification, track_ID (times 8 bytes in v1)
      uint32_t id = 0;
      if (r.u32(b.payload + (version_of(r, b) == 1 ? 20 : 12), &id)) t.id = id;
    } else if (b.type == fourcc("edts")) {
      for_each_child(r, b, 0, [&](const Box& e) {
        if (e.type != fourcc("elst")) return;
        const bool v1 = version_of(r, e) == 1;
        uint32_t n = 0;
        if (!r.u32(e.payload + 4, &n)) return;
        const uint64_t width = v1 ? 20 : 12, bytes = e.end - e.payload;
        const uint64_t entries = std::min<uint64_t>(n, bytes > 8 ? (bytes - 8) / width : 0);
        t.has_edits = true;
        for (uint64_t i = 0; i < entries; ++i) {
          const uint64_t at = e.payload + 8 + width * i;
          Edit edit;
          if (v1) {
            uint64_t media = 0;
            if (!r.u64(at, &edit.duration) || !r.u64(at + 8, &media)) break;
            edit.empty = static_cast<int64_t>(media) < 0;
          } else {
            uint32_t d = 0, media = 0;
            if (!r.u32(at, &d) || !r.u32(at + 4, &media)) break;
            edit.duration = d;
            edit.empty = static_cast<int32_t>(media) < 0;
          }
          t.edits.push_back(edit);
        }
      });
    } else if (b.type == fourcc("mdia")) {
      for_each_child(r, b, 0, [&](const Box& m) {
        if (m.type == fourcc("mdhd")) {  // version/flags, creation, modification, timescale
          uint32_t ts = 0;
          if (r.u32(m.payload + (version_of(r, m) == 1 ? 20 : 12), &ts)) t.media_timescale = ts;
        } else if (m.type == fourcc("hdlr")) {  // version/flags, pre_defined, handler_type
          uint32_t handler = 0;
          if (r.u32(m.payload + 8, &handler)) t.video = handler == fourcc("vide");
        } else if (m.type == fourcc("minf")) {
          for_each_child(r, m, 0, [&](const Box& s) {
            if (s.type == fourcc("stbl")) read_stbl(r, s, t);
          });
        }
      });
    }
  });
}

Track& track_with_id(std::vector<Track>& tracks, uint32_t id) {
  for (auto& t : tracks)
    if (t.id == id) return t;
  tracks.emplace_back();
  tracks.back().id = id;
  return tracks.back();
}

}  // namespace

void check_sample_tables(const ByteSource& bytes, int64_t max_frames, const DecodeControl& control) {
  Reader r(bytes, control);
  std::vector<Track> tracks;
  uint32_t movie_timescale = 0;
  Box top;
  for (uint64_t pos = 0; box_at(r, pos, r.size(), &top); pos = top.end) {
    if (top.type == fourcc("moov")) {
      for_each_child(r, top, 0, [&](const Box& b) {
        if (b.type == fourcc("mvhd")) {
          uint32_t ts = 0;
          if (r.u32(b.payload + (version_of(r, b) == 1 ? 20 : 12), &ts)) movie_timescale = ts;
        } else if (b.type == fourcc("trak")) {
          tracks.emplace_back();
          read_trak(r, b, tracks.back());
        } else if (b.type == fourcc("cmov")) {
          throw Error(ErrorCode::kVideoUnsupported, "video " + bytes.what() + " has compressed movie headers (cmov), "
                                                    "which are not read (re-encode or remux it)");
        }
      });
    } else if (top.type == fourcc("moof")) {
      for_each_child(r, top, 0, [&](const Box& traf) {
        if (traf.type != fourcc("traf")) return;
        uint32_t id = 0;
        uint64_t claimed = 0;
        for_each_child(r, traf, 0, [&](const Box& b) {
          uint32_t v = 0;
          if (b.type == fourcc("tfhd") && r.u32(b.payload + 4, &v)) id = v;  // version/flags, track_ID
          if (b.type == fourcc("trun") && r.u32(b.payload + 4, &v)) claimed = sat_add(claimed, v);  // sample_count
        });
        Track& t = track_with_id(tracks, id);
        t.fragments = sat_add(t.fragments, claimed);
      });
    }
    if (top.end <= pos) break;
  }

  for (const Track& t : tracks) {
    const uint64_t samples = std::max({t.stsz, t.stts, t.stsc});
    // An edit list makes FFmpeg copy the index entries each edit covers; an edit can cover at most all samples.
    uint64_t edited = 0;
    for (const Edit& e : t.edits) {
      if (e.empty) continue;
      uint64_t covered = samples;
      if (t.min_delta > 0 && movie_timescale > 0 && t.media_timescale > 0) {
        const double media = static_cast<double>(e.duration) * t.media_timescale / movie_timescale;
        const double n = media / static_cast<double>(t.min_delta) + 2;
        covered = n < static_cast<double>(samples) ? static_cast<uint64_t>(n) : samples;
      }
      edited = sat_add(edited, covered);
    }
    // Every sample has at least a byte of data in the file (8-bit mono PCM has exactly one), and FFmpeg's index
    // for a track is at most the samples plus the edited copies plus the fragments' samples.
    const uint64_t claimed = std::max({samples, edited, t.fragments});
    const uint64_t frames = sat_add(t.has_edits ? edited : samples, t.fragments);
    const std::string track = "track " + std::to_string(t.id);
    if (claimed > r.size())
      throw Error(ErrorCode::kVideoTooLarge,
                  "video " + bytes.what() + ": " + track + "'s sample tables claim " + std::to_string(claimed) +
                      " samples, more than its " + std::to_string(r.size()) + " bytes can hold (a damaged or hostile file)");
    if (t.video && max_frames > 0 && frames > static_cast<uint64_t>(max_frames))
      throw Error(ErrorCode::kVideoTooLarge, "video " + bytes.what() + " has more than " + std::to_string(max_frames) +
                                                 " frames (max_frames; " + track + "'s sample tables claim " +
                                                 std::to_string(frames) + "; raise it if you trust the file)");
  }
}

}  // namespace xclip::video
