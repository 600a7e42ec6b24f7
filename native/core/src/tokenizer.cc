#include "xclip/tokenizer.h"

#include <sys/stat.h>
#include <utf8proc.h>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <queue>
#include <nlohmann/json.hpp>
#include <shared_mutex>
#include <sstream>
#include <unordered_map>

#include "untrusted_json.h"
#include "xclip/error.h"

namespace xclip {
namespace {

using json = nlohmann::json;

[[noreturn]] void fail_tok(const std::string& msg) { throw Error(ErrorCode::kTokenizer, msg); }
[[noreturn]] void fail_input(const std::string& msg) { throw Error(ErrorCode::kInvalidInput, msg); }

// A real CLIP vocabulary has 49408 tokens and 48894 merges; these bounds only stop absurd files early.
constexpr size_t kMaxVocabEntries = 1u << 24;
constexpr size_t kMaxMerges = 1u << 24;
// Longest sequence a tokenizer config or a caller may ask to pad to (CLIP's is 77); beyond it padding alone
// would allocate gigabytes.
constexpr int64_t kMaxSequenceLength = 1 << 20;

// stat, not open: opening a FIFO would block (read_file_limited then refuses anything but a regular file).
bool file_exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

// vocab.json, merges.txt and tokenizer.json are large; tokenizer_config.json and special_tokens_map.json small.
std::string read_text_file(const std::string& path, size_t max_bytes = kMaxTokenizerFileBytes) {
  return read_file_limited(path, max_bytes, ErrorCode::kTokenizer, ErrorCode::kTokenizer);
}

json parse_json_text(const std::string& text, const std::string& source) {
  return parse_json_limited(text, ErrorCode::kTokenizer, "malformed JSON in " + source + ": ");
}

json parse_json_file(const std::string& path, size_t max_bytes = kMaxTokenizerFileBytes) {
  return parse_json_text(read_text_file(path, max_bytes), path);
}

// ---- UTF-8 ----------------------------------------------------------------------------------------

void append_utf8(std::string& out, int32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

// Length of the valid UTF-8 sequence at s[i] (1..4), or -(length of the maximal invalid subpart) when
// the bytes there are not valid UTF-8 (Unicode's "maximal subpart" rule, which Rust's from_utf8_lossy uses).
int utf8_seq(const unsigned char* s, size_t n, size_t i, int32_t* cp_out) {
  unsigned char b0 = s[i];
  if (b0 < 0x80) {
    *cp_out = b0;
    return 1;
  }
  int len;
  int32_t cp;
  unsigned char lo = 0x80, hi = 0xBF;
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    len = 2;
    cp = b0 & 0x1F;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    len = 3;
    cp = b0 & 0x0F;
    if (b0 == 0xE0) lo = 0xA0;
    if (b0 == 0xED) hi = 0x9F;
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    len = 4;
    cp = b0 & 0x07;
    if (b0 == 0xF0) lo = 0x90;
    if (b0 == 0xF4) hi = 0x8F;
  } else {
    return -1;
  }
  for (int k = 1; k < len; ++k) {
    if (i + k >= n) return -k;
    unsigned char b = s[i + k];
    if (b < lo || b > hi) return -k;
    lo = 0x80;
    hi = 0xBF;
    cp = (cp << 6) | (b & 0x3F);
  }
  *cp_out = cp;
  return len;
}

std::vector<int32_t> decode_utf8_strict(const std::string& text) {
  std::vector<int32_t> cps;
  cps.reserve(text.size());
  const auto* s = reinterpret_cast<const unsigned char*>(text.data());
  for (size_t i = 0; i < text.size();) {
    int32_t cp;
    int len = utf8_seq(s, text.size(), i, &cp);
    if (len < 0) fail_input("text is not valid UTF-8 (byte offset " + std::to_string(i) + ")");
    cps.push_back(cp);
    i += static_cast<size_t>(len);
  }
  return cps;
}

std::string utf8_lossy(const std::string& bytes) {
  std::string out;
  out.reserve(bytes.size());
  const auto* s = reinterpret_cast<const unsigned char*>(bytes.data());
  for (size_t i = 0; i < bytes.size();) {
    int32_t cp;
    int len = utf8_seq(s, bytes.size(), i, &cp);
    if (len > 0) {
      out.append(bytes, i, static_cast<size_t>(len));
      i += static_cast<size_t>(len);
    } else {
      out += "\xEF\xBF\xBD";
      i += static_cast<size_t>(-len);
    }
  }
  return out;
}

// ---- character classes (Oniguruma's, as used by the tokenizers regexes) ------------------------------

// Onig's \s in Unicode mode = the White_Space property.
bool is_white_space(int32_t c) {
  return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

enum CharClass : uint8_t { kSpace, kLetter, kNumber, kOther };

CharClass classify(int32_t c) {
  if (is_white_space(c)) return kSpace;
  if (c < 0x80) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return kLetter;
    if (c >= '0' && c <= '9') return kNumber;
    return kOther;
  }
  switch (utf8proc_category(c)) {
    case UTF8PROC_CATEGORY_LU:
    case UTF8PROC_CATEGORY_LL:
    case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_LO:
      return kLetter;
    case UTF8PROC_CATEGORY_ND:
    case UTF8PROC_CATEGORY_NL:
    case UTF8PROC_CATEGORY_NO:
      return kNumber;
    default:
      return kOther;
  }
}

// Python str.isspace(), for the str.strip() in CLIPTokenizerFast's decode wrapper.
bool is_python_space(int32_t c) {
  return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

// ---- normalizer: NFC, Replace(\s+ -> " "), Lowercase -------------------------------------------------

std::string normalize(const std::string& text) {
  if (text.empty()) return text;
  utf8proc_uint8_t* nfc = nullptr;
  utf8proc_ssize_t n = utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(text.data()),
                                    static_cast<utf8proc_ssize_t>(text.size()), &nfc,
                                    static_cast<utf8proc_option_t>(UTF8PROC_STABLE | UTF8PROC_COMPOSE));
  if (n < 0) fail_input(std::string("cannot normalize text: ") + utf8proc_errmsg(n));
  std::string composed(reinterpret_cast<const char*>(nfc), static_cast<size_t>(n));
  std::free(nfc);

  std::string out;
  out.reserve(composed.size());
  const auto* s = reinterpret_cast<const unsigned char*>(composed.data());
  bool in_space = false;
  for (size_t i = 0; i < composed.size();) {
    int32_t cp;
    int len = utf8_seq(s, composed.size(), i, &cp);
    if (len < 0) fail_input("text is not valid UTF-8");
    i += static_cast<size_t>(len);
    if (is_white_space(cp)) {
      if (!in_space) out.push_back(' ');
      in_space = true;
      continue;
    }
    in_space = false;
    if (cp < 0x80) {
      out.push_back(static_cast<char>((cp >= 'A' && cp <= 'Z') ? cp + 32 : cp));
    } else if (cp == 0x130) {
      // Rust's char::to_lowercase applies the one unconditional multi-char mapping (İ -> i + U+0307).
      out.push_back('i');
      append_utf8(out, 0x307);
    } else {
      append_utf8(out, utf8proc_tolower(cp));
    }
  }
  return out;
}

// GPT-2's bytes_to_unicode(): printable bytes map to themselves, the rest to U+0100 onwards.
std::array<int32_t, 256> bytes_to_unicode() {
  std::array<int32_t, 256> map{};
  std::vector<bool> direct(256, false);
  for (int b = 33; b <= 126; ++b) direct[b] = true;
  for (int b = 161; b <= 172; ++b) direct[b] = true;
  for (int b = 174; b <= 255; ++b) direct[b] = true;
  int extra = 0;
  for (int b = 0; b < 256; ++b) map[b] = direct[b] ? b : 256 + extra++;
  return map;
}

const char kStartOfText[] = "<|startoftext|>";
const char kEndOfText[] = "<|endoftext|>";
const char kEndOfWord[] = "</w>";

struct AddedToken {
  std::string content;
  int32_t id;
  bool normalized;  // matched in the normalized text (true) or the raw input (false), as tokenizer.json says
};

std::string special_token_content(const json& v, const std::string& key, const std::string& source) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_object()) {
    auto it = v.find("content");
    if (it != v.end() && it->is_string()) return it->get<std::string>();
  }
  fail_tok(source + ": " + key + " must be a string or an object with a string \"content\"");
}

}  // namespace

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

