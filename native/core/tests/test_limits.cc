// Untrusted JSON files and sizes: configs, preprocessor configs, tokenizer files, shard indexes and safetensors
// headers that are malformed on purpose (absurd sizes, huge numbers, deep nesting, huge files) are refused with a
// clear error before anything large is allocated. Every input is generated here; large files are sparse.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>

#include "testing.h"
#include "xclip/config.h"
#include "xclip/model.h"
#include "xclip/preprocess.h"
#include "xclip/tokenizer.h"
#include "xclip/weights.h"

using namespace xclip;
using json = nlohmann::json;

namespace {

void write_file(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  if (!out) XCLIP_FAIL("cannot write " << path);
}

// A file of `bytes` bytes that takes no disk space (a hole), starting with `head`.
void write_sparse(const std::string& path, const std::string& head, off_t bytes) {
  write_file(path, head);
  if (::truncate(path.c_str(), bytes) != 0) XCLIP_FAIL("truncate " << path);
}

std::string nested(size_t depth, const std::string& inner = "1") {
  return std::string(depth, '[') + inner + std::string(depth, ']');
}

double numel_sum(const TensorMap& m) {
  double n = 0;
  for (const auto& [k, v] : m) n += static_cast<double>(v.numel());
  return n;
}

// X-CLIP large-patch14-16-frames (the largest published X-CLIP) in HF's config form.
const char* kLargeConfig = R"({"projection_dim": 768, "prompt_num_attention_heads": 12,
  "text_config": {"hidden_size": 768, "intermediate_size": 3072, "num_hidden_layers": 12, "num_attention_heads": 12},
  "vision_config": {"hidden_size": 1024, "intermediate_size": 4096, "num_hidden_layers": 24, "num_attention_heads": 16,
                    "patch_size": 14, "image_size": 336, "num_frames": 16, "mit_hidden_size": 768,
                    "mit_intermediate_size": 3072, "mit_num_attention_heads": 12}})";

}  // namespace

// nlohmann's dump(), which our error messages use, recurses once per level: a million "[" used to overflow the
// stack (a crash) when a value of the wrong type was reported. Every JSON reader now stops at 64 levels.
TEST(limits_deeply_nested_json_is_refused_not_crashed) {
  const std::string deep = nested(1000000);
  EXPECT_ERROR(parse_config("{\"projection_dim\": " + deep + "}"), ErrorCode::kConfigInvalid, "nested deeper than 64");
  EXPECT_ERROR(parse_config(deep), ErrorCode::kConfigInvalid, "nested deeper than 64");
  EXPECT_ERROR(parse_preprocessor_config("{\"crop_size\": " + deep + "}"), ErrorCode::kConfigInvalid, "nested deeper");
  std::string dir = testing::temp_dir();
  write_file(dir + "/tokenizer_config.json", "{\"model_max_length\": " + deep + "}");
  EXPECT_ERROR(CLIPTokenizer::from_files(testing::fixture("tokenizer/vocab.json"), testing::fixture("tokenizer/merges.txt"),
                                         dir + "/tokenizer_config.json"),
               ErrorCode::kTokenizer, "tokenizer_config.json", "nested deeper");
  std::string header = "{\"a\": {\"dtype\": " + nested(100000, "\"F32\"") + ", \"shape\": [1], \"data_offsets\": [0, 4]}}";
  std::string st(8, '\0');
  for (int i = 0; i < 8; ++i) st[i] = static_cast<char>((header.size() >> (8 * i)) & 0xff);
  st += header + std::string(4, '\0');
  EXPECT_ERROR(parse_safetensors(reinterpret_cast<const uint8_t*>(st.data()), st.size()), ErrorCode::kWeightsCorrupt,
               "nested deeper");
  write_file(dir + "/model.safetensors.index.json", "{\"weight_map\": " + nested(5000) + "}");
  EXPECT_ERROR(load_checkpoint_dir(dir), ErrorCode::kWeightsCorrupt, "index.json", "nested deeper");
  // Ordinary nesting (unknown keys are ignored) still parses.
  EXPECT_EQ(parse_config("{\"extra\": " + nested(60) + "}").projection_dim, 512);
}

