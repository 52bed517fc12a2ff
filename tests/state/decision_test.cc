#include "state/decision.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdio>
#include <ctime>
#include <string>

#include "state/internal/decision_codec.h"

namespace bouncestream::state {
namespace {

Decision Sample() {
  Decision d;
  d.decision_id = "00112233445566aa";
  d.kind = DecisionKind::kSuppress;
  d.scope = Scope::kTenant;
  d.tenant = "acme";
  d.recipient = "bob@example.com";
  d.rule = "policy.hard_invalid";
  d.evidence.count = 3;
  d.evidence.first_seen_ms = 1'790'000'000'123;
  d.evidence.last_seen_ms = 1'790'000'001'000;
  d.evidence.example = "550 \"no\"\n\tuser\\x\x01\x7f";
  d.evidence.event_id = "e1";
  d.decided_at_ms = 1'790'000'000'123;
  return d;
}

TEST(DecisionJsonTest, FieldsAndEscaping) {
  std::string json;
  EncodeJson(Sample(), &json);
  EXPECT_EQ(json.front(), '{');
  EXPECT_EQ(json.back(), '}');
  EXPECT_NE(json.find("\"decision_id\":\"00112233445566aa\""), std::string::npos);
  EXPECT_NE(json.find("\"kind\":\"suppress\",\"scope\":\"tenant\""), std::string::npos);
  EXPECT_NE(json.find("\"example\":\"550 \\\"no\\\"\\n\\tuser\\\\x\\u0001\\u007f\""),
            std::string::npos)
      << json;
  EXPECT_NE(json.find("\"decided_at\":\"2026-09-21T14:13:20.123Z\""), std::string::npos) << json;
  EXPECT_NE(json.find("\"expires_at\":null}"), std::string::npos) << json;
  EXPECT_NE(json.find("\"evidence\":{\"count\":3,\"first_seen\":\"2026-09-21T14:13:20.123Z\","
                      "\"last_seen\":\"2026-09-21T14:13:21.000Z\""),
            std::string::npos)
      << json;
  for (const char* f : {"tenant", "recipient", "sender", "domain", "sending_ip", "vendor", "dnsbl",
                        "reason", "party", "rule", "classifier_rule", "origin", "note"}) {
    EXPECT_NE(json.find(std::string("\"") + f + "\":"), std::string::npos) << f;
  }
  EXPECT_EQ(json.find("recipient_hash"), std::string::npos);
}

TEST(DecisionJsonTest, InvalidUtf8Replaced) {
  Decision d = Sample();
  d.note = "ok \xC3\xA9 bad \xC3 lone \xFF over \xC0\xAF sur \xED\xA0\x80 4b \xF0\x9F\x98\x80";
  d.expires_at_ms = 86'400'000;
  std::string json;
  EncodeJson(d, &json);
  EXPECT_NE(json.find("\"note\":\"ok \xC3\xA9 bad \xEF\xBF\xBD lone \xEF\xBF\xBD over "
                      "\xEF\xBF\xBD sur \xEF\xBF\xBD 4b \xF0\x9F\x98\x80\""),
            std::string::npos)
      << json;
  EXPECT_NE(json.find("\"expires_at\":\"1970-01-02T00:00:00.000Z\""), std::string::npos);
}

TEST(DecisionJsonTest, Rfc3339) {
  EXPECT_EQ(FormatRfc3339Ms(0), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(FormatRfc3339Ms(951'782'400'999), "2000-02-29T00:00:00.999Z");
  EXPECT_EQ(FormatRfc3339Ms(-1), "1969-12-31T23:59:59.999Z");
  EXPECT_EQ(FormatRfc3339Ms(253'402'300'799'999), "9999-12-31T23:59:59.999Z");
  EXPECT_EQ(FormatRfc3339Ms(253'402'300'800'000), "10000-01-01T00:00:00.000Z");
  EXPECT_EQ(FormatRfc3339Ms(-62'135'596'800'000), "0001-01-01T00:00:00.000Z");
  std::string appended = "x";
  AppendRfc3339Ms(1'764'584'640'123, &appended);
  EXPECT_EQ(appended, "x2025-12-01T10:24:00.123Z");
}

// The digit-by-digit formatter against gmtime_r over years 1 to 9999: every day
// boundary of 1970-2100 and 200,000 pseudo-random instants.
TEST(DecisionJsonTest, Rfc3339AgreesWithGmtime) {
  auto reference = [](std::int64_t ms) {
    std::int64_t secs = ms / 1000, frac = ms % 1000;
    if (frac < 0) {
      frac += 1000;
      --secs;
    }
    const std::time_t t = static_cast<std::time_t>(secs);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[64];  // the calendar fields from gmtime_r, printed with printf's padding
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03lldZ", tm.tm_year + 1900,
                  tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                  static_cast<long long>(frac));
    return std::string(buf);
  };
  int checked = 0;
  for (std::int64_t day = 0; day < 130 * 366; ++day) {
    for (std::int64_t ms : {day * 86'400'000, day * 86'400'000 - 1}) {
      ASSERT_EQ(FormatRfc3339Ms(ms), reference(ms)) << ms;
      ++checked;
    }
  }
  std::uint64_t x = 0x9E3779B97F4A7C15ull;
  constexpr std::int64_t kLo = -62'135'596'800'000, kHi = 253'402'300'799'999;  // 0001..9999
  for (int i = 0; i < 200'000; ++i) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    const std::int64_t ms =
        kLo + static_cast<std::int64_t>(x % static_cast<std::uint64_t>(kHi - kLo));
    ASSERT_EQ(FormatRfc3339Ms(ms), reference(ms)) << ms;
    ++checked;
  }
  EXPECT_EQ(checked, 2 * 130 * 366 + 200'000);
}

// Plain runs, escapes and multi-byte sequences next to each other.
TEST(DecisionJsonTest, StringsEscapeAroundPlainRuns) {
  Decision d = Sample();
  d.note = std::string("a\"b\\c\x01" "d\x7F" "\ne\xC3\xA9" "f\xFF" "g") + std::string(1, '\0') +
           "end";
  std::string json;
  EncodeJson(d, &json);
  const std::string want =
      "\"note\":\"a\\\"b\\\\c\\u0001d\\u007f\\ne\xC3\xA9"
      "f\xEF\xBF\xBD"
      "g\\u0000end\"";
  EXPECT_NE(json.find(want), std::string::npos)
      << json;
}

TEST(DecisionTest, NamesParseAndStreams) {
  for (auto k : {DecisionKind::kSuppress, DecisionKind::kLift, DecisionKind::kPause,
                 DecisionKind::kResume, DecisionKind::kAlert}) {
    EXPECT_EQ(ParseDecisionKind(ToString(k)), k);
  }
  for (auto s : {Scope::kTenant, Scope::kSender, Scope::kDomain, Scope::kIpVendor}) {
    EXPECT_EQ(ParseScope(ToString(s)), s);
  }
  EXPECT_FALSE(ParseScope("nope"));
  Decision d = Sample();
  EXPECT_EQ(StreamOf(d), Stream::kSuppressions);
  EXPECT_EQ(RecordKey(d), "acme\x1F" "bob@example.com");
  d.kind = DecisionKind::kLift;
  EXPECT_EQ(StreamOf(d), Stream::kSuppressions);
  d.scope = Scope::kSender;
  d.recipient.clear();
  EXPECT_EQ(StreamOf(d), Stream::kAlerts);  // lift of an alert
  d.kind = DecisionKind::kResume;
  d.scope = Scope::kDomain;
  EXPECT_EQ(StreamOf(d), Stream::kBlocks);
}

TEST(DecisionCodecTest, RoundTripAndIds) {
  Decision d = Sample();
  std::string s;
  internal::EncodeDecision(d, &s);
  Decision back;
  ASSERT_TRUE(internal::DecodeDecision(s, &back));
  std::string s2;
  internal::EncodeDecision(back, &s2);
  EXPECT_EQ(s, s2);
  EXPECT_FALSE(internal::DecodeDecision(s.substr(0, s.size() - 2), &back));
  std::string id = internal::DecisionId(d);
  EXPECT_EQ(id.size(), 16u);
  EXPECT_EQ(id, internal::DecisionId(d));
  Decision other = d;
  other.decided_at_ms += 1;
  EXPECT_NE(id, internal::DecisionId(other));
  EXPECT_EQ(internal::CapUtf8("ab\xC3\xA9", 3), "ab");
}

}  // namespace
}  // namespace bouncestream::state