// tokenizers' Word::merge_all: a min-heap of (rank, position) over a linked list of symbols, with stale
// entries skipped when the pair at that position no longer produces the entry's merged id. O(n log n).
std::vector<int32_t> CLIPTokenizer::Impl::bpe(const std::string& word) const {
  const int n = static_cast<int>(word.size());
  struct Symbol {
    int32_t id;
    int prev, next;
    bool alive;
  };
  std::vector<Symbol> sym(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) {
    auto b = static_cast<unsigned char>(word[static_cast<size_t>(i)]);
    sym[static_cast<size_t>(i)] = {(i + 1 == n) ? byte_eow_id[b] : byte_id[b], i - 1, (i + 1 < n) ? i + 1 : -1, true};
  }
  struct Merge {
    int32_t rank;
    int pos;
    int32_t new_id;
  };
  auto later = [](const Merge& a, const Merge& b) { return a.rank != b.rank ? a.rank > b.rank : a.pos > b.pos; };
  std::priority_queue<Merge, std::vector<Merge>, decltype(later)> queue(later);
  auto lookup = [&](int left, int right) -> const std::pair<int32_t, int32_t>* {
    uint64_t key = (static_cast<uint64_t>(static_cast<uint32_t>(sym[static_cast<size_t>(left)].id)) << 32) |
                   static_cast<uint32_t>(sym[static_cast<size_t>(right)].id);
    auto it = merges.find(key);
    return it == merges.end() ? nullptr : &it->second;
  };
  for (int i = 0; i + 1 < n; ++i)
    if (const auto* m = lookup(i, i + 1)) queue.push({m->first, i, m->second});
  while (!queue.empty()) {
    Merge top = queue.top();
    queue.pop();
    Symbol& s = sym[static_cast<size_t>(top.pos)];
    if (!s.alive || s.next == -1) continue;
    const auto* m = lookup(top.pos, s.next);
    if (!m || m->second != top.new_id) continue;
    Symbol& right = sym[static_cast<size_t>(s.next)];
    s.id = top.new_id;
    right.alive = false;
    s.next = right.next;
    if (s.next != -1) sym[static_cast<size_t>(s.next)].prev = top.pos;
    if (s.prev != -1)
      if (const auto* pm = lookup(s.prev, top.pos)) queue.push({pm->first, s.prev, pm->second});
    if (s.next != -1)
      if (const auto* nm = lookup(top.pos, s.next)) queue.push({nm->first, top.pos, nm->second});
  }
  std::vector<int32_t> out;
  for (int i = 0; i != -1 && i < n; i = sym[static_cast<size_t>(i)].next) out.push_back(sym[static_cast<size_t>(i)].id);
  return out;
}

