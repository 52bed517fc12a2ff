// The bodies of the libFuzzer targets. Built into each fuzzer (clang, preset `fuzz`) and into
// the regression replay test (every preset), so a saved crash replays through the same code.
// Besides "no crash, no sanitizer report", each body checks a few documented properties and
// calls Fail() (abort) when one does not hold.
#include <sys/mman.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "classify/classifier.h"
#include "classify/rule_set.h"
#include "stream/admin.h"
#include "stream/config.h"
#include "stream/decode.h"
#include "stream/encode.h"
#include "stream/observe.h"
#include "tests/fuzz/fuzz_util.h"

namespace bouncestream::fuzz {
namespace {

volatile std::uint32_t g_sink = 0;

void TouchEvent(const classify::BounceEvent& ev) {
  g_sink = g_sink + Touch(ev.id) + Touch(ev.tenant) + Touch(ev.sender) + Touch(ev.recipient) +
           Touch(ev.mx) + Touch(ev.remote_ip) + Touch(ev.sending_ip) + Touch(ev.enhanced_code) +
           Touch(ev.text) + Touch(ev.RecipientDomain()) + static_cast<std::uint32_t>(ev.type);
}

// The event as the input stage writes it (JSON value + observation header), read back through
// the header and through the JSON: both must give the same observation.
void CheckObservationHeader(const classify::BounceEvent& ev) {
  classify::Classification c;
  c.party = classify::Party::kRecipientInvalid;
  c.hard = true;
  c.rule = "fuzz.rule";
  c.dnsbl = ev.mx;  // any bytes, to reach the dnsbl field's encodings
  std::string value, header;
  stream::EncodeClassifiedRecord(ev, c, {ev.tenant, 7, ev.time_ms, "fuzz"}, &value, &header);
  if (header.empty()) return;  // a string the JSON repaired: the reader takes the JSON
  static stream::ObservationReader via_header, via_json;
  via_header.Reset();
  via_json.Reset();
  const std::string_view key = ev.RecipientDomain();
  auto h = via_header.Read(value, key, header);
  auto j = via_json.Read(value, key);
  if (h.has_value() != j.has_value()) Fail("header and JSON disagree on whether a record reads");
  if (!h) return;
  if (h->event_id != j->event_id || h->event_time_ms != j->event_time_ms ||
      h->tenant != j->tenant || h->sender != j->sender || h->recipient != j->recipient ||
      h->domain != j->domain || h->sending_ip != j->sending_ip || h->vendor != j->vendor ||
      h->reason != j->reason || h->reason_code != j->reason_code || h->party != j->party ||
      h->rule != j->rule || h->dnsbl != j->dnsbl || h->text != j->text ||
      h->signal != j->signal) {
    Fail("the observation header and the JSON give different observations");
  }
}

std::vector<std::string_view> SplitLines(std::string_view s) {
  std::vector<std::string_view> out;
  while (!s.empty()) {
    const std::size_t nl = s.find('\n');
    out.push_back(s.substr(0, nl));
    if (nl == std::string_view::npos) break;
    s.remove_prefix(nl + 1);
  }
  return out;
}

// The shipped rules compiled for one engine, once per process.
const std::shared_ptr<const classify::Classifier>& ShippedClassifier(classify::Engine engine) {
  static const auto make = [](classify::Engine e) {
    auto rules = classify::RuleSet::Load(classify::DefaultRulesPath());
    if (!rules) Fail("shipped rules do not load (set BOUNCESTREAM_RULES)");
    classify::ClassifierOptions options;
    options.engine = e;
    auto c = classify::Classifier::Create(*rules, options);
    if (!c) Fail("shipped rules do not compile");
    return *c;
  };
  static const std::shared_ptr<const classify::Classifier> re2 = make(classify::Engine::kRe2Set);
  static const std::shared_ptr<const classify::Classifier> vs =
      make(classify::Engine::kVectorscan);
  return engine == classify::Engine::kRe2Set ? re2 : vs;
}

}  // namespace

// Input: one payload. Decoded whole by a fresh decoder, then line by line by the same decoder
// (PowerMTA's header line is remembered across messages; one log line per message for Postfix).
void FuzzDecode(int format, const std::uint8_t* data, std::size_t size) {
  const std::string_view payload = View(data, size);
  const auto fmt = static_cast<stream::InputFormat>(format);
  stream::Decoder decoder;
  std::vector<classify::BounceEvent> out;
  auto r = decoder.Decode(payload, fmt, &out);
  if (!r) {
    if (r.error().kind.empty()) Fail("decode error without a kind");
    if (!out.empty()) Fail("a failed decode appended events");
  } else if (fmt != stream::InputFormat::kAuto && *r != fmt) {
    Fail("an explicit format decoded as another one");
  }
  for (const auto& ev : out) {
    TouchEvent(ev);
    CheckObservationHeader(ev);
  }
  if (payload.find('\n') == std::string_view::npos) return;
  decoder.Reset();
  out.clear();
  for (std::string_view line : SplitLines(payload)) {
    const std::size_t before = out.size();
    auto lr = decoder.Decode(line, fmt, &out);
    if (!lr && out.size() != before) Fail("a failed decode appended events");
  }
  for (const auto& ev : out) TouchEvent(ev);  // views must survive later Decode calls
}

// Input: byte 0 = event type (low 3 bits); then "mx\nenhanced_code\ntext" (text = everything
// after the second newline; fewer newlines = all text). Both engines classify the same event.
void FuzzClassify(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return;
  classify::BounceEvent ev;
  ev.type = static_cast<classify::EventType>((data[0] & 7) % 5);
  std::string_view rest = View(data + 1, size - 1);
  const std::size_t a = rest.find('\n');
  const std::size_t b = a == std::string_view::npos ? a : rest.find('\n', a + 1);
  if (b != std::string_view::npos) {
    ev.mx = rest.substr(0, a);
    ev.enhanced_code = rest.substr(a + 1, b - a - 1);
    rest.remove_prefix(b + 1);
  }
  ev.text = rest;
  ev.smtp_code = classify::ExtractReplyCode(ev.text);
  g_sink = g_sink + Touch(classify::ExtractEnhancedCode(ev.text));

  static classify::Classifier::Session re2(ShippedClassifier(classify::Engine::kRe2Set));
  static classify::Classifier::Session vs(ShippedClassifier(classify::Engine::kVectorscan));
  const classify::Classification c1 = re2.Classify(ev);
  const classify::Classification c2 = vs.Classify(ev);
  const std::size_t cap = ShippedClassifier(classify::Engine::kRe2Set)->options().max_text_bytes;
  if (c1.text_truncated != (ev.text.size() > cap)) Fail("text_truncated disagrees with the cap");
  if (c1.rule != c2.rule || c1.reason != c2.reason || c1.vendor != c2.vendor ||
      c1.dnsbl != c2.dnsbl || c1.doc.view() != c2.doc.view()) {
    Fail("re2set and vectorscan classify the same event differently");
  }
  std::vector<std::string_view> matched;
  const classify::Classification t = re2.Trace(ev, &matched);
  if (t.rule != c1.rule) Fail("Trace decided another rule than Classify");
  g_sink = g_sink + Touch(c1.enhanced_code) + Touch(c1.doc.view()) + Touch(c1.rule);
}

// Input: the text of a TOML config file, given to LoadConfig as an in-memory file
// (/proc/self/fd/N of a memfd); an accepted config is printed and loaded again.
void FuzzConfigToml(const std::uint8_t* data, std::size_t size) {
  static const int fd = memfd_create("bouncestream-fuzz-config", 0);
  if (fd < 0) Fail("memfd_create");
  static const std::string path = "/proc/self/fd/" + std::to_string(fd);
  auto write_all = [](std::string_view text) {
    if (ftruncate(fd, 0) != 0) Fail("ftruncate");
    std::size_t done = 0;
    while (done < text.size()) {
      const ssize_t n = pwrite(fd, text.data() + done, text.size() - done,
                               static_cast<off_t>(done));
      if (n <= 0) Fail("pwrite");
      done += static_cast<std::size_t>(n);
    }
  };
  write_all(View(data, size));
  stream::ConfigSources sources;
  sources.file_path = path;
  auto config = stream::LoadConfig(sources);
  if (!config) {
    if (config.error().empty()) Fail("LoadConfig failed without a message");
    return;
  }
  const std::string printed = stream::PrintConfig(*config);
  g_sink = g_sink + Touch(printed);
  write_all(printed);
  auto again = stream::LoadConfig(sources);
  if (again) g_sink = g_sink + Touch(stream::PrintConfig(*again));
}

// Input: lines. "NAME=VALUE" is an environment variable (BOUNCESTREAM_ is prepended when
// missing; BOUNCESTREAM_CONFIG is dropped: files are FuzzConfigToml's job); "-X k=v" is a
// librdkafka flag; "--input=T[:F]", "--bootstrap=", "--group=", "--engine=", "--profile=",
// "--state-dir=", "--metrics-addr=", "--rules=" are the flags. Every value also goes through
// the stand-alone parsers, whose Format/Parse pairs must round-trip.
void FuzzConfigEnv(const std::uint8_t* data, std::size_t size) {
  stream::ConfigSources sources;
  for (std::string_view line : SplitLines(View(data, size))) {
    auto flag = [&](std::string_view name, std::optional<std::string>* into) {
      if (!line.starts_with(name)) return false;
      *into = std::string(line.substr(name.size()));
      return true;
    };
    if (line.starts_with("-X ")) {
      sources.kafka_props.emplace_back(line.substr(3));
    } else if (line.starts_with("--input=")) {
      sources.inputs.emplace_back(line.substr(8));
    } else if (line == "--allow-plaintext") {
      sources.allow_plaintext = true;
    } else if (flag("--bootstrap=", &sources.bootstrap) || flag("--group=", &sources.group) ||
               flag("--engine=", &sources.engine) || flag("--profile=", &sources.profile) ||
               flag("--state-dir=", &sources.state_dir) ||
               flag("--metrics-addr=", &sources.metrics_addr) ||
               flag("--rules=", &sources.rules_path)) {
    } else {
      const std::size_t eq = line.find('=');
      std::string name(line.substr(0, eq));
      std::string value(eq == std::string_view::npos ? "" : line.substr(eq + 1));
      if (!name.starts_with("BOUNCESTREAM_")) name = "BOUNCESTREAM_" + name;
      if (name != "BOUNCESTREAM_CONFIG") sources.env.emplace_back(std::move(name), value);
    }
    if (auto ms = stream::ParseDurationMs(line, true)) {
      auto back = stream::ParseDurationMs(stream::FormatDurationMs(*ms), true);
      if (!back || *back != *ms) Fail("FormatDurationMs does not read back");
    }
    if (auto bytes = stream::ParseByteSize(line)) {
      auto back = stream::ParseByteSize(stream::FormatByteSize(*bytes));
      if (!back || *back != *bytes) Fail("FormatByteSize does not read back");
    }
    if (auto spec = stream::ParseInputSpec(line)) g_sink = g_sink + Touch(spec->topic);
    g_sink = g_sink + static_cast<std::uint32_t>(stream::IsSecretKey(line));
  }
  auto config = stream::LoadConfig(sources);
  if (!config) {
    if (config.error().empty()) Fail("LoadConfig failed without a message");
    return;
  }
  g_sink = g_sink + Touch(stream::PrintConfig(*config));
  for (const auto& [k, v] : stream::ConsumerProperties(*config)) g_sink = g_sink + Touch(k) + Touch(v);
  for (const auto& [k, v] : stream::ProducerProperties(*config)) g_sink = g_sink + Touch(k) + Touch(v);
}

// Input: "<domain key>\n<classified record>"; read without and with a recipient key.
void FuzzObserve(const std::uint8_t* data, std::size_t size) {
  std::string_view in = View(data, size);
  std::string_view key;
  if (const std::size_t nl = in.find('\n'); nl != std::string_view::npos) {
    key = in.substr(0, nl);
    in.remove_prefix(nl + 1);
  }
  static stream::ObservationReader plain;
  static stream::ObservationReader hashed("fuzz-hmac-key");
  for (stream::ObservationReader* reader : {&plain, &hashed}) {
    auto o = reader->Read(in, key);
    if (o) {
      if (o->reason_code >= 64) Fail("reason_code out of range");
      if (o->recipient_is_hash && !o->recipient.starts_with("h:")) Fail("hash without h:");
      g_sink = g_sink + Touch(o->event_id) + Touch(o->tenant) + Touch(o->sender) +
               Touch(o->recipient) + Touch(o->domain) + Touch(o->sending_ip) +
               Touch(o->vendor) + Touch(o->reason) + Touch(o->party) + Touch(o->rule) +
               Touch(o->dnsbl) + Touch(o->text) + Touch(state::SignalName(o->signal));
    } else if (o.error().empty()) {
      Fail("Read failed without a message");
    }
    reader->Reset();
  }
}

// Input: an admin command record value (also read as a decision and as a time). An accepted
// command is encoded and decoded again, and the second encoding equals the first.
void FuzzAdmin(const std::uint8_t* data, std::size_t size) {
  const std::string_view value = View(data, size);
  if (auto c = stream::DecodeAdminCommand(value)) {
    const std::string once = stream::EncodeAdminCommand(*c);
    auto back = stream::DecodeAdminCommand(once);
    if (!back) Fail("an encoded admin command does not decode");
    if (stream::EncodeAdminCommand(*back) != once) Fail("admin command encoding not stable");
  } else if (c.error().empty()) {
    Fail("DecodeAdminCommand failed without a message");
  }
  if (auto d = stream::DecodeDecisionJson(value)) g_sink = g_sink + Touch(d->decision_id);
  if (auto t = stream::ParseTimeMs(value)) g_sink = g_sink + static_cast<std::uint32_t>(*t);
  g_sink = g_sink + Touch(stream::RecipientDomain(value));
  const std::int32_t p = stream::PartitionForKey(value, 12);
  if (p < 0 || p >= 12) Fail("partition out of range");
  g_sink = g_sink + static_cast<std::uint32_t>(stream::VerifyAdminCommand("t", value, value));
}

}  // namespace bouncestream::fuzz
