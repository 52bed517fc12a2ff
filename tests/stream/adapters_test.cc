// The MTA/ESP input adapters: every sample file in tests/testdata decodes to the expected events
// (all lines into one batch, so views must survive later payloads), auto-detection recognises
// every sample line, and malformed payloads give a clear error kind and leave the batch alone.
#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <ostream>
#include <string>
#include <vector>

#include "stream/decode.h"
#include "stream/internal/decode_impl.h"

namespace bouncestream::stream {
namespace {

using classify::BounceEvent;
using classify::EventType;

std::vector<std::string> ReadLines(const std::string& name) {
  std::ifstream in(std::string(BOUNCESTREAM_SOURCE_DIR) + "/tests/testdata/" + name,
                   std::ios::binary);
  EXPECT_TRUE(in) << "cannot open " << name;
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) {
    if (line.find_first_not_of(" \t\r") != std::string::npos) lines.push_back(line);
  }
  return lines;
}

// Decodes every line of a sample file into one batch; fails the test on any error.
std::vector<BounceEvent> DecodeFile(Decoder& decoder, const std::string& name, InputFormat format) {
  std::vector<BounceEvent> out;
  std::size_t line_no = 0;
  for (const auto& line : ReadLines(name)) {
    ++line_no;
    auto r = decoder.Decode(line, format, &out);
    EXPECT_TRUE(r.has_value()) << name << ":" << line_no << ": " << r.error().kind << ": "
                               << r.error().detail;
    if (r) {
      EXPECT_EQ(*r, format) << name << ":" << line_no;
    }
  }
  return out;
}

// ------------------------------------------------------------------------------------------------
// KumoMTA
// ------------------------------------------------------------------------------------------------

TEST(KumoAdapterTest, SampleFile) {
  Decoder d;
  const auto ev = DecodeFile(d, "kumomta.ndjson", InputFormat::kKumo);
  ASSERT_EQ(ev.size(), 10u);  // 10 records: one has 2 recipients, the Reception record has none

  EXPECT_EQ(ev[0].type, EventType::kBounce);
  EXPECT_EQ(ev[0].id, "1d98076abbbc11ed940250ebf67f93bd");
  EXPECT_EQ(ev[0].time_ms, 1700000000000);
  EXPECT_EQ(ev[0].tenant, "tenant7");  // from queue "spring-sale:tenant7@corp.example"
  EXPECT_EQ(ev[0].sender, "b-42@bounce.esp.example");
  EXPECT_EQ(ev[0].recipient, "jane@corp.example");
  EXPECT_EQ(ev[0].mx, "eu-smtp-inbound-1.mimecast.com");  // trailing dot dropped
  EXPECT_EQ(ev[0].remote_ip, "192.0.2.10");
  EXPECT_EQ(ev[0].sending_ip, "source2");  // egress_source
  EXPECT_EQ(ev[0].smtp_code, 550);
  EXPECT_EQ(ev[0].enhanced_code, "");  // enhanced_code: null
  EXPECT_EQ(ev[0].text,
            "550 Envelope blocked - User Entry - "
            "https://community.mimecast.com/docs/DOC-1369#550 [xYz.uk123]");

  // One record, two recipients.
  for (int i : {1, 2}) {
    EXPECT_EQ(ev[i].type, EventType::kDeferral);
    EXPECT_EQ(ev[i].id, "2a4c11f0bbbc11ed940250ebf67f93bd");
    EXPECT_EQ(ev[i].time_ms, 1700000060000);
    EXPECT_EQ(ev[i].tenant, "acme");              // the `tenant` field
    EXPECT_EQ(ev[i].sending_ip, "198.51.100.7");  // source_address without its port
    EXPECT_EQ(ev[i].mx, "gmail-smtp-in.l.google.com");
    EXPECT_EQ(ev[i].smtp_code, 421);
    EXPECT_EQ(ev[i].enhanced_code, "4.7.28");
    EXPECT_TRUE(ev[i].text.starts_with("421 4.7.28 Our system has detected an unusual rate"))
        << ev[i].text;
  }
  EXPECT_EQ(ev[1].recipient, "ann.example@gmail.com");
  EXPECT_EQ(ev[2].recipient, "ben.example@gmail.com");

  EXPECT_EQ(ev[3].tenant, "globex");  // meta.tenant
  EXPECT_EQ(ev[3].enhanced_code, "5.7.1");
  EXPECT_EQ(ev[3].mx, "hotmail-com.olc.protection.outlook.com");
  EXPECT_NE(ev[3].text.find("(S3150)"), std::string_view::npos);

  EXPECT_EQ(ev[4].type, EventType::kDelivered);
  EXPECT_EQ(ev[4].smtp_code, 250);
  EXPECT_EQ(ev[4].enhanced_code, "2.0.0");

  EXPECT_EQ(ev[5].type, EventType::kExpired);
  EXPECT_EQ(ev[5].smtp_code, 551);
  EXPECT_EQ(ev[5].enhanced_code, "5.4.7");
  EXPECT_EQ(ev[5].mx, "");  // peer_address: null
  EXPECT_EQ(ev[5].time_ms, 1700259200000);

  EXPECT_EQ(ev[6].type, EventType::kComplaint);
  EXPECT_EQ(ev[6].text, "abuse");
  EXPECT_EQ(ev[6].smtp_code, 0);
  EXPECT_EQ(ev[6].sender, "b-43@bounce.esp.example");
  EXPECT_EQ(ev[6].tenant, "globex");

  EXPECT_EQ(ev[7].mx, "de-smtp-inbound-1.mimecast.com");
  EXPECT_EQ(ev[8].type, EventType::kDeferral);
  EXPECT_EQ(ev[8].smtp_code, 451);
  EXPECT_EQ(ev[9].recipient, "no.such.person@gmail.com");
  EXPECT_EQ(ev[9].enhanced_code, "5.1.1");
}

TEST(KumoAdapterTest, SkipsRecordsThatAreNotDeliveryOutcomes) {
  Decoder d;
  std::vector<BounceEvent> out;
  for (const char* payload :
       {R"({"type":"Reception","recipient":"a@example.com","peer_address":null})",
        R"({"type":"AdminRebind","recipient":["a@example.com"]})",
        R"({"type":"Feedback","recipient":"a@example.com",)"
        R"("feedback_report":{"feedback_type":"not-spam"}})"}) {
    auto r = d.Decode(payload, InputFormat::kKumo, &out);
    ASSERT_TRUE(r.has_value()) << payload << ": " << r.error().detail;
  }
  EXPECT_TRUE(out.empty());
}

// ------------------------------------------------------------------------------------------------
// PowerMTA
// ------------------------------------------------------------------------------------------------

TEST(PowerMtaAdapterTest, SampleFile) {
  Decoder d;
  const auto ev = DecodeFile(d, "powermta.csv", InputFormat::kPowerMta);
  ASSERT_EQ(ev.size(), 9u);  // header + 10 records, the `r` record yields none

  EXPECT_EQ(ev[0].type, EventType::kBounce);
  EXPECT_EQ(ev[0].time_ms, 1700000000000);
  EXPECT_EQ(ev[0].sender, "b-42@bounce.esp.example");
  EXPECT_EQ(ev[0].recipient, "john@corp.example");
  EXPECT_EQ(ev[0].text, "550 Administrative prohibition - envelope blocked");
  EXPECT_EQ(ev[0].smtp_code, 550);
  EXPECT_EQ(ev[0].enhanced_code, "5.0.0");
  EXPECT_EQ(ev[0].mx, "eu-smtp-inbound-1.mimecast.com");
  EXPECT_EQ(ev[0].remote_ip, "192.0.2.10");
  EXPECT_EQ(ev[0].sending_ip, "198.51.100.7");
  EXPECT_EQ(ev[0].tenant, "vmta-eu-1");
  EXPECT_EQ(ev[0].id, "");

  EXPECT_EQ(ev[1].type, EventType::kDelivered);
  EXPECT_EQ(ev[1].smtp_code, 250);
  EXPECT_EQ(ev[1].enhanced_code, "2.0.0");
  EXPECT_EQ(ev[1].mx, "gmail-smtp-in.l.google.com");

  // A quoted field with a comma.
  EXPECT_TRUE(
      ev[2].text.starts_with("550 5.7.606 Access denied, banned sending IP [198.51.100.8]."))
      << ev[2].text;
  EXPECT_EQ(ev[2].enhanced_code, "5.7.606");
  EXPECT_EQ(ev[2].tenant, "vmta-us-1");

  EXPECT_EQ(ev[3].type, EventType::kDeferral);
  EXPECT_EQ(ev[3].smtp_code, 421);
  EXPECT_EQ(ev[3].mx, "mta5.am0.yahoodns.net");

  // Doubled quotes inside a quoted field.
  EXPECT_NE(ev[5].text.find(R"(blocked using "zen.spamhaus.org";)"), std::string_view::npos)
      << ev[5].text;

  EXPECT_EQ(ev[6].type, EventType::kExpired);  // bounceCat message-expired
  EXPECT_EQ(ev[6].enhanced_code, "4.4.7");
  EXPECT_EQ(ev[6].smtp_code, 421);

  EXPECT_EQ(ev[7].recipient, "jane@corp.example");
  EXPECT_EQ(ev[7].mx, "eu-smtp-inbound-2.mimecast.com");

  EXPECT_EQ(ev[8].type, EventType::kDeferral);  // tq: queue-level, no recipient
  EXPECT_EQ(ev[8].recipient, "");
  EXPECT_EQ(ev[8].mx, "mx.busy.example");
  EXPECT_EQ(ev[8].remote_ip, "192.0.2.60");
}

TEST(PowerMtaAdapterTest, HeaderYieldsNoEventAndSurvivesReset) {
  Decoder d;
  std::vector<BounceEvent> out;
  auto r = d.Decode("type,timeLogged,orig,rcpt,dsnDiag", InputFormat::kPowerMta, &out);
  ASSERT_TRUE(r.has_value()) << r.error().detail;
  EXPECT_TRUE(out.empty());
  d.Reset();
  ASSERT_TRUE(d.Decode("b,1700000000,a@example.com,b@example.com,smtp;550 5.1.1 unknown",
                       InputFormat::kPowerMta, &out));
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].recipient, "b@example.com");
  EXPECT_EQ(out[0].smtp_code, 550);
  // A new header replaces the layout.
  ASSERT_TRUE(d.Decode("type,rcpt,timeLogged", InputFormat::kPowerMta, &out));
  ASSERT_TRUE(d.Decode("t,c@example.com,1700000001", InputFormat::kPowerMta, &out));
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[1].recipient, "c@example.com");
  EXPECT_EQ(out[1].type, EventType::kDeferral);
  EXPECT_EQ(out[1].time_ms, 1700000001000);
}

