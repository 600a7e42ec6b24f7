// What torch.save's zip archives are read with: the STORED entries by name, and the byte helpers the checkpoint
// parsers share. Every offset and length comes from the file and is checked against it before use; a file that
// breaks a rule is a kWeightsCorrupt error naming the source.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>

namespace xclip {

// Throws kWeightsCorrupt "<source>: <what>".
[[noreturn]] void weights_corrupt(const std::string& source, const std::string& what);
// Names from the file end up in messages: at most 120 printable characters.
std::string printable_name(const std::string& s);
// The little-endian unsigned integer of `n` bytes (1..8) at `p`.
uint64_t read_le(const uint8_t* p, int n);

// The signature a local file header, and so every torch.save archive, starts with.
constexpr uint32_t kZipLocalSig = 0x04034b50;

struct ZipEntry {
  uint64_t offset;  // of the entry's data within the file
  uint64_t size;
};

// The entries of the zip archive `d` [size bytes] (zip64 included), refusing compressed or encrypted entries,
// entries that overlap the directory, names that differ between headers, and duplicates.
std::map<std::string, ZipEntry> read_zip(const uint8_t* d, size_t size, const std::string& src);

}  // namespace xclip
