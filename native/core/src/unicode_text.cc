#include "unicode_text.h"

#include <utf8proc.h>

#include <cstdlib>

#include "xclip/error.h"

namespace xclip::text {
namespace {
[[noreturn]] void fail_input(const std::string& msg) { throw Error(ErrorCode::kInvalidInput, msg); }
}  // namespace

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

bool is_white_space(int32_t c) {
  return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

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

}  // namespace xclip::text
