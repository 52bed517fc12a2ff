// The product's own event format: a JSON object (or an array of them) whose keys are exactly the
// BounceEvent member names. Unknown keys are ignored so producers can add their own.
#include "stream/internal/decode_impl.h"

namespace bouncestream::stream::decode {
namespace {

using simdjson::ondemand::object;
using simdjson::ondemand::value;

enum class Key { kOther, kText, kTime, kSmtpCode, kType };

// The member a key names (one switch on the length, then one compare).
Key Classify(std::string_view key, BounceEvent* ev, std::string_view** target) {
  auto is = [key](std::string_view name) { return key == name; };
  switch (key.size()) {
    case 2:
      if (is("id")) return *target = &ev->id, Key::kText;
      if (is("mx")) return *target = &ev->mx, Key::kText;
      break;
    case 4:
      if (is("text")) return *target = &ev->text, Key::kText;
      if (is("time")) return Key::kTime;
      if (is("type")) return Key::kType;
      break;
    case 6:
      if (is("tenant")) return *target = &ev->tenant, Key::kText;
      if (is("sender")) return *target = &ev->sender, Key::kText;
      break;
    case 9:
      if (is("recipient")) return *target = &ev->recipient, Key::kText;
      if (is("remote_ip")) return *target = &ev->remote_ip, Key::kText;
      if (is("smtp_code")) return Key::kSmtpCode;
      break;
    case 10:
      if (is("sending_ip")) return *target = &ev->sending_ip, Key::kText;
      break;
    case 13:
      if (is("enhanced_code")) return *target = &ev->enhanced_code, Key::kText;
      break;
  }
  return Key::kOther;
}

DecodeStatus OneEvent(object obj, Arena& arena, BounceEvent* ev) {
  int known = 0;
  for (auto result : obj) {
    simdjson::ondemand::field field;
    if (auto err = std::move(result).get(field)) return std::unexpected(JsonError(err, "key"));
    std::string_view key;
    if (auto err = FieldKey(field, &key)) return std::unexpected(JsonError(err, "key"));
    value v = field.value();
    std::string_view* target = nullptr;
    switch (Classify(key, ev, &target)) {
      case Key::kOther:
        break;
      case Key::kText:
        if (auto err = ReadText(v, arena, target)) return std::unexpected(JsonError(err, key));
        ++known;
        break;
      case Key::kTime:
        if (!ReadTime(v, &ev->time_ms)) {
          return std::unexpected(Error("bad_field", "time: not Unix seconds/ms or RFC 3339"));
        }
        ++known;
        break;
      case Key::kSmtpCode: {
        std::int64_t code = 0;
        if (auto err = ReadInt(v, &code)) return std::unexpected(JsonError(err, "smtp_code"));
        if (code != 0 && (code < 200 || code > 599)) {
          return std::unexpected(Error("bad_field", "smtp_code out of range"));
        }
        ev->smtp_code = static_cast<int>(code);
        ++known;
        break;
      }
      case Key::kType: {
        std::string_view type;
        if (auto err = StringValue(v, nullptr, &type)) {
          return std::unexpected(JsonError(err, "type"));
        }
        auto parsed = classify::ParseEventType(type);
        if (!parsed) {
          return std::unexpected(Error("bad_field", "type must be bounce, deferral, complaint, "
                                                    "delivered or expired"));
        }
        ev->type = *parsed;
        ++known;
        break;
      }
    }
  }
  if (known == 0) return std::unexpected(Error("missing_field", "no event field in the object"));
  return {};
}

}  // namespace

DecodeStatus Canonical(Decoder::Impl& impl, std::string_view payload,
                       std::vector<BounceEvent>* out) {
  auto doc_result = impl.Iterate(payload);
  simdjson::ondemand::document doc;
  if (auto err = std::move(doc_result).get(doc)) return std::unexpected(JsonError(err, "document"));
  simdjson::ondemand::json_type type;
  if (auto err = doc.type().get(type)) return std::unexpected(JsonError(err, "document"));
  if (type == simdjson::ondemand::json_type::object) {
    object obj;
    if (auto err = doc.get_object().get(obj)) return std::unexpected(JsonError(err, "document"));
    BounceEvent ev;
    if (auto status = OneEvent(obj, impl.arena, &ev); !status) return status;
    out->push_back(ev);
  } else if (type == simdjson::ondemand::json_type::array) {
    simdjson::ondemand::array arr;
    if (auto err = doc.get_array().get(arr)) return std::unexpected(JsonError(err, "document"));
    for (auto element : arr) {
      object obj;
      if (auto err = element.get_object().get(obj)) {
        return std::unexpected(err == simdjson::INCORRECT_TYPE
                                   ? Error("not_object", "array element is not a JSON object")
                                   : JsonError(err, "array element"));
      }
      BounceEvent ev;
      if (auto status = OneEvent(obj, impl.arena, &ev); !status) return status;
      out->push_back(ev);
    }
  } else {
    return std::unexpected(Error("not_object", "an event must be a JSON object or an array"));
  }
  return ExpectEnd(doc);
}

}  // namespace bouncestream::stream::decode
