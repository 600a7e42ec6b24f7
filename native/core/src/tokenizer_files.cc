// Reading CLIP tokenizer files (vocab.json + merges.txt, or tokenizer.json; tokenizer_config.json and
// special_tokens_map.json for the special tokens) into CLIPTokenizer::Impl. Every file is untrusted: sizes are
// bounded before reading and every value is checked.
#include <sys/stat.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "tokenizer_impl.h"
#include "unicode_text.h"
#include "untrusted_json.h"
#include "xclip/error.h"
#include "xclip/tokenizer.h"

namespace xclip {
namespace {

using json = nlohmann::json;
using namespace text;

[[noreturn]] void fail_tok(const std::string& msg) { throw Error(ErrorCode::kTokenizer, msg); }

// A real CLIP vocabulary has 49408 tokens and 48894 merges; these bounds only stop absurd files early.
constexpr size_t kMaxVocabEntries = 1u << 24;
constexpr size_t kMaxMerges = 1u << 24;

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

std::string special_token_content(const json& v, const std::string& key, const std::string& source) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_object()) {
    auto it = v.find("content");
    if (it != v.end() && it->is_string()) return it->get<std::string>();
  }
  fail_tok(source + ": " + key + " must be a string or an object with a string \"content\"");
}

}  // namespace

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

}  // namespace xclip