TEST(limits_config_parameter_count_is_exact) {
  for (const char* name : {"xclip-tiny8", "xclip-tiny4-gelu", "xclip-tiny3", "xclip-deep12"}) {
    std::string dir = testing::fixture(std::string("models/") + name);
    XCLIPConfig c = load_config(dir + "/config.json");
    EXPECT_EQ(parameter_count(c), numel_sum(load_checkpoint_dir(dir)));
  }
}

// An architecture is checked as a whole: each size may be in range and the product still absurd.
TEST(limits_config_refuses_architectures_too_large_to_allocate) {
  XCLIPConfig large = parse_config(kLargeConfig);
  const double n = parameter_count(large);
  std::cout << "    X-CLIP large-patch14-16f: " << n / 1e6 << " M parameters\n";
  EXPECT_TRUE(n > 5e8 && n < 7e8);

  // 65536 x 1024 text layers: 17.6e12 parameters (70 TB of float32). Refused naming the sizes, before allocating.
  const std::string huge = R"({"text_config": {"hidden_size": 65536, "num_hidden_layers": 1024, "num_attention_heads": 8}})";
  EXPECT_ERROR(parse_config(huge), ErrorCode::kConfigInvalid, "parameters", "text 65536 x 1024 layers");
  XCLIPConfig c;
  c.vision_config.hidden_size = 32768;
  c.vision_config.num_hidden_layers = 64;
  c.vision_config.num_attention_heads = 16;
  EXPECT_ERROR(validate_config(c), ErrorCode::kConfigInvalid, "parameters", "vision 32768 x 64 layers");
  EXPECT_ERROR(XCLIPModel::from_config(c), ErrorCode::kConfigInvalid, "parameters");
  XCLIPConfig vocab;
  vocab.text_config.vocab_size = 1 << 24;
  vocab.text_config.hidden_size = 4096;
  vocab.text_config.num_attention_heads = 8;
  EXPECT_ERROR(validate_config(vocab), ErrorCode::kConfigInvalid, "parameters", "vocab 16777216");

  // A config built in code skips parse_config's ranges; validate_config must not divide by its zeros.
  XCLIPConfig zero;
  zero.vision_config.patch_size = 0;
  EXPECT_ERROR(validate_config(zero), ErrorCode::kConfigInvalid, "vision_config.patch_size", "between 1 and");
  zero = XCLIPConfig{};
  zero.prompt_num_attention_heads = 0;
  EXPECT_ERROR(XCLIPModel::from_config(zero), ErrorCode::kConfigInvalid, "prompt_num_attention_heads");
  zero = XCLIPConfig{};
  zero.text_config.num_hidden_layers = -1;
  EXPECT_ERROR(validate_config(zero), ErrorCode::kConfigInvalid, "text_config.num_hidden_layers");

  // Patches per frame: attention over one frame is quadratic in them.
  EXPECT_ERROR(parse_config(R"({"vision_config": {"image_size": 4096, "patch_size": 1}})"), ErrorCode::kConfigInvalid,
               "vision_config.image_size", "16777216 patches");
  XCLIPConfig sharp = large;
  sharp.vision_config.image_size = 896;  // 64 x 64 patches of 14: the most allowed
  validate_config(sharp);

  // Huge numbers of every JSON kind.
  EXPECT_ERROR(parse_config(R"({"text_config": {"num_hidden_layers": 1e300}})"), ErrorCode::kConfigInvalid, "num_hidden_layers");
  EXPECT_ERROR(parse_config(R"({"text_config": {"num_hidden_layers": 18446744073709551615}})"), ErrorCode::kConfigInvalid,
               "num_hidden_layers");
  EXPECT_ERROR(parse_config(R"({"text_config": {"hidden_size": -512}})"), ErrorCode::kConfigInvalid, "text_config.hidden_size");
  EXPECT_ERROR(parse_config(R"({"vision_config": {"image_size": true}})"), ErrorCode::kConfigInvalid, "image_size", "integer");
  EXPECT_ERROR(parse_config(R"({"prompt_alpha": 1e308})"), ErrorCode::kConfigInvalid, "prompt_alpha");
}

