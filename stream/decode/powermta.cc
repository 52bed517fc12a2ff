// PowerMTA accounting files (CSV, RFC 4180 quoting), one line per payload.
//
// The columns depend on `record-fields`, so the adapter is header-driven: a line whose first
// field is `type` is the header; the Decoder remembers its layout (Impl::pmta) and the line
// yields no event. A record before any header is `missing_header` (PowerMTA documents no fixed
// default column order; it always writes the header line first); a record whose column count
// differs from the header's is `bad_csv`.
//
// Record `type` (short or long name) -> event type:
//   d / delivery               -> delivered
//   b / bounce                 -> bounce; expired when bounceCat is "message-expired"
//   t / transient              -> deferral
//   tq / transient-queue       -> deferral (a queue-level failure: rcpt may be empty)
//   f / feedback               -> complaint (text = feedbackType when that column exists)
//   rb / remote-bounce         -> bounce
//   rs / remote-status         -> by dsnAction: failed -> bounce, delayed -> deferral,
//                                 delivered / relayed / expanded -> delivered
//   r / receipt                -> no event
//   anything else              -> bad_field
// Fields: recipient `rcpt` (required except for tq), sender `orig`, time `timeLogged`
// (time_t or "YYYY-MM-DD HH:MM:SS±zzzz"), text `dsnDiag` without its "smtp;" diagnostic type,
// enhanced_code the status of `dsnStatus` ("5.0.0 (undefined status)" -> "5.0.0"), smtp_code
// from the text, mx / remote_ip from `dsnMta` ("host (192.0.2.1)"), remote_ip from
// `dlvDestinationIp` (or the misspelt `dlvDesintationIp`) first, sending_ip `dlvSourceIp`, else
// `vmtaPool`; tenant a `tenant` / `header_x-tenant` column, else `vmta` (the per-customer unit of
// most multi-tenant PowerMTA set-ups). PowerMTA has no event id: id stays empty.
#include <cstring>

#include "stream/internal/decode_formats.h"

