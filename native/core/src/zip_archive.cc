// The zip archive reader behind legacy `pytorch_model.bin` checkpoints (zip_archive.h).
#include "zip_archive.h"

#include <cstring>
#include <initializer_list>

#include "xclip/error.h"

namespace xclip {

[[noreturn]] void weights_corrupt(const std::string& source, const std::string& what) {
  throw Error(ErrorCode::kWeightsCorrupt, source + ": " + what);
}

std::string printable_name(const std::string& s) {
  std::string out;
  for (char c : s.substr(0, 120)) out.push_back(c >= 0x20 && c < 0x7f ? c : '?');
  if (s.size() > 120) out += "...";
  return out;
}

uint64_t read_le(const uint8_t* p, int n) {
  uint64_t v = 0;
  for (int i = n - 1; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

namespace {
constexpr uint32_t kCentralSig = 0x02014b50, kEndSig = 0x06054b50;
constexpr uint32_t kEnd64Sig = 0x06064b50, kEnd64LocatorSig = 0x07064b50;
}  // namespace

std::map<std::string, ZipEntry> read_zip(const uint8_t* d, size_t size, const std::string& src) {
  if (size < 22) weights_corrupt(src, "file is " + std::to_string(size) + " bytes, too short for a zip archive");
  // The end record sits in the last 22 + 65535 (maximum comment) bytes; scan backwards for its signature.
  size_t lo = size > 22 + 0xffff ? size - 22 - 0xffff : 0;
  size_t eocd = SIZE_MAX;
  for (size_t pos = size - 22 + 1; pos-- > lo;) {
    if (read_le(d + pos, 4) == kEndSig && pos + 22 + read_le(d + pos + 20, 2) <= size) {
      eocd = pos;
      break;
    }
  }
  if (eocd == SIZE_MAX) {
    weights_corrupt(src, "no zip end-of-central-directory record: the archive is truncated or not a zip file");
  }
  if (read_le(d + eocd + 4, 2) != 0 || read_le(d + eocd + 6, 2) != 0) weights_corrupt(src, "multi-volume zip archives are not supported");
  uint64_t count = read_le(d + eocd + 10, 2), cd_size = read_le(d + eocd + 12, 4), cd_off = read_le(d + eocd + 16, 4);
  uint64_t cd_limit = eocd;  // the central directory ends before the record that describes it
  if (eocd >= 20 && read_le(d + eocd - 20, 4) == kEnd64LocatorSig) {
    uint64_t z = read_le(d + eocd - 20 + 8, 8);
    if (z > eocd - 20 || eocd - 20 - z < 56 || read_le(d + z, 4) != kEnd64Sig) {
      weights_corrupt(src, "zip64 end record offset " + std::to_string(z) + " does not point at a zip64 end record");
    }
    count = read_le(d + z + 32, 8);
    cd_size = read_le(d + z + 40, 8);
    cd_off = read_le(d + z + 48, 8);
    cd_limit = z;
  } else if (count == 0xffff || cd_size == 0xffffffffu || cd_off == 0xffffffffu) {
    weights_corrupt(src, "zip end record needs a zip64 record, which is missing");
  }
  if (cd_off > cd_limit || cd_size > cd_limit - cd_off) {
    weights_corrupt(src, "zip central directory [" + std::to_string(cd_off) + ", +" + std::to_string(cd_size) +
                     ") lies outside the file (" + std::to_string(size) + " bytes): the archive is truncated or corrupt");
  }
  if (count > cd_size / 46) weights_corrupt(src, "zip declares " + std::to_string(count) + " entries, more than its central directory holds");

  std::map<std::string, ZipEntry> entries;
  uint64_t pos = cd_off;
  const uint64_t cd_end = cd_off + cd_size;
  for (uint64_t i = 0; i < count; ++i) {
    if (cd_end - pos < 46 || read_le(d + pos, 4) != kCentralSig) weights_corrupt(src, "zip central directory entry " + std::to_string(i) + " is malformed");
    const uint8_t* c = d + pos;
    uint64_t flags = read_le(c + 8, 2), method = read_le(c + 10, 2);
    uint64_t csize = read_le(c + 20, 4), usize = read_le(c + 24, 4);
    uint64_t nlen = read_le(c + 28, 2), xlen = read_le(c + 30, 2), clen = read_le(c + 32, 2), local = read_le(c + 42, 4);
    if (cd_end - pos - 46 < nlen + xlen + clen) weights_corrupt(src, "zip central directory entry " + std::to_string(i) + " runs past the directory");
    std::string name(reinterpret_cast<const char*>(c + 46), nlen);
    // ZIP64: the 32-bit fields that overflowed are 0xffffffff and their real values follow, in order, in extra field 1.
    const uint8_t* x = c + 46 + nlen;
    for (uint64_t k = 0; k + 4 <= xlen;) {
      uint64_t id = read_le(x + k, 2), len = read_le(x + k + 2, 2);
      if (k + 4 + len > xlen) weights_corrupt(src, "zip entry '" + printable_name(name) + "' has a malformed extra field");
      if (id == 1) {
        uint64_t q = k + 4;
        for (uint64_t* field : {&usize, &csize, &local}) {
          if (*field != 0xffffffffu) continue;
          if (q + 8 > k + 4 + len) weights_corrupt(src, "zip entry '" + printable_name(name) + "' has a truncated zip64 extra field");
          *field = read_le(x + q, 8);
          q += 8;
        }
      }
      k += 4 + len;
    }
    if (flags & 1) weights_corrupt(src, "zip entry '" + printable_name(name) + "' is encrypted");
    if (method != 0) {
      weights_corrupt(src, "zip entry '" + printable_name(name) + "' is compressed (method " + std::to_string(method) +
                       "); torch.save writes uncompressed entries, so re-save the checkpoint with torch.save or as safetensors");
    }
    if (csize != usize) weights_corrupt(src, "zip entry '" + printable_name(name) + "' is stored but its sizes differ");
    // Entry data lies between its local header and the central directory.
    if (local > cd_off || cd_off - local < 30 || read_le(d + local, 4) != kZipLocalSig) {
      weights_corrupt(src, "zip entry '" + printable_name(name) + "' local header offset " + std::to_string(local) + " is invalid");
    }
    uint64_t lnlen = read_le(d + local + 26, 2), lxlen = read_le(d + local + 28, 2);
    uint64_t data = local + 30 + lnlen + lxlen;
    if (data > cd_off || csize > cd_off - data) {
      weights_corrupt(src, "zip entry '" + printable_name(name) + "' data [" + std::to_string(data) + ", +" + std::to_string(csize) +
                       ") runs past the entries area (" + std::to_string(cd_off) + " bytes)");
    }
    if (lnlen != nlen || std::memcmp(d + local + 30, name.data(), nlen) != 0) {
      weights_corrupt(src, "zip entry '" + printable_name(name) + "' has a different name in its local header");
    }
    if (!entries.emplace(name, ZipEntry{data, csize}).second) weights_corrupt(src, "zip entry '" + printable_name(name) + "' appears twice");
    pos += 46 + nlen + xlen + clen;
  }
  return entries;
}

}  // namespace xclip
