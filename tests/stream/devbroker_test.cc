// Runs `bouncestream devbroker` as a child process and talks to it the way tests and the demo do:
// librdkafka clients through the bootstrap address, fault injection through the control socket.
// Loopback only; every wait is bounded; the child is SIGKILLed if a test fails half-way.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <librdkafka/rdkafka.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

std::string Slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string Trim(std::string s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  std::size_t i = 0;
  while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
  return s.substr(i);
}

// A fresh directory under /tmp (short: Unix socket paths are limited to 107 bytes).
class TempDir {
 public:
  TempDir() {
    static std::atomic<int> counter{0};
    path_ = fs::path("/tmp") /
            ("bs_devbroker_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

// A `bouncestream` child process with stdout/stderr captured in files. The destructor SIGKILLs
// and reaps it if it is still running, so a failed assertion never leaks a broker.
class Child {
 public:
  Child(const std::vector<std::string>& args, const fs::path& out, const fs::path& err)
      : out_(out), err_(err) {
    std::vector<std::string> argv_s{BOUNCESTREAM_BINARY};
    argv_s.insert(argv_s.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& a : argv_s) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&fa, 2, err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    const int rc = posix_spawn(&pid_, argv[0], &fa, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) pid_ = -1;
  }
  ~Child() {
    if (pid_ > 0 && !exit_code_) {
      ::kill(pid_, SIGKILL);
      int status = 0;
      ::waitpid(pid_, &status, 0);
    }
  }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  pid_t pid() const { return pid_; }
  bool started() const { return pid_ > 0; }

  // The exit code (or 128+signal) once the child has exited, polling up to `timeout`.
  std::optional<int> WaitExit(std::chrono::milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    while (!exit_code_) {
      int status = 0;
      const pid_t r = ::waitpid(pid_, &status, WNOHANG);
      if (r == pid_) {
        exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        break;
      }
      if (Clock::now() >= deadline) break;
      std::this_thread::sleep_for(10ms);
    }
    return exit_code_;
  }
  bool Running() { return !WaitExit(0ms).has_value(); }
  void Signal(int sig) { ::kill(pid_, sig); }

  std::string Stdout() const { return Slurp(out_); }
  std::string Stderr() const { return Slurp(err_); }

 private:
  pid_t pid_ = -1;
  std::optional<int> exit_code_;
  fs::path out_, err_;
};

// Runs `bouncestream args...` to completion (bounded) and returns its exit code, -1 on timeout.
int RunToExit(const TempDir& dir, const std::vector<std::string>& args,
              std::string* err = nullptr) {
  Child c(args, dir.path() / "run.out", dir.path() / "run.err");
  if (!c.started()) return -1;
  const auto code = c.WaitExit(15s);
  if (err) *err = c.Stderr();
  return code.value_or(-1);
}

// Sends one command per element over one connection and returns the reply lines.
std::vector<std::string> ControlMany(const fs::path& sock, const std::vector<std::string>& cmds) {
  std::vector<std::string> replies;
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return replies;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, sock.c_str(), sizeof(addr.sun_path) - 1);
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    return replies;
  }
  std::string all;
  for (const auto& c : cmds) all += c + "\n";
  if (::send(fd, all.data(), all.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(all.size())) {
    ::close(fd);
    return replies;
  }
  std::string buf;
  const auto deadline = Clock::now() + 5s;
  while (replies.size() < cmds.size() && Clock::now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) continue;
    char tmp[1024];
    const ssize_t n = ::recv(fd, tmp, sizeof(tmp), 0);
    if (n <= 0) break;
    buf.append(tmp, static_cast<std::size_t>(n));
    for (std::size_t nl; (nl = buf.find('\n')) != std::string::npos;) {
      replies.push_back(buf.substr(0, nl));
      buf.erase(0, nl + 1);
    }
  }
  ::close(fd);
  return replies;
}

std::string Control(const fs::path& sock, const std::string& cmd) {
  const auto r = ControlMany(sock, {cmd});
  return r.empty() ? "<no reply>" : r[0];
}

// ---- librdkafka helpers (C API) ----

struct RkDeleter {
  void operator()(rd_kafka_t* rk) const { rd_kafka_destroy(rk); }
};
using Rk = std::unique_ptr<rd_kafka_t, RkDeleter>;

// Delivery reports, keyed by the per-message opaque (an index).
struct Deliveries {
  std::mutex mu;
  struct Report {
    rd_kafka_resp_err_t err;
    Clock::time_point at;
  };
  std::vector<std::optional<Report>> reports = std::vector<std::optional<Report>>(1000);

