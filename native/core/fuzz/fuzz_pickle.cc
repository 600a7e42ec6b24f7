// libFuzzer harness for parse_pytorch_bin. Input byte 0 picks the mode:
//   'Z': the rest is a whole archive (exercises the ZIP reader);
//   else: the rest is data.pkl, wrapped in a valid archive whose records data/0..data/9 hold 8 KiB each, so the
//   mutations reach the pickle VM and the storage/view checks instead of dying in the ZIP reader.
#include <cstddef>
#include <cstdint>
#include <string>

#include "xclip/error.h"
#include "xclip/weights.h"

namespace {

void put_le(std::string& out, uint64_t v, int n) {
  for (int i = 0; i < n; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

struct Zip {
  std::string body, cd;
  size_t count = 0;
  void add(const std::string& name, const char* data, size_t size) {
    size_t local = body.size();
    std::string fields;
    put_le(fields, 0x04034b50, 4);
    put_le(fields, 20, 2);
    put_le(fields, 0, 2);
    put_le(fields, 0, 2);
    put_le(fields, 0, 8);
    put_le(fields, size, 4);
    put_le(fields, size, 4);
    put_le(fields, name.size(), 2);
    put_le(fields, 0, 2);
    body += fields + name;
    body.append(data, size);
    put_le(cd, 0x02014b50, 4);
    put_le(cd, 20, 2);
    put_le(cd, 20, 2);
    put_le(cd, 0, 2);
    put_le(cd, 0, 2);
    put_le(cd, 0, 8);
    put_le(cd, size, 4);
    put_le(cd, size, 4);
    put_le(cd, name.size(), 2);
    put_le(cd, 0, 2);
    put_le(cd, 0, 2);
    put_le(cd, 0, 2);
    put_le(cd, 0, 2);
    put_le(cd, 0, 4);
    put_le(cd, local, 4);
    cd += name;
    ++count;
  }
  std::string finish() const {
    std::string out = body + cd;
    put_le(out, 0x06054b50, 4);
    put_le(out, 0, 4);
    put_le(out, count, 2);
    put_le(out, count, 2);
    put_le(out, cd.size(), 4);
    put_le(out, body.size(), 4);
    put_le(out, 0, 2);
    return out;
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  std::string archive;
  if (data[0] == 'Z') {
    archive.assign(reinterpret_cast<const char*>(data + 1), size - 1);
  } else {
    static const Zip records = [] {
      Zip z;
      std::string bytes(8192, '\0');
      for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<char>(i * 7);
      for (int k = 0; k < 10; ++k) z.add("archive/data/" + std::to_string(k), bytes.data(), bytes.size());
      return z;
    }();
    Zip z = records;
    z.add("archive/data.pkl", reinterpret_cast<const char*>(data + 1), size - 1);
    archive = z.finish();
  }
  try {
    xclip::TensorMap m = xclip::parse_pytorch_bin(reinterpret_cast<const uint8_t*>(archive.data()), archive.size());
    // Read every element of every view (out-of-storage views would show here); stride-0 views can be huge.
    for (auto& [k, v] : m) {
      if (v.numel() <= (1 << 20)) (void)v.sum();
    }
  } catch (const xclip::Error&) {
  }
  return 0;
}
