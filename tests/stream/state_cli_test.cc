// `bouncestream state …` end to end: a state dir is built by driving state::Engine directly (a
// hard bounce, an end-user block, a hashed recipient), then the real binary queries, exports,
// imports, lifts, erases and summarises it.
#include <gtest/gtest.h>
#include <librdkafka/rdkafka.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <tuple>
#include <thread>
#include <vector>

#include "state/clock.h"
#include "state/engine.h"
#include "stream/admin.h"
#include "stream/observe.h"
#include "tests/stream/child_process.h"

namespace {

namespace fs = std::filesystem;
using bouncestream::state::Signal;

constexpr std::int64_t kT0 = 1764584640000;  // 2025-12-01T10:24:00Z
constexpr const char* kHmacKey = "test-hmac-key-0123456789";

struct Result {
  int exit_code = -1;
  std::string out, err;
};

std::string Slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

class TempDir {
 public:
  TempDir() {
    static std::atomic<int> counter{0};
    path_ = fs::temp_directory_path() /
            ("bs_state_cli_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  std::string Sub(const std::string& name) const { return (path_ / name).string(); }

 private:
  fs::path path_;
};

Result RunCli(const std::string& args, const std::string& env = "") {
  static int counter = 0;
  TempDir dir;
  (void)counter;
  const std::string cmd = env + (env.empty() ? "" : " ") + std::string(BOUNCESTREAM_BINARY) + " " +
                          args + " </dev/null >" + dir.Sub("out") + " 2>" + dir.Sub("err");
  const int status = std::system(cmd.c_str());
  Result r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.out = Slurp(dir.Sub("out"));
  r.err = Slurp(dir.Sub("err"));
  return r;
}

std::vector<std::string> Lines(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  for (std::string l; std::getline(in, l);) {
    if (!l.empty()) out.push_back(l);
  }
  return out;
}

// The value of a string field in a one-line JSON object (test helper; no escapes expected).
std::string JsonField(const std::string& line, const std::string& key) {
  const std::string k = "\"" + key + "\":\"";
  const auto p = line.find(k);
  if (p == std::string::npos) return {};
  const auto e = line.find('"', p + k.size());
  return line.substr(p + k.size(), e - p - k.size());
}

struct Ev {
  std::string id, tenant = "acme", sender = "news@acme.example", recipient, domain, reason,
      party, rule = "test.rule", text;
  Signal signal = Signal::kOther;
  std::int64_t t = kT0;
  bool hashed = false;
  bouncestream::state::Observation Obs() const {
    bouncestream::state::Observation o;
    o.event_id = id;
    o.event_time_ms = t;
    o.tenant = tenant;
    o.sender = sender;
    o.recipient = recipient;
    o.recipient_is_hash = hashed;
    o.domain = domain;
    o.sending_ip = "198.51.100.7";
    o.vendor = "other";
    o.reason = reason;
    o.party = party;
    o.rule = rule;
    o.text = text;
    o.signal = signal;
    return o;
  }
};

// A stopped state dir: partition 3 has a hard bounce and an end-user block (tenant acme),
// partition 1 a hard bounce of tenant beta, partition 5 a hashed recipient.
void BuildState(const std::string& dir) {
  bouncestream::state::FakeClock clock(kT0);
  bouncestream::state::EngineOptions eo;
  eo.dir = dir;
  eo.clock = &clock;
  auto engine = bouncestream::state::Engine::Open(eo);
  ASSERT_TRUE(engine) << engine.error();
  auto apply = [&](std::int32_t partition, const std::vector<Ev>& evs, std::int64_t next) {
    std::vector<bouncestream::state::Observation> obs;
    for (const Ev& e : evs) obs.push_back(e.Obs());
    auto r = (*engine)->Apply(partition, obs, next);
    ASSERT_TRUE(r) << r.error();
    auto c = (*engine)->Commit(*r);
    ASSERT_TRUE(c) << c.error();
  };
  Ev hard{.id = "ev-1", .recipient = "dead.user@example.com", .domain = "example.com",
          .reason = "user_unknown", .party = "recipient_invalid", .rule = "generic.user_unknown",
          .text = "550 5.1.1 <dead.user@example.com>: Recipient address rejected: User unknown"};
  hard.signal = Signal::kHardInvalid;
  Ev block{.id = "ev-2", .recipient = "bob@example.org", .domain = "example.org",
           .reason = "blocked", .party = "end_user", .rule = "mimecast.user_entry",
           .text = "550 Envelope blocked - User Entry - https://community.mimecast.com/docs/DOC-1369#550"};
  block.signal = Signal::kEndUserBlock;
  block.t = kT0 + 1000;
  apply(3, {hard, block}, 10);
  Ev beta{.id = "ev-3", .tenant = "beta", .sender = "info@beta.example",
          .recipient = "gone@example.net", .domain = "example.net", .reason = "user_unknown",
          .party = "recipient_invalid", .text = "550 5.1.1 no such user"};
  beta.signal = Signal::kHardInvalid;
  apply(1, {beta}, 4);
  Ev hashed{.id = "ev-4", .recipient = bouncestream::stream::HashRecipient(kHmacKey,
                                                                           "Hidden@Example.com"),
            .domain = "example.com", .reason = "user_unknown", .party = "recipient_invalid",
            .text = "550 5.1.1 user unknown"};
  hashed.signal = Signal::kHardInvalid;
  hashed.hashed = true;
  apply(5, {hashed}, 7);
}

// (tenant, recipient, scope, sender, reason) of every CSV row after the header.
std::set<std::tuple<std::string, std::string, std::string, std::string, std::string>> CsvSet(
    const std::string& csv) {
  std::set<std::tuple<std::string, std::string, std::string, std::string, std::string>> out;
  auto lines = Lines(csv);
  for (std::size_t i = 1; i < lines.size(); ++i) {
    std::vector<std::string> f;
    std::stringstream s(lines[i]);
    for (std::string x; std::getline(s, x, ',');) f.push_back(x);
    if (f.size() < 5) continue;
    out.emplace(f[0], f[1], f[2], f[3], f[4]);
  }
  return out;
}

class StateCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = tmp_.Sub("state");
    BuildState(dir_);
  }
  std::string DecisionIdOf(const std::string& recipient, const std::string& scope) {
    auto q = RunCli("state query --state-dir " + dir_ + " " + recipient);
    for (const auto& l : Lines(q.out)) {
      if (JsonField(l, "scope") == scope) return JsonField(l, "decision_id");
    }
    return {};
  }
  TempDir tmp_;
  std::string dir_;
};

TEST_F(StateCliTest, QueryShowsTheSuppressionWithItsEvidence) {
  auto r = RunCli("state query --state-dir " + dir_ + " dead.user@example.com");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto lines = Lines(r.out);
  ASSERT_EQ(lines.size(), 1u) << r.out;
  EXPECT_EQ(JsonField(lines[0], "kind"), "suppress");
  EXPECT_EQ(JsonField(lines[0], "scope"), "tenant");
  EXPECT_EQ(JsonField(lines[0], "tenant"), "acme");
  EXPECT_EQ(JsonField(lines[0], "recipient"), "dead.user@example.com");
  EXPECT_EQ(JsonField(lines[0], "decision_id").size(), 16u);
  EXPECT_NE(lines[0].find("\"evidence\":{\"count\":1"), std::string::npos) << lines[0];
  EXPECT_NE(lines[0].find("Recipient address rejected: User unknown"), std::string::npos);
  EXPECT_NE(JsonField(lines[0], "rule").find("policy."), std::string::npos) << lines[0];
  EXPECT_EQ(JsonField(lines[0], "event_id"), "ev-1");

  // The end-user block suppresses for the sender only.
  auto b = RunCli("state query --state-dir " + dir_ + " --tenant acme bob@example.org");
  ASSERT_EQ(b.exit_code, 0) << b.err;
  ASSERT_EQ(Lines(b.out).size(), 1u) << b.out;
  EXPECT_EQ(JsonField(b.out, "scope"), "sender");
  EXPECT_EQ(JsonField(b.out, "sender"), "news@acme.example");
  EXPECT_EQ(JsonField(b.out, "party"), "end_user");

  auto t = RunCli("state query --state-dir " + dir_ + " --output table bob@example.org");
  ASSERT_EQ(t.exit_code, 0) << t.err;
  ASSERT_EQ(Lines(t.out).size(), 2u) << t.out;
  EXPECT_NE(t.out.find("decision_id"), std::string::npos);
  EXPECT_NE(t.out.find("Envelope blocked - User Entry"), std::string::npos) << t.out;

  // Another tenant's recipient is not shown under acme; nobody is suppressed for no reason.
  EXPECT_EQ(RunCli("state query --state-dir " + dir_ + " --tenant acme gone@example.net").out, "");
  auto none = RunCli("state query --state-dir " + dir_ + " alive@example.com");
  EXPECT_EQ(none.exit_code, 0);
  EXPECT_EQ(none.out, "");
}

TEST_F(StateCliTest, QueryHashesTheAddressWithTheKeyFile) {
  const std::string key = tmp_.Sub("hmac.key");
  std::ofstream(key) << kHmacKey << "\n";  // a trailing newline is not part of the key
  auto r = RunCli("state query --state-dir " + dir_ + " --hmac-key-file " + key +
                  " hidden@example.com");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ASSERT_EQ(Lines(r.out).size(), 1u) << r.out;
  EXPECT_EQ(JsonField(r.out, "recipient_hash"),
            bouncestream::stream::HashRecipient(kHmacKey, "hidden@example.com"));
  // Without the key the plain address finds nothing.
  EXPECT_EQ(RunCli("state query --state-dir " + dir_ + " hidden@example.com").out, "");
}

TEST_F(StateCliTest, LiftRemovesTheSuppressionAndPrintsTheLiftRecord) {
  const std::string id = DecisionIdOf("bob@example.org", "sender");
  ASSERT_EQ(id.size(), 16u);
  auto r = RunCli("state lift --state-dir " + dir_ + " " + id + " --note 'customer asked'");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto lines = Lines(r.out);
  ASSERT_EQ(lines.size(), 1u) << r.out;
  EXPECT_EQ(JsonField(lines[0], "kind"), "lift");
  EXPECT_EQ(JsonField(lines[0], "origin"), "operator");
  EXPECT_EQ(JsonField(lines[0], "note"), "customer asked");
  EXPECT_EQ(JsonField(lines[0], "recipient"), "bob@example.org");
  EXPECT_NE(r.err.find("nothing was published"), std::string::npos) << r.err;
  EXPECT_EQ(RunCli("state query --state-dir " + dir_ + " bob@example.org").out, "");
  // The other suppression stays.
  EXPECT_EQ(Lines(RunCli("state query --state-dir " + dir_ + " dead.user@example.com").out).size(),
            1u);
  // Lifting again: no such active decision.
  auto again = RunCli("state lift --state-dir " + dir_ + " " + id);
  EXPECT_EQ(again.exit_code, 1);
  EXPECT_NE(again.err.find("no active decision"), std::string::npos) << again.err;
  // A note must not carry an address.
  EXPECT_EQ(RunCli("state lift --state-dir " + dir_ + " " + id + " --note a@b.example").exit_code,
            2);
}

TEST_F(StateCliTest, EraseRemovesEverythingAndNeverPrintsTheAddress) {
  auto r = RunCli("state erase --state-dir " + dir_ + " dead.user@example.com");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out.find("dead.user"), std::string::npos) << r.out;
  EXPECT_EQ(r.err.find("dead.user"), std::string::npos) << r.err;
  EXPECT_NE(r.out.find("\"erased\":1"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\"partitions\":[3]"), std::string::npos) << r.out;
  EXPECT_NE(r.err.find("nothing was published"), std::string::npos) << r.err;
  EXPECT_EQ(RunCli("state query --state-dir " + dir_ + " dead.user@example.com").out, "");
  auto exported = RunCli("state export --state-dir " + dir_);
  EXPECT_EQ(exported.out.find("dead.user"), std::string::npos) << exported.out;
  EXPECT_NE(exported.out.find("bob@example.org"), std::string::npos);
  // Erasing again is not an error: there is nothing left.
  auto again = RunCli("state erase --state-dir " + dir_ + " dead.user@example.com");
  EXPECT_EQ(again.exit_code, 0) << again.err;
  EXPECT_NE(again.out.find("\"erased\":0"), std::string::npos) << again.out;
}

