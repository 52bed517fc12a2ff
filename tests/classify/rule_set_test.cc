#include "classify/rule_set.h"

#include <gtest/gtest.h>

#include <fstream>

#include "classify/check_rules.h"

namespace bouncestream::classify {
namespace {

constexpr std::string_view kHeader = "schema = 1\nversion = \"t\"\n";

std::vector<RuleError> ErrorsOf(std::string_view body) {
  auto r = RuleSet::Parse(std::string(kHeader) + std::string(body), "test.toml");
  return r ? std::vector<RuleError>{} : r.error();
}

bool AnyErrorContains(const std::vector<RuleError>& errors, std::string_view needle, int line) {
  for (const auto& e : errors) {
    if (e.message.find(needle) != std::string::npos && (line == 0 || e.line == line)) return true;
  }
  return false;
}

TEST(RuleSetTest, ParsesARuleWithAllFields) {
  auto r = RuleSet::Parse(std::string(kHeader) + R"(
[[rule]]
id = "x.one"
pattern = 'envelope blocked'
when_code = ["5"]
when_status = ["5.7."]
when_vendor = ["mimecast"]
when_type = ["bounce"]
reason = "blocked"
class = "PolicyRelated"
party = "end_user"
action = "suppress_for_sender"
hard = false
vendor = "mimecast"
dnsbl = "spamcop"
confidence = 0.9
examples = ["550 envelope blocked", { text = "550 Envelope blocked", code = 550, mx = "a.mimecast.com", status = "5.7.1", type = "bounce" }]
counter_examples = ["451 nothing"]
)",
                          "test.toml");
  ASSERT_TRUE(r.has_value()) << r.error()[0].ToString();
  const Rule& rule = (*r)->rules().at(0);
  EXPECT_EQ(rule.id, "x.one");
  EXPECT_EQ(rule.line, 4);
  EXPECT_EQ(rule.reason, Reason::kBlocked);
  EXPECT_EQ(rule.bounce_class, BounceClass::kPolicyRelated);
  EXPECT_EQ(rule.party, Party::kEndUser);
  EXPECT_EQ(rule.action, Action::kSuppressForSender);
  ASSERT_TRUE(rule.hard.has_value());
  EXPECT_FALSE(*rule.hard);
  EXPECT_EQ(rule.vendor, Vendor::kMimecast);
  EXPECT_EQ(rule.dnsbl, "spamcop");
  EXPECT_FLOAT_EQ(rule.confidence, 0.9f);
  EXPECT_EQ(rule.when_vendor_mask, 1u << static_cast<unsigned>(Vendor::kMimecast));
  ASSERT_EQ(rule.examples.size(), 2u);
  EXPECT_EQ(rule.examples[1].smtp_code, 550);
  EXPECT_EQ(rule.examples[1].mx, "a.mimecast.com");
  EXPECT_EQ(rule.counter_examples.size(), 1u);
  EXPECT_EQ((*r)->version(), "test@t");
}

TEST(RuleSetTest, DefaultsClassFromReason) {
  auto r = RuleSet::Parse(std::string(kHeader) + R"(
[[rule]]
id = "x"
pattern = 'no such user'
reason = "userunknown"
party = "recipient_invalid"
action = "suppress_recipient"
confidence = 0.9
examples = ["550 no such user"]
)",
                          "t.toml");
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ((*r)->rules()[0].bounce_class, BounceClass::kInvalidRecipient);
  EXPECT_FALSE((*r)->rules()[0].hard.has_value());
}

TEST(RuleSetTest, ReportsSyntaxErrorWithLine) {
  auto errors = ErrorsOf("[[rule]]\nid = \"x\"\npattern = 'unterminated\n");
  ASSERT_FALSE(errors.empty());
  EXPECT_TRUE(AnyErrorContains(errors, "TOML syntax", 5)) << errors[0].ToString();
  EXPECT_EQ(errors[0].file, "test.toml");
}

