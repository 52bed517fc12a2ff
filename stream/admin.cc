#include "stream/admin.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <simdjson.h>

#include <chrono>

#include "stream/config.h"
#include "stream/json_writer.h"

namespace bouncestream::stream {
namespace {

namespace dom = simdjson::dom;

constexpr char kHex[] = "0123456789abcdef";

std::string Hex(const unsigned char* p, std::size_t n) {
  std::string out;
  out.reserve(2 * n);
  for (std::size_t i = 0; i < n; ++i) {
    out.push_back(kHex[p[i] >> 4]);
    out.push_back(kHex[p[i] & 15]);
  }
  return out;
}

std::string FieldError(std::string_view what, std::string_view field) {
  return std::string(what) + ": field '" + std::string(field) + "' has the wrong type";
}

// Reads a string field into `out` when present (null counts as absent).
std::expected<void, std::string> Str(dom::object o, std::string_view key, std::string* out,
                                     std::string_view what) {
  dom::element e;
  if (o.at_key(key).get(e) != simdjson::SUCCESS || e.is_null()) return {};
  std::string_view s;
  if (e.get_string().get(s) != simdjson::SUCCESS) return std::unexpected(FieldError(what, key));
  out->assign(s);
  return {};
}

std::expected<void, std::string> Int(dom::object o, std::string_view key, std::int64_t* out,
                                     std::string_view what) {
  dom::element e;
  if (o.at_key(key).get(e) != simdjson::SUCCESS || e.is_null()) return {};
  std::int64_t v = 0;
  if (e.get_int64().get(v) != simdjson::SUCCESS) return std::unexpected(FieldError(what, key));
  *out = v;
  return {};
}

// A time as an RFC 3339 string or Unix milliseconds.
std::expected<void, std::string> Time(dom::object o, std::string_view key, std::int64_t* out,
                                      std::string_view what) {
  dom::element e;
  if (o.at_key(key).get(e) != simdjson::SUCCESS || e.is_null()) return {};
  std::int64_t v = 0;
  if (e.get_int64().get(v) == simdjson::SUCCESS) {
    *out = v;
    return {};
  }
  std::string_view s;
  if (e.get_string().get(s) != simdjson::SUCCESS) return std::unexpected(FieldError(what, key));
  auto t = ParseTimeMs(s);
  if (!t) return std::unexpected(std::string(what) + ": field '" + std::string(key) +
                                 "' is not a time");
  *out = *t;
  return {};
}

#define BS_TRY(expr)                                 \
  do {                                               \
    if (auto r_ = (expr); !r_) return std::unexpected(r_.error()); \
  } while (false)

std::expected<state::Decision, std::string> DecisionFromObject(dom::object o) {
  constexpr std::string_view w = "decision";
  state::Decision d;
  BS_TRY(Str(o, "decision_id", &d.decision_id, w));
  std::string kind, scope;
  BS_TRY(Str(o, "kind", &kind, w));
  BS_TRY(Str(o, "scope", &scope, w));
  if (!kind.empty()) {
    auto k = state::ParseDecisionKind(kind);
    if (!k) return std::unexpected(std::string("decision: unknown kind"));
    d.kind = *k;
  }
  if (!scope.empty()) {
    auto s = state::ParseScope(scope);
    if (!s) return std::unexpected(std::string("decision: unknown scope"));
    d.scope = *s;
  }
  BS_TRY(Str(o, "tenant", &d.tenant, w));
  std::string hash;
  BS_TRY(Str(o, "recipient_hash", &hash, w));
  if (!hash.empty()) {
    d.recipient = std::move(hash);
    d.recipient_is_hash = true;
  } else {
    BS_TRY(Str(o, "recipient", &d.recipient, w));
  }
  BS_TRY(Str(o, "sender", &d.sender, w));
  BS_TRY(Str(o, "domain", &d.domain, w));
  BS_TRY(Str(o, "sending_ip", &d.sending_ip, w));
  BS_TRY(Str(o, "vendor", &d.vendor, w));
  BS_TRY(Str(o, "dnsbl", &d.dnsbl, w));
  BS_TRY(Str(o, "reason", &d.reason, w));
  BS_TRY(Str(o, "party", &d.party, w));
  BS_TRY(Str(o, "rule", &d.rule, w));
  BS_TRY(Str(o, "classifier_rule", &d.classifier_rule, w));
  BS_TRY(Str(o, "origin", &d.origin, w));
  BS_TRY(Str(o, "note", &d.note, w));
  dom::element ev;
  if (o.at_key("evidence").get(ev) == simdjson::SUCCESS && !ev.is_null()) {
    dom::object eo;
    if (ev.get_object().get(eo) != simdjson::SUCCESS) {
      return std::unexpected(FieldError(w, "evidence"));
    }
    constexpr std::string_view we = "decision evidence";
    BS_TRY(Int(eo, "count", &d.evidence.count, we));
    BS_TRY(Time(eo, "first_seen", &d.evidence.first_seen_ms, we));
    BS_TRY(Time(eo, "last_seen", &d.evidence.last_seen_ms, we));
    BS_TRY(Str(eo, "example", &d.evidence.example, we));
    BS_TRY(Str(eo, "event_id", &d.evidence.event_id, we));
  }
  BS_TRY(Time(o, "decided_at", &d.decided_at_ms, w));
  BS_TRY(Time(o, "expires_at", &d.expires_at_ms, w));
  return d;
}

// Fixed-width digits; -1 when any is not a digit.
int Digits(std::string_view s, std::size_t pos, std::size_t n) {
  if (pos + n > s.size()) return -1;
  int v = 0;
  for (std::size_t i = pos; i < pos + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return -1;
    v = v * 10 + (s[i] - '0');
  }
  return v;
}

std::int64_t DaysFromCivil(std::int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

}  // namespace

// ---- admin commands -------------------------------------------------------------------------

std::string_view ToString(AdminCommandKind k) {
  switch (k) {
    case AdminCommandKind::kLift: return "lift";
    case AdminCommandKind::kErase: return "erase";
    case AdminCommandKind::kImport: return "import";
  }
  return "lift";
}

std::optional<AdminCommandKind> ParseAdminCommandKind(std::string_view s) {
  for (auto k : {AdminCommandKind::kLift, AdminCommandKind::kErase, AdminCommandKind::kImport}) {
    if (ToString(k) == s) return k;
  }
  return std::nullopt;
}

std::string EncodeAdminCommand(const AdminCommand& c) {
  std::string out;
  JsonWriter w(&out);
  w.BeginObject();
  w.Field("command", ToString(c.command));
  w.Field("request_id", c.request_id);
  w.Field("decision_id", c.decision_id);
  w.Field("tenant", c.tenant);
  w.Field("recipient", c.recipient);
  w.Field("note", c.note);
  w.Key("decisions");
  w.BeginArray();
  std::string d;
  for (std::size_t i = 0; i < c.decisions.size(); ++i) {
    d.clear();
    state::EncodeJson(c.decisions[i], &d);
    if (i > 0) out.push_back(',');
    out.append(d);
  }
  w.EndArray();
  w.Field("issued_at", state::FormatRfc3339Ms(c.issued_at_ms));
  w.EndObject();
  return out;
}

std::expected<AdminCommand, std::string> DecodeAdminCommand(std::string_view value) {
  constexpr std::string_view w = "admin command";
  dom::parser parser;
  dom::element root;
  if (parser.parse(value.data(), value.size(), true).get(root) != simdjson::SUCCESS) {
    return std::unexpected(std::string("admin command: not valid JSON"));
  }
  dom::object o;
  if (root.get_object().get(o) != simdjson::SUCCESS) {
    return std::unexpected(std::string("admin command: not a JSON object"));
  }
  AdminCommand c;
  std::string command;
  BS_TRY(Str(o, "command", &command, w));
  if (command.empty()) return std::unexpected(std::string("admin command: no 'command'"));
  auto kind = ParseAdminCommandKind(command);
  if (!kind) return std::unexpected(std::string("admin command: unknown 'command'"));
  c.command = *kind;
  BS_TRY(Str(o, "request_id", &c.request_id, w));
  BS_TRY(Str(o, "decision_id", &c.decision_id, w));
  BS_TRY(Str(o, "tenant", &c.tenant, w));
  BS_TRY(Str(o, "recipient", &c.recipient, w));
  BS_TRY(Str(o, "note", &c.note, w));
  BS_TRY(Time(o, "issued_at", &c.issued_at_ms, w));
  if (c.request_id.empty()) return std::unexpected(std::string("admin command: no 'request_id'"));
  dom::element ds;
  if (o.at_key("decisions").get(ds) == simdjson::SUCCESS && !ds.is_null()) {
    dom::array arr;
    if (ds.get_array().get(arr) != simdjson::SUCCESS) {
      return std::unexpected(FieldError(w, "decisions"));
    }
    std::size_t i = 0;
    for (dom::element e : arr) {
      dom::object eo;
      if (e.get_object().get(eo) != simdjson::SUCCESS) {
        return std::unexpected("admin command: decisions[" + std::to_string(i) +
                               "] is not an object");
      }
      auto d = DecisionFromObject(eo);
      if (!d) return std::unexpected("admin command: decisions[" + std::to_string(i) + "]: " +
                                     d.error());
      c.decisions.push_back(std::move(*d));
      ++i;
    }
  }
  switch (c.command) {
    case AdminCommandKind::kLift:
      if (c.decision_id.empty()) {
        return std::unexpected(std::string("admin command: lift without 'decision_id'"));
      }
      break;
    case AdminCommandKind::kErase:
      if (c.recipient.empty()) {
        return std::unexpected(std::string("admin command: erase without 'recipient'"));
      }
      break;
    case AdminCommandKind::kImport:
      if (c.decisions.empty()) {
        return std::unexpected(std::string("admin command: import without 'decisions'"));
      }
      break;
  }
  return c;
}

std::string SignAdminCommand(std::string_view token, std::string_view value) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), token.data(), static_cast<int>(token.size()),
       reinterpret_cast<const unsigned char*>(value.data()), value.size(), mac, &len);
  return Hex(mac, len);
}