TEST_F(StateCliTest, ExportCsvAndJsonl) {
  auto csv = RunCli("state export --state-dir " + dir_);
  ASSERT_EQ(csv.exit_code, 0) << csv.err;
  auto lines = Lines(csv.out);
  ASSERT_EQ(lines.size(), 5u) << csv.out;  // header + 4 suppressions
  EXPECT_EQ(lines[0],
            "tenant,recipient,scope,sender,reason,party,rule,decided_at,expires_at,decision_id");
  EXPECT_NE(csv.out.find("acme,bob@example.org,sender,news@acme.example,"), std::string::npos);
  EXPECT_NE(csv.out.find("beta,gone@example.net,tenant,,"), std::string::npos);
  auto jsonl = RunCli("state export --state-dir " + dir_ + " --format jsonl --kind suppress");
  ASSERT_EQ(jsonl.exit_code, 0) << jsonl.err;
  auto jl = Lines(jsonl.out);
  ASSERT_EQ(jl.size(), 4u) << jsonl.out;
  for (const auto& l : jl) {
    auto d = bouncestream::stream::DecodeDecisionJson(l);
    ASSERT_TRUE(d) << d.error();
    EXPECT_EQ(d->kind, bouncestream::state::DecisionKind::kSuppress);
  }
  EXPECT_EQ(Lines(RunCli("state export --state-dir " + dir_ + " --kind pause").out).size(), 1u);
}

