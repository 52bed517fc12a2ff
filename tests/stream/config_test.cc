// `bouncestream run` configuration: precedence (defaults < file < env < flags), rejection of
// unknown keys/variables, app-owned librdkafka keys and secrets on argv, `<key>.file` secrets,
// redaction, the librdkafka property lists, and the shipped example file.
#include "stream/config.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace bouncestream::stream {
namespace {

namespace fs = std::filesystem;
using Env = std::vector<std::pair<std::string, std::string>>;

class ConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    static int counter = 0;
    dir_ = fs::temp_directory_path() /
           ("bouncestream_config_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    fs::create_directories(dir_);
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  std::string Write(const std::string& name, const std::string& text) {
    const fs::path p = dir_ / name;
    std::ofstream(p, std::ios::binary) << text;
    return p.string();
  }

  // A config file that is valid on its own, plus `extra` lines.
  std::string WriteMinimal(const std::string& extra = "", const std::string& name = "cfg.toml") {
    return Write(name,
                 "bootstrap = \"file:9092\"\n"
                 "group = \"g\"\n"
                 "[[input]]\n"
                 "topic = \"in\"\n" +
                     extra);
  }

  std::expected<Config, std::string> Load(const std::string& file, Env env = {},
                                          ConfigSources flags = {}) {
    flags.file_path = file;
    flags.env = std::move(env);
    return LoadConfig(flags);
  }

  fs::path dir_;
};

const std::string* Prop(const KafkaProperties& props, std::string_view key) {
  const std::string* found = nullptr;
  int count = 0;
  for (const auto& [k, v] : props) {
    if (k == key) {
      found = &v;
      ++count;
    }
  }
  EXPECT_LE(count, 1) << key << " appears more than once";
  return found;
}

std::string PropOr(const KafkaProperties& props, std::string_view key, std::string fallback = "") {
  const std::string* v = Prop(props, key);
  return v != nullptr ? *v : fallback;
}

#define ASSERT_LOADED(result) ASSERT_TRUE(result.has_value()) << result.error()
#define ASSERT_REJECTED(result) ASSERT_FALSE(result.has_value())

// ------------------------------------------------------------------------------------ defaults

TEST_F(ConfigTest, MinimalFileGetsDefaults) {
  auto c = Load(WriteMinimal());
  ASSERT_LOADED(c);
  EXPECT_EQ(c->bootstrap, "file:9092");
  EXPECT_EQ(c->group, "g");
  ASSERT_EQ(c->inputs.size(), 1u);
  EXPECT_EQ(c->inputs[0], (InputSpec{"in", InputFormat::kAuto}));
  EXPECT_EQ(c->topics, OutputTopics{});
  EXPECT_EQ(c->state_dir, "./bouncestream-state");
  EXPECT_EQ(c->metrics_addr, "127.0.0.1:9464");
  EXPECT_EQ(c->rules_path, "");
  EXPECT_EQ(c->engine, "re2set");
  EXPECT_EQ(c->batch_max_messages, 1000);
  EXPECT_EQ(c->poll_timeout_ms, 100);
  EXPECT_EQ(c->shutdown_timeout_ms, 10000);
  EXPECT_EQ(c->profile, Profile::kDev);
  EXPECT_FALSE(c->allow_plaintext);
  EXPECT_TRUE(c->kafka_common.empty());
  EXPECT_EQ(c->config_file, dir_ / "cfg.toml");
}

TEST_F(ConfigTest, NoFileAtAllIsFineWithEnvAndFlags) {
  ConfigSources s;
  s.env = {{"BOUNCESTREAM_BOOTSTRAP", "env:9092"}, {"BOUNCESTREAM_GROUP", "g"}};
  s.inputs = {"in"};
  auto c = LoadConfig(s);
  ASSERT_LOADED(c);
  EXPECT_EQ(c->bootstrap, "env:9092");
  EXPECT_EQ(c->config_file, "");
}

TEST_F(ConfigTest, EveryFileKeyIsRead) {
  const std::string path = Write("all.toml", R"(
bootstrap = ["a:1", "b:2"]
group = "grp"
profile = "production"
allow_plaintext = true
state_dir = "/var/lib/bs"
metrics_addr = "[::1]:9000"
rules = "/etc/bs/rules"
engine = "re2set"
batch_max_messages = 500
poll_timeout_ms = 50
shutdown_timeout_ms = 2000

[[input]]
topic = "kumo"
format = "kumomta"

[[input]]
topic = "ses"
format = "ses"

[topics]
classified = "c"
dlq = "d"
suppressions = "s"
blocks = "b"
alerts = "a"

[kafka]
"client.id" = "x"
socket.keepalive.enable = true
"message.max.bytes" = 2000000

[kafka.consumer]
"fetch.wait.max.ms" = 50

[kafka.producer]
"compression.type" = "lz4"
)");
  auto c = Load(path);
  ASSERT_LOADED(c);
  EXPECT_EQ(c->bootstrap, "a:1,b:2");
  EXPECT_EQ(c->group, "grp");
  EXPECT_EQ(c->profile, Profile::kProduction);
  EXPECT_TRUE(c->allow_plaintext);
  EXPECT_EQ(c->state_dir, "/var/lib/bs");
  EXPECT_EQ(c->metrics_addr, "[::1]:9000");
  EXPECT_EQ(c->rules_path, "/etc/bs/rules");
  EXPECT_EQ(c->engine, "re2set");
  EXPECT_EQ(c->batch_max_messages, 500);
  EXPECT_EQ(c->poll_timeout_ms, 50);
  EXPECT_EQ(c->shutdown_timeout_ms, 2000);
  EXPECT_EQ(c->inputs,
            (std::vector<InputSpec>{{"kumo", InputFormat::kKumo}, {"ses", InputFormat::kSes}}));
  EXPECT_EQ(c->topics, (OutputTopics{"c", "d", "s", "b", "a"}));
  // Unquoted dotted keys are flattened; integers and booleans become text.
  EXPECT_EQ(PropOr(c->kafka_common, "client.id"), "x");
  EXPECT_EQ(PropOr(c->kafka_common, "socket.keepalive.enable"), "true");
  EXPECT_EQ(PropOr(c->kafka_common, "message.max.bytes"), "2000000");
  EXPECT_EQ(PropOr(c->kafka_consumer, "fetch.wait.max.ms"), "50");
  EXPECT_EQ(PropOr(c->kafka_producer, "compression.type"), "lz4");
}

// ---------------------------------------------------------------------------------- precedence

TEST_F(ConfigTest, PrecedenceFileThenEnvThenFlags) {
  const std::string full = Write("p.toml",
                                 "bootstrap = \"file:9092\"\n"
                                 "group = \"file-group\"\n"
                                 "state_dir = \"file-state\"\n"
                                 "engine = \"re2set\"\n"
                                 "batch_max_messages = 10\n"
                                 "[[input]]\ntopic = \"file-in\"\n"
                                 "[kafka]\n\"client.id\" = \"from-file\"\n"
                                 "\"socket.timeout.ms\" = 1000\n\"message.max.bytes\" = 1\n");
  Env env = {{"BOUNCESTREAM_BOOTSTRAP", "env:9092"},
             {"BOUNCESTREAM_GROUP", "env-group"},
             {"BOUNCESTREAM_BATCH_MAX_MESSAGES", "20"},
             {"BOUNCESTREAM_INPUTS", "env-in:ses"},
             {"BOUNCESTREAM_KAFKA_CLIENT_ID", "from-env"},
             {"BOUNCESTREAM_KAFKA_SOCKET_TIMEOUT_MS", "2000"}};
  ConfigSources flags;
  flags.bootstrap = "flag:9092";
  flags.inputs = {"flag-in:postfix", "flag-in2"};
  flags.kafka_props = {"client.id=from-flag"};

  // file only
  auto f = Load(full);
  ASSERT_LOADED(f);
  EXPECT_EQ(f->bootstrap, "file:9092");
  EXPECT_EQ(f->batch_max_messages, 10);

  // file < env
  auto e = Load(full, env);
  ASSERT_LOADED(e);
  EXPECT_EQ(e->bootstrap, "env:9092");
  EXPECT_EQ(e->group, "env-group");
  EXPECT_EQ(e->state_dir, "file-state");  // not in env: the file's value stays
  EXPECT_EQ(e->engine, "re2set");
  EXPECT_EQ(e->batch_max_messages, 20);
  EXPECT_EQ(e->inputs, (std::vector<InputSpec>{{"env-in", InputFormat::kSes}}));
  EXPECT_EQ(PropOr(e->kafka_common, "client.id"), "from-env");
  EXPECT_EQ(PropOr(e->kafka_common, "socket.timeout.ms"), "2000");
  EXPECT_EQ(PropOr(e->kafka_common, "message.max.bytes"), "1");  // merged key by key

  // file < env < flags
  auto all = Load(full, env, flags);
  ASSERT_LOADED(all);
  EXPECT_EQ(all->bootstrap, "flag:9092");
  EXPECT_EQ(all->group, "env-group");
  EXPECT_EQ(all->inputs, (std::vector<InputSpec>{{"flag-in", InputFormat::kPostfix},
                                                 {"flag-in2", InputFormat::kAuto}}));
  EXPECT_EQ(PropOr(all->kafka_common, "client.id"), "from-flag");
  EXPECT_EQ(PropOr(all->kafka_common, "socket.timeout.ms"), "2000");
  EXPECT_EQ(PropOr(all->kafka_common, "message.max.bytes"), "1");
}

TEST_F(ConfigTest, EveryStringFlagOverrides) {
  ConfigSources flags;
  flags.group = "fg";
  flags.state_dir = "fs";
  flags.metrics_addr = "0.0.0.0:1";
  flags.rules_path = "fr";
  flags.engine = "re2set";
  flags.profile = "production";
  flags.allow_plaintext = true;
  auto c =
      Load(WriteMinimal(), {{"BOUNCESTREAM_GROUP", "eg"}, {"BOUNCESTREAM_PROFILE", "dev"}}, flags);
  ASSERT_LOADED(c);
  EXPECT_EQ(c->group, "fg");
  EXPECT_EQ(c->state_dir, "fs");
  EXPECT_EQ(c->metrics_addr, "0.0.0.0:1");
  EXPECT_EQ(c->rules_path, "fr");
  EXPECT_EQ(c->engine, "re2set");
  EXPECT_EQ(c->profile, Profile::kProduction);
  EXPECT_TRUE(c->allow_plaintext);
}

TEST_F(ConfigTest, EmptyEnvironmentVariableCountsAsUnset) {
  auto c = Load(WriteMinimal(), {{"BOUNCESTREAM_BOOTSTRAP", ""}, {"BOUNCESTREAM_INPUTS", ""}});
  ASSERT_LOADED(c);
  EXPECT_EQ(c->bootstrap, "file:9092");
  EXPECT_EQ(c->inputs.size(), 1u);
}

TEST_F(ConfigTest, ConfigPathFromEnvironment) {
  const std::string path = WriteMinimal();
  ConfigSources s;
  s.env = {{"BOUNCESTREAM_CONFIG", path}};
  auto c = LoadConfig(s);
  ASSERT_LOADED(c);
  EXPECT_EQ(c->bootstrap, "file:9092");
  EXPECT_EQ(c->config_file, path);
}

TEST_F(ConfigTest, EnvironmentScalarsAndTopics) {
  auto c = Load(WriteMinimal(), {{"BOUNCESTREAM_STATE_DIR", "/s"},
                                 {"BOUNCESTREAM_METRICS_ADDR", "10.0.0.1:9999"},
                                 {"BOUNCESTREAM_RULES", "/r"},
                                 {"BOUNCESTREAM_ENGINE", "re2set"},
                                 {"BOUNCESTREAM_POLL_TIMEOUT_MS", "250"},
                                 {"BOUNCESTREAM_SHUTDOWN_TIMEOUT_MS", "5000"},
                                 {"BOUNCESTREAM_ALLOW_PLAINTEXT", "yes"},
                                 {"BOUNCESTREAM_TOPICS_DLQ", "my.dlq"},
                                 {"BOUNCESTREAM_TOPICS_ALERTS", "my.alerts"},
                                 {"PATH", "/usr/bin"}});  // not ours: ignored
  ASSERT_LOADED(c);
  EXPECT_EQ(c->state_dir, "/s");
  EXPECT_EQ(c->metrics_addr, "10.0.0.1:9999");
  EXPECT_EQ(c->rules_path, "/r");
  EXPECT_EQ(c->engine, "re2set");
  EXPECT_EQ(c->poll_timeout_ms, 250);
  EXPECT_EQ(c->shutdown_timeout_ms, 5000);
  EXPECT_TRUE(c->allow_plaintext);
  EXPECT_EQ(c->topics.dlq, "my.dlq");
  EXPECT_EQ(c->topics.alerts, "my.alerts");
  EXPECT_EQ(c->topics.classified, "bouncestream.classified");
}

TEST_F(ConfigTest, EnvironmentBadNumbersAndBools) {
  auto c = Load(WriteMinimal(), {{"BOUNCESTREAM_BATCH_MAX_MESSAGES", "lots"},
                                 {"BOUNCESTREAM_ALLOW_PLAINTEXT", "maybe"},
                                 {"BOUNCESTREAM_PROFILE", "staging"}});
  ASSERT_REJECTED(c);
  EXPECT_NE(c.error().find("BOUNCESTREAM_BATCH_MAX_MESSAGES: expected an integer"),
            std::string::npos)
      << c.error();
  EXPECT_NE(c.error().find("BOUNCESTREAM_ALLOW_PLAINTEXT"), std::string::npos) << c.error();
  EXPECT_NE(c.error().find("BOUNCESTREAM_PROFILE: expected dev or production"), std::string::npos)
      << c.error();
}

// ------------------------------------------------------------------------------ env → librdkafka

TEST_F(ConfigTest, EnvironmentMapsKafkaProperties) {
  auto c = Load(WriteMinimal(), {{"BOUNCESTREAM_KAFKA_SECURITY_PROTOCOL", "sasl_ssl"},
                                 {"BOUNCESTREAM_KAFKA_SASL_USERNAME", "svc"},
                                 {"BOUNCESTREAM_KAFKA_SASL_PASSWORD", "hunter2"},
                                 {"BOUNCESTREAM_KAFKA_CONSUMER_FETCH_WAIT_MAX_MS", "30"},
                                 {"BOUNCESTREAM_KAFKA_PRODUCER_LINGER_MS", "10"},
                                 {"BOUNCESTREAM_KAFKA_PLUGIN__X_SETTING", "1"}});
  ASSERT_LOADED(c);
  EXPECT_EQ(PropOr(c->kafka_common, "security.protocol"), "sasl_ssl");
  EXPECT_EQ(PropOr(c->kafka_common, "sasl.username"), "svc");
  EXPECT_EQ(PropOr(c->kafka_common, "sasl.password"), "hunter2");
  EXPECT_EQ(PropOr(c->kafka_common, "plugin_x.setting"), "1");  // "__" -> '_'
  EXPECT_EQ(PropOr(c->kafka_consumer, "fetch.wait.max.ms"), "30");
  EXPECT_EQ(PropOr(c->kafka_producer, "linger.ms"), "10");
  EXPECT_EQ(Prop(c->kafka_common, "fetch.wait.max.ms"), nullptr);
}

// ---------------------------------------------------------------------------------- rejections

TEST_F(ConfigTest, UnknownTopLevelKeyNamesFileLineAndSuggestion) {
  const std::string path = Write("bad.toml",
                                 "bootstrap = \"b:1\"\n"
                                 "group = \"g\"\n"
                                 "\n"
                                 "bach_max_messages = 5\n"
                                 "[[input]]\ntopic = \"in\"\n");
  auto c = Load(path);
  ASSERT_REJECTED(c);
  EXPECT_NE(c.error().find(path + ":4: unknown key 'bach_max_messages'"), std::string::npos)
      << c.error();
  EXPECT_NE(c.error().find("did you mean 'batch_max_messages'"), std::string::npos) << c.error();
}

TEST_F(ConfigTest, UnknownKeysInSectionsNameTheirLines) {
  const std::string path = Write("bad.toml",
                                 "bootstrap = \"b:1\"\n"  // 1
                                 "group = \"g\"\n"        // 2
                                 "[[input]]\n"            // 3
                                 "topic = \"in\"\n"       // 4
                                 "fromat = \"ses\"\n"     // 5
                                 "[topics]\n"             // 6
                                 "classifed = \"x\"\n");  // 7
  auto c = Load(path);
  ASSERT_REJECTED(c);
  EXPECT_NE(c.error().find(path + ":5: unknown key 'fromat' in [[input]]"), std::string::npos)
      << c.error();
  EXPECT_NE(c.error().find(path + ":7: unknown key 'classifed' in [topics]"), std::string::npos)
      << c.error();
  EXPECT_NE(c.error().find("did you mean 'classified'"), std::string::npos) << c.error();
}

TEST_F(ConfigTest, WrongTypesAndSyntaxErrorsNameTheLine) {
  auto c = Load(Write("t.toml",
                      "bootstrap = \"b:1\"\ngroup = \"g\"\nbatch_max_messages = \"10\"\n"
                      "[[input]]\ntopic = \"in\"\n"));
  ASSERT_REJECTED(c);
  EXPECT_NE(c.error().find("t.toml:3: 'batch_max_messages' must be an integer"), std::string::npos)
      << c.error();

  auto s = Load(Write("s.toml", "bootstrap = \"b:1\"\ngroup = = \"g\"\n"));
  ASSERT_REJECTED(s);
  EXPECT_NE(s.error().find("s.toml:2: TOML syntax"), std::string::npos) << s.error();

  auto f = Load(Write("f.toml",
                      "bootstrap = \"b:1\"\ngroup = \"g\"\n[[input]]\ntopic = \"in\"\n"
                      "[kafka]\n\"socket.timeout.ms\" = 1.5\n"));
  ASSERT_REJECTED(f);
  EXPECT_NE(f.error().find("f.toml:6: librdkafka property 'socket.timeout.ms'"), std::string::npos)
      << f.error();

  auto missing = Load((dir_ / "nope.toml").string());
  ASSERT_REJECTED(missing);
  EXPECT_NE(missing.error().find("nope.toml: cannot read config file"), std::string::npos)
      << missing.error();
}

TEST_F(ConfigTest, UnknownEnvironmentVariableIsRejected) {
  auto c = Load(WriteMinimal(), {{"BOUNCESTREAM_BOOTSTARP", "x:1"}});
  ASSERT_REJECTED(c);
  EXPECT_NE(c.error().find("environment variable BOUNCESTREAM_BOOTSTARP: unknown variable"),
            std::string::npos)
      << c.error();
  EXPECT_NE(c.error().find("did you mean 'BOUNCESTREAM_BOOTSTRAP'"), std::string::npos)
      << c.error();

  auto t = Load(WriteMinimal(), {{"BOUNCESTREAM_TOPICS_BOUNCES", "x"}});
  ASSERT_REJECTED(t);
  EXPECT_NE(t.error().find("BOUNCESTREAM_TOPICS_BOUNCES: unknown variable"), std::string::npos);

  auto k = Load(WriteMinimal(), {{"BOUNCESTREAM_KAFKA_", "x"}});
  ASSERT_REJECTED(k);
  EXPECT_NE(k.error().find("BOUNCESTREAM_KAFKA_: names no librdkafka property"), std::string::npos);
}

TEST_F(ConfigTest, ProjectToolVariablesAreTolerated) {
  auto c =
      Load(WriteMinimal(), {{"BOUNCESTREAM_CORPUS", "/x"}, {"BOUNCESTREAM_BENCH_ENGINE", "re2"}});
  ASSERT_LOADED(c);
}

class AppOwnedKeyTest : public ConfigTest, public ::testing::WithParamInterface<std::string> {};

TEST_P(AppOwnedKeyTest, RejectedInEverySectionAndSource) {
  const std::string key = GetParam();
  for (const std::string section : {"[kafka]", "[kafka.consumer]", "[kafka.producer]"}) {
    const std::string path = WriteMinimal(section + "\n\"" + key + "\" = \"x\"\n");
    auto c = Load(path);
    ASSERT_REJECTED(c) << key << " in " << section;
    EXPECT_NE(c.error().find(path + ":6: librdkafka property '" + key + "' in " + section +
                             " is set by bouncestream"),
              std::string::npos)
        << c.error();
  }
  // As `<key>.file` too.
  auto via_file = Load(WriteMinimal("[kafka]\n\"" + key + ".file\" = \"/x\"\n"));
  ASSERT_REJECTED(via_file);

  std::string env_suffix;
  for (char ch : key)
    env_suffix += ch == '.' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  for (const std::string prefix :
       {"BOUNCESTREAM_KAFKA_", "BOUNCESTREAM_KAFKA_CONSUMER_", "BOUNCESTREAM_KAFKA_PRODUCER_"}) {
    auto e = Load(WriteMinimal(), {{prefix + env_suffix, "x"}});
    ASSERT_REJECTED(e) << prefix + env_suffix;
    EXPECT_NE(e.error().find("environment variable " + prefix + env_suffix +
                             ": librdkafka property '" + key + "'"),
              std::string::npos)
        << e.error();
  }

  ConfigSources flags;
  flags.kafka_props = {key + "=x"};
  auto x = Load(WriteMinimal(), {}, flags);
  ASSERT_REJECTED(x);
  EXPECT_NE(x.error().find("flag -X " + key + ": librdkafka property '" + key + "'"),
            std::string::npos)
      << x.error();
}

INSTANTIATE_TEST_SUITE_P(AllKeys, AppOwnedKeyTest,
                         ::testing::Values("group.id", "bootstrap.servers", "enable.auto.commit",
                                           "enable.auto.offset.store", "enable.idempotence",
                                           "auto.offset.reset", "enable.partition.eof",
                                           "isolation.level", "partition.assignment.strategy",
                                           "transactional.id", "acks", "metadata.broker.list",
                                           "request.required.acks"),
                         [](const ::testing::TestParamInfo<std::string>& param) {
                           std::string name = param.param;
                           std::replace(name.begin(), name.end(), '.', '_');
                           return name;
                         });

TEST_F(ConfigTest, AppOwnedListIsExported) {
  const auto keys = AppOwnedKafkaKeys();
  for (std::string_view k :
       {"group.id", "bootstrap.servers", "enable.auto.commit", "enable.auto.offset.store",
        "enable.idempotence", "auto.offset.reset", "enable.partition.eof", "isolation.level",
        "partition.assignment.strategy", "transactional.id", "acks"}) {
    EXPECT_NE(std::find(keys.begin(), keys.end(), k), keys.end()) << k;
  }
}

TEST_F(ConfigTest, BootstrapServersHintsAtBootstrapKey) {
  auto c = Load(WriteMinimal("[kafka]\n\"bootstrap.servers\" = \"x:1\"\n"));
  ASSERT_REJECTED(c);
  EXPECT_NE(c.error().find("set `bootstrap`"), std::string::npos) << c.error();
}

TEST_F(ConfigTest, SecretsOnTheCommandLineAreRejected) {
  for (const std::string key :
       {"sasl.password", "ssl.key.password", "ssl.keystore.password",
        "sasl.oauthbearer.client.secret", "ssl.key.pem", "sasl.oauthbearer.config"}) {
    ConfigSources flags;
    flags.kafka_props = {key + "=s3cr3t-value"};
    auto c = Load(WriteMinimal(), {}, flags);
    ASSERT_REJECTED(c) << key;
    EXPECT_NE(c.error().find("flag -X " + key + ": secret '" + key +
                             "' must not be given on the command line"),
              std::string::npos)
        << c.error();
    EXPECT_NE(c.error().find("BOUNCESTREAM_KAFKA_"), std::string::npos) << c.error();
    EXPECT_NE(c.error().find(key + ".file"), std::string::npos) << c.error();
    EXPECT_EQ(c.error().find("s3cr3t-value"), std::string::npos) << c.error();
  }
  ConfigSources bad;
  bad.kafka_props = {"s3cr3t-value"};  // no key=value: never echoed
  auto b = Load(WriteMinimal(), {}, bad);
  ASSERT_REJECTED(b);
  EXPECT_EQ(b.error().find("s3cr3t-value"), std::string::npos) << b.error();
}

TEST_F(ConfigTest, NonSecretPropertiesAndSecretFilesAreFineOnTheCommandLine) {
  const std::string secret = Write("pw", "from-file\n");
  ConfigSources flags;
  flags.kafka_props = {"ssl.key.location=/etc/key.pem", "sasl.username=u",
                       "sasl.oauthbearer.token.endpoint.url=https://idp/token",
                       "sasl.password.file=" + secret, "client.id=a=b"};
  auto c = Load(WriteMinimal(), {}, flags);
  ASSERT_LOADED(c);
  EXPECT_EQ(PropOr(c->kafka_common, "ssl.key.location"), "/etc/key.pem");
  EXPECT_EQ(PropOr(c->kafka_common, "sasl.password"), "from-file");
  EXPECT_EQ(PropOr(c->kafka_common, "client.id"), "a=b");  // split at the first '='
}

TEST_F(ConfigTest, InvalidPropertyNamesAreRejected) {
  auto c = Load(WriteMinimal("[kafka]\n\"Security.Protocol\" = \"ssl\"\n"));
  ASSERT_REJECTED(c);
  EXPECT_NE(c.error().find("'Security.Protocol' is not a librdkafka property name"),
            std::string::npos)
      << c.error();
}

// ------------------------------------------------------------------------------------- secrets

TEST_F(ConfigTest, SecretFilesAreReadAndTrailingNewlineStripped) {
  const std::string pw = Write("sasl-password", "p@ss word\n");
  const std::string key_pw = Write("key-password", "kp\r\n");
  const std::string oidc = Write("oidc", "client-secret");
  const std::string path =
      WriteMinimal("[kafka]\n\"sasl.password.file\" = \"" + pw +
                   "\"\n[kafka.consumer]\n\"ssl.key.password.file\" = \"" + key_pw + "\"\n");
  auto c = Load(path, {{"BOUNCESTREAM_KAFKA_PRODUCER_SASL_OAUTHBEARER_CLIENT_SECRET_FILE", oidc}});
  ASSERT_LOADED(c);
  EXPECT_EQ(PropOr(c->kafka_common, "sasl.password"), "p@ss word");
  EXPECT_EQ(Prop(c->kafka_common, "sasl.password.file"), nullptr);
  EXPECT_EQ(PropOr(c->kafka_consumer, "ssl.key.password"), "kp");
  EXPECT_EQ(PropOr(c->kafka_producer, "sasl.oauthbearer.client.secret"), "client-secret");
}

TEST_F(ConfigTest, LaterLayerOverridesSecretFileWithoutReadingIt) {
  // The file names a secret file that does not exist; the environment's value wins, so the
  // missing file is never read.
  auto c = Load(WriteMinimal("[kafka]\n\"sasl.password.file\" = \"/nonexistent/pw\"\n"),
                {{"BOUNCESTREAM_KAFKA_SASL_PASSWORD", "env-pw"}});
  ASSERT_LOADED(c);
  EXPECT_EQ(PropOr(c->kafka_common, "sasl.password"), "env-pw");
}

TEST_F(ConfigTest, MissingOrEmptySecretFileIsAnError) {
  const std::string missing = (dir_ / "missing").string();
  auto c = Load(WriteMinimal("[kafka]\n\"sasl.password.file\" = \"" + missing + "\"\n"));
  ASSERT_REJECTED(c);
  EXPECT_NE(c.error().find("cfg.toml:6: cannot read 'sasl.password' from file " + missing),
            std::string::npos)
      << c.error();

  const std::string empty = Write("empty", "\n");
  auto e = Load(WriteMinimal(), {{"BOUNCESTREAM_KAFKA_SASL_PASSWORD_FILE", empty}});
  ASSERT_REJECTED(e);
  EXPECT_NE(e.error().find("BOUNCESTREAM_KAFKA_SASL_PASSWORD_FILE: cannot read 'sasl.password'"),
            std::string::npos)
      << e.error();
  EXPECT_NE(e.error().find("empty"), std::string::npos);
}

TEST_F(ConfigTest, ValueAndFileInOneLayerConflict) {
  const std::string pw = Write("pw", "x");
  auto c = Load(WriteMinimal(), {{"BOUNCESTREAM_KAFKA_SASL_PASSWORD", "a"},
                                 {"BOUNCESTREAM_KAFKA_SASL_PASSWORD_FILE", pw}});
  ASSERT_REJECTED(c);
  EXPECT_NE(c.error().find("'sasl.password' in [kafka] is given more than once"), std::string::npos)
      << c.error();
}

TEST_F(ConfigTest, SecretKeyDetection) {
  for (std::string_view k : {"sasl.password", "ssl.key.password", "ssl.keystore.password",
                             "sasl.oauthbearer.client.secret", "ssl.key.pem", "ssl.key.location",
                             "sasl.oauthbearer.config", "some.api.token", "x.credentials"}) {
    EXPECT_TRUE(IsSecretKey(k)) << k;
  }
  for (std::string_view k : {"sasl.username", "security.protocol", "client.id",
                             "socket.keepalive.enable", "sasl.mechanisms"}) {
    EXPECT_FALSE(IsSecretKey(k)) << k;
  }
}

// --------------------------------------------------------------------------------- PrintConfig

TEST_F(ConfigTest, PrintConfigRedactsEverySecret) {
  const std::string pw = Write("pw", "file-secret-111\n");
  auto c = Load(WriteMinimal("[kafka]\n\"sasl.username\" = \"svc-user\"\n"
                             "\"sasl.password.file\" = \"" +
                             pw +
                             "\"\n"
                             "[kafka.consumer]\n\"ssl.key.password\" = \"inline-secret-222\"\n"),
                {{"BOUNCESTREAM_KAFKA_PRODUCER_SASL_OAUTHBEARER_CLIENT_SECRET", "env-secret-333"},
                 {"BOUNCESTREAM_KAFKA_SSL_KEYSTORE_PASSWORD", "env-secret-444"}});
  ASSERT_LOADED(c);
  const std::string text = PrintConfig(*c);
  for (std::string_view secret :
       {"file-secret-111", "inline-secret-222", "env-secret-333", "env-secret-444"}) {
    EXPECT_EQ(text.find(secret), std::string::npos) << secret << " leaked:\n" << text;
  }
  EXPECT_NE(text.find("\"sasl.password\" = \"***\""), std::string::npos) << text;
  EXPECT_NE(text.find("\"ssl.key.password\" = \"***\""), std::string::npos) << text;
  EXPECT_NE(text.find("\"sasl.oauthbearer.client.secret\" = \"***\""), std::string::npos) << text;
  EXPECT_NE(text.find("\"sasl.username\" = \"svc-user\""), std::string::npos) << text;
}

TEST_F(ConfigTest, PrintConfigRoundTrips) {
  const std::string path = Write("rt.toml", R"(
bootstrap = "a:1,b:2"
group = "rt"
profile = "production"
state_dir = "/var/lib/with \"quotes\" and \\ backslash"
metrics_addr = "0.0.0.0:9464"
engine = "re2set"
batch_max_messages = 7
[[input]]
topic = "x"
format = "postmark"
[[input]]
topic = "y"
[topics]
dlq = "the.dlq"
[kafka]
"security.protocol" = "ssl"
"client.id" = "rt"
[kafka.consumer]
"fetch.wait.max.ms" = 33
[kafka.producer]
"linger.ms" = 1
)");
  auto c = Load(path);
  ASSERT_LOADED(c);
  const std::string printed = Write("printed.toml", PrintConfig(*c));
  auto again = Load(printed);
  ASSERT_LOADED(again);
  again->config_file = c->config_file;
  EXPECT_EQ(*again, *c) << PrintConfig(*c);
}

// ------------------------------------------------------------------------------------- inputs

TEST_F(ConfigTest, InputSpecParsing) {
  auto plain = ParseInputSpec("bounces");
  ASSERT_TRUE(plain) << plain.error();
  EXPECT_EQ(*plain, (InputSpec{"bounces", InputFormat::kAuto}));
  auto ses = ParseInputSpec("esp.ses:ses");
  ASSERT_TRUE(ses) << ses.error();
  EXPECT_EQ(*ses, (InputSpec{"esp.ses", InputFormat::kSes}));
  auto pmta = ParseInputSpec("mta-1:powermta");
  ASSERT_TRUE(pmta);
  EXPECT_EQ(pmta->format, InputFormat::kPowerMta);

  auto bad = ParseInputSpec("t:bogus");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().find("unknown format 'bogus'"), std::string::npos) << bad.error();
  EXPECT_NE(bad.error().find("kumomta"), std::string::npos) << bad.error();  // lists the names
  EXPECT_FALSE(ParseInputSpec(":ses"));
  EXPECT_FALSE(ParseInputSpec("t:"));
  EXPECT_FALSE(ParseInputSpec("bad topic"));
  EXPECT_FALSE(ParseInputSpec(""));
}

