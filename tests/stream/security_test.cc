// Security properties of the command line and the configuration (tests/RELIABILITY.md, Security):
//  * no secret (admin token, HMAC key, SASL password, TLS key password, OAuth client secret,
//    JAAS config) is accepted on argv, by any subcommand, and a refused value is never echoed;
//  * secrets come from files (`<key>.file`, BOUNCESTREAM_*_FILE) or the environment;
//  * TLS and SASL librdkafka settings pass through from the config file, verbatim, to both
//    clients, and this librdkafka accepts every one of them;
//  * the production profile refuses plaintext, disabled TLS verification and an admin listener
//    beyond loopback without a token (exit 2, a message naming the fix) unless allow_plaintext.
//  * a running processor executes only admin commands with the right token: on the admin topic
//    (unsigned, wrongly signed, signed with another token: refused and logged) and on the HTTP
//    admin endpoints (no/malformed Authorization: 401; wrong token: 403).
// The HTTP server alone is tested in tests/metrics/server_test.cc, the signature in
// admin_test.cc, addresses in logs and /metrics in tests/ops/live_demo_check.sh.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <librdkafka/rdkafka.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "stream/admin.h"
#include "stream/config.h"
#include "stream/kafka_produce.h"
#include "tests/stream/child_process.h"
#include "tests/stream/cluster_harness.h"
#include "tests/stream/temp_dir_test.h"

namespace bouncestream::stream {
namespace {

namespace fs = std::filesystem;

constexpr const char* kSecret = "S3cr3t-V4lue-never-echoed";

struct Result {
  int exit_code = -1;
  std::string out, err;
};

class SecurityTest : public testing::TempDirTest {
 protected:
  SecurityTest() : TempDirTest("security") {}

