#include "stream/observe.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <simdjson.h>

#include <string>

#include "classify/taxonomy.h"

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

std::expected<state::Observation, std::string> ObservationReader::Read(
    std::string_view payload, std::string_view domain_key) {
  Impl& s = *impl_;
  s.padded.assign(payload.data(), payload.size());
  s.padded.resize(payload.size() + simdjson::SIMDJSON_PADDING, '\0');
  od::document doc;
  if (auto e = s.parser.iterate(s.padded.data(), payload.size(), s.padded.size()).get(doc)) {
    return std::unexpected(std::string("classified record: ") + simdjson::error_message(e));
  }
  state::Observation o;
  std::string_view type, party, reason, recipient, src_topic;
  std::int64_t src_partition = -1, src_offset = -1;
  bool hard = false;
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
    if (key == "id") e = s.Str(v, &o.event_id);
    else if (key == "time") e = v.get_int64().get(o.event_time_ms);
    else if (key == "tenant") e = s.Str(v, &o.tenant);
    else if (key == "sender") e = s.Str(v, &o.sender);
    else if (key == "recipient") e = s.Str(v, &recipient);
    else if (key == "sending_ip") e = s.Str(v, &o.sending_ip);
    else if (key == "text") e = s.Str(v, &o.text);
    else if (key == "type") e = s.Str(v, &type);
    else if (key == "classification") {
      od::object c;
      if (auto ce = v.get_object().get(c)) return fail(key, ce);
      for (auto cf : c) {
        std::string_view ck;
        if (auto ce = cf.unescaped_key().get(ck)) return fail("classification", ce);
        od::value cv;
        if (auto ce = cf.value().get(cv)) return fail(ck, ce);
        simdjson::error_code ce = simdjson::SUCCESS;
        if (ck == "reason") ce = s.Str(cv, &reason);
        else if (ck == "party") ce = s.Str(cv, &party);
        else if (ck == "vendor") ce = s.Str(cv, &o.vendor);
        else if (ck == "rule") ce = s.Str(cv, &o.rule);
        else if (ck == "dnsbl") ce = s.Str(cv, &o.dnsbl);
        else if (ck == "hard") ce = cv.get_bool().get(hard);
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
        if (ck == "topic") ce = s.Str(cv, &src_topic);
        else if (ck == "partition") ce = cv.get_int64().get(src_partition);
        else if (ck == "offset") ce = cv.get_int64().get(src_offset);
        if (ce) return fail(std::string("source.") + std::string(ck), ce);
      }
    }
    if (e) return fail(key, e);
  }
  // A record without a recipient (a PowerMTA connection-level record, a Postfix line without
  // to=) still counts for the domain, sender and IP windows; the engine skips recipient windows.
  if (party.empty() || reason.empty()) {
    return std::unexpected(std::string("classified record: no classification"));
  }
  if (o.event_id.empty()) {
    // No source id: the input record's position identifies it (the same on every replay).
    const std::string ref = std::string(src_topic) + ":" + std::to_string(src_partition) + ":" +
                            std::to_string(src_offset);
    o.event_id = s.arena.Copy(ref);
  }
  if (!s.hmac_key.empty()) {
    o.recipient = s.arena.Copy(HashRecipient(s.hmac_key, recipient));
    o.recipient_is_hash = true;
  } else {
    o.recipient = recipient;
  }
  if (!domain_key.empty()) {
    o.domain = s.arena.Copy(domain_key);
  } else {
    const auto at = recipient.rfind('@');
    o.domain = at == std::string_view::npos ? std::string_view{} : recipient.substr(at + 1);
  }
  o.reason = reason;
  o.party = party;
  o.reason_code = ReasonCode(reason);
  o.signal = SignalOf(type, party, reason, hard);
  if (o.vendor.empty()) o.vendor = "other";
  return o;
}

}  // namespace bouncestream::stream
