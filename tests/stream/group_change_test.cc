// Group changes while the processor works: one instance processes the stream alone, a second
// instance joins while a chunk is being processed (partitions move to it, with their state
// restored from the changelog: it has no local state), later leaves while a chunk is being
// processed (SIGTERM: drain, commit, leave the group; its partitions move back and the first
// instance restores from the changelog what the second one did), and finally joins again on its
// old, now stale, state dir (the restore starts from its local state). The final state hash of
// every classified partition, the set of decision ids, the classified event ids and their order
// must equal those of a run by a single undisturbed instance; duplicates are counted.
#include <gtest/gtest.h>

#include <cstdio>
#include <string>
#include <vector>

#include "tests/stream/cluster_harness.h"

namespace bouncestream::stream {
namespace {

using namespace harness;  // NOLINT(google-build-using-namespace): test file

constexpr int kChunk = 5'000;
constexpr int kClassifiedPartitions = 12;

ClusterOptions Options(int instances) {
  ClusterOptions o;
  o.instances = instances;
  o.group = "gc";
  o.classified_partitions = kClassifiedPartitions;
  o.config = TestConfig(kChunk, "40m", "20m");
  return o;
}

enum class Change { kNone, kJoin, kLeave };

struct GroupRun {
  RunResult result;
  int joins = 0, leaves = 0;
  std::int64_t restored_records[2] = {0, 0};  // changelog records applied, per instance
  int restores[2] = {0, 0};                   // partitions restored with records applied
};

// Sums "state restored" lines of a processor log.
void CountRestores(const std::string& log, std::int64_t* records, int* partitions) {
  const std::string key = "\"msg\":\"state restored\"";
  const std::string applied = "\"records_applied\":";
  for (auto at = log.find(key); at != std::string::npos; at = log.find(key, at + 1)) {
    const auto a = log.find(applied, at);
    if (a == std::string::npos) break;
    const long long n = std::atoll(log.c_str() + a + applied.size());
    *records += n;
    if (n > 0) ++*partitions;
  }
}

GroupRun RunStream(const std::vector<std::string>& stream, const fs::path& dir,
                   const std::vector<Change>& plan) {
  const auto t0 = Clock::now();
  GroupRun run;
  const bool grouped = !plan.empty();
  Cluster c(dir, Options(grouped ? 2 : 1));
  c.Start(1);  // instance 0 alone
  if (::testing::Test::HasFatalFailure()) return run;
  c.WaitBalanced(60);
  const int records = static_cast<int>(stream.size());
  const int chunks = (records + kChunk - 1) / kChunk;
  for (int chunk = 0; chunk < chunks && !::testing::Test::HasFatalFailure(); ++chunk) {
    const int from = chunk * kChunk;
    const int to = std::min(records, from + kChunk);
    const Change change = chunk < static_cast<int>(plan.size()) ? plan[chunk] : Change::kNone;
    c.Feed(stream, from, to);
    // The change happens while the chunk is being processed.
    if (change == Change::kJoin) {
      c.StartProcessor(1);
      ++run.joins;
    } else if (change == Change::kLeave) {
      c.Terminate(1);
      ++run.leaves;
    }
    const double s = c.WaitCaughtUp(180);
    if (change != Change::kNone) c.WaitBalanced(60);
    std::printf("[%s] chunk %d/%d%s: caught up in %.1f s\n", dir.filename().c_str(), chunk + 1,
                chunks,
                change == Change::kJoin    ? " (instance 1 joins)"
                : change == Change::kLeave ? " (instance 1 leaves)"
                                           : "",
                s);
    std::fflush(stdout);
  }
  c.Stop();
  c.ExpectCleanLogs();
  c.Collect(&run.result);
  for (std::size_t i = 0; i < c.instances(); ++i) {
    CountRestores(Slurp(c.proc(i).log), &run.restored_records[i], &run.restores[i]);
  }
  run.result.seconds = Seconds(Clock::now() - t0);
  return run;
}

TEST(GroupChangeTest, JoinAndLeaveDuringProcessingEndWithTheSameStateAndDecisions) {
  const int records = static_cast<int>(EnvInt("GROUP_TEST_RECORDS", 35'000));
  StreamSpec spec;
  spec.records = records;
  spec.seed = 20261203;
  spec.id_prefix = "gc-";
  const std::vector<std::string> stream = MakeStream(spec);
  const fs::path base = fs::temp_directory_path() / ("bouncestream_gc_" + std::to_string(getpid()));
  const GroupRun calm = RunStream(stream, base / "calm", {});
  ASSERT_FALSE(::testing::Test::HasFailure());
  // chunk 0-1: instance 0 alone; 2: instance 1 joins (no local state); 3: both;
  // 4: instance 1 leaves; 5: instance 1 joins again on its stale state dir; 6: both.
  const std::vector<Change> plan = {Change::kNone, Change::kNone, Change::kJoin, Change::kNone,
                                    Change::kLeave, Change::kJoin};
  const GroupRun moved = RunStream(stream, base / "moved", plan);
  ASSERT_FALSE(::testing::Test::HasFatalFailure());

  ExpectEquivalent(calm.result, moved.result, kClassifiedPartitions, "after group changes");
  EXPECT_EQ(moved.joins, 2);
  EXPECT_EQ(moved.leaves, 1);
  // Partitions really moved with their state: each instance restored records written by the
  // other one.
  EXPECT_GT(moved.restored_records[1], 0) << "the joining instance restored nothing";
  EXPECT_GT(moved.restored_records[0], 0) << "instance 0 restored nothing after the leave";
  const std::int64_t dup = moved.result.decision_records -
                           static_cast<std::int64_t>(moved.result.decision_ids.size());
  EXPECT_EQ(calm.result.decision_records, static_cast<std::int64_t>(calm.result.decision_ids.size()));
  std::printf("events %d; decisions %zu; group changes: %d joins, %d leave; restored: instance 0 "
              "%lld records (%d partitions), instance 1 %lld records (%d partitions); decision "
              "records %lld (%lld duplicates); classified records %lld for %zu events; run time: "
              "calm %.0f s, with group changes %.0f s\n",
              records, calm.result.decision_ids.size(), moved.joins, moved.leaves,
              static_cast<long long>(moved.restored_records[0]), moved.restores[0],
              static_cast<long long>(moved.restored_records[1]), moved.restores[1],
              static_cast<long long>(moved.result.decision_records), static_cast<long long>(dup),
              static_cast<long long>(moved.result.classified_records),
              moved.result.classified_ids.size(), calm.result.seconds, moved.result.seconds);
  if (!::testing::Test::HasFailure()) fs::remove_all(base);
}

}  // namespace
}  // namespace bouncestream::stream