TEST_F(ConfigTest, BadInputFormatsInEverySource) {
  auto f = Load(Write("f.toml",
                      "bootstrap = \"b:1\"\ngroup = \"g\"\n[[input]]\ntopic = \"in\"\n"
                      "format = \"sess\"\n"));
  ASSERT_REJECTED(f);
  EXPECT_NE(f.error().find("f.toml:5: [[input]] format 'sess' is unknown"), std::string::npos)
      << f.error();

  auto e = Load(WriteMinimal(), {{"BOUNCESTREAM_INPUTS", "a:ses, b:nope"}});
  ASSERT_REJECTED(e);
  EXPECT_NE(e.error().find("BOUNCESTREAM_INPUTS: input 'b:nope': unknown format 'nope'"),
            std::string::npos)
      << e.error();

  ConfigSources flags;
  flags.inputs = {"c:zzz"};
  auto x = Load(WriteMinimal(), {}, flags);
  ASSERT_REJECTED(x);
  EXPECT_NE(x.error().find("flag --input: input 'c:zzz': unknown format"), std::string::npos)
      << x.error();

  auto single =
      Load(Write("s.toml", "bootstrap = \"b:1\"\ngroup = \"g\"\n[input]\ntopic = \"x\"\n"));
  ASSERT_REJECTED(single);
  EXPECT_NE(single.error().find("[[input]]"), std::string::npos) << single.error();
}

