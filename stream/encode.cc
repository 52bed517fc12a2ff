#include "stream/encode.h"

namespace bouncestream::stream {
namespace {

// Every key below is a plain ASCII literal: PlainKey skips the escape scan.
void Text(JsonWriter& w, std::string_view key, std::string_view v) {
  w.PlainKey(key);
  w.String(v);
}
void Number(JsonWriter& w, std::string_view key, std::int64_t v) {
  w.PlainKey(key);
  w.Int(v);
}

// An upper bound of what the event's strings and the fixed parts take, escapes aside.
std::size_t SizeHint(const classify::BounceEvent& ev) {
  return 512 + ev.id.size() + ev.tenant.size() + ev.sender.size() + ev.recipient.size() +
         ev.mx.size() + ev.remote_ip.size() + ev.sending_ip.size() + ev.enhanced_code.size() +
         ev.text.size();
}

}  // namespace

void WriteEvent(JsonWriter& w, const classify::BounceEvent& ev) {
  Text(w, "id", ev.id);
  Number(w, "time", ev.time_ms);
  Text(w, "tenant", ev.tenant);
  Text(w, "sender", ev.sender);
  Text(w, "recipient", ev.recipient);
  Text(w, "mx", ev.mx);
  Text(w, "remote_ip", ev.remote_ip);
  Text(w, "sending_ip", ev.sending_ip);
  Number(w, "smtp_code", ev.smtp_code);
  Text(w, "enhanced_code", ev.enhanced_code);
  Text(w, "text", ev.text);
  Text(w, "type", classify::ToString(ev.type));
}

void WriteClassification(JsonWriter& w, const classify::Classification& c) {
  w.BeginObject();
  Text(w, "reason", classify::ToString(c.reason));
  Text(w, "class", classify::ToString(c.bounce_class));
  w.PlainKey("hard");
  w.Bool(c.hard);
  Text(w, "vendor", classify::ToString(c.vendor));
  Text(w, "vendor_source", classify::ToString(c.vendor_source));
  Text(w, "party", classify::ToString(c.party));
  Text(w, "action", classify::ToString(c.action));
  w.PlainKey("confidence");
  w.Double(c.confidence, 2);
  Text(w, "rule", c.rule);
  w.PlainKey("doc");
  if (c.doc.empty()) w.Null(); else w.String(c.doc.view());
  w.PlainKey("dnsbl");
  if (c.dnsbl.empty()) w.Null(); else w.String(c.dnsbl);
  Number(w, "smtp_code", c.smtp_code);
  Text(w, "enhanced_code", c.enhanced_code);
  if (c.text_truncated) {
    w.PlainKey("text_truncated");
    w.Bool(true);
  }
  w.EndObject();
}

void EncodeClassified(const classify::BounceEvent& ev, const classify::Classification& c,
                      std::string* out) {
  out->reserve(out->size() + SizeHint(ev));
  JsonWriter w(out);
  w.BeginObject();
  WriteEvent(w, ev);
  w.PlainKey("classification");
  WriteClassification(w, c);
  w.EndObject();
}

void EncodeClassifiedRecord(const classify::BounceEvent& ev, const classify::Classification& c,
                            const SourceRef& source, std::string* out) {
  out->reserve(out->size() + SizeHint(ev) + source.topic.size());
  JsonWriter w(out);
  w.BeginObject();
  WriteEvent(w, ev);
  w.PlainKey("classification");
  WriteClassification(w, c);
  w.PlainKey("source");
  w.BeginObject();
  Text(w, "topic", source.topic);
  Number(w, "partition", source.partition);
  Number(w, "offset", source.offset);
  Text(w, "format", source.format);
  w.EndObject();
  w.EndObject();
}

}  // namespace bouncestream::stream
