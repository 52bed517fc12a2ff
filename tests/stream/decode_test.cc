#include "stream/decode.h"

#include <gtest/gtest.h>

#include "stream/internal/decode_impl.h"

namespace bouncestream::stream {
namespace {

using classify::BounceEvent;
using classify::EventType;

TEST(CanonicalDecodeTest, DecodesEveryField) {
  Decoder d;
  std::vector<BounceEvent> out;
  auto r = d.Decode(
      R"({"id":"e1","time":"2026-11-30T10:00:00.250Z","tenant":"acme","sender":"a@s.example",)"
      R"("recipient":"Bob@Example.COM","mx":"mx.example.com","remote_ip":"192.0.2.1",)"
      R"("sending_ip":"198.51.100.7","smtp_code":550,"enhanced_code":"5.1.1",)"
      R"("text":"550 5.1.1 no such user \u00e9","type":"bounce","extra":{"ignored":[1,2]}})",
      InputFormat::kAuto, &out);
  ASSERT_TRUE(r.has_value()) << r.error().detail;
  EXPECT_EQ(*r, InputFormat::kCanonical);
  ASSERT_EQ(out.size(), 1u);
  const auto& ev = out[0];
  EXPECT_EQ(ev.id, "e1");
  EXPECT_EQ(ev.time_ms, 1796032800250);
  EXPECT_EQ(ev.tenant, "acme");
  EXPECT_EQ(ev.recipient, "Bob@Example.COM");
  EXPECT_EQ(ev.RecipientDomain(), "Example.COM");
  EXPECT_EQ(ev.smtp_code, 550);
  EXPECT_EQ(ev.enhanced_code, "5.1.1");
  EXPECT_EQ(ev.text, "550 5.1.1 no such user \xc3\xa9");
  EXPECT_EQ(ev.type, EventType::kBounce);
}

TEST(CanonicalDecodeTest, ArrayHoldsSeveralEventsAndViewsSurviveLaterPayloads) {
  Decoder d;
  std::vector<BounceEvent> out;
  ASSERT_TRUE(d.Decode(R"([{"text":"a","smtp_code":"451","type":"deferral"},{"text":"b"}])",
                       InputFormat::kCanonical, &out));
  ASSERT_TRUE(d.Decode(R"({"text":"c","time":1796032800})", InputFormat::kCanonical, &out));
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[0].text, "a");
  EXPECT_EQ(out[0].smtp_code, 451);
  EXPECT_EQ(out[0].type, EventType::kDeferral);
  EXPECT_EQ(out[1].text, "b");
  EXPECT_EQ(out[2].text, "c");
  EXPECT_EQ(out[2].time_ms, 1796032800000);
}

TEST(CanonicalDecodeTest, EscapedKeysAndValuesAreUnescapedAndOutliveTheCallersBuffer) {
  Decoder d;
  std::vector<BounceEvent> out;
  {
    // Keys and values with escapes are unescaped (a key "t\u0065xt" is "text"); the others are
    // views into the decoder's own copy: the caller's buffer may go away before Reset().
    std::string payload =
        R"({"t\u0065xt":"550 \"quoted\" \\ back","recipient":"a@b.example","id":42,)"
        R"("smtp_code":"550","sender":"s\u00e9@x.example","type":"b\u006funce"})";
    ASSERT_TRUE(d.Decode(payload, InputFormat::kCanonical, &out));
    std::string second = R"({"text":"plain","mx":"mx.example"})";
    ASSERT_TRUE(d.Decode(second, InputFormat::kCanonical, &out));
    payload.assign(payload.size(), 'x');
    second.assign(second.size(), 'x');
  }
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].text, "550 \"quoted\" \\ back");
  EXPECT_EQ(out[0].recipient, "a@b.example");
  EXPECT_EQ(out[0].id, "42");
  EXPECT_EQ(out[0].smtp_code, 550);
  EXPECT_EQ(out[0].sender, "s\xc3\xa9@x.example");
  EXPECT_EQ(out[0].type, EventType::kBounce);
  EXPECT_EQ(out[1].text, "plain");
  EXPECT_EQ(out[1].mx, "mx.example");
}

TEST(CanonicalDecodeTest, WhiteSpaceAroundValuesIsNotPartOfThem) {
  Decoder d;
  std::vector<BounceEvent> out;
  ASSERT_TRUE(d.Decode("{ \"text\" :  \"a b\"  ,\n\t\"id\" : 7 , \"mx\":\"\"\r\n}",
                       InputFormat::kAuto, &out));
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].text, "a b");
  EXPECT_EQ(out[0].id, "7");
  EXPECT_EQ(out[0].mx, "");
}

struct BadCase {
  const char* name;
  std::string payload;
  std::string_view kind;
};

class CanonicalBadInputTest : public ::testing::TestWithParam<BadCase> {};

TEST_P(CanonicalBadInputTest, GivesAClearErrorAndNoEvent) {
  Decoder d;
  std::vector<BounceEvent> out;
  auto r = d.Decode(GetParam().payload, InputFormat::kCanonical, &out);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().kind, GetParam().kind) << r.error().detail;
  EXPECT_FALSE(r.error().detail.empty());
  EXPECT_TRUE(out.empty());
}