TEST_F(ConfigTest, EnvInputListIsTrimmed) {
  auto c = Load(WriteMinimal(), {{"BOUNCESTREAM_INPUTS", " a:ses , b ,c:postfix"}});
  ASSERT_LOADED(c);
  EXPECT_EQ(c->inputs, (std::vector<InputSpec>{{"a", InputFormat::kSes},
                                               {"b", InputFormat::kAuto},
                                               {"c", InputFormat::kPostfix}}));
}

// ---------------------------------------------------------------------------------- validation

TEST_F(ConfigTest, RequiredValues) {
  auto c = LoadConfig(ConfigSources{});
  ASSERT_REJECTED(c);
  EXPECT_NE(c.error().find("bootstrap is required"), std::string::npos) << c.error();
  EXPECT_NE(c.error().find("group is required"), std::string::npos) << c.error();
  EXPECT_NE(c.error().find("at least one input topic is required"), std::string::npos) << c.error();
}

TEST_F(ConfigTest, RangeAndFormatChecksNameTheSource) {
  auto top = Load(Write("r.toml",
                        "batch_max_messages = 0\nbootstrap = \"b:1\"\ngroup = \"g\"\n"
                        "[[input]]\ntopic = \"in\"\n"));
  ASSERT_REJECTED(top);
  EXPECT_NE(top.error().find("r.toml:1: batch_max_messages = 0 is out of range (1..100000)"),
            std::string::npos)
      << top.error();

  auto big = Load(WriteMinimal(), {{"BOUNCESTREAM_BATCH_MAX_MESSAGES", "100001"}});
  ASSERT_REJECTED(big);
  EXPECT_NE(big.error().find("BOUNCESTREAM_BATCH_MAX_MESSAGES: batch_max_messages = 100001"),
            std::string::npos)
      << big.error();
  auto ok = Load(WriteMinimal(), {{"BOUNCESTREAM_BATCH_MAX_MESSAGES", "100000"}});
  ASSERT_LOADED(ok);

  for (const std::string addr :
       {"9464", "localhost", ":9464", "host:99999", "host:port", "::1:9464", "[::1]9464"}) {
    ConfigSources flags;
    flags.metrics_addr = addr;
    auto m = Load(WriteMinimal(), {}, flags);
    ASSERT_REJECTED(m) << addr;
    EXPECT_NE(m.error().find("flag --metrics-addr: metrics_addr '" + addr + "'"), std::string::npos)
        << m.error();
  }
  for (const std::string addr : {"localhost:9464", "0.0.0.0:0", "[::]:9464"}) {
    ConfigSources flags;
    flags.metrics_addr = addr;
    auto m = Load(WriteMinimal(), {}, flags);
    EXPECT_TRUE(m.has_value()) << addr << ": " << m.error();
  }

  ConfigSources engine;
  engine.engine = "pcre";
  auto en = Load(WriteMinimal(), {}, engine);
  ASSERT_REJECTED(en);
  EXPECT_NE(en.error().find("flag --engine: engine 'pcre' is unknown"), std::string::npos);
}

