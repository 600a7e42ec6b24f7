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

// What one track's tables claim. A table that appears more than once counts its largest claim: FFmpeg keeps the
// last one it parses, and which one that is depends on where each sits (see Walk).
struct Track {
  uint32_t id = 0;
  bool video = false;
  uint64_t stsz = 0, stts = 0;  // samples claimed by each table
  uint64_t chunks = 0;
  std::vector<std::vector<std::pair<uint32_t, uint32_t>>> stsc;  // per stsc box: (first_chunk, samples_per_chunk)
  uint64_t min_delta = 0;                                          // smallest non-zero stts delta
  uint32_t media_timescale = 0;
  std::vector<Edit> edits;
  bool has_edits = false;
  uint64_t fragments = 0;  // samples claimed by trun boxes
};

// Samples claimed by stsc: each run's chunks (up to the next run's first chunk, the last run to the last chunk).
uint64_t stsc_samples(const Track& t) {
  uint64_t most = 0;
  for (const auto& runs : t.stsc) {
    uint64_t n = 0;
    for (size_t i = 0; i < runs.size(); ++i) {
      const uint64_t first = runs[i].first;
      const uint64_t next = i + 1 < runs.size() ? runs[i + 1].first : t.chunks + 1;
      if (next > first) n = sat_add(n, sat_mul(next - first, runs[i].second));
    }
    most = std::max(most, n);
  }
  return most;
}

// Boxes FFmpeg's mov demuxer reads as a list of boxes (mov_read_default and the readers that end in it).
constexpr uint32_t kContainers[] = {fourcc("moov"), fourcc("trak"), fourcc("mdia"), fourcc("minf"), fourcc("stbl"),
                                    fourcc("dinf"), fourcc("edts"), fourcc("mvex"), fourcc("udta"), fourcc("tref"),
                                    fourcc("moof"), fourcc("traf"), fourcc("ilst"), fourcc("sinf"), fourcc("schi"),
                                    fourcc("wave")};
bool is_container(uint32_t type) { return std::find(std::begin(kContainers), std::end(kContainers), type) != std::end(kContainers); }

// Where a sample description entry's own fields end and FFmpeg reads the rest as boxes: it depends on the media
// type and version (data and timecode 16 or 34, sound 36, 52 or 72, video 86), all tried.
constexpr uint64_t kEntryFieldEnds[] = {16, 34, 36, 52, 72, 86};

// FFmpeg's mov demuxer dispatches on a box's type wherever the box sits: a sample table inside dinf, udta, a
// sample description's trailing boxes or a second moov sets the sample count of the last track opened just as it
// does inside stbl. So this walk does the same, over every box FFmpeg would read as a container, and credits each
// table to the last trak seen (fragments to the last tfhd's track id). Where FFmpeg's choice depends on what is
// not followed here (which moov it keeps, where a sample description's fields end), every candidate is walked and
// the largest claim counts: the walk may see more than FFmpeg, never less.
class Walk {
 public:
  Walk(Reader& r, const std::string& what, const DecodeControl& control)
      : r_(r), what_(what), control_(control), budget_(std::max<uint64_t>(uint64_t{1} << 20, r.size() / 2)) {}

  std::vector<Track> tracks;
  uint32_t movie_timescale = 0;  // smallest seen (the largest edit coverage)

  void root() {
    Box all;
    all.payload = 0;
    all.end = r_.size();
    children(all, 0, kRoot, 0);
  }

 private:
  static constexpr uint32_t kRoot = 0;
  static constexpr int kMaxDepth = 12;  // FFmpeg refuses nesting deeper than 10

  Track* current() { return tracks.empty() ? nullptr : &tracks.back(); }

  Track& track_with_id(uint32_t id) {
    for (auto& t : tracks)
      if (t.id == id) return t;
    tracks.emplace_back();
    tracks.back().id = id;
    return tracks.back();
  }

  // Visits the boxes from `from` to parent.end as children of a box of type parent_type.
  void children(const Box& parent, uint64_t from, uint32_t parent_type, int depth) {
    if (depth > kMaxDepth) return;
    Box b;
    for (uint64_t pos = from; box_at(r_, pos, parent.end, &b); pos = b.end) {
      if (++visits_ > budget_)
        throw Error(ErrorCode::kVideoUnsupported, "video " + what_ + " nests more boxes than its " +
                                                      std::to_string(r_.size()) + " bytes hold (a damaged or hostile file)");
      if (visits_ % 4096 == 0) control_.check();
      // FFmpeg stops reading a container at a trak or mdat that is not at the top or in moov.
      if ((b.type == fourcc("trak") || b.type == fourcc("mdat")) && parent_type != kRoot &&
          parent_type != fourcc("moov"))
        return;
      visit(b, depth);
      if (b.end <= pos) break;
    }
  }