bool VerifyAdminCommand(std::string_view token, std::string_view value, std::string_view auth) {
  if (token.empty()) return false;
  const std::string expected = SignAdminCommand(token, value);
  // The length is public (always 64); only the content is compared in constant time.
  if (auth.size() != expected.size()) return false;
  return CRYPTO_memcmp(expected.data(), auth.data(), expected.size()) == 0;
}

std::string NewRequestId() {
  unsigned char b[16];
  if (RAND_bytes(b, sizeof b) != 1) {
    // Extremely unlikely; fall back to the clock so the id is at least unique per process run.
    const auto t = std::chrono::steady_clock::now().time_since_epoch().count();
    for (std::size_t i = 0; i < sizeof b; ++i) {
      b[i] = static_cast<unsigned char>(static_cast<std::uint64_t>(t) >> ((i % 8) * 8));
    }
  }
  return Hex(b, sizeof b);
}

// ---- audit ----------------------------------------------------------------------------------

std::string EncodeAuditRecord(const AuditRecord& a) {
  std::string out;
  JsonWriter w(&out);
  w.BeginObject();
  w.Field("action", a.action);
  w.Field("request_id", a.request_id);
  w.Field("mode", a.mode);
  w.Field("decision_id", a.decision_id);
  w.Field("tenant", a.tenant);
  w.Field("recipient_hash", a.recipient_hash);
  w.Field("note", a.note);
  w.Field("decisions", a.decisions);
  w.Key("partitions");
  w.BeginArray();
  for (std::int32_t p : a.partitions) w.Int(p);
  w.EndArray();
  w.Field("at", state::FormatRfc3339Ms(a.at_ms));
  w.EndObject();
  return out;
}

