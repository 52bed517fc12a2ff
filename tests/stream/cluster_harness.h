// The cluster harness of the end-to-end reliability tests (crash_equivalence_test,
// broker_faults_test, group_change_test): a deterministic stream of canonical events, a dev
// broker (optionally with several brokers and a control socket), `bouncestream run` instances in
// one group, and the checks every test shares: caught up (committed = high watermark on the input
// and the classified topic), the decision records, the classified topic (no event id lost, order
// of first occurrences), the changelog (batches contiguous), the state hash per partition, and
// the logs (no offset reset, truncated changelog, failed restore or fatal stop).
#ifndef BOUNCESTREAM_TESTS_STREAM_CLUSTER_HARNESS_H_
#define BOUNCESTREAM_TESTS_STREAM_CLUSTER_HARNESS_H_

#include <arpa/inet.h>
#include <fcntl.h>
#include <librdkafka/rdkafka.h>
#include <netinet/in.h>
#include <poll.h>
#include <simdjson.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
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
#include <utility>
#include <vector>

#include "state/engine.h"
#include "stream/kafka_produce.h"
#include "tests/stream/child_process.h"

namespace bouncestream::stream::harness {

using Clock = std::chrono::steady_clock;
namespace fs = std::filesystem;
using testing::Child;
using testing::Slurp;

inline double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

// An integer from the environment, or `fallback`.
inline long long EnvInt(const char* name, long long fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? std::atoll(v) : fallback;
}

// ---- the stream ----

// Reply texts and the signal the classifier gives them (checked by `bouncestream explain`).
struct Reply {
  const char* text;
  int code;
  const char* type;
  const char* mx;
};
inline constexpr Reply kReplies[] = {
    {"550 5.1.1 <{rcpt}>: Recipient address rejected: User unknown in virtual mailbox table", 550,
     "bounce", "mx.{domain}"},  // hard invalid
    {"552 5.2.2 <{rcpt}>: Mailbox full, over quota", 552, "bounce", "mx.{domain}"},  // soft
    {"550 Envelope blocked - User Entry - https://community.mimecast.com/docs/DOC-1369#550", 550,
     "bounce", "eu-smtp-inbound-1.mimecast.com"},  // end user
    {"550 Administrative prohibition - envelope blocked - "
     "https://community.mimecast.com/docs/DOC-1369#550",
     550, "bounce", "eu-smtp-inbound-1.mimecast.com"},  // recipient admin
    {"554 Your IP address has been blocked by a Mimecast RBL policy - spamcop - "
     "https://community.mimecast.com/docs/DOC-1369#554",
     554, "bounce", "eu-smtp-inbound-1.mimecast.com"},  // filter platform (dnsbl)
    {"550 5.7.1 IP address has a poor reputation - "
     "https://community.mimecast.com/docs/DOC-1369#550",
     550, "bounce", "us-smtp-inbound-1.mimecast.com"},  // filter platform (reputation)
    {"550 5.7.26 This mail is unauthenticated, which poses a security risk to the sender and "
     "Gmail users, and has been blocked. The sender must authenticate with at least one of SPF "
     "or DKIM.",
     550, "bounce", "gmail-smtp-in.l.google.com"},  // sender config
    {"421 4.7.0 Try again later, closing connection.", 421, "deferral", "mx.{domain}"},
    {"250 2.0.0 OK", 250, "delivered", "mx.{domain}"},
    {"", 0, "complaint", ""},
};
// Relative weights of the replies above.
inline constexpr int kWeights[] = {14, 12, 5, 8, 6, 4, 3, 22, 24, 2};

inline std::string Replace(std::string s, std::string_view what, std::string_view with) {
  for (auto at = s.find(what); at != std::string::npos; at = s.find(what, at + with.size())) {
    s.replace(at, what.size(), with);
  }
  return s;
}

struct StreamSpec {
  int records = 0;
  std::uint64_t seed = 0;
  int domains = 400;
  int recipients_per_domain = 60;
  std::int64_t step_ms = 20;  // event time between records
  std::string id_prefix = "ce-";
};

// The deterministic input stream: canonical JSON records (1 % are retried duplicates of a recent
// record), every policy rule represented.
inline std::vector<std::string> MakeStream(const StreamSpec& spec) {
  std::mt19937_64 rng(spec.seed);
  int total = 0;
  for (int w : kWeights) total += w;
  std::vector<std::string> out;
  out.reserve(static_cast<std::size_t>(spec.records));
  const std::int64_t t0 = 1'796'032'800'000;  // event time, ms
  for (int i = 0; i < spec.records; ++i) {
    if (i > 100 && rng() % 100 == 0) {  // a retried delivery of a recent record
      out.push_back(out[out.size() - 1 - rng() % 100]);
      continue;
    }
    int pick = static_cast<int>(rng() % static_cast<std::uint64_t>(total));
    std::size_t r = 0;
    while (pick >= kWeights[r]) pick -= kWeights[r++];
    const Reply& reply = kReplies[r];
    const std::string domain =
        "d" + std::to_string(rng() % static_cast<std::uint64_t>(spec.domains)) + ".example";
    const std::string rcpt =
        "u" + std::to_string(rng() % static_cast<std::uint64_t>(spec.recipients_per_domain)) +
        "@" + domain;
    const int tenant = static_cast<int>(rng() % 3);
    const std::string sender =
        "news" + std::to_string(rng() % 2) + "@t" + std::to_string(tenant) + ".example";
    const std::string ip = "192.0.2." + std::to_string(10 + rng() % 6);
    out.push_back("{\"id\":\"" + spec.id_prefix + std::to_string(i) + "\",\"time\":" +
                  std::to_string(t0 + static_cast<std::int64_t>(i) * spec.step_ms) +
                  ",\"tenant\":\"t" + std::to_string(tenant) + "\",\"sender\":\"" + sender +
                  "\",\"recipient\":\"" + rcpt + "\",\"mx\":\"" +
                  Replace(reply.mx, "{domain}", domain) +
                  "\",\"remote_ip\":\"\",\"sending_ip\":\"" + ip +
                  "\",\"smtp_code\":" + std::to_string(reply.code) +
                  ",\"enhanced_code\":\"\",\"text\":\"" + Replace(reply.text, "{rcpt}", rcpt) +
                  "\",\"type\":\"" + reply.type + "\"}");
  }
  return out;
}

// ---- small clients: librdkafka, the control socket, /metrics ----

inline rd_kafka_t* NewClient(rd_kafka_type_t type,
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
inline std::string Control(const fs::path& sock, const std::string& cmd) {
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

// One HTTP/1.0 exchange with 127.0.0.1:port (the processor's metrics and admin server): sends
// `request` whole, reads until the server closes, waiting at most timeout_s seconds for each read.
// The raw reply, or "" on any failure.
inline std::string HttpExchange(int port, const std::string& request, int timeout_s) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return "";
  timeval tv{timeout_s, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&a), sizeof a) != 0 ||
      ::send(fd, request.data(), request.size(), MSG_NOSIGNAL) !=
          static_cast<ssize_t>(request.size())) {
    ::close(fd);
    return "";
  }
  std::string out;
  char buf[8192];
  for (;;) {
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return out;
}

// GET http://127.0.0.1:port/path; the body, or "" on any failure.
inline std::string HttpGet(int port, const std::string& path) {
  const std::string out = HttpExchange(
      port, "GET " + path + " HTTP/1.0\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", 3);
  const auto body = out.find("\r\n\r\n");
  return body == std::string::npos ? "" : out.substr(body + 4);
}

// The value of an unlabelled sample `name` in a Prometheus exposition, or -1 when absent.
inline double Metric(const std::string& text, const std::string& name) {
  const std::string key = "\n" + name + " ";
  const auto at = ("\n" + text).find(key);
  if (at == std::string::npos) return -1;
  return std::strtod(text.c_str() + at + key.size() - 1, nullptr);
}

// Sum (or maximum) of every sample of `name` (all label sets) in a Prometheus exposition.
inline double MetricFold(const std::string& text, const std::string& name, bool max) {
  double acc = 0;
  std::size_t at = 0;
  while (at < text.size()) {
    const std::size_t end = std::min(text.find('\n', at), text.size());
    const std::string_view line(text.data() + at, end - at);
    if (line.starts_with(name) && line.size() > name.size() &&
        (line[name.size()] == ' ' || line[name.size()] == '{')) {
      const auto sp = line.rfind(' ');
      const double v = std::strtod(std::string(line.substr(sp + 1)).c_str(), nullptr);
      acc = max ? std::max(acc, v) : acc + v;
    }
    at = end + 1;
  }
  return acc;
}
inline double MetricSum(const std::string& text, const std::string& name) {
  return MetricFold(text, name, false);
}
inline double MetricMax(const std::string& text, const std::string& name) {
  return MetricFold(text, name, true);
}

// The metrics port a processor logged ("serving metrics, …","address":"127.0.0.1:PORT").
inline int MetricsPort(const std::string& log) {
  const auto at = log.rfind("\"msg\":\"serving metrics, status page and health checks\"");
  if (at == std::string::npos) return -1;
  const std::string key = "\"address\":\"127.0.0.1:";
  const auto a = log.find(key, at);
  if (a == std::string::npos) return -1;
  return std::atoi(log.c_str() + a + key.size());
}

// Like testing::Spawn, with extra environment variables ("NAME=value") for this child only.
inline void SpawnWithEnv(Child* child, const std::vector<std::string>& args,
                         const std::string& log, const std::vector<std::string>& env) {
  std::vector<char*> argv;
  std::string exe = BOUNCESTREAM_BINARY;
  argv.push_back(exe.data());
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  std::vector<char*> envp;
  for (char** e = environ; *e != nullptr; ++e) envp.push_back(*e);
  for (const auto& e : env) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  const int rc = posix_spawn(&child->pid, exe.c_str(), &fa, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&fa);
  ASSERT_EQ(rc, 0) << "posix_spawn " << exe;
  child->log = log;
}

// ---- results ----

struct RunResult {
  std::map<std::int32_t, std::string> hash;  // classified partition -> state hash
  std::map<std::int32_t, std::int64_t> watermark;
  std::set<std::string> decision_ids;
  std::int64_t decision_records = 0;
  std::map<std::string, std::int64_t> kinds;  // "suppress/tenant" -> distinct decisions
  std::int64_t classified_records = 0;        // sum of the classified topic's high watermarks
  // Classified topic: per partition, event ids in order of first occurrence; all ids seen.
  std::map<std::int32_t, std::vector<std::string>> first_order;
  std::set<std::string> classified_ids;
  // Changelog: records of a batch that came after another batch's records (not contiguous).
  int interleaved_batches = 0;
  std::string interleave_example;
  int kills = 0;
  double seconds = 0;
};

// The checks every equivalence test makes of a disturbed run against an undisturbed one.
inline void ExpectEquivalent(const RunResult& calm, const RunResult& other, int partitions,
                             const std::string& what) {
  ASSERT_EQ(calm.hash.size(), static_cast<std::size_t>(partitions));
  EXPECT_EQ(other.hash, calm.hash) << "the state differs " << what;
  EXPECT_EQ(other.watermark, calm.watermark) << what;
  EXPECT_TRUE(other.decision_ids == calm.decision_ids)
      << "the decisions differ " << what << ": " << other.decision_ids.size() << " vs "
      << calm.decision_ids.size();
  std::string lost;
  int n = 0;
  for (const auto& id : calm.classified_ids) {
    if (!other.classified_ids.contains(id) && n++ < 20) lost += " " + id;
  }
  EXPECT_EQ(n, 0) << "classified events lost " << what << ":" << lost;
  for (const auto& [p, order] : calm.first_order) {
    static const std::vector<std::string> kNone;
    const auto it = other.first_order.find(p);
    const auto& f = it != other.first_order.end() ? it->second : kNone;
    std::size_t i = 0;
    while (i < order.size() && i < f.size() && order[i] == f[i]) ++i;
    EXPECT_TRUE(f == order) << "classified[" << p << "]: order of first occurrences differs at "
                            << i << " of " << order.size() << " ("
                            << (i < order.size() ? order[i] : "-") << " vs "
                            << (i < f.size() ? f[i] : "-") << ") " << what;
  }
  EXPECT_EQ(other.interleaved_batches, 0) << other.interleave_example;
  EXPECT_EQ(calm.interleaved_batches, 0) << calm.interleave_example;
}

// ---- the cluster ----

struct ClusterOptions {
  int instances = 1;
  int brokers = 1;
  bool control = false;             // --control socket (faults, leaders)
  int classified_partitions = 12;
  std::string group = "ce";
  std::string config;               // bouncestream.toml
  // Per instance: extra environment of its processes (kill points), by instance index.
  std::map<std::size_t, std::vector<std::string>> env;
};

class Cluster {
 public:
  Cluster(const fs::path& dir, ClusterOptions options)
      : dir_(dir), opt_(std::move(options)), procs_(static_cast<std::size_t>(opt_.instances)) {
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    std::ofstream(dir_ / "bouncestream.toml") << opt_.config;
  }
  ~Cluster() {
    for (auto& p : procs_) p.Kill();
    for (rd_kafka_t* rk : {producer_, offsets_, watcher_}) {
      if (rk != nullptr) rd_kafka_destroy(rk);
    }
    broker_.Terminate(5000);
  }
  Cluster(const Cluster&) = delete;
  Cluster& operator=(const Cluster&) = delete;

