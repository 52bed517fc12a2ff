#include "classify/internal/pattern.h"

#include <vector>

namespace bouncestream::classify::internal {
namespace {

std::size_t Utf8Width(unsigned char lead) {
  if (lead >= 0xF0) return 4;
  if (lead >= 0xE0) return 3;
  if (lead >= 0xC0) return 2;
  return 1;
}

// What `\s` means in both engines: RE2's own `\s` leaves out the vertical tab (\x0b), which
// Vectorscan (PCRE) includes, so the same pattern matched "\x0b\n503 User unknown" with `^\s*5`
// in one engine and not in the other (found by fuzz_classify). Written out, it is the same set.
constexpr std::string_view kSpaces = "\\t\\n\\x0b\\f\\r ";

}  // namespace

std::expected<std::string, std::string> NormalizePattern(std::string_view p) {
  std::string out;
  out.reserve(p.size() + 8);
  std::size_t i = 0;
  while (i < p.size()) {
    const char c = p[i];
    if (c == '\\' && i + 1 < p.size()) {
      if (p[i + 1] == 's' || p[i + 1] == 'S') {
        out.append(p[i + 1] == 's' ? "[" : "[^").append(kSpaces).append("]");
      } else {
        out.append(p.substr(i, 2));
      }
      i += 2;
      continue;
    }
    if (c != '[') {
      out.push_back(c);
      ++i;
      continue;
    }
    // A character class: find its end, collect single bytes and multi-byte characters apart.
    std::size_t j = i + 1;
    bool negated = false;
    if (j < p.size() && p[j] == '^') {
      negated = true;
      ++j;
    }
    struct Token {
      std::string_view text;
      bool multi = false;
    };
    std::vector<Token> tokens;
    bool closed = false;
    while (j < p.size()) {
      const char d = p[j];
      if (d == ']' && !tokens.empty()) {
        closed = true;
        break;
      }
      std::size_t w = 1;
      bool multi = false;
      if (d == '\\' && j + 1 < p.size()) {
        w = 2;
        if (p[j + 1] == 'S') return std::unexpected("\\S inside a character class is not supported");
        if (p[j + 1] == 's') {
          tokens.push_back({kSpaces, false});
          j += 2;
          continue;
        }
      } else if (d == '[' && j + 1 < p.size() && p[j + 1] == ':') {
        const std::size_t end = p.find(":]", j + 2);
        if (end == std::string_view::npos) return std::unexpected("unterminated [: class");
        w = end + 2 - j;
      } else if (static_cast<unsigned char>(d) >= 0x80) {
        w = Utf8Width(static_cast<unsigned char>(d));
        if (j + w > p.size()) return std::unexpected("truncated UTF-8 in a character class");
        multi = true;
      }
      tokens.push_back({p.substr(j, w), multi});
      j += w;
    }
    std::string singles;
    std::vector<std::string_view> multis;
    const std::size_t n = tokens.size();
    for (std::size_t k = 0; k < n; ++k) {
      if (!tokens[k].multi) {
        singles.append(tokens[k].text);
        continue;
      }
      const bool ends_range = k >= 2 && tokens[k - 1].text == "-";
      const bool starts_range = k + 2 < n && tokens[k + 1].text == "-";
      if (ends_range || starts_range) {
        return std::unexpected("a range with a non-ASCII end is not supported");
      }
      multis.push_back(tokens[k].text);
    }
    if (!closed) return std::unexpected("unterminated character class");
    if (multis.empty()) {
      out.append(negated ? "[^" : "[").append(singles).append("]");
    } else if (negated) {
      return std::unexpected("a negated class with a non-ASCII character is not supported");
    } else {
      out.append("(?:");
      bool need_bar = false;
      if (!singles.empty()) {
        out.append("[").append(singles).append("]");
        need_bar = true;
      }
      for (auto m : multis) {
        if (need_bar) out.push_back('|');
        out.append(m);
        need_bar = true;
      }
      out.push_back(')');
    }
    i = j + 1;
  }
  return out;
}

}  // namespace bouncestream::classify::internal
