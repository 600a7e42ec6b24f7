// Checkpoint directories (safetensors, shards, legacy .bin) and malformed safetensors files. Every malformed input
// is generated here, from bytes, so no binary file is committed.
#include <cstring>
#include <filesystem>
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

TEST(checkpoint_dir_prefers_safetensors_and_names_what_is_missing) {
  std::string dir = testing::temp_dir() + "/prefer";
  std::filesystem::create_directories(dir);
  TensorMap m;
  m["a"] = at::arange(3, at::kFloat);
  save_safetensors(dir + "/model.safetensors", m);
  write_file(dir + "/pytorch_model.bin", "garbage that must never be read");
  EXPECT_TRUE(load_checkpoint_dir(dir).at("a").equal(m["a"]));
  std::string empty = testing::temp_dir() + "/empty";
  std::filesystem::create_directories(empty);
  EXPECT_ERROR(load_checkpoint_dir(empty), ErrorCode::kFileNotFound, "model.safetensors", "pytorch_model.bin");
  EXPECT_ERROR(load_checkpoint_dir(empty + "/nope"), ErrorCode::kFileNotFound, "nope");
}

TEST(sharded_checkpoint_loads_every_shard) {
  std::string dir = testing::temp_dir() + "/sharded";
  std::filesystem::create_directories(dir);
  TensorMap s1, s2;
  s1["text.a"] = at::arange(6, at::kFloat).reshape({2, 3});
  s1["text.b"] = at::tensor({1.5, 2.5}).to(at::kHalf);
  s2["vision.c"] = at::tensor({int64_t(4), int64_t(5)}, at::kLong);
  save_safetensors(dir + "/model-00001-of-00002.safetensors", s1);
  save_safetensors(dir + "/model-00002-of-00002.safetensors", s2);
  nlohmann::json index = {{"metadata", {{"total_size", 40}}},
                          {"weight_map",
                           {{"text.a", "model-00001-of-00002.safetensors"},
                            {"text.b", "model-00001-of-00002.safetensors"},
                            {"vision.c", "model-00002-of-00002.safetensors"}}}};
  write_file(dir + "/model.safetensors.index.json", index.dump());
  TensorMap m = load_checkpoint_dir(dir);
  EXPECT_EQ(m.size(), size_t(3));
  EXPECT_TRUE(bit_equal(m.at("text.a"), s1["text.a"]));
  EXPECT_TRUE(bit_equal(m.at("text.b"), s1["text.b"]));
  EXPECT_TRUE(bit_equal(m.at("vision.c"), s2["vision.c"]));

  // Each bad index in its own directory (the same shards, copied).
  auto with_index = [&](const std::string& name, const nlohmann::json& weight_map) {
    std::string d = testing::temp_dir() + "/" + name;
    std::filesystem::create_directories(d);
    for (const char* f : {"model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"}) {
      std::filesystem::copy_file(dir + "/" + f, d + "/" + f);
    }
    write_file(d + "/model.safetensors.index.json", nlohmann::json{{"weight_map", weight_map}}.dump());
    return d;
  };
  nlohmann::json wm = index["weight_map"];
  nlohmann::json traversal = wm;
  traversal["vision.c"] = "../sharded/model-00002-of-00002.safetensors";
  EXPECT_ERROR(load_checkpoint_dir(with_index("traversal", traversal)), ErrorCode::kWeightsCorrupt, "../sharded",
               "not a plain file name");
  nlohmann::json dotdot = wm;
  dotdot["vision.c"] = "..";
  EXPECT_ERROR(load_checkpoint_dir(with_index("dotdot", dotdot)), ErrorCode::kWeightsCorrupt, "not a plain file name");
  nlohmann::json absent = wm;
  absent["text.missing"] = "model-00001-of-00002.safetensors";
  EXPECT_ERROR(load_checkpoint_dir(with_index("absent", absent)), ErrorCode::kWeightsCorrupt, "'text.missing'",
               "missing from shard model-00001-of-00002.safetensors");
  nlohmann::json unlisted = wm;
  unlisted.erase("text.b");
  EXPECT_ERROR(load_checkpoint_dir(with_index("unlisted", unlisted)), ErrorCode::kWeightsCorrupt, "'text.b'", "not listed");
  nlohmann::json wrong_shard = wm;
  wrong_shard["vision.c"] = "model-00001-of-00002.safetensors";
  EXPECT_ERROR(load_checkpoint_dir(with_index("wrong", wrong_shard)), ErrorCode::kWeightsCorrupt, "'vision.c'");
  nlohmann::json no_file = wm;
  no_file["vision.c"] = "model-00003-of-00002.safetensors";
  EXPECT_ERROR(load_checkpoint_dir(with_index("nofile", no_file)), ErrorCode::kFileNotFound, "model-00003-of-00002.safetensors");
  std::string bad_json = with_index("badjson", wm);
  write_file(bad_json + "/model.safetensors.index.json", "{\"weight_map\": ");
  EXPECT_ERROR(load_checkpoint_dir(bad_json), ErrorCode::kWeightsCorrupt, "malformed JSON");
}

