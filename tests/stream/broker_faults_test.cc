// Broker faults while the processor works: a 3-broker dev broker driven through its control
// socket, two `bouncestream run` instances in one group, and a deterministic stream of canonical
// events fed in chunks. During the chunks, one fault at a time is injected and cleared again:
// every broker down for a few seconds, Produce errors, Fetch errors, OffsetCommit / Heartbeat
// errors, a forced rebalance whose JoinGroups fail, partition leaders moved, and 500 ms of
// latency on every broker. After each fault the group must catch up by itself (committed offsets
// at the high watermarks of the input and the classified topic) within a bounded time, no
// processor may exit, and no log may hold an offset reset, a truncated changelog or a failed
// restore. At the end the state hash of every classified partition and the set of decision ids
// must equal those of a fault-free run of the same stream (run first, in the same test).
// Per fault the test prints the recovery time and what the logs and /metrics showed.
//
// Faults are aimed at the processors only: the input topic's single partition is led by broker
// 1, so the feeding producer never sends a Produce request to brokers 2 and 3 (where the Produce
// errors are injected), and the test's own clients never fetch, commit, join or heartbeat
// (cluster-wide error stacks are consumed by whichever connection sends that request next).
#include <arpa/inet.h>
#include <librdkafka/rdkafka.h>
#include <netinet/in.h>
#include <poll.h>
#include <simdjson.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "state/engine.h"
#include "stream/kafka_produce.h"
#include "tests/stream/child_process.h"

