#include "stream/devbroker/mock_broker.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <cstring>

#include "stream/devbroker/log.h"

namespace bouncestream::stream::devbroker {
namespace {

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

bool StartsWithIgnoreCase(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && EqualsIgnoreCase(s.substr(0, prefix.size()), prefix);
}

struct ApiKeyEntry {
  std::int16_t key;
  std::string_view name;
};

// Kafka protocol ApiKeys 0..47 (the mock implements a subset, see the reference notes §7).
constexpr std::array<ApiKeyEntry, 48> kApiKeys{{
    {0, "Produce"},
    {1, "Fetch"},
    {2, "ListOffsets"},
    {3, "Metadata"},
    {4, "LeaderAndIsr"},
    {5, "StopReplica"},
    {6, "UpdateMetadata"},
    {7, "ControlledShutdown"},
    {8, "OffsetCommit"},
    {9, "OffsetFetch"},
    {10, "FindCoordinator"},
    {11, "JoinGroup"},
    {12, "Heartbeat"},
    {13, "LeaveGroup"},
    {14, "SyncGroup"},
    {15, "DescribeGroups"},
    {16, "ListGroups"},
    {17, "SaslHandshake"},
    {18, "ApiVersions"},
    {19, "CreateTopics"},
    {20, "DeleteTopics"},
    {21, "DeleteRecords"},
    {22, "InitProducerId"},
    {23, "OffsetForLeaderEpoch"},
    {24, "AddPartitionsToTxn"},
    {25, "AddOffsetsToTxn"},
    {26, "EndTxn"},
    {27, "WriteTxnMarkers"},
    {28, "TxnOffsetCommit"},
    {29, "DescribeAcls"},
    {30, "CreateAcls"},
    {31, "DeleteAcls"},
    {32, "DescribeConfigs"},
    {33, "AlterConfigs"},
    {34, "AlterReplicaLogDirs"},
    {35, "DescribeLogDirs"},
    {36, "SaslAuthenticate"},
    {37, "CreatePartitions"},
    {38, "CreateDelegationToken"},
    {39, "RenewDelegationToken"},
    {40, "ExpireDelegationToken"},
    {41, "DescribeDelegationToken"},
    {42, "DeleteGroups"},
    {43, "ElectLeaders"},
    {44, "IncrementalAlterConfigs"},
    {45, "AlterPartitionReassignments"},
    {46, "ListPartitionReassignments"},
    {47, "OffsetDelete"},
}};

// Routes librdkafka's own log lines (the mock logs through the bookkeeping handle) into our
// JSON log. Called from librdkafka threads.
void RdkafkaLogCallback(const rd_kafka_t* /*rk*/, int level, const char* fac, const char* buf) {
  const std::string_view facility = fac ? fac : "";
  const std::string_view text = buf ? buf : "";
  // The bookkeeping handle has no bootstrap.servers by design.
  if (facility == "CONFWARN" && text.find("bootstrap.servers") != std::string_view::npos) return;
  const LogLevel lvl = level <= 3   ? LogLevel::kError
                       : level == 4 ? LogLevel::kWarn
                       : level <= 6 ? LogLevel::kInfo
                                    : LogLevel::kDebug;
  LogLine(lvl, text, [&](JsonWriter& w) {
    w.Field("source", "librdkafka");
    w.Field("fac", facility);
  });
}

}  // namespace

bool IsTestedLibrdkafkaVersion(int version) {
  // 0xMMmmrrpp: major 2, minor 0, any revision.
  return (static_cast<unsigned>(version) >> 16) == 0x0200u;
}

bool IsValidTopicName(std::string_view name) {
  if (name.empty() || name.size() > 249 || name == "." || name == "..") return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-';
  });
}

std::optional<std::int64_t> ParseInt(std::string_view s, std::int64_t min, std::int64_t max) {
  if (s.empty()) return std::nullopt;
  std::int64_t v = 0;
  const char* end = s.data() + s.size();
  const auto [ptr, ec] = std::from_chars(s.data(), end, v);
  if (ec != std::errc() || ptr != end || v < min || v > max) return std::nullopt;
  return v;
}

std::expected<TopicSpec, std::string> ParseTopicSpec(std::string_view spec) {
  const auto colon = spec.find(':');
  if (colon == std::string_view::npos) {
    return std::unexpected("expected NAME:PARTITIONS, got '" + std::string(spec) + "'");
  }
  TopicSpec t;
  t.name = std::string(spec.substr(0, colon));
  if (!IsValidTopicName(t.name)) {
    return std::unexpected("invalid topic name '" + t.name +
                           "' (1-249 characters of a-z A-Z 0-9 . _ -)");
  }
  std::string_view rest = spec.substr(colon + 1);
  std::string_view parts = rest;
  std::string_view rf;
  if (const auto c2 = rest.find(':'); c2 != std::string_view::npos) {
    parts = rest.substr(0, c2);
    rf = rest.substr(c2 + 1);
    if (rf.empty())
      return std::unexpected("empty replication factor in '" + std::string(spec) + "'");
  }
  const auto p = ParseInt(parts, 1, kMaxPartitions);
  if (!p) {
    return std::unexpected("invalid partition count '" + std::string(parts) + "' in '" +
                           std::string(spec) + "' (1-" + std::to_string(kMaxPartitions) + ")");
  }
  t.partitions = static_cast<int>(*p);
  if (!rf.empty()) {
    const auto r = ParseInt(rf, 1, 100);
    if (!r) {
      return std::unexpected("invalid replication factor '" + std::string(rf) + "' in '" +
                             std::string(spec) + "'");
    }
    t.replication_factor = static_cast<int>(*r);
  }
  return t;
}