TEST_F(StateCliTest, ExportRoundTripsThroughImport) {
  for (const std::string format : {"csv", "jsonl"}) {
    SCOPED_TRACE(format);
    const std::string file = tmp_.Sub("export." + format);
    auto e = RunCli("state export --state-dir " + dir_ + " --kind suppress --format " + format);
    ASSERT_EQ(e.exit_code, 0) << e.err;
    std::ofstream(file) << e.out;
    const std::string fresh = tmp_.Sub("fresh-" + format);
    auto i = RunCli("state import --state-dir " + fresh + " " + file +
                    " --partitions 6 --source ours");
    // The hashed row of the CSV has no domain column: reported, the others imported.
    if (format == "csv") {
      EXPECT_EQ(i.exit_code, 1) << i.err;
      EXPECT_NE(i.err.find("\"line\":"), std::string::npos) << i.err;
      EXPECT_NE(i.out.find("\"imported\":3"), std::string::npos) << i.out;
    } else {
      EXPECT_EQ(i.exit_code, 0) << i.err;
      EXPECT_NE(i.out.find("\"imported\":4"), std::string::npos) << i.out << i.err;
    }
    auto back = RunCli("state export --state-dir " + fresh);
    ASSERT_EQ(back.exit_code, 0) << back.err;
    auto want = CsvSet(RunCli("state export --state-dir " + dir_ + " --kind suppress").out);
    auto got = CsvSet(back.out);
    if (format == "csv") {
      for (auto it = want.begin(); it != want.end();) {
        it = std::get<1>(*it).starts_with("h:") ? want.erase(it) : std::next(it);
      }
    }
    EXPECT_EQ(got, want) << back.out;
    EXPECT_NE(back.out.find(",import.ours,"), std::string::npos) << back.out;
    // Importing the same list again adds nothing.
    auto again = RunCli("state import --state-dir " + fresh + " " + file + " --partitions 6");
    EXPECT_NE(again.out.find("\"imported\":0"), std::string::npos) << again.out;
  }
}

