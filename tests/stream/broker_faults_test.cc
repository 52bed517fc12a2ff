// Broker faults while the processor works: a 3-broker dev broker driven through its control
// socket, two `bouncestream run` instances in one group, and a deterministic stream of canonical
// events fed in chunks. During the chunks, one fault at a time is injected and cleared again:
// every broker down for a few seconds, Produce errors, Fetch errors, OffsetCommit / Heartbeat
// errors, a forced rebalance whose JoinGroups fail, partition leaders moved, and 500 ms of
// latency on every broker. After each fault the group must catch up by itself (committed offsets
// at the high watermarks of the input and the classified topic) within a bounded time, no
// processor may exit, and no log may hold an offset reset, a truncated changelog or a failed
// restore. At the end the state hash of every classified partition and the set of decision ids
// must equal those of a fault-free run of the same stream (run first, in the same test).
// Per fault the test prints the recovery time and what the logs and /metrics showed.
//
// Faults are aimed at the processors only: the input topic's single partition is led by broker
// 1, so the feeding producer never sends a Produce request to brokers 2 and 3 (where the Produce
// errors are injected), and the test's own clients never fetch, commit, join or heartbeat
// (cluster-wide error stacks are consumed by whichever connection sends that request next).
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <set>
#include <string>
#include <vector>

#include "tests/stream/cluster_harness.h"

