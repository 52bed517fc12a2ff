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
  std::string metrics_addr = "127.0.0.1:9464";  // the processor's status page and /metrics
};
int RunDemo(const DemoOptions& options);

// `bouncestream state <sub>`: the decision state, offline on a stopped --state-dir or, for a
// running group, through a signed admin command (lift, erase, import).
enum class StateCommand { kQuery, kLift, kErase, kExport, kImport, kSummary };
struct StateOptions {
  StateCommand command = StateCommand::kQuery;
  std::string state_dir;
  std::string tenant;        // query / erase filter; import default tenant
  std::string recipient;     // query / erase
  std::string decision_id;   // lift
  std::string note;          // lift
  std::string output = "json";  // query: json | table
  std::string format;        // export: csv (default) | jsonl; import: by extension unless given
  std::string kind;          // export: suppress | pause | alert (default all)
  std::string file;          // import
  std::string source = "file";       // import: the list's origin -> rule "import.<source>"
  std::string reason = "imported";   // import: reason when the row has none
  int partitions = 0;        // import: partitions of the classified topic
  bool json = false;         // summary
  std::string hmac_key_file, admin_token_file;  // secrets: files (or environment) only
  std::string config_file, bootstrap, group;
  std::vector<std::string> kafka_props;  // -X key=value (no secrets)
  int timeout_ms = 30000;    // delivery acknowledgements
  std::vector<std::string> argv_secrets;  // secret flags given a value on argv: refused
};
int RunState(const StateOptions& options);

// SIGTERM/SIGINT set the stop flag (shared by run and demo).
void InstallStopHandlers();
std::atomic<bool>& StopFlag();

}  // namespace bouncestream::stream::cli

#endif  // BOUNCESTREAM_STREAM_CLI_COMMANDS_H_
