#include "state/internal/decision_codec.h"

#include <cstdio>

#include "state/internal/codec.h"
#include "state/internal/keys.h"
#include "state/internal/xxhash.h"

namespace bouncestream::state::internal {
namespace {
constexpr std::uint8_t kFormat = 1;
}  // namespace

void EncodeDecision(const Decision& d, std::string* out) {
  out->push_back(static_cast<char>(kFormat));
  out->push_back(static_cast<char>(d.kind));
  out->push_back(static_cast<char>(d.scope));
  out->push_back(d.recipient_is_hash ? 1 : 0);
  PutFixed<std::int64_t>(out, d.decided_at_ms);
  PutFixed<std::int64_t>(out, d.expires_at_ms);
  PutFixed<std::int64_t>(out, d.evidence.count);
  PutFixed<std::int64_t>(out, d.evidence.first_seen_ms);
  PutFixed<std::int64_t>(out, d.evidence.last_seen_ms);
  for (const std::string* s :
       {&d.decision_id, &d.tenant, &d.recipient, &d.sender, &d.domain, &d.sending_ip, &d.vendor,
        &d.dnsbl, &d.reason, &d.party, &d.rule, &d.classifier_rule, &d.origin, &d.note,
        &d.evidence.example, &d.evidence.event_id}) {
    PutBytes(out, *s);
  }
}

bool DecodeDecision(std::string_view in, Decision* d) {
  Reader r(in);
  std::uint8_t format = 0, kind = 0, scope = 0, hashed = 0;
  if (!r.Fixed(&format) || format != kFormat || !r.Fixed(&kind) || !r.Fixed(&scope) ||
      !r.Fixed(&hashed) || kind > 4 || scope > 3) {
    return false;
  }
  d->kind = static_cast<DecisionKind>(kind);
  d->scope = static_cast<Scope>(scope);
  d->recipient_is_hash = hashed != 0;
  if (!r.Fixed(&d->decided_at_ms) || !r.Fixed(&d->expires_at_ms) ||
      !r.Fixed(&d->evidence.count) || !r.Fixed(&d->evidence.first_seen_ms) ||
      !r.Fixed(&d->evidence.last_seen_ms)) {
    return false;
  }
  for (std::string* s :
       {&d->decision_id, &d->tenant, &d->recipient, &d->sender, &d->domain, &d->sending_ip,
        &d->vendor, &d->dnsbl, &d->reason, &d->party, &d->rule, &d->classifier_rule, &d->origin,
        &d->note, &d->evidence.example, &d->evidence.event_id}) {
    if (!r.Bytes(s)) return false;
  }
  return r.Done();
}

char DecisionSlot(const Decision& d) {
  if (IsAlertDecision(d)) return 'A';
  switch (d.scope) {
    case Scope::kTenant: return 'T';
    case Scope::kSender: return 'S';
    case Scope::kDomain: return 'D';
    case Scope::kIpVendor: return 'I';
  }
  return 'T';
}

void DecisionKeySuffix(const Decision& d, std::string* out) {
  char slot = DecisionSlot(d);
  out->push_back(slot);
  auto add = [out](std::initializer_list<std::string_view> fields) {
    bool first = true;
    for (std::string_view f : fields) {
      if (!first) out->push_back(kSep);
      first = false;
      out->append(f);
    }
  };
  switch (slot) {
    case 'T': add({d.tenant, d.recipient}); break;
    case 'S': add({d.tenant, d.recipient, d.sender}); break;
    case 'D': add({d.tenant, d.domain, d.sender}); break;
    case 'I': add({d.sending_ip, d.vendor}); break;
    default: add({d.tenant, d.sender, d.reason}); break;
  }
}

std::string DecisionId(const Decision& d, std::string_view salt) {
  std::string in;
  in.push_back(static_cast<char>(d.kind));
  in.push_back(static_cast<char>(d.scope));
  DecisionKeySuffix(d, &in);
  in.push_back(kSep);
  PutFixed<std::int64_t>(&in, d.decided_at_ms);
  PutBytes(&in, d.evidence.event_id);
  PutBytes(&in, d.origin);
  PutBytes(&in, salt);
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx",
                static_cast<unsigned long long>(XXH64(in.data(), in.size(), 0)));
  return buf;
}

std::string CapUtf8(std::string_view s, std::size_t max) {
  if (s.size() <= max) return std::string(s);
  std::size_t n = max;
  // Back off over continuation bytes so the cut falls before a lead byte.
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
  return std::string(s.substr(0, n));
}

}  // namespace bouncestream::state::internal
