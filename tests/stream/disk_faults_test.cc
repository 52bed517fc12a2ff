// Disk faults under a running processor (issue 8). Run "full": the state dir on a 48 MiB tmpfs of
// its own is filled up with a ballast file while a chunk of the stream is being processed, then
// the ballast is removed; the second time the processor is killed -9 while blocked and restarted
// after the ballast is gone. Run "unwritable": the state dir (ext4 of /tmp) gets chattr -R +i
// (even root gets EPERM, also on the RocksDB files already open, as on a volume remounted
// read-only), then -i; the second time with a kill -9 while blocked. Each time the processor
// must stop consuming (no committed offset moves while it is blocked, and no classified offset
// committed to Kafka passes the durable state's), report it (log line,
// bouncestream_state_write_blocked = 1, bouncestream_state_write_errors_total up, /readyz 503)
// and resume by itself once the fault is cleared. At the end of each run the state
// (per-partition hash and watermark) and the set of decision ids equal those of an undisturbed
// run of the same stream.
//
// Needs root (mount -t tmpfs, chattr); skipped otherwise.
#include <fcntl.h>
#include <librdkafka/rdkafka.h>
#include <netinet/in.h>
#include <simdjson.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
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
#include "tests/stream/cluster_harness.h"

namespace bouncestream::stream {
namespace {

using Clock = std::chrono::steady_clock;
namespace fs = std::filesystem;
using testing::Child;
using testing::Slurp;
using testing::Spawn;
using harness::HttpGet;
using harness::Metric;
using harness::MetricsPort;
using harness::NewClient;

constexpr int kRecords = 20'000;
constexpr int kChunk = 2'500;
constexpr int kClassifiedPartitions = 6;
constexpr const char* kGroup = "df";
// Smaller than RocksDB's WAL preallocation block (1.1 × the 64 MiB write buffer): on tmpfs a
// fallocate that does not fit fails whole, so WAL appends really meet the full disk.
constexpr const char* kTmpfsSize = "48m";

// The stream: the shared harness's canonical events (every policy rule represented, 1 % retried
// duplicates), fewer domains and recipients so that decisions come early in 20k records.
std::vector<std::string> MakeStream() {
  return harness::MakeStream({.records = kRecords,
                              .seed = 20261208,
                              .domains = 200,
                              .recipients_per_domain = 40,
                              .step_ms = 60,
                              .id_prefix = "df-"});
}

// Appends to `ballast` until the filesystem refuses a single byte more.
std::int64_t FillUp(const fs::path& ballast) {
  const int fd = ::open(ballast.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0) return -1;
  std::int64_t written = 0;
  const std::string block(1u << 20, 'b');
  for (std::size_t size : {std::size_t{1} << 20, std::size_t{4096}, std::size_t{1}}) {
    for (;;) {
      const ssize_t n = ::write(fd, block.data(), size);
      if (n <= 0) break;
      written += n;
    }
  }
  ::close(fd);
  return written;
}

int Sh(const std::string& cmd) { return std::system(cmd.c_str()); }

struct RunResult {
  std::map<std::int32_t, std::string> hash;
  std::map<std::int32_t, std::int64_t> watermark;
  std::set<std::string> decision_ids;
  std::int64_t decision_records = 0;
};

class Cluster {
 public:
  Cluster(const fs::path& dir, bool on_tmpfs) : dir_(dir), on_tmpfs_(on_tmpfs) {
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    std::ofstream cfg(dir_ / "bouncestream.toml");
    cfg << "batch_max_messages = 1000\n"
           "[policy]\n"
           "soft_bounce_count = 3\nsoft_bounce_window = \"1h\"\nsoft_suppress_ttl = \"30m\"\n"
           "end_user_suppress_ttl = \"40m\"\n"
           "admin_block_distinct_recipients = 3\nadmin_block_window = \"30m\"\n"
           "domain_pause_ttl = \"15m\"\n"
           "platform_block_count = 5\nplatform_block_window = \"10m\"\nip_pause_ttl = \"10m\"\n"
           "alert_ttl = \"20m\"\n";
    if (on_tmpfs_) {
      fs::create_directories(mnt());
      mounted_ = ::mount("tmpfs", mnt().c_str(), "tmpfs", 0,
                         (std::string("size=") + kTmpfsSize).c_str()) == 0;
    }
    fs::create_directories(state_dir());
  }
  ~Cluster() {
    proc_.Kill();
    for (rd_kafka_t* rk : {producer_, watcher_, offsets_}) {
      if (rk != nullptr) rd_kafka_destroy(rk);
    }
    broker_.Terminate(5000);
    Sh("chattr -R -i '" + state_dir().string() + "' 2>/dev/null");
    if (mounted_) ::umount2(mnt().c_str(), MNT_DETACH);
  }
  bool mounted() const { return mounted_; }
  fs::path mnt() const { return dir_ / "mnt"; }
  fs::path state_dir() const { return on_tmpfs_ ? mnt() / "state" : dir_ / "state"; }
  const fs::path& dir() const { return dir_; }

