#include "classify/classifier.h"

#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>

namespace bouncestream::classify {
namespace {

// A small rule set that exercises every mechanism of the classifier.
constexpr std::string_view kRules = R"(
schema = 1
version = "test"

[[mx]]
vendor = "mimecast"
suffixes = ["mimecast.com", "mimecast.co.za"]
[[mx]]
vendor = "microsoft"
suffixes = ["protection.outlook.com"]

[[fingerprint]]
id = "fp.mimecast"
pattern = 'DOC-1369'
vendor = "mimecast"
examples = ["x DOC-1369#550"]
[[fingerprint]]
id = "fp.spamhaus"
pattern = 'spamhaus'
dnsbl = "spamhaus"
examples = ["blocked using zen.spamhaus.org"]

[[rule]]
id = "complaint"
when_type = ["complaint"]
reason = "feedback"
party = "end_user"
action = "suppress_for_sender"
confidence = 0.95

[[rule]]
id = "mc.user_entry"
pattern = 'envelope blocked\s*[-–]?\s*user\s+entry'
reason = "blocked"
party = "end_user"
action = "suppress_for_sender"
vendor = "mimecast"
confidence = 0.95
examples = ["550 Envelope blocked - User Entry"]

[[rule]]
id = "mc.invalid.temp"
pattern = 'invalid recipient'
when_vendor = ["mimecast"]
when_code = ["4"]
reason = "userunknown"
party = "recipient_invalid"
action = "retry"
confidence = 0.7
examples = [{ text = "451 Invalid Recipient", mx = "eu-smtp-inbound-1.mimecast.com" }]

[[rule]]
id = "mc.invalid"
pattern = 'invalid recipient'
when_vendor = ["mimecast"]
reason = "userunknown"
party = "recipient_invalid"
action = "suppress_recipient"
confidence = 0.9
examples = [{ text = "550 Invalid Recipient", mx = "eu-smtp-inbound-1.mimecast.com" }]

[[rule]]
id = "rbl"
pattern = 'blocked using'
reason = "blocked"
party = "filter_platform"
action = "delist"
confidence = 0.9
examples = ["554 blocked using zen.spamhaus.org"]

[[rule]]
id = "generic.userunknown"
pattern = 'user unknown|no such user'
reason = "userunknown"
party = "recipient_invalid"
action = "suppress_recipient"
confidence = 0.9
examples = ["550 5.1.1 User unknown"]

[[rule]]
id = "status.5.1.1"
when_status = ["5.1.1"]
reason = "userunknown"
party = "recipient_invalid"
action = "suppress_recipient"
confidence = 0.7

[[rule]]
id = "code.4xx"
when_code = ["4"]
reason = "onhold"
party = "transient"
action = "retry"
confidence = 0.2
)";

class ClassifierTest : public ::testing::TestWithParam<Engine> {
 protected:
  void SetUp() override {
    auto rules = RuleSet::Parse(kRules, "test.toml");
    ASSERT_TRUE(rules.has_value()) << rules.error()[0].ToString();
    auto c = Classifier::Create(*rules, {.engine = GetParam()});
    ASSERT_TRUE(c.has_value()) << c.error()[0].ToString();
    session_.emplace(*c);
  }
  Classification Run(std::string_view text, std::string_view mx = {}, int code = 0,
                     std::string_view status = {}, EventType type = EventType::kBounce) {
    BounceEvent ev;
    ev.text = text;
    ev.mx = mx;
    ev.smtp_code = code;
    ev.enhanced_code = status;
    ev.type = type;
    return session_->Classify(ev);
  }
  std::optional<Classifier::Session> session_;
};

TEST_P(ClassifierTest, VendorWordingDecidesWithoutHost) {
  const auto c = Run("550 Envelope blocked – User Entry - https://community.mimecast.com/docs/DOC-1369#550");
  EXPECT_EQ(c.rule, "mc.user_entry");
  EXPECT_EQ(c.party, Party::kEndUser);
  EXPECT_EQ(c.action, Action::kSuppressForSender);
  EXPECT_EQ(c.vendor, Vendor::kMimecast);
  EXPECT_EQ(c.vendor_source, VendorSource::kText);
  EXPECT_EQ(c.doc.view(), "DOC-1369#550");
  EXPECT_EQ(c.smtp_code, 550);
  EXPECT_FALSE(c.hard);
}

TEST_P(ClassifierTest, CaseAndDashVariantsMatch) {
  EXPECT_EQ(Run("550 ENVELOPE BLOCKED USER ENTRY").rule, "mc.user_entry");
  EXPECT_EQ(Run("550 envelope blocked-user entry").rule, "mc.user_entry");
}

TEST_P(ClassifierTest, VendorConditionUsesTheMxHost) {
  // Without a Mimecast host or link, "Invalid Recipient" is not Mimecast's and falls through.
  EXPECT_EQ(Run("550 Invalid Recipient").rule, "none");
  const auto c = Run("550 Invalid Recipient", "za-smtp-inbound-2.mimecast.co.za");
  EXPECT_EQ(c.rule, "mc.invalid");
  EXPECT_EQ(c.vendor, Vendor::kMimecast);
  EXPECT_EQ(c.vendor_source, VendorSource::kMx);
  EXPECT_TRUE(c.hard);
}

TEST_P(ClassifierTest, MxSuffixMatchesOnLabelBoundaryOnly) {
  EXPECT_EQ(Run("550 Invalid Recipient", "notmimecast.com").rule, "none");
  EXPECT_EQ(Run("550 Invalid Recipient", "MIMECAST.COM.").rule, "mc.invalid");
}

TEST_P(ClassifierTest, CodeConditionSeparatesDeferralFromRejection) {
  const auto c = Run("451 Invalid Recipient - DOC-1369#451");
  EXPECT_EQ(c.rule, "mc.invalid.temp");
  EXPECT_EQ(c.action, Action::kRetry);
  EXPECT_FALSE(c.hard) << "a 4xx never proves an address dead";
  EXPECT_EQ(Run("Invalid Recipient DOC-1369", {}, 550).rule, "mc.invalid");
}

TEST_P(ClassifierTest, DnsblFingerprintGivesVendorAndList) {
  const auto c = Run("554 5.7.1 Service unavailable; Client host [192.0.2.1] blocked using zen.spamhaus.org");
  EXPECT_EQ(c.rule, "rbl");
  EXPECT_EQ(c.vendor, Vendor::kDnsbl);
  EXPECT_EQ(c.dnsbl, "spamhaus");
  // The MX names the filter that applied the list; the list stays named.
  const auto m = Run("550 5.7.1 blocked using Spamhaus", "x.mail.protection.outlook.com");
  EXPECT_EQ(m.vendor, Vendor::kMicrosoft);
  EXPECT_EQ(m.dnsbl, "spamhaus");
}

TEST_P(ClassifierTest, FirstRuleInOrderWins) {
  // Both "blocked using" and "user unknown" match; the earlier rule decides.
  EXPECT_EQ(Run("550 user unknown, blocked using something").rule, "rbl");
}

TEST_P(ClassifierTest, ConditionOnlyRulesUseTheEnhancedCode) {
  const auto c = Run("550 5.1.1 mailbox not here");
  EXPECT_EQ(c.rule, "status.5.1.1");
  EXPECT_EQ(c.enhanced_code, "5.1.1");
  // The event's own status is used; an uninformative x.0.0 defers to the text's code.
  EXPECT_EQ(Run("gone", {}, 550, "5.1.1").rule, "status.5.1.1");
  EXPECT_EQ(Run("550 5.1.1 gone", {}, 550, "5.0.0").enhanced_code, "5.1.1");
}

TEST_P(ClassifierTest, EventTypeRules) {
  const auto c = Run("", {}, 0, {}, EventType::kComplaint);
  EXPECT_EQ(c.rule, "complaint");
  EXPECT_EQ(c.reason, Reason::kFeedback);
  EXPECT_EQ(Run("", {}, 0, {}, EventType::kDeferral).rule, "code.4xx");
}

TEST_P(ClassifierTest, NothingMatchedIsOnHoldOrUndefined) {
  auto c = Run("something odd happened");
  EXPECT_EQ(c.rule, "none");
  EXPECT_EQ(c.reason, Reason::kOnHold);
  EXPECT_EQ(c.party, Party::kUnknown);
  EXPECT_EQ(c.confidence, 0.0f);
  EXPECT_EQ(Run("").reason, Reason::kUndefined);
}

TEST_P(ClassifierTest, HostileTextsAreHandled) {
  // NUL bytes and invalid UTF-8 are just bytes to the engines.
  const std::string nul("550 user\0unknown no such user", 29);
  EXPECT_EQ(Run(nul).rule, "generic.userunknown");
  EXPECT_EQ(Run("550 \xff\xfe\x80 no such user \xc3").rule, "generic.userunknown");
  // 1 MB of text is scanned only up to the limit and flagged.
  std::string big(1 << 20, 'a');
  big.replace(10, 13, "no such user.");
  const auto c = Run(big);
  EXPECT_EQ(c.rule, "generic.userunknown");
  EXPECT_TRUE(c.text_truncated);
  std::string tail_only(1 << 20, 'b');
  tail_only.append(" user unknown");
  EXPECT_EQ(Run(tail_only).rule, "none") << "text past the scan limit is not read";
}

TEST_P(ClassifierTest, TraceListsEveryMatch) {
  BounceEvent ev;
  ev.text = "550 blocked using zen.spamhaus.org DOC-1369";
  std::vector<std::string_view> matched;
  session_->Trace(ev, &matched);
  EXPECT_EQ(matched, (std::vector<std::string_view>{"fp.mimecast", "fp.spamhaus", "rbl"}));
}

TEST_P(ClassifierTest, SessionsShareOneClassifierAcrossThreads) {
  auto rules = RuleSet::Parse(kRules, "test.toml");
  ASSERT_TRUE(rules.has_value());
  auto c = Classifier::Create(*rules, {.engine = GetParam()});
  ASSERT_TRUE(c.has_value());
  std::vector<std::thread> threads;
  std::atomic<int> wrong{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      Classifier::Session s(*c);
      BounceEvent ev;
      ev.text = "550 5.1.1 User unknown";
      for (int i = 0; i < 2000; ++i) {
        if (s.Classify(ev).rule != "generic.userunknown") ++wrong;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(wrong.load(), 0);
}

// The RE2 engine scans a relaxed form of wide counted repeats (`.{0,5}` as `.*`) and confirms a
// hit with the exact pattern: the bounds must still hold exactly, in both engines.
TEST_P(ClassifierTest, WideCountedRepeatsKeepTheirBounds) {
  constexpr std::string_view kRepeatRules = R"(
schema = 1
version = "test"

[[rule]]
id = "gap"
pattern = 'alpha.{0,5}omega'
reason = "blocked"
party = "filter_platform"
action = "retry"
confidence = 0.5
examples = ["alpha12omega"]

[[rule]]
id = "word"
pattern = 'ref [^ ]{6,} end|\{tag\S{2,9}\}'
reason = "spamdetected"
party = "filter_platform"
action = "retry"
confidence = 0.5
examples = ["ref abcdefg end"]
)";
  auto rules = RuleSet::Parse(kRepeatRules, "repeat.toml");
  ASSERT_TRUE(rules.has_value()) << rules.error()[0].ToString();
  auto c = Classifier::Create(*rules, {.engine = GetParam()});
  ASSERT_TRUE(c.has_value()) << c.error()[0].ToString();
  Classifier::Session s(*c);
  auto rule = [&](std::string_view text) {
    BounceEvent ev;
    ev.text = text;
    return std::string(s.Classify(ev).rule);
  };
  EXPECT_EQ(rule("x alphaomega y"), "gap");
  EXPECT_EQ(rule("x alpha12345omega y"), "gap");
  EXPECT_EQ(rule("x alpha123456omega y"), "none");
  EXPECT_EQ(rule("alpha123456omega alpha1omega"), "gap");
  EXPECT_EQ(rule("alpha\nomega"), "none");  // `.` does not match a newline
  EXPECT_EQ(rule("ref abcdef end"), "word");
  EXPECT_EQ(rule("ref abcde end"), "none");
  EXPECT_EQ(rule("{tag12}"), "word");
  EXPECT_EQ(rule("{tag1234567890}"), "none");
}

// Decide packs when_code / when_status prefixes of up to 8 bytes into words and checks longer
// ones on their strings: every length must behave as a plain prefix test.
TEST(ClassifierConditionsTest, PrefixesOfEveryLengthAreExact) {
  constexpr std::string_view kConditionRules = R"(
schema = 1
version = "t"

[[rule]]
id = "status.nine"
when_status = ["5.123.123"]
reason = "userunknown"
party = "unknown"
action = "none"
confidence = 0.9

[[rule]]
id = "status.eight"
when_status = ["5.123.12", "4.4.7"]
reason = "mailboxfull"
party = "unknown"
action = "none"
confidence = 0.8

[[rule]]
id = "code.55x_or_421"
when_code = ["55", "421"]
reason = "blocked"
party = "unknown"
action = "none"
confidence = 0.5

[[rule]]
id = "code.4"
when_code = ["4"]
reason = "onhold"
party = "unknown"
action = "none"
confidence = 0.2
)";
  auto rules = RuleSet::Parse(kConditionRules, "conditions.toml");
  ASSERT_TRUE(rules.has_value()) << rules.error()[0].ToString();
  auto c = Classifier::Create(*rules);
  ASSERT_TRUE(c.has_value()) << c.error()[0].ToString();
  Classifier::Session session(*c);
  auto rule_of = [&](int code, std::string_view status) {
    BounceEvent ev;
    ev.text = "no pattern here";
    ev.smtp_code = code;
    ev.enhanced_code = status;
    return std::string(session.Classify(ev).rule);
  };
  EXPECT_EQ(rule_of(550, "5.123.123"), "status.nine");
  EXPECT_EQ(rule_of(550, "5.123.12"), "status.eight");
  EXPECT_EQ(rule_of(550, "5.123.124"), "status.eight");
  EXPECT_EQ(rule_of(550, "5.123.1"), "code.55x_or_421");
  EXPECT_EQ(rule_of(450, "4.4.7"), "status.eight");
  EXPECT_EQ(rule_of(450, "4.4.70"), "status.eight");
  EXPECT_EQ(rule_of(450, "4.4.1"), "code.4");
  EXPECT_EQ(rule_of(421, ""), "code.55x_or_421");
  EXPECT_EQ(rule_of(0, "5.5.1"), "none");  // the code key is "5": shorter than the prefix "55"
  EXPECT_EQ(rule_of(0, "4.2.2"), "code.4");
  EXPECT_EQ(rule_of(0, ""), "none");
}

// The RE2 engine checks every pattern in one pass and lists each one it rejects, with its rule's
// file and line, also past a relaxed (wide-repeat) pattern.
TEST(ClassifierErrorsTest, Re2ListsEveryBadPatternWithItsLine) {
  constexpr std::string_view kBadRules = R"(
schema = 1
version = "t"

[[rule]]
id = "good.wide"
pattern = 'mailbox.{0,60}full'
reason = "mailboxfull"
party = "unknown"
action = "none"
confidence = 0.5
examples = ["x"]

[[rule]]
id = "bad.one"
pattern = 'unbalanced (paren'
reason = "blocked"
party = "unknown"
action = "none"
confidence = 0.5
examples = ["x"]

[[rule]]
id = "good.plain"
pattern = 'user unknown'
reason = "userunknown"
party = "unknown"
action = "none"
confidence = 0.5
examples = ["x"]

[[rule]]
id = "bad.two"
pattern = 'x.{0,60}(y'
reason = "blocked"
party = "unknown"
action = "none"
confidence = 0.5
examples = ["x"]
)";
  auto rules = RuleSet::Parse(kBadRules, "bad.toml");
  ASSERT_TRUE(rules.has_value()) << rules.error()[0].ToString();
  auto c = Classifier::Create(*rules, {.engine = Engine::kRe2Set});
  ASSERT_FALSE(c.has_value());
  ASSERT_EQ(c.error().size(), 2u);
  const auto& rs = (*rules)->rules();
  EXPECT_EQ(c.error()[0].file, "bad.toml");
  EXPECT_EQ(c.error()[0].line, rs[1].line);
  EXPECT_NE(c.error()[0].message.find("pattern of 'bad.one' (RE2): "), std::string::npos)
      << c.error()[0].message;
  EXPECT_EQ(c.error()[1].line, rs[3].line);
  EXPECT_NE(c.error()[1].message.find("pattern of 'bad.two' (RE2): "), std::string::npos)
      << c.error()[1].message;
}

INSTANTIATE_TEST_SUITE_P(Engines, ClassifierTest,
                         ::testing::Values(Engine::kRe2Set, Engine::kVectorscan),
                         [](const auto& param_info) { return std::string(ToString(param_info.param)); });

}  // namespace
}  // namespace bouncestream::classify