TEST(RuleSetTest, RejectsUnknownKeysAndVocabulary) {
  auto errors = ErrorsOf(R"(
[[rule]]
id = "x"
pattern = 'a'
reason = "nosuchreason"
party = "somebody"
action = "explode"
colour = "red"
when_vendor = ["acme"]
confidence = 1.5
examples = ["a"]
)");
  EXPECT_TRUE(AnyErrorContains(errors, "unknown reason 'nosuchreason'", 4));
  EXPECT_TRUE(AnyErrorContains(errors, "unknown party 'somebody'", 4));
  EXPECT_TRUE(AnyErrorContains(errors, "unknown action 'explode'", 4));
  EXPECT_TRUE(AnyErrorContains(errors, "unknown key 'colour'", 0));
  EXPECT_TRUE(AnyErrorContains(errors, "unknown vendor 'acme'", 0));
  EXPECT_TRUE(AnyErrorContains(errors, "'confidence' must be a number from 0 to 1", 0));
}

TEST(RuleSetTest, RejectsDuplicateIdsAndMissingExamples) {
  auto errors = ErrorsOf(R"(
[[rule]]
id = "dup"
pattern = 'a'
reason = "blocked"
party = "filter_platform"
action = "pause_ip_filter"
confidence = 0.5
examples = ["a"]

[[rule]]
id = "dup"
pattern = 'b'
reason = "blocked"
party = "filter_platform"
action = "pause_ip_filter"
confidence = 0.5
)");
  EXPECT_TRUE(AnyErrorContains(errors, "duplicate id 'dup'", 13));
  EXPECT_TRUE(AnyErrorContains(errors, "has a pattern but no examples", 13));
}

TEST(RuleSetTest, RefusesToSuppressRecipientForSenderBlock) {
  auto errors = ErrorsOf(R"(
[[rule]]
id = "bad"
pattern = 'blocked'
reason = "blocked"
party = "filter_platform"
action = "suppress_recipient"
confidence = 0.5
examples = ["blocked"]
)");
  EXPECT_TRUE(AnyErrorContains(errors, "never suppressed for a block aimed at the sender", 4));
}

TEST(RuleSetTest, MissingSchemaIsAnError) {
  auto r = RuleSet::Parse("version = \"x\"\n", "t.toml");
  ASSERT_FALSE(r.has_value());
  EXPECT_TRUE(AnyErrorContains(r.error(), "schema", 1));
}

TEST(CheckRulesTest, ExampleTakenByAnEarlierRuleIsReported) {
  const auto dir = std::filesystem::temp_directory_path() / "bouncestream_check_rules_test";
  std::filesystem::create_directories(dir);
  {
    std::ofstream(dir / "a.toml") << kHeader << R"(
[[rule]]
id = "broad"
pattern = 'user'
reason = "userunknown"
party = "recipient_invalid"
action = "suppress_recipient"
confidence = 0.5
examples = ["no such user"]
)";
    std::ofstream(dir / "b.toml") << kHeader << R"(
[[rule]]
id = "specific"
pattern = 'user unknown'
reason = "userunknown"
party = "recipient_invalid"
action = "suppress_recipient"
confidence = 0.9
examples = ["550 user unknown"]
counter_examples = ["mailbox full"]
)";
  }
  const auto report = CheckRules(dir);
  ASSERT_EQ(report.errors.size(), 1u);
  EXPECT_NE(report.errors[0].message.find("decided by 'broad'"), std::string::npos)
      << report.errors[0].ToString();
  EXPECT_EQ(report.errors[0].file, (dir / "b.toml").string());
  EXPECT_EQ(report.files, 2u);
  std::filesystem::remove_all(dir);
}

TEST(CheckRulesTest, BadPatternNamesItsRule) {
  const auto dir = std::filesystem::temp_directory_path() / "bouncestream_check_rules_bad";
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "a.toml") << kHeader << R"(
[[rule]]
id = "broken"
pattern = 'unbalanced(('
reason = "blocked"
party = "filter_platform"
action = "pause_ip_filter"
confidence = 0.5
examples = ["x"]
)";
  const auto report = CheckRules(dir);
  ASSERT_FALSE(report.ok());
  EXPECT_NE(report.errors[0].message.find("pattern of 'broken'"), std::string::npos);
  EXPECT_EQ(report.errors[0].line, 4);
  std::filesystem::remove_all(dir);
}

TEST(CheckRulesTest, ShippedRulesAreValid) {
  const auto report = CheckRules(std::filesystem::path(BOUNCESTREAM_SOURCE_DIR) / "classify/rules");
  for (const auto& e : report.errors) ADD_FAILURE() << e.ToString();
  EXPECT_GT(report.rules, 50u);
  EXPECT_GT(report.examples_checked, report.rules);
}

}  // namespace
}  // namespace bouncestream::classify