namespace bouncestream::stream::decode {
namespace {

enum PmtaRole : std::size_t {
  kType,
  kTimeLogged,
  kOrig,
  kRcpt,
  kDsnAction,
  kDsnStatus,
  kDsnDiag,
  kDsnMta,
  kBounceCat,
  kVmta,
  kVmtaPool,
  kSourceIp,
  kDestinationIp,
  kTenant,
  kFeedbackType,
  kRoleCount,
};
static_assert(kRoleCount <= PowerMtaLayout::kRoles);

int RoleOf(std::string_view name) {
  struct Name {
    std::string_view name;
    PmtaRole role;
  };
  static constexpr Name kNames[] = {
      {"type", kType},
      {"timeLogged", kTimeLogged},
      {"orig", kOrig},
      {"rcpt", kRcpt},
      {"dsnAction", kDsnAction},
      {"dsnStatus", kDsnStatus},
      {"dsnDiag", kDsnDiag},
      {"dsnMta", kDsnMta},
      {"bounceCat", kBounceCat},
      {"vmta", kVmta},
      {"vmtaPool", kVmtaPool},
      {"dlvSourceIp", kSourceIp},
      {"dlvDestinationIp", kDestinationIp},
      {"dlvDesintationIp", kDestinationIp},
      {"tenant", kTenant},
      {"header_x-tenant", kTenant},
      {"feedbackType", kFeedbackType},
  };
  for (const auto& n : kNames) {
    if (EqualsIgnoreCase(n.name, name)) return static_cast<int>(n.role);
  }
  return -1;
}

// Splits one CSV line. Calls field(index, raw, quoted) for each field, where `raw` is the field
// without its surrounding quotes (doubled quotes still doubled). Returns the number of fields,
// or -1 when a quoted field is not closed or text follows its closing quote.
template <class Fn>
long SplitCsv(std::string_view line, Fn&& field) {
  std::size_t pos = 0;
  long index = 0;
  while (true) {
    if (pos < line.size() && line[pos] == '"') {
      std::size_t p = pos + 1;
      while (true) {
        const auto q = line.find('"', p);
        if (q == std::string_view::npos) return -1;
        if (q + 1 < line.size() && line[q + 1] == '"') {
          p = q + 2;
          continue;
        }
        field(index++, line.substr(pos + 1, q - pos - 1), true);
        pos = q + 1;
        break;
      }
      if (pos == line.size()) return index;
      if (line[pos] != ',') return -1;
      ++pos;
    } else {
      const auto comma = line.find(',', pos);
      const auto end = comma == std::string_view::npos ? line.size() : comma;
      const std::string_view raw = line.substr(pos, end - pos);
      if (raw.find('"') != std::string_view::npos) return -1;
      field(index++, raw, false);
      if (comma == std::string_view::npos) return index;
      pos = comma + 1;
    }
  }
}

std::string_view CopyField(Arena& arena, std::string_view raw, bool quoted) {
  if (!quoted || raw.find("\"\"") == std::string_view::npos) return arena.Copy(raw);
  char* p = arena.Allocate(raw.size());
  std::size_t n = 0;
  for (std::size_t i = 0; i < raw.size(); ++i) {
    p[n++] = raw[i];
    if (raw[i] == '"') ++i;  // "" -> "
  }
  return {p, n};
}

std::string_view LineOf(std::string_view payload) {
  if (payload.starts_with("\xEF\xBB\xBF")) payload.remove_prefix(3);  // a UTF-8 BOM
  while (!payload.empty() && (payload.back() == '\n' || payload.back() == '\r')) {
    payload.remove_suffix(1);
  }
  while (!payload.empty() && (payload.front() == ' ' || payload.front() == '\t' ||
                              payload.front() == '\n' || payload.front() == '\r')) {
    payload.remove_prefix(1);
  }
  return payload;
}

DecodeStatus ReadHeader(std::string_view line, PowerMtaLayout* layout) {
  PowerMtaLayout next;
  next.column.fill(-1);
  const long n = SplitCsv(line, [&](long index, std::string_view raw, bool) {
    const int role = RoleOf(Trim(raw));
    if (role >= 0 && next.column[static_cast<std::size_t>(role)] < 0) {
      next.column[static_cast<std::size_t>(role)] = static_cast<int>(index);
    }
  });
  if (n < 0) return std::unexpected(Error("bad_csv", "header line: unterminated quoted field"));
  next.columns = static_cast<std::size_t>(n);
  next.seen = true;
  *layout = next;
  return {};
}

std::optional<classify::EventType> MapType(std::string_view type, std::string_view action,
                                           std::string_view bounce_cat, bool* known) {
  using classify::EventType;
  *known = true;
  if (type == "d" || type == "delivery") return EventType::kDelivered;
  if (type == "b" || type == "bounce") {
    return bounce_cat == "message-expired" ? EventType::kExpired : EventType::kBounce;
  }
  if (type == "t" || type == "transient" || type == "tq" || type == "transient-queue") {
    return EventType::kDeferral;
  }
  if (type == "f" || type == "feedback" || type == "feedback-loop") return EventType::kComplaint;
  if (type == "rb" || type == "remote-bounce") return EventType::kBounce;
  if (type == "rs" || type == "remote-status") {
    if (EqualsIgnoreCase(action, "failed")) return EventType::kBounce;
    if (EqualsIgnoreCase(action, "delayed")) return EventType::kDeferral;
    if (EqualsIgnoreCase(action, "delivered") || EqualsIgnoreCase(action, "relayed") ||
        EqualsIgnoreCase(action, "expanded")) {
      return EventType::kDelivered;
    }
    return std::nullopt;
  }
  if (type == "r" || type == "receipt") return std::nullopt;
  *known = false;
  return std::nullopt;
}

}  // namespace

DecodeStatus PowerMta(Decoder::Impl& impl, std::string_view payload,
                      std::vector<BounceEvent>* out) {
  const std::string_view line = LineOf(payload);
  if (line.empty()) return std::unexpected(Error("empty", "empty line"));
  if (!simdjson::validate_utf8(line.data(), line.size())) {
    return std::unexpected(Error("invalid_utf8", "accounting line is not valid UTF-8"));
  }
  if (line.find('\n') != std::string_view::npos) {
    return std::unexpected(Error("bad_csv", "one accounting record per payload"));
  }
  const std::string_view first_field = line.substr(0, line.find(','));
  if (first_field == "type" || first_field == "\"type\"") return ReadHeader(line, &impl.pmta);
  const PowerMtaLayout& layout = impl.pmta;
  if (!layout.seen) {
    return std::unexpected(
        Error("missing_header", "accounting record before the header line (type,timeLogged,...)"));
  }
  std::array<std::string_view, kRoleCount> values{};
  Arena& arena = impl.arena;
  const long n = SplitCsv(line, [&](long index, std::string_view raw, bool quoted) {
    for (std::size_t role = 0; role < kRoleCount; ++role) {
      if (layout.column[role] == index) values[role] = CopyField(arena, raw, quoted);
    }
  });
  if (n < 0) return std::unexpected(Error("bad_csv", "unterminated or misplaced quote"));
  if (static_cast<std::size_t>(n) != layout.columns) {
    return std::unexpected(Error("bad_csv", "record has " + std::to_string(n) +
                                                " columns, the header has " +
                                                std::to_string(layout.columns)));
  }
  const std::string_view type = values[kType];
  bool known = false;
  const auto event_type = MapType(type, values[kDsnAction], values[kBounceCat], &known);
  if (!known) return std::unexpected(Error("bad_field", "type: not a PowerMTA record type"));
  if (!event_type) return {};  // receipt records, remote status without an outcome

  BounceEvent ev;
  ev.type = *event_type;
  ev.recipient = Trim(values[kRcpt]);
  if (ev.recipient.empty() && type != "tq" && type != "transient-queue") {
    return std::unexpected(Error("missing_field", "rcpt: the record names no recipient"));
  }
  ev.sender = Trim(values[kOrig]);
  if (const auto time = Trim(values[kTimeLogged]); !time.empty()) {
    if (!ParseTimeText(time, &ev.time_ms)) {
      return std::unexpected(Error("bad_field", "timeLogged: not time_t or a date-time"));
    }
  }
  if (ev.type == classify::EventType::kComplaint && !values[kFeedbackType].empty()) {
    ev.text = Trim(values[kFeedbackType]);
  } else {
    ev.text = StripDiagnosticType(values[kDsnDiag]);
    const std::string_view status = Trim(values[kDsnStatus]);
    const std::string_view code = status.substr(0, status.find(' '));
    if (LooksLikeEnhancedCode(code)) ev.enhanced_code = code;
    FillReplyCodes(&ev);
  }
  SplitHostAndAddress(StripDiagnosticType(values[kDsnMta]), &ev.mx, &ev.remote_ip);
  if (const auto ip = Trim(values[kDestinationIp]); !ip.empty()) ev.remote_ip = ip;
  ev.sending_ip = !values[kSourceIp].empty() ? Trim(values[kSourceIp]) : Trim(values[kVmtaPool]);
  ev.tenant = !values[kTenant].empty() ? Trim(values[kTenant]) : Trim(values[kVmta]);
  out->push_back(ev);
  return {};
}

}  // namespace bouncestream::stream::decode
