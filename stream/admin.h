// Operator actions shared by `bouncestream state …` and the processor:
//   * the admin command record for a running group (topic `config.topics.admin`): a JSON value
//     signed with HMAC-SHA256 under the [admin] token, carried in header `bouncestream.auth`
//     (lower-case hex); the token itself never travels;
//   * the audit record of an operator action (topic `config.topics.audit`), which never holds
//     an address: a request id and, at most, the recipient's keyed hash;
//   * the partition of a recipient domain (Kafka's murmur2, as librdkafka's `murmur2_random`
//     partitioner places a keyed record);
//   * reading decisions back from their JSON form (state::EncodeJson) and parsing times.
// Errors are values and never quote an address or any other field value.
#ifndef BOUNCESTREAM_STREAM_ADMIN_H_
#define BOUNCESTREAM_STREAM_ADMIN_H_

#include <cstdint>
#include <expected>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "state/decision.h"

namespace bouncestream::stream {

struct OutputTopics;

// ---- admin commands -------------------------------------------------------------------------

inline constexpr std::string_view kAdminAuthHeader = "bouncestream.auth";
// A command older (or further in the future) than this, by its issued_at, should be refused by
// the processor (replayed records); the processor should also remember executed request ids.
inline constexpr std::int64_t kAdminCommandMaxAgeMs = 15 * 60 * 1000;

enum class AdminCommandKind : std::uint8_t { kLift, kErase, kImport };
std::string_view ToString(AdminCommandKind k);  // "lift" | "erase" | "import"
std::optional<AdminCommandKind> ParseAdminCommandKind(std::string_view s);

struct AdminCommand {
  AdminCommandKind command = AdminCommandKind::kLift;
  std::string request_id;   // 32 hex digits (NewRequestId); also the record key and audit key
  std::string decision_id;  // lift: the decision to lift
  std::string tenant;       // erase: the tenant ("" = every tenant)
  // erase: the address as the operator typed it, or "h:<hex>" (HashRecipient) when the operator
  // hashed it; a processor with hash_recipients on hashes a plain address itself.
  std::string recipient;
  std::string note;         // operator's note (lift, import); never an address
  std::vector<state::Decision> decisions;  // import: suppressions (origin import), any partition
  std::int64_t issued_at_ms = 0;           // wall clock of the CLI
};

// The record value: {"command":…,"request_id":…,"decision_id":…,"tenant":…,"recipient":…,
// "note":…,"decisions":[…state::EncodeJson…],"issued_at":"RFC 3339"}; every key always present.
std::string EncodeAdminCommand(const AdminCommand& c);
// Validates the structure (command known, request_id present, lift has decision_id, erase has
// recipient, import has decisions); errors name the field, never its value.
std::expected<AdminCommand, std::string> DecodeAdminCommand(std::string_view value);

// Lower-case hex HMAC-SHA256(token, value) (64 characters).
std::string SignAdminCommand(std::string_view token, std::string_view value);
// Constant-time check of the header value; an empty token or empty auth is always refused.
bool VerifyAdminCommand(std::string_view token, std::string_view value, std::string_view auth);

// 32 random lower-case hex digits (OpenSSL RAND_bytes).
std::string NewRequestId();

// ---- audit ----------------------------------------------------------------------------------

struct AuditRecord {
  std::string action;          // lift | erase | import
  std::string request_id;
  std::string mode;            // offline (stopped state dir) | admin-topic (running group)
  std::string decision_id;     // lift
  std::string tenant;          // erase / import (may be empty)
  std::string recipient_hash;  // erase: "h:<hex>" when a key is known, else empty; never an address
  std::string note;
  std::int64_t decisions = 0;  // decision records produced (lift/resume/tombstones/imports)
  std::vector<std::int32_t> partitions;
  std::int64_t at_ms = 0;      // wall clock
};
// {"action":…,"request_id":…,"mode":…,"decision_id":…,"tenant":…,"recipient_hash":…,"note":…,
//  "decisions":n,"partitions":[…],"at":"RFC 3339"}; keyed by request_id on the audit topic.
std::string EncodeAuditRecord(const AuditRecord& a);

// ---- decisions on their topics --------------------------------------------------------------

// The topic of a decision record (suppressions / blocks / alerts by state::StreamOf).
const std::string& DecisionTopic(const OutputTopics& topics, const state::Decision& d);
// An erased recipient's suppression leaves a tombstone (no value), so compacted topics forget it.
bool PublishesTombstone(const state::Decision& d);

// ---- partitions -----------------------------------------------------------------------------

// Kafka's murmur2 (seed 0x9747b28c), as org.apache.kafka.common.utils.Utils.murmur2 and
// librdkafka's rd_murmur2.
std::uint32_t Murmur2(std::string_view key);
// (murmur2(key) & 0x7fffffff) % partitions — where librdkafka's murmur2 / murmur2_random
// partitioners and the Java client's default partitioner put a record with this key.
std::int32_t PartitionForKey(std::string_view key, std::int32_t partitions);
// The lower-cased part after the last '@' ("" when there is none): the classified record key.
std::string RecipientDomain(std::string_view address);

// ---- decision JSON and times ----------------------------------------------------------------

// Reads one decision as written by state::EncodeJson (missing keys keep their defaults).
std::expected<state::Decision, std::string> DecodeDecisionJson(std::string_view json);
// RFC 3339 ("2026-12-01T10:24:00.123Z", offsets, space for T), a date ("2026-12-01"), or Unix
// seconds / milliseconds as digits (13+ digits = ms). nullopt when unreadable.
std::optional<std::int64_t> ParseTimeMs(std::string_view text);

}  // namespace bouncestream::stream

#endif  // BOUNCESTREAM_STREAM_ADMIN_H_
