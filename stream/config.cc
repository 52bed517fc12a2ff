#include "stream/config.h"

#include <toml++/toml.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <functional>
#include <iterator>
#include <limits>
#include <map>
#include <set>
#include <sstream>

#include "classify/classifier.h"

namespace bouncestream::stream {
namespace {

constexpr std::string_view kEnvPrefix = "BOUNCESTREAM_";
constexpr std::string_view kEnvKafka = "BOUNCESTREAM_KAFKA_";
constexpr std::string_view kEnvKafkaConsumer = "BOUNCESTREAM_KAFKA_CONSUMER_";
constexpr std::string_view kEnvKafkaProducer = "BOUNCESTREAM_KAFKA_PRODUCER_";
constexpr std::string_view kEnvTopics = "BOUNCESTREAM_TOPICS_";
constexpr std::string_view kEnvConfig = "BOUNCESTREAM_CONFIG";
constexpr std::size_t kMaxConfigBytes = 1024 * 1024;
constexpr std::size_t kMaxSecretBytes = 1024 * 1024;

// ---------------------------------------------------------------------------------------------
// Field tables shared by the file, environment and flag layers.

struct StringField {
  std::string_view key;   // TOML key and name used in messages
  std::string_view env;   // environment variable
  std::string_view flag;  // command-line flag
  std::string Config::*member;
};
constexpr std::array kStringFields = {
    StringField{"bootstrap", "BOUNCESTREAM_BOOTSTRAP", "--bootstrap", &Config::bootstrap},
    StringField{"group", "BOUNCESTREAM_GROUP", "--group", &Config::group},
    StringField{"state_dir", "BOUNCESTREAM_STATE_DIR", "--state-dir", &Config::state_dir},
    StringField{"metrics_addr", "BOUNCESTREAM_METRICS_ADDR", "--metrics-addr",
                &Config::metrics_addr},
    StringField{"rules", "BOUNCESTREAM_RULES", "--rules", &Config::rules_path},
    StringField{"engine", "BOUNCESTREAM_ENGINE", "--engine", &Config::engine},
};

struct IntField {
  std::string_view key;
  std::string_view env;
  int Config::*member;
  int min;
  int max;
};
constexpr std::array kIntFields = {
    IntField{"batch_max_messages", "BOUNCESTREAM_BATCH_MAX_MESSAGES", &Config::batch_max_messages,
             1, 100000},
    IntField{"poll_timeout_ms", "BOUNCESTREAM_POLL_TIMEOUT_MS", &Config::poll_timeout_ms, 1, 60000},
    IntField{"shutdown_timeout_ms", "BOUNCESTREAM_SHUTDOWN_TIMEOUT_MS",
             &Config::shutdown_timeout_ms, 1, 600000},
};

struct TopicField {
  std::string_view key;
  std::string OutputTopics::*member;
};
constexpr std::array kTopicFields = {
    TopicField{"classified", &OutputTopics::classified},
    TopicField{"dlq", &OutputTopics::dlq},
    TopicField{"suppressions", &OutputTopics::suppressions},
    TopicField{"blocks", &OutputTopics::blocks},
    TopicField{"alerts", &OutputTopics::alerts},
    TopicField{"audit", &OutputTopics::audit},
    TopicField{"admin", &OutputTopics::admin},
};

constexpr std::array<std::string_view, 8> kOtherTopLevelKeys = {
    "profile", "allow_plaintext", "input", "topics", "state", "policy", "admin", "metrics"};

// [state] and [policy]: numbers written with units. Durations are stored in ms.
enum class Kind {
  kDuration,  // "90s", "7d"; > 0
  kTtl,       // a duration, or "0" / "never" = never expires
  kCount,     // integer >= 1 (an int member)
  kBytes,     // integer or "64MiB"
  kEntries,   // integer (an int64 member)
};

constexpr std::int64_t kMaxDurationMs =
    36500 * state::kDayMs;  // 100 years: now + TTL never overflows
constexpr std::int64_t kMiB = std::int64_t{1} << 20;
constexpr std::int64_t kTiB = std::int64_t{1} << 40;
constexpr int kMaxCount = 1'000'000;
constexpr std::size_t kMinHmacKeyBytes = 16;
constexpr std::string_view kRedacted = "***";

template <class S>
struct NumField {
  std::string_view key;  // TOML key; the environment variable is <prefix><KEY>
  Kind kind;
  std::int64_t S::*wide = nullptr;  // every kind but kCount
  int S::*count = nullptr;          // kCount
  std::int64_t min = 0;
  std::int64_t max = 0;

  std::int64_t Get(const S& s) const { return count != nullptr ? s.*count : s.*wide; }
  void Set(S& s, std::int64_t v) const {
    if (count != nullptr) {
      s.*count = static_cast<int>(v);
    } else {
      s.*wide = v;
    }
  }
};

constexpr std::string_view kEnvState = "BOUNCESTREAM_STATE_";
constexpr std::string_view kEnvPolicy = "BOUNCESTREAM_POLICY_";
constexpr std::string_view kEnvMetricsTenants = "BOUNCESTREAM_METRICS_TENANTS";

struct StateBoolField {
  std::string_view key;
  bool StateSettings::*member;
};
constexpr std::array kStateBoolFields = {
    StateBoolField{"enabled", &StateSettings::enabled},
    StateBoolField{"sync_writes", &StateSettings::sync_writes},
    StateBoolField{"hash_recipients", &StateSettings::hash_recipients},
    StateBoolField{"checkpoint_when_caught_up", &StateSettings::checkpoint_when_caught_up},
};

using StateField = NumField<StateSettings>;
constexpr std::array kStateNumFields = {
    StateField{"dedupe_horizon", Kind::kDuration, &StateSettings::dedupe_horizon_ms, nullptr, 1,
               kMaxDurationMs},
    StateField{"max_lateness", Kind::kDuration, &StateSettings::max_lateness_ms, nullptr, 1,
               kMaxDurationMs},
    StateField{"block_cache", Kind::kBytes, &StateSettings::block_cache_bytes, nullptr, kMiB, kTiB},
    StateField{"write_buffer", Kind::kBytes, &StateSettings::write_buffer_bytes, nullptr, kMiB,
               kTiB},
    StateField{"hot_window_cache", Kind::kBytes, &StateSettings::hot_window_cache_bytes, nullptr,
               kMiB, kTiB},
    StateField{"hot_window_entries", Kind::kEntries, &StateSettings::hot_window_entries, nullptr, 1,
               1'000'000'000},
    StateField{"checkpoint_events", Kind::kEntries, &StateSettings::checkpoint_events, nullptr, 1,
               1'000'000},
    StateField{"checkpoint_interval", Kind::kDuration, &StateSettings::checkpoint_interval_ms,
               nullptr, 1, 600'000},
};

using PolicyField = NumField<state::PolicyConfig>;
using state::PolicyConfig;
constexpr PolicyField Duration(std::string_view key, std::int64_t PolicyConfig::*m) {
  return {key, Kind::kDuration, m, nullptr, 1, kMaxDurationMs};
}
constexpr PolicyField Count(std::string_view key, int PolicyConfig::*m) {
  return {key, Kind::kCount, nullptr, m, 1, kMaxCount};
}
constexpr std::array kPolicyFields = {
    PolicyField{"hard_suppress_ttl", Kind::kTtl, &PolicyConfig::hard_suppress_ttl_ms, nullptr, 0,
                kMaxDurationMs},
    Count("soft_bounce_count", &PolicyConfig::soft_bounce_count),
    Duration("soft_bounce_window", &PolicyConfig::soft_bounce_window_ms),
    Duration("soft_suppress_ttl", &PolicyConfig::soft_suppress_ttl_ms),
    Duration("end_user_suppress_ttl", &PolicyConfig::end_user_suppress_ttl_ms),
    Count("admin_block_distinct_recipients", &PolicyConfig::admin_block_distinct_recipients),
    Duration("admin_block_window", &PolicyConfig::admin_block_window_ms),
    Duration("domain_pause_ttl", &PolicyConfig::domain_pause_ttl_ms),
    Count("platform_block_count", &PolicyConfig::platform_block_count),
    Duration("platform_block_window", &PolicyConfig::platform_block_window_ms),
    Duration("ip_pause_ttl", &PolicyConfig::ip_pause_ttl_ms),
    Count("sender_config_alert_count", &PolicyConfig::sender_config_alert_count),
    Duration("sender_config_window", &PolicyConfig::sender_config_window_ms),
    Duration("alert_ttl", &PolicyConfig::alert_ttl_ms),
};

// Secrets of the new sections: `<key> = "..."` or `<key>.file = PATH` in the file (as for the
// librdkafka secrets), <ENV> or <ENV>_FILE in the environment, never a flag.
struct SecretField {
  std::string_view section;  // "state"
  std::string_view key;      // "hmac_key"
  std::string_view env;      // "BOUNCESTREAM_STATE_HMAC_KEY"
  std::string& (*ref)(Config&);
};
constexpr std::array kSecretFields = {
    SecretField{"state", "hmac_key", "BOUNCESTREAM_STATE_HMAC_KEY",
                [](Config& c) -> std::string& { return c.state.hmac_key; }},
    SecretField{"admin", "token", "BOUNCESTREAM_ADMIN_TOKEN",
                [](Config& c) -> std::string& { return c.admin.token; }},
};
constexpr std::size_t kHmacKeySecret = 0;
constexpr std::size_t kAdminTokenSecret = 1;

// BOUNCESTREAM_* variables that belong to the project's test and benchmark tools, not to `run`;
// tolerated so that a developer's shell does not break the processor.
constexpr std::array<std::string_view, 4> kToolEnvPrefixes = {
    "BOUNCESTREAM_BENCH_", "BOUNCESTREAM_CORPUS", "BOUNCESTREAM_PERF_PROBE", "BOUNCESTREAM_PRESET"};

struct AppOwnedKey {
  std::string_view key;
  std::string_view why;
};
constexpr std::string_view kWhyBootstrap =
    "set `bootstrap` (config file, BOUNCESTREAM_BOOTSTRAP or --bootstrap) instead";
constexpr std::string_view kWhyCommit =
    "bouncestream commits offsets itself, only after the state and output they cover are durable";
constexpr std::string_view kWhyAcks = "the producer always uses acks=all";
constexpr std::array kAppOwned = {
    AppOwnedKey{"bootstrap.servers", kWhyBootstrap},
    AppOwnedKey{"metadata.broker.list", kWhyBootstrap},
    AppOwnedKey{"group.id",
                "set `group` (config file, BOUNCESTREAM_GROUP or --group) instead; it is also "
                "the application id"},
    AppOwnedKey{"enable.auto.commit", kWhyCommit},
    AppOwnedKey{"auto.commit.enable", kWhyCommit},
    AppOwnedKey{"enable.auto.offset.store",
                "bouncestream stores offsets itself, after an event is processed"},
    AppOwnedKey{"enable.idempotence", "the producer is always idempotent"},
    AppOwnedKey{"acks", kWhyAcks},
    AppOwnedKey{"request.required.acks", kWhyAcks},
    AppOwnedKey{"auto.offset.reset",
                "a new group always starts at the earliest offset, and an out-of-range offset "
                "is reported as an offset reset"},
    AppOwnedKey{"enable.partition.eof", "the processor does not use partition EOF events"},
    AppOwnedKey{"isolation.level",
                "the consumer reads committed records only (librdkafka's default)"},
    AppOwnedKey{"partition.assignment.strategy",
                "every group member must use the same strategy (roundrobin)"},
    AppOwnedKey{"transactional.id",
                "bouncestream does not use Kafka transactions; input offsets are kept with the "
                "state"},
};

// librdkafka properties (newer versions) whose own name ends in ".file"; passed through as they
// are instead of being read as `<key>.file` secret indirections.
constexpr std::array<std::string_view, 3> kNativeFileKeys = {
    "sasl.oauthbearer.assertion.file", "sasl.oauthbearer.assertion.private.key.file",
    "sasl.oauthbearer.assertion.jwt.template.file"};

enum class Section { kCommon = 0, kConsumer = 1, kProducer = 2 };
constexpr std::array<std::string_view, 3> kSectionNames = {"[kafka]", "[kafka.consumer]",
                                                           "[kafka.producer]"};

// ---------------------------------------------------------------------------------------------
// Small helpers.

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

std::string Upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  }
  return out;
}

std::string_view Trim(std::string_view s) {
  const auto first = s.find_first_not_of(" \t\r\n");
  if (first == std::string_view::npos) return {};
  const auto last = s.find_last_not_of(" \t\r\n");
  return s.substr(first, last - first + 1);
}

std::string Quote(std::string_view s) { return "'" + std::string(s) + "'"; }

bool IsDigits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

std::size_t EditDistance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diag = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

// " (did you mean 'x'?)" for the closest candidate, or "" when none is close.
std::string Suggest(std::string_view word, const std::vector<std::string_view>& candidates) {
  const std::size_t limit = std::max<std::size_t>(2, word.size() / 4);
  std::string_view best;
  std::size_t best_distance = limit + 1;
  for (std::string_view c : candidates) {
    const std::size_t d = EditDistance(Lower(word), Lower(c));
    if (d < best_distance) {
      best_distance = d;
      best = c;
    }
  }
  return best.empty() ? std::string() : " (did you mean " + Quote(best) + "?)";
}

std::string JoinNames(const std::vector<std::string_view>& names) {
  std::string out;
  for (std::string_view n : names) {
    if (!out.empty()) out += ", ";
    out += n;
  }
  return out;
}

std::vector<std::string_view> TopLevelKeys() {
  std::vector<std::string_view> keys;
  for (const auto& f : kStringFields) keys.push_back(f.key);
  for (const auto& f : kIntFields) keys.push_back(f.key);
  keys.insert(keys.end(), kOtherTopLevelKeys.begin(), kOtherTopLevelKeys.end());
  keys.push_back("kafka");
  return keys;
}

std::vector<std::string_view> TopicKeys() {
  std::vector<std::string_view> keys;
  for (const auto& f : kTopicFields) keys.push_back(f.key);
  return keys;
}

constexpr std::array kAllFormats = {
    InputFormat::kAuto,    InputFormat::kCanonical, InputFormat::kKumo,      InputFormat::kPowerMta,
    InputFormat::kPostfix, InputFormat::kPostal,    InputFormat::kSes,       InputFormat::kSendgrid,
    InputFormat::kMailgun, InputFormat::kPostmark,  InputFormat::kSparkpost,
};

std::string FormatNames() {
  std::vector<std::string_view> names;
  for (InputFormat f : kAllFormats) names.push_back(ToString(f));
  return JoinNames(names);
}

const AppOwnedKey* FindAppOwned(std::string_view key) {
  for (const auto& owned : kAppOwned) {
    if (owned.key == key) return &owned;
  }
  return nullptr;
}

// librdkafka property names: lower-case letters, digits, '.' and '_', dot-separated words.
bool ValidKafkaKey(std::string_view key) {
  if (key.empty() || key.front() == '.' || key.back() == '.') return false;
  if (key.find("..") != std::string_view::npos) return false;
  return std::all_of(key.begin(), key.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_';
  });
}

// A secret whose value would be on argv (as opposed to a path or URL naming where it lives).
bool IsArgvSecret(std::string_view key) {
  if (!IsSecretKey(key)) return false;
  for (std::string_view suffix : {".location", ".url", ".keytab", ".file"}) {
    if (key.ends_with(suffix)) return false;
  }
  return true;
}

// sasl.password -> BOUNCESTREAM_KAFKA_SASL_PASSWORD ('_' in a name -> "__").
std::string KafkaEnvName(std::string_view key, Section section) {
  std::string out(section == Section::kConsumer   ? kEnvKafkaConsumer
                  : section == Section::kProducer ? kEnvKafkaProducer
                                                  : kEnvKafka);
  for (char c : key) {
    if (c == '.') {
      out += '_';
    } else if (c == '_') {
      out += "__";
    } else {
      out += Upper(std::string_view(&c, 1));
    }
  }
  return out;
}

// SASL_PASSWORD -> sasl.password; "__" -> '_'.
std::string KafkaKeyFromEnv(std::string_view suffix) {
  std::string out;
  for (std::size_t i = 0; i < suffix.size(); ++i) {
    if (suffix[i] == '_') {
      if (i + 1 < suffix.size() && suffix[i + 1] == '_') {
        out += '_';
        ++i;
      } else {
        out += '.';
      }
    } else {
      out += Lower(suffix.substr(i, 1));
    }
  }
  return out;
}

bool ValidTopicName(std::string_view name) {
  if (name.empty() || name.size() > 249 || name == "." || name == "..") return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
  });
}

