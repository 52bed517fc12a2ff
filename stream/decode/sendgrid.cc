// SendGrid Event Webhook: a JSON array of events (one POST), or a single event object (a relay
// that publishes one Kafka message per event).
//
// `event` -> event type:
//   bounce (type "bounce" or "blocked")  -> bounce
//   dropped                              -> bounce (SendGrid refused to send: "Bounced Address",
//                                           "Invalid", ...; the reason is kept as the text)
//   deferred                             -> deferral
//   spamreport                           -> complaint
//   delivered                            -> delivered
//   processed, open, click, unsubscribe, group_unsubscribe, group_resubscribe, anything else
//                                        -> no event
// Fields: recipient `email` (required), id `sg_event_id`, time `timestamp`, text `reason`
// (bounce, dropped) else `response` (deferred, delivered), enhanced_code `status` when it is one
// (it can be missing), smtp_code from the text, sending_ip `ip`, tenant the custom argument
// `tenant` (SendGrid posts custom args as top-level keys). SendGrid reports neither the envelope
// sender nor the remote MX.
// An empty array is an error (`empty`): SendGrid never posts one.
#include "stream/internal/decode_formats.h"

namespace bouncestream::stream::decode {
namespace {

using simdjson::ondemand::value;

DecodeStatus OneEvent(value v, Arena& arena, std::vector<BounceEvent>* out) {
  BounceEvent ev;
  std::string_view event, reason, response, status;
  auto st = ForEachFieldOf(v, "event", [&](std::string_view key, value f) -> DecodeStatus {
    if (key == "event") return GetPeek(f, "event", &event);
    if (key == "email") return GetString(f, arena, "email", &ev.recipient);
    if (key == "sg_event_id") return GetText(f, arena, "sg_event_id", &ev.id);
    if (key == "timestamp") return ReadTimeField(f, "timestamp", &ev.time_ms);
    if (key == "reason") return GetString(f, arena, "reason", &reason);
    if (key == "response") return GetString(f, arena, "response", &response);
    if (key == "status") return GetText(f, arena, "status", &status);
    if (key == "ip") return GetString(f, arena, "ip", &ev.sending_ip);
    if (key == "tenant") return GetText(f, arena, "tenant", &ev.tenant);
    return {};
  });
  if (!st) return st;
  if (event.empty()) return std::unexpected(Error("missing_field", "event: no event name"));
  using classify::EventType;
  if (event == "bounce" || event == "dropped") {
    ev.type = EventType::kBounce;
  } else if (event == "deferred") {
    ev.type = EventType::kDeferral;
  } else if (event == "spamreport") {
    ev.type = EventType::kComplaint;
  } else if (event == "delivered") {
    ev.type = EventType::kDelivered;
  } else {
    return {};
  }
  if (ev.recipient.empty()) return std::unexpected(Error("missing_field", "email: no recipient"));
  ev.text = Trim(!reason.empty() ? reason : response);
  if (LooksLikeEnhancedCode(Trim(status))) ev.enhanced_code = Trim(status);
  FillReplyCodes(&ev);
  out->push_back(ev);
  return {};
}

}  // namespace

DecodeStatus Sendgrid(Decoder::Impl& impl, std::string_view payload,
                      std::vector<BounceEvent>* out) {
  return ForEachEventObject(impl, payload, "a SendGrid webhook must be an array of event objects",
                            OneEvent, out);
}

}  // namespace bouncestream::stream::decode
