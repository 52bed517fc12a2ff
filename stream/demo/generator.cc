#include "stream/demo/generator.h"

#include <array>
#include <ctime>
#include <cstdio>
#include <string_view>

#include "stream/json_writer.h"

namespace bouncestream::stream {
namespace {

// "Nov 30 10:00:00" (syslog: no year; the Postfix adapter infers it)
std::string SyslogTime(std::int64_t unix_s) {
  const std::time_t t = static_cast<std::time_t>(unix_s);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%b %e %H:%M:%S", &tm);
  return buf;
}

// "2026-11-30T10:00:00.000Z"
std::string Rfc3339(std::int64_t unix_s) {
  const std::time_t t = static_cast<std::time_t>(unix_s);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S.000Z", &tm);
  return buf;
}


struct Reply {
  const char* text;  // {ip} is replaced with the sending IP
  int code;
  const char* status;
  bool deferral;
};

struct Domain {
  const char* name;
  const char* mx;
  const char* mx_ip;
  int weight;
  std::array<Reply, 6> replies;  // unused slots have text == nullptr
};

// Reply texts are wire forms of each filter's documented rejections.
const Domain kDomains[] = {
    {"gmail.com", "gmail-smtp-in.l.google.com", "192.0.2.20", 24,
     {{{"550-5.1.1 The email account that you tried to reach does not exist. Please try "
        "double-checking the recipient's email address for typos or unnecessary spaces. "
        "https://support.google.com/mail/?p=NoSuchUser a1si1234567qkb.12 - gsmtp", 550, "5.1.1", false},
       {"452-4.2.2 The email account that you tried to reach is over quota. Please direct the "
        "recipient to https://support.google.com/mail/?p=OverQuotaTemp x7si1qkb.3 - gsmtp", 452, "4.2.2", true},
       {"550-5.7.26 This email has been blocked because the sender is unauthenticated. Gmail "
        "requires all senders to authenticate with either SPF or DKIM. "
        "https://support.google.com/mail/?p=UnauthenticatedEmail - gsmtp", 550, "5.7.26", false},
       {"421-4.7.28 Our system has detected an unusual rate of unsolicited mail originating from "
        "your IP address. To protect our users from spam, mail sent from your IP address has been "
        "temporarily rate limited. https://support.google.com/mail/?p=UnsolicitedRateLimitError - gsmtp", 421, "4.7.28", true},
       {nullptr, 0, nullptr, false}, {nullptr, 0, nullptr, false}}}},
    {"outlook.com", "outlook-com.olc.protection.outlook.com", "192.0.2.30", 14,
     {{{"550 5.7.1 Unfortunately, messages from [{ip}] weren't sent. Please contact your Internet "
        "service provider since part of their network is on our block list (S3150). You can also "
        "refer your provider to http://mail.live.com/mail/troubleshooting.aspx#errors.", 550, "5.7.1", false},
       {"550 5.5.0 Requested action not taken: mailbox unavailable (S2017062302). "
        "[AM4PEPF0000594.eop-nam12.prod.protection.outlook.com]", 550, "5.5.0", false},
       {nullptr, 0, nullptr, false}, {nullptr, 0, nullptr, false}, {nullptr, 0, nullptr, false},
       {nullptr, 0, nullptr, false}}}},
    {"contoso.example", "contoso-example.mail.protection.outlook.com", "192.0.2.31", 6,
     {{{"550 5.7.606 Access denied, banned sending IP [{ip}]. To request removal from this list "
        "please visit https://sender.office.com/ and follow the directions. AS(1430)", 550, "5.7.606", false},
       {"550 5.4.1 Recipient address rejected: Access denied. AS(201806281) "
        "[PR2FRA01FT009.eop-fra01.prod.protection.outlook.com]", 550, "5.4.1", false},
       {"550 5.7.509 Access denied, sending domain [mail.acme.example] does not pass DMARC "
        "verification and has a DMARC policy of reject.", 550, "5.7.509", false},
       {nullptr, 0, nullptr, false}, {nullptr, 0, nullptr, false}, {nullptr, 0, nullptr, false}}}},
    {"yahoo.com", "mta5.am0.yahoodns.net", "192.0.2.40", 10,
     {{{"421 4.7.0 [TSS04] Messages from {ip} temporarily deferred due to unexpected volume or "
        "user complaints - 4.16.55.1; see https://postmaster.yahooinc.com/error-codes", 421, "4.7.0", true},
       {"554 delivery error: dd This user doesn't have a yahoo.com account [0] - "
        "mta4.mail.bf1.yahoo.com", 554, "", false},
       {"552 1 Requested mail action aborted, mailbox not found", 552, "", false},
       {nullptr, 0, nullptr, false}, {nullptr, 0, nullptr, false}, {nullptr, 0, nullptr, false}}}},
    {"fabrikam.example", "eu-smtp-inbound-1.mimecast.com", "192.0.2.50", 8,
     {{{"550 Envelope blocked - User Entry - https://community.mimecast.com/docs/DOC-1369#550 "
        "[gz1Vvz1VN9ikuIVSF81-Wg.uk11]", 550, "", false},
       {"550 Administrative prohibition - envelope blocked - "
        "https://community.mimecast.com/docs/DOC-1369#550 [Xk2pQw8bT1e7Yh3nL0aVgA.uk222]", 550, "", false},
       {"550 csi.mimecast.org Poor Reputation Sender. - "
        "https://community.mimecast.com/docs/DOC-1369#550 [EM-f6hnWN9maa42OLPquOA.uk166]", 550, "", false},
       {"451 Internal resource temporarily unavailable - "
        "https://community.mimecast.com/docs/DOC-1369#451 [V1X4ESabPxKDmn8czHBhOQ.uk246]", 451, "", true},
       {"550 Invalid Recipient - https://community.mimecast.com/docs/DOC-1369#550 "
        "[p0oI9uY8tR7eW6qA5sD4fG.uk12]", 550, "", false},
       {nullptr, 0, nullptr, false}}}},
    {"northwind.example", "us-smtp-inbound-1.mimecast.com", "192.0.2.51", 6,
     {{{"550 Rejected by header based manually Blocked Senders: news@mail.acme.example - "
        "https://community.mimecast.com/docs/DOC-1369#550 [aBcDeFgHiJkLmNoPqRsTuV.us246]", 550, "", false},
       {"550 spamcop.mimecast.org Blocked - see https://www.spamcop.net/bl.shtml?{ip}. - "
        "https://community.mimecast.com/docs/DOC-1369#550 [nSq2mM6RNqWOxCrbHVMv8Q.us380]", 550, "", false},
       {"554 Host network not allowed - https://community.mimecast.com/docs/DOC-1369#554 "
        "[z7qZw5BPd1zlDYHka4589ru.us222]", 554, "", false},
       {"550 DMARC Sender Invalid - envelope rejected - "
        "https://community.mimecast.com/docs/DOC-1369#550 [Qw3Er4Ty5Ui6Op7As8Df9G.us31]", 550, "", false},
       {"550 Rejected by header based Anti-Spoofing policy: info@northwind.example - "
        "https://community.mimecast.com/docs/DOC-1369#550 [_g67iKwmNreAb9PeazQFDQ.us227]", 550, "", false},
       {nullptr, 0, nullptr, false}}}},
    {"capetown-traders.example", "za-smtp-inbound-2.mimecast.co.za", "192.0.2.52", 2,
     {{{"550 Invalid Recipient", 550, "", false},
       {"550 Envelope blocked - User Domain Entry", 550, "", false},
       {nullptr, 0, nullptr, false}, {nullptr, 0, nullptr, false}, {nullptr, 0, nullptr, false},
       {nullptr, 0, nullptr, false}}}},
    {"bigbank.example", "mx0a-00123456.pphosted.com", "192.0.2.60", 4,
     {{{"554 Blocked - see https://ipcheck.proofpoint.com/?ip={ip}", 554, "", false},
       {"550 5.1.1 User Unknown", 550, "5.1.1", false},
       {nullptr, 0, nullptr, false}, {nullptr, 0, nullptr, false}, {nullptr, 0, nullptr, false},
       {nullptr, 0, nullptr, false}}}},
    {"smallco.example", "d123456a.ess.barracudanetworks.com", "192.0.2.70", 3,
     {{{"554 Service unavailable; Client host [{ip}] blocked using Barracuda Reputation; "
        "http://www.barracudanetworks.com/reputation/?r=1&ip={ip}", 554, "", false},
       {nullptr, 0, nullptr, false}, {nullptr, 0, nullptr, false}, {nullptr, 0, nullptr, false},
       {nullptr, 0, nullptr, false}, {nullptr, 0, nullptr, false}}}},
    {"example.net", "mx.example.net", "192.0.2.80", 12,
     {{{"550 5.1.1 <{rcpt}>: Recipient address rejected: User unknown in virtual mailbox table", 550, "5.1.1", false},
       {"552 5.2.2 <{rcpt}>: Recipient address rejected: Mailbox full", 552, "5.2.2", false},
       {"550 5.7.1 Service unavailable; Client host [{ip}] blocked using zen.spamhaus.org; "
        "https://www.spamhaus.org/query/ip/{ip}", 550, "5.7.1", false},
       {"421 4.4.2 mx.example.net Error: timeout exceeded", 421, "4.4.2", true},
       {"554 5.7.1 <{rcpt}>: Relay access denied", 554, "5.7.1", false},
       {nullptr, 0, nullptr, false}}}},
};

const char* const kTenants[] = {"acme", "globex", "initech", "umbrella", "hooli", "stark"};
const char* const kSenderLocal[] = {"news", "billing", "alerts", "welcome"};
const char* const kIps[] = {"198.51.100.7", "198.51.100.8", "198.51.100.9", "203.0.113.25"};
const InputFormat kFormats[] = {InputFormat::kCanonical, InputFormat::kKumo,
                                InputFormat::kSendgrid,  InputFormat::kSes,
                                InputFormat::kPostfix,   InputFormat::kPostmark};

std::string Replace(std::string s, std::string_view from, std::string_view to) {
  for (std::size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size())) {
    s.replace(at, from.size(), to);
  }
  return s;
}

struct Event {
  std::string id, tenant, sender, recipient, mx, mx_ip, ip, text, status;
  std::int64_t time_s = 0;
  int code = 0;
  bool complaint = false;
  bool deferral = false;
};

std::string Canonical(const Event& e) {
  std::string out;
  JsonWriter w(&out);
  w.BeginObject();
  w.Field("id", e.id);
  w.Field("time", e.time_s * 1000);
  w.Field("tenant", e.tenant);
  w.Field("sender", e.sender);
  w.Field("recipient", e.recipient);
  w.Field("mx", e.mx);
  w.Field("remote_ip", e.mx_ip);
  w.Field("sending_ip", e.ip);
  w.Field("smtp_code", std::int64_t{e.code});
  w.Field("enhanced_code", e.status);
  w.Field("text", e.text);
  w.Field("type", std::string_view(e.complaint ? "complaint" : e.deferral ? "deferral" : "bounce"));
  w.EndObject();
  return out;
}

std::string Kumo(const Event& e) {
  std::string out;
  JsonWriter w(&out);
  w.BeginObject();
  w.Field("type", std::string_view(e.complaint ? "Feedback" : e.deferral ? "TransientFailure" : "Bounce"));
  w.Field("id", e.id);
  w.Field("sender", e.sender);
  w.Field("recipient", e.recipient);
  w.Field("queue", e.tenant);
  w.Field("tenant", e.tenant);
  w.Key("response");
  w.BeginObject();
  w.Field("code", std::int64_t{e.code});
  w.Key("enhanced_code");
  w.Null();
  w.Field("content", e.text);
  w.Field("command", std::string_view("RCPT TO"));
  w.EndObject();
  w.Key("peer_address");
  w.BeginObject();
  w.Field("name", e.mx);
  w.Field("addr", e.mx_ip);
  w.EndObject();
  w.Key("source_address");
  w.BeginObject();
  w.Field("address", e.ip + ":0");
  w.EndObject();
  w.Field("timestamp", e.time_s);
  w.Field("egress_source", e.ip);
  w.EndObject();
  return out;
}

std::string Sendgrid(const Event& e) {
  std::string out;
  JsonWriter w(&out);
  w.BeginArray();
  w.BeginObject();
  w.Field("email", e.recipient);
  w.Field("timestamp", e.time_s);
  w.Field("event", std::string_view(e.complaint ? "spamreport" : e.deferral ? "deferred" : "bounce"));
  if (!e.complaint) {
    w.Field("status", e.status);
    w.Field(e.deferral ? "response" : "reason", e.text);
  }
  w.Field("ip", e.ip);
  w.Field("tenant", e.tenant);
  w.Field("sg_event_id", e.id);
  w.Field("sg_message_id", e.id + ".filter0001");
  w.EndObject();
  w.EndArray();
  return out;
}

std::string Ses(const Event& e) {
  std::string msg;
  JsonWriter m(&msg);
  m.BeginObject();
  m.Field("notificationType", std::string_view(e.complaint ? "Complaint" : "Bounce"));
  if (e.complaint) {
    m.Key("complaint");
    m.BeginObject();
    m.Key("complainedRecipients");
    m.BeginArray();
    m.BeginObject();
    m.Field("emailAddress", e.recipient);
    m.EndObject();
    m.EndArray();
    m.Field("complaintFeedbackType", std::string_view("abuse"));
    m.Field("feedbackId", e.id);
    m.Field("timestamp", Rfc3339(e.time_s));
    m.EndObject();
  } else {
    m.Key("bounce");
    m.BeginObject();
    m.Field("bounceType", std::string_view(e.deferral ? "Transient" : "Permanent"));
    m.Field("bounceSubType", std::string_view("General"));
    m.Key("bouncedRecipients");
    m.BeginArray();
    m.BeginObject();
    m.Field("emailAddress", e.recipient);
    m.Field("status", e.status);
    m.Field("action", std::string_view("failed"));
    m.Field("diagnosticCode", "smtp; " + e.text);
    m.EndObject();
    m.EndArray();
    m.Field("timestamp", Rfc3339(e.time_s));
    m.Field("feedbackId", e.id);
    m.Field("remoteMtaIp", e.mx_ip);
    m.Field("reportingMTA", std::string_view("dsn; a8-1.smtp-out.amazonses.com"));
    m.EndObject();
  }
  m.Key("mail");
  m.BeginObject();
  m.Field("timestamp", Rfc3339(e.time_s - 2));  // the mail was sent a moment before
  m.Field("source", e.sender);
  m.Field("sourceIp", e.ip);
  m.Field("messageId", e.id + "-mail");
  m.Key("tags");
  m.BeginObject();
  m.Key("tenant");
  m.BeginArray();
  m.String(e.tenant);
  m.EndArray();
  m.EndObject();
  m.EndObject();
  m.EndObject();
  std::string out;
  JsonWriter w(&out);
  w.BeginObject();
  w.Field("Type", std::string_view("Notification"));
  w.Field("MessageId", e.id + "-sns");
  w.Field("TopicArn", std::string_view("arn:aws:sns:eu-west-1:123456789012:ses-bounces"));
  w.Field("Message", msg);
  w.Field("Timestamp", Rfc3339(e.time_s));
  w.EndObject();
  return out;
}

std::string Postfix(const Event& e) {
  const char* status = e.deferral ? "deferred" : "bounced";
  // Postfix queue ids are upper-case hex.
  std::string queue_id = e.id.substr(e.id.size() - 12);
  for (char& c : queue_id) c = static_cast<char>(c >= 'a' && c <= 'f' ? c - 'a' + 'A' : c);
  char head[256];
  std::snprintf(head, sizeof head, "%s mta1 postfix/smtp[4242]: %s: to=<", SyslogTime(e.time_s).c_str(),
                queue_id.c_str());
  std::string out = head;
  out += e.recipient + ">, relay=" + e.mx + "[" + e.mx_ip + "]:25, delay=1.2, dsn=" +
         (e.status.empty() ? std::string(e.deferral ? "4.0.0" : "5.0.0") : e.status) +
         ", status=" + status + " (host " + e.mx + "[" + e.mx_ip + "] said: " + e.text +
         " (in reply to RCPT TO command))";
  return out;
}

std::string Postmark(const Event& e) {
  std::string out;
  JsonWriter w(&out);
  w.BeginObject();
  w.Field("RecordType", std::string_view(e.complaint ? "SpamComplaint" : "Bounce"));
  // Postmark's bounce ID is numeric; derive it from the (hex) event id so it stays unique.
  w.Field("ID", static_cast<std::int64_t>(std::stoull(e.id.substr(e.id.size() - 12), nullptr, 16)));
  w.Field("Type", std::string_view(e.complaint ? "SpamComplaint" : e.deferral ? "SoftBounce" : "HardBounce"));
  w.Field("MessageID", e.id);
  w.Field("Tag", e.tenant);
  w.Field("Description", std::string_view("The server was unable to deliver your message."));
  w.Field("Details", "smtp;" + e.text);
  w.Field("Email", e.recipient);
  w.Field("From", e.sender);
  w.Field("BouncedAt", Rfc3339(e.time_s));
  w.EndObject();
  return out;
}

}  // namespace

