// The CLIP tokenizer's state, shared by its two halves: tokenizer_files.cc reads the files into it, tokenizer.cc
// encodes (pre-tokenizer + BPE) and decodes with it.
#pragma once

#include <array>
#include <cstdint>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "xclip/tokenizer.h"

namespace xclip {

inline constexpr char kStartOfText[] = "<|startoftext|>";
inline constexpr char kEndOfText[] = "<|endoftext|>";
inline constexpr char kEndOfWord[] = "</w>";
// Longest sequence a tokenizer config or a caller may ask to pad to (CLIP's is 77); beyond it padding alone
// would allocate gigabytes.
inline constexpr int64_t kMaxSequenceLength = 1 << 20;

struct AddedToken {
  std::string content;
  int32_t id;
  bool normalized;  // matched in the normalized text (true) or the raw input (false), as tokenizer.json says
};

struct CLIPTokenizer::Impl {
  std::unordered_map<std::string, int32_t> vocab;
  std::vector<std::string> id_to_token;
  std::unordered_map<uint64_t, std::pair<int32_t, int32_t>> merges;  // (left<<32|right) -> (rank, merged id)
  std::array<int32_t, 256> byte_id{};
  std::array<int32_t, 256> byte_eow_id{};
  std::unordered_map<int32_t, uint8_t> char_to_byte;
  std::vector<AddedToken> raw_tokens;         // matched before normalization
  std::vector<AddedToken> normalized_tokens;  // matched after normalization
  std::vector<bool> is_special;               // by id
  int32_t bos_id = -1, eos_id = -1, pad_id = -1, unk_id = -1;
  int64_t model_max_length = -1;
  bool clean_up_spaces = true;

  mutable std::shared_mutex cache_mutex;
  mutable std::unordered_map<std::string, std::vector<int32_t>> cache;
  static constexpr size_t kMaxCacheEntries = 100000;
  static constexpr size_t kMaxCachedWordBytes = 256;  // as tokenizers: long words are not worth keeping

  std::vector<int32_t> bpe(const std::string& word) const;
  void bpe_word(const std::string& word, std::vector<int32_t>& out) const;
  void pre_tokenize_and_bpe(const std::string& normalized, std::vector<int32_t>& out) const;
  void encode_normalized_piece(const std::string& raw_piece, std::vector<int32_t>& out) const;
  std::vector<int32_t> encode_content(const std::string& text) const;
};

}  // namespace xclip
