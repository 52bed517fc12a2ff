// The HTTP server of a bouncestream process: one civetweb instance on a configured address.
//
//   GET /metrics      Prometheus text exposition of the Metrics registry
//   GET /healthz      200 while Heartbeat() is fresher than heartbeat_limit, else 503
//   GET /readyz       200 after SetReady(true) (partitions assigned, state restored), else 503
//                     with the reason
//   GET /api/status   JSON for the status page: totals and per-label sums read from the
//                     registry, ready/healthy, and the latest decisions of the StatusBoard
//   GET /             the status page (metrics/status_page.html, embedded at build time)
//   admin handlers    registered with AddAdminHandler; every request needs
//                     "Authorization: Bearer <token>": 401 without it, 403 with a wrong one,
//                     403 for every request while no token is configured
//
// Nothing is logged: neither request bodies nor tokens (civetweb's own messages are dropped).
// Bad requests (garbage, huge headers, unknown paths) get a 4xx; they never stop the server.
// All methods are thread-safe. No exceptions leave the library.
#ifndef BOUNCESTREAM_METRICS_SERVER_H_
#define BOUNCESTREAM_METRICS_SERVER_H_

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <expected>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "metrics/metrics.h"
#include "metrics/status_board.h"

namespace bouncestream::metrics {

struct ServerOptions {
  // HOST:PORT; IPv6 as [::1]:9464. Port 0 picks a free port (Server::port() reports it).
  std::string listen = "127.0.0.1:9464";
  // /healthz turns 503 when the last Heartbeat() is older than this.
  std::chrono::milliseconds heartbeat_limit{30000};
  // Bearer token of the admin endpoints; empty = admin endpoints refuse every request (403).
  std::string admin_token;
  int threads = 4;                        // civetweb worker threads
  std::size_t max_body_bytes = 1 << 20;   // admin request bodies; larger = 413
  std::size_t status_decisions = 20;      // latest decisions in /api/status
};

struct AdminResponse {
  int status = 200;
  std::string json;  // response body, served as application/json
};
// Called with the request body and the raw query string (after '?'). May run on any civetweb
// worker thread, concurrently with other calls. An exception becomes a 500.
using AdminHandler = std::function<AdminResponse(std::string_view body, std::string_view query)>;

namespace internal {
struct ServerImpl;
}  // namespace internal

class Server {
 public:
  // Binds and starts serving. `metrics` must outlive the server; `board` may be null (no
  // decision list) and must outlive the server otherwise.
  static std::expected<std::unique_ptr<Server>, std::string> Start(ServerOptions options,
                                                                   Metrics* metrics,
                                                                   const StatusBoard* board);
  ~Server();  // stops serving; waits for requests in flight
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // The bound port (the chosen one when the option said 0) and "host:port" to connect to.
  std::uint16_t port() const;
  std::string address() const;

  // Called by the processor once per loop iteration.
  void Heartbeat();
  // Ready = partitions assigned and state restored. Also sets bouncestream_ready. `reason` says
  // why not (served by /readyz while not ready).
  void SetReady(bool ready, std::string reason = {});

  // Registers `handler` for METHOD PATH (exact path, e.g. "POST", "/admin/lift"). Fails when the
  // path is not absolute, is one of the built-in paths, or is registered twice.
  std::expected<void, std::string> AddAdminHandler(std::string method, std::string path,
                                                   AdminHandler handler);

 private:
  explicit Server(std::unique_ptr<internal::ServerImpl> impl);
  std::unique_ptr<internal::ServerImpl> impl_;
};

// Constant-time comparison (the time depends on the lengths only). Exposed for tests.
bool ConstantTimeEquals(std::string_view a, std::string_view b);

}  // namespace bouncestream::metrics

#endif  // BOUNCESTREAM_METRICS_SERVER_H_