  std::optional<Report> Get(std::size_t id) {
    const std::lock_guard lock(mu);
    return reports[id];
  }
};

void OnDelivery(rd_kafka_t* /*rk*/, const rd_kafka_message_t* m, void* opaque) {
  auto* d = static_cast<Deliveries*>(opaque);
  const auto id = reinterpret_cast<std::uintptr_t>(m->_private);
  const std::lock_guard lock(d->mu);
  if (id < d->reports.size()) d->reports[id] = Deliveries::Report{m->err, Clock::now()};
}

void Set(rd_kafka_conf_t* conf, const char* k, const std::string& v) {
  char errstr[256];
  ASSERT_EQ(rd_kafka_conf_set(conf, k, v.c_str(), errstr, sizeof(errstr)), RD_KAFKA_CONF_OK)
      << k << ": " << errstr;
}

Rk MakeProducer(const std::string& bootstrap, Deliveries* d, int message_timeout_ms = 10000) {
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  Set(conf, "bootstrap.servers", bootstrap);
  Set(conf, "linger.ms", "5");
  Set(conf, "retry.backoff.ms", "100");
  Set(conf, "message.timeout.ms", std::to_string(message_timeout_ms));
  Set(conf, "reconnect.backoff.max.ms", "500");
  rd_kafka_conf_set_dr_msg_cb(conf, OnDelivery);
  rd_kafka_conf_set_opaque(conf, d);
  char errstr[256];
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
  EXPECT_NE(rk, nullptr) << errstr;
  if (!rk) rd_kafka_conf_destroy(conf);
  return Rk(rk);
}

constexpr int kAnyPartition = -1;  // RD_KAFKA_PARTITION_UA (the macro is a C cast)

rd_kafka_resp_err_t Produce(rd_kafka_t* rk, const std::string& topic, const std::string& value,
                            std::size_t id, int partition = kAnyPartition) {
  rd_kafka_topic_t* rkt = rd_kafka_topic_new(rk, topic.c_str(), nullptr);
  if (rkt == nullptr) return rd_kafka_last_error();
  const int rc =
      rd_kafka_produce(rkt, partition, RD_KAFKA_MSG_F_COPY, const_cast<char*>(value.data()),
                       value.size(), nullptr, 0, reinterpret_cast<void*>(id));
  const rd_kafka_resp_err_t err = rc == 0 ? RD_KAFKA_RESP_ERR_NO_ERROR : rd_kafka_last_error();
  rd_kafka_topic_destroy(rkt);
  return err;
}

// Polls until message `id` has a delivery report, up to `timeout`.
std::optional<Deliveries::Report> AwaitDelivery(rd_kafka_t* rk, Deliveries* d, std::size_t id,
                                                std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    rd_kafka_poll(rk, 10);
    if (auto r = d->Get(id)) return r;
  }
  return d->Get(id);
}

struct TopicInfo {
  rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC;
  std::vector<std::int32_t> leaders;  // by partition id
};

std::optional<TopicInfo> Metadata(rd_kafka_t* rk, const std::string& topic) {
  const rd_kafka_metadata_t* md = nullptr;
  // All topics: asking for one topic by handle would auto-create it on the mock.
  if (rd_kafka_metadata(rk, 1, nullptr, &md, 10000) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return std::nullopt;
  }
  std::optional<TopicInfo> out;
  for (int i = 0; i < md->topic_cnt; ++i) {
    const auto& t = md->topics[i];
    if (topic != t.topic) continue;
    TopicInfo info;
    info.err = t.err;
    info.leaders.assign(static_cast<std::size_t>(t.partition_cnt), -2);
    for (int p = 0; p < t.partition_cnt; ++p) {
      const auto id = t.partitions[p].id;
      if (id >= 0 && id < t.partition_cnt)
        info.leaders[static_cast<std::size_t>(id)] = t.partitions[p].leader;
    }
    out = info;
  }
  rd_kafka_metadata_destroy(md);
  return out;
}