  void Start() {
    const std::string parts = ":" + std::to_string(kClassifiedPartitions);
    Spawn(&broker_,
          {"devbroker", "--port", "0", "--topic", "in:1", "--topic",
           "bouncestream.classified" + parts, "--topic",
           std::string(kGroup) + "-state-changelog" + parts, "--topic",
           "bouncestream.suppressions:4", "--topic", "bouncestream.blocks:2", "--topic",
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
                                             {"group.id", "df-watcher"},
                                             {"enable.auto.commit", "false"},
                                             {"auto.offset.reset", "error"},
                                             {"fetch.wait.max.ms", "20"}});
    rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(8);
    for (int p = 0; p < 4; ++p) {
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
    StartProcessor();
  }

  void StartProcessor() {
    Spawn(&proc_,
          {"run", "--config", (dir_ / "bouncestream.toml").string(), "--bootstrap", bootstrap_,
           "--group", kGroup, "--input", "in:canonical", "--state-dir", state_dir().string(),
           "--metrics-addr", "127.0.0.1:0"},
          (dir_ / "processor.log").string());
  }
  void Kill() { proc_.Kill(); }

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

  void Watch(int budget_ms) {
    const auto until = Clock::now() + std::chrono::milliseconds(budget_ms);
    while (Clock::now() < until) {
      rd_kafka_message_t* m = rd_kafka_consumer_poll(watcher_, 20);
      if (m == nullptr) continue;
      if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR && m->payload != nullptr) {
        Count(std::string_view(static_cast<const char*>(m->payload), m->len));
      }
      rd_kafka_message_destroy(m);
    }
  }

