// Linear time per event without timing asserts (the timings are benchmarks/redos_bench.cc):
//   * the classifier scans at most ClassifierOptions::max_text_bytes (64 KiB) of a text, so a
//     4 MiB text (the decoder's payload limit) costs what 64 KiB costs, and says so in
//     text_truncated; what lies past the cap can change nothing;
//   * both engines are automata without backtracking, and rule files cannot smuggle in the
//     constructs that would need one: backreferences, lookaround, atomic/possessive groups and
//     recursion are refused by check-rules and by Classifier::Create with the rule's file, line
//     and id in the error.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "classify/check_rules.h"
#include "classify/classifier.h"
#include "classify/rule_set.h"

namespace bouncestream::classify {
namespace {

constexpr std::size_t kCap = ClassifierOptions{}.max_text_bytes;
constexpr std::size_t kMaxPayload = 4 * 1024 * 1024;  // stream::Decoder::kMaxPayloadBytes

std::shared_ptr<const Classifier> Shipped(Engine engine) {
  auto rules = RuleSet::Load(DefaultRulesPath());
  EXPECT_TRUE(rules.has_value());
  auto c = Classifier::Create(*rules, {.engine = engine});
  EXPECT_TRUE(c.has_value());
  return *c;
}

BounceEvent Event(std::string_view text) {
  BounceEvent ev;
  ev.text = text;
  return ev;
}

class ScanCapTest : public ::testing::TestWithParam<Engine> {};

TEST_P(ScanCapTest, CapIsSixtyFourKiB) { EXPECT_EQ(kCap, 64u * 1024u); }

TEST_P(ScanCapTest, TextUpToTheCapIsScannedWholeAndLongerIsTruncated) {
  Classifier::Session s(Shipped(GetParam()));
  const std::string at_cap(kCap, 'a');
  EXPECT_FALSE(s.Classify(Event(at_cap)).text_truncated);
  const std::string over(kCap + 1, 'a');
  EXPECT_TRUE(s.Classify(Event(over)).text_truncated);
  const std::string max(kMaxPayload, 'a');
  EXPECT_TRUE(s.Classify(Event(max)).text_truncated);
}

TEST_P(ScanCapTest, NothingPastTheCapIsRead) {
  Classifier::Session s(Shipped(GetParam()));
  const std::string reply = "550 5.1.1 <bob@example.net>: Recipient address rejected: User unknown";
  const Classification alone = s.Classify(Event(reply));
  ASSERT_NE(alone.rule, "none");
  ASSERT_EQ(alone.smtp_code, 550);

  // The reply right after 64 KiB of filler, up to the 4 MiB payload limit: never seen.
  const std::string filler(kCap, ' ');
  const Classification filler_only = s.Classify(Event(filler));
  for (std::size_t total : {kCap + reply.size(), std::size_t{1} << 20, kMaxPayload}) {
    std::string text = filler + reply;
    text.resize(total, ' ');
    const Classification c = s.Classify(Event(text));
    EXPECT_TRUE(c.text_truncated);
    EXPECT_EQ(c.rule, filler_only.rule) << total;
    EXPECT_EQ(c.smtp_code, 0) << "the reply code past the cap was read";
    EXPECT_TRUE(c.enhanced_code.empty());
  }
  // The same reply at the start of a 4 MiB text decides exactly as alone.
  std::string head = reply;
  head.resize(kMaxPayload, 'x');
  const Classification c = s.Classify(Event(head));
  EXPECT_TRUE(c.text_truncated);
  EXPECT_EQ(c.rule, alone.rule);
  EXPECT_EQ(c.smtp_code, 550);
}

TEST_P(ScanCapTest, ACustomCapIsHonoured) {
  auto rules = RuleSet::Load(DefaultRulesPath());
  ASSERT_TRUE(rules.has_value());
  auto c = Classifier::Create(*rules, {.engine = GetParam(), .max_text_bytes = 16});
  ASSERT_TRUE(c.has_value());
  Classifier::Session s(*c);
  EXPECT_EQ(s.Classify(Event("0123456789abcdef550 5.1.1 user unknown")).smtp_code, 0);
  EXPECT_EQ(s.Classify(Event("550 5.1.1 user unknown")).smtp_code, 550);
}

INSTANTIATE_TEST_SUITE_P(BothEngines, ScanCapTest,
                         ::testing::Values(Engine::kRe2Set, Engine::kVectorscan),
                         [](const auto& p) { return std::string(ToString(p.param)); });

// A one-rule file with `pattern`; the example must be there or Load refuses it first.
std::string RuleFile(std::string_view pattern) {
  return "schema = 1\nversion = \"t\"\n[[rule]]\nid = \"evil\"\npattern = '" +
         std::string(pattern) +
         "'\nreason = \"blocked\"\nparty = \"end_user\"\naction = \"retry\"\nconfidence = 0.5\n"
         "examples = [\"aa\"]\n";
}

struct NonLinear {
  const char* name;
  const char* pattern;
};

class NonLinearConstructTest : public ::testing::TestWithParam<NonLinear> {};

TEST_P(NonLinearConstructTest, RefusedByCheckRulesAndByBothEngines) {
  const std::string text = RuleFile(GetParam().pattern);
  auto rules = RuleSet::Parse(text, "evil.toml");
  ASSERT_TRUE(rules.has_value()) << (rules ? "" : rules.error()[0].ToString());
  for (Engine engine : {Engine::kRe2Set, Engine::kVectorscan}) {
    auto c = Classifier::Create(*rules, {.engine = engine});
    ASSERT_FALSE(c.has_value()) << ToString(engine) << " accepted " << GetParam().pattern;
    ASSERT_FALSE(c.error().empty());
    const RuleError& e = c.error()[0];
    EXPECT_EQ(e.file, "evil.toml") << ToString(engine);
    EXPECT_GT(e.line, 0) << ToString(engine);
    EXPECT_NE(e.message.find("'evil'"), std::string::npos) << e.ToString();
    std::printf("%-10s %-14s %s\n", std::string(ToString(engine)).c_str(), GetParam().name,
                e.ToString().c_str());
  }

  const auto dir = std::filesystem::temp_directory_path() /
                   ("bouncestream_linearity_" + std::string(GetParam().name));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "50-evil.toml") << text;
  const CheckReport report = CheckRules(dir);
  EXPECT_FALSE(report.ok());
  bool named = false;
  for (const RuleError& e : report.errors) {
    if (e.file.find("50-evil.toml") != std::string::npos && e.line > 0 &&
        e.message.find("'evil'") != std::string::npos) {
      named = true;
    }
  }
  EXPECT_TRUE(named) << "check-rules did not name the rule";
  std::filesystem::remove_all(dir);
}

INSTANTIATE_TEST_SUITE_P(
    Constructs, NonLinearConstructTest,
    ::testing::Values(NonLinear{"backref", "(a)\\1"}, NonLinear{"named_backref", "(?P<x>a)(?P=x)"},
                      NonLinear{"k_backref", "(?<x>a)\\k<x>"},
                      NonLinear{"lookahead", "a(?=a)"}, NonLinear{"neg_lookahead", "a(?!b)"},
                      NonLinear{"lookbehind", "(?<=a)a"}, NonLinear{"neg_lookbehind", "(?<!b)a"},
                      NonLinear{"atomic", "(?>a+)a"}, NonLinear{"possessive", "a++a"},
                      NonLinear{"recursion", "(a(?R)?)"}, NonLinear{"conditional", "(a)?(?(1)a|b)"}),
    [](const auto& p) { return std::string(p.param.name); });

// What stays accepted: the nested and repeated quantifiers that a backtracking engine would
// explode on are plain automata here; the shipped rules' checks still pass.
TEST(LinearConstructTest, NestedQuantifiersCompileInBothEngines) {
  for (const char* p : {"(a+)+b", "(a|aa)*c", "(.*a){12}", "(\\w+\\s?)*$"}) {
    const std::string text = RuleFile(p);
    auto rules = RuleSet::Parse(text, "ok.toml");
    ASSERT_TRUE(rules.has_value());
    for (Engine engine : {Engine::kRe2Set, Engine::kVectorscan}) {
      auto c = Classifier::Create(*rules, {.engine = engine});
      EXPECT_TRUE(c.has_value()) << ToString(engine) << " refused " << p
                                 << (c ? "" : ": " + c.error()[0].ToString());
    }
  }
}

}  // namespace
}  // namespace bouncestream::classify
