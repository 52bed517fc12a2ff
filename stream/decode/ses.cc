// Amazon SES notifications: through SNS ({"Type":"Notification","Message":"<SES event as a JSON
// string>",...}), as the bare SES event (Firehose, SQS raw delivery), or wrapped by EventBridge
// ({"detail-type":..., "source":"aws.ses", "detail":{SES event}}).
//
// `notificationType` (or `eventType` of event publishing) -> events:
//   Bounce         -> one bounce per bounce.bouncedRecipients[]. Transient and Undetermined
//                     bounceTypes stay `bounce` (SES sends them once it gave up); the reply text
//                     tells the classifier what happened.
//   Complaint      -> one complaint per complaint.complainedRecipients[]
//   Delivery       -> one delivered per delivery.recipients[]
//   DeliveryDelay  -> one deferral per deliveryDelay.delayedRecipients[]
//   Send, Reject, Open, Click, Rendering Failure, Subscription, anything else -> no event
// An SNS SubscriptionConfirmation / UnsubscribeConfirmation yields no event either.
// Fields: recipient `emailAddress` (required), sender `mail.source`, id `feedbackId` (bounce,
// complaint; SES's dedupe key) else `mail.messageId`, time the bounce/complaint/delivery/delay
// `timestamp` (else mail.timestamp, else the SNS Timestamp), tenant `mail.sendingAccountId`,
// text `diagnosticCode` without "smtp; " (bounce, delay), `smtpResponse` (delivery),
// `complaintFeedbackType` (complaint); enhanced_code `status`, smtp_code from the text; remote_ip
// `remoteMtaIp`; mx `reportingMTA` without "dsn; " unless it is SES's own (*.amazonses.com).
#include "stream/internal/decode_formats.h"

namespace bouncestream::stream::decode {
namespace {

using simdjson::ondemand::value;

enum Kind : int { kBounceKind, kComplaintKind, kDeliveryKind, kDelayKind, kKinds };

struct Range {
  std::size_t begin = 0, end = 0;
  bool seen = false;
};

struct SesState {
  Arena* arena;
  std::vector<BounceEvent>* out;
  std::string_view notification;  // arena copy (it outlives a nested document)
  BounceEvent mail;               // sender, tenant, id (messageId), time (mail.timestamp)
  Range ranges[kKinds];

