#include "stream/devbroker/devbroker.h"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <ctime>
#include <expected>
#include <thread>

#include "stream/devbroker/commands.h"
#include "stream/devbroker/control.h"
#include "stream/devbroker/forwarder.h"
#include "stream/devbroker/log.h"
#include "stream/devbroker/net_util.h"

namespace bouncestream::stream::devbroker {
namespace {

constexpr auto kShutdownDeadline = std::chrono::seconds(5);

// A file we created; removed on destruction unless something else has replaced it since.
class OwnedFile {
 public:
  OwnedFile() = default;
  OwnedFile(std::string path, dev_t dev, ino_t ino)
      : path_(std::move(path)), dev_(dev), ino_(ino) {}
  OwnedFile(OwnedFile&& o) noexcept
      : path_(std::exchange(o.path_, {})), dev_(o.dev_), ino_(o.ino_) {}
  OwnedFile& operator=(OwnedFile&& o) noexcept {
    if (this != &o) {
      Remove();
      path_ = std::exchange(o.path_, {});
      dev_ = o.dev_;
      ino_ = o.ino_;
    }
    return *this;
  }
  OwnedFile(const OwnedFile&) = delete;
  OwnedFile& operator=(const OwnedFile&) = delete;
  ~OwnedFile() { Remove(); }

  void Remove() {
    if (path_.empty()) return;
    struct stat st {};
    if (::lstat(path_.c_str(), &st) == 0 && st.st_dev == dev_ && st.st_ino == ino_) {
      ::unlink(path_.c_str());
    }
    path_.clear();
  }

 private:
  std::string path_;
  dev_t dev_ = 0;
  ino_t ino_ = 0;
};

// tmp + rename, so readers never see a partial file.
std::expected<OwnedFile, std::string> WriteFileAtomically(const std::string& path,
                                                          const std::string& content) {
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (!fd.valid()) return std::unexpected("cannot create " + tmp + ": " + ErrnoText(errno));
  struct stat st {};
  std::size_t off = 0;
  while (off < content.size()) {
    const ssize_t n = ::write(fd.get(), content.data() + off, content.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int err = errno;
      ::unlink(tmp.c_str());
      return std::unexpected("cannot write " + tmp + ": " + ErrnoText(err));
    }
    off += static_cast<std::size_t>(n);
  }
  const bool stat_ok = ::fstat(fd.get(), &st) == 0;
  const int stat_err = errno;
  if (::close(fd.Release()) != 0 || !stat_ok) {
    const int err = stat_ok ? errno : stat_err;
    ::unlink(tmp.c_str());
    return std::unexpected("cannot write " + tmp + ": " + ErrnoText(err));
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    return std::unexpected("cannot rename " + tmp + " to " + path + ": " + ErrnoText(err));
  }
  return OwnedFile(path, st.st_dev, st.st_ino);
}

// Blocks SIGTERM/SIGINT in this thread (and so in every thread created after it) for sigwait.
class SignalMask {
 public:
  SignalMask() {
    sigemptyset(&set_);
    sigaddset(&set_, SIGTERM);
    sigaddset(&set_, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set_, &old_);
    old_pipe_ = std::signal(SIGPIPE, SIG_IGN);
  }
  ~SignalMask() {
    std::signal(SIGPIPE, old_pipe_);
    pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }
  SignalMask(const SignalMask&) = delete;
  SignalMask& operator=(const SignalMask&) = delete;

  // The signal number once SIGTERM or SIGINT arrives.
  int Wait() const {
    for (;;) {
      const int sig = ::sigwaitinfo(&set_, nullptr);
      if (sig > 0) return sig;
    }
  }

