// Child processes of the demo: this same binary with other subcommands.
#ifndef BOUNCESTREAM_STREAM_CLI_CHILD_H_
#define BOUNCESTREAM_STREAM_CLI_CHILD_H_

#include <sys/types.h>

#include <string>
#include <vector>

namespace bouncestream::stream::cli {

// Starts `/proc/self/exe args...` with stdout and stderr appended to `log_path`. -1 on error.
pid_t SpawnSelf(const std::vector<std::string>& args, const std::string& log_path);
// SIGTERM, then waits up to `timeout_ms`, then SIGKILL. Returns the exit status (or -signal).
int StopChild(pid_t pid, int timeout_ms);
// True while the child runs; reaps it (and stores its exit code) once it has ended.
bool ChildRunning(pid_t pid, int* exit_code);

}  // namespace bouncestream::stream::cli

#endif  // BOUNCESTREAM_STREAM_CLI_CHILD_H_
