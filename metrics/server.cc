#include "metrics/server.h"

#include <arpa/inet.h>
#include <civetweb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <condition_variable>
#include <deque>
#include <exception>
#include <map>
#include <mutex>
#include <shared_mutex>
#include <thread>
#include <utility>
#include <vector>

#include "metrics/internal/json.h"
#include "metrics/internal/status_json.h"
#include "metrics/status_page_html.h"  // generated from metrics/status_page.html

namespace bouncestream::metrics {

bool ConstantTimeEquals(std::string_view a, std::string_view b) {
  unsigned acc = a.size() == b.size() ? 0u : 1u;
  const std::size_t n = std::max(a.size(), b.size());
  for (std::size_t i = 0; i < n; ++i) {
    const auto x = static_cast<unsigned char>(i < a.size() ? a[i] : 0);
    const auto y = static_cast<unsigned char>(i < b.size() ? b[i] : 0);
    acc |= static_cast<unsigned>(x ^ y);
  }
  return acc == 0;
}

namespace {

constexpr std::string_view kJson = "application/json";
constexpr std::string_view kText = "text/plain; charset=utf-8";
constexpr std::string_view kExposition = "text/plain; version=0.0.4; charset=utf-8";
constexpr std::string_view kPageSecurity =
    "Content-Security-Policy: default-src 'none'; style-src 'unsafe-inline'; "
    "script-src 'unsafe-inline'; connect-src 'self'; img-src data:; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'\r\n";

std::int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

std::int64_t UnixMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string ErrorJson(std::string_view message) {
  std::string out = "{\"error\":";
  internal::AppendJsonString(&out, message);
  out.push_back('}');
  return out;
}

// Start-up messages of civetweb (bind failures) are collected here, on the starting thread only.
thread_local std::string* g_start_errors = nullptr;

int DropLogMessage(const mg_connection*, const char* message) {
  if (g_start_errors != nullptr && message != nullptr) {
    if (!g_start_errors->empty()) g_start_errors->append("; ");
    g_start_errors->append(message);
  }
  return 1;  // handled: civetweb writes nothing itself
}

bool IsBuiltinPath(std::string_view path) {
  return path == "/" || path == "/index.html" || path == "/metrics" || path == "/healthz" ||
         path == "/readyz" || path == "/api/status";
}

// "HOST:PORT" / "[V6]:PORT" -> civetweb's listening_ports value.
std::expected<std::string, std::string> ListeningPorts(std::string_view listen) {
  const auto colon = listen.rfind(':');
  if (colon == std::string_view::npos || colon == 0) {
    return std::unexpected("listen address must be HOST:PORT, got '" + std::string(listen) + "'");
  }
  std::string host(listen.substr(0, colon));
  const std::string_view port = listen.substr(colon + 1);
  if (port.empty() || port.size() > 5 ||
      !std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; }) ||
      std::stoi(std::string(port)) > 65535) {
    return std::unexpected("listen address: bad port '" + std::string(port) + "'");
  }
  if (host == "localhost") host = "127.0.0.1";
  if (host.front() == '[') {
    if (host.back() != ']' || host.size() < 3) {
      return std::unexpected(std::string("listen address: bad IPv6 literal"));
    }
    if (mg_check_feature(MG_FEATURES_IPV6) == 0) {
      return std::unexpected(std::string("listen address: civetweb was built without IPv6"));
    }
    if (!std::all_of(host.begin() + 1, host.end() - 1, [](char c) {
          return std::isxdigit(static_cast<unsigned char>(c)) != 0 || c == ':' || c == '.';
        })) {
      return std::unexpected(std::string("listen address: bad IPv6 literal"));
    }
  } else if (!std::all_of(host.begin(), host.end(), [](char c) {
               return (c >= '0' && c <= '9') || c == '.';
             }) ||
             std::count(host.begin(), host.end(), '.') != 3) {
    return std::unexpected("listen address: host must be an IP address (or localhost), got '" +
                           host + "'");
  }
  return host + ":" + std::string(port);
}

}  // namespace

namespace internal {

struct ServerImpl {
  ServerOptions options;
  Metrics* metrics = nullptr;
  const StatusBoard* board = nullptr;
  mg_context* ctx = nullptr;
  std::string host;  // as bound, for address()
  std::uint16_t port = 0;
  std::int64_t started_ns = NowNs();
  std::atomic<std::int64_t> heartbeat_ns{NowNs()};
  std::atomic<bool> ready{false};
  mutable std::mutex ready_mu;
  std::string ready_reason = "starting: partitions not assigned yet";
  std::shared_mutex admin_mu;
  // path -> method -> handler
  std::map<std::string, std::map<std::string, AdminHandler>, std::less<>> admin;

