// The acceptance test of exactly-once state: the same stream of events is processed twice on a
// fresh dev broker each time, once by one processor that is never disturbed, once by two
// processors in one group that are killed -9 (and restarted on the same state dir). Both runs
// must end with the same state (per partition of the classified topic: the hash of all windows
// and active decisions), the same set of decision ids, every event id on the classified topic
// (none lost) in the same order of first occurrences; the outputs of the killed run may hold
// duplicates (at least once), which are counted and bounded.
//
// Two tests:
//  * KilledRunEndsWithTheSameStateAndDecisions: 202,000 events, 12 kills at random moments
//    (CRASH_TEST_SEED, CRASH_TEST_RECORDS override the seed and the size).
//  * KillPointsOverSeveralSeeds: for each seed of CRASH_TEST_SEEDS (default "3,4" in CI), a
//    smaller stream and the processor killing itself at named points (BSTEST_KILL_AT,
//    stream/processor.cc): after a classified record is acknowledged but before its input offset
//    is stored, after a decision is acknowledged but before the state write, after a batch's
//    commit marker is acknowledged but before the state write, and in the middle of a changelog
//    restore; plus random kills.
//
// The input topic has one partition so that the order of first occurrences in each classified
// partition is the input order in both runs. The stream is fed in chunks, each fed only when the
// previous one has been consumed by both stages, so that no partition holds more than the dev
// broker's 5 MiB retention: an offset reset anywhere fails the test.
#include <gtest/gtest.h>

#include <cstdio>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "tests/stream/cluster_harness.h"

