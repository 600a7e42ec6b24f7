// = tokenizers' CLIP pipeline as CLIPTokenizerFast runs it: added tokens, normalizer (unicode_text.h),
// pre-tokenizer, byte-level BPE; decoding as its decode wrapper does. The files are read in tokenizer_files.cc.
#include <algorithm>
#include <cstring>
#include <mutex>
#include <queue>
#include <shared_mutex>

#include "tokenizer_impl.h"
#include "unicode_text.h"
#include "xclip/error.h"
#include "xclip/tokenizer.h"

namespace xclip {
namespace {

using namespace text;

[[noreturn]] void fail_input(const std::string& msg) { throw Error(ErrorCode::kInvalidInput, msg); }

}  // namespace

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
