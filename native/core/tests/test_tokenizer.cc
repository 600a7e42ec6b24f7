#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "testing.h"
#include "xclip/tokenizer.h"

using namespace xclip;
using json = nlohmann::json;

namespace {

json load_json(const std::string& path) { return json::parse(testing::read_text(path)); }

const CLIPTokenizer& fixture_tokenizer() {
  static const CLIPTokenizer tok = CLIPTokenizer::from_pretrained(testing::fixture("tokenizer"));
  return tok;
}

std::vector<int64_t> tensor_row(const at::Tensor& t, int64_t row) {
  at::Tensor r = t[row].contiguous();
  return std::vector<int64_t>(r.data_ptr<int64_t>(), r.data_ptr<int64_t>() + r.numel());
}

std::string show(const std::string& s) { return json(s).dump(); }

template <typename T>
std::string show(const std::vector<T>& v) {
  return json(v).dump();
}

void write_file(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
}

}  // namespace

TEST(tokenizer_loads_clip_vocab) {
  const auto& tok = fixture_tokenizer();
  EXPECT_EQ(tok.vocab_size(), 49408);
  EXPECT_EQ(tok.bos_token_id(), 49406);
  EXPECT_EQ(tok.eos_token_id(), 49407);
  EXPECT_EQ(tok.pad_token_id(), 49407);
  EXPECT_EQ(tok.unk_token_id(), 49407);
  EXPECT_EQ(tok.model_max_length(), 77);
  EXPECT_TRUE(tok.clean_up_tokenization_spaces());
  EXPECT_EQ(tok.token_to_id("hello</w>"), 3306);
  EXPECT_EQ(tok.id_to_token(49406), std::string("<|startoftext|>"));
}

// Every string of encodings.json against CLIPTokenizerFast: ids, tokens, max_length=77 padding with
// truncation, decode with and without special tokens.
TEST(tokenizer_matches_clip_tokenizer_fast_on_all_fixture_strings) {
  const auto& tok = fixture_tokenizer();
  json fx = load_json(testing::fixture("tokenizer/encodings.json"));
  const json& cases = fx.at("cases");
  size_t checked = 0, failures = 0;
  std::ostringstream report;
  TokenizerOptions max77;
  max77.padding = PaddingStrategy::kMaxLength;
  max77.max_length = 77;
  max77.truncation = true;
  auto mismatch = [&](const std::string& text, const char* field, const std::string& got, const std::string& want) {
    if (++failures <= 8) report << "\n  " << show(text) << " " << field << ": got " << got << " want " << want;
  };
  for (const auto& c : cases) {
    const std::string text = c.at("text").get<std::string>();
    const json& f = c.at("fast");
    auto want_ids = f.at("input_ids").get<std::vector<int64_t>>();
    auto want_tokens = f.at("tokens").get<std::vector<std::string>>();
    auto ids = tok.encode(text);
    if (ids != want_ids) mismatch(text, "input_ids", show(ids), show(want_ids));
    auto tokens = tok.convert_ids_to_tokens(want_ids);
    if (tokens != want_tokens) mismatch(text, "tokens", show(tokens), show(want_tokens));
    std::vector<std::string> inner(want_tokens.begin() + 1, want_tokens.end() - 1);
    auto plain = tok.tokenize(text);
    if (plain != inner) mismatch(text, "tokenize", show(plain), show(inner));

    BatchEncoding enc = tok.batch_encode({text}, max77);
    EXPECT_EQ(enc.input_ids.scalar_type(), at::kLong);
    auto want77 = f.at("max77_input_ids").get<std::vector<int64_t>>();
    auto want77m = f.at("max77_attention_mask").get<std::vector<int64_t>>();
    if (tensor_row(enc.input_ids, 0) != want77) mismatch(text, "max77_input_ids", show(tensor_row(enc.input_ids, 0)), show(want77));
    if (tensor_row(enc.attention_mask, 0) != want77m)
      mismatch(text, "max77_attention_mask", show(tensor_row(enc.attention_mask, 0)), show(want77m));

    std::string d = tok.decode(want_ids), want_d = f.at("decode").get<std::string>();
    if (d != want_d) mismatch(text, "decode", show(d), show(want_d));
    std::string ds = tok.decode(want_ids, true), want_ds = f.at("decode_skip_special").get<std::string>();
    if (ds != want_ds) mismatch(text, "decode_skip_special", show(ds), show(want_ds));
    ++checked;
  }
  std::printf("    tokenizer: %zu strings checked against CLIPTokenizerFast, %zu field mismatches\n", checked, failures);
  EXPECT_TRUE(checked >= 300);
  if (failures) XCLIP_FAIL(failures << " mismatches:" << report.str());
}

