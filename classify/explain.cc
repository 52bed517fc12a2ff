#include "classify/explain.h"

#include <cstdio>

namespace bouncestream::classify {

std::string_view DescribeParty(Party party) {
  switch (party) {
    case Party::kFilterPlatform:
      return "the filter platform itself (its IP reputation, the blocklists it applies, its spam "
             "or virus signatures), for all of its customers";
    case Party::kRecipientAdmin:
      return "the recipient organisation's administrator, through a policy (blocked senders, "
             "anti-spoofing, geography, content or TLS rules)";
    case Party::kEndUser:
      return "the individual recipient, through a personal block list";
    case Party::kRecipientInvalid: return "nobody: the recipient address does not exist or is dead";
    case Party::kRecipientInfra:
      return "the recipient side's infrastructure (MX, routing, account set-up)";
    case Party::kSenderConfig:
      return "the sender's own set-up (SPF, DKIM, DMARC, TLS, PTR, message format)";
    case Party::kTransient: return "nobody in particular: a passing condition (load, greylisting, rate)";
    case Party::kUnknown: return "not determinable from this reply";
  }
  return "not determinable from this reply";
}

std::string_view DescribeAction(Action action) {
  switch (action) {
    case Action::kSuppressRecipient: return "stop sending to this address (suppress it)";
    case Action::kSuppressForSender:
      return "stop sending to this recipient from this sender only; other senders are unaffected";
    case Action::kPauseSenderDomain:
      return "pause this sender towards the recipient's domain and contact its administrator";
    case Action::kPauseIpFilter:
      return "pause this sending IP/pool towards the filter platform and repair its reputation";
    case Action::kFixAuth: return "fix SPF/DKIM/DMARC (or PTR/HELO) for the sending domain";
    case Action::kFixTls: return "fix TLS: offer STARTTLS with TLS 1.2+ and strong ciphers";
    case Action::kDelist: return "request delisting from the named blocklist; pause the IP meanwhile";
    case Action::kReviewContent: return "review the message content, links and attachments";
    case Action::kReduceRate: return "slow down: fewer connections and messages per period";
    case Action::kRetry: return "retry later with normal backoff";
    case Action::kNone: return "nothing for the sender to do";
  }
  return "nothing for the sender to do";
}

std::string ExplainText(const Classification& c) {
  std::string out;
  auto line = [&out](std::string_view key, std::string_view value) {
    out.append(key).append(value).push_back('\n');
  };
  line("who:        ", DescribeParty(c.party));
  line("party:      ", ToString(c.party));
  std::string vendor(ToString(c.vendor));
  if (c.vendor_source != VendorSource::kNone) {
    vendor += " (from ";
    vendor += ToString(c.vendor_source);
    vendor += ")";
  }
  line("filter:     ", vendor);
  if (!c.dnsbl.empty()) line("blocklist:  ", c.dnsbl);
  std::string why(ToString(c.reason));
  why += " / ";
  why += ToString(c.bounce_class);
  why += c.hard ? ", hard (the address is dead)" : ", soft (the address is not proven dead)";
  line("why:        ", why);
  line("what to do: ", DescribeAction(c.action));
  line("action:     ", ToString(c.action));
  char conf[16];
  std::snprintf(conf, sizeof conf, "%.2f", static_cast<double>(c.confidence));
  line("confidence: ", conf);
  line("rule:       ", c.rule);
  if (!c.doc.empty()) line("doc:        ", c.doc.view());
  if (c.smtp_code != 0 || !c.enhanced_code.empty()) {
    std::string codes = c.smtp_code != 0 ? std::to_string(c.smtp_code) : std::string("-");
    codes += " ";
    codes += c.enhanced_code.empty() ? std::string_view("-") : c.enhanced_code;
    line("codes:      ", codes);
  }
  return out;
}

}  // namespace bouncestream::classify