std::optional<std::string> CheckHostPort(std::string_view addr) {
  std::string_view host;
  std::string_view port;
  if (addr.starts_with('[')) {
    const auto close = addr.find(']');
    if (close == std::string_view::npos || close + 1 >= addr.size() || addr[close + 1] != ':') {
      return "expected [IPV6]:PORT";
    }
    host = addr.substr(1, close - 1);
    port = addr.substr(close + 2);
  } else {
    const auto colon = addr.rfind(':');
    if (colon == std::string_view::npos) return "expected HOST:PORT (e.g. 127.0.0.1:9464)";
    host = addr.substr(0, colon);
    port = addr.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) return "write an IPv6 host as [ADDR]:PORT";
  }
  if (host.empty()) return "the host is missing (use 0.0.0.0 to listen on every interface)";
  if (host.find_first_of(" \t/") != std::string_view::npos) return "the host is not valid";
  if (!IsDigits(port) || port.size() > 5) return "the port must be a number 0..65535";
  int value = 0;
  const auto parsed = std::from_chars(port.data(), port.data() + port.size(), value);
  if (parsed.ec != std::errc() || value > 65535) return "the port must be a number 0..65535";
  return std::nullopt;
}

// A metrics_addr only reachable from this host: 127.0.0.0/8, [::1] or localhost.
bool IsLoopbackListen(std::string_view addr) {
  const auto colon = addr.rfind(':');
  std::string_view host = addr.substr(0, colon == std::string_view::npos ? addr.size() : colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  const std::string h = Lower(host);
  if (h == "localhost" || h == "::1") return true;
  return h.starts_with("127.") &&
         std::all_of(h.begin(), h.end(), [](char c) { return c == '.' || (c >= '0' && c <= '9'); });
}

std::optional<bool> ParseBool(std::string_view text) {
  const std::string v = Lower(Trim(text));
  if (v == "true" || v == "1" || v == "yes" || v == "on") return true;
  if (v == "false" || v == "0" || v == "no" || v == "off") return false;
  return std::nullopt;
}

std::optional<int> ParseInt(std::string_view text) {
  text = Trim(text);
  int value = 0;
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || ptr != text.data() + text.size() || text.empty()) return std::nullopt;
  return value;
}

std::expected<std::string, std::string> ReadSecretFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::unexpected(std::string(std::strerror(errno)));
  std::string data;
  data.resize(kMaxSecretBytes + 1);
  in.read(data.data(), static_cast<std::streamsize>(data.size()));
  if (in.bad()) return std::unexpected(std::string("read error"));
  data.resize(static_cast<std::size_t>(in.gcount()));
  if (data.size() > kMaxSecretBytes) return std::unexpected(std::string("larger than 1 MiB"));
  while (!data.empty() && (data.back() == '\n' || data.back() == '\r')) data.pop_back();
  if (data.empty()) return std::unexpected(std::string("the file is empty"));
  return data;
}

// toml++ 3.3.0 (Debian 12) reaches __builtin_unreachable (undefined behaviour) when it tests a
// non-ASCII character for whitespace: at the start of a line, between tokens, or after a
// line-ending backslash in a """ string (found by tests/fuzz config_toml). Outside strings
// and comments such a character is a TOML syntax error anyway, so it is refused here, before
// the parser sees it. Returns the 1-based line of the first offending byte, or 0.
std::size_t NonAsciiOutsideStrings(std::string_view t) {
  std::size_t line = 1;
  for (std::size_t i = 0; i < t.size(); ++i) {
    const char c = t[i];
    if (c == '\n') {
      ++line;
    } else if (c == '#') {
      while (i + 1 < t.size() && t[i + 1] != '\n') ++i;
    } else if (c == '"' || c == '\'') {
      const bool multi = t.substr(i, 3) == std::string_view(c == '"' ? "\"\"\"" : "\'\'\'");
      const std::string_view close = multi ? t.substr(i, 3) : t.substr(i, 1);
      i += close.size();
      for (; i < t.size() && t.substr(i, close.size()) != close; ++i) {
        if (t[i] == '\n') ++line;
        if (c == '"' && t[i] == '\\' && i + 1 < t.size()) {
          std::size_t j = i + 1;
          while (j < t.size() && (t[j] == ' ' || t[j] == '\t' || t[j] == '\r' || t[j] == '\n')) {
            if (t[j] == '\n') ++line;
            ++j;
          }
          if (multi && j > i + 1 && j < t.size() && static_cast<unsigned char>(t[j]) >= 0x80) {
            return line;
          }
          i = j > i + 1 ? j - 1 : i + 1;
        }
      }
      i += close.size() - 1;
    } else if (static_cast<unsigned char>(c) >= 0x80) {
      return line;
    }
  }
  return 0;
}

std::expected<std::string, std::string> ReadConfigFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::unexpected("cannot read config file: " + std::string(std::strerror(errno)));
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return std::unexpected(std::string("cannot read config file"));
  std::string out = std::move(text).str();
  if (out.size() > kMaxConfigBytes)
    return std::unexpected(std::string("config file larger than 1 MiB"));
  return out;
}

const std::string* FindProp(const KafkaProperties& props, std::string_view key) {
  for (const auto& [k, v] : props) {
    if (k == key) return &v;
  }
  return nullptr;
}

void SetProp(KafkaProperties& props, std::string_view key, std::string value) {
  for (auto& [k, v] : props) {
    if (k == key) {
      v = std::move(value);
      return;
    }
  }
  props.emplace_back(std::string(key), std::move(value));
}

// The common properties overridden key by key by one section's.
KafkaProperties Merged(const KafkaProperties& common, const KafkaProperties& section) {
  KafkaProperties out = common;
  for (const auto& [k, v] : section) SetProp(out, k, v);
  return out;
}

// TOML basic string.
std::string TomlString(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\r':
        out += "\\r";
        break;
      default:
        if (u < 0x20 || u == 0x7f) {
          static constexpr char kHex[] = "0123456789ABCDEF";
          out += "\\u00";
          out += kHex[u >> 4];
          out += kHex[u & 0xf];
        } else {
          out += c;
        }
    }
  }
  return out + "\"";
}

std::optional<std::int64_t> ParseInt64(std::string_view text) {
  text = Trim(text);
  std::int64_t value = 0;
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || ptr != text.data() + text.size() || text.empty()) return std::nullopt;
  return value;
}

// What a value of this kind looks like, for "must be ..." messages.
std::string_view KindExpected(Kind kind) {
  switch (kind) {
    case Kind::kDuration:
      return "a duration string with a unit (ms, s, m, h, d), e.g. \"90s\", \"30m\", \"7d\"";
    case Kind::kTtl:
      return "a duration string with a unit (ms, s, m, h, d), e.g. \"30d\", or \"never\"";
    case Kind::kCount:
    case Kind::kEntries:
      return "an integer";
    case Kind::kBytes:
      return "a size: an integer (bytes) or a string such as \"64MiB\" or \"1GiB\"";
  }
  return "";
}

// The value as the messages show it: 7d, never, 64MiB, 5.
std::string KindText(Kind kind, std::int64_t v) {
  switch (kind) {
    case Kind::kTtl:
      if (v == 0) return "never";
      [[fallthrough]];
    case Kind::kDuration:
      return FormatDurationMs(v);
    case Kind::kBytes:
      return FormatByteSize(v);
    case Kind::kCount:
    case Kind::kEntries:
      break;
  }
  return std::to_string(v);
}