TEST(limits_preprocessor_config_sizes_and_numbers) {
  EXPECT_ERROR(parse_preprocessor_config(R"({"crop_size": 1e9})"), ErrorCode::kConfigInvalid, "crop_size", "integer");
  EXPECT_ERROR(parse_preprocessor_config(R"({"crop_size": 1000000000})"), ErrorCode::kConfigInvalid, "crop_size",
               "between 1 and 8192");
  EXPECT_ERROR(parse_preprocessor_config(R"({"crop_size": {"height": 9000, "width": 16}})"), ErrorCode::kConfigInvalid,
               "crop_size.height");
  EXPECT_ERROR(parse_preprocessor_config(R"({"size": {"shortest_edge": 99999999999999999999}})"), ErrorCode::kConfigInvalid,
               "size.shortest_edge");
  EXPECT_ERROR(parse_preprocessor_config(R"({"size": [224, -224]})"), ErrorCode::kConfigInvalid, "size[1]");
  EXPECT_ERROR(parse_preprocessor_config(R"({"image_mean": [1e300, 0, 0]})"), ErrorCode::kConfigInvalid, "image_mean", "float32");
  EXPECT_ERROR(parse_preprocessor_config(R"({"image_std": 1e39})"), ErrorCode::kConfigInvalid, "image_std");
  EXPECT_ERROR(parse_preprocessor_config(R"({"rescale_factor": -1e39})"), ErrorCode::kConfigInvalid, "rescale_factor");
  EXPECT_EQ(parse_preprocessor_config(R"({"crop_size": 8192})").crop_height, 8192);

  // Sizes each in range can still ask for gigabytes in one call: refused before at::empty.
  ImageProcessorConfig big = parse_preprocessor_config(R"({"size": {"shortest_edge": 8192}, "crop_size": 8192})");
  std::vector<uint8_t> px(16 * 16 * 3, 9);
  FrameView f{px.data(), 16, 16, static_cast<int64_t>(px.size())};
  std::vector<std::vector<FrameView>> videos(2, std::vector<FrameView>(8, f));
  EXPECT_ERROR(preprocess_videos(videos, big), ErrorCode::kInvalidInput, "2 video(s) x 8 frames of 8192x8192", "MiB limit");
}

// Files are refused by size before they are read (sparse files: nothing is written to disk).
TEST(limits_json_files_are_refused_above_their_size_limit) {
  std::string dir = testing::temp_dir();
  write_sparse(dir + "/config.json", "{\"projection_dim\": 512, \"pad\": \"", (16 << 20) + 1);
  EXPECT_ERROR(load_config(dir + "/config.json"), ErrorCode::kConfigInvalid, "config.json", "16 MiB limit");
  write_sparse(dir + "/preprocessor_config.json", "{", 64 << 20);
  EXPECT_ERROR(load_preprocessor_config(dir + "/preprocessor_config.json"), ErrorCode::kConfigInvalid, "MiB limit");
  write_sparse(dir + "/vocab.json", "{", (256LL << 20) + 1);
  EXPECT_ERROR(CLIPTokenizer::from_files(dir + "/vocab.json", testing::fixture("tokenizer/merges.txt")), ErrorCode::kTokenizer,
               "vocab.json", "256 MiB limit");
  write_sparse(dir + "/special_tokens_map.json", "{", (16 << 20) + 1);
  EXPECT_ERROR(CLIPTokenizer::from_files(testing::fixture("tokenizer/vocab.json"), testing::fixture("tokenizer/merges.txt"), "",
                                         dir + "/special_tokens_map.json"),
               ErrorCode::kTokenizer, "special_tokens_map.json", "MiB limit");
  write_sparse(dir + "/model.safetensors.index.json", "{", (16 << 20) + 1);
  EXPECT_ERROR(load_checkpoint_dir(dir), ErrorCode::kWeightsCorrupt, "index.json", "MiB limit");
  // A directory where a file should be is a clear error, not a read of garbage.
  std::string sub = testing::temp_dir();
  EXPECT_ERROR(load_config(sub), ErrorCode::kFileNotFound, "directory");
  // Nor is a FIFO (it would block) or a device (it would never end).
  EXPECT_TRUE(::mkfifo((dir + "/fifo.json").c_str(), 0600) == 0);
  EXPECT_ERROR(load_config(dir + "/fifo.json"), ErrorCode::kFileNotFound, "not a regular file");
  EXPECT_ERROR(load_config("/dev/zero"), ErrorCode::kFileNotFound, "not a regular file");
  // A tokenizer folder whose tokenizer_config.json is a FIFO used to block from_pretrained forever.
  std::string tokdir = testing::temp_dir();
  for (const char* f : {"vocab.json", "merges.txt"})
    EXPECT_TRUE(::symlink(testing::fixture(std::string("tokenizer/") + f).c_str(), (tokdir + "/" + f).c_str()) == 0);
  EXPECT_TRUE(::mkfifo((tokdir + "/tokenizer_config.json").c_str(), 0600) == 0);
  EXPECT_ERROR(CLIPTokenizer::from_pretrained(tokdir), ErrorCode::kTokenizer, "tokenizer_config.json", "not a regular file");
}

