// Child processes of the broker benchmarks (stream_bench's e2e stage, e2e_bench): this build's
// `bouncestream` binary (BOUNCESTREAM_BINARY) run with a subcommand, its output in a log file,
// and the dev broker's bootstrap file.
#ifndef BOUNCESTREAM_BENCHMARKS_BENCH_CHILD_H_
#define BOUNCESTREAM_BENCHMARKS_BENCH_CHILD_H_

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "stream/cli/child.h"

namespace bouncestream::bench {

// The whole file, or "" when it cannot be read.
inline std::string ReadFile(const std::string& path) {
  std::string out;
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) return out;
  char buf[65536];
  std::size_t n = 0;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
  std::fclose(f);
  return out;
}

// A running `bouncestream SUBCOMMAND …`. Stopped (SIGTERM, then SIGKILL) when it goes out of
// scope; PR_SET_PDEATHSIG kills it if the benchmark dies first.
struct Child {
  pid_t pid = -1;
  int exit_code = 0;
  std::string log;
  Child() = default;
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  ~Child() { Stop(5000); }
  int Stop(int timeout_ms) {
    if (pid <= 0) return exit_code;
    exit_code = stream::cli::StopChild(pid, timeout_ms);
    pid = -1;
    return exit_code;
  }
  bool Running() {
    if (pid <= 0) return false;
    if (stream::cli::ChildRunning(pid, &exit_code)) return true;
    pid = -1;
    return false;
  }
};

// Starts BOUNCESTREAM_BINARY with `args`, stdin from /dev/null, stdout and stderr appended to `log`.
inline bool Spawn(Child* child, const std::vector<std::string>& args, const std::string& log) {
  std::vector<std::string> storage{BOUNCESTREAM_BINARY};
  storage.insert(storage.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : storage) argv.push_back(a.data());
  argv.push_back(nullptr);
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid < 0) return false;
  if (pid == 0) {  // only async-signal-safe calls until exec
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);
    const int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    const int null = open("/dev/null", O_RDONLY);
    if (fd < 0 || null < 0) _exit(127);
    dup2(null, 0);
    dup2(fd, 1);
    dup2(fd, 2);
    execv(argv[0], argv.data());
    _exit(127);
  }
  child->pid = pid;
  child->log = log;
  return true;
}

// Waits up to 20 s for the dev broker's --bootstrap-file; false if the broker exited, `stop`
// was set or time ran out.
inline bool WaitForBootstrap(const std::string& path, Child* broker, std::string* bootstrap,
                             const std::atomic<bool>* stop = nullptr) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (std::chrono::steady_clock::now() < deadline && (stop == nullptr || !stop->load())) {
    std::string s = ReadFile(path);
    while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
    if (!s.empty()) {
      *bootstrap = s;
      return true;
    }
    if (!broker->Running()) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

}  // namespace bouncestream::bench

#endif  // BOUNCESTREAM_BENCHMARKS_BENCH_CHILD_H_