TEST_F(ConfigTest, TopicChecks) {
  // Reading its own output would loop.
  auto loop = Load(WriteMinimal(), {{"BOUNCESTREAM_INPUTS", "bouncestream.classified"}});
  ASSERT_REJECTED(loop);
  EXPECT_NE(loop.error().find("is also the output topics.classified"), std::string::npos)
      << loop.error();

  auto twice = Load(WriteMinimal(), {{"BOUNCESTREAM_INPUTS", "a,a:ses"}});
  ASSERT_REJECTED(twice);
  EXPECT_NE(twice.error().find("listed twice"), std::string::npos) << twice.error();

  auto shared = Load(WriteMinimal(), {{"BOUNCESTREAM_TOPICS_BLOCKS", "bouncestream.suppressions"}});
  ASSERT_REJECTED(shared);
  EXPECT_NE(shared.error().find("BOUNCESTREAM_TOPICS_BLOCKS: topics.blocks"), std::string::npos)
      << shared.error();

  auto bad_group = Load(WriteMinimal(), {{"BOUNCESTREAM_GROUP", "my group"}});
  ASSERT_REJECTED(bad_group);
  EXPECT_NE(bad_group.error().find("BOUNCESTREAM_GROUP: group 'my group'"), std::string::npos)
      << bad_group.error();
}

