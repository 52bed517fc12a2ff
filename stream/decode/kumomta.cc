// KumoMTA log records (kumod's JSON log lines, or the payload of a log hook sent to Kafka).
//
// Record `type` -> event type:
//   Bounce, AdminBounce, OOB           -> bounce
//   TransientFailure, Delayed (Delay)  -> deferral
//   Expiration                         -> expired
//   Feedback (ARF report)              -> complaint; a report whose feedback_type is "not-spam"
//                                         inverts the signal and yields no event
//   Delivery                           -> delivered
//   Reception, Rejection, XferIn/XferOut, AdminRebind, DeferredInjectionRebind, any other
//                                      -> no event: they are not about delivering our mail
// Fields:
//   recipient    `recipient`, a string or an array (one event per recipient; required)
//   sender, id   `sender`, `id`
//   time         `timestamp`, else `created`
//   mx           `peer_address.name` without the trailing dot; remote_ip `peer_address.addr`
//   sending_ip   `source_address.address` without the port, else `egress_source`, else
//                `egress_pool`
//   tenant       `tenant`, else `meta.tenant`, else the tenant of `queue`
//                ("campaign:tenant@domain")
//   text         "<code> <class.subject.detail> <content>" from `response`, so it reads like
//                the wire line (kumod keeps the three apart); smtp_code / enhanced_code from
//                the same fields. For Feedback the report's feedback_type ("abuse"): the
//                response of a Feedback record is kumod's own reply, not the remote server's.
#include <charconv>

#include "stream/internal/decode_formats.h"