namespace bouncestream::stream {
namespace {

using Clock = std::chrono::steady_clock;
namespace fs = std::filesystem;
using testing::Child;
using testing::Slurp;
using testing::Spawn;

const int kRecords = [] {
  const char* v = std::getenv("FAULT_TEST_RECORDS");
  return v != nullptr ? std::atoi(v) : 32'000;
}();
constexpr int kChunk = 4'000;
constexpr int kClassifiedPartitions = 12;
constexpr int kBrokers = 3;
constexpr const char* kGroup = "bf";
// Bound on the time from clearing a fault to the group having committed everything. The mock
// needs session.timeout.ms - 1 s (5 s) per rebalance round, and a lost group can take three.
constexpr int kRecoveryBoundS = 60;

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

// ---- the stream (same generator as crash_equivalence_test, smaller) ----

struct Reply {
  const char* text;
  int code;
  const char* type;
  const char* mx;
};
constexpr Reply kReplies[] = {
    {"550 5.1.1 <{rcpt}>: Recipient address rejected: User unknown in virtual mailbox table", 550,
     "bounce", "mx.{domain}"},
    {"552 5.2.2 <{rcpt}>: Mailbox full, over quota", 552, "bounce", "mx.{domain}"},
    {"550 Envelope blocked - User Entry - https://community.mimecast.com/docs/DOC-1369#550", 550,
     "bounce", "eu-smtp-inbound-1.mimecast.com"},
    {"550 Administrative prohibition - envelope blocked - "
     "https://community.mimecast.com/docs/DOC-1369#550",
     550, "bounce", "eu-smtp-inbound-1.mimecast.com"},
    {"554 Your IP address has been blocked by a Mimecast RBL policy - spamcop - "
     "https://community.mimecast.com/docs/DOC-1369#554",
     554, "bounce", "eu-smtp-inbound-1.mimecast.com"},
    {"550 5.7.1 IP address has a poor reputation - "
     "https://community.mimecast.com/docs/DOC-1369#550",
     550, "bounce", "us-smtp-inbound-1.mimecast.com"},
    {"550 5.7.26 This mail is unauthenticated, which poses a security risk to the sender and "
     "Gmail users, and has been blocked. The sender must authenticate with at least one of SPF "
     "or DKIM.",
     550, "bounce", "gmail-smtp-in.l.google.com"},
    {"421 4.7.0 Try again later, closing connection.", 421, "deferral", "mx.{domain}"},
    {"250 2.0.0 OK", 250, "delivered", "mx.{domain}"},
    {"", 0, "complaint", ""},
};
constexpr int kWeights[] = {14, 12, 5, 8, 6, 4, 3, 22, 24, 2};

std::string Replace(std::string s, std::string_view what, std::string_view with) {
  for (auto at = s.find(what); at != std::string::npos; at = s.find(what, at + with.size())) {
    s.replace(at, what.size(), with);
  }
  return s;
}

std::vector<std::string> MakeStream() {
  std::mt19937_64 rng(20261202);
  int total = 0;
  for (int w : kWeights) total += w;
  std::vector<std::string> out;
  out.reserve(static_cast<std::size_t>(kRecords));
  const std::int64_t t0 = 1'796'032'800'000;
  for (int i = 0; i < kRecords; ++i) {
    if (i > 100 && rng() % 100 == 0) {  // a retried delivery of a recent record
      out.push_back(out[out.size() - 1 - rng() % 100]);
      continue;
    }
    int pick = static_cast<int>(rng() % static_cast<std::uint64_t>(total));
    std::size_t r = 0;
    while (pick >= kWeights[r]) pick -= kWeights[r++];
    const Reply& reply = kReplies[r];
    const std::string domain = "d" + std::to_string(rng() % 300) + ".example";
    const std::string rcpt = "u" + std::to_string(rng() % 40) + "@" + domain;
    const int tenant = static_cast<int>(rng() % 3);
    const std::string sender =
        "news" + std::to_string(rng() % 2) + "@t" + std::to_string(tenant) + ".example";
    const std::string ip = "192.0.2." + std::to_string(10 + rng() % 6);
    out.push_back("{\"id\":\"bf-" + std::to_string(i) + "\",\"time\":" +
                  std::to_string(t0 + static_cast<std::int64_t>(i) * 60) + ",\"tenant\":\"t" +
                  std::to_string(tenant) + "\",\"sender\":\"" + sender + "\",\"recipient\":\"" +
                  rcpt + "\",\"mx\":\"" + Replace(reply.mx, "{domain}", domain) +
                  "\",\"remote_ip\":\"\",\"sending_ip\":\"" + ip +
                  "\",\"smtp_code\":" + std::to_string(reply.code) +
                  ",\"enhanced_code\":\"\",\"text\":\"" + Replace(reply.text, "{rcpt}", rcpt) +
                  "\",\"type\":\"" + reply.type + "\"}");
  }
  return out;
}

// ---- small clients: librdkafka, the control socket, /metrics ----

rd_kafka_t* NewClient(rd_kafka_type_t type,
                      const std::vector<std::pair<std::string, std::string>>& props) {
  char err[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  for (const auto& [k, v] : props) {
    if (rd_kafka_conf_set(conf, k.c_str(), v.c_str(), err, sizeof err) != RD_KAFKA_CONF_OK) {
      ADD_FAILURE() << k << ": " << err;
    }
  }
  rd_kafka_t* rk = rd_kafka_new(type, conf, err, sizeof err);
  EXPECT_NE(rk, nullptr) << err;
  return rk;
}

// One command over the dev broker's control socket; returns its reply line.
std::string Control(const fs::path& sock, const std::string& cmd) {
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return "<no socket>";
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, sock.c_str(), sizeof(addr.sun_path) - 1);
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    return "<no connection>";
  }
  const std::string line = cmd + "\n";
  if (::send(fd, line.data(), line.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(line.size())) {
    ::close(fd);
    return "<send failed>";
  }
  std::string buf;
  const auto deadline = Clock::now() + std::chrono::seconds(5);
  while (buf.find('\n') == std::string::npos && Clock::now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) continue;
    char tmp[512];
    const ssize_t n = ::recv(fd, tmp, sizeof tmp, 0);
    if (n <= 0) break;
    buf.append(tmp, static_cast<std::size_t>(n));
  }
  ::close(fd);
  const auto nl = buf.find('\n');
  return nl == std::string::npos ? "<no reply>" : buf.substr(0, nl);
}

// GET http://127.0.0.1:port/path; the body, or "" on any failure.
std::string HttpGet(int port, const std::string& path) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return "";
  timeval tv{3, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return "";
  }
  const std::string req = "GET " + path + " HTTP/1.0\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
  ::send(fd, req.data(), req.size(), MSG_NOSIGNAL);
  std::string out;
  char buf[8192];
  for (;;) {
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  const auto body = out.find("\r\n\r\n");
  return body == std::string::npos ? "" : out.substr(body + 4);
}

// Sum of every sample of `name` (all label sets) in a Prometheus text exposition.
double MetricSum(const std::string& text, const std::string& name) {
  double sum = 0;
  std::size_t at = 0;
  while (at < text.size()) {
    const std::size_t end = std::min(text.find('\n', at), text.size());
    const std::string_view line(text.data() + at, end - at);
    if (line.starts_with(name) && line.size() > name.size() &&
        (line[name.size()] == ' ' || line[name.size()] == '{')) {
      const auto sp = line.rfind(' ');
      sum += std::strtod(std::string(line.substr(sp + 1)).c_str(), nullptr);
    }
    at = end + 1;
  }
  return sum;
}

double MetricMax(const std::string& text, const std::string& name) {
  double mx = 0;
  std::size_t at = 0;
  while (at < text.size()) {
    const std::size_t end = std::min(text.find('\n', at), text.size());
    const std::string_view line(text.data() + at, end - at);
    if (line.starts_with(name) && line.size() > name.size() &&
        (line[name.size()] == ' ' || line[name.size()] == '{')) {
      const auto sp = line.rfind(' ');
      mx = std::max(mx, std::strtod(std::string(line.substr(sp + 1)).c_str(), nullptr));
    }
    at = end + 1;
  }
  return mx;
}

// The metrics port a processor logged ("serving metrics, …","address":"127.0.0.1:PORT").
int MetricsPort(const std::string& log) {
  const auto at = log.rfind("\"msg\":\"serving metrics, status page and health checks\"");
  if (at == std::string::npos) return -1;
  const std::string key = "\"address\":\"127.0.0.1:";
  const auto a = log.find(key, at);
  if (a == std::string::npos) return -1;
  return std::atoi(log.c_str() + a + key.size());
}

// ---- the run ----

struct FaultReport {
  std::string name;
  std::string injected;      // the control commands
  double held_s = 0;         // fault active
  double recovery_s = 0;     // from clearing it to everything committed
  double during_s = -1;      // caught up while the fault was still active, after this long
  int warn_lines = 0;        // new warn/error log lines (all processors) during the fault
  std::set<std::string> warn_kinds;  // their msg (and librdkafka facility)
  double rebalances = 0, delivery_errors = 0, offset_resets = 0, max_lag = 0;  // metric deltas / max
  bool metrics_ok = true;
};

struct RunResult {
  std::map<std::int32_t, std::string> hash;
  std::map<std::int32_t, std::int64_t> watermark;
  std::set<std::string> decision_ids;
  std::int64_t decision_records = 0;
  std::int64_t classified_records = 0;  // sum of the classified topic's high watermarks
  std::vector<FaultReport> faults;
  double seconds = 0;
  // Classified topic: per partition, event ids in order of first occurrence; all ids seen.
  std::map<std::int32_t, std::vector<std::string>> first_order;
  std::set<std::string> classified_ids;
  // Changelog: batches whose records are not contiguous (another batch's record in between).
  int interleaved_batches = 0;
  std::string interleave_example;
};

class Cluster {
 public:
  Cluster(const fs::path& dir, int instances) : dir_(dir), procs_(static_cast<std::size_t>(instances)) {
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    std::ofstream cfg(dir_ / "bouncestream.toml");
    cfg << "batch_max_messages = 2000\n"
           "[policy]\n"
           "soft_bounce_count = 3\nsoft_bounce_window = \"1h\"\nsoft_suppress_ttl = \"30m\"\n"
           "end_user_suppress_ttl = \"20m\"\n"
           "admin_block_distinct_recipients = 3\nadmin_block_window = \"30m\"\n"
           "domain_pause_ttl = \"15m\"\n"
           "platform_block_count = 5\nplatform_block_window = \"10m\"\nip_pause_ttl = \"10m\"\n"
           "alert_ttl = \"10m\"\n"
           "[kafka.producer]\n\"compression.type\" = \"lz4\"\n";
  }
  ~Cluster() {
    for (auto& p : procs_) p.Kill();
    for (rd_kafka_t* rk : {producer_, offsets_}) {
      if (rk != nullptr) rd_kafka_destroy(rk);
    }
    broker_.Terminate(5000);
  }