// The value as TOML that reads back to `v`.
std::string KindToml(Kind kind, std::int64_t v) {
  const std::string text = KindText(kind, v);
  if (kind == Kind::kCount || kind == Kind::kEntries) return text;
  if (kind == Kind::kBytes && (IsDigits(text) || text.starts_with('-'))) return text;
  return TomlString(text);
}

std::expected<std::int64_t, std::string> KindFromText(Kind kind, std::string_view text) {
  switch (kind) {
    case Kind::kDuration:
    case Kind::kTtl:
      return ParseDurationMs(text, kind == Kind::kTtl);
    case Kind::kBytes:
      return ParseByteSize(text);
    case Kind::kCount:
    case Kind::kEntries:
      if (auto v = ParseInt64(text)) return *v;
      return std::unexpected("expected an integer, got " + Quote(text));
  }
  return std::unexpected(std::string("unknown kind"));
}

// A TOML value of this kind; the error is a phrase to follow the key's name.
std::expected<std::int64_t, std::string> KindFromNode(Kind kind, const toml::node& node) {
  const auto* s = node.as_string();
  const auto* i = node.as_integer();
  switch (kind) {
    case Kind::kDuration:
    case Kind::kTtl:
      if (s != nullptr) {
        auto v = ParseDurationMs(s->get(), kind == Kind::kTtl);
        if (!v) return std::unexpected(v.error());
        return *v;
      }
      if (i != nullptr) {
        return std::unexpected("must be " + std::string(KindExpected(kind)) +
                               ", not the bare number " + std::to_string(i->get()) +
                               " (the unit is required)");
      }
      break;
    case Kind::kBytes:
      if (i != nullptr) return i->get();
      if (s != nullptr) {
        auto v = ParseByteSize(s->get());
        if (!v) return std::unexpected(v.error());
        return *v;
      }
      break;
    case Kind::kCount:
    case Kind::kEntries:
      if (i != nullptr) return i->get();
      break;
  }
  return std::unexpected("must be " + std::string(KindExpected(kind)));
}

// Tenant ids: they become parts of Kafka keys (0x1F-separated) and metric labels.
std::optional<std::string> CheckTenantId(std::string_view id) {
  if (id.empty()) return "a tenant id must not be empty";
  if (id.size() > 255) return "a tenant id has at most 255 bytes";
  for (char c : id) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) return "a tenant id must not contain control characters";
  }
  return std::nullopt;
}

// Provider buckets are metric label values: 1..64 of a-z, 0-9, '_' and '-'; "other" is the fold.
std::optional<std::string> CheckProviderName(std::string_view name) {
  if (name.empty() || name.size() > 64 || !std::all_of(name.begin(), name.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
      })) {
    return "a provider name is 1..64 lower-case letters, digits, '_' and '-'";
  }
  if (name == "other") return "'other' is the bucket of every domain not listed";
  return std::nullopt;
}

// A recipient domain suffix ("gmail.com", "outlook.com", "de"): lower-case LDH labels.
std::optional<std::string> CheckDomainSuffix(std::string_view d) {
  if (d.empty()) return "is empty";
  if (d.size() > 253) return "is longer than 253 characters";
  if (std::any_of(d.begin(), d.end(),
                  [](char c) { return static_cast<unsigned char>(c) >= 0x80; })) {
    return "is not ASCII; write an internationalised domain as its A-label (xn--...)";
  }
  if (d.front() == '.' || d.back() == '.')
    return "must not start or end with '.' (write \"example.com\")";
  std::string_view rest = d;
  while (true) {
    const auto dot = rest.find('.');
    const std::string_view label = rest.substr(0, dot);
    if (label.empty()) return "has an empty label ('..')";
    if (label.size() > 63) return "has a label longer than 63 characters";
    for (char c : label) {
      if (c >= 'A' && c <= 'Z') return "must be lower-case";
      if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) {
        return "is not a domain name (letters, digits, '-' and '.')";
      }
    }
    if (label.front() == '-' || label.back() == '-')
      return "has a label that starts or ends with '-'";
    if (dot == std::string_view::npos) break;
    rest.remove_prefix(dot + 1);
  }
  return std::nullopt;
}

// ---------------------------------------------------------------------------------------------
// Validation of a merged config. `origin(field)` says where a value came from ("" = default).

using OriginFn = std::function<std::string(std::string_view field)>;

class Validator {
 public:
  Validator(const Config& config, OriginFn origin, std::vector<std::string>& errors)
      : config_(config), origin_(std::move(origin)), errors_(errors) {}

  void Run() {
    CheckBootstrap();
    CheckGroup();
    CheckTopics();
    if (config_.state_dir.empty()) Error("state_dir", "state_dir must not be empty");
    if (auto problem = CheckHostPort(config_.metrics_addr)) {
      Error("metrics_addr", "metrics_addr " + Quote(config_.metrics_addr) + ": " + *problem);
    }
    if (!classify::ParseEngine(config_.engine)) {
      Error("engine", "engine " + Quote(config_.engine) + " is unknown (vectorscan or re2set)");
    }
    for (const auto& f : kIntFields) {
      const int v = config_.*f.member;
      if (v < f.min || v > f.max) {
        Error(f.key, std::string(f.key) + " = " + std::to_string(v) + " is out of range (" +
                         std::to_string(f.min) + ".." + std::to_string(f.max) + ")");
      }
    }
    CheckState();
    CheckPolicy();
    CheckSecretNotPlaceholder(kAdminTokenSecret, config_.admin.token);
    CheckMetrics();
    if (config_.profile == Profile::kProduction) {
      CheckProductionSecurity(Section::kConsumer, config_.kafka_consumer);
      CheckProductionSecurity(Section::kProducer, config_.kafka_producer);
      CheckProductionAdmin();
    }
  }

 private:
  void Error(std::string_view field, const std::string& message) {
    const std::string where = origin_ ? origin_(field) : std::string();
    std::string line = where.empty() ? message : where + ": " + message;
    if (std::find(errors_.begin(), errors_.end(), line) == errors_.end()) {
      errors_.push_back(std::move(line));
    }
  }

  template <class S>
  void CheckRange(const std::string& field, const NumField<S>& f, const S& s) {
    const std::int64_t v = f.Get(s);
    if (v >= f.min && v <= f.max) return;
    const std::string range = f.kind == Kind::kTtl
                                  ? "\"never\" or 1ms.." + KindText(f.kind, f.max)
                                  : KindText(f.kind, f.min) + ".." + KindText(f.kind, f.max);
    Error(field, field + " = " + KindText(f.kind, v) + " is out of range (" + range + ")");
  }

  // "***" is what PrintConfig shows for a secret; loading it back must not make it the secret.
  void CheckSecretNotPlaceholder(std::size_t index, const std::string& value) {
    if (value != kRedacted) return;
    const SecretField& f = kSecretFields[index];
    const std::string field = std::string(f.section) + "." + std::string(f.key);
    Error(field, field +
                     " is \"***\", the placeholder --print-config shows for a secret; give the "
                     "real value with " +
                     std::string(f.key) + ".file = PATH in [" + std::string(f.section) + "], " +
                     std::string(f.env) + " or " + std::string(f.env) + "_FILE");
  }

  void CheckState() {
    const StateSettings& st = config_.state;
    for (const auto& f : kStateNumFields) CheckRange("state." + std::string(f.key), f, st);
    if (st.hmac_key == kRedacted) {
      CheckSecretNotPlaceholder(kHmacKeySecret, st.hmac_key);
    } else if (st.hash_recipients && st.hmac_key.empty()) {
      Error("state.hash_recipients",
            "state.hash_recipients = true needs state.hmac_key (at least " +
                std::to_string(kMinHmacKeyBytes) +
                " bytes): set hmac_key.file = PATH in [state], or BOUNCESTREAM_STATE_HMAC_KEY_FILE "
                "or BOUNCESTREAM_STATE_HMAC_KEY");
    } else if (st.hash_recipients && st.hmac_key.size() < kMinHmacKeyBytes) {
      // Never the key itself, only its length.
      Error("state.hmac_key", "state.hmac_key has " + std::to_string(st.hmac_key.size()) +
                                  " bytes; hash_recipients needs at least " +
                                  std::to_string(kMinHmacKeyBytes) +
                                  " (e.g. head -c 32 /dev/urandom > hmac.key)");
    }
  }

  void CheckPolicy() {
    const PolicyConfig& defaults = config_.policy.defaults;
    for (const auto& f : kPolicyFields) CheckRange("policy." + std::string(f.key), f, defaults);
    for (const auto& [id, p] : config_.policy.tenants) {
      const std::string prefix = "policy.tenant." + TomlString(id);
      if (auto problem = CheckTenantId(id)) {
        Error(prefix, "[" + prefix + "]: " + *problem);
        continue;
      }
      // A value equal to the default is the default's problem (reported once, above).
      for (const auto& f : kPolicyFields) {
        if (f.Get(p) != f.Get(defaults)) CheckRange(prefix + "." + std::string(f.key), f, p);
      }
    }
  }

  void CheckMetrics() {
    const MetricsSettings& m = config_.metrics;
    constexpr std::size_t kMaxTenants = 1000;
    constexpr std::size_t kMaxProviders = 100;
    const std::string list = "metrics.tenant_allow_list";
    std::set<std::string_view> tenants;
    for (const std::string& t : m.tenant_allow_list) {
      if (auto problem = CheckTenantId(t)) {
        Error(list, list + " " + Quote(t) + ": " + *problem);
      } else if (t == "other") {
        Error(list, list + " lists 'other', the label of every tenant not on the list");
      } else if (!tenants.insert(t).second) {
        Error(list, list + " lists " + Quote(t) + " twice");
      }
    }
    if (m.tenant_allow_list.size() > kMaxTenants) {
      Error(list, list + " has " + std::to_string(m.tenant_allow_list.size()) +
                      " tenants; at most " + std::to_string(kMaxTenants) +
                      " (each is a label value of several metrics)");
    }
    if (m.providers.size() > kMaxProviders) {
      Error("metrics.providers", "metrics.providers has " + std::to_string(m.providers.size()) +
                                     " providers; at most " + std::to_string(kMaxProviders));
    }
    std::set<std::string_view> names;
    std::map<std::string_view, std::string_view> owner;  // domain suffix -> provider
    for (const auto& [name, domains] : m.providers) {
      const std::string field = "metrics.providers." + name;
      if (auto problem = CheckProviderName(name)) {
        Error(field, "metrics.providers " + Quote(name) + ": " + *problem);
      } else if (!names.insert(name).second) {
        Error(field, "metrics.providers " + Quote(name) + " is listed twice");
      }
      if (domains.empty()) Error(field, field + " lists no domain suffixes");
      for (const std::string& d : domains) {
        if (auto problem = CheckDomainSuffix(d)) {
          Error(field, field + " " + Quote(d) + " " + *problem);
        } else if (auto [it, inserted] = owner.emplace(d, name); !inserted) {
          Error(field,
                field + " " + Quote(d) +
                    (it->second == name ? " is listed twice"
                                        : " is also listed for provider " + Quote(it->second)));
        }
      }
    }
  }

  void CheckBootstrap() {
    if (config_.bootstrap.empty()) {
      Error("bootstrap",
            "bootstrap is required: set `bootstrap` in the config file, BOUNCESTREAM_BOOTSTRAP "
            "or --bootstrap (HOST:PORT[,HOST:PORT...])");
      return;
    }
    std::string_view rest = config_.bootstrap;
    while (true) {
      const auto comma = rest.find(',');
      const std::string_view entry = Trim(rest.substr(0, comma));
      if (entry.empty() || entry.find_first_of(" \t") != std::string_view::npos) {
        Error("bootstrap", "bootstrap " + Quote(config_.bootstrap) +
                               ": expected a comma-separated list of HOST:PORT");
        return;
      }
      if (comma == std::string_view::npos) break;
      rest.remove_prefix(comma + 1);
    }
  }

