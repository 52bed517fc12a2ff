#include "stream/devbroker/commands.h"

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <optional>
#include <utility>
#include <vector>

namespace bouncestream::stream::devbroker {
namespace {

constexpr std::size_t kMaxErrors = 256;
constexpr std::int64_t kMaxRttMs = 600000;

std::vector<std::string_view> Split(std::string_view line) {
  std::vector<std::string_view> out;
  std::size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && std::isspace(static_cast<unsigned char>(line[i]))) ++i;
    const std::size_t start = i;
    while (i < line.size() && !std::isspace(static_cast<unsigned char>(line[i]))) ++i;
    if (i > start) out.push_back(line.substr(start, i - start));
  }
  return out;
}

std::string Lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

std::string Reply(rd_kafka_resp_err_t err) {
  if (err == RD_KAFKA_RESP_ERR_NO_ERROR) return "OK";
  return std::string("ERR ") + rd_kafka_err2name(err) + ": " + rd_kafka_err2str(err);
}

std::string Usage(std::string_view syntax) { return "ERR usage: " + std::string(syntax); }

// Broker ids are 1..brokers.
std::optional<std::int32_t> BrokerId(const MockCluster& c, std::string_view s, std::string* err) {
  const auto id = ParseInt(s, 1, c.brokers());
  if (!id) {
    *err = "ERR unknown broker id '" + std::string(s) + "' (brokers are 1.." +
           std::to_string(c.brokers()) + ")";
    return std::nullopt;
  }
  return static_cast<std::int32_t>(*id);
}

std::optional<std::int16_t> ApiKey(std::string_view s, std::string* err) {
  const auto k = ParseApiKey(s);
  if (!k) *err = "ERR unknown ApiKey '" + std::string(s) + "' (a number or e.g. Produce, Fetch)";
  return k;
}

std::optional<rd_kafka_resp_err_t> ErrorCode(std::string_view s, std::string* err) {
  const auto e = ParseErrorCode(s);
  if (!e) {
    *err = "ERR unknown error '" + std::string(s) +
           "' (a librdkafka name such as NOT_LEADER_FOR_PARTITION, _TRANSPORT, or a number)";
  }
  return e;
}

std::string CmdTopic(MockCluster& c, const std::vector<std::string_view>& a) {
  if (a.size() != 3 && a.size() != 4) return Usage("topic NAME PARTITIONS [RF]");
  if (!IsValidTopicName(a[1])) return "ERR invalid topic name '" + std::string(a[1]) + "'";
  const auto parts = ParseInt(a[2], 1, kMaxPartitions);
  if (!parts) return "ERR invalid partition count '" + std::string(a[2]) + "'";
  std::int64_t rf = c.DefaultReplicationFactor();
  if (a.size() == 4) {
    const auto r = ParseInt(a[3], 1, c.brokers());
    if (!r) {
      return "ERR invalid replication factor '" + std::string(a[3]) + "' (1.." +
             std::to_string(c.brokers()) + ")";
    }
    rf = *r;
  }
  return Reply(c.CreateTopic(std::string(a[1]), static_cast<int>(*parts), static_cast<int>(rf)));
}

std::string CmdDownUp(MockCluster& c, const std::vector<std::string_view>& a, bool down) {
  if (a.size() != 2) return Usage(down ? "down BROKER_ID" : "up BROKER_ID");
  std::string err;
  const auto id = BrokerId(c, a[1], &err);
  if (!id) return err;
  return Reply(down ? c.SetDown(*id) : c.SetUp(*id));
}

std::string CmdRtt(MockCluster& c, const std::vector<std::string_view>& a) {
  if (a.size() != 3) return Usage("rtt BROKER_ID MS");
  std::string err;
  const auto id = BrokerId(c, a[1], &err);
  if (!id) return err;
  const auto ms = ParseInt(a[2], 0, kMaxRttMs);
  if (!ms)
    return "ERR invalid rtt '" + std::string(a[2]) + "' (0.." + std::to_string(kMaxRttMs) + " ms)";
  return Reply(c.SetRtt(*id, static_cast<int>(*ms)));
}

std::string CmdErr(MockCluster& c, const std::vector<std::string_view>& a) {
  if (a.size() < 3 || a.size() - 2 > kMaxErrors) return Usage("err APIKEY ERR [ERR...]");
  std::string err;
  const auto key = ApiKey(a[1], &err);
  if (!key) return err;
  std::vector<rd_kafka_resp_err_t> errors;
  for (std::size_t i = 2; i < a.size(); ++i) {
    const auto e = ErrorCode(a[i], &err);
    if (!e) return err;
    errors.push_back(*e);
  }
  c.PushRequestErrors(*key, errors);
  return "OK";
}

