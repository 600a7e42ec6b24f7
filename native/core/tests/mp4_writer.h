// Builds small MP4 files box by box (ISO/IEC 14496-12) for tests: files whose sample tables claim what a test
// needs, and fixture copies with a different display matrix. Nothing here is a valid encoder; the one video track
// holds `jpeg` samples, which is all FFmpeg's demuxer needs to parse the tables.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

namespace xclip::testing::mp4 {

using Bytes = std::vector<uint8_t>;

inline void put32(Bytes& b, uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) b.push_back(static_cast<uint8_t>(v >> s));
}
inline void put16(Bytes& b, uint16_t v) {
  b.push_back(static_cast<uint8_t>(v >> 8));
  b.push_back(static_cast<uint8_t>(v));
}
inline void append(Bytes& b, const Bytes& more) { b.insert(b.end(), more.begin(), more.end()); }

inline Bytes box(const char* type, const Bytes& payload) {
  Bytes b;
  put32(b, static_cast<uint32_t>(8 + payload.size()));
  b.insert(b.end(), type, type + 4);
  append(b, payload);
  return b;
}
inline Bytes full_box(const char* type, uint32_t version_flags, const Bytes& payload) {
  Bytes p;
  put32(p, version_flags);
  append(p, payload);
  return box(type, p);
}
inline Bytes u32s(std::initializer_list<uint32_t> values) {
  Bytes b;
  for (uint32_t v : values) put32(b, v);
  return b;
}

// What the one video track's tables claim.
struct Claims {
  uint32_t samples = 25;         // stsz sample_count (constant size 1: the table itself costs nothing)
  uint32_t samples_per_chunk = 0;  // stsc, one run over the one chunk (0: = samples)
  uint32_t edits = 0;            // elst entries, each covering the whole media (0: no edit list)
  uint32_t fragment_samples = 0; // a moof with a trun of this many samples after the moov (0: none)
  int tracks = 1;                // identical video tracks
  uint32_t data_bytes = 64;      // size of the mdat payload
  // Where the sample tables sit. FFmpeg's demuxer reads a table wherever it finds one (kStbl: the standard place;
  // kDinf: the stbl inside the dinf; kUdta: a copy of the stbl in a udta of the track, the standard one claiming
  // 25 samples; kSampleEntry: the stsz after the sample description entry's fields, as one of its extension boxes).
  enum class Tables { kStbl, kDinf, kUdta, kSampleEntry } tables = Tables::kStbl;
};

inline Bytes identity_matrix() { return u32s({0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000}); }

