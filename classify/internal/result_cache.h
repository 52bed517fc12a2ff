// A per-Session cache of whole classifications, keyed exactly by every event field the classifier
// reads: the text, the MX host, the reply code, the enhanced status and the event type. Real
// bounce streams repeat the same reply texts heavily; a hit skips the multi-pattern scan and
// Decide. Direct-mapped: a miss overwrites its slot, so the cache never grows past its slot count
// and keeps no state across Sessions. Only texts up to kMaxTextBytes are cached (a longer text
// would cost more to copy and compare than the few repeats of it save).
#ifndef BOUNCESTREAM_CLASSIFY_INTERNAL_RESULT_CACHE_H_
#define BOUNCESTREAM_CLASSIFY_INTERNAL_RESULT_CACHE_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "classify/classification.h"
#include "classify/event.h"

namespace bouncestream::classify::internal {

class ResultCache {
 public:
  static constexpr std::size_t kMaxTextBytes = 1024;
  static constexpr std::size_t kMaxFieldBytes = 255;  // mx and enhanced code

  // `slots` is rounded up to a power of two (at least 1).
  explicit ResultCache(std::size_t slots);

  // Whether `event` may be cached at all (field sizes within the limits).
  static bool Cacheable(const BounceEvent& event) {
    return event.text.size() <= kMaxTextBytes && event.mx.size() <= kMaxFieldBytes &&
           event.enhanced_code.size() <= kMaxFieldBytes;
  }
  static std::uint64_t Hash(const BounceEvent& event);

  // On a hit, writes the cached classification with its enhanced_code view re-pointed into
  // `event`'s own fields and returns true.
  bool Find(const BounceEvent& event, std::uint64_t hash, Classification* out);
  // Stores `result`, the classification of `event` (its enhanced_code must view event.text or
  // event.enhanced_code, or be empty; the other views point into the RuleSet or are literals).
  void Insert(const BounceEvent& event, std::uint64_t hash, const Classification& result);

  std::uint64_t hits() const { return hits_; }
  std::uint64_t misses() const { return misses_; }
  std::size_t slots() const { return slots_.size(); }

 private:
  enum class StatusIn : std::uint8_t { kNone, kText, kEnhanced };
  struct Slot {
    std::uint64_t hash = 0;
    bool used = false;
    EventType type = EventType::kBounce;
    StatusIn status_in = StatusIn::kNone;
    std::uint8_t mx_len = 0;
    std::uint8_t enhanced_len = 0;
    std::uint8_t status_len = 0;
    std::uint16_t text_len = 0;
    std::uint16_t status_offset = 0;
    int smtp_code = 0;
    Classification result;
    std::string key;  // text, mx, enhanced code, back to back
  };

  std::vector<Slot> slots_;
  std::size_t mask_ = 0;
  std::uint64_t hits_ = 0;
  std::uint64_t misses_ = 0;
};

}  // namespace bouncestream::classify::internal

#endif  // BOUNCESTREAM_CLASSIFY_INTERNAL_RESULT_CACHE_H_