  const fs::path& sock() const { return sock_; }

  void Start() {
    const std::string parts = ":" + std::to_string(kClassifiedPartitions);
    sock_ = dir_ / "ctl.sock";
    Spawn(&broker_,
          {"devbroker", "--brokers", std::to_string(kBrokers), "--port", "0", "--control",
           sock_.string(), "--topic", "in:1", "--topic", "bouncestream.classified" + parts,
           "--topic", std::string(kGroup) + "-state-changelog" + parts, "--topic",
           "bouncestream.suppressions:8", "--topic", "bouncestream.blocks:2", "--topic",
           "bouncestream.alerts:2", "--topic", "bouncestream.dlq:1", "--topic",
           "bouncestream.audit:1", "--topic", "bouncestream.admin:1", "--bootstrap-file",
           (dir_ / "bs").string()},
          (dir_ / "broker.log").string());
    const auto deadline = Clock::now() + std::chrono::seconds(20);
    while (Clock::now() < deadline && (bootstrap_.empty() || Control(sock_, "ping") != "OK")) {
      std::ifstream in(dir_ / "bs");
      std::getline(in, bootstrap_);
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    ASSERT_FALSE(bootstrap_.empty()) << Slurp((dir_ / "broker.log").string());
    ASSERT_EQ(Control(sock_, "ping"), "OK");
    // Pin leaders: the input on broker 1 (see the top of the file), the classified partitions
    // spread over all brokers.
    ASSERT_EQ(Control(sock_, "leader in 0 1"), "OK");
    for (int p = 0; p < kClassifiedPartitions; ++p) {
      ASSERT_EQ(Control(sock_, "leader bouncestream.classified " + std::to_string(p) + " " +
                                   std::to_string(p % kBrokers + 1)),
                "OK");
    }
    // The test's clients log only critical lines (their connection errors while the brokers
    // are down are expected), and refresh metadata often: a watermark query is not retried
    // against a moved leader until the metadata is refreshed.
    producer_ = NewClient(RD_KAFKA_PRODUCER, {{"bootstrap.servers", bootstrap_},
                                              {"linger.ms", "5"},
                                              {"enable.idempotence", "true"},
                                              {"log_level", "2"}});
    offsets_ = NewClient(RD_KAFKA_CONSUMER, {{"bootstrap.servers", bootstrap_},
                                             {"group.id", kGroup},
                                             {"enable.auto.commit", "false"},
                                             {"topic.metadata.refresh.interval.ms", "1000"},
                                             {"log_level", "2"}});
    for (std::size_t i = 0; i < procs_.size(); ++i) StartProcessor(i);
  }

  void StartProcessor(std::size_t i) {
    Spawn(&procs_[i],
          {"run", "--config", (dir_ / "bouncestream.toml").string(), "--bootstrap", bootstrap_,
           "--group", kGroup, "--input", "in:canonical", "--state-dir",
           (dir_ / ("state" + std::to_string(i))).string(), "--metrics-addr", "127.0.0.1:0"},
          (dir_ / ("processor" + std::to_string(i) + ".log")).string());
  }

  // Fails (once per processor) if a processor has exited.
  void ExpectAlive(const std::string& when) {
    for (std::size_t i = 0; i < procs_.size(); ++i) {
      if (procs_[i].pid <= 0) continue;
      int status = 0;
      if (::waitpid(procs_[i].pid, &status, WNOHANG) == procs_[i].pid) {
        procs_[i].pid = -1;
        const std::string log = Slurp(procs_[i].log);
        ADD_FAILURE() << "processor " << i << " exited (" << when << ", status "
                      << (WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status))
                      << "); log tail:\n"
                      << log.substr(log.size() > 3000 ? log.size() - 3000 : 0);
      }
    }
  }

