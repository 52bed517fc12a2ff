// ObservationReader over both encodings of a classified record: the observation header the
// input stage writes must give exactly the Observation the record's JSON gives, and a broken
// header must be an error, never a crash or a read outside the record.
#include "stream/observe.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "classify/classification.h"
#include "classify/event.h"
#include "stream/encode.h"

namespace bouncestream::stream {
namespace {

using classify::BounceEvent;
using classify::Classification;

struct Encoded {
  std::string value, header;
};

Encoded Encode(const BounceEvent& ev, const Classification& c) {
  Encoded e;
  EncodeClassifiedRecord(ev, c, {"bouncestream.events", 3, 4711, "canonical"}, &e.value, &e.header);
  return e;
}

BounceEvent Plain() {
  BounceEvent ev;
  ev.id = "ev-1";
  ev.time_ms = 1'764'000'000'123;
  ev.tenant = "acme";
  ev.sender = "news@acme.example";
  ev.recipient = "Jo@Example.ORG";
  ev.mx = "eu-smtp-inbound-1.mimecast.com";
  ev.sending_ip = "192.0.2.7";
  ev.smtp_code = 550;
  ev.enhanced_code = "5.7.1";
  ev.text = "550 Rejected by header based Blocked Senders - https://community.mimecast.com";
  ev.type = classify::EventType::kBounce;
  return ev;
}

Classification Blocked() {
  Classification c;
  c.reason = classify::Reason::kBlocked;
  c.party = classify::Party::kEndUser;
  c.vendor = classify::Vendor::kMimecast;
  c.hard = false;
  c.rule = "mimecast.blocked_senders";
  c.dnsbl = "";
  return c;
}

// Every field of the two observations, one by one (a view's bytes, not its address).
void ExpectSame(const state::Observation& a, const state::Observation& b) {
  EXPECT_EQ(a.event_id, b.event_id);
  EXPECT_EQ(a.event_time_ms, b.event_time_ms);
  EXPECT_EQ(a.tenant, b.tenant);
  EXPECT_EQ(a.sender, b.sender);
  EXPECT_EQ(a.recipient, b.recipient);
  EXPECT_EQ(a.recipient_is_hash, b.recipient_is_hash);
  EXPECT_EQ(a.domain, b.domain);
  EXPECT_EQ(a.sending_ip, b.sending_ip);
  EXPECT_EQ(a.vendor, b.vendor);
  EXPECT_EQ(a.reason, b.reason);
  EXPECT_EQ(a.reason_code, b.reason_code);
  EXPECT_EQ(a.party, b.party);
  EXPECT_EQ(a.rule, b.rule);
  EXPECT_EQ(a.dnsbl, b.dnsbl);
  EXPECT_EQ(a.text, b.text);
  EXPECT_EQ(a.signal, b.signal);
}

// Reads `e` through the header and through the JSON, with a plain and a keyed reader, with and
// without a domain key, and expects the same observations.
void ExpectHeaderEqualsJson(const Encoded& e) {
  for (const std::string& hmac : {std::string(), std::string("test-key")}) {
    for (const std::string_view key : {std::string_view("example.org"), std::string_view()}) {
      ObservationReader via_header(hmac), via_json(hmac);
      auto h = via_header.Read(e.value, key, e.header);
      auto j = via_json.Read(e.value, key);
      ASSERT_TRUE(h.has_value()) << h.error();
      ASSERT_TRUE(j.has_value()) << j.error();
      ExpectSame(*h, *j);
    }
  }
}

TEST(ObservationHeaderTest, PlainStringsAreReferencesIntoTheJson) {
  const BounceEvent ev = Plain();
  const Encoded e = Encode(ev, Blocked());
  ASSERT_FALSE(e.header.empty());
  EXPECT_EQ(e.header[0], '1');
  // The text is referenced, not copied; the header is printable ASCII (dumps of the topic as
  // JSON, kcat -J, stay valid UTF-8).
  EXPECT_EQ(e.header.find("Blocked Senders"), std::string::npos) << e.header;
  for (const char ch : e.header) {
    EXPECT_TRUE(ch >= 0x20 && ch < 0x7f) << e.header;
  }
  ExpectHeaderEqualsJson(e);
  ObservationReader r;
  auto o = r.Read(e.value, "example.org", e.header);
  ASSERT_TRUE(o.has_value()) << o.error();
  EXPECT_EQ(o->event_id, "ev-1");
  EXPECT_EQ(o->event_time_ms, 1'764'000'000'123);
  EXPECT_EQ(o->text, ev.text);
  EXPECT_EQ(o->party, "end_user");
  EXPECT_EQ(o->signal, state::Signal::kEndUserBlock);
}

TEST(ObservationHeaderTest, EscapedStringsGoInlineAndReadTheSame) {
  BounceEvent ev = Plain();
  ev.text = "550-5.7.1 \"quoted\" \\ back\n550 5.7.1 second line\t\x01 and \xc3\xa9t\xc3\xa9";
  ev.sender = std::string_view("nul\0byte@acme.example", 21);
  Classification c = Blocked();
  c.dnsbl = "spamhaus";
  c.hard = true;
  c.party = classify::Party::kRecipientInvalid;
  const Encoded e = Encode(ev, c);
  ASSERT_FALSE(e.header.empty());
  EXPECT_NE(e.header.find("second line"), std::string::npos);  // the text, inline
  ExpectHeaderEqualsJson(e);
  ObservationReader r;
  auto o = r.Read(e.value, "example.org", e.header);
  ASSERT_TRUE(o.has_value()) << o.error();
  EXPECT_EQ(o->text, ev.text);
  EXPECT_EQ(o->sender, ev.sender);
  EXPECT_EQ(o->dnsbl, "spamhaus");
  EXPECT_EQ(o->signal, state::Signal::kHardInvalid);
}

TEST(ObservationHeaderTest, NoHeaderWhenTheJsonHadToRepairAString) {
  BounceEvent ev = Plain();
  ev.text = "550 bad byte \xff here";
  const Encoded e = Encode(ev, Blocked());
  EXPECT_TRUE(e.header.empty());
  ObservationReader r;
  auto o = r.Read(e.value, "example.org", e.header);  // the JSON, with U+FFFD
  ASSERT_TRUE(o.has_value()) << o.error();
  EXPECT_EQ(o->text, "550 bad byte \xef\xbf\xbd here");
}

TEST(ObservationHeaderTest, LongTextsStayReferencesAndLongEscapedOnesLeaveTheHeaderOut) {
  BounceEvent ev = Plain();
  const std::string big(1 << 20, 'x');
  ev.text = big;
  const Encoded plain = Encode(ev, Blocked());
  ASSERT_FALSE(plain.header.empty());
  EXPECT_LT(plain.header.size(), 256u);
  ExpectHeaderEqualsJson(plain);
  const std::string escaped = big + "\n";
  ev.text = escaped;
  const Encoded e = Encode(ev, Blocked());
  EXPECT_TRUE(e.header.empty());  // a second copy could push the record past the size limit
}

TEST(ObservationHeaderTest, ExtremeNumbersReadTheSameBothWays) {
  for (const std::int64_t t :
       {INT64_MIN, INT64_MIN + 1, std::int64_t{-1}, std::int64_t{0}, INT64_MAX}) {
    BounceEvent ev = Plain();
    ev.time_ms = t;
    Encoded e;
    EncodeClassifiedRecord(ev, Blocked(), {"in", INT32_MIN, t, "canonical"}, &e.value, &e.header);
    ASSERT_FALSE(e.header.empty());
    ObservationReader r;
    auto o = r.Read(e.value, "example.org", e.header);
    ASSERT_TRUE(o.has_value()) << t << ": " << o.error();
    EXPECT_EQ(o->event_time_ms, t);
    ExpectHeaderEqualsJson(e);
  }
}

TEST(ObservationHeaderTest, EmptyIdBecomesTheSourcePositionBothWays) {
  BounceEvent ev = Plain();
  ev.id = "";
  ev.recipient = "";
  ev.sending_ip = "";
  const Encoded e = Encode(ev, Blocked());
  ASSERT_FALSE(e.header.empty());
  ExpectHeaderEqualsJson(e);
  ObservationReader r;
  auto o = r.Read(e.value, "", e.header);
  ASSERT_TRUE(o.has_value()) << o.error();
  EXPECT_EQ(o->event_id, "bouncestream.events:3:4711");
  EXPECT_EQ(o->domain, "");
}

TEST(ObservationHeaderTest, AValueWithTextBeforeItKeepsItsReferencesRight) {
  // EncodeClassifiedRecord appends: references count from where the record starts.
  Encoded e;
  e.value = "prefix that is not part of the record";
  const std::size_t start = e.value.size();
  EncodeClassifiedRecord(Plain(), Blocked(), {"in", 0, 1, "canonical"}, &e.value, &e.header);
  e.value.erase(0, start);
  ExpectHeaderEqualsJson(e);
}

TEST(ObservationHeaderTest, AnUnknownVersionIsIgnoredForTheJson) {
  Encoded e = Encode(Plain(), Blocked());
  e.header = "2garbage";
  ObservationReader r;
  auto o = r.Read(e.value, "example.org", e.header);
  ASSERT_TRUE(o.has_value()) << o.error();
  EXPECT_EQ(o->event_id, "ev-1");
}

TEST(ObservationHeaderTest, EveryCutOfAHeaderIsAnErrorNamingTheHeader) {
  const Encoded e = Encode(Plain(), Blocked());
  ObservationReader r;
  for (std::size_t n = 1; n < e.header.size(); ++n) {
    auto o = r.Read(e.value, "example.org", std::string_view(e.header).substr(0, n));
    ASSERT_FALSE(o.has_value()) << "cut at " << n;
    EXPECT_NE(o.error().find("observation header"), std::string::npos) << o.error();
  }
  std::string longer = e.header + "x";
  auto trailing = r.Read(e.value, "example.org", longer);
  ASSERT_FALSE(trailing.has_value());
  EXPECT_NE(trailing.error().find("after the last field"), std::string::npos);
  std::string bad_flag = e.header;
  bad_flag.back() = '2';
  EXPECT_FALSE(r.Read(e.value, "example.org", bad_flag).has_value());
}

TEST(ObservationHeaderTest, AReferenceOutsideTheValueIsAnError) {
  const Encoded e = Encode(Plain(), Blocked());
  ObservationReader r;
  // The same header over a shorter value: its references now point past the end.
  auto o = r.Read(std::string_view(e.value).substr(0, 40), "example.org", e.header);
  ASSERT_FALSE(o.has_value());
  EXPECT_NE(o.error().find("outside the value"), std::string::npos) << o.error();
  // Offsets and sizes that overflow or are negative.
  // Numbers past 64 bits, references past the end, characters outside the alphabet.
  for (const char* h : {"1Oooooooooooo?0", "1Oooooooooooo3", "11oooooooooooo?", "1Q?", "1O0", "1Q",
                        "1\x7f", "1 ", "11", "11ooooooooooooO" /* 65 bits */}) {
    auto bad = r.Read(e.value, "example.org", h);
    ASSERT_FALSE(bad.has_value()) << h;
    EXPECT_NE(bad.error().find("observation header"), std::string::npos) << h;
  }
}

}  // namespace
}  // namespace bouncestream::stream
