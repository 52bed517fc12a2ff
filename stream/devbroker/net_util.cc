#include "stream/devbroker/net_util.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <system_error>

namespace bouncestream::stream::devbroker {

void UniqueFd::Reset() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

StopPipe::StopPipe() {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC | O_NONBLOCK) != 0) {
    throw std::system_error(errno, std::generic_category(), "pipe2");
  }
  read_ = UniqueFd(fds[0]);
  write_ = UniqueFd(fds[1]);
}

void StopPipe::Fire() {
  const char c = 'x';
  // Non-blocking; a full pipe is already readable, so a failed write is harmless.
  [[maybe_unused]] const auto n = ::write(write_.get(), &c, 1);
}

bool SendAll(int fd, const char* data, std::size_t len) {
  while (len > 0) {
    const ssize_t n = ::send(fd, data, len, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    data += n;
    len -= static_cast<std::size_t>(n);
  }
  return true;
}

std::string ErrnoText(int err) { return std::strerror(err); }

}  // namespace bouncestream::stream::devbroker
