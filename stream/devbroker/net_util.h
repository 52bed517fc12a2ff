// Small POSIX helpers shared by the forwarder and the control socket.
#ifndef BOUNCESTREAM_STREAM_DEVBROKER_NET_UTIL_H_
#define BOUNCESTREAM_STREAM_DEVBROKER_NET_UTIL_H_

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>

namespace bouncestream::stream::devbroker {

// Owns a file descriptor; closes it on destruction.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  ~UniqueFd() { Reset(); }
  UniqueFd(UniqueFd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  UniqueFd& operator=(UniqueFd&& o) noexcept {
    if (this != &o) {
      Reset();
      fd_ = std::exchange(o.fd_, -1);
    }
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  void Reset();
  // Gives up ownership without closing.
  int Release() { return std::exchange(fd_, -1); }

 private:
  int fd_ = -1;
};

// A level-triggered "stop" flag pollable by any number of threads: once Fire()d, the read end
// stays readable forever (nobody drains it).
class StopPipe {
 public:
  StopPipe();  // throws std::system_error if pipe2 fails
  void Fire();
  int read_fd() const { return read_.get(); }

 private:
  UniqueFd read_, write_;
};

// Writes all of [data, data+len) with send(MSG_NOSIGNAL), retrying on EINTR. False on error.
bool SendAll(int fd, const char* data, std::size_t len);

// strerror(errno) as std::string.
std::string ErrnoText(int err);

}  // namespace bouncestream::stream::devbroker

#endif  // BOUNCESTREAM_STREAM_DEVBROKER_NET_UTIL_H_
