// Postal webhooks: {"event": ..., "timestamp": ..., "uuid": ..., "payload": {...}}.
//
// `event` -> event type:
//   MessageDeliveryFailed (payload.status HardFail)   -> bounce
//   MessageDelayed (SoftFail)                         -> deferral
//   MessageBounced (an inbound DSN for a sent message) -> bounce; its fields come from
//                                                      payload.original_message, text is the
//                                                      subject of payload.bounce
//   MessageSent                                       -> delivered
//   MessageHeld (held by Postal itself), MessageLinkClicked, MessageLoaded, DomainDNSError,
//   anything else, and messages whose direction is "incoming" (HTTP endpoint deliveries)
//                                                     -> no event
// Fields: id `uuid` (Postal's dedupe key), time the envelope `timestamp` (else
// payload.timestamp), recipient `message.to` (required), sender `message.from`, tenant
// `message.tag`, text `payload.output` (the SMTP reply) else `payload.details`; mx, remote_ip and
// sending_ip from `details` ("... when sending to 192.0.2.5:25 (mx.example.net)", "... accepted by
// mx.example.net (192.0.2.5) (from 198.51.100.7)"); codes from the text.
#include "stream/internal/decode_formats.h"

namespace bouncestream::stream::decode {
namespace {

using simdjson::ondemand::value;

struct Message {
  std::string_view to, from, tag, direction;
};

DecodeStatus ReadMessage(value v, Arena& arena, std::string_view where, Message* m) {
  return ForEachFieldOf(v, where, [&](std::string_view key, value f) -> DecodeStatus {
    if (key == "to") return GetString(f, arena, "message.to", &m->to);
    if (key == "from") return GetString(f, arena, "message.from", &m->from);
    if (key == "tag") return GetString(f, arena, "message.tag", &m->tag);
    if (key == "direction") return GetPeek(f, "message.direction", &m->direction);
    return {};
  });
}

// The host and addresses named in Postal's `details` sentence.
void ParseDetails(std::string_view details, BounceEvent* ev) {
  std::string_view target;
  for (std::string_view marker : {" when sending to ", " accepted by "}) {
    if (const auto p = details.find(marker); p != std::string_view::npos) {
      target = details.substr(p + marker.size());
      break;
    }
  }
  if (target.empty()) return;
  if (const auto from = target.find(" (from "); from != std::string_view::npos) {
    std::string_view source = target.substr(from + 7);
    source = source.substr(0, source.find(')'));
    if (LooksLikeIp(StripPort(source))) ev->sending_ip = StripPort(source);
    target = target.substr(0, from);
  }
  SplitHostAndAddress(target, &ev->mx, &ev->remote_ip);
}

}  // namespace

DecodeStatus Postal(Decoder::Impl& impl, std::string_view payload, std::vector<BounceEvent>* out) {
  simdjson::ondemand::document doc;
  if (auto err = impl.Iterate(payload).get(doc)) {
    return std::unexpected(JsonError(err, "document"));
  }
  simdjson::ondemand::object obj;
  if (auto st = RootObject(doc, "a Postal webhook", &obj); !st) return st;
  Arena& arena = impl.arena;
  BounceEvent ev;
  std::string_view event, output, details, bounce_subject;
  std::int64_t payload_time = 0;
  Message message, original;
  bool has_payload = false;
  auto status = ForEachField(obj, "webhook", [&](std::string_view key, value v) -> DecodeStatus {
    if (key == "event") return GetPeek(v, "event", &event);
    if (key == "uuid") return GetText(v, arena, "uuid", &ev.id);
    if (key == "timestamp") return ReadTimeField(v, "timestamp", &ev.time_ms);
    if (key != "payload") return {};
    has_payload = true;
    return ForEachFieldOf(v, "payload", [&](std::string_view k, value f) -> DecodeStatus {
      if (k == "output") return GetString(f, arena, "payload.output", &output);
      if (k == "details") return GetString(f, arena, "payload.details", &details);
      if (k == "timestamp") return ReadTimeField(f, "payload.timestamp", &payload_time);
      if (k == "message") return ReadMessage(f, arena, "payload.message", &message);
      if (k == "original_message") {
        return ReadMessage(f, arena, "payload.original_message", &original);
      }
      if (k == "bounce") {
        return ForEachFieldOf(f, "payload.bounce", [&](std::string_view b, value s) {
          if (b != "subject") return DecodeStatus{};
          return GetString(s, arena, "payload.bounce.subject", &bounce_subject);
        });
      }
      return {};
    });
  });
  if (!status) return status;
  if (auto st = ExpectEnd(doc); !st) return st;
  if (event.empty()) return std::unexpected(Error("missing_field", "event: no event name"));
  if (!has_payload) return std::unexpected(Error("missing_field", "payload: no payload object"));
  using classify::EventType;
  if (event == "MessageDeliveryFailed") {
    ev.type = EventType::kBounce;
  } else if (event == "MessageDelayed") {
    ev.type = EventType::kDeferral;
  } else if (event == "MessageBounced") {
    ev.type = EventType::kBounce;
    message = original;
    output = bounce_subject;
  } else if (event == "MessageSent") {
    ev.type = EventType::kDelivered;
  } else {
    return {};
  }
  if (message.direction == "incoming") return {};
  if (message.to.empty()) {
    return std::unexpected(Error("missing_field", "payload.message.to: no recipient"));
  }
  ev.recipient = message.to;
  ev.sender = message.from;
  ev.tenant = message.tag;
  if (ev.time_ms == 0) ev.time_ms = payload_time;
  output = Trim(output);
  ev.text = !output.empty() ? output : Trim(details);
  ParseDetails(details, &ev);
  FillReplyCodes(&ev);
  out->push_back(ev);
  return {};
}

}  // namespace bouncestream::stream::decode