TEST_F(StateCliTest, ImportPlacesRowsInTheirDomainsMurmur2Partition) {
  const std::string file = tmp_.Sub("provider.csv");
  std::ofstream(file) << "Email,Reason,Created,Status\n"
                         "one@gmail.com,bounce,2025-01-02,active\n"
                         "\"two@outlook.com\",\"spam, complaint\",2025-01-03T04:05:06Z,x\n"
                         "not-an-address,bounce,2025-01-02,x\n"
                         "three@yahoo.co.jp,,1735790400,x\n"
                         "\n"
                         "four@example.org,bounce,yesterday,x\n"
                         "five@Example.ORG,unsubscribe,,\n";
  const std::string fresh = tmp_.Sub("provider-state");
  auto r = RunCli("state import --state-dir " + fresh + " " + file +
                  " --partitions 12 --tenant acme --source sendgrid --reason hard_bounce");
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find("\"line\":4"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("\"line\":7"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("not-an-address"), std::string::npos) << r.err;
  EXPECT_NE(r.out.find("\"imported\":4"), std::string::npos) << r.out;

  bouncestream::state::FakeClock clock(kT0);
  bouncestream::state::EngineOptions eo;
  eo.dir = fresh;
  eo.clock = &clock;
  eo.read_only = true;
  auto engine = bouncestream::state::Engine::Open(eo);
  ASSERT_TRUE(engine) << engine.error();
  std::map<std::string, std::int32_t> where;
  std::map<std::string, bouncestream::state::Decision> what;
  (*engine)->ForEachActive([&](std::int32_t p, const bouncestream::state::Decision& d) {
    where[d.recipient] = p;
    what[d.recipient] = d;
    return true;
  });
  ASSERT_EQ(where.size(), 4u);
  for (const auto& [recipient, p] : where) {
    const std::string domain = bouncestream::stream::RecipientDomain(recipient);
    EXPECT_EQ(p, bouncestream::stream::PartitionForKey(domain, 12)) << recipient;
  }
  // Known Kafka murmur2 partitions (toPositive(murmur2(key)) % 12).
  EXPECT_EQ(where["one@gmail.com"], static_cast<std::int32_t>(
                                        (bouncestream::stream::Murmur2("gmail.com") & 0x7fffffff) % 12));
  EXPECT_EQ(bouncestream::stream::PartitionForKey("21", 12), 0);      // murmur2 -973932308
  EXPECT_EQ(bouncestream::stream::PartitionForKey("foobar", 12), 6);  // murmur2 -790332482
  const auto& two = what["two@outlook.com"];
  EXPECT_EQ(two.reason, "spam, complaint");
  EXPECT_EQ(two.tenant, "acme");
  EXPECT_EQ(two.origin, "import");
  EXPECT_EQ(two.rule, "import.sendgrid");
  EXPECT_EQ(two.note, "sendgrid");
  EXPECT_EQ(two.scope, bouncestream::state::Scope::kTenant);
  EXPECT_EQ(two.decided_at_ms, 1735877106000);
  EXPECT_EQ(what["three@yahoo.co.jp"].reason, "hard_bounce");
  EXPECT_EQ(what["three@yahoo.co.jp"].decided_at_ms, 1735790400000);
  EXPECT_EQ(what["five@Example.ORG"].reason, "unsubscribe");
}

TEST_F(StateCliTest, ImportRefusesRowsWithoutTenantAndFilesWithoutEmailColumn) {
  const std::string file = tmp_.Sub("list.csv");
  std::ofstream(file) << "email\na@example.com\n";
  auto r = RunCli("state import --state-dir " + tmp_.Sub("s1") + " " + file + " --partitions 3");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("tenant"), std::string::npos) << r.err;
  const std::string nocol = tmp_.Sub("nocol.csv");
  std::ofstream(nocol) << "name,city\nx,y\n";
  auto n = RunCli("state import --state-dir " + tmp_.Sub("s2") + " " + nocol +
                  " --partitions 3 --tenant acme");
  EXPECT_EQ(n.exit_code, 1);
  EXPECT_NE(n.err.find("no email column"), std::string::npos) << n.err;
  // Offline import needs the partition count.
  EXPECT_EQ(RunCli("state import --state-dir " + tmp_.Sub("s3") + " " + file + " --tenant acme")
                .exit_code,
            2);
}

