// Offset resets, end to end with real processes on the dev broker (librdkafka 2.0.2's mock
// cluster keeps only the newest 5 MiB of each partition). A `bouncestream run` whose group offset
// has been removed by retention must log an "offset reset" error line (topic, partition, offsets)
// and count it, then go on from the earliest offset. A new group's first start (no committed
// offset) and a restart at a committed offset that is still there must not log one.
#include <librdkafka/rdkafka.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <charconv>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "stream/kafka_produce.h"
#include "tests/stream/child_process.h"

namespace bouncestream::stream {
namespace {

using Clock = std::chrono::steady_clock;
namespace fs = std::filesystem;

constexpr const char* kDlq = "bouncestream.dlq";
constexpr int kDlqPartitions = 2;

using testing::Child;
using testing::Slurp;
using testing::Spawn;

// The first log line containing `needle`, or "".
std::string LineWith(const std::string& log, std::string_view needle) {
  const auto at = log.find(needle);
  if (at == std::string::npos) return "";
  const auto begin = log.rfind('\n', at);
  const auto end = log.find('\n', at);
  const auto b = begin == std::string::npos ? 0 : begin + 1;
  return log.substr(b, end == std::string::npos ? std::string::npos : end - b);
}

// The integer value of "key":N in a JSON log line.
std::optional<std::int64_t> IntField(const std::string& line, std::string_view key) {
  const std::string pattern = "\"" + std::string(key) + "\":";
  const auto at = line.find(pattern);
  if (at == std::string::npos) return std::nullopt;
  std::int64_t v = 0;
  const char* first = line.data() + at + pattern.size();
  const auto [ptr, ec] = std::from_chars(first, line.data() + line.size(), v);
  if (ec != std::errc() || ptr == first) return std::nullopt;
  return v;
}

bool WaitFor(int timeout_ms, const std::function<bool()>& done) {
  const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  while (Clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return done();
}

class OffsetResetTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("bouncestream_offset_reset_" + std::to_string(getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    // These tests are about the input stage's offsets; the decision stage (and its changelog
    // topic) is left out. Its own resume-from-state offsets are tested by crash_equivalence_test.
    setenv("BOUNCESTREAM_STATE_ENABLED", "false", 1);
    Spawn(&broker_, {"devbroker", "--port", "0", "--topic", "t:1", "--topic", "small:3", "--topic",
                     "bouncestream.classified:2", "--topic",
                     std::string(kDlq) + ":" + std::to_string(kDlqPartitions),
                     "--bootstrap-file", (dir_ / "bs").string()},
          (dir_ / "broker.log").string());
    WaitFor(20000, [&] {
      std::ifstream in(dir_ / "bs");
      std::getline(in, bootstrap_);
      return !bootstrap_.empty();
    });
    ASSERT_FALSE(bootstrap_.empty()) << Slurp((dir_ / "broker.log").string());
    char err[512];
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    ASSERT_EQ(rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap_.c_str(), err, sizeof err),
              RD_KAFKA_CONF_OK);
    rd_kafka_conf_set(conf, "linger.ms", "5", err, sizeof err);
    rd_kafka_conf_set(conf, "message.timeout.ms", "20000", err, sizeof err);
    rd_kafka_conf_set_dr_msg_cb(conf, [](rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
      if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) ++static_cast<OffsetResetTest*>(opaque)->errors_;
    });
    rd_kafka_conf_set_opaque(conf, this);
    producer_ = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    ASSERT_NE(producer_, nullptr) << err;
  }

  void TearDown() override {
    for (auto& p : processors_) p.Kill();
    if (producer_ != nullptr) rd_kafka_destroy(producer_);
    broker_.Terminate(5000);
    if (!HasFailure()) fs::remove_all(dir_);
  }

  // `n` records of `size` bytes that no adapter decodes: each one goes to the dead-letter topic,
  // so the processor's progress can be read from the dead-letter topic's end offsets.
  // Keyed by the record number, so that every partition of a multi-partition topic gets some.
  void Produce(const char* topic, int n, std::size_t size) {
    const std::string value(size, 'x');
    for (int i = 0; i < n; ++i) {
      const std::string key = "k" + std::to_string(produced_++);
      rd_kafka_resp_err_t e;
      while ((e = ProduceCopy(producer_, topic, key, value)) == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
        rd_kafka_poll(producer_, 10);
      }
      ASSERT_EQ(e, RD_KAFKA_RESP_ERR_NO_ERROR) << rd_kafka_err2name(e);
      rd_kafka_poll(producer_, 0);
    }
    ASSERT_EQ(rd_kafka_flush(producer_, 30000), RD_KAFKA_RESP_ERR_NO_ERROR);
    ASSERT_EQ(errors_, 0);
  }

  std::pair<std::int64_t, std::int64_t> Watermarks(const char* topic, int partition) {
    std::int64_t low = -1, high = -1;
    const rd_kafka_resp_err_t e =
        rd_kafka_query_watermark_offsets(producer_, topic, partition, &low, &high, 5000);
    EXPECT_EQ(e, RD_KAFKA_RESP_ERR_NO_ERROR) << rd_kafka_err2name(e);
    return {low, high};
  }