INSTANTIATE_TEST_SUITE_P(
    Cases, CanonicalBadInputTest,
    ::testing::Values(
        BadCase{"truncated", R"({"text":"550 user unkn)", "json_syntax"},
        BadCase{"not_json", "hello world", "json_syntax"},
        BadCase{"number", "42", "not_object"},
        BadCase{"string", R"("just a string")", "not_object"},
        BadCase{"array_of_numbers", "[1,2]", "not_object"},
        BadCase{"empty", "   \n", "empty"},
        BadCase{"no_fields", R"({"foo":1})", "missing_field"},
        BadCase{"bad_type", R"({"text":"x","type":"explosion"})", "bad_field"},
        BadCase{"code_object", R"({"text":"x","smtp_code":{"a":1}})", "bad_field"},
        BadCase{"code_range", R"({"text":"x","smtp_code":9999})", "bad_field"},
        BadCase{"bad_time", R"({"text":"x","time":"yesterday"})", "bad_field"},
        BadCase{"invalid_utf8", "{\"text\":\"\xff\xfe\"}", "invalid_utf8"},
        BadCase{"too_large", std::string(Decoder::kMaxPayloadBytes + 1, ' '), "too_large"},
        BadCase{"deep_array", std::string(5000, '[') + std::string(5000, ']'), "not_object"}),
    [](const auto& param_info) { return std::string(param_info.param.name); });

TEST(CanonicalDecodeTest, DeeplyNestedUnknownFieldIsSkippedWithoutRecursion) {
  Decoder d;
  std::vector<BounceEvent> out;
  const std::string payload = "{\"text\":\"x\",\"extra\":" + std::string(100000, '[') +
                              std::string(100000, ']') + "}";
  ASSERT_TRUE(d.Decode(payload, InputFormat::kCanonical, &out));
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].text, "x");
}

TEST(CanonicalDecodeTest, ABadElementRejectsTheWholePayload) {
  Decoder d;
  std::vector<BounceEvent> out;
  ASSERT_TRUE(d.Decode(R"({"text":"kept"})", InputFormat::kCanonical, &out));
  EXPECT_FALSE(d.Decode(R"([{"text":"a"},{"text":"b","type":"nope"}])", InputFormat::kCanonical,
                        &out));
  ASSERT_EQ(out.size(), 1u) << "events of a failed payload must not leak into the batch";
  EXPECT_EQ(out[0].text, "kept");
}

TEST(TimeTest, Formats) {
  std::int64_t ms = 0;
  EXPECT_TRUE(decode::ParseTimeText("2026-11-30T10:00:00Z", &ms));
  EXPECT_EQ(ms, 1796032800000);
  EXPECT_TRUE(decode::ParseTimeText("2026-11-30T12:00:00+02:00", &ms));
  EXPECT_EQ(ms, 1796032800000);
  EXPECT_TRUE(decode::ParseTimeText("2026-11-30 10:00:00", &ms));
  EXPECT_EQ(ms, 1796032800000);
  EXPECT_TRUE(decode::ParseTimeText("1796032800", &ms));
  EXPECT_EQ(ms, 1796032800000);
  EXPECT_TRUE(decode::ParseTimeText("1796032800123", &ms));
  EXPECT_EQ(ms, 1796032800123);
  EXPECT_FALSE(decode::ParseTimeText("2026-13-01T00:00:00Z", &ms));
  EXPECT_FALSE(decode::ParseTimeText("2026-02-30", &ms));
  EXPECT_FALSE(decode::ParseTimeText("", &ms));
}

// Four digits and a '-' go straight to the date path; everything else still tries a number first.
TEST(TimeTest, NumberAttemptOnlyWhenTheTextCanBeANumber) {
  std::int64_t ms = 0;
  EXPECT_TRUE(decode::ParseTimeText("2026-12-01T00:00:00.250Z", &ms));
  EXPECT_EQ(ms, 1796083200250);
  EXPECT_FALSE(decode::ParseTimeText("2026-5", &ms));   // neither a date nor a number
  EXPECT_FALSE(decode::ParseTimeText("1796-", &ms));
  EXPECT_TRUE(decode::ParseTimeText("1796032800.5", &ms));  // fractional seconds
  EXPECT_EQ(ms, 1796032800500);
  EXPECT_TRUE(decode::ParseTimeText("1.7960328e9", &ms));  // an exponent is still a number
  EXPECT_EQ(ms, 1796032800000);
  EXPECT_FALSE(decode::ParseTimeText("179603280x", &ms));
}

TEST(FormatNamesTest, RoundTrip) {
  for (auto f : {InputFormat::kAuto, InputFormat::kCanonical, InputFormat::kKumo,
                 InputFormat::kPowerMta, InputFormat::kPostfix, InputFormat::kPostal,
                 InputFormat::kSes, InputFormat::kSendgrid, InputFormat::kMailgun,
                 InputFormat::kPostmark, InputFormat::kSparkpost}) {
    EXPECT_EQ(ParseInputFormat(ToString(f)), f);
  }
  EXPECT_EQ(ParseInputFormat("nonsense"), std::nullopt);
}

TEST(ArenaTest, ReuseAfterResetKeepsLargeCopies) {
  Arena a(16);
  auto x = a.Copy("hello");
  auto big = a.Copy(std::string(100, 'z'));
  EXPECT_EQ(x, "hello");
  EXPECT_EQ(big, std::string(100, 'z'));
  a.Reset();
  auto y = a.Copy("again");
  EXPECT_EQ(y, "again");
  EXPECT_EQ(a.Copy(""), "");
}

}  // namespace
}  // namespace bouncestream::stream