TEST_F(StateCliTest, SummaryIsStableJson) {
  auto r = RunCli("state summary --state-dir " + dir_ + " --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(r.out.starts_with("{\"partitions\":[{\"partition\":1,\"next_offset\":4,"))
      << r.out;
  EXPECT_NE(r.out.find("{\"partition\":3,\"next_offset\":10,"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("{\"partition\":5,\"next_offset\":7,"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\"active_decisions\":2"), std::string::npos) << r.out;
  EXPECT_EQ(Lines(r.out).size(), 1u);
  EXPECT_EQ(RunCli("state summary --state-dir " + dir_ + " --json").out, r.out);  // stable
  auto table = RunCli("state summary --state-dir " + dir_);
  ASSERT_EQ(table.exit_code, 0);
  EXPECT_EQ(Lines(table.out).size(), 4u) << table.out;
  // A lift changes the partition's hash.
  const std::string id = DecisionIdOf("bob@example.org", "sender");
  ASSERT_EQ(RunCli("state lift --state-dir " + dir_ + " " + id).exit_code, 0);
  EXPECT_NE(RunCli("state summary --state-dir " + dir_ + " --json").out, r.out);
}

// ---- with a broker: a running group's admin command, and an offline lift that publishes ------

struct Consumed {
  std::string key, value;
  bool tombstone = false;
  std::map<std::string, std::string> headers;
};

// Every record of partition 0 (or `partition`) of `topic`, reading until `want` or 15 s.
std::vector<Consumed> ReadTopic(const std::string& bootstrap, const std::string& topic,
                                std::size_t want, std::int32_t partition = 0) {
  char err[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap.c_str(), err, sizeof err);
  rd_kafka_conf_set(conf, "group.id", "state-cli-test-reader", err, sizeof err);
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
  EXPECT_NE(rk, nullptr) << err;
  std::vector<Consumed> out;
  if (rk == nullptr) return out;
  rd_kafka_topic_partition_list_t* l = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(l, topic.c_str(), partition)->offset =
      RD_KAFKA_OFFSET_BEGINNING;
  rd_kafka_assign(rk, l);
  rd_kafka_topic_partition_list_destroy(l);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
  while (out.size() < want && std::chrono::steady_clock::now() < deadline) {
    rd_kafka_message_t* m = rd_kafka_consumer_poll(rk, 200);
    if (m == nullptr) continue;
    if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      Consumed c;
      if (m->key != nullptr) c.key.assign(static_cast<const char*>(m->key), m->key_len);
      c.tombstone = m->payload == nullptr;
      if (m->payload != nullptr) c.value.assign(static_cast<const char*>(m->payload), m->len);
      rd_kafka_headers_t* h = nullptr;
      if (rd_kafka_message_headers(m, &h) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        const char* name = nullptr;
        const void* v = nullptr;
        std::size_t n = 0;
        for (std::size_t i = 0; rd_kafka_header_get_all(h, i, &name, &v, &n) ==
                                RD_KAFKA_RESP_ERR_NO_ERROR;
             ++i) {
          c.headers[name] = std::string(static_cast<const char*>(v), n);
        }
      }
      out.push_back(std::move(c));
    }
    rd_kafka_message_destroy(m);
  }
  rd_kafka_consumer_close(rk);
  rd_kafka_destroy(rk);
  return out;
}