  std::int64_t DeadLetters() {
    std::int64_t n = 0;
    for (int p = 0; p < kDlqPartitions; ++p) n += Watermarks(kDlq, p).second;
    return n;
  }

  // Commits `offset` for `group` on topic/partition, as a member that has consumed up to there
  // would. Bounded: the commit result is awaited on a queue, not with a blocking commit.
  void CommitOffset(const std::string& group, const char* topic, int partition,
                    std::int64_t offset) {
    char err[512];
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap_.c_str(), err, sizeof err);
    rd_kafka_conf_set(conf, "group.id", group.c_str(), err, sizeof err);
    rd_kafka_conf_set(conf, "enable.auto.commit", "false", err, sizeof err);
    rd_kafka_t* c = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
    ASSERT_NE(c, nullptr) << err;
    std::unique_ptr<rd_kafka_t, void (*)(rd_kafka_t*)> owner(c, [](rd_kafka_t* rk) {
      rd_kafka_consumer_close(rk);
      rd_kafka_destroy(rk);
    });
    rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(list, topic, partition)->offset = offset;
    rd_kafka_assign(c, list);
    rd_kafka_queue_t* q = rd_kafka_queue_new(c);
    rd_kafka_resp_err_t e = rd_kafka_commit_queue(c, list, q, nullptr, nullptr);
    rd_kafka_resp_err_t result = RD_KAFKA_RESP_ERR__TIMED_OUT;
    const auto deadline = Clock::now() + std::chrono::seconds(15);
    while (e == RD_KAFKA_RESP_ERR_NO_ERROR && Clock::now() < deadline) {
      rd_kafka_event_t* ev = rd_kafka_queue_poll(q, 100);
      if (ev == nullptr) continue;
      const bool commit = rd_kafka_event_type(ev) == RD_KAFKA_EVENT_OFFSET_COMMIT;
      if (commit) result = rd_kafka_event_error(ev);
      rd_kafka_event_destroy(ev);
      if (commit) break;
    }
    rd_kafka_queue_destroy(q);
    ASSERT_EQ(e, RD_KAFKA_RESP_ERR_NO_ERROR) << rd_kafka_err2name(e);
    ASSERT_EQ(result, RD_KAFKA_RESP_ERR_NO_ERROR) << rd_kafka_err2name(result);
    list->elems[0].offset = RD_KAFKA_OFFSET_INVALID;
    e = rd_kafka_committed(c, list, 5000);
    const std::int64_t committed = list->elems[0].offset;
    rd_kafka_topic_partition_list_destroy(list);
    ASSERT_EQ(e, RD_KAFKA_RESP_ERR_NO_ERROR) << rd_kafka_err2name(e);
    ASSERT_EQ(committed, offset);
  }

  void StartProcessor(int i, const std::string& group, const std::string& input) {
    Spawn(&processors_[i],
          {"run", "--bootstrap", bootstrap_, "--group", group, "--input", input, "--state-dir",
           (dir_ / ("state" + std::to_string(i))).string(), "--metrics-addr", "127.0.0.1:0"},
          (dir_ / ("processor" + std::to_string(i) + ".log")).string());
  }

  std::string LogOf(int i) { return Slurp(processors_[i].log); }

  // Waits (bounded) until the dead-letter topic holds `n` records, then stops processor `i`
  // and returns its "stopped" line.
  std::string RunUntilDeadLetters(int i, std::int64_t n) {
    const bool done = WaitFor(60000, [&] { return DeadLetters() >= n; });
    EXPECT_TRUE(done) << "dead letters " << DeadLetters() << ", want " << n << "\n"
                      << LogOf(i).substr(0, 4000);
    EXPECT_EQ(processors_[i].Terminate(20000), 0) << LogOf(i).substr(0, 4000);
    const std::string stopped = LineWith(LogOf(i), "\"msg\":\"stopped\"");
    EXPECT_FALSE(stopped.empty()) << LogOf(i).substr(0, 4000);
    return stopped;
  }

  fs::path dir_;
  Child broker_;
  Child processors_[2];
  std::string bootstrap_;
  rd_kafka_t* producer_ = nullptr;
  int errors_ = 0;
  int produced_ = 0;
};

