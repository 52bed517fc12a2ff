// A tiny blocking HTTP/1.1 client over a raw loopback socket, for the server tests.
#ifndef BOUNCESTREAM_TESTS_METRICS_HTTP_CLIENT_H_
#define BOUNCESTREAM_TESTS_METRICS_HTTP_CLIENT_H_

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

namespace bouncestream::metrics::testing {

struct HttpResponse {
  int status = 0;  // 0 = no (parsable) response
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;
  std::string raw;
};

inline int Connect(std::uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

inline bool SendAll(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n <= 0) return false;
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

// Reads until the peer closes (the server sends Connection: close) or `timeout_ms` passes.
inline std::string ReadAll(int fd, int timeout_ms = 5000) {
  std::string out;
  char buf[16384];
  while (true) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, timeout_ms) <= 0) break;
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  return out;
}

inline HttpResponse ParseResponse(std::string raw) {
  HttpResponse r;
  r.raw = std::move(raw);
  const auto end = r.raw.find("\r\n\r\n");
  if (!r.raw.starts_with("HTTP/1.") || end == std::string::npos) return r;
  const auto sp = r.raw.find(' ');
  r.status = std::atoi(r.raw.c_str() + sp + 1);
  std::size_t pos = r.raw.find("\r\n") + 2;
  while (pos < end) {
    const auto eol = r.raw.find("\r\n", pos);
    const std::string line = r.raw.substr(pos, eol - pos);
    if (const auto colon = line.find(':'); colon != std::string::npos) {
      std::string name = line.substr(0, colon);
      for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      std::string value = line.substr(colon + 1);
      while (!value.empty() && value.front() == ' ') value.erase(value.begin());
      r.headers[name] = value;
    }
    pos = eol + 2;
  }
  r.body = r.raw.substr(end + 4);
  return r;
}

// Sends `request` verbatim and returns the parsed response.
inline HttpResponse RawRequest(std::uint16_t port, std::string_view request) {
  const int fd = Connect(port);
  if (fd < 0) return {};
  SendAll(fd, request);
  ::shutdown(fd, SHUT_WR);
  std::string raw = ReadAll(fd);
  ::close(fd);
  return ParseResponse(std::move(raw));
}

inline HttpResponse Request(std::uint16_t port, std::string_view method, std::string_view path,
                            const std::map<std::string, std::string>& headers = {},
                            std::string_view body = {}) {
  std::string req = std::string(method) + " " + std::string(path) + " HTTP/1.1\r\n";
  req += "Host: 127.0.0.1\r\nConnection: close\r\n";
  for (const auto& [k, v] : headers) req += k + ": " + v + "\r\n";
  if (!body.empty() || method == "POST" || method == "PUT") {
    req += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  }
  req += "\r\n";
  req += body;
  return RawRequest(port, req);
}

inline HttpResponse Get(std::uint16_t port, std::string_view path) {
  return Request(port, "GET", path);
}

}  // namespace bouncestream::metrics::testing

#endif  // BOUNCESTREAM_TESTS_METRICS_HTTP_CLIENT_H_
