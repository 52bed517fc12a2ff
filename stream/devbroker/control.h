// The devbroker control socket: a Unix stream socket that takes one command per line and
// answers each with one reply line. Any number of clients, one after another or at once;
// commands are executed one at a time.
#ifndef BOUNCESTREAM_STREAM_DEVBROKER_CONTROL_H_
#define BOUNCESTREAM_STREAM_DEVBROKER_CONTROL_H_

#include <sys/types.h>

#include <atomic>
#include <expected>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

#include "stream/devbroker/net_util.h"

namespace bouncestream::stream::devbroker {

inline constexpr std::size_t kMaxControlLine = 4096;

class ControlServer {
 public:
  // Gets a command line without its line ending; returns the reply without a newline.
  using Handler = std::function<std::string(std::string_view line)>;

  // Creates the socket at `path`. A stale socket (nobody accepting) is unlinked first; a live
  // one, or a path that is not a socket, is an error (we never steal another instance's socket).
  static std::expected<std::unique_ptr<ControlServer>, std::string> Listen(const std::string& path,
                                                                           Handler handler);
  ~ControlServer();
  ControlServer(const ControlServer&) = delete;
  ControlServer& operator=(const ControlServer&) = delete;

  void Start();
  // Closes the listener and all client connections, joins the threads, and unlinks the socket
  // file if it is still the one we created (a newer instance may have replaced it). Idempotent.
  void Stop();

 private:
  struct Conn {
    UniqueFd fd;
    std::thread thread;
    std::atomic<bool> done{false};
  };

  ControlServer(UniqueFd listener, std::string path, dev_t dev, ino_t ino, Handler handler)
      : listener_(std::move(listener)),
        path_(std::move(path)),
        dev_(dev),
        ino_(ino),
        handler_(std::move(handler)) {}
  void AcceptLoop();
  void Serve(Conn* conn);
  std::string Execute(std::string_view line);
  void ReapFinished();  // caller holds mu_

  UniqueFd listener_;
  std::string path_;
  dev_t dev_;
  ino_t ino_;
  Handler handler_;
  std::mutex handler_mu_;
  StopPipe stop_;
  std::thread accept_thread_;
  std::mutex mu_;
  std::list<std::unique_ptr<Conn>> conns_;
  bool stopped_ = false;
};

}  // namespace bouncestream::stream::devbroker

#endif  // BOUNCESTREAM_STREAM_DEVBROKER_CONTROL_H_