class StateCliBrokerTest : public StateCliTest {
 protected:
  void SetUp() override {
    StateCliTest::SetUp();
    const std::string bs = tmp_.Sub("bootstrap");
    std::vector<std::string> args{"devbroker", "--port", "0", "--bootstrap-file", bs};
    for (const char* t : {"bouncestream.admin:1", "bouncestream.suppressions:1",
                          "bouncestream.blocks:1", "bouncestream.alerts:1",
                          "bouncestream.audit:1", "g-state-changelog:6"}) {
      args.push_back("--topic");
      args.push_back(t);
    }
    bouncestream::testing::Spawn(&broker_, args, tmp_.Sub("broker.log"));
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (std::chrono::steady_clock::now() < deadline) {
      bootstrap_ = bouncestream::testing::Slurp(bs);
      while (!bootstrap_.empty() && (bootstrap_.back() == '\n' || bootstrap_.back() == ' ')) {
        bootstrap_.pop_back();
      }
      if (!bootstrap_.empty()) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    ASSERT_FALSE(bootstrap_.empty()) << bouncestream::testing::Slurp(tmp_.Sub("broker.log"));
    token_file_ = tmp_.Sub("admin.token");
    std::ofstream(token_file_) << "s3cret-admin-token\n";
  }
  bouncestream::testing::Child broker_;
  std::string bootstrap_, token_file_;
};

TEST_F(StateCliBrokerTest, RunningGroupGetsASignedAdminCommand) {
  auto r = RunCli("state lift --bootstrap " + bootstrap_ + " --admin-token-file " + token_file_ +
                  " 0123456789abcdef --note 'ticket 42'");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("\"delivered\":true"), std::string::npos) << r.out;
  const std::string request_id = JsonField(r.out, "request_id");
  ASSERT_EQ(request_id.size(), 32u) << r.out;
  // The token also comes from the environment.
  auto e = RunCli("state erase --bootstrap " + bootstrap_ + " --tenant acme secret.person@example.com",
                  "BOUNCESTREAM_ADMIN_TOKEN_FILE=" + token_file_);
  ASSERT_EQ(e.exit_code, 0) << e.err;
  EXPECT_EQ(e.out.find("secret.person"), std::string::npos) << e.out;
  EXPECT_EQ(e.err.find("secret.person"), std::string::npos) << e.err;

