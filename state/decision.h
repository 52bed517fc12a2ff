// Decisions: what the policy (or an operator) decided, with its evidence. Published as JSON to
// bouncestream.suppressions (suppress/lift), bouncestream.blocks (pause/resume) and
// bouncestream.alerts (alert, and lift of an alert); the record format is described by
// schemas/*.schema.json.
#ifndef BOUNCESTREAM_STATE_DECISION_H_
#define BOUNCESTREAM_STATE_DECISION_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace bouncestream::state {

enum class DecisionKind : std::uint8_t { kSuppress, kLift, kPause, kResume, kAlert };
// tenant:   the recipient for every sender of the tenant (hard invalid, complaint, soft streak)
// sender:   the recipient for one sender only (end-user block), or a sender alert
// domain:   one sender -> one recipient domain (admin policy blocks)
// ip_vendor: one sending IP or pool -> one filter vendor (platform / RBL blocks)
enum class Scope : std::uint8_t { kTenant, kSender, kDomain, kIpVendor };
// Which output topic a decision goes to.
enum class Stream : std::uint8_t { kSuppressions, kBlocks, kAlerts };

std::string_view ToString(DecisionKind k);
std::string_view ToString(Scope s);
std::optional<DecisionKind> ParseDecisionKind(std::string_view s);
std::optional<Scope> ParseScope(std::string_view s);

struct Evidence {
  std::int64_t count = 0;          // events behind the decision (distinct recipients for domain)
  std::int64_t first_seen_ms = 0;  // event time of the first of them
  std::int64_t last_seen_ms = 0;
  std::string example;             // one reply text (capped at 512 bytes)
  std::string event_id;            // the event that triggered the decision
};

struct Decision {
  std::string decision_id;  // deterministic: 16 lower-case hex digits
  DecisionKind kind = DecisionKind::kSuppress;
  Scope scope = Scope::kTenant;
  std::string tenant;
  std::string recipient;  // the address; empty when recipient_is_hash or not applicable
  bool recipient_is_hash = false;  // then `recipient` holds the "h:<hex>" key
  std::string sender;
  std::string domain;
  std::string sending_ip;
  std::string vendor;
  std::string dnsbl;   // the list to delist from, for ip_vendor pauses
  std::string reason;
  std::string party;
  std::string rule;    // policy rule id ("policy.hard_invalid", ...) + the classifier rule
  std::string classifier_rule;
  std::string origin = "policy";  // policy | operator | import | erase | expiry
  std::string note;               // operator's note (lift/import), never an address
  Evidence evidence;
  std::int64_t decided_at_ms = 0;  // event time of the trigger; wall clock for operator actions
  std::int64_t expires_at_ms = 0;  // 0 = does not expire
};

Stream StreamOf(const Decision& d);
// Kafka key of the decision's record: suppressions "tenant\x1Frecipient[\x1Fsender]",
// blocks "tenant\x1Fsender\x1Fdomain" or "ip\x1Fvendor", alerts "tenant\x1Fsender\x1Freason".
std::string RecordKey(const Decision& d);
// Appends the decision as one JSON object (no newline). Every field is always present (empty
// strings as ""); exactly one of "recipient" / "recipient_hash"; times are RFC 3339 UTC strings
// with milliseconds, `expires_at` and the evidence times are null when 0. See state/README.md.
void EncodeJson(const Decision& d, std::string* out);

// Added with the implementation:
// True for an alert and for the lift of an alert (scope sender without a recipient).
bool IsAlertDecision(const Decision& d);
// "2026-12-01T10:24:00.123Z".
std::string FormatRfc3339Ms(std::int64_t unix_ms);
// The same, appended to `out`.
void AppendRfc3339Ms(std::int64_t unix_ms, std::string* out);

}  // namespace bouncestream::state

#endif  // BOUNCESTREAM_STATE_DECISION_H_