// Reads `topic` partitions [0, partitions) from the beginning until `want` messages or timeout.
std::vector<std::string> ConsumeAll(const std::string& bootstrap, const std::string& topic,
                                    int partitions, std::size_t want,
                                    std::chrono::milliseconds timeout) {
  std::vector<std::string> values;
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  Set(conf, "bootstrap.servers", bootstrap);
  Set(conf, "group.id", "devbroker-test-reader");
  Set(conf, "enable.auto.commit", "false");
  Set(conf, "fetch.wait.max.ms", "10");
  char errstr[256];
  Rk rk(rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr)));
  if (!rk) {
    rd_kafka_conf_destroy(conf);
    ADD_FAILURE() << errstr;
    return values;
  }
  rd_kafka_poll_set_consumer(rk.get());
  rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(partitions);
  for (int p = 0; p < partitions; ++p) {
    rd_kafka_topic_partition_list_add(list, topic.c_str(), p)->offset = RD_KAFKA_OFFSET_BEGINNING;
  }
  EXPECT_EQ(rd_kafka_assign(rk.get(), list), RD_KAFKA_RESP_ERR_NO_ERROR);
  rd_kafka_topic_partition_list_destroy(list);
  const auto deadline = Clock::now() + timeout;
  while (values.size() < want && Clock::now() < deadline) {
    rd_kafka_message_t* m = rd_kafka_consumer_poll(rk.get(), 100);
    if (m == nullptr) continue;
    if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      values.emplace_back(static_cast<const char*>(m->payload), m->len);
    }
    rd_kafka_message_destroy(m);
  }
  rd_kafka_consumer_close(rk.get());
  return values;
}

// ---- fixture: one devbroker per test ----

class DevbrokerTest : public ::testing::Test {
 protected:
  void SetUp() override { Start({"--topic", "t1:6"}); }

  void Start(std::vector<std::string> extra) {
    sock_ = dir_.path() / "ctl.sock";
    bs_file_ = dir_.path() / "bs";
    std::vector<std::string> args{"devbroker",      "--port",       "0",
                                  "--control",      sock_.string(), "--bootstrap-file",
                                  bs_file_.string()};
    args.insert(args.end(), extra.begin(), extra.end());
    child_ = std::make_unique<Child>(args, dir_.path() / "out", dir_.path() / "err");
    ASSERT_TRUE(child_->started());
    const auto deadline = Clock::now() + 15s;
    while (!fs::exists(bs_file_)) {
      ASSERT_TRUE(child_->Running()) << "devbroker exited early: " << child_->Stderr();
      ASSERT_LT(Clock::now(), deadline) << "no bootstrap file after 15 s: " << child_->Stderr();
      std::this_thread::sleep_for(20ms);
    }
    bootstrap_ = Trim(Slurp(bs_file_));
    ASSERT_TRUE(bootstrap_.starts_with("127.0.0.1:")) << bootstrap_;
    port_ = std::stoi(bootstrap_.substr(bootstrap_.find(':') + 1));
    ASSERT_GT(port_, 0);
  }

  TempDir dir_;
  fs::path sock_, bs_file_;
  std::unique_ptr<Child> child_;
  std::string bootstrap_;
  int port_ = 0;
};

TEST_F(DevbrokerTest, ReadyLineMetadataAndRoundTripThroughTheBootstrapAddress) {
  const std::string out = child_->Stdout();
  EXPECT_NE(out.find("\"msg\":\"devbroker ready\""), std::string::npos) << out;
  EXPECT_NE(out.find("\"bootstrap\":\"" + bootstrap_ + "\""), std::string::npos) << out;
  EXPECT_NE(out.find("{\"name\":\"t1\",\"partitions\":6"), std::string::npos) << out;

  Deliveries d;
  Rk producer = MakeProducer(bootstrap_, &d);
  ASSERT_TRUE(producer);
  const auto md = Metadata(producer.get(), "t1");
  ASSERT_TRUE(md.has_value()) << "t1 missing from metadata";
  EXPECT_EQ(md->err, RD_KAFKA_RESP_ERR_NO_ERROR);
  EXPECT_EQ(md->leaders.size(), 6u);  // not the mock's auto-create default of 4

  std::set<std::string> sent;
  for (std::size_t i = 0; i < 100; ++i) {
    const std::string v = "msg-" + std::to_string(i);
    ASSERT_EQ(Produce(producer.get(), "t1", v, i), RD_KAFKA_RESP_ERR_NO_ERROR);
    sent.insert(v);
  }
  ASSERT_EQ(rd_kafka_flush(producer.get(), 15000), RD_KAFKA_RESP_ERR_NO_ERROR);
  for (std::size_t i = 0; i < 100; ++i) {
    const auto r = d.Get(i);
    ASSERT_TRUE(r.has_value()) << i;
    EXPECT_EQ(r->err, RD_KAFKA_RESP_ERR_NO_ERROR) << rd_kafka_err2name(r->err);
  }
  const auto got = ConsumeAll(bootstrap_, "t1", 6, 100, 15s);
  EXPECT_EQ(std::set<std::string>(got.begin(), got.end()), sent);
  EXPECT_EQ(got.size(), 100u);
}

