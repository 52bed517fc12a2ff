// Helpers shared by the MTA/ESP adapters: strict string readers, document framing, and the small
// text surgery that turns each vendor's reply fields into a wire-like "550 5.1.1 ..." line.
#include <cstring>

#include "stream/internal/decode_impl.h"

namespace bouncestream::stream {

namespace decode {

simdjson::error_code ReadString(simdjson::ondemand::value value, Arena& arena,
                                std::string_view* out) {
  simdjson::ondemand::json_type type;
  if (auto err = value.type().get(type)) return err;
  if (type == simdjson::ondemand::json_type::null) {
    bool null = false;
    if (auto err = value.is_null().get(null)) return err;
    *out = {};
    return simdjson::SUCCESS;
  }
  if (type != simdjson::ondemand::json_type::string) return simdjson::INCORRECT_TYPE;
  return StringValue(value, &arena, out);
}

simdjson::error_code PeekString(simdjson::ondemand::value value, std::string_view* out) {
  simdjson::ondemand::json_type type;
  if (auto err = value.type().get(type)) return err;
  if (type == simdjson::ondemand::json_type::null) {
    bool null = false;
    if (auto err = value.is_null().get(null)) return err;
    *out = {};
    return simdjson::SUCCESS;
  }
  if (type != simdjson::ondemand::json_type::string) return simdjson::INCORRECT_TYPE;
  return StringValue(value, nullptr, out);
}

bool IsNull(simdjson::ondemand::value value) {
  simdjson::ondemand::json_type type;
  if (value.type().get(type) || type != simdjson::ondemand::json_type::null) return false;
  bool null = false;
  return !value.is_null().get(null) && null;
}

DecodeStatus RootObject(simdjson::ondemand::document& doc, std::string_view what,
                        simdjson::ondemand::object* obj) {
  simdjson::ondemand::json_type type;
  if (auto err = doc.type().get(type)) return std::unexpected(JsonError(err, "document"));
  if (type != simdjson::ondemand::json_type::object) {
    return std::unexpected(Error("not_object", std::string(what) + " must be a JSON object"));
  }
  if (auto err = doc.get_object().get(*obj)) return std::unexpected(JsonError(err, "document"));
  return {};
}

DecodeStatus ExpectEnd(simdjson::ondemand::document& doc) {
  auto location = doc.current_location();
  if (location.error() == simdjson::OUT_OF_BOUNDS) return {};
  if (location.error()) return std::unexpected(JsonError(location.error(), "document"));
  return std::unexpected(Error("json_syntax", "document: trailing content after the JSON value"));
}

DecodeStatus ReadTimeField(simdjson::ondemand::value value, std::string_view field,
                           std::int64_t* ms) {
  if (IsNull(value)) return {};
  if (!ReadTime(value, ms)) {
    return std::unexpected(
        Error("bad_field", std::string(field) + ": not Unix seconds/ms or RFC 3339"));
  }
  return {};
}

namespace {
char Lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }
}  // namespace

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (Lower(a[i]) != Lower(b[i])) return false;
  }
  return true;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && IsSpace(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsSpace(s.back())) s.remove_suffix(1);
  return s;
}