  DecodeStatus Field(std::string_view key, value v);
  DecodeStatus Group(Kind kind, std::string_view where, value v);
  // Keeps only the events of the notification's kind and fills the shared fields.
  DecodeStatus Finish(std::size_t first, std::int64_t fallback_time);
};

DecodeStatus RecipientObject(Arena& arena, std::string_view where, value v, BounceEvent* ev) {
  return ForEachFieldOf(v, where, [&](std::string_view key, value f) -> DecodeStatus {
    if (key == "emailAddress") return GetString(f, arena, "emailAddress", &ev->recipient);
    if (key == "status") {
      std::string_view status;
      if (auto st = GetString(f, arena, "status", &status); !st) return st;
      if (LooksLikeEnhancedCode(status)) ev->enhanced_code = status;
      return {};
    }
    if (key == "diagnosticCode" || key == "diagnosticsCode") {
      std::string_view text;
      if (auto st = GetString(f, arena, "diagnosticCode", &text); !st) return st;
      ev->text = StripDiagnosticType(text);
      return {};
    }
    return {};
  });
}

DecodeStatus SesState::Group(Kind kind, std::string_view where, value v) {
  Range& range = ranges[kind];
  range.begin = out->size();
  range.seen = true;
  BounceEvent shared;
  std::string_view reporting_mta;
  auto status = ForEachFieldOf(v, where, [&](std::string_view key, value f) -> DecodeStatus {
    const bool recipients = (kind == kBounceKind && key == "bouncedRecipients") ||
                            (kind == kComplaintKind && key == "complainedRecipients") ||
                            (kind == kDelayKind && key == "delayedRecipients") ||
                            (kind == kDeliveryKind && key == "recipients");
    if (recipients) {
      return ForEachElement(f, key, [&](value element) -> DecodeStatus {
        BounceEvent ev;
        if (kind == kDeliveryKind) {
          if (auto st = GetString(element, *arena, "recipients", &ev.recipient); !st) return st;
        } else if (auto st = RecipientObject(*arena, key, element, &ev); !st) {
          return st;
        }
        if (ev.recipient.empty()) {
          return std::unexpected(
              Error("missing_field", "emailAddress: a recipient without address"));
        }
        out->push_back(ev);
        return {};
      });
    }
    if (key == "timestamp") return ReadTimeField(f, "timestamp", &shared.time_ms);
    if (key == "feedbackId") return GetText(f, *arena, "feedbackId", &shared.id);
    if (key == "remoteMtaIp") return GetString(f, *arena, "remoteMtaIp", &shared.remote_ip);
    if (key == "reportingMTA") return GetString(f, *arena, "reportingMTA", &reporting_mta);
    if (key == "smtpResponse") return GetString(f, *arena, "smtpResponse", &shared.text);
    if (key == "complaintFeedbackType") {
      return GetString(f, *arena, "complaintFeedbackType", &shared.text);
    }
    return {};
  });
  if (!status) return status;
  range.end = out->size();
  reporting_mta = StripDiagnosticType(reporting_mta);
  if (!reporting_mta.empty() && !reporting_mta.ends_with(".amazonses.com")) {
    shared.mx = StripTrailingDot(reporting_mta);
  }
  for (std::size_t i = range.begin; i < range.end; ++i) {
    BounceEvent& ev = (*out)[i];
    const auto type = ev.type;
    MergeMissing(shared, &ev);
    ev.type = type;
  }
  return {};
}

DecodeStatus SesState::Field(std::string_view key, value v) {
  if (key == "notificationType" || key == "eventType") {
    return GetString(v, *arena, key, &notification);
  }
  if (key == "bounce") return Group(kBounceKind, "bounce", v);
  if (key == "complaint") return Group(kComplaintKind, "complaint", v);
  if (key == "delivery") return Group(kDeliveryKind, "delivery", v);
  if (key == "deliveryDelay") return Group(kDelayKind, "deliveryDelay", v);
  if (key == "mail") {
    return ForEachFieldOf(v, "mail", [&](std::string_view k, value f) -> DecodeStatus {
      if (k == "source") return GetString(f, *arena, "mail.source", &mail.sender);
      if (k == "messageId") return GetText(f, *arena, "mail.messageId", &mail.id);
      if (k == "sendingAccountId") {
        return GetText(f, *arena, "mail.sendingAccountId", &mail.tenant);
      }
      if (k == "timestamp") return ReadTimeField(f, "mail.timestamp", &mail.time_ms);
      return {};
    });
  }
  return {};
}

DecodeStatus SesState::Finish(std::size_t first, std::int64_t fallback_time) {
  using classify::EventType;
  Kind kind;
  EventType type;
  if (notification == "Bounce") {
    kind = kBounceKind;
    type = EventType::kBounce;
  } else if (notification == "Complaint") {
    kind = kComplaintKind;
    type = EventType::kComplaint;
  } else if (notification == "Delivery") {
    kind = kDeliveryKind;
    type = EventType::kDelivered;
  } else if (notification == "DeliveryDelay") {
    kind = kDelayKind;
    type = EventType::kDeferral;
  } else if (notification.empty()) {
    return std::unexpected(Error("missing_field", "notificationType: the SES event names no type"));
  } else {
    out->resize(first);
    return {};
  }
  const Range range = ranges[kind];
  if (!range.seen) {
    return std::unexpected(
        Error("missing_field", "the SES event lacks the object of its notificationType"));
  }
  if (range.begin == range.end) {
    return std::unexpected(Error("missing_field", "the SES event lists no recipient"));
  }
  std::size_t n = first;
  for (std::size_t i = range.begin; i < range.end; ++i) (*out)[n++] = (*out)[i];
  out->resize(n);
  BounceEvent shared = mail;
  shared.type = type;
  if (shared.time_ms == 0) shared.time_ms = fallback_time;
  for (std::size_t i = first; i < out->size(); ++i) {
    BounceEvent& ev = (*out)[i];
    MergeMissing(shared, &ev);
    FillReplyCodes(&ev);
  }
  return {};
}

}  // namespace

DecodeStatus Ses(Decoder::Impl& impl, std::string_view payload, std::vector<BounceEvent>* out) {
  simdjson::ondemand::document doc;
  if (auto err = impl.Iterate(payload).get(doc)) {
    return std::unexpected(JsonError(err, "document"));
  }
  simdjson::ondemand::object obj;
  if (auto st = RootObject(doc, "an SES notification", &obj); !st) return st;
  const std::size_t first = out->size();
  SesState state{&impl.arena, out, {}, {}, {}};
  std::string_view sns_type, message;
  bool has_message = false, has_detail = false;
  std::int64_t sns_time = 0;
  auto status =
      ForEachField(obj, "notification", [&](std::string_view key, value v) -> DecodeStatus {
        if (key == "Type") return GetString(v, impl.arena, "Type", &sns_type);
        if (key == "Message") {
          has_message = true;
          // Peeked, not copied: it is copied once into the nested buffer below.
          if (auto err = PeekString(v, &message)) {
            return std::unexpected(
                err == simdjson::INCORRECT_TYPE
                    ? Error("bad_field", "Message: must be a string holding the SES event as JSON")
                    : JsonError(err, "Message"));
          }
          return {};
        }
        if (key == "Timestamp") return ReadTimeField(v, "Timestamp", &sns_time);
        if (key == "detail") {
          has_detail = true;
          return ForEachFieldOf(v, "detail",
                                [&](std::string_view k, value f) { return state.Field(k, f); });
        }
        return state.Field(key, v);
      });
  if (!status) return status;
  if (auto st = ExpectEnd(doc); !st) return st;
  if (!sns_type.empty()) {
    // An SNS envelope: subscription handshakes carry no SES event.
    if (sns_type != "Notification") return {};
    if (!has_message) return std::unexpected(Error("missing_field", "Message: no SES event"));
  }
  if (has_message) {
    if (Trim(message).empty()) return std::unexpected(Error("missing_field", "Message: empty"));
    // The outer document is finished; the parser can take the nested one.
    simdjson::ondemand::document inner;
    if (auto err = impl.IterateNested(message).get(inner)) {
      return std::unexpected(JsonError(err, "Message"));
    }
    simdjson::ondemand::object inner_obj;
    if (auto st = RootObject(inner, "Message (the SES event)", &inner_obj); !st) return st;
    auto inner_status = ForEachField(
        inner_obj, "Message", [&](std::string_view k, value f) { return state.Field(k, f); });
    if (!inner_status) return inner_status;
    if (auto st = ExpectEnd(inner); !st) return st;
  } else if (!has_detail && state.notification.empty()) {
    return std::unexpected(
        Error("missing_field", "neither an SNS notification (Message) nor an SES event"));
  }
  return state.Finish(first, sns_time);
}

}  // namespace bouncestream::stream::decode
