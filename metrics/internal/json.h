// Minimal JSON output helpers for the server's responses (no parsing here).
#ifndef BOUNCESTREAM_METRICS_INTERNAL_JSON_H_
#define BOUNCESTREAM_METRICS_INTERNAL_JSON_H_

#include <cmath>
#include <cstdio>
#include <map>
#include <string>
#include <string_view>

namespace bouncestream::metrics::internal {

// Appends `s` as a JSON string literal (quotes included). Control characters and non-ASCII
// bytes that are not valid UTF-8 are escaped or replaced, so the output is always valid JSON.
inline void AppendJsonString(std::string* out, std::string_view s) {
  out->push_back('"');
  for (std::size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    switch (c) {
      case '"': out->append("\\\""); break;
      case '\\': out->append("\\\\"); break;
      case '\n': out->append("\\n"); break;
      case '\r': out->append("\\r"); break;
      case '\t': out->append("\\t"); break;
      case '<': out->append("\\u003c"); break;  // safe inside HTML too
      case '>': out->append("\\u003e"); break;
      case '&': out->append("\\u0026"); break;
      default:
        if (c < 0x20 || c == 0x7F) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out->append(buf);
        } else if (c < 0x80) {
          out->push_back(static_cast<char>(c));
        } else {
          // Validate one UTF-8 sequence; replace an invalid byte with U+FFFD.
          std::size_t len = c >= 0xF0 && c <= 0xF4 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 ? 2 : 0;
          if (c >= 0xF5) len = 0;
          bool ok = len != 0 && i + len <= s.size();
          for (std::size_t k = 1; ok && k < len; ++k) {
            ok = (static_cast<unsigned char>(s[i + k]) & 0xC0) == 0x80;
          }
          if (ok) {
            out->append(s.substr(i, len));
            i += len - 1;
          } else {
            out->append("\\ufffd");
          }
        }
    }
  }
  out->push_back('"');
}

inline void AppendJsonNumber(std::string* out, double v) {
  if (!std::isfinite(v)) {
    out->append("0");
    return;
  }
  char buf[32];
  if (v == std::floor(v) && std::fabs(v) < 9e15) {
    std::snprintf(buf, sizeof buf, "%.0f", v);
  } else {
    std::snprintf(buf, sizeof buf, "%.6g", v);
  }
  out->append(buf);
}

inline void AppendJsonMap(std::string* out, const std::map<std::string, double>& m) {
  out->push_back('{');
  bool first = true;
  for (const auto& [k, v] : m) {
    if (!first) out->push_back(',');
    first = false;
    AppendJsonString(out, k);
    out->push_back(':');
    AppendJsonNumber(out, v);
  }
  out->push_back('}');
}

}  // namespace bouncestream::metrics::internal

#endif  // BOUNCESTREAM_METRICS_INTERNAL_JSON_H_
