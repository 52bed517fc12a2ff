// The decision stage's checkpoint cadence ([state] checkpoint_events / checkpoint_interval): a
// partition's checkpoint spans several poll batches, its decisions are published at once, and
// the classified offset the group commits never passes the durable state.
//
//  * OffsetsStayBehindAnOpenCheckpoint: checkpoints that never close by themselves (10 minutes,
//    a million records): decisions come out, the input offsets are committed, but no offset of
//    the classified topic is; a kill -9 then replays every classified record from the durable
//    state (nothing), and the SIGTERM that follows closes the checkpoints. The run ends with the
//    state and decision ids of a run with a checkpoint per poll batch (checkpoint_events = 1).
//  * RevokeClosesTheOpenCheckpoints: the same held-open checkpoints; a second instance joins, the
//    first one's revoke writes its checkpoints, so every classified offset is committed without
//    waiting for the interval.
//  * CaughtUpClosesTheOpenCheckpoints: the same bounds with checkpoint_when_caught_up (the
//    default): a processor that has read everything writes its checkpoints at once.
//  * AdminCommandClosesTheOpenCheckpoints: the engine refuses Lift/Erase/Import of a partition
//    with an open checkpoint; POST /admin/erase on a processor holding them open succeeds (the
//    decision stage writes them first) and every classified offset is committed right after.
#include <gtest/gtest.h>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "tests/stream/cluster_harness.h"

