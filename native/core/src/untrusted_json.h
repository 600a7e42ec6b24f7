// Reading the small JSON files of a model folder (configs, tokenizer files, shard indexes, safetensors headers),
// all of them untrusted. Two limits the parsers downstream rely on:
//  - size: a file is read whole into memory, so it is refused above a cap before reading;
//  - nesting: nlohmann parses iteratively, but dump() (used in our error messages) recurses, and 1e6 levels of
//    "[[[[" overflow the stack; no legitimate file nests deeper than a handful of levels.
#pragma once

#include <cstddef>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "xclip/error.h"

namespace xclip {

constexpr int kMaxJsonDepth = 64;
// config.json, preprocessor_config.json, tokenizer_config.json, special_tokens_map.json, *.index.json: KBs in
// practice (a sharded index of a 100 GB checkpoint is ~100 KB).
constexpr size_t kMaxConfigFileBytes = 16u << 20;
// vocab.json, merges.txt, tokenizer.json: CLIP's are 0.9 / 0.6 / 2.3 MB; the largest hub tokenizers ~35 MB.
constexpr size_t kMaxTokenizerFileBytes = 256u << 20;

// Whole file, at most max_bytes. A missing/unreadable file throws `missing` ("cannot open PATH"), a larger one
// `too_large` naming the size and the limit.
std::string read_file_limited(const std::string& path, size_t max_bytes, ErrorCode missing, ErrorCode too_large);

using JsonCallback = nlohmann::json::parser_callback_t;

// nlohmann::json::parse with the nesting limit. Malformed or too deep: Error(code, prefix + reason).
// `extra` (optional) sees every parse event too, as nlohmann's callback does.
nlohmann::json parse_json_limited(std::string_view text, ErrorCode code, const std::string& prefix,
                                  const JsonCallback& extra = nullptr);

}  // namespace xclip