TEST(PowerMtaAdapterTest, DateTimeTimestampsAndLongTypeNames) {
  Decoder d;
  std::vector<BounceEvent> out;
  ASSERT_TRUE(d.Decode("\xEF\xBB\xBFtype,timeLogged,rcpt,dsnMta,dlvDesintationIp\r\n",
                       InputFormat::kPowerMta, &out));
  ASSERT_TRUE(
      d.Decode("delivery,2023-11-14 17:13:20-0500,a@example.com,dns; mx.example.com,"
               "192.0.2.9\r\n",
               InputFormat::kPowerMta, &out));
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].type, EventType::kDelivered);
  EXPECT_EQ(out[0].time_ms, 1700000000000);
  EXPECT_EQ(out[0].mx, "mx.example.com");
  EXPECT_EQ(out[0].remote_ip, "192.0.2.9");
}

// ------------------------------------------------------------------------------------------------
// Postfix
// ------------------------------------------------------------------------------------------------

TEST(PostfixAdapterTest, SampleFile) {
  Decoder d;
  const auto ev = DecodeFile(d, "postfix.log", InputFormat::kPostfix);
  ASSERT_EQ(ev.size(), 9u);

  EXPECT_EQ(ev[0].type, EventType::kBounce);
  EXPECT_EQ(ev[0].id, "4ABC123DEF");
  EXPECT_EQ(ev[0].recipient, "bob@example.net");
  EXPECT_EQ(ev[0].mx, "mx.example.net");
  EXPECT_EQ(ev[0].remote_ip, "192.0.2.5");
  EXPECT_EQ(ev[0].sending_ip, "mx1");
  EXPECT_EQ(ev[0].smtp_code, 550);
  EXPECT_EQ(ev[0].enhanced_code, "5.1.1");
  EXPECT_EQ(ev[0].text, "550 5.1.1 <bob@example.net>: Recipient address rejected: User unknown");
  // "Nov 22 10:00:00": the year is inferred, the rest is exact.
  EXPECT_EQ(ev[0].time_ms % 86400000, 10 * 3600000);
  const auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  EXPECT_LE(ev[0].time_ms, now_ms + 2 * 86400000LL);
  EXPECT_GT(ev[0].time_ms, now_ms - 367 * 86400000LL);

  EXPECT_EQ(ev[1].type, EventType::kDeferral);
  EXPECT_EQ(ev[1].smtp_code, 421);
  EXPECT_EQ(ev[1].enhanced_code, "4.7.28");
  EXPECT_TRUE(ev[1].text.starts_with("421-4.7.28 [198.51.100.7      15] Our system"));
  EXPECT_TRUE(ev[1].text.ends_with("- gsmtp")) << ev[1].text;

  EXPECT_EQ(ev[2].type, EventType::kDelivered);
  EXPECT_EQ(ev[2].smtp_code, 250);

  EXPECT_EQ(ev[3].mx, "eu-smtp-inbound-1.mimecast.com");
  EXPECT_EQ(ev[3].enhanced_code, "5.0.0");
  EXPECT_EQ(ev[3].text,
            "550 Envelope blocked - User Entry - "
            "https://community.mimecast.com/docs/DOC-1369#550 [xYz.uk123]");

  // relay=none: the host comes from "connect to host[ip]".
  EXPECT_EQ(ev[4].mx, "mx.slow.example");
  EXPECT_EQ(ev[4].remote_ip, "203.0.113.5");
  EXPECT_EQ(ev[4].smtp_code, 0);
  EXPECT_EQ(ev[4].enhanced_code, "4.4.1");
  EXPECT_EQ(ev[4].text, "connect to mx.slow.example[203.0.113.5]:25: Connection timed out");

  EXPECT_EQ(ev[5].recipient, "buyer@contoso.example");  // not orig_to
  EXPECT_EQ(ev[5].enhanced_code, "5.7.606");

  EXPECT_EQ(ev[6].type, EventType::kExpired);  // qmgr line: sender only
  EXPECT_EQ(ev[6].id, "3XYZ987ABC");
  EXPECT_EQ(ev[6].recipient, "");
  EXPECT_EQ(ev[6].sender, "news@esp.example");

  EXPECT_EQ(ev[7].time_ms, 1700647620123);  // RFC 3339 syslog timestamp
  EXPECT_EQ(ev[7].sending_ip, "mx2");
  EXPECT_EQ(ev[7].id, "4Sbx3D0WNGz9vDk");
  EXPECT_EQ(ev[7].smtp_code, 554);

  EXPECT_EQ(ev[8].remote_ip, "2001:db8::25");
  EXPECT_EQ(ev[8].mx, "mail.example.org");
  EXPECT_EQ(ev[8].smtp_code, 552);
  EXPECT_EQ(ev[8].enhanced_code, "5.2.2");
}