TEST(safetensors_refuses_malformed_files) {
  const std::string f8(8, '\0');  // data for one F32 [2]
  const std::string ok = R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
  EXPECT_TRUE(parse_safetensors(reinterpret_cast<const uint8_t*>(safetensors_bytes(ok, f8).data()), 16 + ok.size()).at("a").numel() == 2);

  EXPECT_ERROR(load_safetensors(st_file("")), ErrorCode::kWeightsCorrupt, "file is empty");
  EXPECT_ERROR(parse_safetensors(nullptr, 0), ErrorCode::kWeightsCorrupt, "too short");
  EXPECT_ST_ERROR(std::string("\x05\x00\x00", 3), "3 bytes, too short");
  // Truncated data section, truncated header, header length past EOF, header length over the reference limit.
  EXPECT_ST_ERROR(safetensors_bytes(ok, f8).substr(0, 8 + ok.size() + 5), "'a' data_offsets [0, 8] are outside the data section of 5 bytes");
  const std::string past = "header length " + std::to_string(ok.size()) + " runs past the end of the file (20 bytes)";
  EXPECT_ST_ERROR(safetensors_bytes(ok, f8).substr(0, 20), past.c_str());
  {
    std::string b = safetensors_bytes(ok, f8);
    b[3] = 1;  // 16 MB header in a tiny file
    EXPECT_ST_ERROR(b, "runs past the end of the file");
    b[3] = 0;
    b[4] = 1;  // 4 GB
    EXPECT_ST_ERROR(b, "exceeds the 100 MB limit");
  }
  EXPECT_ST_ERROR(safetensors_bytes(R"({"a":{"dtype":"F32",)", f8), "header is not valid JSON");
  EXPECT_ST_ERROR(safetensors_bytes("[1,2]", ""), "header must be a JSON object");
  EXPECT_ST_ERROR(safetensors_bytes(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"a":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}})",
                                    f8 + f8),
                  "duplicate key 'a'");
  EXPECT_ST_ERROR(safetensors_bytes(R"({"a":{"dtype":"F32","dtype":"I32","shape":[2],"data_offsets":[0,8]}})", f8), "duplicate key 'dtype'");
  EXPECT_ST_ERROR(safetensors_bytes(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
                                    f8 + f8.substr(4)),
                  "tensors 'a' and 'b' overlap");
  EXPECT_ST_ERROR(safetensors_bytes(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[12,16]}})",
                                    f8 + f8),
                  "bytes [8, 12) before tensor 'b' belong to no tensor");
  EXPECT_ST_ERROR(safetensors_bytes(ok, f8 + "xx"), "data section has 10 bytes but the tensors cover only 8");
  EXPECT_ST_ERROR(safetensors_bytes(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}})", f8 + f8), "bytes [0, 8) before tensor 'a'");
  EXPECT_ST_ERROR(safetensors_bytes(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,18446744073709551615]}})", f8),
                  "'a' data_offsets [0, 18446744073709551615] are outside the data section of 8 bytes");
  EXPECT_ST_ERROR(safetensors_bytes(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}})", f8), "are outside the data section");
  EXPECT_ST_ERROR(safetensors_bytes(R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", f8),
                  "'a' has 8 bytes but its shape and dtype need 12");
  EXPECT_ST_ERROR(safetensors_bytes(R"({"a":{"dtype":"F16","shape":[4,4611686018427387904],"data_offsets":[0,8]}})", f8), "shape is too large");
  EXPECT_ST_ERROR(safetensors_bytes(R"({"a":{"dtype":"F7","shape":[2],"data_offsets":[0,8]}})", f8), "'a' has unsupported dtype \"F7\"");
  EXPECT_ST_ERROR(safetensors_bytes(R"({"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", f8), "invalid dimension -2");
  EXPECT_ST_ERROR(safetensors_bytes(R"({"a":{"dtype":"F32","shape":[2.0],"data_offsets":[0,8]}})", f8), "invalid dimension 2.0");
  EXPECT_ST_ERROR(safetensors_bytes(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,-8]}})", f8), "two non-negative integers");
  EXPECT_ST_ERROR(safetensors_bytes(R"({"a":{"dtype":"F32","shape":[2]}})", f8), "'a' needs dtype, shape and data_offsets");
  EXPECT_ST_ERROR(safetensors_bytes(R"({"__metadata__":{"format":1},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", f8),
                  "__metadata__ must map strings to strings");
  std::string many = "[1";
  for (int i = 1; i < 65; ++i) many += ",1";
  EXPECT_ST_ERROR(safetensors_bytes(R"({"a":{"dtype":"U8","shape":)" + many + R"(],"data_offsets":[0,1]}})", "x"), "'a' has 65 dimensions");
}

