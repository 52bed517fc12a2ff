// The acceptance test of exactly-once state: the same stream of 200k+ events is processed twice
// on a fresh dev broker each time, once by one processor that is never disturbed, once by two
// processors in one group that are killed -9 (and restarted on the same state dir) at random
// moments, at least ten times. Both runs must end with the same state (per partition of the
// classified topic: the hash of all windows and active decisions) and the same set of decision
// ids; the outputs of the killed run may hold duplicates (at least once), which are counted.
//
// The input topic has one partition so that the order of first occurrences in each classified
// partition is the input order in both runs (with several input partitions the interleaving of
// different partitions' records depends on timing even without kills). The stream is fed in
// chunks, each fed only when the previous one has been consumed by both stages, so that no
// partition holds more than the dev broker's 5 MiB retention: an offset reset anywhere fails
// the test.
#include <librdkafka/rdkafka.h>
#include <simdjson.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "state/engine.h"
#include "stream/kafka_produce.h"
#include "tests/stream/child_process.h"

namespace bouncestream::stream {
namespace {

using Clock = std::chrono::steady_clock;
namespace fs = std::filesystem;
using testing::Child;
using testing::Slurp;
using testing::Spawn;

// Input records (1 % are retried duplicates); CRASH_TEST_RECORDS overrides it for
// experiments (the acceptance figure is the default).
const int kRecords = [] {
  const char* v = std::getenv("CRASH_TEST_RECORDS");
  return v != nullptr ? std::atoi(v) : 202'000;
}();
constexpr int kChunk = 5'000;         // records fed at a time
constexpr int kClassifiedPartitions = 12;
constexpr int kKills = 12;
constexpr const char* kGroup = "ce";

// Reply texts and the signal the classifier gives them (checked by `bouncestream explain`).
struct Reply {
  const char* text;
  int code;
  const char* type;
  const char* mx;
};
constexpr Reply kReplies[] = {
    {"550 5.1.1 <{rcpt}>: Recipient address rejected: User unknown in virtual mailbox table", 550,
     "bounce", "mx.{domain}"},  // hard invalid
    {"552 5.2.2 <{rcpt}>: Mailbox full, over quota", 552, "bounce", "mx.{domain}"},  // soft
    {"550 Envelope blocked - User Entry - https://community.mimecast.com/docs/DOC-1369#550", 550,
     "bounce", "eu-smtp-inbound-1.mimecast.com"},  // end user
    {"550 Administrative prohibition - envelope blocked - "
     "https://community.mimecast.com/docs/DOC-1369#550",
     550, "bounce", "eu-smtp-inbound-1.mimecast.com"},  // recipient admin
    {"554 Your IP address has been blocked by a Mimecast RBL policy - spamcop - "
     "https://community.mimecast.com/docs/DOC-1369#554",
     554, "bounce", "eu-smtp-inbound-1.mimecast.com"},  // filter platform (dnsbl)
    {"550 5.7.1 IP address has a poor reputation - "
     "https://community.mimecast.com/docs/DOC-1369#550",
     550, "bounce", "us-smtp-inbound-1.mimecast.com"},  // filter platform (reputation)
    {"550 5.7.26 This mail is unauthenticated, which poses a security risk to the sender and "
     "Gmail users, and has been blocked. The sender must authenticate with at least one of SPF "
     "or DKIM.",
     550, "bounce", "gmail-smtp-in.l.google.com"},  // sender config
    {"421 4.7.0 Try again later, closing connection.", 421, "deferral", "mx.{domain}"},
    {"250 2.0.0 OK", 250, "delivered", "mx.{domain}"},
    {"", 0, "complaint", ""},
};
// Relative weights of the replies above.
constexpr int kWeights[] = {14, 12, 5, 8, 6, 4, 3, 22, 24, 2};

std::string Replace(std::string s, std::string_view what, std::string_view with) {
  for (auto at = s.find(what); at != std::string::npos; at = s.find(what, at + with.size())) {
    s.replace(at, what.size(), with);
  }
  return s;
}

// The deterministic input stream: canonical JSON records over 400 domains.
std::vector<std::string> MakeStream() {
  std::mt19937_64 rng(20261201);
  int total = 0;
  for (int w : kWeights) total += w;
  std::vector<std::string> out;
  out.reserve(kRecords);
  const std::int64_t t0 = 1'796'032'800'000;  // event time, ms
  for (int i = 0; i < kRecords; ++i) {
    if (i > 100 && rng() % 100 == 0) {  // a retried delivery of a recent record
      out.push_back(out[out.size() - 1 - rng() % 100]);
      continue;
    }
    int pick = static_cast<int>(rng() % static_cast<std::uint64_t>(total));
    std::size_t r = 0;
    while (pick >= kWeights[r]) pick -= kWeights[r++];
    const Reply& reply = kReplies[r];
    const std::string domain = "d" + std::to_string(rng() % 400) + ".example";
    const std::string rcpt = "u" + std::to_string(rng() % 60) + "@" + domain;
    const int tenant = static_cast<int>(rng() % 3);
    const std::string sender =
        "news" + std::to_string(rng() % 2) + "@t" + std::to_string(tenant) + ".example";
    const std::string ip = "192.0.2." + std::to_string(10 + rng() % 6);
    std::string rec = "{\"id\":\"ce-" + std::to_string(i) + "\",\"time\":" +
                      std::to_string(t0 + static_cast<std::int64_t>(i) * 20) +
                      ",\"tenant\":\"t" + std::to_string(tenant) + "\",\"sender\":\"" + sender +
                      "\",\"recipient\":\"" + rcpt + "\",\"mx\":\"" +
                      Replace(reply.mx, "{domain}", domain) +
                      "\",\"remote_ip\":\"\",\"sending_ip\":\"" + ip +
                      "\",\"smtp_code\":" + std::to_string(reply.code) +
                      ",\"enhanced_code\":\"\",\"text\":\"" +
                      Replace(reply.text, "{rcpt}", rcpt) + "\",\"type\":\"" + reply.type + "\"}";
    out.push_back(std::move(rec));
  }
  return out;
}

rd_kafka_t* NewClient(rd_kafka_type_t type, const std::vector<std::pair<std::string, std::string>>& props) {
  char err[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  for (const auto& [k, v] : props) {
    if (rd_kafka_conf_set(conf, k.c_str(), v.c_str(), err, sizeof err) != RD_KAFKA_CONF_OK) {
      ADD_FAILURE() << k << ": " << err;
    }
  }
  rd_kafka_t* rk = rd_kafka_new(type, conf, err, sizeof err);
  EXPECT_NE(rk, nullptr) << err;
  return rk;
}

struct RunResult {
  std::map<std::int32_t, std::string> hash;   // classified partition -> state hash
  std::map<std::int32_t, std::int64_t> watermark;
  std::set<std::string> decision_ids;
  std::int64_t decision_records = 0;
  std::map<std::string, std::int64_t> kinds;  // "suppress/tenant" -> distinct decisions
  int kills = 0;
};

class Cluster {
 public:
  Cluster(const fs::path& dir, int instances) : dir_(dir), procs_(instances) {
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    std::ofstream cfg(dir_ / "bouncestream.toml");
    // Short windows and TTLs so that pauses, alerts and suppressions also expire within the
    // 67 minutes of event time the stream covers.
    cfg << "batch_max_messages = 5000\n"
           "[policy]\n"
           "soft_bounce_count = 3\nsoft_bounce_window = \"1h\"\nsoft_suppress_ttl = \"30m\"\n"
           "end_user_suppress_ttl = \"40m\"\n"
           "admin_block_distinct_recipients = 3\nadmin_block_window = \"30m\"\n"
           "domain_pause_ttl = \"15m\"\n"
           "platform_block_count = 5\nplatform_block_window = \"10m\"\nip_pause_ttl = \"10m\"\n"
           "alert_ttl = \"20m\"\n"
           "[kafka.producer]\n\"compression.type\" = \"lz4\"\n";
  }
  ~Cluster() {
    for (auto& p : procs_) p.Kill();
    for (rd_kafka_t* rk : {producer_, watcher_, offsets_}) {
      if (rk != nullptr) rd_kafka_destroy(rk);
    }
    broker_.Terminate(5000);
  }

  void Start() {
    const std::string parts = ":" + std::to_string(kClassifiedPartitions);
    Spawn(&broker_,
          {"devbroker", "--port", "0", "--topic", "in:1", "--topic", "bouncestream.classified" + parts,
           "--topic", std::string(kGroup) + "-state-changelog" + parts, "--topic",
           "bouncestream.suppressions:8", "--topic", "bouncestream.blocks:2", "--topic",
           "bouncestream.alerts:2", "--topic", "bouncestream.dlq:1", "--topic",
           "bouncestream.audit:1", "--topic", "bouncestream.admin:1", "--bootstrap-file",
           (dir_ / "bs").string()},
          (dir_ / "broker.log").string());
    const auto deadline = Clock::now() + std::chrono::seconds(20);
    while (Clock::now() < deadline && bootstrap_.empty()) {
      std::ifstream in(dir_ / "bs");
      std::getline(in, bootstrap_);
      if (bootstrap_.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    ASSERT_FALSE(bootstrap_.empty()) << Slurp((dir_ / "broker.log").string());
    producer_ = NewClient(RD_KAFKA_PRODUCER, {{"bootstrap.servers", bootstrap_},
                                              {"linger.ms", "5"},
                                              {"enable.idempotence", "true"}});
    offsets_ = NewClient(RD_KAFKA_CONSUMER, {{"bootstrap.servers", bootstrap_}, {"group.id", kGroup}});
    watcher_ = NewClient(RD_KAFKA_CONSUMER, {{"bootstrap.servers", bootstrap_},
                                             {"group.id", "ce-watcher"},
                                             {"enable.auto.commit", "false"},
                                             {"auto.offset.reset", "error"},
                                             {"fetch.wait.max.ms", "20"}});
    rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(12);
    for (int p = 0; p < 8; ++p) {
      rd_kafka_topic_partition_list_add(list, "bouncestream.suppressions", p)->offset =
          RD_KAFKA_OFFSET_BEGINNING;
    }
    for (const char* t : {"bouncestream.blocks", "bouncestream.alerts"}) {
      for (int p = 0; p < 2; ++p) {
        rd_kafka_topic_partition_list_add(list, t, p)->offset = RD_KAFKA_OFFSET_BEGINNING;
      }
    }
    ASSERT_EQ(rd_kafka_assign(watcher_, list), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_topic_partition_list_destroy(list);
    for (std::size_t i = 0; i < procs_.size(); ++i) StartProcessor(i);
  }

  void StartProcessor(std::size_t i) {
    Spawn(&procs_[i],
          {"run", "--config", (dir_ / "bouncestream.toml").string(), "--bootstrap", bootstrap_,
           "--group", kGroup, "--input", "in:canonical", "--state-dir",
           (dir_ / ("state" + std::to_string(i))).string(), "--metrics-addr", "127.0.0.1:0"},
          (dir_ / ("processor" + std::to_string(i) + ".log")).string());
  }

  void KillAndRestart(std::size_t i) {
    procs_[i].Kill();
    StartProcessor(i);
  }

  void Feed(const std::vector<std::string>& stream, int from, int to) {
    for (int i = from; i < to; ++i) {
      for (;;) {
        const auto e = ProduceCopy(producer_, "in", {}, stream[static_cast<std::size_t>(i)]);
        if (e == RD_KAFKA_RESP_ERR_NO_ERROR) break;
        ASSERT_EQ(e, RD_KAFKA_RESP_ERR__QUEUE_FULL);
        rd_kafka_poll(producer_, 10);
      }
    }
    ASSERT_EQ(rd_kafka_flush(producer_, 30000), RD_KAFKA_RESP_ERR_NO_ERROR);
  }

  // Reads what the processors published so far.
  void Watch(int budget_ms) {
    const auto until = Clock::now() + std::chrono::milliseconds(budget_ms);
    while (Clock::now() < until) {
      rd_kafka_message_t* m = rd_kafka_consumer_poll(watcher_, 20);
      if (m == nullptr) continue;
      if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        ASSERT_NE(m->err, RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET)
            << "the watcher lost decision records: " << rd_kafka_message_errstr(m);
        rd_kafka_message_destroy(m);
        continue;
      }
      if (m->payload != nullptr) Count(std::string_view(static_cast<const char*>(m->payload), m->len));
      rd_kafka_message_destroy(m);
    }
  }

  // True when the group has committed everything of the input and the classified topic.
  // `why` (optional) gets the first partition that is behind.
  bool CaughtUp(std::string* why = nullptr) {
    rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(16);
    rd_kafka_topic_partition_list_add(list, "in", 0);
    for (int p = 0; p < kClassifiedPartitions; ++p) {
      rd_kafka_topic_partition_list_add(list, "bouncestream.classified", p);
    }
    bool done = rd_kafka_committed(offsets_, list, 5000) == RD_KAFKA_RESP_ERR_NO_ERROR;
    for (int i = 0; done && i < list->cnt; ++i) {
      std::int64_t low = 0, high = 0;
      if (rd_kafka_query_watermark_offsets(offsets_, list->elems[i].topic, list->elems[i].partition,
                                           &low, &high, 5000) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        done = false;
        break;
      }
      const std::int64_t committed = list->elems[i].offset;
      if (!(committed == high || (committed < 0 && high == 0))) {
        done = false;
        if (why != nullptr) {
          *why = std::string(list->elems[i].topic) + "[" + std::to_string(list->elems[i].partition) +
                 "] committed " + std::to_string(committed) + ", high " + std::to_string(high);
        }
      }
    }
    rd_kafka_topic_partition_list_destroy(list);
    return done;
  }

  void WaitCaughtUp(int timeout_s) {
    const auto deadline = Clock::now() + std::chrono::seconds(timeout_s);
    while (Clock::now() < deadline) {
      Watch(200);
      if (CaughtUp()) {
        Watch(300);
        return;
      }
    }
    std::string why;
    CaughtUp(&why);
    FAIL() << "the processors did not catch up within " << timeout_s << " s (" << why
           << "); logs in " << dir_;
  }

  void Stop() {
    for (auto& p : procs_) EXPECT_EQ(p.Terminate(30000), 0) << "processor did not stop cleanly";
    Watch(1000);
  }

  // State per classified partition, from the state dir holding its newest copy.
  void ReadState(RunResult* out) {
    std::map<std::int32_t, std::int64_t> best;
    state::SystemClock clock;
    for (std::size_t i = 0; i < procs_.size(); ++i) {
      state::EngineOptions o;
      o.dir = (dir_ / ("state" + std::to_string(i))).string();
      o.read_only = true;
      o.clock = &clock;
      auto engine = state::Engine::Open(o);
      ASSERT_TRUE(engine.has_value()) << engine.error();
      for (const auto& s : (*engine)->Summaries()) {
        if (s.next_offset > best[s.partition] || !out->hash.contains(s.partition)) {
          best[s.partition] = s.next_offset;
          out->hash[s.partition] = s.hash;
          out->watermark[s.partition] = s.watermark_ms;
        }
      }
    }
  }

  void ExpectCleanLogs() {
    for (std::size_t i = 0; i < procs_.size(); ++i) {
      const std::string log = Slurp(procs_[i].log);
      EXPECT_EQ(log.find("offset reset"), std::string::npos) << "processor " << i << ": " << dir_;
      EXPECT_EQ(log.find("changelog truncated"), std::string::npos)
          << "processor " << i << ": " << dir_;
      EXPECT_EQ(log.find("restore failed"), std::string::npos) << "processor " << i << ": " << dir_;
    }
  }

  RunResult result;
  std::size_t instances() const { return procs_.size(); }

 private:
  void Count(std::string_view value) {
    ++result.decision_records;
    buf_.assign(value.data(), value.size());
    buf_.reserve(buf_.size() + simdjson::SIMDJSON_PADDING);
    simdjson::ondemand::document doc;
    ASSERT_FALSE(parser_.iterate(buf_.data(), buf_.size(), buf_.capacity()).get(doc)) << value;
    std::string_view id, kind, scope;
    ASSERT_FALSE(doc["decision_id"].get_string().get(id)) << value;
    const std::string id_copy(id);
    ASSERT_FALSE(doc["kind"].get_string().get(kind)) << value;
    const std::string kind_copy(kind);
    ASSERT_FALSE(doc["scope"].get_string().get(scope)) << value;
    if (result.decision_ids.insert(id_copy).second) ++result.kinds[kind_copy + "/" + std::string(scope)];
  }

  fs::path dir_;
  Child broker_;
  std::vector<Child> procs_;
  std::string bootstrap_;
  rd_kafka_t* producer_ = nullptr;
  rd_kafka_t* watcher_ = nullptr;
  rd_kafka_t* offsets_ = nullptr;
  simdjson::ondemand::parser parser_;
  std::string buf_;
};

RunResult RunStream(const std::vector<std::string>& stream, const fs::path& dir, int instances,
                    int kills) {
  Cluster c(dir, instances);
  c.Start();
  std::mt19937 rng(7);
  const int chunks = (kRecords + kChunk - 1) / kChunk;
  // Kill at chunks spread over the whole stream (never the first: the group forms there).
  std::set<int> kill_at;
  for (int k = 0; k < kills; ++k) kill_at.insert(2 + k * (chunks - 3) / std::max(kills, 1));
  for (int chunk = 0; chunk < chunks && !::testing::Test::HasFatalFailure(); ++chunk) {
    const int from = chunk * kChunk;
    const int to = std::min(kRecords, from + kChunk);
    c.Feed(stream, from, to);
    if (kill_at.contains(chunk)) {
      // A random moment while the chunk is in flight: between consume, produce, state write and
      // commit, or during a restore of the previous kill.
      c.Watch(static_cast<int>(rng() % 1500));
      c.KillAndRestart(rng() % c.instances());
      ++c.result.kills;
    }
    c.WaitCaughtUp(180);
    std::printf("[%s] chunk %d/%d fed and processed (%d kills so far)\n", dir.filename().c_str(),
                chunk + 1, chunks, c.result.kills);
    std::fflush(stdout);
  }
  c.Stop();
  c.ExpectCleanLogs();
  c.ReadState(&c.result);
  return c.result;
}

TEST(CrashEquivalenceTest, KilledRunEndsWithTheSameStateAndDecisions) {
  const std::vector<std::string> stream = MakeStream();
  const fs::path base = fs::temp_directory_path() / ("bouncestream_ce_" + std::to_string(getpid()));
  const RunResult calm = RunStream(stream, base / "calm", 1, 0);
  ASSERT_FALSE(::testing::Test::HasFailure());
  const RunResult killed = RunStream(stream, base / "killed", 2, kKills);
  ASSERT_FALSE(::testing::Test::HasFailure());

  EXPECT_GE(killed.kills, 10);
  ASSERT_EQ(calm.hash.size(), static_cast<std::size_t>(kClassifiedPartitions));
  EXPECT_EQ(killed.hash, calm.hash) << "the state differs after kills";
  EXPECT_EQ(killed.watermark, calm.watermark);
  EXPECT_EQ(killed.decision_ids, calm.decision_ids) << "the decisions differ after kills";
  // The stream exercises every decision kind, including expiry.
  for (const char* kind : {"suppress/tenant", "suppress/sender", "pause/domain", "pause/ip_vendor",
                           "alert/sender", "resume/ip_vendor", "lift/tenant"}) {
    EXPECT_GT(calm.kinds.count(kind) ? calm.kinds.at(kind) : 0, 0) << kind;
  }
  std::printf("events %d, kills %d, decisions %zu; decision records published: calm %lld, "
              "killed %lld (duplicates %lld)\n",
              kRecords, killed.kills, calm.decision_ids.size(),
              static_cast<long long>(calm.decision_records),
              static_cast<long long>(killed.decision_records),
              static_cast<long long>(killed.decision_records -
                                     static_cast<std::int64_t>(killed.decision_ids.size())));
  for (const auto& [k, n] : calm.kinds) std::printf("  %-18s %lld\n", k.c_str(), static_cast<long long>(n));
  if (!::testing::Test::HasFailure()) fs::remove_all(base);
}

}  // namespace
}  // namespace bouncestream::stream