  // Waits until the live processors together hold all 13 partitions (input + classified), each
  // from its latest assignment with no revoke after it.
  void WaitBalanced(int timeout_s) {
    const auto deadline = Clock::now() + std::chrono::seconds(timeout_s);
    const std::string key = "\"msg\":\"partitions assigned\",\"count\":";
    while (Clock::now() < deadline) {
      int total = 0;
      bool all = true;
      for (const auto& p : procs_) {
        const std::string log = Slurp(p.log);
        const auto assigned = log.rfind(key);
        const auto revoked = std::max(log.rfind("partitions revoked") == std::string::npos
                                          ? 0
                                          : log.rfind("partitions revoked") + 1,
                                      log.rfind("partitions lost") == std::string::npos
                                          ? 0
                                          : log.rfind("partitions lost") + 1);
        if (assigned == std::string::npos || revoked > assigned) {
          all = false;
          break;
        }
        total += std::atoi(log.c_str() + assigned + key.size());
      }
      if (all && total == 1 + kClassifiedPartitions) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    FAIL() << "the group never settled; logs in " << dir_;
  }

  void Feed(const std::vector<std::string>& stream, int from, int to) {
    for (int i = from; i < to; ++i) {
      for (;;) {
        const auto e = ProduceCopy(producer_, "in", {}, stream[static_cast<std::size_t>(i)]);
        if (e == RD_KAFKA_RESP_ERR_NO_ERROR) break;
        ASSERT_EQ(e, RD_KAFKA_RESP_ERR__QUEUE_FULL);
        rd_kafka_poll(producer_, 10);
      }
    }
    ASSERT_EQ(rd_kafka_flush(producer_, 60000), RD_KAFKA_RESP_ERR_NO_ERROR);
  }

  // True when the group has committed everything of the input and the classified topic.
  bool CaughtUp(std::string* why = nullptr, std::int64_t* classified_high = nullptr) {
    rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(16);
    rd_kafka_topic_partition_list_add(list, "in", 0);
    for (int p = 0; p < kClassifiedPartitions; ++p) {
      rd_kafka_topic_partition_list_add(list, "bouncestream.classified", p);
    }
    bool done = rd_kafka_committed(offsets_, list, 3000) == RD_KAFKA_RESP_ERR_NO_ERROR;
    if (!done && why != nullptr) *why = "committed offsets lookup failed";
    std::int64_t sum = 0;
    for (int i = 0; done && i < list->cnt; ++i) {
      std::int64_t low = 0, high = 0;
      const rd_kafka_resp_err_t e = rd_kafka_query_watermark_offsets(
          offsets_, list->elems[i].topic, list->elems[i].partition, &low, &high, 3000);
      if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
        done = false;
        if (why != nullptr) {
          *why = std::string("watermark lookup failed: ") + rd_kafka_err2name(e) + " on " +
                 list->elems[i].topic + "[" + std::to_string(list->elems[i].partition) + "]";
        }
        break;
      }
      if (i > 0) sum += high;
      const std::int64_t committed = list->elems[i].offset;
      if (!(committed == high || (committed < 0 && high == 0))) {
        done = false;
        if (why != nullptr) {
          *why = std::string(list->elems[i].topic) + "[" +
                 std::to_string(list->elems[i].partition) + "] committed " +
                 std::to_string(committed) + ", high " + std::to_string(high);
        }
      }
    }
    rd_kafka_topic_partition_list_destroy(list);
    if (done && classified_high != nullptr) *classified_high = sum;
    return done;
  }