  void visit(const Box& b, int depth) {
    const uint32_t type = b.type;
    if (type == fourcc("trak")) {
      tracks.emplace_back();
      children(b, b.payload, type, depth + 1);
    } else if (is_container(type)) {
      children(b, b.payload, type, depth + 1);
    } else if (type == fourcc("free") || type == fourcc("hoov")) {  // FFmpeg reads one holding a mvhd as a moov
      Box first;
      if (box_at(r_, b.payload, b.end, &first) && (first.type == fourcc("mvhd") || first.type == fourcc("cmov")))
        children(b, b.payload, fourcc("moov"), depth + 1);
    } else if (type == fourcc("meta")) {  // FFmpeg looks for its hdlr word by word and reads boxes from there
      uint32_t word = 0;
      for (uint64_t p = b.payload; p + 4 <= b.end && r_.u32(p, &word); p += 4)
        if (word == fourcc("hdlr") && p >= b.payload + 4) {
          children(b, p - 4, type, depth + 1);
          break;
        }
    } else if (type == fourcc("cmov")) {
      throw Error(ErrorCode::kVideoUnsupported, "video " + what_ + " has compressed movie headers (cmov), "
                                                "which are not read (re-encode or remux it)");
    } else if (type == fourcc("mvhd")) {  // version/flags, creation, modification, timescale
      uint32_t ts = 0;
      if (r_.u32(b.payload + (version_of(r_, b) == 1 ? 20 : 12), &ts) && ts > 0)
        movie_timescale = movie_timescale == 0 ? ts : std::min(movie_timescale, ts);
    } else if (type == fourcc("tfhd")) {  // version/flags, track_ID
      uint32_t id = 0;
      if (r_.u32(b.payload + 4, &id)) fragment_track_ = id;
    } else if (type == fourcc("trun")) {  // version/flags, sample_count
      uint32_t n = 0;
      if (r_.u32(b.payload + 4, &n)) {
        Track& t = track_with_id(fragment_track_);
        t.fragments = sat_add(t.fragments, n);
      }
    } else if (type == fourcc("stsd")) {  // version/flags, entry_count, entries (size, format, fields, boxes)
      sample_descriptions(b, depth);
    } else if (Track* t = current()) {
      track_box(b, *t);
    }
  }

  // Each entry's boxes after its own fields (avcC, wave, ...), read from every place those fields may end.
  void sample_descriptions(const Box& b, int depth) {
    uint32_t n = 0;
    if (!r_.u32(b.payload + 4, &n)) return;
    uint64_t pos = b.payload + 8;
    // FFmpeg reads an entry to the size it declares, past the end of the stsd if need be.
    for (uint32_t i = 0; i < n && pos + 8 <= r_.size(); ++i) {
      uint32_t size = 0;
      if (!r_.u32(pos, &size) || size < 8) return;
      Box entry;
      entry.payload = pos;
      entry.end = std::min<uint64_t>(r_.size(), pos + size);
      for (uint64_t fields : kEntryFieldEnds)
        if (fields + 8 <= size) children(entry, pos + fields, fourcc("stsd"), depth + 1);
      pos += size;
    }
  }

