#include "classify/taxonomy.h"

#include <array>

namespace bouncestream::classify {
namespace {

#define BOUNCESTREAM_ENUM_NAME(name, text) std::string_view{text},
constexpr std::array kReasonNames{BOUNCESTREAM_REASONS(BOUNCESTREAM_ENUM_NAME)};
constexpr std::array kClassNames{BOUNCESTREAM_CLASSES(BOUNCESTREAM_ENUM_NAME)};
constexpr std::array kPartyNames{BOUNCESTREAM_PARTIES(BOUNCESTREAM_ENUM_NAME)};
constexpr std::array kActionNames{BOUNCESTREAM_ACTIONS(BOUNCESTREAM_ENUM_NAME)};
constexpr std::array kVendorNames{BOUNCESTREAM_VENDORS(BOUNCESTREAM_ENUM_NAME)};
#undef BOUNCESTREAM_ENUM_NAME

template <typename Enum, std::size_t N>
std::optional<Enum> Find(const std::array<std::string_view, N>& names, std::string_view s) {
  for (std::size_t i = 0; i < N; ++i) {
    if (names[i] == s) return static_cast<Enum>(i);
  }
  return std::nullopt;
}

template <typename Enum, std::size_t N>
std::string_view Name(const std::array<std::string_view, N>& names, Enum v) {
  const auto i = static_cast<std::size_t>(v);
  return i < N ? names[i] : std::string_view{"?"};
}

}  // namespace

std::string_view ToString(Reason v) { return Name(kReasonNames, v); }
std::string_view ToString(BounceClass v) { return Name(kClassNames, v); }
std::string_view ToString(Party v) { return Name(kPartyNames, v); }
std::string_view ToString(Action v) { return Name(kActionNames, v); }
std::string_view ToString(Vendor v) { return Name(kVendorNames, v); }

std::optional<Reason> ParseReason(std::string_view s) { return Find<Reason>(kReasonNames, s); }
std::optional<BounceClass> ParseClass(std::string_view s) {
  return Find<BounceClass>(kClassNames, s);
}
std::optional<Party> ParseParty(std::string_view s) { return Find<Party>(kPartyNames, s); }
std::optional<Action> ParseAction(std::string_view s) { return Find<Action>(kActionNames, s); }
std::optional<Vendor> ParseVendor(std::string_view s) { return Find<Vendor>(kVendorNames, s); }

std::span<const std::string_view> AllReasons() { return kReasonNames; }
std::span<const std::string_view> AllClasses() { return kClassNames; }
std::span<const std::string_view> AllParties() { return kPartyNames; }
std::span<const std::string_view> AllActions() { return kActionNames; }
std::span<const std::string_view> AllVendors() { return kVendorNames; }

BounceClass DefaultClass(Reason reason) {
  using R = Reason;
  using C = BounceClass;
  switch (reason) {
    case R::kUserUnknown: return C::kInvalidRecipient;
    case R::kHostUnknown: return C::kBadDomain;
    case R::kHasMoved: return C::kInactiveMailbox;
    case R::kNotAccept: return C::kBadDomain;
    case R::kSuspend: return C::kInactiveMailbox;
    case R::kMailboxFull: return C::kQuotaIssues;
    case R::kMesgTooBig: return C::kQuotaIssues;
    case R::kExceedLimit: return C::kQuotaIssues;
    case R::kSystemFull: return C::kQuotaIssues;
    case R::kBlocked: return C::kSpamBlock;
    case R::kBadReputation: return C::kSpamBlock;
    case R::kRequirePtr: return C::kBadConfiguration;
    case R::kAuthFailure: return C::kAuthenticationFailed;
    case R::kPolicyViolation: return C::kPolicyRelated;
    case R::kRejected: return C::kInvalidSender;
    case R::kFiltered: return C::kContentRelated;
    case R::kSpamDetected: return C::kSpamContent;
    case R::kVirusDetected: return C::kVirusRelated;
    case R::kContentError: return C::kContentRelated;
    case R::kSecurityError: return C::kAuthenticationFailed;
    case R::kNoRelaying: return C::kRelayDenied;
    case R::kTooManyConn: return C::kTransientFailure;
    case R::kSpeeding: return C::kTransientFailure;
    case R::kNotCompliantRfc: return C::kProtocolErrors;
    case R::kFailedStartTls: return C::kBadConfiguration;
    case R::kSyntaxError: return C::kProtocolErrors;
    case R::kSystemError: return C::kTransientFailure;
    case R::kMailerError: return C::kUncategorized;
    case R::kNetworkError: return C::kNoAnswerFromHost;
    case R::kExpired: return C::kMessageExpired;
    case R::kSuppressed: return C::kPolicyRelated;
    case R::kVacation: return C::kAutoReply;
    case R::kFeedback: return C::kFeedback;
    case R::kDelivered: return C::kDelivered;
    case R::kOnHold:
    case R::kUndefined: return C::kUncategorized;
  }
  return C::kUncategorized;
}

bool DefaultHard(Reason reason, bool permanent) {
  switch (reason) {
    case Reason::kUserUnknown:
    case Reason::kHostUnknown:
    case Reason::kHasMoved: return true;
    case Reason::kNotAccept: return permanent;
    default: return false;
  }
}

}  // namespace bouncestream::classify
