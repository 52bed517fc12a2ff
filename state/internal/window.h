// Windows: event-time buckets of sparse evidence counters, one value per window key.
//
// MergeWindow is the single definition of how windows combine. The engine folds events into its
// in-memory values with it and the RocksDB merge operator folds the batch deltas with it, so a
// value read back from RocksDB equals the value the engine computed. MergeWindow is associative
// and commutative, and the pruning it does (buckets older than newest bucket - retention) is a
// monotone function of the newest bucket, so the result does not depend on how the operands were
// grouped (RocksDB's partial merges) or on how the event sequence was cut into batches.
#ifndef BOUNCESTREAM_STATE_INTERNAL_WINDOW_H_
#define BOUNCESTREAM_STATE_INTERNAL_WINDOW_H_

#include <array>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "state/observation.h"
#include "state/policy.h"

namespace bouncestream::state::internal {

// The byte after the partition in a window key.
enum class WindowKind : char {
  kRecipient = 'r',        // tenant, recipient
  kSenderRecipient = 's',  // tenant, recipient, sender
  kDomain = 'd',           // domain
  kSenderDomain = 'm',     // tenant, sender, domain (+ KMV of AdminBlock recipients)
  kIpVendor = 'i',         // sending_ip, vendor (+ the most recent DNSBL named)
  kSender = 'e',           // tenant, sender (SenderConfig events only)
};
inline constexpr int kWindowKindCount = 6;
int WindowKindIndex(char kind_byte);  // -1 when unknown

struct WindowSpec {
  std::int64_t width_ms = kHourMs;
  std::int64_t retention_ms = 48 * kHourMs;  // buckets older than newest - retention are dropped
  std::int64_t ids_horizon_ms = 0;  // recipient windows: the dedupe horizon of `Window::ids`
};
using WindowSpecs = std::array<WindowSpec, kWindowKindCount>;
// Bucket widths are fixed per kind; retentions cover the largest window of any tenant's policy.
WindowSpecs SpecsFor(const PolicySet& policy);

inline constexpr std::size_t kKmvSize = 64;     // smallest recipient hashes kept per bucket
inline constexpr std::size_t kSoftTimes = 64;   // most recent soft-bounce times kept
inline constexpr std::size_t kMaxTag = 255;
inline constexpr std::size_t kSeenIds = 16;     // event ids kept in a recipient window
inline constexpr std::size_t kMaxIdBytes = 255;  // longer ids are deduped in the dedupe family
static_assert(kSeenIds <= 255 && kMaxIdBytes <= 255, "the ids section encodes both as a u8");

inline constexpr std::uint16_t CounterIndex(Signal s, std::uint8_t reason_code) {
  return static_cast<std::uint16_t>(static_cast<int>(s) * 64 + (reason_code & 63));
}

struct Bucket {
  std::int64_t start = 0;
  std::int64_t first_seen = 0;
  std::int64_t last_seen = 0;
  std::vector<std::pair<std::uint16_t, std::uint32_t>> counters;  // sorted by index
  std::vector<std::uint64_t> hashes;                              // sorted, <= kKmvSize
};

inline constexpr std::int64_t kNotSpilled = std::numeric_limits<std::int64_t>::min();

// An event id a recipient window has seen, with the partition watermark after that event.
struct SeenId {
  std::string id;
  std::int64_t seen_ms = 0;
};

struct Window {
  std::int64_t reset_ms = 0;            // last Delivered (recipient windows); 0 = none
  std::int64_t tag_ms = 0;              // time of `tag`
  std::string tag;                      // ip_vendor: the most recent DNSBL named
  std::vector<std::int64_t> soft_times; // sorted ascending, the largest kSoftTimes
  std::vector<Bucket> buckets;          // sorted by start
  // Recipient windows (the engine keeps them, see state/README.md "Per event"): the ids of
  // this recipient's events, sorted by id, at most kSeenIds; the older ones went to the dedupe
  // family, and spilled_ms is the largest `seen_ms` that went there.
  std::vector<SeenId> ids;
  std::int64_t spilled_ms = kNotSpilled;
  bool Empty() const { return buckets.empty(); }
};

// One event's contribution.
struct WindowEvent {
  std::int64_t time_ms = 0;
  std::uint16_t counter = 0;
  bool add_hash = false;
  std::uint64_t hash = 0;
  bool soft = false;       // record time in soft_times
  bool reset = false;      // Delivered: reset_ms = max(reset_ms, time)
  std::string_view tag;    // non-empty: tag candidate
};

// Folds one event into `w` (equal to MergeWindow(w, window of that event alone)).
void AddEvent(Window* w, const WindowSpec& spec, const WindowEvent& e);
// *a = a (+) b.
void MergeWindow(Window* a, const Window& b, const WindowSpec& spec);

void EncodeWindow(const Window& w, std::string* out);
bool DecodeWindow(std::string_view in, Window* w);
// The logically live part relative to the partition watermark (buckets ending after
// watermark - retention; ids and the spill mark seen at or after watermark - ids horizon),
// canonically encoded; false when nothing is live.
bool EncodeLive(const Window& w, const WindowSpec& spec, std::int64_t watermark_ms,
                std::string* out);
// Physical cleanup: true when no read can ever see this value again (its newest bucket ended
// before watermark - retention - lateness, late events cannot reach further back, and none of
// its ids or its spill mark is within the ids horizon).
bool PhysicallyExpired(std::string_view value, const WindowSpec& spec, std::int64_t watermark_ms,
                       std::int64_t lateness_ms);

struct Tally {
  std::int64_t count = 0;
  std::int64_t first_seen = 0;
  std::int64_t last_seen = 0;
};
// Sum of the counters of `signal` in buckets overlapping (now - window, now].
Tally CountSignal(const Window& w, const WindowSpec& spec, Signal signal, std::int64_t now_ms,
                  std::int64_t window_ms);
// Soft times in (max(reset, now - window), now].
Tally SoftStreak(const Window& w, std::int64_t now_ms, std::int64_t window_ms);
// Distinct hashes in buckets overlapping (now - window, now] (KMV estimate beyond kKmvSize).
Tally DistinctHashes(const Window& w, const WindowSpec& spec, std::int64_t now_ms,
                     std::int64_t window_ms);

}  // namespace bouncestream::state::internal

#endif  // BOUNCESTREAM_STATE_INTERNAL_WINDOW_H_