  auto records = ReadTopic(bootstrap_, "bouncestream.admin", 2);
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[0].key, request_id);
  const std::string auth = records[0].headers["bouncestream.auth"];
  EXPECT_TRUE(bouncestream::stream::VerifyAdminCommand("s3cret-admin-token", records[0].value, auth));
  EXPECT_FALSE(bouncestream::stream::VerifyAdminCommand("other-token", records[0].value, auth));
  EXPECT_EQ(records[0].value.find("s3cret"), std::string::npos);
  auto cmd = bouncestream::stream::DecodeAdminCommand(records[0].value);
  ASSERT_TRUE(cmd) << cmd.error();
  EXPECT_EQ(cmd->command, bouncestream::stream::AdminCommandKind::kLift);
  EXPECT_EQ(cmd->decision_id, "0123456789abcdef");
  EXPECT_EQ(cmd->note, "ticket 42");
  EXPECT_EQ(cmd->request_id, request_id);
  auto erase = bouncestream::stream::DecodeAdminCommand(records[1].value);
  ASSERT_TRUE(erase) << erase.error();
  EXPECT_EQ(erase->command, bouncestream::stream::AdminCommandKind::kErase);
  EXPECT_EQ(erase->tenant, "acme");
  EXPECT_EQ(erase->recipient, "secret.person@example.com");
  EXPECT_TRUE(bouncestream::stream::VerifyAdminCommand(
      "s3cret-admin-token", records[1].value, records[1].headers["bouncestream.auth"]));
}

TEST_F(StateCliBrokerTest, OfflineLiftPublishesDecisionChangelogAndAudit) {
  const std::string id = DecisionIdOf("bob@example.org", "sender");
  ASSERT_EQ(id.size(), 16u);
  // --bootstrap without --group: the changelog topic is unknown.
  EXPECT_EQ(RunCli("state lift --state-dir " + dir_ + " --bootstrap " + bootstrap_ + " " + id)
                .exit_code,
            2);
  auto r = RunCli("state lift --state-dir " + dir_ + " --bootstrap " + bootstrap_ +
                  " --group g " + id + " --note 'customer asked'");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err.find("nothing was published"), std::string::npos) << r.err;
  auto lifts = ReadTopic(bootstrap_, "bouncestream.suppressions", 1);
  ASSERT_EQ(lifts.size(), 1u);
  EXPECT_EQ(JsonField(lifts[0].value, "kind"), "lift");
  EXPECT_EQ(lifts[0].key, std::string("acme\x1F") + "bob@example.org\x1F" + "news@acme.example");
  auto changelog = ReadTopic(bootstrap_, "g-state-changelog", 1, 3);
  ASSERT_GE(changelog.size(), 1u);
  EXPECT_FALSE(changelog[0].headers["bouncestream.batch"].empty());
  auto audit = ReadTopic(bootstrap_, "bouncestream.audit", 1);
  ASSERT_EQ(audit.size(), 1u);
  EXPECT_EQ(JsonField(audit[0].value, "action"), "lift");
  EXPECT_EQ(JsonField(audit[0].value, "decision_id"), id);
  EXPECT_EQ(JsonField(audit[0].value, "mode"), "offline");
  EXPECT_EQ(RunCli("state query --state-dir " + dir_ + " bob@example.org").out, "");

  // Erase publishes a tombstone; the audit record holds no address, only the keyed hash.
  auto e = RunCli("state erase --state-dir " + dir_ + " --bootstrap " + bootstrap_ +
                  " --group g dead.user@example.com");
  ASSERT_EQ(e.exit_code, 0) << e.err;
  auto sup = ReadTopic(bootstrap_, "bouncestream.suppressions", 2);
  ASSERT_EQ(sup.size(), 2u);
  EXPECT_TRUE(sup[1].tombstone);
  auto audit2 = ReadTopic(bootstrap_, "bouncestream.audit", 2);
  ASSERT_EQ(audit2.size(), 2u);
  EXPECT_EQ(JsonField(audit2[1].value, "action"), "erase");
  EXPECT_EQ(audit2[1].value.find("dead.user"), std::string::npos) << audit2[1].value;
}