TEST_F(DevbrokerTest, ControlSocketRepliesOkOrErr) {
  // Several sequential connections.
  for (int i = 0; i < 3; ++i) EXPECT_EQ(Control(sock_, "ping"), "OK");
  // Several commands on one connection, one reply line each.
  const auto replies = ControlMany(sock_, {"ping", "frobnicate 1", "ping"});
  ASSERT_EQ(replies.size(), 3u);
  EXPECT_EQ(replies[0], "OK");
  EXPECT_TRUE(replies[1].starts_with("ERR ")) << replies[1];
  EXPECT_EQ(replies[2], "OK");

  EXPECT_TRUE(Control(sock_, "nonsense").starts_with("ERR ")) << Control(sock_, "nonsense");
  EXPECT_TRUE(Control(sock_, "").starts_with("ERR "));
  EXPECT_TRUE(Control(sock_, "help").starts_with("OK "));
  EXPECT_TRUE(Control(sock_, "down").starts_with("ERR usage"));
  EXPECT_TRUE(Control(sock_, "down 7").starts_with("ERR "));
  EXPECT_TRUE(Control(sock_, "rtt 1 abc").starts_with("ERR "));
  EXPECT_TRUE(Control(sock_, "err Produce NO_SUCH_ERROR").starts_with("ERR "));
  EXPECT_TRUE(Control(sock_, "err Bogus _TRANSPORT").starts_with("ERR "));
  EXPECT_TRUE(Control(sock_, "err Fetch").starts_with("ERR usage"));
  EXPECT_TRUE(Control(sock_, "coord member g 1").starts_with("ERR usage"));
  // Accepted names and numbers (Metadata errors pushed then cleared, so nothing is affected).
  EXPECT_EQ(Control(sock_, "err Metadata NOT_LEADER_FOR_PARTITION REQUEST_TIMED_OUT _TRANSPORT"),
            "OK");
  EXPECT_EQ(Control(sock_, "err 3 RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE 10 -195"), "OK");
  EXPECT_EQ(Control(sock_, "clear Metadata"), "OK");
  EXPECT_EQ(Control(sock_, "rtt 1 0"), "OK");
  EXPECT_EQ(Control(sock_, "coord group some-group 1"), "OK");
  EXPECT_EQ(Control(sock_, "leader t1 0 1"), "OK");
  EXPECT_TRUE(Control(sock_, "leader t1 0 2").starts_with("ERR "));  // only broker 1

  // Topics created at runtime get exactly the partitions asked for; no repartitioning.
  EXPECT_EQ(Control(sock_, "topic t2 3"), "OK");
  EXPECT_TRUE(Control(sock_, "topic t2 5").starts_with("ERR TOPIC_ALREADY_EXISTS"));
  EXPECT_TRUE(Control(sock_, "topic bad/name 3").starts_with("ERR "));
  Deliveries d;
  Rk producer = MakeProducer(bootstrap_, &d);
  const auto md = Metadata(producer.get(), "t2");
  ASSERT_TRUE(md.has_value());
  EXPECT_EQ(md->leaders.size(), 3u);
  EXPECT_EQ(Control(sock_, "ping"), "OK");  // still alive after all that
}