void CLIPTokenizer::Impl::bpe_word(const std::string& word, std::vector<int32_t>& out) const {
  if (word.empty()) return;
  {
    std::shared_lock<std::shared_mutex> lock(cache_mutex);
    auto it = cache.find(word);
    if (it != cache.end()) {
      out.insert(out.end(), it->second.begin(), it->second.end());
      return;
    }
  }
  std::vector<int32_t> ids = bpe(word);
  out.insert(out.end(), ids.begin(), ids.end());
  if (word.size() >= kMaxCachedWordBytes) return;
  std::unique_lock<std::shared_mutex> lock(cache_mutex);
  if (cache.size() >= kMaxCacheEntries) cache.clear();
  cache.emplace(word, std::move(ids));
}

// The pre-tokenizer: Split(CLIP regex, behavior Removed, invert) then ByteLevel(use_regex). The CLIP regex
// '<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+' is matched
// by hand: at each position the alternatives are tried in order, whitespace is dropped. ByteLevel's GPT-2
// regex then leaves every piece whole except the two literal markers, which it cuts into "<|", word, "|>".
void CLIPTokenizer::Impl::pre_tokenize_and_bpe(const std::string& text, std::vector<int32_t>& out) const {
  const auto* s = reinterpret_cast<const unsigned char*>(text.data());
  const size_t n = text.size();
  auto starts_with = [&](size_t i, const char* lit, size_t len) { return n - i >= len && std::memcmp(s + i, lit, len) == 0; };
  auto class_at = [&](size_t i, int* len) {
    int32_t cp;
    *len = utf8_seq(s, n, i, &cp);
    if (*len < 0) fail_input("text is not valid UTF-8");
    return classify(cp);
  };
  size_t i = 0;
  while (i < n) {
    int len;
    CharClass c = class_at(i, &len);
    if (c == kSpace) {
      i += static_cast<size_t>(len);
      continue;
    }
    if (s[i] == '<') {
      const size_t sot = sizeof(kStartOfText) - 1, eot = sizeof(kEndOfText) - 1;
      size_t lit = starts_with(i, kStartOfText, sot) ? sot : starts_with(i, kEndOfText, eot) ? eot : 0;
      if (lit) {
        bpe_word(text.substr(i, 2), out);
        bpe_word(text.substr(i + 2, lit - 4), out);
        bpe_word(text.substr(i + lit - 2, 2), out);
        i += lit;
        continue;
      }
    }
    if (s[i] == '\'' && i + 1 < n) {
      size_t clen = 0;
      unsigned char a = s[i + 1];
      if (a == 's' || a == 't' || a == 'm' || a == 'd') {
        clen = 2;
      } else if (i + 2 < n) {
        unsigned char b = s[i + 2];
        if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) clen = 3;
      }
      if (clen) {
        bpe_word(text.substr(i, clen), out);
        i += clen;
        continue;
      }
    }
    size_t start = i;
    if (c == kNumber) {
      i += static_cast<size_t>(len);
    } else {
      // A run of letters, or of "other" characters (neither letter, number nor space).
      i += static_cast<size_t>(len);
      while (i < n) {
        CharClass d = class_at(i, &len);
        if (d != c) break;
        i += static_cast<size_t>(len);
      }
    }
    bpe_word(text.substr(start, i - start), out);
  }
}

