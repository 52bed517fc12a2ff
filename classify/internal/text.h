// Small byte-level helpers over reply texts and host names (no allocation, no regex).
#ifndef BOUNCESTREAM_CLASSIFY_INTERNAL_TEXT_H_
#define BOUNCESTREAM_CLASSIFY_INTERNAL_TEXT_H_

#include <optional>
#include <string_view>
#include <vector>

#include "classify/rule_set.h"

namespace bouncestream::classify::internal {

// "5.1.1"-shaped: class 2/4/5, then 1-3 digits, then 1-3 digits.
bool IsEnhancedCode(std::string_view s);
// The enhanced code an event's status field starts with ("5.2.1 (mailbox disabled)" -> "5.2.1"),
// empty if it does not start with one.
std::string_view LeadingEnhancedCode(std::string_view s);
// "5.0.0" / "4.0.0": a status that carries no detail.
bool IsGenericEnhancedCode(std::string_view s);
// First SMTP reply code (2xx/4xx/5xx) standing alone in the text, 0 if none.
int FindReplyCode(std::string_view text);
// First enhanced status code standing alone in the text, empty if none.
std::string_view FindEnhancedCode(std::string_view text);
// The vendor whose MX suffix matches `host` on a label boundary.
std::optional<Vendor> VendorOfHost(const std::vector<MxFingerprint>& table, std::string_view host);

}  // namespace bouncestream::classify::internal

#endif  // BOUNCESTREAM_CLASSIFY_INTERNAL_TEXT_H_
