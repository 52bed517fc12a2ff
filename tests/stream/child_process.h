// Test helpers for end-to-end tests: `bouncestream` child processes that are killed and reaped
// on every path out of a test, and reading their log files.
#ifndef BOUNCESTREAM_TESTS_STREAM_CHILD_PROCESS_H_
#define BOUNCESTREAM_TESTS_STREAM_CHILD_PROCESS_H_

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace bouncestream::testing {

struct Child {
  pid_t pid = -1;
  std::string log;
  ~Child() { Kill(); }
  void Kill() {
    if (pid > 0) {
      kill(pid, SIGKILL);
      waitpid(pid, nullptr, 0);
      pid = -1;
    }
  }
  // SIGTERM and wait; returns the exit code, or -1 if it had to be killed.
  int Terminate(int timeout_ms) {
    if (pid <= 0) return -1;
    kill(pid, SIGTERM);
    const auto deadline =
        std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (std::chrono::steady_clock::now() < deadline) {
      int status = 0;
      if (waitpid(pid, &status, WNOHANG) == pid) {
        pid = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    Kill();
    return -1;
  }
};

// Starts the built `bouncestream` binary with `args`, stdout and stderr appended to `log`.
inline void Spawn(Child* child, const std::vector<std::string>& args, const std::string& log) {
  std::vector<char*> argv;
  std::string exe = BOUNCESTREAM_BINARY;
  argv.push_back(exe.data());
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  const int rc = posix_spawn(&child->pid, exe.c_str(), &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  ASSERT_EQ(rc, 0) << "posix_spawn " << exe;
  child->log = log;
}

inline std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace bouncestream::testing

#endif  // BOUNCESTREAM_TESTS_STREAM_CHILD_PROCESS_H_