namespace {

// tokenizers' AddedVocabulary split: the earliest match of any added token (the longest where two start at the
// same place) becomes its id; the text between matches goes to `encode_gap`.
template <class EncodeGap>
void split_on_added_tokens(const std::string& text, const std::vector<AddedToken>& tokens, std::vector<int32_t>& out,
                           EncodeGap&& encode_gap) {
  size_t pos = 0;
  while (pos < text.size()) {
    size_t best = std::string::npos;
    const AddedToken* tok = nullptr;
    for (const auto& t : tokens) {
      size_t f = text.find(t.content, pos);
      if (f != std::string::npos && (f < best || (f == best && t.content.size() > tok->content.size()))) {
        best = f;
        tok = &t;
      }
    }
    if (!tok) {
      encode_gap(text.substr(pos));
      break;
    }
    encode_gap(text.substr(pos, best - pos));
    out.push_back(tok->id);
    pos = best + tok->content.size();
  }
}

}  // namespace

// Normalizes one piece of raw input, then splits out the added tokens that match normalized text.
void CLIPTokenizer::Impl::encode_normalized_piece(const std::string& raw_piece, std::vector<int32_t>& out) const {
  if (raw_piece.empty()) return;
  std::string text = normalize(raw_piece);
  split_on_added_tokens(text, normalized_tokens, out,
                        [&](const std::string& gap) { pre_tokenize_and_bpe(gap, out); });
}

// Ids of `text` without bos/eos: added tokens on the raw text first (tokenizers' AddedVocabulary order).
std::vector<int32_t> CLIPTokenizer::Impl::encode_content(const std::string& text) const {
  decode_utf8_strict(text);  // validates once; later stages assume valid UTF-8
  std::vector<int32_t> out;
  split_on_added_tokens(text, raw_tokens, out, [&](const std::string& gap) { encode_normalized_piece(gap, out); });
  return out;
}

// ---- loading ----------------------------------------------------------------------------------------

