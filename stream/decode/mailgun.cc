// Mailgun webhooks (JSON, API v3 "event-data" form): {"signature": {...}, "event-data": {...}}.
//
// `event-data.event` -> event type:
//   failed, severity "permanent"  -> bounce (reasons bounce, suppress-bounce, generic, ...)
//   failed, severity "temporary"  -> deferral
//   delivered                     -> delivered
//   complained                    -> complaint
//   accepted, rejected (Mailgun refused the API request; no remote server involved), opened,
//   clicked, unsubscribed, stored, anything else -> no event
// Fields: recipient `recipient` (required), id `id`, time `timestamp` (float seconds), sender
// `envelope.sender`, sending_ip `envelope.sending-ip`, mx `delivery-status.mx-host`, tenant
// `user-variables.tenant`; text "<delivery-status.code> <delivery-status.message>" (Mailgun keeps
// the code apart; the message often starts with the enhanced code), else
// `delivery-status.description` (e.g. "Not delivering to previously bounced address"); codes
// outside 200..599 (Mailgun's own 605, 498, ...) are not SMTP codes and are dropped; the enhanced
// code comes from the text. Mailgun does not report the remote address.
#include "stream/internal/decode_formats.h"

namespace bouncestream::stream::decode {
namespace {

using simdjson::ondemand::value;

struct EventData {
  BounceEvent ev;
  std::string_view event, severity, message, description;
  std::int64_t code = 0;
};

DecodeStatus ReadEventData(value v, Arena& arena, EventData* d) {
  BounceEvent& ev = d->ev;
  return ForEachFieldOf(v, "event-data", [&](std::string_view key, value f) -> DecodeStatus {
    if (key == "event") return GetPeek(f, "event", &d->event);
    if (key == "severity") return GetPeek(f, "severity", &d->severity);
    if (key == "recipient") return GetString(f, arena, "recipient", &ev.recipient);
    if (key == "id") return GetText(f, arena, "id", &ev.id);
    if (key == "timestamp") return ReadTimeField(f, "timestamp", &ev.time_ms);
    if (key == "envelope") {
      return ForEachFieldOf(f, "envelope", [&](std::string_view k, value e) -> DecodeStatus {
        if (k == "sender") return GetString(e, arena, "envelope.sender", &ev.sender);
        if (k == "sending-ip") return GetString(e, arena, "envelope.sending-ip", &ev.sending_ip);
        return {};
      });
    }
    if (key == "delivery-status") {
      return ForEachFieldOf(f, "delivery-status", [&](std::string_view k, value s) -> DecodeStatus {
        if (k == "code") return GetInt(s, "delivery-status.code", &d->code);
        if (k == "message") return GetString(s, arena, "delivery-status.message", &d->message);
        if (k == "description") {
          return GetString(s, arena, "delivery-status.description", &d->description);
        }
        if (k == "mx-host") return GetString(s, arena, "delivery-status.mx-host", &ev.mx);
        return {};
      });
    }
    if (key == "user-variables") {
      return ForEachFieldOf(f, "user-variables", [&](std::string_view k, value u) {
        if (k != "tenant") return DecodeStatus{};
        return GetText(u, arena, "user-variables.tenant", &ev.tenant);
      });
    }
    return {};
  });
}

}  // namespace

DecodeStatus Mailgun(Decoder::Impl& impl, std::string_view payload, std::vector<BounceEvent>* out) {
  simdjson::ondemand::document doc;
  if (auto err = impl.Iterate(payload).get(doc)) {
    return std::unexpected(JsonError(err, "document"));
  }
  simdjson::ondemand::object obj;
  if (auto st = RootObject(doc, "a Mailgun webhook", &obj); !st) return st;
  EventData d;
  bool has_event_data = false;
  auto status = ForEachField(obj, "webhook", [&](std::string_view key, value v) -> DecodeStatus {
    if (key != "event-data") return {};
    has_event_data = true;
    return ReadEventData(v, impl.arena, &d);
  });
  if (!status) return status;
  if (auto st = ExpectEnd(doc); !st) return st;
  if (!has_event_data) return std::unexpected(Error("missing_field", "event-data: missing"));
  if (d.event.empty()) return std::unexpected(Error("missing_field", "event-data.event: missing"));
  BounceEvent& ev = d.ev;
  using classify::EventType;
  if (d.event == "failed") {
    ev.type = d.severity == "temporary" ? EventType::kDeferral : EventType::kBounce;
  } else if (d.event == "delivered") {
    ev.type = EventType::kDelivered;
  } else if (d.event == "complained") {
    ev.type = EventType::kComplaint;
  } else {
    return {};
  }
  if (ev.recipient.empty()) {
    return std::unexpected(Error("missing_field", "event-data.recipient: no recipient"));
  }
  ev.smtp_code = SmtpCodeOrZero(d.code);
  const std::string_view message = Trim(d.message);
  ev.text =
      !message.empty() ? ComposeReply(impl.arena, ev.smtp_code, {}, message) : Trim(d.description);
  FillReplyCodes(&ev);
  out->push_back(ev);
  return {};
}

}  // namespace bouncestream::stream::decode