// ------------------------------------------------------------------------------------------------
// Postal
// ------------------------------------------------------------------------------------------------

TEST(PostalAdapterTest, SampleFile) {
  Decoder d;
  const auto ev = DecodeFile(d, "postal.ndjson", InputFormat::kPostal);
  ASSERT_EQ(ev.size(), 6u);  // 8 webhooks; a link click and a held message yield none

  EXPECT_EQ(ev[0].type, EventType::kBounce);
  EXPECT_EQ(ev[0].id, "820b47a4-4dfd-42e4-ae6a-1e5bed5a33fd");
  EXPECT_EQ(ev[0].time_ms, 1700000000120);
  EXPECT_EQ(ev[0].recipient, "bob@example.net");
  EXPECT_EQ(ev[0].sender, "news@esp.example");
  EXPECT_EQ(ev[0].tenant, "newsletter");
  EXPECT_EQ(ev[0].text, "550 5.1.1 User unknown");
  EXPECT_EQ(ev[0].smtp_code, 550);
  EXPECT_EQ(ev[0].enhanced_code, "5.1.1");
  EXPECT_EQ(ev[0].mx, "mx.example.net");

  EXPECT_EQ(ev[1].type, EventType::kDeferral);
  EXPECT_EQ(ev[1].mx, "gmail-smtp-in.l.google.com");
  EXPECT_EQ(ev[1].remote_ip, "192.0.2.20");
  EXPECT_EQ(ev[1].smtp_code, 452);
  EXPECT_EQ(ev[1].enhanced_code, "4.2.2");
  EXPECT_TRUE(ev[1].text.ends_with("- gsmtp")) << ev[1].text;  // trailing newline trimmed

  EXPECT_EQ(ev[2].type, EventType::kDelivered);
  EXPECT_EQ(ev[2].mx, "mx.example.net");
  EXPECT_EQ(ev[2].remote_ip, "192.0.2.5");
  EXPECT_EQ(ev[2].sending_ip, "198.51.100.9");

  EXPECT_EQ(ev[3].mx, "us-smtp-inbound-1.mimecast.com");
  EXPECT_EQ(ev[3].remote_ip, "192.0.2.11");

  EXPECT_EQ(ev[4].type, EventType::kBounce);  // MessageBounced: the original message's fields
  EXPECT_EQ(ev[4].recipient, "someone@fabrikam.example");
  EXPECT_EQ(ev[4].text, "Undeliverable: Spring sale");

  EXPECT_EQ(ev[5].type, EventType::kDeferral);  // no output: the details
  EXPECT_EQ(ev[5].text, "No SMTP servers were available for slow.example. No hosts to try.");
}

// ------------------------------------------------------------------------------------------------
// Amazon SES
// ------------------------------------------------------------------------------------------------

TEST(SesAdapterTest, SampleFile) {
  Decoder d;
  const auto ev = DecodeFile(d, "ses.ndjson", InputFormat::kSes);
  ASSERT_EQ(ev.size(), 8u);  // 9 messages; a subscription confirmation and an open yield none

  EXPECT_EQ(ev[0].type, EventType::kBounce);
  EXPECT_EQ(ev[0].id, "0100018bd1a2b3c4-aaaaaaaa-0001-0001-0001-aaaaaaaaaaaa-000000");
  EXPECT_EQ(ev[0].time_ms, 1699999999101);
  EXPECT_EQ(ev[0].tenant, "123456789012");
  EXPECT_EQ(ev[0].sender, "news@esp.example");
  EXPECT_EQ(ev[0].recipient, "jane@corp.example");
  EXPECT_EQ(ev[0].remote_ip, "192.0.2.10");
  EXPECT_EQ(ev[0].mx, "");  // reportingMTA is SES's own
  EXPECT_EQ(ev[0].smtp_code, 550);
  EXPECT_EQ(ev[0].enhanced_code, "5.0.0");
  EXPECT_EQ(ev[0].text,
            "550 Rejected by header based Blocked Senders - block policy for Header From - "
            "https://community.mimecast.com/docs/DOC-1369#550 [aBcD.uk246]");

  // Two bouncedRecipients, two events sharing the notice's fields.
  EXPECT_EQ(ev[1].recipient, "no.such.person@gmail.com");
  EXPECT_EQ(ev[2].recipient, "nobody@example.net");
  for (int i : {1, 2}) {
    EXPECT_EQ(ev[i].id, "0100018bd1a2b3c4-bbbbbbbb-0002-0002-0002-bbbbbbbbbbbb-000000");
    EXPECT_EQ(ev[i].time_ms, 1700000040500);
    EXPECT_EQ(ev[i].enhanced_code, "5.1.1");
    EXPECT_EQ(ev[i].smtp_code, 550);
    EXPECT_EQ(ev[i].remote_ip, "192.0.2.21");
  }

  EXPECT_EQ(ev[3].type, EventType::kBounce);  // bounceType Transient stays a bounce
  EXPECT_EQ(ev[3].smtp_code, 452);
  EXPECT_EQ(ev[3].mx, "mx.example.org");  // a remote reportingMTA

  EXPECT_EQ(ev[4].type, EventType::kComplaint);
  EXPECT_EQ(ev[4].text, "abuse");
  EXPECT_EQ(ev[4].time_ms, 1700002800000);

  EXPECT_EQ(ev[5].type, EventType::kDelivered);
  EXPECT_EQ(ev[5].id, "0100018bd1a2b3c4-55555555-2222-3333-4444-555555555555-000000");
  EXPECT_EQ(ev[5].smtp_code, 250);
  EXPECT_EQ(ev[5].remote_ip, "192.0.2.22");

  EXPECT_EQ(ev[6].type, EventType::kDeferral);  // DeliveryDelay (eventType)
  EXPECT_EQ(ev[6].recipient, "someone.example@outlook.com");
  EXPECT_EQ(ev[6].enhanced_code, "4.7.650");
  EXPECT_EQ(ev[6].smtp_code, 451);

  EXPECT_EQ(ev[7].type, EventType::kBounce);  // a bare SES event, no SNS envelope
  EXPECT_EQ(ev[7].recipient, "old@example.com");
  EXPECT_EQ(ev[7].smtp_code, 0);
  EXPECT_EQ(ev[7].enhanced_code, "5.1.1");
}