 private:
  sigset_t set_{}, old_{};
  void (*old_pipe_)(int) = SIG_DFL;
};

std::string FirstAddress(const std::string& list) { return list.substr(0, list.find(',')); }

int Fail(std::string_view msg, const std::string& error) {
  LogError(msg, [&](JsonWriter& w) { w.Field("error", error); });
  return 1;
}

}  // namespace

int Run(const Config& config) {
  const int version = rd_kafka_version();
  if (!IsTestedLibrdkafkaVersion(version)) {
    LogWarn(
        "untested librdkafka version: the mock cluster API is experimental and was only "
        "tested with 2.0.x",
        [&](JsonWriter& w) { w.Field("librdkafka", rd_kafka_version_str()); });
  }
  const SignalMask signals;  // before any thread exists, so all threads inherit the mask

  auto forwarder = Forwarder::Listen(config.port);
  if (!forwarder) return Fail("devbroker cannot listen", forwarder.error());
  const int port = (*forwarder)->port();
  const std::string bootstrap = "127.0.0.1:" + std::to_string(port);

  auto cluster = MockCluster::Create(config.brokers);
  if (!cluster) return Fail("devbroker cannot create the mock cluster", cluster.error());
  MockCluster& mc = **cluster;

  for (const auto& t : config.topics) {
    const int rf = t.replication_factor > 0 ? t.replication_factor : mc.DefaultReplicationFactor();
    if (const auto err = mc.CreateTopic(t.name, t.partitions, rf);
        err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      return Fail("devbroker cannot create topic",
                  t.name + ": " + rd_kafka_err2name(err) + ": " + rd_kafka_err2str(err));
    }
  }

  const std::string advertised = mc.Bootstraps();
  if (auto r = (*forwarder)->Start(FirstAddress(advertised)); !r) {
    return Fail("devbroker cannot start the forwarder", r.error());
  }

  std::unique_ptr<ControlServer> control;
  if (!config.control.empty()) {
    auto c = ControlServer::Listen(config.control, [&mc](std::string_view line) {
      std::string reply = ExecuteControlCommand(mc, line);
      if (line != "ping") {
        LogLine(reply.starts_with("OK") ? LogLevel::kInfo : LogLevel::kWarn, "control command",
                [&](JsonWriter& w) {
                  w.Field("command", line);
                  w.Field("reply", reply);
                });
      }
      return reply;
    });
    if (!c) return Fail("devbroker cannot create the control socket", c.error());
    control = std::move(*c);
    control->Start();
  }

  OwnedFile bootstrap_file;
  if (!config.bootstrap_file.empty()) {
    auto f = WriteFileAtomically(config.bootstrap_file, bootstrap);
    if (!f) return Fail("devbroker cannot write the bootstrap file", f.error());
    bootstrap_file = std::move(*f);
  }

  LogInfo("devbroker ready", [&](JsonWriter& w) {
    w.Field("bootstrap", bootstrap);
    w.Field("port", static_cast<std::int64_t>(port));
    w.Field("brokers", static_cast<std::int64_t>(config.brokers));
    w.Field("advertised", advertised);
    w.Key("topics");
    w.BeginArray();
    for (const auto& t : config.topics) {
      w.BeginObject();
      w.Field("name", t.name);
      w.Field("partitions", static_cast<std::int64_t>(t.partitions));
      w.Field("replication_factor",
              static_cast<std::int64_t>(t.replication_factor > 0 ? t.replication_factor
                                                                 : mc.DefaultReplicationFactor()));
      w.EndObject();
    }
    w.EndArray();
    if (!config.control.empty()) w.Field("control", config.control);
    if (!config.bootstrap_file.empty()) w.Field("bootstrap_file", config.bootstrap_file);
    w.Field("pid", static_cast<std::int64_t>(::getpid()));
    w.Field("librdkafka", rd_kafka_version_str());
  });

  const int sig = signals.Wait();
  LogInfo("devbroker stopping",
          [&](JsonWriter& w) { w.Field("signal", sig == SIGINT ? "SIGINT" : "SIGTERM"); });
  // Should the mock hang on the way down, do not leave a zombie broker behind.
  std::thread([] {
    std::this_thread::sleep_for(kShutdownDeadline);
    LogError("devbroker shutdown timed out; exiting");
    ::_exit(1);
  }).detach();

  if (control) control->Stop();
  (*forwarder)->Stop();
  cluster->reset();
  bootstrap_file.Remove();
  LogInfo("devbroker stopped");
  return 0;
}

}  // namespace bouncestream::stream::devbroker