  void CheckGroup() {
    if (config_.group.empty()) {
      Error("group",
            "group is required: set `group` in the config file, BOUNCESTREAM_GROUP or --group "
            "(it is the consumer group and application id)");
      return;
    }
    if (!ValidTopicName(config_.group) || config_.group.size() > 200) {
      Error("group", "group " + Quote(config_.group) +
                         ": use at most 200 letters, digits, '.', '_' and '-' (it prefixes the "
                         "changelog topic names)");
    }
  }

  void CheckTopics() {
    std::map<std::string, std::string_view> outputs;  // topic -> key
    for (const auto& f : kTopicFields) {
      const std::string& name = config_.topics.*f.member;
      const std::string field = "topics." + std::string(f.key);
      if (!ValidTopicName(name)) {
        Error(field, field + " " + Quote(name) +
                         " is not a valid topic name (1..249 letters, digits, '.', '_', '-')");
        continue;
      }
      if (auto [it, inserted] = outputs.emplace(name, f.key); !inserted) {
        Error(field, field + " " + Quote(name) + " is also used for topics." +
                         std::string(it->second) + "; each output needs its own topic");
      }
    }
    if (config_.inputs.empty()) {
      Error("inputs",
            "at least one input topic is required: [[input]] in the config file, "
            "BOUNCESTREAM_INPUTS or --input TOPIC[:FORMAT]");
      return;
    }
    std::set<std::string, std::less<>> seen;
    for (const InputSpec& input : config_.inputs) {
      if (!ValidTopicName(input.topic)) {
        Error("inputs", "input topic " + Quote(input.topic) +
                            " is not a valid topic name (1..249 letters, digits, '.', '_', '-')");
      } else if (!seen.insert(input.topic).second) {
        Error("inputs", "input topic " + Quote(input.topic) + " is listed twice");
      } else if (auto it = outputs.find(input.topic); it != outputs.end()) {
        Error("inputs", "input topic " + Quote(input.topic) + " is also the output topics." +
                            std::string(it->second) + " (the processor would read its own output)");
      }
    }
  }

  void CheckProductionSecurity(Section section, const KafkaProperties& own) {
    const KafkaProperties props = Merged(config_.kafka_common, own);
    auto origin_of = [&](std::string_view key) {
      const std::string own_field =
          std::string(kSectionNames[static_cast<int>(section)]) + std::string(key);
      return FindProp(own, key) != nullptr ? own_field
                                           : std::string(kSectionNames[0]) + std::string(key);
    };
    const std::string* protocol = FindProp(props, "security.protocol");
    if (protocol == nullptr) {
      if (!config_.allow_plaintext) {
        Error("profile",
              "production profile: security.protocol is not set and librdkafka's default is "
              "plaintext; set \"security.protocol\" = \"sasl_ssl\" (or \"ssl\") in [kafka], or "
              "allow_plaintext = true if the network is trusted");
      }
    } else {
      const std::string p = Lower(*protocol);
      if ((p == "plaintext" || p == "sasl_plaintext") && !config_.allow_plaintext) {
        Error(origin_of("security.protocol"),
              "production profile refuses security.protocol=" + p +
                  " (traffic and credentials unencrypted); use sasl_ssl or ssl, or set "
                  "allow_plaintext = true if the network is trusted");
      }
    }
    if (const std::string* verify = FindProp(props, "enable.ssl.certificate.verification")) {
      if (ParseBool(*verify) == false) {
        Error(origin_of("enable.ssl.certificate.verification"),
              "production profile refuses enable.ssl.certificate.verification=false; trust the "
              "broker's CA with ssl.ca.location instead");
      }
    }
    if (const std::string* algo = FindProp(props, "ssl.endpoint.identification.algorithm")) {
      if (Lower(*algo) == "none") {
        Error(origin_of("ssl.endpoint.identification.algorithm"),
              "production profile refuses ssl.endpoint.identification.algorithm=none (broker "
              "host names must be verified)");
      }
    }
  }

  // The HTTP server on metrics_addr also hosts the admin endpoints (POST /admin/lift,
  // /admin/erase). Without a token they answer 403 and admin-topic commands are refused, so
  // nothing is open; but a production listener beyond loopback without a token is a forgotten
  // token file, not a choice: refuse it unless the operator says the network is trusted.
  void CheckProductionAdmin() {
    if (!config_.admin.token.empty() || config_.allow_plaintext) return;
    if (IsLoopbackListen(config_.metrics_addr)) return;
    Error("metrics_addr",
          "production profile: metrics_addr " + Quote(config_.metrics_addr) +
              " listens beyond loopback and serves the admin endpoints (/admin/lift, "
              "/admin/erase), but no admin token is set; set token.file = PATH in [admin] (or "
              "BOUNCESTREAM_ADMIN_TOKEN_FILE), listen on 127.0.0.1, or set allow_plaintext = "
              "true if the network is trusted");
  }

  const Config& config_;
  OriginFn origin_;
  std::vector<std::string>& errors_;
};

// ---------------------------------------------------------------------------------------------
// The loader: applies file, environment and flags in that order onto the defaults.

enum class Layer { kFile, kEnv, kArgv };

struct KafkaEntry {
  std::string key;
  std::string value;
  std::string secret_path;  // non-empty: the value is read from this file at the end
  std::string origin;
};

class Loader {
 public:
  void LoadFile(const std::string& path);
  void LoadEnv(const std::vector<std::pair<std::string, std::string>>& env);
  void LoadFlags(const ConfigSources& sources);
  std::expected<Config, std::string> Finish();

 private:
  void Error(const std::string& where, const std::string& message) {
    errors_.push_back(where.empty() ? message : where + ": " + message);
  }
  void BeginLayer(Layer layer) {
    layer_ = layer;
    for (auto& keys : layer_keys_) keys.clear();
    for (auto& secret : secrets_) secret.in_layer = false;
  }
  void SetOrigin(std::string_view field, std::string origin) {
    origin_[std::string(field)] = std::move(origin);
  }
  void AddKafka(Section section, const std::string& key, std::string value,
                const std::string& origin);
  void AddInputs(std::vector<InputSpec> inputs, std::string origin) {
    config_.inputs = std::move(inputs);
    SetOrigin("inputs", std::move(origin));
  }

  // File layer.
  void FileTopLevel(const toml::table& doc, const std::string& path);
  void FileInputs(const toml::node& node, const std::string& where, const std::string& path);
  void FileTopics(const toml::node& node, const std::string& where, const std::string& path);
  void FileKafka(const toml::table& table, Section section, const std::string& prefix, bool top,
                 const std::string& path);

  void FileState(const toml::node& node, const std::string& where, const std::string& path);
  void FilePolicy(const toml::node& node, const std::string& where, const std::string& path);
  std::optional<std::size_t> FilePolicyKey(const std::string& section, const std::string& prefix,
                                           const std::string& k, const toml::node& value,
                                           const std::string& where, PolicyConfig& target);
  void FileAdmin(const toml::node& node, const std::string& where, const std::string& path);
  void FileMetrics(const toml::node& node, const std::string& where, const std::string& path);
  // `k` is the secret's key, a `<key>` table ({file = PATH}) or "<key>.file".
  void FileSecret(std::size_t index, const std::string& k, const toml::node& value,
                  const std::string& where, const std::string& path);
  void SetSecret(std::size_t index, std::string text, bool is_path, const std::string& origin);

  // Environment layer.
  void EnvVar(const std::string& name, const std::string& value);
  bool EnvSections(const std::string& name, const std::string& value, const std::string& where);

  // A secret of [state] / [admin]: the last layer that gives it wins; a file is read at the end.
  struct SecretEntry {
    std::string value;
    std::string path;  // non-empty: read the value from this file in Finish
    std::string origin;
    bool set = false;
    bool in_layer = false;  // given in the current layer (value and .file together are refused)
  };
  // [policy.tenant."<id>"]: the keys the tenant sets; the rest come from the final defaults.
  struct TenantOverride {
    PolicyConfig values;
    std::array<bool, kPolicyFields.size()> set{};
  };

  Config config_;
  std::array<SecretEntry, kSecretFields.size()> secrets_;
  std::map<std::string, TenantOverride, std::less<>> tenants_;
  std::map<std::string, std::string, std::less<>> origin_;  // field -> where its value came from
  std::array<std::vector<KafkaEntry>, 3> kafka_;
  std::array<std::set<std::string, std::less<>>, 3> layer_keys_;
  Layer layer_ = Layer::kFile;
  std::vector<std::string> errors_;
};

std::string Where(const std::string& path, const toml::key& key, const toml::node& node) {
  std::uint32_t line = key.source().begin.line;
  if (line == 0) line = node.source().begin.line;
  return line == 0 ? path : path + ":" + std::to_string(line);
}

std::string Where(const std::string& path, const toml::node& node) {
  const std::uint32_t line = node.source().begin.line;
  return line == 0 ? path : path + ":" + std::to_string(line);
}

void Loader::AddKafka(Section section, const std::string& key, std::string value,
                      const std::string& origin) {
  const std::string_view where_in = kSectionNames[static_cast<int>(section)];
  if (!ValidKafkaKey(key)) {
    Error(origin, Quote(key) +
                      " is not a librdkafka property name (lower-case letters, digits, '.' and "
                      "'_', e.g. security.protocol)");
    return;
  }
  std::string base = key;
  std::string secret_path;
  if (key.ends_with(".file") &&
      std::find(kNativeFileKeys.begin(), kNativeFileKeys.end(), key) == kNativeFileKeys.end()) {
    base = key.substr(0, key.size() - 5);
    secret_path = std::move(value);
    value.clear();
    if (!ValidKafkaKey(base)) {
      Error(origin, Quote(key) + ": `<property>.file` needs a property name before .file");
      return;
    }
    if (secret_path.empty()) {
      Error(origin, Quote(key) + ": the file path is empty");
      return;
    }
  }
  if (const AppOwnedKey* owned = FindAppOwned(base)) {
    Error(origin,
          "librdkafka property " + Quote(base) + " in " + std::string(where_in) +
              " is set by bouncestream and cannot be passed through: " + std::string(owned->why));
    return;
  }
  if (layer_ == Layer::kArgv && secret_path.empty() && IsArgvSecret(base)) {
    Error(origin, "secret " + Quote(base) +
                      " must not be given on the command line (argv is visible in ps and "
                      "/proc/PID/cmdline); set it in the config file (or \"" +
                      base + ".file\" = PATH), or in the environment as " +
                      KafkaEnvName(base, section) + " (or " + KafkaEnvName(base, section) +
                      "_FILE)");
    return;
  }
  auto& keys = layer_keys_[static_cast<int>(section)];
  if (!keys.insert(base).second) {
    Error(origin, "librdkafka property " + Quote(base) + " in " + std::string(where_in) +
                      " is given more than once (as " + Quote(base) + " and " +
                      Quote(base + ".file") + ", or twice)");
    return;
  }
  auto& entries = kafka_[static_cast<int>(section)];
  auto it = std::find_if(entries.begin(), entries.end(),
                         [&](const KafkaEntry& e) { return e.key == base; });
  KafkaEntry entry{base, std::move(value), std::move(secret_path), origin};
  if (it == entries.end()) {
    entries.push_back(std::move(entry));
  } else {
    *it = std::move(entry);
  }
}

void Loader::LoadFile(const std::string& path) {
  BeginLayer(Layer::kFile);
  config_.config_file = path;
  auto text = ReadConfigFile(path);
  if (!text) {
    Error(path, text.error());
    return;
  }
  if (const std::size_t bad = NonAsciiOutsideStrings(*text)) {
    Error(path + ":" + std::to_string(bad),
          "TOML syntax: a non-ASCII character outside a string or comment");
    return;
  }
  toml::parse_result parsed = toml::parse(*text, path);
  if (!parsed) {
    const auto& err = parsed.error();
    const std::uint32_t line = err.source().begin.line;
    Error(line == 0 ? path : path + ":" + std::to_string(line),
          "TOML syntax: " + std::string(err.description()));
    return;
  }
  FileTopLevel(parsed.table(), path);
}