TEST(SesAdapterTest, EventBridgeEnvelope) {
  Decoder d;
  std::vector<BounceEvent> out;
  auto r = d.Decode(
      R"({"version":"0","id":"e1","detail-type":"Email Bounced","source":"aws.ses",)"
      R"("detail":{"eventType":"Bounce","bounce":{"feedbackId":"fb1","bouncedRecipients":)"
      R"([{"emailAddress":"a@example.com","status":"5.1.1"}]},"mail":{"source":"s@example.com"}}})",
      InputFormat::kAuto, &out);
  ASSERT_TRUE(r.has_value()) << r.error().detail;
  EXPECT_EQ(*r, InputFormat::kSes);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].id, "fb1");
  EXPECT_EQ(out[0].sender, "s@example.com");
  EXPECT_EQ(out[0].enhanced_code, "5.1.1");
}

// ------------------------------------------------------------------------------------------------
// SendGrid
// ------------------------------------------------------------------------------------------------

TEST(SendgridAdapterTest, SampleFile) {
  Decoder d;
  const auto ev = DecodeFile(d, "sendgrid.ndjson", InputFormat::kSendgrid);
  ASSERT_EQ(ev.size(), 9u);  // 12 events in 6 posts; processed and open yield none

  EXPECT_EQ(ev[0].type, EventType::kBounce);
  EXPECT_EQ(ev[0].id, "bG9jYWwtMTcwMDAwMDAwMC1ibG9ja2Vk");
  EXPECT_EQ(ev[0].time_ms, 1700000000000);
  EXPECT_EQ(ev[0].recipient, "someone.example@hotmail.com");
  EXPECT_EQ(ev[0].sending_ip, "198.51.100.7");
  EXPECT_EQ(ev[0].tenant, "acme");
  EXPECT_EQ(ev[0].smtp_code, 550);
  EXPECT_EQ(ev[0].enhanced_code, "5.7.1");
  EXPECT_TRUE(ev[0].text.starts_with("550 5.7.1 Unfortunately, messages from [198.51.100.7]"));

  EXPECT_EQ(ev[1].id, "lC0Rc-FuQmKbnxCWxX1jRQ");
  EXPECT_EQ(ev[1].recipient, "pat@outlook.example");

  EXPECT_EQ(ev[2].type, EventType::kBounce);  // dropped
  EXPECT_EQ(ev[2].text, "Bounced Address");
  EXPECT_EQ(ev[2].smtp_code, 0);
  EXPECT_EQ(ev[2].enhanced_code, "");

  EXPECT_EQ(ev[3].type, EventType::kDeferral);
  EXPECT_EQ(ev[3].text, "400 try again later");
  EXPECT_EQ(ev[3].recipient, "bob@example.net");

  EXPECT_EQ(ev[4].type, EventType::kDelivered);
  EXPECT_EQ(ev[4].tenant, "globex");
  EXPECT_EQ(ev[4].smtp_code, 250);

  EXPECT_EQ(ev[5].type, EventType::kComplaint);
  EXPECT_EQ(ev[5].recipient, "complainer.example@yahoo.com");

  EXPECT_EQ(ev[6].enhanced_code, "5.1.1");
  EXPECT_EQ(ev[7].type, EventType::kDeferral);
  EXPECT_EQ(ev[7].smtp_code, 451);
  EXPECT_EQ(ev[8].tenant, "initech");
}

// ------------------------------------------------------------------------------------------------
// Mailgun
// ------------------------------------------------------------------------------------------------

TEST(MailgunAdapterTest, SampleFile) {
  Decoder d;
  const auto ev = DecodeFile(d, "mailgun.ndjson", InputFormat::kMailgun);
  ASSERT_EQ(ev.size(), 7u);  // 8 webhooks; an open yields none

  EXPECT_EQ(ev[0].type, EventType::kBounce);
  EXPECT_EQ(ev[0].id, "hTWCTD81RtiDN");
  EXPECT_EQ(ev[0].time_ms, 1700000000380);
  EXPECT_EQ(ev[0].recipient, "jane@corp.example");
  EXPECT_EQ(ev[0].sender, "b@mg.esp.example");
  EXPECT_EQ(ev[0].sending_ip, "198.51.100.9");
  EXPECT_EQ(ev[0].mx, "eu-smtp-inbound-1.mimecast.com");
  EXPECT_EQ(ev[0].tenant, "t7");
  EXPECT_EQ(ev[0].smtp_code, 550);
  EXPECT_EQ(ev[0].text, "550 Administrative prohibition - envelope blocked");

  EXPECT_EQ(ev[1].enhanced_code, "5.1.1");
  EXPECT_TRUE(ev[1].text.starts_with("550 5.1.1 The email account")) << ev[1].text;

  EXPECT_EQ(ev[2].type, EventType::kDeferral);  // severity temporary
  EXPECT_EQ(ev[2].smtp_code, 421);
  EXPECT_EQ(ev[2].enhanced_code, "4.7.0");
  EXPECT_EQ(ev[2].mx, "mta5.am0.yahoodns.net");
  EXPECT_EQ(ev[2].tenant, "t8");

  EXPECT_EQ(ev[3].type, EventType::kBounce);  // Mailgun's own 605: not an SMTP code
  EXPECT_EQ(ev[3].smtp_code, 0);
  EXPECT_EQ(ev[3].text, "Not delivering to previously bounced address");

  EXPECT_EQ(ev[4].type, EventType::kDelivered);
  EXPECT_EQ(ev[4].text, "250 OK");

  EXPECT_EQ(ev[5].type, EventType::kComplaint);
  EXPECT_EQ(ev[5].sending_ip, "198.51.100.9");

  EXPECT_EQ(ev[6].enhanced_code, "5.7.1");
  EXPECT_EQ(ev[6].mx, "hotmail-com.olc.protection.outlook.com");
}

