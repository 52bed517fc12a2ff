// A fixed-address TCP forwarder: listens on 127.0.0.1:<port> and pipes every accepted
// connection to one upstream address (the mock cluster's first broker, whose port is random).
// Kafka clients bootstrap through it, then connect to the advertised brokers directly.
// One thread accepts; each connection gets its own pump thread.
#ifndef BOUNCESTREAM_STREAM_DEVBROKER_FORWARDER_H_
#define BOUNCESTREAM_STREAM_DEVBROKER_FORWARDER_H_

#include <sys/socket.h>

#include <atomic>
#include <expected>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "stream/devbroker/net_util.h"

namespace bouncestream::stream::devbroker {

class Forwarder {
 public:
  // Binds and listens on 127.0.0.1:port (0 = pick a free port). Fails with a readable message,
  // e.g. when the port is already in use.
  static std::expected<std::unique_ptr<Forwarder>, std::string> Listen(int port);
  ~Forwarder();
  Forwarder(const Forwarder&) = delete;
  Forwarder& operator=(const Forwarder&) = delete;

  int port() const { return port_; }

  // Starts accepting; connections are forwarded to `upstream` ("host:port").
  std::expected<void, std::string> Start(const std::string& upstream);

  // Closes the listener and every forwarded connection, and joins all threads. Idempotent.
  void Stop();

 private:
  struct Conn {
    UniqueFd client, upstream;
    std::thread thread;
    std::atomic<bool> done{false};
  };

  Forwarder(UniqueFd listener, int port) : listener_(std::move(listener)), port_(port) {}
  void AcceptLoop();
  void Pump(Conn* conn);
  void ReapFinished();  // joins finished connections; caller holds mu_

  UniqueFd listener_;
  int port_;
  sockaddr_storage upstream_addr_{};
  socklen_t upstream_len_ = 0;
  StopPipe stop_;
  std::thread accept_thread_;
  std::mutex mu_;
  std::list<std::unique_ptr<Conn>> conns_;
  bool stopped_ = false;
};

}  // namespace bouncestream::stream::devbroker

#endif  // BOUNCESTREAM_STREAM_DEVBROKER_FORWARDER_H_