std::string_view StripDiagnosticType(std::string_view s) {
  s = Trim(s);
  std::size_t i = 0;
  while (i < s.size() && i < 16 &&
         ((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') || s[i] == '-')) {
    ++i;
  }
  if (i > 0 && i < s.size() && s[i] == ';') return Trim(s.substr(i + 1));
  return s;
}

std::string_view StripPort(std::string_view s) {
  s = Trim(s);
  if (!s.empty() && s.front() == '[') {
    const auto close = s.find(']');
    return close == std::string_view::npos ? s : s.substr(1, close - 1);
  }
  const auto colon = s.find(':');
  if (colon != std::string_view::npos && s.find(':', colon + 1) == std::string_view::npos) {
    return s.substr(0, colon);
  }
  return s;
}

std::string_view StripTrailingDot(std::string_view s) {
  if (!s.empty() && s.back() == '.') s.remove_suffix(1);
  return s;
}

bool LooksLikeIp(std::string_view s) {
  if (s.empty()) return false;
  std::size_t colons = 0, dots = 0;
  for (char c : s) {
    if (c == ':') {
      ++colons;
    } else if (c == '.') {
      ++dots;
    } else if (!IsDigit(c) && !(Lower(c) >= 'a' && Lower(c) <= 'f')) {
      return false;
    }
  }
  if (colons >= 2) return true;
  if (colons != 0 || dots != 3) return false;
  for (char c : s) {
    if (c != '.' && !IsDigit(c)) return false;
  }
  return true;
}

bool LooksLikeEnhancedCode(std::string_view s) {
  if (s.size() < 5 || (s[0] != '2' && s[0] != '4' && s[0] != '5') || s[1] != '.') return false;
  std::size_t i = 2, digits = 0;
  while (i < s.size() && IsDigit(s[i])) ++i, ++digits;
  if (digits == 0 || digits > 3 || i >= s.size() || s[i] != '.') return false;
  ++i;
  digits = 0;
  while (i < s.size() && IsDigit(s[i])) ++i, ++digits;
  return digits > 0 && digits <= 3 && i == s.size();
}

int SmtpCodeOrZero(std::int64_t code) {
  return code >= 200 && code <= 599 ? static_cast<int>(code) : 0;
}

std::string_view ComposeReply(Arena& arena, int code, std::string_view enhanced,
                              std::string_view content) {
  char digits[3] = {};
  if (code >= 200 && code <= 599) {
    digits[0] = static_cast<char>('0' + code / 100);
    digits[1] = static_cast<char>('0' + code / 10 % 10);
    digits[2] = static_cast<char>('0' + code % 10);
    // The content already carries the code (some sources repeat it): keep it as it is.
    if (content.size() >= 3 && std::memcmp(content.data(), digits, 3) == 0 &&
        (content.size() == 3 || content[3] == ' ' || content[3] == '-')) {
      code = 0;
    }
  } else {
    code = 0;
  }
  if (!enhanced.empty() && content.substr(0, enhanced.size()) == enhanced) enhanced = {};
  if (code == 0 && enhanced.empty()) return content;  // already in the arena
  const std::size_t size = (code != 0 ? 3 : 0) + (enhanced.empty() ? 0 : enhanced.size() + 1) +
                           (content.empty() ? 0 : content.size() + 1);
  char* p = arena.Allocate(size);
  std::size_t n = 0;
  if (code != 0) {
    std::memcpy(p, digits, 3);
    n = 3;
  }
  auto append = [&](std::string_view part) {
    if (part.empty()) return;
    if (n != 0) p[n++] = ' ';
    std::memcpy(p + n, part.data(), part.size());
    n += part.size();
  };
  append(enhanced);
  append(content);
  return {p, n};
}

void FillReplyCodes(BounceEvent* ev) {
  if (ev->smtp_code != 0 && !ev->enhanced_code.empty()) return;
  int code = 0;
  std::string_view enhanced;
  SplitReply(ev->text, &code, &enhanced);
  if (ev->smtp_code == 0) ev->smtp_code = code;
  if (ev->enhanced_code.empty()) ev->enhanced_code = enhanced;
}

void SplitHostAndAddress(std::string_view s, std::string_view* host, std::string_view* address) {
  s = Trim(s);
  std::string_view first = s, inner;
  const auto open = s.find(" (");
  if (open != std::string_view::npos) {
    first = s.substr(0, open);
    const auto close = s.find(')', open);
    inner = s.substr(open + 2,
                     close == std::string_view::npos ? std::string_view::npos : close - open - 2);
  } else if (const auto bracket = s.find('['); bracket != std::string_view::npos && bracket > 0) {
    // Postfix style "host[192.0.2.1]:25".
    first = s.substr(0, bracket);
    const auto close = s.find(']', bracket);
    inner = s.substr(bracket + 1, close == std::string_view::npos ? std::string_view::npos
                                                                  : close - bracket - 1);
  }
  first = Trim(first);
  inner = Trim(inner);
  const std::string_view first_address = StripPort(first);
  if (LooksLikeIp(first_address)) {
    *address = first_address;
    if (!inner.empty() && !LooksLikeIp(inner)) *host = StripTrailingDot(inner);
  } else {
    *host = StripTrailingDot(first);
    if (LooksLikeIp(StripPort(inner))) *address = StripPort(inner);
  }
}

void MergeMissing(const BounceEvent& tmpl, BounceEvent* ev) {
  auto take = [](std::string_view from, std::string_view* to) {
    if (to->empty()) *to = from;
  };
  take(tmpl.id, &ev->id);
  take(tmpl.tenant, &ev->tenant);
  take(tmpl.sender, &ev->sender);
  take(tmpl.recipient, &ev->recipient);
  take(tmpl.mx, &ev->mx);
  take(tmpl.remote_ip, &ev->remote_ip);
  take(tmpl.sending_ip, &ev->sending_ip);
  take(tmpl.enhanced_code, &ev->enhanced_code);
  take(tmpl.text, &ev->text);
  if (ev->time_ms == 0) ev->time_ms = tmpl.time_ms;
  if (ev->smtp_code == 0) ev->smtp_code = tmpl.smtp_code;
  ev->type = tmpl.type;
}

DecodeStatus GetString(simdjson::ondemand::value value, Arena& arena, std::string_view field,
                       std::string_view* out) {
  if (auto err = ReadString(value, arena, out)) return std::unexpected(JsonError(err, field));
  return {};
}

DecodeStatus GetText(simdjson::ondemand::value value, Arena& arena, std::string_view field,
                     std::string_view* out) {
  if (auto err = ReadText(value, arena, out)) return std::unexpected(JsonError(err, field));
  return {};
}

DecodeStatus GetPeek(simdjson::ondemand::value value, std::string_view field,
                     std::string_view* out) {
  if (auto err = PeekString(value, out)) return std::unexpected(JsonError(err, field));
  return {};
}

DecodeStatus GetInt(simdjson::ondemand::value value, std::string_view field, std::int64_t* out) {
  if (auto err = ReadInt(value, out)) return std::unexpected(JsonError(err, field));
  return {};
}

DecodeStatus ForEachEventObject(Decoder::Impl& impl, std::string_view payload,
                                std::string_view shape, EventObjectFn one,
                                std::vector<BounceEvent>* out) {
  simdjson::ondemand::document doc;
  if (auto err = impl.Iterate(payload).get(doc)) {
    return std::unexpected(JsonError(err, "document"));
  }
  simdjson::ondemand::json_type type;
  if (auto err = doc.type().get(type)) return std::unexpected(JsonError(err, "document"));
  if (type == simdjson::ondemand::json_type::object) {
    simdjson::ondemand::value v;
    if (auto err = doc.get_value().get(v)) return std::unexpected(JsonError(err, "document"));
    if (auto st = one(v, impl.arena, out); !st) return st;
  } else if (type == simdjson::ondemand::json_type::array) {
    simdjson::ondemand::array arr;
    if (auto err = doc.get_array().get(arr)) return std::unexpected(JsonError(err, "document"));
    std::size_t count = 0;
    for (auto element : arr) {
      simdjson::ondemand::value v;
      if (auto err = element.get(v)) return std::unexpected(JsonError(err, "event"));
      simdjson::ondemand::json_type element_type;
      if (auto err = v.type().get(element_type)) return std::unexpected(JsonError(err, "event"));
      if (element_type != simdjson::ondemand::json_type::object) {
        return std::unexpected(Error("not_object", "array element is not a JSON object"));
      }
      if (auto st = one(v, impl.arena, out); !st) return st;
      ++count;
    }
    if (count == 0) return std::unexpected(Error("empty", "an empty array of events"));
  } else {
    return std::unexpected(Error("not_object", std::string(shape)));
  }
  return ExpectEnd(doc);
}

}  // namespace decode
}  // namespace bouncestream::stream
