// Rule patterns are written in UTF-8 but matched over bytes. A character class such as `[-–]`
// would then hold the three bytes of `–` separately, so classes that contain multi-byte
// characters are rewritten as alternations: `[-–]` -> `(?:[-]|–)`. `\s` and `\S` are written out
// as classes of the six ASCII spaces, vertical tab included, because RE2's `\s` has no vertical
// tab and Vectorscan's has: both engines then match the same bytes.
#ifndef BOUNCESTREAM_CLASSIFY_INTERNAL_PATTERN_H_
#define BOUNCESTREAM_CLASSIFY_INTERNAL_PATTERN_H_

#include <expected>
#include <string>
#include <string_view>

namespace bouncestream::classify::internal {

std::expected<std::string, std::string> NormalizePattern(std::string_view pattern);

}  // namespace bouncestream::classify::internal

#endif  // BOUNCESTREAM_CLASSIFY_INTERNAL_PATTERN_H_