void Loader::FileTopLevel(const toml::table& doc, const std::string& path) {
  for (auto&& [key, node] : doc) {
    const std::string k(key.str());
    const std::string where = Where(path, key, node);
    bool handled = false;
    for (const auto& f : kStringFields) {
      if (k != f.key) continue;
      handled = true;
      if (const auto* s = node.as_string()) {
        config_.*f.member = s->get();
        SetOrigin(f.key, where);
      } else if (const auto* arr = node.as_array(); arr != nullptr && k == "bootstrap") {
        std::string joined;
        bool ok = !arr->empty();
        for (const auto& el : *arr) {
          if (const auto* es = el.as_string()) {
            if (!joined.empty()) joined += ',';
            joined += es->get();
          } else {
            ok = false;
          }
        }
        if (!ok) {
          Error(where,
                "'bootstrap' must be a string \"HOST:PORT,...\" or a non-empty array of "
                "\"HOST:PORT\" strings");
        } else {
          config_.bootstrap = std::move(joined);
          SetOrigin("bootstrap", where);
        }
      } else {
        Error(where, Quote(k) + " must be a string");
      }
    }
    for (const auto& f : kIntFields) {
      if (k != f.key) continue;
      handled = true;
      if (const auto* i = node.as_integer()) {
        const std::int64_t v = i->get();
        if (v < std::numeric_limits<int>::min() || v > std::numeric_limits<int>::max()) {
          Error(where, Quote(k) + " = " + std::to_string(v) + " is out of range (" +
                           std::to_string(f.min) + ".." + std::to_string(f.max) + ")");
        } else {
          config_.*f.member = static_cast<int>(v);
          SetOrigin(f.key, where);
        }
      } else {
        Error(where, Quote(k) + " must be an integer");
      }
    }
    if (handled) continue;
    if (k == "profile") {
      const auto* s = node.as_string();
      const auto profile = s != nullptr ? ParseProfile(s->get()) : std::nullopt;
      if (!profile) {
        Error(where, "'profile' must be \"dev\" or \"production\"");
      } else {
        config_.profile = *profile;
        SetOrigin("profile", where);
      }
    } else if (k == "allow_plaintext") {
      if (const auto* b = node.as_boolean()) {
        config_.allow_plaintext = b->get();
        SetOrigin("allow_plaintext", where);
      } else {
        Error(where, "'allow_plaintext' must be true or false");
      }
    } else if (k == "input") {
      FileInputs(node, where, path);
    } else if (k == "topics") {
      FileTopics(node, where, path);
    } else if (k == "state") {
      FileState(node, where, path);
    } else if (k == "policy") {
      FilePolicy(node, where, path);
    } else if (k == "admin") {
      FileAdmin(node, where, path);
    } else if (k == "metrics") {
      FileMetrics(node, where, path);
    } else if (k == "kafka") {
      if (const auto* t = node.as_table()) {
        FileKafka(*t, Section::kCommon, "", true, path);
      } else {
        Error(where, "'kafka' must be a table: [kafka]");
      }
    } else {
      Error(where, "unknown key " + Quote(k) + " at the top level" + Suggest(k, TopLevelKeys()) +
                       "; known keys: " + JoinNames(TopLevelKeys()));
    }
  }
}

void Loader::FileInputs(const toml::node& node, const std::string& where, const std::string& path) {
  const auto* arr = node.as_array();
  if (arr == nullptr || !arr->is_array_of_tables()) {
    Error(where,
          "'input' must be an array of tables: one [[input]] section per topic, with "
          "topic = \"...\" and optionally format = \"...\"");
    return;
  }
  std::vector<InputSpec> inputs;
  bool ok = true;
  for (const auto& el : *arr) {
    const toml::table& t = *el.as_table();
    const std::string at = Where(path, el);
    InputSpec spec;
    bool has_topic = false;
    for (auto&& [key, value] : t) {
      const std::string k(key.str());
      const std::string kw = Where(path, key, value);
      if (k == "topic") {
        if (const auto* s = value.as_string()) {
          spec.topic = s->get();
          has_topic = true;
          if (!ValidTopicName(spec.topic)) {
            Error(kw, "[[input]] topic " + Quote(spec.topic) +
                          " is not a valid topic name (1..249 letters, digits, '.', '_', '-')");
            ok = false;
          }
        } else {
          Error(kw, "[[input]] 'topic' must be a string");
          ok = false;
        }
      } else if (k == "format") {
        const auto* s = value.as_string();
        const auto format = s != nullptr ? ParseInputFormat(s->get()) : std::nullopt;
        if (!format) {
          Error(kw, "[[input]] format " + (s != nullptr ? Quote(s->get()) : std::string()) +
                        " is unknown; one of: " + FormatNames());
          ok = false;
        } else {
          spec.format = *format;
        }
      } else {
        Error(kw, "unknown key " + Quote(k) + " in [[input]]" + Suggest(k, {"topic", "format"}) +
                      "; known keys: topic, format");
        ok = false;
      }
    }
    if (!has_topic) {
      Error(at, "[[input]] needs topic = \"...\"");
      ok = false;
    }
    inputs.push_back(std::move(spec));
  }
  if (ok) AddInputs(std::move(inputs), where);
}

void Loader::FileTopics(const toml::node& node, const std::string& where, const std::string& path) {
  const auto* t = node.as_table();
  if (t == nullptr) {
    Error(where, "'topics' must be a table: [topics]");
    return;
  }
  for (auto&& [key, value] : *t) {
    const std::string k(key.str());
    const std::string kw = Where(path, key, value);
    const auto f = std::find_if(kTopicFields.begin(), kTopicFields.end(),
                                [&](const TopicField& tf) { return tf.key == k; });
    if (f == kTopicFields.end()) {
      Error(kw, "unknown key " + Quote(k) + " in [topics]" + Suggest(k, TopicKeys()) +
                    "; known keys: " + JoinNames(TopicKeys()));
    } else if (const auto* s = value.as_string()) {
      config_.topics.*f->member = s->get();
      SetOrigin("topics." + k, kw);
    } else {
      Error(kw, "[topics] " + Quote(k) + " must be a string");
    }
  }
}

// " must be ..." after a key's name, ": <problem>" otherwise.
std::string Phrase(const std::string& problem) {
  return problem.starts_with("must ") ? " " + problem : ": " + problem;
}

std::vector<std::string_view> StateKeys() {
  std::vector<std::string_view> keys;
  for (const auto& f : kStateBoolFields) keys.push_back(f.key);
  keys.push_back("hmac_key");
  keys.push_back("hmac_key.file");
  for (const auto& f : kStateNumFields) keys.push_back(f.key);
  return keys;
}

std::vector<std::string_view> PolicyKeys(bool with_tenant) {
  std::vector<std::string_view> keys;
  for (const auto& f : kPolicyFields) keys.push_back(f.key);
  if (with_tenant) keys.push_back("tenant");
  return keys;
}

void Loader::SetSecret(std::size_t index, std::string text, bool is_path,
                       const std::string& origin) {
  const SecretField& f = kSecretFields[index];
  const std::string field = std::string(f.section) + "." + std::string(f.key);
  SecretEntry& e = secrets_[index];
  if (e.in_layer) {
    Error(origin, field + " is given twice (" + std::string(f.key) + " and " + std::string(f.key) +
                      ".file in [" + std::string(f.section) + "], or " + std::string(f.env) +
                      " and " + std::string(f.env) + "_FILE); give it once");
    return;
  }
  if (is_path && text.empty()) {
    Error(origin, field + ": the file path is empty");
    return;
  }
  e.value = is_path ? std::string() : std::move(text);
  e.path = is_path ? std::move(text) : std::string();
  e.origin = origin;
  e.set = true;
  e.in_layer = true;
}

void Loader::FileSecret(std::size_t index, const std::string& k, const toml::node& value,
                        const std::string& where, const std::string& path) {
  const SecretField& f = kSecretFields[index];
  const std::string section = "[" + std::string(f.section) + "]";
  const std::string key(f.key);
  if (k == key + ".file") {
    if (const auto* s = value.as_string()) {
      SetSecret(index, s->get(), true, where);
    } else {
      Error(where, section + " " + Quote(k) + " must be a string (the path of the file)");
    }
    return;
  }
  if (const auto* s = value.as_string()) {
    SetSecret(index, s->get(), false, where);
    return;
  }
  // `hmac_key.file = PATH` unquoted is the table {file = PATH}.
  if (const auto* t = value.as_table()) {
    for (auto&& [sub, node] : *t) {
      const std::string name = key + "." + std::string(sub.str());
      const std::string at = Where(path, sub, node);
      if (sub.str() != "file") {
        Error(at, "unknown key " + Quote(name) + " in " + section + Suggest(name, {key + ".file"}) +
                      "; write " + key + ".file = PATH or " + key + " = \"...\"");
      } else if (const auto* s = node.as_string()) {
        SetSecret(index, s->get(), true, at);
      } else {
        Error(at, section + " " + Quote(name) + " must be a string (the path of the file)");
      }
    }
    return;
  }
  Error(where, section + " " + Quote(k) + " must be a string, or " + key + ".file = PATH");
}

void Loader::FileState(const toml::node& node, const std::string& where, const std::string& path) {
  const auto* t = node.as_table();
  if (t == nullptr) {
    Error(where, "'state' must be a table: [state]");
    return;
  }
  for (auto&& [key, value] : *t) {
    const std::string k(key.str());
    const std::string kw = Where(path, key, value);
    const auto b = std::find_if(kStateBoolFields.begin(), kStateBoolFields.end(),
                                [&](const StateBoolField& f) { return f.key == k; });
    if (b != kStateBoolFields.end()) {
      if (const auto* v = value.as_boolean()) {
        config_.state.*b->member = v->get();
        SetOrigin("state." + k, kw);
      } else {
        Error(kw, "[state] " + Quote(k) + " must be true or false");
      }
      continue;
    }
    const auto n = std::find_if(kStateNumFields.begin(), kStateNumFields.end(),
                                [&](const StateField& f) { return f.key == k; });
    if (n != kStateNumFields.end()) {
      if (auto v = KindFromNode(n->kind, value)) {
        n->Set(config_.state, *v);
        SetOrigin("state." + k, kw);
      } else {
        Error(kw, "[state] " + Quote(k) + Phrase(v.error()));
      }
      continue;
    }
    const std::string secret(kSecretFields[kHmacKeySecret].key);
    if (k == secret || k == secret + ".file") {
      FileSecret(kHmacKeySecret, k, value, kw, path);
    } else if (k == "dir" || k == "state_dir" || k == "path") {
      Error(kw, "unknown key " + Quote(k) +
                    " in [state]: the state directory is the top-level key state_dir (before any "
                    "[section])");
    } else {
      Error(kw, "unknown key " + Quote(k) + " in [state]" + Suggest(k, StateKeys()) +
                    "; known keys: " + JoinNames(StateKeys()));
    }
  }
}

std::optional<std::size_t> Loader::FilePolicyKey(const std::string& section,
                                                 const std::string& prefix, const std::string& k,
                                                 const toml::node& value, const std::string& where,
                                                 PolicyConfig& target) {
  const auto f = std::find_if(kPolicyFields.begin(), kPolicyFields.end(),
                              [&](const PolicyField& pf) { return pf.key == k; });
  if (f == kPolicyFields.end()) {
    const bool top = section == "[policy]";
    Error(where, "unknown key " + Quote(k) + " in " + section + Suggest(k, PolicyKeys(top)) +
                     "; known keys: " + JoinNames(PolicyKeys(top)));
    return std::nullopt;
  }
  auto v = KindFromNode(f->kind, value);
  if (!v) {
    Error(where, section + " " + Quote(k) + Phrase(v.error()));
    return std::nullopt;
  }
  if (f->kind == Kind::kCount &&
      (*v < std::numeric_limits<int>::min() || *v > std::numeric_limits<int>::max())) {
    Error(where, prefix + "." + k + " = " + std::to_string(*v) + " is out of range (" +
                     std::to_string(f->min) + ".." + std::to_string(f->max) + ")");
    return std::nullopt;
  }
  f->Set(target, *v);
  SetOrigin(prefix + "." + k, where);
  return static_cast<std::size_t>(f - kPolicyFields.begin());
}