namespace bouncestream::stream {
namespace {

using namespace harness;  // NOLINT(google-build-using-namespace): test file

const int kRecords = static_cast<int>(EnvInt("FAULT_TEST_RECORDS", 32'000));
constexpr int kChunk = 4'000;
constexpr int kClassifiedPartitions = 12;
constexpr int kBrokers = 3;
// Bound on the time from clearing a fault to the group having committed everything. The mock
// needs session.timeout.ms - 1 s (5 s) per rebalance round, and a lost group can take three.
constexpr int kRecoveryBoundS = 60;

std::vector<std::string> MakeFaultStream() {
  StreamSpec spec;
  spec.records = kRecords;
  spec.seed = 20261202;
  spec.domains = 300;
  spec.recipients_per_domain = 40;
  spec.step_ms = 60;
  spec.id_prefix = "bf-";
  return MakeStream(spec);
}

ClusterOptions Options(int instances) {
  ClusterOptions o;
  o.instances = instances;
  o.brokers = kBrokers;
  o.control = true;
  o.group = "bf";
  o.classified_partitions = kClassifiedPartitions;
  // librdkafka statistics every second: the broker metrics move within a fault.
  o.config = TestConfig(2000, "20m", "10m", "[kafka]\n\"statistics.interval.ms\" = \"1000\"\n");
  return o;
}

// ---- the run ----

struct FaultReport {
  std::string name;
  std::string injected;      // the control commands
  double held_s = 0;         // fault active
  double recovery_s = 0;     // from clearing it to everything committed
  double during_s = -1;      // caught up while the fault was still active, after this long
  int warn_lines = 0;        // new warn/error log lines (all processors) during the fault
  std::set<std::string> warn_kinds;  // their msg (and librdkafka facility)
  double rebalances = 0, delivery_errors = 0, offset_resets = 0, max_lag = 0;  // metric deltas / max
  double retries = 0, disconnects = 0, commit_failures = 0, lost = 0, max_rtt = 0;
  bool metrics_ok = true;
};

struct FaultRun {
  RunResult result;
  std::vector<FaultReport> faults;
};

// New warn/error lines since `sizes`.
void CountWarnings(Cluster& c, const std::vector<std::size_t>& sizes, FaultReport* r) {
  for (std::size_t i = 0; i < c.instances(); ++i) {
    const std::string log = Slurp(c.proc(i).log);
    std::size_t at = std::min(sizes[i], log.size());
    while (at < log.size()) {
      const std::size_t end = std::min(log.find('\n', at), log.size());
      const std::string line = log.substr(at, end - at);
      at = end + 1;
      if (line.find("\"level\":\"warn\"") == std::string::npos &&
          line.find("\"level\":\"error\"") == std::string::npos) {
        continue;
      }
      ++r->warn_lines;
      auto field = [&line](const std::string& k) {
        const auto a = line.find("\"" + k + "\":\"");
        if (a == std::string::npos) return std::string();
        const auto b = a + k.size() + 4;
        return line.substr(b, std::min<std::size_t>(line.find('"', b) - b, 60));
      };
      std::string kind = field("msg");
      if (kind == "librdkafka") kind += "/" + field("facility");
      r->warn_kinds.insert(kind);
    }
  }
}


// A fault: control commands before the chunk is fed (`arm`, for request errors that the next
// requests consume), after it is fed (`start`, while the chunk is processed), how long it stays,
// and the commands that clear it.
struct Fault {
  std::string name;
  std::vector<std::string> arm;
  std::vector<std::string> start;
  int hold_ms = 0;
  std::vector<std::string> clear;
  bool expect_warnings = false;
  int expect = 0;  // metrics of which one at least must move: kRetries | kDisconnects | kRtt
};

constexpr int kRetries = 1, kDisconnects = 2, kRtt = 4;

std::vector<std::string> All(const std::string& fmt) {  // "down {}" for every broker
  std::vector<std::string> out;
  for (int b = 1; b <= kBrokers; ++b) out.push_back(Replace(fmt, "{}", std::to_string(b)));
  return out;
}

std::vector<Fault> Faults() {
  std::vector<Fault> f;
  f.push_back({"all brokers down 4 s", {}, All("down {}"), 4000, All("up {}"), true, kDisconnects});
  f.push_back({"Produce errors (brokers 2, 3)",
               {"berr 2 Produce NOT_ENOUGH_REPLICAS 0 REQUEST_TIMED_OUT 200 _TRANSPORT 0 "
                "NOT_LEADER_FOR_PARTITION 0 NOT_ENOUGH_REPLICAS 0",
                "berr 3 Produce NOT_ENOUGH_REPLICAS 0 REQUEST_TIMED_OUT 200 _TRANSPORT 0 "
                "NOT_LEADER_FOR_PARTITION 0 NOT_ENOUGH_REPLICAS 0"},
               {},
               3000,
               {},
               false,
               kRetries | kDisconnects});
  f.push_back({"Fetch errors",
               {"err Fetch NOT_LEADER_FOR_PARTITION UNKNOWN_TOPIC_OR_PART _TRANSPORT "
                "REQUEST_TIMED_OUT NOT_LEADER_FOR_PARTITION _TRANSPORT"},
               {},
               3000,
               {"clear Fetch"},
               false});
  f.push_back({"OffsetCommit and Heartbeat errors",
               {"err OffsetCommit NOT_COORDINATOR COORDINATOR_LOAD_IN_PROGRESS REQUEST_TIMED_OUT "
                "COORDINATOR_NOT_AVAILABLE NOT_COORDINATOR",
                "err Heartbeat NOT_COORDINATOR COORDINATOR_NOT_AVAILABLE"},
               {},
               3000,
               {"clear OffsetCommit", "clear Heartbeat"},
               false});
  f.push_back({"forced rebalance, JoinGroup errors",
               {"err JoinGroup COORDINATOR_LOAD_IN_PROGRESS NOT_COORDINATOR",
                "err Heartbeat REBALANCE_IN_PROGRESS"},
               {},
               3000,
               {"clear JoinGroup", "clear Heartbeat"},
               false});
  {
    Fault lead{"leaders moved (input 1->2, classified +1)", {}, {"leader in 0 2"}, 3000, {}, false};
    for (int p = 0; p < kClassifiedPartitions; ++p) {
      lead.start.push_back("leader bouncestream.classified " + std::to_string(p) + " " +
                           std::to_string((p + 1) % kBrokers + 1));
    }
    f.push_back(lead);
  }
  f.push_back({"rtt 500 ms on every broker for 8 s", {}, All("rtt {} 500"), 8000, All("rtt {} 0"),
               false, kRtt});
  // FAULT_TEST_ONLY=SUBSTRING keeps only the faults whose name contains it (for experiments).
  if (const char* only = std::getenv("FAULT_TEST_ONLY"); only != nullptr) {
    std::erase_if(f, [only](const Fault& x) { return x.name.find(only) == std::string::npos; });
  }
  return f;
}

FaultRun RunStream(const std::vector<std::string>& stream, const fs::path& dir, int instances,
                   bool faults) {
  const auto t_begin = Clock::now();
  FaultRun run;
  RunResult& result = run.result;
  Cluster c(dir, Options(instances));
  c.Start();
  if (::testing::Test::HasFatalFailure()) return run;
  c.WaitBalanced(60);
  const std::vector<Fault> plan = faults ? Faults() : std::vector<Fault>{};
  const int chunks = (kRecords + kChunk - 1) / kChunk;
  EXPECT_GE(chunks, static_cast<int>(plan.size()) + 1);
  for (int chunk = 0; chunk < chunks && !::testing::Test::HasFatalFailure(); ++chunk) {
    const int from = chunk * kChunk;
    const int to = std::min(kRecords, from + kChunk);
    // Chunk 0 has no fault (baseline); fault k goes with chunk k.
    const Fault* f = chunk >= 1 && chunk - 1 < static_cast<int>(plan.size()) ? &plan[chunk - 1]
                                                                           : nullptr;
    if (f == nullptr) {
      c.Feed(stream, from, to);
      const double s = c.WaitCaughtUp(120);
      std::printf("[%s] chunk %d/%d: no fault, caught up in %.1f s\n", dir.filename().c_str(),
                  chunk + 1, chunks, s);
      std::fflush(stdout);
      continue;
    }
    FaultReport r;
    r.name = f->name;
    const auto before = c.ScrapeMetrics();
    const auto sizes = c.LogSizes();
    for (const auto& cmd : f->arm) {
      EXPECT_EQ(Control(c.sock(), cmd), "OK") << cmd;
      r.injected += (r.injected.empty() ? "" : "; ") + cmd;
    }
    const auto t_fault = Clock::now();
    c.Feed(stream, from, to);
    for (const auto& cmd : f->start) {
      EXPECT_EQ(Control(c.sock(), cmd), "OK") << cmd;
      r.injected += (r.injected.empty() ? "" : "; ") + cmd;
    }
    // Hold the fault, checking that nobody exited and whether the chunk is done anyway.
    while (Clock::now() - t_fault < std::chrono::milliseconds(f->hold_ms)) {
      if (r.during_s < 0 && c.CaughtUp()) r.during_s = Seconds(Clock::now() - t_fault);
      c.ExpectAlive(f->name);
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    c.ExpectAlive(f->name);
    double max_lag = 0;
    for (const auto& m : c.ScrapeMetrics()) {
      max_lag = std::max(max_lag, MetricMax(m, "bouncestream_consumer_lag_messages"));
      r.max_rtt = std::max(r.max_rtt, MetricMax(m, "bouncestream_kafka_broker_rtt_seconds"));
    }
    for (const auto& cmd : f->clear) EXPECT_EQ(Control(c.sock(), cmd), "OK") << cmd;
    r.held_s = Seconds(Clock::now() - t_fault);
    r.recovery_s = c.WaitCaughtUp(kRecoveryBoundS);
    EXPECT_LE(r.recovery_s, kRecoveryBoundS) << f->name;
    c.ExpectAlive(f->name + " (after recovery)");
    std::this_thread::sleep_for(std::chrono::milliseconds(1200));  // gauges update every 1 s
    const auto after = c.ScrapeMetrics();
    for (std::size_t i = 0; i < after.size(); ++i) {
      if (before[i] == "-" || after[i] == "-") continue;  // exited (reported already)
      if (before[i].empty() || after[i].empty()) {
        r.metrics_ok = false;
        continue;
      }
      r.rebalances += MetricSum(after[i], "bouncestream_rebalances_total") -
                      MetricSum(before[i], "bouncestream_rebalances_total");
      r.delivery_errors += MetricSum(after[i], "bouncestream_producer_delivery_errors_total") -
                           MetricSum(before[i], "bouncestream_producer_delivery_errors_total");
      r.offset_resets += MetricSum(after[i], "bouncestream_offset_resets_total");
      auto delta = [&](const char* name) {
        return MetricSum(after[i], name) - MetricSum(before[i], name);
      };
      r.retries += delta("bouncestream_kafka_request_retries_total");
      r.disconnects += delta("bouncestream_kafka_disconnects_total");
      r.commit_failures += delta("bouncestream_offset_commit_failures_total");
      r.lost += delta("bouncestream_partitions_lost_total");
      max_lag = std::max(max_lag, MetricMax(after[i], "bouncestream_consumer_lag_messages"));
    }
    r.max_lag = max_lag;
    EXPECT_TRUE(r.metrics_ok) << f->name << ": /metrics could not be scraped";
    EXPECT_EQ(r.offset_resets, 0) << f->name;
    CountWarnings(c, sizes, &r);
    if (f->expect_warnings) {
      EXPECT_GT(r.warn_lines, 0) << f->name << ": no warning logged";
    }
    // Every fault leaves a trace in /metrics (statistics come every 5 s: the faults last 3 s or
    // more and their retries are counted when the next statistics arrive, before the scrape).
    // The fault leaves a trace in /metrics: at least one of the metrics it names moved
    // (statistics come every second). Retried Produce error responses are re-queued by
    // librdkafka per message and only sometimes counted as request retries; the _TRANSPORT
    // error among them always shows as disconnects.
    if (f->expect != 0) {
      const bool moved = ((f->expect & kRetries) != 0 && r.retries > 0) ||
                         ((f->expect & kDisconnects) != 0 && r.disconnects > 0) ||
                         ((f->expect & kRtt) != 0 && r.max_rtt >= 0.2);
      EXPECT_TRUE(moved) << f->name << ": not visible in /metrics (retries " << r.retries
                         << ", disconnects " << r.disconnects << ", rtt " << r.max_rtt << ")";
    }
    std::string kinds;
    for (const auto& k : r.warn_kinds) kinds += (kinds.empty() ? "" : ", ") + k;
    const std::string during =
        r.during_s >= 0 ? " (chunk done while faulted, after " + std::to_string(r.during_s).substr(0, 4) + " s)"
                        : "";
    std::printf("[%s] chunk %d/%d: %s: held %.1f s, recovered %.1f s after clearing%s; "
                "%d warn/error lines [%s]; metrics: rebalances +%.0f, delivery errors +%.0f, "
                "max consumer lag %.0f, request retries +%.0f, disconnects +%.0f, commit "
                "failures +%.0f, partitions lost +%.0f, max broker rtt %.3f s\n",
                dir.filename().c_str(), chunk + 1, chunks, f->name.c_str(), r.held_s,
                r.recovery_s, during.c_str(), r.warn_lines, kinds.c_str(), r.rebalances, r.delivery_errors,
                r.max_lag, r.retries, r.disconnects, r.commit_failures, r.lost, r.max_rtt);
    std::fflush(stdout);
    run.faults.push_back(std::move(r));
  }
  c.ExpectAlive("end of stream");
  std::string why;
  EXPECT_TRUE(c.CaughtUp(&why)) << why;
  c.Stop();
  c.ExpectCleanLogs();
  c.Collect(&result);
  result.seconds = Seconds(Clock::now() - t_begin);
  return run;
}

// Found with this test and fixed: on the dev broker the idempotent producer lost and reordered
// classified records under Produce errors (the mock checks no sequence numbers for
// non-transactional producers); the processor's dev profile now keeps one Produce request in
// flight per connection (stream/processor.cc, tests/RELIABILITY.md). The classified-topic checks
// below (no event id lost, same order of first occurrences) name such a loss directly.
TEST(BrokerFaultsTest, ProcessorsRecoverFromEveryFaultWithTheSameStateAndDecisions) {
  const std::vector<std::string> stream = MakeFaultStream();
  const fs::path base = fs::path("/tmp") / ("bs_faults_" + std::to_string(getpid()));
  const FaultRun calm_run = RunStream(stream, base / "calm", 1, false);
  ASSERT_FALSE(::testing::Test::HasFailure());
  const FaultRun faulty_run = RunStream(stream, base / "faulty", 2, true);
  ASSERT_FALSE(::testing::Test::HasFatalFailure());
  const RunResult& calm = calm_run.result;
  const RunResult& faulty = faulty_run.result;

  ExpectEquivalent(calm, faulty, kClassifiedPartitions, "after broker faults");
  EXPECT_GT(calm.decision_ids.size(), 100u);
  if (std::getenv("FAULT_TEST_ONLY") == nullptr) {
    EXPECT_GE(faulty_run.faults.size(), 7u);
  }
  std::printf("events %d; decisions %zu; classified records: calm %lld, faulty %lld "
              "(duplicates %lld); decision records: calm %lld, faulty %lld (duplicates %lld); "
              "run time: calm %.0f s, faulty %.0f s\n",
              kRecords, calm.decision_ids.size(), static_cast<long long>(calm.classified_records),
              static_cast<long long>(faulty.classified_records),
              static_cast<long long>(faulty.classified_records - calm.classified_records),
              static_cast<long long>(calm.decision_records),
              static_cast<long long>(faulty.decision_records),
              static_cast<long long>(faulty.decision_records -
                                     static_cast<std::int64_t>(faulty.decision_ids.size())),
              calm.seconds, faulty.seconds);
  if (!::testing::Test::HasFailure()) fs::remove_all(base);
}

}  // namespace
}  // namespace bouncestream::stream