std::optional<std::int16_t> ParseApiKey(std::string_view s) {
  if (const auto n = ParseInt(s, 0, INT16_MAX)) return static_cast<std::int16_t>(*n);
  constexpr std::string_view kSuffix = "Request";
  if (s.size() > kSuffix.size() && EqualsIgnoreCase(s.substr(s.size() - kSuffix.size()), kSuffix)) {
    s.remove_suffix(kSuffix.size());
  }
  for (const auto& e : kApiKeys) {
    if (EqualsIgnoreCase(s, e.name)) return e.key;
  }
  return std::nullopt;
}

std::string_view ApiKeyName(std::int16_t api_key) {
  for (const auto& e : kApiKeys) {
    if (e.key == api_key) return e.name;
  }
  return {};
}

std::optional<rd_kafka_resp_err_t> ParseErrorCode(std::string_view s) {
  const rd_kafka_err_desc* descs = nullptr;
  size_t cnt = 0;
  rd_kafka_get_err_descs(&descs, &cnt);
  if (const auto n = ParseInt(s, INT32_MIN, INT32_MAX)) {
    for (size_t i = 0; i < cnt; ++i) {
      if (descs[i].name != nullptr && static_cast<std::int64_t>(descs[i].code) == *n) {
        return descs[i].code;
      }
    }
    return std::nullopt;
  }
  constexpr std::string_view kPrefix = "RD_KAFKA_RESP_ERR_";
  if (StartsWithIgnoreCase(s, kPrefix)) s.remove_prefix(kPrefix.size());
  if (s.empty()) return std::nullopt;
  for (size_t i = 0; i < cnt; ++i) {
    if (descs[i].name != nullptr && EqualsIgnoreCase(s, descs[i].name)) return descs[i].code;
  }
  return std::nullopt;
}

std::expected<std::unique_ptr<MockCluster>, std::string> MockCluster::Create(int brokers) {
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  rd_kafka_conf_set_log_cb(conf, RdkafkaLogCallback);
  char errstr[512] = {0};
  // Bookkeeping handle only: it never connects anywhere.
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
  if (rk == nullptr) {
    rd_kafka_conf_destroy(conf);
    return std::unexpected(std::string("rd_kafka_new failed: ") + errstr);
  }
  rd_kafka_mock_cluster_t* mc = rd_kafka_mock_cluster_new(rk, brokers);
  if (mc == nullptr) {
    rd_kafka_destroy(rk);
    return std::unexpected("rd_kafka_mock_cluster_new failed (" + std::to_string(brokers) +
                           " brokers)");
  }
  return std::unique_ptr<MockCluster>(new MockCluster(rk, mc, brokers));
}

MockCluster::~MockCluster() {
  rd_kafka_mock_cluster_destroy(mc_);
  rd_kafka_destroy(rk_);
}

std::string MockCluster::Bootstraps() const {
  const char* b = rd_kafka_mock_cluster_bootstraps(mc_);
  return b ? b : "";
}

rd_kafka_resp_err_t MockCluster::CreateTopic(const std::string& name, int partitions, int rf) {
  const auto err = rd_kafka_mock_topic_create(mc_, name.c_str(), partitions, rf);
  if (err == RD_KAFKA_RESP_ERR_NO_ERROR || err == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
    const std::lock_guard lock(topics_mu_);
    topics_.insert(name);
  }
  return err;
}

bool MockCluster::HasTopic(const std::string& name) const {
  const std::lock_guard lock(topics_mu_);
  return topics_.contains(name);
}

rd_kafka_resp_err_t MockCluster::SetDown(std::int32_t broker_id) {
  return rd_kafka_mock_broker_set_down(mc_, broker_id);
}

rd_kafka_resp_err_t MockCluster::SetUp(std::int32_t broker_id) {
  return rd_kafka_mock_broker_set_up(mc_, broker_id);
}

rd_kafka_resp_err_t MockCluster::SetRtt(std::int32_t broker_id, int rtt_ms) {
  return rd_kafka_mock_broker_set_rtt(mc_, broker_id, rtt_ms);
}

rd_kafka_resp_err_t MockCluster::SetLeader(const std::string& topic, std::int32_t partition,
                                           std::int32_t broker_id) {
  if (!HasTopic(topic)) return RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC;
  return rd_kafka_mock_partition_set_leader(mc_, topic.c_str(), partition, broker_id);
}

rd_kafka_resp_err_t MockCluster::SetCoordinator(const std::string& key_type, const std::string& key,
                                                std::int32_t broker_id) {
  return rd_kafka_mock_coordinator_set(mc_, key_type.c_str(), key.c_str(), broker_id);
}

void MockCluster::PushRequestErrors(std::int16_t api_key,
                                    const std::vector<rd_kafka_resp_err_t>& errors) {
  rd_kafka_mock_push_request_errors_array(mc_, api_key, errors.size(), errors.data());
}

void MockCluster::ClearRequestErrors(std::int16_t api_key) {
  rd_kafka_mock_clear_request_errors(mc_, api_key);
}

rd_kafka_resp_err_t MockCluster::PushBrokerErrors(
    std::int32_t broker_id, std::int16_t api_key,
    const std::vector<std::pair<rd_kafka_resp_err_t, int>>& errs) {
  // The C API is variadic only. Pushing one tuple per call appends to the same stack in order,
  // which is equivalent (the stack is consumed from the front).
  for (const auto& [err, rtt] : errs) {
    const auto r =
        rd_kafka_mock_broker_push_request_error_rtts(mc_, broker_id, api_key, 1, err, rtt);
    if (r != RD_KAFKA_RESP_ERR_NO_ERROR) return r;
  }
  return RD_KAFKA_RESP_ERR_NO_ERROR;
}

}  // namespace bouncestream::stream::devbroker
