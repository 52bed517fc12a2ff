#include "stream/json_writer.h"

#include <array>
#include <charconv>
#include <cstring>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace bouncestream::stream {
namespace {

// Bytes that leave the plain-copy path: control characters, '"', '\\' and every byte >= 0x80
// (UTF-8 is checked sequence by sequence).
constexpr std::array<bool, 256> kSpecial = [] {
  std::array<bool, 256> t{};
  for (int c = 0; c < 256; ++c) t[c] = c < 0x20 || c >= 0x80 || c == '"' || c == '\\';
  return t;
}();

// Index of the first special byte in s[i..], or s.size().
std::size_t PlainRun(std::string_view s, std::size_t i) {
  const char* p = s.data();
  const std::size_t n = s.size();
#if defined(__SSE2__)
  const __m128i quote = _mm_set1_epi8('"');
  const __m128i backslash = _mm_set1_epi8('\\');
  const __m128i space = _mm_set1_epi8(0x20);
  for (; i + 16 <= n; i += 16) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + i));
    // Signed compare: bytes >= 0x80 are negative, so "< 0x20" catches them with the controls.
    const __m128i special = _mm_or_si128(
        _mm_cmplt_epi8(v, space), _mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, backslash)));
    if (const int mask = _mm_movemask_epi8(special); mask != 0) {
      return i + static_cast<std::size_t>(__builtin_ctz(static_cast<unsigned>(mask)));
    }
  }
#endif
  while (i < n && !kSpecial[static_cast<unsigned char>(p[i])]) ++i;
  return i;
}

// Length of the valid UTF-8 sequence at s[i], or 0 if the bytes there are not valid UTF-8.
std::size_t Utf8Length(std::string_view s, std::size_t i) {
  const auto b0 = static_cast<unsigned char>(s[i]);
  auto cont = [&](std::size_t k) {
    return i + k < s.size() && (static_cast<unsigned char>(s[i + k]) & 0xC0) == 0x80;
  };
  if (b0 >= 0xC2 && b0 <= 0xDF) return cont(1) ? 2 : 0;
  if (b0 >= 0xE0 && b0 <= 0xEF) {
    if (!cont(1) || !cont(2)) return 0;
    const auto b1 = static_cast<unsigned char>(s[i + 1]);
    if (b0 == 0xE0 && b1 < 0xA0) return 0;   // overlong
    if (b0 == 0xED && b1 >= 0xA0) return 0;  // surrogates
    return 3;
  }
  if (b0 >= 0xF0 && b0 <= 0xF4) {
    if (!cont(1) || !cont(2) || !cont(3)) return 0;
    const auto b1 = static_cast<unsigned char>(s[i + 1]);
    if (b0 == 0xF0 && b1 < 0x90) return 0;
    if (b0 == 0xF4 && b1 >= 0x90) return 0;
    return 4;
  }
  return 0;
}

}  // namespace

void JsonWriter::AppendString(std::string_view s) {
  std::string& out = *out_;
  out.push_back('"');
  std::size_t i = 0;
  while (i < s.size()) {
    const std::size_t j = PlainRun(s, i);
    if (j != i) {
      out.append(s.data() + i, j - i);
      i = j;
      if (i == s.size()) break;
    }
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x80) {
      // A run of valid multi-byte sequences is copied in one piece.
      std::size_t k = i;
      while (k < s.size() && static_cast<unsigned char>(s[k]) >= 0x80) {
        const std::size_t n = Utf8Length(s, k);
        if (n == 0) break;
        k += n;
      }
      if (k != i) {
        out.append(s.data() + i, k - i);
        i = k;
      } else {
        out.append("\\ufffd");
        ++repairs_;
        ++i;
      }
      continue;
    }
    switch (c) {
      case '"': out.append("\\\""); break;
      case '\\': out.append("\\\\"); break;
      case '\n': out.append("\\n"); break;
      case '\r': out.append("\\r"); break;
      case '\t': out.append("\\t"); break;
      default: {
        static constexpr char kHex[] = "0123456789abcdef";
        const char u[6] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 15]};
        out.append(u, sizeof u);
      }
    }
    ++i;
  }
  out.push_back('"');
}

void JsonWriter::Int(std::int64_t v) {
  Sep();
  char buf[24];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  out_->append(buf, static_cast<std::size_t>(r.ptr - buf));
}

void JsonWriter::Double(double v, int decimals) {
  Sep();
  // std::to_chars with a precision prints as printf("%.*f") does in the C locale.
  char buf[352];  // the longest fixed-format double (DBL_MAX with decimals) fits
  const auto r = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::fixed, decimals);
  if (r.ec == std::errc{}) {
    out_->append(buf, static_cast<std::size_t>(r.ptr - buf));
  } else {
    out_->append("0");
  }
}

}  // namespace bouncestream::stream