// ------------------------------------------------------------------------------------------------
// Postmark
// ------------------------------------------------------------------------------------------------

TEST(PostmarkAdapterTest, SampleFile) {
  Decoder d;
  const auto ev = DecodeFile(d, "postmark.ndjson", InputFormat::kPostmark);
  ASSERT_EQ(ev.size(), 7u);  // 8 webhooks; an open yields none

  EXPECT_EQ(ev[0].type, EventType::kBounce);
  EXPECT_EQ(ev[0].id, "901542550");
  EXPECT_EQ(ev[0].time_ms, 1700000000000);
  EXPECT_EQ(ev[0].recipient, "bob@example.net");
  EXPECT_EQ(ev[0].sender, "news@esp.example");
  EXPECT_EQ(ev[0].tenant, "welcome");  // Tag
  EXPECT_EQ(ev[0].text, "550 5.1.1 The email account that you tried to reach does not exist.");
  EXPECT_EQ(ev[0].smtp_code, 550);
  EXPECT_EQ(ev[0].enhanced_code, "5.1.1");

  EXPECT_EQ(ev[1].type, EventType::kDeferral);  // SoftBounce
  EXPECT_EQ(ev[1].smtp_code, 452);

  EXPECT_EQ(ev[2].type, EventType::kBounce);  // Blocked
  EXPECT_EQ(ev[2].tenant, "acme");            // Metadata.tenant beats Tag
  EXPECT_TRUE(ev[2].text.starts_with("550 Envelope blocked - User Entry"));

  EXPECT_EQ(ev[3].type, EventType::kComplaint);
  EXPECT_EQ(ev[3].text, "The subscriber explicitly marked this email as spam.");
  EXPECT_EQ(ev[3].time_ms, 1700002800000);

  EXPECT_EQ(ev[4].type, EventType::kDelivered);
  EXPECT_EQ(ev[4].id, "6b4acc2e-b7b0-86c9-f476-00175bec97c1");  // MessageID: no ID
  EXPECT_EQ(ev[4].recipient, "carol.example@gmail.com");
  EXPECT_EQ(ev[4].time_ms, 1700000400123);
  EXPECT_EQ(ev[4].smtp_code, 250);

  EXPECT_EQ(ev[5].type, EventType::kDeferral);  // Transient
  EXPECT_EQ(ev[5].enhanced_code, "4.7.500");
  EXPECT_EQ(ev[6].tenant, "initech");
  EXPECT_EQ(ev[6].enhanced_code, "5.4.1");
}

// ------------------------------------------------------------------------------------------------
// SparkPost
// ------------------------------------------------------------------------------------------------

TEST(SparkpostAdapterTest, SampleFile) {
  Decoder d;
  const auto ev = DecodeFile(d, "sparkpost.ndjson", InputFormat::kSparkpost);
  ASSERT_EQ(ev.size(), 8u);  // 12 elements; open, ping, relay_event and injection yield none

  EXPECT_EQ(ev[0].type, EventType::kBounce);
  EXPECT_EQ(ev[0].id, "84345317653491231");
  EXPECT_EQ(ev[0].time_ms, 1700000000000);  // ISO 8601 timestamp
  EXPECT_EQ(ev[0].recipient, "no.such.person@gmail.com");
  EXPECT_EQ(ev[0].sender, "msprvs1=17353dDNJGUPh=bounces-00000@sparkpostmail.com");
  EXPECT_EQ(ev[0].remote_ip, "192.0.2.23");
  EXPECT_EQ(ev[0].sending_ip, "198.51.100.70");
  EXPECT_EQ(ev[0].tenant, "00000");  // subaccount 0: the customer id
  EXPECT_EQ(ev[0].smtp_code, 550);
  EXPECT_EQ(ev[0].enhanced_code, "5.1.1");
  EXPECT_TRUE(ev[0].text.starts_with("550-5.1.1 The email account"));

  EXPECT_EQ(ev[1].id, "84345317653491230");
  EXPECT_EQ(ev[1].recipient, "jane@corp.example");
  EXPECT_EQ(ev[1].time_ms, 1700000000000);  // unix seconds as a string
  EXPECT_EQ(ev[1].text,
            "550 Email rejected due to security policies - "
            "https://community.mimecast.com/docs/DOC-1369#550");

  EXPECT_EQ(ev[2].type, EventType::kDeferral);
  EXPECT_EQ(ev[2].tenant, "acme");  // rcpt_meta.tenant
  EXPECT_EQ(ev[2].smtp_code, 421);
  EXPECT_EQ(ev[2].enhanced_code, "4.7.0");

  EXPECT_EQ(ev[3].type, EventType::kDelivered);
  EXPECT_EQ(ev[3].remote_ip, "192.0.2.24");

  EXPECT_EQ(ev[4].type, EventType::kComplaint);
  EXPECT_EQ(ev[4].text, "abuse");
  EXPECT_EQ(ev[4].tenant, "123");  // subaccount_id

  EXPECT_EQ(ev[5].type, EventType::kBounce);  // out_of_band
  EXPECT_EQ(ev[5].enhanced_code, "5.4.1");

  EXPECT_EQ(ev[6].type, EventType::kBounce);  // policy_rejection
  EXPECT_EQ(ev[6].sending_ip, "shared-eu");   // ip_pool
  EXPECT_EQ(ev[6].smtp_code, 554);

  EXPECT_EQ(ev[7].tenant, "456");
  EXPECT_EQ(ev[7].enhanced_code, "5.7.606");
}

// ------------------------------------------------------------------------------------------------
// Canonical sample
// ------------------------------------------------------------------------------------------------

TEST(CanonicalSampleTest, SampleFile) {
  Decoder d;
  const auto ev = DecodeFile(d, "canonical.ndjson", InputFormat::kCanonical);
  ASSERT_EQ(ev.size(), 8u);  // 7 lines, one an array of two
  EXPECT_EQ(ev[0].id, "canon-001");
  EXPECT_EQ(ev[0].time_ms, 1700000000000);
  EXPECT_EQ(ev[0].mx, "eu-smtp-inbound-1.mimecast.com");
  EXPECT_EQ(ev[3].type, EventType::kDeferral);
  EXPECT_EQ(ev[3].enhanced_code, "4.2.2");
  EXPECT_EQ(ev[7].type, EventType::kExpired);
}

