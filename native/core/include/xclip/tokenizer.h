// = transformers CLIPTokenizerFast (the tokenizer XCLIPProcessor loads), reimplemented over vocab.json +
// merges.txt: added-token split -> NFC, whitespace runs -> " ", lowercase -> CLIP split regex + ByteLevel ->
// BPE with "</w>" end-of-word suffix -> <|startoftext|> ... <|endoftext|>. Output is identical to the fast
// tokenizer's (tokenizers 0.22) on the project fixtures; see tokenizer.cc for the HF quirks reproduced.
// Thread-safe: all methods are const, the BPE cache is internally locked; copies share the loaded data.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace xclip {

// HF `padding=`: False / True or "longest" / "max_length".
enum class PaddingStrategy { kNone, kLongest, kMaxLength };

struct TokenizerOptions {
  PaddingStrategy padding = PaddingStrategy::kLongest;
  // <= 0: model_max_length (77). Used for padding=kMaxLength and for truncation. HF's `truncation=None`
  // with an explicit max_length means longest_first; callers that want that pass truncation=true.
  int64_t max_length = 0;
  bool truncation = false;
  bool add_special_tokens = true;
};

// int64 tensors [B, L]; padding is on the right with pad_token_id (49407), attention_mask 1/0.
struct BatchEncoding {
  at::Tensor input_ids;
  at::Tensor attention_mask;
};

class CLIPTokenizer {
 public:
  // Reads `dir`/vocab.json + merges.txt (falls back to tokenizer.json's model when both are absent),
  // tokenizer_config.json (model_max_length, clean_up_tokenization_spaces, special tokens) and
  // special_tokens_map.json (overrides tokenizer_config, as in HF). Missing/malformed -> Error(kTokenizer).
  // Files are refused above a size limit (256 MiB for vocab/merges/tokenizer.json, 16 MiB for the JSON configs),
  // JSON nested deeper than 64 levels, more than 2^24 tokens or merges, and model_max_length above 2^20.
  static CLIPTokenizer from_pretrained(const std::string& dir);
  // From explicit files; tokenizer_config_json may be empty (CLIP defaults).
  static CLIPTokenizer from_files(const std::string& vocab_json_path, const std::string& merges_txt_path,
                                  const std::string& tokenizer_config_path = "",
                                  const std::string& special_tokens_map_path = "");
  // From the contents of those files, already in memory (same checks; messages name the files by their usual names).
  static CLIPTokenizer from_texts(const std::string& vocab_json, const std::string& merges_txt,
                                  const std::string& tokenizer_config_json = "",
                                  const std::string& special_tokens_map_json = "");

  // Byte-level BPE tokens without special tokens (HF tokenize()).
  std::vector<std::string> tokenize(const std::string& text) const;
  // HF tok(text)["input_ids"]: no truncation, no padding.
  std::vector<int64_t> encode(const std::string& text, bool add_special_tokens = true) const;
  // Encodes and pads/truncates like HF tok(texts, padding=..., max_length=..., truncation=...,
  // return_tensors="pt"). Throws kInvalidInput if the rows cannot form one tensor (padding kNone with
  // different lengths) or if texts is empty.
  BatchEncoding batch_encode(const std::vector<std::string>& texts, const TokenizerOptions& options = {}) const;
  // Same, returning plain rows (no tensor; rows may differ in length when padding is kNone).
  std::vector<std::vector<int64_t>> batch_encode_ids(const std::vector<std::string>& texts,
                                                    const TokenizerOptions& options,
                                                    std::vector<std::vector<int64_t>>* attention_mask = nullptr) const;
  // HF decode(ids, skip_special_tokens), with clean_up_tokenization_spaces from tokenizer_config.json.
  // Ids outside [0, vocab_size) throw kInvalidInput.
  std::string decode(const std::vector<int64_t>& ids, bool skip_special_tokens = false) const;

  std::vector<std::string> convert_ids_to_tokens(const std::vector<int64_t>& ids) const;
  int64_t token_to_id(const std::string& token) const;  // -1 if absent
  std::string id_to_token(int64_t id) const;            // throws kInvalidInput if out of range

  int64_t vocab_size() const;
  int64_t bos_token_id() const;  // <|startoftext|> 49406
  int64_t eos_token_id() const;  // <|endoftext|> 49407
  int64_t pad_token_id() const;  // <|endoftext|> 49407
  int64_t unk_token_id() const;  // <|endoftext|> 49407
  int64_t model_max_length() const;  // 77; -1 when tokenizer_config.json has none
  bool clean_up_tokenization_spaces() const;

  struct Impl;

 private:
  explicit CLIPTokenizer(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}
  std::shared_ptr<const Impl> impl_;
};

}  // namespace xclip