namespace {

struct SpecialTokens {
  std::string bos = kStartOfText, eos = kEndOfText, unk = kEndOfText, pad = kEndOfText;
  int64_t model_max_length = -1;
  bool clean_up = false;  // PreTrainedTokenizerBase's default when tokenizer_config.json does not say
};

void read_special_tokens(const json& j, const std::string& source, SpecialTokens& st) {
  if (!j.is_object()) fail_tok(source + ": expected a JSON object");
  struct Key {
    const char* name;
    std::string* field;
  } keys[] = {{"bos_token", &st.bos}, {"eos_token", &st.eos}, {"unk_token", &st.unk}, {"pad_token", &st.pad}};
  for (const auto& k : keys) {
    auto it = j.find(k.name);
    if (it == j.end() || it->is_null()) continue;
    *k.field = special_token_content(*it, k.name, source);
  }
}

void read_tokenizer_config(const json& j, const std::string& path, SpecialTokens& st) {
  read_special_tokens(j, path, st);
  auto it = j.find("model_max_length");
  if (it != j.end() && !it->is_null()) {
    if (!it->is_number()) fail_tok(path + ": model_max_length must be a number but is " + it->dump());
    double v = it->get<double>();
    if (v <= 0) fail_tok(path + ": model_max_length must be positive but is " + it->dump());
    // HF writes int(1e30) when a tokenizer has no limit.
    if (v > 1e18) {
      st.model_max_length = -1;
    } else if (v > kMaxSequenceLength) {
      fail_tok(path + ": model_max_length " + it->dump() + " is above the limit of " + std::to_string(kMaxSequenceLength) +
               " (use 1e30 for no limit)");
    } else {
      st.model_max_length = static_cast<int64_t>(v);
    }
  }
  it = j.find("clean_up_tokenization_spaces");
  if (it != j.end() && !it->is_null()) {
    if (!it->is_boolean()) fail_tok(path + ": clean_up_tokenization_spaces must be a boolean but is " + it->dump());
    st.clean_up = it->get<bool>();
  }
}

void load_vocab(const json& v, const std::string& source, CLIPTokenizer::Impl& impl) {
  if (!v.is_object() || v.empty()) fail_tok(source + ": vocab must be a non-empty JSON object of token -> id");
  if (v.size() > kMaxVocabEntries)
    fail_tok(source + ": vocab has " + std::to_string(v.size()) + " tokens, above the limit of " + std::to_string(kMaxVocabEntries));
  impl.vocab.reserve(v.size());
  int64_t max_id = -1;
  for (auto it = v.begin(); it != v.end(); ++it) {
    if (!it.value().is_number_integer()) fail_tok(source + ": id of token " + json(it.key()).dump() + " is not an integer");
    int64_t id = it.value().get<int64_t>();
    if (id < 0 || id >= static_cast<int64_t>(v.size()) + 1024) fail_tok(source + ": id " + std::to_string(id) + " out of range");
    impl.vocab.emplace(it.key(), static_cast<int32_t>(id));
    max_id = std::max(max_id, id);
  }
  impl.id_to_token.assign(static_cast<size_t>(max_id + 1), std::string());
  std::vector<bool> seen(static_cast<size_t>(max_id + 1), false);
  for (const auto& [tok, id] : impl.vocab) {
    if (seen[static_cast<size_t>(id)]) fail_tok(source + ": id " + std::to_string(id) + " is used twice");
    seen[static_cast<size_t>(id)] = true;
    impl.id_to_token[static_cast<size_t>(id)] = tok;
  }
  for (size_t i = 0; i < seen.size(); ++i)
    if (!seen[i]) fail_tok(source + ": vocab has no token with id " + std::to_string(i));
}

void add_merge(CLIPTokenizer::Impl& impl, const std::string& a, const std::string& b, const std::string& source, size_t line) {
  auto ia = impl.vocab.find(a), ib = impl.vocab.find(b), im = impl.vocab.find(a + b);
  if (ia == impl.vocab.end() || ib == impl.vocab.end() || im == impl.vocab.end())
    fail_tok(source + ": merge " + std::to_string(line) + " (\"" + a + " " + b + "\") uses a token missing from the vocab");
  uint64_t key = (static_cast<uint64_t>(static_cast<uint32_t>(ia->second)) << 32) | static_cast<uint32_t>(ib->second);
  if (impl.merges.size() >= kMaxMerges)
    fail_tok(source + ": more than " + std::to_string(kMaxMerges) + " merges (line " + std::to_string(line) + ")");
  auto rank = static_cast<int32_t>(impl.merges.size());
  impl.merges.emplace(key, std::make_pair(rank, im->second));  // a repeated pair keeps its first rank
}

void load_merges_txt(const std::string& text, const std::string& path, CLIPTokenizer::Impl& impl) {
  std::istringstream in(text);
  std::string line;
  size_t lineno = 0;
  while (std::getline(in, line)) {
    ++lineno;
    if (!line.empty() && line.back() == '\r') line.pop_back();  // the CLIP file has CRLF line ends
    if (line.empty() || (lineno == 1 && line.rfind("#version", 0) == 0)) continue;
    size_t sp = line.find(' ');
    if (sp == std::string::npos || sp == 0 || sp + 1 == line.size() || line.find(' ', sp + 1) != std::string::npos)
      fail_tok(path + ": line " + std::to_string(lineno) + " is not a merge \"left right\"");
    add_merge(impl, line.substr(0, sp), line.substr(sp + 1), path, lineno);
  }
}

std::shared_ptr<CLIPTokenizer::Impl> finish(std::shared_ptr<CLIPTokenizer::Impl> impl, const SpecialTokens& st,
                                            const std::string& source) {
  auto map = bytes_to_unicode();
  for (int b = 0; b < 256; ++b) {
    std::string ch;
    append_utf8(ch, map[b]);
    auto it = impl->vocab.find(ch);
    auto ie = impl->vocab.find(ch + kEndOfWord);
    if (it == impl->vocab.end() || ie == impl->vocab.end())
      fail_tok(source + ": vocab lacks the byte-level token for byte " + std::to_string(b));
    impl->byte_id[b] = it->second;
    impl->byte_eow_id[b] = ie->second;
    impl->char_to_byte[map[b]] = static_cast<uint8_t>(b);
  }
  auto id_of = [&](const std::string& content, const char* role) {
    auto it = impl->vocab.find(content);
    if (it == impl->vocab.end()) fail_tok(source + ": " + role + " " + json(content).dump() + " is not in the vocab");
    return it->second;
  };
  impl->bos_id = id_of(st.bos, "bos_token");
  impl->eos_id = id_of(st.eos, "eos_token");
  impl->unk_id = id_of(st.unk, "unk_token");
  impl->pad_id = id_of(st.pad, "pad_token");
  impl->model_max_length = st.model_max_length;
  impl->clean_up_spaces = st.clean_up;
  impl->is_special.assign(impl->id_to_token.size(), false);
  // CLIP's tokenizer.json marks <|startoftext|> normalized and <|endoftext|> not, so "<|ENDOFTEXT|>" stays text.
  auto add = [&](const std::string& content, int32_t id, bool normalized) {
    for (const auto* list : {&impl->raw_tokens, &impl->normalized_tokens})
      for (const auto& t : *list)
        if (t.id == id) return;
    impl->is_special[static_cast<size_t>(id)] = true;
    if (normalized) {
      impl->normalized_tokens.push_back({normalize(content), id, true});
    } else {
      impl->raw_tokens.push_back({content, id, false});
    }
  };
  add(st.bos, impl->bos_id, true);
  add(st.eos, impl->eos_id, false);
  add(st.unk, impl->unk_id, false);
  add(st.pad, impl->pad_id, false);
  return impl;
}

}  // namespace