void Loader::FilePolicy(const toml::node& node, const std::string& where, const std::string& path) {
  const auto* t = node.as_table();
  if (t == nullptr) {
    Error(where, "'policy' must be a table: [policy]");
    return;
  }
  for (auto&& [key, value] : *t) {
    const std::string k(key.str());
    const std::string kw = Where(path, key, value);
    if (k != "tenant") {
      FilePolicyKey("[policy]", "policy", k, value, kw, config_.policy.defaults);
      continue;
    }
    const auto* tenants = value.as_table();
    if (tenants == nullptr) {
      Error(kw, "[policy] 'tenant' must be a table of tenants: [policy.tenant.\"<tenant id>\"]");
      continue;
    }
    for (auto&& [tkey, tvalue] : *tenants) {
      const std::string id(tkey.str());
      const std::string tw = Where(path, tkey, tvalue);
      const std::string prefix = "policy.tenant." + TomlString(id);
      const std::string section = "[" + prefix + "]";
      const auto* overrides = tvalue.as_table();
      if (overrides == nullptr) {
        Error(tw, "[policy.tenant] " + TomlString(id) + " must be a table: " + section +
                      " with the [policy] keys that differ for this tenant");
        continue;
      }
      TenantOverride& tenant = tenants_[id];
      SetOrigin(prefix, tw);
      for (auto&& [pkey, pvalue] : *overrides) {
        if (auto i = FilePolicyKey(section, prefix, std::string(pkey.str()), pvalue,
                                   Where(path, pkey, pvalue), tenant.values)) {
          tenant.set[*i] = true;
        }
      }
    }
  }
}

void Loader::FileAdmin(const toml::node& node, const std::string& where, const std::string& path) {
  const auto* t = node.as_table();
  if (t == nullptr) {
    Error(where, "'admin' must be a table: [admin]");
    return;
  }
  const std::string secret(kSecretFields[kAdminTokenSecret].key);
  const std::vector<std::string_view> keys = {"token", "token.file"};
  for (auto&& [key, value] : *t) {
    const std::string k(key.str());
    const std::string kw = Where(path, key, value);
    if (k == secret || k == secret + ".file") {
      FileSecret(kAdminTokenSecret, k, value, kw, path);
    } else {
      Error(kw, "unknown key " + Quote(k) + " in [admin]" + Suggest(k, keys) +
                    "; known keys: " + JoinNames(keys));
    }
  }
}

void Loader::FileMetrics(const toml::node& node, const std::string& where,
                         const std::string& path) {
  const auto* t = node.as_table();
  if (t == nullptr) {
    Error(where, "'metrics' must be a table: [metrics]");
    return;
  }
  const std::vector<std::string_view> keys = {"tenant_allow_list", "providers"};
  for (auto&& [key, value] : *t) {
    const std::string k(key.str());
    const std::string kw = Where(path, key, value);
    if (k == "tenant_allow_list") {
      const auto* arr = value.as_array();
      if (arr == nullptr) {
        Error(kw, "[metrics] 'tenant_allow_list' must be an array of tenant ids: [\"a\", \"b\"]");
        continue;
      }
      std::vector<std::string> tenants;
      bool ok = true;
      for (const auto& el : *arr) {
        if (const auto* s = el.as_string()) {
          tenants.push_back(s->get());
        } else {
          Error(Where(path, el), "[metrics] 'tenant_allow_list' entries must be strings");
          ok = false;
        }
      }
      if (ok) {
        config_.metrics.tenant_allow_list = std::move(tenants);
        SetOrigin("metrics.tenant_allow_list", kw);
      }
    } else if (k == "providers") {
      const auto* table = value.as_table();
      if (table == nullptr) {
        Error(kw,
              "[metrics] 'providers' must be a table: [metrics.providers] with provider = "
              "[\"domain\", ...]");
        continue;
      }
      std::vector<std::pair<std::string, std::vector<std::string>>> providers;
      bool ok = true;
      for (auto&& [pkey, pvalue] : *table) {
        const std::string name(pkey.str());
        const std::string pw = Where(path, pkey, pvalue);
        const auto* arr = pvalue.as_array();
        if (arr == nullptr) {
          Error(pw, "[metrics.providers] " + Quote(name) +
                        " must be an array of recipient domain suffixes: [\"gmail.com\", ...]");
          ok = false;
          continue;
        }
        std::vector<std::string> domains;
        for (const auto& el : *arr) {
          if (const auto* s = el.as_string()) {
            domains.push_back(Lower(Trim(s->get())));
          } else {
            Error(Where(path, el),
                  "[metrics.providers] " + Quote(name) + " entries must be strings");
            ok = false;
          }
        }
        providers.emplace_back(name, std::move(domains));
        SetOrigin("metrics.providers." + name, pw);
      }
      if (ok) {
        config_.metrics.providers = std::move(providers);
        SetOrigin("metrics.providers", kw);
      }
    } else if (k == "addr" || k == "metrics_addr" || k == "listen") {
      Error(kw, "unknown key " + Quote(k) +
                    " in [metrics]: the listen address is the top-level key metrics_addr (before "
                    "any [section])");
    } else {
      Error(kw, "unknown key " + Quote(k) + " in [metrics]" + Suggest(k, keys) +
                    "; known keys: " + JoinNames(keys));
    }
  }
}

void Loader::FileKafka(const toml::table& table, Section section, const std::string& prefix,
                       bool top, const std::string& path) {
  for (auto&& [key, node] : table) {
    const std::string k(key.str());
    const std::string where = Where(path, key, node);
    const std::string name = prefix.empty() ? k : prefix + "." + k;
    if (top && prefix.empty() && (k == "consumer" || k == "producer")) {
      if (const auto* t = node.as_table()) {
        FileKafka(*t, k == "consumer" ? Section::kConsumer : Section::kProducer, "", false, path);
      } else {
        Error(where, "[kafka] " + Quote(k) + " must be a table: [kafka." + k + "]");
      }
      continue;
    }
    // Unquoted dotted keys (security.protocol = "...") arrive as nested tables.
    if (const auto* t = node.as_table()) {
      FileKafka(*t, section, name, false, path);
      continue;
    }
    std::string value;
    if (const auto* s = node.as_string()) {
      value = s->get();
    } else if (const auto* i = node.as_integer()) {
      value = std::to_string(i->get());
    } else if (const auto* b = node.as_boolean()) {
      value = b->get() ? "true" : "false";
    } else {
      Error(where, "librdkafka property " + Quote(name) + " in " +
                       std::string(kSectionNames[static_cast<int>(section)]) +
                       " must be a string, an integer or a boolean (lists are comma-separated "
                       "strings)");
      continue;
    }
    AddKafka(section, name, std::move(value), where);
  }
}

void Loader::LoadEnv(const std::vector<std::pair<std::string, std::string>>& env) {
  BeginLayer(Layer::kEnv);
  for (const auto& [name, value] : env) {
    if (name.starts_with(kEnvPrefix)) EnvVar(name, value);
  }
}

void Loader::EnvVar(const std::string& name, const std::string& value) {
  const std::string where = "environment variable " + name;
  const bool empty = value.empty();  // an empty variable counts as not set
  for (const auto& f : kStringFields) {
    if (name != f.env) continue;
    if (!empty) {
      config_.*f.member = value;
      SetOrigin(f.key, where);
    }
    return;
  }
  for (const auto& f : kIntFields) {
    if (name != f.env) continue;
    if (empty) return;
    if (auto v = ParseInt(value)) {
      config_.*f.member = *v;
      SetOrigin(f.key, where);
    } else {
      Error(where, "expected an integer, got " + Quote(value));
    }
    return;
  }
  if (name == "BOUNCESTREAM_PROFILE") {
    if (empty) return;
    if (auto p = ParseProfile(Trim(value))) {
      config_.profile = *p;
      SetOrigin("profile", where);
    } else {
      Error(where, "expected dev or production, got " + Quote(value));
    }
    return;
  }
  if (name == "BOUNCESTREAM_ALLOW_PLAINTEXT") {
    if (empty) return;
    if (auto b = ParseBool(value)) {
      config_.allow_plaintext = *b;
      SetOrigin("allow_plaintext", where);
    } else {
      Error(where, "expected true or false, got " + Quote(value));
    }
    return;
  }
  if (name == "BOUNCESTREAM_INPUTS") {
    if (empty) return;
    std::vector<InputSpec> inputs;
    bool ok = true;
    std::string_view rest = value;
    while (true) {
      const auto comma = rest.find(',');
      const std::string_view item = Trim(rest.substr(0, comma));
      if (item.empty()) {
        Error(where, "empty entry in the list (expected TOPIC[:FORMAT],...)");
        ok = false;
      } else if (auto spec = ParseInputSpec(item)) {
        inputs.push_back(std::move(*spec));
      } else {
        Error(where, spec.error());
        ok = false;
      }
      if (comma == std::string_view::npos) break;
      rest.remove_prefix(comma + 1);
    }
    if (ok) AddInputs(std::move(inputs), where);
    return;
  }
  if (name == kEnvConfig) return;  // the file path; LoadConfig reads it
  if (name.starts_with(kEnvTopics)) {
    const std::string key = Lower(std::string_view(name).substr(kEnvTopics.size()));
    const auto f = std::find_if(kTopicFields.begin(), kTopicFields.end(),
                                [&](const TopicField& tf) { return tf.key == key; });
    if (f == kTopicFields.end()) {
      std::vector<std::string_view> names;
      std::vector<std::string> owned;
      for (const auto& tf : kTopicFields) owned.push_back(std::string(kEnvTopics) + Upper(tf.key));
      for (const auto& o : owned) names.push_back(o);
      Error(where, "unknown variable" + Suggest(name, names) + "; known: " + JoinNames(names));
    } else if (!empty) {
      config_.topics.*f->member = value;
      SetOrigin("topics." + key, where);
    }
    return;
  }
  if (name.starts_with(kEnvKafka)) {
    Section section = Section::kCommon;
    std::string_view suffix = std::string_view(name).substr(kEnvKafka.size());
    if (name.starts_with(kEnvKafkaConsumer)) {
      section = Section::kConsumer;
      suffix = std::string_view(name).substr(kEnvKafkaConsumer.size());
    } else if (name.starts_with(kEnvKafkaProducer)) {
      section = Section::kProducer;
      suffix = std::string_view(name).substr(kEnvKafkaProducer.size());
    }
    if (suffix.empty()) {
      Error(where, "names no librdkafka property (e.g. BOUNCESTREAM_KAFKA_SECURITY_PROTOCOL)");
      return;
    }
    if (!empty) AddKafka(section, KafkaKeyFromEnv(suffix), value, where);
    return;
  }
  if (EnvSections(name, value, where)) return;
  for (std::string_view prefix : kToolEnvPrefixes) {
    if (name.starts_with(prefix)) return;
  }
  // The names of the sections' variables, all built before any view is taken of them.
  std::vector<std::string> owned;
  for (const auto& f : kStateBoolFields) owned.push_back(std::string(kEnvState) + Upper(f.key));
  for (const auto& f : kSecretFields) {
    owned.emplace_back(f.env);
    owned.push_back(std::string(f.env) + "_FILE");
  }
  for (const auto& f : kStateNumFields) owned.push_back(std::string(kEnvState) + Upper(f.key));
  for (const auto& f : kPolicyFields) owned.push_back(std::string(kEnvPolicy) + Upper(f.key));
  std::vector<std::string_view> known;
  for (const auto& f : kStringFields) known.push_back(f.env);
  for (const auto& f : kIntFields) known.push_back(f.env);
  for (std::string_view n : {"BOUNCESTREAM_PROFILE", "BOUNCESTREAM_ALLOW_PLAINTEXT",
                             "BOUNCESTREAM_INPUTS", "BOUNCESTREAM_CONFIG"}) {
    known.push_back(n);
  }
  for (const std::string& n : owned) known.push_back(n);
  known.push_back(kEnvMetricsTenants);
  std::vector<std::string_view> all = known;
  for (std::string_view n :
       {"BOUNCESTREAM_TOPICS_<NAME>", "BOUNCESTREAM_KAFKA_<PROPERTY>",
        "BOUNCESTREAM_KAFKA_CONSUMER_<PROPERTY>", "BOUNCESTREAM_KAFKA_PRODUCER_<PROPERTY>"}) {
    all.push_back(n);
  }
  Error(where, "unknown variable" + Suggest(name, known) + "; known: " + JoinNames(all));
}