TEST(safetensors_accepts_spec_corner_cases) {
  // Zero-sized tensors (several at one offset), metadata, trailing header spaces and an empty file body.
  std::string h = R"({"__metadata__":{"format":"pt"},"e1":{"dtype":"F32","shape":[0,3],"data_offsets":[0,0]},)"
                  R"("e2":{"dtype":"I64","shape":[0],"data_offsets":[0,0]},"b":{"dtype":"BOOL","shape":[2],"data_offsets":[0,2]}}   )";
  std::string b = safetensors_bytes(h, std::string("\x01\x00", 2));
  for (const TensorMap& m : {load_safetensors(st_file(b)), parse_safetensors(reinterpret_cast<const uint8_t*>(b.data()), b.size())}) {
    EXPECT_EQ(m.size(), size_t(3));
    EXPECT_EQ(m.at("e1").size(1), 3);
    EXPECT_EQ(m.at("b").scalar_type(), at::kBool);
    EXPECT_TRUE(m.at("b").to(at::kByte).equal(at::tensor({1, 0}, at::kByte)));
  }
  std::string none = safetensors_bytes("{}", "");
  EXPECT_TRUE(parse_safetensors(reinterpret_cast<const uint8_t*>(none.data()), none.size()).empty());
}

TEST(safetensors_strict_checks_accept_every_fixture) {
  // Every fixture was written by the reference implementation, so the stricter validation must accept all of them.
  size_t files = 0;
  for (const auto& e : std::filesystem::recursive_directory_iterator(testing::fixtures_dir())) {
    if (e.path().extension() != ".safetensors") continue;
    TensorMap m = load_safetensors(e.path().string());
    EXPECT_TRUE(!m.empty());
    ++files;
  }
  EXPECT_TRUE(files >= 5);
}
