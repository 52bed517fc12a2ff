// `bouncestream run` configuration: precedence (defaults < file < env < flags), rejection of
// unknown keys/variables, app-owned librdkafka keys and secrets on argv, `<key>.file` secrets,
// redaction, the librdkafka property lists, the [state] / [policy] / [admin] / [metrics] sections,
// and the shipped example file.
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

#include "tests/stream/temp_dir_test.h"

namespace bouncestream::stream {
namespace {

namespace fs = std::filesystem;
using Env = std::vector<std::pair<std::string, std::string>>;

class ConfigTest : public testing::TempDirTest {
 protected:
  ConfigTest() : TempDirTest("config") {}

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
#define EXPECT_HAS(text, part) EXPECT_NE((text).find(part), std::string::npos) << (text)

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

// ------------------------------------------------------------------- units: durations and sizes

TEST_F(ConfigTest, DurationsParseWithUnits) {
  const std::vector<std::pair<std::string, std::int64_t>> good = {{"500ms", 500},
                                                                  {"90s", 90'000},
                                                                  {"30m", 30 * state::kMinuteMs},
                                                                  {"24h", state::kDayMs},
                                                                  {"7d", 7 * state::kDayMs},
                                                                  {"1h30m", 90 * state::kMinuteMs},
                                                                  {" 2d ", 2 * state::kDayMs},
                                                                  {"0", 0},
                                                                  {"0s", 0}};
  for (const auto& [text, ms] : good) {
    auto v = ParseDurationMs(text);
    ASSERT_TRUE(v.has_value()) << text << ": " << v.error();
    EXPECT_EQ(*v, ms) << text;
  }
  EXPECT_EQ(ParseDurationMs("never", true).value_or(-1), 0);
  for (const std::string bad : {"", "90", "7w", "7D", "1.5h", "-5m", "m", "1 h", "never",
                                "9999999999999999999d", "99999999999999d"}) {
    EXPECT_FALSE(ParseDurationMs(bad).has_value()) << bad;
  }
  EXPECT_HAS(ParseDurationMs("90").error(), "has no unit");
  EXPECT_HAS(ParseDurationMs("90").error(), "\"90s\"");
  EXPECT_HAS(ParseDurationMs("7w").error(), "unknown unit 'w'");
  EXPECT_HAS(ParseDurationMs("1.5h").error(), "not a whole number");
  EXPECT_HAS(ParseDurationMs("-5m").error(), "negative");
  EXPECT_HAS(ParseDurationMs("99999999999999d").error(), "too large");

  for (std::int64_t ms :
       {std::int64_t{0}, std::int64_t{1}, std::int64_t{1500}, std::int64_t{90'000},
        90 * state::kMinuteMs, 25 * state::kHourMs, 180 * state::kDayMs}) {
    EXPECT_EQ(ParseDurationMs(FormatDurationMs(ms)).value_or(-1), ms) << FormatDurationMs(ms);
  }
  EXPECT_EQ(FormatDurationMs(7 * state::kDayMs), "7d");
  EXPECT_EQ(FormatDurationMs(90 * state::kMinuteMs), "90m");
  EXPECT_EQ(FormatDurationMs(1500), "1500ms");
}

TEST_F(ConfigTest, ByteSizesParseWithBinaryUnits) {
  EXPECT_EQ(ParseByteSize("64MiB").value_or(-1), 64LL << 20);
  EXPECT_EQ(ParseByteSize("1GiB").value_or(-1), 1LL << 30);
  EXPECT_EQ(ParseByteSize("512 KiB").value_or(-1), 512LL << 10);
  EXPECT_EQ(ParseByteSize("2tib").value_or(-1), 2LL << 40);
  EXPECT_EQ(ParseByteSize("1000").value_or(-1), 1000);
  EXPECT_EQ(ParseByteSize("1000B").value_or(-1), 1000);
  for (const std::string bad :
       {"", "64MB", "1G", "1.5GiB", "-1MiB", "lots", "64 parsecs", "99999999999TiB"}) {
    EXPECT_FALSE(ParseByteSize(bad).has_value()) << bad;
  }
  EXPECT_HAS(ParseByteSize("64MB").error(), "ambiguous");
  EXPECT_HAS(ParseByteSize("64MB").error(), "\"64MiB\"");
  EXPECT_EQ(FormatByteSize(64LL << 20), "64MiB");
  EXPECT_EQ(FormatByteSize(1LL << 30), "1GiB");
  EXPECT_EQ(FormatByteSize(1536LL << 20), "1536MiB");
  EXPECT_EQ(FormatByteSize(1000), "1000");
}

// ------------------------------------------------------------ [state] [policy] [admin] [metrics]

TEST_F(ConfigTest, NewSectionsHaveTheirDefaults) {
  auto c = Load(WriteMinimal());
  ASSERT_LOADED(c);
  EXPECT_EQ(c->state, StateSettings{});
  EXPECT_TRUE(c->state.enabled);
  EXPECT_FALSE(c->state.hash_recipients);
  EXPECT_EQ(c->policy, state::PolicySet{});
  EXPECT_EQ(c->admin, AdminSettings{});
  EXPECT_EQ(c->metrics, MetricsSettings{});
  EXPECT_EQ(c->topics.audit, "bouncestream.audit");
  EXPECT_EQ(c->topics.admin, "bouncestream.admin");
}

TEST_F(ConfigTest, EveryNewSectionKeyIsRead) {
  const std::string key = Write("hmac.key", "0123456789abcdef-hmac\n");
  const std::string token = Write("admin.token", "admin-token-value\n");
  auto c = Load(WriteMinimal(R"(
[topics]
audit = "my.audit"
admin = "my.admin"

[state]
enabled = false
sync_writes = true
hash_recipients = true
hmac_key.file = ")" + key + R"("
dedupe_horizon = "2d"
max_lateness = "36h"
block_cache = "1GiB"
hot_window_entries = 4096

[policy]
hard_suppress_ttl = "365d"
soft_bounce_count = 3
soft_bounce_window = "5d"
soft_suppress_ttl = "14d"
end_user_suppress_ttl = "90d"
admin_block_distinct_recipients = 4
admin_block_window = "12h"
domain_pause_ttl = "6h"
platform_block_count = 10
platform_block_window = "30m"
ip_pause_ttl = "2h"
sender_config_alert_count = 2
sender_config_window = "90s"
alert_ttl = "500ms"

[admin]
"token.file" = ")" + token + R"("

[metrics]
tenant_allow_list = ["acme", "globex"]

[metrics.providers]
gmail = ["gmail.com", "GoogleMail.com"]
microsoft = ["outlook.com", "hotmail.com"]
)"));
  ASSERT_LOADED(c);
  EXPECT_EQ(c->topics.audit, "my.audit");
  EXPECT_EQ(c->topics.admin, "my.admin");
  EXPECT_FALSE(c->state.enabled);
  EXPECT_TRUE(c->state.sync_writes);
  EXPECT_TRUE(c->state.hash_recipients);
  EXPECT_EQ(c->state.hmac_key, "0123456789abcdef-hmac");  // trailing newline dropped
  EXPECT_EQ(c->state.dedupe_horizon_ms, 2 * state::kDayMs);
  EXPECT_EQ(c->state.max_lateness_ms, 36 * state::kHourMs);
  EXPECT_EQ(c->state.block_cache_bytes, 1LL << 30);
  EXPECT_EQ(c->state.hot_window_entries, 4096);
  const state::PolicyConfig& p = c->policy.defaults;
  EXPECT_EQ(p.hard_suppress_ttl_ms, 365 * state::kDayMs);
  EXPECT_EQ(p.soft_bounce_count, 3);
  EXPECT_EQ(p.soft_bounce_window_ms, 5 * state::kDayMs);
  EXPECT_EQ(p.soft_suppress_ttl_ms, 14 * state::kDayMs);
  EXPECT_EQ(p.end_user_suppress_ttl_ms, 90 * state::kDayMs);
  EXPECT_EQ(p.admin_block_distinct_recipients, 4);
  EXPECT_EQ(p.admin_block_window_ms, 12 * state::kHourMs);
  EXPECT_EQ(p.domain_pause_ttl_ms, 6 * state::kHourMs);
  EXPECT_EQ(p.platform_block_count, 10);
  EXPECT_EQ(p.platform_block_window_ms, 30 * state::kMinuteMs);
  EXPECT_EQ(p.ip_pause_ttl_ms, 2 * state::kHourMs);
  EXPECT_EQ(p.sender_config_alert_count, 2);
  EXPECT_EQ(p.sender_config_window_ms, 90'000);
  EXPECT_EQ(p.alert_ttl_ms, 500);
  EXPECT_TRUE(c->policy.tenants.empty());
  EXPECT_EQ(c->admin.token, "admin-token-value");
  EXPECT_EQ(c->metrics.tenant_allow_list, (std::vector<std::string>{"acme", "globex"}));
  using Providers = std::vector<std::pair<std::string, std::vector<std::string>>>;
  EXPECT_EQ(c->metrics.providers,
            (Providers{{"gmail", {"gmail.com", "googlemail.com"}},  // lower-cased
                       {"microsoft", {"outlook.com", "hotmail.com"}}}));
}

TEST_F(ConfigTest, HardSuppressTtlNeverAndZero) {
  for (const std::string v : {"never", "0", "0s"}) {
    auto c = Load(WriteMinimal("[policy]\nhard_suppress_ttl = \"" + v + "\"\n"));
    ASSERT_LOADED(c);
    EXPECT_EQ(c->policy.defaults.hard_suppress_ttl_ms, 0) << v;
  }
  // "never" is only for the TTL that can be endless; a zero window or TTL is out of range.
  auto c = Load(WriteMinimal("[policy]\nsoft_suppress_ttl = \"never\"\nalert_ttl = \"0\"\n"));
  ASSERT_REJECTED(c);
  EXPECT_HAS(c.error(),
             "cfg.toml:6: [policy] 'soft_suppress_ttl': 'never' is only accepted for "
             "hard_suppress_ttl");
  EXPECT_HAS(c.error(), "cfg.toml:7: policy.alert_ttl = 0s is out of range (1ms..36500d)");
}

TEST_F(ConfigTest, StateBadValuesNameTheirLines) {
  const std::string path = WriteMinimal(
      "[state]\n"                        // 5
      "enabled = \"yes\"\n"              // 6
      "dedupe_horizon = 5\n"             // 7
      "max_lateness = \"5 parsecs\"\n"   // 8
      "block_cache = \"64MB\"\n"         // 9
      "hot_window_entries = \"many\"\n"  // 10
      "dedupe_horizn = \"1d\"\n"         // 11
      "dir = \"/x\"\n"                   // 12
      "sync_writes = 1\n");              // 13
  auto c = Load(path);
  ASSERT_REJECTED(c);
  const std::string& e = c.error();
  EXPECT_HAS(e, "cfg.toml:6: [state] 'enabled' must be true or false");
  EXPECT_HAS(e, "cfg.toml:7: [state] 'dedupe_horizon' must be a duration string with a unit");
  EXPECT_HAS(e, "not the bare number 5 (the unit is required)");
  EXPECT_HAS(e, "cfg.toml:8: [state] 'max_lateness': '5 parsecs' is not a duration");
  EXPECT_HAS(e, "cfg.toml:9: [state] 'block_cache': '64MB': 'MB' is ambiguous");
  EXPECT_HAS(e, "cfg.toml:10: [state] 'hot_window_entries' must be an integer");
  EXPECT_HAS(e,
             "cfg.toml:11: unknown key 'dedupe_horizn' in [state] (did you mean "
             "'dedupe_horizon'?)");
  EXPECT_HAS(e,
             "cfg.toml:12: unknown key 'dir' in [state]: the state directory is the top-level "
             "key state_dir");
  EXPECT_HAS(e, "cfg.toml:13: [state] 'sync_writes' must be true or false");
}

TEST_F(ConfigTest, StateRangesAreChecked) {
  auto c =
      Load(WriteMinimal("[state]\n"
                        "block_cache = 1000\n"           // 6: below 1MiB
                        "hot_window_entries = -1\n"      // 7
                        "max_lateness = \"36501d\"\n"    // 8
                        "dedupe_horizon = \"-1h\"\n"));  // 9
  ASSERT_REJECTED(c);
  EXPECT_HAS(c.error(), "cfg.toml:6: state.block_cache = 1000 is out of range (1MiB..1TiB)");
  EXPECT_HAS(c.error(),
             "cfg.toml:7: state.hot_window_entries = -1 is out of range (1..1000000000)");
  EXPECT_HAS(c.error(), "cfg.toml:8: state.max_lateness = 36501d is out of range (1ms..36500d)");
  EXPECT_HAS(c.error(), "cfg.toml:9: [state] 'dedupe_horizon': '-1h' is negative");

  auto ok = Load(WriteMinimal("[state]\nblock_cache = 1048576\nhot_window_entries = 1\n"));
  ASSERT_LOADED(ok);
  EXPECT_EQ(ok->state.block_cache_bytes, 1LL << 20);
}

TEST_F(ConfigTest, CheckpointWhenCaughtUpIsOnByDefaultAndCanBeSwitchedOff) {
  auto d = Load(WriteMinimal());
  ASSERT_LOADED(d);
  EXPECT_TRUE(d->state.checkpoint_when_caught_up);
  const std::string path = WriteMinimal("[state]\ncheckpoint_when_caught_up = false\n");
  auto off = Load(path);
  ASSERT_LOADED(off);
  EXPECT_FALSE(off->state.checkpoint_when_caught_up);
  auto env = Load(path, {{"BOUNCESTREAM_STATE_CHECKPOINT_WHEN_CAUGHT_UP", "true"}});
  ASSERT_LOADED(env);
  EXPECT_TRUE(env->state.checkpoint_when_caught_up);
}

TEST_F(ConfigTest, StateEnvironmentOverridesTheFile) {
  const std::string path = WriteMinimal(
      "[state]\nsync_writes = false\nenabled = true\ndedupe_horizon = \"1d\"\n"
      "block_cache = \"64MiB\"\nhot_window_entries = 10\n");
  auto c = Load(path, {{"BOUNCESTREAM_STATE_SYNC_WRITES", "true"},
                       {"BOUNCESTREAM_STATE_ENABLED", "off"},
                       {"BOUNCESTREAM_STATE_DEDUPE_HORIZON", "12h"},
                       {"BOUNCESTREAM_STATE_MAX_LATENESS", "2d"},
                       {"BOUNCESTREAM_STATE_BLOCK_CACHE", "2GiB"},
                       {"BOUNCESTREAM_STATE_HOT_WINDOW_ENTRIES", "20"},
                       {"BOUNCESTREAM_STATE_HASH_RECIPIENTS", ""},  // empty = not set
                       {"BOUNCESTREAM_STATE_DIR", "/s"}});
  ASSERT_LOADED(c);
  EXPECT_TRUE(c->state.sync_writes);
  EXPECT_FALSE(c->state.enabled);
  EXPECT_FALSE(c->state.hash_recipients);
  EXPECT_EQ(c->state.dedupe_horizon_ms, 12 * state::kHourMs);
  EXPECT_EQ(c->state.max_lateness_ms, 2 * state::kDayMs);
  EXPECT_EQ(c->state.block_cache_bytes, 2LL << 30);
  EXPECT_EQ(c->state.hot_window_entries, 20);
  EXPECT_EQ(c->state_dir, "/s");

  auto bad = Load(path, {{"BOUNCESTREAM_STATE_SYNC_WRITES", "maybe"},
                         {"BOUNCESTREAM_STATE_DEDUPE_HORIZON", "12"},
                         {"BOUNCESTREAM_STATE_BLOCK_CACHE", "1MB"},
                         {"BOUNCESTREAM_STATE_HOT_WINDOW_ENTRIES", "x"},
                         {"BOUNCESTREAM_STATE_MAX_LATENESS", "0s"},
                         {"BOUNCESTREAM_STATE_SYNC_WRITE", "true"}});
  ASSERT_REJECTED(bad);
  const std::string& e = bad.error();
  EXPECT_HAS(e, "environment variable BOUNCESTREAM_STATE_SYNC_WRITES: expected true or false");
  EXPECT_HAS(e, "environment variable BOUNCESTREAM_STATE_DEDUPE_HORIZON: '12' has no unit");
  EXPECT_HAS(e, "environment variable BOUNCESTREAM_STATE_BLOCK_CACHE: '1MB': 'MB' is ambiguous");
  EXPECT_HAS(e, "environment variable BOUNCESTREAM_STATE_HOT_WINDOW_ENTRIES: expected an integer");
  EXPECT_HAS(e,
             "environment variable BOUNCESTREAM_STATE_MAX_LATENESS: state.max_lateness = 0s is "
             "out of range");
  EXPECT_HAS(e,
             "environment variable BOUNCESTREAM_STATE_SYNC_WRITE: unknown variable (did you "
             "mean 'BOUNCESTREAM_STATE_SYNC_WRITES'?)");
}

TEST_F(ConfigTest, HmacKeyFromFileInlineOrEnvironment) {
  const std::string key = Write("k", "k-0123456789abcdef\n");
  // Dotted (unquoted) and quoted `.file` keys, and an inline value (like librdkafka secrets).
  for (const std::string& line :
       {"hmac_key.file = \"" + key + "\"", "\"hmac_key.file\" = \"" + key + "\"",
        std::string("hmac_key = \"k-0123456789abcdef\"")}) {
    auto c = Load(WriteMinimal("[state]\nhash_recipients = true\n" + line + "\n"));
    ASSERT_LOADED(c);
    EXPECT_EQ(c->state.hmac_key, "k-0123456789abcdef") << line;
  }
  // The environment wins over the file, and the file's secret file is then never read.
  auto env =
      Load(WriteMinimal("[state]\nhash_recipients = true\nhmac_key.file = \"/nonexistent\"\n"),
           {{"BOUNCESTREAM_STATE_HMAC_KEY", "env-key-0123456789"}});
  ASSERT_LOADED(env);
  EXPECT_EQ(env->state.hmac_key, "env-key-0123456789");
  auto env_file =
      Load(WriteMinimal("[state]\nhash_recipients = true\nhmac_key = \"file-0123456789abcdef\"\n"),
           {{"BOUNCESTREAM_STATE_HMAC_KEY_FILE", key}});
  ASSERT_LOADED(env_file);
  EXPECT_EQ(env_file->state.hmac_key, "k-0123456789abcdef");
  auto env_only = Load(WriteMinimal(), {{"BOUNCESTREAM_STATE_HASH_RECIPIENTS", "true"},
                                        {"BOUNCESTREAM_STATE_HMAC_KEY_FILE", key}});
  ASSERT_LOADED(env_only);
  EXPECT_TRUE(env_only->state.hash_recipients);
  EXPECT_EQ(env_only->state.hmac_key, "k-0123456789abcdef");
}

TEST_F(ConfigTest, HmacKeyProblems) {
  const std::string key = Write("k", "k-0123456789abcdef");
  // Value and file in one layer.
  auto twice =
      Load(WriteMinimal("[state]\nhmac_key = \"a-0123456789abcdef\"\n"
                        "\"hmac_key.file\" = \"" +
                        key + "\"\n"));
  ASSERT_REJECTED(twice);
  EXPECT_HAS(twice.error(), "cfg.toml:7: state.hmac_key is given twice");
  EXPECT_EQ(twice.error().find("a-0123456789abcdef"), std::string::npos) << twice.error();
  auto env_twice = Load(WriteMinimal(), {{"BOUNCESTREAM_STATE_HMAC_KEY", "b-0123456789abcdef"},
                                         {"BOUNCESTREAM_STATE_HMAC_KEY_FILE", key}});
  ASSERT_REJECTED(env_twice);
  EXPECT_HAS(env_twice.error(), "BOUNCESTREAM_STATE_HMAC_KEY_FILE: state.hmac_key is given twice");

  // A missing or empty file; a wrong type; an unknown sub-key.
  auto missing =
      Load(WriteMinimal("[state]\nhmac_key.file = \"" + (dir_ / "nope").string() + "\"\n"));
  ASSERT_REJECTED(missing);
  EXPECT_HAS(missing.error(), "cfg.toml:6: cannot read 'state.hmac_key' from file ");
  const std::string empty = Write("empty", "\n");
  auto e = Load(WriteMinimal(), {{"BOUNCESTREAM_STATE_HMAC_KEY_FILE", empty}});
  ASSERT_REJECTED(e);
  EXPECT_HAS(e.error(), "BOUNCESTREAM_STATE_HMAC_KEY_FILE: cannot read 'state.hmac_key' from file");
  EXPECT_HAS(e.error(), "the file is empty");
  auto type =
      Load(WriteMinimal("[state]\nhmac_key = 12345\nhmac_kee = \"x\"\n"
                        "[admin]\ntoken.path = \"/x\"\n"));
  ASSERT_REJECTED(type);
  EXPECT_HAS(type.error(),
             "cfg.toml:6: [state] 'hmac_key' must be a string, or hmac_key.file = PATH");
  EXPECT_HAS(type.error(),
             "cfg.toml:7: unknown key 'hmac_kee' in [state] (did you mean 'hmac_key'?)");
  EXPECT_HAS(type.error(),
             "cfg.toml:9: unknown key 'token.path' in [admin]; write token.file = PATH");
}

TEST_F(ConfigTest, HashRecipientsNeedsALongEnoughKeyInEveryProfile) {
  const std::string short_key = Write("short", "0123456789abcde\n");  // 15 bytes
  const std::string ok_key = Write("ok", "0123456789abcdef\n");       // 16 bytes
  for (const std::string profile : {"dev", "production"}) {
    const Env base = {{"BOUNCESTREAM_PROFILE", profile},
                      {"BOUNCESTREAM_KAFKA_SECURITY_PROTOCOL", "ssl"}};
    auto none = Load(WriteMinimal("[state]\nhash_recipients = true\n"), base);
    ASSERT_REJECTED(none) << profile;
    EXPECT_HAS(none.error(),
               "cfg.toml:6: state.hash_recipients = true needs state.hmac_key (at "
               "least 16 bytes)");
    Env env = base;
    env.emplace_back("BOUNCESTREAM_STATE_HMAC_KEY_FILE", short_key);
    auto short_one = Load(WriteMinimal("[state]\nhash_recipients = true\n"), env);
    ASSERT_REJECTED(short_one) << profile;
    EXPECT_HAS(short_one.error(),
               "environment variable BOUNCESTREAM_STATE_HMAC_KEY_FILE: "
               "state.hmac_key has 15 bytes; hash_recipients needs at least 16");
    EXPECT_EQ(short_one.error().find("0123456789abcde"), std::string::npos) << short_one.error();
    env.back().second = ok_key;
    auto fine = Load(WriteMinimal("[state]\nhash_recipients = true\n"), env);
    EXPECT_TRUE(fine.has_value()) << profile << ": " << fine.error();
  }
  // Without hash_recipients the key is not needed (nor checked for length).
  auto off = Load(WriteMinimal("[state]\nhmac_key = \"short\"\n"));
  EXPECT_TRUE(off.has_value()) << off.error();
}

TEST_F(ConfigTest, SectionSecretsAreNeverTakenFromArgv) {
  for (const std::string key : {"hmac_key", "state.hmac_key", "state.hmac_key.file", "token",
                                "admin.token", "admin.token.file"}) {
    ConfigSources flags;
    flags.kafka_props = {key + "=s3cr3t-value-0123456789"};
    auto c = Load(WriteMinimal(), {}, flags);
    ASSERT_REJECTED(c) << key;
    EXPECT_HAS(c.error(), "flag -X " + key + ": ");
    EXPECT_HAS(c.error(), "secrets are never taken from the command line");
    EXPECT_HAS(c.error(), key.find("token") != std::string::npos
                              ? "BOUNCESTREAM_ADMIN_TOKEN_FILE"
                              : "BOUNCESTREAM_STATE_HMAC_KEY_FILE");
    EXPECT_EQ(c.error().find("s3cr3t-value"), std::string::npos) << c.error();
  }
}

TEST_F(ConfigTest, PrintedSecretPlaceholderIsRefused) {
  auto c = Load(WriteMinimal("[state]\nhmac_key = \"***\"\n[admin]\ntoken = \"***\"\n"));
  ASSERT_REJECTED(c);
  EXPECT_HAS(c.error(), "cfg.toml:6: state.hmac_key is \"***\", the placeholder --print-config");
  EXPECT_HAS(c.error(), "cfg.toml:8: admin.token is \"***\", the placeholder --print-config");
}

TEST_F(ConfigTest, AdminTokenSources) {
  const std::string token = Write("t", "tok-from-file\n");
  auto inline_token = Load(WriteMinimal("[admin]\ntoken = \"tok-inline\"\n"));
  ASSERT_LOADED(inline_token);
  EXPECT_EQ(inline_token->admin.token, "tok-inline");
  auto file = Load(WriteMinimal("[admin]\ntoken.file = \"" + token + "\"\n"));
  ASSERT_LOADED(file);
  EXPECT_EQ(file->admin.token, "tok-from-file");
  auto env = Load(WriteMinimal("[admin]\ntoken.file = \"/nonexistent\"\n"),
                  {{"BOUNCESTREAM_ADMIN_TOKEN", "tok-env"}});
  ASSERT_LOADED(env);
  EXPECT_EQ(env->admin.token, "tok-env");
  auto env_file = Load(WriteMinimal("[admin]\ntoken = \"tok-inline\"\n"),
                       {{"BOUNCESTREAM_ADMIN_TOKEN_FILE", token}});
  ASSERT_LOADED(env_file);
  EXPECT_EQ(env_file->admin.token, "tok-from-file");

  auto bad =
      Load(WriteMinimal("[admin]\ntokn = \"x\"\n"), {{"BOUNCESTREAM_ADMIN_TOKEN", "a"},
                                                     {"BOUNCESTREAM_ADMIN_TOKEN_FILE", token},
                                                     {"BOUNCESTREAM_ADMIN_TOKN", "x"}});
  ASSERT_REJECTED(bad);
  EXPECT_HAS(bad.error(), "cfg.toml:6: unknown key 'tokn' in [admin] (did you mean 'token'?)");
  EXPECT_HAS(bad.error(), "BOUNCESTREAM_ADMIN_TOKEN_FILE: admin.token is given twice");
  EXPECT_HAS(bad.error(),
             "BOUNCESTREAM_ADMIN_TOKN: unknown variable (did you mean "
             "'BOUNCESTREAM_ADMIN_TOKEN'?)");
  auto not_table = Load(Write("t.toml", "admin = \"x\"\n"));
  ASSERT_REJECTED(not_table);
  EXPECT_HAS(not_table.error(), "'admin' must be a table: [admin]");
}

TEST_F(ConfigTest, PolicyBadValuesNameTheirLines) {
  const std::string path = WriteMinimal(
      "[policy]\n"                                 // 5
      "soft_bounce_count = 0\n"                    // 6
      "platform_block_count = -3\n"                // 7
      "admin_block_distinct_recipients = \"3\"\n"  // 8
      "soft_bounce_window = \"7\"\n"               // 9
      "admin_block_window = 3600000\n"             // 10
      "ip_pause_ttl = \"6hours\"\n"                // 11
      "soft_bounce_window_ms = 1\n"                // 12
      "sender_config_alert_count = 9999999999\n"   // 13
      "[policy.tenant.\"acme\"]\n"                 // 14
      "alert_tl = \"1h\"\n"                        // 15
      "domain_pause_ttl = \"0s\"\n");              // 16
  auto c = Load(path);
  ASSERT_REJECTED(c);
  const std::string& e = c.error();
  EXPECT_HAS(e, "cfg.toml:6: policy.soft_bounce_count = 0 is out of range (1..1000000)");
  EXPECT_HAS(e, "cfg.toml:7: policy.platform_block_count = -3 is out of range (1..1000000)");
  EXPECT_HAS(e, "cfg.toml:8: [policy] 'admin_block_distinct_recipients' must be an integer");
  EXPECT_HAS(e, "cfg.toml:9: [policy] 'soft_bounce_window': '7' has no unit");
  EXPECT_HAS(e, "cfg.toml:10: [policy] 'admin_block_window' must be a duration string");
  EXPECT_HAS(e, "cfg.toml:11: [policy] 'ip_pause_ttl': '6hours' has an unknown unit 'hours'");
  EXPECT_HAS(e,
             "cfg.toml:12: unknown key 'soft_bounce_window_ms' in [policy] (did you mean "
             "'soft_bounce_window'?)");
  EXPECT_HAS(e, "cfg.toml:13: policy.sender_config_alert_count = 9999999999 is out of range");
  EXPECT_HAS(e,
             "cfg.toml:15: unknown key 'alert_tl' in [policy.tenant.\"acme\"] (did you mean "
             "'alert_ttl'?)");
  EXPECT_HAS(e, "cfg.toml:16: policy.tenant.\"acme\".domain_pause_ttl = 0s is out of range");

  auto shape = Load(WriteMinimal("[policy]\ntenant = 5\n[metrics]\n"));
  ASSERT_REJECTED(shape);
  EXPECT_HAS(shape.error(), "cfg.toml:6: [policy] 'tenant' must be a table of tenants");
  auto tenant_value = Load(WriteMinimal("[policy.tenant]\nacme = 5\n"));
  ASSERT_REJECTED(tenant_value);
  EXPECT_HAS(tenant_value.error(), "cfg.toml:6: [policy.tenant] \"acme\" must be a table");
  auto typo = Load(WriteMinimal("[policy.tenants.\"acme\"]\nalert_ttl = \"1h\"\n"));
  ASSERT_REJECTED(typo);
  EXPECT_HAS(typo.error(), "unknown key 'tenants' in [policy] (did you mean 'tenant'?)");
}

TEST_F(ConfigTest, TenantOverridesStartFromTheFinalDefaultsInAnyOrder) {
  const std::string policy = "[policy]\nsoft_bounce_count = 8\nsoft_bounce_window = \"10d\"\n";
  const std::string tenants =
      "[policy.tenant.\"acme\"]\nsoft_bounce_count = 2\n"
      "[policy.tenant.\"tenant with spaces/and.dots\"]\nalert_ttl = \"1h\"\n"
      "[policy.tenant.\"empty\"]\n";
  auto before = Load(WriteMinimal(policy + tenants, "before.toml"));
  auto after = Load(WriteMinimal(tenants + policy, "after.toml"));
  ASSERT_LOADED(before);
  ASSERT_LOADED(after);
  EXPECT_EQ(before->policy, after->policy);

  const state::PolicySet& p = before->policy;
  ASSERT_EQ(p.tenants.size(), 3u);
  const state::PolicyConfig& acme = p.For("acme");
  EXPECT_EQ(acme.soft_bounce_count, 2);                              // its own
  EXPECT_EQ(acme.soft_bounce_window_ms, 10 * state::kDayMs);         // from [policy]
  EXPECT_EQ(acme.alert_ttl_ms, state::PolicyConfig{}.alert_ttl_ms);  // built-in default
  EXPECT_EQ(p.For("tenant with spaces/and.dots").alert_ttl_ms, state::kHourMs);
  EXPECT_EQ(p.For("tenant with spaces/and.dots").soft_bounce_count, 8);
  EXPECT_EQ(p.For("empty"), p.defaults);
  EXPECT_EQ(&p.For("unknown"), &p.defaults);

  // The environment changes the defaults; tenants inherit it unless they set the key.
  auto env = Load(WriteMinimal(tenants + policy), {{"BOUNCESTREAM_POLICY_SOFT_BOUNCE_COUNT", "11"},
                                                   {"BOUNCESTREAM_POLICY_ALERT_TTL", "2d"}});
  ASSERT_LOADED(env);
  EXPECT_EQ(env->policy.defaults.soft_bounce_count, 11);
  EXPECT_EQ(env->policy.For("acme").soft_bounce_count, 2);
  EXPECT_EQ(env->policy.For("acme").alert_ttl_ms, 2 * state::kDayMs);
  EXPECT_EQ(env->policy.For("tenant with spaces/and.dots").soft_bounce_count, 11);
  EXPECT_EQ(env->policy.For("tenant with spaces/and.dots").alert_ttl_ms, state::kHourMs);
}

TEST_F(ConfigTest, PolicyEnvironment) {
  auto c = Load(WriteMinimal("[policy]\nhard_suppress_ttl = \"30d\"\nplatform_block_count = 5\n"),
                {{"BOUNCESTREAM_POLICY_HARD_SUPPRESS_TTL", "never"},
                 {"BOUNCESTREAM_POLICY_PLATFORM_BLOCK_WINDOW", "15m"},
                 {"BOUNCESTREAM_POLICY_SENDER_CONFIG_ALERT_COUNT", "4"}});
  ASSERT_LOADED(c);
  EXPECT_EQ(c->policy.defaults.hard_suppress_ttl_ms, 0);
  EXPECT_EQ(c->policy.defaults.platform_block_count, 5);  // file value stays
  EXPECT_EQ(c->policy.defaults.platform_block_window_ms, 15 * state::kMinuteMs);
  EXPECT_EQ(c->policy.defaults.sender_config_alert_count, 4);

  auto bad = Load(WriteMinimal(), {{"BOUNCESTREAM_POLICY_SOFT_BOUNCE_COUNT", "five"},
                                   {"BOUNCESTREAM_POLICY_IP_PAUSE_TTL", "6 h"},
                                   {"BOUNCESTREAM_POLICY_ALERT_TTL", "never"},
                                   {"BOUNCESTREAM_POLICY_PLATFORM_BLOCK_COUNT", "0"},
                                   {"BOUNCESTREAM_POLICY_ALERT_TTLS", "1h"}});
  ASSERT_REJECTED(bad);
  const std::string& e = bad.error();
  EXPECT_HAS(e, "BOUNCESTREAM_POLICY_SOFT_BOUNCE_COUNT: expected an integer, got 'five'");
  EXPECT_HAS(e, "BOUNCESTREAM_POLICY_IP_PAUSE_TTL: '6 h' is not a duration");
  EXPECT_HAS(e, "BOUNCESTREAM_POLICY_ALERT_TTL: 'never' is only accepted for hard_suppress_ttl");
  EXPECT_HAS(e,
             "BOUNCESTREAM_POLICY_PLATFORM_BLOCK_COUNT: policy.platform_block_count = 0 is out "
             "of range");
  EXPECT_HAS(e,
             "BOUNCESTREAM_POLICY_ALERT_TTLS: unknown variable (did you mean "
             "'BOUNCESTREAM_POLICY_ALERT_TTL'?)");
}

TEST_F(ConfigTest, MetricsSectionProblems) {
  const std::string path = WriteMinimal(
      "[metrics]\n"                                         // 5
      "tenant_allow_list = [\"a\", \"a\", \"other\", 7]\n"  // 6
      "addr = \"0.0.0.0:1\"\n"                              // 7
      "tenant_alow_list = []\n"                             // 8
      "[metrics.providers]\n"                               // 9
      "gmail = [\"gmail.com\", \"-bad.com\"]\n"             // 10
      "other = [\"x.com\"]\n"                               // 11
      "Big = [\"big.com\"]\n"                               // 12
      "ms = [\"outlook.com\", \"gmail.com\", \"a..b\"]\n"   // 13
      "none = []\n"                                         // 14
      "single = \"yahoo.com\"\n"                            // 15
      "idn = [\"b\\u00FCcher.de\", \".lead.com\"]\n");      // 16
  auto c = Load(path);
  ASSERT_REJECTED(c);
  const std::string& e = c.error();
  EXPECT_HAS(e, "cfg.toml:6: [metrics] 'tenant_allow_list' entries must be strings");
  EXPECT_HAS(e,
             "cfg.toml:7: unknown key 'addr' in [metrics]: the listen address is the top-level "
             "key metrics_addr");
  EXPECT_HAS(e,
             "cfg.toml:8: unknown key 'tenant_alow_list' in [metrics] (did you mean "
             "'tenant_allow_list'?)");
  EXPECT_HAS(e, "cfg.toml:15: [metrics.providers] 'single' must be an array");

  // The list's entries, once they are strings, are checked after loading.
  auto list =
      Load(WriteMinimal("[metrics]\ntenant_allow_list = [\"a\", \"a\", \"other\", \"\"]\n"));
  ASSERT_REJECTED(list);
  EXPECT_HAS(list.error(), "cfg.toml:6: metrics.tenant_allow_list lists 'a' twice");
  EXPECT_HAS(list.error(), "cfg.toml:6: metrics.tenant_allow_list lists 'other'");
  EXPECT_HAS(list.error(),
             "cfg.toml:6: metrics.tenant_allow_list '': a tenant id must not be empty");

  auto domains =
      Load(WriteMinimal("[metrics.providers]\n"                                         // 5
                        "gmail = [\"gmail.com\", \"-bad.com\"]\n"                       // 6
                        "other = [\"x.com\"]\n"                                         // 7
                        "Big = [\"big.com\"]\n"                                         // 8
                        "ms = [\"outlook.com\", \"gmail.com\", \"a..b\"]\n"             // 9
                        "none = []\n"                                                   // 10
                        "idn = [\"b\\u00FCcher.de\", \".lead.com\", \"a_b.com\"]\n"));  // 11
  ASSERT_REJECTED(domains);
  const std::string& d = domains.error();
  EXPECT_HAS(d,
             "cfg.toml:6: metrics.providers.gmail '-bad.com' has a label that starts or ends "
             "with '-'");
  EXPECT_HAS(d, "cfg.toml:7: metrics.providers 'other': 'other' is the bucket of every domain");
  EXPECT_HAS(d, "cfg.toml:8: metrics.providers 'Big': a provider name is 1..64 lower-case");
  EXPECT_HAS(d, "metrics.providers.ms 'gmail.com' is also listed for provider 'gmail'");
  EXPECT_HAS(d, "cfg.toml:9: metrics.providers.ms 'a..b' has an empty label");
  EXPECT_HAS(d, "cfg.toml:10: metrics.providers.none lists no domain suffixes");
  EXPECT_HAS(d, "metrics.providers.idn 'b\u00FCcher.de' is not ASCII");
  EXPECT_HAS(d, "metrics.providers.idn '.lead.com' must not start or end with '.'");
  EXPECT_HAS(d, "metrics.providers.idn 'a_b.com' is not a domain name");
}

TEST_F(ConfigTest, MetricsTenantsFromTheEnvironment) {
  auto c = Load(WriteMinimal("[metrics]\ntenant_allow_list = [\"file\"]\n"),
                {{"BOUNCESTREAM_METRICS_TENANTS", " acme , globex,initech"}});
  ASSERT_LOADED(c);
  EXPECT_EQ(c->metrics.tenant_allow_list, (std::vector<std::string>{"acme", "globex", "initech"}));
  auto unset = Load(WriteMinimal("[metrics]\ntenant_allow_list = [\"file\"]\n"),
                    {{"BOUNCESTREAM_METRICS_TENANTS", ""}});
  ASSERT_LOADED(unset);
  EXPECT_EQ(unset->metrics.tenant_allow_list, (std::vector<std::string>{"file"}));
  auto bad = Load(WriteMinimal(), {{"BOUNCESTREAM_METRICS_TENANTS", "a,,b"}});
  ASSERT_REJECTED(bad);
  EXPECT_HAS(bad.error(), "BOUNCESTREAM_METRICS_TENANTS: empty entry in the list");
  auto dup = Load(WriteMinimal(), {{"BOUNCESTREAM_METRICS_TENANTS", "a,b,a"}});
  ASSERT_REJECTED(dup);
  EXPECT_HAS(dup.error(),
             "environment variable BOUNCESTREAM_METRICS_TENANTS: "
             "metrics.tenant_allow_list lists 'a' twice");
}

TEST_F(ConfigTest, AuditAndAdminTopics) {
  auto env = Load(WriteMinimal("[topics]\naudit = \"f.audit\"\nadmin = \"f.admin\"\n"),
                  {{"BOUNCESTREAM_TOPICS_ADMIN", "e.admin"}});
  ASSERT_LOADED(env);
  EXPECT_EQ(env->topics.audit, "f.audit");
  EXPECT_EQ(env->topics.admin, "e.admin");
  auto shared = Load(WriteMinimal("[topics]\naudit = \"bouncestream.alerts\"\nadmn = \"x\"\n"));
  ASSERT_REJECTED(shared);
  EXPECT_HAS(shared.error(),
             "cfg.toml:6: topics.audit 'bouncestream.alerts' is also used for "
             "topics.alerts");
  EXPECT_HAS(shared.error(), "cfg.toml:7: unknown key 'admn' in [topics] (did you mean 'admin'?)");
  auto input = Load(WriteMinimal(), {{"BOUNCESTREAM_INPUTS", "bouncestream.admin"}});
  ASSERT_REJECTED(input);
  EXPECT_HAS(input.error(), "is also the output topics.admin");
  auto bad = Load(WriteMinimal(), {{"BOUNCESTREAM_TOPICS_AUDIT", "bad topic"}});
  ASSERT_REJECTED(bad);
  EXPECT_HAS(bad.error(), "BOUNCESTREAM_TOPICS_AUDIT: topics.audit 'bad topic' is not a valid");
}

TEST_F(ConfigTest, NewSectionsMustBeTables) {
  auto c = Load(Write("t.toml", "state = true\npolicy = 1\nmetrics = \"x\"\n"));
  ASSERT_REJECTED(c);
  EXPECT_HAS(c.error(), "t.toml:1: 'state' must be a table: [state]");
  EXPECT_HAS(c.error(), "t.toml:2: 'policy' must be a table: [policy]");
  EXPECT_HAS(c.error(), "t.toml:3: 'metrics' must be a table: [metrics]");
  auto typo = Load(WriteMinimal("[polcy]\n"));
  ASSERT_REJECTED(typo);
  EXPECT_HAS(typo.error(), "unknown key 'polcy' at the top level (did you mean 'policy'?)");
}

TEST_F(ConfigTest, ValidateConfigChecksTheNewSections) {
  Config c;
  c.bootstrap = "b:1";
  c.group = "g";
  c.inputs = {{"in", InputFormat::kAuto}};
  c.state.hash_recipients = true;
  c.policy.tenants["t"].soft_bounce_count = 0;
  c.metrics.providers = {{"gmail", {"Gmail.com"}}};
  auto r = ValidateConfig(c);
  ASSERT_FALSE(r.has_value());
  EXPECT_HAS(r.error(), "state.hash_recipients = true needs state.hmac_key");
  EXPECT_HAS(r.error(), "policy.tenant.\"t\".soft_bounce_count = 0 is out of range");
  EXPECT_HAS(r.error(), "metrics.providers.gmail 'Gmail.com' must be lower-case");
  c.state.hmac_key = std::string(16, 'k');
  c.policy.tenants["t"].soft_bounce_count = 1;
  c.metrics.providers = {{"gmail", {"gmail.com"}}};
  EXPECT_TRUE(ValidateConfig(c).has_value()) << ValidateConfig(c).error();
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
metrics_addr = "127.0.0.1:9555"
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

TEST_F(ConfigTest, PrintConfigRoundTripsTheNewSections) {
  const std::string key = Write("hmac", "hmac-secret-0123456789\n");
  const std::string path = Write("rt.toml", R"(
bootstrap = "a:1"
group = "rt"
[[input]]
topic = "x"
[topics]
audit = "the.audit"
admin = "the.admin"
[policy.tenant."acme corp"]
soft_bounce_count = 2
alert_ttl = "1500ms"
hard_suppress_ttl = "400d"
[policy.tenant."same"]
soft_bounce_count = 9
[policy.tenant."quo\"te"]
ip_pause_ttl = "90m"
[state]
enabled = false
sync_writes = true
hash_recipients = true
hmac_key.file = ")" + key + R"("
dedupe_horizon = "1h30m"
max_lateness = "1500ms"
block_cache = 3000000
hot_window_entries = 77
[policy]
soft_bounce_count = 9
soft_bounce_window = "25h"
domain_pause_ttl = "90s"
[metrics]
tenant_allow_list = ["acme corp", "globex"]
[metrics.providers]
gmail = ["gmail.com", "googlemail.com"]
yahoo = ["yahoo.com"]
)");
  // The secrets come from the environment both times: they are never printed.
  const Env env = {{"BOUNCESTREAM_ADMIN_TOKEN", "admin-secret-token"},
                   {"BOUNCESTREAM_STATE_HMAC_KEY_FILE", key},
                   {"BOUNCESTREAM_POLICY_ALERT_TTL", "3d"}};
  auto c = Load(path, env);
  ASSERT_LOADED(c);
  ASSERT_EQ(c->policy.tenants.size(), 3u);
  const std::string text = PrintConfig(*c);
  EXPECT_EQ(text.find("hmac-secret-0123456789"), std::string::npos) << text;
  EXPECT_EQ(text.find("admin-secret-token"), std::string::npos) << text;
  EXPECT_HAS(text, "# hmac_key = \"***\"");
  EXPECT_HAS(text, "# token = \"***\"");
  EXPECT_HAS(text, "hard_suppress_ttl = \"never\"");
  EXPECT_HAS(text, "block_cache = 3000000");
  EXPECT_HAS(text, "dedupe_horizon = \"90m\"");
  EXPECT_HAS(text, "[policy.tenant.\"acme corp\"]");

  const std::string printed = Write("printed.toml", text);
  auto again = Load(printed, env);
  ASSERT_LOADED(again);
  again->config_file = c->config_file;
  EXPECT_EQ(*again, *c) << text;

  // Without the secrets the printed file loads as far as they are optional: the admin token is
  // then unset, and hash_recipients asks for its key.
  auto alone = Load(printed);
  ASSERT_REJECTED(alone);
  EXPECT_HAS(alone.error(), "state.hash_recipients = true needs state.hmac_key");

  // A config with every default prints and reloads too.
  auto d = Load(WriteMinimal());
  ASSERT_LOADED(d);
  auto d_again = Load(Write("d.toml", PrintConfig(*d)));
  ASSERT_LOADED(d_again);
  d_again->config_file = d->config_file;
  EXPECT_EQ(*d_again, *d) << PrintConfig(*d);
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

TEST_F(ConfigTest, ProductionRefusesAdminListenerBeyondLoopbackWithoutToken) {
  const Env base = {{"BOUNCESTREAM_PROFILE", "production"},
                    {"BOUNCESTREAM_KAFKA_SECURITY_PROTOCOL", "sasl_ssl"}};
  for (const std::string addr : {"0.0.0.0:9464", "[::]:9464", "10.1.2.3:9464", "metrics:9464",
                                 "127.evil.example:9464"}) {
    Env env = base;
    env.emplace_back("BOUNCESTREAM_METRICS_ADDR", addr);
    auto c = Load(WriteMinimal(), env);
    ASSERT_REJECTED(c) << addr;
    EXPECT_HAS(c.error(), "BOUNCESTREAM_METRICS_ADDR: production profile: metrics_addr '" + addr +
                              "' listens beyond loopback");
    EXPECT_HAS(c.error(), "token.file");
    // A token, or the operator's explicit trust in the network, lets it start.
    const std::string token = Write("admin.token", "an-admin-token-of-some-length\n");
    Env with_token = env;
    with_token.emplace_back("BOUNCESTREAM_ADMIN_TOKEN_FILE", token);
    auto t = Load(WriteMinimal(), with_token);
    EXPECT_TRUE(t.has_value()) << addr << ": " << t.error();
    Env trusted = env;
    trusted.emplace_back("BOUNCESTREAM_ALLOW_PLAINTEXT", "true");
    auto a = Load(WriteMinimal(), trusted);
    EXPECT_TRUE(a.has_value()) << addr << ": " << a.error();
    // The dev profile never refuses it.
    Env dev = {{"BOUNCESTREAM_METRICS_ADDR", addr}};
    auto d = Load(WriteMinimal(), dev);
    EXPECT_TRUE(d.has_value()) << addr << ": " << d.error();
  }
  for (const std::string addr : {"127.0.0.1:9464", "127.0.0.53:1", "localhost:9464", "[::1]:9464"}) {
    Env env = base;
    env.emplace_back("BOUNCESTREAM_METRICS_ADDR", addr);
    auto c = Load(WriteMinimal(), env);
    EXPECT_TRUE(c.has_value()) << addr << ": " << c.error();
  }
  // From the file, the error names the file and line of metrics_addr.
  const std::string path = Write("m.toml",
                                 "profile = \"production\"\nbootstrap = \"b:1\"\ngroup = \"g\"\n"
                                 "metrics_addr = \"0.0.0.0:9464\"\n[[input]]\ntopic = \"in\"\n"
                                 "[kafka]\n\"security.protocol\" = \"ssl\"\n");
  auto f = Load(path);
  ASSERT_REJECTED(f);
  EXPECT_HAS(f.error(), "m.toml:4: production profile: metrics_addr '0.0.0.0:9464'");
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
  EXPECT_EQ(c->state, StateSettings{});
  EXPECT_EQ(c->policy, state::PolicySet{});
  EXPECT_EQ(c->admin, AdminSettings{});
  EXPECT_EQ(c->metrics, MetricsSettings{});
}

// The commented-out examples of the new sections are valid as written: uncommenting every
// "#: " line gives a file that loads (with the secret files it names provided).
TEST_F(ConfigTest, ExampleFileCommentedSectionExamplesLoad) {
  std::ifstream in(kExample);
  std::string text;
  int uncommented = 0;
  for (std::string line; std::getline(in, line);) {
    if (line.starts_with("#: ")) {
      line = line.substr(3);
      ++uncommented;
    }
    text += line + "\n";
  }
  EXPECT_GE(uncommented, 5);
  const std::string hmac = Write("hmac.key", "0123456789abcdef0123456789abcdef\n");
  const std::string token = Write("admin.token", "admin-token\n");
  for (const auto& [from, to] :
       {std::pair{std::string("/run/secrets/bouncestream-hmac-key"), hmac},
        std::pair{std::string("/run/secrets/bouncestream-admin-token"), token}}) {
    const auto at = text.find(from);
    ASSERT_NE(at, std::string::npos) << from;
    text.replace(at, from.size(), to);
  }
  auto c = Load(Write("example.toml", text));
  ASSERT_LOADED(c);
  EXPECT_EQ(c->state.hmac_key, "0123456789abcdef0123456789abcdef");
  EXPECT_EQ(c->admin.token, "admin-token");
  EXPECT_FALSE(c->policy.tenants.empty());
  EXPECT_FALSE(c->metrics.providers.empty());
  EXPECT_FALSE(c->metrics.tenant_allow_list.empty());
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
