#include "state/decision.h"

#include <charconv>
#include <cstdio>

#include "state/observation.h"

namespace bouncestream::state {
namespace {

constexpr char kSep = '\x1F';

// Printable ASCII other than '"' and '\\': copied as it is.
constexpr bool Plain(unsigned char c) { return c >= 0x20 && c < 0x7F && c != '"' && c != '\\'; }

// Appends `s` as a JSON string: quotes, backslash and control characters escaped, invalid UTF-8
// (overlong forms, surrogates, code points above U+10FFFF, truncated sequences) replaced by
// U+FFFD.
void AppendJsonString(std::string_view s, std::string* out) {
  static constexpr char kHex[] = "0123456789abcdef";
  static constexpr std::string_view kReplacement = "\xEF\xBF\xBD";
  out->push_back('"');
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const std::size_t n = s.size();
  std::size_t i = 0;
  while (i < n) {
    // A run of plain bytes goes out in one append.
    std::size_t run = i;
    while (run < n && Plain(p[run])) ++run;
    if (run > i) {
      out->append(s.data() + i, run - i);
      i = run;
      if (i == n) break;
    }
    unsigned char c = p[i];
    if (c < 0x80) {
      switch (c) {
        case '"': out->append("\\\""); break;
        case '\\': out->append("\\\\"); break;
        case '\n': out->append("\\n"); break;
        case '\r': out->append("\\r"); break;
        case '\t': out->append("\\t"); break;
        case '\b': out->append("\\b"); break;
        case '\f': out->append("\\f"); break;
        default:
          if (c < 0x20 || c == 0x7F) {
            out->append("\\u00");
            out->push_back(kHex[c >> 4]);
            out->push_back(kHex[c & 15]);
          } else {
            out->push_back(static_cast<char>(c));
          }
      }
      ++i;
      continue;
    }
    std::size_t len = 0;
    std::uint32_t cp = 0, min = 0;
    if ((c & 0xE0) == 0xC0) {
      len = 2, cp = c & 0x1F, min = 0x80;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3, cp = c & 0x0F, min = 0x800;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4, cp = c & 0x07, min = 0x10000;
    }
    bool ok = len != 0 && i + len <= n;
    for (std::size_t k = 1; ok && k < len; ++k) {
      if ((p[i + k] & 0xC0) != 0x80) {
        ok = false;
      } else {
        cp = (cp << 6) | (p[i + k] & 0x3F);
      }
    }
    if (ok && (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))) ok = false;
    if (ok) {
      out->append(s.substr(i, len));
      i += len;
    } else {
      out->append(kReplacement);
      ++i;
      // Skip the continuation bytes of the broken sequence.
      while (i < n && (p[i] & 0xC0) == 0x80) ++i;
    }
  }
  out->push_back('"');
}

void AppendKey(std::string_view key, std::string* out) {
  out->push_back('"');
  out->append(key);
  out->append("\":");
}

void AppendField(std::string_view key, std::string_view value, std::string* out) {
  AppendKey(key, out);
  AppendJsonString(value, out);
  out->push_back(',');
}

void AppendInt(std::string_view key, std::int64_t v, std::string* out) {
  AppendKey(key, out);
  char buf[24];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  out->append(buf, r.ptr);
  out->push_back(',');
}

void AppendTime(std::string_view key, std::int64_t ms, bool null_when_zero, std::string* out) {
  AppendKey(key, out);
  if (null_when_zero && ms == 0) {
    out->append("null,");
    return;
  }
  out->push_back('"');
  AppendRfc3339Ms(ms, out);
  out->append("\",");
}

}  // namespace

void AppendRfc3339Ms(std::int64_t unix_ms, std::string* out) {
  std::int64_t secs = unix_ms / 1000, ms = unix_ms % 1000;
  if (ms < 0) {
    ms += 1000;
    --secs;
  }
  std::int64_t days = secs / 86400, rem = secs % 86400;
  if (rem < 0) {
    rem += 86400;
    --days;
  }
  // Howard Hinnant's civil_from_days.
  std::int64_t z = days + 719468;
  std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  std::int64_t doe = z - era * 146097;
  std::int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  std::int64_t y = yoe + era * 400;
  std::int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  std::int64_t mp = (5 * doy + 2) / 153;
  std::int64_t d = doy - (153 * mp + 2) / 5 + 1;
  std::int64_t m = mp < 10 ? mp + 3 : mp - 9;
  if (m <= 2) ++y;
  if (y < 0 || y > 9999) {  // outside the four-digit years: the printf form
    char buf[160];
    std::snprintf(buf, sizeof buf, "%04lld-%02lld-%02lldT%02lld:%02lld:%02lld.%03lldZ",
                  static_cast<long long>(y), static_cast<long long>(m),
                  static_cast<long long>(d), static_cast<long long>(rem / 3600),
                  static_cast<long long>(rem / 60 % 60), static_cast<long long>(rem % 60),
                  static_cast<long long>(ms));
    out->append(buf);
    return;
  }
  // YYYY-MM-DDTHH:MM:SS.mmmZ, digit by digit (this runs for every time field of every decision).
  char b[25] = "0000-00-00T00:00:00.000Z";
  auto two = [&b](int at, std::int64_t v) {
    b[at] = static_cast<char>('0' + v / 10);
    b[at + 1] = static_cast<char>('0' + v % 10);
  };
  two(0, y / 100);
  two(2, y % 100);
  two(5, m);
  two(8, d);
  two(11, rem / 3600);
  two(14, rem / 60 % 60);
  two(17, rem % 60);
  b[20] = static_cast<char>('0' + ms / 100);
  two(21, ms % 100);
  out->append(b, 24);
}

