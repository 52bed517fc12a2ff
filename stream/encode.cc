#include "stream/encode.h"

namespace bouncestream::stream {

void WriteEvent(JsonWriter& w, const classify::BounceEvent& ev) {
  w.Field("id", ev.id);
  w.Field("time", ev.time_ms);
  w.Field("tenant", ev.tenant);
  w.Field("sender", ev.sender);
  w.Field("recipient", ev.recipient);
  w.Field("mx", ev.mx);
  w.Field("remote_ip", ev.remote_ip);
  w.Field("sending_ip", ev.sending_ip);
  w.Field("smtp_code", static_cast<std::int64_t>(ev.smtp_code));
  w.Field("enhanced_code", ev.enhanced_code);
  w.Field("text", ev.text);
  w.Field("type", classify::ToString(ev.type));
}

void WriteClassification(JsonWriter& w, const classify::Classification& c) {
  w.BeginObject();
  w.Field("reason", classify::ToString(c.reason));
  w.Field("class", classify::ToString(c.bounce_class));
  w.FieldBool("hard", c.hard);
  w.Field("vendor", classify::ToString(c.vendor));
  w.Field("vendor_source", classify::ToString(c.vendor_source));
  w.Field("party", classify::ToString(c.party));
  w.Field("action", classify::ToString(c.action));
  w.Key("confidence");
  w.Double(c.confidence, 2);
  w.Field("rule", c.rule);
  w.Key("doc");
  if (c.doc.empty()) w.Null(); else w.String(c.doc.view());
  w.Key("dnsbl");
  if (c.dnsbl.empty()) w.Null(); else w.String(c.dnsbl);
  w.Field("smtp_code", static_cast<std::int64_t>(c.smtp_code));
  w.Field("enhanced_code", c.enhanced_code);
  if (c.text_truncated) w.FieldBool("text_truncated", true);
  w.EndObject();
}

void EncodeClassified(const classify::BounceEvent& ev, const classify::Classification& c,
                      std::string* out) {
  JsonWriter w(out);
  w.BeginObject();
  WriteEvent(w, ev);
  w.Key("classification");
  WriteClassification(w, c);
  w.EndObject();
}

void EncodeClassifiedRecord(const classify::BounceEvent& ev, const classify::Classification& c,
                            const SourceRef& source, std::string* out) {
  JsonWriter w(out);
  w.BeginObject();
  WriteEvent(w, ev);
  w.Key("classification");
  WriteClassification(w, c);
  w.Key("source");
  w.BeginObject();
  w.Field("topic", source.topic);
  w.Field("partition", std::int64_t{source.partition});
  w.Field("offset", source.offset);
  w.Field("format", source.format);
  w.EndObject();
  w.EndObject();
}

}  // namespace bouncestream::stream