TEST(limits_tokenizer_lengths_and_counts) {
  std::string dir = testing::temp_dir();
  const std::string vocab = testing::fixture("tokenizer/vocab.json"), merges = testing::fixture("tokenizer/merges.txt");
  write_file(dir + "/big.json", R"({"model_max_length": 1e12})");
  EXPECT_ERROR(CLIPTokenizer::from_files(vocab, merges, dir + "/big.json"), ErrorCode::kTokenizer, "model_max_length",
               "above the limit of 1048576");
  write_file(dir + "/neg.json", R"({"model_max_length": -77})");
  EXPECT_ERROR(CLIPTokenizer::from_files(vocab, merges, dir + "/neg.json"), ErrorCode::kTokenizer, "model_max_length");
  write_file(dir + "/none.json", R"({"model_max_length": 1000000000000000019884624838656})");  // HF's "no limit"
  EXPECT_EQ(CLIPTokenizer::from_files(vocab, merges, dir + "/none.json").model_max_length(), -1);

  static const CLIPTokenizer tok = CLIPTokenizer::from_pretrained(testing::fixture("tokenizer"));
  TokenizerOptions pad;
  pad.padding = PaddingStrategy::kMaxLength;
  pad.max_length = 1LL << 40;  // would be 8 TB of ids per text
  EXPECT_ERROR(tok.batch_encode({"a dog"}, pad), ErrorCode::kInvalidInput, "max_length", "1048576");
  pad.max_length = 1 << 20;
  EXPECT_EQ(tok.batch_encode({"a dog"}, pad).input_ids.size(1), 1 << 20);

  // Ids in vocab.json far beyond its size would size the id table by the id, not by the file.
  write_file(dir + "/sparse_vocab.json", R"({"a": 0, "b": 4000000000})");
  EXPECT_ERROR(CLIPTokenizer::from_files(dir + "/sparse_vocab.json", merges), ErrorCode::kTokenizer, "out of range");
  write_file(dir + "/neg_vocab.json", R"({"a": -1})");
  EXPECT_ERROR(CLIPTokenizer::from_files(dir + "/neg_vocab.json", merges), ErrorCode::kTokenizer, "out of range");
  write_file(dir + "/str_vocab.json", R"({"a": "0"})");
  EXPECT_ERROR(CLIPTokenizer::from_files(dir + "/str_vocab.json", merges), ErrorCode::kTokenizer, "not an integer");
}

// from_texts (what the fuzzer drives) is the same loader as from_files.
TEST(limits_tokenizer_from_texts_equals_from_files) {
  auto text = [](const char* f) { return testing::read_text(testing::fixture(std::string("tokenizer/") + f)); };
  CLIPTokenizer a = CLIPTokenizer::from_texts(text("vocab.json"), text("merges.txt"), text("tokenizer_config.json"),
                                              text("special_tokens_map.json"));
  CLIPTokenizer b = CLIPTokenizer::from_pretrained(testing::fixture("tokenizer"));
  const std::string s = "A dog runs across the park; it's chasing a red ball. <|endoftext|> 日本語";
  EXPECT_TRUE(a.encode(s) == b.encode(s));
  EXPECT_EQ(a.model_max_length(), 77);
  EXPECT_ERROR(CLIPTokenizer::from_texts("{\"a\": 0}", ""), ErrorCode::kTokenizer, "vocab.json", "byte-level token");
  EXPECT_ERROR(CLIPTokenizer::from_texts(text("vocab.json"), "x\n"), ErrorCode::kTokenizer, "merges.txt", "line 1");
}