// All fixture strings in one padded batch: every row must equal its single encoding plus padding.
TEST(tokenizer_batch_longest_pads_with_eos) {
  const auto& tok = fixture_tokenizer();
  json fx = load_json(testing::fixture("tokenizer/encodings.json"));
  std::vector<std::string> texts;
  std::vector<std::vector<int64_t>> want;
  size_t longest = 0;
  for (const auto& c : fx.at("cases")) {
    texts.push_back(c.at("text").get<std::string>());
    want.push_back(c.at("fast").at("input_ids").get<std::vector<int64_t>>());
    longest = std::max(longest, want.back().size());
  }
  BatchEncoding enc = tok.batch_encode(texts);  // padding longest, no truncation
  EXPECT_EQ(enc.input_ids.size(0), static_cast<int64_t>(texts.size()));
  EXPECT_EQ(enc.input_ids.size(1), static_cast<int64_t>(longest));
  for (size_t i = 0; i < texts.size(); ++i) {
    auto row = tensor_row(enc.input_ids, static_cast<int64_t>(i));
    auto mask = tensor_row(enc.attention_mask, static_cast<int64_t>(i));
    std::vector<int64_t> w = want[i], m(w.size(), 1);
    w.resize(longest, 49407);
    m.resize(longest, 0);
    if (row != w || mask != m) XCLIP_FAIL("row " << i << " " << show(texts[i]) << " differs from its single encoding");
  }
}

// The e2e fixture ran processor.tokenizer(labels, padding=True) on the model folder's own tokenizer files.
TEST(tokenizer_matches_e2e_label_encodings) {
  const auto tok = CLIPTokenizer::from_pretrained(testing::fixture("e2e/xclip-e2e-a"));
  json fx = load_json(testing::fixture("e2e/cases.json"));
  size_t n = 0;
  for (const auto& [name, c] : fx.at("cases").items()) {
    auto labels = c.at("labels").get<std::vector<std::string>>();
    auto want_ids = c.at("input_ids").get<std::vector<std::vector<int64_t>>>();
    auto want_mask = c.at("attention_mask").get<std::vector<std::vector<int64_t>>>();
    BatchEncoding enc = tok.batch_encode(labels);
    EXPECT_EQ(enc.input_ids.size(0), static_cast<int64_t>(want_ids.size()));
    EXPECT_EQ(enc.input_ids.size(1), static_cast<int64_t>(want_ids[0].size()));
    for (size_t i = 0; i < want_ids.size(); ++i) {
      if (tensor_row(enc.input_ids, static_cast<int64_t>(i)) != want_ids[i])
        XCLIP_FAIL(name << " label " << i << ": " << show(tensor_row(enc.input_ids, static_cast<int64_t>(i))) << " vs " << show(want_ids[i]));
      if (tensor_row(enc.attention_mask, static_cast<int64_t>(i)) != want_mask[i]) XCLIP_FAIL(name << " mask " << i);
    }
    ++n;
  }
  EXPECT_EQ(n, static_cast<size_t>(10));
}

TEST(tokenizer_padding_and_truncation_options) {
  const auto& tok = fixture_tokenizer();
  std::vector<std::string> texts = {"playing sports", "a person is riding a horse on the beach at sunset"};
  TokenizerOptions none;
  none.padding = PaddingStrategy::kNone;
  EXPECT_ERROR(tok.batch_encode(texts, none), ErrorCode::kInvalidInput, "different lengths");
  auto rows = tok.batch_encode_ids(texts, none);
  EXPECT_EQ(rows[0].size(), static_cast<size_t>(4));
  BatchEncoding same = tok.batch_encode({"go shopping", "eating spaghetti"}, none);
  EXPECT_EQ(same.input_ids.size(1), 4);

  TokenizerOptions trunc;
  trunc.max_length = 5;
  trunc.truncation = true;
  BatchEncoding t = tok.batch_encode(texts, trunc);
  EXPECT_EQ(t.input_ids.size(1), 5);
  auto r1 = tensor_row(t.input_ids, 1);
  auto full = tok.encode(texts[1]);
  EXPECT_EQ(r1[0], 49406);
  EXPECT_EQ(r1[3], full[3]);
  EXPECT_EQ(r1[4], 49407);

  TokenizerOptions maxlen;
  maxlen.padding = PaddingStrategy::kMaxLength;
  maxlen.max_length = 20;
  BatchEncoding m = tok.batch_encode(texts, maxlen);
  EXPECT_EQ(m.input_ids.size(1), 20);
  EXPECT_EQ(m.attention_mask.sum().item<int64_t>(), static_cast<int64_t>(4 + full.size()));

  TokenizerOptions nospecial;
  nospecial.add_special_tokens = false;
  BatchEncoding ns = tok.batch_encode({"go shopping"}, nospecial);
  EXPECT_EQ(ns.input_ids.size(1), 2);
  EXPECT_EQ(tok.encode("go shopping", false).size(), static_cast<size_t>(2));

  TokenizerOptions tiny;
  tiny.max_length = 1;
  tiny.truncation = true;
  EXPECT_ERROR(tok.batch_encode(texts, tiny), ErrorCode::kInvalidInput, "max_length 1");
  EXPECT_ERROR(tok.batch_encode({}, TokenizerOptions{}), ErrorCode::kInvalidInput, "at least one");
  EXPECT_ERROR(tok.decode({1, 49408}), ErrorCode::kInvalidInput, "49408");
  EXPECT_ERROR(tok.decode({-1}), ErrorCode::kInvalidInput, "out of range");
  EXPECT_ERROR(tok.encode(std::string("bad \xff utf8")), ErrorCode::kInvalidInput, "UTF-8");
}