// ---- decisions on their topics --------------------------------------------------------------

const std::string& DecisionTopic(const OutputTopics& topics, const state::Decision& d) {
  switch (state::StreamOf(d)) {
    case state::Stream::kSuppressions: return topics.suppressions;
    case state::Stream::kBlocks: return topics.blocks;
    case state::Stream::kAlerts: return topics.alerts;
  }
  return topics.suppressions;
}

bool PublishesTombstone(const state::Decision& d) {
  return d.origin == "erase" && state::StreamOf(d) == state::Stream::kSuppressions;
}

// ---- partitions -----------------------------------------------------------------------------

std::uint32_t Murmur2(std::string_view key) {
  constexpr std::uint32_t seed = 0x9747b28c;
  constexpr std::uint32_t m = 0x5bd1e995;
  constexpr int r = 24;
  const auto* data = reinterpret_cast<const unsigned char*>(key.data());
  const std::size_t length = key.size();
  std::uint32_t h = seed ^ static_cast<std::uint32_t>(length);
  const std::size_t length4 = length / 4;
  for (std::size_t i = 0; i < length4; ++i) {
    const std::size_t i4 = i * 4;
    std::uint32_t k = static_cast<std::uint32_t>(data[i4]) |
                      (static_cast<std::uint32_t>(data[i4 + 1]) << 8) |
                      (static_cast<std::uint32_t>(data[i4 + 2]) << 16) |
                      (static_cast<std::uint32_t>(data[i4 + 3]) << 24);
    k *= m;
    k ^= k >> r;
    k *= m;
    h *= m;
    h ^= k;
  }
  const std::size_t tail = length4 * 4;
  switch (length % 4) {
    case 3: h ^= static_cast<std::uint32_t>(data[tail + 2]) << 16; [[fallthrough]];
    case 2: h ^= static_cast<std::uint32_t>(data[tail + 1]) << 8; [[fallthrough]];
    case 1:
      h ^= static_cast<std::uint32_t>(data[tail]);
      h *= m;
  }
  h ^= h >> 13;
  h *= m;
  h ^= h >> 15;
  return h;
}