TEST_F(DevbrokerTest, InjectedProduceErrorFailsTheNextBatch) {
  Deliveries d;
  Rk producer = MakeProducer(bootstrap_, &d);
  ASSERT_EQ(Produce(producer.get(), "t1", "warm-up", 0, 0), RD_KAFKA_RESP_ERR_NO_ERROR);
  ASSERT_EQ(rd_kafka_flush(producer.get(), 10000), RD_KAFKA_RESP_ERR_NO_ERROR);
  ASSERT_EQ(d.Get(0)->err, RD_KAFKA_RESP_ERR_NO_ERROR);

  ASSERT_EQ(Control(sock_, "err Produce MSG_SIZE_TOO_LARGE"), "OK");
  ASSERT_EQ(Produce(producer.get(), "t1", "rejected", 1, 0), RD_KAFKA_RESP_ERR_NO_ERROR);
  const auto r = AwaitDelivery(producer.get(), &d, 1, 10s);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->err, RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE) << rd_kafka_err2name(r->err);

  // The stack held one error: the next message goes through.
  ASSERT_EQ(Produce(producer.get(), "t1", "accepted", 2, 0), RD_KAFKA_RESP_ERR_NO_ERROR);
  const auto r2 = AwaitDelivery(producer.get(), &d, 2, 10s);
  ASSERT_TRUE(r2.has_value());
  EXPECT_EQ(r2->err, RD_KAFKA_RESP_ERR_NO_ERROR) << rd_kafka_err2name(r2->err);
}

TEST_F(DevbrokerTest, RttDelaysProduceResponses) {
  Deliveries d;
  Rk producer = MakeProducer(bootstrap_, &d);
  // Warm up: metadata and the connection to broker 1 exist before the delay is set.
  ASSERT_EQ(Produce(producer.get(), "t1", "warm-up", 0, 0), RD_KAFKA_RESP_ERR_NO_ERROR);
  ASSERT_EQ(rd_kafka_flush(producer.get(), 10000), RD_KAFKA_RESP_ERR_NO_ERROR);
  const auto start0 = Clock::now();
  ASSERT_EQ(Produce(producer.get(), "t1", "fast", 1, 0), RD_KAFKA_RESP_ERR_NO_ERROR);
  const auto fast = AwaitDelivery(producer.get(), &d, 1, 10s);
  ASSERT_TRUE(fast.has_value());
  const auto fast_ms = std::chrono::duration_cast<std::chrono::milliseconds>(fast->at - start0);

  ASSERT_EQ(Control(sock_, "rtt 1 200"), "OK");
  const auto start = Clock::now();
  ASSERT_EQ(Produce(producer.get(), "t1", "slow", 2, 0), RD_KAFKA_RESP_ERR_NO_ERROR);
  const auto slow = AwaitDelivery(producer.get(), &d, 2, 10s);
  ASSERT_TRUE(slow.has_value());
  EXPECT_EQ(slow->err, RD_KAFKA_RESP_ERR_NO_ERROR);
  const auto slow_ms = std::chrono::duration_cast<std::chrono::milliseconds>(slow->at - start);
  EXPECT_GE(slow_ms.count(), 150) << "without rtt: " << fast_ms.count() << " ms";
  EXPECT_EQ(Control(sock_, "rtt 1 0"), "OK");
}

TEST_F(DevbrokerTest, MessageProducedWhileBrokerDownIsDeliveredAfterUp) {
  Deliveries d;
  Rk producer = MakeProducer(bootstrap_, &d, /*message_timeout_ms=*/30000);
  ASSERT_EQ(Produce(producer.get(), "t1", "before", 0, 0), RD_KAFKA_RESP_ERR_NO_ERROR);
  ASSERT_EQ(rd_kafka_flush(producer.get(), 10000), RD_KAFKA_RESP_ERR_NO_ERROR);
  ASSERT_EQ(d.Get(0)->err, RD_KAFKA_RESP_ERR_NO_ERROR);

  ASSERT_EQ(Control(sock_, "down 1"), "OK");
  ASSERT_EQ(Produce(producer.get(), "t1", "during-down", 1, 0), RD_KAFKA_RESP_ERR_NO_ERROR);
  EXPECT_FALSE(AwaitDelivery(producer.get(), &d, 1, 1500ms).has_value())
      << "delivered while the only broker was down";
  ASSERT_EQ(Control(sock_, "up 1"), "OK");
  const auto r = AwaitDelivery(producer.get(), &d, 1, 20s);
  ASSERT_TRUE(r.has_value()) << "not delivered 20 s after up";
  EXPECT_EQ(r->err, RD_KAFKA_RESP_ERR_NO_ERROR) << rd_kafka_err2name(r->err);

  const auto got = ConsumeAll(bootstrap_, "t1", 6, 2, 15s);
  EXPECT_EQ(got, (std::vector<std::string>{"before", "during-down"}));
}

