#include "metrics/labels.h"

#include <algorithm>
#include <array>

namespace bouncestream::metrics {
namespace {

bool IsLabelChar(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '.' || c == ':' || c == '+' || c == '-';
}

bool IsAllLabelChars(std::string_view value, std::size_t max_len) {
  if (value.empty() || value.size() > max_len) return false;
  return std::all_of(value.begin(), value.end(),
                     [](char c) { return IsLabelChar(static_cast<unsigned char>(c)); });
}

char Lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool IsDomainChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.';
}

}  // namespace

bool LooksLikeAddress(std::string_view value) {
  if (value.find('@') != std::string_view::npos) return true;
  for (std::size_t i = 0; i + 2 < value.size(); ++i) {
    if (value[i] == '%' && value[i + 1] == '4' && value[i + 2] == '0') return true;
  }
  // U+FF20 FULLWIDTH COMMERCIAL AT and U+FE6B SMALL COMMERCIAL AT in UTF-8.
  return value.find("\xEF\xBC\xA0") != std::string_view::npos ||
         value.find("\xEF\xB9\xAB") != std::string_view::npos;
}

bool IsSafeLabelValue(std::string_view value) { return IsAllLabelChars(value, 128); }

std::string_view GuardFreeLabel(std::string_view value, std::size_t max_len) {
  return IsAllLabelChars(value, max_len) ? value : kInvalidLabel;
}

std::expected<LabelSet, std::string> LabelSet::Create(std::string name,
                                                      std::vector<std::string> values,
                                                      std::string fallback) {
  if (!IsSafeLabelValue(fallback)) {
    return std::unexpected("label set " + name + ": unsafe fallback value");
  }
  LabelSet set;
  set.name_ = std::move(name);
  for (auto& v : values) {
    if (!IsSafeLabelValue(v)) {
      return std::unexpected("label set " + set.name_ +
                             ": a value is not a safe label value (1..128 of [A-Za-z0-9_.:+-])");
    }
    if (set.index_.contains(v)) {
      return std::unexpected("label set " + set.name_ + ": duplicate value '" + v + "'");
    }
    set.index_.emplace(v, static_cast<std::uint32_t>(set.values_.size()));
    set.values_.push_back(std::move(v));
  }
  if (auto it = set.index_.find(fallback); it != set.index_.end()) {
    set.fallback_ = it->second;
  } else {
    set.fallback_ = set.values_.size();
    set.index_.emplace(fallback, static_cast<std::uint32_t>(set.values_.size()));
    set.values_.push_back(std::move(fallback));
  }
  return set;
}

std::size_t LabelSet::Index(std::string_view value) const {
  auto it = index_.find(value);
  return it == index_.end() ? fallback_ : it->second;
}

std::expected<TenantLabels, std::string> TenantLabels::Create(std::vector<std::string> allow_list) {
  for (const auto& t : allow_list) {
    if (t == kOtherLabel) {
      return std::unexpected(std::string("tenant allow-list: 'other' is reserved"));
    }
    if (!IsSafeLabelValue(t)) {
      // The id itself is not echoed: it might be an address.
      return std::unexpected(std::string(
          "tenant allow-list: a tenant id is not a safe label value (1..128 of [A-Za-z0-9_.:+-])"));
    }
  }
  auto set = LabelSet::Create("tenant", std::move(allow_list));
  if (!set) return std::unexpected(set.error());
  TenantLabels labels;
  labels.set_ = std::move(*set);
  return labels;
}

const ProviderList& DefaultProviders() {
  static const ProviderList kProviders = {
      {"gmail", {"gmail.com", "googlemail.com"}},
      {"microsoft",
       {"outlook.com", "hotmail.com", "live.com", "msn.com", "passport.com", "windowslive.com",
        "hotmail.co.uk", "hotmail.fr", "hotmail.de", "hotmail.it", "hotmail.es", "live.co.uk",
        "live.fr", "live.de", "live.nl", "outlook.fr", "outlook.de", "outlook.es"}},
      {"yahoo",
       {"yahoo.com", "ymail.com", "rocketmail.com", "aol.com", "aim.com", "yahoo.co.uk",
        "yahoo.fr", "yahoo.de", "yahoo.it", "yahoo.es", "yahoo.ca", "yahoo.com.br",
        "yahoo.co.in", "aol.co.uk"}},
      {"apple", {"icloud.com", "me.com", "mac.com"}},
      {"gmx_webde", {"gmx.de", "gmx.net", "gmx.com", "gmx.at", "gmx.ch", "web.de"}},
      {"comcast", {"comcast.net"}},
      {"att", {"att.net", "sbcglobal.net", "bellsouth.net"}},
      {"orange", {"orange.fr", "wanadoo.fr"}},
      {"proton", {"proton.me", "protonmail.com", "pm.me"}},
      {"zoho", {"zoho.com", "zohomail.com"}},
      {"yandex", {"yandex.ru", "yandex.com", "ya.ru"}},
      {"mailru", {"mail.ru", "bk.ru", "inbox.ru", "list.ru"}},
      {"qq", {"qq.com", "foxmail.com"}},
      {"netease", {"163.com", "126.com"}},
  };
  return kProviders;
}

