// `bouncestream devbroker`: validates the options and hands over to stream/devbroker/.
#include <set>
#include <string>

#include "stream/cli/commands.h"
#include "stream/devbroker/devbroker.h"
#include "stream/devbroker/log.h"

namespace bouncestream::stream::cli {
namespace {

int UsageError(const std::string& error) {
  devbroker::LogError("devbroker usage error", [&](JsonWriter& w) { w.Field("error", error); });
  return kExitUsage;
}

}  // namespace

int RunDevbroker(const DevbrokerOptions& options) {
  devbroker::Config config;
  if (options.port < 0 || options.port > 65535) {
    return UsageError("--port must be 0..65535 (0 = a free port), got " +
                      std::to_string(options.port));
  }
  if (options.brokers < 1 || options.brokers > devbroker::kMaxBrokers) {
    return UsageError("--brokers must be 1.." + std::to_string(devbroker::kMaxBrokers) + ", got " +
                      std::to_string(options.brokers));
  }
  config.port = options.port;
  config.brokers = options.brokers;
  std::set<std::string> seen;
  for (const auto& spec : options.topics) {
    auto t = devbroker::ParseTopicSpec(spec);
    if (!t) return UsageError("--topic: " + t.error());
    if (t->replication_factor > options.brokers) {
      return UsageError("--topic " + spec + ": replication factor exceeds --brokers " +
                        std::to_string(options.brokers));
    }
    if (!seen.insert(t->name).second) return UsageError("--topic " + t->name + " given twice");
    config.topics.push_back(std::move(*t));
  }
  // sockaddr_un::sun_path holds 108 bytes including the terminator.
  if (options.control.size() > 107) {
    return UsageError("--control path is longer than 107 bytes: " + options.control);
  }
  config.control = options.control;
  config.bootstrap_file = options.bootstrap_file;
  return devbroker::Run(config);
}

}  // namespace bouncestream::stream::cli
