#include "stream/observe.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <simdjson.h>

#include <string>

#include "classify/taxonomy.h"
#include "stream/internal/observation_header.h"

namespace bouncestream::stream {

namespace od = simdjson::ondemand;

state::Signal SignalOf(std::string_view type, std::string_view party, std::string_view reason,
                       bool hard) {
  using state::Signal;
  if (type == "complaint" || reason == "feedback") return Signal::kComplaint;
  if (type == "delivered" || reason == "delivered") return Signal::kDelivered;
  if (party == "recipient_invalid" && hard) return Signal::kHardInvalid;
  if (party == "end_user") return Signal::kEndUserBlock;
  if (party == "recipient_admin") return Signal::kAdminBlock;
  if (party == "filter_platform") return Signal::kPlatformBlock;
  if (party == "sender_config") return Signal::kSenderConfig;
  // A final failure that is about the mailbox (full, suspended, over its limits) or the
  // recipient's side, even when the classifier calls the reply itself transient.
  const bool final = type == "bounce" || type == "expired";
  const bool mailbox_reason = reason == "mailboxfull" || reason == "suspend" ||
                              reason == "exceedlimit" || reason == "systemfull" ||
                              reason == "expired";
  if (final && (party == "recipient_invalid" || party == "recipient_infra" || mailbox_reason)) {
    return Signal::kSoft;
  }
  if (party == "transient" || type == "deferral") return Signal::kTransient;
  return Signal::kOther;
}

std::string HashRecipient(std::string_view key, std::string_view address) {
  std::string lower(address);
  for (char& c : lower) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(lower.data()), lower.size(), mac, &len);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "h:";
  for (unsigned int i = 0; i < 16 && i < len; ++i) {
    out.push_back(kHex[mac[i] >> 4]);
    out.push_back(kHex[mac[i] & 15]);
  }
  return out;
}

namespace {

// Per-reason counters only need a small stable number: the reason's position in the taxonomy.
std::uint8_t ReasonCode(std::string_view reason) {
  const auto r = classify::ParseReason(reason);
  return r ? static_cast<std::uint8_t>(*r) : std::uint8_t{63};
}

}  // namespace

struct ObservationReader::Impl {
  std::string hmac_key;
  od::parser parser;
  std::string padded;
  Arena arena;

  simdjson::error_code Str(od::value v, std::string_view* out) {
    od::json_type t;
    if (auto e = v.type().get(t)) return e;
    if (t == od::json_type::null) {
      *out = {};
      return simdjson::SUCCESS;
    }
    std::string_view s;
    if (auto e = v.get_string().get(s)) return e;
    *out = arena.Copy(s);
    return simdjson::SUCCESS;
  }
};

ObservationReader::ObservationReader(std::string hmac_key) : impl_(std::make_unique<Impl>()) {
  impl_->hmac_key = std::move(hmac_key);
}
ObservationReader::~ObservationReader() = default;
void ObservationReader::Reset() { impl_->arena.Reset(); }

namespace {

// The fields of a classified record the observation is built from, as the record holds them.
struct RecordFields {
  std::string_view id, tenant, sender, recipient, sending_ip, text, type, reason, vendor, party,
      rule, dnsbl, src_topic;
  std::int64_t time_ms = 0, src_partition = -1, src_offset = -1;
  bool hard = false;
};

// The same for both encodings of the record: `f`'s views must stay valid until Reset().
std::expected<state::Observation, std::string> Finish(const RecordFields& f,
                                                      std::string_view domain_key,
                                                      const std::string& hmac_key, Arena& arena) {
  // A record without a recipient (a PowerMTA connection-level record, a Postfix line without
  // to=) still counts for the domain, sender and IP windows; the engine skips recipient windows.
  if (f.party.empty() || f.reason.empty()) {
    return std::unexpected(std::string("classified record: no classification"));
  }
  state::Observation o;
  o.event_id = f.id;
  o.event_time_ms = f.time_ms;
  o.tenant = f.tenant;
  o.sender = f.sender;
  o.sending_ip = f.sending_ip;
  o.text = f.text;
  o.vendor = f.vendor;
  o.rule = f.rule;
  o.dnsbl = f.dnsbl;
  if (o.event_id.empty()) {
    // No source id: the input record's position identifies it (the same on every replay).
    const std::string ref = std::string(f.src_topic) + ":" + std::to_string(f.src_partition) + ":" +
                            std::to_string(f.src_offset);
    o.event_id = arena.Copy(ref);
  }
  if (!hmac_key.empty()) {
    o.recipient = arena.Copy(HashRecipient(hmac_key, f.recipient));
    o.recipient_is_hash = true;
  } else {
    o.recipient = f.recipient;
  }
  if (!domain_key.empty()) {
    o.domain = arena.Copy(domain_key);
  } else {
    const auto at = f.recipient.rfind('@');
    o.domain = at == std::string_view::npos ? std::string_view{} : f.recipient.substr(at + 1);
  }
  o.reason = f.reason;
  o.party = f.party;
  o.reason_code = ReasonCode(f.reason);
  o.signal = SignalOf(f.type, f.party, f.reason, f.hard);
  if (o.vendor.empty()) o.vendor = "other";
  return o;
}

}  // namespace