  // `env` is a prefix of NAME=VALUE words (or empty); BOUNCESTREAM_* of the test's own
  // environment are cleared so that only what the test gives counts.
  Result RunCli(const std::string& args, const std::string& env = "") {
    const std::string cmd = "env -u BOUNCESTREAM_CONFIG -u BOUNCESTREAM_PROFILE " + env + " " +
                            std::string(BOUNCESTREAM_BINARY) + " " + args + " </dev/null >" +
                            (dir_ / "out").string() + " 2>" + (dir_ / "err").string();
    const int status = std::system(cmd.c_str());
    Result r;
    r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    r.out = testing::Slurp((dir_ / "out").string());
    r.err = testing::Slurp((dir_ / "err").string());
    return r;
  }
};

#define EXPECT_HAS(text, part) EXPECT_NE((text).find(part), std::string::npos) << (text)
#define EXPECT_LACKS(text, part) EXPECT_EQ((text).find(part), std::string::npos) << (text)

// ----------------------------------------------------------------------------------- argv

TEST_F(SecurityTest, SecretFlagsAreRefusedByEveryCommandAndNeverEchoed) {
  const std::vector<std::string> commands = {
      "run --bootstrap 127.0.0.1:9 --group g --input in",
      "demo --duration 1",
      "state query --state-dir /nonexistent a@b.example",
      "state lift --state-dir /nonexistent 0123456789abcdef",
      "state erase --state-dir /nonexistent a@b.example",
      "state export --state-dir /nonexistent",
      "state import --state-dir /nonexistent /nonexistent.csv",
      "state summary --state-dir /nonexistent",
  };
  for (const std::string& command : commands) {
    for (const std::string flag : {"--admin-token", "--token", "--hmac-key", "--password",
                                   "--sasl-password", "--ssl-key-password"}) {
      for (const std::string& form : {flag + " " + kSecret, flag + "=" + kSecret}) {
        const Result r = RunCli(command + " " + form);
        EXPECT_EQ(r.exit_code, 2) << command << " " << form << "\n" << r.err;
        EXPECT_HAS(r.err, "never accepted on the command line");
        EXPECT_LACKS(r.err, kSecret);
        EXPECT_LACKS(r.out, kSecret);
      }
    }
  }
}

TEST_F(SecurityTest, SecretLibrdkafkaPropertiesAreRefusedOnArgvAndNeverEchoed) {
  for (const std::string key :
       {"sasl.password", "ssl.key.password", "ssl.keystore.password", "ssl.key.pem",
        "sasl.oauthbearer.client.secret", "sasl.oauthbearer.config", "sasl.jaas.config",
        "SASL.PASSWORD"}) {
    const Result run =
        RunCli("run --bootstrap 127.0.0.1:9 --group g --input in -X " + key + "=" + kSecret);
    EXPECT_EQ(run.exit_code, 2) << key << "\n" << run.err;
    // (SASL.PASSWORD is refused earlier, as not a librdkafka property name.)
    if (key != "SASL.PASSWORD") {
      EXPECT_HAS(run.err, "command line");
    }
    EXPECT_LACKS(run.err, kSecret);
    const Result lift = RunCli("state lift --bootstrap 127.0.0.1:9 --admin-token-file /dev/null -X " +
                               key + "=" + kSecret + " 0123456789abcdef");
    EXPECT_EQ(lift.exit_code, 2) << key << "\n" << lift.err;
    EXPECT_LACKS(lift.err, kSecret);
  }
  // Where a secret lives (a path, a URL) is not a secret: accepted on argv.
  const Result paths = RunCli(
      "run --bootstrap 127.0.0.1:9 --group g --input in --print-config "
      "-X ssl.key.location=/etc/bouncestream/key.pem -X ssl.ca.location=/etc/ssl/ca.pem "
      "-X sasl.oauthbearer.token.endpoint.url=https://idp.example/token");
  EXPECT_EQ(paths.exit_code, 0) << paths.err;
  EXPECT_HAS(paths.out, "/etc/ssl/ca.pem");  // (ssl.key.location is printed as "***" too)
}

// ------------------------------------------------------------------- files and environment

TEST_F(SecurityTest, SecretsComeFromFilesAndTheEnvironmentAndAreRedacted) {
  const std::string kafka_pw = Write("kafka-password", "kafka-pw-111\n");
  const std::string key_pw = Write("key-password", "key-pw-222\n");
  const std::string token = Write("admin-token", "admin-token-333-long-enough\n");
  const std::string hmac = Write("hmac-key", "hmac-key-444-at-least-16-bytes\n");
  const std::string cfg = Write("c.toml",
                                "bootstrap = \"b:1\"\ngroup = \"g\"\n[[input]]\ntopic = \"in\"\n"
                                "[state]\nhash_recipients = true\n\"hmac_key.file\" = \"" +
                                    hmac + "\"\n[kafka]\n\"sasl.password.file\" = \"" + kafka_pw +
                                    "\"\n");
  ConfigSources sources;
  sources.file_path = cfg;
  sources.env = {{"BOUNCESTREAM_ADMIN_TOKEN_FILE", token},
                 {"BOUNCESTREAM_KAFKA_SSL_KEY_PASSWORD_FILE", key_pw},
                 {"BOUNCESTREAM_KAFKA_SASL_OAUTHBEARER_CLIENT_SECRET", "oidc-secret-555"}};
  auto c = LoadConfig(sources);
  ASSERT_TRUE(c.has_value()) << c.error();
  EXPECT_EQ(c->admin.token, "admin-token-333-long-enough");
  EXPECT_EQ(c->state.hmac_key, "hmac-key-444-at-least-16-bytes");
  const std::string printed = PrintConfig(*c);
  for (const char* secret : {"kafka-pw-111", "key-pw-222", "admin-token-333", "hmac-key-444",
                             "oidc-secret-555"}) {
    EXPECT_LACKS(printed, secret);
  }
  bool saw_password = false;
  for (const auto& [k, v] : ProducerProperties(*c)) {
    if (k == "sasl.password") saw_password = v == "kafka-pw-111";
  }
  EXPECT_TRUE(saw_password);
  // The binary: --print-config shows none of them either.
  const Result r = RunCli("run --config " + cfg + " --print-config",
                          "BOUNCESTREAM_ADMIN_TOKEN_FILE=" + token);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  for (const char* secret : {"kafka-pw-111", "admin-token-333", "hmac-key-444"}) {
    EXPECT_LACKS(r.out, secret);
    EXPECT_LACKS(r.err, secret);
  }
}

// --------------------------------------------------------------------- TLS / SASL pass-through

TEST_F(SecurityTest, TlsAndSaslSettingsPassThroughToBothClientsAndLibrdkafkaAcceptsThem) {
  const std::string pw = Write("pw", "sasl-pw\n");
  const std::string key_pw = Write("key-pw", "key-pw\n");
  const std::string cfg = Write(
      "tls.toml",
      "profile = \"production\"\nbootstrap = \"kafka-1:9093\"\ngroup = \"g\"\n"
      "[[input]]\ntopic = \"in\"\n"
      "[kafka]\n"
      "\"security.protocol\" = \"SASL_SSL\"\n"
      "\"sasl.mechanisms\" = \"SCRAM-SHA-512\"\n"
      "\"sasl.username\" = \"bouncestream\"\n"
      "\"sasl.password.file\" = \"" + pw + "\"\n"
      "\"ssl.ca.location\" = \"/etc/ssl/certs/ca-certificates.crt\"\n"
      "\"ssl.certificate.location\" = \"/etc/bouncestream/client.pem\"\n"
      "\"ssl.key.location\" = \"/etc/bouncestream/client.key\"\n"
      "\"ssl.key.password.file\" = \"" + key_pw + "\"\n"
      "\"ssl.endpoint.identification.algorithm\" = \"https\"\n"
      "\"enable.ssl.certificate.verification\" = true\n"
      "\"ssl.cipher.suites\" = \"ECDHE-RSA-AES256-GCM-SHA384\"\n"
      "[kafka.consumer]\n\"client.id\" = \"bs-consumer\"\n"
      "[kafka.producer]\n\"sasl.mechanisms\" = \"SCRAM-SHA-256\"\n");
  ConfigSources sources;
  sources.file_path = cfg;
  auto c = LoadConfig(sources);
  ASSERT_TRUE(c.has_value()) << c.error();
  const std::vector<std::pair<std::string, std::string>> common = {
      {"security.protocol", "SASL_SSL"},
      {"sasl.username", "bouncestream"},
      {"sasl.password", "sasl-pw"},
      {"ssl.ca.location", "/etc/ssl/certs/ca-certificates.crt"},
      {"ssl.certificate.location", "/etc/bouncestream/client.pem"},
      {"ssl.key.location", "/etc/bouncestream/client.key"},
      {"ssl.key.password", "key-pw"},
      {"ssl.endpoint.identification.algorithm", "https"},
      {"enable.ssl.certificate.verification", "true"},
      {"ssl.cipher.suites", "ECDHE-RSA-AES256-GCM-SHA384"},
  };
  auto value_of = [](const KafkaProperties& props, const std::string& key) {
    std::string found = "<unset>";
    for (const auto& [k, v] : props) {
      if (k == key) found = v;
    }
    return found;
  };
  const KafkaProperties consumer = ConsumerProperties(*c);
  const KafkaProperties producer = ProducerProperties(*c);
  for (const auto& [k, v] : common) {
    EXPECT_EQ(value_of(consumer, k), v) << "consumer " << k;
    EXPECT_EQ(value_of(producer, k), v) << "producer " << k;
  }
  EXPECT_EQ(value_of(consumer, "sasl.mechanisms"), "SCRAM-SHA-512");
  EXPECT_EQ(value_of(producer, "sasl.mechanisms"), "SCRAM-SHA-256");  // section overrides
  EXPECT_EQ(value_of(consumer, "client.id"), "bs-consumer");
  EXPECT_EQ(value_of(producer, "client.id"), "<unset>");

  // This librdkafka (Debian's) knows every property and accepts every value: the processor
  // hands them to rd_kafka_conf_set exactly like this. (A live TLS/SASL handshake needs a real
  // broker: the dev broker speaks plaintext only.)
  for (const KafkaProperties* props : {&consumer, &producer}) {
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    char errstr[512];
    for (const auto& [k, v] : *props) {
      EXPECT_EQ(rd_kafka_conf_set(conf, k.c_str(), v.c_str(), errstr, sizeof errstr),
                RD_KAFKA_CONF_OK)
          << k << ": " << errstr;
    }
    rd_kafka_conf_destroy(conf);
  }
  // OAUTHBEARER / OIDC (client secret from a file) passes through the same way.
  const std::string oidc = Write("oidc", "client-secret\n");
  ConfigSources o;
  o.file_path = Write("oidc.toml",
                      "bootstrap = \"b:1\"\ngroup = \"g\"\n[[input]]\ntopic = \"in\"\n[kafka]\n"
                      "\"security.protocol\" = \"sasl_ssl\"\n\"sasl.mechanisms\" = \"OAUTHBEARER\"\n"
                      "\"sasl.oauthbearer.method\" = \"oidc\"\n"
                      "\"sasl.oauthbearer.client.id\" = \"bouncestream\"\n"
                      "\"sasl.oauthbearer.client.secret.file\" = \"" +
                          oidc +
                          "\"\n\"sasl.oauthbearer.token.endpoint.url\" = "
                          "\"https://idp.example/oauth2/token\"\n");
  auto oc = LoadConfig(o);
  ASSERT_TRUE(oc.has_value()) << oc.error();
  const KafkaProperties op = ConsumerProperties(*oc);
  EXPECT_EQ(value_of(op, "sasl.oauthbearer.client.secret"), "client-secret");
  EXPECT_EQ(value_of(op, "sasl.oauthbearer.token.endpoint.url"), "https://idp.example/oauth2/token");
  // Debian 12's librdkafka 2.0.2 is built without libcurl: OIDC is refused by librdkafka itself,
  // with its own message (the processor fails at start with it). Any other build must take it.
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  char errstr[512];
  for (const auto& [k, v] : op) {
    const rd_kafka_conf_res_t res = rd_kafka_conf_set(conf, k.c_str(), v.c_str(), errstr,
                                                      sizeof errstr);
    if (res != RD_KAFKA_CONF_OK && k.starts_with("sasl.oauthbearer.")) {
      EXPECT_HAS(std::string(errstr), "not supported in this build");
    } else {
      EXPECT_EQ(res, RD_KAFKA_CONF_OK) << k << ": " << errstr;
    }
  }
  rd_kafka_conf_destroy(conf);
}

// ------------------------------------------------------------------------ production profile

TEST_F(SecurityTest, ProductionProfileRefusesPlaintextWithExit2UnlessAllowed) {
  const std::string base = "run --bootstrap 127.0.0.1:9 --group g --input in --print-config";
  const Result unset = RunCli(base + " --profile production");
  EXPECT_EQ(unset.exit_code, 2) << unset.err;
  EXPECT_HAS(unset.err, "production profile: security.protocol is not set");
  for (const std::string protocol : {"plaintext", "sasl_plaintext"}) {
    const Result flag = RunCli(base + " --profile production -X security.protocol=" + protocol);
    EXPECT_EQ(flag.exit_code, 2) << flag.err;
    EXPECT_HAS(flag.err, "production profile refuses security.protocol=" + protocol);
    EXPECT_HAS(flag.err, "allow_plaintext = true");
    // The same from the environment, and from a config file.
    const Result env = RunCli(base, "BOUNCESTREAM_PROFILE=production "
                                    "BOUNCESTREAM_KAFKA_SECURITY_PROTOCOL=" + protocol);
    EXPECT_EQ(env.exit_code, 2) << env.err;
    const std::string cfg = Write("p.toml", "profile = \"production\"\n[kafka]\n"
                                            "\"security.protocol\" = \"" + protocol + "\"\n");
    const Result file = RunCli(base + " --config " + cfg);
    EXPECT_EQ(file.exit_code, 2) << file.err;
    EXPECT_HAS(file.err, "p.toml:3: production profile refuses security.protocol=" + protocol);
    // Explicitly allowed: flag, environment or file.
    const Result allowed =
        RunCli(base + " --profile production --allow-plaintext -X security.protocol=" + protocol);
    EXPECT_EQ(allowed.exit_code, 0) << allowed.err;
    EXPECT_HAS(allowed.out, "allow_plaintext = true");
    const Result allowed_file = RunCli(base + " --config " + cfg, "BOUNCESTREAM_ALLOW_PLAINTEXT=true");
    EXPECT_EQ(allowed_file.exit_code, 0) << allowed_file.err;
  }
  for (const std::string bad : {"enable.ssl.certificate.verification=false",
                                "ssl.endpoint.identification.algorithm=none"}) {
    const Result r = RunCli(base + " --profile production -X security.protocol=ssl -X " + bad);
    EXPECT_EQ(r.exit_code, 2) << bad << "\n" << r.err;
    EXPECT_HAS(r.err, "production profile refuses");
  }
  const Result tls = RunCli(base + " --profile production -X security.protocol=sasl_ssl");
  EXPECT_EQ(tls.exit_code, 0) << tls.err;
  // The dev profile (the default) accepts plaintext: the dev broker only speaks plaintext.
  EXPECT_EQ(RunCli(base + " -X security.protocol=plaintext").exit_code, 0);
}

TEST_F(SecurityTest, ProductionProfileRefusesAnAdminListenerBeyondLoopbackWithoutToken) {
  const std::string base =
      "run --bootstrap 127.0.0.1:9 --group g --input in --print-config --profile production "
      "-X security.protocol=ssl";
  const Result open = RunCli(base + " --metrics-addr 0.0.0.0:9464");
  EXPECT_EQ(open.exit_code, 2) << open.err;
  EXPECT_HAS(open.err, "flag --metrics-addr: production profile: metrics_addr '0.0.0.0:9464' "
                       "listens beyond loopback");
  EXPECT_HAS(open.err, "BOUNCESTREAM_ADMIN_TOKEN_FILE");
  const std::string token = Write("token", "admin-token-of-some-length\n");
  const Result with_token =
      RunCli(base + " --metrics-addr 0.0.0.0:9464", "BOUNCESTREAM_ADMIN_TOKEN_FILE=" + token);
  EXPECT_EQ(with_token.exit_code, 0) << with_token.err;
  EXPECT_LACKS(with_token.out, "admin-token-of-some-length");
  EXPECT_EQ(RunCli(base + " --metrics-addr 0.0.0.0:9464 --allow-plaintext").exit_code, 0);
  EXPECT_EQ(RunCli(base + " --metrics-addr 127.0.0.1:9464").exit_code, 0);
}

// ------------------------------------------------------------- admin surface of a running group

using harness::HttpStatus;

class RunningGroupAdminTest : public SecurityTest {
 protected:
  void SetUp() override {
    SecurityTest::SetUp();
    const std::string bs = (dir_ / "bootstrap").string();
    std::vector<std::string> args{"devbroker", "--port", "0", "--bootstrap-file", bs};
    for (const char* t : {"in:1", "bouncestream.classified:1", "bouncestream.dlq:1",
                          "bouncestream.suppressions:1", "bouncestream.blocks:1",
                          "bouncestream.alerts:1", "bouncestream.audit:1", "bouncestream.admin:1",
                          "sec-state-changelog:1"}) {
      args.push_back("--topic");
      args.push_back(t);
    }
    testing::Spawn(&broker_, args, (dir_ / "broker.log").string());
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (bootstrap_.empty() && std::chrono::steady_clock::now() < deadline) {
      std::ifstream in(bs);
      std::getline(in, bootstrap_);
      if (bootstrap_.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    ASSERT_FALSE(bootstrap_.empty()) << testing::Slurp((dir_ / "broker.log").string());
    char err[512];
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap_.c_str(), err, sizeof err);
    producer_ = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    ASSERT_NE(producer_, nullptr) << err;
  }
  void TearDown() override {
    processor_.Kill();
    if (producer_ != nullptr) rd_kafka_destroy(producer_);
    broker_.Terminate(5000);
    SecurityTest::TearDown();
  }

  // Starts `run` with the admin token; returns the metrics port once /readyz answers 200.
  int StartProcessor() {
    const std::string token = Write("admin.token", std::string(kToken) + "\n");
    ::setenv("BOUNCESTREAM_ADMIN_TOKEN_FILE", token.c_str(), 1);
    testing::Spawn(&processor_,
                   {"run", "--bootstrap", bootstrap_, "--group", "sec", "--input", "in:auto",
                    "--state-dir", (dir_ / "state").string(), "--metrics-addr", "127.0.0.1:0"},
                   (dir_ / "processor.log").string());
    ::unsetenv("BOUNCESTREAM_ADMIN_TOKEN_FILE");
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
    int port = 0;
    while (std::chrono::steady_clock::now() < deadline) {
      const std::string log = testing::Slurp(processor_.log);
      if (port == 0) {
        const std::string key = "\"address\":\"127.0.0.1:";
        if (const auto at = log.find(key); at != std::string::npos) {
          port = std::atoi(log.c_str() + at + key.size());
        }
      }
      if (port != 0 && HttpStatus(port, "GET", "/readyz", "") == 200) return port;
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    ADD_FAILURE() << "processor not ready\n" << testing::Slurp(processor_.log);
    return 0;
  }

  void ProduceAdmin(const std::string& key, const std::string& value, const std::string* auth) {
    rd_kafka_headers_t* h = rd_kafka_headers_new(1);
    if (auth != nullptr) {
      rd_kafka_header_add(h, std::string(kAdminAuthHeader).c_str(), -1, auth->data(),
                          static_cast<ssize_t>(auth->size()));
    }
    const rd_kafka_resp_err_t e = ProduceCopy(producer_, "bouncestream.admin", key, value,
                                              nullptr, h);
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR) rd_kafka_headers_destroy(h);
    ASSERT_EQ(e, RD_KAFKA_RESP_ERR_NO_ERROR);
  }

  static constexpr const char* kToken = "the-admin-token-of-this-test";
  testing::Child broker_, processor_;
  std::string bootstrap_;
  rd_kafka_t* producer_ = nullptr;
};

std::string LiftCommand(const std::string& request_id) {
  AdminCommand c;
  c.command = AdminCommandKind::kLift;
  c.request_id = request_id;
  c.decision_id = "0123456789abcdef";
  c.issued_at_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
  return EncodeAdminCommand(c);
}

TEST_F(RunningGroupAdminTest, OnlyCommandsWithTheRightTokenAreExecuted) {
  const int port = StartProcessor();
  ASSERT_NE(port, 0);

  // HTTP admin endpoints of the running processor.
  for (const std::string path : {"/admin/lift", "/admin/erase"}) {
    EXPECT_EQ(HttpStatus(port, "POST", path, ""), 401) << path;
    EXPECT_EQ(HttpStatus(port, "POST", path, "Bearer"), 401) << path;
    EXPECT_EQ(HttpStatus(port, "POST", path, "Basic dXNlcjpwYXNz"), 401) << path;
    EXPECT_EQ(HttpStatus(port, "POST", path, "Bearer wrong-token"), 403) << path;
    EXPECT_EQ(HttpStatus(port, "POST", path, std::string("Bearer ") + kToken + "x"), 403) << path;
  }
  // The right token gets past authentication (the unknown decision id is then the handler's
  // business: 200 with nothing lifted, or 400).
  const int ok = HttpStatus(port, "POST", "/admin/lift", std::string("Bearer ") + kToken,
                            "{\"decision_id\":\"0123456789abcdef\"}");
  EXPECT_TRUE(ok == 200 || ok == 400) << ok;

  // The admin topic: the consumer starts at the end once assigned, so send rounds until a good
  // command of a round is executed; every bad one sent before it must have been refused.
  std::set<std::string> good, bad;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(90);
  bool executed = false;
  for (int round = 0; !executed && std::chrono::steady_clock::now() < deadline; ++round) {
    const std::string r = std::to_string(1000 + round);
    const std::string unsigned_id = "aaaaaaaaaaaaaaaaaaaaaaaaaaaa" + r;
    const std::string wrong_id = "bbbbbbbbbbbbbbbbbbbbbbbbbbbb" + r;
    const std::string other_id = "cccccccccccccccccccccccccccc" + r;
    const std::string good_id = "dddddddddddddddddddddddddddd" + r;
    const std::string empty_sig = "";
    ProduceAdmin(unsigned_id, LiftCommand(unsigned_id), nullptr);
    const std::string wrong_value = LiftCommand(wrong_id);
    const std::string wrong_value_sig = SignAdminCommand("another-token", wrong_value);
    ProduceAdmin(wrong_id, wrong_value, &wrong_value_sig);
    // Signed with the right token, but the value changed after signing.
    const std::string other_value = LiftCommand(other_id);
    const std::string other_sig = SignAdminCommand(kToken, other_value);
    ProduceAdmin(other_id, other_value + " ", &other_sig);
    ProduceAdmin(other_id + "e", LiftCommand(other_id + "e"), &empty_sig);
    const std::string good_value = LiftCommand(good_id);
    const std::string good_sig = SignAdminCommand(kToken, good_value);
    ProduceAdmin(good_id, good_value, &good_sig);
    ASSERT_EQ(rd_kafka_flush(producer_, 10000), RD_KAFKA_RESP_ERR_NO_ERROR);
    bad.insert({unsigned_id, wrong_id, other_id, other_id + "e"});
    good.insert(good_id);
    const auto round_end = std::chrono::steady_clock::now() + std::chrono::seconds(8);
    while (!executed && std::chrono::steady_clock::now() < round_end) {
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      executed = testing::Slurp(processor_.log).find(good_id) != std::string::npos;
    }
  }
  ASSERT_TRUE(executed) << testing::Slurp(processor_.log);
  const std::string log = testing::Slurp(processor_.log);
  for (const std::string& id : bad) EXPECT_EQ(log.find(id), std::string::npos) << id;
  std::size_t refused = 0;
  for (auto at = log.find("admin command refused: missing or wrong signature");
       at != std::string::npos;
       at = log.find("admin command refused: missing or wrong signature", at + 1)) {
    ++refused;
  }
  EXPECT_GE(refused, 4u) << log;  // at least the four bad records of the executed round
  EXPECT_EQ(log.find(kToken), std::string::npos);
  EXPECT_EQ(processor_.Terminate(30000), 0) << testing::Slurp(processor_.log);
}

}  // namespace
}  // namespace bouncestream::stream
