// End to end with real processes: the dev broker, two `bouncestream run` instances in one group
// on a 6-partition input topic, a stream of known records in mixed formats (some malformed).
// Every valid event must come out classified as the in-process classifier says, every malformed
// record must reach the dead-letter topic, nothing may be lost when an instance is killed -9 or
// stopped with SIGTERM, and no consumer may log an offset reset.
#include <librdkafka/rdkafka.h>
#include <signal.h>
#include <simdjson.h>
#include <spawn.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include "classify/classifier.h"
#include "stream/decode.h"
#include "stream/demo/generator.h"
#include "stream/kafka_produce.h"
#include "tests/stream/child_process.h"

namespace bouncestream::stream {
namespace {

using Clock = std::chrono::steady_clock;
namespace fs = std::filesystem;

using testing::Child;
using testing::Slurp;
using testing::Spawn;

struct Expected {
  std::map<std::string, std::string> rule_of_id;  // event id -> rule the classifier picks
  std::set<std::pair<int, std::int64_t>> malformed;  // input (partition, offset)
  int records = 0;
};

struct Seen {
  std::map<std::string, int> ids;  // event id -> copies seen
  std::map<std::string, std::string> rule_of_id;
  std::map<std::pair<int, std::int64_t>, int> dlq;  // source (partition, offset) -> copies
  int classified_records = 0;
};

class PipelineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("bouncestream_pipeline_" + std::to_string(getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    Spawn(&broker_, {"devbroker", "--port", "0", "--topic", "in:6", "--topic",
                     "bouncestream.classified:6", "--topic", "bouncestream.dlq:2",
                     "--topic", "pipeline-test-state-changelog:6", "--topic",
                     "bouncestream.suppressions:4", "--topic", "bouncestream.blocks:2", "--topic",
                     "bouncestream.alerts:2", "--bootstrap-file", (dir_ / "bs").string()},
          (dir_ / "broker.log").string());
    const auto deadline = Clock::now() + std::chrono::seconds(20);
    while (Clock::now() < deadline && bootstrap_.empty()) {
      std::ifstream in(dir_ / "bs");
      std::getline(in, bootstrap_);
      if (bootstrap_.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    ASSERT_FALSE(bootstrap_.empty()) << Slurp((dir_ / "broker.log").string());
    auto rules = classify::RuleSet::Load(classify::DefaultRulesPath());
    ASSERT_TRUE(rules.has_value());
    auto c = classify::Classifier::Create(*rules);
    ASSERT_TRUE(c.has_value());
    classifier_ = *c;
    char err[512];
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap_.c_str(), err, sizeof err);
    rd_kafka_conf_set(conf, "linger.ms", "5", err, sizeof err);
    rd_kafka_conf_set_dr_msg_cb(conf, [](rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
      auto* self = static_cast<PipelineTest*>(opaque);
      if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR && m->_private != nullptr) {
        self->expected_.malformed.insert({m->partition, m->offset});
      }
      if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) ++self->produce_errors_;
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

  void StartProcessor(int i) {
    Spawn(&processors_[i],
          {"run", "--bootstrap", bootstrap_, "--group", "pipeline-test", "--input", "in:auto",
           "--state-dir", (dir_ / ("state" + std::to_string(i))).string(), "--metrics-addr",
           "127.0.0.1:0"},
          (dir_ / ("processor" + std::to_string(i) + ".log")).string());
  }

  // Produces `n` generated records; remembers what each valid event must be classified as.
  void Produce(int n) {
    Decoder decoder;
    classify::Classifier::Session session(classifier_);
    std::vector<classify::BounceEvent> events;
    for (int i = 0; i < n; ++i) {
      const GeneratedRecord r = generator_.Next();
      events.clear();
      decoder.Reset();
      auto decoded = decoder.Decode(r.value, InputFormat::kAuto, &events);
      ASSERT_EQ(decoded.has_value(), !r.malformed) << r.value;
      for (const auto& ev : events) {
        expected_.rule_of_id[std::string(ev.id)] = std::string(session.Classify(ev).rule);
      }
      ASSERT_EQ(ProduceCopy(producer_, "in", r.key, r.value, r.malformed ? this : nullptr),
                RD_KAFKA_RESP_ERR_NO_ERROR);
      ++expected_.records;
      rd_kafka_poll(producer_, 0);
    }
    ASSERT_EQ(rd_kafka_flush(producer_, 10000), RD_KAFKA_RESP_ERR_NO_ERROR);
    ASSERT_EQ(produce_errors_, 0);
  }

  // Reads both output topics from the beginning until every expected record is there.
  Seen ReadOutputs(int timeout_s) {
    Seen seen;
    char err[512];
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap_.c_str(), err, sizeof err);
    rd_kafka_conf_set(conf, "group.id", "pipeline-test-reader", err, sizeof err);
    rd_kafka_conf_set(conf, "enable.auto.commit", "false", err, sizeof err);
    rd_kafka_conf_set(conf, "fetch.wait.max.ms", "20", err, sizeof err);
    rd_kafka_t* c = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
    rd_kafka_topic_partition_list_t* parts = rd_kafka_topic_partition_list_new(8);
    for (int p = 0; p < 6; ++p) {
      rd_kafka_topic_partition_list_add(parts, "bouncestream.classified", p)->offset =
          RD_KAFKA_OFFSET_BEGINNING;
    }
    for (int p = 0; p < 2; ++p) {
      rd_kafka_topic_partition_list_add(parts, "bouncestream.dlq", p)->offset =
          RD_KAFKA_OFFSET_BEGINNING;
    }
    rd_kafka_assign(c, parts);
    rd_kafka_topic_partition_list_destroy(parts);
    simdjson::ondemand::parser parser;
    std::string buf;
    const auto deadline = Clock::now() + std::chrono::seconds(timeout_s);
    auto complete = [&] {
      if (seen.ids.size() < expected_.rule_of_id.size()) return false;
      for (const auto& m : expected_.malformed) {
        if (!seen.dlq.contains(m)) return false;
      }
      return true;
    };
    while (Clock::now() < deadline && !complete()) {
      rd_kafka_message_t* m = rd_kafka_consumer_poll(c, 100);
      if (m == nullptr) continue;
      if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        if (std::string_view(rd_kafka_topic_name(m->rkt)) == "bouncestream.dlq") {
          rd_kafka_headers_t* h = nullptr;
          const void* pv = nullptr;
          const void* ov = nullptr;
          size_t ps = 0, os = 0;
          if (rd_kafka_message_headers(m, &h) == RD_KAFKA_RESP_ERR_NO_ERROR &&
              rd_kafka_header_get_last(h, "bouncestream.source.partition", &pv, &ps) == 0 &&
              rd_kafka_header_get_last(h, "bouncestream.source.offset", &ov, &os) == 0) {
            ++seen.dlq[{std::stoi(std::string(static_cast<const char*>(pv), ps)),
                        std::stoll(std::string(static_cast<const char*>(ov), os))}];
          }
        } else {
          ++seen.classified_records;
          buf.assign(static_cast<const char*>(m->payload), m->len);
          buf.reserve(buf.size() + simdjson::SIMDJSON_PADDING);
          simdjson::ondemand::document doc;
          std::string_view id, rule;
          if (!parser.iterate(buf.data(), buf.size(), buf.capacity()).get(doc) &&
              !doc["id"].get_string().get(id)) {
            std::string id_copy(id);
            if (!doc["classification"]["rule"].get_string().get(rule)) {
              seen.rule_of_id[id_copy] = std::string(rule);
            }
            ++seen.ids[id_copy];
          }
        }
      }
      rd_kafka_message_destroy(m);
    }
    rd_kafka_consumer_close(c);
    rd_kafka_destroy(c);
    return seen;
  }

  void ExpectComplete(const Seen& seen, bool dlq_exactly_once) {
    int missing = 0, wrong = 0;
    for (const auto& [id, rule] : expected_.rule_of_id) {
      auto it = seen.rule_of_id.find(id);
      if (it == seen.rule_of_id.end()) {
        if (missing++ < 5) ADD_FAILURE() << "event " << id << " never came out";
      } else if (it->second != rule) {
        if (wrong++ < 5) ADD_FAILURE() << "event " << id << ": rule " << it->second << ", want " << rule;
      }
    }
    EXPECT_EQ(missing, 0);
    EXPECT_EQ(wrong, 0);
    for (const auto& m : expected_.malformed) {
      auto it = seen.dlq.find(m);
      if (it == seen.dlq.end()) {
        ADD_FAILURE() << "malformed record at partition " << m.first << " offset " << m.second
                      << " is not in the dead-letter topic";
      } else if (dlq_exactly_once) {
        EXPECT_EQ(it->second, 1) << "dead letter for " << m.first << "/" << m.second;
      }
    }
    EXPECT_EQ(seen.dlq.size(), expected_.malformed.size()) << "unexpected dead letters";
    EXPECT_GT(expected_.malformed.size(), 0u) << "the stream must hold malformed records";
    std::printf("records %d, events %zu, classified records read %d, dead letters %zu\n",
                expected_.records, expected_.rule_of_id.size(), seen.classified_records,
                seen.dlq.size());
  }

  // Waits until each running processor holds its share of the twelve partitions (six of the
  // input, six of the classified topic read back by the decision stage), so the stream is
  // not interrupted by a rebalance (the mock refuses commits while the group rebalances, which
  // makes re-delivered duplicates, legitimately, under at-least-once).
  void WaitForBalancedGroup(int members) {
    const auto deadline = Clock::now() + std::chrono::seconds(60);
    const std::string share =
        "\"msg\":\"partitions assigned\",\"count\":" + std::to_string(12 / members);
    while (Clock::now() < deadline) {
      int ready = 0;
      for (int i = 0; i < members; ++i) {
        const std::string log = Slurp(processors_[i].log);
        const auto assigned = log.rfind(share);
        const auto revoked = log.rfind("partitions revoked");
        if (assigned != std::string::npos && (revoked == std::string::npos || revoked < assigned)) {
          ++ready;
        }
      }
      if (ready == members) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    ADD_FAILURE() << "the group never settled on " << members << " members";
  }

  void ExpectNoOffsetReset() {
    for (int i = 0; i < 2; ++i) {
      const std::string log = Slurp((dir_ / ("processor" + std::to_string(i) + ".log")).string());
      EXPECT_EQ(log.find("offset reset"), std::string::npos)
          << "processor " << i << " logged an offset reset:\n" << log.substr(0, 4000);
    }
  }

  fs::path dir_;
  Child broker_;
  Child processors_[2];
  std::string bootstrap_;
  rd_kafka_t* producer_ = nullptr;
  std::shared_ptr<const classify::Classifier> classifier_;
  TrafficGenerator generator_{GeneratorOptions{.seed = 7, .malformed_rate = 0.02}};
  Expected expected_;
  int produce_errors_ = 0;
};

TEST_F(PipelineTest, TwoInstancesClassifyEverythingAndStopCleanly) {
  StartProcessor(0);
  StartProcessor(1);
  WaitForBalancedGroup(2);
  Produce(4000);
  const Seen seen = ReadOutputs(90);
  ExpectComplete(seen, /*dlq_exactly_once=*/true);
  EXPECT_EQ(processors_[0].Terminate(20000), 0) << Slurp(processors_[0].log).substr(0, 3000);
  EXPECT_EQ(processors_[1].Terminate(20000), 0) << Slurp(processors_[1].log).substr(0, 3000);
  ExpectNoOffsetReset();
}

TEST_F(PipelineTest, KillMinusNineLosesNothing) {
  StartProcessor(0);
  StartProcessor(1);
  Produce(2000);
  // Wait until the first instance has produced output, then kill it mid-stream.
  const auto deadline = Clock::now() + std::chrono::seconds(30);
  while (Clock::now() < deadline &&
         Slurp(processors_[0].log).find("partitions assigned") == std::string::npos) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  processors_[0].Kill();
  Produce(2000);
  const Seen seen = ReadOutputs(120);
  ExpectComplete(seen, /*dlq_exactly_once=*/false);
  int duplicates = 0;
  for (const auto& [id, n] : seen.ids) duplicates += n > 1 ? n - 1 : 0;
  std::printf("duplicates after kill -9 (at-least-once): %d\n", duplicates);
  EXPECT_EQ(processors_[1].Terminate(20000), 0);
  ExpectNoOffsetReset();
}

TEST_F(PipelineTest, SigtermMidStreamExitsCleanlyAndLosesNothing) {
  StartProcessor(0);
  StartProcessor(1);
  Produce(2000);
  const auto deadline = Clock::now() + std::chrono::seconds(30);
  while (Clock::now() < deadline &&
         Slurp(processors_[1].log).find("partitions assigned") == std::string::npos) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  const auto t0 = Clock::now();
  EXPECT_EQ(processors_[1].Terminate(20000), 0) << Slurp(processors_[1].log).substr(0, 3000);
  std::printf("SIGTERM to exit: %.1f s\n", std::chrono::duration<double>(Clock::now() - t0).count());
  Produce(2000);
  const Seen seen = ReadOutputs(120);
  ExpectComplete(seen, /*dlq_exactly_once=*/false);
  int duplicates = 0;
  for (const auto& [id, n] : seen.ids) duplicates += n > 1 ? n - 1 : 0;
  std::printf("duplicates after SIGTERM and rebalance (at-least-once): %d\n", duplicates);
  EXPECT_EQ(processors_[0].Terminate(20000), 0);
  ExpectNoOffsetReset();
}

}  // namespace
}  // namespace bouncestream::stream
