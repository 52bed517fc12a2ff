// The product's own event format: a JSON object (or an array of them) whose keys are exactly the
// BounceEvent member names. Unknown keys are ignored so producers can add their own.
#include "stream/internal/decode_impl.h"

namespace bouncestream::stream::decode {
namespace {

using simdjson::ondemand::object;
using simdjson::ondemand::value;

DecodeStatus OneEvent(object obj, Arena& arena, BounceEvent* ev) {
  int known = 0;
  for (auto field : obj) {
    std::string_view key;
    if (auto err = field.unescaped_key().get(key)) return std::unexpected(JsonError(err, "key"));
    value v;
    if (auto err = field.value().get(v)) return std::unexpected(JsonError(err, key));
    std::string_view* target = nullptr;
    if (key == "id") target = &ev->id;
    else if (key == "tenant") target = &ev->tenant;
    else if (key == "sender") target = &ev->sender;
    else if (key == "recipient") target = &ev->recipient;
    else if (key == "mx") target = &ev->mx;
    else if (key == "remote_ip") target = &ev->remote_ip;
    else if (key == "sending_ip") target = &ev->sending_ip;
    else if (key == "enhanced_code") target = &ev->enhanced_code;
    else if (key == "text") target = &ev->text;
    if (target != nullptr) {
      if (auto err = ReadText(v, arena, target)) {
        return std::unexpected(JsonError(err, key));
      }
      ++known;
    } else if (key == "time") {
      if (!ReadTime(v, &ev->time_ms)) {
        return std::unexpected(Error("bad_field", "time: not Unix seconds/ms or RFC 3339"));
      }
      ++known;
    } else if (key == "smtp_code") {
      std::int64_t code = 0;
      if (auto err = ReadInt(v, &code)) return std::unexpected(JsonError(err, "smtp_code"));
      if (code != 0 && (code < 200 || code > 599)) {
        return std::unexpected(Error("bad_field", "smtp_code out of range"));
      }
      ev->smtp_code = static_cast<int>(code);
      ++known;
    } else if (key == "type") {
      std::string_view type;
      if (auto err = v.get_string().get(type)) return std::unexpected(JsonError(err, "type"));
      auto parsed = classify::ParseEventType(type);
      if (!parsed) {
        return std::unexpected(Error("bad_field", "type must be bounce, deferral, complaint, "
                                                  "delivered or expired"));
      }
      ev->type = *parsed;
      ++known;
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
