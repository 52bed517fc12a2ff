#include "stream/devbroker/forwarder.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "stream/devbroker/log.h"

namespace bouncestream::stream::devbroker {
namespace {

void SetNoDelay(int fd) {
  const int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

}  // namespace

std::expected<std::unique_ptr<Forwarder>, std::string> Forwarder::Listen(int port) {
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return std::unexpected("socket: " + ErrnoText(errno));
  // Lets a restarted devbroker reuse the port while old connections sit in TIME_WAIT; it does
  // not allow two listeners on one port.
  const int one = 1;
  ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0) {
    const int err = errno;
    if (err == EADDRINUSE) {
      return std::unexpected("port " + std::to_string(port) +
                             " on 127.0.0.1 is already in use (another broker running? try "
                             "--port 0 for a free port)");
    }
    return std::unexpected("bind 127.0.0.1:" + std::to_string(port) + ": " + ErrnoText(err));
  }
  if (::listen(fd.get(), 64) != 0) return std::unexpected("listen: " + ErrnoText(errno));
  socklen_t len = sizeof(addr);
  if (::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    return std::unexpected("getsockname: " + ErrnoText(errno));
  }
  const int actual = ntohs(addr.sin_port);
  return std::unique_ptr<Forwarder>(new Forwarder(std::move(fd), actual));
}

Forwarder::~Forwarder() { Stop(); }

std::expected<void, std::string> Forwarder::Start(const std::string& upstream) {
  const auto colon = upstream.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == upstream.size()) {
    return std::unexpected("bad upstream address '" + upstream + "'");
  }
  std::string host = upstream.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  const std::string port = upstream.substr(colon + 1);
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* res = nullptr;
  if (const int rc = ::getaddrinfo(host.c_str(), port.c_str(), &hints, &res); rc != 0) {
    return std::unexpected("resolve upstream '" + upstream + "': " + ::gai_strerror(rc));
  }
  std::memcpy(&upstream_addr_, res->ai_addr, res->ai_addrlen);
  upstream_len_ = res->ai_addrlen;
  ::freeaddrinfo(res);
  accept_thread_ = std::thread([this] { AcceptLoop(); });
  return {};
}

void Forwarder::AcceptLoop() {
  for (;;) {
    pollfd fds[2] = {{listener_.get(), POLLIN, 0}, {stop_.read_fd(), POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      LogError("forwarder poll failed", [&](JsonWriter& w) { w.Field("error", ErrnoText(errno)); });
      return;
    }
    if (fds[1].revents != 0) return;
    if ((fds[0].revents & POLLIN) == 0) continue;
    UniqueFd client(::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC));
    if (!client.valid()) {
      if (errno != EINTR && errno != EAGAIN && errno != ECONNABORTED) {
        LogWarn("forwarder accept failed",
                [&](JsonWriter& w) { w.Field("error", ErrnoText(errno)); });
        // Back off briefly on e.g. EMFILE instead of spinning.
        ::poll(nullptr, 0, 50);
      }
      continue;
    }
    UniqueFd up(::socket(upstream_addr_.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!up.valid() || ::connect(up.get(), reinterpret_cast<const sockaddr*>(&upstream_addr_),
                                 upstream_len_) != 0) {
      // E.g. broker 1 is "down": the client sees a closed connection, like a dead broker.
      LogWarn("forwarder could not reach broker 1",
              [&](JsonWriter& w) { w.Field("error", ErrnoText(errno)); });
      continue;
    }
    SetNoDelay(client.get());
    SetNoDelay(up.get());
    const std::lock_guard lock(mu_);
    ReapFinished();
    if (stopped_) return;
    auto conn = std::make_unique<Conn>();
    conn->client = std::move(client);
    conn->upstream = std::move(up);
    Conn* raw = conn.get();
    conns_.push_back(std::move(conn));
    raw->thread = std::thread([this, raw] { Pump(raw); });
  }
}

void Forwarder::Pump(Conn* conn) {
  std::vector<char> buf(64 * 1024);
  const int a = conn->client.get();
  const int b = conn->upstream.get();
  for (;;) {
    pollfd fds[3] = {{a, POLLIN, 0}, {b, POLLIN, 0}, {stop_.read_fd(), POLLIN, 0}};
    if (::poll(fds, 3, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (fds[2].revents != 0) break;
    bool ok = true;
    for (int i = 0; i < 2 && ok; ++i) {
      if (fds[i].revents == 0) continue;
      const int from = i == 0 ? a : b;
      const int to = i == 0 ? b : a;
      const ssize_t n = ::recv(from, buf.data(), buf.size(), 0);
      if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
      // EOF or error on either side ends the whole connection (Kafka never half-closes).
      ok = n > 0 && SendAll(to, buf.data(), static_cast<std::size_t>(n));
    }
    if (!ok) break;
  }
  // Unblock the peer at once; the fds are closed by whoever joins this thread.
  ::shutdown(a, SHUT_RDWR);
  ::shutdown(b, SHUT_RDWR);
  conn->done.store(true);
}

void Forwarder::ReapFinished() {
  for (auto it = conns_.begin(); it != conns_.end();) {
    if ((*it)->done.load()) {
      (*it)->thread.join();
      it = conns_.erase(it);
    } else {
      ++it;
    }
  }
}

void Forwarder::Stop() {
  {
    const std::lock_guard lock(mu_);
    if (stopped_) return;
    stopped_ = true;
  }
  stop_.Fire();
  if (accept_thread_.joinable()) accept_thread_.join();
  listener_.Reset();
  std::list<std::unique_ptr<Conn>> conns;
  {
    const std::lock_guard lock(mu_);
    conns.swap(conns_);
  }
  for (auto& c : conns) {
    // Wakes a pump blocked in send() to a peer that stopped reading.
    ::shutdown(c->client.get(), SHUT_RDWR);
    ::shutdown(c->upstream.get(), SHUT_RDWR);
  }
  for (auto& c : conns) c->thread.join();
}

}  // namespace bouncestream::stream::devbroker