  const fs::path& dir() const { return dir_; }
  const fs::path& sock() const { return sock_; }
  std::size_t instances() const { return procs_.size(); }
  int partitions() const { return opt_.classified_partitions; }
  Child& proc(std::size_t i) { return procs_[i]; }

  // Starts the broker and the first `start` instances (all by default).
  void Start(int start = -1) {
    const std::string parts = ":" + std::to_string(opt_.classified_partitions);
    std::vector<std::string> args = {"devbroker", "--brokers", std::to_string(opt_.brokers),
                                     "--port", "0"};
    if (opt_.control) {
      sock_ = dir_ / "ctl.sock";
      args.insert(args.end(), {"--control", sock_.string()});
    }
    args.insert(args.end(),
                {"--topic", "in:1", "--topic", "bouncestream.classified" + parts, "--topic",
                 opt_.group + "-state-changelog" + parts, "--topic", "bouncestream.suppressions:8",
                 "--topic", "bouncestream.blocks:2", "--topic", "bouncestream.alerts:2", "--topic",
                 "bouncestream.dlq:1", "--topic", "bouncestream.audit:1", "--topic",
                 "bouncestream.admin:1", "--bootstrap-file", (dir_ / "bs").string()});
    testing::Spawn(&broker_, args, (dir_ / "broker.log").string());
    const auto deadline = Clock::now() + std::chrono::seconds(20);
    while (Clock::now() < deadline &&
           (bootstrap_.empty() || (opt_.control && Control(sock_, "ping") != "OK"))) {
      std::ifstream in(dir_ / "bs");
      std::getline(in, bootstrap_);
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    ASSERT_FALSE(bootstrap_.empty()) << Slurp((dir_ / "broker.log").string());
    if (opt_.control) {
      ASSERT_EQ(Control(sock_, "ping"), "OK");
      // Pin leaders: the input on broker 1 (faults aimed at the processors only), the classified
      // partitions spread over all brokers.
      ASSERT_EQ(Control(sock_, "leader in 0 1"), "OK");
      for (int p = 0; p < opt_.classified_partitions; ++p) {
        ASSERT_EQ(Control(sock_, "leader bouncestream.classified " + std::to_string(p) + " " +
                                     std::to_string(p % opt_.brokers + 1)),
                  "OK");
      }
    }
    // The test's clients log only critical lines (their connection errors while the brokers are
    // down are expected) and refresh metadata often: a watermark query is not retried against a
    // moved leader until the metadata is refreshed.
    producer_ = NewClient(RD_KAFKA_PRODUCER, {{"bootstrap.servers", bootstrap_},
                                              {"linger.ms", "5"},
                                              {"enable.idempotence", "true"},
                                              {"log_level", "2"}});
    offsets_ = NewClient(RD_KAFKA_CONSUMER, {{"bootstrap.servers", bootstrap_},
                                             {"group.id", opt_.group},
                                             {"enable.auto.commit", "false"},
                                             {"topic.metadata.refresh.interval.ms", "1000"},
                                             {"log_level", "2"}});
    const int n = start < 0 ? static_cast<int>(procs_.size()) : start;
    for (int i = 0; i < n; ++i) StartProcessor(static_cast<std::size_t>(i));
  }

  void StartProcessor(std::size_t i) {
    const std::vector<std::string> args = {
        "run", "--config", (dir_ / "bouncestream.toml").string(), "--bootstrap", bootstrap_,
        "--group", opt_.group, "--input", "in:canonical", "--state-dir",
        (dir_ / ("state" + std::to_string(i))).string(), "--metrics-addr", "127.0.0.1:0"};
    const std::string log = (dir_ / ("processor" + std::to_string(i) + ".log")).string();
    const auto env = opt_.env.find(i);
    SpawnWithEnv(&procs_[i], args, log, env != opt_.env.end() ? env->second : std::vector<std::string>{});
  }

  // The extra environment of instance i's next starts.
  void SetEnv(std::size_t i, std::vector<std::string> env) { opt_.env[i] = std::move(env); }

  void KillAndRestart(std::size_t i) {
    procs_[i].Kill();
    StartProcessor(i);
  }

  // A processor that exited by itself (a kill point): restarts it; returns whether it had exited.
  bool RestartIfExited(std::size_t i, int* status_out = nullptr) {
    if (procs_[i].pid <= 0) return false;
    int status = 0;
    if (::waitpid(procs_[i].pid, &status, WNOHANG) != procs_[i].pid) return false;
    procs_[i].pid = -1;
    if (status_out != nullptr) *status_out = status;
    StartProcessor(i);
    return true;
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

  // Waits until the running processors together hold every partition (input + classified),
  // each from its latest assignment with no revoke or loss after it.
  void WaitBalanced(int timeout_s) {
    const auto deadline = Clock::now() + std::chrono::seconds(timeout_s);
    const std::string key = "\"msg\":\"partitions assigned\",\"count\":";
    while (Clock::now() < deadline) {
      int total = 0;
      bool all = true;
      for (const auto& p : procs_) {
        if (p.pid <= 0) continue;
        const std::string log = Slurp(p.log);
        const auto assigned = log.rfind(key);
        std::size_t revoked = 0;
        for (const char* r : {"partitions revoked", "partitions lost"}) {
          const auto at = log.rfind(r);
          if (at != std::string::npos) revoked = std::max(revoked, at + 1);
        }
        if (assigned == std::string::npos || revoked > assigned) {
          all = false;
          break;
        }
        total += std::atoi(log.c_str() + assigned + key.size());
      }
      if (all && total == 1 + opt_.classified_partitions) return;
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
  // `why` (optional) gets the first partition that is behind; `classified_high` the sum of the
  // classified topic's high watermarks.
  bool CaughtUp(std::string* why = nullptr, std::int64_t* classified_high = nullptr) {
    rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(16);
    rd_kafka_topic_partition_list_add(list, "in", 0);
    for (int p = 0; p < opt_.classified_partitions; ++p) {
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

  // Seconds until caught up (fails after `timeout_s`). `between` runs between two checks
  // (default: none; it may watch decisions or restart processors that exited).
  double WaitCaughtUp(int timeout_s, const std::function<void()>& between = {}) {
    const auto t0 = Clock::now();
    const auto deadline = t0 + std::chrono::seconds(timeout_s);
    while (Clock::now() < deadline) {
      if (CaughtUp()) return Seconds(Clock::now() - t0);
      if (between) {
        between();
      } else {
        ExpectAlive("waiting to catch up");
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
    }
    std::string why;
    CaughtUp(&why);
    ADD_FAILURE() << "the processors did not catch up within " << timeout_s << " s (" << why
                  << "); logs in " << dir_;
    return timeout_s;
  }

  // Decision records read while the run goes on (from the beginning of the three decision
  // topics): for long runs whose decision topics would outgrow the dev broker's 5 MiB per
  // partition. Never use it during request-error faults (its fetches would consume them).
  void Watch(int budget_ms, RunResult* out) {
    if (watcher_ == nullptr) {
      watcher_ = NewClient(RD_KAFKA_CONSUMER, {{"bootstrap.servers", bootstrap_},
                                               {"group.id", opt_.group + "-watcher"},
                                               {"enable.auto.commit", "false"},
                                               {"auto.offset.reset", "error"},
                                               {"fetch.wait.max.ms", "20"},
                                               {"log_level", "2"}});
      rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(12);
      for (const auto& [t, n] : DecisionTopics()) {
        for (int p = 0; p < n; ++p) {
          rd_kafka_topic_partition_list_add(list, t, p)->offset = RD_KAFKA_OFFSET_BEGINNING;
        }
      }
      ASSERT_EQ(rd_kafka_assign(watcher_, list), RD_KAFKA_RESP_ERR_NO_ERROR);
      rd_kafka_topic_partition_list_destroy(list);
    }
    const auto until = Clock::now() + std::chrono::milliseconds(budget_ms);
    while (Clock::now() < until) {
      rd_kafka_message_t* m = rd_kafka_consumer_poll(watcher_, 20);
      if (m == nullptr) continue;
      if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        EXPECT_NE(m->err, RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET)
            << "the watcher lost decision records: " << rd_kafka_message_errstr(m);
        rd_kafka_message_destroy(m);
        continue;
      }
      CountDecision(m, out);
      rd_kafka_message_destroy(m);
    }
  }

  // Reads the rest of the decision topics: with a watcher from where it is, else from the
  // beginning (call after Stop).
  void ReadDecisions(RunResult* out) {
    if (watcher_ != nullptr) {
      std::int64_t expected = 0;
      for (const auto& [t, n] : DecisionTopics()) {
        for (int p = 0; p < n; ++p) {
          std::int64_t low = 0, high = 0;
          rd_kafka_query_watermark_offsets(watcher_, t, p, &low, &high, 5000);
          expected += high;
        }
      }
      const auto deadline = Clock::now() + std::chrono::seconds(60);
      while (out->decision_records < expected && Clock::now() < deadline) Watch(200, out);
      EXPECT_EQ(out->decision_records, expected) << "decision records not read back in time";
      return;
    }
    std::int64_t expected = 0;
    for (const auto& [t, n] : DecisionTopics()) {
      ReadTopic(t, n, [&](const rd_kafka_message_t* m) { CountDecision(m, out); }, &expected);
    }
    EXPECT_EQ(out->decision_records, expected);
  }

  // Reads partitions [0, parts) of `topic` from the beginning to their high watermarks.
  void ReadTopic(const std::string& topic, int parts,
                 const std::function<void(const rd_kafka_message_t*)>& fn,
                 std::int64_t* records = nullptr) {
    rd_kafka_t* c = NewClient(RD_KAFKA_CONSUMER, {{"bootstrap.servers", bootstrap_},
                                                  {"group.id", opt_.group + "-reader"},
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
      if (records != nullptr) *records += high - low;
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

  // Event ids of the classified topic: all, and per partition in order of first occurrence.
  void ReadClassified(RunResult* out) {
    std::map<std::int32_t, std::set<std::string>> seen;
    ReadTopic("bouncestream.classified", opt_.classified_partitions,
              [&](const rd_kafka_message_t* m) {
                std::string_view id;
                simdjson::ondemand::document doc;
                if (!Parse(m, &doc) || doc["id"].get_string().get(id)) {
                  ADD_FAILURE() << "classified record without id";
                  return;
                }
                std::string ids(id);
                out->classified_ids.insert(ids);
                if (seen[m->partition].insert(ids).second) {
                  out->first_order[m->partition].push_back(ids);
                }
              },
              &out->classified_records);
  }

  // Every changelog batch must be contiguous: its records, then its marker.
  void ReadChangelog(RunResult* out) {
    std::map<std::int32_t, std::string> current;  // partition -> batch of the previous record
    std::map<std::int32_t, std::set<std::string>> closed;
    ReadTopic(opt_.group + "-state-changelog", opt_.classified_partitions,
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
                if (batch != cur && closed[m->partition].contains(batch) &&
                    out->interleaved_batches++ == 0) {
                  out->interleave_example = "changelog[" + std::to_string(m->partition) +
                                            "] offset " + std::to_string(m->offset) + ": batch " +
                                            batch + " resumes after " + cur;
                }
                if (batch != cur) {
                  if (!cur.empty()) closed[m->partition].insert(cur);
                  cur = batch;
                }
              });
  }

  // SIGTERM every running processor; each must exit 0.
  void Stop() {
    for (std::size_t i = 0; i < procs_.size(); ++i) Terminate(i);
  }
  void Terminate(std::size_t i) {
    if (procs_[i].pid > 0) {
      EXPECT_EQ(procs_[i].Terminate(30000), 0) << "processor did not stop cleanly: " << procs_[i].log;
    }
  }

  // State per classified partition, from the state dir holding its newest copy.
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

  // After Stop: decisions, classified topic, changelog and state into `out`.
  void Collect(RunResult* out) {
    ReadDecisions(out);
    ReadClassified(out);
    ReadChangelog(out);
    ReadState(out);
  }

  void ExpectCleanLogs(bool fatal_allowed = false) {
    for (std::size_t i = 0; i < procs_.size(); ++i) {
      const std::string log = Slurp(procs_[i].log);
      for (const char* bad : {"offset reset", "changelog truncated", "restore failed",
                              "stopping after a fatal error"}) {
        if (fatal_allowed && std::string_view(bad) == "stopping after a fatal error") continue;
        EXPECT_EQ(log.find(bad), std::string::npos)
            << "processor " << i << " logged '" << bad << "': " << procs_[i].log;
      }
    }
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

 private:
  static std::vector<std::pair<const char*, int>> DecisionTopics() {
    return {{"bouncestream.suppressions", 8}, {"bouncestream.blocks", 2}, {"bouncestream.alerts", 2}};
  }

  bool Parse(const rd_kafka_message_t* m, simdjson::ondemand::document* doc) {
    if (m->payload == nullptr) return false;
    buf_.assign(static_cast<const char*>(m->payload), m->len);
    buf_.reserve(buf_.size() + simdjson::SIMDJSON_PADDING);
    return !parser_.iterate(buf_.data(), buf_.size(), buf_.capacity()).get(*doc);
  }

  void CountDecision(const rd_kafka_message_t* m, RunResult* out) {
    ++out->decision_records;
    if (m->payload == nullptr) return;  // a tombstone (erase): not in these runs
    simdjson::ondemand::document doc;
    std::string_view id, kind, scope;
    if (!Parse(m, &doc) || doc["decision_id"].get_string().get(id)) {
      ADD_FAILURE() << "decision record without decision_id";
      return;
    }
    const std::string id_copy(id);
    if (doc["kind"].get_string().get(kind)) return;
    const std::string kind_copy(kind);
    if (doc["scope"].get_string().get(scope)) return;
    if (out->decision_ids.insert(id_copy).second) ++out->kinds[kind_copy + "/" + std::string(scope)];
  }

  fs::path dir_;
  ClusterOptions opt_;
  fs::path sock_;
  Child broker_;
  std::vector<Child> procs_;
  std::string bootstrap_;
  rd_kafka_t* producer_ = nullptr;
  rd_kafka_t* offsets_ = nullptr;
  rd_kafka_t* watcher_ = nullptr;
  simdjson::ondemand::parser parser_;
  std::string buf_;
};

// One HTTP/1.0 request to 127.0.0.1:port (the processor's metrics and admin server), waiting at
// most timeout_s seconds for each read; returns the status code (0: no answer). auth_header is the
// whole Authorization value ("Bearer <token>"), none when empty.
inline int HttpStatus(int port, const std::string& method, const std::string& path,
                      const std::string& auth_header, const std::string& body = "{}",
                      int timeout_s = 10) {
  std::string req = method + " " + path + " HTTP/1.0\r\nHost: 127.0.0.1\r\n";
  if (!auth_header.empty()) req += "Authorization: " + auth_header + "\r\n";
  req += "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
         "\r\n\r\n" + body;
  const std::string reply = HttpExchange(port, req, timeout_s);
  if (reply.size() < 12 || !reply.starts_with("HTTP/1.")) return 0;
  return std::atoi(reply.substr(9, 3).c_str());
}

// The processor configuration of these tests: short windows and TTLs so that pauses, alerts and
// suppressions also expire within the event time the streams cover.
inline std::string TestConfig(int batch_max_messages, const std::string& end_user_ttl,
                              const std::string& alert_ttl, const std::string& extra = "") {
  return "batch_max_messages = " + std::to_string(batch_max_messages) +
         "\n"
         "[policy]\n"
         "soft_bounce_count = 3\nsoft_bounce_window = \"1h\"\nsoft_suppress_ttl = \"30m\"\n"
         "end_user_suppress_ttl = \"" +
         end_user_ttl +
         "\"\n"
         "admin_block_distinct_recipients = 3\nadmin_block_window = \"30m\"\n"
         "domain_pause_ttl = \"15m\"\n"
         "platform_block_count = 5\nplatform_block_window = \"10m\"\nip_pause_ttl = \"10m\"\n"
         "alert_ttl = \"" +
         alert_ttl + "\"\n" + extra + "[kafka.producer]\n\"compression.type\" = \"lz4\"\n";
}

}  // namespace bouncestream::stream::harness

#endif  // BOUNCESTREAM_TESTS_STREAM_CLUSTER_HARNESS_H_