std::expected<state::Observation, std::string> ObservationReader::Read(
    std::string_view payload, std::string_view domain_key, std::string_view header) {
  if (!header.empty() && header[0] == internal::kObservationHeaderVersion) {
    return ReadHeader(header, payload, domain_key);
  }
  Impl& s = *impl_;
  s.padded.assign(payload.data(), payload.size());
  s.padded.resize(payload.size() + simdjson::SIMDJSON_PADDING, '\0');
  od::document doc;
  if (auto e = s.parser.iterate(s.padded.data(), payload.size(), s.padded.size()).get(doc)) {
    return std::unexpected(std::string("classified record: ") + simdjson::error_message(e));
  }
  RecordFields f;
  od::object root;
  if (auto e = doc.get_object().get(root)) {
    return std::unexpected(std::string("classified record: ") + simdjson::error_message(e));
  }
  auto fail = [](std::string_view field, simdjson::error_code e) {
    return std::unexpected(std::string("classified record: field ") + std::string(field) + ": " +
                           simdjson::error_message(e));
  };
  for (auto field : root) {
    std::string_view key;
    if (auto e = field.unescaped_key().get(key)) return fail("key", e);
    od::value v;
    if (auto e = field.value().get(v)) return fail(key, e);
    simdjson::error_code e = simdjson::SUCCESS;
    if (key == "id") e = s.Str(v, &f.id);
    else if (key == "time") e = v.get_int64().get(f.time_ms);
    else if (key == "tenant") e = s.Str(v, &f.tenant);
    else if (key == "sender") e = s.Str(v, &f.sender);
    else if (key == "recipient") e = s.Str(v, &f.recipient);
    else if (key == "sending_ip") e = s.Str(v, &f.sending_ip);
    else if (key == "text") e = s.Str(v, &f.text);
    else if (key == "type") e = s.Str(v, &f.type);
    else if (key == "classification") {
      od::object c;
      if (auto ce = v.get_object().get(c)) return fail(key, ce);
      for (auto cf : c) {
        std::string_view ck;
        if (auto ce = cf.unescaped_key().get(ck)) return fail("classification", ce);
        od::value cv;
        if (auto ce = cf.value().get(cv)) return fail(ck, ce);
        simdjson::error_code ce = simdjson::SUCCESS;
        if (ck == "reason") ce = s.Str(cv, &f.reason);
        else if (ck == "party") ce = s.Str(cv, &f.party);
        else if (ck == "vendor") ce = s.Str(cv, &f.vendor);
        else if (ck == "rule") ce = s.Str(cv, &f.rule);
        else if (ck == "dnsbl") ce = s.Str(cv, &f.dnsbl);
        else if (ck == "hard") ce = cv.get_bool().get(f.hard);
        if (ce) return fail(std::string("classification.") + std::string(ck), ce);
      }
    } else if (key == "source") {
      od::object c;
      if (auto ce = v.get_object().get(c)) return fail(key, ce);
      for (auto cf : c) {
        std::string_view ck;
        if (auto ce = cf.unescaped_key().get(ck)) return fail("source", ce);
        od::value cv;
        if (auto ce = cf.value().get(cv)) return fail(ck, ce);
        simdjson::error_code ce = simdjson::SUCCESS;
        if (ck == "topic") ce = s.Str(cv, &f.src_topic);
        else if (ck == "partition") ce = cv.get_int64().get(f.src_partition);
        else if (ck == "offset") ce = cv.get_int64().get(f.src_offset);
        if (ce) return fail(std::string("source.") + std::string(ck), ce);
      }
    }
    if (e) return fail(key, e);
  }
  return Finish(f, domain_key, s.hmac_key, s.arena);
}

std::expected<state::Observation, std::string> ObservationReader::ReadHeader(
    std::string_view header, std::string_view payload, std::string_view domain_key) {
  Impl& s = *impl_;
  internal::HeaderCursor in(header.substr(1), payload);
  RecordFields f;
  std::string_view* const strings[] = {&f.id,     &f.tenant, &f.sender, &f.recipient, &f.sending_ip,
                                       &f.text,   &f.type,   &f.reason, &f.vendor,    &f.party,
                                       &f.rule,   &f.dnsbl,  &f.src_topic};
  auto bad = [](std::string_view what) {
    return std::unexpected(std::string("classified record: observation header: ") +
                           std::string(what));
  };
  for (std::string_view* field : strings) {
    const auto v = in.String();
    if (!v) return bad("a string is malformed, cut short or points outside the value");
    *field = s.arena.Copy(*v);
  }
  const auto time_ms = in.Signed();
  const auto partition = in.Signed();
  const auto offset = in.Signed();
  const auto hard = in.Char();
  if (!time_ms || !partition || !offset || !hard) return bad("cut short or a malformed number");
  if (*hard != '0' && *hard != '1') return bad("the hard flag is neither 0 nor 1");
  if (!in.AtEnd()) return bad("bytes after the last field");
  f.time_ms = *time_ms;
  f.src_partition = *partition;
  f.src_offset = *offset;
  f.hard = *hard == '1';
  return Finish(f, domain_key, s.hmac_key, s.arena);
}

}  // namespace bouncestream::stream