  // Committed offsets of the group: "in" partition 0 as -1 key, classified partitions 0..n-1.
  std::map<std::int32_t, std::int64_t> Committed(std::map<std::int32_t, std::int64_t>* high = nullptr) {
    std::map<std::int32_t, std::int64_t> out;
    rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(16);
    rd_kafka_topic_partition_list_add(list, "in", 0);
    for (int p = 0; p < kClassifiedPartitions; ++p) {
      rd_kafka_topic_partition_list_add(list, "bouncestream.classified", p);
    }
    if (rd_kafka_committed(offsets_, list, 5000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
      for (int i = 0; i < list->cnt; ++i) {
        const std::int32_t key = i == 0 ? -1 : list->elems[i].partition;
        out[key] = list->elems[i].offset;
        if (high != nullptr) {
          std::int64_t lo = 0, hi = 0;
          rd_kafka_query_watermark_offsets(offsets_, list->elems[i].topic,
                                           list->elems[i].partition, &lo, &hi, 5000);
          (*high)[key] = hi;
        }
      }
    }
    rd_kafka_topic_partition_list_destroy(list);
    return out;
  }

  bool CaughtUp() {
    std::map<std::int32_t, std::int64_t> high;
    const auto committed = Committed(&high);
    if (committed.size() != static_cast<std::size_t>(kClassifiedPartitions + 1)) return false;
    for (const auto& [k, c] : committed) {
      if (!(c == high[k] || (c < 0 && high[k] == 0))) return false;
    }
    return true;
  }

  // Seconds until caught up, or -1 after `timeout_s`.
  double WaitCaughtUp(int timeout_s) {
    const auto t0 = Clock::now();
    while (Clock::now() - t0 < std::chrono::seconds(timeout_s)) {
      Watch(200);
      if (CaughtUp()) {
        const double s = std::chrono::duration<double>(Clock::now() - t0).count();
        Watch(300);
        return s;
      }
    }
    return -1;
  }

  std::string Metrics() {
    const int port = MetricsPort(Slurp(proc_.log));
    return port > 0 ? HttpGet(port, "/metrics") : "";
  }
  std::string Ready() {
    const int port = MetricsPort(Slurp(proc_.log));
    return port > 0 ? HttpGet(port, "/readyz") : "";
  }

  // Seconds until bouncestream_state_write_blocked == `want`, or -1. While waiting for a block,
  // `refill` keeps the disk full (RocksDB may free files meanwhile).
  double WaitBlocked(double want, int timeout_s, const fs::path* refill) {
    const auto t0 = Clock::now();
    while (Clock::now() - t0 < std::chrono::seconds(timeout_s)) {
      if (Metric(Metrics(), "bouncestream_state_write_blocked") == want) {
        return std::chrono::duration<double>(Clock::now() - t0).count();
      }
      if (refill != nullptr) FillUp(*refill);
      Watch(200);
    }
    return -1;
  }

  void Stop() {
    EXPECT_EQ(proc_.Terminate(30000), 0) << "processor did not stop cleanly";
    Watch(1000);
  }

  // Per-partition summaries of the state dir (processor stopped or dead).
  std::vector<state::PartitionSummary> Summaries() {
    state::SystemClock clock;
    state::EngineOptions o;
    o.dir = state_dir().string();
    o.read_only = true;
    o.clock = &clock;
    auto engine = state::Engine::Open(o);
    EXPECT_TRUE(engine.has_value()) << engine.error();
    if (!engine) return {};
    return (*engine)->Summaries();
  }
  void ReadState(RunResult* out) {
    for (const auto& s : Summaries()) {
      out->hash[s.partition] = s.hash;
      out->watermark[s.partition] = s.watermark_ms;
    }
  }

  std::string log() { return Slurp(proc_.log); }
  RunResult result;

 private:
  void Count(std::string_view value) {
    ++result.decision_records;
    buf_.assign(value.data(), value.size());
    buf_.reserve(buf_.size() + simdjson::SIMDJSON_PADDING);
    simdjson::ondemand::document doc;
    ASSERT_FALSE(parser_.iterate(buf_.data(), buf_.size(), buf_.capacity()).get(doc)) << value;
    std::string_view id;
    ASSERT_FALSE(doc["decision_id"].get_string().get(id)) << value;
    result.decision_ids.insert(std::string(id));
  }

  fs::path dir_;
  bool on_tmpfs_ = false;
  bool mounted_ = false;
  Child broker_;
  Child proc_;
  std::string bootstrap_;
  rd_kafka_t* producer_ = nullptr;
  rd_kafka_t* watcher_ = nullptr;
  rd_kafka_t* offsets_ = nullptr;
  simdjson::ondemand::parser parser_;
  std::string buf_;
};

int CountOf(const std::string& text, const std::string& what) {
  int n = 0;
  for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

struct Fault {
  const char* name;
  bool full;  // ballast on the tmpfs; else chattr -R +i on the state dir
  bool kill;  // kill -9 while blocked, restart after clearing
};

void RunFaulty(const std::vector<std::string>& stream, const RunResult& calm, const fs::path& dir,
               bool on_tmpfs, std::initializer_list<Fault> faults) {
  const int chunks = kRecords / kChunk;
  Cluster c(dir, on_tmpfs);
  if (on_tmpfs && !c.mounted()) GTEST_SKIP() << "cannot mount a tmpfs here";
  c.Start();
  const fs::path ballast = c.mnt() / "ballast";
  const std::string state = c.state_dir().string();
  int chunk = 0;
  auto feed_next = [&] {
    c.Feed(stream, chunk * kChunk, (chunk + 1) * kChunk);
    ++chunk;
  };
  feed_next();
  ASSERT_GE(c.WaitCaughtUp(120), 0);
  for (const Fault& f : faults) {
    SCOPED_TRACE(f.name);
    std::int64_t filled = 0;
    if (f.full) {
      filled = FillUp(ballast);
      ASSERT_GT(filled, 0);
    } else {
      ASSERT_EQ(Sh("chattr -R +i '" + state + "'"), 0);
    }
    const double errors_before = Metric(c.Metrics(), "bouncestream_state_write_errors_total");
    feed_next();
    const double to_block = c.WaitBlocked(1, 60, f.full ? &ballast : nullptr);
    ASSERT_GE(to_block, 0) << "the processor never reported a blocked state dir; logs in "
                           << c.dir();
    const std::string m = c.Metrics();
    EXPECT_GT(Metric(m, "bouncestream_state_write_errors_total"), errors_before);
    EXPECT_EQ(Metric(m, "bouncestream_ready"), 0);
    EXPECT_NE(c.Ready().find("not writable"), std::string::npos) << c.Ready();
    // Blocked: no committed offset moves (the input's: its partitions are paused; the
    // classified ones: they follow the durable state).
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    const auto held_from = c.Committed();
    c.Watch(3000);
    const auto held_to = c.Committed();
    EXPECT_EQ(held_from, held_to) << "offsets moved while the state dir was blocked";
    EXPECT_FALSE(c.CaughtUp()) << "the fault never bit";
    if (f.kill) {
      c.Kill();
      if (!f.full) {
        ASSERT_EQ(Sh("chattr -R -i '" + state + "'"), 0);  // the read-only open needs it
      }
      // Nothing committed to Kafka is past the durable state.
      const auto committed = c.Committed();
      for (const auto& s : c.Summaries()) {
        EXPECT_LE(committed.at(s.partition), s.next_offset)
            << "classified partition " << s.partition << " committed past its durable state";
      }
    }
    const auto cleared_at = Clock::now();
    if (f.full) {
      fs::remove(ballast);
    } else if (!f.kill) {
      ASSERT_EQ(Sh("chattr -R -i '" + state + "'"), 0);
    }
    if (f.kill) c.StartProcessor();
    const double caught_up = c.WaitCaughtUp(120);
    ASSERT_GE(caught_up, 0) << "no recovery after clearing the fault; logs in " << c.dir();
    const double recovery_s = std::chrono::duration<double>(Clock::now() - cleared_at).count();
    EXPECT_EQ(Metric(c.Metrics(), "bouncestream_state_write_blocked"), 0);
    std::printf("[disk faults] %-36s ballast %5.1f MiB, blocked %.1f s after the feed, caught up "
                "%.1f s after clearing\n",
                f.name, static_cast<double>(filled) / (1 << 20), to_block, recovery_s);
    std::fflush(stdout);
  }
  while (chunk < chunks && !::testing::Test::HasFatalFailure()) {
    feed_next();
    ASSERT_GE(c.WaitCaughtUp(120), 0);
  }
  c.Stop();
  const std::string log = c.log();
  EXPECT_GE(CountOf(log, "state write failed; consumption paused"), 1);
  EXPECT_GE(CountOf(log, "state dir writable again"), 1);
  EXPECT_EQ(log.find("offset reset"), std::string::npos);
  EXPECT_EQ(log.find("stopping after a fatal error"), std::string::npos);
  c.ReadState(&c.result);
  EXPECT_EQ(c.result.hash, calm.hash) << "the state differs after the disk faults";
  EXPECT_EQ(c.result.watermark, calm.watermark);
  EXPECT_EQ(c.result.decision_ids, calm.decision_ids) << "the decisions differ after the faults";
  std::printf("[disk faults] %s: %d events, %zu decisions (calm run %zu); decision records "
              "published: calm %lld, faulty %lld\n",
              dir.filename().c_str(), kRecords, c.result.decision_ids.size(),
              calm.decision_ids.size(), static_cast<long long>(calm.decision_records),
              static_cast<long long>(c.result.decision_records));
  std::fflush(stdout);
}

RunResult CalmRun(const std::vector<std::string>& stream, const fs::path& dir) {
  const int chunks = kRecords / kChunk;
  Cluster c(dir, false);
  c.Start();
  for (int k = 0; k < chunks && !::testing::Test::HasFatalFailure(); ++k) {
    c.Feed(stream, k * kChunk, (k + 1) * kChunk);
    EXPECT_GE(c.WaitCaughtUp(120), 0) << "calm run did not catch up; logs in " << c.dir();
  }
  c.Stop();
  c.ReadState(&c.result);
  EXPECT_EQ(c.result.hash.size(), static_cast<std::size_t>(kClassifiedPartitions));
  return c.result;
}

fs::path Base() {
  return fs::temp_directory_path() / ("bouncestream_df_" + std::to_string(getpid()));
}

// Disk full on the tmpfs: pauses, resumes by itself, same state and decisions.
TEST(DiskFaultsTest, FullStateDirPausesAndResumesWithTheSameState) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root (mount -t tmpfs)";
  const std::vector<std::string> stream = MakeStream();
  const RunResult calm = CalmRun(stream, Base() / "calm");
  ASSERT_FALSE(HasFailure());
  RunFaulty(stream, calm, Base() / "full", true,
            {{"disk full", true, false}, {"disk full + kill -9 while blocked", true, true}});
  if (!HasFailure()) fs::remove_all(Base());
}

// Unwritable on the ext4 of /tmp (tmpfs lets a file that was open before chattr +i still be
// written; ext4 refuses it with EPERM, as a volume remounted read-only refuses with EROFS). The
// stage sees the immutable dir before it writes; a write RocksDB itself meets could abort the
// process (Debian's librocksdb 7.8.3 is built with assertions; see tests/RELIABILITY.md).
TEST(DiskFaultsTest, UnwritableStateDirPausesAndResumesWithTheSameState) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root (chattr)";
  const std::vector<std::string> stream = MakeStream();
  const RunResult calm = CalmRun(stream, Base() / "calm");
  ASSERT_FALSE(HasFailure());
  RunFaulty(stream, calm, Base() / "unwritable", false,
            {{"unwritable (chattr +i)", false, false},
             {"unwritable + kill -9 while blocked", false, true}});
  if (!HasFailure()) fs::remove_all(Base());
}

}  // namespace
}  // namespace bouncestream::stream