  // Input-rate sampler: every second, the input total; /api/status serves the rates between
  // successive samples (last 5 minutes), so the page has a history the moment it opens.
  static constexpr std::size_t kSamples = 301;
  std::mutex sample_mu;
  std::condition_variable sample_cv;
  bool sampler_stop = false;
  std::deque<std::pair<std::int64_t, double>> samples;  // (Unix ms, input total)
  std::thread sampler;

  void StartSampler() {
    sampler = std::thread([this] {
      std::unique_lock lock(sample_mu);
      while (!sampler_stop) {
        lock.unlock();
        const double total = metrics->InputRecordsTotal();
        const std::int64_t now = UnixMs();
        lock.lock();
        samples.emplace_back(now, total);
        while (samples.size() > kSamples) samples.pop_front();
        sample_cv.wait_for(lock, std::chrono::seconds(1), [this] { return sampler_stop; });
      }
    });
  }

  std::vector<std::pair<std::int64_t, double>> Rates() {
    std::lock_guard lock(sample_mu);
    std::vector<std::pair<std::int64_t, double>> rates;
    for (std::size_t i = 1; i < samples.size(); ++i) {
      const auto dt = samples[i].first - samples[i - 1].first;
      if (dt <= 0) continue;
      rates.emplace_back(samples[i].first,
                         std::max(0.0, (samples[i].second - samples[i - 1].second) * 1000.0 /
                                           static_cast<double>(dt)));
    }
    return rates;
  }

  ~ServerImpl() {
    if (sampler.joinable()) {
      {
        std::lock_guard lock(sample_mu);
        sampler_stop = true;
      }
      sample_cv.notify_all();
      sampler.join();
    }
    if (ctx == nullptr) return;
    // civetweb's master thread notices the stop flag only when its poll() on the listening
    // socket returns (every 2 s); knocking on the port makes mg_stop() return at once.
    std::atomic<bool> stopped{false};
    std::thread knocker([this, &stopped] {
      while (!stopped.load()) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
        Knock(host, port);
      }
    });
    mg_stop(ctx);
    stopped.store(true);
    knocker.join();
  }

