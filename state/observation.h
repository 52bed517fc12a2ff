// The state layer's input: one classified event, reduced to what windows and the decision policy
// need. `stream/` builds it from a `bouncestream.classified` record; `state/` never sees the
// classifier's types, only the `Signal` that stream derives from party, action and type.
//
// Every view must stay valid for the duration of the Engine call it is passed to.
#ifndef BOUNCESTREAM_STATE_OBSERVATION_H_
#define BOUNCESTREAM_STATE_OBSERVATION_H_

#include <cstdint>
#include <string_view>

namespace bouncestream::state {

// What an event says about the recipient or the sender; decides which policy rule looks at it.
enum class Signal : std::uint8_t {
  kHardInvalid = 0,  // the address is dead (party recipient_invalid, hard)
  kComplaint = 1,    // the recipient reported the mail (feedback loop)
  kSoft = 2,         // soft recipient-side failure (mailbox full, inactive, over quota, ...)
  kEndUserBlock = 3,   // the recipient personally blocks this sender (party end_user)
  kAdminBlock = 4,     // the recipient organisation's policy blocks the sender (recipient_admin)
  kPlatformBlock = 5,  // a filter platform's reputation or an RBL blocks the sending IP
  kSenderConfig = 6,   // SPF/DKIM/DMARC/TLS/PTR fault on the sending side
  kTransient = 7,      // temporary; counted only
  kDelivered = 8,      // delivered: proof the address works (ends a soft-bounce streak)
  kOther = 9,          // anything else; counted only
};
inline constexpr int kSignalCount = 10;
std::string_view SignalName(Signal s);

struct Observation {
  // Dedupe key: the source's own event id (SES feedbackId, SendGrid sg_event_id, Postal uuid,
  // KumoMTA id, canonical id) or, when the source has none, "<topic>:<partition>:<offset>".
  std::string_view event_id;
  std::int64_t event_time_ms = 0;  // event time (never the wall clock)
  std::string_view tenant;
  std::string_view sender;          // the sender address or identity, as given
  std::string_view recipient;       // the address, or "h:<hex>" when recipients are hashed
  bool recipient_is_hash = false;
  std::string_view domain;          // lower-cased recipient domain
  std::string_view sending_ip;      // sending IP or pool name ("" when unknown)
  std::string_view vendor;          // filter vendor token ("other" when none)
  std::string_view reason;          // sisimai-like reason token
  std::uint8_t reason_code = 0;     // the reason as a small number < 64 (per-reason counters)
  std::string_view party;           // responsible party token
  std::string_view rule;            // id of the rule that classified it
  std::string_view dnsbl;           // the list named in the reply, or ""
  std::string_view text;            // the reply text (evidence example; capped by the engine)
  Signal signal = Signal::kOther;
};

}  // namespace bouncestream::state

#endif  // BOUNCESTREAM_STATE_OBSERVATION_H_
