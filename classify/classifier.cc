#include "classify/classifier.h"

#include <algorithm>
#include <cstring>

#include "classify/internal/doc_codes.h"
#include "classify/internal/match_engine.h"
#include "classify/internal/pattern.h"
#include "classify/internal/result_cache.h"
#include "classify/internal/text.h"

namespace bouncestream::classify {

std::string_view ToString(Engine engine) {
  return engine == Engine::kRe2Set ? "re2set" : "vectorscan";
}

std::optional<Engine> ParseEngine(std::string_view name) {
  if (name == "re2set" || name == "re2") return Engine::kRe2Set;
  if (name == "vectorscan" || name == "hyperscan") return Engine::kVectorscan;
  return std::nullopt;
}

std::string_view ToString(VendorSource source) {
  switch (source) {
    case VendorSource::kNone: return "none";
    case VendorSource::kText: return "text";
    case VendorSource::kMx: return "mx";
    case VendorSource::kRule: return "rule";
  }
  return "none";
}

void DocCode::Assign(std::initializer_list<std::string_view> parts) {
  std::size_t n = 0;
  for (std::string_view part : parts) {
    const std::size_t take = std::min(part.size(), kCapacity - n);
    if (take > 0) std::memcpy(buf_.data() + n, part.data(), take);  // data() may be null
    n += take;
  }
  len_ = static_cast<std::uint8_t>(n);
}

namespace {

// The first 8 bytes of `s`, zero-padded, as one word (see Classifier::PackedPrefix).
std::uint64_t PackWord(std::string_view s) {
  std::uint64_t word = 0;
  if (!s.empty()) std::memcpy(&word, s.data(), std::min<std::size_t>(s.size(), sizeof(word)));
  return word;
}

}  // namespace

Classifier::~Classifier() = default;

std::expected<std::shared_ptr<const Classifier>, std::vector<RuleError>> Classifier::Create(
    std::shared_ptr<const RuleSet> rules, ClassifierOptions options) {
  std::shared_ptr<Classifier> c(new Classifier());
  c->rules_ = std::move(rules);
  c->options_ = options;
  std::vector<internal::PatternSpec> patterns;
  std::vector<std::string> normalized;  // owns the rewritten pattern texts
  std::vector<RuleError> errors;
  auto add = [&](const std::string& pattern, const std::string& id, const std::string& file,
                 int line) {
    auto n = internal::NormalizePattern(pattern);
    if (!n) {
      errors.push_back({file, line, "pattern of '" + id + "': " + n.error()});
      normalized.emplace_back();
    } else {
      normalized.push_back(std::move(*n));
    }
    patterns.push_back({{}, id, file, line});
  };
  const auto& fps = c->rules_->fingerprints();
  for (unsigned i = 0; i < fps.size(); ++i) {
    add(fps[i].pattern, fps[i].id, fps[i].file, fps[i].line);
    c->pattern_owner_.push_back(i);
  }
  c->fingerprint_count_ = fps.size();
  const auto& rs = c->rules_->rules();
  for (unsigned i = 0; i < rs.size(); ++i) {
    if (rs[i].pattern.empty()) {
      c->condition_only_.push_back(i);
    } else {
      add(rs[i].pattern, rs[i].id, rs[i].file, rs[i].line);
      c->pattern_owner_.push_back(i);
    }
  }
  if (!errors.empty()) return std::unexpected(std::move(errors));
  c->conditions_.reserve(rs.size());
  for (const Rule& r : rs) {
    PackedConditions& k = c->conditions_.emplace_back();
    k.type_mask = r.when_type_mask;
    k.vendor_mask = r.when_vendor_mask;
    auto pack = [&](const std::vector<std::string>& list, std::uint32_t* begin,
                    std::uint32_t* end) {
      *begin = static_cast<std::uint32_t>(c->prefixes_.size());
      for (const std::string& prefix : list) {
        if (prefix.size() > sizeof(std::uint64_t) || prefix.find('\0') != std::string::npos) {
          k.slow = true;
        }
        const std::string ones(std::min(prefix.size(), sizeof(std::uint64_t)), '\xff');
        c->prefixes_.push_back({PackWord(prefix), PackWord(ones)});
      }
      *end = static_cast<std::uint32_t>(c->prefixes_.size());
    };
    pack(r.when_code, &k.code_begin, &k.code_end);
    pack(r.when_status, &k.status_begin, &k.status_end);
  }
  for (std::size_t k = 0; k < patterns.size(); ++k) patterns[k].pattern = normalized[k];
  auto engine = internal::MatchEngine::Create(options.engine, patterns);
  if (!engine) return std::unexpected(std::move(engine.error()));
  c->engine_ = std::move(*engine);
  return std::shared_ptr<const Classifier>(std::move(c));
}

Classifier::Session::Session(std::shared_ptr<const Classifier> classifier)
    : classifier_(std::move(classifier)), scratch_(classifier_->engine_->NewScratch()) {
  hits_.reserve(64);
  if (classifier_->options_.session_cache_slots > 0) {
    cache_ = std::make_unique<internal::ResultCache>(classifier_->options_.session_cache_slots);
  }
}
Classifier::Session::~Session() = default;
Classifier::Session::Session(Session&&) noexcept = default;
Classifier::Session& Classifier::Session::operator=(Session&&) noexcept = default;

std::uint64_t Classifier::Session::cache_hits() const { return cache_ ? cache_->hits() : 0; }
std::uint64_t Classifier::Session::cache_misses() const { return cache_ ? cache_->misses() : 0; }

Classification Classifier::Session::Classify(const BounceEvent& event) {
  if (cache_ == nullptr || !internal::ResultCache::Cacheable(event)) return Scan(event);
  const std::uint64_t hash = internal::ResultCache::Hash(event);
  Classification out;
  if (cache_->Find(event, hash, &out)) return out;
  out = Scan(event);
  cache_->Insert(event, hash, out);
  return out;
}

Classification Classifier::Session::Scan(const BounceEvent& event) {
  const auto& c = *classifier_;
  std::string_view text = event.text;
  const bool truncated = text.size() > c.options_.max_text_bytes;
  if (truncated) text = text.substr(0, c.options_.max_text_bytes);
  hits_.clear();
  c.engine_->Scan(text, *scratch_, &hits_);
  Classification out = c.Decide(event, text, hits_);
  out.text_truncated = truncated;
  return out;
}

Classification Classifier::Session::Trace(const BounceEvent& event,
                                          std::vector<std::string_view>* matched) {
  Classification out = Scan(event);
  const auto& c = *classifier_;
  for (unsigned hit : hits_) {
    const unsigned owner = c.pattern_owner_[hit];
    matched->push_back(hit < c.fingerprint_count_ ? std::string_view(c.rules_->fingerprints()[owner].id)
                                                  : std::string_view(c.rules_->rules()[owner].id));
  }
  return out;
}

namespace {

// The reply code as text ("550"), or the class digit of the enhanced status ("5") when the reply
// code is unknown, so `when_code = ["5"]` works for events that carry only a status.
struct CodeKey {
  char buf[4] = {0, 0, 0, 0};
  std::size_t len = 0;
  std::string_view view() const { return {buf, len}; }
};

CodeKey MakeCodeKey(int code, std::string_view status, EventType type) {
  CodeKey key;
  if (code >= 100 && code <= 999) {
    key.buf[0] = static_cast<char>('0' + code / 100);
    key.buf[1] = static_cast<char>('0' + code / 10 % 10);
    key.buf[2] = static_cast<char>('0' + code % 10);
    key.len = 3;
  } else if (!status.empty()) {
    key.buf[0] = status[0];
    key.len = 1;
  } else if (type == EventType::kDeferral) {
    key.buf[0] = '4';
    key.len = 1;
  }
  return key;
}

// A reporting MTA may open the text with its own status and quote the remote server's reply
// after it ("5.1.0 - Unknown address error 550-'5.7.1 <a@example.org>... Access denied'"). The
// status that follows a reply code is the remote server's own and says more: prefer it.
std::string_view QuotedRemoteStatus(std::string_view text, std::string_view leading) {
  std::size_t p = 0;
  while (p < text.size() && text[p] == ' ') ++p;
  if (leading.empty() || text.substr(p, leading.size()) != leading) return leading;
  const std::string_view rest = text.substr(p + leading.size());
  auto digit = [](char ch) { return ch >= '0' && ch <= '9'; };
  for (std::size_t q = 0; q + 5 < rest.size(); ++q) {
    const char c = rest[q];
    if (!(c == '4' || c == '5') || !digit(rest[q + 1]) || !digit(rest[q + 2])) continue;
    if (q > 0 && (digit(rest[q - 1]) || rest[q - 1] == '.')) continue;
    if (rest[q + 3] != ' ' && rest[q + 3] != '-') continue;
    std::size_t r = q + 4;
    if (rest[r] == '\'' || rest[r] == '"') ++r;
    const std::string_view after = rest.substr(r);
    const std::string_view code = internal::FindEnhancedCode(after);
    if (!code.empty() && code.data() == after.data() && !internal::IsGenericEnhancedCode(code)) {
      return code;
    }
  }
  return leading;
}

bool AnyPrefix(const std::vector<std::string>& prefixes, std::string_view value) {
  for (const auto& p : prefixes) {
    if (value.starts_with(p)) return true;
  }
  return false;
}

}  // namespace

Classification Classifier::Decide(const BounceEvent& event, std::string_view text,
                                  const std::vector<unsigned>& hits) const {
  Classification out;
  out.smtp_code = event.smtp_code > 0 ? event.smtp_code : ExtractReplyCode(text);
  std::string_view status = internal::LeadingEnhancedCode(event.enhanced_code);
  if (status.empty() || internal::IsGenericEnhancedCode(status)) {
    // x.0.0 says nothing: prefer a specific code from the text, as the remote server sent it.
    if (const auto from_text = ExtractEnhancedCode(text); !from_text.empty()) {
      status = QuotedRemoteStatus(text, from_text);
    }
  }
  out.enhanced_code = status;
  const CodeKey code_key = MakeCodeKey(out.smtp_code, status, event.type);
  const bool permanent = code_key.len > 0 && code_key.buf[0] == '5';

  // Vendor attribution: a vendor's own wording first, then the MX host, then a cited DNSBL.
  std::optional<Vendor> text_vendor;
  std::string_view dnsbl;
  std::size_t i = 0;
  for (; i < hits.size() && hits[i] < fingerprint_count_; ++i) {
    const Fingerprint& fp = rules_->fingerprints()[pattern_owner_[hits[i]]];
    if (!text_vendor && fp.vendor) text_vendor = fp.vendor;
    if (dnsbl.empty() && !fp.dnsbl.empty()) dnsbl = fp.dnsbl;
  }
  const std::optional<Vendor> mx_vendor = internal::VendorOfHost(rules_->mx_fingerprints(), event.mx);
  Vendor detected = Vendor::kOther;
  VendorSource source = VendorSource::kNone;
  if (text_vendor) {
    detected = *text_vendor;
    source = VendorSource::kText;
  } else if (mx_vendor) {
    detected = *mx_vendor;
    source = VendorSource::kMx;
  } else if (!dnsbl.empty()) {
    detected = Vendor::kDnsbl;
    source = VendorSource::kText;
  }
  std::uint32_t vendor_bits = 1u << static_cast<unsigned>(detected);
  if (text_vendor) vendor_bits |= 1u << static_cast<unsigned>(*text_vendor);
  if (mx_vendor) vendor_bits |= 1u << static_cast<unsigned>(*mx_vendor);
  const std::uint32_t type_bit = 1u << static_cast<unsigned>(event.type);
  // The code key's unused bytes are 0, so its 4 bytes are PackWord(code_key.view()); the status
  // word is packed only if a rule with when_status is reached.
  std::uint64_t code_word = 0;
  static_assert(sizeof(code_key.buf) <= sizeof(code_word));
  std::memcpy(&code_word, code_key.buf, sizeof(code_key.buf));
  std::uint64_t status_word = 0;
  bool status_packed = false;
  auto any_packed = [this](std::uint32_t begin, std::uint32_t end, std::uint64_t word) {
    for (std::uint32_t k = begin; k < end; ++k) {
      if ((word & prefixes_[k].mask) == prefixes_[k].value) return true;
    }
    return false;
  };

  // Walk matched pattern rules and condition-only rules together, in rule order.
  const auto& rules = rules_->rules();
  const Rule* decided = nullptr;
  auto c = condition_only_.begin();
  while (decided == nullptr) {
    const unsigned next_hit = i < hits.size() ? pattern_owner_[hits[i]] : ~0u;
    const unsigned next_cond = c != condition_only_.end() ? *c : ~0u;
    const unsigned index = std::min(next_hit, next_cond);
    if (index == ~0u) break;
    if (index == next_hit) {
      ++i;
    } else {
      ++c;
    }
    const PackedConditions& k = conditions_[index];
    if (k.type_mask != 0 && (k.type_mask & type_bit) == 0) continue;
    if (k.vendor_mask != 0 && (k.vendor_mask & vendor_bits) == 0) continue;
    const Rule& r = rules[index];
    if (k.slow) {
      if (!r.when_code.empty() && !AnyPrefix(r.when_code, code_key.view())) continue;
      if (!r.when_status.empty() && !AnyPrefix(r.when_status, status)) continue;
    } else {
      if (k.code_begin != k.code_end && !any_packed(k.code_begin, k.code_end, code_word)) continue;
      if (k.status_begin != k.status_end) {
        if (!status_packed) {
          status_word = PackWord(status);
          status_packed = true;
        }
        if (!any_packed(k.status_begin, k.status_end, status_word)) continue;
      }
    }
    decided = &r;
  }

  out.vendor = detected;
  out.vendor_source = source;
  out.dnsbl = dnsbl;
  if (decided != nullptr) {
    const Rule& r = *decided;
    out.reason = r.reason;
    out.bounce_class = r.bounce_class;
    out.party = r.party;
    out.action = r.action;
    out.confidence = r.confidence;
    out.rule = r.id;
    if (r.vendor && *r.vendor != detected) {
      out.vendor = *r.vendor;
      out.vendor_source = VendorSource::kRule;
    }
    if (!r.dnsbl.empty()) out.dnsbl = r.dnsbl;
    // A temporary failure never proves an address dead unless the rule says so explicitly.
    // A notice with no code at all (no MX, a null MX) is as final as a 5xx: only a 4xx or a
    // deferral keeps notaccept soft.
    const bool temporary = code_key.len > 0 && code_key.buf[0] == '4';
    out.hard = r.hard.value_or(DefaultHard(r.reason, permanent || code_key.len == 0) && !temporary);
  } else {
    const bool temporary = code_key.len > 0 && code_key.buf[0] == '4';
    out.reason = text.empty() ? Reason::kUndefined : Reason::kOnHold;
    out.bounce_class = temporary ? BounceClass::kTransientFailure : BounceClass::kUncategorized;
    out.party = temporary ? Party::kTransient : Party::kUnknown;
    out.action = temporary ? Action::kRetry : Action::kNone;
    out.confidence = 0.0f;
    out.rule = "none";
  }
  internal::ExtractDocCode(out.vendor, text, &out.doc);
  return out;
}

int ExtractReplyCode(std::string_view text) { return internal::FindReplyCode(text); }
std::string_view ExtractEnhancedCode(std::string_view text) {
  return internal::FindEnhancedCode(text);
}

}  // namespace bouncestream::classify
