// Bounded metric labels: closed sets of label values, the tenant allow-list and the recipient
// provider buckets. Every value that reaches a metric label goes through one of these, so an
// address, a raw domain or an unknown tenant id can never become a time series: values outside
// a set become "other", free-form values that fail the shape check become "invalid".
//
// All types here are immutable after Create() and safe to share between threads.
#ifndef BOUNCESTREAM_METRICS_LABELS_H_
#define BOUNCESTREAM_METRICS_LABELS_H_

#include <cstddef>
#include <cstdint>
#include <expected>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace bouncestream::metrics {

inline constexpr std::string_view kOtherLabel = "other";
inline constexpr std::string_view kInvalidLabel = "invalid";

// True when `value` could be (part of) an address: it contains '@' (also percent-encoded or as
// a full-width at sign). Such a value is never used as a label.
bool LooksLikeAddress(std::string_view value);

// True when `value` is acceptable as a label value of a closed set: 1..128 bytes of
// [A-Za-z0-9_.:+-]. Closed-set members and allow-listed tenants must pass this.
bool IsSafeLabelValue(std::string_view value);

// A free-form value the caller controls (version, revision, topic name): kept when it is
// 1..max_len bytes of [A-Za-z0-9_.:+-] (no '@' by construction), else "invalid".
std::string_view GuardFreeLabel(std::string_view value, std::size_t max_len = 128);

namespace internal {
struct StringHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const noexcept {
    return std::hash<std::string_view>{}(s);
  }
};
}  // namespace internal

// A closed set of label values with a fallback member ("other") for everything else.
class LabelSet {
 public:
  // `values` must be safe label values (IsSafeLabelValue) without duplicates; the fallback is
  // appended when it is not among them.
  static std::expected<LabelSet, std::string> Create(std::string name,
                                                     std::vector<std::string> values,
                                                     std::string fallback = std::string(kOtherLabel));

  LabelSet() = default;

  const std::string& name() const { return name_; }
  std::size_t size() const { return values_.size(); }
  std::size_t fallback_index() const { return fallback_; }
  const std::string& value(std::size_t index) const { return values_[index]; }
  const std::vector<std::string>& values() const { return values_; }

  // Index of `value`, or of the fallback when `value` is not a member (exact, case-sensitive).
  std::size_t Index(std::string_view value) const;
  bool Contains(std::string_view value) const { return index_.contains(value); }
  // The label value to use for `value`: itself when a member, else the fallback.
  std::string_view Guard(std::string_view value) const { return values_[Index(value)]; }

 private:
  std::string name_;
  std::vector<std::string> values_;
  std::unordered_map<std::string, std::uint32_t, internal::StringHash, std::equal_to<>> index_;
  std::size_t fallback_ = 0;
};

// The tenant label: tenants on the configured allow-list keep their id, all others are "other".
class TenantLabels {
 public:
  // Fails when an allow-listed id is not a safe label value (e.g. contains '@') or is "other".
  static std::expected<TenantLabels, std::string> Create(std::vector<std::string> allow_list);
  TenantLabels() = default;

  const LabelSet& set() const { return set_; }
  std::size_t Index(std::string_view tenant) const { return set_.Index(tenant); }
  std::string_view Guard(std::string_view tenant) const { return set_.Guard(tenant); }

 private:
  LabelSet set_;
};

// Provider bucket -> recipient domain suffixes, e.g. {"gmail", {"gmail.com", "googlemail.com"}}.
using ProviderList = std::vector<std::pair<std::string, std::vector<std::string>>>;

// The built-in provider list (gmail, microsoft, yahoo, apple, and a few other large mailbox
// providers). Filter vendors (Mimecast, Proofpoint) are not providers: their customers use
// their own domains, which fold into "other".
const ProviderList& DefaultProviders();

// Maps a recipient domain (or an address: the part after the last '@' is used) to its provider
// bucket. Matching is case-insensitive and on label boundaries: "mail.gmail.com" is gmail,
// "notgmail.com" is other.
class ProviderBuckets {
 public:
  // An empty list means DefaultProviders(). Fails on an unsafe bucket name, a bucket named
  // "other", an empty or malformed suffix, or a suffix listed under two buckets.
  static std::expected<ProviderBuckets, std::string> Create(const ProviderList& providers = {});
  ProviderBuckets() = default;

  const LabelSet& set() const { return set_; }

  struct Match {
    std::size_t index;  // into set()
    bool folded;        // true when the domain went to "other"
  };
  Match Resolve(std::string_view domain_or_address) const;
  std::string_view Guard(std::string_view domain_or_address) const {
    return set_.value(Resolve(domain_or_address).index);
  }

 private:
  LabelSet set_;
  std::unordered_map<std::string, std::uint32_t, internal::StringHash, std::equal_to<>> suffixes_;
  std::size_t max_labels_ = 0;  // most dot-separated labels in a configured suffix
};

// The closed label sets of METRICS.md. The defaults mirror classify/taxonomy.h (party, vendor,
// class, reason), state/decision.h (decision kind, scope) and stream's decoders (formats, dead
// letter reasons); stream/ may pass the classifier's own lists instead (metrics/ does not depend
// on classify/). tests/metrics checks that the defaults equal the classifier's vocabularies.
struct LabelVocabulary {
  std::vector<std::string> formats;              // input topic_format
  std::vector<std::string> parties;
  std::vector<std::string> vendors;
  std::vector<std::string> classes;
  std::vector<std::string> reasons;
  std::vector<std::string> dead_letter_reasons;
  std::vector<std::string> decision_kinds;       // bouncestream_decisions_total{kind}
  std::vector<std::string> decision_scopes;
  std::vector<std::string> active_kinds;         // bouncestream_active_decisions{kind}
  std::vector<std::string> latency_stages;
  std::vector<std::string> batch_stages;
};
LabelVocabulary DefaultVocabulary();

}  // namespace bouncestream::metrics

#endif  // BOUNCESTREAM_METRICS_LABELS_H_
