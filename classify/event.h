// The normalized bounce event: what every input adapter produces and what the classifier reads.
#ifndef BOUNCESTREAM_CLASSIFY_EVENT_H_
#define BOUNCESTREAM_CLASSIFY_EVENT_H_

#include <cstdint>
#include <optional>
#include <string_view>

namespace bouncestream::classify {

enum class EventType : std::uint8_t { kBounce, kDeferral, kComplaint, kDelivered, kExpired };

std::string_view ToString(EventType type);
std::optional<EventType> ParseEventType(std::string_view name);

// A non-owning view of one event. The adapter that built it owns the bytes (a batch arena or the
// Kafka message), so the classifier never copies a field. Keys of the canonical JSON event are
// exactly the member names below.
struct BounceEvent {
  std::string_view id;             // the source's own event id (dedupe key)
  std::int64_t time_ms = 0;        // event time, Unix milliseconds
  std::string_view tenant;         // ESP customer / account
  std::string_view sender;         // envelope sender (MAIL FROM)
  std::string_view recipient;      // envelope recipient (RCPT TO)
  std::string_view mx;             // remote host name that answered
  std::string_view remote_ip;      // its address
  std::string_view sending_ip;     // our source address or pool name
  int smtp_code = 0;               // 0 when unknown
  std::string_view enhanced_code;  // RFC 3463 "5.1.1", empty when unknown
  std::string_view text;           // the reply / diagnostic text
  EventType type = EventType::kBounce;

  // Lower-case-insensitive domain part of `recipient` (a view into it), empty if none.
  std::string_view RecipientDomain() const;
};

}  // namespace bouncestream::classify

#endif  // BOUNCESTREAM_CLASSIFY_EVENT_H_
