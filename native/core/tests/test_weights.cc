// Checkpoint directories (safetensors, shards, legacy .bin) and malformed safetensors files. Every malformed input
// is generated here, from bytes, so no binary file is committed.
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>

#include "testing.h"
#include "xclip/weights.h"

using namespace xclip;

namespace {

void write_file(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out) throw std::runtime_error("cannot write " + path);
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

bool bit_equal(const at::Tensor& a, const at::Tensor& b) {
  if (a.scalar_type() != b.scalar_type() || !a.sizes().equals(b.sizes())) return false;
  at::Tensor ca = a.contiguous(), cb = b.contiguous();
  return std::memcmp(ca.data_ptr(), cb.data_ptr(), ca.numel() * ca.element_size()) == 0;
}

// A safetensors file from a header written by hand, plus `data` as the data section.
std::string safetensors_bytes(const std::string& header, const std::string& data) {
  std::string out(8, '\0');
  uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  return out + header + data;
}

std::string st_file(const std::string& bytes) {
  static int counter = 0;
  std::string path = testing::temp_dir() + "/bad" + std::to_string(counter++) + ".safetensors";
  write_file(path, bytes);
  return path;
}

// Each malformed file must fail through both entry points (mmap and buffer) with the same message.
#define EXPECT_ST_ERROR(bytes, ...)                                                                              \
  do {                                                                                                        \
    std::string b_ = (bytes);                                                                                 \
    EXPECT_ERROR(load_safetensors(st_file(b_)), ErrorCode::kWeightsCorrupt, __VA_ARGS__);                     \
    EXPECT_ERROR(parse_safetensors(reinterpret_cast<const uint8_t*>(b_.data()), b_.size()), ErrorCode::kWeightsCorrupt, \
                 __VA_ARGS__);                                                                                \
  } while (0)

}  // namespace

TEST(legacy_bin_fixture_equals_safetensors_twin) {
  TensorMap bin = load_pytorch_bin(testing::fixture("models/xclip-tiny4-gelu-legacy-bin/pytorch_model.bin"));
  TensorMap st = load_safetensors(testing::fixture("models/xclip-tiny4-gelu/model.safetensors"));
  EXPECT_EQ(bin.size(), st.size());
  EXPECT_EQ(bin.size(), size_t(211));
  for (const auto& [k, v] : st) {
    auto it = bin.find(k);
    if (it == bin.end()) XCLIP_FAIL("legacy checkpoint lacks " << k);
    if (!bit_equal(it->second, v)) XCLIP_FAIL("tensor " << k << " differs between pytorch_model.bin and model.safetensors");
  }
  // The same bytes through the in-memory reader.
  std::string bytes = read_file(testing::fixture("models/xclip-tiny4-gelu-legacy-bin/pytorch_model.bin"));
  TensorMap mem = parse_pytorch_bin(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
  EXPECT_EQ(mem.size(), st.size());
  EXPECT_TRUE(bit_equal(mem.at("logit_scale"), st.at("logit_scale")));
  EXPECT_TRUE(bit_equal(mem.at("prompts_visual_projection"), st.at("prompts_visual_projection")));
}

TEST(legacy_bin_fixture_via_checkpoint_dir) {
  TensorMap m = load_checkpoint_dir(testing::fixture("models/xclip-tiny4-gelu-legacy-bin"));
  EXPECT_EQ(m.size(), size_t(211));
  EXPECT_EQ(m.at("text_model.embeddings.token_embedding.weight").size(0), 150);
}
