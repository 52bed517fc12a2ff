// SparkPost webhooks: a JSON array of {"msys": {"<class>_event": {...}}} (one POST), or one such
// element on its own (a relay that publishes one Kafka message per event).
//
// msys.message_event `type` -> event type:
//   bounce, out_of_band, policy_rejection (SparkPost's own refusal, e.g. a suppressed address)
//                                       -> bounce
//   delay                               -> deferral
//   spam_complaint                      -> complaint (text = `fbtype`, e.g. "abuse")
//   delivery                            -> delivered
//   injection, sms_status, anything else -> no event
// The other classes (track_event, gen_event, unsubscribe_event, ab_test_event, ingest_event, and
// relay_event, which reports SparkPost relaying *inbound* mail to the customer's endpoint, not a
// recipient's server) yield no event; so does the webhook ping's empty {"msys": {}}.
// Fields: recipient `rcpt_to` (required), sender `msg_from` (the envelope sender), id
// `event_id`, time `timestamp` (unix seconds as a string, or ISO 8601), text `raw_reason` (the
// unredacted reply), else `reason`; smtp_code `error_code`, enhanced_code from the text;
// remote_ip `ip_address` (the receiving MTA), sending_ip `sending_ip`, else `ip_pool`; tenant
// `rcpt_meta.tenant`, else `subaccount_id` (when not 0, the primary account), else
// `customer_id`. SparkPost does not report the remote MX name.
// An element without `msys` is `missing_field`; an empty array is `empty`.
#include "stream/internal/decode_formats.h"

namespace bouncestream::stream::decode {
namespace {

using simdjson::ondemand::value;

struct MessageEvent {
  BounceEvent ev;
  std::string_view type, raw_reason, reason, fbtype, ip_pool;
  std::string_view meta_tenant, subaccount, customer;
  std::int64_t error_code = 0;
};

DecodeStatus ReadMessageEvent(value v, Arena& arena, MessageEvent* m) {
  BounceEvent& ev = m->ev;
  return ForEachFieldOf(v, "message_event", [&](std::string_view key, value f) -> DecodeStatus {
    if (key == "type") return GetPeek(f, "type", &m->type);
    if (key == "rcpt_to") return GetString(f, arena, "rcpt_to", &ev.recipient);
    if (key == "msg_from") return GetString(f, arena, "msg_from", &ev.sender);
    if (key == "event_id") return GetText(f, arena, "event_id", &ev.id);
    if (key == "timestamp") return ReadTimeField(f, "timestamp", &ev.time_ms);
    if (key == "raw_reason") return GetString(f, arena, "raw_reason", &m->raw_reason);
    if (key == "reason") return GetString(f, arena, "reason", &m->reason);
    if (key == "fbtype") return GetString(f, arena, "fbtype", &m->fbtype);
    if (key == "error_code") return GetInt(f, "error_code", &m->error_code);
    if (key == "ip_address") return GetString(f, arena, "ip_address", &ev.remote_ip);
    if (key == "sending_ip") return GetString(f, arena, "sending_ip", &ev.sending_ip);
    if (key == "ip_pool") return GetString(f, arena, "ip_pool", &m->ip_pool);
    if (key == "subaccount_id") return GetText(f, arena, "subaccount_id", &m->subaccount);
    if (key == "customer_id") return GetText(f, arena, "customer_id", &m->customer);
    if (key == "rcpt_meta") {
      return ForEachFieldOf(f, "rcpt_meta", [&](std::string_view k, value t) {
        if (k != "tenant") return DecodeStatus{};
        return GetText(t, arena, "rcpt_meta.tenant", &m->meta_tenant);
      });
    }
    return {};
  });
}

DecodeStatus OneElement(value v, Arena& arena, std::vector<BounceEvent>* out) {
  simdjson::ondemand::json_type type;
  if (auto err = v.type().get(type)) return std::unexpected(JsonError(err, "element"));
  if (type != simdjson::ondemand::json_type::object) {
    return std::unexpected(Error("not_object", "a SparkPost event must be a JSON object"));
  }
  bool has_msys = false, has_message_event = false;
  MessageEvent m;
  auto status = ForEachFieldOf(v, "element", [&](std::string_view key, value f) -> DecodeStatus {
    if (key != "msys") return {};
    has_msys = true;
    return ForEachFieldOf(f, "msys", [&](std::string_view k, value e) -> DecodeStatus {
      if (k != "message_event") return {};
      has_message_event = true;
      return ReadMessageEvent(e, arena, &m);
    });
  });
  if (!status) return status;
  if (!has_msys) return std::unexpected(Error("missing_field", "msys: not a SparkPost event"));
  if (!has_message_event) return {};
  if (m.type.empty()) return std::unexpected(Error("missing_field", "message_event.type: missing"));
  BounceEvent& ev = m.ev;
  using classify::EventType;
  if (m.type == "bounce" || m.type == "out_of_band" || m.type == "policy_rejection") {
    ev.type = EventType::kBounce;
  } else if (m.type == "delay") {
    ev.type = EventType::kDeferral;
  } else if (m.type == "spam_complaint") {
    ev.type = EventType::kComplaint;
  } else if (m.type == "delivery") {
    ev.type = EventType::kDelivered;
  } else {
    return {};
  }
  if (ev.recipient.empty()) return std::unexpected(Error("missing_field", "rcpt_to: no recipient"));
  if (ev.type == EventType::kComplaint) {
    ev.text = Trim(m.fbtype);
  } else {
    ev.text = Trim(!m.raw_reason.empty() ? m.raw_reason : m.reason);
    ev.smtp_code = SmtpCodeOrZero(m.error_code);
  }
  if (ev.sending_ip.empty()) ev.sending_ip = m.ip_pool;
  ev.tenant = !m.meta_tenant.empty()                         ? m.meta_tenant
              : !m.subaccount.empty() && m.subaccount != "0" ? m.subaccount
                                                             : m.customer;
  FillReplyCodes(&ev);
  out->push_back(ev);
  return {};
}

}  // namespace

DecodeStatus Sparkpost(Decoder::Impl& impl, std::string_view payload,
                       std::vector<BounceEvent>* out) {
  return ForEachEventObject(impl, payload,
                            "a SparkPost webhook must be an array of {\"msys\": ...} objects",
                            OneElement, out);
}

}  // namespace bouncestream::stream::decode