inline Bytes claims_file(const Claims& c) {
  const uint32_t per_chunk = c.samples_per_chunk ? c.samples_per_chunk : c.samples;
  auto trak = [&](uint32_t id) {
    Bytes tkhd_p = u32s({0, 0, id, 0, c.samples});
    append(tkhd_p, u32s({0, 0, 0, 0}));  // reserved, layer/alternate group, volume/reserved
    append(tkhd_p, identity_matrix());
    append(tkhd_p, u32s({64u << 16, 48u << 16}));
    Bytes t = full_box("tkhd", 3, tkhd_p);
    if (c.edits > 0) {
      Bytes elst_p = u32s({c.edits});
      for (uint32_t i = 0; i < c.edits; ++i) append(elst_p, u32s({c.samples, 0, 0x10000}));
      append(t, box("edts", full_box("elst", 0, elst_p)));
    }
    Bytes mdhd = full_box("mdhd", 0, u32s({0, 0, 25, c.samples, 0x55c40000}));
    Bytes hdlr_p = u32s({0});
    const char* vide = "vide";
    hdlr_p.insert(hdlr_p.end(), vide, vide + 4);
    append(hdlr_p, u32s({0, 0, 0}));
    hdlr_p.push_back('v');
    hdlr_p.push_back(0);
    Bytes hdlr = full_box("hdlr", 0, hdlr_p);
    Bytes vmhd = full_box("vmhd", 1, u32s({0, 0}));
    Bytes dinf = box("dinf", full_box("dref", 0, [] {
                       Bytes p = u32s({1});
                       append(p, full_box("url ", 1, {}));
                       return p;
                     }()));
    Bytes entry(6, 0);  // visual sample entry: reserved, data_reference_index 1, ...
    put16(entry, 1);
    entry.resize(entry.size() + 16, 0);
    put16(entry, 64);
    put16(entry, 48);
    append(entry, u32s({0x480000, 0x480000, 0}));
    put16(entry, 1);
    entry.resize(entry.size() + 32, 0);
    put16(entry, 24);
    put16(entry, 0xffff);
    using T = Claims::Tables;
    const Bytes stsz = full_box("stsz", 0, u32s({1, c.samples}));
    if (c.tables == T::kSampleEntry) append(entry, stsz);
    Bytes stsd_p = u32s({1});
    append(stsd_p, box("jpeg", entry));
    auto tables = [&](uint32_t samples, uint32_t per, bool stsd = true) {  // FFmpeg refuses a second stsd
      Bytes t = stsd ? full_box("stsd", 0, stsd_p) : Bytes{};
      append(t, full_box("stts", 0, u32s({1, samples, 1})));
      append(t, full_box("stsc", 0, u32s({1, 1, per, 1})));
      if (c.tables != T::kSampleEntry) append(t, full_box("stsz", 0, u32s({1, samples})));
      append(t, full_box("stco", 0, u32s({1, 0})));
      return box("stbl", t);
    };
    if (c.tables == T::kDinf) dinf = box("dinf", [&] {
                                Bytes p(dinf.begin() + 8, dinf.end());
                                append(p, tables(c.samples, per_chunk));
                                return p;
                              }());
    Bytes minf = vmhd;
    append(minf, dinf);
    if (c.tables == T::kUdta) {
      append(minf, tables(25, 25));
      append(minf, box("udta", tables(c.samples, per_chunk, false)));
    } else if (c.tables != T::kDinf) {
      append(minf, tables(c.samples, per_chunk));
    }
    Bytes mdia = mdhd;
    append(mdia, hdlr);
    append(mdia, box("minf", minf));
    append(t, box("mdia", mdia));
    return box("trak", t);
  };
  Bytes mvhd_p = u32s({0, 0, 25, c.samples, 0x10000});
  put16(mvhd_p, 0x100);
  mvhd_p.resize(mvhd_p.size() + 10, 0);
  append(mvhd_p, identity_matrix());
  mvhd_p.resize(mvhd_p.size() + 24, 0);
  append(mvhd_p, u32s({static_cast<uint32_t>(c.tracks + 1)}));
  Bytes moov = full_box("mvhd", 0, mvhd_p);
  for (int i = 0; i < c.tracks; ++i) append(moov, trak(static_cast<uint32_t>(i + 1)));
  if (c.fragment_samples > 0)  // fragments need defaults: track 1, description 1, duration 1, size 1, flags 0
    append(moov, box("mvex", full_box("trex", 0, u32s({1, 1, 1, 1, 0}))));
  Bytes ftyp_p = {'i', 's', 'o', 'm'};
  append(ftyp_p, u32s({512}));
  const char* brands = "isomiso2mp41";
  ftyp_p.insert(ftyp_p.end(), brands, brands + 12);
  Bytes file = box("ftyp", ftyp_p);
  append(file, box("moov", moov));
  if (c.fragment_samples > 0) {
    Bytes traf = full_box("tfhd", 0x020000, u32s({1}));  // default-base-is-moof
    append(traf, full_box("trun", 0, u32s({c.fragment_samples})));
    Bytes moof = full_box("mfhd", 0, u32s({1}));
    append(moof, box("traf", traf));
    append(file, box("moof", moof));
  }
  append(file, box("mdat", Bytes(c.data_bytes, 0xff)));
  return file;
}

// Offset of the first `type` box header in b at or after `from` (a byte search: fine for the small test files).
inline size_t find_box(const Bytes& b, const char* type, size_t from = 0) {
  for (size_t i = from + 4; i + 4 <= b.size(); ++i)
    if (std::memcmp(&b[i], type, 4) == 0) return i - 4;
  return std::string::npos;
}

// Replaces the 2x2 part of the first track's tkhd matrix (16.16 fixed point, FFmpeg's display matrix order a b c d).
inline void set_display_matrix(Bytes& b, int a, int bb, int c, int d) {
  size_t tkhd = find_box(b, "tkhd");
  const bool v1 = b[tkhd + 8] == 1;
  size_t m = tkhd + 8 + 4 + (v1 ? 32 : 20) + 16;  // header, version/flags, times/id/duration, reserved..volume
  auto set = [&](size_t at, int v) {
    const uint32_t u = static_cast<uint32_t>(v * 65536);
    for (int i = 0; i < 4; ++i) b[at + i] = static_cast<uint8_t>(u >> (24 - 8 * i));
  };
  set(m, a);
  set(m + 4, bb);
  set(m + 12, c);
  set(m + 16, d);
}

}  // namespace xclip::testing::mp4