TEST(tokenizer_is_thread_safe) {
  const auto& tok = fixture_tokenizer();
  json fx = load_json(testing::fixture("tokenizer/encodings.json"));
  std::vector<std::string> texts;
  std::vector<std::vector<int64_t>> want;
  for (const auto& c : fx.at("cases")) {
    texts.push_back(c.at("text").get<std::string>());
    want.push_back(c.at("fast").at("input_ids").get<std::vector<int64_t>>());
  }
  // A fresh copy shares the cache with the fixture tokenizer; threads start from different offsets.
  std::vector<int> bad(4, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int rep = 0; rep < 3; ++rep)
        for (size_t k = 0; k < texts.size(); ++k) {
          size_t i = (k + static_cast<size_t>(t) * 37) % texts.size();
          if (tok.encode(texts[i]) != want[i]) ++bad[t];
        }
    });
  }
  for (auto& th : threads) th.join();
  for (int b : bad) EXPECT_EQ(b, 0);
}

TEST(tokenizer_reports_missing_and_malformed_files) {
  std::string dir = testing::temp_dir();
  EXPECT_ERROR(CLIPTokenizer::from_pretrained(dir), ErrorCode::kTokenizer, "vocab.json");
  std::string good_vocab = testing::fixture("tokenizer/vocab.json");
  std::string good_merges = testing::fixture("tokenizer/merges.txt");
  write_file(dir + "/vocab.json", "{\"a\": 0,");
  EXPECT_ERROR(CLIPTokenizer::from_files(dir + "/vocab.json", good_merges), ErrorCode::kTokenizer, "vocab.json", "malformed JSON");
  write_file(dir + "/vocab.json", "[1, 2]");
  EXPECT_ERROR(CLIPTokenizer::from_files(dir + "/vocab.json", good_merges), ErrorCode::kTokenizer, "vocab.json");
  write_file(dir + "/merges.txt", "#version: 0.2\ni n\nthis line is bad\n");
  EXPECT_ERROR(CLIPTokenizer::from_files(good_vocab, dir + "/merges.txt"), ErrorCode::kTokenizer, "merges.txt", "line 3");
  write_file(dir + "/merges.txt", "#version: 0.2\nqq zz\n");
  EXPECT_ERROR(CLIPTokenizer::from_files(good_vocab, dir + "/merges.txt"), ErrorCode::kTokenizer, "merges.txt", "missing from the vocab");
  EXPECT_ERROR(CLIPTokenizer::from_files(good_vocab, dir + "/nope.txt"), ErrorCode::kTokenizer, "nope.txt");
  write_file(dir + "/tokenizer_config.json", "{\"model_max_length\": \"long\"}");
  EXPECT_ERROR(CLIPTokenizer::from_files(good_vocab, good_merges, dir + "/tokenizer_config.json"), ErrorCode::kTokenizer,
               "tokenizer_config.json", "model_max_length");
  write_file(dir + "/tokenizer_config.json", "{\"eos_token\": 5}");
  EXPECT_ERROR(CLIPTokenizer::from_files(good_vocab, good_merges, dir + "/tokenizer_config.json"), ErrorCode::kTokenizer, "eos_token");
  write_file(dir + "/special_tokens_map.json", "{\"pad_token\": \"<|nonexistent|>\"}");
  EXPECT_ERROR(CLIPTokenizer::from_files(good_vocab, good_merges, "", dir + "/special_tokens_map.json"), ErrorCode::kTokenizer,
               "pad_token", "not in the vocab");
}

TEST(tokenizer_falls_back_to_tokenizer_json) {
  std::string dir = testing::temp_dir();
  {
    std::ifstream in(testing::fixture("tokenizer/tokenizer.json"), std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    write_file(dir + "/tokenizer.json", ss.str());
    std::ifstream cin(testing::fixture("tokenizer/tokenizer_config.json"), std::ios::binary);
    std::stringstream cs;
    cs << cin.rdbuf();
    write_file(dir + "/tokenizer_config.json", cs.str());
  }
  auto tok = CLIPTokenizer::from_pretrained(dir);
  EXPECT_EQ(tok.vocab_size(), 49408);
  auto want = fixture_tokenizer().encode("A dog runs across the park; it's chasing a red ball.");
  EXPECT_TRUE(tok.encode("A dog runs across the park; it's chasing a red ball.") == want);
  EXPECT_EQ(tok.model_max_length(), 77);
}
