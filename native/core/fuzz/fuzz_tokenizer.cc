// libFuzzer harness for the CLIP tokenizer. Input byte 0 picks the mode:
//   'L': load a tokenizer from fuzzed files: the rest is vocab.json, merges.txt, tokenizer_config.json and
//        special_tokens_map.json separated by NUL bytes (an empty vocab part means a built-in byte-level vocabulary,
//        so mutations of the other files get past the vocab checks);
//   'D': decode the rest as little-endian uint16 ids with the fixture vocabulary (CLIP's 49408 tokens);
//   else: encode the rest as text with the fixture tokenizer (the path every label string takes), batch it with
//         truncation and padding, and decode the ids back.
// Each call must return or throw xclip::Error; the fixture tokenizer is read once from $XCLIP_FIXTURES (default
// ../shared/fixtures, as the tests).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "xclip/error.h"
#include "xclip/tokenizer.h"

namespace {

const xclip::CLIPTokenizer& fixture_tokenizer() {
  static const std::unique_ptr<xclip::CLIPTokenizer> tok = [] {
    const char* env = std::getenv("XCLIP_FIXTURES");
    std::string dir = std::string(env ? env : "../shared/fixtures") + "/tokenizer";
    try {
      return std::make_unique<xclip::CLIPTokenizer>(xclip::CLIPTokenizer::from_pretrained(dir));
    } catch (const xclip::Error& e) {
      std::fprintf(stderr, "fuzz_tokenizer: cannot load the fixture tokenizer from %s: %s (set XCLIP_FIXTURES)\n",
                   dir.c_str(), e.what());
      std::abort();
    }
  }();
  return *tok;
}

// GPT-2's byte-to-unicode table: the 512 byte-level tokens (with and without "</w>") plus CLIP's specials.
std::string byte_level_vocab() {
  nlohmann::json v = nlohmann::json::object();
  int extra = 0, id = 0;
  std::vector<std::string> chars;
  for (int b = 0; b < 256; ++b) {
    bool direct = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
    int cp = direct ? b : 256 + extra++;
    std::string s;
    if (cp < 0x80) {
      s.push_back(static_cast<char>(cp));
    } else {
      s.push_back(static_cast<char>(0xC0 | (cp >> 6)));
      s.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
    chars.push_back(s);
  }
  for (const auto& c : chars) v[c] = id++;
  for (const auto& c : chars) v[c + "</w>"] = id++;
  v["<|startoftext|>"] = id++;
  v["<|endoftext|>"] = id++;
  return v.dump();
}

std::vector<std::string> split_nul(const uint8_t* data, size_t size, size_t parts) {
  std::vector<std::string> out(1);
  for (size_t i = 0; i < size; ++i) {
    if (data[i] == 0 && out.size() < parts) {
      out.emplace_back();
    } else {
      out.back().push_back(static_cast<char>(data[i]));
    }
  }
  out.resize(parts);
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fixture_tokenizer();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const uint8_t mode = data[0];
  ++data;
  --size;
  try {
    if (mode == 'L') {
      static const std::string base_vocab = byte_level_vocab();
      std::vector<std::string> f = split_nul(data, size, 4);
      xclip::CLIPTokenizer tok = xclip::CLIPTokenizer::from_texts(f[0].empty() ? base_vocab : f[0], f[1], f[2], f[3]);
      std::vector<int64_t> ids = tok.encode("a fuzzed <|endoftext|> tokenizer's text, 123!");
      (void)tok.decode(ids, true);
      xclip::TokenizerOptions o;
      o.padding = xclip::PaddingStrategy::kMaxLength;
      o.truncation = true;
      o.max_length = 16;
      (void)tok.batch_encode({"x", "yy zz"}, o);
    } else if (mode == 'D') {
      const auto& tok = fixture_tokenizer();
      std::vector<int64_t> ids;
      for (size_t i = 0; i + 1 < size; i += 2) ids.push_back(data[i] | (data[i + 1] << 8));
      (void)tok.decode(ids, false);
      (void)tok.decode(ids, true);
      (void)tok.convert_ids_to_tokens(ids);
    } else {
      const auto& tok = fixture_tokenizer();
      const std::string text(reinterpret_cast<const char*>(data), size);
      std::vector<int64_t> ids = tok.encode(text);
      for (int64_t id : ids)
        if (id < 0 || id >= tok.vocab_size()) std::abort();  // an id outside the vocabulary is a bug, not an input error
      (void)tok.decode(ids, mode & 1);
      xclip::TokenizerOptions o;
      o.padding = xclip::PaddingStrategy::kLongest;
      o.truncation = true;
      o.max_length = 77;
      xclip::BatchEncoding enc = tok.batch_encode({text, "a photo of a dog"}, o);
      if (enc.input_ids.size(1) > 77) std::abort();
    }
  } catch (const xclip::Error&) {
  }
  return 0;
}