TEST_F(DevbrokerTest, SigtermStopsCleanlyAndRemovesSocketAndBootstrapFile) {
  ASSERT_EQ(Control(sock_, "ping"), "OK");
  ASSERT_TRUE(fs::exists(sock_));
  // A connected client and an idle control connection must not delay the shutdown.
  Deliveries d;
  Rk producer = MakeProducer(bootstrap_, &d);
  ASSERT_TRUE(Metadata(producer.get(), "t1").has_value());
  const int idle = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, sock_.c_str(), sizeof(addr.sun_path) - 1);
  ASSERT_EQ(::connect(idle, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)), 0);

  const auto start = Clock::now();
  child_->Signal(SIGTERM);
  const auto code = child_->WaitExit(5s);
  ::close(idle);
  ASSERT_TRUE(code.has_value()) << "still running 5 s after SIGTERM";
  EXPECT_EQ(*code, 0) << child_->Stderr();
  EXPECT_LT(Clock::now() - start, 2500ms);
  EXPECT_FALSE(fs::exists(sock_));
  EXPECT_FALSE(fs::exists(bs_file_));
  EXPECT_NE(child_->Stdout().find("\"msg\":\"devbroker stopped\""), std::string::npos);
}

TEST_F(DevbrokerTest, SecondInstanceOnABusyPortFailsWithExit1) {
  std::string err;
  const int code = RunToExit(
      dir_,
      {"devbroker", "--port", std::to_string(port_), "--control",
       (dir_.path() / "ctl2.sock").string(), "--bootstrap-file", (dir_.path() / "bs2").string()},
      &err);
  EXPECT_EQ(code, 1) << err;
  EXPECT_NE(err.find("already in use"), std::string::npos) << err;
  EXPECT_FALSE(fs::exists(dir_.path() / "bs2"));
  EXPECT_FALSE(fs::exists(dir_.path() / "ctl2.sock"));
  EXPECT_EQ(Control(sock_, "ping"), "OK");  // the first one is untouched
}

TEST_F(DevbrokerTest, SecondInstanceNeverStealsALiveControlSocket) {
  std::string err;
  const int code = RunToExit(dir_,
                             {"devbroker", "--port", "0", "--control", sock_.string(),
                              "--bootstrap-file", (dir_.path() / "bs2").string()},
                             &err);
  EXPECT_EQ(code, 1) << err;
  EXPECT_NE(err.find("in use"), std::string::npos) << err;
  EXPECT_EQ(Control(sock_, "ping"), "OK");
}

TEST(DevbrokerCliTest, StaleControlSocketIsReplaced) {
  TempDir dir;
  const fs::path sock = dir.path() / "ctl.sock";
  {  // Leave a socket file behind whose owner is gone, like after a SIGKILL.
    const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, sock.c_str(), sizeof(addr.sun_path) - 1);
    ASSERT_EQ(::bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)), 0);
    ::close(fd);
  }
  ASSERT_TRUE(fs::exists(sock));
  Child c({"devbroker", "--port", "0", "--control", sock.string(), "--bootstrap-file",
           (dir.path() / "bs").string()},
          dir.path() / "out", dir.path() / "err");
  const auto deadline = Clock::now() + 15s;
  while (!fs::exists(dir.path() / "bs") && c.Running() && Clock::now() < deadline) {
    std::this_thread::sleep_for(20ms);
  }
  ASSERT_TRUE(c.Running()) << c.Stderr();
  EXPECT_EQ(Control(sock, "ping"), "OK");
  c.Signal(SIGINT);
  EXPECT_EQ(c.WaitExit(5s), std::optional<int>(0));
  EXPECT_FALSE(fs::exists(sock));
}