CLIPTokenizer CLIPTokenizer::from_files(const std::string& vocab_json_path, const std::string& merges_txt_path,
                                        const std::string& tokenizer_config_path,
                                        const std::string& special_tokens_map_path) {
  auto impl = std::make_shared<Impl>();
  load_vocab(parse_json_file(vocab_json_path), vocab_json_path, *impl);
  load_merges_txt(read_text_file(merges_txt_path), merges_txt_path, *impl);
  SpecialTokens st;
  if (!tokenizer_config_path.empty())
    read_tokenizer_config(parse_json_file(tokenizer_config_path, kMaxConfigFileBytes), tokenizer_config_path, st);
  if (!special_tokens_map_path.empty())
    read_special_tokens(parse_json_file(special_tokens_map_path, kMaxConfigFileBytes), special_tokens_map_path, st);
  return CLIPTokenizer(finish(impl, st, vocab_json_path));
}

CLIPTokenizer CLIPTokenizer::from_texts(const std::string& vocab_json, const std::string& merges_txt,
                                        const std::string& tokenizer_config_json, const std::string& special_tokens_map_json) {
  auto impl = std::make_shared<Impl>();
  load_vocab(parse_json_text(vocab_json, "vocab.json"), "vocab.json", *impl);
  load_merges_txt(merges_txt, "merges.txt", *impl);
  SpecialTokens st;
  if (!tokenizer_config_json.empty())
    read_tokenizer_config(parse_json_text(tokenizer_config_json, "tokenizer_config.json"), "tokenizer_config.json", st);
  if (!special_tokens_map_json.empty())
    read_special_tokens(parse_json_text(special_tokens_map_json, "special_tokens_map.json"), "special_tokens_map.json", st);
  return CLIPTokenizer(finish(impl, st, "vocab.json"));
}

CLIPTokenizer CLIPTokenizer::from_pretrained(const std::string& dir) {
  auto path = [&](const char* name) { return dir + "/" + name; };
  std::string vocab = path("vocab.json"), merges = path("merges.txt"), tj = path("tokenizer.json");
  std::string config = path("tokenizer_config.json"), special = path("special_tokens_map.json");
  if (!file_exists(config)) config.clear();
  if (!file_exists(special)) special.clear();
  bool have_vocab = file_exists(vocab), have_merges = file_exists(merges);
  if (have_vocab && have_merges) return from_files(vocab, merges, config, special);
  if (!have_vocab && !have_merges && file_exists(tj)) {
    // A snapshot with only tokenizer.json: take the BPE model from it.
    json j = parse_json_file(tj);
    const json* model = j.contains("model") ? &j["model"] : nullptr;
    if (!model || !model->is_object() || model->value("type", "") != "BPE" || !model->contains("vocab") || !model->contains("merges"))
      fail_tok(tj + ": model must be a BPE model with vocab and merges");
    auto impl = std::make_shared<Impl>();
    load_vocab((*model)["vocab"], tj, *impl);
    const json& m = (*model)["merges"];
    if (!m.is_array() || m.empty()) fail_tok(tj + ": model.merges must be a non-empty array");
    size_t line = 0;
    for (const auto& e : m) {
      ++line;
      if (e.is_string()) {
        std::string s = e.get<std::string>();
        size_t sp = s.find(' ');
        if (sp == std::string::npos) fail_tok(tj + ": merge " + std::to_string(line) + " is not \"left right\"");
        add_merge(*impl, s.substr(0, sp), s.substr(sp + 1), tj, line);
      } else if (e.is_array() && e.size() == 2 && e[0].is_string() && e[1].is_string()) {
        add_merge(*impl, e[0].get<std::string>(), e[1].get<std::string>(), tj, line);
      } else {
        fail_tok(tj + ": merge " + std::to_string(line) + " must be a string or a pair of strings");
      }
    }
    SpecialTokens st;
    if (!config.empty()) read_tokenizer_config(parse_json_file(config, kMaxConfigFileBytes), config, st);
    if (!special.empty()) read_special_tokens(parse_json_file(special, kMaxConfigFileBytes), special, st);
    return CLIPTokenizer(finish(impl, st, tj));
  }
  fail_tok("tokenizer file not found: " + (have_vocab ? merges : vocab) + " (directory " + dir +
           " needs vocab.json and merges.txt, or tokenizer.json)");
}

