// Tokenizer entry points. Its calls are short and synchronous (as in the `tokenizers` package); only loading the
// vocabulary files runs on a PromiseWorker.
#include <memory>
#include <string>
#include <vector>

#include "args.h"
#include "errors.h"
#include "processing.h"
#include "tensor_convert.h"
#include "worker.h"
#include "xclip/tokenizer.h"

namespace xclip_binding {
namespace {

// Longest arrays the calls below walk, checked before walking them: an array of length 2^32 - 1 (holes cost nothing
// to make) would keep the main thread busy for minutes. The TypeScript layer checks the same limits with messages.
constexpr size_t kMaxTexts = 65536;          // texts in one batchEncode
constexpr size_t kMaxIds = size_t{1} << 20;  // ids in one decode (the core's longest sequence)

constexpr uint32_t kTokenizerMagic = 0x544f4b4e;  // "TOKN"
struct TokenizerHandle {
  uint32_t magic = kTokenizerMagic;
  std::shared_ptr<const xclip::CLIPTokenizer> tokenizer;
};

const xclip::CLIPTokenizer& tokenizer_of(const Napi::Value& v) {
  if (!v.IsExternal()) throw_code(v.Env(), "INVALID_INPUT", "expected a tokenizer handle");
  auto* h = v.As<Napi::External<TokenizerHandle>>().Data();
  if (!h || h->magic != kTokenizerMagic) throw_code(v.Env(), "INVALID_INPUT", "expected a tokenizer handle");
  return *h->tokenizer;
}

// {handle, vocabSize, the special token ids, modelMaxLength}: what load returns.
Napi::Value tokenizer_loaded(Napi::Env env, std::shared_ptr<const xclip::CLIPTokenizer> tok) {
  Napi::Object r = Napi::Object::New(env);
  r.Set("vocabSize", static_cast<double>(tok->vocab_size()));
  r.Set("bosTokenId", static_cast<double>(tok->bos_token_id()));
  r.Set("eosTokenId", static_cast<double>(tok->eos_token_id()));
  r.Set("padTokenId", static_cast<double>(tok->pad_token_id()));
  r.Set("unkTokenId", static_cast<double>(tok->unk_token_id()));
  r.Set("modelMaxLength", static_cast<double>(tok->model_max_length()));
  r.Set("handle", owned_external(env, std::make_unique<TokenizerHandle>(TokenizerHandle{kTokenizerMagic, std::move(tok)})));
  return r;
}

Napi::Value TokenizerLoad(const Napi::CallbackInfo& info) {
  return (new DirLoadWorker<xclip::CLIPTokenizer>(info.Env(), string_arg(info, 0, "dir"), xclip::CLIPTokenizer::from_pretrained, tokenizer_loaded))->Start();
}

Napi::Value TokenizerTokenize(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const auto& tok = tokenizer_of(info[0]);
  std::string text = string_arg(info, 1, "text");
  return guard(env, [&]() -> Napi::Value {
    auto tokens = tok.tokenize(text);
    Napi::Array a = Napi::Array::New(env, tokens.size());
    for (size_t i = 0; i < tokens.size(); ++i) a.Set(static_cast<uint32_t>(i), tokens[i]);
    return a;
  });
}

Napi::Value TokenizerEncode(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const auto& tok = tokenizer_of(info[0]);
  std::string text = string_arg(info, 1, "text");
  bool special = info.Length() > 2 ? info[2].ToBoolean().Value() : true;
  return guard(env, [&]() -> Napi::Value {
    auto ids = tok.encode(text, special);
    Napi::Array a = Napi::Array::New(env, ids.size());
    for (size_t i = 0; i < ids.size(); ++i) a.Set(static_cast<uint32_t>(i), static_cast<double>(ids[i]));
    return a;
  });
}

std::vector<std::string> string_list(const Napi::Value& v, const char* what) {
  if (!v.IsArray()) throw_code(v.Env(), "INVALID_INPUT", std::string(what) + " must be an array of strings");
  Napi::Array a = v.As<Napi::Array>();
  check_length(v.Env(), a.Length(), kMaxTexts, what);
  std::vector<std::string> out;
  out.reserve(a.Length());
  for (uint32_t i = 0; i < a.Length(); ++i) {
    Napi::Value s = a.Get(i);
    if (!s.IsString()) throw_code(v.Env(), "INVALID_INPUT", std::string(what) + "[" + std::to_string(i) + "] must be a string");
    out.push_back(s.As<Napi::String>().Utf8Value());
  }
  return out;
}

// batchEncode(handle, texts, {padding: 'none'|'longest'|'max_length', maxLength, truncation})
Napi::Value TokenizerBatchEncode(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const auto& tok = tokenizer_of(info[0]);
  auto texts = string_list(info[1], "texts");
  Napi::Object o = options_arg(info.Length() > 2 ? info[2] : env.Undefined(), "options");
  xclip::TokenizerOptions opts;
  std::string padding = o.Get("padding").IsString() ? o.Get("padding").As<Napi::String>().Utf8Value() : "longest";
  opts.padding = padding == "none" ? xclip::PaddingStrategy::kNone
                 : padding == "max_length" ? xclip::PaddingStrategy::kMaxLength
                                           : xclip::PaddingStrategy::kLongest;
  opts.max_length = int_field(o, "maxLength", 0);
  opts.truncation = bool_field(o, "truncation", false);
  return guard(env, [&]() -> Napi::Value {
    xclip::BatchEncoding enc = tok.batch_encode(texts, opts);
    OutputBuilder b(env, {});
    Napi::Object r = Napi::Object::New(env);
    r.Set("inputIds", b.tensor(prepare_output(enc.input_ids)));
    r.Set("attentionMask", b.tensor(prepare_output(enc.attention_mask)));
    return r;
  });
}


Napi::Value TokenizerDecode(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const auto& tok = tokenizer_of(info[0]);
  auto ids = id_list(info[1], "ids", kMaxIds);
  bool skip = info.Length() > 2 && info[2].ToBoolean().Value();
  return guard(env, [&]() -> Napi::Value { return Napi::String::New(env, tok.decode(ids, skip)); });
}

Napi::Value TokenizerIdToToken(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const auto& tok = tokenizer_of(info[0]);
  if (info.Length() < 2 || !info[1].IsNumber()) throw_code(env, "INVALID_INPUT", "id must be a number");
  int64_t id = info[1].As<Napi::Number>().Int64Value();
  return guard(env, [&]() -> Napi::Value { return Napi::String::New(env, tok.id_to_token(id)); });
}

Napi::Value TokenizerTokenToId(const Napi::CallbackInfo& info) {
  const auto& tok = tokenizer_of(info[0]);
  std::string token = string_arg(info, 1, "token");
  int64_t id = tok.token_to_id(token);
  return id < 0 ? info.Env().Undefined() : Napi::Number::New(info.Env(), static_cast<double>(id));
}

}  // namespace

void init_tokenizer(Napi::Env env, Napi::Object exports) {
  Napi::Object tok = Napi::Object::New(env);
  set_functions(env, tok, {
      {"load", TokenizerLoad},
      {"tokenize", TokenizerTokenize},
      {"encode", TokenizerEncode},
      {"batchEncode", TokenizerBatchEncode},
      {"decode", TokenizerDecode},
      {"idToToken", TokenizerIdToToken},
      {"tokenToId", TokenizerTokenToId},
  });
  exports.Set("tokenizer", tok);
}

}  // namespace xclip_binding