TrafficGenerator::TrafficGenerator(GeneratorOptions options)
    : state_(options.seed * 0x9E3779B97F4A7C15ull + 1), options_(options) {}

std::uint64_t TrafficGenerator::Rand() {
  std::uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

double TrafficGenerator::Unit() { return static_cast<double>(Rand() >> 11) * 0x1.0p-53; }

GeneratedRecord TrafficGenerator::Next() {
  ++sequence_;
  if (sequence_ > 1 && Unit() < options_.duplicate_rate && !last_.malformed) {
    GeneratedRecord copy = last_;
    copy.duplicate = true;
    return copy;
  }
  if (Unit() < options_.malformed_rate) {
    static const char* const kBad[] = {
        "{\"id\":\"broken\",\"text\":\"550 5.1.1 user unkn",  // truncated JSON
        "this is not an event at all",                          // not JSON, not a log line
        "[1,2,3]",                                              // JSON, wrong shape
        "{\"Type\":\"Notification\",\"TopicArn\":\"x\",\"Message\":42}",  // SES with a bad Message
    };
    GeneratedRecord bad;
    bad.value = kBad[Rand() % 4];
    bad.key = "malformed";
    bad.malformed = true;
    last_ = bad;
    return bad;
  }
  int total = 0;
  for (const auto& d : kDomains) total += d.weight;
  int pick = static_cast<int>(Rand() % static_cast<std::uint64_t>(total));
  const Domain* domain = &kDomains[0];
  for (const auto& d : kDomains) {
    if (pick < d.weight) {
      domain = &d;
      break;
    }
    pick -= d.weight;
  }
  int replies = 0;
  while (replies < 6 && domain->replies[static_cast<std::size_t>(replies)].text != nullptr) ++replies;
  const Reply& reply = domain->replies[Rand() % static_cast<std::uint64_t>(replies)];

  Event e;
  char buf[96];
  std::snprintf(buf, sizeof buf, "demo-%016llx", static_cast<unsigned long long>(Rand()));
  e.id = buf;
  e.tenant = kTenants[Rand() % 6];
  e.sender = std::string(kSenderLocal[Rand() % 4]) + "@mail." + e.tenant + ".example";
  std::snprintf(buf, sizeof buf, "user%04llu@%s",
                static_cast<unsigned long long>(Rand() % 3000), domain->name);
  e.recipient = buf;
  e.mx = domain->mx;
  e.mx_ip = domain->mx_ip;
  e.ip = kIps[Rand() % 4];
  e.time_s = options_.start_time_s + static_cast<std::int64_t>(sequence_ / 100);
  e.complaint = Unit() < options_.complaint_rate;
  if (!e.complaint) {
    e.text = Replace(Replace(reply.text, "{ip}", e.ip), "{rcpt}", e.recipient);
    e.code = reply.code;
    e.status = reply.status;
    e.deferral = reply.deferral;
  }
  GeneratedRecord r;
  r.format = kFormats[Rand() % (sizeof kFormats / sizeof kFormats[0])];
  if (e.complaint && r.format == InputFormat::kPostfix) r.format = InputFormat::kCanonical;
  switch (r.format) {
    case InputFormat::kKumo: r.value = Kumo(e); break;
    case InputFormat::kSendgrid: r.value = Sendgrid(e); break;
    case InputFormat::kSes: r.value = Ses(e); break;
    case InputFormat::kPostfix: r.value = Postfix(e); break;
    case InputFormat::kPostmark: r.value = Postmark(e); break;
    default: r.value = Canonical(e); break;
  }
  r.key = e.recipient.substr(e.recipient.find('@') + 1);
  r.events = 1;
  last_ = r;
  return r;
}

}  // namespace bouncestream::stream