// ---- encoding ---------------------------------------------------------------------------------------

std::vector<std::string> CLIPTokenizer::tokenize(const std::string& text) const {
  return convert_ids_to_tokens(encode(text, false));
}

std::vector<int64_t> CLIPTokenizer::encode(const std::string& text, bool add_special_tokens) const {
  std::vector<int32_t> content = impl_->encode_content(text);
  std::vector<int64_t> ids;
  ids.reserve(content.size() + 2);
  if (add_special_tokens) ids.push_back(impl_->bos_id);
  ids.insert(ids.end(), content.begin(), content.end());
  if (add_special_tokens) ids.push_back(impl_->eos_id);
  return ids;
}

std::vector<std::vector<int64_t>> CLIPTokenizer::batch_encode_ids(const std::vector<std::string>& texts,
                                                                 const TokenizerOptions& options,
                                                                 std::vector<std::vector<int64_t>>* attention_mask) const {
  if (options.max_length > kMaxSequenceLength)
    fail_input("max_length " + std::to_string(options.max_length) + " is above the limit of " + std::to_string(kMaxSequenceLength));
  int64_t max_length = options.max_length > 0 ? options.max_length : impl_->model_max_length;
  const int64_t num_special = options.add_special_tokens ? 2 : 0;
  bool truncate = options.truncation && max_length > 0;
  if (truncate && max_length < num_special)
    fail_input("max_length " + std::to_string(max_length) + " leaves no room for the " + std::to_string(num_special) + " special tokens");
  std::vector<std::vector<int64_t>> rows;
  rows.reserve(texts.size());
  for (const auto& text : texts) {
    std::vector<int32_t> content = impl_->encode_content(text);
    if (truncate && static_cast<int64_t>(content.size()) > max_length - num_special)
      content.resize(static_cast<size_t>(max_length - num_special));
    std::vector<int64_t> ids;
    ids.reserve(content.size() + 2);
    if (options.add_special_tokens) ids.push_back(impl_->bos_id);
    ids.insert(ids.end(), content.begin(), content.end());
    if (options.add_special_tokens) ids.push_back(impl_->eos_id);
    rows.push_back(std::move(ids));
  }
  size_t target = 0;
  if (options.padding == PaddingStrategy::kLongest) {
    for (const auto& r : rows) target = std::max(target, r.size());
  } else if (options.padding == PaddingStrategy::kMaxLength && max_length > 0) {
    target = static_cast<size_t>(max_length);  // HF without any max length falls back to no padding
  }
  if (attention_mask) attention_mask->clear();
  for (auto& r : rows) {
    size_t real = r.size();
    if (r.size() < target) r.resize(target, impl_->pad_id);
    if (attention_mask) {
      std::vector<int64_t> m(r.size(), 0);
      std::fill(m.begin(), m.begin() + static_cast<std::ptrdiff_t>(real), 1);
      attention_mask->push_back(std::move(m));
    }
  }
  return rows;
}

BatchEncoding CLIPTokenizer::batch_encode(const std::vector<std::string>& texts, const TokenizerOptions& options) const {
  if (texts.empty()) fail_input("batch_encode needs at least one text");
  std::vector<std::vector<int64_t>> mask;
  auto rows = batch_encode_ids(texts, options, &mask);
  const size_t len = rows[0].size();
  for (size_t i = 1; i < rows.size(); ++i)
    if (rows[i].size() != len)
      fail_input("texts encode to different lengths (" + std::to_string(len) + " and " + std::to_string(rows[i].size()) +
                 " tokens); use padding \"longest\" or \"max_length\" (with truncation) to batch them");
  const auto b = static_cast<int64_t>(rows.size()), l = static_cast<int64_t>(len);
  BatchEncoding enc{at::empty({b, l}, at::kLong), at::empty({b, l}, at::kLong)};
  auto* ids = enc.input_ids.data_ptr<int64_t>();
  auto* am = enc.attention_mask.data_ptr<int64_t>();
  for (size_t i = 0; i < rows.size(); ++i) {
    std::copy(rows[i].begin(), rows[i].end(), ids + i * len);
    std::copy(mask[i].begin(), mask[i].end(), am + i * len);
  }
  return enc;
}

