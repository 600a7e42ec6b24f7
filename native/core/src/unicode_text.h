// Unicode text handling for the CLIP tokenizer, apart from the BPE itself: UTF-8 decoding (strict, and lossy as
// Rust's from_utf8_lossy), the character classes of the tokenizers regexes (Oniguruma's), the normalizer of
// CLIPTokenizerFast (NFC, whitespace runs to one space, lowercase) and GPT-2's byte-to-unicode map.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace xclip::text {

void append_utf8(std::string& out, int32_t cp);
// Length of the valid UTF-8 sequence at s[i] (1..4), or -(length of the maximal invalid subpart) when
// the bytes there are not valid UTF-8 (Unicode's "maximal subpart" rule, which Rust's from_utf8_lossy uses).
int utf8_seq(const unsigned char* s, size_t n, size_t i, int32_t* cp_out);
// Code points of valid UTF-8; Error(kInvalidInput) naming the byte offset otherwise.
std::vector<int32_t> decode_utf8_strict(const std::string& text);
// Invalid sequences become U+FFFD, one per maximal invalid subpart.
std::string utf8_lossy(const std::string& bytes);

// Onig's \s in Unicode mode = the White_Space property.
bool is_white_space(int32_t c);
enum CharClass : uint8_t { kSpace, kLetter, kNumber, kOther };
// \s, \p{L}, \p{N} or anything else.
CharClass classify(int32_t c);
// Python str.isspace(), for the str.strip() in CLIPTokenizerFast's decode wrapper.
bool is_python_space(int32_t c);

// The normalizer of CLIP's tokenizer.json: NFC, Replace(\s+ -> " "), Lowercase. Error(kInvalidInput) for
// invalid UTF-8.
std::string normalize(const std::string& text);

// GPT-2's bytes_to_unicode(): printable bytes map to themselves, the rest to U+0100 onwards.
std::array<int32_t, 256> bytes_to_unicode();

}  // namespace xclip::text