TEST_F(ConfigTest, AllErrorsAreReportedAtOnce) {
  auto c = Load(Write("m.toml", "bootstrp = \"x\"\ngrup = \"y\"\n"), {{"BOUNCESTREAM_NOPE", "1"}});
  ASSERT_REJECTED(c);
  EXPECT_NE(c.error().find("m.toml:1: unknown key 'bootstrp'"), std::string::npos) << c.error();
  EXPECT_NE(c.error().find("m.toml:2: unknown key 'grup'"), std::string::npos) << c.error();
  EXPECT_NE(c.error().find("BOUNCESTREAM_NOPE"), std::string::npos) << c.error();
}

// ----------------------------------------------------------------------- production / plaintext

TEST_F(ConfigTest, ProductionRefusesPlaintext) {
  const Env prod = {{"BOUNCESTREAM_PROFILE", "production"}};
  auto missing = Load(WriteMinimal(), prod);
  ASSERT_REJECTED(missing);
  EXPECT_NE(missing.error().find("security.protocol is not set"), std::string::npos)
      << missing.error();

  for (const std::string protocol : {"plaintext", "PLAINTEXT", "sasl_plaintext"}) {
    Env env = prod;
    env.emplace_back("BOUNCESTREAM_KAFKA_SECURITY_PROTOCOL", protocol);
    auto c = Load(WriteMinimal(), env);
    ASSERT_REJECTED(c) << protocol;
    EXPECT_NE(c.error().find("BOUNCESTREAM_KAFKA_SECURITY_PROTOCOL: production profile refuses "
                             "security.protocol="),
              std::string::npos)
        << c.error();
    env.emplace_back("BOUNCESTREAM_ALLOW_PLAINTEXT", "true");
    auto allowed = Load(WriteMinimal(), env);
    EXPECT_TRUE(allowed.has_value()) << allowed.error();
  }

  // A consumer-only override to plaintext is caught too.
  const std::string path = Write("p.toml",
                                 "profile = \"production\"\nbootstrap = \"b:1\"\ngroup = \"g\"\n"
                                 "[[input]]\ntopic = \"in\"\n"
                                 "[kafka]\n\"security.protocol\" = \"sasl_ssl\"\n"
                                 "[kafka.consumer]\n\"security.protocol\" = \"plaintext\"\n");
  auto c = Load(path);
  ASSERT_REJECTED(c);
  EXPECT_NE(c.error().find("p.toml:9: production profile refuses security.protocol=plaintext"),
            std::string::npos)
      << c.error();

  auto tls = Load(path, {{"BOUNCESTREAM_KAFKA_CONSUMER_SECURITY_PROTOCOL", "ssl"}});
  EXPECT_TRUE(tls.has_value()) << tls.error();

  // Dev profile: plaintext is fine (the dev broker only speaks plaintext).
  auto dev = Load(WriteMinimal(), {{"BOUNCESTREAM_KAFKA_SECURITY_PROTOCOL", "plaintext"}});
  EXPECT_TRUE(dev.has_value()) << dev.error();
}

