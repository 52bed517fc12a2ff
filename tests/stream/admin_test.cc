// The admin command record (encode/decode, HMAC signature), the audit record, Kafka's murmur2
// partitioning and the time parser of stream/admin.h.
#include "stream/admin.h"

#include <gtest/gtest.h>
#include <librdkafka/rdkafka.h>

#include <string>

#include "stream/config.h"

namespace bouncestream::stream {
namespace {

state::Decision Imported(std::string recipient) {
  state::Decision d;
  d.kind = state::DecisionKind::kSuppress;
  d.scope = state::Scope::kTenant;
  d.tenant = "t1";
  d.recipient = std::move(recipient);
  d.domain = "example.com";
  d.reason = "hard_bounce";
  d.party = "recipient_invalid";
  d.rule = "import.sendgrid";
  d.origin = "import";
  d.note = "sendgrid";
  d.evidence.count = 1;
  d.evidence.example = "550 \"quoted\"\nnext line";
  d.decided_at_ms = 1764584640123;  // 2025-12-01T10:24:00.123Z
  d.expires_at_ms = 0;
  return d;
}

TEST(AdminCommandTest, EncodeDecodeRoundTrip) {
  AdminCommand c;
  c.command = AdminCommandKind::kImport;
  c.request_id = NewRequestId();
  c.note = "from sendgrid";
  c.issued_at_ms = 1764584640123;
  c.decisions = {Imported("a@example.com"), Imported("h:0123456789abcdef0123456789abcdef")};
  c.decisions[1].recipient_is_hash = true;
  const std::string v = EncodeAdminCommand(c);
  auto back = DecodeAdminCommand(v);
  ASSERT_TRUE(back) << back.error();
  EXPECT_EQ(back->command, AdminCommandKind::kImport);
  EXPECT_EQ(back->request_id, c.request_id);
  EXPECT_EQ(back->note, c.note);
  EXPECT_EQ(back->issued_at_ms, c.issued_at_ms);
  ASSERT_EQ(back->decisions.size(), 2u);
  const state::Decision& d = back->decisions[0];
  EXPECT_EQ(d.recipient, "a@example.com");
  EXPECT_FALSE(d.recipient_is_hash);
  EXPECT_EQ(d.tenant, "t1");
  EXPECT_EQ(d.reason, "hard_bounce");
  EXPECT_EQ(d.rule, "import.sendgrid");
  EXPECT_EQ(d.origin, "import");
  EXPECT_EQ(d.evidence.example, "550 \"quoted\"\nnext line");
  EXPECT_EQ(d.decided_at_ms, 1764584640123);
  EXPECT_EQ(d.expires_at_ms, 0);
  EXPECT_TRUE(back->decisions[1].recipient_is_hash);
  EXPECT_EQ(back->decisions[1].recipient, "h:0123456789abcdef0123456789abcdef");
  // Encoding again gives the same bytes (the signature covers them).
  EXPECT_EQ(EncodeAdminCommand(*back), v);

  AdminCommand lift;
  lift.command = AdminCommandKind::kLift;
  lift.request_id = "r1";
  lift.decision_id = "00112233aabbccdd";
  lift.note = "customer confirmed";
  auto l = DecodeAdminCommand(EncodeAdminCommand(lift));
  ASSERT_TRUE(l) << l.error();
  EXPECT_EQ(l->command, AdminCommandKind::kLift);
  EXPECT_EQ(l->decision_id, "00112233aabbccdd");

  AdminCommand erase;
  erase.command = AdminCommandKind::kErase;
  erase.request_id = "r2";
  erase.recipient = "Someone@Example.com";
  auto e = DecodeAdminCommand(EncodeAdminCommand(erase));
  ASSERT_TRUE(e) << e.error();
  EXPECT_EQ(e->recipient, "Someone@Example.com");
  EXPECT_EQ(e->tenant, "");
}

TEST(AdminCommandTest, BadRecordsAreErrorsThatNeverEchoValues) {
  EXPECT_FALSE(DecodeAdminCommand(""));
  EXPECT_FALSE(DecodeAdminCommand("not json at all"));
  EXPECT_FALSE(DecodeAdminCommand("[1,2]"));
  EXPECT_FALSE(DecodeAdminCommand(R"({"request_id":"r"})"));
  EXPECT_FALSE(DecodeAdminCommand(R"({"command":"drop_table","request_id":"r"})"));
  EXPECT_FALSE(DecodeAdminCommand(R"({"command":"lift","request_id":"r"})"));  // no decision_id
  EXPECT_FALSE(DecodeAdminCommand(R"({"command":"lift","decision_id":"x"})"));  // no request_id
  EXPECT_FALSE(DecodeAdminCommand(R"({"command":"import","request_id":"r","decisions":[]})"));
  EXPECT_FALSE(DecodeAdminCommand(R"({"command":"import","request_id":"r","decisions":[1]})"));
  EXPECT_FALSE(DecodeAdminCommand(R"({"command":"lift","request_id":"r","decision_id":5})"));
  const auto bad = DecodeAdminCommand(
      R"({"command":"erase","request_id":"r","recipient":["secret.person@example.com"]})");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().find("secret.person"), std::string::npos) << bad.error();
  EXPECT_NE(bad.error().find("recipient"), std::string::npos) << bad.error();
  const auto bad_time = DecodeAdminCommand(
      R"({"command":"erase","request_id":"r","recipient":"x@y.z","issued_at":"x@y.z"})");
  ASSERT_FALSE(bad_time);
  EXPECT_EQ(bad_time.error().find("x@y.z"), std::string::npos);
  // issued_at as Unix milliseconds is accepted too.
  auto ms = DecodeAdminCommand(
      R"({"command":"erase","request_id":"r","recipient":"x@y.z","issued_at":1764584640123})");
  ASSERT_TRUE(ms) << ms.error();
  EXPECT_EQ(ms->issued_at_ms, 1764584640123);
}

TEST(AdminCommandTest, Signature) {
  const std::string value = R"({"command":"lift","request_id":"r","decision_id":"x"})";
  const std::string sig = SignAdminCommand("token-1", value);
  EXPECT_EQ(sig.size(), 64u);
  for (char c : sig) EXPECT_TRUE((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')) << sig;
  EXPECT_TRUE(VerifyAdminCommand("token-1", value, sig));
  EXPECT_FALSE(VerifyAdminCommand("token-1", value, ""));                 // missing
  EXPECT_FALSE(VerifyAdminCommand("token-2", value, sig));                // wrong token
  EXPECT_FALSE(VerifyAdminCommand("token-1", value + " ", sig));          // value changed
  EXPECT_FALSE(VerifyAdminCommand("token-1", value, sig.substr(0, 63)));  // truncated
  std::string flipped = sig;
  flipped[10] = flipped[10] == '0' ? '1' : '0';
  EXPECT_FALSE(VerifyAdminCommand("token-1", value, flipped));
  // An empty token refuses everything, even a signature made with the empty key.
  EXPECT_FALSE(VerifyAdminCommand("", value, SignAdminCommand("", value)));
  // RFC 4231 test case 2: HMAC-SHA256("Jefe", "what do ya want for nothing?").
  EXPECT_EQ(SignAdminCommand("Jefe", "what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST(AdminCommandTest, RequestIdsAreRandomHex) {
  const std::string a = NewRequestId(), b = NewRequestId();
  EXPECT_EQ(a.size(), 32u);
  EXPECT_NE(a, b);
}

TEST(AuditRecordTest, HoldsNoAddress) {
  AuditRecord a;
  a.action = "erase";
  a.request_id = "abc";
  a.mode = "offline";
  a.recipient_hash = "h:00ff";
  a.decisions = 2;
  a.partitions = {1, 4};
  a.at_ms = 0;
  EXPECT_EQ(EncodeAuditRecord(a),
            R"({"action":"erase","request_id":"abc","mode":"offline","decision_id":"",)"
            R"("tenant":"","recipient_hash":"h:00ff","note":"","decisions":2,"partitions":[1,4],)"
            R"("at":"1970-01-01T00:00:00.000Z"})");
}

TEST(AdminTopicsTest, DecisionTopicAndTombstones) {
  OutputTopics topics;
  state::Decision s = Imported("a@example.com");
  EXPECT_EQ(DecisionTopic(topics, s), "bouncestream.suppressions");
  EXPECT_FALSE(PublishesTombstone(s));
  s.kind = state::DecisionKind::kLift;
  s.origin = "erase";
  EXPECT_TRUE(PublishesTombstone(s));
  state::Decision p;
  p.kind = state::DecisionKind::kPause;
  p.scope = state::Scope::kDomain;
  EXPECT_EQ(DecisionTopic(topics, p), "bouncestream.blocks");
  state::Decision a;
  a.kind = state::DecisionKind::kAlert;
  a.scope = state::Scope::kSender;
  EXPECT_EQ(DecisionTopic(topics, a), "bouncestream.alerts");
}

// org.apache.kafka.common.utils.UtilsTest#testMurmur2 (the Java client's reference values).
TEST(Murmur2Test, KafkaReferenceValues) {
  const std::pair<std::string_view, std::int32_t> cases[] = {
      {"21", -973932308},
      {"foobar", -790332482},
      {"a-little-bit-long-string", -985981536},
      {"a-little-bit-longer-string", -1486304829},
      {"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971},
      {"abc", 479470107},
  };
  for (const auto& [key, want] : cases) {
    EXPECT_EQ(static_cast<std::int32_t>(Murmur2(key)), want) << key;
  }
}

// The partition is the one librdkafka's own murmur2 partitioner picks for the same key.
TEST(Murmur2Test, PartitionMatchesLibrdkafka) {
  const std::string_view keys[] = {"example.com", "gmail.com", "outlook.com", "yahoo.co.jp",
                                   "a", "", "kafka", "giberish123456789",
                                   "a-very-long-recipient-domain.mail.example.org"};
  for (std::int32_t n : {1, 3, 6, 12, 64}) {
    for (std::string_view k : keys) {
      const std::int32_t lib = rd_kafka_msg_partitioner_murmur2(nullptr, k.data(), k.size(), n,
                                                                 nullptr, nullptr);
      EXPECT_EQ(PartitionForKey(k, n), lib) << k << " / " << n;
    }
  }
  EXPECT_EQ(PartitionForKey("21", 6), ((-973932308) & 0x7fffffff) % 6);
  EXPECT_EQ(RecipientDomain("Some.One@Example.COM"), "example.com");
  EXPECT_EQ(RecipientDomain("a@b@c.org"), "c.org");
  EXPECT_EQ(RecipientDomain("nodomain"), "");
}

TEST(TimeTest, ParsesTheUsualForms) {
  EXPECT_EQ(ParseTimeMs("2025-12-01T10:24:00.123Z"), 1764584640123);
  EXPECT_EQ(ParseTimeMs("2025-12-01T10:24:00Z"), 1764584640000);
  EXPECT_EQ(ParseTimeMs("2025-12-01 10:24:00"), 1764584640000);
  EXPECT_EQ(ParseTimeMs("2025-12-01T12:24:00+02:00"), 1764584640000);
  EXPECT_EQ(ParseTimeMs("2025-12-01T05:24:00.5-0500"), 1764584640500);
  EXPECT_EQ(ParseTimeMs("2025-12-01"), 1764547200000);
  EXPECT_EQ(ParseTimeMs("1764584640"), 1764584640000);
  EXPECT_EQ(ParseTimeMs("1764584640123"), 1764584640123);
  EXPECT_EQ(ParseTimeMs(" 1970-01-01T00:00:00.000Z "), 0);
  EXPECT_FALSE(ParseTimeMs(""));
  EXPECT_FALSE(ParseTimeMs("yesterday"));
  EXPECT_FALSE(ParseTimeMs("2025-13-01"));
  EXPECT_FALSE(ParseTimeMs("2025-12-01T10:24:00Q"));
  for (std::int64_t ms : {0LL, 1764584640123LL, 951782400000LL /* 2000-02-29 */}) {
    EXPECT_EQ(ParseTimeMs(state::FormatRfc3339Ms(ms)), ms);
  }
}

TEST(DecisionJsonTest, ReadsEncodeJsonBack) {
  state::Decision d = Imported("a@example.com");
  d.scope = state::Scope::kSender;
  d.sender = "news@shop.example";
  d.expires_at_ms = 1764584640123 + 86400000;
  d.evidence.first_seen_ms = 1764584000000;
  d.evidence.last_seen_ms = 1764584640000;
  d.evidence.event_id = "ev-1";
  d.decision_id = "0123456789abcdef";
  std::string json;
  state::EncodeJson(d, &json);
  auto back = DecodeDecisionJson(json);
  ASSERT_TRUE(back) << back.error();
  std::string again;
  state::EncodeJson(*back, &again);
  EXPECT_EQ(again, json);
  EXPECT_FALSE(DecodeDecisionJson(R"({"kind":"banish"})"));
  EXPECT_FALSE(DecodeDecisionJson("{"));
}

}  // namespace
}  // namespace bouncestream::stream