// ------------------------------------------------------------------------------------------------
// Auto-detection of every sample line
// ------------------------------------------------------------------------------------------------

struct SampleFile {
  const char* name;
  InputFormat format;
};

void PrintTo(const SampleFile& f, std::ostream* os) { *os << f.name; }

class DetectTest : public ::testing::TestWithParam<SampleFile> {};

TEST_P(DetectTest, EverySampleLineIsRecognised) {
  Decoder d;
  std::vector<BounceEvent> auto_events;
  std::size_t line_no = 0;
  for (const auto& line : ReadLines(GetParam().name)) {
    ++line_no;
    EXPECT_EQ(decode::Detect(line), GetParam().format) << GetParam().name << ":" << line_no;
    auto r = d.Decode(line, InputFormat::kAuto, &auto_events);
    ASSERT_TRUE(r.has_value()) << GetParam().name << ":" << line_no << ": " << r.error().detail;
    EXPECT_EQ(*r, GetParam().format) << GetParam().name << ":" << line_no;
  }
  Decoder explicit_decoder;
  EXPECT_EQ(auto_events.size(),
            DecodeFile(explicit_decoder, GetParam().name, GetParam().format).size());
}

INSTANTIATE_TEST_SUITE_P(Samples, DetectTest,
                         ::testing::Values(SampleFile{"kumomta.ndjson", InputFormat::kKumo},
                                           SampleFile{"powermta.csv", InputFormat::kPowerMta},
                                           SampleFile{"postfix.log", InputFormat::kPostfix},
                                           SampleFile{"postal.ndjson", InputFormat::kPostal},
                                           SampleFile{"ses.ndjson", InputFormat::kSes},
                                           SampleFile{"sendgrid.ndjson", InputFormat::kSendgrid},
                                           SampleFile{"mailgun.ndjson", InputFormat::kMailgun},
                                           SampleFile{"postmark.ndjson", InputFormat::kPostmark},
                                           SampleFile{"sparkpost.ndjson", InputFormat::kSparkpost},
                                           SampleFile{"canonical.ndjson", InputFormat::kCanonical}),
                         [](const auto& param_info) {
                           return std::string(ToString(param_info.param.format));
                         });

// ------------------------------------------------------------------------------------------------
// Malformed payloads
// ------------------------------------------------------------------------------------------------

struct BadCase {
  const char* name;
  InputFormat format;
  std::string payload;
  std::string_view kind;
  std::string setup = {};  // decoded first (a PowerMTA header)
};

void PrintTo(const BadCase& c, std::ostream* os) { *os << c.name; }

class AdapterBadInputTest : public ::testing::TestWithParam<BadCase> {};

TEST_P(AdapterBadInputTest, GivesAClearErrorAndLeavesTheBatchAlone) {
  const BadCase& c = GetParam();
  Decoder d;
  std::vector<BounceEvent> out;
  BounceEvent kept;
  kept.id = "kept";
  out.push_back(kept);
  if (!c.setup.empty()) {
    auto s = d.Decode(c.setup, c.format, &out);
    ASSERT_TRUE(s.has_value()) << s.error().detail;
  }
  auto r = d.Decode(c.payload, c.format, &out);
  ASSERT_FALSE(r.has_value()) << "decoded " << out.size() - 1 << " events";
  EXPECT_EQ(r.error().kind, c.kind) << r.error().detail;
  EXPECT_FALSE(r.error().detail.empty());
  EXPECT_EQ(r.error().detail.find('@'), std::string::npos)
      << "detail must not hold an address: " << r.error().detail;
  ASSERT_EQ(out.size(), 1u) << "events of a failed payload must not leak into the batch";
  EXPECT_EQ(out[0].id, "kept");
}

constexpr auto kKumo = InputFormat::kKumo;
constexpr auto kPmta = InputFormat::kPowerMta;
constexpr auto kPostfix = InputFormat::kPostfix;
constexpr auto kPostal = InputFormat::kPostal;
constexpr auto kSes = InputFormat::kSes;
constexpr auto kSendgrid = InputFormat::kSendgrid;
constexpr auto kMailgun = InputFormat::kMailgun;
constexpr auto kPostmark = InputFormat::kPostmark;
constexpr auto kSparkpost = InputFormat::kSparkpost;
const std::string kPmtaHeader = "type,timeLogged,orig,rcpt,dsnStatus,dsnDiag";

// An SNS envelope around `message` (already escaped as a JSON string body).
std::string Sns(const std::string& message) {
  return R"({"Type":"Notification","MessageId":"m1","TopicArn":"arn:aws:sns:x","Message":")" +
         message + R"("})";
}

