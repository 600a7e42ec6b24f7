// safetensors: u64 LE header length, JSON header {name: {dtype, shape, data_offsets}}, raw LE data.
// The header is untrusted: every length, offset and shape is checked against the file before use.

#include <algorithm>
#include <cstring>
#include <fstream>
#include <memory>
#include <set>
#include <nlohmann/json.hpp>
#include <vector>

#include "mapped_file.h"
#include "untrusted_json.h"
#include "xclip/error.h"
#include "xclip/weights.h"

namespace xclip {
namespace {

using json = nlohmann::json;

constexpr uint64_t kMaxHeaderBytes = 100000000;  // the reference implementation's limit (MAX_HEADER_SIZE)
constexpr size_t kMaxDims = 64;

[[noreturn]] void corrupt(const std::string& source, const std::string& what) {
  throw Error(ErrorCode::kWeightsCorrupt, source + ": " + what);
}

struct DtypeInfo {
  at::ScalarType type;
  int64_t bytes;
};

bool dtype_from_name(const std::string& name, DtypeInfo& out) {
  static const std::map<std::string, DtypeInfo> kTable = {
      {"F32", {at::kFloat, 4}}, {"F16", {at::kHalf, 2}},  {"BF16", {at::kBFloat16, 2}}, {"F64", {at::kDouble, 8}},
      {"I64", {at::kLong, 8}},  {"I32", {at::kInt, 4}},   {"I16", {at::kShort, 2}},     {"I8", {at::kChar, 1}},
      {"U8", {at::kByte, 1}},   {"BOOL", {at::kBool, 1}},
  };
  auto it = kTable.find(name);
  if (it == kTable.end()) return false;
  out = it->second;
  return true;
}

const char* dtype_name(at::ScalarType t) {
  switch (t) {
    case at::kFloat: return "F32";
    case at::kHalf: return "F16";
    case at::kBFloat16: return "BF16";
    case at::kDouble: return "F64";
    case at::kLong: return "I64";
    case at::kInt: return "I32";
    case at::kShort: return "I16";
    case at::kChar: return "I8";
    case at::kByte: return "U8";
    case at::kBool: return "BOOL";
    default: return nullptr;
  }
}

struct Entry {
  std::string name;
  DtypeInfo dtype;
  std::vector<int64_t> shape;
  uint64_t begin, end;  // relative to the data section
};

// JSON values from the file end up in messages: keep them short.
std::string excerpt(const json& v) {
  std::string s = v.dump();
  return s.size() > 80 ? s.substr(0, 80) + "..." : s;
}

// Validates the header against a data section of `data_size` bytes; returns entries sorted by offset.
// Follows the reference implementation (huggingface/safetensors Metadata::validate): the tensors must tile the
// data section exactly, from 0 to its end, with no gap, overlap or trailing bytes.
std::vector<Entry> parse_header(const char* header, uint64_t header_len, uint64_t data_size, const std::string& source) {
  // nlohmann keeps the last of duplicate keys silently; a header naming one tensor twice is ambiguous, so refuse it.
  std::vector<std::set<std::string>> open_objects;
  std::string duplicate;
  auto track = [&](int depth, json::parse_event_t event, json& parsed) {
    if (event == json::parse_event_t::object_start) open_objects.emplace_back();
    if (event == json::parse_event_t::object_end && !open_objects.empty()) open_objects.pop_back();
    if (event == json::parse_event_t::key && !open_objects.empty() && duplicate.empty() &&
        !open_objects.back().insert(parsed.get<std::string>()).second) {
      duplicate = parsed.get<std::string>();
    }
    return true;
  };
  json j = parse_json_limited(std::string_view(header, header_len), ErrorCode::kWeightsCorrupt,
                              source + ": header is not valid JSON: ", track);
  if (!duplicate.empty()) corrupt(source, "header has duplicate key '" + duplicate.substr(0, 120) + "'");
  if (!j.is_object()) corrupt(source, "header must be a JSON object");
  std::vector<Entry> entries;
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (it.key() == "__metadata__") {
      bool ok = it.value().is_object();
      for (const auto& m : it.value().items()) ok = ok && m.value().is_string();
      if (!ok) corrupt(source, "__metadata__ must map strings to strings");
      continue;
    }
    const json& v = it.value();
    const std::string& key = it.key();
    if (!v.is_object() || !v.contains("dtype") || !v.contains("shape") || !v.contains("data_offsets")) {
      corrupt(source, "tensor '" + key + "' needs dtype, shape and data_offsets");
    }
    Entry e;
    e.name = key;
    if (!v["dtype"].is_string() || !dtype_from_name(v["dtype"].get<std::string>(), e.dtype)) {
      corrupt(source, "tensor '" + key + "' has unsupported dtype " + excerpt(v["dtype"]));
    }
    if (!v["shape"].is_array()) corrupt(source, "tensor '" + key + "' shape must be an array");
    if (v["shape"].size() > kMaxDims) corrupt(source, "tensor '" + key + "' has " + std::to_string(v["shape"].size()) + " dimensions");
    uint64_t numel = 1;
    for (const json& d : v["shape"]) {
      if (!d.is_number_unsigned() && !(d.is_number_integer() && d.get<int64_t>() >= 0)) {
        corrupt(source, "tensor '" + key + "' has invalid dimension " + excerpt(d));
      }
      uint64_t dim = d.get<uint64_t>();
      if (dim > (1ull << 40) || (dim != 0 && numel > (1ull << 62) / dim)) corrupt(source, "tensor '" + key + "' shape is too large");
      numel *= dim;
      e.shape.push_back(static_cast<int64_t>(dim));
    }
    const json& off = v["data_offsets"];
    if (!off.is_array() || off.size() != 2 || !off[0].is_number_unsigned() || !off[1].is_number_unsigned()) {
      corrupt(source, "tensor '" + key + "' data_offsets must be two non-negative integers");
    }
    e.begin = off[0].get<uint64_t>();
    e.end = off[1].get<uint64_t>();
    if (e.begin > e.end || e.end > data_size) {
      corrupt(source, "tensor '" + key + "' data_offsets [" + std::to_string(e.begin) + ", " + std::to_string(e.end) +
                          "] are outside the data section of " + std::to_string(data_size) + " bytes");
    }
    if (e.end - e.begin != numel * static_cast<uint64_t>(e.dtype.bytes)) {
      corrupt(source, "tensor '" + key + "' has " + std::to_string(e.end - e.begin) + " bytes but its shape and dtype need " +
                          std::to_string(numel * e.dtype.bytes));
    }
    entries.push_back(std::move(e));
  }
  std::sort(entries.begin(), entries.end(),
            [](const Entry& a, const Entry& b) { return a.begin != b.begin ? a.begin < b.begin : a.end < b.end; });
  uint64_t covered = 0;
  for (size_t i = 0; i < entries.size(); ++i) {
    if (entries[i].begin < covered) {
      corrupt(source, "tensors '" + entries[i - 1].name + "' and '" + entries[i].name + "' overlap");
    }
    if (entries[i].begin > covered) {
      corrupt(source, "data section bytes [" + std::to_string(covered) + ", " + std::to_string(entries[i].begin) +
                          ") before tensor '" + entries[i].name + "' belong to no tensor");
    }
    covered = entries[i].end;
  }
  if (covered != data_size) {
    corrupt(source, "data section has " + std::to_string(data_size) + " bytes but the tensors cover only " + std::to_string(covered) +
                        " (trailing bytes)");
  }
  return entries;
}

uint64_t read_header_len(const uint8_t* data, size_t size, const std::string& source) {
  if (size < 8) corrupt(source, "file is " + std::to_string(size) + " bytes, too short for a safetensors header");
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | data[i];
  if (n > kMaxHeaderBytes) corrupt(source, "header length " + std::to_string(n) + " exceeds the 100 MB limit");
  if (n > size - 8) {
    corrupt(source, "header length " + std::to_string(n) + " runs past the end of the file (" + std::to_string(size) + " bytes)");
  }
  return n;
}

}  // namespace