TEST_F(ConfigTest, ProductionRefusesDisabledTlsVerification) {
  const Env base = {{"BOUNCESTREAM_PROFILE", "production"},
                    {"BOUNCESTREAM_KAFKA_SECURITY_PROTOCOL", "sasl_ssl"}};
  Env verify = base;
  verify.emplace_back("BOUNCESTREAM_KAFKA_ENABLE_SSL_CERTIFICATE_VERIFICATION", "false");
  auto v = Load(WriteMinimal(), verify);
  ASSERT_REJECTED(v);
  EXPECT_NE(v.error().find("enable.ssl.certificate.verification=false"), std::string::npos);

  Env host = base;
  host.emplace_back("BOUNCESTREAM_KAFKA_SSL_ENDPOINT_IDENTIFICATION_ALGORITHM", "none");
  auto h = Load(WriteMinimal(), host);
  ASSERT_REJECTED(h);
  EXPECT_NE(h.error().find("ssl.endpoint.identification.algorithm=none"), std::string::npos);

  auto ok = Load(WriteMinimal(), base);
  EXPECT_TRUE(ok.has_value()) << ok.error();
}

// --------------------------------------------------------------------- librdkafka property lists

TEST_F(ConfigTest, ConsumerPropertiesDevProfile) {
  auto c =
      Load(WriteMinimal("[kafka]\n\"client.id\" = \"cid\"\n[kafka.consumer]\n"
                        "\"session.timeout.ms\" = 8000\n"));
  ASSERT_LOADED(c);
  const KafkaProperties p = ConsumerProperties(*c);
  EXPECT_EQ(PropOr(p, "bootstrap.servers"), "file:9092");
  EXPECT_EQ(PropOr(p, "group.id"), "g");
  EXPECT_EQ(PropOr(p, "enable.auto.commit"), "false");
  EXPECT_EQ(PropOr(p, "enable.auto.offset.store"), "false");
  EXPECT_EQ(PropOr(p, "auto.offset.reset"), "error");  // the processor handles resets itself
  EXPECT_EQ(PropOr(p, "partition.assignment.strategy"), "roundrobin");
  EXPECT_EQ(PropOr(p, "enable.partition.eof"), "false");
  EXPECT_EQ(PropOr(p, "session.timeout.ms"), "8000");  // the user's, once
  EXPECT_EQ(PropOr(p, "heartbeat.interval.ms"), "1000");
  EXPECT_EQ(PropOr(p, "fetch.wait.max.ms"), "20");
  EXPECT_EQ(PropOr(p, "client.id"), "cid");
  EXPECT_EQ(Prop(p, "enable.idempotence"), nullptr);
}