namespace bouncestream::stream::decode {
namespace {

using simdjson::ondemand::value;

struct Record {
  BounceEvent tmpl;
  std::string_view type;  // views into the parser's buffer
  std::string_view tenant, meta_tenant, queue;
  std::string_view source_address, egress_source, egress_pool;
  std::string_view content, feedback_type;
  int code = 0;
  std::string_view enhanced;
  std::int64_t created_ms = 0;
  bool has_type = false;
};

std::optional<classify::EventType> MapType(std::string_view type) {
  using classify::EventType;
  if (type == "Bounce" || type == "AdminBounce" || type == "OOB") return EventType::kBounce;
  if (type == "TransientFailure" || type == "Delayed" || type == "Delay") {
    return EventType::kDeferral;
  }
  if (type == "Expiration") return EventType::kExpired;
  if (type == "Feedback") return EventType::kComplaint;
  if (type == "Delivery") return EventType::kDelivered;
  return std::nullopt;
}

DecodeStatus ReadEnhancedCode(value v, Arena& arena, std::string_view* out) {
  std::int64_t parts[3] = {-1, -1, -1};
  auto status = ForEachFieldOf(v, "response.enhanced_code", [&](std::string_view key, value f) {
    int i = key == "class" ? 0 : key == "subject" ? 1 : key == "detail" ? 2 : -1;
    if (i < 0) return DecodeStatus{};
    return GetInt(f, "response.enhanced_code", &parts[i]);
  });
  if (!status) return status;
  if (parts[0] < 0 && parts[1] < 0 && parts[2] < 0) return {};  // null or {}
  if (parts[0] < 2 || parts[0] > 5 || parts[1] < 0 || parts[1] > 999 || parts[2] < 0 ||
      parts[2] > 999) {
    return std::unexpected(Error("bad_field", "response.enhanced_code: not class.subject.detail"));
  }
  char buf[16];
  char* p = buf;
  char* end = buf + sizeof buf;
  for (int i = 0; i < 3; ++i) {
    if (i > 0) *p++ = '.';
    p = std::to_chars(p, end, parts[i]).ptr;
  }
  *out = arena.Copy(std::string_view(buf, static_cast<std::size_t>(p - buf)));
  return {};
}

DecodeStatus ReadResponse(value v, Arena& arena, Record* r) {
  return ForEachFieldOf(v, "response", [&](std::string_view key, value f) -> DecodeStatus {
    if (key == "code") {
      std::int64_t code = 0;
      if (auto st = GetInt(f, "response.code", &code); !st) return st;
      r->code = SmtpCodeOrZero(code);
      return {};
    }
    if (key == "enhanced_code") return ReadEnhancedCode(f, arena, &r->enhanced);
    if (key == "content") return GetString(f, arena, "response.content", &r->content);
    return {};
  });
}

DecodeStatus ReadRecipients(value v, Arena& arena, std::vector<BounceEvent>* out) {
  simdjson::ondemand::json_type type;
  if (auto err = v.type().get(type)) return std::unexpected(JsonError(err, "recipient"));
  auto one = [&](value e) -> DecodeStatus {
    BounceEvent ev;
    if (auto st = GetString(e, arena, "recipient", &ev.recipient); !st) return st;
    if (!ev.recipient.empty()) out->push_back(ev);
    return {};
  };
  if (type == simdjson::ondemand::json_type::array) return ForEachElement(v, "recipient", one);
  return one(v);
}

// "campaign:tenant@domain" / "tenant@domain" / "domain" -> tenant (or empty).
std::string_view TenantOfQueue(std::string_view queue) {
  const auto at = queue.find('@');
  if (at == std::string_view::npos) return {};
  std::string_view head = queue.substr(0, at);
  const auto colon = head.find(':');
  if (colon != std::string_view::npos) head.remove_prefix(colon + 1);
  return head;
}

}  // namespace

DecodeStatus Kumo(Decoder::Impl& impl, std::string_view payload, std::vector<BounceEvent>* out) {
  simdjson::ondemand::document doc;
  if (auto err = impl.Iterate(payload).get(doc)) {
    return std::unexpected(JsonError(err, "document"));
  }
  simdjson::ondemand::object obj;
  if (auto st = RootObject(doc, "a KumoMTA log record", &obj); !st) return st;
  Arena& arena = impl.arena;
  const std::size_t first = out->size();
  Record r;
  BounceEvent& t = r.tmpl;
  auto status = ForEachField(obj, "record", [&](std::string_view key, value v) -> DecodeStatus {
    if (key == "type") {
      r.has_type = true;
      return GetPeek(v, "type", &r.type);
    }
    if (key == "recipient") return ReadRecipients(v, arena, out);
    if (key == "sender") return GetString(v, arena, "sender", &t.sender);
    if (key == "id") return GetText(v, arena, "id", &t.id);
    if (key == "timestamp") return ReadTimeField(v, "timestamp", &t.time_ms);
    if (key == "created") return ReadTimeField(v, "created", &r.created_ms);
    if (key == "tenant") return GetString(v, arena, "tenant", &r.tenant);
    if (key == "queue") return GetPeek(v, "queue", &r.queue);
    if (key == "egress_source") return GetString(v, arena, "egress_source", &r.egress_source);
    if (key == "egress_pool") return GetString(v, arena, "egress_pool", &r.egress_pool);
    if (key == "response") return ReadResponse(v, arena, &r);
    if (key == "peer_address") {
      return ForEachFieldOf(v, "peer_address", [&](std::string_view k, value f) -> DecodeStatus {
        if (k == "name") return GetString(f, arena, "peer_address.name", &t.mx);
        if (k == "addr") return GetString(f, arena, "peer_address.addr", &t.remote_ip);
        return {};
      });
    }
    if (key == "source_address") {
      return ForEachFieldOf(v, "source_address", [&](std::string_view k, value f) {
        if (k != "address") return DecodeStatus{};
        return GetString(f, arena, "source_address.address", &r.source_address);
      });
    }
    if (key == "meta") {
      return ForEachFieldOf(v, "meta", [&](std::string_view k, value f) {
        if (k != "tenant") return DecodeStatus{};
        return GetString(f, arena, "meta.tenant", &r.meta_tenant);
      });
    }
    if (key == "feedback_report") {
      return ForEachFieldOf(v, "feedback_report", [&](std::string_view k, value f) {
        if (k != "feedback_type") return DecodeStatus{};
        return GetString(f, arena, "feedback_report.feedback_type", &r.feedback_type);
      });
    }
    return {};
  });
  if (!status) return status;
  if (auto st = ExpectEnd(doc); !st) return st;
  if (!r.has_type || r.type.empty()) {
    return std::unexpected(Error("missing_field", "type: a log record needs its record type"));
  }
  const auto type = MapType(r.type);
  if (!type || (*type == classify::EventType::kComplaint && r.feedback_type == "not-spam")) {
    out->resize(first);  // not a delivery outcome: no event
    return {};
  }
  if (out->size() == first) {
    return std::unexpected(Error("missing_field", "recipient: the record names no recipient"));
  }
  t.type = *type;
  if (t.time_ms == 0) t.time_ms = r.created_ms;
  t.mx = StripTrailingDot(t.mx);
  t.sending_ip = !r.source_address.empty()  ? StripPort(r.source_address)
                 : !r.egress_source.empty() ? r.egress_source
                                            : r.egress_pool;
  t.tenant = !r.tenant.empty()        ? r.tenant
             : !r.meta_tenant.empty() ? r.meta_tenant
                                      : arena.Copy(TenantOfQueue(r.queue));
  if (*type == classify::EventType::kComplaint) {
    t.text = r.feedback_type;
  } else {
    t.smtp_code = r.code;
    t.enhanced_code = r.enhanced;
    t.text = ComposeReply(arena, r.code, r.enhanced, r.content);
    FillReplyCodes(&t);
  }
  for (std::size_t i = first; i < out->size(); ++i) MergeMissing(t, &(*out)[i]);
  return {};
}

}  // namespace bouncestream::stream::decode
