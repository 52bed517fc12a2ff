// The subcommands of the `bouncestream` binary. Each returns the process exit code:
// 0 ok, 1 runtime error (or some input failed), 2 usage error.
#ifndef BOUNCESTREAM_STREAM_CLI_COMMANDS_H_
#define BOUNCESTREAM_STREAM_CLI_COMMANDS_H_

#include <atomic>
#include <string>
#include <vector>

namespace bouncestream::stream::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitRuntime = 1;
inline constexpr int kExitUsage = 2;

struct RuleOptions {
  std::string rules_path;  // empty = the shipped rules
  std::string engine = "re2set";
};

struct ClassifyOptions {
  RuleOptions rules;
  std::vector<std::string> files;  // empty or "-" = stdin
  std::string format = "auto";
  std::string output = "json";  // json | table
  bool stats = false;
};
int RunClassify(const ClassifyOptions& options);

struct ExplainOptions {
  RuleOptions rules;
  std::string text;
  std::string mx;
  int code = 0;
  std::string status;
  bool json = false;
};
int RunExplain(const ExplainOptions& options);

int RunCheckRules(const std::string& path);

struct DevbrokerOptions {
  int port = 9092;                   // fixed bootstrap port on 127.0.0.1
  int brokers = 1;
  std::vector<std::string> topics;   // NAME:PARTITIONS
  std::string control;               // Unix socket path for fault injection, empty = none
  std::string bootstrap_file;        // written atomically once ready, empty = none
};
int RunDevbroker(const DevbrokerOptions& options);

struct RunOptions {
  std::string config_file;
  std::string bootstrap, group, state_dir, metrics_addr, engine, profile;
  bool allow_plaintext = false;
  std::vector<std::string> inputs;       // TOPIC[:FORMAT]
  std::vector<std::string> kafka_props;  // -X key=value
  RuleOptions rules;
  bool print_config = false;
};
int RunProcessor(const RunOptions& options);

struct DemoOptions {
  int duration_s = 30;
  int rate = 2000;        // records per second
  int port = 9092;        // dev broker port
  std::string bootstrap;  // a real cluster instead of the dev broker
  std::string work_dir;   // logs and state; default a temp dir
};
int RunDemo(const DemoOptions& options);

// SIGTERM/SIGINT set the stop flag (shared by run and demo).
void InstallStopHandlers();
std::atomic<bool>& StopFlag();

}  // namespace bouncestream::stream::cli

#endif  // BOUNCESTREAM_STREAM_CLI_COMMANDS_H_