std::int32_t PartitionForKey(std::string_view key, std::int32_t partitions) {
  if (partitions <= 0) return 0;
  return static_cast<std::int32_t>((Murmur2(key) & 0x7fffffffu) %
                                   static_cast<std::uint32_t>(partitions));
}

std::string RecipientDomain(std::string_view address) {
  const auto at = address.rfind('@');
  if (at == std::string_view::npos) return {};
  std::string d(address.substr(at + 1));
  for (char& c : d) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return d;
}

// ---- decision JSON and times ----------------------------------------------------------------

std::expected<state::Decision, std::string> DecodeDecisionJson(std::string_view json) {
  dom::parser parser;
  dom::element root;
  if (parser.parse(json.data(), json.size(), true).get(root) != simdjson::SUCCESS) {
    return std::unexpected(std::string("decision: not valid JSON"));
  }
  dom::object o;
  if (root.get_object().get(o) != simdjson::SUCCESS) {
    return std::unexpected(std::string("decision: not a JSON object"));
  }
  return DecisionFromObject(o);
}

std::optional<std::int64_t> ParseTimeMs(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  if (s.empty()) return std::nullopt;
  bool all_digits = true;
  for (char c : s) all_digits &= c >= '0' && c <= '9';
  if (all_digits) {
    if (s.size() > 16) return std::nullopt;
    std::int64_t v = 0;
    for (char c : s) v = v * 10 + (c - '0');
    return s.size() >= 13 ? v : v * 1000;
  }
  const int y = Digits(s, 0, 4), mo = Digits(s, 5, 2), d = Digits(s, 8, 2);
  if (y < 0 || mo < 1 || mo > 12 || d < 1 || d > 31 || s[4] != '-' || s[7] != '-') {
    return std::nullopt;
  }
  std::int64_t ms = DaysFromCivil(y, static_cast<unsigned>(mo), static_cast<unsigned>(d)) *
                    86'400'000;
  if (s.size() == 10) return ms;
  if (s[10] != 'T' && s[10] != 't' && s[10] != ' ') return std::nullopt;
  const int hh = Digits(s, 11, 2), mm = Digits(s, 14, 2);
  if (hh < 0 || hh > 23 || mm < 0 || mm > 59 || s.size() < 16 || s[13] != ':') {
    return std::nullopt;
  }
  std::size_t i = 16;
  int ss = 0;
  if (i < s.size() && s[i] == ':') {
    ss = Digits(s, 17, 2);
    if (ss < 0 || ss > 60) return std::nullopt;
    i = 19;
  }
  ms += (hh * 3600LL + mm * 60LL + ss) * 1000;
  if (i < s.size() && (s[i] == '.' || s[i] == ',')) {
    ++i;
    int frac = 0, n = 0;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
      if (n < 3) frac = frac * 10 + (s[i] - '0');
      ++n;
      ++i;
    }
    if (n == 0) return std::nullopt;
    for (int k = n; k < 3; ++k) frac *= 10;
    ms += frac;
  }
  if (i == s.size()) return ms;  // no zone: UTC
  if ((s[i] == 'Z' || s[i] == 'z') && i + 1 == s.size()) return ms;
  if (s[i] == '+' || s[i] == '-') {
    const int oh = Digits(s, i + 1, 2);
    std::size_t j = i + 3;
    if (j < s.size() && s[j] == ':') ++j;
    const int om = Digits(s, j, 2);
    if (oh < 0 || om < 0 || j + 2 != s.size()) return std::nullopt;
    const std::int64_t off = (oh * 60LL + om) * 60'000;
    return s[i] == '+' ? ms - off : ms + off;
  }
  return std::nullopt;
}

}  // namespace bouncestream::stream