// The variables of [state], [policy], [admin] and [metrics]; false = not one of them.
bool Loader::EnvSections(const std::string& name, const std::string& value,
                         const std::string& where) {
  const bool empty = value.empty();
  for (std::size_t i = 0; i < kSecretFields.size(); ++i) {
    const std::string env(kSecretFields[i].env);
    if (name == env || name == env + "_FILE") {
      if (!empty) SetSecret(i, value, name != env, where);
      return true;
    }
  }
  if (name.starts_with(kEnvState)) {
    const std::string key = Lower(std::string_view(name).substr(kEnvState.size()));
    for (const auto& f : kStateBoolFields) {
      if (key != f.key) continue;
      if (empty) return true;
      if (auto b = ParseBool(value)) {
        config_.state.*f.member = *b;
        SetOrigin("state." + key, where);
      } else {
        Error(where, "expected true or false, got " + Quote(value));
      }
      return true;
    }
    for (const auto& f : kStateNumFields) {
      if (key != f.key) continue;
      if (empty) return true;
      if (auto v = KindFromText(f.kind, value)) {
        f.Set(config_.state, *v);
        SetOrigin("state." + key, where);
      } else {
        Error(where, v.error());
      }
      return true;
    }
    return false;
  }
  if (name.starts_with(kEnvPolicy)) {
    const std::string key = Lower(std::string_view(name).substr(kEnvPolicy.size()));
    for (const auto& f : kPolicyFields) {
      if (key != f.key) continue;
      if (empty) return true;
      auto v = KindFromText(f.kind, value);
      if (!v) {
        Error(where, v.error());
      } else if (f.kind == Kind::kCount &&
                 (*v < std::numeric_limits<int>::min() || *v > std::numeric_limits<int>::max())) {
        Error(where, "policy." + key + " = " + std::to_string(*v) + " is out of range (" +
                         std::to_string(f.min) + ".." + std::to_string(f.max) + ")");
      } else {
        f.Set(config_.policy.defaults, *v);  // tenants inherit it unless they set the key
        SetOrigin("policy." + key, where);
      }
      return true;
    }
    return false;
  }
  if (name == kEnvMetricsTenants) {
    if (empty) return true;
    std::vector<std::string> tenants;
    bool ok = true;
    std::string_view rest = value;
    while (true) {
      const auto comma = rest.find(',');
      const std::string_view item = Trim(rest.substr(0, comma));
      if (item.empty()) {
        Error(where, "empty entry in the list (expected TENANT,TENANT,...)");
        ok = false;
      } else {
        tenants.emplace_back(item);
      }
      if (comma == std::string_view::npos) break;
      rest.remove_prefix(comma + 1);
    }
    if (ok) {
      config_.metrics.tenant_allow_list = std::move(tenants);
      SetOrigin("metrics.tenant_allow_list", where);
    }
    return true;
  }
  return false;
}

void Loader::LoadFlags(const ConfigSources& sources) {
  BeginLayer(Layer::kArgv);
  const std::array<const std::optional<std::string>*, 6> values = {
      &sources.bootstrap,    &sources.group,      &sources.state_dir,
      &sources.metrics_addr, &sources.rules_path, &sources.engine};
  for (std::size_t i = 0; i < kStringFields.size(); ++i) {
    if (*values[i]) {
      config_.*kStringFields[i].member = **values[i];
      SetOrigin(kStringFields[i].key, "flag " + std::string(kStringFields[i].flag));
    }
  }
  if (sources.profile) {
    if (auto p = ParseProfile(*sources.profile)) {
      config_.profile = *p;
      SetOrigin("profile", "flag --profile");
    } else {
      Error("flag --profile", "expected dev or production, got " + Quote(*sources.profile));
    }
  }
  if (sources.allow_plaintext) {
    config_.allow_plaintext = *sources.allow_plaintext;
    SetOrigin("allow_plaintext", "flag --allow-plaintext");
  }
  if (!sources.inputs.empty()) {
    std::vector<InputSpec> inputs;
    bool ok = true;
    for (const std::string& text : sources.inputs) {
      if (auto spec = ParseInputSpec(text)) {
        inputs.push_back(std::move(*spec));
      } else {
        Error("flag --input", spec.error());
        ok = false;
      }
    }
    if (ok) AddInputs(std::move(inputs), "flag --input");
  }
  for (const std::string& prop : sources.kafka_props) {
    const auto eq = prop.find('=');
    if (eq == std::string::npos || eq == 0) {
      // Never echo the text: it may be a secret typed without its key.
      Error("flag -X", "expected -X key=value (a librdkafka property)");
      continue;
    }
    const std::string key = std::string(Trim(std::string_view(prop).substr(0, eq)));
    const auto secret =
        std::find_if(kSecretFields.begin(), kSecretFields.end(), [&](const auto& f) {
          const std::string full = std::string(f.section) + "." + std::string(f.key);
          return key == f.key || key == full || key == std::string(f.key) + ".file" ||
                 key == full + ".file";
        });
    if (secret != kSecretFields.end()) {
      // Not a librdkafka property, and a secret: say where it goes instead (never echo it).
      Error("flag -X " + key,
            std::string(secret->section) + "." + std::string(secret->key) +
                " is not a librdkafka property, and secrets are never taken from the command "
                "line; set " +
                std::string(secret->key) + ".file = PATH in [" + std::string(secret->section) +
                "], or " + std::string(secret->env) + " or " + std::string(secret->env) + "_FILE");
      continue;
    }
    AddKafka(Section::kCommon, key, prop.substr(eq + 1), "flag -X " + key);
  }
}

std::expected<Config, std::string> Loader::Finish() {
  std::array<KafkaProperties*, 3> out = {&config_.kafka_common, &config_.kafka_consumer,
                                         &config_.kafka_producer};
  for (int s = 0; s < 3; ++s) {
    out[s]->clear();
    for (KafkaEntry& e : kafka_[s]) {
      const std::string field = std::string(kSectionNames[s]) + e.key;
      origin_[field] = e.origin;
      if (!e.secret_path.empty()) {
        auto secret = ReadSecretFile(e.secret_path);
        if (!secret) {
          Error(e.origin, "cannot read " + Quote(e.key) + " from file " + e.secret_path + ": " +
                              secret.error());
          continue;
        }
        e.value = std::move(*secret);
      }
      out[s]->emplace_back(e.key, std::move(e.value));
    }
  }
  for (std::size_t i = 0; i < kSecretFields.size(); ++i) {
    SecretEntry& e = secrets_[i];
    if (!e.set) continue;
    const SecretField& f = kSecretFields[i];
    const std::string field = std::string(f.section) + "." + std::string(f.key);
    if (!e.path.empty()) {
      auto secret = ReadSecretFile(e.path);
      if (!secret) {
        Error(e.origin,
              "cannot read " + Quote(field) + " from file " + e.path + ": " + secret.error());
        continue;
      }
      e.value = std::move(*secret);
    }
    f.ref(config_) = std::move(e.value);
    origin_[field] = e.origin;
  }
  // Tenants start from the final defaults ([policy], then the environment), whatever the order
  // of the tables in the file.
  config_.policy.tenants.clear();
  for (const auto& [id, tenant] : tenants_) {
    PolicyConfig p = config_.policy.defaults;
    for (std::size_t i = 0; i < kPolicyFields.size(); ++i) {
      if (tenant.set[i]) kPolicyFields[i].Set(p, kPolicyFields[i].Get(tenant.values));
    }
    config_.policy.tenants.emplace(id, p);
  }
  Validator(
      config_,
      [this](std::string_view field) {
        auto it = origin_.find(field);
        return it == origin_.end() ? std::string() : it->second;
      },
      errors_)
      .Run();
  if (!errors_.empty()) {
    std::string message;
    for (const std::string& e : errors_) {
      if (!message.empty()) message += '\n';
      message += e;
    }
    return std::unexpected(std::move(message));
  }
  return std::move(config_);
}

}  // namespace

// -----------------------------------------------------------------------------------------------

std::string_view ToString(Profile profile) {
  return profile == Profile::kProduction ? "production" : "dev";
}

std::optional<Profile> ParseProfile(std::string_view name) {
  if (name == "dev") return Profile::kDev;
  if (name == "production") return Profile::kProduction;
  return std::nullopt;
}

bool IsSecretKey(std::string_view key) {
  const std::string k = Lower(key);
  for (std::string_view word : {"password", "passphrase", "secret", "token", "key", "credential"}) {
    if (k.find(word) != std::string::npos) return true;
  }
  return k == "sasl.oauthbearer.config" || k == "sasl.jaas.config";
}

std::span<const std::string_view> AppOwnedKafkaKeys() {
  static const auto keys = [] {
    std::array<std::string_view, kAppOwned.size()> k{};
    for (std::size_t i = 0; i < kAppOwned.size(); ++i) k[i] = kAppOwned[i].key;
    return k;
  }();
  return keys;
}

std::expected<std::int64_t, std::string> ParseDurationMs(std::string_view text, bool allow_never) {
  const std::string_view t = Trim(text);
  constexpr std::string_view kHelp =
      " (a whole number and a unit: ms, s, m, h or d; e.g. \"500ms\", \"90s\", \"30m\", \"24h\", "
      "\"7d\", \"1h30m\")";
  if (t.empty()) return std::unexpected("the duration is empty" + std::string(kHelp));
  if (t == "never") {
    if (allow_never) return 0;
    return std::unexpected(std::string("'never' is only accepted for hard_suppress_ttl"));
  }
  if (t == "0") return 0;
  if (t.front() == '-') return std::unexpected(Quote(t) + " is negative");
  std::int64_t total = 0;
  std::size_t i = 0;
  while (i < t.size()) {
    std::size_t j = i;
    while (j < t.size() && t[j] >= '0' && t[j] <= '9') ++j;
    if (j == i) return std::unexpected(Quote(t) + " is not a duration" + std::string(kHelp));
    std::int64_t n = 0;
    if (std::from_chars(t.data() + i, t.data() + j, n).ec != std::errc()) {
      return std::unexpected(Quote(t) + " is too large");
    }
    std::size_t k = j;
    while (k < t.size() && ((t[k] >= 'a' && t[k] <= 'z') || (t[k] >= 'A' && t[k] <= 'Z'))) ++k;
    const std::string_view unit = t.substr(j, k - j);
    if (unit.empty()) {
      if (j == t.size()) {
        return std::unexpected(Quote(t) + " has no unit (ms, s, m, h or d; e.g. \"" +
                               std::string(t) + "s\")");
      }
      if (t[j] == '.' || t[j] == ',') {
        return std::unexpected(
            Quote(t) + " is not a whole number; use a smaller unit (\"90m\", not \"1.5h\")");
      }
      return std::unexpected(Quote(t) + " is not a duration" + std::string(kHelp));
    }
    const std::int64_t unit_ms = unit == "ms"  ? 1
                                 : unit == "s" ? 1000
                                 : unit == "m" ? state::kMinuteMs
                                 : unit == "h" ? state::kHourMs
                                 : unit == "d" ? state::kDayMs
                                               : 0;
    if (unit_ms == 0) {
      return std::unexpected(Quote(t) + " has an unknown unit " + Quote(unit) +
                             " (ms, s, m, h or d, in lower case)");
    }
    std::int64_t part = 0;
    if (__builtin_mul_overflow(n, unit_ms, &part) || __builtin_add_overflow(total, part, &total)) {
      return std::unexpected(Quote(t) + " is too large");
    }
    i = k;
  }
  return total;
}