TEST_F(ConfigTest, ConsumerPropertiesProductionHasNoDevDefaults) {
  auto c = Load(WriteMinimal(), {{"BOUNCESTREAM_PROFILE", "production"},
                                 {"BOUNCESTREAM_KAFKA_SECURITY_PROTOCOL", "ssl"}});
  ASSERT_LOADED(c);
  const KafkaProperties p = ConsumerProperties(*c);
  EXPECT_EQ(Prop(p, "session.timeout.ms"), nullptr);
  EXPECT_EQ(Prop(p, "heartbeat.interval.ms"), nullptr);
  EXPECT_EQ(Prop(p, "fetch.wait.max.ms"), nullptr);
  EXPECT_EQ(PropOr(p, "security.protocol"), "ssl");
  EXPECT_EQ(PropOr(p, "enable.auto.commit"), "false");
}

TEST_F(ConfigTest, ProducerProperties) {
  auto c =
      Load(WriteMinimal("[kafka]\n\"client.id\" = \"cid\"\n\"linger.ms\" = 50\n"
                        "[kafka.producer]\n\"client.id\" = \"pid\"\n"
                        "[kafka.consumer]\n\"fetch.min.bytes\" = 10\n"));
  ASSERT_LOADED(c);
  const KafkaProperties p = ProducerProperties(*c);
  EXPECT_EQ(PropOr(p, "bootstrap.servers"), "file:9092");
  EXPECT_EQ(PropOr(p, "enable.idempotence"), "true");
  EXPECT_EQ(PropOr(p, "acks"), "all");
  EXPECT_EQ(PropOr(p, "linger.ms"), "50");
  EXPECT_EQ(PropOr(p, "client.id"), "pid");  // the section overrides [kafka]
  EXPECT_EQ(Prop(p, "fetch.min.bytes"), nullptr);
  EXPECT_EQ(Prop(p, "group.id"), nullptr);

  auto d = Load(WriteMinimal());
  ASSERT_LOADED(d);
  EXPECT_EQ(PropOr(ProducerProperties(*d), "linger.ms"), "5");
}

