// `bouncestream devbroker`: a local Kafka broker for tests and demos, built on librdkafka's
// mock cluster, in its own process. See stream/devbroker/commands.h for the control protocol
// and /work/shared/reference/kafka-mock-broker.md for what the mock can and cannot do.
#ifndef BOUNCESTREAM_STREAM_DEVBROKER_DEVBROKER_H_
#define BOUNCESTREAM_STREAM_DEVBROKER_DEVBROKER_H_

#include <string>
#include <vector>

#include "stream/devbroker/mock_broker.h"

namespace bouncestream::stream::devbroker {

inline constexpr int kMaxBrokers = 16;

struct Config {
  int port = 9092;  // 0 = a free port
  int brokers = 1;
  std::vector<TopicSpec> topics;  // validated, unique names
  std::string control;            // Unix socket path, empty = none
  std::string bootstrap_file;     // empty = none
};

// Runs until SIGTERM/SIGINT. Returns 0 after a clean shutdown, 1 on a runtime error
// (e.g. the port is in use). Logs JSON lines to stdout (errors also to stderr).
int Run(const Config& config);

}  // namespace bouncestream::stream::devbroker

#endif  // BOUNCESTREAM_STREAM_DEVBROKER_DEVBROKER_H_
