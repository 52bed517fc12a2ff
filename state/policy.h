// The decision policy's settings. Defaults follow DESIGN.md §4; every value can be overridden
// per tenant ([policy] and [policy.tenant.<id>] in the config file).
#ifndef BOUNCESTREAM_STATE_POLICY_H_
#define BOUNCESTREAM_STATE_POLICY_H_

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

namespace bouncestream::state {

inline constexpr std::int64_t kMinuteMs = 60'000;
inline constexpr std::int64_t kHourMs = 60 * kMinuteMs;
inline constexpr std::int64_t kDayMs = 24 * kHourMs;

struct PolicyConfig {
  // Hard invalid recipient or complaint -> suppress for the tenant (0 = never expires).
  std::int64_t hard_suppress_ttl_ms = 0;
  // N soft bounces over D -> suppress for a TTL. A delivery ends the streak.
  int soft_bounce_count = 5;
  std::int64_t soft_bounce_window_ms = 7 * kDayMs;
  std::int64_t soft_suppress_ttl_ms = 30 * kDayMs;
  // End-user block -> suppress this recipient for this sender only.
  std::int64_t end_user_suppress_ttl_ms = 180 * kDayMs;
  // Admin policy blocks from K distinct recipients of one domain within W -> pause sender->domain.
  int admin_block_distinct_recipients = 3;
  std::int64_t admin_block_window_ms = 24 * kHourMs;
  std::int64_t domain_pause_ttl_ms = 24 * kHourMs;
  // Platform / DNSBL blocks: at least `platform_block_count` within W for one sending IP or pool
  // and one vendor -> pause that IP -> vendor.
  int platform_block_count = 20;
  std::int64_t platform_block_window_ms = 1 * kHourMs;
  std::int64_t ip_pause_ttl_ms = 6 * kHourMs;
  // Sender-config faults: at least `sender_config_alert_count` within W -> alert (once per TTL).
  int sender_config_alert_count = 1;
  std::int64_t sender_config_window_ms = 1 * kHourMs;
  std::int64_t alert_ttl_ms = 24 * kHourMs;

  friend bool operator==(const PolicyConfig&, const PolicyConfig&) = default;
};

// Defaults plus per-tenant overrides.
struct PolicySet {
  PolicyConfig defaults;
  std::map<std::string, PolicyConfig, std::less<>> tenants;
  const PolicyConfig& For(std::string_view tenant) const {
    auto it = tenants.find(tenant);
    return it != tenants.end() ? it->second : defaults;
  }

  friend bool operator==(const PolicySet&, const PolicySet&) = default;
};

}  // namespace bouncestream::state

#endif  // BOUNCESTREAM_STATE_POLICY_H_
