// Configuration of `bouncestream run`: one TOML file, BOUNCESTREAM_* environment variables and
// command-line flags (precedence: defaults < file < environment < flags), plus librdkafka
// properties passed through verbatim. Keys the application owns (group.id, enable.auto.commit,
// acks, ...) are rejected in the pass-through; secrets may come from files (`<key>.file`) or the
// environment, never from argv, and are redacted by PrintConfig. No exceptions: errors are values
// whose text names the file:line, the environment variable or the flag at fault.
//
// The file layout is documented by example in stream/bouncestream.example.toml.
#ifndef BOUNCESTREAM_STREAM_CONFIG_H_
#define BOUNCESTREAM_STREAM_CONFIG_H_

#include <expected>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "state/policy.h"
#include "stream/decode.h"

namespace bouncestream::stream {

// librdkafka properties in the order they were first given; each key at most once.
using KafkaProperties = std::vector<std::pair<std::string, std::string>>;

struct InputSpec {
  std::string topic;
  InputFormat format = InputFormat::kAuto;

  friend bool operator==(const InputSpec&, const InputSpec&) = default;
};

struct OutputTopics {
  std::string classified = "bouncestream.classified";
  std::string dlq = "bouncestream.dlq";
  std::string suppressions = "bouncestream.suppressions";
  std::string blocks = "bouncestream.blocks";
  std::string alerts = "bouncestream.alerts";
  std::string audit = "bouncestream.audit";  // operator actions (lift, erase, import)
  std::string admin = "bouncestream.admin";  // admin commands for a running group (token)

  friend bool operator==(const OutputTopics&, const OutputTopics&) = default;
};

// kDev adds the client settings that make librdkafka's mock cluster (devbroker) usable; the
// production profile adds nothing but refuses plaintext transport and disabled TLS verification.
enum class Profile { kDev, kProduction };
std::string_view ToString(Profile profile);
std::optional<Profile> ParseProfile(std::string_view name);  // "dev" | "production"

// [state]: the RocksDB state of the decision stage. The changelog topic is
// "<group>-state-changelog" (one partition per partition of the classified topic).
struct StateSettings {
  bool enabled = true;              // false: classify only (no windows, no decisions)
  bool sync_writes = false;         // fsync the WAL on every state write
  bool hash_recipients = false;     // store and publish recipients as keyed HMACs
  std::string hmac_key;             // secret; required when hash_recipients (file or env only)
  std::int64_t dedupe_horizon_ms = 3LL * 24 * 3600 * 1000;
  std::int64_t max_lateness_ms = 7LL * 24 * 3600 * 1000;
  // Memory bounds of the state (state memory ~= block_cache + write_buffer + hot_window_cache).
  std::int64_t block_cache_bytes = 64LL << 20;   // RocksDB blocks, index and filter blocks
  std::int64_t write_buffer_bytes = 128LL << 20;  // all memtables together
  std::int64_t hot_window_cache_bytes = 128LL << 20;  // window/decision values kept in memory
  std::int64_t hot_window_entries = 1LL << 20;
  // Decision stage: a partition's state is checkpointed (changelog + one RocksDB write, then its
  // classified offset) once checkpoint_events records were applied since its last checkpoint, or
  // checkpoint_interval_ms after the first of them; 1 = a checkpoint per poll batch.
  std::int64_t checkpoint_events = 10000;
  std::int64_t checkpoint_interval_ms = 1000;
  // And as soon as the stage has caught up with a partition (the poll drained the consumer queue
  // and the partition's records up to its last known high watermark are applied): a processor
  // that keeps up never holds offsets back for checkpoint_interval_ms; one with a backlog still
  // writes big checkpoints. false: only the two bounds above (and revoke, shutdown, admin).
  bool checkpoint_when_caught_up = true;

  friend bool operator==(const StateSettings&, const StateSettings&) = default;
};

// [admin]: the admin command topic and HTTP admin endpoints need this token (file or env only).
struct AdminSettings {
  std::string token;  // secret; empty = admin commands are refused

  friend bool operator==(const AdminSettings&, const AdminSettings&) = default;
};

// [metrics]: bounded label sets.
struct MetricsSettings {
  std::vector<std::string> tenant_allow_list;  // other tenants are labelled "other"
  // provider bucket -> recipient domain suffixes; empty = the built-in list
  std::vector<std::pair<std::string, std::vector<std::string>>> providers;