  // Seconds until caught up (fails after `timeout_s`).
  double WaitCaughtUp(int timeout_s) {
    const auto t0 = Clock::now();
    const auto deadline = t0 + std::chrono::seconds(timeout_s);
    while (Clock::now() < deadline) {
      if (CaughtUp()) return Seconds(Clock::now() - t0);
      ExpectAlive("waiting to catch up");
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    std::string why;
    CaughtUp(&why);
    ADD_FAILURE() << "the processors did not catch up within " << timeout_s << " s (" << why
                  << "); logs in " << dir_;
    return timeout_s;
  }

  std::vector<std::string> ScrapeMetrics() {
    std::vector<std::string> out;
    for (const auto& p : procs_) {
      const int port = MetricsPort(Slurp(p.log));
      out.push_back(p.pid <= 0 ? "-" : port > 0 ? HttpGet(port, "/metrics") : "");  // "-": exited
    }
    return out;
  }

  std::vector<std::size_t> LogSizes() {
    std::vector<std::size_t> out;
    for (const auto& p : procs_) out.push_back(Slurp(p.log).size());
    return out;
  }

  // New warn/error lines since `sizes`.
  void CountWarnings(const std::vector<std::size_t>& sizes, FaultReport* r) {
    for (std::size_t i = 0; i < procs_.size(); ++i) {
      const std::string log = Slurp(procs_[i].log);
      std::size_t at = std::min(sizes[i], log.size());
      while (at < log.size()) {
        const std::size_t end = std::min(log.find('\n', at), log.size());
        const std::string line = log.substr(at, end - at);
        at = end + 1;
        if (line.find("\"level\":\"warn\"") == std::string::npos &&
            line.find("\"level\":\"error\"") == std::string::npos) {
          continue;
        }
        ++r->warn_lines;
        auto field = [&line](const std::string& k) {
          const auto a = line.find("\"" + k + "\":\"");
          if (a == std::string::npos) return std::string();
          const auto b = a + k.size() + 4;
          return line.substr(b, std::min<std::size_t>(line.find('"', b) - b, 60));
        };
        std::string kind = field("msg");
        if (kind == "librdkafka") kind += "/" + field("facility");
        r->warn_kinds.insert(kind);
      }
    }
  }

  void Stop() {
    for (auto& p : procs_) {
      if (p.pid > 0) {
        EXPECT_EQ(p.Terminate(30000), 0) << "processor did not stop cleanly: " << p.log;
      }
    }
  }

  // Decision ids on the three decision topics, read from the beginning (after Stop).
  void ReadDecisions(RunResult* out) {
    rd_kafka_t* c = NewClient(RD_KAFKA_CONSUMER, {{"bootstrap.servers", bootstrap_},
                                                  {"group.id", "bf-watcher"},
                                                  {"enable.auto.commit", "false"},
                                                  {"auto.offset.reset", "error"},
                                                  {"fetch.wait.max.ms", "20"}});
    struct T {
      const char* name;
      int parts;
    };
    const T topics[] = {{"bouncestream.suppressions", 8}, {"bouncestream.blocks", 2},
                        {"bouncestream.alerts", 2}};
    rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(12);
    std::int64_t expected = 0;
    for (const auto& t : topics) {
      for (int p = 0; p < t.parts; ++p) {
        rd_kafka_topic_partition_list_add(list, t.name, p)->offset = RD_KAFKA_OFFSET_BEGINNING;
        std::int64_t low = 0, high = 0;
        ASSERT_EQ(rd_kafka_query_watermark_offsets(c, t.name, p, &low, &high, 5000),
                  RD_KAFKA_RESP_ERR_NO_ERROR);
        EXPECT_EQ(low, 0) << t.name << "[" << p << "] lost its beginning (retention)";
        expected += high - low;
      }
    }
    ASSERT_EQ(rd_kafka_assign(c, list), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_topic_partition_list_destroy(list);
    simdjson::ondemand::parser parser;
    std::string buf;
    const auto deadline = Clock::now() + std::chrono::seconds(60);
    while (out->decision_records < expected && Clock::now() < deadline) {
      rd_kafka_message_t* m = rd_kafka_consumer_poll(c, 50);
      if (m == nullptr) continue;
      if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        EXPECT_NE(m->err, RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET) << rd_kafka_message_errstr(m);
        rd_kafka_message_destroy(m);
        continue;
      }
      ++out->decision_records;
      if (m->payload != nullptr) {
        buf.assign(static_cast<const char*>(m->payload), m->len);
        buf.reserve(buf.size() + simdjson::SIMDJSON_PADDING);
        simdjson::ondemand::document doc;
        std::string_view id;
        if (!parser.iterate(buf.data(), buf.size(), buf.capacity()).get(doc) &&
            !doc["decision_id"].get_string().get(id)) {
          out->decision_ids.insert(std::string(id));
        } else {
          ADD_FAILURE() << "decision record without decision_id: " << buf.substr(0, 200);
        }
      }
      rd_kafka_message_destroy(m);
    }
    EXPECT_EQ(out->decision_records, expected) << "decision records not read back in time";
    rd_kafka_consumer_close(c);
    rd_kafka_destroy(c);
  }

  // Reads partitions [0, parts) of `topic` from the beginning to their high watermarks.
  void ReadTopic(const std::string& topic, int parts,
                 const std::function<void(const rd_kafka_message_t*)>& fn) {
    rd_kafka_t* c = NewClient(RD_KAFKA_CONSUMER, {{"bootstrap.servers", bootstrap_},
                                                  {"group.id", "bf-reader"},
                                                  {"enable.auto.commit", "false"},
                                                  {"enable.partition.eof", "true"},
                                                  {"auto.offset.reset", "error"},
                                                  {"fetch.wait.max.ms", "20"}});
    rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(parts);
    int open = 0;
    for (int p = 0; p < parts; ++p) {
      std::int64_t low = 0, high = 0;
      ASSERT_EQ(rd_kafka_query_watermark_offsets(c, topic.c_str(), p, &low, &high, 5000),
                RD_KAFKA_RESP_ERR_NO_ERROR);
      EXPECT_EQ(low, 0) << topic << "[" << p << "] lost its beginning (retention)";
      if (high == 0) continue;
      rd_kafka_topic_partition_list_add(list, topic.c_str(), p)->offset = RD_KAFKA_OFFSET_BEGINNING;
      ++open;
    }
    ASSERT_EQ(rd_kafka_assign(c, list), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_topic_partition_list_destroy(list);
    const auto deadline = Clock::now() + std::chrono::seconds(60);
    while (open > 0 && Clock::now() < deadline) {
      rd_kafka_message_t* m = rd_kafka_consumer_poll(c, 50);
      if (m == nullptr) continue;
      if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
        --open;
      } else if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        ADD_FAILURE() << topic << ": " << rd_kafka_message_errstr(m);
      } else {
        fn(m);
      }
      rd_kafka_message_destroy(m);
    }
    EXPECT_EQ(open, 0) << topic << " not read to its end in time";
    rd_kafka_consumer_close(c);
    rd_kafka_destroy(c);
  }

