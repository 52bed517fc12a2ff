#include "stream/encode.h"

#include <cstring>

#include "stream/internal/observation_header.h"

namespace bouncestream::stream {
namespace {

// An observation header holds its strings inline only when the JSON had to escape them; with
// more inline bytes than this it is left out.
constexpr std::size_t kMaxObservationHeader = 16 * 1024;

// Where each string the observation header names starts in the record's JSON (the position of
// its opening quote), npos when it was written as null.
struct Spans {
  std::size_t id = std::string::npos, tenant = std::string::npos, sender = std::string::npos,
              recipient = std::string::npos, sending_ip = std::string::npos,
              text = std::string::npos, type = std::string::npos, reason = std::string::npos,
              vendor = std::string::npos, party = std::string::npos, rule = std::string::npos,
              dnsbl = std::string::npos, topic = std::string::npos;
};

// Every key below is a plain ASCII literal: PlainKey skips the escape scan. `at`, when given,
// receives where the value's JSON string starts.
void Text(JsonWriter& w, std::string_view key, std::string_view v, std::size_t* at = nullptr) {
  w.PlainKey(key);
  if (at != nullptr) *at = w.size();
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

void WriteEventSpans(JsonWriter& w, const classify::BounceEvent& ev, Spans* at) {
  Text(w, "id", ev.id, at ? &at->id : nullptr);
  Number(w, "time", ev.time_ms);
  Text(w, "tenant", ev.tenant, at ? &at->tenant : nullptr);
  Text(w, "sender", ev.sender, at ? &at->sender : nullptr);
  Text(w, "recipient", ev.recipient, at ? &at->recipient : nullptr);
  Text(w, "mx", ev.mx);
  Text(w, "remote_ip", ev.remote_ip);
  Text(w, "sending_ip", ev.sending_ip, at ? &at->sending_ip : nullptr);
  Number(w, "smtp_code", ev.smtp_code);
  Text(w, "enhanced_code", ev.enhanced_code);
  Text(w, "text", ev.text, at ? &at->text : nullptr);
  Text(w, "type", classify::ToString(ev.type), at ? &at->type : nullptr);
}

void WriteClassificationSpans(JsonWriter& w, const classify::Classification& c, Spans* at) {
  w.BeginObject();
  Text(w, "reason", classify::ToString(c.reason), at ? &at->reason : nullptr);
  Text(w, "class", classify::ToString(c.bounce_class));
  w.PlainKey("hard");
  w.Bool(c.hard);
  Text(w, "vendor", classify::ToString(c.vendor), at ? &at->vendor : nullptr);
  Text(w, "vendor_source", classify::ToString(c.vendor_source));
  Text(w, "party", classify::ToString(c.party), at ? &at->party : nullptr);
  Text(w, "action", classify::ToString(c.action));
  w.PlainKey("confidence");
  w.Double(c.confidence, 2);
  Text(w, "rule", c.rule, at ? &at->rule : nullptr);
  w.PlainKey("doc");
  if (c.doc.empty()) w.Null(); else w.String(c.doc.view());
  w.PlainKey("dnsbl");
  if (c.dnsbl.empty()) {
    w.Null();
  } else {
    if (at != nullptr) at->dnsbl = w.size();
    w.String(c.dnsbl);
  }
  Number(w, "smtp_code", c.smtp_code);
  Text(w, "enhanced_code", c.enhanced_code);
  if (c.text_truncated) {
    w.PlainKey("text_truncated");
    w.Bool(true);
  }
  w.EndObject();
}

// Whether the JSON at `at` (an opening quote) holds `v` verbatim (no escape): then the header
// refers to it.
bool Verbatim(const std::string& json, std::size_t at, std::string_view v) {
  return !v.empty() && at != std::string::npos && at + v.size() + 2 <= json.size() &&
         json[at] == '"' && json[at + 1 + v.size()] == '"' &&
         std::memcmp(json.data() + at + 1, v.data(), v.size()) == 0;
}

}  // namespace

void WriteEvent(JsonWriter& w, const classify::BounceEvent& ev) { WriteEventSpans(w, ev, nullptr); }
void WriteClassification(JsonWriter& w, const classify::Classification& c) {
  WriteClassificationSpans(w, c, nullptr);
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
                            const SourceRef& source, std::string* out, std::string* header) {
  const std::size_t base = out->size();
  out->reserve(base + SizeHint(ev) + source.topic.size());
  Spans spans;
  Spans* at = header != nullptr ? &spans : nullptr;
  JsonWriter w(out);
  w.BeginObject();
  WriteEventSpans(w, ev, at);
  w.PlainKey("classification");
  WriteClassificationSpans(w, c, at);
  w.PlainKey("source");
  w.BeginObject();
  Text(w, "topic", source.topic, at ? &at->topic : nullptr);
  Number(w, "partition", source.partition);
  Number(w, "offset", source.offset);
  Text(w, "format", source.format);
  w.EndObject();
  w.EndObject();
  if (header == nullptr) return;
  header->clear();
  // Without a header (a byte the JSON had to repair, or a string so long that a second copy of
  // it could push the record past the broker's size limit) the reader takes the JSON.
  if (w.repairs() != 0) return;
  struct Field {
    std::string_view v;
    std::size_t at;
    bool ref = false;
  };
  Field f[] = {{ev.id, spans.id},
               {ev.tenant, spans.tenant},
               {ev.sender, spans.sender},
               {ev.recipient, spans.recipient},
               {ev.sending_ip, spans.sending_ip},
               {ev.text, spans.text},
               {classify::ToString(ev.type), spans.type},
               {classify::ToString(c.reason), spans.reason},
               {classify::ToString(c.vendor), spans.vendor},
               {classify::ToString(c.party), spans.party},
               {c.rule, spans.rule},
               {c.dnsbl, spans.dnsbl},
               {source.topic, spans.topic}};
  // A string the JSON holds verbatim is a reference; an escaped one goes inline (valid UTF-8:
  // nothing was repaired, so it is what a JSON reader returns for the escaped form).
  std::size_t inline_bytes = 0;
  for (Field& x : f) {
    x.ref = Verbatim(*out, x.at, x.v);
    if (!x.ref) inline_bytes += x.v.size();
  }
  if (inline_bytes > kMaxObservationHeader) return;
  header->resize(1 + std::size(f) * internal::kMaxFieldOverhead + inline_bytes +
                 3 * internal::kMaxNumber + 1);
  char* const begin = header->data();
  char* p = begin;
  *p++ = internal::kObservationHeaderVersion;
  for (const Field& x : f) {
    p = x.ref ? internal::PutReference(x.at + 1 - base, x.v.size(), p)
              : internal::PutInline(x.v, p);
  }
  p = internal::PutSigned(ev.time_ms, p);
  p = internal::PutSigned(source.partition, p);
  p = internal::PutSigned(source.offset, p);
  *p++ = c.hard ? '1' : '0';
  header->resize(static_cast<std::size_t>(p - begin));
}

}  // namespace bouncestream::stream