std::string FormatRfc3339Ms(std::int64_t unix_ms) {
  std::string s;
  AppendRfc3339Ms(unix_ms, &s);
  return s;
}

std::string_view SignalName(Signal s) {
  switch (s) {
    case Signal::kHardInvalid: return "hard_invalid";
    case Signal::kComplaint: return "complaint";
    case Signal::kSoft: return "soft";
    case Signal::kEndUserBlock: return "end_user_block";
    case Signal::kAdminBlock: return "admin_block";
    case Signal::kPlatformBlock: return "platform_block";
    case Signal::kSenderConfig: return "sender_config";
    case Signal::kTransient: return "transient";
    case Signal::kDelivered: return "delivered";
    case Signal::kOther: return "other";
  }
  return "other";
}

std::string_view ToString(DecisionKind k) {
  switch (k) {
    case DecisionKind::kSuppress: return "suppress";
    case DecisionKind::kLift: return "lift";
    case DecisionKind::kPause: return "pause";
    case DecisionKind::kResume: return "resume";
    case DecisionKind::kAlert: return "alert";
  }
  return "suppress";
}

std::string_view ToString(Scope s) {
  switch (s) {
    case Scope::kTenant: return "tenant";
    case Scope::kSender: return "sender";
    case Scope::kDomain: return "domain";
    case Scope::kIpVendor: return "ip_vendor";
  }
  return "tenant";
}

std::optional<DecisionKind> ParseDecisionKind(std::string_view s) {
  for (auto k : {DecisionKind::kSuppress, DecisionKind::kLift, DecisionKind::kPause,
                 DecisionKind::kResume, DecisionKind::kAlert}) {
    if (ToString(k) == s) return k;
  }
  return std::nullopt;
}

std::optional<Scope> ParseScope(std::string_view s) {
  for (auto k : {Scope::kTenant, Scope::kSender, Scope::kDomain, Scope::kIpVendor}) {
    if (ToString(k) == s) return k;
  }
  return std::nullopt;
}

bool IsAlertDecision(const Decision& d) {
  return d.kind == DecisionKind::kAlert ||
         (d.kind == DecisionKind::kLift && d.scope == Scope::kSender && d.recipient.empty());
}

Stream StreamOf(const Decision& d) {
  if (IsAlertDecision(d)) return Stream::kAlerts;
  if (d.kind == DecisionKind::kPause || d.kind == DecisionKind::kResume ||
      d.scope == Scope::kDomain || d.scope == Scope::kIpVendor) {
    return Stream::kBlocks;
  }
  return Stream::kSuppressions;
}

std::string RecordKey(const Decision& d) {
  std::string k;
  auto add = [&k](std::string_view f) {
    if (!k.empty()) k.push_back(kSep);
    k.append(f);
  };
  switch (StreamOf(d)) {
    case Stream::kSuppressions:
      k.append(d.tenant);
      k.push_back(kSep);
      k.append(d.recipient);
      if (d.scope == Scope::kSender) add(d.sender);
      break;
    case Stream::kBlocks:
      if (d.scope == Scope::kIpVendor) {
        k.append(d.sending_ip);
        k.push_back(kSep);
        k.append(d.vendor);
      } else {
        k.append(d.tenant);
        k.push_back(kSep);
        k.append(d.sender);
        k.push_back(kSep);
        k.append(d.domain);
      }
      break;
    case Stream::kAlerts:
      k.append(d.tenant);
      k.push_back(kSep);
      k.append(d.sender);
      k.push_back(kSep);
      k.append(d.reason);
      break;
  }
  return k;
}

void EncodeJson(const Decision& d, std::string* out) {
  out->push_back('{');
  AppendField("decision_id", d.decision_id, out);
  AppendField("kind", ToString(d.kind), out);
  AppendField("scope", ToString(d.scope), out);
  AppendField("tenant", d.tenant, out);
  AppendField(d.recipient_is_hash ? "recipient_hash" : "recipient", d.recipient, out);
  AppendField("sender", d.sender, out);
  AppendField("domain", d.domain, out);
  AppendField("sending_ip", d.sending_ip, out);
  AppendField("vendor", d.vendor, out);
  AppendField("dnsbl", d.dnsbl, out);
  AppendField("reason", d.reason, out);
  AppendField("party", d.party, out);
  AppendField("rule", d.rule, out);
  AppendField("classifier_rule", d.classifier_rule, out);
  AppendField("origin", d.origin, out);
  AppendField("note", d.note, out);
  AppendKey("evidence", out);
  out->push_back('{');
  AppendInt("count", d.evidence.count, out);
  AppendTime("first_seen", d.evidence.first_seen_ms, true, out);
  AppendTime("last_seen", d.evidence.last_seen_ms, true, out);
  AppendField("example", d.evidence.example, out);
  AppendKey("event_id", out);
  AppendJsonString(d.evidence.event_id, out);
  out->append("},");
  AppendTime("decided_at", d.decided_at_ms, false, out);
  AppendTime("expires_at", d.expires_at_ms, true, out);
  out->back() = '}';
}

}  // namespace bouncestream::state