  static void Knock(const std::string& host, std::uint16_t port) {
    sockaddr_storage addr{};
    socklen_t len = 0;
    std::string literal = host;
    if (literal.size() > 2 && literal.front() == '[') {
      literal = literal.substr(1, literal.size() - 2);
      auto* a6 = reinterpret_cast<sockaddr_in6*>(&addr);
      a6->sin6_family = AF_INET6;
      a6->sin6_port = htons(port);
      if (inet_pton(AF_INET6, literal.c_str(), &a6->sin6_addr) != 1) return;
      if (IN6_IS_ADDR_UNSPECIFIED(&a6->sin6_addr)) a6->sin6_addr = in6addr_loopback;
      len = sizeof(sockaddr_in6);
    } else {
      auto* a4 = reinterpret_cast<sockaddr_in*>(&addr);
      a4->sin_family = AF_INET;
      a4->sin_port = htons(port);
      if (inet_pton(AF_INET, literal.c_str(), &a4->sin_addr) != 1) return;
      if (a4->sin_addr.s_addr == htonl(INADDR_ANY)) a4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      len = sizeof(sockaddr_in);
    }
    const int fd = ::socket(addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return;
    ::connect(fd, reinterpret_cast<const sockaddr*>(&addr), len);
    ::close(fd);
  }

  static int Handle(mg_connection* conn, void* data) {
    auto* self = static_cast<ServerImpl*>(data);
    try {
      return self->Dispatch(conn);
    } catch (const std::exception&) {
      return Reply(conn, 500, kJson, ErrorJson("internal error"), false);
    }
  }

  static int Reply(mg_connection* conn, int status, std::string_view type, std::string_view body,
                   bool head, std::string_view extra_headers = {}) {
    std::string header = "HTTP/1.1 " + std::to_string(status) + " " +
                         mg_get_response_code_text(conn, status) + "\r\nContent-Type: ";
    header.append(type);
    header.append("\r\nContent-Length: " + std::to_string(body.size()) +
                  "\r\nCache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n"
                  "Connection: close\r\n");
    header.append(extra_headers);
    header.append("\r\n");
    mg_write(conn, header.data(), header.size());
    if (!head && !body.empty()) mg_write(conn, body.data(), body.size());
    return status;
  }

  std::int64_t HeartbeatAgeMs() const {
    return (NowNs() - heartbeat_ns.load(std::memory_order_relaxed)) / 1'000'000;
  }
  bool Healthy() const { return HeartbeatAgeMs() < options.heartbeat_limit.count(); }

  int Dispatch(mg_connection* conn) {
    const mg_request_info* ri = mg_get_request_info(conn);
    if (ri == nullptr || ri->request_method == nullptr || ri->local_uri == nullptr) {
      return Reply(conn, 400, kJson, ErrorJson("bad request"), false);
    }
    const std::string_view method = ri->request_method;
    const std::string_view path = ri->local_uri;
    const bool head = method == "HEAD";
    if (IsBuiltinPath(path)) {
      if (method != "GET" && !head) {
        return Reply(conn, 405, kJson, ErrorJson("method not allowed"), false,
                     "Allow: GET, HEAD\r\n");
      }
      return Builtin(conn, path, head);
    }
    return Admin(conn, ri, method, path);
  }

  int Builtin(mg_connection* conn, std::string_view path, bool head) {
    if (path == "/metrics") {
      auto text = metrics->Serialize();
      if (!text) return Reply(conn, 500, kText, "metrics unavailable\n", head);
      return Reply(conn, 200, kExposition, *text, head);
    }
    if (path == "/healthz") {
      const std::int64_t age = HeartbeatAgeMs();
      const bool ok = age < options.heartbeat_limit.count();
      std::string body = ok ? "{\"status\":\"ok\"" : "{\"status\":\"stale\"";
      body += ",\"heartbeat_age_ms\":" + std::to_string(age) +
              ",\"limit_ms\":" + std::to_string(options.heartbeat_limit.count()) + "}";
      return Reply(conn, ok ? 200 : 503, kJson, body, head);
    }
    if (path == "/readyz") {
      if (ready.load()) return Reply(conn, 200, kJson, "{\"ready\":true}", head);
      std::string body = "{\"ready\":false,\"reason\":";
      {
        std::lock_guard lock(ready_mu);
        internal::AppendJsonString(&body, ready_reason);
      }
      body.push_back('}');
      return Reply(conn, 503, kJson, body, head);
    }
    if (path == "/api/status") {
      internal::StatusState state;
      state.now_ms = UnixMs();
      state.uptime_ms = (NowNs() - started_ns) / 1'000'000;
      state.ready = ready.load();
      {
        std::lock_guard lock(ready_mu);
        state.ready_reason = state.ready ? std::string() : ready_reason;
      }
      state.heartbeat_age_ms = HeartbeatAgeMs();
      state.healthy = state.heartbeat_age_ms < options.heartbeat_limit.count();
      if (board != nullptr) {
        state.decisions = board->Latest();
        if (state.decisions.size() > options.status_decisions) {
          state.decisions.resize(options.status_decisions);
        }
      }
      state.input_rates = Rates();
      const std::string body = internal::BuildStatusJson(metrics->registry()->Collect(), state);
      return Reply(conn, 200, kJson, body, head);
    }
    // "/" and "/index.html"
    return Reply(conn, 200, "text/html; charset=utf-8", internal::kStatusPageHtml, head,
                 kPageSecurity);
  }

  // Reads the request body, at most max_body_bytes. False when it is larger.
  bool ReadBody(mg_connection* conn, const mg_request_info* ri, std::string* body) const {
    if (ri->content_length > 0 &&
        static_cast<unsigned long long>(ri->content_length) > options.max_body_bytes) {
      return false;
    }
    char buf[8192];
    while (true) {
      const int n = mg_read(conn, buf, sizeof buf);
      if (n <= 0) break;
      body->append(buf, static_cast<std::size_t>(n));
      if (body->size() > options.max_body_bytes) return false;
    }
    return true;
  }

  int Admin(mg_connection* conn, const mg_request_info* ri, std::string_view method,
            std::string_view path) {
    AdminHandler handler;
    bool method_known = false;
    {
      std::shared_lock lock(admin_mu);
      auto it = admin.find(path);
      if (it == admin.end()) return Reply(conn, 404, kJson, ErrorJson("not found"), false);
      if (auto h = it->second.find(std::string(method)); h != it->second.end()) {
        handler = h->second;
        method_known = true;
      }
    }
    if (options.admin_token.empty()) {
      return Reply(conn, 403, kJson,
                   ErrorJson("admin endpoints are disabled: no admin token is configured"),
                   false);
    }
    const char* auth = mg_get_header(conn, "Authorization");
    std::string_view credentials = auth == nullptr ? std::string_view() : auth;
    constexpr std::string_view kBearer = "bearer ";
    const bool is_bearer =
        credentials.size() > kBearer.size() &&
        std::equal(kBearer.begin(), kBearer.end(), credentials.begin(), [](char a, char b) {
          return a == std::tolower(static_cast<unsigned char>(b));
        });
    if (is_bearer) {
      credentials.remove_prefix(kBearer.size());
      while (!credentials.empty() && credentials.front() == ' ') credentials.remove_prefix(1);
      while (!credentials.empty() && (credentials.back() == ' ' || credentials.back() == '\t')) {
        credentials.remove_suffix(1);
      }
    }
    if (!is_bearer || credentials.empty()) {
      return Reply(conn, 401, kJson, ErrorJson("authorization required (Bearer token)"), false,
                   "WWW-Authenticate: Bearer realm=\"bouncestream-admin\"\r\n");
    }
    if (!ConstantTimeEquals(credentials, options.admin_token)) {
      return Reply(conn, 403, kJson, ErrorJson("forbidden"), false);
    }
    if (!method_known) {
      return Reply(conn, 405, kJson, ErrorJson("method not allowed"), false);
    }
    std::string body;
    if (!ReadBody(conn, ri, &body)) {
      return Reply(conn, 413, kJson, ErrorJson("request body too large"), false);
    }
    const std::string_view query = ri->query_string == nullptr ? "" : ri->query_string;
    AdminResponse response;
    try {
      response = handler(body, query);
    } catch (const std::exception&) {
      return Reply(conn, 500, kJson, ErrorJson("admin handler failed"), false);
    }
    if (response.status < 100 || response.status > 599) response.status = 500;
    return Reply(conn, response.status, kJson, response.json, false);
  }
};

}  // namespace internal

