// The classifier: one multi-pattern pass over the reply text, then the first rule (in file order)
// whose pattern matched and whose conditions hold decides. Immutable and thread-safe; each thread
// classifies through its own Session, which owns the engine's scratch space.
#ifndef BOUNCESTREAM_CLASSIFY_CLASSIFIER_H_
#define BOUNCESTREAM_CLASSIFY_CLASSIFIER_H_

#include <cstddef>
#include <cstdint>
#include <expected>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "classify/classification.h"
#include "classify/event.h"
#include "classify/rule_set.h"

namespace bouncestream::classify {

enum class Engine { kRe2Set, kVectorscan };
std::string_view ToString(Engine engine);
std::optional<Engine> ParseEngine(std::string_view name);

struct ClassifierOptions {
  // RE2::Set measured ~10 % faster than Vectorscan on the shipped rules once its DFA is warm
  // (benchmarks/classify.sh); both are linear-time.
  Engine engine = Engine::kRe2Set;
  // Texts longer than this are scanned only up to here (bounded time per event).
  std::size_t max_text_bytes = 64 * 1024;
  // Slots of each Session's cache of whole classifications (exact key: text, mx, reply code,
  // enhanced code, type; texts up to 1 KiB; direct-mapped). 0 disables it. Rounded up to a power
  // of two. ~100 B per slot plus the keys it holds. Off by default: on the benchmark stream
  // (20.8 % hits) its lookups and its memory (which evicts the engine's DFA from the CPU caches)
  // cost more than the scans it saves (benchmarks/classify.sh, rows with and without it).
  std::size_t session_cache_slots = 0;
};

namespace internal {
class MatchEngine;
class EngineScratch;
class ResultCache;
}  // namespace internal

class Classifier {
 public:
  static std::expected<std::shared_ptr<const Classifier>, std::vector<RuleError>> Create(
      std::shared_ptr<const RuleSet> rules, ClassifierOptions options = {});
  ~Classifier();

  const RuleSet& rules() const { return *rules_; }
  const ClassifierOptions& options() const { return options_; }

  // Per-thread classification state. Cheap to keep, not to create: make one per worker.
  class Session {
   public:
    explicit Session(std::shared_ptr<const Classifier> classifier);
    ~Session();
    Session(Session&&) noexcept;
    Session& operator=(Session&&) noexcept;

    Classification Classify(const BounceEvent& event);
    // Like Classify, and also lists every rule and fingerprint whose pattern matched (explain).
    // Never answered from the cache.
    Classification Trace(const BounceEvent& event, std::vector<std::string_view>* matched);

    // Classifications answered from / not found in this Session's cache (0 when it is off).
    std::uint64_t cache_hits() const;
    std::uint64_t cache_misses() const;

   private:
    Classification Scan(const BounceEvent& event);

    std::shared_ptr<const Classifier> classifier_;
    std::unique_ptr<internal::EngineScratch> scratch_;
    std::vector<unsigned> hits_;
    std::unique_ptr<internal::ResultCache> cache_;
  };

 private:
  Classifier() = default;
  Classification Decide(const BounceEvent& event, std::string_view text,
                        const std::vector<unsigned>& hits) const;

  std::shared_ptr<const RuleSet> rules_;
  ClassifierOptions options_;
  std::unique_ptr<internal::MatchEngine> engine_;
  // Pattern index layout: [0, fingerprints) are fingerprints, then rules with a pattern.
  std::vector<unsigned> pattern_owner_;       // pattern index -> rule or fingerprint index
  std::size_t fingerprint_count_ = 0;
  std::vector<unsigned> condition_only_;      // rule indexes without a pattern, ascending

  // Every rule's conditions, packed for Decide (by rule index). A when_code / when_status prefix
  // of up to 8 bytes without a NUL is a (value, mask) pair over the first 8 bytes of the key,
  // zero-padded: (key & mask) == value exactly when the key starts with the prefix. A rule with a
  // longer prefix is `slow` and checked on its strings.
  struct PackedPrefix {
    std::uint64_t value = 0;
    std::uint64_t mask = 0;
  };
  struct PackedConditions {
    std::uint32_t type_mask = 0;
    std::uint32_t vendor_mask = 0;
    std::uint32_t code_begin = 0, code_end = 0;      // into prefixes_; empty: any code
    std::uint32_t status_begin = 0, status_end = 0;  // into prefixes_; empty: any status
    bool slow = false;
  };
  std::vector<PackedConditions> conditions_;
  std::vector<PackedPrefix> prefixes_;
};

// Reads the first SMTP reply code ("550") and enhanced status ("5.7.1") found in a reply text.
int ExtractReplyCode(std::string_view text);
std::string_view ExtractEnhancedCode(std::string_view text);

}  // namespace bouncestream::classify

#endif  // BOUNCESTREAM_CLASSIFY_CLASSIFIER_H_
