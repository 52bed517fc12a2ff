// Validation of rule files (the `check-rules` command and a CI test): syntax, vocabularies,
// unique ids, patterns that compile in both engines, and every example decided by its own rule.
#ifndef BOUNCESTREAM_CLASSIFY_CHECK_RULES_H_
#define BOUNCESTREAM_CLASSIFY_CHECK_RULES_H_

#include <cstddef>
#include <filesystem>
#include <string>
#include <vector>

#include "classify/rule_set.h"

namespace bouncestream::classify {

struct CheckReport {
  std::vector<RuleError> errors;
  std::size_t files = 0;
  std::size_t rules = 0;
  std::size_t fingerprints = 0;
  std::size_t mx_suffixes = 0;
  std::size_t examples_checked = 0;
  std::string version;
  bool ok() const { return errors.empty(); }
};

CheckReport CheckRules(const std::filesystem::path& path);

}  // namespace bouncestream::classify

#endif  // BOUNCESTREAM_CLASSIFY_CHECK_RULES_H_
