// Rules are data: TOML files loaded in file-name order, each with its own examples. A RuleSet is
// compiled once and immutable afterwards, so one instance is shared by every worker thread.
#ifndef BOUNCESTREAM_CLASSIFY_RULE_SET_H_
#define BOUNCESTREAM_CLASSIFY_RULE_SET_H_

#include <cstdint>
#include <expected>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "classify/event.h"
#include "classify/taxonomy.h"

namespace bouncestream::classify {

// An error with the place in a rule file that caused it.
struct RuleError {
  std::string file;
  int line = 0;
  std::string message;
  std::string ToString() const;
};

// An example (or counter-example) that travels with its rule. Only `text` is required; the other
// fields give the context a condition of the rule needs (reply code, MX host, ...).
struct RuleExample {
  std::string text;
  std::string mx;
  int smtp_code = 0;
  std::string enhanced_code;
  EventType type = EventType::kBounce;
  int line = 0;
};

// A text fingerprint: names the vendor that wrote a reply, or the DNS blocklist it cites.
struct Fingerprint {
  std::string id;
  std::string file;
  int line = 0;
  std::string pattern;
  std::optional<Vendor> vendor;  // unset for a pure DNSBL fingerprint
  std::string dnsbl;             // empty unless the fingerprint names a list
  std::vector<RuleExample> examples;
};

// Host-name suffixes of a vendor's MX / Remote-MTA hosts.
struct MxFingerprint {
  Vendor vendor = Vendor::kOther;
  std::string suffix;  // lower case, matched on a label boundary
  std::string file;
  int line = 0;
};

struct Rule {
  std::string id;
  std::string file;
  int line = 0;
  std::string pattern;  // caseless regex over the text; empty = decided by conditions alone

  // Conditions; an empty list means "any".
  std::vector<std::string> when_code;    // reply-code prefixes: "5", "45", "550"
  std::vector<std::string> when_status;  // enhanced-code prefixes: "5.1.1", "5.7."
  std::uint32_t when_vendor_mask = 0;    // bit per Vendor
  std::uint32_t when_type_mask = 0;      // bit per EventType

  // Verdict.
  Reason reason = Reason::kUndefined;
  BounceClass bounce_class = BounceClass::kUncategorized;
  Party party = Party::kUnknown;
  Action action = Action::kNone;
  std::optional<bool> hard;        // unset: derived from the reason and the code
  std::optional<Vendor> vendor;    // set when the wording itself is that vendor's
  std::string dnsbl;               // set when the rule itself names the list
  float confidence = 0.5f;

  std::vector<RuleExample> examples;
  std::vector<RuleExample> counter_examples;
};

class RuleSet {
 public:
  // Loads every `*.toml` file of `dir` in file-name order (or one file). Errors name the file and
  // line. Patterns are not compiled here (see Classifier::Create).
  static std::expected<std::shared_ptr<const RuleSet>, std::vector<RuleError>> Load(
      const std::filesystem::path& path);
  // Loads rule text given in memory (tests). `name` is used as the file name in errors.
  static std::expected<std::shared_ptr<const RuleSet>, std::vector<RuleError>> Parse(
      std::string_view toml_text, std::string_view name);

  const std::vector<Rule>& rules() const { return rules_; }
  const std::vector<Fingerprint>& fingerprints() const { return fingerprints_; }
  const std::vector<MxFingerprint>& mx_fingerprints() const { return mx_; }
  const std::vector<std::string>& files() const { return files_; }
  // The `version` strings of the loaded files, joined ("mimecast@2026.12.1,...").
  const std::string& version() const { return version_; }

 private:
  friend class RuleSetBuilder;
  std::vector<Rule> rules_;
  std::vector<Fingerprint> fingerprints_;
  std::vector<MxFingerprint> mx_;
  std::vector<std::string> files_;
  std::string version_;
};

// The rule directory shipped with the binary: $BOUNCESTREAM_RULES, else the install/share path,
// else the source tree's classify/rules (set at build time).
std::filesystem::path DefaultRulesPath();

}  // namespace bouncestream::classify

#endif  // BOUNCESTREAM_CLASSIFY_RULE_SET_H_
