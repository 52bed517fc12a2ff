// Postfix delivery log lines (syslog; Mailcow's postfix-mailcow container logs the same), e.g.
//   Nov 22 10:00:00 mx1 postfix/smtp[1234]: 4ABC123DEF: to=<bob@example.net>,
//   relay=mx.example.net[192.0.2.5]:25, delay=1.2, delays=0.1/0/0.5/0.6, dsn=5.1.1,
//   status=bounced (host mx.example.net[192.0.2.5] said: 550 5.1.1 ... (in reply to RCPT TO
//   command))
// One line per payload. A line without `status=` is `bad_line` (feed only the delivery-status
// lines of smtp/lmtp/local/virtual/pipe and qmgr "expired" lines).
//
// `status=` -> event type:
//   sent -> delivered, bounced -> bounce, deferred -> deferral, expired -> expired,
//   deliverable / undeliverable (sender address verification probes) -> no event,
//   anything else -> bad_field.
// Fields:
//   recipient  `to=<...>` (required, except on qmgr's "status=expired, returned to sender" line,
//              which names the sender `from=<...>` only)
//   sender     `from=<...>` when present (qmgr lines); smtp lines carry no sender
//   id         the queue id; time the syslog timestamp: RFC 3339 (rsyslog high-precision) or the
//              traditional "Mmm dd hh:mm:ss", whose year is inferred (the latest year that does
//              not put the line more than two days in the future)
//   mx/remote_ip  `relay=host[ip]:port` (relay=none: the host in "connect to host[ip]")
//   sending_ip the syslog host name of our MTA (Postfix logs no source address)
//   text       the parenthesised detail without Postfix's "host X said: " prefix and
//              "(in reply to ... command)" suffix, so that it reads like the wire reply
//   enhanced_code `dsn=`, smtp_code from the text.
#include <chrono>

#include "stream/internal/decode_formats.h"