INSTANTIATE_TEST_SUITE_P(
    Cases, AdapterBadInputTest,
    ::testing::Values(
        // KumoMTA
        BadCase{"kumo_truncated", kKumo,
                R"({"type":"Bounce","recipient":"a@example.com","response":{"code":550)",
                "json_syntax"},
        BadCase{"kumo_recipient_number", kKumo, R"({"type":"Bounce","recipient":42})", "bad_field"},
        BadCase{"kumo_recipient_array_with_number", kKumo,
                R"({"type":"Bounce","recipient":["a@example.com",7]})", "bad_field"},
        BadCase{"kumo_no_type", kKumo, R"({"recipient":"a@example.com"})", "missing_field"},
        BadCase{"kumo_no_recipient", kKumo, R"({"type":"Bounce","response":{"code":550}})",
                "missing_field"},
        BadCase{"kumo_empty_recipient_array", kKumo, R"({"type":"Bounce","recipient":[]})",
                "missing_field"},
        BadCase{"kumo_invalid_utf8", kKumo,
                "{\"type\":\"Bounce\",\"recipient\":\"a@example.com\",\"response\":{\"content\":"
                "\"\xff\xfe\"}}",
                "invalid_utf8"},
        BadCase{"kumo_array", kKumo, R"([{"type":"Bounce"}])", "not_object"},
        BadCase{"kumo_response_string", kKumo,
                R"({"type":"Bounce","recipient":"a@example.com","response":"550 no"})",
                "bad_field"},
        BadCase{"kumo_bad_enhanced_code", kKumo,
                R"({"type":"Bounce","recipient":"a@example.com","response":{"enhanced_code":)"
                R"({"class":9,"subject":1,"detail":1}}})",
                "bad_field"},
        BadCase{"kumo_bad_timestamp", kKumo,
                R"({"type":"Bounce","recipient":"a@example.com","timestamp":"yesterday"})",
                "bad_field"},
        BadCase{"kumo_trailing_content", kKumo,
                R"({"type":"Bounce","recipient":"a@example.com"} {"type":"Bounce"})",
                "json_syntax"},
        BadCase{"kumo_whitespace_only", kKumo, " \r\n", "empty"},
        // PowerMTA
        BadCase{"pmta_too_few_columns", kPmta, "b,1700000000,a@example.com", "bad_csv",
                kPmtaHeader},
        BadCase{"pmta_too_many_columns", kPmta,
                "b,1700000000,a@example.com,b@example.com,5.1.1,smtp;550 x,extra", "bad_csv",
                kPmtaHeader},
        BadCase{"pmta_no_header", kPmta, "b,1700000000,a@example.com,b@example.com,5.1.1,x",
                "missing_header"},
        BadCase{"pmta_unterminated_quote", kPmta,
                "b,1700000000,a@example.com,b@example.com,5.1.1,\"smtp;550 x", "bad_csv",
                kPmtaHeader},
        BadCase{"pmta_text_after_quote", kPmta,
                "b,1700000000,a@example.com,b@example.com,5.1.1,\"smtp;550\" x", "bad_csv",
                kPmtaHeader},
        BadCase{"pmta_invalid_utf8", kPmta,
                "b,1700000000,a@example.com,b@example.com,5.1.1,smtp;550 \xc3\x28", "invalid_utf8",
                kPmtaHeader},
        BadCase{"pmta_no_rcpt", kPmta, "b,1700000000,a@example.com,,5.1.1,smtp;550 x",
                "missing_field", kPmtaHeader},
        BadCase{"pmta_unknown_type", kPmta, "zz,1700000000,a@example.com,b@example.com,,",
                "bad_field", kPmtaHeader},
        BadCase{"pmta_bad_time", kPmta, "b,soon,a@example.com,b@example.com,,", "bad_field",
                kPmtaHeader},
        // Postfix
        BadCase{"postfix_no_status", kPostfix,
                "Nov 22 10:00:00 mx1 postfix/smtp[1234]: 4ABC123DEF: to=<b@example.net>, "
                "relay=mx.example.net[192.0.2.5]:25, delay=1.2",
                "bad_line"},
        BadCase{"postfix_connect_line", kPostfix,
                "Nov 22 10:00:00 mx1 postfix/smtpd[99]: connect from app1.example[198.51.100.5]",
                "bad_line"},
        BadCase{
            "postfix_no_to", kPostfix,
            "Nov 22 10:00:00 mx1 postfix/smtp[1234]: 4ABC123DEF: relay=mx.example.net[192.0.2.5]"
            ":25, dsn=5.1.1, status=bounced (host mx.example.net[192.0.2.5] said: 550 x)",
            "missing_field"},
        BadCase{"postfix_unknown_status", kPostfix,
                "Nov 22 10:00:00 mx1 postfix/smtp[1234]: 4ABC123DEF: to=<b@example.net>, "
                "status=exploded (boom)",
                "bad_field"},
        BadCase{"postfix_invalid_utf8", kPostfix,
                "Nov 22 10:00:00 mx1 postfix/smtp[1234]: 4ABC123DEF: to=<b@example.net>, "
                "status=bounced (550 \xff)",
                "invalid_utf8"},
        // Postal
        BadCase{"postal_truncated", kPostal,
                R"({"event":"MessageDeliveryFailed","payload":{"message":{"to":"a@exa)",
                "json_syntax"},
        BadCase{"postal_no_payload", kPostal, R"({"event":"MessageDeliveryFailed","uuid":"u1"})",
                "missing_field"},
        BadCase{"postal_no_event", kPostal, R"({"payload":{"message":{"to":"a@example.com"}}})",
                "missing_field"},
        BadCase{"postal_to_number", kPostal,
                R"({"event":"MessageDeliveryFailed","payload":{"message":{"to":5}}})", "bad_field"},
        BadCase{"postal_no_to", kPostal,
                R"({"event":"MessageDeliveryFailed","payload":{"output":"550 x","message":{}}})",
                "missing_field"},
        BadCase{"postal_payload_array", kPostal, R"({"event":"MessageSent","payload":[]})",
                "bad_field"},
        BadCase{"postal_string", kPostal, R"("MessageSent")", "not_object"},
        // SES
        BadCase{"ses_message_object", kSes,
                R"({"Type":"Notification","Message":{"notificationType":"Bounce"}})", "bad_field"},
        BadCase{"ses_message_number", kSes, R"({"Type":"Notification","Message":12})", "bad_field"},
        BadCase{"ses_message_not_json", kSes, Sns(R"({\"notificationType\":)"), "json_syntax"},
        BadCase{"ses_message_array", kSes, Sns("[]"), "not_object"},
        BadCase{"ses_no_message", kSes, R"({"Type":"Notification","TopicArn":"arn:aws:sns:x"})",
                "missing_field"},
        BadCase{"ses_recipient_number", kSes,
                Sns(R"({\"notificationType\":\"Bounce\",\"bounce\":{\"bouncedRecipients\":)"
                    R"([{\"emailAddress\":42}]}})"),
                "bad_field"},
        BadCase{
            "ses_no_notification_type", kSes,
            Sns(R"({\"bounce\":{\"bouncedRecipients\":[{\"emailAddress\":\"a@example.com\"}]}})"),
            "missing_field"},
        BadCase{"ses_no_recipients", kSes,
                Sns(R"({\"notificationType\":\"Bounce\",\"bounce\":{\"bouncedRecipients\":[]}})"),
                "missing_field"},
        BadCase{"ses_no_bounce_object", kSes,
                Sns(R"({\"notificationType\":\"Bounce\",\"mail\":{\"source\":\"s@example.com\"}})"),
                "missing_field"},
        BadCase{"ses_recipient_without_address", kSes,
                Sns(R"({\"notificationType\":\"Bounce\",\"bounce\":{\"bouncedRecipients\":)"
                    R"([{\"status\":\"5.1.1\"}]}})"),
                "missing_field"},
        BadCase{
            "ses_invalid_utf8", kSes,
            "{\"Type\":\"Notification\",\"Message\":\"{\\\"notificationType\\\":\\\"\xff\\\"}\"}",
            "invalid_utf8"},
        BadCase{"ses_truncated", kSes, R"({"Type":"Notification","Message":"{\"notif)",
                "json_syntax"},
        BadCase{
            "ses_inner_trailing", kSes,
            Sns(R"({\"notificationType\":\"Complaint\",\"complaint\":{\"complainedRecipients\":)"
                R"([{\"emailAddress\":\"a@example.com\"}]}} x)"),
            "json_syntax"},
        // SendGrid
        BadCase{"sendgrid_empty_array", kSendgrid, "[]", "empty"},
        BadCase{"sendgrid_array_of_numbers", kSendgrid, "[1,2]", "not_object"},
        BadCase{"sendgrid_email_number", kSendgrid, R"([{"event":"bounce","email":1}])",
                "bad_field"},
        BadCase{"sendgrid_no_email", kSendgrid, R"([{"event":"bounce","reason":"550 x"}])",
                "missing_field"},
        BadCase{"sendgrid_no_event", kSendgrid, R"([{"email":"a@example.com"}])", "missing_field"},
        BadCase{"sendgrid_second_element_bad", kSendgrid,
                R"([{"event":"bounce","email":"a@example.com"},{"event":"bounce","email":false}])",
                "bad_field"},
        BadCase{"sendgrid_truncated", kSendgrid, R"([{"event":"bounce","email":"a@example.com"})",
                "json_syntax"},
        BadCase{"sendgrid_string", kSendgrid, R"("bounce")", "not_object"},
        // Mailgun
        BadCase{"mailgun_no_event_data", kMailgun, R"({"signature":{"token":"t"}})",
                "missing_field"},
        BadCase{"mailgun_event_data_string", kMailgun, R"({"event-data":"failed"})", "bad_field"},
        BadCase{"mailgun_recipient_number", kMailgun,
                R"({"event-data":{"event":"failed","severity":"permanent","recipient":3}})",
                "bad_field"},
        BadCase{"mailgun_no_recipient", kMailgun,
                R"({"event-data":{"event":"failed","severity":"permanent"}})", "missing_field"},
        BadCase{"mailgun_no_event", kMailgun, R"({"event-data":{"recipient":"a@example.com"}})",
                "missing_field"},
        BadCase{"mailgun_code_object", kMailgun,
                R"({"event-data":{"event":"failed","recipient":"a@example.com",)"
                R"("delivery-status":{"code":{"x":1}}}})",
                "bad_field"},
        BadCase{"mailgun_truncated", kMailgun, R"({"event-data":{"event":"fai)", "json_syntax"},
        // Postmark
        BadCase{"postmark_no_record_type", kPostmark,
                R"({"Type":"HardBounce","Email":"a@example.com"})", "missing_field"},
        BadCase{"postmark_email_number", kPostmark,
                R"({"RecordType":"Bounce","Type":"HardBounce","Email":17})", "bad_field"},
        BadCase{"postmark_no_email", kPostmark, R"({"RecordType":"Bounce","Type":"HardBounce"})",
                "missing_field"},
        BadCase{"postmark_invalid_utf8", kPostmark,
                "{\"RecordType\":\"Bounce\",\"Email\":\"a@example.com\",\"Details\":\"\xe2\x28\"}",
                "invalid_utf8"},
        BadCase{"postmark_bad_time", kPostmark,
                R"({"RecordType":"Bounce","Email":"a@example.com","BouncedAt":"last week"})",
                "bad_field"},
        BadCase{"postmark_array", kPostmark, R"([{"RecordType":"Bounce"}])", "not_object"},
        // SparkPost
        BadCase{"sparkpost_empty_array", kSparkpost, "[]", "empty"},
        BadCase{"sparkpost_no_msys", kSparkpost, R"([{"cust":{"id":"1"}}])", "missing_field"},
        BadCase{"sparkpost_msys_number", kSparkpost, R"([{"msys":5}])", "bad_field"},
        BadCase{"sparkpost_element_number", kSparkpost, "[5]", "not_object"},
        BadCase{"sparkpost_rcpt_number", kSparkpost,
                R"([{"msys":{"message_event":{"type":"bounce","rcpt_to":9}}}])", "bad_field"},
        BadCase{"sparkpost_no_rcpt", kSparkpost,
                R"([{"msys":{"message_event":{"type":"bounce","raw_reason":"550 x"}}}])",
                "missing_field"},
        BadCase{"sparkpost_no_type", kSparkpost,
                R"([{"msys":{"message_event":{"rcpt_to":"a@example.com"}}}])", "missing_field"},
        BadCase{"sparkpost_truncated", kSparkpost, R"([{"msys":{"message_event":{"type":"bou)",
                "json_syntax"}),
    [](const auto& param_info) { return std::string(param_info.param.name); });