TensorMap parse_safetensors(const uint8_t* data, size_t size, const std::string& source) {
  uint64_t n = read_header_len(data, size, source);
  const uint8_t* base = data + 8 + n;
  auto entries = parse_header(reinterpret_cast<const char*>(data + 8), n, size - 8 - n, source);
  TensorMap out;
  for (const auto& e : entries) {
    at::Tensor t = at::empty(e.shape, at::TensorOptions().dtype(e.dtype.type));
    if (e.end > e.begin) std::memcpy(t.data_ptr(), base + e.begin, e.end - e.begin);
    out.emplace(e.name, std::move(t));
  }
  return out;
}

TensorMap load_safetensors(const std::string& path) {
  std::shared_ptr<MappedFile> map = MappedFile::open(path);
  const uint8_t* data = map->data();
  uint64_t n = read_header_len(data, map->size(), path);
  auto entries = parse_header(reinterpret_cast<const char*>(data + 8), n, map->size() - 8 - n, path);
  uint8_t* base = map->data() + 8 + n;
  TensorMap out;
  for (const auto& e : entries) {
    void* p = base + e.begin;
    at::Tensor t;
    if (reinterpret_cast<uintptr_t>(p) % e.dtype.bytes == 0) {
      // Each tensor holds a reference to the mapping; the last one released unmaps it.
      t = at::from_blob(p, e.shape, [map](void*) {}, at::TensorOptions().dtype(e.dtype.type));
    } else {
      // Writers that do not pad can leave misaligned offsets: copy rather than alias those.
      t = at::empty(e.shape, at::TensorOptions().dtype(e.dtype.type));
      if (e.end > e.begin) std::memcpy(t.data_ptr(), p, e.end - e.begin);  // an empty tensor's data_ptr is null
    }
    out.emplace(e.name, std::move(t));
  }
  return out;
}

void save_safetensors(const std::string& path, const TensorMap& tensors) {
  json header = json::object();
  header["__metadata__"] = {{"format", "pt"}};
  std::vector<at::Tensor> ordered;
  uint64_t offset = 0;
  for (const auto& [name, tensor] : tensors) {
    at::Tensor t = tensor.detach().to(at::kCPU).contiguous();
    const char* dt = dtype_name(t.scalar_type());
    if (!dt) throw Error(ErrorCode::kInvalidInput, "save_safetensors: unsupported dtype for " + name);
    uint64_t bytes = static_cast<uint64_t>(t.numel()) * t.element_size();
    header[name] = {{"dtype", dt}, {"shape", t.sizes().vec()}, {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
    ordered.push_back(t);
  }
  std::string h = header.dump();
  while ((8 + h.size()) % 8 != 0) h.push_back(' ');  // keep the data section 8-byte aligned
  std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) throw Error(ErrorCode::kIo, "cannot write " + tmp);
    uint64_t n = h.size();
    char len[8];
    for (int i = 0; i < 8; ++i) len[i] = static_cast<char>((n >> (8 * i)) & 0xff);
    out.write(len, 8);
    out.write(h.data(), static_cast<std::streamsize>(h.size()));
    for (const auto& t : ordered) out.write(static_cast<const char*>(t.data_ptr()), static_cast<std::streamsize>(t.numel() * t.element_size()));
    if (!out) throw Error(ErrorCode::kIo, "short write to " + tmp);
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) throw Error(ErrorCode::kIo, "cannot rename " + tmp + " to " + path);
}

}  // namespace xclip