namespace bouncestream::stream {
namespace {

using namespace harness;  // NOLINT(google-build-using-namespace): test file

constexpr int kPartitions = 6;
constexpr int kRecords = 6'000;
// Checkpoints that close only on revoke, shutdown or an admin command.
constexpr const char* kHeldOpen =
    "[state]\ncheckpoint_events = 1000000\ncheckpoint_interval = \"10m\"\n"
    "checkpoint_when_caught_up = false\n";
// The same bounds, caught-up checkpoints on (the default).
constexpr const char* kCaughtUp =
    "[state]\ncheckpoint_events = 1000000\ncheckpoint_interval = \"10m\"\n";
constexpr const char* kPerBatch = "[state]\ncheckpoint_events = 1\n";

StreamSpec Spec(int records, std::uint64_t seed) {
  StreamSpec s;
  s.records = records;
  s.seed = seed;
  return s;
}

ClusterOptions Options(int instances, const char* state) {
  ClusterOptions o;
  o.instances = instances;
  o.group = "cc";
  o.classified_partitions = kPartitions;
  o.config = TestConfig(500, "40m", "20m", state);
  return o;
}

// The group's committed offsets: topic "in" partition 0, then classified 0..kPartitions-1
// (-1 when none).
std::vector<std::int64_t> Committed(const fs::path& dir, const std::string& group) {
  std::string bootstrap = Slurp((dir / "bs").string());
  while (!bootstrap.empty() && (bootstrap.back() == '\n' || bootstrap.back() == '\r')) {
    bootstrap.pop_back();
  }
  rd_kafka_t* c = NewClient(RD_KAFKA_CONSUMER, {{"bootstrap.servers", bootstrap},
                                                {"group.id", group},
                                                {"enable.auto.commit", "false"},
                                                {"log_level", "2"}});
  rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(kPartitions + 1);
  rd_kafka_topic_partition_list_add(list, "in", 0);
  for (int p = 0; p < kPartitions; ++p) {
    rd_kafka_topic_partition_list_add(list, "bouncestream.classified", p);
  }
  std::vector<std::int64_t> out;
  if (rd_kafka_committed(c, list, 5000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
    for (int i = 0; i < list->cnt; ++i) out.push_back(list->elems[i].offset);
  }
  rd_kafka_topic_partition_list_destroy(list);
  rd_kafka_destroy(c);
  return out;
}

// Waits until the input offset is committed up to `records`, then 3 s more (the decision stage
// reads the classified records back and applies them), watching decisions.
void WaitInputCommitted(Cluster& c, const fs::path& dir, int records, RunResult* out) {
  const auto deadline = Clock::now() + std::chrono::seconds(120);
  for (;;) {
    const auto committed = Committed(dir, "cc");
    if (!committed.empty() && committed[0] == records) break;
    ASSERT_LT(Clock::now(), deadline) << "input offsets not committed; logs in " << dir;
    c.Watch(300, out);
    c.ExpectAlive("waiting for the input stage");
  }
  c.Watch(3000, out);  // the decision stage applies what was classified
}

RunResult CalmRun(const std::vector<std::string>& stream, const fs::path& dir) {
  RunResult r;
  Cluster c(dir, Options(1, kPerBatch));
  c.Start();
  if (::testing::Test::HasFatalFailure()) return r;
  c.Feed(stream, 0, static_cast<int>(stream.size()));
  c.WaitCaughtUp(180, [&] { c.Watch(200, &r); });
  c.Stop();
  c.ExpectCleanLogs();
  c.Collect(&r);
  return r;
}

TEST(CheckpointCadenceTest, OffsetsStayBehindAnOpenCheckpoint) {
  const std::vector<std::string> stream = MakeStream(Spec(kRecords, 11));
  const fs::path base = fs::temp_directory_path() / ("bouncestream_cc_" + std::to_string(getpid()));
  const RunResult calm = CalmRun(stream, base / "calm");
  ASSERT_FALSE(::testing::Test::HasFailure());

  const fs::path dir = base / "open";
  RunResult open;
  {
    Cluster c(dir, Options(1, kHeldOpen));
    c.Start();
    ASSERT_FALSE(::testing::Test::HasFatalFailure());
    c.Feed(stream, 0, kRecords / 2);
    WaitInputCommitted(c, dir, kRecords / 2, &open);
    ASSERT_FALSE(::testing::Test::HasFatalFailure());
    EXPECT_GT(open.decision_records, 0) << "decisions of an open checkpoint are published at once";
    auto committed = Committed(dir, "cc");
    ASSERT_EQ(committed.size(), static_cast<std::size_t>(kPartitions + 1));
    for (int p = 0; p < kPartitions; ++p) {
      EXPECT_LT(committed[static_cast<std::size_t>(p + 1)], 0)
          << "classified[" << p << "] committed at " << committed[static_cast<std::size_t>(p + 1)]
          << " while its checkpoint is open (nothing durable yet)";
    }
    // kill -9 with every checkpoint open: the restart replays from the durable state.
    const std::int64_t before_kill = open.decision_records;
    c.KillAndRestart(0);
    c.Feed(stream, kRecords / 2, kRecords);
    WaitInputCommitted(c, dir, kRecords, &open);
    ASSERT_FALSE(::testing::Test::HasFatalFailure());
    committed = Committed(dir, "cc");
    ASSERT_EQ(committed.size(), static_cast<std::size_t>(kPartitions + 1));
    for (int p = 0; p < kPartitions; ++p) {
      EXPECT_LT(committed[static_cast<std::size_t>(p + 1)], 0) << "classified[" << p << "]";
    }
    // SIGTERM closes every open checkpoint: state and offsets written, offsets committed.
    c.Stop();
    EXPECT_TRUE(c.CaughtUp()) << "shutdown did not write the open checkpoints";
    c.ExpectCleanLogs();
    c.Collect(&open);
    open.kills = 1;
    // The replay re-published the decisions published before the kill (same ids): one kill, so
    // each decision at most twice.
    const std::int64_t dup = open.decision_records - static_cast<std::int64_t>(open.decision_ids.size());
    EXPECT_GT(dup, 0) << "the kill replayed nothing: were the checkpoints open?";
    EXPECT_LE(dup, static_cast<std::int64_t>(open.decision_ids.size()));
    std::printf("held-open checkpoints: %lld decision records for %zu decisions (%lld duplicates, "
                "%lld published before the kill)\n",
                static_cast<long long>(open.decision_records), open.decision_ids.size(),
                static_cast<long long>(dup), static_cast<long long>(before_kill));
  }
  ExpectEquivalent(calm, open, kPartitions, "with checkpoints held open across a kill");
  if (!::testing::Test::HasFailure()) fs::remove_all(base);
}

TEST(CheckpointCadenceTest, AdminCommandClosesTheOpenCheckpoints) {
  const std::vector<std::string> stream = MakeStream(Spec(kRecords / 2, 13));
  const fs::path dir = fs::temp_directory_path() / ("bouncestream_cc_adm_" + std::to_string(getpid()));
  const fs::path token_dir = fs::temp_directory_path() / ("bouncestream_cc_tok_" + std::to_string(getpid()));
  fs::create_directories(token_dir);
  constexpr const char* kToken = "the-admin-token-of-the-cadence-test";
  std::ofstream(token_dir / "token") << kToken << "\n";
  const std::string state = std::string(kHeldOpen) + "[admin]\ntoken.file = \"" +
                            (token_dir / "token").string() + "\"\n";
  RunResult r;
  Cluster c(dir, Options(1, state.c_str()));
  c.Start();
  ASSERT_FALSE(::testing::Test::HasFatalFailure());
  c.Feed(stream, 0, kRecords / 2);
  WaitInputCommitted(c, dir, kRecords / 2, &r);
  ASSERT_FALSE(::testing::Test::HasFatalFailure());
  EXPECT_FALSE(c.CaughtUp()) << "the checkpoints closed by themselves";
  const int port = MetricsPort(Slurp(c.proc(0).log));
  ASSERT_GT(port, 0);
  EXPECT_EQ(HttpStatus(port, "POST", "/admin/erase", std::string("Bearer ") + kToken,
                       "{\"tenant\":\"acme\",\"recipient\":\"nobody@cadence.example\"}", 40),
            200)
      << "logs in " << dir;
  c.WaitCaughtUp(30, [&] { c.Watch(200, &r); });  // the offset commit runs every 200 ms
  c.Stop();
  c.ExpectCleanLogs();
  if (!::testing::Test::HasFailure()) {
    fs::remove_all(dir);
    fs::remove_all(token_dir);
  }
}

TEST(CheckpointCadenceTest, RevokeClosesTheOpenCheckpoints) {
  const std::vector<std::string> stream = MakeStream(Spec(kRecords / 2, 12));
  const fs::path dir = fs::temp_directory_path() / ("bouncestream_cc_rev_" + std::to_string(getpid()));
  RunResult r;
  Cluster c(dir, Options(2, kHeldOpen));
  c.Start(1);
  ASSERT_FALSE(::testing::Test::HasFatalFailure());
  c.Feed(stream, 0, kRecords / 2);
  WaitInputCommitted(c, dir, kRecords / 2, &r);
  ASSERT_FALSE(::testing::Test::HasFatalFailure());
  EXPECT_FALSE(c.CaughtUp()) << "the checkpoints closed by themselves";
  c.StartProcessor(1);  // the group rebalances: instance 0's partitions are revoked first
  c.WaitCaughtUp(60, [&] { c.Watch(200, &r); });
  c.Stop();
  c.ExpectCleanLogs();
  if (!::testing::Test::HasFailure()) fs::remove_all(dir);
}

// checkpoint_when_caught_up (default): with bounds that never close a checkpoint by themselves,
// a processor that has read everything writes its checkpoints at once, so every classified offset
// is committed while it runs; the state ends as in a run with a checkpoint per poll batch.
TEST(CheckpointCadenceTest, CaughtUpClosesTheOpenCheckpoints) {
  const std::vector<std::string> stream = MakeStream(Spec(kRecords / 2, 14));
  const fs::path base = fs::temp_directory_path() / ("bouncestream_cc_cu_" + std::to_string(getpid()));
  const RunResult calm = CalmRun(stream, base / "calm");
  ASSERT_FALSE(::testing::Test::HasFailure());
  RunResult r;
  {
    Cluster c(base / "cu", Options(1, kCaughtUp));
    c.Start();
    ASSERT_FALSE(::testing::Test::HasFatalFailure());
    c.Feed(stream, 0, kRecords / 2);
    c.WaitCaughtUp(60, [&] { c.Watch(200, &r); });  // without a revoke, shutdown or command
    EXPECT_TRUE(c.CaughtUp()) << "the checkpoints stayed open; logs in " << base;
    c.Stop();
    c.ExpectCleanLogs();
    c.Collect(&r);
  }
  ExpectEquivalent(calm, r, kPartitions, "with caught-up checkpoints");
  if (!::testing::Test::HasFailure()) fs::remove_all(base);
}

}  // namespace
}  // namespace bouncestream::stream