  // A box FFmpeg credits to the last track opened.
  void track_box(const Box& b, Track& t) {
    const uint64_t bytes = b.end - b.payload;
    uint32_t a = 0, n = 0;
    if (b.type == fourcc("tkhd")) {  // version/flags, creation, modification, track_ID (times 8 bytes in v1)
      uint32_t id = 0;
      if (r_.u32(b.payload + (version_of(r_, b) == 1 ? 20 : 12), &id)) t.id = id;
    } else if (b.type == fourcc("mdhd")) {  // version/flags, creation, modification, timescale
      uint32_t ts = 0;
      if (r_.u32(b.payload + (version_of(r_, b) == 1 ? 20 : 12), &ts)) t.media_timescale = std::max(t.media_timescale, ts);
    } else if (b.type == fourcc("hdlr")) {  // version/flags, pre_defined, handler_type
      uint32_t handler = 0;
      if (r_.u32(b.payload + 8, &handler) && handler == fourcc("vide")) t.video = true;
    } else if (b.type == fourcc("stsz")) {  // version/flags, sample_size, sample_count, [sizes]
      if (!r_.u32(b.payload + 4, &a) || !r_.u32(b.payload + 8, &n)) return;
      // A table costs 4 bytes a sample; a constant size costs nothing, so only then is the count a bare claim.
      t.stsz = std::max<uint64_t>(t.stsz, a != 0 ? n : std::min<uint64_t>(n, bytes > 12 ? (bytes - 12) / 4 : 0));
    } else if (b.type == fourcc("stz2")) {  // version/flags, reserved(3) + field_size(1), sample_count, sizes
      uint8_t field = 0;
      if (!r_.u8(b.payload + 7, &field) || !r_.u32(b.payload + 8, &n) || field == 0) return;
      t.stsz = std::max<uint64_t>(t.stsz, std::min<uint64_t>(n, bytes > 12 ? (bytes - 12) * 8 / field : 0));
    } else if (b.type == fourcc("stts")) {  // version/flags, entry_count, (sample_count, sample_delta)*
      if (!r_.u32(b.payload + 4, &n)) return;
      const uint64_t entries = std::min<uint64_t>(n, bytes > 8 ? (bytes - 8) / 8 : 0);
      uint64_t samples = 0;
      for (uint64_t i = 0; i < entries; ++i) {
        uint32_t count = 0, delta = 0;
        if (!r_.u32(b.payload + 8 + 8 * i, &count) || !r_.u32(b.payload + 12 + 8 * i, &delta)) break;
        samples = sat_add(samples, count);
        if (delta > 0 && (t.min_delta == 0 || delta < t.min_delta)) t.min_delta = delta;
      }
      t.stts = std::max(t.stts, samples);
    } else if (b.type == fourcc("stsc")) {  // version/flags, entry_count, (first_chunk, samples_per_chunk, desc)*
      if (!r_.u32(b.payload + 4, &n)) return;
      const uint64_t entries = std::min<uint64_t>(n, bytes > 8 ? (bytes - 8) / 12 : 0);
      t.stsc.emplace_back();
      for (uint64_t i = 0; i < entries; ++i) {
        uint32_t first = 0, per_chunk = 0;
        if (!r_.u32(b.payload + 8 + 12 * i, &first) || !r_.u32(b.payload + 12 + 12 * i, &per_chunk)) break;
        t.stsc.back().emplace_back(first, per_chunk);
      }
    } else if (b.type == fourcc("stco") || b.type == fourcc("co64")) {  // version/flags, entry_count, offsets
      if (!r_.u32(b.payload + 4, &n)) return;
      const uint64_t width = b.type == fourcc("stco") ? 4 : 8;
      t.chunks = std::max<uint64_t>(t.chunks, std::min<uint64_t>(n, bytes > 8 ? (bytes - 8) / width : 0));
    } else if (b.type == fourcc("elst")) {  // version/flags, entry_count, (duration, media_time, rate)*
      const bool v1 = version_of(r_, b) == 1;
      if (!r_.u32(b.payload + 4, &n)) return;
      const uint64_t width = v1 ? 20 : 12;
      const uint64_t entries = std::min<uint64_t>(n, bytes > 8 ? (bytes - 8) / width : 0);
      t.has_edits = true;
      for (uint64_t i = 0; i < entries; ++i) {
        const uint64_t at = b.payload + 8 + width * i;
        Edit edit;
        if (v1) {
          uint64_t media = 0;
          if (!r_.u64(at, &edit.duration) || !r_.u64(at + 8, &media)) break;
          edit.empty = static_cast<int64_t>(media) < 0;
        } else {
          uint32_t d = 0, media = 0;
          if (!r_.u32(at, &d) || !r_.u32(at + 4, &media)) break;
          edit.duration = d;
          edit.empty = static_cast<int32_t>(media) < 0;
        }
        t.edits.push_back(edit);
      }
    }
  }

  Reader& r_;
  const std::string& what_;
  const DecodeControl& control_;
  uint64_t visits_ = 0;
  const uint64_t budget_;  // boxes visited, walks of sample descriptions included
  uint32_t fragment_track_ = 0;
};

}  // namespace

void check_sample_tables(const ByteSource& bytes, int64_t max_frames, const DecodeControl& control) {
  Reader r(bytes, control);
  const std::string what = bytes.what();
  Walk walk(r, what, control);
  walk.root();
  const uint32_t movie_timescale = walk.movie_timescale;

  for (const Track& t : walk.tracks) {
    const uint64_t samples = std::max({t.stsz, t.stts, stsc_samples(t)});
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
                  "video " + what + ": " + track + "'s sample tables claim " + std::to_string(claimed) +
                      " samples, more than its " + std::to_string(r.size()) + " bytes can hold (a damaged or hostile file)");
    if (t.video && max_frames > 0 && frames > static_cast<uint64_t>(max_frames))
      throw Error(ErrorCode::kVideoTooLarge, "video " + what + " has more than " + std::to_string(max_frames) +
                                                 " frames (max_frames; " + track + "'s sample tables claim " +
                                                 std::to_string(frames) + "; raise it if you trust the file)");
  }
}

}  // namespace xclip::video
