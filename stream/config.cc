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
};

constexpr std::array<std::string_view, 4> kOtherTopLevelKeys = {"profile", "allow_plaintext",
                                                                "input", "topics"};

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
    if (config_.profile == Profile::kProduction) {
      CheckProductionSecurity(Section::kConsumer, config_.kafka_consumer);
      CheckProductionSecurity(Section::kProducer, config_.kafka_producer);
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

  // Environment layer.
  void EnvVar(const std::string& name, const std::string& value);

  Config config_;
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
  for (std::string_view prefix : kToolEnvPrefixes) {
    if (name.starts_with(prefix)) return;
  }
  std::vector<std::string_view> known;
  for (const auto& f : kStringFields) known.push_back(f.env);
  for (const auto& f : kIntFields) known.push_back(f.env);
  for (std::string_view n : {"BOUNCESTREAM_PROFILE", "BOUNCESTREAM_ALLOW_PLAINTEXT",
                             "BOUNCESTREAM_INPUTS", "BOUNCESTREAM_CONFIG"}) {
    known.push_back(n);
  }
  std::vector<std::string_view> all = known;
  for (std::string_view n :
       {"BOUNCESTREAM_TOPICS_<NAME>", "BOUNCESTREAM_KAFKA_<PROPERTY>",
        "BOUNCESTREAM_KAFKA_CONSUMER_<PROPERTY>", "BOUNCESTREAM_KAFKA_PRODUCER_<PROPERTY>"}) {
    all.push_back(n);
  }
  Error(where, "unknown variable" + Suggest(name, known) + "; known: " + JoinNames(all));
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
