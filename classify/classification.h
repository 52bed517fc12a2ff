// The classifier's answer for one event.
#ifndef BOUNCESTREAM_CLASSIFY_CLASSIFICATION_H_
#define BOUNCESTREAM_CLASSIFY_CLASSIFICATION_H_

#include <array>
#include <cstdint>
#include <initializer_list>
#include <string_view>

#include "classify/taxonomy.h"

namespace bouncestream::classify {

// Where the vendor attribution came from.
enum class VendorSource : std::uint8_t { kNone, kText, kMx, kRule };
std::string_view ToString(VendorSource source);

// A short vendor documentation code ("DOC-1369#550", "AS(1430)", "TSS04") held inline so that a
// classification never allocates.
class DocCode {
 public:
  static constexpr std::size_t kCapacity = 31;
  void Assign(std::initializer_list<std::string_view> parts);
  std::string_view view() const { return {buf_.data(), len_}; }
  bool empty() const { return len_ == 0; }

 private:
  std::array<char, kCapacity + 1> buf_{};
  std::uint8_t len_ = 0;
};

struct Classification {
  Reason reason = Reason::kUndefined;
  BounceClass bounce_class = BounceClass::kUncategorized;
  bool hard = false;
  Vendor vendor = Vendor::kOther;
  VendorSource vendor_source = VendorSource::kNone;
  Party party = Party::kUnknown;
  Action action = Action::kNone;
  float confidence = 0.0f;
  std::string_view rule;   // id of the deciding rule; points into the immutable RuleSet
  DocCode doc;             // vendor doc code when the text carries one
  std::string_view dnsbl;  // the DNS blocklist named in the text ("spamhaus"), points into RuleSet
  int smtp_code = 0;       // the reply code used (event field, else read from the text)
  std::string_view enhanced_code;  // the enhanced status used (event field, else from the text)
  bool text_truncated = false;     // the text was longer than the scan limit
};

}  // namespace bouncestream::classify

#endif  // BOUNCESTREAM_CLASSIFY_CLASSIFICATION_H_
