// RAII owner of a librdkafka 2.0.x mock cluster (rdkafka_mock.h) plus the small parsers the
// command line and the control socket share (topic specs, ApiKey and error names).
//
// The mock API is EXPERIMENTAL in librdkafka (no API/ABI guarantee); this is dev/test tooling.
// Every control call posts an op to the cluster's mock thread, so the methods are thread-safe.
#ifndef BOUNCESTREAM_STREAM_DEVBROKER_MOCK_BROKER_H_
#define BOUNCESTREAM_STREAM_DEVBROKER_MOCK_BROKER_H_

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <cstdint>
#include <expected>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace bouncestream::stream::devbroker {

// The librdkafka versions the mock wrapper was tested with: 2.0.x.
bool IsTestedLibrdkafkaVersion(int version);

struct TopicSpec {
  std::string name;
  int partitions = 0;
  int replication_factor = 0;  // 0 = min(3, brokers)
};

inline constexpr int kMaxPartitions = 10000;

// Kafka topic name rules: 1..249 chars of [a-zA-Z0-9._-], not "." or "..".
bool IsValidTopicName(std::string_view name);

// "NAME:PARTITIONS" or "NAME:PARTITIONS:RF". Error text on failure.
std::expected<TopicSpec, std::string> ParseTopicSpec(std::string_view spec);

// Strict decimal integer (optional leading '-') in [min, max].
std::optional<std::int64_t> ParseInt(std::string_view s, std::int64_t min, std::int64_t max);

// Kafka ApiKey by number ("0") or name ("Produce", case-insensitive, optional "Request" suffix).
std::optional<std::int16_t> ParseApiKey(std::string_view s);
std::string_view ApiKeyName(std::int16_t api_key);  // "" if unknown

// librdkafka error by name ("NOT_LEADER_FOR_PARTITION", "_TRANSPORT", optionally with the
// "RD_KAFKA_RESP_ERR_" prefix, case-insensitive) or by numeric code (e.g. "6", "-195").
std::optional<rd_kafka_resp_err_t> ParseErrorCode(std::string_view s);

class MockCluster {
 public:
  // Creates the bookkeeping handle and a cluster of `brokers` brokers (ids 1..brokers).
  static std::expected<std::unique_ptr<MockCluster>, std::string> Create(int brokers);
  ~MockCluster();
  MockCluster(const MockCluster&) = delete;
  MockCluster& operator=(const MockCluster&) = delete;

  int brokers() const { return brokers_; }
  int DefaultReplicationFactor() const { return brokers_ < 3 ? brokers_ : 3; }
  // "host:port,host:port,..." of the brokers, in broker id order.
  std::string Bootstraps() const;

  rd_kafka_resp_err_t CreateTopic(const std::string& name, int partitions, int rf);
  // Whether CreateTopic has seen this topic (created it, or found it already there). The mock
  // cannot be asked without side effects: most of its calls auto-create unknown topics.
  bool HasTopic(const std::string& name) const;
  rd_kafka_resp_err_t SetDown(std::int32_t broker_id);
  rd_kafka_resp_err_t SetUp(std::int32_t broker_id);
  rd_kafka_resp_err_t SetRtt(std::int32_t broker_id, int rtt_ms);
  // _UNKNOWN_TOPIC unless HasTopic(topic): the mock would silently auto-create it.
  rd_kafka_resp_err_t SetLeader(const std::string& topic, std::int32_t partition,
                                std::int32_t broker_id);
  // key_type: "group" or "transaction".
  rd_kafka_resp_err_t SetCoordinator(const std::string& key_type, const std::string& key,
                                     std::int32_t broker_id);
  // Cluster-wide stack: the next errors.size() requests of api_key (from any client) fail.
  void PushRequestErrors(std::int16_t api_key, const std::vector<rd_kafka_resp_err_t>& errors);
  void ClearRequestErrors(std::int16_t api_key);
  // Broker-level stack of (error, response delay ms) tuples, consumed in order.
  rd_kafka_resp_err_t PushBrokerErrors(
      std::int32_t broker_id, std::int16_t api_key,
      const std::vector<std::pair<rd_kafka_resp_err_t, int>>& errs);

 private:
  MockCluster(rd_kafka_t* rk, rd_kafka_mock_cluster_t* mc, int brokers)
      : rk_(rk), mc_(mc), brokers_(brokers) {}

  rd_kafka_t* rk_;
  rd_kafka_mock_cluster_t* mc_;
  int brokers_;
  mutable std::mutex topics_mu_;
  std::set<std::string, std::less<>> topics_;
};

}  // namespace bouncestream::stream::devbroker

#endif  // BOUNCESTREAM_STREAM_DEVBROKER_MOCK_BROKER_H_