// ------------------------------------------------------------------------------------------------
// Helpers
// ------------------------------------------------------------------------------------------------

TEST(AdapterHelpersTest, TextSurgery) {
  EXPECT_EQ(decode::StripDiagnosticType("smtp; 550 5.1.1 x"), "550 5.1.1 x");
  EXPECT_EQ(decode::StripDiagnosticType("smtp;550 x"), "550 x");
  EXPECT_EQ(decode::StripDiagnosticType("550 x; y"), "550 x; y");
  EXPECT_EQ(decode::StripPort("198.51.100.7:25"), "198.51.100.7");
  EXPECT_EQ(decode::StripPort("[2001:db8::1]:25"), "2001:db8::1");
  EXPECT_EQ(decode::StripPort("2001:db8::1"), "2001:db8::1");
  EXPECT_TRUE(decode::LooksLikeEnhancedCode("5.7.606"));
  EXPECT_FALSE(decode::LooksLikeEnhancedCode("5.0.0 (undefined status)"));
  EXPECT_FALSE(decode::LooksLikeEnhancedCode("550"));

  Arena arena;
  EXPECT_EQ(decode::ComposeReply(arena, 550, "5.1.1", arena.Copy("no such user")),
            "550 5.1.1 no such user");
  EXPECT_EQ(decode::ComposeReply(arena, 550, "", arena.Copy("550 already there")),
            "550 already there");
  EXPECT_EQ(decode::ComposeReply(arena, 550, "5.1.1", arena.Copy("5.1.1 text")), "550 5.1.1 text");
  EXPECT_EQ(decode::ComposeReply(arena, 605, "", arena.Copy("not smtp")), "not smtp");
  EXPECT_EQ(decode::ComposeReply(arena, 421, "", {}), "421");

  std::string_view host, address;
  decode::SplitHostAndAddress("eu-smtp-inbound-1.mimecast.com (192.0.2.10)", &host, &address);
  EXPECT_EQ(host, "eu-smtp-inbound-1.mimecast.com");
  EXPECT_EQ(address, "192.0.2.10");
  host = address = {};
  decode::SplitHostAndAddress("192.0.2.20:25 (gmail-smtp-in.l.google.com)", &host, &address);
  EXPECT_EQ(host, "gmail-smtp-in.l.google.com");
  EXPECT_EQ(address, "192.0.2.20");
  host = address = {};
  decode::SplitHostAndAddress("mx.example.net[192.0.2.5]:25", &host, &address);
  EXPECT_EQ(host, "mx.example.net");
  EXPECT_EQ(address, "192.0.2.5");
}

}  // namespace
}  // namespace bouncestream::stream