namespace bouncestream::stream {
namespace {

using namespace harness;  // NOLINT(google-build-using-namespace): test file

constexpr int kChunk = 5'000;  // records fed at a time (= batch_max_messages)
constexpr int kClassifiedPartitions = 12;

ClusterOptions Options(int instances) {
  ClusterOptions o;
  o.instances = instances;
  o.group = "ce";
  o.classified_partitions = kClassifiedPartitions;
  o.config = TestConfig(kChunk, "40m", "20m");
  return o;
}

StreamSpec Spec(int records, std::uint64_t seed) {
  StreamSpec s;
  s.records = records;
  s.seed = seed;
  return s;
}

// Decision records per chunk of the calm run. A kill re-publishes the decisions of the killed
// instance's open checkpoints (a checkpoint spans several poll batches: [state]
// checkpoint_events = 10000 records or checkpoint_interval = 1 s, the defaults these runs use),
// so duplicates are bounded by checkpoint size x kills. Here a checkpoint never spans two chunks:
// a chunk is fed only when the group's committed offsets of every classified partition reach its
// end (WaitCaughtUp), and the decision stage stores a classified offset only once the checkpoint
// holding it is durable, so every checkpoint of the previous chunk is closed by then. A kill thus
// replays at most decisions of the chunk in progress (the surviving instance's checkpoints are
// written on its revoke, not replayed): duplicates <= kills x the largest chunk's decisions, the
// bound of the per-batch cadence, unchanged.
struct KillRun {
  RunResult result;
  std::int64_t max_chunk_decisions = 0;
  std::map<std::string, int> point_hits;  // kill point -> times a processor killed itself there
};

// A kill point armed for one chunk: instance `instance` is restarted with it.
struct Arm {
  int chunk;
  std::size_t instance;
  std::string point;  // "input_acked:800"
};

int CountOccurrences(const std::string& text, const std::string& what) {
  int n = 0;
  for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

KillRun RunStream(const std::vector<std::string>& stream, const fs::path& dir, int instances,
              int random_kills, std::uint64_t seed, const std::vector<Arm>& arms = {}) {
  const auto t0 = Clock::now();
  KillRun run;
  Cluster c(dir, Options(instances));
  c.Start();
  if (::testing::Test::HasFatalFailure()) return run;
  std::mt19937 rng(static_cast<std::uint32_t>(seed * 7 + 1));
  const int records = static_cast<int>(stream.size());
  const int chunks = (records + kChunk - 1) / kChunk;
  // Random kills at chunks spread over the stream (never the first: the group forms there), after
  // the chunks with kill points (a random kill would disarm them).
  int first = 2;
  for (const Arm& a : arms) first = std::max(first, a.chunk + 1);
  std::set<int> kill_at;
  for (int k = 0; k < random_kills; ++k) {
    kill_at.insert(first + k * std::max(chunks - first - 1, 1) / std::max(random_kills, 1));
  }
  // A processor that killed itself at a kill point is restarted without it.
  auto restart_exited = [&] {
    for (std::size_t i = 0; i < c.instances(); ++i) {
      int status = 0;
      if (c.RestartIfExited(i, &status)) {
        EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
            << "processor " << i << " exited by itself, status " << status;
        ++run.result.kills;
      }
    }
  };
  for (int chunk = 0; chunk < chunks && !::testing::Test::HasFatalFailure(); ++chunk) {
    const int from = chunk * kChunk;
    const int to = std::min(records, from + kChunk);
    for (const Arm& a : arms) {
      if (a.chunk != chunk) continue;
      // Restart the instance with the kill point armed (the restart is a kill of its own).
      c.SetEnv(a.instance, {"BSTEST_KILL_AT=" + a.point});
      c.KillAndRestart(a.instance);
      c.SetEnv(a.instance, {});  // its next start (after the kill point) is a plain one
      ++run.result.kills;
    }
    const std::int64_t before = run.result.decision_records;
    c.Feed(stream, from, to);
    if (kill_at.contains(chunk)) {
      // A random moment while the chunk is in flight: between consume, produce, state write and
      // commit, or during a restore of the previous kill.
      c.Watch(static_cast<int>(rng() % 1500), &run.result);
      c.KillAndRestart(rng() % c.instances());
      ++run.result.kills;
    }
    c.WaitCaughtUp(180, [&] {
      c.Watch(200, &run.result);
      restart_exited();
    });
    c.Watch(300, &run.result);
    restart_exited();
    run.max_chunk_decisions = std::max(run.max_chunk_decisions, run.result.decision_records - before);
    std::printf("[%s] chunk %d/%d fed and processed (%d kills so far)\n", dir.filename().c_str(),
                chunk + 1, chunks, run.result.kills);
    std::fflush(stdout);
  }
  c.Stop();
  c.ExpectCleanLogs();
  c.Collect(&run.result);
  for (std::size_t i = 0; i < c.instances(); ++i) {
    const std::string log = Slurp(c.proc(i).log);
    for (const char* p : {"input_acked", "decision_acked", "marker_acked", "restore"}) {
      run.point_hits[p] += CountOccurrences(
          log, std::string("\"msg\":\"test kill point reached; killing the process\",\"point\":\"") +
                   p + "\"");
    }
  }
  run.result.seconds = Seconds(Clock::now() - t0);
  return run;
}

std::int64_t Duplicates(const RunResult& r) {
  return r.decision_records - static_cast<std::int64_t>(r.decision_ids.size());
}

// Duplicates of the killed run: counted, printed and bounded.
void CheckDuplicates(const KillRun& calm, const KillRun& killed, const std::string& label) {
  const std::int64_t dup = Duplicates(killed.result);
  const std::int64_t bound = static_cast<std::int64_t>(killed.result.kills) * calm.max_chunk_decisions;
  EXPECT_EQ(Duplicates(calm.result), 0) << label << ": the undisturbed run published duplicates";
  EXPECT_LE(dup, bound) << label << ": more duplicate decision records than kills x the largest "
                                    "chunk's decisions";
  std::printf("%s: kills %d, decision records %lld for %zu decisions: %lld duplicates (bound %lld = "
              "%d kills x %lld, the largest chunk's decisions); classified records %lld for %zu "
              "events (%lld re-produced); %.0f s (calm %.0f s)\n",
              label.c_str(), killed.result.kills,
              static_cast<long long>(killed.result.decision_records),
              killed.result.decision_ids.size(), static_cast<long long>(dup),
              static_cast<long long>(bound), killed.result.kills,
              static_cast<long long>(calm.max_chunk_decisions),
              static_cast<long long>(killed.result.classified_records),
              killed.result.classified_ids.size(),
              static_cast<long long>(killed.result.classified_records - calm.result.classified_records),
              killed.result.seconds, calm.result.seconds);
  std::fflush(stdout);
}

TEST(CrashEquivalenceTest, KilledRunEndsWithTheSameStateAndDecisions) {
  const int records = static_cast<int>(EnvInt("CRASH_TEST_RECORDS", 202'000));
  const auto seed = static_cast<std::uint64_t>(EnvInt("CRASH_TEST_SEED", 20261201));
  constexpr int kKills = 12;
  const std::vector<std::string> stream = MakeStream(Spec(records, seed));
  const fs::path base = fs::temp_directory_path() / ("bouncestream_ce_" + std::to_string(getpid()));
  const KillRun calm = RunStream(stream, base / "calm", 1, 0, seed);
  ASSERT_FALSE(::testing::Test::HasFailure());
  const KillRun killed = RunStream(stream, base / "killed", 2, kKills, seed);
  ASSERT_FALSE(::testing::Test::HasFatalFailure());

  EXPECT_GE(killed.result.kills, 10);
  ExpectEquivalent(calm.result, killed.result, kClassifiedPartitions, "after kills");
  // The stream exercises every decision kind, including expiry. A tenant suppression's expiry
  // (lift/tenant) needs the soft-suppression TTL to pass in event time: it first appears between
  // 80,000 records (none, the sanitizer stage's size) and 202,000 (37, the default).
  std::vector<const char*> kinds = {"suppress/tenant", "suppress/sender", "pause/domain",
                                    "pause/ip_vendor", "alert/sender",    "resume/ip_vendor"};
  if (records >= 150'000) kinds.push_back("lift/tenant");
  for (const char* kind : kinds) {
    EXPECT_GT(calm.result.kinds.count(kind) ? calm.result.kinds.at(kind) : 0, 0) << kind;
  }
  CheckDuplicates(calm, killed,
                  "seed " + std::to_string(seed) + ", " + std::to_string(records) + " events");
  for (const auto& [k, n] : calm.result.kinds) {
    std::printf("  %-18s %lld\n", k.c_str(), static_cast<long long>(n));
  }
  if (!::testing::Test::HasFailure()) fs::remove_all(base);
}

TEST(CrashEquivalenceTest, KillPointsOverSeveralSeeds) {
  std::vector<std::uint64_t> seeds;
  {
    const char* v = std::getenv("CRASH_TEST_SEEDS");
    std::stringstream in(v != nullptr ? v : "3,4");
    for (std::string s; std::getline(in, s, ',');) {
      if (!s.empty()) seeds.push_back(std::stoull(s));
    }
  }
  const int records = static_cast<int>(EnvInt("CRASH_TEST_POINT_RECORDS", 35'000));
  // Chunk by chunk: where the processor kills itself, then random kills on top.
  // Both instances are armed where the point depends on which partitions an instance owns.
  const std::vector<Arm> arms = {
      {1, 0, "input_acked:700"},  // the input stage: output acknowledged, offset not stored
      {1, 1, "input_acked:700"},
      // Decision published, state not written, no marker yet. Both instances: once checkpoints
      // close as soon as a processor has caught up, the other instance may have committed the
      // whole chunk before the restarted one gets its partitions back.
      {2, 0, "decision_acked:40"},
      {2, 1, "decision_acked:40"},
      {3, 0, "marker_acked:2"},     // every output of the batch acknowledged, state not written
      {3, 1, "marker_acked:2"},
      {4, 1, "restore:25"},  // in the middle of restoring a partition from the changelog
  };
  std::map<std::string, int> hits;
  const fs::path base =
      fs::temp_directory_path() / ("bouncestream_ce_points_" + std::to_string(getpid()));
  for (const std::uint64_t seed : seeds) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    const std::vector<std::string> stream = MakeStream(Spec(records, seed));
    const fs::path dir = base / std::to_string(seed);
    const KillRun calm = RunStream(stream, dir / "calm", 1, 0, seed);
    ASSERT_FALSE(::testing::Test::HasFailure());
    const KillRun killed = RunStream(stream, dir / "killed", 2, 2, seed, arms);
    ASSERT_FALSE(::testing::Test::HasFatalFailure());
    ExpectEquivalent(calm.result, killed.result, kClassifiedPartitions,
                     "after kill points (seed " + std::to_string(seed) + ")");
    std::string points;
    for (const auto& [p, n] : killed.point_hits) {
      hits[p] += n;
      points += " " + p + "=" + std::to_string(n);
    }
    CheckDuplicates(calm, killed,
                    "seed " + std::to_string(seed) + ", " + std::to_string(records) +
                        " events, kill points hit:" + points);
    if (!::testing::Test::HasFailure()) fs::remove_all(dir);
  }
  // Over all seeds, every kill point was reached at least once.
  for (const char* p : {"input_acked", "decision_acked", "marker_acked", "restore"}) {
    EXPECT_GE(hits[p], 1) << "kill point " << p << " never reached";
  }
}

}  // namespace
}  // namespace bouncestream::stream