namespace bouncestream::stream::decode {
namespace {

// "Nov 22 10:00:00" (day may be space padded) -> ms, inferring the year. `size` gets the length
// of the timestamp.
bool TraditionalTime(std::string_view s, std::int64_t* ms, std::size_t* size) {
  static constexpr std::string_view kMonths = "JanFebMarAprMayJunJulAugSepOctNovDec";
  if (s.size() < 15 || s[3] != ' ') return false;
  const auto m = kMonths.find(s.substr(0, 3));
  if (m == std::string_view::npos || m % 3 != 0) return false;
  const int month = static_cast<int>(m / 3) + 1;
  int day = 0, h = 0, mi = 0, sec = 0;
  if (s[4] == ' ') {
    if (!FixedDigits(s, 5, 1, &day)) return false;
  } else if (!FixedDigits(s, 4, 2, &day)) {
    return false;
  }
  if (s[6] != ' ' || !FixedDigits(s, 7, 2, &h) || s[9] != ':' || !FixedDigits(s, 10, 2, &mi) ||
      s[12] != ':' || !FixedDigits(s, 13, 2, &sec) || h > 23 || mi > 59 || sec > 60) {
    return false;
  }
  *size = 15;
  using namespace std::chrono;
  const auto now = system_clock::now();
  const std::int64_t now_ms = duration_cast<milliseconds>(now.time_since_epoch()).count();
  int y = static_cast<int>(year_month_day{floor<days>(now)}.year());
  for (int attempt = 0; attempt < 8; ++attempt, --y) {
    const year_month_day ymd{year{y}, std::chrono::month{static_cast<unsigned>(month)},
                             std::chrono::day{static_cast<unsigned>(day)}};
    if (!ymd.ok()) continue;  // Feb 29 outside a leap year: look further back
    const std::int64_t d = sys_days{ymd}.time_since_epoch().count();
    const std::int64_t t = ((d * 24 + h) * 60 + mi) * 60 * 1000 + sec * 1000;
    if (t <= now_ms + 2 * 86400 * 1000LL) {
      *ms = t;
      return true;
    }
  }
  return false;
}

// Finds `key` ("to=<") at the start of a field: after ' ', ',' or ':'.
std::size_t FindField(std::string_view s, std::string_view key) {
  for (std::size_t p = s.find(key); p != std::string_view::npos; p = s.find(key, p + 1)) {
    if (p == 0 || s[p - 1] == ' ' || s[p - 1] == ',' || s[p - 1] == ':') return p;
  }
  return std::string_view::npos;
}

// Index of the first ',' or ' ' at or after `pos`, else npos. A plain loop: string_view's
// find_first_of calls memchr over the two-byte set once per byte of `s`.
std::size_t CommaOrSpace(std::string_view s, std::size_t pos) {
  for (std::size_t i = pos; i < s.size(); ++i) {
    if (s[i] == ',' || s[i] == ' ') return i;
  }
  return std::string_view::npos;
}

std::string_view AngleValue(std::string_view s, std::string_view key) {
  const auto p = FindField(s, key);
  if (p == std::string_view::npos) return {};
  const auto begin = p + key.size();
  const auto end = s.find('>', begin);
  return end == std::string_view::npos ? std::string_view{} : s.substr(begin, end - begin);
}

std::string_view PlainValue(std::string_view s, std::string_view key) {
  const auto p = FindField(s, key);
  if (p == std::string_view::npos) return {};
  const auto begin = p + key.size();
  auto end = CommaOrSpace(s, begin);
  if (end == std::string_view::npos) end = s.size();
  return s.substr(begin, end - begin);
}

}  // namespace

DecodeStatus Postfix(Decoder::Impl& impl, std::string_view payload, std::vector<BounceEvent>* out) {
  std::string_view raw = Trim(payload);
  if (raw.empty()) return std::unexpected(Error("empty", "empty line"));
  if (!simdjson::validate_utf8(raw.data(), raw.size())) {
    return std::unexpected(Error("invalid_utf8", "log line is not valid UTF-8"));
  }
  if (raw.find('\n') != std::string_view::npos) {
    return std::unexpected(Error("bad_line", "one log line per payload"));
  }
  const auto status_at = FindField(raw, "status=");
  if (status_at == std::string_view::npos) {
    return std::unexpected(Error("bad_line", "not a Postfix delivery status line (no status=)"));
  }
  const std::string_view line = impl.arena.Copy(raw);  // every field is a view into this copy
  const std::string_view fields = line.substr(0, status_at);
  BounceEvent ev;

  // status=<word> [(<detail>)]
  std::string_view rest = line.substr(status_at + 7);
  const auto word_end = CommaOrSpace(rest, 0);
  const std::string_view status = rest.substr(0, word_end);
  rest = word_end == std::string_view::npos ? std::string_view{} : rest.substr(word_end);
  if (status == "sent") {
    ev.type = classify::EventType::kDelivered;
  } else if (status == "bounced") {
    ev.type = classify::EventType::kBounce;
  } else if (status == "deferred") {
    ev.type = classify::EventType::kDeferral;
  } else if (status == "expired") {
    ev.type = classify::EventType::kExpired;
  } else if (status == "deliverable" || status == "undeliverable") {
    return {};  // address verification probe
  } else {
    return std::unexpected(Error("bad_field", "status: not sent, bounced, deferred or expired"));
  }
  if (rest.size() >= 2 && rest[0] == ' ' && rest[1] == '(') {
    const auto close = rest.rfind(')');
    if (close != std::string_view::npos && close > 1) ev.text = Trim(rest.substr(2, close - 2));
  }

  // Timestamp, host name, program[pid]: queue id:
  std::size_t pos = 0;
  if (line.size() > 10 && line[4] == '-' && line[0] >= '0' && line[0] <= '9') {
    const auto space = line.find(' ');
    const auto stamp = line.substr(0, space);
    if (ParseTimeText(stamp, &ev.time_ms)) pos = stamp.size();
  } else if (std::size_t size = 0; TraditionalTime(line, &ev.time_ms, &size)) {
    pos = size;
  }
  if (pos != 0) {
    while (pos < line.size() && line[pos] == ' ') ++pos;
    const auto host_end = line.find(' ', pos);
    if (host_end != std::string_view::npos && host_end < status_at) {
      ev.sending_ip = line.substr(pos, host_end - pos);
    }
  }
  if (const auto program = fields.find("]: "); program != std::string_view::npos) {
    const std::string_view after = fields.substr(program + 3);
    const auto colon = after.find(':');
    const std::string_view id = after.substr(0, colon);
    bool alnum = colon != std::string_view::npos && !id.empty();
    for (char c : id) {
      alnum = alnum && ((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'));
    }
    if (alnum) ev.id = id;
  }

  ev.recipient = AngleValue(fields, "to=<");
  ev.sender = AngleValue(fields, "from=<");
  if (ev.recipient.empty() && ev.type != classify::EventType::kExpired) {
    return std::unexpected(Error("missing_field", "to=<...>: the line names no recipient"));
  }
  if (const auto dsn = PlainValue(fields, "dsn="); LooksLikeEnhancedCode(dsn)) {
    ev.enhanced_code = dsn;
  }
  if (const auto relay = PlainValue(fields, "relay="); !relay.empty() && relay != "none") {
    SplitHostAndAddress(relay, &ev.mx, &ev.remote_ip);
  }

  // "host mx.example.net[192.0.2.5] said: 550 ... (in reply to RCPT TO command)" -> the reply.
  if (ev.text.starts_with("host ")) {
    if (const auto said = ev.text.find(" said: "); said != std::string_view::npos) {
      if (ev.mx.empty()) SplitHostAndAddress(ev.text.substr(5, said - 5), &ev.mx, &ev.remote_ip);
      ev.text = Trim(ev.text.substr(said + 7));
    }
  }
  if (ev.text.ends_with(" command)")) {
    if (const auto reply = ev.text.rfind(" (in reply to "); reply != std::string_view::npos) {
      ev.text = Trim(ev.text.substr(0, reply));
    }
  }
  if (ev.mx.empty()) {
    if (const auto connect = ev.text.find("connect to "); connect != std::string_view::npos) {
      std::string_view target = ev.text.substr(connect + 11);
      target = target.substr(0, target.find(": "));
      SplitHostAndAddress(target, &ev.mx, &ev.remote_ip);
    }
  }
  FillReplyCodes(&ev);
  out->push_back(ev);
  return {};
}

}  // namespace bouncestream::stream::decode
