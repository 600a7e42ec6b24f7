// A whole file mapped private copy-on-write: tensors can alias it (zero-copy) and be modified in place without
// the writes reaching the file. Shared so every tensor aliasing it keeps it mapped; the last one unmaps.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace xclip {

class MappedFile {
 public:
  // kFileNotFound when it cannot be opened, kIo when it cannot be mapped, kWeightsCorrupt when it is empty.
  static std::shared_ptr<MappedFile> open(const std::string& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  uint8_t* data() const { return static_cast<uint8_t*>(addr_); }
  size_t size() const { return size_; }

 private:
  MappedFile(void* addr, size_t size) : addr_(addr), size_(size) {}
  void* addr_;
  size_t size_;
};

}  // namespace xclip