std::string FormatDurationMs(std::int64_t ms) {
  if (ms == 0) return "0s";
  for (const auto& [unit, suffix] :
       {std::pair{state::kDayMs, "d"}, std::pair{state::kHourMs, "h"},
        std::pair{state::kMinuteMs, "m"}, std::pair{std::int64_t{1000}, "s"}}) {
    if (ms % unit == 0) return std::to_string(ms / unit) + suffix;
  }
  return std::to_string(ms) + "ms";
}

std::expected<std::int64_t, std::string> ParseByteSize(std::string_view text) {
  const std::string_view t = Trim(text);
  constexpr std::string_view kHelp =
      " (a number of bytes, or a whole number and a unit: B, KiB, MiB, GiB, TiB; e.g. \"64MiB\")";
  if (t.empty()) return std::unexpected("the size is empty" + std::string(kHelp));
  if (t.front() == '-') return std::unexpected(Quote(t) + " is negative");
  std::size_t j = 0;
  while (j < t.size() && t[j] >= '0' && t[j] <= '9') ++j;
  if (j == 0) return std::unexpected(Quote(t) + " is not a size" + std::string(kHelp));
  std::int64_t n = 0;
  if (std::from_chars(t.data(), t.data() + j, n).ec != std::errc()) {
    return std::unexpected(Quote(t) + " is too large");
  }
  const std::string_view unit = Trim(t.substr(j));
  if (unit.starts_with('.') || unit.starts_with(',')) {
    return std::unexpected(
        Quote(t) + " is not a whole number; use a smaller unit (\"1536MiB\", not \"1.5GiB\")");
  }
  const std::string u = Lower(unit);
  std::int64_t unit_bytes = 0;
  if (u.empty() || u == "b") unit_bytes = 1;
  if (u == "kib") unit_bytes = std::int64_t{1} << 10;
  if (u == "mib") unit_bytes = std::int64_t{1} << 20;
  if (u == "gib") unit_bytes = std::int64_t{1} << 30;
  if (u == "tib") unit_bytes = std::int64_t{1} << 40;
  if (unit_bytes == 0) {
    for (std::string_view decimal : {"k", "kb", "m", "mb", "g", "gb", "t", "tb"}) {
      if (u != decimal) continue;
      return std::unexpected(Quote(t) + ": " + Quote(unit) +
                             " is ambiguous; use a binary unit (KiB, MiB, GiB, TiB), e.g. \"" +
                             std::string(t.substr(0, j)) + Upper(u.substr(0, 1)) + "iB\"");
    }
    return std::unexpected(Quote(t) + " has an unknown unit " + Quote(unit) + std::string(kHelp));
  }
  std::int64_t bytes = 0;
  if (__builtin_mul_overflow(n, unit_bytes, &bytes))
    return std::unexpected(Quote(t) + " is too large");
  return bytes;
}

std::string FormatByteSize(std::int64_t bytes) {
  if (bytes > 0) {
    for (const auto& [shift, suffix] :
         {std::pair{40, "TiB"}, std::pair{30, "GiB"}, std::pair{20, "MiB"}, std::pair{10, "KiB"}}) {
      const std::int64_t unit = std::int64_t{1} << shift;
      if (bytes % unit == 0) return std::to_string(bytes / unit) + suffix;
    }
  }
  return std::to_string(bytes);
}

std::expected<InputSpec, std::string> ParseInputSpec(std::string_view text) {
  InputSpec spec;
  const auto colon = text.find(':');
  spec.topic = std::string(text.substr(0, colon));
  if (!ValidTopicName(spec.topic)) {
    return std::unexpected("input " + Quote(text) + ": " +
                           (spec.topic.empty()
                                ? std::string("the topic name is missing")
                                : "topic " + Quote(spec.topic) + " is not a valid topic name") +
                           " (expected TOPIC[:FORMAT])");
  }
  if (colon != std::string_view::npos) {
    const std::string_view name = text.substr(colon + 1);
    const auto format = ParseInputFormat(name);
    if (!format) {
      return std::unexpected("input " + Quote(text) + ": unknown format " + Quote(name) +
                             "; one of: " + FormatNames());
    }
    spec.format = *format;
  }
  return spec;
}

std::expected<Config, std::string> LoadConfig(const ConfigSources& sources) {
  Loader loader;
  std::string path = sources.file_path;
  if (path.empty()) {
    for (const auto& [name, value] : sources.env) {
      if (name == kEnvConfig && !value.empty()) path = value;
    }
  }
  if (!path.empty()) loader.LoadFile(path);
  loader.LoadEnv(sources.env);
  loader.LoadFlags(sources);
  return loader.Finish();
}

std::expected<void, std::string> ValidateConfig(const Config& config) {
  std::vector<std::string> errors;
  Validator(config, nullptr, errors).Run();
  for (int s = 0; s < 3; ++s) {
    const KafkaProperties& props = s == 0   ? config.kafka_common
                                   : s == 1 ? config.kafka_consumer
                                            : config.kafka_producer;
    for (const auto& [key, value] : props) {
      if (const AppOwnedKey* owned = FindAppOwned(key)) {
        errors.push_back("librdkafka property " + Quote(key) + " in " +
                         std::string(kSectionNames[static_cast<std::size_t>(s)]) +
                         " is set by bouncestream: " + std::string(owned->why));
      }
    }
  }
  if (errors.empty()) return {};
  std::string message;
  for (const std::string& e : errors) {
    if (!message.empty()) message += '\n';
    message += e;
  }
  return std::unexpected(std::move(message));
}

namespace {

// A secret of the sections is printed as a comment: a "***" value would be loaded back as the
// secret (the validator refuses it), and the real value must come from its file or variable again.
void PrintSecret(std::ostringstream& out, std::size_t index, const std::string& value) {
  const SecretField& f = kSecretFields[index];
  if (value.empty()) {
    out << "# " << f.key << ": not set\n";
    return;
  }
  out << "# " << f.key << " = \"***\"  # set; redacted: give it again as " << f.key
      << ".file = PATH, " << f.env << " or " << f.env << "_FILE\n";
}

void PrintSections(std::ostringstream& out, const Config& config) {
  out << "\n[state]\n";
  for (const auto& f : kStateBoolFields) {
    out << f.key << " = " << (config.state.*f.member ? "true" : "false") << "\n";
  }
  PrintSecret(out, kHmacKeySecret, config.state.hmac_key);
  for (const auto& f : kStateNumFields) {
    out << f.key << " = " << KindToml(f.kind, f.Get(config.state)) << "\n";
  }
  const PolicyConfig& defaults = config.policy.defaults;
  out << "\n[policy]\n";
  for (const auto& f : kPolicyFields) {
    out << f.key << " = " << KindToml(f.kind, f.Get(defaults)) << "\n";
  }
  for (const auto& [id, p] : config.policy.tenants) {
    out << "\n[policy.tenant." << TomlString(id) << "]\n";
    bool any = false;
    for (const auto& f : kPolicyFields) {
      if (f.Get(p) == f.Get(defaults)) continue;
      out << f.key << " = " << KindToml(f.kind, f.Get(p)) << "\n";
      any = true;
    }
    if (!any) out << "# every key as in [policy]\n";
  }
  out << "\n[admin]\n";
  PrintSecret(out, kAdminTokenSecret, config.admin.token);
  out << "\n[metrics]\ntenant_allow_list = [";
  for (std::size_t i = 0; i < config.metrics.tenant_allow_list.size(); ++i) {
    out << (i == 0 ? "" : ", ") << TomlString(config.metrics.tenant_allow_list[i]);
  }
  out << "]\n\n[metrics.providers]\n";
  if (config.metrics.providers.empty()) out << "# none: the built-in list\n";
  for (const auto& [name, domains] : config.metrics.providers) {
    out << TomlString(name) << " = [";
    for (std::size_t i = 0; i < domains.size(); ++i) {
      out << (i == 0 ? "" : ", ") << TomlString(domains[i]);
    }
    out << "]\n";
  }
}

}  // namespace

std::string PrintConfig(const Config& config) {
  std::ostringstream out;
  out << "# Effective bouncestream configuration";
  if (!config.config_file.empty()) out << " (file: " << config.config_file << ")";
  out << "; secrets are shown as \"***\".\n";
  out << "bootstrap = " << TomlString(config.bootstrap) << "\n";
  out << "group = " << TomlString(config.group) << "\n";
  out << "profile = " << TomlString(ToString(config.profile)) << "\n";
  out << "allow_plaintext = " << (config.allow_plaintext ? "true" : "false") << "\n";
  out << "state_dir = " << TomlString(config.state_dir) << "\n";
  out << "metrics_addr = " << TomlString(config.metrics_addr) << "\n";
  out << "rules = " << TomlString(config.rules_path)
      << (config.rules_path.empty() ? "  # the shipped rules" : "") << "\n";
  out << "engine = " << TomlString(config.engine) << "\n";
  for (const auto& f : kIntFields) out << f.key << " = " << config.*f.member << "\n";
  for (const InputSpec& input : config.inputs) {
    out << "\n[[input]]\ntopic = " << TomlString(input.topic)
        << "\nformat = " << TomlString(ToString(input.format)) << "\n";
  }
  out << "\n[topics]\n";
  for (const auto& f : kTopicFields) {
    out << f.key << " = " << TomlString(config.topics.*f.member) << "\n";
  }
  PrintSections(out, config);
  const std::array<std::pair<std::string_view, const KafkaProperties*>, 3> sections = {
      std::pair{std::string_view("[kafka]"), &config.kafka_common},
      std::pair{std::string_view("[kafka.consumer]"), &config.kafka_consumer},
      std::pair{std::string_view("[kafka.producer]"), &config.kafka_producer}};
  for (const auto& [header, props] : sections) {
    out << "\n" << header << "\n";
    for (const auto& [key, value] : *props) {
      out << TomlString(key) << " = " << (IsSecretKey(key) ? "\"***\"" : TomlString(value)) << "\n";
    }
  }
  return std::move(out).str();
}

std::vector<std::pair<std::string, std::string>> EnvFromEnviron() {
  std::vector<std::pair<std::string, std::string>> env;
  for (char** e = ::environ; e != nullptr && *e != nullptr; ++e) {
    const std::string_view entry(*e);
    if (!entry.starts_with(kEnvPrefix)) continue;
    const auto eq = entry.find('=');
    if (eq == std::string_view::npos) continue;
    env.emplace_back(std::string(entry.substr(0, eq)), std::string(entry.substr(eq + 1)));
  }
  return env;
}

KafkaProperties ConsumerProperties(const Config& config) {
  KafkaProperties props = {
      {"bootstrap.servers", config.bootstrap}, {"group.id", config.group},
      {"enable.auto.commit", "false"},         {"enable.auto.offset.store", "false"},
      // "error", not "earliest": librdkafka would silently skip to the earliest offset when the
      // group's offset is out of range (retention); the processor starts a new group at the
      // earliest offset itself and reports a real out-of-range reset (processor.cc).
      {"auto.offset.reset", "error"},          {"partition.assignment.strategy", "roundrobin"},
      {"enable.partition.eof", "false"},
  };
  const KafkaProperties user = Merged(config.kafka_common, config.kafka_consumer);
  if (config.profile == Profile::kDev) {
    for (const auto& [key, value] : KafkaProperties{{"session.timeout.ms", "6000"},
                                                    {"heartbeat.interval.ms", "1000"},
                                                    {"fetch.wait.max.ms", "20"}}) {
      if (FindProp(user, key) == nullptr) props.emplace_back(key, value);
    }
  }
  props.insert(props.end(), user.begin(), user.end());
  return props;
}

KafkaProperties ProducerProperties(const Config& config) {
  KafkaProperties props = {
      {"bootstrap.servers", config.bootstrap},
      {"enable.idempotence", "true"},
      {"acks", "all"},
  };
  const KafkaProperties user = Merged(config.kafka_common, config.kafka_producer);
  if (FindProp(user, "linger.ms") == nullptr &&
      FindProp(user, "queue.buffering.max.ms") == nullptr) {
    props.emplace_back("linger.ms", "5");
  }
  props.insert(props.end(), user.begin(), user.end());
  return props;
}

}  // namespace bouncestream::stream