TEST(DevbrokerCliTest, ThreeBrokersLeaderCoordinatorAndBrokerIds) {
  TempDir dir;
  const fs::path sock = dir.path() / "ctl.sock";
  const fs::path bs = dir.path() / "bs";
  Child c({"devbroker", "--port", "0", "--brokers", "3", "--topic", "t3:3", "--control",
           sock.string(), "--bootstrap-file", bs.string()},
          dir.path() / "out", dir.path() / "err");
  const auto deadline = Clock::now() + 15s;
  // The bootstrap file can appear before the whole "ready" line reaches stdout: wait for both.
  const auto ready_line_done = [&c] {
    const std::string out = c.Stdout();
    const std::size_t at = out.find("devbroker ready");
    return at != std::string::npos && out.find('\n', at) != std::string::npos;
  };
  while ((!fs::exists(bs) || !ready_line_done()) && c.Running() && Clock::now() < deadline)
    std::this_thread::sleep_for(20ms);
  ASSERT_TRUE(fs::exists(bs)) << c.Stderr();
  EXPECT_NE(c.Stdout().find("\"replication_factor\":3"), std::string::npos) << c.Stdout();

  EXPECT_EQ(Control(sock, "leader t3 0 2"), "OK");
  EXPECT_EQ(Control(sock, "leader t3 1 3"), "OK");
  EXPECT_TRUE(Control(sock, "leader t3 1 4").starts_with("ERR "));
  EXPECT_TRUE(Control(sock, "leader t3 9 1").starts_with("ERR "));
  // The mock would auto-create an unknown topic here; devbroker refuses instead.
  EXPECT_TRUE(Control(sock, "leader nosuch 0 1").starts_with("ERR unknown topic"));
  EXPECT_EQ(Control(sock, "coord group g1 3"), "OK");
  EXPECT_EQ(Control(sock, "coord transaction tx1 2"), "OK");
  EXPECT_EQ(Control(sock, "berr 2 Produce NOT_ENOUGH_REPLICAS 0 NO_ERROR 100"), "OK");
  EXPECT_EQ(Control(sock, "topic t4 2 2"), "OK");
  EXPECT_TRUE(Control(sock, "topic t5 2 4").starts_with("ERR "));

  Deliveries d;
  Rk producer = MakeProducer(Trim(Slurp(bs)), &d);
  const auto md = Metadata(producer.get(), "t3");
  ASSERT_TRUE(md.has_value());
  ASSERT_EQ(md->leaders.size(), 3u);
  EXPECT_EQ(md->leaders[0], 2);
  EXPECT_EQ(md->leaders[1], 3);
  EXPECT_FALSE(Metadata(producer.get(), "nosuch").has_value());
  EXPECT_EQ(Control(sock, "leader t3 2 -1"), "OK");  // leaderless

  EXPECT_EQ(Control(sock, "down 3"), "OK");
  EXPECT_EQ(Control(sock, "up 3"), "OK");
  c.Signal(SIGTERM);
  EXPECT_EQ(c.WaitExit(5s), std::optional<int>(0));
}

TEST(DevbrokerCliTest, BadOptionsAreUsageErrors) {
  TempDir dir;
  std::string err;
  EXPECT_EQ(RunToExit(dir, {"devbroker", "--port", "0", "--topic", "x"}, &err), 2);
  EXPECT_NE(err.find("NAME:PARTITIONS"), std::string::npos) << err;
  EXPECT_EQ(RunToExit(dir, {"devbroker", "--port", "0", "--topic", "x:0"}), 2);
  EXPECT_EQ(RunToExit(dir, {"devbroker", "--port", "0", "--topic", "x:abc"}), 2);
  EXPECT_EQ(RunToExit(dir, {"devbroker", "--port", "0", "--topic", ":3"}), 2);
  EXPECT_EQ(RunToExit(dir, {"devbroker", "--port", "0", "--topic", "a:1", "--topic", "a:2"}), 2);
  EXPECT_EQ(RunToExit(dir, {"devbroker", "--port", "0", "--topic", "a:1:2"}), 2);  // RF > brokers
  EXPECT_EQ(RunToExit(dir, {"devbroker", "--port", "0", "--brokers", "0"}), 2);
  EXPECT_EQ(RunToExit(dir, {"devbroker", "--port", "70000"}), 2);
}

}  // namespace
