#include "stream/devbroker/control.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "stream/devbroker/log.h"

namespace bouncestream::stream::devbroker {
namespace {

bool FillAddress(const std::string& path, sockaddr_un* addr) {
  if (path.empty() || path.size() >= sizeof(addr->sun_path)) return false;
  std::memset(addr, 0, sizeof(*addr));
  addr->sun_family = AF_UNIX;
  std::memcpy(addr->sun_path, path.data(), path.size());
  return true;
}

// Removes a leftover socket whose owner is gone. Error text if the path must not be touched.
std::expected<void, std::string> RemoveStaleSocket(const std::string& path,
                                                   const sockaddr_un& addr) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return {};
    return std::unexpected("control socket " + path + ": " + ErrnoText(errno));
  }
  if (!S_ISSOCK(st.st_mode)) {
    return std::unexpected("control socket path " + path + " exists and is not a socket");
  }
  UniqueFd probe(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!probe.valid()) return std::unexpected("socket: " + ErrnoText(errno));
  if (::connect(probe.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) == 0) {
    return std::unexpected("control socket " + path +
                           " is in use by a running devbroker (stop it or pick another path)");
  }
  if (errno != ECONNREFUSED && errno != ENOENT) {
    return std::unexpected("control socket " + path + ": " + ErrnoText(errno));
  }
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
    return std::unexpected("cannot remove stale control socket " + path + ": " + ErrnoText(errno));
  }
  LogInfo("removed stale control socket", [&](JsonWriter& w) { w.Field("path", path); });
  return {};
}

}  // namespace

std::expected<std::unique_ptr<ControlServer>, std::string> ControlServer::Listen(
    const std::string& path, Handler handler) {
  sockaddr_un addr{};
  if (!FillAddress(path, &addr)) {
    return std::unexpected("control socket path must be 1-" +
                           std::to_string(sizeof(addr.sun_path) - 1) + " bytes: " + path);
  }
  if (auto r = RemoveStaleSocket(path, addr); !r) return std::unexpected(r.error());
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return std::unexpected("socket: " + ErrnoText(errno));
  if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0) {
    return std::unexpected("bind control socket " + path + ": " + ErrnoText(errno));
  }
  struct stat st {};
  if (::chmod(path.c_str(), 0600) != 0 || ::stat(path.c_str(), &st) != 0 ||
      ::listen(fd.get(), 16) != 0) {
    const int err = errno;
    ::unlink(path.c_str());
    return std::unexpected("control socket " + path + ": " + ErrnoText(err));
  }
  return std::unique_ptr<ControlServer>(
      new ControlServer(std::move(fd), path, st.st_dev, st.st_ino, std::move(handler)));
}

ControlServer::~ControlServer() { Stop(); }

void ControlServer::Start() {
  accept_thread_ = std::thread([this] { AcceptLoop(); });
}

void ControlServer::AcceptLoop() {
  for (;;) {
    pollfd fds[2] = {{listener_.get(), POLLIN, 0}, {stop_.read_fd(), POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      LogError("control socket poll failed",
               [&](JsonWriter& w) { w.Field("error", ErrnoText(errno)); });
      return;
    }
    if (fds[1].revents != 0) return;
    if ((fds[0].revents & POLLIN) == 0) continue;
    UniqueFd client(::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC));
    if (!client.valid()) {
      if (errno != EINTR && errno != EAGAIN && errno != ECONNABORTED) ::poll(nullptr, 0, 50);
      continue;
    }
    const std::lock_guard lock(mu_);
    ReapFinished();
    if (stopped_) return;
    auto conn = std::make_unique<Conn>();
    conn->fd = std::move(client);
    Conn* raw = conn.get();
    conns_.push_back(std::move(conn));
    raw->thread = std::thread([this, raw] { Serve(raw); });
  }
}

std::string ControlServer::Execute(std::string_view line) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  const std::lock_guard lock(handler_mu_);
  return handler_(line);
}

void ControlServer::Serve(Conn* conn) {
  const int fd = conn->fd.get();
  std::string pending;
  char buf[4096];
  bool open = true;
  while (open) {
    pollfd fds[2] = {{fd, POLLIN, 0}, {stop_.read_fd(), POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (fds[1].revents != 0) break;
    const ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      // EOF: a last command without a newline still gets its reply.
      if (!pending.empty()) {
        const std::string reply = Execute(pending) + "\n";
        SendAll(fd, reply.data(), reply.size());
      }
      break;
    }
    pending.append(buf, static_cast<std::size_t>(n));
    std::size_t start = 0;
    for (std::size_t nl; (nl = pending.find('\n', start)) != std::string::npos; start = nl + 1) {
      const std::string reply = Execute(std::string_view(pending).substr(start, nl - start)) + "\n";
      if (!SendAll(fd, reply.data(), reply.size())) {
        open = false;
        break;
      }
    }
    pending.erase(0, start);
    if (open && pending.size() > kMaxControlLine) {
      static constexpr std::string_view kTooLong = "ERR line too long\n";
      SendAll(fd, kTooLong.data(), kTooLong.size());
      break;
    }
  }
  ::shutdown(fd, SHUT_RDWR);
  conn->done.store(true);
}

void ControlServer::ReapFinished() {
  for (auto it = conns_.begin(); it != conns_.end();) {
    if ((*it)->done.load()) {
      (*it)->thread.join();
      it = conns_.erase(it);
    } else {
      ++it;
    }
  }
}

void ControlServer::Stop() {
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
  for (auto& c : conns) ::shutdown(c->fd.get(), SHUT_RDWR);
  for (auto& c : conns) c->thread.join();
  // Only remove the file if it is still ours (the FIFO-unlink pitfall in the reference notes).
  struct stat st {};
  if (::lstat(path_.c_str(), &st) == 0 && st.st_dev == dev_ && st.st_ino == ino_) {
    ::unlink(path_.c_str());
  }
}

}  // namespace bouncestream::stream::devbroker