TEST(StateCliUsageTest, UsageErrorsExit2) {
  EXPECT_EQ(RunCli("state").exit_code, 2);
  EXPECT_EQ(RunCli("state nope").exit_code, 2);
  EXPECT_EQ(RunCli("state query a@b.example").exit_code, 2);           // no --state-dir
  EXPECT_EQ(RunCli("state query --state-dir /tmp").exit_code, 2);      // no recipient
  EXPECT_EQ(RunCli("state lift 0123456789abcdef").exit_code, 2);       // neither mode
  EXPECT_EQ(RunCli("state erase a@b.example").exit_code, 2);
  EXPECT_EQ(RunCli("state export --state-dir /tmp --format xml").exit_code, 2);
  EXPECT_EQ(RunCli("state export --state-dir /tmp --kind lift").exit_code, 2);
  EXPECT_EQ(RunCli("state query --state-dir /tmp --output yaml a@b.example").exit_code, 2);
  EXPECT_EQ(RunCli("state summary").exit_code, 2);
  EXPECT_EQ(RunCli("state lift --state-dir /tmp --admin-token-file /dev/null 0123").exit_code, 2);
  EXPECT_EQ(RunCli("state lift --bootstrap 127.0.0.1:9 0123456789abcdef").exit_code, 2);  // token
  EXPECT_EQ(RunCli("state import --state-dir /tmp/x f.csv --source 'bad name'").exit_code, 2);
  // Runtime errors exit 1.
  EXPECT_EQ(RunCli("state query --state-dir /nonexistent/state a@b.example").exit_code, 1);
  EXPECT_EQ(RunCli("state summary --state-dir /nonexistent/state").exit_code, 1);
  EXPECT_EQ(RunCli("state import --state-dir /tmp/x /nonexistent.csv --partitions 3").exit_code,
            1);
  for (const char* sub : {"query", "lift", "erase", "export", "import", "summary"}) {
    auto h = RunCli(std::string("state ") + sub + " --help");
    EXPECT_EQ(h.exit_code, 0) << sub;
    EXPECT_NE(h.out.find("--"), std::string::npos) << sub;
  }
  auto h = RunCli("state --help");
  EXPECT_EQ(h.exit_code, 0);
  EXPECT_NE(h.out.find("summary"), std::string::npos) << h.out;
}

TEST(StateCliUsageTest, SecretsOnArgvAreRefused) {
  auto t = RunCli("state lift --bootstrap 127.0.0.1:9 --admin-token hunter2 0123456789abcdef");
  EXPECT_EQ(t.exit_code, 2);
  EXPECT_EQ(t.err.find("hunter2"), std::string::npos) << t.err;
  EXPECT_NE(t.err.find("--admin-token-file"), std::string::npos) << t.err;
  EXPECT_EQ(RunCli("state erase --state-dir /tmp --hmac-key k a@b.example").exit_code, 2);
  EXPECT_EQ(RunCli("state query --state-dir /tmp --hmac-key=k a@b.example").exit_code, 2);
  auto x = RunCli("state lift --bootstrap 127.0.0.1:9 --admin-token-file /dev/null "
                  "-X sasl.password=hunter2 0123456789abcdef");
  EXPECT_EQ(x.exit_code, 2);
  EXPECT_EQ(x.err.find("hunter2"), std::string::npos) << x.err;
}

}  // namespace