std::expected<ProviderBuckets, std::string> ProviderBuckets::Create(const ProviderList& providers) {
  const ProviderList& list = providers.empty() ? DefaultProviders() : providers;
  std::vector<std::string> names;
  ProviderBuckets buckets;
  for (const auto& [name, suffixes] : list) {
    if (name == kOtherLabel) {
      return std::unexpected(std::string("providers: 'other' is reserved"));
    }
    const auto index = static_cast<std::uint32_t>(names.size());
    names.push_back(name);
    for (const auto& raw : suffixes) {
      std::string suffix;
      for (char c : raw) suffix.push_back(Lower(c));
      while (!suffix.empty() && suffix.front() == '.') suffix.erase(suffix.begin());
      if (suffix.empty() || suffix.size() > 253 || suffix.back() == '.' ||
          !std::all_of(suffix.begin(), suffix.end(), IsDomainChar) ||
          suffix.find("..") != std::string::npos) {
        return std::unexpected("providers: bucket " + name +
                               " has a suffix that is not a domain name");
      }
      const std::size_t labels = 1 + std::count(suffix.begin(), suffix.end(), '.');
      buckets.max_labels_ = std::max(buckets.max_labels_, labels);
      if (!buckets.suffixes_.emplace(suffix, index).second) {
        return std::unexpected("providers: suffix " + suffix + " is listed twice");
      }
    }
  }
  auto set = LabelSet::Create("provider", std::move(names));
  if (!set) return std::unexpected(set.error());
  buckets.set_ = std::move(*set);
  return buckets;
}

ProviderBuckets::Match ProviderBuckets::Resolve(std::string_view domain) const {
  const Match other{set_.fallback_index(), true};
  if (auto at = domain.rfind('@'); at != std::string_view::npos) domain.remove_prefix(at + 1);
  while (!domain.empty() && domain.back() == '.') domain.remove_suffix(1);  // FQDN dot
  if (domain.empty() || domain.size() > 253 || max_labels_ == 0) return other;
  std::array<char, 253> buffer;
  for (std::size_t i = 0; i < domain.size(); ++i) buffer[i] = Lower(domain[i]);
  std::string_view lower(buffer.data(), domain.size());
  // Try the longest configured suffix length first, then drop leading labels.
  std::size_t dots = static_cast<std::size_t>(std::count(lower.begin(), lower.end(), '.'));
  while (dots + 1 > max_labels_) {
    lower.remove_prefix(lower.find('.') + 1);
    --dots;
  }
  while (true) {
    if (auto it = suffixes_.find(lower); it != suffixes_.end()) return {it->second, false};
    const auto dot = lower.find('.');
    if (dot == std::string_view::npos) return other;
    lower.remove_prefix(dot + 1);
  }
}

LabelVocabulary DefaultVocabulary() {
  LabelVocabulary v;
  v.formats = {"canonical", "kumomta", "powermta", "postfix",  "postal",    "ses",
               "sendgrid",  "mailgun", "postmark", "sparkpost", "auto"};
  v.parties = {"unknown",           "filter_platform", "recipient_admin", "end_user",
               "recipient_invalid", "recipient_infra", "sender_config",   "transient"};
  v.vendors = {"other",     "mimecast", "microsoft",  "google",   "yahoo",
               "proofpoint", "barracuda", "cisco",     "trendmicro", "sophos",
               "symantec",  "trellix",  "forcepoint", "dnsbl"};
  v.classes = {"Uncategorized",    "InvalidRecipient",     "DNSFailure",        "SpamBlock",
               "SpamContent",      "ProhibitedAttachment", "RelayDenied",       "AutoReply",
               "TransientFailure", "BadConfiguration",     "BadConnection",     "BadDomain",
               "ContentRelated",   "InactiveMailbox",      "InvalidSender",     "MessageExpired",
               "NoAnswerFromHost", "PolicyRelated",        "ProtocolErrors",    "QuotaIssues",
               "RelayingIssues",   "RoutingErrors",        "SpamRelated",       "VirusRelated",
               "AuthenticationFailed", "TooManyRecipients", "Feedback",         "Delivered"};
  v.reasons = {"undefined",   "userunknown",   "hostunknown",    "hasmoved",      "notaccept",
               "mailboxfull", "mesgtoobig",    "exceedlimit",    "suspend",       "blocked",
               "badreputation", "requireptr",  "authfailure",    "policyviolation", "rejected",
               "filtered",    "spamdetected",  "virusdetected",  "contenterror",  "securityerror",
               "norelaying",  "toomanyconn",   "speeding",       "notcompliantrfc",
               "failedstarttls", "syntaxerror", "systemerror",   "systemfull",    "mailererror",
               "networkerror", "expired",      "suppressed",     "onhold",        "delivered",
               "feedback",    "vacation"};
  v.dead_letter_reasons = {"json_syntax",  "not_object", "missing_field", "bad_field",
                           "unknown_format", "too_large", "empty",        "invalid_utf8",
                           "too_deep",     "bad_csv",    "bad_line",      "missing_header"};
  v.decision_kinds = {"suppress", "lift", "pause", "resume", "alert"};
  v.decision_scopes = {"tenant", "sender", "domain", "ip_vendor"};
  v.active_kinds = {"suppress", "pause", "alert"};
  v.latency_stages = {"classify", "decide"};
  v.batch_stages = {"classify", "state"};
  return v;
}

}  // namespace bouncestream::metrics
