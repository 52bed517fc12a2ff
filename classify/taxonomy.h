// Closed vocabularies of the classification: reasons (sisimai's names), classes (KumoMTA's),
// responsible parties, sender actions and filter vendors. Every enum has a stable text name that
// is used in rule files, JSON output and metric labels.
#ifndef BOUNCESTREAM_CLASSIFY_TAXONOMY_H_
#define BOUNCESTREAM_CLASSIFY_TAXONOMY_H_

#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

namespace bouncestream::classify {

#define BOUNCESTREAM_REASONS(X)                                                                \
  X(kUndefined, "undefined") X(kUserUnknown, "userunknown") X(kHostUnknown, "hostunknown")     \
  X(kHasMoved, "hasmoved") X(kNotAccept, "notaccept") X(kMailboxFull, "mailboxfull")           \
  X(kMesgTooBig, "mesgtoobig") X(kExceedLimit, "exceedlimit") X(kSuspend, "suspend")           \
  X(kBlocked, "blocked") X(kBadReputation, "badreputation") X(kRequirePtr, "requireptr")       \
  X(kAuthFailure, "authfailure") X(kPolicyViolation, "policyviolation")                        \
  X(kRejected, "rejected") X(kFiltered, "filtered") X(kSpamDetected, "spamdetected")           \
  X(kVirusDetected, "virusdetected") X(kContentError, "contenterror")                          \
  X(kSecurityError, "securityerror") X(kNoRelaying, "norelaying") X(kTooManyConn, "toomanyconn") \
  X(kSpeeding, "speeding") X(kNotCompliantRfc, "notcompliantrfc")                              \
  X(kFailedStartTls, "failedstarttls") X(kSyntaxError, "syntaxerror")                          \
  X(kSystemError, "systemerror") X(kSystemFull, "systemfull") X(kMailerError, "mailererror")   \
  X(kNetworkError, "networkerror") X(kExpired, "expired") X(kSuppressed, "suppressed")         \
  X(kOnHold, "onhold") X(kDelivered, "delivered") X(kFeedback, "feedback")                     \
  X(kVacation, "vacation")

#define BOUNCESTREAM_CLASSES(X)                                                                  \
  X(kUncategorized, "Uncategorized") X(kInvalidRecipient, "InvalidRecipient")                    \
  X(kDnsFailure, "DNSFailure") X(kSpamBlock, "SpamBlock") X(kSpamContent, "SpamContent")         \
  X(kProhibitedAttachment, "ProhibitedAttachment") X(kRelayDenied, "RelayDenied")                \
  X(kAutoReply, "AutoReply") X(kTransientFailure, "TransientFailure")                            \
  X(kBadConfiguration, "BadConfiguration") X(kBadConnection, "BadConnection")                    \
  X(kBadDomain, "BadDomain") X(kContentRelated, "ContentRelated")                                \
  X(kInactiveMailbox, "InactiveMailbox") X(kInvalidSender, "InvalidSender")                      \
  X(kMessageExpired, "MessageExpired") X(kNoAnswerFromHost, "NoAnswerFromHost")                  \
  X(kPolicyRelated, "PolicyRelated") X(kProtocolErrors, "ProtocolErrors")                        \
  X(kQuotaIssues, "QuotaIssues") X(kRelayingIssues, "RelayingIssues")                            \
  X(kRoutingErrors, "RoutingErrors") X(kSpamRelated, "SpamRelated")                              \
  X(kVirusRelated, "VirusRelated") X(kAuthenticationFailed, "AuthenticationFailed")              \
  X(kTooManyRecipients, "TooManyRecipients") X(kFeedback, "Feedback") X(kDelivered, "Delivered")

#define BOUNCESTREAM_PARTIES(X)                                                         \
  X(kUnknown, "unknown") X(kFilterPlatform, "filter_platform")                          \
  X(kRecipientAdmin, "recipient_admin") X(kEndUser, "end_user")                         \
  X(kRecipientInvalid, "recipient_invalid") X(kRecipientInfra, "recipient_infra")       \
  X(kSenderConfig, "sender_config") X(kTransient, "transient")

#define BOUNCESTREAM_ACTIONS(X)                                                                 \
  X(kNone, "none") X(kSuppressRecipient, "suppress_recipient")                                  \
  X(kSuppressForSender, "suppress_for_sender") X(kPauseSenderDomain, "pause_sender_domain")     \
  X(kPauseIpFilter, "pause_ip_filter") X(kFixAuth, "fix_auth") X(kFixTls, "fix_tls")            \
  X(kDelist, "delist") X(kReviewContent, "review_content") X(kReduceRate, "reduce_rate")        \
  X(kRetry, "retry")

#define BOUNCESTREAM_VENDORS(X)                                                            \
  X(kOther, "other") X(kMimecast, "mimecast") X(kMicrosoft, "microsoft") X(kGoogle, "google") \
  X(kYahoo, "yahoo") X(kProofpoint, "proofpoint") X(kBarracuda, "barracuda")               \
  X(kCisco, "cisco") X(kTrendMicro, "trendmicro") X(kSophos, "sophos")                     \
  X(kSymantec, "symantec") X(kTrellix, "trellix") X(kForcepoint, "forcepoint")             \
  X(kDnsbl, "dnsbl")

#define BOUNCESTREAM_ENUM_MEMBER(name, text) name,
enum class Reason : std::uint8_t { BOUNCESTREAM_REASONS(BOUNCESTREAM_ENUM_MEMBER) };
enum class BounceClass : std::uint8_t { BOUNCESTREAM_CLASSES(BOUNCESTREAM_ENUM_MEMBER) };
enum class Party : std::uint8_t { BOUNCESTREAM_PARTIES(BOUNCESTREAM_ENUM_MEMBER) };
enum class Action : std::uint8_t { BOUNCESTREAM_ACTIONS(BOUNCESTREAM_ENUM_MEMBER) };
enum class Vendor : std::uint8_t { BOUNCESTREAM_VENDORS(BOUNCESTREAM_ENUM_MEMBER) };
#undef BOUNCESTREAM_ENUM_MEMBER

std::string_view ToString(Reason v);
std::string_view ToString(BounceClass v);
std::string_view ToString(Party v);
std::string_view ToString(Action v);
std::string_view ToString(Vendor v);

std::optional<Reason> ParseReason(std::string_view s);
std::optional<BounceClass> ParseClass(std::string_view s);
std::optional<Party> ParseParty(std::string_view s);
std::optional<Action> ParseAction(std::string_view s);
std::optional<Vendor> ParseVendor(std::string_view s);

// All names of a vocabulary, in enum order (for help texts, metric label sets and tests).
std::span<const std::string_view> AllReasons();
std::span<const std::string_view> AllClasses();
std::span<const std::string_view> AllParties();
std::span<const std::string_view> AllActions();
std::span<const std::string_view> AllVendors();

// Defaults used when a rule does not say: the coarse class of a reason, and whether a reason
// means the address itself is dead (sisimai's rule: userunknown, hostunknown, hasmoved, and
// notaccept when permanent).
BounceClass DefaultClass(Reason reason);
bool DefaultHard(Reason reason, bool permanent);

}  // namespace bouncestream::classify

#endif  // BOUNCESTREAM_CLASSIFY_TAXONOMY_H_