  friend bool operator==(const MetricsSettings&, const MetricsSettings&) = default;
};

struct Config {
  std::string bootstrap;          // bootstrap.servers; required (file, env or flag)
  std::string group;              // application.id == group.id; required
  std::vector<InputSpec> inputs;  // at least one
  OutputTopics topics;
  std::string state_dir = "./bouncestream-state";
  std::string metrics_addr = "127.0.0.1:9464";
  std::string rules_path;  // empty = shipped rules
  std::string engine = "re2set";
  int batch_max_messages = 1000;    // per poll batch, 1..100000
  int poll_timeout_ms = 100;        // 1..60000
  int shutdown_timeout_ms = 10000;  // 1..600000
  Profile profile = Profile::kDev;
  bool allow_plaintext = false;  // production refuses security.protocol=plaintext unless true
  // librdkafka properties, verbatim, `<key>.file` indirections already resolved. The consumer and
  // producer lists override `kafka_common` key by key.
  KafkaProperties kafka_common, kafka_consumer, kafka_producer;
  std::string config_file;  // the file that was loaded; empty = none (informational)
  StateSettings state;
  state::PolicySet policy;  // [policy] defaults + [policy.tenant."<id>"] overrides
  AdminSettings admin;
  MetricsSettings metrics;

  friend bool operator==(const Config&, const Config&) = default;
};

struct ConfigSources {
  std::string file_path;  // empty = $BOUNCESTREAM_CONFIG from `env`, else no file
  // BOUNCESTREAM_* variables (e.g. EnvFromEnviron()); other names are ignored.
  std::vector<std::pair<std::string, std::string>> env;
  // Flag overrides (unset = not given).
  std::optional<std::string> bootstrap, group, state_dir, metrics_addr, rules_path, engine;
  std::optional<std::string> profile;
  std::optional<bool> allow_plaintext;
  std::vector<std::string> inputs;       // "TOPIC[:FORMAT]"; non-empty replaces file/env inputs
  std::vector<std::string> kafka_props;  // "-X key=value" -> common section; no secrets
};

// Defaults < file < environment < flags. Every problem found is reported, one per line.
std::expected<Config, std::string> LoadConfig(const ConfigSources& sources);

// The checks LoadConfig applies to the merged result, for a Config built in code (demo, tests).
std::expected<void, std::string> ValidateConfig(const Config& config);

// TOML text of the effective config, loadable again; every secret-like value is "***".
std::string PrintConfig(const Config& config);

// BOUNCESTREAM_* variables from ::environ.
std::vector<std::pair<std::string, std::string>> EnvFromEnviron();

// The librdkafka property lists the processor must use: app-owned keys first, then (dev profile)
// the mock-friendly defaults the user did not set, then the user's common + section properties.
KafkaProperties ConsumerProperties(const Config& config);
KafkaProperties ProducerProperties(const Config& config);

// Durations as written in the config file and the environment: one or more "<n><unit>" with
// units ms, s, m, h, d ("500ms", "90s", "30m", "24h", "7d", "1h30m"); "0" is zero. With
// `allow_never`, "never" is accepted as 0 (a TTL that never expires). Errors quote the text.
std::expected<std::int64_t, std::string> ParseDurationMs(std::string_view text,
                                                         bool allow_never = false);
// The shortest exact spelling of `ms` in the largest unit that divides it ("7d", "90m", "1500ms";
// 0 -> "0s"); ParseDurationMs reads it back.
std::string FormatDurationMs(std::int64_t ms);

// Byte sizes: "<n>" (bytes) or "<n>B", "<n>KiB", "<n>MiB", "<n>GiB", "<n>TiB" ("64MiB").
// Decimal units (MB, GB) are refused as ambiguous.
std::expected<std::int64_t, std::string> ParseByteSize(std::string_view text);
// "64MiB" when a binary unit divides `bytes` exactly, else the plain number ("1000").
std::string FormatByteSize(std::int64_t bytes);

// "TOPIC" or "TOPIC:FORMAT" (format names as in ParseInputFormat).
std::expected<InputSpec, std::string> ParseInputSpec(std::string_view text);

// True for property names whose value must never be printed or logged: the name contains
// password, passphrase, secret, token, key or credential, or is a config string that embeds them
// (sasl.oauthbearer.config, sasl.jaas.config).
bool IsSecretKey(std::string_view key);

// librdkafka keys bouncestream sets itself; rejected anywhere in the pass-through.
std::span<const std::string_view> AppOwnedKafkaKeys();

}  // namespace bouncestream::stream

#endif  // BOUNCESTREAM_STREAM_CONFIG_H_