// ---- decoding ---------------------------------------------------------------------------------------

std::string CLIPTokenizer::id_to_token(int64_t id) const {
  if (id < 0 || id >= static_cast<int64_t>(impl_->id_to_token.size()))
    fail_input("token id " + std::to_string(id) + " is out of range [0, " + std::to_string(impl_->id_to_token.size()) + ")");
  return impl_->id_to_token[static_cast<size_t>(id)];
}

std::vector<std::string> CLIPTokenizer::convert_ids_to_tokens(const std::vector<int64_t>& ids) const {
  std::vector<std::string> out;
  out.reserve(ids.size());
  for (int64_t id : ids) out.push_back(id_to_token(id));
  return out;
}

int64_t CLIPTokenizer::token_to_id(const std::string& token) const {
  auto it = impl_->vocab.find(token);
  return it == impl_->vocab.end() ? -1 : it->second;
}

std::string CLIPTokenizer::decode(const std::vector<int64_t>& ids, bool skip_special_tokens) const {
  // tokenizers' ByteLevel decoder: each token's chars back to bytes (a token with a char outside the
  // byte map is kept as UTF-8), then from_utf8_lossy over the whole byte string.
  std::string bytes;
  for (int64_t id : ids) {
    if (id < 0 || id >= vocab_size())
      fail_input("token id " + std::to_string(id) + " is out of range [0, " + std::to_string(vocab_size()) + ")");
    const std::string& tok = impl_->id_to_token[static_cast<size_t>(id)];
    if (skip_special_tokens && impl_->is_special[static_cast<size_t>(id)]) continue;
    std::string tb;
    bool all_mapped = true;
    const auto* s = reinterpret_cast<const unsigned char*>(tok.data());
    for (size_t i = 0; i < tok.size();) {
      int32_t cp;
      int len = utf8_seq(s, tok.size(), i, &cp);
      auto it = len > 0 ? impl_->char_to_byte.find(cp) : impl_->char_to_byte.end();
      if (it == impl_->char_to_byte.end()) {
        all_mapped = false;
        break;
      }
      tb.push_back(static_cast<char>(it->second));
      i += static_cast<size_t>(len);
    }
    bytes += all_mapped ? tb : tok;
  }
  std::string text = utf8_lossy(bytes);

  // CLIPTokenizerFast wraps the backend decode: "</w>" -> " ", then str.strip().
  std::string replaced;
  replaced.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    if (text.compare(i, 4, kEndOfWord) == 0) {
      replaced.push_back(' ');
      i += 4;
    } else {
      replaced.push_back(text[i++]);
    }
  }
  std::vector<int32_t> cps = decode_utf8_strict(replaced);
  size_t b = 0, e = cps.size();
  while (b < e && is_python_space(cps[b])) ++b;
  while (e > b && is_python_space(cps[e - 1])) --e;
  std::string out;
  for (size_t i = b; i < e; ++i) append_utf8(out, cps[i]);

  if (impl_->clean_up_spaces) {
    // PreTrainedTokenizerBase.clean_up_tokenization, replacement by replacement, in HF's order.
    static const std::pair<const char*, const char*> kRules[] = {
        {" .", "."}, {" ?", "?"}, {" !", "!"}, {" ,", ","}, {" ' ", "'"}, {" n't", "n't"},
        {" 'm", "'m"}, {" 's", "'s"}, {" 've", "'ve"}, {" 're", "'re"}};
    for (const auto& [from, to] : kRules) {
      std::string next;
      next.reserve(out.size());
      const size_t flen = std::strlen(from);
      size_t pos = 0;
      for (size_t f; (f = out.find(from, pos)) != std::string::npos; pos = f + flen) {
        next.append(out, pos, f - pos);
        next += to;
      }
      next.append(out, pos, std::string::npos);
      out.swap(next);
    }
  }
  return out;
}

int64_t CLIPTokenizer::vocab_size() const { return static_cast<int64_t>(impl_->id_to_token.size()); }
int64_t CLIPTokenizer::bos_token_id() const { return impl_->bos_id; }
int64_t CLIPTokenizer::eos_token_id() const { return impl_->eos_id; }
int64_t CLIPTokenizer::pad_token_id() const { return impl_->pad_id; }
int64_t CLIPTokenizer::unk_token_id() const { return impl_->unk_id; }
int64_t CLIPTokenizer::model_max_length() const { return impl_->model_max_length; }
bool CLIPTokenizer::clean_up_tokenization_spaces() const { return impl_->clean_up_spaces; }

}  // namespace xclip