std::string CmdBerr(MockCluster& c, const std::vector<std::string_view>& a) {
  if (a.size() < 5 || (a.size() - 3) % 2 != 0 || (a.size() - 3) / 2 > kMaxErrors) {
    return Usage("berr BROKER_ID APIKEY ERR MS [ERR MS...]");
  }
  std::string err;
  const auto id = BrokerId(c, a[1], &err);
  if (!id) return err;
  const auto key = ApiKey(a[2], &err);
  if (!key) return err;
  std::vector<std::pair<rd_kafka_resp_err_t, int>> errors;
  for (std::size_t i = 3; i + 1 < a.size(); i += 2) {
    const auto e = ErrorCode(a[i], &err);
    if (!e) return err;
    const auto ms = ParseInt(a[i + 1], 0, kMaxRttMs);
    if (!ms) return "ERR invalid delay '" + std::string(a[i + 1]) + "' ms";
    errors.emplace_back(*e, static_cast<int>(*ms));
  }
  return Reply(c.PushBrokerErrors(*id, *key, errors));
}

std::string CmdClear(MockCluster& c, const std::vector<std::string_view>& a) {
  if (a.size() != 2) return Usage("clear APIKEY");
  std::string err;
  const auto key = ApiKey(a[1], &err);
  if (!key) return err;
  c.ClearRequestErrors(*key);
  return "OK";
}

std::string CmdLeader(MockCluster& c, const std::vector<std::string_view>& a) {
  if (a.size() != 4) return Usage("leader TOPIC PARTITION BROKER_ID");
  const auto part = ParseInt(a[2], 0, kMaxPartitions - 1);
  if (!part) return "ERR invalid partition '" + std::string(a[2]) + "'";
  const std::string topic(a[1]);
  if (!c.HasTopic(topic)) {
    return "ERR unknown topic '" + topic +
           "' (leader works on topics made by --topic or the topic command; an auto-created "
           "topic can be adopted with the topic command)";
  }
  std::int32_t id = -1;
  if (a[3] != "-1") {
    std::string err;
    const auto b = BrokerId(c, a[3], &err);
    if (!b) return err;
    id = *b;
  }
  return Reply(c.SetLeader(topic, static_cast<std::int32_t>(*part), id));
}

std::string CmdCoord(MockCluster& c, const std::vector<std::string_view>& a) {
  if (a.size() != 4 || (a[1] != "group" && a[1] != "transaction")) {
    return Usage("coord group|transaction KEY BROKER_ID");
  }
  std::string err;
  const auto id = BrokerId(c, a[3], &err);
  if (!id) return err;
  return Reply(c.SetCoordinator(std::string(a[1]), std::string(a[2]), *id));
}

}  // namespace

std::string ExecuteControlCommand(MockCluster& cluster, std::string_view line) {
  const auto args = Split(line);
  if (args.empty()) return "ERR empty command (try help)";
  const std::string cmd = Lower(args[0]);
  if (cmd == "ping") return args.size() == 1 ? "OK" : Usage("ping");
  if (cmd == "help") {
    return "OK commands: ping, topic NAME PARTITIONS [RF], down ID, up ID, rtt ID MS, "
           "err APIKEY ERR..., berr ID APIKEY ERR MS..., clear APIKEY, "
           "leader TOPIC PARTITION ID, coord group|transaction KEY ID";
  }
  if (cmd == "topic") return CmdTopic(cluster, args);
  if (cmd == "down") return CmdDownUp(cluster, args, true);
  if (cmd == "up") return CmdDownUp(cluster, args, false);
  if (cmd == "rtt") return CmdRtt(cluster, args);
  if (cmd == "err") return CmdErr(cluster, args);
  if (cmd == "berr") return CmdBerr(cluster, args);
  if (cmd == "clear") return CmdClear(cluster, args);
  if (cmd == "leader") return CmdLeader(cluster, args);
  if (cmd == "coord") return CmdCoord(cluster, args);
  std::string shown(args[0].substr(0, 64));
  return "ERR unknown command '" + shown + "' (try help)";
}

}  // namespace bouncestream::stream::devbroker
