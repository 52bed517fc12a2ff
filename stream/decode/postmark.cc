// Postmark webhooks (one JSON object per POST).
//
// `RecordType` / `Type` -> event type:
//   Bounce, Type HardBounce, BadEmailAddress, Blocked, DMARCPolicy, SpamNotification,
//     VirusNotification, ManuallyDeactivated, AutoResponder, Unknown, ... -> bounce (the text
//     lets the classifier tell a block from a bad address)
//   Bounce, Type Transient, SoftBounce, DnsError                        -> deferral (Postmark
//     retries these itself)
//   Bounce with Type SpamComplaint, or RecordType SpamComplaint          -> complaint
//   Delivery                                                             -> delivered
//   Open, Click, SubscriptionChange, anything else                       -> no event
// Fields: recipient `Email` (Delivery: `Recipient`; required), sender `From`, id `ID` (Delivery
// and others without one: `MessageID`), time `BouncedAt` / `DeliveredAt`, tenant
// `Metadata.tenant`, else `Tag`; text `Details` without its "smtp;" diagnostic type, else
// `Description`; codes from the text. Postmark reports no remote host or address.
#include "stream/internal/decode_formats.h"

namespace bouncestream::stream::decode {
namespace {

using simdjson::ondemand::value;

}  // namespace

DecodeStatus Postmark(Decoder::Impl& impl, std::string_view payload,
                      std::vector<BounceEvent>* out) {
  simdjson::ondemand::document doc;
  if (auto err = impl.Iterate(payload).get(doc)) {
    return std::unexpected(JsonError(err, "document"));
  }
  simdjson::ondemand::object obj;
  if (auto st = RootObject(doc, "a Postmark webhook", &obj); !st) return st;
  Arena& arena = impl.arena;
  BounceEvent ev;
  std::string_view record_type, type, details, description, tag, meta_tenant, message_id;
  auto status = ForEachField(obj, "webhook", [&](std::string_view key, value v) -> DecodeStatus {
    if (key == "RecordType") return GetPeek(v, "RecordType", &record_type);
    if (key == "Type") return GetPeek(v, "Type", &type);
    if (key == "Email" || key == "Recipient") return GetString(v, arena, "Email", &ev.recipient);
    if (key == "From") return GetString(v, arena, "From", &ev.sender);
    if (key == "ID") return GetText(v, arena, "ID", &ev.id);
    if (key == "MessageID") return GetText(v, arena, "MessageID", &message_id);
    if (key == "BouncedAt" || key == "DeliveredAt") return ReadTimeField(v, key, &ev.time_ms);
    if (key == "Details") return GetString(v, arena, "Details", &details);
    if (key == "Description") return GetString(v, arena, "Description", &description);
    if (key == "Tag") return GetText(v, arena, "Tag", &tag);
    if (key == "Metadata") {
      return ForEachFieldOf(v, "Metadata", [&](std::string_view k, value f) {
        if (k != "tenant") return DecodeStatus{};
        return GetText(f, arena, "Metadata.tenant", &meta_tenant);
      });
    }
    return {};
  });
  if (!status) return status;
  if (auto st = ExpectEnd(doc); !st) return st;
  if (record_type.empty()) return std::unexpected(Error("missing_field", "RecordType: missing"));
  using classify::EventType;
  if (record_type == "Bounce") {
    if (type == "SpamComplaint") {
      ev.type = EventType::kComplaint;
    } else if (type == "Transient" || type == "SoftBounce" || type == "DnsError") {
      ev.type = EventType::kDeferral;
    } else {
      ev.type = EventType::kBounce;
    }
  } else if (record_type == "SpamComplaint") {
    ev.type = EventType::kComplaint;
  } else if (record_type == "Delivery") {
    ev.type = EventType::kDelivered;
  } else {
    return {};
  }
  if (ev.recipient.empty()) return std::unexpected(Error("missing_field", "Email: no recipient"));
  if (ev.id.empty()) ev.id = message_id;
  ev.tenant = !meta_tenant.empty() ? meta_tenant : tag;
  details = StripDiagnosticType(details);
  ev.text = !details.empty() ? details : Trim(description);
  FillReplyCodes(&ev);
  out->push_back(ev);
  return {};
}

}  // namespace bouncestream::stream::decode