  void ReadClassified(RunResult* out) {
    simdjson::ondemand::parser parser;
    std::string buf;
    std::map<std::int32_t, std::set<std::string>> seen;
    ReadTopic("bouncestream.classified", kClassifiedPartitions, [&](const rd_kafka_message_t* m) {
      buf.assign(static_cast<const char*>(m->payload), m->len);
      buf.reserve(buf.size() + simdjson::SIMDJSON_PADDING);
      simdjson::ondemand::document doc;
      std::string_view id;
      if (parser.iterate(buf.data(), buf.size(), buf.capacity()).get(doc) ||
          doc["id"].get_string().get(id)) {
        ADD_FAILURE() << "classified record without id";
        return;
      }
      std::string ids(id);
      out->classified_ids.insert(ids);
      if (seen[m->partition].insert(ids).second) out->first_order[m->partition].push_back(ids);
    });
  }

  // Every changelog batch must be contiguous: its records, then its marker.
  void ReadChangelog(RunResult* out) {
    std::map<std::int32_t, std::string> current;  // partition -> batch id of the previous record
    std::map<std::int32_t, std::set<std::string>> closed;
    ReadTopic(std::string(kGroup) + "-state-changelog", kClassifiedPartitions,
              [&](const rd_kafka_message_t* m) {
                rd_kafka_headers_t* h = nullptr;
                const void* hv = nullptr;
                std::size_t hs = 0;
                std::string batch;
                if (rd_kafka_message_headers(m, &h) == RD_KAFKA_RESP_ERR_NO_ERROR &&
                    rd_kafka_header_get_last(h, "bouncestream.batch", &hv, &hs) ==
                        RD_KAFKA_RESP_ERR_NO_ERROR) {
                  batch.assign(static_cast<const char*>(hv), hs);
                }
                std::string& cur = current[m->partition];
                if (batch != cur && closed[m->partition].contains(batch)) {
                  // a record of a batch that another batch's records interrupted
                  if (out->interleaved_batches++ == 0) {
                    out->interleave_example = "changelog[" + std::to_string(m->partition) +
                                              "] offset " + std::to_string(m->offset) +
                                              ": batch " + batch + " resumes after " + cur;
                  }
                }
                if (batch != cur) {
                  if (!cur.empty()) closed[m->partition].insert(cur);
                  cur = batch;
                }
              });
  }

  void ReadState(RunResult* out) {
    std::map<std::int32_t, std::int64_t> best;
    state::SystemClock clock;
    for (std::size_t i = 0; i < procs_.size(); ++i) {
      const fs::path dir = dir_ / ("state" + std::to_string(i));
      if (!fs::exists(dir)) continue;
      state::EngineOptions o;
      o.dir = dir.string();
      o.read_only = true;
      o.clock = &clock;
      auto engine = state::Engine::Open(o);
      ASSERT_TRUE(engine.has_value()) << engine.error();
      for (const auto& s : (*engine)->Summaries()) {
        if (s.next_offset > best[s.partition] || !out->hash.contains(s.partition)) {
          best[s.partition] = s.next_offset;
          out->hash[s.partition] = s.hash;
          out->watermark[s.partition] = s.watermark_ms;
        }
      }
    }
  }

  void ExpectCleanLogs() {
    for (std::size_t i = 0; i < procs_.size(); ++i) {
      const std::string log = Slurp(procs_[i].log);
      for (const char* bad : {"offset reset", "changelog truncated", "restore failed",
                              "stopping after a fatal error"}) {
        EXPECT_EQ(log.find(bad), std::string::npos)
            << "processor " << i << " logged '" << bad << "': " << procs_[i].log;
      }
    }
  }

