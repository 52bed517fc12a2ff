// The Session's result cache (classify/internal/result_cache.h) must be exact: a cached answer
// equals, field by field, what a Session without the cache gives, whatever field of the event
// changes between two look-ups, and its enhanced-code view points into the event being classified.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "classify/classifier.h"

namespace bouncestream::classify {
namespace {

void ExpectSame(const Classification& a, const Classification& b, const std::string& what) {
  EXPECT_EQ(a.reason, b.reason) << what;
  EXPECT_EQ(a.bounce_class, b.bounce_class) << what;
  EXPECT_EQ(a.hard, b.hard) << what;
  EXPECT_EQ(a.vendor, b.vendor) << what;
  EXPECT_EQ(a.vendor_source, b.vendor_source) << what;
  EXPECT_EQ(a.party, b.party) << what;
  EXPECT_EQ(a.action, b.action) << what;
  EXPECT_EQ(a.confidence, b.confidence) << what;
  EXPECT_EQ(a.rule, b.rule) << what;
  EXPECT_EQ(a.doc.view(), b.doc.view()) << what;
  EXPECT_EQ(a.dnsbl, b.dnsbl) << what;
  EXPECT_EQ(a.smtp_code, b.smtp_code) << what;
  EXPECT_EQ(a.enhanced_code, b.enhanced_code) << what;
  EXPECT_EQ(a.text_truncated, b.text_truncated) << what;
}

bool Inside(std::string_view view, std::string_view field) {
  return !view.empty() && view.data() >= field.data() &&
         view.data() + view.size() <= field.data() + field.size();
}

struct Owned {
  std::string text, mx, status;
  int code = 0;
  EventType type = EventType::kBounce;
  BounceEvent View() const {
    BounceEvent ev;
    ev.text = text;
    ev.mx = mx;
    ev.enhanced_code = status;
    ev.smtp_code = code;
    ev.type = type;
    return ev;
  }
};

std::vector<Owned> Variants() {
  const std::vector<std::string> texts = {
      "550 5.1.1 <someone@example.org>: Recipient address rejected: User unknown",
      "550 Invalid Recipient - https://community.mimecast.com/docs/DOC-1369#550",
      "451 4.7.1 Service unavailable - try again later [TSS04]",
      "5.1.0 - Unknown address error 550-'5.7.1 <a@example.org>... Access denied'",
      "554 5.7.1 Service unavailable; Client host [192.0.2.1] blocked using zen.spamhaus.org",
      "Envelope blocked - User Entry",
      "550 5.7.606 Access denied, banned sending IP [192.0.2.7] (AS(1430))",
      "",
  };
  const std::vector<std::string> mxs = {"", "eu-smtp-inbound-1.mimecast.com",
                                        "example-com.mail.protection.outlook.com"};
  const std::vector<std::string> statuses = {"", "5.0.0", "4.2.2", "5.1.1"};
  const std::vector<int> codes = {0, 450, 550};
  const std::vector<EventType> types = {EventType::kBounce, EventType::kDeferral,
                                        EventType::kComplaint};
  std::vector<Owned> out;
  for (const auto& t : texts)
    for (const auto& m : mxs)
      for (const auto& s : statuses)
        for (int c : codes)
          for (EventType ty : types) out.push_back({t, m, s, c, ty});
  return out;
}

class CacheTest : public ::testing::TestWithParam<Engine> {
 protected:
  void SetUp() override {
    auto rules = RuleSet::Load(DefaultRulesPath());
    ASSERT_TRUE(rules.has_value()) << rules.error()[0].ToString();
    rules_ = *rules;
  }
  std::shared_ptr<const Classifier> Make(std::size_t slots) {
    auto c = Classifier::Create(rules_, {.engine = GetParam(), .session_cache_slots = slots});
    EXPECT_TRUE(c.has_value());
    return *c;
  }
  std::shared_ptr<const RuleSet> rules_;
};

TEST_P(CacheTest, EveryFieldOfTheKeyCounts) {
  // 4096 slots: every variant stays cached; 1 slot: every look-up collides with the last event,
  // which differs from it in one field only.
  for (std::size_t slots : {std::size_t{4096}, std::size_t{1}}) {
    Classifier::Session cached(Make(slots));
    Classifier::Session plain(Make(0));
    const auto variants = Variants();
    for (int pass = 0; pass < 2; ++pass) {
      for (const auto& v : variants) {
        const std::string what = "slots=" + std::to_string(slots) + " text='" + v.text +
                                 "' mx=" + v.mx + " status=" + v.status +
                                 " code=" + std::to_string(v.code) + " type=" +
                                 std::string(ToString(v.type));
        ExpectSame(cached.Classify(v.View()), plain.Classify(v.View()), what);
      }
    }
    if (slots > 1) {
      EXPECT_GT(cached.cache_hits(), variants.size() / 2);  // most of the second pass
    }
    EXPECT_EQ(plain.cache_hits(), 0u);
  }
}

TEST_P(CacheTest, StatusViewPointsIntoTheEventClassified) {
  Classifier::Session s(Make(64));
  // The status comes from the text (the event's own is generic), then from the event's field.
  for (const char* status : {"5.0.0", "5.1.1"}) {
    Owned first{"550 5.7.1 <a@example.org>: Relay access denied", "", status, 550};
    Owned second = first;  // same bytes, other buffers
    second.text = std::string(first.text);
    second.status = std::string(first.status);
    const auto a = s.Classify(first.View());
    const auto hits = s.cache_hits();
    const auto b = s.Classify(second.View());
    EXPECT_EQ(s.cache_hits(), hits + 1);
    EXPECT_EQ(a.enhanced_code, b.enhanced_code);
    ASSERT_FALSE(b.enhanced_code.empty());
    const BounceEvent ev = second.View();
    EXPECT_TRUE(Inside(b.enhanced_code, ev.text) || Inside(b.enhanced_code, ev.enhanced_code));
    EXPECT_FALSE(Inside(b.enhanced_code, first.text) || Inside(b.enhanced_code, first.status));
  }
}

TEST_P(CacheTest, LongTextsAndTraceBypassTheCache) {
  Classifier::Session s(Make(64));
  Owned big{std::string(2000, 'x') + " 550 5.1.1 User unknown", "", "", 0};
  s.Classify(big.View());
  s.Classify(big.View());
  EXPECT_EQ(s.cache_hits(), 0u);
  Owned small{"550 5.1.1 User unknown", "", "", 0};
  s.Classify(small.View());
  std::vector<std::string_view> matched;
  s.Trace(small.View(), &matched);
  EXPECT_FALSE(matched.empty());
  EXPECT_EQ(s.cache_hits(), 0u);
}

INSTANTIATE_TEST_SUITE_P(Engines, CacheTest, ::testing::Values(Engine::kRe2Set, Engine::kVectorscan),
                         [](const auto& param_info) { return std::string(ToString(param_info.param)); });

}  // namespace
}  // namespace bouncestream::classify