// Scenario A: a new group on pre-filled input starts at the earliest offset without reporting a
// reset; a restart resumes at the committed offsets, again without one.
TEST_F(OffsetResetTest, NewGroupAndRestartReportNoReset) {
  Produce("small", 300, 100);
  for (int p = 0; p < 3; ++p) ASSERT_GT(Watermarks("small", p).second, 0) << "partition " << p;
  StartProcessor(0, "fresh-group", "small:auto");
  const std::string first = RunUntilDeadLetters(0, 300);
  EXPECT_EQ(IntField(first, "records_in"), 300) << first;
  EXPECT_EQ(IntField(first, "offset_resets"), 0) << first;
  const std::string assigned = LineWith(LogOf(0), "\"msg\":\"partitions assigned\"");
  EXPECT_EQ(IntField(assigned, "from_earliest"), 3) << assigned;

  Produce("small", 200, 100);
  StartProcessor(1, "fresh-group", "small:auto");
  const std::string second = RunUntilDeadLetters(1, 500);
  EXPECT_EQ(IntField(second, "records_in"), 200) << second;  // nothing read twice
  EXPECT_EQ(IntField(second, "offset_resets"), 0) << second;
  const std::string reassigned = LineWith(LogOf(1), "\"msg\":\"partitions assigned\"");
  EXPECT_EQ(IntField(reassigned, "from_earliest"), 0) << reassigned;

  for (int i = 0; i < 2; ++i) {
    const std::string log = LogOf(i);
    EXPECT_EQ(log.find("offset reset"), std::string::npos)
        << "processor " << i << " logged an offset reset:\n" << log.substr(0, 4000);
  }
}

// Scenario B: the group's committed offset 0 falls out of retention before the processor starts.
TEST_F(OffsetResetTest, CommittedOffsetRemovedByRetentionIsReported) {
  CommitOffset("lagging-group", "t", 0, 0);
  Produce("t", 12000, 600);  // ~7 MB into one partition: more than the mock's 5 MiB
  const auto [low, high] = Watermarks("t", 0);
  ASSERT_GT(low, 0) << "offset 0 must have left the mock's retention";
  ASSERT_EQ(high, 12000);

  StartProcessor(0, "lagging-group", "t:auto");
  const bool reported = WaitFor(30000, [&] {
    return LogOf(0).find("offset reset") != std::string::npos;
  });
  ASSERT_TRUE(reported) << "no offset reset logged:\n" << LogOf(0).substr(0, 4000);
  const std::string line = LineWith(LogOf(0), "offset reset");
  EXPECT_NE(line.find("\"level\":\"error\""), std::string::npos) << line;
  EXPECT_NE(line.find("\"topic\":\"t\""), std::string::npos) << line;
  EXPECT_EQ(IntField(line, "partition"), 0) << line;
  EXPECT_EQ(IntField(line, "offset"), 0) << line;
  EXPECT_EQ(IntField(line, "low_watermark"), low) << line;
  EXPECT_EQ(IntField(line, "high_watermark"), high) << line;
  EXPECT_EQ(IntField(line, "records_skipped"), low) << line;
  EXPECT_EQ(line.find('@'), std::string::npos) << "no email addresses in logs: " << line;

  // It goes on from the earliest offset still there, and reports the reset exactly once.
  const std::string stopped = RunUntilDeadLetters(0, high - low);
  EXPECT_EQ(IntField(stopped, "records_in"), high - low) << stopped;
  EXPECT_EQ(IntField(stopped, "offset_resets"), 1) << stopped;
}

// Scenario C: a new group starts on an empty partition, and retention removes its first records
// before the processor fetches them (here the processor is frozen with SIGSTOP right after its
// assignment; on the dev broker a fetch start delayed by librdkafka's offset query timer did the
// same). The start was fixed as a number at the assignment, so the fetch is out of range and the
// loss is reported; a start left as BEGINNING would have been looked up late, at the new log
// start, and the removed records skipped silently.
TEST_F(OffsetResetTest, RecordsRemovedBeforeANewGroupsFirstFetchAreReported) {
  StartProcessor(0, "new-group", "t:auto");
  ASSERT_TRUE(WaitFor(30000, [&] {
    return LogOf(0).find("\"msg\":\"partitions assigned\"") != std::string::npos;
  })) << LogOf(0).substr(0, 4000);
  ASSERT_EQ(kill(processors_[0].pid, SIGSTOP), 0);
  Produce("t", 12000, 600);  // ~7 MB: offset 0 leaves the mock's 5 MiB
  const auto [low, high] = Watermarks("t", 0);
  ASSERT_EQ(kill(processors_[0].pid, SIGCONT), 0);
  ASSERT_GT(low, 0) << "offset 0 must have left the mock's retention";

  const bool reported =
      WaitFor(30000, [&] { return LogOf(0).find("offset reset") != std::string::npos; });
  ASSERT_TRUE(reported) << "no offset reset logged:\n" << LogOf(0).substr(0, 4000);
  const std::string line = LineWith(LogOf(0), "offset reset");
  EXPECT_NE(line.find("\"level\":\"error\""), std::string::npos) << line;
  EXPECT_EQ(IntField(line, "offset"), 0) << line;
  EXPECT_EQ(IntField(line, "records_skipped"), low) << line;
  const std::string stopped = RunUntilDeadLetters(0, high - low);
  EXPECT_EQ(IntField(stopped, "records_in"), high - low) << stopped;
  EXPECT_EQ(IntField(stopped, "offset_resets"), 1) << stopped;
}

}  // namespace
}  // namespace bouncestream::stream