 private:
  fs::path dir_;
  fs::path sock_;
  Child broker_;
  std::vector<Child> procs_;
  std::string bootstrap_;
  rd_kafka_t* producer_ = nullptr;
  rd_kafka_t* offsets_ = nullptr;
};

// A fault: control commands before the chunk is fed (`arm`, for request errors that the next
// requests consume), after it is fed (`start`, while the chunk is processed), how long it stays,
// and the commands that clear it.
struct Fault {
  std::string name;
  std::vector<std::string> arm;
  std::vector<std::string> start;
  int hold_ms = 0;
  std::vector<std::string> clear;
  bool expect_warnings = false;
};

std::vector<std::string> All(const std::string& fmt) {  // "down {}" for every broker
  std::vector<std::string> out;
  for (int b = 1; b <= kBrokers; ++b) out.push_back(Replace(fmt, "{}", std::to_string(b)));
  return out;
}

std::vector<Fault> Faults() {
  std::vector<Fault> f;
  f.push_back({"all brokers down 4 s", {}, All("down {}"), 4000, All("up {}"), true});
  f.push_back({"Produce errors (brokers 2, 3)",
               {"berr 2 Produce NOT_ENOUGH_REPLICAS 0 REQUEST_TIMED_OUT 200 _TRANSPORT 0 "
                "NOT_LEADER_FOR_PARTITION 0 NOT_ENOUGH_REPLICAS 0",
                "berr 3 Produce NOT_ENOUGH_REPLICAS 0 REQUEST_TIMED_OUT 200 _TRANSPORT 0 "
                "NOT_LEADER_FOR_PARTITION 0 NOT_ENOUGH_REPLICAS 0"},
               {},
               3000,
               {},
               false});
  f.push_back({"Fetch errors",
               {"err Fetch NOT_LEADER_FOR_PARTITION UNKNOWN_TOPIC_OR_PART _TRANSPORT "
                "REQUEST_TIMED_OUT NOT_LEADER_FOR_PARTITION _TRANSPORT"},
               {},
               3000,
               {"clear Fetch"},
               false});
  f.push_back({"OffsetCommit and Heartbeat errors",
               {"err OffsetCommit NOT_COORDINATOR COORDINATOR_LOAD_IN_PROGRESS REQUEST_TIMED_OUT "
                "COORDINATOR_NOT_AVAILABLE NOT_COORDINATOR",
                "err Heartbeat NOT_COORDINATOR COORDINATOR_NOT_AVAILABLE"},
               {},
               3000,
               {"clear OffsetCommit", "clear Heartbeat"},
               false});
  f.push_back({"forced rebalance, JoinGroup errors",
               {"err JoinGroup COORDINATOR_LOAD_IN_PROGRESS NOT_COORDINATOR",
                "err Heartbeat REBALANCE_IN_PROGRESS"},
               {},
               3000,
               {"clear JoinGroup", "clear Heartbeat"},
               false});
  {
    Fault lead{"leaders moved (input 1->2, classified +1)", {}, {"leader in 0 2"}, 3000, {}, false};
    for (int p = 0; p < kClassifiedPartitions; ++p) {
      lead.start.push_back("leader bouncestream.classified " + std::to_string(p) + " " +
                           std::to_string((p + 1) % kBrokers + 1));
    }
    f.push_back(lead);
  }
  f.push_back({"rtt 500 ms on every broker for 8 s", {}, All("rtt {} 500"), 8000, All("rtt {} 0"),
               false});
  // FAULT_TEST_ONLY=SUBSTRING keeps only the faults whose name contains it (for experiments).
  if (const char* only = std::getenv("FAULT_TEST_ONLY"); only != nullptr) {
    std::erase_if(f, [only](const Fault& x) { return x.name.find(only) == std::string::npos; });
  }
  return f;
}

RunResult RunStream(const std::vector<std::string>& stream, const fs::path& dir, int instances,
                    bool faults) {
  const auto t_begin = Clock::now();
  RunResult result;
  Cluster c(dir, instances);
  c.Start();
  if (::testing::Test::HasFatalFailure()) return result;
  c.WaitBalanced(60);
  const std::vector<Fault> plan = faults ? Faults() : std::vector<Fault>{};
  const int chunks = (kRecords + kChunk - 1) / kChunk;
  EXPECT_GE(chunks, static_cast<int>(plan.size()) + 1);
  for (int chunk = 0; chunk < chunks && !::testing::Test::HasFatalFailure(); ++chunk) {
    const int from = chunk * kChunk;
    const int to = std::min(kRecords, from + kChunk);
    // Chunk 0 has no fault (baseline); fault k goes with chunk k.
    const Fault* f = chunk >= 1 && chunk - 1 < static_cast<int>(plan.size()) ? &plan[chunk - 1]
                                                                           : nullptr;
    if (f == nullptr) {
      c.Feed(stream, from, to);
      const double s = c.WaitCaughtUp(120);
      std::printf("[%s] chunk %d/%d: no fault, caught up in %.1f s\n", dir.filename().c_str(),
                  chunk + 1, chunks, s);
      std::fflush(stdout);
      continue;
    }
    FaultReport r;
    r.name = f->name;
    const auto before = c.ScrapeMetrics();
    const auto sizes = c.LogSizes();
    for (const auto& cmd : f->arm) {
      EXPECT_EQ(Control(c.sock(), cmd), "OK") << cmd;
      r.injected += (r.injected.empty() ? "" : "; ") + cmd;
    }
    const auto t_fault = Clock::now();
    c.Feed(stream, from, to);
    for (const auto& cmd : f->start) {
      EXPECT_EQ(Control(c.sock(), cmd), "OK") << cmd;
      r.injected += (r.injected.empty() ? "" : "; ") + cmd;
    }
    // Hold the fault, checking that nobody exited and whether the chunk is done anyway.
    while (Clock::now() - t_fault < std::chrono::milliseconds(f->hold_ms)) {
      if (r.during_s < 0 && c.CaughtUp()) r.during_s = Seconds(Clock::now() - t_fault);
      c.ExpectAlive(f->name);
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    c.ExpectAlive(f->name);
    double max_lag = 0;
    for (const auto& m : c.ScrapeMetrics()) {
      max_lag = std::max(max_lag, MetricMax(m, "bouncestream_consumer_lag_messages"));
    }
    for (const auto& cmd : f->clear) EXPECT_EQ(Control(c.sock(), cmd), "OK") << cmd;
    r.held_s = Seconds(Clock::now() - t_fault);
    r.recovery_s = c.WaitCaughtUp(kRecoveryBoundS);
    EXPECT_LE(r.recovery_s, kRecoveryBoundS) << f->name;
    c.ExpectAlive(f->name + " (after recovery)");
    std::this_thread::sleep_for(std::chrono::milliseconds(1200));  // gauges update every 1 s
    const auto after = c.ScrapeMetrics();
    for (std::size_t i = 0; i < after.size(); ++i) {
      if (before[i] == "-" || after[i] == "-") continue;  // exited (reported already)
      if (before[i].empty() || after[i].empty()) {
        r.metrics_ok = false;
        continue;
      }
      r.rebalances += MetricSum(after[i], "bouncestream_rebalances_total") -
                      MetricSum(before[i], "bouncestream_rebalances_total");
      r.delivery_errors += MetricSum(after[i], "bouncestream_producer_delivery_errors_total") -
                           MetricSum(before[i], "bouncestream_producer_delivery_errors_total");
      r.offset_resets += MetricSum(after[i], "bouncestream_offset_resets_total");
      max_lag = std::max(max_lag, MetricMax(after[i], "bouncestream_consumer_lag_messages"));
    }
    r.max_lag = max_lag;
    EXPECT_TRUE(r.metrics_ok) << f->name << ": /metrics could not be scraped";
    EXPECT_EQ(r.offset_resets, 0) << f->name;
    c.CountWarnings(sizes, &r);
    if (f->expect_warnings) {
      EXPECT_GT(r.warn_lines, 0) << f->name << ": no warning logged";
    }
    std::string kinds;
    for (const auto& k : r.warn_kinds) kinds += (kinds.empty() ? "" : ", ") + k;
    const std::string during =
        r.during_s >= 0 ? " (chunk done while faulted, after " + std::to_string(r.during_s).substr(0, 4) + " s)"
                        : "";
    std::printf("[%s] chunk %d/%d: %s: held %.1f s, recovered %.1f s after clearing%s; "
                "%d warn/error lines [%s]; metrics: rebalances +%.0f, delivery errors +%.0f, "
                "max consumer lag %.0f\n",
                dir.filename().c_str(), chunk + 1, chunks, f->name.c_str(), r.held_s,
                r.recovery_s, during.c_str(), r.warn_lines, kinds.c_str(), r.rebalances, r.delivery_errors,
                r.max_lag);
    std::fflush(stdout);
    result.faults.push_back(std::move(r));
  }
  c.ExpectAlive("end of stream");
  std::string why;
  EXPECT_TRUE(c.CaughtUp(&why, &result.classified_records)) << why;
  c.Stop();
  c.ExpectCleanLogs();
  c.ReadDecisions(&result);
  c.ReadClassified(&result);
  c.ReadChangelog(&result);
  c.ReadState(&result);
  result.seconds = Seconds(Clock::now() - t_begin);
  return result;
}

// Found with this test and fixed: on the dev broker the idempotent producer lost and reordered
// classified records under Produce errors (the mock checks no sequence numbers for
// non-transactional producers); the processor's dev profile now keeps one Produce request in
// flight per connection (stream/processor.cc, tests/RELIABILITY.md). The classified-topic checks
// below (no event id lost, same order of first occurrences) name such a loss directly.
TEST(BrokerFaultsTest, ProcessorsRecoverFromEveryFaultWithTheSameStateAndDecisions) {
  const std::vector<std::string> stream = MakeStream();
  const fs::path base = fs::path("/tmp") / ("bs_faults_" + std::to_string(getpid()));
  const RunResult calm = RunStream(stream, base / "calm", 1, false);
  ASSERT_FALSE(::testing::Test::HasFailure());
  const RunResult faulty = RunStream(stream, base / "faulty", 2, true);
  ASSERT_FALSE(::testing::Test::HasFatalFailure());

  ASSERT_EQ(calm.hash.size(), static_cast<std::size_t>(kClassifiedPartitions));
  EXPECT_EQ(faulty.hash, calm.hash) << "the state differs after broker faults";
  EXPECT_EQ(faulty.watermark, calm.watermark);
  EXPECT_EQ(faulty.decision_ids, calm.decision_ids) << "the decisions differ after broker faults";
  {
    std::string lost;
    int n = 0;
    for (const auto& id : calm.classified_ids) {
      if (!faulty.classified_ids.contains(id) && n++ < 20) lost += " " + id;
    }
    EXPECT_EQ(n, 0) << "classified records lost:" << lost;
  }
  for (const auto& [p, order] : calm.first_order) {
    static const std::vector<std::string> kNone;
    const auto it = faulty.first_order.find(p);
    const auto& f = it != faulty.first_order.end() ? it->second : kNone;
    std::size_t i = 0;
    while (i < order.size() && i < f.size() && order[i] == f[i]) ++i;
    EXPECT_TRUE(f == order) << "classified[" << p << "]: order of first occurrences differs at "
                        << i << " of " << order.size() << " ("
                        << (i < order.size() ? order[i] : "-") << " vs "
                        << (i < f.size() ? f[i] : "-") << ")";
  }
  EXPECT_EQ(faulty.interleaved_batches, 0) << faulty.interleave_example;
  EXPECT_EQ(calm.interleaved_batches, 0) << calm.interleave_example;
  EXPECT_GT(calm.decision_ids.size(), 100u);
  if (std::getenv("FAULT_TEST_ONLY") == nullptr) {
    EXPECT_GE(faulty.faults.size(), 7u);
  }
  std::printf("events %d; decisions %zu; classified records: calm %lld, faulty %lld "
              "(duplicates %lld); decision records: calm %lld, faulty %lld (duplicates %lld); "
              "run time: calm %.0f s, faulty %.0f s\n",
              kRecords, calm.decision_ids.size(), static_cast<long long>(calm.classified_records),
              static_cast<long long>(faulty.classified_records),
              static_cast<long long>(faulty.classified_records - calm.classified_records),
              static_cast<long long>(calm.decision_records),
              static_cast<long long>(faulty.decision_records),
              static_cast<long long>(faulty.decision_records -
                                     static_cast<std::int64_t>(faulty.decision_ids.size())),
              calm.seconds, faulty.seconds);
  if (!::testing::Test::HasFailure()) fs::remove_all(base);
}

}  // namespace
}  // namespace bouncestream::stream