// ---------------------------------------------------------------------------- other entry points

TEST_F(ConfigTest, ValidateConfigOnAConfigBuiltInCode) {
  Config c;
  c.bootstrap = "b:1";
  c.group = "g";
  c.inputs = {{"in", InputFormat::kAuto}};
  EXPECT_TRUE(ValidateConfig(c).has_value());
  c.kafka_consumer = {{"enable.auto.commit", "true"}};
  auto r = ValidateConfig(c);
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().find("enable.auto.commit"), std::string::npos);
}

TEST_F(ConfigTest, EnvFromEnvironPicksOurVariables) {
  ::setenv("BOUNCESTREAM_CONFIG_TEST_MARKER", "v=1", 1);
  ::setenv("NOT_BOUNCESTREAM_MARKER", "x", 1);
  const auto env = EnvFromEnviron();
  ::unsetenv("BOUNCESTREAM_CONFIG_TEST_MARKER");
  ::unsetenv("NOT_BOUNCESTREAM_MARKER");
  EXPECT_NE(
      std::find(env.begin(), env.end(),
                std::pair<std::string, std::string>{"BOUNCESTREAM_CONFIG_TEST_MARKER", "v=1"}),
      env.end());
  for (const auto& [name, value] : env) EXPECT_TRUE(name.starts_with("BOUNCESTREAM_")) << name;
}

// ------------------------------------------------------------------------------- example file

const std::string kExample =
    std::string(BOUNCESTREAM_SOURCE_DIR) + "/stream/bouncestream.example.toml";

TEST_F(ConfigTest, ExampleFileLoads) {
  auto c = Load(kExample);
  ASSERT_LOADED(c);
  EXPECT_EQ(c->profile, Profile::kDev);
  EXPECT_FALSE(c->inputs.empty());
  EXPECT_FALSE(c->bootstrap.empty());
  // Every key the file shows has its default value or a documented one.
  EXPECT_EQ(c->topics, OutputTopics{});
  EXPECT_EQ(c->batch_max_messages, 1000);
}

TEST_F(ConfigTest, ExampleFileGoesToProductionWithEnvironmentOnly) {
  const std::string pw = Write("pw", "prod-secret\n");
  auto c = Load(kExample, {{"BOUNCESTREAM_PROFILE", "production"},
                           {"BOUNCESTREAM_BOOTSTRAP", "kafka-1:9093,kafka-2:9093"},
                           {"BOUNCESTREAM_KAFKA_SECURITY_PROTOCOL", "sasl_ssl"},
                           {"BOUNCESTREAM_KAFKA_SASL_MECHANISMS", "SCRAM-SHA-512"},
                           {"BOUNCESTREAM_KAFKA_SASL_USERNAME", "bouncestream"},
                           {"BOUNCESTREAM_KAFKA_SASL_PASSWORD_FILE", pw}});
  ASSERT_LOADED(c);
  EXPECT_EQ(PropOr(c->kafka_common, "sasl.password"), "prod-secret");
  EXPECT_EQ(PrintConfig(*c).find("prod-secret"), std::string::npos);
}

}  // namespace
}  // namespace bouncestream::stream
