// wan_clean(): Wan's prompt cleaning (wan/modules/tokenizers.py, clean='whitespace') on UTF-8.
// What of ftfy.fix_text is reproduced and what is not is listed in tokenizer.h.
#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "text/tokenizer.h"

namespace duet {
namespace {

using Text = std::u32string;

Text decode_utf8(const std::string& s) {
  Text out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    const auto c = static_cast<uint8_t>(s[i]);
    int n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    char32_t cp = n == 1 ? c : n == 2 ? (c & 0x1F) : n == 3 ? (c & 0x0F) : (c & 0x07);
    bool ok = n > 0 && i + n <= s.size();
    for (int k = 1; ok && k < n; ++k) {
      const auto cc = static_cast<uint8_t>(s[i + k]);
      ok = (cc >> 6) == 2;
      cp = (cp << 6) | (cc & 0x3F);
    }
    if (!ok) {  // invalid byte: Python would have refused it; keep U+FFFD and go on
      out.push_back(0xFFFD);
      ++i;
      continue;
    }
    out.push_back(cp);
    i += n;
  }
  return out;
}

std::string encode_utf8(const Text& t) {
  std::string out;
  out.reserve(t.size());
  for (char32_t cp : t) {
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
  return out;
}

// Python's str.isspace(), used by strip().
bool py_isspace(char32_t c) {
  return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 ||
         c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F ||
         c == 0x205F || c == 0x3000;
}

// `regex` module's \s (Unicode White_Space), used by whitespace_clean().
bool regex_space(char32_t c) { return py_isspace(c) && !(c >= 0x1C && c <= 0x1F); }

Text strip(const Text& t) {
  size_t b = 0, e = t.size();
  while (b < e && py_isspace(t[b])) ++b;
  while (e > b && py_isspace(t[e - 1])) --e;
  return t.substr(b, e - b);
}

// HTML named references: the ones prompts plausibly hold. The first seven are also valid
// without ';' in HTML5, as Python's html.unescape accepts them.
constexpr std::array<std::pair<std::u32string_view, char32_t>, 40> kEntities{{
    {U"amp", U'&'},     {U"lt", U'<'},       {U"gt", U'>'},      {U"quot", U'"'},
    {U"nbsp", 0xA0},    {U"copy", 0xA9},     {U"reg", 0xAE},     {U"apos", U'\''},
    {U"trade", 0x2122}, {U"hellip", 0x2026}, {U"mdash", 0x2014}, {U"ndash", 0x2013},
    {U"lsquo", 0x2018}, {U"rsquo", 0x2019},  {U"ldquo", 0x201C}, {U"rdquo", 0x201D},
    {U"laquo", 0xAB},   {U"raquo", 0xBB},    {U"deg", 0xB0},     {U"times", 0xD7},
    {U"divide", 0xF7},  {U"middot", 0xB7},   {U"bull", 0x2022},  {U"euro", 0x20AC},
    {U"pound", 0xA3},   {U"yen", 0xA5},      {U"cent", 0xA2},    {U"sect", 0xA7},
    {U"para", 0xB6},    {U"plusmn", 0xB1},   {U"frac12", 0xBD},  {U"frac14", 0xBC},
    {U"frac34", 0xBE},  {U"eacute", 0xE9},   {U"egrave", 0xE8},  {U"agrave", 0xE0},
    {U"ccedil", 0xE7},  {U"uuml", 0xFC},     {U"ouml", 0xF6},    {U"auml", 0xE4},
}};
constexpr size_t kLegacyEntities = 7;

// A numeric reference's code point as html.unescape maps it (invalid ones to U+FFFD).
char32_t numeric_reference(uint64_t v) {
  if (v == 0 || (v >= 0xD800 && v <= 0xDFFF) || v > 0x10FFFF) return 0xFFFD;
  if (v >= 0x80 && v <= 0x9F) {  // windows-1252 remapping of the C1 range
    static constexpr char32_t k1252[32] = {
        0x20AC, 0x81,   0x201A, 0x192,  0x201E, 0x2026, 0x2020, 0x2021, 0x2C6,  0x2030, 0x160,
        0x2039, 0x152,  0x8D,   0x17D,  0x8F,   0x90,   0x2018, 0x2019, 0x201C, 0x201D, 0x2022,
        0x2013, 0x2014, 0x2DC,  0x2122, 0x161,  0x203A, 0x153,  0x9D,   0x17E,  0x178};
    return k1252[v - 0x80];
  }
  return static_cast<char32_t>(v);
}

bool is_hex(char32_t c) {
  return (c >= U'0' && c <= U'9') || (c >= U'a' && c <= U'f') || (c >= U'A' && c <= U'F');
}

// Tries to read a reference at t[i] == '&'; on success appends it and advances i.
bool unescape_one(const Text& t, size_t& i, Text& out) {
  size_t j = i + 1;
  if (j < t.size() && t[j] == U'#') {
    const bool hex = j + 1 < t.size() && (t[j + 1] == U'x' || t[j + 1] == U'X');
    size_t k = j + (hex ? 2 : 1), start = k;
    uint64_t v = 0;
    while (k < t.size() && (hex ? is_hex(t[k]) : (t[k] >= U'0' && t[k] <= U'9'))) {
      const char32_t c = t[k++];
      const uint64_t d = c <= U'9' ? c - U'0' : (c | 0x20) - U'a' + 10;
      v = std::min<uint64_t>(v * (hex ? 16 : 10) + d, 0x110000);
    }
    if (k == start) return false;
    if (k < t.size() && t[k] == U';') ++k;
    out.push_back(numeric_reference(v));
    i = k;
    return true;
  }
  for (size_t e = 0; e < kEntities.size(); ++e) {
    const auto name = kEntities[e].first;
    if (t.compare(j, name.size(), name) != 0) continue;
    const size_t end = j + name.size();
    if (end < t.size() && t[end] == U';') {
      out.push_back(kEntities[e].second);
      i = end + 1;
      return true;
    }
    if (e < kLegacyEntities) {
      out.push_back(kEntities[e].second);
      i = end;
      return true;
    }
  }
  return false;
}

Text html_unescape(const Text& t) {
  Text out;
  for (size_t i = 0; i < t.size();) {
    if (t[i] == U'&' && unescape_one(t, i, out)) continue;
    out.push_back(t[i++]);
  }
  return out;
}

bool ftfy_control(char32_t c) {
  return c <= 0x08 || c == 0x0B || (c >= 0x0E && c <= 0x1F) || c == 0x7F ||
         (c >= 0x206A && c <= 0x206F) || c == 0xFEFF || (c >= 0xFFF9 && c <= 0xFFFC);
}

// The ftfy.fix_text steps that change well-formed text (see tokenizer.h for the rest).
Text ftfy_subset(const Text& in) {
  bool has_lt = in.find(U'<') != Text::npos;
  Text t = has_lt ? in : html_unescape(in);  // ftfy's unescape_html="auto"
  Text out;
  out.reserve(t.size());
  for (size_t i = 0; i < t.size(); ++i) {
    char32_t c = t[i];
    if (c == 0x1B && i + 1 < t.size() && t[i + 1] == U'[') {  // remove_terminal_escapes
      size_t k = i + 2;
      while (k < t.size() && ((t[k] >= U'0' && t[k] <= U'9') || t[k] == U';')) ++k;
      if (k < t.size() && ((t[k] >= U'a' && t[k] <= U'z') || (t[k] >= U'A' && t[k] <= U'Z'))) {
        i = k;
        continue;
      }
    }
    if (c == 0x02BC || (c >= 0x2018 && c <= 0x201B)) c = U'\'';  // uncurl_quotes
    if (c >= 0x201C && c <= 0x201F) c = U'"';
    if (c == U'\r') {  // fix_line_breaks: \r\n and lone \r become \n
      if (i + 1 < t.size() && t[i + 1] == U'\n') ++i;
      c = U'\n';
    }
    if (c == 0x2028 || c == 0x2029 || c == 0x85) c = U'\n';
    if (ftfy_control(c)) continue;  // remove_control_chars
    out.push_back(c);
  }
  return out;
}

}  // namespace

std::string wan_clean(const std::string& text) {
  // basic_clean: ftfy.fix_text, html.unescape(html.unescape(.)), strip
  Text t = strip(html_unescape(html_unescape(ftfy_subset(decode_utf8(text)))));
  // whitespace_clean: re.sub(r'\s+', ' ', .), strip
  Text out;
  out.reserve(t.size());
  for (char32_t c : t) {
    if (regex_space(c)) {
      if (out.empty() || out.back() != U' ') out.push_back(U' ');
    } else {
      out.push_back(c);
    }
  }
  return encode_utf8(strip(out));
}

}  // namespace duet