std::expected<std::unique_ptr<Server>, std::string> Server::Start(ServerOptions options,
                                                                  Metrics* metrics,
                                                                  const StatusBoard* board) {
  if (metrics == nullptr) return std::unexpected(std::string("metrics server: no Metrics"));
  auto ports = ListeningPorts(options.listen);
  if (!ports) return std::unexpected("metrics server: " + ports.error());
  static std::once_flag init_once;
  std::call_once(init_once, [] { mg_init_library(0); });

  auto impl = std::make_unique<internal::ServerImpl>();
  impl->options = std::move(options);
  impl->metrics = metrics;
  impl->board = board;
  impl->host = ports->substr(0, ports->rfind(':'));
  const std::string threads = std::to_string(std::clamp(impl->options.threads, 1, 64));
  const char* civet_options[] = {"listening_ports",    ports->c_str(),
                                 "num_threads",        threads.c_str(),
                                 "request_timeout_ms", "10000",
                                 "max_request_size",   "16384",
                                 "enable_keep_alive",  "no",
                                 nullptr};
  mg_callbacks callbacks{};
  callbacks.log_message = DropLogMessage;
  std::string errors;
  g_start_errors = &errors;
  impl->ctx = mg_start(&callbacks, impl.get(), civet_options);
  g_start_errors = nullptr;
  if (impl->ctx == nullptr) {
    return std::unexpected("metrics server: cannot listen on " + *ports +
                           (errors.empty() ? std::string() : ": " + errors));
  }
  mg_set_request_handler(impl->ctx, "/", &internal::ServerImpl::Handle, impl.get());
  mg_server_port bound[4] = {};
  const int n = mg_get_server_ports(impl->ctx, 4, bound);
  if (n < 1 || bound[0].port <= 0 || bound[0].port > 65535) {
    return std::unexpected(std::string("metrics server: cannot read the bound port"));
  }
  impl->port = static_cast<std::uint16_t>(bound[0].port);
  impl->StartSampler();
  return std::unique_ptr<Server>(new Server(std::move(impl)));
}

Server::Server(std::unique_ptr<internal::ServerImpl> impl) : impl_(std::move(impl)) {}
Server::~Server() = default;

std::uint16_t Server::port() const { return impl_->port; }
std::string Server::address() const { return impl_->host + ":" + std::to_string(impl_->port); }

void Server::Heartbeat() { impl_->heartbeat_ns.store(NowNs(), std::memory_order_relaxed); }

void Server::SetReady(bool ready, std::string reason) {
  {
    std::lock_guard lock(impl_->ready_mu);
    impl_->ready_reason = ready ? std::string() : (reason.empty() ? "not ready" : std::move(reason));
  }
  impl_->ready.store(ready);
  impl_->metrics->SetReady(ready);
}

std::expected<void, std::string> Server::AddAdminHandler(std::string method, std::string path,
                                                         AdminHandler handler) {
  if (path.empty() || path.front() != '/') {
    return std::unexpected("admin handler: path must start with '/': " + path);
  }
  if (IsBuiltinPath(path)) return std::unexpected("admin handler: " + path + " is built in");
  if (method.empty() || !handler) {
    return std::unexpected(std::string("admin handler: method and handler are required"));
  }
  std::transform(method.begin(), method.end(), method.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  std::unique_lock lock(impl_->admin_mu);
  auto& methods = impl_->admin[path];
  if (methods.contains(method)) {
    return std::unexpected("admin handler: " + method + " " + path + " is already registered");
  }
  methods.emplace(std::move(method), std::move(handler));
  return {};
}

}  // namespace bouncestream::metrics
