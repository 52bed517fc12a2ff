#include "classify/internal/text.h"

#include <cstddef>

namespace bouncestream::classify::internal {
namespace {

bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsAlnum(char c) {
  return IsDigit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
char Lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

// Length of an enhanced code starting at `p`, 0 if none starts there.
std::size_t EnhancedAt(std::string_view s, std::size_t p) {
  if (p >= s.size() || !(s[p] == '2' || s[p] == '4' || s[p] == '5')) return 0;
  std::size_t q = p + 1;
  for (int part = 0; part < 2; ++part) {
    if (q >= s.size() || s[q] != '.') return 0;
    ++q;
    const std::size_t start = q;
    while (q < s.size() && IsDigit(s[q]) && q - start < 4) ++q;
    if (q == start || q - start > 3) return 0;
  }
  return q - p;
}

}  // namespace

bool IsEnhancedCode(std::string_view s) { return !s.empty() && EnhancedAt(s, 0) == s.size(); }

std::string_view LeadingEnhancedCode(std::string_view s) {
  std::size_t p = 0;
  while (p < s.size() && s[p] == ' ') ++p;
  const std::size_t n = EnhancedAt(s, p);
  if (n == 0) return {};
  const std::size_t end = p + n;
  if (end < s.size() && s[end] != ' ' && s[end] != '(' && s[end] != ';' && s[end] != ',') return {};
  return s.substr(p, n);
}

bool IsGenericEnhancedCode(std::string_view s) {
  return s.size() == 5 && s.substr(1) == ".0.0";
}

int FindReplyCode(std::string_view t) {
  for (std::size_t p = 0; p + 3 <= t.size(); ++p) {
    const char c = t[p];
    if (!(c == '2' || c == '4' || c == '5') || !IsDigit(t[p + 1]) || !IsDigit(t[p + 2])) continue;
    if (p > 0 && (IsAlnum(t[p - 1]) || t[p - 1] == '.' || t[p - 1] == '#' || t[p - 1] == '=')) {
      continue;
    }
    if (p + 3 < t.size()) {
      const char n = t[p + 3];
      if (IsAlnum(n) || n == '.' || n == ']' || n == ')' || n == ':' || n == '/') continue;
    }
    return (c - '0') * 100 + (t[p + 1] - '0') * 10 + (t[p + 2] - '0');
  }
  return 0;
}

std::string_view FindEnhancedCode(std::string_view t) {
  // A code's class digit is always followed by '.', so only the byte before a '.' can start one:
  // jump from dot to dot (find is memchr) instead of a test per byte (the same candidates in the
  // same order).
  for (std::size_t dot = t.find('.', 1); dot != std::string_view::npos;
       dot = t.find('.', dot + 1)) {
    const std::size_t p = dot - 1;
    if (!(t[p] == '2' || t[p] == '4' || t[p] == '5')) continue;
    if (p > 0 && (IsDigit(t[p - 1]) || t[p - 1] == '.')) continue;
    const std::size_t n = EnhancedAt(t, p);
    if (n == 0) continue;
    const std::size_t end = p + n;
    if (end < t.size() && (IsDigit(t[end]) ||
                           (t[end] == '.' && end + 1 < t.size() && IsDigit(t[end + 1])))) {
      continue;
    }
    return t.substr(p, n);
  }
  return {};
}

std::optional<Vendor> VendorOfHost(const std::vector<MxFingerprint>& table, std::string_view host) {
  while (!host.empty() && (host.back() == '.' || host.back() == ']' || host.back() == ' ')) {
    host.remove_suffix(1);
  }
  if (host.empty()) return std::nullopt;
  for (const auto& entry : table) {
    const std::string_view suffix = entry.suffix;
    if (suffix.size() > host.size()) continue;
    const std::size_t start = host.size() - suffix.size();
    bool same = true;
    for (std::size_t k = 0; k < suffix.size() && same; ++k) {
      same = Lower(host[start + k]) == suffix[k];
    }
    if (same && (start == 0 || host[start - 1] == '.')) return entry.vendor;
  }
  return std::nullopt;
}

}  // namespace bouncestream::classify::internal
